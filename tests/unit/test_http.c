/*
 * test_http.c: the HTTP side (proxy/http.c) against a real evhttp listener
 * on 127.0.0.1:260xx inside a proxy made by proxy_init (no other
 * listeners).
 *
 * The proxy and the blocking client are in http_client.c (shared with
 * test_http2.c); follow streams are read with its pieces here.
 *
 * /metrics is checked by a strict Prometheus text-format (0.0.4) checker
 * written here, and also by `promtool check metrics` when it is installed
 * (Debian package prometheus).
 */
#include "vspc/compat.h"

#include <check.h>
#include <ctype.h>
#include <fcntl.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "console.h"
#include "http.h"
#include "proxy.h"
#include "vmlog.h"
#include "vmotion.h"

#include "http_client.h"

#define PORT_BASE 26000

static char logdir[64];

static const char uuid_a[33] = "4c1f0a2b3c4d5e6f708192a3b4c5d6e7";
static const char uuid_b[33] = "00112233445566778899aabbccddeeff";

/* ---- world ---------------------------------------------------------------
 */

/* HTTP on the first free port of 26000-26099 (other builds may run this
 * suite at the same time), starting at a pid-based one. */
static void
setup(void)
{
    hc_setup("test_http", PORT_BASE);
}

static void
teardown(void)
{
    proxy_fini(&px);
    if (logdir[0]) {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", logdir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", logdir);
        logdir[0] = '\0';
    }
}

/* Start a console log writer in a fresh directory. */
static void
start_vmlog(size_t rotate_bytes)
{
    struct vmlog_cfg lc = {
        .dir = logdir,
        .timestamps = false,
        .rotate_bytes = rotate_bytes,
        .keep = 2,
        .queue_max = 8 * 1024 * 1024,
    };

    snprintf(logdir, sizeof(logdir), "/tmp/vspc-test-http.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(logdir));
    px.vmlog = vmlog_new(&lc, px.base);
    ck_assert_ptr_nonnull(px.vmlog);
}

/* ---- follow streams -------------------------------------------------------
 */

/* A follow stream: the raw bytes so far, and the de-chunked body. */
struct stream {
    int fd;
    char *raw;
    size_t len, cap;
    struct resp r;
};

static void
stream_open(struct stream *s, const char *path)
{
    char req[512];

    memset(s, 0, sizeof(*s));
    s->fd = cl_connect();
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n",
             path);
    cl_send(s->fd, req);
}

/* Read until the body holds needle (or the stream ends / times out). */
static bool
stream_wait(struct stream *s, const char *needle, double secs)
{
    double deadline = now_s() + secs;

    for (;;) {
        if (s->raw) {
            parse_resp(s->raw, s->len, false, &s->r);
            if (s->r.body &&
                memmem(s->r.body, s->r.body_len, needle, strlen(needle)))
                return true;
        }
        if (cl_read_some(s->fd, &s->raw, &s->len, &s->cap, deadline) != 1)
            return false;
    }
}

static void
stream_close(struct stream *s)
{
    if (s->fd >= 0)
        close(s->fd);
    free(s->raw);
    resp_free(&s->r);
    s->fd = -1;
}

/* ---- a strict Prometheus text format (0.0.4) checker ---------------------
 */

struct fam {
    char name[128];
    char type[16];
    bool help;
};

static bool
base_name(const char *sample, const struct fam *f)
{
    size_t n = strlen(f->name);

    if (strncmp(sample, f->name, n) != 0)
        return false;
    if (sample[n] == '\0')
        return strcmp(f->type, "histogram") != 0;
    if (strcmp(f->type, "histogram") == 0)
        return strcmp(sample + n, "_bucket") == 0 ||
               strcmp(sample + n, "_sum") == 0 ||
               strcmp(sample + n, "_count") == 0;
    return false;
}

static bool
parse_value(const char *v, double *out)
{
    char *end;

    if (strcmp(v, "+Inf") == 0) {
        *out = HUGE_VAL;
        return true;
    }
    *out = strtod(v, &end);
    return *end == '\0' && end != v;
}

static char chk_err[512];

#define CHK(cond, ...)                                                         \
    do {                                                                       \
        if (!(cond)) {                                                         \
            snprintf(chk_err, sizeof(chk_err), __VA_ARGS__);                   \
            goto out;                                                          \
        }                                                                      \
    } while (0)

