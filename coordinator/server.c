/*
 * server.c: the coordinator's sockets, message dispatch and timers
 * (srv_). See server.h for the ports; directory.c has the rules,
 * snapshot.c the snapshots.
 */
#include "vspc/compat.h"
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <zmq.h>

#include "vspc/clock.h"
#include "vspc/log.h"
#include "vspc/random.h"
#include "vspc/ratelog.h"
#include "vspc/zcurve.h"
#include "vspc/zev.h"
#include "bstar.h"
#include "snapshot.h"
#include "wire.h"

/* Inbound frames up to this are received and judged by wire_ (with a log
 * line); a larger one makes libzmq close the connection before any
 * memory is spent on it. */
#define SRV_MAXMSGSIZE (1024 * 1024)
#define SRV_ROUTER_HWM 20000 /* messages queued per node (snapshots) */
#define SRV_PUB_HWM 100000   /* updates queued per subscriber */
#define SRV_BAD_INTERVAL 1.0 /* bad-message lines per peer per second */

enum srv_port { PORT_REQ, PORT_PUB, PORT__COUNT };
static const char *const srv_port_names[PORT__COUNT] = {"request", "update"};

struct srv_stats {
    uint64_t in[WIRE_TYPE__COUNT]; /* accepted, by type */
    uint64_t bad[WIRE_ERR__COUNT]; /* decode rejections, by -reason */
    uint64_t bad_frames;           /* wrong frame count */
    uint64_t unexpected;           /* a valid message the port never takes */
    uint64_t reply_failed;         /* reply dropped: would block, peer gone */
    uint64_t published, publish_failed;
    uint64_t handshake_failed;
    uint64_t snapshots, snapshots_refused;
};

struct srv {
    struct event_base *base;
    void *zctx;
    const struct zc_keys *curve; /* the caller's (srv_cfg), or NULL */
    char endpoint[PORT__COUNT][300];
    struct zev *sock[PORT__COUNT];
    struct zev *mon[PORT__COUNT]; /* socket monitors (PAIR) */
    struct dir dir;
    bool dir_ok;
    struct snap *snap;
    struct event *tick;
    double hugz_ivl, last_hugz;
    struct bstar *bs;   /* one of a pair, or NULL */
    struct rlog rl_bad; /* per peer */
    struct srv_stats stats;
};

/* ---- helpers ------------------------------------------------------------- */

static void
s_hex(const void *p, size_t n, char *out, size_t cap)
{
    static const char hx[] = "0123456789abcdef";
    const uint8_t *b = p;
    size_t o = 0;

    for (size_t i = 0; i < n && o + 3 <= cap; i++) {
        out[o++] = hx[b[i] >> 4];
        out[o++] = hx[b[i] & 15];
    }
    out[o < cap ? o : cap - 1] = '\0';
}

/*
 * A bad message from a peer: one line per peer (key) per second at most,
 * saying how many were suppressed since the previous line. who names the
 * peer in the line.
 */
static void VSPC_PRINTF(6, 7)
    s_bad_line(struct srv *s, enum srv_port port, const void *key,
               size_t keylen, const char *who, const char *fmt, ...)
{
    unsigned supp = 0;
    char msg[512];
    va_list ap;

    if (!rlog_allow(&s->rl_bad, key, keylen, clock_now(), &supp))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_warnx("%s port: %s: %s", srv_port_names[port], who, msg);
    if (supp)
        log_warnx("%s port: %s: %u more in the last second (not logged)",
                  srv_port_names[port], who, supp);
}

/* "peer IP (id HEX)" for a request-port peer, "peer IP" otherwise. */
static const char *
s_who(enum srv_port port, const void *rid, size_t ridlen, const char *peer,
      char *out, size_t cap)
{
    char hex[2 * 16 + 1];

    if (port == PORT_REQ) {
        s_hex(rid, ridlen < 16 ? ridlen : 16, hex, sizeof(hex));
        snprintf(out, cap, "peer %s (id %s)", peer ? peer : "?", hex);
    } else {
        snprintf(out, cap, "peer %s", peer ? peer : "?");
    }
    return out;
}

