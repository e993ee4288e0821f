/*
 * test_zev.c: Check suite for ZeroMQ on libevent (common/zev.c).
 *
 * The hazards of an edge-triggered ZMQ_FD are tested where they bite:
 * ping-pong driven only from callbacks (each send may consume the edge
 * of the next incoming message: a lost wake-up stalls the test, which
 * then fails on its own timer, not on Check's), a backlog queued before
 * the watcher existed, bursts beyond the per-wake-up budget, messages of
 * more frames than kept, a send at the high-water mark (EAGAIN at once,
 * never a block), the writable notice, pause/resume, and freeing a zev
 * from inside its own callback. Every test makes its own context and
 * loop (Check forks per test; contexts do not survive a fork).
 */
#include "vspc/compat.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>
#include <zmq.h>

#include "vspc/zev.h"

struct t {
    struct event_base *base;
    void *ctx;
    struct zev *a, *b;
    struct event *deadline;
    bool timed_out;
    unsigned got_a, got_b, target;
    size_t last_n, last_total;
    uint32_t expect; /* next sequence number expected */
    bool free_in_cb;
    unsigned writable;
    unsigned sent;
    struct event *tick;
};

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct t *t = arg;

    t->timed_out = true;
    event_base_loopexit(t->base, NULL);
}

static void
t_init(struct t *t, double secs)
{
    struct timeval tv = {(time_t)secs, 0};

    memset(t, 0, sizeof(*t));
    t->base = event_base_new();
    t->ctx = zmq_ctx_new();
    ck_assert_ptr_nonnull(t->base);
    ck_assert_ptr_nonnull(t->ctx);
    t->deadline = evtimer_new(t->base, deadline_cb, t);
    evtimer_add(t->deadline, &tv);
}

static void
t_fini(struct t *t)
{
    zev_free(&t->a);
    zev_free(&t->b);
    ck_assert_ptr_null(t->a);
    zev_free(&t->a); /* idempotent */
    event_free(t->deadline);
    zmq_ctx_term(t->ctx);
    event_base_free(t->base);
}

/* A bound/connected pair of raw sockets on a fresh inproc endpoint. */
static void
pair(struct t *t, int ta, int tb, void **sa, void **sb, const char *name)
{
    char ep[64];

    snprintf(ep, sizeof(ep), "inproc://%s", name);
    *sa = zmq_socket(t->ctx, ta);
    *sb = zmq_socket(t->ctx, tb);
    ck_assert_int_eq(zmq_bind(*sa, ep), 0);
    ck_assert_int_eq(zmq_connect(*sb, ep), 0);
}

static void
send_u32(struct zev *z, uint32_t v)
{
    struct zev_frame f = {&v, sizeof(v)};

    ck_assert_int_eq(zev_send(z, &f, 1), 0);
}

static uint32_t
msg_u32(const struct zev_msg *m)
{
    uint32_t v;

    ck_assert_uint_eq(m->f[0].size, sizeof(v));
    memcpy(&v, m->f[0].data, sizeof(v));
    return v;
}

/* ---- ping-pong: every message answered from inside the callback ---------- */

static void
pong_cb(struct zev *z, const struct zev_msg *m, void *arg)
{
    struct t *t = arg;
    uint32_t v = msg_u32(m);

    if (z == t->a) {
        ck_assert_uint_eq(v, t->expect);
        t->expect++;
        t->got_a++;
        if (t->got_a == t->target) {
            event_base_loopexit(t->base, NULL);
            return;
        }
        send_u32(t->a, v + 1);
    } else {
        t->got_b++;
        send_u32(t->b, v); /* echo */
    }
}

START_TEST(test_ping_pong)
{
    struct t t;
    void *sa, *sb;

    t_init(&t, 15);
    pair(&t, ZMQ_PAIR, ZMQ_PAIR, &sa, &sb, "pp");
    t.a = zev_new(t.base, sa, pong_cb, &t);
    t.b = zev_new(t.base, sb, pong_cb, &t);
    t.target = 20000;
    send_u32(t.a, 0);
    event_base_dispatch(t.base);
    ck_assert_msg(!t.timed_out, "stalled after %u round trips", t.got_a);
    ck_assert_uint_eq(t.got_a, 20000);
    ck_assert_uint_eq(t.got_b, 20000);
    ck_assert_uint_eq(zev_stats(t.a)->msgs_in, 20000);
    ck_assert_uint_eq(zev_stats(t.a)->msgs_out, 20000);
    t_fini(&t);
}
END_TEST

