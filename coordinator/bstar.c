/* bstar.c: see bstar.h. */
#include "vspc/compat.h"
#include "bstar.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <zmq.h>

#include "vspc/clock.h"
#include "vspc/log.h"
#include "vspc/zcurve.h"
#include "vspc/zev.h"
#include "wire.h"

/* The peer is dead after this many heartbeats without its state. */
#define BS_PEER_MISSES 2

enum bs_event {
    BS_EV_PEER_PRIMARY,
    BS_EV_PEER_BACKUP,
    BS_EV_PEER_ACTIVE,
    BS_EV_PEER_PASSIVE,
    BS_EV_CLIENT, /* a node's request */
    BS_EV__COUNT
};

enum bs_action {
    A_NONE,
    A_SERVE,        /* a request: serve it */
    A_VOTE,         /* a request: ACTIVE if the peer is silent, else reject */
    A_ACTIVE,       /* become ACTIVE with a fresh directory */
    A_ACTIVE_KEEP,  /* become ACTIVE keeping what a starting primary has */
    A_PASSIVE,      /* become PASSIVE, dropping any directory */
    A_DUAL_ACTIVE,  /* two actives: the lower term yields */
    A_DUAL_PASSIVE, /* two passives: the primary takes over */
    A_WARN,         /* a misconfiguration: say so, stay */
};

struct bs_trans {
    enum bs_action a;
    const char *why;
};

/* The whole state machine (bstar.h has the rules in words). */
static const struct bs_trans bs_table[BS__COUNT][BS_EV__COUNT] = {
    [BS_PRIMARY] =
        {
            [BS_EV_PEER_PRIMARY] = {A_WARN, "the peer is a primary too: "
                                            "one of the pair must be "
                                            "--backup"},
            [BS_EV_PEER_BACKUP] = {A_ACTIVE_KEEP, "backup connected"},
            [BS_EV_PEER_ACTIVE] = {A_PASSIVE, "the backup is active"},
            [BS_EV_PEER_PASSIVE] = {A_ACTIVE_KEEP, "the backup is passive"},
            [BS_EV_CLIENT] = {A_SERVE, NULL},
        },
    [BS_BACKUP] =
        {
            [BS_EV_PEER_PRIMARY] = {A_NONE, NULL},
            [BS_EV_PEER_BACKUP] = {A_WARN, "the peer is a backup too: one "
                                           "of the pair must be --primary"},
            [BS_EV_PEER_ACTIVE] = {A_PASSIVE, "the primary is active"},
            [BS_EV_PEER_PASSIVE] = {A_ACTIVE, "the primary is passive"},
            [BS_EV_CLIENT] = {A_VOTE, NULL},
        },
    [BS_ACTIVE] =
        {
            [BS_EV_PEER_PRIMARY] = {A_NONE, NULL},
            [BS_EV_PEER_BACKUP] = {A_NONE, NULL},
            [BS_EV_PEER_ACTIVE] = {A_DUAL_ACTIVE, NULL},
            [BS_EV_PEER_PASSIVE] = {A_NONE, NULL},
            [BS_EV_CLIENT] = {A_SERVE, NULL},
        },
    [BS_PASSIVE] =
        {
            [BS_EV_PEER_PRIMARY] = {A_ACTIVE, "the primary is restarting"},
            [BS_EV_PEER_BACKUP] = {A_ACTIVE, "the backup is restarting"},
            [BS_EV_PEER_ACTIVE] = {A_NONE, NULL},
            [BS_EV_PEER_PASSIVE] = {A_DUAL_PASSIVE, NULL},
            [BS_EV_CLIENT] = {A_VOTE, NULL},
        },
};

static const char *const bs_state_names[BS__COUNT] = {
    [BS_PRIMARY] = "primary (starting)",
    [BS_BACKUP] = "backup (starting)",
    [BS_ACTIVE] = "active",
    [BS_PASSIVE] = "passive",
};

struct bstar {
    struct event_base *base;
    void *zctx;
    struct bs_cfg cfg;
    struct bs_hooks hooks;
    struct zev *pub, *sub;
    struct event *tick;
    enum bs_state state;
    uint64_t term, peer_term;
    enum bs_state peer_state;
    bool peer_heard;
    double peer_expiry; /* the peer is dead from then on */
    double last_warn;
    struct bs_stats st;
};

const char *
bs_state_str(enum bs_state st)
{
    return (unsigned)st < BS__COUNT ? bs_state_names[st] : "?";
}

enum bs_state
bs_state(const struct bstar *b)
{
    return b->state;
}

uint64_t
bs_term(const struct bstar *b)
{
    return b->term;
}