/* Encode m and send it as frames [prefix] body on z. 0 or -1 (errno). */
static int
s_send(struct srv *s, struct zev *z, const void *rid, size_t ridlen,
       const struct wire_msg *m)
{
    struct zev_frame f[2];
    char err[256];
    uint8_t *buf;
    size_t len, n = 0;
    int rc, saved;

    if (wire_encode(m, &buf, &len, err, sizeof(err)) != WIRE_OK) {
        /* Our own message: a bug, not a peer's fault. */
        log_errorx("cannot encode %s: %s", wire_type_str(m->type), err);
        errno = EINVAL;
        return -1;
    }
    if (rid)
        f[n++] = (struct zev_frame){rid, ridlen};
    f[n++] = (struct zev_frame){buf, len};
    rc = zev_send(z, f, n);
    saved = errno;
    free(buf);
    errno = saved;
    return rc;
}

static void
s_reply(struct srv *s, const struct zev_frame *rid, const struct wire_msg *m)
{
    if (s_send(s, s->sock[PORT_REQ], rid->data, rid->size, m) != 0) {
        s->stats.reply_failed++;
        log_debug("%s reply not sent: %s", wire_type_str(m->type),
                  strerror(errno));
    }
}

/* ---- publishing ---------------------------------------------------------- */

static void
s_publish_cb(const struct wire_update *u, void *arg)
{
    struct srv *s = arg;
    struct wire_msg m;

    memset(&m, 0, sizeof(m));
    m.type = WIRE_UPDATE;
    m.u.update = *u;
    /* An XPUB drops at its high-water mark instead of refusing: a node
     * that misses an update sees the gap in the sequence and asks for a
     * new snapshot. */
    if (s_send(s, s->sock[PORT_PUB], NULL, 0, &m) != 0) {
        s->stats.publish_failed++;
        log_debug("update %" PRIu64 " not published: %s", u->seq,
                  strerror(errno));
    } else {
        s->stats.published++;
    }
}

static void
s_hugz(struct srv *s, double now)
{
    struct wire_msg m;

    memset(&m, 0, sizeof(m));
    m.type = WIRE_HUGZ;
    m.u.hugz.seq = s->dir.seq;
    m.u.hugz.incarnation = s->dir.incarnation;
    if (s_send(s, s->sock[PORT_PUB], NULL, 0, &m) != 0)
        s->stats.publish_failed++;
    s->last_hugz = now;
}

static int
s_snap_send(const uint8_t *rid, size_t ridlen, const struct wire_msg *m,
            void *arg)
{
    struct srv *s = arg;

    return s_send(s, s->sock[PORT_REQ], rid, ridlen, m);
}

/* ---- the request port ---------------------------------------------------- */

static void
s_on_register(struct srv *s, const struct zev_frame *rid,
              const struct wire_register *r, double now)
{
    struct wire_msg reply;
    enum dir_result res;

    memset(&reply, 0, sizeof(reply));
    reply.type = WIRE_REGISTER_REPLY;
    res = dir_register(&s->dir, r, now, reply.u.reg_reply.reason,
                       sizeof(reply.u.reg_reply.reason));
    reply.u.reg_reply.ok = res == DIR_APPLIED;
    reply.u.reg_reply.incarnation = s->dir.incarnation;
    reply.u.reg_reply.term = s->bs ? bs_term(s->bs) : 0;
    s_reply(s, rid, &reply);
}

static void
s_on_heartbeat(struct srv *s, const struct zev_frame *rid,
               const struct wire_heartbeat *h, double now)
{
    struct wire_msg reply;

    memset(&reply, 0, sizeof(reply));
    reply.type = WIRE_HEARTBEAT_REPLY;
    reply.u.heartbeat_reply.incarnation = s->dir.incarnation;
    reply.u.heartbeat_reply.registered = dir_heartbeat(&s->dir, h, now);
    reply.u.heartbeat_reply.term = s->bs ? bs_term(s->bs) : 0;
    s_reply(s, rid, &reply);
}

/* What a node sends on the request port (a passive one answers NotActive;
 * anything else is dropped below as unexpected). */
static bool
s_is_request(enum wire_type t)
{
    switch (t) {
    case WIRE_REGISTER:
    case WIRE_HEARTBEAT:
    case WIRE_ANNOUNCE:
    case WIRE_WITHDRAW:
    case WIRE_SNAPSHOT_REQUEST:
        return true;
    default:
        return false;
    }
}

