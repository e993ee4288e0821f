/*
 * coordcli.c: a node's coordinator client (cc_). See vspc/coordcli.h for
 * the states, the replica rules and the lifetime rules.
 *
 * Sockets: a DEALER to the coordinator's ROUTER (Register, Heartbeat,
 * Announce, Withdraw, SnapshotRequest and their replies) with
 * ZMQ_IMMEDIATE, so nothing queues toward a coordinator that is not
 * connected (a send then fails with EAGAIN and is retried by this module,
 * never by zev); a SUB to its update port, subscribed to everything.
 *
 * Outgoing announces and withdraws are not sent from the API calls: they
 * mark the console dirty (or queue the withdraw, one per console) and a
 * flush event sends them in batches of CC_FLUSH_BUDGET, withdraws first,
 * until EAGAIN (then on the socket's writable notice, or the next tick).
 * So thousands of announces in one loop turn become one flush, a full
 * queue never loses one, and memory is bounded by the consoles owned.
 *
 * The replica itself (generations, grace, sweeps) is ccreplica.c.
 */
#include "vspc/compat.h"
#include "vspc/coordcli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <event2/event.h>
#include <zmq.h>

#include "vspc/clock.h"
#include "vspc/epoch.h"
#include "vspc/log.h"
#include "vspc/random.h"
#include "vspc/ratelog.h"
#include "vspc/strmap.h"
#include "vspc/zev.h"
#include "ccint.h"
#include "ccreplica.h"

#define CC_FLUSH_BUDGET 256 /* announces/withdraws per loop turn */
#define CC_REFUSED_RETRY 5  /* heartbeat intervals between Registers */
#define CC_SUB_HWM 100000   /* updates queued while a snapshot is read */
#define CC_DEALER_HWM 10000
#define CC_GRACE_WAIT 5 /* grace periods a sweep waits for the stream */

static const char *const cc_state_names[CC_ST__COUNT] = {
    [CC_ST_REGISTER] = "register",
    [CC_ST_REFUSED] = "refused",
    [CC_ST_SYNC] = "sync",
    [CC_ST_ACTIVE] = "active",
};

const char *
cc_state_str(enum cc_state st)
{
    if ((int)st < 0 || st >= CC_ST__COUNT)
        return "???";
    return cc_state_names[st];
}

/* ---- sending ---------------------------------------------------------- */

static int
s_send(struct cc *cc, const struct wire_msg *m)
{
    struct zev_frame f;
    char err[256];
    uint8_t *buf;
    size_t len;
    int rc, saved;

    if (wire_encode(m, &buf, &len, err, sizeof(err)) != WIRE_OK) {
        log_errorx("node %s: cannot encode %s: %s", cc->node_id,
                   wire_type_str(m->type), err);
        errno = EINVAL;
        return -1;
    }
    f.data = buf;
    f.size = len;
    rc = zev_send(cc->dealer, &f, 1);
    saved = errno;
    free(buf);
    errno = saved;
    return rc;
}

static void s_writable_cb(struct zev *z, void *arg);

static void
s_send_register(struct cc *cc, double now)
{
    struct wire_msg m;

    memset(&m, 0, sizeof(m));
    m.type = WIRE_REGISTER;
    memcpy(m.u.reg.node_id, cc->node_id, sizeof(cc->node_id));
    m.u.reg.node_index = cc->index;
    memcpy(m.u.reg.peer_addr, cc->peer_addr, sizeof(cc->peer_addr));
    m.u.reg.incarnation = cc->inc;
    cc->last_register = now;
    if (cc->wait_since == 0)
        cc->wait_since = now; /* the first Register not answered yet */
    /* Not connected yet (ZMQ_IMMEDIATE): send when the connection is up. */
    if (s_send(cc, &m) != 0 && errno == EAGAIN)
        zev_want_writable(cc->dealer, s_writable_cb);
}

static void
s_send_heartbeat(struct cc *cc)
{
    struct wire_msg m;

    memset(&m, 0, sizeof(m));
    m.type = WIRE_HEARTBEAT;
    memcpy(m.u.heartbeat.node_id, cc->node_id, sizeof(cc->node_id));
    m.u.heartbeat.incarnation = cc->inc;
    s_send(cc, &m); /* lost or refused: the next tick sends another */
}

static void
s_send_snapshot_request(struct cc *cc)
{
    struct wire_msg m;

    memset(&m, 0, sizeof(m));
    m.type = WIRE_SNAPSHOT_REQUEST;
    m.u.snapshot_request.request_id = cc->snap_req;
    cc->snap_unsent = s_send(cc, &m) != 0;
    if (cc->snap_unsent && errno == EAGAIN)
        zev_want_writable(cc->dealer, s_writable_cb);
}

