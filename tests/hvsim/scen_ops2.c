/*
 * scen_ops2.c: operator end-to-end scenarios 107-109 against the real
 * daemon: console logs with rotation and vMotions (README "Console logs",
 * proxy/vmlog.h), SIGHUP reopen, and VMware's admin client protocol
 * (telnet option 233, PROTOCOL.md 8.2), driven byte for byte as
 * vmware/vspc vspc/client.py drives it.
 */
#include "vspc/compat.h"

#include "scen_ops.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pattern.h"

/* ---- console log files -------------------------------------------------- */

struct ops_file {
    uint8_t *p;
    size_t n;
};

static bool
ops_read_file(const char *path, struct ops_file *f)
{
    FILE *fp = fopen(path, "rb");
    size_t cap = 65536;

    f->n = 0;
    f->p = malloc(cap);
    if (!f->p)
        exit(2);
    if (!fp) {
        scr_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
        return false;
    }
    for (;;) {
        size_t r;

        if (f->n == cap) {
            cap *= 2;
            f->p = realloc(f->p, cap);
            if (!f->p)
                exit(2);
        }
        r = fread(f->p + f->n, 1, cap - f->n, fp);
        if (r == 0)
            break;
        f->n += r;
    }
    fclose(fp);
    return true;
}

/* Appends f to out with the "\r\n[vspc <time> <text>]\r\n" markers cut
 * out; their texts are appended to marks ('\n' after each). */
static bool
ops_strip(const struct ops_file *f, struct ops_file *out, char *marks,
          size_t mcap)
{
    static const char head[] = "\r\n[vspc ";
    size_t i = 0;

    out->p = realloc(out->p, out->n + f->n + 1);
    if (!out->p)
        exit(2);
    while (i < f->n) {
        if (f->n - i >= sizeof(head) - 1 + 24 + 4 &&
            memcmp(f->p + i, head, sizeof(head) - 1) == 0) {
            const uint8_t *t = f->p + i + sizeof(head) - 1;
            size_t j = 0, room = f->n - i - (sizeof(head) - 1);

            /* "YYYY-MM-DDTHH:MM:SS.mmmZ " */
            if (t[4] == '-' && t[10] == 'T' && t[23] == 'Z' && t[24] == ' ') {
                while (j + 2 < room &&
                       !(t[j] == ']' && t[j + 1] == '\r' && t[j + 2] == '\n'))
                    j++;
                if (j + 2 >= room) {
                    scr_fail(__FILE__, __LINE__, "unterminated marker");
                    return false;
                }
                if (strlen(marks) + (j - 25) + 2 < mcap) {
                    strncat(marks, (const char *)t + 25, j - 25);
                    strcat(marks, "\n");
                }
                i += sizeof(head) - 1 + j + 3;
                continue;
            }
        }
        out->p[out->n++] = f->p[i++];
    }
    return true;
}

/* Total size of <dir>/<id>.log*; the highest rotation number in *maxgen. */
static long long
ops_log_size(const char *dir, const char *id, unsigned *maxgen)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char base[128], path[1024];
    size_t bl;
    long long total = 0;
    struct stat st;

    *maxgen = 0;
    if (!d)
        return -1;
    snprintf(base, sizeof(base), "%s.log", id);
    bl = strlen(base);
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, base, bl) != 0)
            continue;
        if (de->d_name[bl] == '.') {
            unsigned g = (unsigned)strtoul(de->d_name + bl + 1, NULL, 10);

            if (g > *maxgen)
                *maxgen = g;
        } else if (de->d_name[bl] != 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) == 0)
            total += st.st_size;
    }
    closedir(d);
    return total;
}

/* Waits (bounded) until the log files stop growing. */
static void
ops_log_settle(const char *dir, const char *id)
{
    int64_t deadline = scr_now_ms() + 10000, stable_since = scr_now_ms();
    long long last = -2;
    unsigned g;

    while (scr_now_ms() < deadline) {
        long long sz = ops_log_size(dir, id, &g);

        if (sz != last) {
            last = sz;
            stable_since = scr_now_ms();
        } else if (scr_now_ms() - stable_since >= 700) {
            return;
        }
        scr_msleep(50);
    }
}

