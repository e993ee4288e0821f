/*
 * peerlink_harness.h: what the peer-link suites share (header-only: the
 * unit glob builds each test_*.c alone): up to three pl instances ("n0",
 * "n1", "n2", index = number, incarnation 1000 + number) on one event
 * base over real TCP on 127.0.0.1, each with a small model of its two
 * roles (owner: serves console CON_A or CON_B from a byte pattern within
 * pl_sub_room; subscriber: checks every byte and offset, and that it never
 * receives more than the credit it granted), and raw sockets that play a
 * misbehaving node.
 *
 * Nothing is timed: every wait is "run the loop until a condition holds",
 * with a generous deadline only so that a bug fails instead of hanging.
 */
#ifndef VSPC_TESTS_PEERLINK_HARNESS_H
#define VSPC_TESTS_PEERLINK_HARNESS_H

#include "vspc/compat.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <event2/event.h>

#include "vspc/clock.h"
#include "vspc/log.h"
#include "peerlink.h"

#define CON_A "0123456789abcdef0123456789abcdef"
#define CON_B "fedcba9876543210fedcba9876543210.com2"
#define MIB (1024 * 1024)

static struct event_base *base VSPC_UNUSED;
static struct event *tick VSPC_UNUSED;
static int port0 VSPC_UNUSED; /* ports: port0 + node index */

static inline double
now_s(void)
{
    return clock_now();
}

