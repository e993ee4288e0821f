/*
 * scen_pace2.c: scenarios 112-118 (scen_pace.h): a stalled console log,
 * scrollback replays (exact fills; larger than the reader's queue), input
 * after a re-attach in the same write, option 233 and a VM name with
 * capitals, data before identification. The machinery is in scen_pace.c.
 */
#include "vspc/compat.h"

#include "scen_pace.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pattern.h"
#include "scen_ops.h"
#include "telnet.h"

/* ---- 112: a stalled console log (--stall-timeout 1 --log-rotate-bytes 0)
 *
 * VSPC_TEST_LOG_HOLD names a file: while it exists the proxy's log writer
 * takes no records, as behind a stalled disk. With an operator reading
 * flat out, the VM writes 100 000 bytes (logged), then the file is
 * created and the VM writes flat out for 5 s: the log reader paces the
 * console until its queue has been full for the stall timeout, then is
 * cut loose, and the console streams again (the operator gets every
 * byte). The file is removed: the log is then every stream byte, in order,
 * except where a "N bytes not logged (queue full)" marker says N bytes
 * are missing, and the log reader's gap metric says the same.
 */

struct pace_file {
    uint8_t *p;
    size_t n;
};

static bool
pace_read_file(const char *path, struct pace_file *f)
{
    struct stat st;
    FILE *fp = fopen(path, "rb");

    f->p = NULL;
    f->n = 0;
    if (!fp || fstat(fileno(fp), &st) != 0) {
        scr_fail(__FILE__, __LINE__, "%s: %s", path, strerror(errno));
        if (fp)
            fclose(fp);
        return false;
    }
    f->p = malloc((size_t)st.st_size + 1);
    if (!f->p)
        exit(2);
    f->n = fread(f->p, 1, (size_t)st.st_size, fp);
    fclose(fp);
    return true;
}

static long long
pace_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Waits (bounded) until path has at least min bytes and has not grown for
 * stable_ms. */
static void
pace_settle(const char *path, long long min, int stable_ms, int timeout_ms)
{
    int64_t deadline = scr_now_ms() + timeout_ms, since = scr_now_ms();
    long long last = -2;

    while (scr_now_ms() < deadline) {
        long long n = pace_size(path);

        if (n != last) {
            last = n;
            since = scr_now_ms();
        } else if (n >= min && scr_now_ms() - since >= stable_ms) {
            return;
        }
        scr_msleep(50);
    }
}

/*
 * The log file (not rotated) holds stream bytes [0, total) exactly, event
 * markers "\r\n[vspc <time> <text>]\r\n" cut out, except where a marker
 * "N bytes not logged (queue full)" says N bytes are missing. *lost: the
 * sum of those N, *nloss: the number of such markers.
 */
