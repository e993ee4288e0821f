/* harness.c: see harness.h. */
#include "vspc/compat.h"
#include "harness.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>

#include "vspc/log.h"

struct hw W;

/* ---- buffers ------------------------------------------------------------ */

void
bb_add(struct bbuf *b, const void *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;

        while (cap < b->n + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        ck_assert_ptr_nonnull(b->p);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
}

void
bb_addc(struct bbuf *b, uint8_t c)
{
    bb_add(b, &c, 1);
}

void
bb_adds(struct bbuf *b, const char *s)
{
    bb_add(b, s, strlen(s));
}

void
bb_clear(struct bbuf *b)
{
    b->n = 0;
    if (b->p)
        b->p[0] = 0;
}

void
bb_free(struct bbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

const char *
bb_str(struct bbuf *b)
{
    if (b->p == NULL)
        return "";
    return (const char *)b->p;
}

bool
bb_eq(const struct bbuf *b, const void *p, size_t n)
{
    return b->n == n && (n == 0 || memcmp(b->p, p, n) == 0);
}

const char *
hexs(const void *p, size_t n)
{
    static char bufs[4][2048];
    static unsigned which;
    char *out = bufs[which++ % 4];
    const uint8_t *q = p;
    size_t o = 0;

    out[0] = 0;
    for (size_t i = 0; i < n && o + 4 < sizeof(bufs[0]); i++)
        o += (size_t)snprintf(out + o, sizeof(bufs[0]) - o, "%s%02x",
                              i ? " " : "", q[i]);
    return out;
}

/* ---- encoders ------------------------------------------------------------ */

void
enc_data(struct bbuf *b, const void *p, size_t n)
{
    const uint8_t *q = p;

    for (size_t i = 0; i < n; i++) {
        bb_addc(b, q[i]);
        if (q[i] == FF)
            bb_addc(b, FF);
    }
}

void
enc_verb(struct bbuf *b, uint8_t verb, uint8_t opt)
{
    uint8_t v[3] = {FF, verb, opt};

    bb_add(b, v, 3);
}

void
enc_vmx(struct bbuf *b, uint8_t sub, const void *a, size_t an, const void *bp,
        size_t bn)
{
    static const uint8_t head[] = {FF, TN_SB, TN_OPT_VMWARE};
    static const uint8_t tail[] = {FF, TN_SE};

    bb_add(b, head, sizeof(head));
    enc_data(b, &sub, 1);
    enc_data(b, a, an);
    enc_data(b, bp, bn);
    bb_add(b, tail, sizeof(tail));
}

void
enc_host_negotiation(struct bbuf *b)
{
    enc_verb(b, TN_WILL, TN_OPT_AUTH);
    enc_verb(b, TN_DO, TN_OPT_BINARY);
    enc_verb(b, TN_WILL, TN_OPT_BINARY);
    enc_verb(b, TN_DO, TN_OPT_SGA);
    enc_verb(b, TN_WILL, TN_OPT_SGA);
    enc_verb(b, TN_WILL, TN_OPT_VMWARE);
}

/* ---- endpoint codec callbacks -------------------------------------------- */

static void
ep_out(void *arg, const uint8_t *p, size_t n)
{
    struct ep *e = arg;

    if (!e->mute)
        ep_write(e, p, n);
}

static void ep_logf(struct ep *e, const char *fmt, ...) VSPC_PRINTF(2, 3);
static void
ep_logf(struct ep *e, const char *fmt, ...)
{
    char line[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    bb_adds(&e->log, line);
}

static void
ep_data(void *arg, const uint8_t *p, size_t n)
{
    struct ep *e = arg;

    bb_add(&e->data, p, n);
    if (e->kind != EP_HOST || n == 0)
        return;
    if (e->last == 'D') {
        e->log.n--; /* reopen the line: drop its '\n' */
        ep_logf(e, " %s\n", hexs(p, n));
    } else {
        ep_logf(e, "D %s\n", hexs(p, n));
    }
    e->last = 'D';
}

static void
ep_subneg(void *arg, uint8_t opt, const uint8_t *p, size_t n)
{
    struct ep *e = arg;

    if (e->kind != EP_HOST)
        return;
    e->last = 0;
    if (opt != TN_OPT_VMWARE || n == 0) {
        ep_logf(e, "SB %02x %s\n", opt, hexs(p, n));
        return;
    }
    e->n_sub[p[0]]++;
    bb_clear(&e->last_sub[p[0]]);
    bb_add(&e->last_sub[p[0]], p + 1, n - 1);
    if (p[0] == VMX_VMOTION_GOAHEAD && n - 1 >= VMX_SECRET_LEN) {
        size_t sl = n - 1 - VMX_SECRET_LEN;

        memcpy(e->secret, p + 1 + sl, VMX_SECRET_LEN);
        ep_logf(e, "29 %s +%zu\n", hexs(p + 1, sl), (size_t)VMX_SECRET_LEN);
        return;
    }
    ep_logf(e, "%02x%s%s\n", p[0], n > 1 ? " " : "", hexs(p + 1, n - 1));
}

static const struct tn_handlers ep_handlers = {
    .output = ep_out,
    .data = ep_data,
    .subneg = ep_subneg,
};

/* ---- the world ----------------------------------------------------------- */

static int
env_level(void)
{
    const char *v = getenv("VSPC_UNIT_LOG");

    return v ? log_level_parse(v) : -1;
}

void
hw_begin(void)
{
    hw_begin_cfg(NULL);
}

void
hw_begin_cfg(void (*tweak)(struct proxy_cfg *cfg))
{
    int lvl = env_level();

    signal(SIGPIPE, SIG_IGN);
    memset(&W, 0, sizeof(W));
    W.saved_stderr = -1;
    W.next_port = 40000;
    if (lvl >= 0) {
        log_verbosity = lvl;
    } else {
        /* Errors only, into a file we inspect at the end. */
        log_verbosity = LOG_LVL_ERROR;
        W.logf = tmpfile();
        ck_assert_ptr_nonnull(W.logf);
        fflush(stderr);
        W.saved_stderr = dup(2);
        ck_assert_int_ge(W.saved_stderr, 0);
        ck_assert_int_ge(dup2(fileno(W.logf), 2), 0);
    }
    proxy_cfg_defaults(&W.px.cfg);
    W.px.cfg.node_index = 7;
    if (tweak)
        tweak(&W.px.cfg);
    ck_assert_int_eq(proxy_init(&W.px), 0);
}

static void
ep_free(struct ep *e)
{
    if (e->fd >= 0)
        close(e->fd);
    bb_free(&e->raw);
    bb_free(&e->data);
    bb_free(&e->log);
    for (size_t i = 0; i < 256; i++)
        bb_free(&e->last_sub[i]);
    free(e);
}

static char *
hw_log_text(void)
{
    long len;
    char *text;

    if (W.logf == NULL)
        return NULL;
    fflush(stderr);
    len = lseek(fileno(W.logf), 0, SEEK_END);
    text = calloc(1, (size_t)(len > 0 ? len : 0) + 1);
    ck_assert_ptr_nonnull(text);
    if (len > 0 && pread(fileno(W.logf), text, (size_t)len, 0) != len)
        text[0] = 0;
    return text;
}

bool
hw_log_has(const char *needle)
{
    char *text = hw_log_text();
    bool has = text && strstr(text, needle) != NULL;

    free(text);
    return has;
}

void
hw_end(void)
{
    char *text;

    if (W.px.base)
        proxy_fini(&W.px);
    for (size_t i = 0; i < W.n_eps; i++)
        ep_free(W.eps[i]);
    W.n_eps = 0;
    text = hw_log_text();
    if (W.saved_stderr >= 0) {
        fflush(stderr);
        dup2(W.saved_stderr, 2);
        close(W.saved_stderr);
        W.saved_stderr = -1;
    }
    if (W.logf) {
        fclose(W.logf);
        W.logf = NULL;
    }
    if (text) {
        bool bad = strstr(text, " ERROR ") != NULL;

        if (bad)
            fputs(text, stderr);
        free(text);
        ck_assert_msg(!bad, "the proxy logged an ERROR (see stderr)");
    }
}

void
hw_setup(void)
{
    hw_begin();
}

void
hw_teardown(void)
{
    hw_end();
}

/* Read everything available on e. Returns true if anything moved. */
static bool
ep_read(struct ep *e)
{
    uint8_t buf[16384];
    bool moved = false;

    while (e->fd >= 0 && !e->eof && !e->hold) {
        ssize_t r = read(e->fd, buf, sizeof(buf));

        if (r > 0) {
            bb_add(&e->raw, buf, (size_t)r);
            tn_feed(&e->tn, buf, (size_t)r);
            moved = true;
            continue;
        }
        if (r == 0) {
            e->eof = true;
            moved = true;
        } else if (errno == EINTR) {
            continue;
        }
        break;
    }
    return moved;
}

void
hw_pump(void)
{
    unsigned quiet = 0;

    for (int i = 0; i < 10000 && quiet < 3; i++) {
        bool moved = false;

        event_base_loop(W.px.base, EVLOOP_NONBLOCK);
        for (size_t k = 0; k < W.n_eps; k++)
            moved |= ep_read(W.eps[k]);
        if (!moved &&
            event_base_get_num_events(W.px.base, EVENT_BASE_COUNT_ACTIVE) == 0)
            quiet++;
        else
            quiet = 0;
    }
}

void
hw_wait(double secs)
{
    struct timespec t0, now;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct timeval tv = {0, 5000};
        double el;

        event_base_loopexit(W.px.base, &tv);
        event_base_dispatch(W.px.base);
        hw_pump();
        clock_gettime(CLOCK_MONOTONIC, &now);
        el = (double)(now.tv_sec - t0.tv_sec) +
             (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (el >= secs)
            break;
    }
}

static struct ep *
ep_new(enum ep_kind kind, int fds[2])
{
    struct ep *e = calloc(1, sizeof(*e));

    ck_assert_ptr_nonnull(e);
    ck_assert_uint_lt(W.n_eps, VSPC_ARRAY_LEN(W.eps));
    e->kind = kind;
    e->fd = fds[1];
    ck_assert_int_eq(fcntl(e->fd, F_SETFL, O_NONBLOCK), 0);
    if (kind == EP_HOST) {
        tn_policy_allow(&e->pol, TN_OPT_BINARY, true, true);
        tn_policy_allow(&e->pol, TN_OPT_SGA, true, true);
        tn_policy_allow(&e->pol, TN_OPT_VMWARE, true, false);
    } else {
        tn_policy_allow(&e->pol, TN_OPT_BINARY, true, true);
        tn_policy_allow(&e->pol, TN_OPT_SGA, true, true);
        tn_policy_allow(&e->pol, TN_OPT_ECHO, false, true);
    }
    tn_init(&e->tn, &e->pol, &ep_handlers, e);
    W.eps[W.n_eps++] = e;
    return e;
}

static void
hw_addr(struct sockaddr_in *sin, char *out, size_t cap)
{
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)W.next_port++);
    sin->sin_addr.s_addr = htonl(0xC0000200u + (W.n_eps & 0xff));
    addr_str((struct sockaddr *)sin, out, cap);
}

struct ep *
hw_host(void)
{
    int fds[2];
    struct sockaddr_in sin;
    struct ep *e;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    e = ep_new(EP_HOST, fds);
    hw_addr(&sin, e->addr, sizeof(e->addr));
    ck_assert_ptr_nonnull(sess_new(&W.px, fds[0], (struct sockaddr *)&sin));
    return e;
}

struct ep *
hw_oper(void)
{
    int fds[2];
    struct sockaddr_in sin;
    struct ep *e;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    e = ep_new(EP_OPER, fds);
    hw_addr(&sin, e->addr, sizeof(e->addr));
    e->op = op_new(&W.px, fds[0], (struct sockaddr *)&sin);
    ck_assert_ptr_nonnull(e->op);
    ck_assert_uint_eq(strlen(((struct oper *)e->op)->mark), OP_MARK_LEN);
    op_set_mark(e->op, HW_MARK); /* ...pinned */
    return e;
}

struct session *
hw_sess(const struct ep *e)
{
    struct session *s;

    TAILQ_FOREACH (s, &W.px.sessions, link)
        if (strcmp(s->peer_addr, e->addr) == 0)
            return s;
    return NULL;
}

struct console *
hw_con(const char *id)
{
    return con_find(W.px.consoles, id);
}

/* ---- writes ---------------------------------------------------------------
 */

void
ep_write(struct ep *e, const void *p, size_t n)
{
    const uint8_t *q = p;
    int spins = 0;

    ck_assert_int_ge(e->fd, 0);
    while (n > 0) {
        ssize_t w = write(e->fd, q, n);

        if (w > 0) {
            q += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            e->broken = true; /* the proxy closed: later asserts tell */
            return;
        }
        ck_assert_msg(w < 0 && (errno == EAGAIN || errno == EINTR),
                      "write to the proxy failed");
        ck_assert_msg(++spins < 1000, "the proxy stopped reading");
        event_base_loop(W.px.base, EVLOOP_NONBLOCK);
    }
}

void
ep_send_data(struct ep *e, const void *p, size_t n)
{
    struct bbuf b = {0};

    enc_data(&b, p, n);
    ep_write(e, b.p, b.n);
    bb_free(&b);
}

void
ep_send_vmx2(struct ep *e, uint8_t sub, const void *a, size_t an,
             const void *bp, size_t bn)
{
    struct bbuf b = {0};

    enc_vmx(&b, sub, a, an, bp, bn);
    ep_write(e, b.p, b.n);
    bb_free(&b);
}

void
ep_send_vmx(struct ep *e, uint8_t sub, const void *p, size_t n)
{
    ep_send_vmx2(e, sub, p, n, NULL, 0);
}

void
ep_send_str(struct ep *e, const char *s)
{
    ep_write(e, s, strlen(s));
}

void
ep_fin(struct ep *e)
{
    ck_assert_int_eq(shutdown(e->fd, SHUT_WR), 0);
}

void
ep_clear(struct ep *e)
{
    bb_clear(&e->raw);
    bb_clear(&e->data);
    bb_clear(&e->log);
    e->last = 0;
    memset(e->n_sub, 0, sizeof(e->n_sub));
}

/* ---- dialogues ------------------------------------------------------------
 */

static const uint8_t known1[] = {0,  1,  2,  3,  40, 41, 43, 44, 45, 46, 48,
                                 70, 71, 73, 80, 81, 84, 85, 86, 87, 82, 83};

void
hv_negotiate(struct ep *e)
{
    uint8_t will_auth[] = {FF, TN_WILL, TN_OPT_AUTH};

    ep_write(e, will_auth, sizeof(will_auth));
    hw_pump();
    ck_assert_msg(tn_remote_enabled(&e->tn, TN_OPT_BINARY) &&
                      tn_local_enabled(&e->tn, TN_OPT_BINARY),
                  "BINARY not agreed");
    ck_assert_msg(tn_local_enabled(&e->tn, TN_OPT_VMWARE),
                  "the proxy did not ask DO 232");
    ck_assert_uint_eq(e->n_sub[VMX_KNOWN_SUBOPTIONS_2], 1);
    ck_assert_bb(&e->last_sub[VMX_KNOWN_SUBOPTIONS_2], vmx_known_suboptions_2,
                 vmx_known_suboptions_2_len);
    ep_send_vmx(e, VMX_KNOWN_SUBOPTIONS_1, known1, sizeof(known1));
}

void
hv_identify(struct ep *e, const char *uuid_text, const char *uri,
            const char *name)
{
    struct bbuf dp = {0};

    hv_negotiate(e);
    bb_addc(&dp, 'S');
    bb_adds(&dp, uri);
    ep_send_vmx(e, VMX_DO_PROXY, dp.p, dp.n);
    bb_free(&dp);
    hw_pump();
    ck_assert_uint_eq(e->n_sub[VMX_GET_VM_VC_UUID], 1);
    ck_assert_uint_eq(e->n_sub[VMX_GET_VM_NAME], 1);
    ck_assert_uint_eq(e->n_sub[VMX_WILL_PROXY], 0);
    ep_send_vmx(e, VMX_VM_VC_UUID, uuid_text, strlen(uuid_text));
    ep_send_vmx(e, VMX_VM_NAME, name, strlen(name));
    hw_pump();
    ck_assert_uint_eq(e->n_sub[VMX_WILL_PROXY], 1);
    ck_assert_uint_eq(e->last_sub[VMX_WILL_PROXY].n, 0);
    ck_assert_ptr_nonnull(hw_sess(e));
    ck_assert_int_eq(hw_sess(e)->state, SESS_ST_ACTIVE);
}

void
hv_begin(struct ep *e, const uint8_t *seq, size_t n)
{
    unsigned before = e->n_sub[VMX_VMOTION_GOAHEAD];

    ep_send_vmx(e, VMX_VMOTION_BEGIN, seq, n);
    hw_pump();
    ck_assert_uint_eq(e->n_sub[VMX_VMOTION_GOAHEAD], before + 1);
    ck_assert_uint_eq(e->last_sub[VMX_VMOTION_GOAHEAD].n, n + VMX_SECRET_LEN);
    ck_assert_msg(memcmp(e->last_sub[VMX_VMOTION_GOAHEAD].p, seq, n) == 0,
                  "GOAHEAD sequence differs: %s",
                  hexs(e->last_sub[VMX_VMOTION_GOAHEAD].p, n));
    ck_assert_uint_eq(e->secret[0], W.px.cfg.node_index);
}

bool
hv_peer(struct ep *e, const uint8_t *seq, size_t n, const uint8_t *secret,
        const char *uuid_text)
{
    unsigned ok = e->n_sub[VMX_VMOTION_PEER_OK];

    hv_negotiate(e);
    ep_send_vmx2(e, VMX_VMOTION_PEER, seq, n, secret, VMX_SECRET_LEN);
    hw_pump();
    if (e->n_sub[VMX_GET_VM_VC_UUID] > 0 && !e->eof) {
        ep_send_vmx(e, VMX_VM_VC_UUID, uuid_text, strlen(uuid_text));
        ep_send_vmx(e, VMX_VM_NAME, "vm-00000", 8);
        hw_pump();
    }
    if (e->n_sub[VMX_VMOTION_PEER_OK] == ok)
        return false;
    ck_assert_uint_eq(e->n_sub[VMX_VMOTION_PEER_OK], ok + 1);
    ck_assert_bb(&e->last_sub[VMX_VMOTION_PEER_OK], seq, n);
    return true;
}

void
op_attach(struct ep *o, const char *id)
{
    char line[256];
    const char *ok, *end;
    size_t skip;

    struct console *c = hw_con(id);
    unsigned n_ops;

    ck_assert_ptr_nonnull(c);
    n_ops = c->n_ops;
    hw_pump();
    ck_assert_msg(tn_remote_enabled(&o->tn, TN_OPT_BINARY) &&
                      tn_local_enabled(&o->tn, TN_OPT_BINARY),
                  "operator BINARY not agreed");
    snprintf(line, sizeof(line), "attach %s rw raw\r\n", id);
    ep_send_str(o, line);
    hw_pump();
    ok = strstr(bb_str(&o->data), "ok attached ");
    ck_assert_msg(ok != NULL, "attach failed: %s", bb_str(&o->data));
    end = strstr(ok, "\r\n");
    ck_assert_ptr_nonnull(end);
    skip = (size_t)(end + 2 - (const char *)o->data.p);
    memmove(o->data.p, o->data.p + skip, o->data.n - skip);
    o->data.n -= skip;
    o->data.p[o->data.n] = 0;
    bb_clear(&o->raw);
    ck_assert_uint_eq(c->n_ops, n_ops + 1);
}

struct ep *
hw_oper_prompt(void)
{
    struct ep *o = hw_oper();
    char want[256];

    hw_pump();
    snprintf(want, sizeof(want),
             "vspc %s node %s (help for commands); vspc's notices on this "
             "session read [vspc " HW_MARK ": ...]\r\nvspc> ",
             VSPC_VERSION, W.px.cfg.node_id);
    ck_assert_msg(strcmp(bb_str(&o->data), want) == 0, "banner: got [%s]",
                  bb_str(&o->data));
    ck_assert_msg(tn_remote_enabled(&o->tn, TN_OPT_ECHO), "no echo");
    ep_clear(o);
    return o;
}

uint64_t
op_attach_as(struct ep *o, const char *key, const char *opts, const char *id,
             const char *mode)
{
    char line[256], want[512];
    unsigned long long off = 0;
    size_t skip;
    const char *ok;
    int len = 0;

    snprintf(line, sizeof(line), "attach %s%s%s", key, opts[0] ? " " : "",
             opts);
    ep_send_str(o, line);
    ep_send_str(o, "\r\n");
    hw_pump();
    snprintf(want, sizeof(want), "%s\r\nok attached %s %s offset=", line, id,
             mode);
    ck_assert_msg(strncmp(bb_str(&o->data), want, strlen(want)) == 0,
                  "attach: got [%s], want [%s...]", bb_str(&o->data), want);
    ok = bb_str(&o->data) + strlen(want);
    while (ok[len] >= '0' && ok[len] <= '9')
        off = off * 10 + (unsigned long long)(ok[len++] - '0');
    /* " epoch=E": the owner epoch the offset counts under. */
    ck_assert_msg(len > 0 && strncmp(ok + len, " epoch=", 7) == 0,
                  "ok line: [%s]", ok);
    len += 7;
    while (ok[len] >= '0' && ok[len] <= '9')
        len++;
    ck_assert_msg(ok[len] == '\r' && ok[len + 1] == '\n', "ok line: [%s]", ok);
    skip = strlen(want) + (size_t)len + 2;
    memmove(o->data.p, o->data.p + skip, o->data.n - skip);
    o->data.n -= skip;
    o->data.p[o->data.n] = 0;
    bb_clear(&o->raw);
    return off;
}

/* ---- vMotion helpers ------------------------------------------------------
 */

const uint8_t SEQ[4] = {0x44, 0xda, 0x87, 0xf1};
const uint8_t SEQ_FF[4] = {0x76, 0x19, 0xff, 0xe9};

/* Source identified as UUID_A with an attached raw rw operator. */
void
source_and_op(struct ep **src, struct ep **op)
{
    *src = hw_host();
    hv_identify(*src, UUID_A_TEXT, "vSPC.py", "vm-00000");
    *op = hw_oper();
    op_attach(*op, UUID_A);
}

struct console *
con_a(void)
{
    struct console *c = hw_con(UUID_A);

    ck_assert_ptr_nonnull(c);
    return c;
}

enum vmo_state
vstate(void)
{
    struct console *c = con_a();

    return c->vmo ? c->vmo->state : VMO_ST_IDLE;
}

/* A full vMotion of UUID_A: source already identified. Returns the peer. */
struct ep *
migrate(struct ep *src, const uint8_t *seq, size_t n)
{
    struct ep *peer;

    hv_begin(src, seq, n);
    peer = hw_host();
    ck_assert(hv_peer(peer, seq, n, src->secret, UUID_A_TEXT));
    ep_send_vmx(peer, VMX_VMOTION_COMPLETE, seq, n);
    hw_pump();
    ck_assert_ptr_eq(con_a()->owner, &hw_sess(peer)->hv);
    ck_assert_ptr_null(con_a()->vmo);
    return peer;
}

/* ---- a whole scripted vMotion, for the split tests ---------------------- */

static void
deliver(struct ep *e, const struct bbuf *s, enum split_mode m, size_t at)
{
    if (m == SPLIT_BYTES) {
        for (size_t i = 0; i < s->n; i++) {
            ep_write(e, s->p + i, 1);
            hw_pump();
        }
        return;
    }
    if (at > 0 && at < s->n) {
        ep_write(e, s->p, at);
        hw_pump();
        ep_write(e, s->p + at, s->n - at);
    } else {
        ep_write(e, s->p, s->n);
    }
    hw_pump();
}

static void
src_stream(struct bbuf *b)
{
    static const uint8_t k1[] = {0, 1, 2, 3, 40, 41, 43, 44, 45, 46, 48};

    enc_host_negotiation(b);
    enc_vmx(b, VMX_KNOWN_SUBOPTIONS_1, k1, sizeof(k1), NULL, 0);
    enc_vmx(b, VMX_DO_PROXY, "SvSPC.py", 8, NULL, 0);
    enc_vmx(b, VMX_VM_VC_UUID, UUID_A_TEXT, strlen(UUID_A_TEXT), NULL, 0);
    enc_vmx(b, VMX_VM_NAME, "vm-00000", 8, NULL, 0);
    enc_data(b, "vm1\xff\x00", 5);
    enc_vmx(b, VMX_VMOTION_BEGIN, SEQ_FF, sizeof(SEQ_FF), NULL, 0);
}

static void
peer_stream(struct bbuf *b, const uint8_t *secret)
{
    static const uint8_t k1[] = {0, 1, 2, 3, 40, 41, 43, 44, 45, 46, 48};

    enc_host_negotiation(b);
    enc_vmx(b, VMX_KNOWN_SUBOPTIONS_1, k1, sizeof(k1), NULL, 0);
    enc_vmx(b, VMX_VMOTION_PEER, SEQ_FF, sizeof(SEQ_FF), secret,
            VMX_SECRET_LEN);
    enc_verb(b, TN_WILL, TN_OPT_COMPORT);
    enc_vmx(b, VMX_VM_VC_UUID, UUID_A_TEXT, strlen(UUID_A_TEXT), NULL, 0);
    enc_vmx(b, VMX_VM_NAME, "vm-00000", 8, NULL, 0);
    enc_data(b, "vm2", 3);
    enc_vmx(b, VMX_VMOTION_COMPLETE, SEQ_FF, sizeof(SEQ_FF), NULL, 0);
    enc_data(b, "vm3\xff", 4);
}

/* One whole vMotion; the outcome as text. Returns the stream lengths. */
void
full_run(enum split_mode m, size_t at, struct bbuf *out, size_t *len_src,
         size_t *len_peer)
{
    struct bbuf s1 = {0}, s2 = {0};
    struct ep *src, *peer, *op;
    struct console *c;
    char line[256];

    c = con_get(W.px.consoles, UUID_A, "");
    ck_assert_ptr_nonnull(c);
    op = hw_oper();
    op_attach(op, UUID_A);
    ep_send_data(op, "early", 5); /* no hypervisor yet: held */
    hw_pump();
    src = hw_host();
    src->mute = true;
    src_stream(&s1);
    deliver(src, &s1, m == SPLIT_PEER ? SPLIT_NONE : m, at);
    ck_assert_uint_eq(src->n_sub[VMX_VMOTION_GOAHEAD], 1);
    ck_assert_uint_eq(src->secret[0], 7);
    ep_send_data(op, "late", 4); /* held for the peer */
    hw_pump();
    peer = hw_host();
    peer->mute = true;
    peer_stream(&s2, src->secret);
    deliver(peer, &s2, m == SPLIT_SRC ? SPLIT_NONE : m, at);
    ep_send_data(op, "after", 5);
    hw_pump();
    bb_adds(out, "src:\n");
    bb_adds(out, bb_str(&src->log));
    bb_adds(out, src->eof ? "eof\n" : "open\n");
    bb_adds(out, "peer:\n");
    bb_adds(out, bb_str(&peer->log));
    bb_adds(out, peer->eof ? "eof\n" : "open\n");
    snprintf(line, sizeof(line), "op: %s\n", hexs(op->data.p, op->data.n));
    bb_adds(out, line);
    snprintf(line, sizeof(line),
             "owner=%s vmo=%p state=%s complete=%llu in=%llu out=%llu\n",
             c->owner == &hw_sess(peer)->hv ? "peer" : "other", (void *)c->vmo,
             con_state_str(con_state(c)),
             (unsigned long long)W.px.stats.vmotion_complete,
             (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out);
    bb_adds(out, line);
    *len_src = s1.n;
    *len_peer = s2.n;
    bb_free(&s1);
    bb_free(&s2);
}