bool
cc__registered(const struct cc *cc)
{
    return cc->state == CC_ST_SYNC || cc->state == CC_ST_ACTIVE;
}

/* Flush on the next loop turn: after the timers and the other sockets
 * (a zero timeout, not event_active, which would run in this pass). */
void
cc__flush_later(struct cc *cc)
{
    static const struct timeval zero = {0, 0};

    evtimer_add(cc->flush_ev, &zero);
}

/* Send queued withdraws, then dirty announces, within the budget. */
static void
s_flush(struct cc *cc)
{
    struct wire_msg m;
    struct cc_owned *o;
    struct cc_wd *w;

    if (!cc__registered(cc))
        return; /* sent after the next registration */
    for (unsigned n = 0; n < CC_FLUSH_BUDGET; n++) {
        memset(&m, 0, sizeof(m));
        if ((w = TAILQ_FIRST(&cc->wdq)) != NULL) {
            m.type = WIRE_WITHDRAW;
            memcpy(m.u.withdraw.console_id, w->id, sizeof(w->id));
            m.u.withdraw.epoch = w->epoch;
            memcpy(m.u.withdraw.node_id, cc->node_id, sizeof(cc->node_id));
            if (s_send(cc, &m) != 0)
                goto blocked;
            TAILQ_REMOVE(&cc->wdq, w, q);
            smap_del(&cc->wds, &w->hn);
            free(w);
            continue;
        }
        if ((o = TAILQ_FIRST(&cc->dirty)) != NULL) {
            m.type = WIRE_ANNOUNCE;
            m.u.announce = o->c;
            if (s_send(cc, &m) != 0)
                goto blocked;
            TAILQ_REMOVE(&cc->dirty, o, dq);
            o->dirty = false;
            continue;
        }
        return; /* all sent */
    }
    cc__flush_later(cc); /* more: next loop turn */
    return;
blocked:
    /* Queue full or no connection: when writable again (or next tick). */
    zev_want_writable(cc->dealer, s_writable_cb);
}

static void
s_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    s_flush(arg);
}

static void
s_writable_cb(struct zev *z, void *arg)
{
    struct cc *cc = arg;

    if (cc->state == CC_ST_REGISTER)
        s_send_register(cc, clock_now());
    if (cc->state == CC_ST_SYNC && cc->snap_unsent)
        s_send_snapshot_request(cc);
    s_flush(cc);
}

/* ---- the replica -------------------------------------------------------- */

void
cc__owned_drop(struct cc *cc, struct cc_owned *o)
{
    if (o->dirty)
        TAILQ_REMOVE(&cc->dirty, o, dq);
    smap_del(&cc->owned, &o->hn);
    free(o);
}

/* c is held elsewhere: if this node announced it with a lower epoch, it
 * was fenced. */
static void
s_check_fenced(struct cc *cc, const struct wire_console *c)
{
    struct smap_node *hn = smap_get(&cc->owned, c->id);
    struct cc_owned *o;
    struct wire_console mine;

    if (hn == NULL || strcmp(c->owner, cc->node_id) == 0)
        return;
    o = smap_entry(hn, struct cc_owned, hn);
    if (o->c.epoch >= c->epoch)
        return;
    mine = o->c;
    cc__owned_drop(cc, o);
    log_warnx("console=%s node %s: fenced: node %s holds it with epoch "
              "%016" PRIx64 " > ours %016" PRIx64,
              c->id, cc->node_id, c->owner, c->epoch, mine.epoch);
    if (cc->cbs.fenced)
        cc->cbs.fenced(cc->arg, &mine, c);
}

/* An upsert from the coordinator (snapshot or update). */
static void
s_apply_console(struct cc *cc, const struct wire_console *c, double now)
{
    ccr_console(&cc->rep, c, now);
    s_check_fenced(cc, c);
}

static void
s_sweep(struct cc *cc, double now)
{
    size_t n = ccr_sweep(&cc->rep, now);

    if (n)
        log_info("node %s: %zu consoles no longer in the directory: removed "
                 "from the replica",
                 cc->node_id, n);
}

/*
 * The grace period of a new incarnation is over. Updates still queued may
 * confirm entries (the other nodes' re-announcements): sweep only once the
 * update stream is read up, waiting a heartbeat interval at a time, for at
 * most CC_GRACE_WAIT more grace periods. A sweep would not lose them for
 * good (a later update adds them back) but would tell the caller they
 * went and came back.
 */