static bool
pace_check_log(const char *path, uint64_t seed, uint64_t total, uint64_t *lost,
               unsigned *nloss)
{
    static const char head[] = "\r\n[vspc ";
    struct pace_file f;
    uint64_t off = 0;
    size_t i = 0, hl = sizeof(head) - 1;
    bool ok = true;

    *lost = 0;
    *nloss = 0;
    if (!pace_read_file(path, &f))
        return false;
    while (i < f.n && ok) {
        const uint8_t *cr = memchr(f.p + i, '\r', f.n - i);
        size_t run = cr ? (size_t)(cr - (f.p + i)) : f.n - i, k;
        const uint8_t *t;

        if (run) {
            k = off + run <= total ? pat_check(seed, off, f.p + i, run) : 0;
            if (k < run) {
                scr_fail(__FILE__, __LINE__,
                         "%s: file offset %zu: byte 0x%02X is not stream "
                         "byte %llu of %llu; from there:",
                         path, i + k, f.p[i + k], (unsigned long long)(off + k),
                         (unsigned long long)total);
                pace_show(f.p + i + k, f.n - i - k);
                ok = false;
                break;
            }
            i += run;
            off += run;
            continue;
        }
        /* A marker: head, "YYYY-MM-DDTHH:MM:SS.mmmZ ", text, "]\r\n". */
        t = f.p + i + hl;
        if (f.n - i >= hl + 28 && memcmp(f.p + i, head, hl) == 0 &&
            t[4] == '-' && t[10] == 'T' && t[23] == 'Z' && t[24] == ' ') {
            const uint8_t *end = t + 25;
            char text[300];
            size_t tl;

            while (end + 2 < f.p + f.n &&
                   !(end[0] == ']' && end[1] == '\r' && end[2] == '\n'))
                end++;
            if (end + 2 >= f.p + f.n) {
                scr_fail(__FILE__, __LINE__, "%s: unterminated marker at %zu",
                         path, i);
                ok = false;
                break;
            }
            tl = (size_t)(end - (t + 25));
            if (tl >= sizeof(text))
                tl = sizeof(text) - 1;
            memcpy(text, t + 25, tl);
            text[tl] = 0;
            if (strstr(text, " not logged")) {
                char *e;
                unsigned long long n = strtoull(text, &e, 10);

                printf("  log marker at stream offset %llu: %s\n",
                       (unsigned long long)off, text);
                if (strncmp(e, " byte", 5) != 0 ||
                    !strstr(text, " not logged (queue full)")) {
                    scr_fail(__FILE__, __LINE__,
                             "%s: unexpected loss marker "
                             "\"%s\"",
                             path, text);
                    ok = false;
                    break;
                }
                *lost += n;
                (*nloss)++;
                off += n;
            }
            i = (size_t)(end + 3 - f.p);
            continue;
        }
        /* A '\r' of the stream. */
        if (off >= total || f.p[i] != pat_byte(seed, off)) {
            scr_fail(__FILE__, __LINE__,
                     "%s: file offset %zu: byte 0x%02X is not stream byte "
                     "%llu; from there:",
                     path, i, f.p[i], (unsigned long long)off);
            pace_show(f.p + i, f.n - i);
            ok = false;
            break;
        }
        i++;
        off++;
    }
    if (ok && off != total) {
        scr_fail(__FILE__, __LINE__,
                 "%s: the log covers stream bytes [0, %llu), the VM wrote "
                 "%llu (%llu announced lost)",
                 path, (unsigned long long)off, (unsigned long long)total,
                 (unsigned long long)*lost);
        ok = false;
    }
    free(f.p);
    return ok;
}

