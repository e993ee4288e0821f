/*
 * scen_ops.c: operator end-to-end scenarios 101-106 against the real
 * daemon (README "Attaching to a console", tests/hvsim/OPERATOR-PORT.md):
 * two writers, spectators, locks and escapes, scrollback replay across a
 * reconnect, slow readers. The helpers of scen_ops.h are here too.
 */
#include "vspc/compat.h"

#include "scen_ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pattern.h"

static const char *const ops_names[OPS_LAST - OPS_FIRST + 1] = {
    "two_writers",
    "spectator",
    "exclusive_force",
    "replay_after_reconnect",
    "stalled_reader",
    "stalled_disconnect",
    "logs",
    "sighup",
    "option233",
};

const char *
ops_name(int n)
{
    if (n < OPS_FIRST || n > OPS_LAST)
        return NULL;
    return ops_names[n - OPS_FIRST];
}

/* ---- helpers ------------------------------------------------------------ */

void
ops_addr(const struct scr_conn *c, char *out, size_t cap)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    char host[INET_ADDRSTRLEN] = "?";

    memset(&sin, 0, sizeof(sin));
    if (getsockname(c->fd, (struct sockaddr *)&sin, &len) == 0)
        inet_ntop(AF_INET, &sin.sin_addr, host, sizeof(host));
    snprintf(out, cap, "%s:%u", host, ntohs(sin.sin_port));
}

bool
ops_reply(struct scr_conn *op, const char *cmd, char *line, size_t cap)
{
    int64_t deadline = scr_now_ms() + SCR_T_ANSWER;
    size_t cl = strlen(cmd);

    op->rd = op->ndata;
    if (!scr_send_data(op, cmd, cl) || !scr_send_data(op, "\r\n", 2))
        return false;
    for (;;) {
        long len = scr_op_line(op, line, cap);

        if (len >= 0) {
            if (len == 0 ||
                ((size_t)len == cl && cl < cap && memcmp(line, cmd, cl) == 0))
                continue; /* blank line or an echo */
            return true;
        }
        if (scr_now_ms() >= deadline || op->eof) {
            scr_fail(__FILE__, __LINE__,
                     "operator %s: no reply to \"%s\" within %d ms", op->name,
                     cmd, SCR_T_ANSWER);
            scr_dump(op);
            return false;
        }
        scr_pump(op, (int)(deadline - scr_now_ms()));
    }
}

bool
ops_attach(struct scr_conn *op, const char *id, const char *opts,
           const char *mode, uint64_t *off)
{
    char cmd[256], line[512], want[256];
    unsigned long long n;
    int k = 0;

    snprintf(cmd, sizeof(cmd), "attach %s%s%s", id, *opts ? " " : "", opts);
    if (!ops_reply(op, cmd, line, sizeof(line)))
        return false;
    snprintf(want, sizeof(want), "ok attached %s %s offset=", id, mode);
    /* "ok attached <id> <mode> offset=N epoch=E" */
    if (strncmp(line, want, strlen(want)) != 0 ||
        sscanf(line + strlen(want), "%llu epoch=%*u%n", &n, &k) != 1 ||
        k == 0 || line[strlen(want) + (size_t)k] != 0) {
        scr_fail(__FILE__, __LINE__,
                 "operator %s: \"%s\" answered \"%s\", expected \"%sN\"",
                 op->name, cmd, line, want);
        return false;
    }
    if (off)
        *off = n;
    return true;
}

bool
ops_notice(struct scr_conn *op, const char *text)
{
    char want[512];

    snprintf(want, sizeof(want), "\r\n[vspc %s: %s]\r\n", op->mark, text);
    return scr_expect_data(op, want, strlen(want), SCR_T_ANSWER);
}