/* 107 (--log-dir, --log-rotate-bytes 65536, --log-keep 100) */
static int
s_logs(struct scen *s)
{
    enum { TOTAL = 2 << 20, CH = 32768, SB = 65536 };
    static const uint8_t seq[][4] = {{0x71, 1, 0xFF, 2}, {0x72, 3}, {0x73}};
    static char marks[65536];
    char id[VMX_CONSOLE_ID_MAX + 1], path[1024];
    struct scr_conn *vm, *o = NULL;
    struct ops_file all = {0}, f;
    unsigned maxgen, nvmo = 0;
    uint64_t o_from = 0;
    size_t k;

    CHECK(s->log_dir, "needs --log-dir");
    vm = scen_vm(s, 107, NULL, id);
    TRY(vm);
    for (size_t off = 0; off < TOTAL; off += CH) {
        if (off == TOTAL / 4 || off == TOTAL / 2 || off == 7 * (TOTAL / 8)) {
            TRY(scen_vmotion(s, 107, &vm, seq[nvmo],
                             nvmo == 0 ? 4 : (nvmo == 1 ? 2 : 1)));
            nvmo++;
        }
        if (off == 3 * (TOTAL / 8)) {
            TRY(ops_wait_in(s, id, off, 5000));
            o = scr_op_connect(s->op);
            TRY(o);
            TRY(ops_attach(o, id, "rw raw", "rw", &o_from));
            CHECK(o_from == off - SB, "offset=%llu, expected %zu",
                  (unsigned long long)o_from, off - SB);
        }
        if (off == 3 * (TOTAL / 4)) {
            TRY(scr_expect_pattern(o, SEED_VM(107), o_from, off - o_from,
                                   5000));
            scr_close(o);
            o = NULL;
        }
        TRY(ops_send_pat(vm, SEED_VM(107), off, CH));
        if (o)
            scr_pump(o, 0);
    }
    TRY(ops_wait_in(s, id, TOTAL, 10000));
    scr_close(vm);
    TRY(scen_console_state(s, id, "disconnected", SCR_T_ANSWER));
    ops_log_settle(s->log_dir, id);
    CHECK(ops_log_size(s->log_dir, id, &maxgen) > 0, "no log files for %s", id);
    printf("  %s.log .. .log.%u\n", id, maxgen);
    CHECK(maxgen >= 16 && maxgen < 100,
          "%u rotated files for %d bytes at 64 KiB per file", maxgen, TOTAL);
    for (unsigned g = maxgen + 1; g-- > 0;) {
        if (g)
            snprintf(path, sizeof(path), "%s/%s.log.%u", s->log_dir, id, g);
        else
            snprintf(path, sizeof(path), "%s/%s.log", s->log_dir, id);
        TRY(ops_read_file(path, &f));
        CHECK(f.n <= 2 * 65536 + 512, "%s has %zu bytes (rotation at 64 KiB)",
              path, f.n);
        if (!ops_strip(&f, &all, marks, sizeof(marks))) {
            free(f.p);
            return SCEN_FAIL;
        }
        free(f.p);
    }
    k = pat_check(SEED_VM(107), 0, all.p, all.n < TOTAL ? all.n : TOTAL);
    if (k < all.n || all.n != TOTAL) {
        scr_fail(__FILE__, __LINE__,
                 "the log files, concatenated without markers, have %zu "
                 "bytes (expected %d); first difference at offset %zu",
                 all.n, TOTAL, k);
        fprintf(stderr, "  from there: ");
        scr_hex(stderr, all.p + k, all.n > k ? all.n - k : 0, 32);
        fprintf(stderr, "\n  markers:\n%s", marks);
        free(all.p);
        return SCEN_FAIL;
    }
    free(all.p);
    printf("  markers:\n%s", marks);
    CHECK(strstr(marks, "hypervisor ") && strstr(marks, " connected\n"),
          "no hypervisor connected marker");
    CHECK(strstr(marks, " disconnected\n"), "no hypervisor disconnected "
                                            "marker");
    {
        const char *p = marks;
        unsigned n = 0;

        while ((p = strstr(p, "vMotion complete: ")) != NULL) {
            n++;
            p++;
        }
        CHECK(n == 3, "%u vMotion complete markers, expected 3", n);
    }
    CHECK(strstr(marks, "operator ") && strstr(marks, " attached (rw)\n"),
          "no operator attach marker");
    CHECK(strstr(marks, " detached ("), "no operator detach marker");
    /* README and vmlog.h: "vMotion begin/complete/abort with hosts". */
    CHECK(strstr(marks, "vMotion begin") || strstr(marks, "vMotion BEGIN") ||
              strstr(marks, "vMotion started"),
          "no vMotion begin marker (README: markers for vMotion "
          "begin/complete/abort)");
    return SCEN_PASS;
}