/* Not the active one of the pair: the node turns to the other. */
static void
s_not_active(struct srv *s, const struct zev_frame *rid)
{
    struct wire_msg reply;

    memset(&reply, 0, sizeof(reply));
    reply.type = WIRE_NOT_ACTIVE;
    reply.u.not_active.term = bs_term(s->bs);
    snprintf(reply.u.not_active.reason, sizeof(reply.u.not_active.reason),
             "this coordinator is %s", bs_state_str(bs_state(s->bs)));
    s_reply(s, rid, &reply);
}

static void
s_req_msg(struct zev *z, const struct zev_msg *zm, void *arg)
{
    struct srv *s = arg;
    const struct zev_frame *rid = &zm->f[0];
    double now = clock_now();
    struct wire_msg m;
    char err[256], who[128];
    int rc;

    if (zm->total != 2 || zm->n != 2) {
        s->stats.bad_frames++;
        s_bad_line(
            s, PORT_REQ, rid->data, rid->size,
            s_who(PORT_REQ, rid->data, rid->size, zm->peer, who, sizeof(who)),
            "message of %zu frames after the routing id (want 1): "
            "dropped",
            zm->total > 0 ? zm->total - 1 : 0);
        return;
    }
    rc = wire_decode(zm->f[1].data, zm->f[1].size, &m, err, sizeof(err));
    if (rc != WIRE_OK) {
        s->stats.bad[-rc]++;
        s_bad_line(
            s, PORT_REQ, rid->data, rid->size,
            s_who(PORT_REQ, rid->data, rid->size, zm->peer, who, sizeof(who)),
            "bad message (%s): dropped", err);
        return;
    }
    s->stats.in[m.type]++;
    if (s->bs && s_is_request(m.type) && !bs_serving(s->bs, now)) {
        s_not_active(s, rid);
        return;
    }
    switch (m.type) {
    case WIRE_REGISTER:
        s_on_register(s, rid, &m.u.reg, now);
        break;
    case WIRE_HEARTBEAT:
        s_on_heartbeat(s, rid, &m.u.heartbeat, now);
        break;
    case WIRE_ANNOUNCE:
        dir_announce(&s->dir, &m.u.announce, now);
        break;
    case WIRE_WITHDRAW:
        dir_withdraw(&s->dir, &m.u.withdraw, now);
        break;
    case WIRE_SNAPSHOT_REQUEST:
        if (snap_request(s->snap, rid->data, rid->size,
                         m.u.snapshot_request.request_id) == 0) {
            s->stats.snapshots++;
        } else {
            s->stats.snapshots_refused++;
            s_bad_line(s, PORT_REQ, rid->data, rid->size,
                       s_who(PORT_REQ, rid->data, rid->size, zm->peer, who,
                             sizeof(who)),
                       "snapshot refused: %zu in progress (it will retry)",
                       snap_active(s->snap));
        }
        break;
    default:
        s->stats.unexpected++;
        s_bad_line(
            s, PORT_REQ, rid->data, rid->size,
            s_who(PORT_REQ, rid->data, rid->size, zm->peer, who, sizeof(who)),
            "unexpected %s message (only the coordinator sends "
            "those): dropped",
            wire_type_str(m.type));
        break;
    }
}

/* ---- the update port ----------------------------------------------------- */

static void
s_pub_msg(struct zev *z, const struct zev_msg *zm, void *arg)
{
    struct srv *s = arg;
    const struct zev_frame *f = &zm->f[0];
    const uint8_t *b = f->data;
    const char *peer = zm->peer ? zm->peer : "?";
    struct wire_msg m;
    char err[256], who[128];
    int rc;

    /* (Un)subscriptions: a first byte 1 or 0, one frame. */
    if (zm->total == 1 && f->size >= 1 && (b[0] == 1 || b[0] == 0)) {
        log_debug("update port: peer %s %s (%zu-byte prefix)", peer,
                  b[0] ? "subscribed" : "unsubscribed", f->size - 1);
        return;
    }
    s->stats.unexpected++;
    rc = wire_decode(f->data, f->size, &m, err, sizeof(err));
    if (rc != WIRE_OK)
        s->stats.bad[-rc]++;
    s_bad_line(s, PORT_PUB, peer, strlen(peer),
               s_who(PORT_PUB, NULL, 0, peer, who, sizeof(who)),
               "a %zu-frame message of %zu bytes where only subscriptions "
               "are taken (%s): dropped",
               zm->total, f->size, rc == WIRE_OK ? "a valid message" : err);
}