const struct bs_stats *
bs_stats(const struct bstar *b)
{
    return &b->st;
}

static void
bs_publish(struct bstar *b)
{
    struct wire_msg m;
    struct zev_frame f;
    uint8_t *buf;
    size_t len;
    char err[128];

    memset(&m, 0, sizeof(m));
    m.type = WIRE_BSTAR;
    m.u.bstar.state = b->state == BS_PRIMARY  ? WIRE_BS_PRIMARY
                      : b->state == BS_BACKUP ? WIRE_BS_BACKUP
                      : b->state == BS_ACTIVE ? WIRE_BS_ACTIVE
                                              : WIRE_BS_PASSIVE;
    m.u.bstar.term = b->term;
    m.u.bstar.incarnation =
        b->hooks.incarnation ? b->hooks.incarnation(b->hooks.arg) : 0;
    if (wire_encode(&m, &buf, &len, err, sizeof(err)) != WIRE_OK) {
        log_errorx("bstar: cannot encode our state: %s", err);
        return;
    }
    f = (struct zev_frame){buf, len};
    (void)zev_send(b->pub, &f, 1); /* a PUB drops when nobody listens */
    free(buf);
}

static void
bs_become(struct bstar *b, enum bs_state to, const char *why)
{
    enum bs_state from = b->state;

    if (to == BS_ACTIVE)
        b->term = (b->term > b->peer_term ? b->term : b->peer_term) + 1;
    b->state = to;
    log_warnx("bstar: %s -> %s (%s), term %" PRIu64, bs_state_str(from),
              bs_state_str(to), why, b->term);
    bs_publish(b); /* tell the peer at once */
}

/* Run event e; for BS_EV_CLIENT returns whether the request is served. */
static bool
bs_run(struct bstar *b, enum bs_event e, double now)
{
    const struct bs_trans *t = &bs_table[b->state][e];

    switch (t->a) {
    case A_NONE:
        return false;
    case A_SERVE:
        return true;
    case A_VOTE:
        if (now < b->peer_expiry) {
            b->st.rejected++;
            return false;
        }
        b->st.failovers++;
        bs_become(b, BS_ACTIVE,
                  b->peer_heard ? "failover: the peer went silent and a node "
                                  "asked"
                                : "the peer was never heard and a node asked");
        if (b->hooks.activated)
            b->hooks.activated(b->hooks.arg, b->term, true);
        return true;
    case A_ACTIVE:
    case A_ACTIVE_KEEP:
        bs_become(b, BS_ACTIVE, t->why);
        if (b->hooks.activated)
            b->hooks.activated(b->hooks.arg, b->term, t->a == A_ACTIVE);
        return false;
    case A_PASSIVE:
        bs_become(b, BS_PASSIVE, t->why);
        if (b->hooks.deactivated)
            b->hooks.deactivated(b->hooks.arg, t->why);
        return false;
    case A_DUAL_ACTIVE:
        b->st.dual_active++;
        if (b->peer_term > b->term ||
            (b->peer_term == b->term && !b->cfg.primary)) {
            log_errorx("bstar: TWO ACTIVE COORDINATORS (ours term %" PRIu64
                       ", the peer's %" PRIu64 "): this one yields",
                       b->term, b->peer_term);
            bs_become(b, BS_PASSIVE, "two actives: the peer's term wins");
            if (b->hooks.deactivated)
                b->hooks.deactivated(b->hooks.arg, "two actives");
        } else if (now - b->last_warn >= 1) {
            b->last_warn = now;
            log_errorx("bstar: TWO ACTIVE COORDINATORS (ours term %" PRIu64
                       ", the peer's %" PRIu64 "): the peer must yield",
                       b->term, b->peer_term);
        }
        return false;
    case A_DUAL_PASSIVE:
        if (b->cfg.primary) {
            log_errorx("bstar: both coordinators passive: the primary takes "
                       "over");
            bs_become(b, BS_ACTIVE, "two passives");
            if (b->hooks.activated)
                b->hooks.activated(b->hooks.arg, b->term, true);
        }
        return false;
    case A_WARN:
        if (now - b->last_warn >= 5) {
            b->last_warn = now;
            log_errorx("bstar: %s", t->why);
        }
        return false;
    }
    return false;
}

bool
bs_serving(struct bstar *b, double now)
{
    return bs_run(b, BS_EV_CLIENT, now);
}