/* Lines of the proxy's log holding text. */
static int
ops_proxy_log_count(const char *text)
{
    const char *path = getenv("VSPC_PROXY_LOG");
    struct ops_file f;
    int n = 0;

    if (!path || !ops_read_file(path, &f))
        return -1;
    f.p = realloc(f.p, f.n + 1);
    if (!f.p)
        exit(2);
    f.p[f.n] = 0;
    for (const char *p = (const char *)f.p; (p = strstr(p, text)) != NULL; p++)
        n++;
    free(f.p);
    return n;
}

/* A log file stripped of markers must be pattern bytes [off, off + n). */
static bool
ops_log_is(const char *path, uint64_t seed, uint64_t off, size_t n)
{
    struct ops_file f, out = {0};
    char marks[4096] = "";
    bool ok;
    size_t k;

    if (!ops_read_file(path, &f))
        return false;
    ok = ops_strip(&f, &out, marks, sizeof(marks));
    free(f.p);
    if (!ok)
        return false;
    k = pat_check(seed, off, out.p, out.n < n ? out.n : n);
    ok = out.n == n && k == n;
    if (!ok)
        scr_fail(__FILE__, __LINE__,
                 "%s: %zu console bytes, expected %zu from offset %llu; first "
                 "difference at %zu",
                 path, out.n, n, (unsigned long long)off, k);
    free(out.p);
    return ok;
}

/* 108 (--log-dir) */
static int
s_sighup(struct scen *s)
{
    enum { N = 10000 };
    char id[VMX_CONSOLE_ID_MAX + 1], cur[1024], moved[1024];
    struct scr_conn *vm;
    int before;
    int64_t deadline;

    CHECK(s->log_dir, "needs --log-dir");
    CHECK(s->pid > 0, "needs VSPC_PROXY_PID");
    vm = scen_vm(s, 108, NULL, id);
    TRY(vm);
    snprintf(cur, sizeof(cur), "%s/%s.log", s->log_dir, id);
    snprintf(moved, sizeof(moved), "%s/%s.log.moved", s->log_dir, id);
    TRY(ops_send_pat(vm, SEED_VM(108), 0, N));
    TRY(ops_wait_in(s, id, N, 5000));
    ops_log_settle(s->log_dir, id);
    TRY(ops_log_is(cur, SEED_VM(108), 0, N));
    CHECK(rename(cur, moved) == 0, "rename: %s", strerror(errno));
    before = ops_proxy_log_count("SIGHUP");
    CHECK(before >= 0, "cannot read VSPC_PROXY_LOG");
    CHECK(kill((pid_t)s->pid, SIGHUP) == 0, "kill %ld: %s", s->pid,
          strerror(errno));
    deadline = scr_now_ms() + 3000;
    while (ops_proxy_log_count("SIGHUP") <= before && scr_now_ms() < deadline)
        scr_msleep(20);
    CHECK(ops_proxy_log_count("SIGHUP") > before,
          "the proxy did not log the SIGHUP");
    TRY(ops_send_pat(vm, SEED_VM(108), N, N));
    TRY(ops_wait_in(s, id, 2 * N, 5000));
    ops_log_settle(s->log_dir, id);
    TRY(ops_log_is(moved, SEED_VM(108), 0, N));
    TRY(ops_log_is(cur, SEED_VM(108), N, N));
    return SCEN_PASS;
}

/* ---- 109: option 233, as vmware/vspc vspc/client.py speaks it ----------- */

