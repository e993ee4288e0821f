/*
 * test_coordcli.c: Check suite for the node's coordinator client
 * (common/coordcli.c) against a scripted fake coordinator in the same
 * loop (a ROUTER and an XPUB on 127.0.0.1:24095-24096), so that every
 * case the real coordinator rarely produces is produced on purpose:
 *
 *   - registration refused, then accepted (the state callback's reason);
 *   - a snapshot entry newer than an update replayed after it (the
 *     replica is not moved back);
 *   - a lost update (sequence gap) and a Hugz ahead of the replica: a new
 *     snapshot, and what it no longer lists is removed at once;
 *   - fencing: our console announced by another node with a higher epoch;
 *   - a new coordinator incarnation: register again, re-announce, keep
 *     the old entries for the grace period, then drop the unconfirmed;
 *   - garbage from the coordinator on both sockets: dropped, counted.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <zmq.h>

#include "vspc/clock.h"
#include "vspc/coordcli.h"
#include "vspc/epoch.h"
#include "vspc/log.h"
#include "vspc/zev.h"
#include "wire.h"

#define EP "tcp://127.0.0.1:24095"
#define EP_PUB "tcp://127.0.0.1:24096"
#define MAXGOT 4096

struct fake {
    struct event_base *base;
    void *ctx;
    struct zev *router, *xpub;
    struct event *wake;
    uint8_t rid[256];
    size_t ridlen;
    struct wire_msg *got; /* requests received, in order */
    size_t ngot, next;    /* next: first not yet looked at */
    bool subscribed;
    struct cc *cc;
    /* What the client told us. */
    unsigned fenced, console_events, removed;
    enum cc_state state;
    char detail[256];
};

static void
router_cb(struct zev *z, const struct zev_msg *m, void *arg)
{
    struct fake *f = arg;
    char err[256];

    ck_assert_uint_eq(m->n, 2);
    ck_assert_uint_le(m->f[0].size, sizeof(f->rid));
    memcpy(f->rid, m->f[0].data, m->f[0].size);
    f->ridlen = m->f[0].size;
    ck_assert_uint_lt(f->ngot, MAXGOT);
    ck_assert_msg(wire_decode(m->f[1].data, m->f[1].size, &f->got[f->ngot], err,
                              sizeof(err)) == WIRE_OK,
                  "client sent a bad message: %s", err);
    f->ngot++;
}

