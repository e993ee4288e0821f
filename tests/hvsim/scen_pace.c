/*
 * scen_pace.c: the machinery of scen_pace.h (VM writer, operator reader)
 * and scenarios 110 (a stalled reader next to a healthy one) and 111 (a
 * slow reader next to a fast one) against the real daemon: issue 6,
 * "every byte to every reader that keeps reading".
 */
#include "vspc/compat.h"

#include "scen_pace.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pattern.h"
#include "scen_ops.h"
#include "telnet.h"

static const char *const pace_names[PACE_LAST - PACE_FIRST + 1] = {
    "stalled_reader",      /* 110 */
    "slow_reader",         /* 111 */
    "log_stall",           /* 112 */
    "scrollback_exact",    /* 113 */
    "scrollback_big",      /* 114 */
    "scrollback_queue",    /* 115 */
    "reattach_same_write", /* 116 */
    "option233_name",      /* 117 */
    "pre_ident",           /* 118 */
};

const char *
pace_name(int n)
{
    if (n < PACE_FIRST || n > PACE_LAST)
        return NULL;
    return pace_names[n - PACE_FIRST];
}

/* ---- helpers ------------------------------------------------------------ */

/* Up to 64 bytes, printable ones as text, the others as \xNN. */
void
pace_show(const uint8_t *p, size_t n)
{
    fputs("  \"", stderr);
    for (size_t i = 0; i < n && i < 64; i++) {
        if (p[i] == '\r')
            fputs("\\r", stderr);
        else if (p[i] == '\n')
            fputs("\\n", stderr);
        else if (isprint(p[i]) && p[i] != '\\')
            fputc(p[i], stderr);
        else
            fprintf(stderr, "\\x%02X", p[i]);
    }
    fprintf(stderr, "\"%s\n", n > 64 ? " ..." : "");
}

/* A sample of /metrics; -1 if absent, -2 if /metrics failed (printed). */
long long
pace_metric(const char *name)
{
    char *m = ops_http_get("/metrics");
    long long v;

    if (!m)
        return -2;
    v = ops_metric(m, name);
    free(m);
    return v;
}

/* VmRSS of process pid in kB, -1 if unknown. */
long long
pace_rss_kb(long pid)
{
    char path[64], line[256];
    long long v = -1;
    FILE *f;

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = strtoll(line + 6, NULL, 10);
    fclose(f);
    return v;
}

/* Is the proxy built with AddressSanitizer? (Its quarantine keeps freed
 * memory resident: RSS says nothing about the queues then.) */
bool
pace_asan(long pid)
{
    char path[64], line[512];
    bool yes = false;
    FILE *f;

    if (pid <= 0)
        return false;
    snprintf(path, sizeof(path), "/proc/%ld/maps", pid);
    if ((f = fopen(path, "r")) == NULL)
        return false;
    while (!yes && fgets(line, sizeof(line), f))
        yes = strstr(line, "libasan") != NULL;
    fclose(f);
    return yes;
}

/* ---- the VM writer ------------------------------------------------------ */

struct pw pace_w;

/* Streams pattern seed from offset `from` up to `limit` on c. */
void
pw_start(struct pw *w, struct scr_conn *c, uint64_t seed, uint64_t from,
         uint64_t limit)
{
    w->c = c;
    w->seed = seed;
    w->tx = from;
    w->limit = limit;
    w->blen = w->bpos = 0;
    w->t_start = w->t_progress = scr_now_ms();
    w->max_stall = w->stall_end = 0;
    w->stall_tx = from;
}

bool
pw_busy(const struct pw *w)
{
    return w->bpos < w->blen || w->tx < w->limit;
}