/*
 * adm_connect (scen_ops.h): connects and answers the server's offers one by one
 * as the client's RFC 1143 codec does: it accepts BINARY and SGA both ways and
 * the server's WILL 233 (DO 233), refuses everything else (DONT/WONT). Then, as
 * admin_server_is_available() does, it is ready for SB requests.
 */
struct scr_conn *
adm_connect(struct scen *s, const char *name)
{
    struct scr_conn *c = scr_connect(s->op, name, 3000);
    int64_t deadline = scr_now_ms() + SCR_T_ANSWER;
    size_t seen = 0;
    bool got233 = false;

    if (!c)
        return NULL;
    while (!got233 && scr_now_ms() < deadline && !c->eof) {
        uint8_t buf[64];
        size_t len = 0;

        scr_pump(c, 20);
        for (; seen < c->nev; seen++) {
            const struct scr_ev *e = &c->ev[seen];
            bool ok = e->opt == TN_OPT_BINARY || e->opt == TN_OPT_SGA;
            uint8_t ans;

            if (e->kind != SCR_EV_NEG)
                continue;
            if (e->verb == TN_WILL) {
                ok = ok || e->opt == ADM_OPT;
                ans = ok ? TN_DO : TN_DONT;
                got233 = got233 || e->opt == ADM_OPT;
            } else if (e->verb == TN_DO) {
                ans = ok ? TN_WILL : TN_WONT;
            } else {
                continue; /* WONT/DONT: nothing to answer from NO */
            }
            len = scr_put_verb(buf, len, sizeof(buf), ans, e->opt);
        }
        if (len && !scr_send(c, buf, len))
            return NULL;
    }
    if (!got233) {
        scr_fail(__FILE__, __LINE__, "%s: no WILL 233 from the server", name);
        scr_dump(c);
        return NULL;
    }
    return c;
}

/* IAC SB 233 <sub> <payload, IAC doubled> IAC SE */
bool
adm_send(struct scr_conn *c, uint8_t sub, const void *p, size_t n)
{
    uint8_t buf[1024];
    uint8_t h[4] = {TN_IAC, TN_SB, ADM_OPT, sub}, t[2] = {TN_IAC, TN_SE};
    size_t len = scr_put(buf, 0, sizeof(buf), h, 4);

    len = scr_put_data(buf, len, sizeof(buf), p, n);
    len = scr_put(buf, len, sizeof(buf), t, 2);
    return len <= sizeof(buf) && scr_send(c, buf, len);
}

/* The next unconsumed SB 233; NULL (printed) if none in time. */
const struct scr_ev *
adm_wait(struct scr_conn *c, int timeout_ms)
{
    int64_t deadline = scr_now_ms() + timeout_ms;

    for (;;) {
        for (size_t i = 0; i < c->nev; i++) {
            struct scr_ev *e = &c->ev[i];

            if (!e->used && e->kind == SCR_EV_SB && e->opt == ADM_OPT) {
                e->used = true;
                return e;
            }
        }
        if (scr_now_ms() >= deadline || c->eof)
            break;
        scr_pump(c, 20);
    }
    scr_fail(__FILE__, __LINE__, "%s: no SB 233 within %d ms", c->name,
             timeout_ms);
    scr_dump(c);
    return NULL;
}

/* SET_CONNECTION lock+port (port NULL: empty); the answer must be want. */
bool
adm_set(struct scr_conn *c, int lock, const char *port, uint8_t want)
{
    uint8_t pl[256];
    size_t n = 0;
    const struct scr_ev *e;

    if (port) {
        pl[n++] = (uint8_t)lock;
        memcpy(pl + n, port, strlen(port));
        n += strlen(port);
    }
    if (!adm_send(c, ADM_SET, pl, n) || (e = adm_wait(c, SCR_T_ANSWER)) == NULL)
        return false;
    if (e->n == 1 && e->p[0] == want)
        return true;
    scr_fail(__FILE__, __LINE__,
             "%s: SET_CONNECTION lock 0x%02X port \"%s\": expected SB 233 "
             "[%02X], got %zu bytes",
             c->name, lock, port ? port : "", want, e->n);
    scr_hex(stderr, e->p, e->n, 64);
    fputc('\n', stderr);
    return false;
}

/* VM output so far (what the scrollback must replay). */
static uint8_t adm_hist[8192];
static size_t adm_nhist;

