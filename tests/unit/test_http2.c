/*
 * test_http2.c: the HTTP side's readiness and vMotion audit endpoints
 * (GET /readyz, GET /api/v1/vmotions, the vspc_draining gauge), against a
 * real evhttp listener on 127.0.0.1:263xx inside a proxy made by
 * proxy_init. test_http.c has the rest of http.c.
 *
 * The proxy and the client are in http_client.c (shared with test_http.c).
 */
#include "vspc/compat.h"

#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <event2/listener.h>
#include <jansson.h>

#include "audit.h"
#include "http.h"
#include "proxy.h"

#include "http_client.h"

#define PORT_BASE 26300

/* HTTP on the first free port of 26300-26399 (other builds may run this
 * suite at the same time), starting at a pid-based one. */
static void
setup(void)
{
    hc_setup("test_http2", PORT_BASE);
}

static void
teardown(void)
{
    if (px.vm_listener)
        evconnlistener_free(px.vm_listener);
    px.vm_listener = NULL;
    proxy_fini(&px);
}

/* A hypervisor listener as main.c makes one (port chosen by the kernel). */
static void
listen_vm(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    px.vm_listener = evconnlistener_new_bind(
        px.base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 8,
        (struct sockaddr *)&sin, sizeof(sin));
    ck_assert_ptr_nonnull(px.vm_listener);
}

/* ---- client -------------------------------------------------------------- */

/* GET path: 200 and a JSON array, returned (caller decrefs). */
static json_t *
get_array(const char *path)
{
    struct resp r;
    json_error_t err;
    json_t *j;

    get(path, &r);
    ck_assert_msg(r.status == 200, "%s: %d %s", path, r.status, r.body);
    ck_assert_ptr_nonnull(strcasestr(r.head, "content-type: application/json"));
    j = json_loads(r.body, 0, &err);
    ck_assert_msg(json_is_array(j), "%s: %s", path, r.body);
    resp_free(&r);
    return j;
}