static void
bs_sub_msg(struct zev *z, const struct zev_msg *zm, void *arg)
{
    struct bstar *b = arg;
    double now = clock_now();
    struct wire_msg m;
    char err[160];
    enum bs_event e;

    (void)z;
    if (zm->total != 1 ||
        wire_decode(zm->f[0].data, zm->f[0].size, &m, err, sizeof(err)) !=
            WIRE_OK ||
        m.type != WIRE_BSTAR) {
        if (now - b->last_warn >= 1) {
            b->last_warn = now;
            log_warnx("bstar: a message from the peer's HA port that is not "
                      "its state: dropped");
        }
        return;
    }
    b->st.heard++;
    b->peer_heard = true;
    b->peer_expiry = now + BS_PEER_MISSES * b->cfg.heartbeat;
    if (m.u.bstar.term > b->peer_term)
        b->peer_term = m.u.bstar.term;
    switch (m.u.bstar.state) {
    case WIRE_BS_PRIMARY:
        e = BS_EV_PEER_PRIMARY;
        break;
    case WIRE_BS_BACKUP:
        e = BS_EV_PEER_BACKUP;
        break;
    case WIRE_BS_ACTIVE:
        e = BS_EV_PEER_ACTIVE;
        break;
    case WIRE_BS_PASSIVE:
    default:
        e = BS_EV_PEER_PASSIVE;
        break;
    }
    (void)bs_run(b, e, now);
}

/* A PUB receives nothing: never called. */
static void
bs_pub_msg(struct zev *z, const struct zev_msg *zm, void *arg)
{
    (void)z;
    (void)zm;
    (void)arg;
}

static void
bs_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bs_publish(arg);
}

static void *
bs_socket(struct bstar *b, int type, char *err, size_t errlen)
{
    void *s = zmq_socket(b->zctx, type);
    int linger = 0;
    int64_t maxmsg = 4096; /* a state is a few dozen bytes */

    if (s == NULL) {
        snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
        return NULL;
    }
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
    return s;
}

struct bstar *
bs_new(struct event_base *base, void *zctx, const struct bs_cfg *cfg,
       const struct bs_hooks *hooks, char *err, size_t errlen)
{
    struct bstar *b = calloc(1, sizeof(*b));
    double hb = cfg->heartbeat > 0 ? cfg->heartbeat : 1.0;
    struct timeval tv = {(time_t)hb, (suseconds_t)((hb - (time_t)hb) * 1e6)};
    void *pub = NULL, *sub = NULL;

    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->base = base;
    b->zctx = zctx;
    b->cfg = *cfg;
    b->cfg.heartbeat = hb;
    b->hooks = *hooks;
    b->state = cfg->primary ? BS_PRIMARY : BS_BACKUP;
    /* A starting backup gives the primary this long to be heard. */
    b->peer_expiry = clock_now() + BS_PEER_MISSES * hb;
    if ((pub = bs_socket(b, ZMQ_PUB, err, errlen)) == NULL ||
        (sub = bs_socket(b, ZMQ_SUB, err, errlen)) == NULL)
        goto fail;
    if (cfg->curve && cfg->curve->on) {
        struct zc_keys k = *cfg->curve;

        memcpy(k.server, k.public_, sizeof(k.server)); /* the pair's key */
        if (zc_server(pub, &k) != 0 || zc_client(sub, &k) != 0) {
            snprintf(err, errlen, "CURVE options: %s", zmq_strerror(errno));
            goto fail;
        }
    }
    if (zmq_bind(pub, cfg->ha_bind) != 0) {
        snprintf(err, errlen, "cannot bind the HA port %s: %s", cfg->ha_bind,
                 zmq_strerror(errno));
        goto fail;
    }
    if (zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0) != 0 ||
        zmq_connect(sub, cfg->peer_ha) != 0) {
        snprintf(err, errlen, "cannot connect to the peer's HA port %s: %s",
                 cfg->peer_ha, zmq_strerror(errno));
        goto fail;
    }
    b->pub = zev_new(base, pub, bs_pub_msg, b);
    pub = NULL; /* zev_new owns it now, or closed it */
    b->sub = zev_new(base, sub, bs_sub_msg, b);
    sub = NULL;
    if (b->pub == NULL || b->sub == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if ((b->tick = event_new(base, -1, EV_PERSIST, bs_tick_cb, b)) == NULL ||
        event_add(b->tick, &tv) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    log_info("bstar: %s, HA port %s, peer %s, heartbeat %.3g s",
             bs_state_str(b->state), cfg->ha_bind, cfg->peer_ha, hb);
    return b;
fail:
    if (pub)
        zmq_close(pub);
    if (sub)
        zmq_close(sub);
    bs_free(&b);
    return NULL;
}

void
bs_free(struct bstar **bp)
{
    struct bstar *b = *bp;

    if (b == NULL)
        return;
    *bp = NULL;
    if (b->tick)
        event_free(b->tick);
    zev_free(&b->sub);
    zev_free(&b->pub);
    free(b);
}