static void
xpub_cb(struct zev *z, const struct zev_msg *m, void *arg)
{
    struct fake *f = arg;
    const uint8_t *b = m->f[0].data;

    if (m->f[0].size >= 1 && b[0] == 1)
        f->subscribed = true;
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* ---- the client's callbacks ---------------------------------------------- */

static void
on_console(void *arg, const struct wire_console *now,
           const struct wire_console *old)
{
    struct fake *f = arg;

    f->console_events++;
    if (now == NULL)
        f->removed++;
}

static void
on_fenced(void *arg, const struct wire_console *mine,
          const struct wire_console *theirs)
{
    struct fake *f = arg;

    ck_assert_uint_lt(mine->epoch, theirs->epoch);
    f->fenced++;
}

static void
on_state(void *arg, enum cc_state st, bool away, const char *detail)
{
    struct fake *f = arg;

    f->state = st;
    snprintf(f->detail, sizeof(f->detail), "%s", detail);
}

/* ---- driving the loop ---------------------------------------------------- */

static void
spin(struct fake *f, double secs)
{
    double end = clock_now() + secs;

    while (clock_now() < end)
        event_base_loop(f->base, EVLOOP_ONCE);
}

/* Run the loop until the next request of type t arrives; others before
 * it are skipped. */
static struct wire_msg *
expect(struct fake *f, enum wire_type t)
{
    double end = clock_now() + 5;

    for (;;) {
        while (f->next < f->ngot) {
            struct wire_msg *m = &f->got[f->next++];

            if (m->type == t)
                return m;
        }
        ck_assert_msg(clock_now() < end, "no %s from the client",
                      wire_type_str(t));
        event_base_loop(f->base, EVLOOP_ONCE);
    }
}

static bool
state_is(struct fake *f, enum cc_state st)
{
    struct cc_status s;
    double end = clock_now() + 5;

    for (;;) {
        cc_status(f->cc, &s);
        if (s.state == st)
            return true;
        if (clock_now() > end)
            return false;
        event_base_loop(f->base, EVLOOP_ONCE);
    }
}

static void
send_msg(struct fake *f, struct zev *z, const struct wire_msg *m, bool to_rid)
{
    struct zev_frame fr[2];
    uint8_t *buf;
    size_t len, n = 0;
    char err[256];

    ck_assert_int_eq(wire_encode(m, &buf, &len, err, sizeof(err)), WIRE_OK);
    if (to_rid)
        fr[n++] = (struct zev_frame){f->rid, f->ridlen};
    fr[n++] = (struct zev_frame){buf, len};
    ck_assert_int_eq(zev_send(z, fr, n), 0);
    free(buf);
}

static void
reply(struct fake *f, const struct wire_msg *m)
{
    send_msg(f, f->router, m, true);
}

static void
publish(struct fake *f, const struct wire_msg *m)
{
    send_msg(f, f->xpub, m, false);
}

static void
mk_console(struct wire_console *c, int k, const char *owner, uint8_t index,
           uint64_t counter)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->id, sizeof(c->id), "%032x", (unsigned)k);
    snprintf(c->vm_name, sizeof(c->vm_name), "vm %d", k);
    c->epoch = epoch_make(counter, index);
    snprintf(c->state, sizeof(c->state), "connected");
    snprintf(c->owner, sizeof(c->owner), "%s", owner);
    c->owner_index = index;
}

static void
reg_reply(struct fake *f, bool ok, const char *reason, uint64_t inc)
{
    struct wire_msg m = {.type = WIRE_REGISTER_REPLY};

    m.u.reg_reply.ok = ok;
    snprintf(m.u.reg_reply.reason, sizeof(m.u.reg_reply.reason), "%s", reason);
    m.u.reg_reply.incarnation = inc;
    reply(f, &m);
}

static void
snap_node(struct fake *f, const char *id, uint8_t index)
{
    struct wire_msg m = {.type = WIRE_SNAPSHOT_NODE};

    snprintf(m.u.snapshot_node.node_id, sizeof(m.u.snapshot_node.node_id), "%s",
             id);
    m.u.snapshot_node.node_index = index;
    snprintf(m.u.snapshot_node.peer_addr, sizeof(m.u.snapshot_node.peer_addr),
             "127.0.0.1:1");
    m.u.snapshot_node.alive = true;
    reply(f, &m);
}

static void
snap_entry(struct fake *f, const struct wire_console *c)
{
    struct wire_msg m = {.type = WIRE_SNAPSHOT_ENTRY};

    m.u.snapshot_entry = *c;
    reply(f, &m);
}

static void
snap_end(struct fake *f, uint64_t seq, uint64_t inc, uint64_t req)
{
    struct wire_msg m = {.type = WIRE_SNAPSHOT_END};

    m.u.snapshot_end.seq = seq;
    m.u.snapshot_end.incarnation = inc;
    m.u.snapshot_end.request_id = req;
    reply(f, &m);
}

static void
pub_upsert(struct fake *f, uint64_t seq, uint64_t inc,
           const struct wire_console *c)
{
    struct wire_msg m = {.type = WIRE_UPDATE};

    m.u.update.seq = seq;
    m.u.update.incarnation = inc;
    m.u.update.change = WIRE_CHANGE_UPSERT;
    m.u.update.u.upsert = *c;
    publish(f, &m);
}