/* ---- ping-pong over TCP, a DEALER and a ROUTER --------------------------- */

static void
router_echo_cb(struct zev *z, const struct zev_msg *m, void *arg)
{
    struct t *t = arg;

    ck_assert_uint_eq(m->n, 2);
    ck_assert_ptr_nonnull(m->peer);
    ck_assert_str_eq(m->peer, "127.0.0.1");
    t->got_b++;
    ck_assert_int_eq(zev_send(z, m->f, 2), 0);
}

START_TEST(test_tcp_router)
{
    struct t t;
    void *r, *dl;
    int one = 1;

    t_init(&t, 15);
    r = zmq_socket(t.ctx, ZMQ_ROUTER);
    dl = zmq_socket(t.ctx, ZMQ_DEALER);
    zmq_setsockopt(r, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
    ck_assert_int_eq(zmq_bind(r, "tcp://127.0.0.1:24090"), 0);
    ck_assert_int_eq(zmq_connect(dl, "tcp://127.0.0.1:24090"), 0);
    t.b = zev_new(t.base, r, router_echo_cb, &t);
    t.a = zev_new(t.base, dl, pong_cb, &t);
    t.target = 5000;
    send_u32(t.a, 0);
    event_base_dispatch(t.base);
    ck_assert_msg(!t.timed_out, "stalled after %u round trips", t.got_a);
    ck_assert_uint_eq(t.got_a, 5000);
    /* To a routing id nobody has: refused at once. */
    {
        struct zev_frame f[2] = {{"nobody", 6}, {"x", 1}};

        ck_assert_int_eq(zev_send(t.b, f, 2), -1);
        ck_assert_int_eq(errno, EHOSTUNREACH);
    }
    t_fini(&t);
}
END_TEST

static void
count_cb(struct zev *z, const struct zev_msg *m, void *arg)
{
    struct t *t = arg;

    ck_assert_uint_eq(msg_u32(m), t->expect);
    t->expect++;
    t->got_a++;
    t->last_n = m->n;
    t->last_total = m->total;
    if (t->got_a == t->target)
        event_base_loopexit(t->base, NULL);
}

/* ---- sends from outside the socket's callback ---- */

/*
 * The echo peer runs in its own thread, so replies arrive while the loop
 * thread is inside zev_send. A send processes the socket's pending
 * commands and consumes the fd's edge; without the re-check after every
 * send the reply would never be announced again and the test stalls.
 */
static void *
echo_thread(void *arg)
{
    void *s = arg;
    uint32_t v;

    for (;;) {
        if (zmq_recv(s, &v, sizeof(v), 0) != (int)sizeof(v))
            break;
        if (v == UINT32_MAX)
            break;
        zmq_send(s, &v, sizeof(v), 0);
    }
    return NULL;
}

/* Bursts sent from a timer, outside A's callback, with pauses so that
 * echoes arrive while later sends run: libzmq processes a socket's
 * commands in a send at most about once per millisecond, so some send
 * swallows the edge of the first echo. */
static void
burst_cb(evutil_socket_t fd, short what, void *arg)
{
    struct t *t = arg;

    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 300; i++)
            send_u32(t->a, t->sent++);
        usleep(3000);
    }
}

START_TEST(test_send_outside_callback)
{
    struct t t;
    void *sa, *sb;
    int zero = 0;
    pthread_t th;
    uint32_t stop = UINT32_MAX;
    struct zev_frame f = {&stop, sizeof(stop)};
    struct timeval now = {0, 0};

    t_init(&t, 10);
    sa = zmq_socket(t.ctx, ZMQ_PAIR);
    sb = zmq_socket(t.ctx, ZMQ_PAIR);
    zmq_setsockopt(sa, ZMQ_SNDHWM, &zero, sizeof(zero));
    zmq_setsockopt(sb, ZMQ_SNDHWM, &zero, sizeof(zero));
    ck_assert_int_eq(zmq_bind(sb, "inproc://echo"), 0);
    ck_assert_int_eq(zmq_connect(sa, "inproc://echo"), 0);
    ck_assert_int_eq(pthread_create(&th, NULL, echo_thread, sb), 0);
    t.a = zev_new(t.base, sa, count_cb, &t);
    t.target = 3000;
    t.tick = evtimer_new(t.base, burst_cb, &t);
    evtimer_add(t.tick, &now);
    event_base_dispatch(t.base);
    ck_assert_msg(!t.timed_out, "stalled: %u of %u echoes", t.got_a, t.target);
    ck_assert_uint_eq(t.got_a, 3000);
    ck_assert_int_eq(zev_send(t.a, &f, 1), 0);
    pthread_join(th, NULL);
    zmq_close(sb);
    event_free(t.tick);
    t_fini(&t);
}
END_TEST