static void
s_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cc *cc = arg;
    double now = clock_now();

    if (cc->state != CC_ST_ACTIVE)
        return; /* the next SnapshotEnd sweeps */
    if (zev_readable(cc->sub) &&
        now < cc->rep.grace_until + CC_GRACE_WAIT * cc->grace) {
        struct timeval tv = {
            (time_t)cc->hb_ivl,
            (suseconds_t)((cc->hb_ivl - (double)(time_t)cc->hb_ivl) * 1e6)};

        evtimer_add(cc->sweep_ev, &tv);
        return;
    }
    /* libevent's clock and ours may disagree by a few microseconds: the
     * grace is over. */
    s_sweep(cc, now > cc->rep.grace_until ? now : cc->rep.grace_until);
}

/* ---- the state machine --------------------------------------------------- */

enum cc_event {
    CC_EV_TICK,       /* every heartbeat interval */
    CC_EV_REG_OK,     /* RegisterReply ok (a new registration) */
    CC_EV_REG_REFUSE, /* RegisterReply not ok */
    CC_EV_LOST,       /* HeartbeatReply: other incarnation or unregistered */
    CC_EV_SNAP_END,   /* the snapshot we asked for is complete */
    CC_EV_GAP,        /* an update was lost */
    CC_EV_SWITCH,     /* turned to the other coordinator of the pair */
    CC_EV__COUNT
};

static const char *const cc_event_names[CC_EV__COUNT] = {
    "tick",         "register-ok", "register-refused", "lost",
    "snapshot-end", "gap",         "switch",
};

struct cc_ev {
    double now;
    const struct wire_msg *m; /* the message behind the event, or NULL */
};

typedef void (*cc_action)(struct cc *cc, const struct cc_ev *ev);

static void a_register_tick(struct cc *cc, const struct cc_ev *ev);
static void a_registered(struct cc *cc, const struct cc_ev *ev);
static void a_refused(struct cc *cc, const struct cc_ev *ev);
static void a_sync_tick(struct cc *cc, const struct cc_ev *ev);
static void a_synced(struct cc *cc, const struct cc_ev *ev);
static void a_active_tick(struct cc *cc, const struct cc_ev *ev);
static void a_lost(struct cc *cc, const struct cc_ev *ev);
static void a_gap(struct cc *cc, const struct cc_ev *ev);
static void a_switch(struct cc *cc, const struct cc_ev *ev);

/*
 * The transitions. A missing cell (ok = false) is an event that does not
 * apply in that state: ignored (logged at debug).
 *
 *   REGISTER  tick -> REGISTER (Register again); register-ok -> SYNC;
 *             register-refused -> REFUSED
 *   REFUSED   tick -> REFUSED (Register every CC_REFUSED_RETRY ticks);
 *             register-ok -> SYNC; register-refused -> REFUSED
 *   SYNC      tick -> SYNC (heartbeat; snapshot stalled: ask again);
 *             snapshot-end -> ACTIVE; lost -> REGISTER;
 *             register-ok (a new incarnation) -> SYNC
 *   ACTIVE    tick -> ACTIVE (heartbeat); gap -> SYNC; lost -> REGISTER;
 *             register-ok (a new incarnation) -> SYNC
 *   any       switch -> REGISTER (the pair's other coordinator: Register)
 */
static const struct cc_trans {
    bool ok;
    enum cc_state next;
    cc_action act;
} cc_fsm[CC_ST__COUNT][CC_EV__COUNT] = {
    [CC_ST_REGISTER] =
        {
            [CC_EV_TICK] = {true, CC_ST_REGISTER, a_register_tick},
            [CC_EV_REG_OK] = {true, CC_ST_SYNC, a_registered},
            [CC_EV_REG_REFUSE] = {true, CC_ST_REFUSED, a_refused},
            [CC_EV_SWITCH] = {true, CC_ST_REGISTER, a_switch},
        },
    [CC_ST_REFUSED] =
        {
            [CC_EV_TICK] = {true, CC_ST_REFUSED, a_register_tick},
            [CC_EV_REG_OK] = {true, CC_ST_SYNC, a_registered},
            [CC_EV_REG_REFUSE] = {true, CC_ST_REFUSED, a_refused},
            [CC_EV_SWITCH] = {true, CC_ST_REGISTER, a_switch},
        },
    [CC_ST_SYNC] =
        {
            [CC_EV_TICK] = {true, CC_ST_SYNC, a_sync_tick},
            [CC_EV_REG_OK] = {true, CC_ST_SYNC, a_registered},
            [CC_EV_LOST] = {true, CC_ST_REGISTER, a_lost},
            [CC_EV_SNAP_END] = {true, CC_ST_ACTIVE, a_synced},
            [CC_EV_SWITCH] = {true, CC_ST_REGISTER, a_switch},
        },
    [CC_ST_ACTIVE] =
        {
            [CC_EV_TICK] = {true, CC_ST_ACTIVE, a_active_tick},
            [CC_EV_REG_OK] = {true, CC_ST_SYNC, a_registered},
            [CC_EV_LOST] = {true, CC_ST_REGISTER, a_lost},
            [CC_EV_GAP] = {true, CC_ST_SYNC, a_gap},
            [CC_EV_SWITCH] = {true, CC_ST_REGISTER, a_switch},
        },
};