static int
s_log_stall(struct scen *s)
{
    enum { STREAM_MS = 5000, N0 = 100000 };
    const char *hold = getenv("VSPC_TEST_LOG_HOLD");
    char id[VMX_CONSOLE_ID_MAX + 1], path[1024];
    struct scr_conn *vm, *a;
    struct pv va, *rs[1] = {&va};
    struct pw *w = &pace_w;
    uint64_t lost;
    unsigned nloss;
    long long v, held_size, written = 0, dropped = 0;
    int64_t deadline;
    int fd;

    CHECK(s->log_dir && hold, "needs --log-dir and VSPC_TEST_LOG_HOLD");
    unlink(hold);
    vm = scen_vm(s, 112, NULL, id);
    TRY(vm);
    snprintf(path, sizeof(path), "%s/%s.log", s->log_dir, id);
    a = pace_op(s, id, 0, 0);
    TRY(a);
    pv_start(&va, "operator", a, SEED_VM(112), 0, false);
    /* The writer works. */
    pw_start(w, vm, SEED_VM(112), 0, N0);
    TRY(pace_finish(w, rs, 1, 0, 10000));
    pace_settle(path, N0, 500, 10000);
    held_size = pace_size(path);
    CHECK(held_size >= N0, "%s: %lld bytes after %d were written", path,
          held_size, N0);
    /* The disk stalls. */
    fd = open(hold, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0, "%s: %s", hold, strerror(errno));
    close(fd);
    pw_start(w, vm, SEED_VM(112), N0, PACE_TX_MAX);
    while (scr_now_ms() - w->t_start < STREAM_MS) {
        size_t max = PACE_TURN_READ;

        TRY(pace_turn(w, rs, &max, 1, 5));
        CHECK(!va.bad, "the operator's stream is wrong (above)");
    }
    pw_stop(w);
    TRY(pace_finish(w, rs, 1, 0, 30000));
    pace_report_writer(w, N0);
    CHECK(w->max_stall < PACE_STALL_MAX_MS,
          "the VM could not write for %lld ms behind a stalled log "
          "(--stall-timeout 1: at most %d ms)",
          (long long)w->max_stall, PACE_STALL_MAX_MS);
    CHECK(w->tx - w->stall_tx >= 4 * PACE_QUEUE,
          "the VM wrote only %llu bytes after its longest stall",
          (unsigned long long)(w->tx - w->stall_tx));
    v = pace_metric("vspc_readers_stalled_total");
    CHECK(v >= 1,
          "vspc_readers_stalled_total is %lld: the log writer was "
          "never cut loose",
          v);
    v = pace_metric("vspc_console_paced_total");
    printf("  vspc_console_paced_total %lld\n", v);
    held_size = pace_size(path);
    /* The disk is back: every byte is written or dropped (vmlog.h). */
    CHECK(unlink(hold) == 0, "%s: %s", hold, strerror(errno));
    deadline = scr_now_ms() + 30000;
    do {
        scr_msleep(100);
        written = pace_metric("vspc_console_log_bytes_written_total");
        dropped = pace_metric("vspc_console_log_bytes_dropped_total");
        v = pace_metric("vspc_console_log_queue_bytes");
    } while ((written + dropped < (long long)w->tx || v != 0) &&
             scr_now_ms() < deadline);
    pace_settle(path, held_size + 1, 300, 10000);
    printf("  %s: %lld bytes while held, %lld after; %lld stream bytes "
           "written, %lld dropped\n",
           path, held_size, pace_size(path), written, dropped);
    CHECK(written + dropped == (long long)w->tx && v == 0,
          "the log writer: %lld bytes written + %lld dropped, %lld queued; "
          "the VM wrote %llu",
          written, dropped, v, (unsigned long long)w->tx);
    TRY(pace_check_log(path, SEED_VM(112), w->tx, &lost, &nloss));
    CHECK(nloss >= 1, "no \"bytes not logged\" marker in %s", path);
    CHECK(dropped == (long long)lost,
          "vspc_console_log_bytes_dropped_total is %lld, the log's markers "
          "say %llu bytes were not logged",
          dropped, (unsigned long long)lost);
    v = pace_metric("vspc_log_reader_gap_bytes_total");
    CHECK(v == (long long)lost,
          "vspc_log_reader_gap_bytes_total is %lld, the log's markers say "
          "%llu bytes were not logged",
          v, (unsigned long long)lost);
    printf("  the log holds every stream byte but the %llu announced lost "
           "(%u marker(s)), in order\n",
           (unsigned long long)lost, nloss);
    TRY(pv_quiet(&va, 100));
    unlink(path); /* tens of MB */
    return SCEN_PASS;
}

/* ---- 113: scrollback after exact fills (default --scrollback) -----------
 *
 * A ring that grows as a console writes must not assume it has not
 * wrapped: writes that fill it exactly at each size, then more; each
 * write taken by the proxy before the next. An attach replays exactly the
 * last 64 KiB written (or all of it), never bytes the VM did not write.
 */

static int
s_exact_fill(struct scen *s)
{
    static const struct {
        unsigned vm;
        size_t w[8]; /* write sizes, 0-terminated */
    } cases[] = {
        {1131, {16384, 16384, 1000}}, /* the case */
        {1132, {16384, 16384, 40000}},
        {1133, {4096, 100}},
        {1134, {4096, 4096, 8192, 16384, 32768, 7}},
        {1135, {32768, 32768, 32768, 5}},
        {1136, {65536, 1}},
        {1137, {1, 4095, 12288, 16384, 32768, 65536, 3}},
    };

    for (size_t c = 0; c < VSPC_ARRAY_LEN(cases); c++) {
        char id[VMX_CONSOLE_ID_MAX + 1];
        uint64_t seed = SEED_VM(cases[c].vm), total = 0, from;
        struct scr_conn *vm = scen_vm(s, cases[c].vm, NULL, id), *o;

        TRY(vm);
        /* Each write is taken by the proxy before the next one. */
        for (size_t k = 0; k < 8 && cases[c].w[k]; k++) {
            TRY(ops_send_pat(vm, seed, total, cases[c].w[k]));
            total += cases[c].w[k];
            TRY(ops_wait_in(s, id, total, 5000));
        }
        from = total > PACE_RING ? total - PACE_RING : 0;
        o = pace_op(s, id, 0, from);
        TRY(o);
        TRY(scr_expect_pattern(o, seed, from, (size_t)(total - from), 5000));
        TRY(scr_no_data(o, 100));
        printf("  writes of");
        for (size_t k = 0; k < 8 && cases[c].w[k]; k++)
            printf(" %zu", cases[c].w[k]);
        printf(": replay of [%llu, %llu) exact\n", (unsigned long long)from,
               (unsigned long long)total);
        scr_close(o);
        scr_close(vm);
    }
    return SCEN_PASS;
}