/* Checks the exposition: NULL if valid, else what is wrong (and where). */
static const char *
exposition_error(const char *text)
{
    regex_t re_sample, re_label;
    struct fam fams[128];
    size_t nf = 0;
    struct fam *cur = NULL;
    char *copy = strdup(text), *save = NULL, *line;
    double last_le = -1, last_bucket = -1, inf_bucket = -1;
    bool saw_inf = false;

    chk_err[0] = '\0';
    ck_assert(regcomp(&re_sample,
                      "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{([^}]*)\\})? "
                      "([-+0-9.eE]+|\\+Inf|-Inf|NaN)$",
                      REG_EXTENDED) == 0);
    ck_assert(regcomp(&re_label,
                      "^[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\[\\\\\"n])*\"",
                      REG_EXTENDED) == 0);
    CHK(text[0] && text[strlen(text) - 1] == '\n',
        "exposition must end in a newline");
    for (line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[5];
        char name[128], labels[512], value[64];
        double val;

        CHK(strchr(line, '\r') == NULL, "CR in \"%s\"", line);
        if (strncmp(line, "# HELP ", 7) == 0) {
            char *sp = strchr(line + 7, ' ');

            CHK(sp && sp[1], "HELP without text: %s", line);
            CHK(nf < VSPC_ARRAY_LEN(fams), "too many families");
            *sp = '\0';
            for (size_t i = 0; i < nf; i++)
                CHK(strcmp(fams[i].name, line + 7) != 0,
                    "family %s declared twice", line + 7);
            cur = &fams[nf++];
            memset(cur, 0, sizeof(*cur));
            snprintf(cur->name, sizeof(cur->name), "%s", line + 7);
            cur->help = true;
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char *sp = strchr(line + 7, ' ');

            CHK(sp, "bad TYPE line: %s", line);
            *sp = '\0';
            CHK(cur && strcmp(cur->name, line + 7) == 0 && cur->type[0] == '\0',
                "TYPE %s not right after its HELP", line + 7);
            CHK(strcmp(sp + 1, "counter") == 0 ||
                    strcmp(sp + 1, "gauge") == 0 ||
                    strcmp(sp + 1, "histogram") == 0,
                "unexpected type %s", sp + 1);
            snprintf(cur->type, sizeof(cur->type), "%s", sp + 1);
            if (strcmp(cur->type, "counter") == 0)
                CHK(strlen(cur->name) > 6 &&
                        strcmp(cur->name + strlen(cur->name) - 6, "_total") ==
                            0,
                    "counter %s must end in _total", cur->name);
            CHK(strncmp(cur->name, "vspc_", 5) == 0, "metric %s outside vspc_",
                cur->name);
            last_le = -1;
            last_bucket = -1;
            saw_inf = false;
            continue;
        }
        CHK(line[0] != '#', "unexpected comment: %s", line);
        CHK(regexec(&re_sample, line, 5, m, 0) == 0, "bad sample line: \"%s\"",
            line);
        snprintf(name, sizeof(name), "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
                 line + m[1].rm_so);
        labels[0] = '\0';
        if (m[3].rm_so != -1)
            snprintf(labels, sizeof(labels), "%.*s",
                     (int)(m[3].rm_eo - m[3].rm_so), line + m[3].rm_so);
        snprintf(value, sizeof(value), "%.*s", (int)(m[4].rm_eo - m[4].rm_so),
                 line + m[4].rm_so);
        CHK(cur && cur->help && cur->type[0] && base_name(name, cur),
            "sample %s without HELP and TYPE of its family", line);
        /* labels: name="value"[,name="value"]* */
        for (const char *p = labels; *p;) {
            regmatch_t lm[1];

            CHK(regexec(&re_label, p, 1, lm, 0) == 0, "bad labels in \"%s\"",
                line);
            p += lm[0].rm_eo;
            CHK(*p == '\0' || *p == ',', "bad labels in \"%s\"", line);
            if (*p == ',')
                p++;
        }
        CHK(parse_value(value, &val), "bad sample value in \"%s\"", line);
        if (strcmp(cur->type, "histogram") != 0)
            continue;
        if (strstr(name, "_bucket")) {
            const char *le = strstr(labels, "le=\"");
            char lev[32];
            double lv, bv = val;

            CHK(le, "bucket without le: %s", line);
            snprintf(lev, sizeof(lev), "%.*s", (int)strcspn(le + 4, "\""),
                     le + 4);
            CHK(parse_value(lev, &lv), "bad le in \"%s\"", line);
            CHK(!saw_inf, "bucket after +Inf: %s", line);
            CHK(lv > last_le, "le not increasing: %s", line);
            CHK(bv >= last_bucket, "buckets not cumulative: %s", line);
            last_le = lv;
            last_bucket = bv;
            if (strcmp(lev, "+Inf") == 0) {
                saw_inf = true;
                inf_bucket = bv;
            }
        } else if (strstr(name, "_count")) {
            CHK(saw_inf, "histogram %s without +Inf bucket", cur->name);
            CHK(val == inf_bucket, "+Inf bucket != _count for %s", cur->name);
        }
    }
    chk_err[0] = '\0';
out:
    regfree(&re_sample);
    regfree(&re_label);
    free(copy);
    return chk_err[0] ? chk_err : NULL;
}