/* The one funnel for state changes: the state is set before the action
 * runs, so the action sees where it leads. */
static void
s_fsm(struct cc *cc, enum cc_event e, const struct cc_ev *ev)
{
    const struct cc_trans *t = &cc_fsm[cc->state][e];
    enum cc_state old = cc->state;

    if (!t->ok) {
        log_debug("node %s: %s in state %s: ignored", cc->node_id,
                  cc_event_names[e], cc_state_names[old]);
        return;
    }
    if (t->next != old)
        log_debug("node %s: %s -> %s (%s)", cc->node_id, cc_state_names[old],
                  cc_state_names[t->next], cc_event_names[e]);
    cc->state = t->next;
    t->act(cc, ev);
}

static void
s_set_away(struct cc *cc, bool away, double now, const char *why)
{
    if (away == cc->away)
        return;
    cc->away = away;
    if (away)
        log_warnx("node %s: coordinator %s %s; working from the replica "
                  "(%zu consoles)",
                  cc->node_id, cc->endpoint, why,
                  smap_count(&cc->rep.consoles));
    else
        log_info("node %s: coordinator %s answering again", cc->node_id,
                 cc->endpoint);
    if (cc->cbs.state)
        cc->cbs.state(cc->arg, cc->state, away, why);
}

static int s_open_socks(struct cc *cc, char *err, size_t errlen);

/* Turn to the pair's other coordinator: new sockets there, Register. */
static void
s_switch(struct cc *cc, double now, const char *why)
{
    struct cc_ev ev = {.now = now};
    char tmp[300], err[256];

    if (cc->alt[0] == '\0')
        return;
    log_warnx("node %s: coordinator %s %s: turning to %s", cc->node_id,
              cc->endpoint, why, cc->alt);
    snprintf(tmp, sizeof(tmp), "%s", cc->endpoint);
    snprintf(cc->endpoint, sizeof(cc->endpoint), "%s", cc->alt);
    snprintf(cc->alt, sizeof(cc->alt), "%s", tmp);
    snprintf(tmp, sizeof(tmp), "%s", cc->pub_endpoint);
    snprintf(cc->pub_endpoint, sizeof(cc->pub_endpoint), "%s", cc->alt_pub);
    snprintf(cc->alt_pub, sizeof(cc->alt_pub), "%s", tmp);
    zev_free(&cc->dealer); /* safe inside its own callback (zev.h) */
    zev_free(&cc->sub);
    if (s_open_socks(cc, err, sizeof(err)) != 0) { /* no fds or memory */
        log_errorx("node %s: coordinator %s: %s (trying again every "
                   "heartbeat)",
                   cc->node_id, cc->endpoint, err);
        zev_free(&cc->dealer);
        zev_free(&cc->sub);
    }
    cc->st.switches++;
    cc->last_switch = now;
    s_fsm(cc, CC_EV_SWITCH, &ev);
}

/* No answer for `silence`: away; one of a pair turns to the other. */
static void
s_silent(struct cc *cc, double now, const char *why)
{
    s_set_away(cc, true, now, why);
    if (cc->alt[0] && now - cc->last_switch > cc->silence)
        s_switch(cc, now, why);
}

static void
s_check_silence(struct cc *cc, double now)
{
    if (now - cc->last_reply > cc->silence)
        s_silent(cc, now, "silent");
}

static void
a_switch(struct cc *cc, const struct cc_ev *ev)
{
    cc->last_reply = ev->now; /* the new one gets `silence` to answer */
    cc->wait_since = 0;
    s_send_register(cc, ev->now);
    if (cc->cbs.state)
        cc->cbs.state(cc->arg, cc->state, cc->away, "turned to the other");
}

static void
a_register_tick(struct cc *cc, const struct cc_ev *ev)
{
    double every =
        cc->hb_ivl * (cc->state == CC_ST_REFUSED ? CC_REFUSED_RETRY : 1);

    if (cc->wait_since > 0 && ev->now - cc->wait_since > cc->silence) {
        s_silent(cc, ev->now, "not answering Register");
        if (cc->state != CC_ST_REGISTER && cc->state != CC_ST_REFUSED)
            return; /* switched */
    }
    /* 0.9: a tick that comes a little early still sends. */
    if (ev->now - cc->last_register >= every * 0.9)
        s_send_register(cc, ev->now);
}