/* Run the loop until cond; a deadline only against hangs. */
#define RUN_UNTIL(cond)                                                        \
    do {                                                                       \
        double end_ = now_s() + 15.0;                                          \
        while (!(cond)) {                                                      \
            ck_assert_msg(now_s() < end_, "timed out waiting for: %s", #cond); \
            event_base_loop(base, EVLOOP_ONCE);                                \
        }                                                                      \
    } while (0)

/* A few more loop rounds (let closes and reaps settle). */
static inline void
settle(int rounds)
{
    for (int i = 0; i < rounds; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

/* Stream byte at offset o of console seed s: every value occurs. */
static inline uint8_t
pat(unsigned s, uint64_t o)
{
    return (uint8_t)((o * 2654435761u) >> 11 ^ o ^ (s * 77u));
}

/* ---- a node -------------------------------------------------------------- */

/* Owner side: one subscription being served. */
struct osub {
    struct pl_link *l;
    uint64_t id;
    unsigned seed;
    uint64_t next, total; /* send [next, total) */
    bool live;
};

/* Subscriber side: one subscription. */
struct ssub {
    struct pl_link *l;
    uint64_t id;
    unsigned seed;
    uint64_t expect; /* next offset */
    uint64_t received, granted, pending, window;
    bool stalled; /* never grants more */
    unsigned lost, gaps, events;
};

struct node {
    struct pl *pl;
    char id[8];
    unsigned index;
    unsigned ups, downs, failed;
    char down_reason[160];
    struct pl_link_stats down_stats; /* of the last link down */
    struct osub os[4];
    unsigned n_os, unsubscribed;
    struct ssub ss[4];
    unsigned n_ss;
    /* input, owner side */
    uint8_t in_data[2][PL_INPUT_WINDOW];
    uint64_t in_len[2];
    /* input, operator side */
    unsigned acks, input_rooms;
    uint64_t acked_seq;
    /* validate */
    bool val_reply, val_ok;
    unsigned validates, val_done[3];
    uint64_t val_req, val_id;
    struct pl_link *val_link;
    struct pw_validate_reply val_r;
    /* handover */
    unsigned handovers;
    struct pw_handover ho;
};

static struct node N[3] VSPC_UNUSED;

static inline struct osub *
os_find(struct node *n, struct pl_link *l, uint64_t id)
{
    for (unsigned i = 0; i < n->n_os; i++)
        if (n->os[i].l == l && n->os[i].id == id && n->os[i].live)
            return &n->os[i];
    return NULL;
}

static inline struct ssub *
ss_find(struct node *n, struct pl_link *l, uint64_t id)
{
    for (unsigned i = 0; i < n->n_ss; i++)
        if (n->ss[i].l == l && n->ss[i].id == id)
            return &n->ss[i];
    return NULL;
}

static inline void
pump(struct osub *o)
{
    static uint8_t buf[256 * 1024];

    while (o->live && o->next < o->total) {
        size_t room = pl_sub_room(o->l, o->id), n;

        if (room == 0)
            return;
        n = room < sizeof(buf) ? room : sizeof(buf);
        if (n > o->total - o->next)
            n = (size_t)(o->total - o->next);
        for (size_t i = 0; i < n; i++)
            buf[i] = pat(o->seed, o->next + i);
        ck_assert_int_eq(pl_send_data(o->l, o->id, 1, o->next, buf, n), 0);
        o->next += n;
    }
}

static inline void
cb_up(struct pl_link *l, void *arg)
{
    ((struct node *)arg)->ups++;
}

static inline void
cb_down(struct pl_link *l, const char *reason, void *arg)
{
    struct node *n = arg;

    n->downs++;
    snprintf(n->down_reason, sizeof(n->down_reason), "%s", reason);
    pl_link_stats(l, &n->down_stats);
    for (unsigned i = 0; i < n->n_os; i++)
        ck_assert(n->os[i].l != l || !n->os[i].live); /* unsubscribed */
}

static inline void
cb_failed(struct pl *pl, const char *node_id, const char *reason, void *arg)
{
    ((struct node *)arg)->failed++;
}

/* Console CON_A serves seed 1, CON_B seed 2; sizes set by the test. When
 * serve_gap[c] is above the subscription's start, the bytes before it are
 * "gone": a Gap up to it, an Event there, then Data. */
static uint64_t serve_total[2] VSPC_UNUSED;
static uint64_t serve_gap[2] VSPC_UNUSED;

static inline void
cb_subscribe(struct pl_link *l, const struct pw_subscribe *s, void *arg)
{
    struct node *n = arg;
    struct osub *o;
    unsigned seed = strcmp(s->console_id, CON_A) == 0 ? 1 : 2;

    ck_assert_uint_lt(n->n_os, VSPC_ARRAY_LEN(n->os));
    o = &n->os[n->n_os++];
    *o = (struct osub){.l = l,
                       .id = s->sub_id,
                       .seed = seed,
                       .next = s->from_offset,
                       .total = serve_total[seed - 1],
                       .live = true};
    if (serve_gap[seed - 1] > o->next) {
        uint64_t to = serve_gap[seed - 1];

        ck_assert_int_eq(pl_send_gap(l, o->id, 1, o->next, to), 0);
        /* From now on the subscription continues at `to`, nowhere else. */
        ck_assert_int_eq(pl_send_gap(l, o->id, 1, o->next, to + 1), -1);
        ck_assert_int_eq(errno, EINVAL);
        ck_assert_int_eq(
            pl_send_data(l, o->id, 1, to + 1, (const uint8_t *)"x", 1), -1);
        o->next = to;
        ck_assert_int_eq(pl_send_event(l, o->id, 1, to, "gap ends"), 0);
    }
    pump(o);
}

static inline void
cb_unsubscribe(struct pl_link *l, uint64_t id, void *arg)
{
    struct node *n = arg;
    struct osub *o = os_find(n, l, id);

    ck_assert_ptr_nonnull(o);
    o->live = false;
    n->unsubscribed++;
}

static inline void
cb_room(struct pl_link *l, uint64_t id, void *arg)
{
    struct osub *o = os_find(arg, l, id);

    ck_assert_ptr_nonnull(o);
    pump(o);
}

static inline void
cb_data(struct pl_link *l, const struct pw_data *d, void *arg)
{
    struct ssub *s = ss_find(arg, l, d->sub_id);

    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(d->offset, s->expect); /* contiguous */
    for (size_t i = 0; i < d->len; i++)
        if (d->bytes[i] != pat(s->seed, d->offset + i))
            ck_abort_msg("byte %llu differs",
                         (unsigned long long)(d->offset + i));
    s->expect += d->len;
    s->received += d->len;
    ck_assert_uint_le(s->received, s->granted); /* never beyond credit */
    if (s->stalled)
        return;
    s->pending += d->len; /* the consumer took them */
    if (s->pending >= s->window / 4) {
        ck_assert_int_eq(pl_credit(l, s->id, s->pending), 0);
        s->granted += s->pending;
        s->pending = 0;
    }
}

static inline void
cb_gap(struct pl_link *l, const struct pw_gap *g, void *arg)
{
    struct ssub *s = ss_find(arg, l, g->sub_id);

    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(g->from, s->expect);
    s->gaps++;
    s->expect = g->to;
}

static inline void
cb_event(struct pl_link *l, const struct pw_event *e, void *arg)
{
    struct ssub *s = ss_find(arg, l, e->sub_id);

    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(e->offset, s->expect); /* in its place */
    ck_assert_str_eq(e->text, "gap ends");
    s->events++;
}

static inline void
cb_sub_lost(struct pl_link *l, uint64_t id, void *arg)
{
    struct ssub *s = ss_find(arg, l, id);

    ck_assert_ptr_nonnull(s);
    s->lost++;
}

static inline void
cb_input(struct pl_link *l, const struct pw_input *in, void *arg)
{
    struct node *n = arg;
    int op = strcmp(in->operator_id, "op1") == 0 ? 0 : 1;

    ck_assert_str_eq(in->console_id, CON_A);
    ck_assert_uint_eq(in->seq, n->in_len[op]); /* in order */
    ck_assert_uint_le(n->in_len[op] + in->len, PL_INPUT_WINDOW);
    memcpy(n->in_data[op] + n->in_len[op], in->bytes, in->len);
    n->in_len[op] += in->len;
}

static inline void
cb_input_ack(struct pl_link *l, const struct pw_input_ack *a, void *arg)
{
    struct node *n = arg;

    n->acks++;
    n->acked_seq = a->seq;
}

static inline void
cb_input_room(struct pl_link *l, void *arg)
{
    ((struct node *)arg)->input_rooms++;
}

static inline void
cb_validate(struct pl_link *l, const struct pw_validate *v, void *arg)
{
    struct node *n = arg;

    n->validates++;
    n->val_id = v->request_id;
    n->val_link = l;
    if (n->val_reply) {
        struct pw_validate_reply r = {
            .request_id = v->request_id, .ok = n->val_ok, .epoch = 0x1203};

        ck_assert_uint_eq(v->seq_len, 3);
        ck_assert_mem_eq(v->secret, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
        snprintf(r.console_id, sizeof(r.console_id), "%s", v->console_id);
        ck_assert_int_eq(pl_send_validate_reply(l, &r), 0);
    }
}

static inline void
cb_validate_done(struct pl_link *l, uint64_t id, enum pl_val_status st,
                 const struct pw_validate_reply *r, void *arg)
{
    struct node *n = arg;

    ck_assert_uint_eq(id, n->val_req);
    n->val_done[st]++;
    if (st == PL_VAL_REPLY)
        n->val_r = *r;
    else
        ck_assert_ptr_null(r);
}

static inline void
cb_handover(struct pl_link *l, const struct pw_handover *h, void *arg)
{
    struct node *n = arg;

    n->handovers++;
    n->ho = *h;
}

static const struct pl_callbacks CB VSPC_UNUSED = {
    .link_up = cb_up,
    .link_down = cb_down,
    .connect_failed = cb_failed,
    .subscribe = cb_subscribe,
    .unsubscribe = cb_unsubscribe,
    .room = cb_room,
    .data = cb_data,
    .gap = cb_gap,
    .event = cb_event,
    .sub_lost = cb_sub_lost,
    .input = cb_input,
    .input_ack = cb_input_ack,
    .input_room = cb_input_room,
    .validate = cb_validate,
    .validate_done = cb_validate_done,
    .handover = cb_handover,
};

static inline char *
addr_of(unsigned i, char *buf, size_t cap)
{
    snprintf(buf, cap, "127.0.0.1:%d", port0 + (int)i);
    return buf;
}

/* Node i (id "nI", index I, incarnation 1000 + I) listening on port0+i. */
static inline void
node_start(unsigned i, double stall, size_t out_max)
{
    char addr[64], err[160];
    struct pl_config cfg = {
        .node_index = (uint8_t)i,
        .incarnation = 1000 + i,
        .stall_timeout = stall,
        .hello_timeout = 2.0,
        .out_max = out_max,
    };

    memset(&N[i], 0, sizeof(N[i]));
    snprintf(N[i].id, sizeof(N[i].id), "n%u", i);
    N[i].index = i;
    cfg.node_id = N[i].id;
    cfg.listen = addr_of(i, addr, sizeof(addr));
    N[i].pl = pl_new(base, &cfg, &CB, &N[i], err, sizeof(err));
    ck_assert_msg(N[i].pl != NULL, "%s", err);
}

static inline void
node_connect(unsigned from, unsigned to)
{
    char addr[64];

    ck_assert_int_eq(
        pl_connect(N[from].pl, N[to].id, addr_of(to, addr, sizeof(addr))), 0);
}

static inline struct pl_link *
link_of(unsigned from, unsigned to)
{
    return pl_link_get(N[from].pl, N[to].id);
}

static inline void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static inline void
setup_ports(int p)
{
    struct timeval tv = {0, 10000};

    log_init("test_peerlink",
             getenv("VSPC_UNIT_LOG") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
    port0 = p;
    base = event_base_new();
    tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
    event_add(tick, &tv); /* EVLOOP_ONCE returns at least this often */
    memset(serve_total, 0, sizeof(serve_total));
    memset(serve_gap, 0, sizeof(serve_gap));
}

static inline void
teardown_all(void)
{
    for (unsigned i = 0; i < 3; i++)
        pl_free(&N[i].pl);
    event_free(tick);
    event_base_free(base);
}

/* Three nodes, every pair linked. */
static inline void
three_nodes(int p, double stall, size_t out_max)
{
    setup_ports(p);
    for (unsigned i = 0; i < 3; i++)
        node_start(i, stall, out_max);
    node_connect(0, 1);
    node_connect(1, 2);
    node_connect(0, 2);
    RUN_UNTIL(N[0].ups == 2 && N[1].ups == 2 && N[2].ups == 2);
}

static inline struct ssub *
subscribe(unsigned from, unsigned to, const char *con, uint64_t window,
          bool stalled)
{
    struct node *n = &N[from];
    struct ssub *s;

    ck_assert_uint_lt(n->n_ss, VSPC_ARRAY_LEN(n->ss));
    s = &n->ss[n->n_ss++];
    *s = (struct ssub){.l = link_of(from, to),
                       .seed = strcmp(con, CON_A) == 0 ? 1 : 2,
                       .granted = window,
                       .window = window,
                       .stalled = stalled};
    ck_assert_ptr_nonnull(s->l);
    s->id = pl_subscribe(s->l, con, 0, 1, window);
    ck_assert_uint_ne(s->id, 0);
    return s;
}

/* ---- a raw socket playing a node ----------------------------------------- */

struct raw {
    int fd;
    uint8_t buf[256 * 1024];
    size_t n;
    bool eof;
};

static struct raw R[12] VSPC_UNUSED;
static struct pw_frame RF VSPC_UNUSED; /* large: not on the stack */

static inline void
raw_open(struct raw *r, int port, int rcvbuf)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(r->fd, 0);
    if (rcvbuf)
        setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    /* Completes in the kernel's backlog: the listener accepts later. */
    ck_assert_int_eq(connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    fcntl(r->fd, F_SETFL, O_NONBLOCK);
    r->n = 0;
    r->eof = false;
}

static inline void
raw_close(struct raw *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

static inline void
raw_write(struct raw *r, const void *p, size_t n)
{
    const uint8_t *b = p;
    double end = now_s() + 15.0;

    while (n > 0) {
        ssize_t k = write(r->fd, b, n);

        if (k > 0) {
            b += k;
            n -= (size_t)k;
            continue;
        }
        ck_assert_msg(k < 0 && errno == EAGAIN, "raw write: %s",
                      strerror(errno));
        ck_assert(now_s() < end);
        event_base_loop(base, EVLOOP_ONCE);
    }
}

static inline void
raw_body(struct raw *r, const void *body, uint32_t n)
{
    uint8_t hdr[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                      (uint8_t)n};

    raw_write(r, hdr, 4);
    raw_write(r, body, n);
}

static inline void
raw_frame(struct raw *r, const struct pw_frame *f)
{
    static uint8_t b[PW_MAX_FRAME];
    char err[160];
    size_t n;

    ck_assert_msg(pw_encode(f, b, sizeof(b), &n, err, sizeof(err)) == PW_OK,
                  "%s", err);
    raw_body(r, b, (uint32_t)n);
}

static inline void
raw_hello(struct raw *r, const char *id, unsigned index, uint32_t version,
          uint64_t incarnation)
{
    RF.type = PW_HELLO;
    memset(&RF.u.hello, 0, sizeof(RF.u.hello));
    snprintf(RF.u.hello.node_id, sizeof(RF.u.hello.node_id), "%s", id);
    RF.u.hello.node_index = (uint8_t)index;
    RF.u.hello.version = version;
    RF.u.hello.incarnation = incarnation;
    raw_frame(r, &RF);
}

static inline void
raw_poll(struct raw *r)
{
    while (!r->eof && r->n < sizeof(r->buf)) {
        ssize_t k = read(r->fd, r->buf + r->n, sizeof(r->buf) - r->n);

        if (k > 0)
            r->n += (size_t)k;
        else if (k == 0 || errno != EAGAIN)
            r->eof = true;
        else
            break;
    }
}

/* A complete frame from the node, decoded into RF. */
static inline bool
raw_next(struct raw *r)
{
    uint32_t n;
    char err[160];

    raw_poll(r);
    if (r->n < 4)
        return false;
    n = (uint32_t)r->buf[0] << 24 | (uint32_t)r->buf[1] << 16 |
        (uint32_t)r->buf[2] << 8 | r->buf[3];
    if (r->n < 4 + (size_t)n)
        return false;
    ck_assert_msg(pw_decode(r->buf + 4, n, &RF, err, sizeof(err)) == PW_OK,
                  "%s", err);
    memmove(r->buf, r->buf + 4 + n, r->n - 4 - n);
    r->n -= 4 + n;
    return true;
}

/* The node closed r (after sending nothing we did not read). */
static inline bool
raw_closed(struct raw *r)
{
    raw_poll(r);
    return r->eof;
}

/* r says hello as id/index to node i and reads the node's hello. */
static inline void
raw_join(struct raw *r, unsigned i, const char *id, unsigned index)
{
    raw_open(r, port0 + (int)i, 0);
    raw_hello(r, id, index, PL_VERSION, 7000 + index);
    RUN_UNTIL(raw_next(r));
    ck_assert_int_eq(RF.type, PW_HELLO);
    ck_assert_str_eq(RF.u.hello.node_id, N[i].id);
}

#endif /* VSPC_TESTS_PEERLINK_HARNESS_H */