static void
check_exposition(const char *text)
{
    const char *err = exposition_error(text);

    ck_assert_msg(err == NULL, "metrics: %s", err);
}

/* Runs promtool when installed; the strict checker above runs always. */
static void
promtool_check(const char *text)
{
    char path[] = "/tmp/vspc-metrics.XXXXXX", cmd[256], out[4096];
    FILE *f, *p;
    size_t n;
    int fd, rc;

    if (access("/usr/bin/promtool", X_OK) != 0)
        return;
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 2>&1",
             path);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    rc = pclose(p);
    unlink(path);
    ck_assert_msg(rc == 0 && n == 0, "promtool check metrics: %s", out);
}

/* ---- tests ----------------------------------------------------------------
 */

START_TEST(healthz)
{
    struct resp r;

    get("/healthz", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ok\n");
    resp_free(&r);
}
END_TEST

START_TEST(not_found_and_methods)
{
    struct resp r;

    get("/nope", &r);
    ck_assert_int_eq(r.status, 404);
    resp_free(&r);
    get("/api/v1/consolesX", &r);
    ck_assert_int_eq(r.status, 404);
    resp_free(&r);
    get("/api/v1/consoles/abc/other", &r);
    ck_assert_int_eq(r.status, 404);
    resp_free(&r);
    http_req("POST", "/metrics", &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert_ptr_nonnull(strcasestr(r.head, "\r\nAllow: GET"));
    resp_free(&r);
    http_req("DELETE", "/api/v1/consoles", &r);
    ck_assert_int_eq(r.status, 405);
    resp_free(&r);
    http_req("PUT", "/healthz", &r);
    ck_assert_int_eq(r.status, 405);
    resp_free(&r);
}
END_TEST

START_TEST(consoles_json)
{
    struct console *a = con_get(px.consoles, uuid_a, NULL);
    struct console *b = con_get(px.consoles, uuid_b, "com2");
    struct resp r;
    json_error_t jerr;
    json_t *j, *o;
    char path[128];

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    con_set_name(a, "web \"01\"");
    a->bytes_in = 1234;
    a->bytes_out = 56;
    {
        static const uint8_t out[1234]; /* the stream offset becomes 1234 */

        strm_write(&a->out, out, sizeof(out));
    }
    get("/api/v1/consoles", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strcasestr(r.head, "Content-Type: application/json"));
    j = json_loads(r.body, 0, &jerr);
    ck_assert_msg(j != NULL, "bad JSON: %s", jerr.text);
    ck_assert(json_is_array(j));
    ck_assert_int_eq(json_array_size(j), 2);
    o = json_array_get(j, 0);
    ck_assert_str_eq(json_string_value(json_object_get(o, "id")), a->id);
    ck_assert_str_eq(json_string_value(json_object_get(o, "name")),
                     "web \"01\"");
    ck_assert_str_eq(json_string_value(json_object_get(o, "state")),
                     "disconnected");
    ck_assert_str_eq(json_string_value(json_object_get(o, "hypervisor")), "-");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "operators")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "bytes_in")), 1234);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "bytes_out")), 56);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "offset")), 1234);
    o = json_array_get(j, 1);
    ck_assert_str_eq(json_string_value(json_object_get(o, "id")), b->id);
    ck_assert_ptr_nonnull(strstr(b->id, ".com2"));
    json_decref(j);
    resp_free(&r);

    snprintf(path, sizeof(path), "/api/v1/consoles/%s", b->id);
    get(path, &r);
    ck_assert_int_eq(r.status, 200);
    j = json_loads(r.body, 0, &jerr);
    ck_assert(json_is_object(j));
    ck_assert_str_eq(json_string_value(json_object_get(j, "id")), b->id);
    json_decref(j);
    resp_free(&r);

    get("/api/v1/consoles/ffffffffffffffffffffffffffffffff", &r);
    ck_assert_int_eq(r.status, 404);
    resp_free(&r);
}
END_TEST