/* ---- 114, 115: a scrollback larger than the reader's queue --------------
 *
 * 114: --scrollback 1048576 --operator-queue 16384; 115: the default
 * scrollback, --operator-queue 16384. An attach after 1.5 times the
 * scrollback replays all of it, to a fast reader and to one that reads
 * 4 KiB every 2 ms; then both continue live.
 */
static int
s_replay_queue(struct scen *s, uint64_t sb)
{
    char id[VMX_CONSOLE_ID_MAX + 1];
    uint64_t total = sb + sb / 2 + 12345, seed = SEED_VM(s->n);
    struct scr_conn *vm, *o[2];
    struct pv v[2], *rs[2] = {&v[0], &v[1]};
    struct pw *w = &pace_w;

    vm = scen_vm(s, (unsigned)s->n, NULL, id);
    TRY(vm);
    pw_start(w, vm, seed, 0, total);
    TRY(pace_finish(w, NULL, 0, 0, 20000));
    TRY(ops_wait_in(s, id, total, 10000));
    for (int k = 0; k < 2; k++) {
        int64_t deadline = scr_now_ms() + 30000;

        o[k] = pace_op(s, id, 0, total - sb);
        TRY(o[k]);
        pv_start(&v[k], k ? "slow operator" : "operator", o[k], seed,
                 total - sb, false);
        while (k && v[k].pos < total && scr_now_ms() < deadline) {
            size_t max = 4096;

            TRY(pace_turn(NULL, &rs[k], &max, 1, 2));
            scr_msleep(2);
        }
        TRY(pv_wait(&v[k], total, 20000));
        printf("  %s: replayed [%llu, %llu), all %llu bytes exact\n", v[k].who,
               (unsigned long long)(total - sb), (unsigned long long)total,
               (unsigned long long)sb);
    }
    pw_start(w, vm, seed, total, total + 100000);
    TRY(pace_finish(w, rs, 2, 0, 10000));
    TRY(pv_quiet(&v[0], 200));
    TRY(pv_quiet(&v[1], 0));
    return SCEN_PASS;
}

/* ---- 116: input after a re-attach, in the same write -------------------- */

/* o receives "ok attached <id> rw offset=0 epoch=256\r\n" and then n pattern
 * bytes (the replay) within SCR_T_ANSWER. */
static bool
pace_expect_attached(struct scr_conn *o, const char *id, uint64_t seed,
                     size_t n)
{
    char want[256];
    int64_t deadline = scr_now_ms() + SCR_T_ANSWER;
    size_t wl = (size_t)snprintf(
        want, sizeof(want), "ok attached %s rw offset=0 epoch=256\r\n", id);

    for (;;) {
        const uint8_t *p = memmem(o->data + o->rd, o->ndata - o->rd, want, wl);

        if (p) {
            o->rd = (size_t)(p - o->data) + wl;
            return scr_expect_pattern(o, seed, 0, n, SCR_T_ANSWER);
        }
        if (scr_now_ms() >= deadline || o->eof)
            break;
        scr_pump(o, 20);
    }
    scr_fail(__FILE__, __LINE__, "operator: no \"%.*s\" after the re-attach",
             (int)wl - 2, want);
    scr_dump(o);
    return false;
}