static const struct wire_console *
replica(struct fake *f, int k)
{
    char id[40];

    snprintf(id, sizeof(id), "%032x", (unsigned)k);
    return cc_console(f->cc, id);
}

/* ---- the script ---------------------------------------------------------- */

START_TEST(test_client)
{
    static struct fake F;
    struct fake *f = &F;
    struct cc_config cfg = {0};
    struct cc_callbacks cbs = {
        .console = on_console, .fenced = on_fenced, .state = on_state};
    struct timeval tick = {0, 10000};
    struct wire_console c, mine;
    struct wire_msg *m;
    struct cc_status st;
    uint64_t req;
    void *s;
    char err[256];

    log_init("test_coordcli", LOG_LVL_ERROR);
    f->got = calloc(MAXGOT, sizeof(*f->got));
    f->base = event_base_new();
    f->ctx = zmq_ctx_new();
    /* The loop wakes at least every 10 ms (the helpers poll). */
    f->wake = event_new(f->base, -1, EV_PERSIST, wake_cb, NULL);
    event_add(f->wake, &tick);
    s = zmq_socket(f->ctx, ZMQ_ROUTER);
    ck_assert_int_eq(zmq_bind(s, EP), 0);
    f->router = zev_new(f->base, s, router_cb, f);
    s = zmq_socket(f->ctx, ZMQ_XPUB);
    ck_assert_int_eq(zmq_bind(s, EP_PUB), 0);
    f->xpub = zev_new(f->base, s, xpub_cb, f);

    cfg.endpoint = EP;
    cfg.node_id = "n1";
    cfg.node_index = 1;
    cfg.peer_addr = "127.0.0.1:13390";
    cfg.heartbeat_ivl = 0.05;
    cfg.resync_grace = 0.3;
    f->cc = cc_new(f->base, f->ctx, &cfg, &cbs, f, err, sizeof(err));
    ck_assert_msg(f->cc != NULL, "%s", err);
    /* Announced before registering: kept, sent after. */
    mk_console(&mine, 100, "n1", 1, 1);
    ck_assert_int_eq(cc_announce(f->cc, &mine), 0);
    ck_assert_uint_eq(cc_next_epoch(f->cc, mine.id), epoch_make(2, 1));

    /* 1. Refused, with the reason; then accepted. */
    m = expect(f, WIRE_REGISTER);
    ck_assert_str_eq(m->u.reg.node_id, "n1");
    ck_assert_uint_eq(m->u.reg.node_index, 1);
    reg_reply(f, false, "node index 1 is held by live node n9 (peer x:1)", 1);
    ck_assert(state_is(f, CC_ST_REFUSED));
    ck_assert_str_eq(f->detail,
                     "node index 1 is held by live node n9 (peer x:1)");
    m = expect(f, WIRE_REGISTER); /* it keeps trying */
    reg_reply(f, true, "", 0x111);
    m = expect(f, WIRE_SNAPSHOT_REQUEST);
    req = m->u.snapshot_request.request_id;
    m = expect(f, WIRE_ANNOUNCE);
    ck_assert(memcmp(&m->u.announce, &mine, sizeof(mine)) == 0);
    /* The update port is subscribed before we publish. */
    for (double end = clock_now() + 5; !f->subscribed;) {
        ck_assert(clock_now() < end);
        event_base_loop(f->base, EVLOOP_ONCE);
    }

    /* 2. The snapshot holds X at epoch (3, n2); an update replayed after it
     * says (2, n2): X must stay at 3. */
    snap_node(f, "n1", 1);
    snap_node(f, "n2", 2);
    mk_console(&c, 1, "n2", 2, 3);
    snap_entry(f, &c);
    snap_entry(f, &mine);
    mk_console(&c, 1, "n2", 2, 2);
    pub_upsert(f, 5, 0x111, &c);
    spin(f, 0.1); /* the update waits in the paused SUB */
    ck_assert_uint_eq(replica(f, 1)->epoch, epoch_make(3, 2));
    snap_end(f, 4, 0x111, req);
    ck_assert(state_is(f, CC_ST_ACTIVE));
    mk_console(&c, 2, "n2", 2, 1);
    pub_upsert(f, 6, 0x111, &c);
    for (double end = clock_now() + 5; replica(f, 2) == NULL;) {
        ck_assert(clock_now() < end);
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    ck_assert_uint_eq(replica(f, 1)->epoch, epoch_make(3, 2));
    cc_status(f->cc, &st);
    ck_assert_uint_eq(st.seq, 6);
    ck_assert_uint_eq(st.consoles, 3);
    ck_assert_uint_eq(st.nodes, 2);
    ck_assert_ptr_nonnull(cc_node(f->cc, "n2"));

    /* 3. Update 7 is lost: 8 arrives. A new snapshot is asked for; it no
     * longer lists console 2, which goes at once (same incarnation). */
    mk_console(&c, 3, "n2", 2, 1);
    pub_upsert(f, 8, 0x111, &c);
    m = expect(f, WIRE_SNAPSHOT_REQUEST);
    ck_assert_uint_ne(m->u.snapshot_request.request_id, req);
    req = m->u.snapshot_request.request_id;
    snap_node(f, "n1", 1);
    snap_node(f, "n2", 2);
    mk_console(&c, 1, "n2", 2, 3);
    snap_entry(f, &c);
    snap_entry(f, &mine);
    mk_console(&c, 3, "n2", 2, 1);
    snap_entry(f, &c);
    f->removed = 0;
    snap_end(f, 8, 0x111, req);
    ck_assert(state_is(f, CC_ST_ACTIVE));
    spin(f, 0.05);
    ck_assert_ptr_null(replica(f, 2));
    ck_assert_ptr_nonnull(replica(f, 3));
    ck_assert_uint_eq(f->removed, 1);
    cc_status(f->cc, &st);
    ck_assert_uint_eq(st.gaps, 1);
    ck_assert_uint_eq(st.seq, 8);

    /* 4. A Hugz says seq 10: we lost 9 and 10. */
    {
        struct wire_msg h = {.type = WIRE_HUGZ};

        h.u.hugz.seq = 10;
        h.u.hugz.incarnation = 0x111;
        publish(f, &h);
    }
    m = expect(f, WIRE_SNAPSHOT_REQUEST);
    req = m->u.snapshot_request.request_id;
    snap_node(f, "n1", 1);
    snap_node(f, "n2", 2);
    mk_console(&c, 1, "n2", 2, 3);
    snap_entry(f, &c);
    snap_entry(f, &mine);
    mk_console(&c, 3, "n2", 2, 1);
    snap_entry(f, &c);
    snap_end(f, 10, 0x111, req);
    ck_assert(state_is(f, CC_ST_ACTIVE));
    spin(f, 0.05);
    cc_status(f->cc, &st);
    ck_assert_uint_eq(st.gaps, 2);
    ck_assert_uint_eq(st.seq, 10);

    /* 5. Garbage from the coordinator on both sockets: dropped. */
    {
        struct zev_frame g[2] = {{f->rid, f->ridlen}, {"\xff\x01", 2}};

        ck_assert_int_eq(zev_send(f->router, g, 2), 0);
        ck_assert_int_eq(zev_send(f->xpub, &g[1], 1), 0);
    }
    spin(f, 0.1);
    cc_status(f->cc, &st);
    ck_assert_uint_eq(st.bad_messages, 2);
    ck_assert_uint_eq(st.state, CC_ST_ACTIVE);

    /* 6. Fenced: n2 announces our console with a higher epoch. */
    c = mine;
    c.epoch = epoch_make(2, 2);
    snprintf(c.owner, sizeof(c.owner), "n2");
    c.owner_index = 2;
    pub_upsert(f, 11, 0x111, &c);
    for (double end = clock_now() + 5; f->fenced == 0;) {
        ck_assert(clock_now() < end);
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    cc_status(f->cc, &st);
    ck_assert_uint_eq(st.owned, 0);
    ck_assert_uint_eq(cc_next_epoch(f->cc, mine.id), epoch_make(3, 1));

    /* 7. A new coordinator incarnation answers a heartbeat. */
    m = expect(f, WIRE_HEARTBEAT);
    {
        struct wire_msg r = {.type = WIRE_HEARTBEAT_REPLY};

        r.u.heartbeat_reply.incarnation = 0x222;
        r.u.heartbeat_reply.registered = false;
        reply(f, &r);
    }
    m = expect(f, WIRE_REGISTER);
    reg_reply(f, true, "", 0x222);
    m = expect(f, WIRE_SNAPSHOT_REQUEST);
    req = m->u.snapshot_request.request_id;
    /* The new coordinator knows only console 4 so far. */
    snap_node(f, "n1", 1);
    mk_console(&c, 4, "n3", 3, 1);
    snap_entry(f, &c);
    f->removed = 0;
    snap_end(f, 1, 0x222, req);
    ck_assert(state_is(f, CC_ST_ACTIVE));
    spin(f, 0.05);
    /* Grace: the old incarnation's entries stay for now... */
    ck_assert_ptr_nonnull(replica(f, 1));
    ck_assert_ptr_nonnull(replica(f, 4));
    ck_assert_uint_eq(f->removed, 0);
    /* ... console 1 is re-announced by its owner meanwhile ... */
    mk_console(&c, 1, "n2", 2, 3);
    pub_upsert(f, 2, 0x222, &c);
    /* ... and after the grace the unconfirmed ones (3 and ours) go. */
    spin(f, 0.4);
    ck_assert_ptr_nonnull(replica(f, 1));
    ck_assert_ptr_nonnull(replica(f, 4));
    ck_assert_ptr_null(replica(f, 3));
    ck_assert_ptr_null(cc_console(f->cc, mine.id));
    ck_assert_uint_eq(f->removed, 2);
    /* n2 was not in the new snapshot either. */
    ck_assert_ptr_null(cc_node(f->cc, "n2"));
    cc_status(f->cc, &st);
    ck_assert_uint_eq(st.registrations, 2);
    ck_assert_uint_eq(st.coordinator_inc, 0x222);
    ck_assert_uint_eq(st.consoles, 2);

    cc_free(&f->cc);
    ck_assert_ptr_null(f->cc);
    zev_free(&f->router);
    zev_free(&f->xpub);
    event_free(f->wake);
    zmq_ctx_term(f->ctx);
    event_base_free(f->base);
    free(f->got);
}
END_TEST

START_TEST(test_bad_config)
{
    struct event_base *base = event_base_new();
    struct cc_config cfg = {
        .endpoint = EP, .node_id = "has space", .peer_addr = "h:1"};
    char err[256];

    ck_assert_ptr_null(cc_new(base, NULL, &cfg, NULL, NULL, err, sizeof(err)));
    cfg.node_id = "ok";
    cfg.peer_addr = "nohostport";
    ck_assert_ptr_null(cc_new(base, NULL, &cfg, NULL, NULL, err, sizeof(err)));
    cfg.peer_addr = "h:1";
    cfg.endpoint = "ipc://x";
    ck_assert_ptr_null(cc_new(base, NULL, &cfg, NULL, NULL, err, sizeof(err)));
    ck_assert_str_eq(err, "bad coordinator endpoint ipc://x (want "
                          "tcp://HOST:PORT)");
    event_base_free(base);
}
END_TEST

static Suite *
coordcli_suite(void)
{
    Suite *s = suite_create("coordcli");
    TCase *tc = tcase_create("client");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_client);
    tcase_add_test(tc, test_bad_config);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(coordcli_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