/* Ask for a snapshot; read the update stream only once it is complete. */
static void
s_start_sync(struct cc *cc, double now)
{
    ccr_begin(&cc->rep);
    cc->snap_req++;
    cc->snap_progress = now;
    zev_pause(cc->sub);
    s_send_snapshot_request(cc);
}

static void
s_drop_withdraws(struct cc *cc)
{
    struct cc_wd *w;

    while ((w = TAILQ_FIRST(&cc->wdq)) != NULL) {
        TAILQ_REMOVE(&cc->wdq, w, q);
        smap_del(&cc->wds, &w->hn);
        free(w);
    }
}

static void
s_mark_dirty(struct smap_node *hn, void *arg)
{
    struct cc *cc = arg;
    struct cc_owned *o = smap_entry(hn, struct cc_owned, hn);

    if (!o->dirty) {
        o->dirty = true;
        TAILQ_INSERT_TAIL(&cc->dirty, o, dq);
    }
}

static void
a_registered(struct cc *cc, const struct cc_ev *ev)
{
    uint64_t inc = ev->m->u.reg_reply.incarnation;

    if (inc != cc->coord_inc && cc->coord_inc != 0)
        log_info("node %s: coordinator %s restarted (incarnation %016" PRIx64
                 " -> %016" PRIx64 "): re-announcing %zu consoles",
                 cc->node_id, cc->endpoint, cc->coord_inc, inc,
                 smap_count(&cc->owned));
    else
        log_info("node %s: registered with coordinator %s (incarnation "
                 "%016" PRIx64 "), announcing %zu consoles",
                 cc->node_id, cc->endpoint, inc, smap_count(&cc->owned));
    /* A new coordinator never knew what we withdrew meanwhile. */
    if (inc != cc->coord_inc)
        s_drop_withdraws(cc);
    cc->coord_inc = inc;
    cc->coord_term = ev->m->u.reg_reply.term;
    cc->last_reply = ev->now;
    cc->wait_since = 0;
    cc->refused[0] = '\0';
    cc->st.registrations++;
    s_set_away(cc, false, ev->now, "");
    smap_foreach(&cc->owned, s_mark_dirty, cc);
    s_start_sync(cc, ev->now);
    s_flush(cc);
    if (cc->cbs.state)
        cc->cbs.state(cc->arg, cc->state, false, "registered");
}

static void
a_refused(struct cc *cc, const struct cc_ev *ev)
{
    const char *why = ev->m->u.reg_reply.reason;

    cc->last_reply = ev->now;
    cc->wait_since = 0;
    s_set_away(cc, false, ev->now, "");
    if (strcmp(why, cc->refused) == 0)
        return; /* said already */
    snprintf(cc->refused, sizeof(cc->refused), "%s", why);
    log_errorx("node %s (index %u): REGISTRATION REFUSED by coordinator %s: "
               "%s; this node stays out of the cluster directory until "
               "that is fixed (retrying every %.3g s)",
               cc->node_id, (unsigned)cc->index, cc->endpoint, why,
               cc->hb_ivl * CC_REFUSED_RETRY);
    if (cc->cbs.state)
        cc->cbs.state(cc->arg, cc->state, false, why);
}

static void
a_sync_tick(struct cc *cc, const struct cc_ev *ev)
{
    s_send_heartbeat(cc);
    s_check_silence(cc, ev->now);
    s_flush(cc);
    if (ev->now - cc->snap_progress > cc->silence) {
        log_info("node %s: snapshot stalled for %.1f s: asking again",
                 cc->node_id, ev->now - cc->snap_progress);
        s_start_sync(cc, ev->now);
    }
}

static void
a_synced(struct cc *cc, const struct cc_ev *ev)
{
    const struct wire_snapshot_end *e = &ev->m->u.snapshot_end;

    cc->last_seq = e->seq;
    cc->st.snapshots++;
    if (cc->synced_inc != cc->coord_inc) {
        /* First sync with this incarnation: what it does not list yet may
         * still be re-announced by the other nodes. */
        ccr_new_incarnation(&cc->rep, ev->now + cc->grace);
    }
    cc->synced_inc = cc->coord_inc;
    s_sweep(cc, ev->now);
    if (cc->rep.grace_until > ev->now) {
        double d = cc->rep.grace_until - ev->now;
        struct timeval tv = {(time_t)d,
                             (suseconds_t)((d - (double)(time_t)d) * 1e6)};

        evtimer_add(cc->sweep_ev, &tv);
    }
    log_info("node %s: directory in sync: %zu consoles, %zu nodes, seq "
             "%" PRIu64,
             cc->node_id, smap_count(&cc->rep.consoles),
             smap_count(&cc->rep.nodes), e->seq);
    zev_resume(cc->sub);
    if (cc->cbs.state)
        cc->cbs.state(cc->arg, cc->state, cc->away, "in sync");
}