static int
s_reattach(struct scen *s)
{
    char id[VMX_CONSOLE_ID_MAX + 1], buf[256];
    struct scr_conn *vm, *o;
    uint64_t off = 1, seed = SEED_VM(116);
    int n;

    vm = scen_vm(s, 116, NULL, id);
    TRY(vm);
    TRY(ops_send_pat(vm, seed, 0, 100));
    TRY(ops_wait_in(s, id, 100, SCR_T_ANSWER));
    o = scr_op_connect(s->op);
    TRY(o);
    TRY(ops_attach(o, id, "rw", "rw", &off));
    CHECK(off == 0, "offset=%llu", (unsigned long long)off);
    TRY(scr_expect_pattern(o, seed, 0, 100, SCR_T_ANSWER));
    /* One write: ^Ec. attach <id> CR TWO. */
    n = snprintf(buf, sizeof(buf),
                 "\x05"
                 "c.attach %s\rTWO",
                 id);
    TRY(scr_send(o, buf, (size_t)n));
    TRY(pace_expect_attached(o, id, seed, 100));
    TRY(scr_expect_data(vm, "TWO", 3, SCR_T_ANSWER));
    TRY(scr_no_data(vm, 300));
    printf("  ^Ec.attach <id>\\rTWO in one write: the VM got TWO\n");
    /* The same with CR LF: the LF ends the command line, it is not input. */
    n = snprintf(buf, sizeof(buf),
                 "\x05"
                 "c.attach %s\r\nTHREE",
                 id);
    TRY(scr_send(o, buf, (size_t)n));
    TRY(pace_expect_attached(o, id, seed, 100));
    TRY(scr_expect_data(vm, "THREE", 5, SCR_T_ANSWER));
    TRY(scr_no_data(vm, 300));
    printf("  ^Ec.attach <id>\\r\\nTHREE in one write: the VM got THREE\n");
    /* Still attached both ways. */
    TRY(scen_v2o(vm, o, seed, 100, 1000));
    TRY(scr_send_data(o, "four\r", 5));
    TRY(scr_expect_data(vm, "four\r", 5, SCR_T_ANSWER));
    TRY(scr_no_data(vm, 200));
    return SCEN_PASS;
}

/* ---- 117: option 233 and a VM name with capitals ------------------------ */

static int
s_option233_name(struct scen *s)
{
    char text[48], norm[VMX_UUID_HEX + 1], up[VMX_UUID_HEX + 1];
    char got[VMX_CONSOLE_ID_MAX + 1];
    struct scr_hs hs = {0};
    struct scr_conn *vm, *t, *a;
    uint64_t off = 1, seed = SEED_VM(117);

    scr_uuid(117, text, norm);
    hs.uuid = text;
    hs.name = "ProdVM";
    vm = scen_vm_hs(s, "vm117", &hs);
    TRY(vm);
    TRY(ops_send_pat(vm, seed, 0, 300));
    TRY(ops_wait_in(s, norm, 300, SCR_T_ANSWER));
    /* The text port finds it by name. */
    t = scr_op_connect(s->op);
    TRY(t);
    TRY(scr_op_attach(t, "ProdVM", "ro", true, got, &off, false));
    CHECK(strcmp(got, norm) == 0 && off == 0, "attach ProdVM: %s offset=%llu",
          got, (unsigned long long)off);
    TRY(scr_expect_pattern(t, seed, 0, 300, SCR_T_ANSWER));
    scr_close(t);
    /* So does VMware's client, by the name it shows. */
    a = adm_connect(s, "adm");
    TRY(a);
    TRY(adm_set(a, 0x00, "ProdVM", ADM_CONNECTED));
    TRY(scr_expect_pattern(a, seed, 0, 300, SCR_T_ANSWER));
    TRY(scen_v2o(vm, a, seed, 300, 500));
    TRY(scen_o2v(a, vm, SEED_OP(117), 0, 500));
    TRY(adm_set(a, 0, NULL, ADM_DISCONNECTED));
    printf("  SET_CONNECTION \"ProdVM\": connected, both ways exact\n");
    /* The id in upper case, as vmware/vspc shows ids, still works. */
    for (size_t i = 0; i <= VMX_UUID_HEX; i++)
        up[i] = (char)toupper((unsigned char)norm[i]);
    TRY(adm_set(a, 0x00, up, ADM_CONNECTED));
    TRY(scr_expect_pattern(a, seed, 0, 800, SCR_T_ANSWER));
    TRY(scen_o2v(a, vm, SEED_OP(117), 500, 100));
    TRY(adm_set(a, 0, NULL, ADM_DISCONNECTED));
    TRY(scr_no_data(vm, 100));
    return SCEN_PASS;
}