bool
ops_notice_prefix(struct scr_conn *op, const char *prefix)
{
    char head[256];
    int64_t deadline = scr_now_ms() + SCR_T_ANSWER;
    size_t hl;

    snprintf(head, sizeof(head), "\r\n[vspc %s: %s", op->mark, prefix);
    hl = strlen(head);
    if (!scr_expect_data(op, head, hl, SCR_T_ANSWER))
        return false;
    for (;;) {
        const uint8_t *p = op->data + op->rd;
        size_t n = op->ndata - op->rd;

        for (size_t i = 0; i < n; i++) {
            if (p[i] != '\r' && p[i] != '\n')
                continue;
            if (i >= 1 && p[i - 1] == ']' && p[i] == '\r' && i + 1 < n &&
                p[i + 1] == '\n') {
                op->rd += i + 2;
                return true;
            }
            if (p[i] == '\r' && i + 1 == n)
                break; /* wait for the LF */
            scr_fail(__FILE__, __LINE__,
                     "operator %s: notice \"%s...\" not ended by \"]\\r\\n\"",
                     op->name, prefix);
            scr_dump(op);
            return false;
        }
        if (scr_now_ms() >= deadline || op->eof) {
            scr_fail(__FILE__, __LINE__,
                     "operator %s: notice \"%s...\" not complete in time",
                     op->name, prefix);
            scr_dump(op);
            return false;
        }
        scr_pump(op, 20);
    }
}

bool
ops_send_pat(struct scr_conn *c, uint64_t seed, uint64_t off, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    bool ok;

    if (!b)
        exit(2);
    pat_fill(seed, off, b, n);
    ok = scr_send_data(c, b, n);
    free(b);
    return ok;
}

bool
ops_wait_in(struct scen *s, const char *id, uint64_t in, int timeout_ms)
{
    struct scr_conn *lst = scr_op_connect(s->op);
    int64_t deadline = scr_now_ms() + timeout_ms;
    struct scr_console con;

    if (!lst)
        return false;
    for (;;) {
        int r = scr_op_find(lst, id, &con);

        if (r == 1 && con.in >= in) {
            scr_close(lst);
            return true;
        }
        if (r < 0 || scr_now_ms() >= deadline)
            break;
        scr_settle(lst, 20);
    }
    scr_fail(__FILE__, __LINE__, "console %s: in=%llu, expected %llu", id,
             (unsigned long long)con.in, (unsigned long long)in);
    scr_close(lst);
    return false;
}

char *
ops_http_req(const char *path, int *status)
{
    const char *addr = getenv("VSPC_HTTP_ADDR");
    struct scr_conn *h;
    char req[256], *body, *sep;

    if (!addr) {
        scr_fail(__FILE__, __LINE__, "VSPC_HTTP_ADDR not set");
        return NULL;
    }
    if ((h = scr_connect(addr, "http", 3000)) == NULL)
        return NULL;
    snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path,
             addr);
    if (!scr_send(h, req, strlen(req)) || !scr_wait_eof(h, SCR_T_ANSWER)) {
        scr_fail(__FILE__, __LINE__, "GET %s: no complete answer", path);
        scr_close(h);
        return NULL;
    }
    body = malloc(h->nraw + 1);
    if (!body)
        exit(2);
    memcpy(body, h->raw, h->nraw);
    body[h->nraw] = 0;
    scr_close(h);
    if (strncmp(body, "HTTP/1.", 7) != 0 ||
        (sep = strstr(body, "\r\n\r\n")) == NULL) {
        scr_fail(__FILE__, __LINE__, "GET %s: bad answer: %.80s", path, body);
        free(body);
        return NULL;
    }
    *status = atoi(body + 9);
    memmove(body, sep + 4, strlen(sep + 4) + 1);
    return body;
}

char *
ops_http_get(const char *path)
{
    int status = 0;
    char *body = ops_http_req(path, &status);

    if (body && status != 200) {
        scr_fail(__FILE__, __LINE__, "GET %s: status %d: %.80s", path, status,
                 body);
        free(body);
        return NULL;
    }
    return body;
}

long long
ops_metric(const char *text, const char *name)
{
    size_t nl = strlen(name);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ')
            return strtoll(p + nl + 1, NULL, 10);
    return -1;
}

/* Pumps every connection once without waiting. */
static void
ops_pump(struct scr_conn **cs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cs[i] && !cs[i]->eof)
            scr_pump(cs[i], 0);
}