static void
a_active_tick(struct cc *cc, const struct cc_ev *ev)
{
    s_send_heartbeat(cc);
    s_check_silence(cc, ev->now);
    s_flush(cc);
}

static void
a_lost(struct cc *cc, const struct cc_ev *ev)
{
    const struct wire_heartbeat_reply *r = &ev->m->u.heartbeat_reply;

    if (r->incarnation != cc->coord_inc)
        log_info("node %s: coordinator %s has a new incarnation "
                 "(%016" PRIx64 "): registering again",
                 cc->node_id, cc->endpoint, r->incarnation);
    else
        log_info("node %s: coordinator %s no longer lists this node as "
                 "alive: registering again",
                 cc->node_id, cc->endpoint);
    cc->last_reply = ev->now;
    cc->wait_since = 0;
    zev_pause(cc->sub);
    s_send_register(cc, ev->now);
    if (cc->cbs.state)
        cc->cbs.state(cc->arg, cc->state, cc->away, "registering again");
}

static void
a_gap(struct cc *cc, const struct cc_ev *ev)
{
    cc->st.gaps++;
    log_info("node %s: directory updates lost after seq %" PRIu64
             ": new snapshot",
             cc->node_id, cc->last_seq);
    s_start_sync(cc, ev->now);
}

static void
s_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cc *cc = arg;
    struct cc_ev ev = {.now = clock_now()};

    if (cc->dealer == NULL || cc->sub == NULL) { /* a failed switch */
        char err[256];

        zev_free(&cc->dealer);
        zev_free(&cc->sub);
        if (s_open_socks(cc, err, sizeof(err)) != 0) {
            zev_free(&cc->dealer);
            zev_free(&cc->sub);
            return;
        }
        log_info("node %s: sockets to coordinator %s made", cc->node_id,
                 cc->endpoint);
    }

    s_fsm(cc, CC_EV_TICK, &ev);
}

/* ---- receiving ----------------------------------------------------------- */

static void
s_bad(struct cc *cc, const char *sock, const char *detail)
{
    unsigned supp;

    cc->st.bad_messages++;
    if (rlog_allow(&cc->rl, sock, strlen(sock), clock_now(), &supp))
        log_warnx("node %s: bad message on the coordinator's %s socket "
                  "(%s): dropped",
                  cc->node_id, sock, detail);
}

static void
s_dealer_msg(struct zev *z, const struct zev_msg *zm, void *arg)
{
    struct cc *cc = arg;
    struct cc_ev ev = {.now = clock_now()};
    struct wire_msg m;
    char err[256];

    if (zm->total != 1) {
        s_bad(cc, "request", "more than one frame");
        return;
    }
    if (wire_decode(zm->f[0].data, zm->f[0].size, &m, err, sizeof(err)) !=
        WIRE_OK) {
        s_bad(cc, "request", err);
        return;
    }
    ev.m = &m;
    switch (m.type) {
    case WIRE_REGISTER_REPLY:
        if (!m.u.reg_reply.ok) {
            s_fsm(cc, CC_EV_REG_REFUSE, &ev);
        } else if (cc__registered(cc) &&
                   m.u.reg_reply.incarnation == cc->coord_inc) {
            cc->last_reply = ev.now; /* a reply to a Register sent twice */
        } else {
            s_fsm(cc, CC_EV_REG_OK, &ev);
        }
        break;
    case WIRE_HEARTBEAT_REPLY:
        if (!cc__registered(cc))
            break;
        if (!m.u.heartbeat_reply.registered ||
            m.u.heartbeat_reply.incarnation != cc->coord_inc) {
            s_fsm(cc, CC_EV_LOST, &ev);
        } else {
            cc->last_reply = ev.now;
            cc->coord_term = m.u.heartbeat_reply.term;
            s_set_away(cc, false, ev.now, "");
        }
        break;
    case WIRE_NOT_ACTIVE:
        /* The passive one of a pair: the other is (or becomes) active. */
        if (cc->alt[0] && ev.now - cc->last_switch >= cc->hb_ivl)
            s_switch(cc, ev.now, "is not active");
        else if (!cc->alt[0])
            s_bad(cc, "request",
                  "NotActive from a coordinator of a pair: give this node "
                  "both (--coordinator twice)");
        break;
    case WIRE_SNAPSHOT_NODE:
    case WIRE_SNAPSHOT_ENTRY:
        if (cc->state != CC_ST_SYNC)
            break; /* the rest of a snapshot we no longer wait for */
        cc->snap_progress = cc->last_reply = ev.now;
        if (m.type == WIRE_SNAPSHOT_NODE)
            ccr_node(&cc->rep, &m.u.snapshot_node);
        else
            s_apply_console(cc, &m.u.snapshot_entry, ev.now);
        break;
    case WIRE_SNAPSHOT_END:
        if (cc->state != CC_ST_SYNC ||
            m.u.snapshot_end.request_id != cc->snap_req ||
            m.u.snapshot_end.incarnation != cc->coord_inc)
            break;
        cc->last_reply = ev.now;
        s_fsm(cc, CC_EV_SNAP_END, &ev);
        break;
    default:
        s_bad(cc, "request", wire_type_str(m.type));
        break;
    }
}