/* ---- 118: data before identification (--scrollback 2097152
 * --idle-timeout 3) ------------------------------------------------------
 *
 * The proxy holds up to 1 MiB of serial data that arrives before a
 * connection identifies itself (16 times its 64 KiB warning level), then
 * stops reading it (README, --idle-timeout). Under the hold: 448 KiB
 * before DO-PROXY and 512 KiB more before the answer to GET-VM-VC-UUID
 * (15 times the 64 KiB level, which used to be a cap): after
 * identification an operator's replay holds every byte, the connection is
 * open. Past the hold, on a connection that never identifies: the proxy
 * stops reading (the host's sends stall, the proxy's memory does not
 * grow by what it was sent), counts it, and closes it at the idle
 * timeout. Sends never block the script: it keeps reading meanwhile.
 */

/* Sends p (n bytes) without blocking while reading c; then, if sub >= 0,
 * waits for option-232 SB sub. false after timeout_ms (printed). */
static bool
pace_push(struct scr_conn *c, const uint8_t *p, size_t n, int sub,
          int timeout_ms)
{
    int64_t t0 = scr_now_ms(), deadline = t0 + timeout_ms;
    size_t len, sent = 0;

    for (;;) {
        if (sent < n) {
            ssize_t r =
                send(c->fd, p + sent, n - sent, MSG_DONTWAIT | MSG_NOSIGNAL);

            if (r > 0)
                sent += (size_t)r;
            else if (r < 0 && errno != EAGAIN && errno != EINTR) {
                scr_fail(__FILE__, __LINE__, "send: %s (%zu of %zu sent)",
                         strerror(errno), sent, n);
                return false;
            }
        }
        if (sent == n && (sub < 0 || scr_wait_vmx(c, (uint8_t)sub, &len, 0)))
            break;
        if (scr_now_ms() >= deadline || c->eof) {
            scr_fail(__FILE__, __LINE__, "%zu of %zu bytes sent%s%s in %d ms%s",
                     sent, n, sub >= 0 ? ", waiting for " : "",
                     sub >= 0 ? vmx_sub_str((uint8_t)sub) : "", timeout_ms,
                     c->eof ? "; the proxy closed the connection" : "");
            scr_dump(c);
            return false;
        }
        scr_pump(c, 5);
    }
    printf("  %zu bytes sent%s%s after %lld ms\n", n, sub >= 0 ? ", then " : "",
           sub >= 0 ? vmx_sub_str((uint8_t)sub) : "",
           (long long)(scr_now_ms() - t0));
    return true;
}