/* ---- socket monitors ----------------------------------------------------- */

static void
s_mon_msg(struct zev *z, const struct zev_msg *zm, void *arg)
{
    struct srv *s = arg;
    enum srv_port port = z == s->mon[PORT_REQ] ? PORT_REQ : PORT_PUB;
    uint16_t event;
    uint32_t value;
    char addr[128] = "?", detail[96];

    /* libzmq 4.x monitor messages: [u16 event, u32 value] [endpoint]. */
    if (zm->n < 1 || zm->f[0].size < 6)
        return;
    memcpy(&event, zm->f[0].data, 2);
    memcpy(&value, (const uint8_t *)zm->f[0].data + 2, 4);
    if (zm->n >= 2)
        snprintf(addr, sizeof(addr), "%.*s",
                 (int)(zm->f[1].size < 127 ? zm->f[1].size : 127),
                 (const char *)zm->f[1].data);
    switch (event) {
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        s->stats.handshake_failed++;
        /* NO_DETAIL carries an errno, PROTOCOL a ZMQ_PROTOCOL_ERROR_*. */
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
            snprintf(detail, sizeof(detail), "protocol error 0x%x",
                     (unsigned)value);
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            snprintf(detail, sizeof(detail), "authentication, status %u",
                     (unsigned)value);
        else
            snprintf(detail, sizeof(detail), "%s", strerror((int)value));
        s_bad_line(s, port, srv_port_names[port], strlen(srv_port_names[port]),
                   addr, "a connection failed the ZMTP handshake (%s): closed",
                   detail);
        break;
    case ZMQ_EVENT_ACCEPTED:
        log_debug("%s port: connection accepted on %s", srv_port_names[port],
                  addr);
        break;
    case ZMQ_EVENT_DISCONNECTED:
        log_debug("%s port: connection closed on %s", srv_port_names[port],
                  addr);
        break;
    default:
        break;
    }
}