static void
s_sub_msg(struct zev *z, const struct zev_msg *zm, void *arg)
{
    struct cc *cc = arg;
    struct cc_ev ev = {.now = clock_now()};
    struct wire_msg m;
    const struct wire_update *u = &m.u.update;
    char err[256];

    if (zm->total != 1) {
        s_bad(cc, "update", "more than one frame");
        return;
    }
    if (wire_decode(zm->f[0].data, zm->f[0].size, &m, err, sizeof(err)) !=
        WIRE_OK) {
        s_bad(cc, "update", err);
        return;
    }
    if (cc->state != CC_ST_ACTIVE)
        return; /* read only when in sync */
    ev.m = &m;
    if (m.type == WIRE_HUGZ) {
        if (m.u.hugz.incarnation == cc->coord_inc &&
            m.u.hugz.seq > cc->last_seq)
            s_fsm(cc, CC_EV_GAP, &ev);
        return;
    }
    if (m.type != WIRE_UPDATE) {
        s_bad(cc, "update", wire_type_str(m.type));
        return;
    }
    /* Another incarnation's: a restart is noticed by the heartbeat. */
    if (u->incarnation != cc->coord_inc || u->seq <= cc->last_seq)
        return;
    if (u->seq != cc->last_seq + 1) {
        s_fsm(cc, CC_EV_GAP, &ev);
        return;
    }
    cc->last_seq = u->seq;
    switch (u->change) {
    case WIRE_CHANGE_UPSERT:
        s_apply_console(cc, &u->u.upsert, ev.now);
        break;
    case WIRE_CHANGE_REMOVED:
        ccr_removed(&cc->rep, &u->u.removed);
        break;
    case WIRE_CHANGE_NODE:
        ccr_node(&cc->rep, &u->u.node);
        break;
    }
}

/* ---- API ----------------------------------------------------------------- */

static double
s_or(double v, double def)
{
    return v > 0 ? v : def;
}