START_TEST(consoles_empty)
{
    struct resp r;

    get("/api/v1/consoles", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "[]");
    resp_free(&r);
}
END_TEST

START_TEST(metrics_format)
{
    struct console *a = con_get(px.consoles, uuid_a, NULL);
    struct resp r;

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(con_get(px.consoles, uuid_b, NULL));
    px.stats.hv_accepted = 7;
    px.stats.hv_closed = 5;
    px.stats.hv_identified = 6;
    px.stats.hv_refused = 1;
    px.stats.bytes_from_vms = 123456789012ULL;
    px.stats.bytes_to_vms = 42;
    px.stats.vmotion_complete = 3;
    px.stats.vmotion_abort = 2;
    px.stats.vmotion_expired = 1;
    px.stats.vmotion_notnow = 4;
    px.stats.peer_rejected = 9;
    px.stats.unknown_suboptions = 11;
    px.stats.ops_dropped_slow = 12;
    px.stats.ops_gaps = 13;
    px.stats.ops_gap_bytes = 14000;
    px.stats.tn_errors[TN_ERR_SB_OVERFLOW] = 21;
    px.stats.tn_errors[TN_ERR_SE_OUTSIDE] = 22;
    memset(&px.goahead, 0, sizeof(px.goahead));
    px.goahead.buckets[0] = 2; /* <= 0.5 ms */
    px.goahead.buckets[3] = 1; /* <= 5 ms */
    px.goahead.count = 4;      /* one above 5 s */
    px.goahead.sum_us = 6001300;
    px.goahead.max_us = 6000000;

    get("/metrics", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strcasestr(r.head, "Content-Type: text/plain; "
                                             "version=0.0.4"));
    check_exposition(r.body);
    promtool_check(r.body);
#define HAS(s) ck_assert_msg(strstr(r.body, s "\n"), "missing: %s", s)
    HAS("vspc_consoles{state=\"disconnected\"} 2");
    HAS("vspc_consoles{state=\"connected\"} 0");
    HAS("vspc_consoles{state=\"vmotion\"} 0");
    HAS("vspc_operators 0");
    HAS("vspc_hypervisor_connections_accepted_total 7");
    HAS("vspc_hypervisor_connections_closed_total 5");
    HAS("vspc_hypervisor_connections_identified_total 6");
    HAS("vspc_hypervisor_connections_refused_total 1");
    HAS("vspc_vm_bytes_received_total 123456789012");
    HAS("vspc_vm_bytes_sent_total 42");
    HAS("vspc_vmotions_total{outcome=\"complete\"} 3");
    HAS("vspc_vmotions_total{outcome=\"abort\"} 2");
    HAS("vspc_vmotions_total{outcome=\"expired\"} 1");
    HAS("vspc_vmotions_total{outcome=\"notnow\"} 4");
    HAS("vspc_vmotion_peers_rejected_total 9");
    HAS("vspc_unknown_suboptions_total 11");
    HAS("vspc_operators_dropped_slow_total 12");
    HAS("vspc_operator_gaps_total 13");
    HAS("vspc_operator_gap_bytes_total 14000");
    HAS("vspc_telnet_errors_total{kind=\"subnegotiation_too_long\"} 21");
    HAS("vspc_telnet_errors_total{kind=\"iac_se_outside_a_subnegotiation\"} "
        "22");
    HAS("vspc_vmotion_goahead_seconds_bucket{le=\"0.0005\"} 2");
    HAS("vspc_vmotion_goahead_seconds_bucket{le=\"0.001\"} 2");
    HAS("vspc_vmotion_goahead_seconds_bucket{le=\"0.005\"} 3");
    HAS("vspc_vmotion_goahead_seconds_bucket{le=\"5\"} 3");
    HAS("vspc_vmotion_goahead_seconds_bucket{le=\"+Inf\"} 4");
    HAS("vspc_vmotion_goahead_seconds_sum 6.0013");
    HAS("vspc_vmotion_goahead_seconds_count 4");
    HAS("vspc_vmotion_goahead_max_seconds 6");
    /* No console log writer: no console log families. */
    ck_assert_ptr_null(strstr(r.body, "vspc_console_log_"));
#undef HAS
    resp_free(&r);

    start_vmlog(0);
    get("/metrics", &r);
    ck_assert_int_eq(r.status, 200);
    check_exposition(r.body);
    promtool_check(r.body);
    ck_assert_ptr_nonnull(
        strstr(r.body, "\nvspc_console_log_bytes_written_total "));
    ck_assert_ptr_nonnull(strstr(r.body, "\nvspc_console_log_queue_bytes "));
    resp_free(&r);
}
END_TEST