static int
s_monitor(struct srv *s, enum srv_port port, char *err, size_t errlen)
{
    char ep[96];
    void *pair;

    /* Unique per server and port: several servers may share a context. */
    snprintf(ep, sizeof(ep), "inproc://vspc-coord-mon-%p-%d", (void *)s,
             (int)port);
    if (zmq_socket_monitor(zev_socket(s->sock[port]), ep,
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) !=
            0 ||
        (pair = zmq_socket(s->zctx, ZMQ_PAIR)) == NULL) {
        snprintf(err, errlen, "socket monitor: %s", zmq_strerror(errno));
        return -1;
    }
    if (zmq_connect(pair, ep) != 0) {
        snprintf(err, errlen, "socket monitor: %s", zmq_strerror(errno));
        zmq_close(pair);
        return -1;
    }
    if ((s->mon[port] = zev_new(s->base, pair, s_mon_msg, s)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- timers -------------------------------------------------------------- */

static void
s_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct srv *s = arg;
    double now = clock_now();

    if (s->bs && bs_state(s->bs) != BS_ACTIVE && bs_state(s->bs) != BS_PRIMARY)
        return; /* not serving: no directory to keep or publish */
    /* Requests still unread may hold the heartbeats: behind, we give the
     * nodes one more timeout rather than blame them for our delay. */
    dir_expire(&s->dir, now,
               zev_readable(s->sock[PORT_REQ]) ? s->dir.lim.heartbeat_timeout
                                               : 0);
    if (now - s->last_hugz >= s->hugz_ivl)
        s_hugz(s, now);
}

/* ---- the pair ------------------------------------------------------------ */

/* A fresh, empty directory with a new incarnation: nodes that talk to us
 * register again and re-announce what they hold (directory.h). */
static int
s_reset_dir(struct srv *s, const char *why)
{
    struct dir_limits lim = s->dir.lim;

    snap_free(&s->snap);
    if (s->dir_ok)
        dir_fini(&s->dir);
    s->dir_ok = false;
    if (dir_init(&s->dir, &lim, random_u64(), s_publish_cb, s) != 0)
        return -1;
    s->dir_ok = true;
    if ((s->snap = snap_new(s->base, &s->dir, s->dir.lim.max_nodes + 16,
                            s_snap_send, s)) == NULL)
        return -1;
    log_info("directory: a fresh one, incarnation %016" PRIx64 " (%s)",
             s->dir.incarnation, why);
    return 0;
}

static void
s_bs_activated(void *arg, uint64_t term, bool fresh)
{
    struct srv *s = arg;

    (void)term;
    if (fresh && s_reset_dir(s, "now active: the nodes re-announce") != 0)
        fatalx("out of memory");
}

static void
s_bs_deactivated(void *arg, const char *why)
{
    if (s_reset_dir(arg, why) != 0)
        fatalx("out of memory");
}

static uint64_t
s_bs_incarnation(void *arg)
{
    return ((struct srv *)arg)->dir.incarnation;
}

const char *
srv_ha_state(const struct srv *s)
{
    return s->bs ? bs_state_str(bs_state(s->bs)) : "alone";
}

/* ---- setup --------------------------------------------------------------- */

static double
s_clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int
s_open(struct srv *s, enum srv_port port, int type, zev_msg_fn fn, char *err,
       size_t errlen)
{
    void *sock = zmq_socket(s->zctx, type);
    int64_t maxsz = SRV_MAXMSGSIZE;
    int one = 1, hwm = port == PORT_REQ ? SRV_ROUTER_HWM : SRV_PUB_HWM;

    if (sock == NULL) {
        snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
        return -1;
    }
    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxsz, sizeof(maxsz));
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    if (port == PORT_REQ)
        /* EHOSTUNREACH / EAGAIN instead of silent drops. */
        zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
    if (s->curve && zc_server(sock, s->curve) != 0) {
        snprintf(err, errlen, "CURVE options: %s", zmq_strerror(errno));
        zmq_close(sock);
        return -1;
    }
    if ((s->sock[port] = zev_new(s->base, sock, fn, s)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (s_monitor(s, port, err, errlen) != 0)
        return -1;
    if (zmq_bind(sock, s->endpoint[port]) != 0) {
        snprintf(err, errlen, "cannot bind the %s port %s: %s",
                 srv_port_names[port], s->endpoint[port], zmq_strerror(errno));
        return -1;
    }
    return 0;
}

struct srv *
srv_new(struct event_base *base, void *zctx, const struct srv_cfg *cfg,
        char *err, size_t errlen)
{
    struct srv *s;
    struct timeval tv;
    double tick;

    if ((s = calloc(1, sizeof(*s))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base = base;
    s->zctx = zctx;
    s->curve = cfg->curve;
    rlog_init(&s->rl_bad, SRV_BAD_INTERVAL);
    snprintf(s->endpoint[PORT_REQ], sizeof(s->endpoint[PORT_REQ]), "%s",
             cfg->bind);
    if (zev_endpoint_port_add(cfg->bind, 1, s->endpoint[PORT_PUB],
                              sizeof(s->endpoint[PORT_PUB])) != 0) {
        snprintf(err, errlen, "bad endpoint %s (want tcp://ADDR:PORT)",
                 cfg->bind);
        goto fail;
    }
    if (dir_init(&s->dir, &cfg->lim,
                 cfg->incarnation ? cfg->incarnation : random_u64(),
                 s_publish_cb, s) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    s->dir_ok = true;
    if ((s->snap = snap_new(base, &s->dir, s->dir.lim.max_nodes + 16,
                            s_snap_send, s)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (s_open(s, PORT_REQ, ZMQ_ROUTER, s_req_msg, err, errlen) != 0 ||
        s_open(s, PORT_PUB, ZMQ_XPUB, s_pub_msg, err, errlen) != 0)
        goto fail;
    if (cfg->peer) {
        char ha[300], pha[300];
        struct bs_cfg bc = {.primary = cfg->primary};
        struct bs_hooks bh = {.activated = s_bs_activated,
                              .deactivated = s_bs_deactivated,
                              .incarnation = s_bs_incarnation,
                              .arg = s};

        if ((cfg->ha_bind == NULL &&
             zev_endpoint_port_add(cfg->bind, 2, ha, sizeof(ha)) != 0) ||
            (cfg->ha_peer == NULL &&
             zev_endpoint_port_add(cfg->peer, 2, pha, sizeof(pha)) != 0)) {
            snprintf(err, errlen, "bad endpoint %s or %s", cfg->bind,
                     cfg->peer);
            goto fail;
        }
        bc.ha_bind = cfg->ha_bind ? cfg->ha_bind : ha;
        bc.peer_ha = cfg->ha_peer ? cfg->ha_peer : pha;
        bc.curve = cfg->curve;
        if ((s->bs = bs_new(base, zctx, &bc, &bh, err, errlen)) == NULL)
            goto fail;
    }
    /* Dead nodes are found within a quarter of the timeout; Hugz go out
     * often enough for nodes to notice a lost last update quickly. */
    tick = s_clamp(cfg->lim.heartbeat_timeout / 4, 0.02, 0.25);
    s->hugz_ivl = s_clamp(cfg->lim.heartbeat_timeout / 3, 0.1, 1.0);
    tv.tv_sec = (time_t)tick;
    tv.tv_usec = (suseconds_t)((tick - (double)tv.tv_sec) * 1e6);
    if ((s->tick = event_new(base, -1, EV_PERSIST, s_tick_cb, s)) == NULL ||
        event_add(s->tick, &tv) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return s;
fail:
    srv_free(&s);
    return NULL;
}

void
srv_free(struct srv **sp)
{
    struct srv *s = *sp;

    if (s == NULL)
        return;
    *sp = NULL;
    if (s->tick)
        event_free(s->tick);
    bs_free(&s->bs);
    snap_free(&s->snap);
    for (int p = 0; p < PORT__COUNT; p++) {
        /* Stop monitoring first (the monitor's own socket must not be
         * left sending to a closed PAIR: zmq_ctx_term would wait for it
         * for ever), then the PAIR, then the socket. */
        if (s->sock[p])
            zmq_socket_monitor(zev_socket(s->sock[p]), NULL, 0);
        zev_free(&s->mon[p]);
        zev_free(&s->sock[p]);
    }
    if (s->dir_ok)
        dir_fini(&s->dir);
    free(s);
}

const struct dir *
srv_dir(const struct srv *s)
{
    return &s->dir;
}

const char *
srv_pub_endpoint(const struct srv *s)
{
    return s->endpoint[PORT_PUB];
}

void
srv_log_stats(const struct srv *s)
{
    const struct srv_stats *st = &s->stats;
    const struct dir_stats *ds = &s->dir.stats;
    uint64_t bad = st->bad_frames + st->unexpected + st->handshake_failed;

    for (int i = 1; i < WIRE_ERR__COUNT; i++)
        bad += st->bad[i];
    log_info(
        "directory: %zu nodes, %zu consoles, seq %" PRIu64
        "; received: register %" PRIu64 ", heartbeat %" PRIu64
        ", announce %" PRIu64 ", withdraw %" PRIu64 ", snapshot %" PRIu64
        "; published %" PRIu64 "; announce/withdraw results: applied %" PRIu64
        ", unchanged %" PRIu64 ", stale %" PRIu64 ", conflict %" PRIu64
        ", not registered %" PRIu64 ", limit %" PRIu64 "; nodes died %" PRIu64
        ", restarted %" PRIu64,
        s->dir.nnodes, dir_console_count(&s->dir), s->dir.seq,
        st->in[WIRE_REGISTER], st->in[WIRE_HEARTBEAT], st->in[WIRE_ANNOUNCE],
        st->in[WIRE_WITHDRAW], st->in[WIRE_SNAPSHOT_REQUEST], st->published,
        ds->results[DIR_APPLIED], ds->results[DIR_UNCHANGED],
        ds->results[DIR_STALE], ds->results[DIR_CONFLICT],
        ds->results[DIR_NOT_REGISTERED], ds->results[DIR_LIMIT], ds->deaths,
        ds->restarts);
    log_info("bad input: %" PRIu64 " (empty %" PRIu64 ", oversized %" PRIu64
             ", malformed %" PRIu64 ", version %" PRIu64 ", no body %" PRIu64
             ", invalid %" PRIu64 ", frames %" PRIu64 ", unexpected %" PRIu64
             ", handshake %" PRIu64 "); replies dropped %" PRIu64,
             bad, st->bad[-WIRE_E_EMPTY], st->bad[-WIRE_E_OVERSIZE],
             st->bad[-WIRE_E_MALFORMED], st->bad[-WIRE_E_VERSION],
             st->bad[-WIRE_E_NOBODY], st->bad[-WIRE_E_INVALID], st->bad_frames,
             st->unexpected, st->handshake_failed, st->reply_failed);
}