static void *
s_socket(struct cc *cc, int type, const char *ep, char *err, size_t errlen)
{
    void *s = zmq_socket(cc->zctx, type);
    int one = 1, ivl = 100, ivl_max = 1000;
    int hwm = type == ZMQ_SUB ? CC_SUB_HWM : CC_DEALER_HWM;
    int64_t maxsz = WIRE_MAX_MSG + 1024;

    if (s == NULL) {
        snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
        return NULL;
    }
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxsz, sizeof(maxsz));
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max));
    if (type == ZMQ_DEALER)
        zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof(one));
    else
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (zc_client(s, &cc->curve) != 0) {
        snprintf(err, errlen, "CURVE options: %s", zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    if (zmq_connect(s, ep) != 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", ep,
                 zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* The DEALER and the SUB to the current coordinator (SUB paused). */
static int
s_open_socks(struct cc *cc, char *err, size_t errlen)
{
    void *s;

    if ((s = s_socket(cc, ZMQ_SUB, cc->pub_endpoint, err, errlen)) == NULL)
        return -1;
    if ((cc->sub = zev_new(cc->base, s, s_sub_msg, cc)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    zev_pause(cc->sub); /* read once in sync */
    if ((s = s_socket(cc, ZMQ_DEALER, cc->endpoint, err, errlen)) == NULL)
        return -1;
    if ((cc->dealer = zev_new(cc->base, s, s_dealer_msg, cc)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

struct cc *
cc_new(struct event_base *base, void *zctx, const struct cc_config *cfg,
       const struct cc_callbacks *cbs, void *arg, char *err, size_t errlen)
{
    struct cc *cc;
    struct timeval tv;

    if (cfg->endpoint == NULL || cfg->node_id == NULL ||
        !wire_valid_node_id(cfg->node_id) || cfg->peer_addr == NULL ||
        !wire_valid_addr(cfg->peer_addr)) {
        snprintf(err, errlen,
                 "coordinator client: endpoint, node id (1-63 "
                 "printable characters) and peer address "
                 "(host:port) are required");
        return NULL;
    }
    if ((cc = calloc(1, sizeof(*cc))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cc->base = base;
    snprintf(cc->endpoint, sizeof(cc->endpoint), "%s", cfg->endpoint);
    if (cfg->pub_endpoint)
        snprintf(cc->pub_endpoint, sizeof(cc->pub_endpoint), "%s",
                 cfg->pub_endpoint);
    else if (zev_endpoint_port_add(cfg->endpoint, 1, cc->pub_endpoint,
                                   sizeof(cc->pub_endpoint)) != 0) {
        snprintf(err, errlen,
                 "bad coordinator endpoint %s (want "
                 "tcp://HOST:PORT)",
                 cfg->endpoint);
        free(cc);
        return NULL;
    }
    if (cfg->endpoint2 &&
        (snprintf(cc->alt, sizeof(cc->alt), "%s", cfg->endpoint2) < 0 ||
         zev_endpoint_port_add(cfg->endpoint2, 1, cc->alt_pub,
                               sizeof(cc->alt_pub)) != 0)) {
        snprintf(err, errlen, "bad coordinator endpoint %s", cfg->endpoint2);
        free(cc);
        return NULL;
    }
    snprintf(cc->node_id, sizeof(cc->node_id), "%s", cfg->node_id);
    snprintf(cc->peer_addr, sizeof(cc->peer_addr), "%s", cfg->peer_addr);
    cc->index = cfg->node_index;
    if (cfg->curve)
        cc->curve = *cfg->curve;
    cc->hb_ivl = s_or(cfg->heartbeat_ivl, 1.0);
    cc->silence = s_or(cfg->silence, 3 * cc->hb_ivl);
    cc->grace = s_or(cfg->resync_grace, 5.0);
    cc->max_owned = cfg->max_owned ? cfg->max_owned : 100000;
    cc->max_replica = cfg->max_replica ? cfg->max_replica : 1000000;
    cc->inc = cfg->incarnation ? cfg->incarnation : random_u64();
    if (cbs)
        cc->cbs = *cbs;
    cc->arg = arg;
    TAILQ_INIT(&cc->dirty);
    TAILQ_INIT(&cc->wdq);
    rlog_init(&cc->rl, 1.0);
    if (ccr_init(&cc->rep, cc->max_replica, cc->node_id, &cc->cbs, arg) != 0 ||
        smap_init(&cc->owned) != 0 || smap_init(&cc->wds) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    cc->zctx = zctx;
    if (zctx == NULL) {
        if ((cc->zctx = zmq_ctx_new()) == NULL) {
            snprintf(err, errlen, "cannot create a ZeroMQ context");
            goto fail;
        }
        cc->own_ctx = true;
    }
    if (s_open_socks(cc, err, errlen) != 0)
        goto fail;
    tv.tv_sec = (time_t)cc->hb_ivl;
    tv.tv_usec = (suseconds_t)((cc->hb_ivl - (double)tv.tv_sec) * 1e6);
    if ((cc->tick = event_new(base, -1, EV_PERSIST, s_tick_cb, cc)) == NULL ||
        event_add(cc->tick, &tv) != 0 ||
        (cc->flush_ev = evtimer_new(base, s_flush_cb, cc)) == NULL ||
        (cc->sweep_ev = evtimer_new(base, s_sweep_cb, cc)) == NULL)
        goto nomem;
    cc->state = CC_ST_REGISTER;
    cc->last_reply = clock_now();
    s_send_register(cc, cc->last_reply);
    return cc;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    cc_free(&cc);
    return NULL;
}

static void
s_free_entry(struct smap_node *hn, void *arg)
{
    struct smap *m = arg;

    smap_del(m, hn);
    /* Every entry type starts with its smap_node. */
    free(hn);
}

void
cc_free(struct cc **ccp)
{
    struct cc *cc = *ccp;

    if (cc == NULL)
        return;
    *ccp = NULL;
    zev_free(&cc->dealer);
    zev_free(&cc->sub);
    if (cc->tick)
        event_free(cc->tick);
    if (cc->flush_ev)
        event_free(cc->flush_ev);
    if (cc->sweep_ev)
        event_free(cc->sweep_ev);
    if (cc->own_ctx)
        zmq_ctx_term(cc->zctx);
    ccr_fini(&cc->rep);
    if (cc->owned.buckets) {
        smap_foreach(&cc->owned, s_free_entry, &cc->owned);
        smap_fini(&cc->owned);
    }
    if (cc->wds.buckets) {
        smap_foreach(&cc->wds, s_free_entry, &cc->wds);
        smap_fini(&cc->wds);
    }
    free(cc);
}