static bool
adm_vm_out(struct scr_conn *vm, const uint8_t *p, size_t n)
{
    if (adm_nhist + n > sizeof(adm_hist))
        return false;
    memcpy(adm_hist + adm_nhist, p, n);
    adm_nhist += n;
    return scr_send_data(vm, p, n);
}

static int
s_option233(struct scen *s)
{
    char id1[VMX_CONSOLE_ID_MAX + 1], id2[VMX_CONSOLE_ID_MAX + 1], up[80];
    char line[512];
    struct scr_conn *vm1, *vm2, *a, *b, *t;
    const struct scr_ev *e;
    uint8_t buf[1024];
    uint64_t off;
    bool seen1 = false, seen2 = false;
    size_t i, nf = 0;
    const char *f[16];

    vm1 = scen_vm(s, 109, NULL, id1);
    TRY(vm1);
    vm2 = scen_vm(s, 109, "com2", id2);
    TRY(vm2);
    pat_fill(SEED_VM(109), 0, buf, 300);
    TRY(adm_vm_out(vm1, buf, 300));
    TRY(ops_wait_in(s, id1, 300, SCR_T_ANSWER));
    a = adm_connect(s, "adm-a");
    TRY(a);
    /* No banner, no prompt: nothing in-band before a connection. */
    TRY(scr_no_data(a, 600));
    /* GET_VM_PORT_LIST -> VM_PORT_LIST: NUL-separated (id, name, uri). */
    TRY(adm_send(a, ADM_GET_LIST, NULL, 0));
    e = adm_wait(a, SCR_T_ANSWER);
    TRY(e);
    CHECK(e->n >= 1 && e->p[0] == ADM_LIST, "expected VM_PORT_LIST (0x11)");
    f[nf++] = (const char *)e->p + 1;
    for (i = 1; i < e->n; i++) {
        CHECK(e->p[i] != 0 || nf < 16, "port list: too many fields");
        if (e->p[i] == 0)
            f[nf++] = (const char *)e->p + i + 1;
    }
    /* The fields are NUL-terminated except the last: copy to check. */
    CHECK(nf == 6, "port list has %zu fields, expected 2 x 3", nf);
    for (i = 0; i < nf; i += 3) {
        size_t ulen = (const char *)e->p + e->n - f[i + 2];

        if (i + 3 < nf)
            ulen = (size_t)(f[i + 3] - f[i + 2]) - 1;
        CHECK(ulen == 0, "port %zu: uri field of %zu bytes", i / 3, ulen);
        CHECK(strcmp(f[i + 1], "vm-109") == 0, "port %zu: name \"%s\"", i / 3,
              f[i + 1]);
        seen1 = seen1 || strcmp(f[i], id1) == 0;
        seen2 = seen2 || strcmp(f[i], id2) == 0;
    }
    CHECK(seen1 && seen2, "port list lacks %s or %s", id1, id2);
    /* Connect with the id in upper case, as vmware shows ids. */
    for (i = 0; id1[i]; i++)
        up[i] = (char)toupper((unsigned char)id1[i]);
    up[i] = 0;
    TRY(adm_set(a, 0x00, up, ADM_CONNECTED));
    /* The first in-band bytes are the console's scrollback. */
    TRY(scr_expect_data(a, adm_hist, adm_nhist, SCR_T_ANSWER));
    for (i = 0; i < 256; i++)
        buf[i] = (uint8_t)i;
    memset(buf + 256, 0xFF, 256);
    TRY(adm_vm_out(vm1, buf, 512));
    TRY(scr_expect_data(a, buf, 512, SCR_T_ANSWER));
    TRY(scr_send_data(a, buf, 512));
    TRY(scr_expect_data(vm1, buf, 512, SCR_T_ANSWER));
    TRY(scen_o2v(a, vm1, SEED_OP(109), 0, 300));
    /* SET_CONNECTION empty: disconnected both ways. */
    TRY(adm_set(a, 0, NULL, ADM_DISCONNECTED));
    pat_fill(SEED_VM(109), 300, buf, 100);
    TRY(adm_vm_out(vm1, buf, 100));
    TRY(scr_send_data(a, "ignored", 7));
    TRY(scr_no_data(a, 300));
    TRY(scr_no_data(vm1, 0));
    /* Unknown port. */
    TRY(adm_set(a, 0x00, "00000000000000000000000000000bad", ADM_DISCONNECTED));
    /* The second port, lower case with its label. */
    TRY(adm_set(a, 0x00, id2, ADM_CONNECTED));
    TRY(scen_v2o(vm2, a, SEED_VM(1092), 0, 200));
    TRY(adm_set(a, 0, NULL, ADM_DISCONNECTED));
    /* Locks. T: a text operator, read-write. */
    t = scr_op_open_attached(s->op, id1, "rw", &off);
    TRY(t);
    TRY(adm_set(a, 0x10, id1, ADM_DISCONNECTED)); /* EXCLUSIVE: T is there */
    TRY(adm_set(a, 0x11, id1, ADM_DISCONNECTED)); /* EXCL_WRITE: T writes */
    scr_close(t);
    {
        int64_t deadline = scr_now_ms() + SCR_T_ANSWER;
        struct scr_conn *lst = scr_op_connect(s->op);
        struct scr_console con = {0};

        TRY(lst);
        while (scr_op_find(lst, id1, &con) == 1 && con.ops > 0 &&
               scr_now_ms() < deadline)
            scr_settle(lst, 20);
        CHECK(con.ops == 0, "ops=%u after the text operator left", con.ops);
        scr_close(lst);
    }
    TRY(adm_set(a, 0x11, id1, ADM_CONNECTED)); /* EXCL_WRITE: alone now */
    TRY(scr_expect_data(a, adm_hist, adm_nhist, SCR_T_ANSWER));
    /* READONLY_OK under a write lock: connected, read-only. */
    b = adm_connect(s, "adm-b");
    TRY(b);
    TRY(adm_set(b, 0x20, id1, ADM_CONNECTED));
    TRY(scr_expect_data(b, adm_hist, adm_nhist, SCR_T_ANSWER));
    TRY(ops_send_pat(b, SEED_OP(1093), 0, 500));
    TRY(scr_no_data(vm1, 300));
    TRY(scr_no_data(b, 0)); /* no notices in-band for option 233 */
    TRY(scen_o2v(a, vm1, SEED_OP(1094), 0, 300));
    pat_fill(SEED_VM(109), 400, buf, 200);
    TRY(adm_vm_out(vm1, buf, 200));
    TRY(scr_expect_data(a, buf, 200, SCR_T_ANSWER));
    TRY(scr_expect_data(b, buf, 200, SCR_T_ANSWER));
    TRY(adm_set(b, 0x11, id1, ADM_DISCONNECTED)); /* a is the writer */
    /* A text operator asking for rw under the lock gets ro. */
    t = scr_op_connect(s->op);
    TRY(t);
    TRY(ops_attach(t, id1, "rw raw", "ro", &off));
    scr_close(t);
    /* EXCLUSIVE while alone; then nobody else gets in. */
    TRY(adm_set(a, 0, NULL, ADM_DISCONNECTED));
    scr_settle(a, 200);
    TRY(adm_set(a, 0x10, id1, ADM_CONNECTED));
    TRY(scr_expect_data(a, adm_hist, adm_nhist, SCR_T_ANSWER));
    TRY(adm_set(b, 0x20, id1, ADM_DISCONNECTED));
    TRY(adm_set(b, 0x01, id1, ADM_DISCONNECTED));
    t = scr_op_connect(s->op);
    TRY(t);
    snprintf(line, sizeof(line), "attach %s ro", id1);
    TRY(ops_reply(t, line, (char *)buf, sizeof(buf)));
    CHECK(strncmp((char *)buf, "error ", 6) == 0,
          "\"%s\" under EXCLUSIVE answered \"%s\"", line, (char *)buf);
    TRY(scen_o2v(a, vm1, SEED_OP(1095), 0, 300));
    TRY(scr_no_data(a, 100));
    return SCEN_PASS;
}

int
scen_ops2(struct scen *s)
{
    switch (s->n) {
    case 107:
        return s_logs(s);
    case 108:
        return s_sighup(s);
    case 109:
        return s_option233(s);
    }
    return SCEN_FAIL;
}