/* Sends what the socket takes now (at most 1 MiB). false on an error. */
bool
pw_step(struct pw *w)
{
    int64_t now = scr_now_ms();

    for (int i = 0; i < 16; i++) {
        ssize_t r;

        if (w->bpos == w->blen) {
            size_t n = PW_CHUNK;

            if (w->tx >= w->limit) {
                w->t_progress = now; /* idle is no stall */
                return true;
            }
            if (w->limit - w->tx < n)
                n = (size_t)(w->limit - w->tx);
            pat_fill(w->seed, w->tx, w->raw, n);
            w->blen = tn_escape(w->buf, w->raw, n);
            w->bpos = 0;
            w->tx += n;
        }
        r = send(w->c->fd, w->buf + w->bpos, w->blen - w->bpos,
                 MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r > 0) {
            if (now - w->t_progress > w->max_stall) {
                w->max_stall = now - w->t_progress;
                w->stall_end = now - w->t_start;
                w->stall_tx = w->tx;
            }
            w->t_progress = now;
            w->bpos += (size_t)r;
            continue;
        }
        if (r < 0 &&
            (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return true;
        scr_fail(__FILE__, __LINE__, "VM %s: send: %s", w->c->name,
                 r < 0 ? strerror(errno) : "0 bytes");
        return false;
    }
    return true;
}

/* Stop generating: what is generated still goes out. */
void
pw_stop(struct pw *w)
{
    w->limit = w->tx;
}

/* ---- the operator reader ------------------------------------------------ */

/* "\r\n[vspc MARK: ", the operator's notice head; its length. */
static size_t
pv_head(const struct pv *v, char out[48])
{
    snprintf(out, 48, "\r\n[vspc %s: ", v->c->mark);
    return strlen(out);
}

static void pv_feed(struct pv *v, const uint8_t *p, size_t n);

static void
pv_data(struct pv *v, const uint8_t *p, size_t n)
{
    size_t k = v->bad ? n : pat_check(v->seed, v->pos, p, n);

    if (k < n) {
        scr_fail(__FILE__, __LINE__,
                 "%s: the byte at stream offset %llu is 0x%02X, expected "
                 "0x%02X (%llu bytes received, %ld gap notices); from there:",
                 v->who, (unsigned long long)(v->pos + k), p[k],
                 pat_byte(v->seed, v->pos + k), (unsigned long long)v->rx,
                 v->gaps);
        pace_show(p + k, n - k);
        v->bad = true;
    }
    v->pos += n;
}

/* hold is "\r\n[vspc: ...]\r\n": it must be an exact gap notice whose
 * offsets follow on from what came before. */
static void
pv_notice(struct pv *v)
{
    char tmp[sizeof(v->hold) + 1], want[sizeof(v->hold) + 64], head[48];
    unsigned long long gn = 0, gm = 0;
    size_t hl = pv_head(v, head);

    memcpy(tmp, v->hold, v->nhold);
    tmp[v->nhold] = 0;
    want[0] = 0;
    if (v->nhold >= hl &&
        sscanf(tmp + hl,
               "%llu bytes of output skipped (reader too slow); resuming "
               "at offset %llu",
               &gn, &gm) == 2)
        snprintf(want, sizeof(want),
                 "%s%llu bytes of output skipped (reader too slow); "
                 "resuming at offset %llu]\r\n",
                 head, gn, gm);
    if (strlen(want) != v->nhold || memcmp(want, tmp, v->nhold) != 0) {
        scr_fail(__FILE__, __LINE__,
                 "%s: at stream offset %llu, a notice that is not a gap "
                 "notice:",
                 v->who, (unsigned long long)v->pos);
        pace_show(v->hold, v->nhold);
        v->bad = true;
        return;
    }
    if (gn == 0 || gm != v->pos + gn) {
        scr_fail(__FILE__, __LINE__,
                 "%s: gap notice at stream offset %llu says %llu bytes "
                 "skipped, resuming at %llu",
                 v->who, (unsigned long long)v->pos, gn, gm);
        v->bad = true;
        return;
    }
    printf("  %s: gap notice at offset %llu: %llu bytes skipped, resuming "
           "at %llu\n",
           v->who, (unsigned long long)v->pos, gn, gm);
    if (v->gaps++ == 0)
        v->gap_at = v->pos;
    v->gap_bytes += gn;
    v->pos = gm;
}

/* Decides what the held bytes are: a notice (complete, or not yet), or
 * stream bytes. */
static void
pv_hold(struct pv *v)
{
    char head[48];
    size_t hl = pv_head(v, head);
    size_t m = v->nhold < hl ? v->nhold : hl;

    if (memcmp(v->hold, head, m) != 0) {
        /* Not a notice: the first byte is data, the rest parsed again. */
        uint8_t rest[sizeof(v->hold)];
        size_t nr = v->nhold - 1;

        memcpy(rest, v->hold + 1, nr);
        pv_data(v, v->hold, 1);
        v->nhold = 0;
        pv_feed(v, rest, nr);
        return;
    }
    if (v->nhold >= hl + 3 && memcmp(v->hold + v->nhold - 3, "]\r\n", 3) == 0) {
        pv_notice(v);
        v->nhold = 0;
    } else if (v->nhold == sizeof(v->hold)) {
        scr_fail(__FILE__, __LINE__,
                 "%s: at stream offset %llu, a notice with no end:", v->who,
                 (unsigned long long)v->pos);
        pace_show(v->hold, v->nhold);
        v->bad = true;
        v->nhold = 0;
    }
}

static void
pv_feed(struct pv *v, const uint8_t *p, size_t n)
{
    size_t k = 0;

    while (k < n && !v->bad) {
        if (v->nhold == 0) {
            const uint8_t *cr = v->notices ? memchr(p + k, '\r', n - k) : NULL;
            size_t run = cr ? (size_t)(cr - (p + k)) : n - k;

            if (run)
                pv_data(v, p + k, run);
            k += run;
            if (!cr)
                return;
        }
        v->hold[v->nhold++] = p[k++];
        pv_hold(v);
    }
}

static void
pv_sink(void *arg, const uint8_t *p, size_t n)
{
    struct pv *v = arg;

    v->rx += n;
    if (!v->bad)
        pv_feed(v, p, n);
}

/* The stream has paused: held bytes that are no complete notice are
 * stream bytes. */
void
pv_flush(struct pv *v)
{
    size_t n = v->nhold;

    v->nhold = 0;
    if (n)
        pv_data(v, v->hold, n);
}

/* c is attached at stream offset `from`: check what it receives from now
 * on (including what it received already, after c->rd). */
void
pv_start(struct pv *v, const char *who, struct scr_conn *c, uint64_t seed,
         uint64_t from, bool notices)
{
    memset(v, 0, sizeof(*v));
    v->who = who;
    v->c = c;
    v->seed = seed;
    v->pos = from;
    v->notices = notices;
    scr_set_sink(c, pv_sink, v);
}

/*
 * One turn: waits up to wait_ms for the VM socket (w, may be NULL) to take
 * bytes or a reader to have some, then writes what the socket takes and
 * reads up to max[i] bytes from reader i (0: not this turn). false if the
 * VM's connection failed or the proxy closed a reader (printed).
 */
bool
pace_turn(struct pw *w, struct pv **rs, const size_t *max, size_t nr,
          int wait_ms)
{
    struct pollfd pfd[8];
    nfds_t k = 0;

    if (w) {
        pfd[k].fd = w->bpos < w->blen ? w->c->fd : -1;
        pfd[k++].events = POLLOUT;
    }
    for (size_t i = 0; i < nr && k < 8; i++) {
        pfd[k].fd = max[i] ? rs[i]->c->fd : -1;
        pfd[k++].events = POLLIN;
    }
    if (w && w->bpos == w->blen && w->tx < w->limit)
        wait_ms = 0;
    poll(pfd, k, wait_ms);
    if (w && !pw_step(w))
        return false;
    for (size_t i = 0; i < nr; i++) {
        size_t left = max[i];

        while (left > 0) {
            long r = scr_read_some(rs[i]->c, left);

            if (r < 0) {
                scr_fail(__FILE__, __LINE__,
                         "%s: closed by the proxy at stream offset %llu",
                         rs[i]->who, (unsigned long long)rs[i]->pos);
                return false;
            }
            if (r == 0)
                break;
            left -= (size_t)r < left ? (size_t)r : left;
        }
    }
    return true;
}

/* The VM (w, may be NULL) finishes sending, and every reader of rs
 * reaches w->tx (or target, without w). */
bool
pace_finish(struct pw *w, struct pv **rs, size_t nr, uint64_t target,
            int timeout_ms)
{
    int64_t deadline = scr_now_ms() + timeout_ms, quiet = scr_now_ms();
    size_t max[8];
    bool done = false;

    for (size_t i = 0; i < nr; i++)
        max[i] = PACE_TURN_READ;
    while (!done) {
        uint64_t rx = 0;

        for (size_t i = 0; i < nr; i++)
            rx += rs[i]->rx;
        if (!pace_turn(w, rs, max, nr, 10))
            return false;
        for (size_t i = 0; i < nr; i++)
            rx -= rs[i]->rx;
        if (rx != 0)
            quiet = scr_now_ms();
        done = !w || !pw_busy(w);
        if (w)
            target = w->tx;
        for (size_t i = 0; i < nr; i++) {
            if (rs[i]->bad)
                return false;
            if (rs[i]->nhold && scr_now_ms() - quiet >= 200)
                pv_flush(rs[i]);
            done = done && rs[i]->pos >= target;
        }
        if (!done && scr_now_ms() >= deadline) {
            if (w)
                scr_fail(__FILE__, __LINE__,
                         "not done in %d ms: the VM generated %llu bytes, "
                         "%zu escaped bytes of them not sent yet",
                         timeout_ms, (unsigned long long)w->tx,
                         w->blen - w->bpos);
            else
                scr_fail(__FILE__, __LINE__,
                         "not done in %d ms: waiting for offset %llu",
                         timeout_ms, (unsigned long long)target);
            for (size_t i = 0; i < nr; i++) {
                fprintf(stderr,
                        "  %s reached offset %llu (%llu data bytes, %llu "
                        "bytes read)\n",
                        rs[i]->who, (unsigned long long)rs[i]->pos,
                        (unsigned long long)rs[i]->rx,
                        (unsigned long long)rs[i]->c->nread);
                scr_dump(rs[i]->c);
            }
            return false;
        }
    }
    for (size_t i = 0; i < nr; i++) {
        if (rs[i]->pos != target) {
            scr_fail(__FILE__, __LINE__, "%s reached offset %llu, beyond %llu",
                     rs[i]->who, (unsigned long long)rs[i]->pos,
                     (unsigned long long)target);
            return false;
        }
    }
    return true;
}

/* v alone reaches stream offset `target` within timeout_ms. */
bool
pv_wait(struct pv *v, uint64_t target, int timeout_ms)
{
    return pace_finish(NULL, &v, 1, target, timeout_ms);
}

/* Nothing more arrives at v for ms. */
bool
pv_quiet(struct pv *v, int ms)
{
    int64_t deadline = scr_now_ms() + ms;
    uint64_t rx = v->rx;
    size_t max = PACE_TURN_READ;

    do {
        if (!pace_turn(NULL, &v, &max, 1, 10))
            return false;
    } while (scr_now_ms() < deadline);
    if (v->rx != rx || v->nhold != 0) {
        scr_fail(__FILE__, __LINE__,
                 "%s: %llu bytes more after the end of the stream", v->who,
                 (unsigned long long)(v->rx - rx + v->nhold));
        return false;
    }
    return true;
}

/* Operator attached "ro raw" to id at offset 0, with a receive buffer of
 * rcvbuf bytes (0: the default). */
struct scr_conn *
pace_op(struct scen *s, const char *id, int rcvbuf, uint64_t want_off)
{
    struct scr_conn *o = scr_op_connect(s->op);
    uint64_t off = UINT64_MAX;

    if (!o)
        return NULL;
    if (rcvbuf)
        setsockopt(o->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (!ops_attach(o, id, "ro raw", "ro", &off))
        return NULL;
    if (off != want_off) {
        scr_fail(__FILE__, __LINE__, "attach %s: offset=%llu, expected %llu",
                 id, (unsigned long long)off, (unsigned long long)want_off);
        return NULL;
    }
    return o;
}

void
pace_report_writer(const struct pw *w, uint64_t from)
{
    int64_t ms = scr_now_ms() - w->t_start;

    printf("  VM wrote %llu bytes in %lld ms (%.1f MB/s); longest write "
           "stall %lld ms, ended at +%lld ms; %llu bytes after it\n",
           (unsigned long long)(w->tx - from), (long long)ms,
           ms ? (double)(w->tx - from) / 1000.0 / (double)ms : 0.0,
           (long long)w->max_stall, (long long)w->stall_end,
           (unsigned long long)(w->tx - w->stall_tx));
}

/* ---- 110: a stalled reader next to a healthy one (--stall-timeout 1) ----
 *
 * A reads flat out, B never reads (a 4 KiB receive buffer) while the VM
 * writes flat out for 5 s. B paces the VM until the stall timeout cuts
 * it loose; then the VM streams again. A gets every byte, no notice.
 * Then B reads: what was queued for it, one gap notice, and the rest
 * from the offset named, exactly.
 */
static int
s_stalled(struct scen *s)
{
    enum { STREAM_MS = 5000 };
    char id[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *vm, *a, *b;
    struct pv va, vb, *rs[1] = {&va};
    struct pw *w = &pace_w;
    long long rss0, rss_max, v;
    int64_t t_rss = 0;
    bool asan = pace_asan(s->pid);

    vm = scen_vm(s, 110, NULL, id);
    TRY(vm);
    a = pace_op(s, id, 0, 0);
    TRY(a);
    b = pace_op(s, id, 0, 0);
    TRY(b);
    pv_start(&va, "operator A", a, SEED_VM(110), 0, false);
    pv_start(&vb, "operator B (stalled)", b, SEED_VM(110), 0, true);
    rss0 = rss_max = pace_rss_kb(s->pid);
    pw_start(w, vm, SEED_VM(110), 0, PACE_TX_MAX);
    while (scr_now_ms() - w->t_start < STREAM_MS) {
        size_t max = PACE_TURN_READ;

        TRY(pace_turn(w, rs, &max, 1, 5));
        CHECK(!va.bad, "operator A's stream is wrong (above)");
        if (rss0 > 0 && scr_now_ms() - t_rss >= 100) {
            long long r = pace_rss_kb(s->pid);

            t_rss = scr_now_ms();
            if (r > rss_max)
                rss_max = r;
        }
    }
    pw_stop(w);
    TRY(pace_finish(w, rs, 1, 0, 30000));
    pace_report_writer(w, 0);
    CHECK(w->max_stall < PACE_STALL_MAX_MS,
          "the VM could not write for %lld ms (--stall-timeout 1: at most "
          "%d ms)",
          (long long)w->max_stall, PACE_STALL_MAX_MS);
    CHECK(w->tx - w->stall_tx >= 4 * PACE_QUEUE,
          "the VM wrote only %llu bytes after its longest stall",
          (unsigned long long)(w->tx - w->stall_tx));
    if (rss0 > 0) {
        long long lim = (2 * PACE_QUEUE + PACE_RING) / 1024 + 16384;

        printf("  proxy RSS %lld kB before, at most %lld kB while "
               "streaming (+%lld kB, limit +%lld kB)%s\n",
               rss0, rss_max, rss_max - rss0, lim,
               asan ? "; AddressSanitizer build (quarantine): not checked"
                    : "");
        CHECK(asan || rss_max - rss0 <= lim,
              "the proxy's RSS grew by %lld kB: more than the two reader "
              "queues, the ring and 16 MiB of slack (%lld kB)",
              rss_max - rss0, lim);
    } else {
        printf("  proxy RSS unknown (no VSPC_PROXY_PID): not checked\n");
    }
    v = pace_metric("vspc_readers_stalled_total");
    CHECK(v == 1, "vspc_readers_stalled_total is %lld, expected 1 (B)", v);
    v = pace_metric("vspc_console_paced_total");
    CHECK(v >= 1, "vspc_console_paced_total is %lld, expected >= 1", v);
    /* B reads again. */
    TRY(pv_wait(&vb, w->tx, 30000));
    CHECK(vb.gaps == 1, "operator B: %ld gap notices, expected 1", vb.gaps);
    printf("  B: %llu bytes before its gap notice, %llu skipped, the rest "
           "exact up to %llu\n",
           (unsigned long long)vb.gap_at, (unsigned long long)vb.gap_bytes,
           (unsigned long long)vb.pos);
    TRY(pv_quiet(&vb, 200));
    TRY(pv_quiet(&va, 0));
    v = pace_metric("vspc_operator_gaps_total");
    CHECK(v == 1, "vspc_operator_gaps_total is %lld, expected 1", v);
    v = pace_metric("vspc_operator_gap_bytes_total");
    CHECK(v == (long long)vb.gap_bytes,
          "vspc_operator_gap_bytes_total is %lld, B's notice said %llu", v,
          (unsigned long long)vb.gap_bytes);
    v = pace_metric("vspc_readers_stalled_total");
    CHECK(v == 1, "vspc_readers_stalled_total is %lld after B caught up", v);
    return SCEN_PASS;
}

/* ---- 111: a slow reader (1 MB/s) next to a fast one ---------------------
 *
 * Both get every byte; the VM runs at the slow reader's pace (measured
 * after the first 2 s, which fill the socket buffers); the slow reader is
 * never cut loose (it makes progress).
 */
static int
s_slow(struct scen *s)
{
    enum { STREAM_MS = 6000, FROM_MS = 2000, RATE = 1000000 };
    char id[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *vm, *a, *sl;
    struct pv va, vs, *rs[2] = {&va, &vs};
    struct pw *w = &pace_w;
    uint64_t tx_from = 0;
    int64_t t_from = 0, el = 0;
    double rate;
    long long v;

    vm = scen_vm(s, 111, NULL, id);
    TRY(vm);
    a = pace_op(s, id, 0, 0);
    TRY(a);
    sl = pace_op(s, id, 65536, 0);
    TRY(sl);
    pv_start(&va, "fast operator", a, SEED_VM(111), 0, false);
    pv_start(&vs, "slow operator", sl, SEED_VM(111), 0, false);
    pw_start(w, vm, SEED_VM(111), 0, PACE_TX_MAX);
    while ((el = scr_now_ms() - w->t_start) < STREAM_MS) {
        uint64_t allow = (uint64_t)RATE * (uint64_t)el / 1000;
        size_t max[2] = {PACE_TURN_READ, 0};

        if (allow > vs.rx)
            max[1] = allow - vs.rx < 65536 ? (size_t)(allow - vs.rx) : 65536;
        TRY(pace_turn(w, rs, max, 2, 2));
        CHECK(!va.bad && !vs.bad, "a stream is wrong (above)");
        if (!t_from && el >= FROM_MS) {
            t_from = scr_now_ms();
            tx_from = w->tx;
        }
    }
    rate = (double)(w->tx - tx_from) * 1000.0 / (double)(scr_now_ms() - t_from);
    pw_stop(w);
    TRY(pace_finish(w, rs, 2, 0, 30000));
    pace_report_writer(w, 0);
    printf("  from +%d ms on, the VM wrote %.3f MB/s (the slow reader "
           "reads 1 MB/s)\n",
           FROM_MS, rate / 1e6);
    CHECK(rate >= 300000 && rate <= 3000000,
          "the VM wrote %.0f bytes/s next to a reader of 1 MB/s", rate);
    TRY(pv_quiet(&va, 200));
    TRY(pv_quiet(&vs, 0));
    v = pace_metric("vspc_console_paced_total");
    CHECK(v >= 1, "vspc_console_paced_total is %lld, expected >= 1", v);
    v = pace_metric("vspc_readers_stalled_total");
    CHECK(v == 0,
          "vspc_readers_stalled_total is %lld: a reader making "
          "progress was cut loose",
          v);
    v = pace_metric("vspc_operator_gaps_total");
    CHECK(v == 0, "vspc_operator_gaps_total is %lld", v);
    return SCEN_PASS;
}

int
scen_pace(struct scen *s)
{
    switch (s->n) {
    case 110:
        return s_stalled(s);
    case 111:
        return s_slow(s);
    }
    return scen_pace2(s);
}