/* ---- a backlog queued before the watcher, and bursts --------------------- */

START_TEST(test_backlog)
{
    struct t t;
    void *sa, *sb;
    int hwm = 0;

    t_init(&t, 15);
    pair(&t, ZMQ_PAIR, ZMQ_PAIR, &sa, &sb, "backlog");
    zmq_setsockopt(sa, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(sb, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    /* 10000 messages wait before anyone watches: no edge will come. */
    for (uint32_t i = 0; i < 10000; i++)
        ck_assert_int_eq(zmq_send(sb, &i, sizeof(i), 0), (int)sizeof(i));
    t.a = zev_new(t.base, sa, count_cb, &t);
    t.target = 10000;
    event_base_dispatch(t.base);
    ck_assert_msg(!t.timed_out, "got %u of 10000", t.got_a);
    /* More than one wake-up's budget: it yielded and came back. */
    ck_assert_uint_gt(zev_stats(t.a)->yields, 0);
    zmq_close(sb);
    t_fini(&t);
}
END_TEST

START_TEST(test_frames)
{
    struct t t;
    void *sa, *sb;
    uint32_t v = 0;

    t_init(&t, 10);
    pair(&t, ZMQ_PAIR, ZMQ_PAIR, &sa, &sb, "frames");
    t.a = zev_new(t.base, sa, count_cb, &t);
    /* Two frames beyond what is kept. */
    for (int i = 0; i < ZEV_MAX_FRAMES + 2; i++)
        zmq_send(sb, &v, sizeof(v), i < ZEV_MAX_FRAMES + 1 ? ZMQ_SNDMORE : 0);
    t.target = 1;
    event_base_dispatch(t.base);
    ck_assert(!t.timed_out);
    ck_assert_uint_eq(t.last_n, ZEV_MAX_FRAMES);
    ck_assert_uint_eq(t.last_total, ZEV_MAX_FRAMES + 2);
    ck_assert_uint_eq(zev_stats(t.a)->frames_dropped, 2);
    zmq_close(sb);
    t_fini(&t);
}
END_TEST

/* ---- the high-water mark: EAGAIN, never a block; then writable ----------- */

static void
writable_cb(struct zev *z, void *arg)
{
    struct t *t = arg;

    t->writable++;
    event_base_loopexit(t->base, NULL);
}

static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
    void *s = arg;
    char buf[16];

    while (zmq_recv(s, buf, sizeof(buf), ZMQ_DONTWAIT) >= 0)
        ;
}

START_TEST(test_hwm)
{
    struct t t;
    void *sa, *sb, *dl;
    int hwm = 4, one = 1, sent = 0;
    uint32_t v = 1;
    struct zev_frame f = {&v, sizeof(v)};
    struct event *drain;
    struct timeval soon = {0, 100000};

    t_init(&t, 10);
    /* A DEALER with nobody connected (ZMQ_IMMEDIATE): EAGAIN at once. */
    dl = zmq_socket(t.ctx, ZMQ_DEALER);
    zmq_setsockopt(dl, ZMQ_IMMEDIATE, &one, sizeof(one));
    ck_assert_int_eq(zmq_connect(dl, "tcp://127.0.0.1:24091"), 0);
    t.b = zev_new(t.base, dl, count_cb, &t);
    ck_assert_int_eq(zev_send(t.b, &f, 1), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_uint_eq(zev_stats(t.b)->send_eagain, 1);
    zev_free(&t.b);
    /* A peer that does not read: the queue fills, then EAGAIN. */
    sa = zmq_socket(t.ctx, ZMQ_PAIR);
    sb = zmq_socket(t.ctx, ZMQ_PAIR);
    zmq_setsockopt(sa, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(sb, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    ck_assert_int_eq(zmq_bind(sb, "inproc://hwm"), 0);
    ck_assert_int_eq(zmq_connect(sa, "inproc://hwm"), 0);
    t.a = zev_new(t.base, sa, count_cb, &t);
    while (zev_send(t.a, &f, 1) == 0)
        ck_assert_int_lt(++sent, 1000);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_ge(sent, hwm);
    /* Ask to be told; the reader drains a little later. */
    zev_want_writable(t.a, writable_cb);
    ck_assert_uint_eq(t.writable, 0);
    drain = evtimer_new(t.base, drain_cb, sb);
    evtimer_add(drain, &soon);
    event_base_dispatch(t.base);
    ck_assert(!t.timed_out);
    ck_assert_uint_eq(t.writable, 1);
    ck_assert_int_eq(zev_send(t.a, &f, 1), 0);
    event_free(drain);
    zmq_close(sb);
    t_fini(&t);
}
END_TEST

/* ---- pause / resume ------------------------------------------------------ */

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct t *t = arg;

    ck_assert_uint_eq(t->got_a, 0); /* nothing while paused */
    zev_resume(t->a);
}

START_TEST(test_pause)
{
    struct t t;
    void *sa, *sb;
    struct event *ev;
    struct timeval later = {0, 200000};

    t_init(&t, 10);
    pair(&t, ZMQ_PAIR, ZMQ_PAIR, &sa, &sb, "pause");
    t.a = zev_new(t.base, sa, count_cb, &t);
    zev_pause(t.a);
    ck_assert(zev_paused(t.a));
    for (uint32_t i = 0; i < 100; i++)
        zmq_send(sb, &i, sizeof(i), 0);
    ev = evtimer_new(t.base, resume_cb, &t);
    evtimer_add(ev, &later);
    t.target = 100;
    event_base_dispatch(t.base);
    ck_assert(!t.timed_out);
    ck_assert_uint_eq(t.got_a, 100);
    event_free(ev);
    zmq_close(sb);
    t_fini(&t);
}
END_TEST

/* ---- free from inside the callback --------------------------------------- */

static void
free_cb(struct zev *z, const struct zev_msg *m, void *arg)
{
    struct t *t = arg;

    t->got_a++;
    zev_free(&t->a); /* deferred: we are inside its callback */
    ck_assert_ptr_null(t->a);
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopexit(arg, NULL);
}

START_TEST(test_free_in_callback)
{
    struct t t;
    void *sa, *sb;
    struct event *ev;
    struct timeval later = {0, 200000};

    t_init(&t, 10);
    pair(&t, ZMQ_PAIR, ZMQ_PAIR, &sa, &sb, "free");
    t.a = zev_new(t.base, sa, free_cb, &t);
    for (uint32_t i = 0; i < 10; i++)
        zmq_send(sb, &i, sizeof(i), 0);
    ev = evtimer_new(t.base, stop_cb, t.base);
    evtimer_add(ev, &later);
    event_base_dispatch(t.base);
    /* One callback, then no more: the other 9 died with the socket. */
    ck_assert_uint_eq(t.got_a, 1);
    event_free(ev);
    zmq_close(sb);
    t_fini(&t);
}
END_TEST

START_TEST(test_endpoint)
{
    char out[64];

    ck_assert_int_eq(
        zev_endpoint_port_add("tcp://127.0.0.1:13380", 1, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "tcp://127.0.0.1:13381");
    ck_assert_int_eq(
        zev_endpoint_port_add("tcp://[::1]:13380", 2, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "tcp://[::1]:13382");
    ck_assert_int_eq(
        zev_endpoint_port_add("tcp://h:65535", 1, out, sizeof(out)), -1);
    ck_assert_int_eq(zev_endpoint_port_add("ipc://x:1", 1, out, sizeof(out)),
                     -1);
    ck_assert_int_eq(zev_endpoint_port_add("tcp://h:", 1, out, sizeof(out)),
                     -1);
    ck_assert_int_eq(zev_endpoint_port_add("tcp://:1", 1, out, sizeof(out)),
                     -1);
    ck_assert_int_eq(zev_endpoint_port_add("tcp://h:1x", 1, out, sizeof(out)),
                     -1);
    ck_assert_int_eq(zev_endpoint_port_add("tcp://h:1", 1, out, 8), -1);
}
END_TEST

static Suite *
zev_suite(void)
{
    Suite *s = suite_create("zev");
    TCase *tc = tcase_create("zev");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ping_pong);
    tcase_add_test(tc, test_tcp_router);
    tcase_add_test(tc, test_send_outside_callback);
    tcase_add_test(tc, test_backlog);
    tcase_add_test(tc, test_frames);
    tcase_add_test(tc, test_hwm);
    tcase_add_test(tc, test_pause);
    tcase_add_test(tc, test_free_in_callback);
    tcase_add_test(tc, test_endpoint);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(zev_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