/* The checker itself must refuse what Prometheus refuses. */
static const char *const bad_expositions[] = {
    "vspc_x_total 1\n",                                   /* no HELP/TYPE */
    "# HELP vspc_x_total x\nvspc_x_total 1\n",            /* no TYPE */
    "# HELP vspc_x x\n# TYPE vspc_x counter\nvspc_x 1\n", /* no _total */
    "# HELP vspc_g x\n# TYPE vspc_g gauge\nvspc_g{a=\"b} 1\n",
    "# HELP vspc_g x\n# TYPE vspc_g gauge\nvspc_g one\n",
    "# HELP vspc_h x\n# TYPE vspc_h histogram\n"
    "vspc_h_bucket{le=\"1\"} 2\nvspc_h_bucket{le=\"2\"} 1\n"
    "vspc_h_bucket{le=\"+Inf\"} 2\nvspc_h_sum 1\nvspc_h_count 2\n",
    "# HELP vspc_h x\n# TYPE vspc_h histogram\n"
    "vspc_h_bucket{le=\"1\"} 2\nvspc_h_bucket{le=\"+Inf\"} 3\n"
    "vspc_h_sum 1\nvspc_h_count 2\n",
    "# HELP vspc_h x\n# TYPE vspc_h histogram\n"
    "vspc_h_bucket{le=\"1\"} 2\nvspc_h_sum 1\nvspc_h_count 2\n",
};

START_TEST(checker_refuses)
{
    ck_assert_msg(exposition_error(bad_expositions[_i]) != NULL, "accepted: %s",
                  bad_expositions[_i]);
}
END_TEST

START_TEST(checker_accepts)
{
    check_exposition("# HELP vspc_h x\n# TYPE vspc_h histogram\n"
                     "vspc_h_bucket{le=\"1\"} 2\nvspc_h_bucket{le=\"+Inf\"} "
                     "3\nvspc_h_sum 1.5\nvspc_h_count 3\n"
                     "# HELP vspc_g g\n# TYPE vspc_g gauge\n"
                     "vspc_g{a=\"x\\\"y\",b=\"\"} -1\n");
}
END_TEST

/* ---- log endpoint ----------------------------------------------------------
 */

static void
fill(char *buf, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + (i * 7 + seed) % 26);
}

START_TEST(log_off_or_unknown)
{
    struct console *a = con_get(px.consoles, uuid_a, NULL);
    struct resp r;
    char path[128];

    snprintf(path, sizeof(path), "/api/v1/consoles/%s/log", a->id);
    get(path, &r); /* no --log-dir */
    ck_assert_int_eq(r.status, 404);
    resp_free(&r);
    start_vmlog(0);
    get("/api/v1/consoles/00000000000000000000000000000000/log", &r);
    ck_assert_int_eq(r.status, 404);
    resp_free(&r);
    get(path, &r); /* known console, no file yet */
    ck_assert_int_eq(r.status, 404);
    resp_free(&r);
}
END_TEST

START_TEST(log_download)
{
    struct console *a = con_get(px.consoles, uuid_a, NULL);
    size_t n = 200 * 1024 + 17; /* several 64 KiB reads */
    char *data = malloc(n), path[128];
    struct resp r;

    start_vmlog(0);
    fill(data, n, 3);
    ck_assert_int_eq(vmlog_data(px.vmlog, a->id, (uint8_t *)data, n), 0);
    snprintf(path, sizeof(path), "/api/v1/consoles/%s/log", a->id);
    get(path, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, n);
    ck_assert(memcmp(r.body, data, n) == 0);
    resp_free(&r);
    free(data);
}
END_TEST