/* The value of a sample "name value" in a /metrics text, -1 if absent. */
static long long
metric(const char *name)
{
    struct resp r;
    size_t nl = strlen(name);
    long long v = -1;

    get("/metrics", &r);
    ck_assert_int_eq(r.status, 200);
    for (const char *p = r.body; p && *p;
         p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ')
            v = strtoll(p + nl + 1, NULL, 10);
    resp_free(&r);
    return v;
}

/* ---- /readyz ------------------------------------------------------------- */

START_TEST(readyz_states)
{
    struct resp r;

    get("/readyz", &r);
    ck_assert_int_eq(r.status, 503); /* no hypervisor listener yet */
    ck_assert_str_eq(r.body, "not listening\n");
    resp_free(&r);
    listen_vm();
    get("/readyz", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ready\n");
    ck_assert_ptr_nonnull(strcasestr(r.head, "cache-control: no-store"));
    resp_free(&r);
    ck_assert_int_eq(metric("vspc_draining"), 0);
    px.draining = true;
    get("/readyz", &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(r.body, "draining\n");
    resp_free(&r);
    ck_assert_int_eq(metric("vspc_draining"), 1);
    /* /healthz stays 200 while draining: the process is fine. */
    get("/healthz", &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    px.draining = false;
    get("/readyz", &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    http_req("POST", "/readyz", &r);
    ck_assert_int_eq(r.status, 405);
    resp_free(&r);
}
END_TEST

/* ---- /api/v1/vmotions ---------------------------------------------------- */

static void
add_rec(unsigned k, const char *con, enum aud_outcome o)
{
    struct aud_rec rec;

    memset(&rec, 0, sizeof(rec));
    snprintf(rec.con_id, sizeof(rec.con_id), "%s", con);
    snprintf(rec.vm_name, sizeof(rec.vm_name), "vm \"%u\"", k);
    rec.seq[0] = (uint8_t)k;
    rec.seq_len = 1;
    rec.outcome = (uint8_t)o;
    snprintf(rec.src, sizeof(rec.src), "10.0.0.1:902");
    if (o == AUD_COMPLETE)
        snprintf(rec.dst, sizeof(rec.dst), "10.0.0.2:902");
    rec.started.tv_sec = 1700000000;
    rec.begin_goahead_us = o == AUD_NOTNOW ? -1 : 250;
    rec.peer_peerok_us = o == AUD_COMPLETE ? 80 : -1;
    rec.total_ms = k;
    aud_add(px.audit, &rec);
}

static json_int_t
nth_n(json_t *arr, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(arr, i), "n"));
}

START_TEST(vmotions_empty)
{
    json_t *j = get_array("/api/v1/vmotions");

    ck_assert_uint_eq(json_array_size(j), 0);
    json_decref(j);
    ck_assert_int_eq(metric("vspc_vmotion_audit_records"), 0);
}
END_TEST

START_TEST(vmotions_list)
{
    static const char a[] = "4c1f0a2b3c4d5e6f708192a3b4c5d6e7";
    static const char b[] = "00112233445566778899aabbccddeeff.com2";
    json_t *j, *o;

    for (unsigned k = 1; k <= 6; k++)
        add_rec(k, k <= 4 ? a : b, k == 5 ? AUD_NOTNOW : AUD_COMPLETE);
    j = get_array("/api/v1/vmotions");
    ck_assert_uint_eq(json_array_size(j), 6);
    for (size_t i = 0; i < 6; i++)
        ck_assert_int_eq(nth_n(j, i), 6 - (json_int_t)i); /* newest first */
    o = json_array_get(j, 1);
    ck_assert_str_eq(json_string_value(json_object_get(o, "outcome")),
                     "notnow");
    ck_assert(json_is_null(json_object_get(o, "destination")));
    ck_assert(json_is_null(json_object_get(o, "begin_goahead_us")));
    ck_assert_str_eq(json_string_value(json_object_get(o, "vm_name")),
                     "vm \"5\"");
    ck_assert_str_eq(json_string_value(json_object_get(o, "seq")), "05");
    o = json_array_get(j, 0);
    ck_assert_str_eq(json_string_value(json_object_get(o, "console")), b);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "peer_peerok_us")),
                     80);
    json_decref(j);

    j = get_array("/api/v1/vmotions?console=4c1f0a2b3c4d5e6f708192a3b4c5d6e7");
    ck_assert_uint_eq(json_array_size(j), 4);
    ck_assert_int_eq(nth_n(j, 0), 4);
    ck_assert_int_eq(nth_n(j, 3), 1);
    json_decref(j);
    j = get_array("/api/v1/vmotions?limit=2");
    ck_assert_uint_eq(json_array_size(j), 2);
    ck_assert_int_eq(nth_n(j, 1), 5);
    json_decref(j);
    j = get_array("/api/v1/vmotions?console=00112233445566778899aabbccddeeff"
                  ".com2&limit=1");
    ck_assert_uint_eq(json_array_size(j), 1);
    ck_assert_int_eq(nth_n(j, 0), 6);
    json_decref(j);
    j = get_array("/api/v1/vmotions?limit=99999999999999999999999");
    ck_assert_uint_eq(json_array_size(j), 6);
    json_decref(j);
    j = get_array("/api/v1/vmotions?console=nosuch");
    ck_assert_uint_eq(json_array_size(j), 0);
    json_decref(j);
    ck_assert_int_eq(metric("vspc_vmotion_audit_records"), 6);
}
END_TEST

START_TEST(vmotions_bad_query)
{
    static const char *const bad[] = {
        "/api/v1/vmotions?limit=0",   "/api/v1/vmotions?limit=",
        "/api/v1/vmotions?limit=abc", "/api/v1/vmotions?limit=-1",
        "/api/v1/vmotions?limit=5x",  "/api/v1/vmotions?limit=+5",
        "/api/v1/vmotions?console=",
    };
    struct resp r;

    for (size_t i = 0; i < VSPC_ARRAY_LEN(bad); i++) {
        get(bad[i], &r);
        ck_assert_msg(r.status == 400, "%s: %d", bad[i], r.status);
        resp_free(&r);
    }
    get("/api/v1/vmotions/1", &r);
    ck_assert_int_eq(r.status, 404);
    resp_free(&r);
    http_req("DELETE", "/api/v1/vmotions", &r);
    ck_assert_int_eq(r.status, 405);
    resp_free(&r);
}
END_TEST

/* The ring keeps the newest cfg.audit_max (here 3). */
START_TEST(vmotions_ring_bound)
{
    json_t *j;

    aud_free(&px.audit);
    px.audit = aud_new(3);
    for (unsigned k = 1; k <= 10; k++)
        add_rec(k, "c", AUD_ABORT);
    j = get_array("/api/v1/vmotions");
    ck_assert_uint_eq(json_array_size(j), 3);
    ck_assert_int_eq(nth_n(j, 0), 10);
    ck_assert_int_eq(nth_n(j, 2), 8);
    json_decref(j);
}
END_TEST

static Suite *
http2_suite(void)
{
    Suite *s = suite_create("http2");
    TCase *tc = tcase_create("ready_audit");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, readyz_states);
    tcase_add_test(tc, vmotions_empty);
    tcase_add_test(tc, vmotions_list);
    tcase_add_test(tc, vmotions_bad_query);
    tcase_add_test(tc, vmotions_ring_bound);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(http2_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