static int
s_pre_ident(struct scen *s)
{
    enum { P1 = 7 * 65536, P2 = 8 * 65536, P3 = 1000, T = 20000 };
    enum { FLOOD = 32 << 20, HOLD = 1 << 20 };
    static const uint8_t ks1[] = {0,  1,  2,  3,  40, 41, 43, 44, 45, 46, 48,
                                  70, 71, 73, 80, 81, 84, 85, 86, 87, 82, 83};
    static uint8_t raw[P2], buf[2 * P2 + 1024];
    char text[48], norm[VMX_UUID_HEX + 1];
    uint64_t seed = SEED_VM(118);
    struct scr_conn *c, *o, *u;
    size_t len, sent = 0;
    long long rss0, rss1, v;
    int64_t t0, deadline;

    scr_uuid(118, text, norm);
    c = scr_connect(s->vm, "vm", 3000);
    TRY(c);
    TRY(scr_negotiate(c));
    /* Serial data, then KNOWN-SUBOPTIONS-1 and DO-PROXY. */
    pat_fill(seed, 0, raw, P1);
    len = tn_escape(buf, raw, P1);
    len = scr_put_vmx(buf, len, sizeof(buf), VMX_KNOWN_SUBOPTIONS_1, ks1,
                      sizeof(ks1));
    len = scr_put_vmx(buf, len, sizeof(buf), VMX_DO_PROXY, "SvSPC.py", 8);
    TRY(pace_push(c, buf, len, VMX_GET_VM_VC_UUID, T));
    /* More serial data, then the UUID. */
    pat_fill(seed, P1, raw, P2);
    len = tn_escape(buf, raw, P2);
    len =
        scr_put_vmx(buf, len, sizeof(buf), VMX_VM_VC_UUID, text, strlen(text));
    TRY(pace_push(c, buf, len, VMX_WILL_PROXY, T));
    len = scr_put_vmx(buf, 0, sizeof(buf), VMX_VM_NAME, "vm-118", 6);
    pat_fill(seed, P1 + P2, raw, P3);
    len += tn_escape(buf + len, raw, P3);
    TRY(pace_push(c, buf, len, -1, T));
    o = pace_op(s, norm, 0, 0);
    TRY(o);
    TRY(scr_expect_pattern(o, seed, 0, P1 + P2 + P3, 10000));
    TRY(scr_no_data(o, 100));
    TRY(scr_expect_open(c, 100));
    printf("  every one of the %d bytes sent before identification "
           "arrived\n",
           P1 + P2);
    /* Past the hold: a host that sends 32 MiB and never identifies. */
    rss0 = pace_rss_kb(s->pid);
    u = scr_connect(s->vm, "unidentified", 3000);
    TRY(u);
    TRY(scr_negotiate(u));
    pat_fill(seed, 0, raw, 65536);
    len = tn_escape(buf, raw, 65536);
    t0 = scr_now_ms();
    deadline = t0 + 10000;
    while (!u->eof && scr_now_ms() < deadline) {
        size_t chunk = len - sent % len;
        ssize_t r = 0;

        if (chunk > FLOOD - sent)
            chunk = FLOOD - sent;
        if (chunk > 0)
            r = send(u->fd, buf + sent % len, chunk,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r > 0)
            sent += (size_t)r;
        else
            scr_pump(u, 5);
    }
    rss1 = pace_rss_kb(s->pid);
    printf("  unidentified host: %zu of %d bytes taken before the proxy "
           "closed it after %lld ms; proxy RSS %+lld kB\n",
           sent, FLOOD, (long long)(scr_now_ms() - t0),
           rss0 > 0 && rss1 > 0 ? rss1 - rss0 : 0);
    CHECK(u->eof, "the unidentified connection is still open after 10 s "
                  "(--idle-timeout 3)");
    CHECK(sent < FLOOD - 8 * HOLD,
          "the proxy read %zu bytes from a connection that never "
          "identified: it did not stop reading at the hold (%d)",
          sent, HOLD);
    CHECK(rss0 <= 0 || pace_asan(s->pid) || rss1 - rss0 < 16384,
          "the proxy's RSS grew by %lld kB for an unidentified flood",
          rss1 - rss0);
    v = pace_metric("vspc_hypervisor_pre_ident_paused_total");
    CHECK(v == 1,
          "vspc_hypervisor_pre_ident_paused_total is %lld, expected "
          "1",
          v);
    o = scr_op_connect(s->op);
    TRY(o);
    CHECK(scen_count_consoles(o) == 1, "expected exactly one console");
    return SCEN_PASS;
}

int
scen_pace2(struct scen *s)
{
    switch (s->n) {
    case 112:
        return s_log_stall(s);
    case 113:
        return s_exact_fill(s);
    case 114:
        return s_replay_queue(s, 1048576);
    case 115:
        return s_replay_queue(s, PACE_RING);
    case 116:
        return s_reattach(s);
    case 117:
        return s_option233_name(s);
    case 118:
        return s_pre_ident(s);
    }
    return SCEN_FAIL;
}