START_TEST(log_follow)
{
    struct console *a = con_get(px.consoles, uuid_a, NULL);
    struct stream s;
    char path[128];

    start_vmlog(0);
    vmlog_data(px.vmlog, a->id, (const uint8_t *)"first line\r\n", 12);
    snprintf(path, sizeof(path), "/api/v1/consoles/%s/log?follow=1", a->id);
    stream_open(&s, path);
    ck_assert(stream_wait(&s, "first line", 5));
    ck_assert_int_eq(s.r.status, 200);
    vmlog_data(px.vmlog, a->id, (const uint8_t *)"second\r\n", 8);
    ck_assert(stream_wait(&s, "first line\r\nsecond\r\n", 5));
    vmlog_data(px.vmlog, a->id, (const uint8_t *)"third\r\n", 7);
    ck_assert(stream_wait(&s, "second\r\nthird\r\n", 5));
    stream_close(&s);
}
END_TEST

START_TEST(log_follow_rotation)
{
    struct console *a = con_get(px.consoles, uuid_a, NULL);
    char ca[3000], cb[3000], path[128], *want;
    const char *cc = "CCCC after rotation";
    struct stream s;

    start_vmlog(4096);
    fill(ca, sizeof(ca), 1);
    memcpy(ca, "AAAA", 4);
    memcpy(ca + sizeof(ca) - 2, "\r\n", 2);
    fill(cb, sizeof(cb), 2);
    memcpy(cb, "BBBB", 4);
    memcpy(cb + sizeof(cb) - 2, "\r\n", 2);
    vmlog_data(px.vmlog, a->id, (uint8_t *)ca, sizeof(ca));
    snprintf(path, sizeof(path), "/api/v1/consoles/%s/log?follow=1", a->id);
    stream_open(&s, path);
    ck_assert(stream_wait(&s, "AAAA", 5));
    /* Past rotate_bytes at a line start: the next record starts a new,
     * shorter file, and the stream goes on from its start. */
    vmlog_data(px.vmlog, a->id, (uint8_t *)cb, sizeof(cb));
    ck_assert(stream_wait(&s, "BBBB", 5));
    pump_for(0.5);
    vmlog_data(px.vmlog, a->id, (const uint8_t *)cc, strlen(cc));
    ck_assert(stream_wait(&s, cc, 5));
    pump_for(0.3);
    want = malloc(sizeof(ca) + sizeof(cb) + strlen(cc) + 1);
    memcpy(want, ca, sizeof(ca));
    memcpy(want + sizeof(ca), cb, sizeof(cb));
    strcpy(want + sizeof(ca) + sizeof(cb), cc);
    parse_resp(s.raw, s.len, false, &s.r);
    ck_assert_uint_eq(s.r.body_len, strlen(want));
    ck_assert(memcmp(s.r.body, want, s.r.body_len) == 0);
    {
        char rotated[256];

        snprintf(rotated, sizeof(rotated), "%s/%s.log.1", logdir, a->id);
        ck_assert_int_eq(access(rotated, F_OK), 0);
    }
    free(want);
    stream_close(&s);
}
END_TEST

static unsigned
metric_value(const char *name)
{
    struct resp r;
    const char *p;
    unsigned v;
    char key[128];

    get("/metrics", &r);
    snprintf(key, sizeof(key), "\n%s ", name);
    p = strstr(r.body, key);
    ck_assert_msg(p, "no %s", name);
    v = (unsigned)strtoul(p + strlen(key), NULL, 10);
    resp_free(&r);
    return v;
}