/* ---- 101: two writers ---------------------------------------------------
 *
 * The two operators type distinct pattern streams at once: A's bytes are
 * pattern bytes with the top bit clear, B's with it set (so B's include
 * 0xFF), which makes the origin of every byte the VM receives certain.
 * The VM stream must be an interleaving of both, each exactly in order.
 */

#define OPA(i) ((uint8_t)(pat_byte(SEED_OP(1011), (i)) & 0x7F))
#define OPB(i) ((uint8_t)(pat_byte(SEED_OP(1012), (i)) | 0x80))

static int
s_two_writers(struct scen *s)
{
    enum { NOP = 48 * 1024, NVM = 64 * 1024 };
    char id[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *vm, *a, *b, *all[3];
    uint8_t buf[2048];
    size_t ia = 0, ib = 0, ivm = 0, va = 0, vb = 0, runs = 0;
    int64_t deadline;

    vm = scen_vm(s, 101, NULL, id);
    TRY(vm);
    a = scen_op(s, id, "rw");
    TRY(a);
    b = scen_op(s, id, "rw");
    TRY(b);
    all[0] = vm;
    all[1] = a;
    all[2] = b;
    for (unsigned k = 0; ia < NOP || ib < NOP || ivm < NVM; k++) {
        size_t na = 1 + pat_byte(77, k) * 3u, nb = 1 + pat_byte(78, k) * 3u;
        size_t nv = 1 + pat_byte(79, k) * 4u;

        if (na > NOP - ia)
            na = NOP - ia;
        if (nb > NOP - ib)
            nb = NOP - ib;
        if (nv > NVM - ivm)
            nv = NVM - ivm;
        for (size_t i = 0; i < na; i++)
            buf[i] = OPA(ia + i);
        TRY(scr_send_data(a, buf, na));
        ia += na;
        for (size_t i = 0; i < nb; i++)
            buf[i] = OPB(ib + i);
        TRY(scr_send_data(b, buf, nb));
        ib += nb;
        TRY(ops_send_pat(vm, SEED_VM(101), ivm, nv));
        ivm += nv;
        ops_pump(all, 3);
    }
    /* The VM side: wait for every byte, then check the interleaving. */
    deadline = scr_now_ms() + 10000;
    while (vm->ndata < 2 * (size_t)NOP && scr_now_ms() < deadline && !vm->eof)
        scr_pump(vm, 50);
    CHECK(vm->ndata == 2 * (size_t)NOP,
          "VM received %zu bytes of operator input, expected %d", vm->ndata,
          2 * NOP);
    for (size_t i = 0; i < vm->ndata; i++) {
        uint8_t ch = vm->data[i];
        bool from_b = (ch & 0x80) != 0;

        if (i == 0 || from_b != ((vm->data[i - 1] & 0x80) != 0))
            runs++;
        if (!from_b) {
            CHECK(va < NOP && ch == OPA(va),
                  "VM byte %zu (0x%02X): operator A's byte %zu should be "
                  "0x%02X",
                  i, ch, va, va < NOP ? OPA(va) : 0);
            va++;
        } else {
            CHECK(vb < NOP && ch == OPB(vb),
                  "VM byte %zu (0x%02X): operator B's byte %zu should be "
                  "0x%02X",
                  i, ch, vb, vb < NOP ? OPB(vb) : 0);
            vb++;
        }
    }
    CHECK(va == NOP && vb == NOP, "VM got %zu of A's and %zu of B's bytes", va,
          vb);
    vm->rd = vm->ndata;
    printf("  VM received %d + %d operator bytes in %zu interleaved runs\n",
           NOP, NOP, runs);
    TRY(scr_no_data(vm, 200));
    /* Both operators saw the same VM output, exactly. */
    TRY(scr_expect_pattern(a, SEED_VM(101), 0, NVM, 5000));
    TRY(scr_expect_pattern(b, SEED_VM(101), 0, NVM, 5000));
    TRY(scr_no_data(a, 100));
    TRY(scr_no_data(b, 0));
    return SCEN_PASS;
}

/* ---- 102: spectators ---------------------------------------------------- */

static int
s_spectator(struct scen *s)
{
    static const char typed[] = "typed by a spectator\r";
    char id[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *vm, *w, *r, *n;
    uint64_t off = 1;

    vm = scen_vm(s, 102, NULL, id);
    TRY(vm);
    w = scen_op(s, id, "rw");
    TRY(w);
    r = scr_op_connect(s->op);
    TRY(r);
    TRY(ops_attach(r, id, "ro raw", "ro", &off));
    CHECK(off == 0, "offset=%llu", (unsigned long long)off);
    n = scr_op_connect(s->op);
    TRY(n);
    TRY(ops_attach(n, id, "ro", "ro", &off));
    CHECK(off == 0, "offset=%llu", (unsigned long long)off);
    /* Non-raw: typing gets the read-only notice, nothing reaches the VM. */
    TRY(scr_send_data(n, typed, sizeof(typed) - 1));
    TRY(ops_notice_prefix(n, "read-only"));
    TRY(scr_no_data(n, 200));
    /* Raw: every byte value, refused in silence. */
    TRY(ops_send_pat(r, SEED_OP(1021), 0, 4096));
    TRY(scr_no_data(r, 300));
    TRY(scr_no_data(vm, 200));
    /* A read-write operator still reaches the VM, and only its bytes. */
    TRY(scen_o2v(w, vm, SEED_OP(1022), 0, 700));
    TRY(scr_no_data(vm, 200));
    /* Everyone sees the output exactly, the spectators included. */
    TRY(ops_send_pat(vm, SEED_VM(102), 0, 3000));
    TRY(scr_expect_pattern(w, SEED_VM(102), 0, 3000, SCR_T_ANSWER));
    TRY(scr_expect_pattern(r, SEED_VM(102), 0, 3000, SCR_T_ANSWER));
    TRY(scr_expect_pattern(n, SEED_VM(102), 0, 3000, SCR_T_ANSWER));
    TRY(scr_no_data(n, 100));
    TRY(scr_no_data(r, 0));
    TRY(scr_no_data(w, 0));
    return SCEN_PASS;
}

/* ---- 103: exclusive, force, spectator, detach --------------------------- */

static int
s_exclusive_force(struct scen *s)
{
    char id[VMX_CONSOLE_ID_MAX + 1], aa[64], ab[64], ad[64], t[256];
    char line[512], out[4096];
    char detached[64];
    static const uint8_t esc_f[] = {0x05, 'c', 'f'}, esc_s[] = {0x05, 'c', 's'},
                         esc_d[] = {0x05, 'c', '.'};
    struct scr_conn *vm, *a, *b, *c, *d;
    uint64_t off;

    vm = scen_vm(s, 103, NULL, id);
    TRY(vm);
    a = scr_op_connect(s->op);
    TRY(a);
    TRY(ops_attach(a, id, "excl", "rw", &off));
    ops_addr(a, aa, sizeof(aa));
    d = scr_op_connect(s->op);
    TRY(d);
    TRY(ops_attach(d, id, "ro", "ro", &off));
    ops_addr(d, ad, sizeof(ad));
    snprintf(t, sizeof(t), "operator %s attached (ro)", ad);
    TRY(ops_notice(a, t));
    /* B asks for rw under A's write lock: it is attached read-only. */
    b = scr_op_connect(s->op);
    TRY(b);
    TRY(ops_attach(b, id, "rw", "ro", &off));
    ops_addr(b, ab, sizeof(ab));
    snprintf(t, sizeof(t), "operator %s attached (ro)", ab);
    TRY(ops_notice(a, t));
    TRY(ops_notice(d, t));
    TRY(scr_send_data(a, "from A 1\r", 9));
    TRY(scr_expect_data(vm, "from A 1\r", 9, SCR_T_ANSWER));
    TRY(scr_send_data(b, "from B 1\r", 9));
    TRY(ops_notice_prefix(b, "read-only"));
    TRY(scr_no_data(vm, 300));
    /* C cannot take the lock A holds. */
    c = scr_op_connect(s->op);
    TRY(c);
    snprintf(t, sizeof(t), "attach %s excl", id);
    TRY(ops_reply(c, t, line, sizeof(line)));
    CHECK(strncmp(line, "error ", 6) == 0, "\"%s\" answered \"%s\"", t, line);
    TRY(scr_no_data(a, 100));
    TRY(scr_no_data(b, 0));
    TRY(scr_no_data(d, 0));
    /* B forces write access: A is demoted and told, everyone sees it. */
    TRY(scr_send(b, esc_f, sizeof(esc_f)));
    snprintf(t, sizeof(t), "operator %s forced write access from %s", ab, aa);
    TRY(ops_notice(a, "your write access was taken over: now read-only"));
    TRY(ops_notice(a, t));
    TRY(ops_notice(d, t));
    TRY(ops_notice(b, t));
    TRY(ops_notice(b, "you have write access"));
    TRY(scr_send_data(b, "from B 2\r", 9));
    TRY(scr_expect_data(vm, "from B 2\r", 9, SCR_T_ANSWER));
    TRY(scr_send_data(a, "from A 2\r", 9));
    TRY(ops_notice_prefix(a, "read-only"));
    TRY(scr_no_data(vm, 300));
    /* ^Ecs: B becomes a spectator. */
    TRY(scr_send(b, esc_s, sizeof(esc_s)));
    snprintf(t, sizeof(t), "operator %s is now a spectator", ab);
    TRY(ops_notice(a, t));
    TRY(ops_notice(d, t));
    TRY(ops_notice(b, t));
    TRY(ops_notice(b, "you are a spectator (read-only)"));
    TRY(scr_send_data(b, "from B 3\r", 9));
    TRY(ops_notice_prefix(b, "read-only"));
    TRY(scr_no_data(vm, 300));
    /* ^Ec.: back to the prompt; the others are told. */
    TRY(scr_send(b, esc_d, sizeof(esc_d)));
    snprintf(detached, sizeof(detached), "\r\n[vspc %s: detached]\r\nvspc> ",
             b->mark);
    TRY(scr_expect_data(b, detached, strlen(detached), SCR_T_ANSWER));
    snprintf(t, sizeof(t), "operator %s detached (escape)", ab);
    TRY(ops_notice(a, t));
    TRY(ops_notice(d, t));
    TRY(scr_op_cmd(b, "list", out, sizeof(out), SCR_T_ANSWER));
    snprintf(t, sizeof(t), "%s connected ", id);
    CHECK(strncmp(out, t, strlen(t)) == 0 && strstr(out, " ops=2 "),
          "list after ^Ec. answered \"%s\"", out);
    /* Output still reaches the two left, exactly. */
    TRY(ops_send_pat(vm, SEED_VM(103), 0, 2000));
    TRY(scr_expect_pattern(a, SEED_VM(103), 0, 2000, SCR_T_ANSWER));
    TRY(scr_expect_pattern(d, SEED_VM(103), 0, 2000, SCR_T_ANSWER));
    TRY(scr_no_data(b, 100));
    TRY(scr_no_data(a, 0));
    TRY(scr_no_data(vm, 0));
    return SCEN_PASS;
}

/* ---- 104: replay after a reconnect -------------------------------------- */

static void
ops_line(unsigned k, char *out, size_t cap)
{
    snprintf(out, cap, "line %03u: the quick brown fox %u\r\n", k, k * 7919);
}

static int
s_replay(struct scen *s)
{
    enum { N0 = 100000, N1 = 7000, NLINES = 30, SB = 65536 };
    char id[VMX_CONSOLE_ID_MAX + 1], l[96];
    struct scr_conn *vm, *x, *y, *n, *all[2];
    static uint8_t lines[NLINES * 96];
    size_t nl = 0, tail = 0;
    uint64_t off = 0, total;

    vm = scen_vm(s, 104, NULL, id);
    TRY(vm);
    x = scen_op(s, id, "rw");
    TRY(x);
    all[0] = vm;
    all[1] = x;
    for (size_t o = 0; o < N0; o += 4000) {
        TRY(ops_send_pat(vm, SEED_VM(104), o, N0 - o < 4000 ? N0 - o : 4000));
        ops_pump(all, 2);
    }
    TRY(scr_expect_pattern(x, SEED_VM(104), 0, N0, 5000));
    /* The VM goes away and comes back with the same UUID. */
    scr_close(vm);
    TRY(scen_console_state(s, id, "disconnected", SCR_T_ANSWER));
    TRY(scr_expect_open(x, 100));
    TRY(scr_no_data(x, 0));
    vm = scen_vm(s, 104, NULL, id);
    TRY(vm);
    TRY(scen_console_state(s, id, "connected", SCR_T_ANSWER));
    /* A newcomer gets the last 64 KiB. */
    y = scr_op_connect(s->op);
    TRY(y);
    TRY(ops_attach(y, id, "ro raw", "ro", &off));
    CHECK(off == N0 - SB, "newcomer offset=%llu, expected %d",
          (unsigned long long)off, N0 - SB);
    TRY(scr_expect_pattern(y, SEED_VM(104), N0 - SB, SB, 5000));
    TRY(scr_no_data(y, 100));
    /* The operator attached across the reconnect continues exactly. */
    TRY(ops_send_pat(vm, SEED_VM(104), N0, N1));
    TRY(scr_expect_pattern(x, SEED_VM(104), N0, N1, SCR_T_ANSWER));
    TRY(scr_expect_pattern(y, SEED_VM(104), N0, N1, SCR_T_ANSWER));
    TRY(scen_o2v(x, vm, SEED_OP(104), 0, 500));
    total = N0 + N1;
    /* Line-structured output, then ^Ecr on a non-raw operator. */
    n = scr_op_connect(s->op);
    TRY(n);
    TRY(ops_attach(n, id, "rw", "rw", &off));
    CHECK(off == total - SB, "offset=%llu, expected %llu",
          (unsigned long long)off, (unsigned long long)(total - SB));
    TRY(scr_expect_pattern(n, SEED_VM(104), total - SB, SB, 5000));
    for (unsigned k = 1; k <= NLINES; k++) {
        ops_line(k, l, sizeof(l));
        if (k == NLINES - 19)
            tail = nl;
        memcpy(lines + nl, l, strlen(l));
        nl += strlen(l);
    }
    TRY(scr_send_data(vm, lines, nl));
    TRY(scr_expect_data(x, lines, nl, SCR_T_ANSWER));
    TRY(scr_expect_data(y, lines, nl, SCR_T_ANSWER));
    TRY(scr_expect_data(n, lines, nl, SCR_T_ANSWER));
    TRY(scr_send(n,
                 "\x05"
                 "cr",
                 3));
    TRY(scr_expect_data(n, lines + tail, nl - tail, SCR_T_ANSWER));
    TRY(scr_no_data(n, 200));
    TRY(scr_no_data(x, 0));
    TRY(scr_no_data(y, 0));
    TRY(scr_no_data(vm, 0));
    return SCEN_PASS;
}

/* ---- 105, 106: a stalled reader ------------------------------------------
 *
 * The VM writes TOTAL bytes as fast as the proxy takes them, held back
 * only by operator A (at most WIN bytes ahead of what A has read, so that
 * A itself stays below the proxy's 256 KiB operator queue). B reads
 * nothing until the VM is done, then everything. 105 runs the proxy with
 * --slow-reader catchup (the VM is never paced: B is caught up from the
 * scrollback with gap notices); 106 with --slow-reader disconnect (B paces
 * the VM until the stall timeout, then is dropped). The default, pace, is
 * scen_pace.c's (110).
 */

enum { ST_TOTAL = 20 << 20, ST_WIN = 192 << 10, ST_CHUNK = 16384 };

/* B's stream: pattern bytes and gap notices. Returns the number of gaps,
 * -1 on a mismatch (printed); *pos = the stream offset reached. */
static long
ops_parse_gaps(struct scr_conn *b, uint64_t seed, uint64_t *pos, size_t *rd)
{
    char head[48];
    size_t hl;
    long gaps = 0;

    snprintf(head, sizeof(head), "\r\n[vspc %s: ", b->mark);
    hl = strlen(head);

    while (*rd < b->ndata) {
        const uint8_t *p = b->data + *rd;
        size_t n = b->ndata - *rd;
        unsigned long long gn, gm;
        int k = 0;
        char tmp[160];

        if (n >= hl && memcmp(p, head, hl) == 0) {
            size_t m = n < sizeof(tmp) - 1 ? n : sizeof(tmp) - 1;

            memcpy(tmp, p, m);
            tmp[m] = 0;
            /* (sscanf would take "\r\n" as any white space) */
            if (sscanf(tmp + hl,
                       "%llu bytes of output skipped (reader too slow); "
                       "resuming at offset %llu]%n",
                       &gn, &gm, &k) == 2 &&
                k > 0 && (size_t)k + hl + 1 < m &&
                tmp[hl + (size_t)k] == '\r' &&
                tmp[hl + 1 + (size_t)k] == '\n') {
                char want[160];

                k += (int)hl + 1;
                snprintf(want, sizeof(want),
                         "%s%llu bytes of output skipped (reader too "
                         "slow); resuming at offset %llu]\r\n",
                         head, gn, gm);
                if (strlen(want) != (size_t)k + 1 ||
                    memcmp(want, tmp, (size_t)k + 1) != 0) {
                    scr_fail(__FILE__, __LINE__, "gap notice not exact: %s",
                             tmp);
                    return -1;
                }
                if (gm != *pos + gn) {
                    scr_fail(__FILE__, __LINE__,
                             "gap notice at stream offset %llu says %llu "
                             "bytes skipped, resuming at %llu",
                             (unsigned long long)*pos, gn, gm);
                    return -1;
                }
                printf("  B: gap at offset %llu: %llu bytes skipped, resumed "
                       "at %llu\n",
                       (unsigned long long)*pos, gn, gm);
                *pos = gm;
                *rd += (size_t)k + 1;
                gaps++;
                continue;
            }
            if (m < sizeof(tmp) - 1 && !memchr(tmp + 2, '\n', m - 2))
                return gaps; /* maybe an incomplete notice: wait */
        }
        if (*pos >= ST_TOTAL || p[0] != pat_byte(seed, *pos)) {
            scr_fail(__FILE__, __LINE__,
                     "operator B: byte %zu of its data (0x%02X) is neither "
                     "pattern byte %llu nor a gap notice",
                     *rd, p[0], (unsigned long long)*pos);
            fprintf(stderr, "  received: ");
            scr_hex(stderr, p, n, 48);
            fputc('\n', stderr);
            return -1;
        }
        (*pos)++;
        (*rd)++;
    }
    return gaps;
}

static int
s_stalled(struct scen *s, bool disconnect)
{
    char id[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *vm, *a, *b;
    static uint8_t chunk[2 * ST_CHUNK];
    size_t clen = 0, cpos = 0, a_ok = 0, b_rd = 0;
    uint64_t tx = 0, b_pos = 0;
    int64_t t0, t_vm_done = 0, deadline;
    long gaps = 0, g;
    int rcv = 16384;
    char *metrics;
    long long v;

    vm = scen_vm(s, 105, NULL, id);
    TRY(vm);
    a = scen_op(s, id, "rw");
    TRY(a);
    b = scen_op(s, id, "rw");
    TRY(b);
    setsockopt(b->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    b_rd = b->rd;
    t0 = scr_now_ms();
    deadline = t0 + 20000;
    while (a_ok < ST_TOTAL && scr_now_ms() < deadline && !a->eof) {
        struct pollfd pfd[2] = {{vm->fd, 0, 0}, {a->fd, POLLIN, 0}};

        if (cpos == clen && tx < ST_TOTAL && tx - a_ok < ST_WIN) {
            size_t n = ST_TOTAL - tx < ST_CHUNK ? ST_TOTAL - tx : ST_CHUNK;
            uint8_t raw[ST_CHUNK];

            pat_fill(SEED_VM(105), tx, raw, n);
            clen = scr_put_data(chunk, 0, sizeof(chunk), raw, n);
            cpos = 0;
            tx += n;
        }
        if (cpos < clen) {
            ssize_t w = send(vm->fd, chunk + cpos, clen - cpos,
                             MSG_DONTWAIT | MSG_NOSIGNAL);

            if (w > 0)
                cpos += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                CHECK(0, "VM send: %s", strerror(errno));
            pfd[0].events = cpos < clen ? POLLOUT : 0;
        }
        if (!t_vm_done && tx == ST_TOTAL && cpos == clen)
            t_vm_done = scr_now_ms();
        poll(pfd, 2,
             cpos == clen && tx < ST_TOTAL && tx - a_ok < ST_WIN ? 0 : 5);
        scr_pump(a, 0);
        scr_pump(vm, 0);
        if (a->ndata - a->rd > a_ok) {
            const uint8_t *p = a->data + a->rd;
            size_t n = a->ndata - a->rd - a_ok;
            size_t k = pat_check(SEED_VM(105), a_ok, p + a_ok, n);

            CHECK(k == n,
                  "operator A: byte at stream offset %zu is 0x%02X, "
                  "expected 0x%02X",
                  a_ok + k, p[a_ok + k], pat_byte(SEED_VM(105), a_ok + k));
            a_ok += n;
        }
    }
    CHECK(t_vm_done != 0, "the VM wrote %llu of %d bytes in 20 s",
          (unsigned long long)tx, ST_TOTAL);
    CHECK(a_ok == ST_TOTAL, "operator A got %zu of %d bytes", a_ok, ST_TOTAL);
    printf("  VM wrote %d bytes in %lld ms; A read them all\n", ST_TOTAL,
           (long long)(t_vm_done - t0));
    TRY(scr_no_data(vm, 0));
    /* B has not read for a while; now it does. */
    while (scr_now_ms() < t0 + 3000)
        scr_settle(a, 50);
    a->rd = a->ndata;
    TRY(scr_no_data(a, 0));
    deadline = scr_now_ms() + 10000;
    while (scr_now_ms() < deadline) {
        int r = scr_pump(b, 50);

        g = ops_parse_gaps(b, SEED_VM(105), &b_pos, &b_rd);
        CHECK(g >= 0, "operator B's stream is wrong (above)");
        gaps += g;
        if (disconnect ? r < 0 : b_pos == ST_TOTAL)
            break;
    }
    if (disconnect) {
        CHECK(b->eof,
              "operator B (too slow) not disconnected; it got %llu "
              "bytes",
              (unsigned long long)b_pos);
        CHECK(gaps == 0 && b_rd == b->ndata && b_pos < ST_TOTAL,
              "operator B: %ld gaps, %zu of %zu bytes parsed, offset %llu",
              gaps, b_rd, b->ndata, (unsigned long long)b_pos);
        printf("  B disconnected after %llu bytes (a correct prefix)\n",
               (unsigned long long)b_pos);
    } else {
        CHECK(b_pos == ST_TOTAL && b_rd == b->ndata,
              "operator B reached offset %llu of %d (%zu of %zu bytes "
              "parsed)",
              (unsigned long long)b_pos, ST_TOTAL, b_rd, b->ndata);
        CHECK(gaps >= 1, "operator B never lagged: no gap notice");
        CHECK(!b->eof, "operator B was disconnected");
        b->rd = b->ndata;
        TRY(scr_no_data(b, 200));
    }
    metrics = ops_http_get("/metrics");
    TRY(metrics);
    v = ops_metric(metrics, disconnect ? "vspc_operators_dropped_slow_total"
                                       : "vspc_operator_gaps_total");
    free(metrics);
    CHECK(v >= 1, "/metrics: %s is %lld, expected >= 1",
          disconnect ? "vspc_operators_dropped_slow_total"
                     : "vspc_operator_gaps_total",
          v);
    return SCEN_PASS;
}

int
scen_ops(struct scen *s)
{
    switch (s->n) {
    case 101:
        return s_two_writers(s);
    case 102:
        return s_spectator(s);
    case 103:
        return s_exclusive_force(s);
    case 104:
        return s_replay(s);
    case 105:
        return s_stalled(s, false);
    case 106:
        return s_stalled(s, true);
    }
    return SCEN_FAIL;
}