START_TEST(log_follow_client_gone)
{
    struct console *a = con_get(px.consoles, uuid_a, NULL);
    struct stream s;
    char path[128];

    start_vmlog(0);
    vmlog_data(px.vmlog, a->id, (const uint8_t *)"hello\r\n", 7);
    snprintf(path, sizeof(path), "/api/v1/consoles/%s/log?follow=1", a->id);
    stream_open(&s, path);
    ck_assert(stream_wait(&s, "hello", 5));
    ck_assert_uint_eq(metric_value("vspc_http_log_streams"), 1);
    stream_close(&s); /* idle stream: libevent sees the hang-up */
    pump_for(0.6);
    ck_assert_uint_eq(metric_value("vspc_http_log_streams"), 0);

    /* A follower that keeps sending is dropped. */
    stream_open(&s, path);
    ck_assert(stream_wait(&s, "hello", 5));
    {
        static char junk[32 * 1024];

        memset(junk, 'j', sizeof(junk));
        ck_assert_int_eq(write(s.fd, junk, sizeof(junk)), sizeof(junk));
    }
    pump_for(0.6);
    ck_assert_uint_eq(metric_value("vspc_http_log_streams"), 0);
    stream_close(&s);

    /* Gone while data is flowing. */
    stream_open(&s, path);
    ck_assert(stream_wait(&s, "hello", 5));
    stream_close(&s);
    for (int i = 0; i < 20; i++) {
        vmlog_data(px.vmlog, a->id, (const uint8_t *)"more\r\n", 6);
        pump_for(0.05);
    }
    pump_for(0.5);
    ck_assert_uint_eq(metric_value("vspc_http_log_streams"), 0);
}
END_TEST

START_TEST(log_follow_limit)
{
    struct console *a = con_get(px.consoles, uuid_a, NULL);
    static struct stream s[65];
    char path[128];
    struct resp r;

    start_vmlog(0);
    vmlog_data(px.vmlog, a->id, (const uint8_t *)"x\r\n", 3);
    snprintf(path, sizeof(path), "/api/v1/consoles/%s/log?follow=1", a->id);
    for (int i = 0; i < 64; i++) {
        stream_open(&s[i], path);
        ck_assert(stream_wait(&s[i], "x\r\n", 5));
    }
    get(path, &r);
    ck_assert_int_eq(r.status, 503);
    resp_free(&r);
    /* A plain download is still allowed. */
    snprintf(path, sizeof(path), "/api/v1/consoles/%s/log", a->id);
    get(path, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "x\r\n");
    resp_free(&r);
    for (int i = 0; i < 64; i++)
        stream_close(&s[i]);
}
END_TEST

/* Shut down with streams open and reads in flight, both orders. */
START_TEST(shutdown_with_streams)
{
    struct console *a = con_get(px.consoles, uuid_a, NULL);
    struct stream s1, s2;
    char path[128];

    start_vmlog(0);
    vmlog_data(px.vmlog, a->id, (const uint8_t *)"hi\r\n", 4);
    snprintf(path, sizeof(path), "/api/v1/consoles/%s/log?follow=1", a->id);
    stream_open(&s1, path);
    ck_assert(stream_wait(&s1, "hi", 5));
    stream_open(&s2, path);
    pump_for(0.01); /* s2's first read is likely in flight */
    if (_i == 0) {
        http_free(&px.http);
        vmlog_free(&px.vmlog);
    } else {
        vmlog_free(&px.vmlog);
        http_free(&px.http);
    }
    ck_assert_ptr_null(px.http);
    pump_for(0.05);
    stream_close(&s1);
    stream_close(&s2);
}
END_TEST

static Suite *
http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tb = tcase_create("basic");
    TCase *tc = tcase_create("checker");
    TCase *tl = tcase_create("log");

    tcase_add_checked_fixture(tb, setup, teardown);
    tcase_set_timeout(tb, 30);
    tcase_add_test(tb, healthz);
    tcase_add_test(tb, not_found_and_methods);
    tcase_add_test(tb, consoles_json);
    tcase_add_test(tb, consoles_empty);
    tcase_add_test(tb, metrics_format);
    suite_add_tcase(s, tb);

    tcase_add_loop_test(tc, checker_refuses, 0,
                        (int)VSPC_ARRAY_LEN(bad_expositions));
    tcase_add_test(tc, checker_accepts);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(tl, setup, teardown);
    tcase_set_timeout(tl, 60);
    tcase_add_test(tl, log_off_or_unknown);
    tcase_add_test(tl, log_download);
    tcase_add_test(tl, log_follow);
    tcase_add_test(tl, log_follow_rotation);
    tcase_add_test(tl, log_follow_client_gone);
    tcase_add_test(tl, log_follow_limit);
    tcase_add_loop_test(tl, shutdown_with_streams, 0, 2);
    suite_add_tcase(s, tl);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(http_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
