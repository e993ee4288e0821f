/*
 * peerlink.c: the peer link's transport (pl_): connections and their
 * state table, the hello and duplicate connections, framing, closing and
 * reaping, the instance. The protocol and its flow control are described
 * in peerlink.h; what the frames of an UP link mean is in peerlink_flow.c.
 *
 * One struct pl_link per TCP connection, whatever its state; callers see
 * only UP ones. A connection is never freed from its own callbacks:
 * pl__close() unlinks it and marks it CLOSING at once (so every pl_* call
 * on it fails from then on), and the reap event runs its teardown
 * callbacks and frees it after the current callback unwound (Redis
 * freeClientAsync). The one exception is a link replaced by a newer
 * connection to the same node: its teardown callbacks run right away, so
 * that link_down(old) comes before link_up(new).
 *
 * Framing: a 4-byte big-endian length, then a PeerFrame. The length is
 * checked against max_frame before anything is buffered for the frame;
 * the input buffer holds at most two frames (read high watermark) and
 * every complete frame is handled in the read callback, so reading never
 * stops for lack of room: flow control is the credit, one level up.
 */
#include "vspc/compat.h"
#include "peerlink_int.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/util.h>

#include "vspc/addr.h"
#include "vspc/clock.h"
#include "vspc/log.h"
#include "vspc/random.h"
#include "tls.h"

/*
 * The state table: each state's legal exits.
 *   CONNECTING  connected -> HELLO_SENT
 *               error, hello timeout, pl_disconnect, lost to a duplicate
 *               -> CLOSING
 *   HELLO_WAIT  valid hello && wins -> UP (we answer with our hello)
 *               any other frame, bad hello, loses, timeout, EOF -> CLOSING
 *   HELLO_SENT  valid hello && wins -> UP
 *               any other frame, bad hello, loses, timeout, EOF -> CLOSING
 *   UP          bad frame, EOF, error, stall, overflow, replaced by a newer
 *               connection, pl_disconnect -> CLOSING
 *   CLOSING     none (torn down and freed by the reap event)
 */
#define B(s) (1u << PL_ST_##s)
static const uint32_t pl_allowed[PL_ST__COUNT] = {
    [PL_ST_CONNECTING] = B(HELLO_SENT) | B(CLOSING),
    [PL_ST_HELLO_WAIT] = B(UP) | B(CLOSING),
    [PL_ST_HELLO_SENT] = B(UP) | B(CLOSING),
    [PL_ST_UP] = B(CLOSING),
    [PL_ST_CLOSING] = 0,
};
#undef B

static const char *
pl_state_str(enum pl_state s)
{
    static const char *const names[PL_ST__COUNT] = {
        "connecting", "hello-wait", "hello-sent", "up", "closing",
    };

    return (unsigned)s < PL_ST__COUNT ? names[s] : "???";
}

/* ---- small helpers ------------------------------------------------------- */

static const char *
s_who(const struct pl_link *l)
{
    return l->known ? l->node_id : l->st.remote;
}

/* A warning about what a peer did: at most one line per kind (fmt) and
 * peer host per second, so a peer reconnecting in a loop to send garbage
 * cannot flood the log. */
static void VSPC_PRINTF(2, 3) s_warn(struct pl_link *l, const char *fmt, ...)
{
    struct pl *pl = l->pl;
    unsigned supp = 0;
    char msg[256];
    uint8_t key[RLOG_KEY_MAX];
    const char *colon = strrchr(l->st.remote, ':');
    size_t host = colon ? (size_t)(colon - l->st.remote) : strlen(l->st.remote);
    va_list ap;

    /* The key: the format's address (the kind), then the host. */
    memcpy(key, &fmt, sizeof(fmt));
    host = host < sizeof(key) - sizeof(fmt) ? host : sizeof(key) - sizeof(fmt);
    memcpy(key + sizeof(fmt), l->st.remote, host);
    if (!rlog_allow(&pl->rl, key, sizeof(fmt) + host, clock_now(), &supp))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_warnx("peer %s: node=%s %s: %s%s", pl->node_id,
              l->known ? l->node_id : "?", l->st.remote, msg,
              supp ? " (and similar lines suppressed)" : "");
}

/* TLS: one line per this many seconds for failed handshakes, and as many
 * for wrong CNs (a refused node redials every second). */
#define PL_TLS_LOG_EVERY 10.0

/* A TLS error on l (the bufferevent reported it): before UP, a failed
 * handshake (TLS 1.3: a dialer whose certificate the acceptor refused
 * learns it only after its own handshake ended, before the answer); a
 * log line (rate limited), counted. l closed. */
static void
s_tls_error(struct pl_link *l)
{
    struct pl *pl = l->pl;
    char why[400], who[PW_NODE_ID_MAX + 96];
    unsigned quiet = 0;

    if (tls_failure_str(l->bev, why, sizeof(why)) == 0 ||
        l->state == PL_ST_UP) {
        pl__close(l, "%s", why);
        return;
    }
    pl->st.tls_failures++;
    l->tls_refused = true;
    if (l->outgoing)
        snprintf(who, sizeof(who), "node %s at %s (dialed)", l->node_id,
                 l->st.remote);
    else
        snprintf(who, sizeof(who), "%s (accepted)", l->st.remote);
    if (rlim_allow(&pl->tls_rl, clock_now(), PL_TLS_LOG_EVERY, &quiet))
        log_warnx("peer %s: TLS handshake with %s failed: %s (%u more "
                  "failed since the last line)",
                  pl->node_id, who, why, quiet);
    pl__close(l, "TLS handshake failed: %s", why);
}

/* TLS: the peer's verified certificate names node id (its CN)? If not, a
 * log line (rate limited), counted, l closed. */
static bool
s_cn_ok(struct pl_link *l, const char *id)
{
    struct pl *pl = l->pl;
    char cn[128];
    unsigned quiet = 0;

    if (pl->cfg.tls == NULL ||
        (tls_peer_cn(l->bev, cn, sizeof(cn)) == 0 && strcmp(cn, id) == 0))
        return true;
    pl->st.tls_wrong_cn++;
    l->tls_refused = true;
    if (rlim_allow(&pl->cn_rl, clock_now(), PL_TLS_LOG_EVERY, &quiet))
        log_warnx("peer %s: %s (%s): certificate CN '%s' is not node %s: "
                  "refused (%u more refused since the last line)",
                  pl->node_id, l->st.remote,
                  l->outgoing ? "dialed" : "accepted",
                  cn[0] ? cn : "(none usable)", id, quiet);
    pl__close(l, "certificate CN '%s' is not node %s", cn, id);
    return false;
}

void
pl__proto_error(struct pl_link *l, const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    l->pl->st.protocol_errors++;
    s_warn(l, "protocol error, closing: %s", msg);
    pl__close(l, "protocol error: %s", msg);
}

bool
pl__up(const struct pl_link *l)
{
    if (l == NULL || l->state != PL_ST_UP) {
        errno = ENOTCONN;
        return false;
    }
    return true;
}

size_t
pl__out_len(const struct pl_link *l)
{
    return evbuffer_get_length(bufferevent_get_output(l->bev));
}

struct timeval
pl__tv(double s)
{
    struct timeval tv = {.tv_sec = (time_t)s};

    tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
    return tv;
}

/* ---- connections: create, state, close, reap ----------------------------- */

static void
s_set_state(struct pl_link *l, enum pl_state to)
{
    if ((pl_allowed[l->state] & (1u << to)) == 0) {
        log_errorx("peer %s: node=%s illegal transition %s -> %s",
                   l->pl->node_id, s_who(l), pl_state_str(l->state),
                   pl_state_str(to));
        return;
    }
    log_debug("peer %s: node=%s %s: %s -> %s", l->pl->node_id, s_who(l),
              l->st.remote, pl_state_str(l->state), pl_state_str(to));
    if (l->state == PL_ST_HELLO_WAIT)
        l->pl->n_accepting--;
    l->state = to;
}

static void s_read_cb(struct bufferevent *bev, void *arg);
static void s_write_cb(struct bufferevent *bev, void *arg);
static void s_event_cb(struct bufferevent *bev, short what, void *arg);

static void
s_hello_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pl_link *l = arg;

    s_warn(l, "no hello within %.1f s", l->pl->cfg.hello_timeout);
    pl__close(l, "no hello within %.1f s", l->pl->cfg.hello_timeout);
}

static struct pl_link *
s_conn_new(struct pl *pl, struct bufferevent *bev, enum pl_state state)
{
    struct pl_link *l = calloc(1, sizeof(*l));
    struct timeval tv;

    if (l == NULL)
        return NULL;
    l->pl = pl;
    l->bev = bev;
    l->state = state;
    l->outgoing = l->st.outgoing = state == PL_ST_CONNECTING;
    l->next_sub_id = 1;
    TAILQ_INIT(&l->reqs);
    snprintf(l->st.remote, sizeof(l->st.remote), "?");
    snprintf(l->st.local, sizeof(l->st.local), "?");
    if ((l->hs_ev = evtimer_new(pl->base, s_hello_timeout_cb, l)) == NULL ||
        smap_init(&l->rsubs) != 0 || smap_init(&l->lsubs) != 0 ||
        smap_init(&l->in_tx) != 0 || smap_init(&l->in_rx) != 0 ||
        smap_init(&l->in_void) != 0) {
        if (l->hs_ev)
            event_free(l->hs_ev);
        smap_fini(&l->rsubs); /* fine on a zeroed or initialised table */
        smap_fini(&l->lsubs);
        smap_fini(&l->in_tx);
        smap_fini(&l->in_rx);
        smap_fini(&l->in_void);
        free(l);
        return NULL;
    }
    bufferevent_setcb(bev, s_read_cb, s_write_cb, s_event_cb, l);
    /* Input: two frames at most. Output: the write callback fires once
     * the buffer drained to half its bound. Write timeout: the stall
     * timeout (no byte written for that long while output waits). */
    bufferevent_setwatermark(bev, EV_READ, 0, 2 * (4 + pl->cfg.max_frame));
    bufferevent_setwatermark(bev, EV_WRITE, pl->cfg.out_max / 2, 0);
    /* libevent 2.1 moves at most 16 KiB per read or write by default: one
     * Data frame per system call. A frame pair per read, a quarter of the
     * output bound per write. */
    bufferevent_set_max_single_read(bev, 2 * (4 + pl->cfg.max_frame));
    bufferevent_set_max_single_write(bev, pl->cfg.out_max / 4);
    tv = pl__tv(pl->cfg.stall_timeout);
    bufferevent_set_timeouts(bev, NULL, &tv);
    tv = pl__tv(pl->cfg.hello_timeout);
    evtimer_add(l->hs_ev, &tv);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    if (state == PL_ST_HELLO_WAIT)
        pl->n_accepting++;
    TAILQ_INSERT_TAIL(&pl->conns, l, entry);
    return l;
}

/* Socket options and addresses, once the socket is connected. */
static void
s_sock_setup(struct pl_link *l)
{
    evutil_socket_t fd = bufferevent_getfd(l->bev);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int one = 1, idle = 10, intvl = 5, cnt = 3;

    if (fd < 0)
        return;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* A peer that vanished without a FIN while the link is idle. */
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        addr_str((struct sockaddr *)&ss, l->st.local, sizeof(l->st.local));
    len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
        addr_str((struct sockaddr *)&ss, l->st.remote, sizeof(l->st.remote));
}

void
pl__close(struct pl_link *l, const char *fmt, ...)
{
    struct pl *pl = l->pl;
    va_list ap;

    if (l->state == PL_ST_CLOSING)
        return;
    va_start(ap, fmt);
    vsnprintf(l->reason, sizeof(l->reason), fmt, ap);
    va_end(ap);
    l->was_up = l->state == PL_ST_UP;
    s_set_state(l, PL_ST_CLOSING);
    TAILQ_REMOVE(&pl->conns, l, entry);
    TAILQ_INSERT_TAIL(&pl->reap, l, entry);
    bufferevent_disable(l->bev, EV_READ | EV_WRITE);
    bufferevent_setcb(l->bev, NULL, NULL, NULL, NULL);
    event_del(l->hs_ev);
    if (l->was_up)
        log_info("peer %s: link to %s (%s) down: %s", pl->node_id, l->node_id,
                 l->st.remote, l->reason);
    else
        log_debug("peer %s: connection %s (%s) closed: %s", pl->node_id,
                  s_who(l), l->st.remote, l->reason);
    event_active(pl->reap_ev, 0, 0);
}

/* The callbacks of a CLOSING connection (each pl_* call on it fails now,
 * so callbacks cannot change its tables). */
static void
s_teardown(struct pl_link *l)
{
    struct pl *pl = l->pl;

    if (l->torn)
        return;
    l->torn = true;
    if (l->was_up) {
        pl->st.links_down++;
        pl__flow_end(l);
        if (pl->cb.link_down)
            pl->cb.link_down(l, l->reason, pl->arg);
    } else if (l->outgoing && !l->quiet) {
        pl->st.connect_failed++;
        /* A refused node is redialed every second: its line was the
         * rate-limited one. */
        log_at(l->tls_refused ? LOG_LVL_DEBUG : LOG_LVL_INFO,
               "peer %s: connecting to %s (%s) failed: %s", pl->node_id,
               l->node_id, l->st.remote, l->reason);
        if (pl->cb.connect_failed)
            pl->cb.connect_failed(pl, l->node_id, l->reason, pl->arg);
    }
}

static void
s_conn_free(struct pl_link *l)
{
    pl__flow_free(l);
    smap_fini(&l->rsubs);
    smap_fini(&l->lsubs);
    smap_fini(&l->in_tx);
    smap_fini(&l->in_rx);
    smap_fini(&l->in_void);
    event_free(l->hs_ev);
    if (l->pl->cfg.tls)
        tls_close_notify(l->bev);
    bufferevent_free(l->bev);
    free(l);
}

static void
s_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pl *pl = arg;
    struct pl_link *l;

    while ((l = TAILQ_FIRST(&pl->reap)) != NULL) {
        s_teardown(l); /* may close (append) others: the loop takes them */
        TAILQ_REMOVE(&pl->reap, l, entry);
        s_conn_free(l);
    }
}

/* ---- sending ------------------------------------------------------------- */

int
pl__send(struct pl_link *l, const struct pw_frame *f)
{
    struct pl *pl = l->pl;
    struct evbuffer *out = bufferevent_get_output(l->bev);
    char err[160];
    size_t len, now;

    if (pw_encode(f, pl->txbuf + 4, PW_MAX_FRAME, &len, err, sizeof(err)) !=
        PW_OK) {
        log_warnx("peer %s: %s not sent to %s: %s", pl->node_id,
                  pw_type_str(f->type), s_who(l), err);
        errno = EINVAL;
        return -1;
    }
    for (int i = 0; i < 4; i++)
        pl->txbuf[i] = (uint8_t)(len >> (24 - 8 * i));
    if (evbuffer_add(out, pl->txbuf, 4 + len) != 0) {
        pl__close(l, "out of memory");
        errno = ENOMEM;
        return -1;
    }
    l->st.frames_out++;
    l->st.bytes_out += 4 + len;
    if ((now = evbuffer_get_length(out)) > l->st.out_peak)
        l->st.out_peak = now;
    if (now > 2 * pl->cfg.out_max + PW_MAX_FRAME) {
        s_warn(l, "output overflow (%zu bytes waiting)", now);
        pl__close(l, "output overflow (%zu bytes waiting)", now);
        errno = ENOBUFS;
        return -1;
    }
    return 0;
}

struct pw_frame *
pl__tx(struct pl *pl, enum pw_type type, size_t clear)
{
    pl->tx.type = type;
    memset(&pl->tx.u, 0, clear);
    return &pl->tx;
}

static int
s_send_hello(struct pl_link *l)
{
    struct pl *pl = l->pl;
    struct pw_frame *f = pl__tx(pl, PW_HELLO, sizeof(f->u.hello));

    snprintf(f->u.hello.node_id, sizeof(f->u.hello.node_id), "%s", pl->node_id);
    f->u.hello.node_index = pl->cfg.node_index;
    f->u.hello.version = PL_VERSION;
    f->u.hello.incarnation = pl->cfg.incarnation;
    return pl__send(l, f);
}

static void
s_write_cb(struct bufferevent *bev, void *arg)
{
    struct pl_link *l = arg;

    if (l->state == PL_ST_UP && l->out_blocked) {
        l->out_blocked = false;
        pl__room_all(l);
    }
}

/* ---- the hello and duplicate connections --------------------------------- */

/* Another connection (not c) to node id, or NULL. */
static struct pl_link *
s_other(struct pl *pl, struct pl_link *c, const char *id)
{
    struct pl_link *o;

    TAILQ_FOREACH (o, &pl->conns, entry)
        if (o != c && o->known && strcmp(o->node_id, id) == 0)
            return o;
    return NULL;
}

/* A hello arrived on c (HELLO_WAIT or HELLO_SENT): c goes UP or closes. */
static void
s_on_hello(struct pl_link *c, const struct pw_hello *h)
{
    struct pl *pl = c->pl;
    struct pl_link *o, *replaced[4];
    unsigned n_replaced = 0, mine = pl->cfg.node_index;

    if (h->version != PL_VERSION) {
        pl__proto_error(c,
                        "node %s speaks peer-link version %" PRIu32 ", want %d",
                        h->node_id, h->version, PL_VERSION);
        return;
    }
    if (strcmp(h->node_id, pl->node_id) == 0 || h->node_index == mine) {
        pl__proto_error(c, "hello from %s index %u: this node's id or index",
                        h->node_id, h->node_index);
        return;
    }
    if (c->outgoing && strcmp(h->node_id, c->node_id) != 0) {
        pl__proto_error(c, "dialed node %s, answered by %s", c->node_id,
                        h->node_id);
        return;
    }
    if (!s_cn_ok(c, h->node_id))
        return;
    snprintf(c->node_id, sizeof(c->node_id), "%s", h->node_id);
    c->known = true;
    c->st.node_index = h->node_index;
    c->st.incarnation = h->incarnation;

    /* At most one connection per pair survives (see peerlink.h). */
    while ((o = s_other(pl, c, c->node_id)) != NULL) {
        unsigned dc = c->outgoing ? mine : h->node_index;
        unsigned d_o = o->outgoing ? mine : h->node_index;
        bool restarted =
            o->state == PL_ST_UP && o->st.incarnation != h->incarnation;

        /* o dialed by the lower index, or both by the same node: o stays
         * (a dialer that really gave up on o closed it; its retry works
         * once that close arrived, and a misdirected dial cannot take a
         * working link down). */
        if (!restarted && dc >= d_o) {
            pl->st.duplicates++;
            c->quiet = true;
            pl__close(c, "duplicate: keeping the connection dialed by index %u",
                      d_o);
            return;
        }
        pl->st.duplicates += !restarted;
        o->quiet = true;
        if (o->state == PL_ST_UP && n_replaced < VSPC_ARRAY_LEN(replaced))
            replaced[n_replaced++] = o;
        if (restarted)
            pl__close(o, "replaced: node %s restarted", c->node_id);
        else
            pl__close(o,
                      "duplicate: keeping the connection dialed by "
                      "index %u",
                      dc);
    }
    /* link_down(old) before link_up(new); the reap frees them later. */
    for (unsigned i = 0; i < n_replaced; i++)
        s_teardown(replaced[i]);
    if (c->state == PL_ST_CLOSING || (!c->outgoing && s_send_hello(c) != 0))
        return; /* a callback closed it, or the answer failed */
    s_set_state(c, PL_ST_UP);
    event_del(c->hs_ev);
    pl->st.links_up++;
    log_info("peer %s: link to %s (index %u, %s, %s) up", pl->node_id,
             c->node_id, h->node_index, c->st.remote,
             c->outgoing ? "dialed" : "accepted");
    if (pl->cb.link_up)
        pl->cb.link_up(c, pl->arg);
}

/* ---- receiving ----------------------------------------------------------- */

/* Bytes read ourselves per read callback, at most (then the other
 * connections get their turn). */
#define PL_READ_BUDGET (256 * 1024)

/*
 * libevent 2.1 reads at most 4 KiB per readiness event (EVBUFFER_MAX_READ):
 * four wake-ups per Data frame. Read straight from the socket into the
 * input instead, up to the read bound (two maximal frames). Returns the
 * bytes read; 0 when nothing more is there now (EOF and errors are left
 * for libevent to report on its next read).
 *
 * TLS: the socket carries records, so libevent's OpenSSL bufferevent
 * reads it (a record or two per readiness, up to the same bound); here
 * only plaintext OpenSSL decrypted already moves to the input (no socket
 * I/O), so nothing decrypted waits there for a readiness that may never
 * come (PROTOCOL.md 7.2).
 */
static size_t
s_read_more(struct pl_link *l, struct evbuffer *in, size_t bound,
            size_t *budget)
{
    struct bufferevent *bev = l->bev;
    size_t have = evbuffer_get_length(in), want;
    struct evbuffer_iovec v[2];
    struct iovec iov[2];
    int nv;
    ssize_t r;

    if (have >= bound || *budget == 0)
        return 0;
    want = bound - have < *budget ? bound - have : *budget;
    if (l->pl->cfg.tls) {
        size_t n = tls_read_pending(bev, want);

        *budget -= n;
        return n;
    }
    /* The bufferevent keeps its input's end frozen between its own reads
     * (as it does around them, we thaw it for ours). */
    evbuffer_unfreeze(in, 0);
    if ((nv = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2)) <= 0) {
        evbuffer_freeze(in, 0);
        return 0;
    }
    for (int i = 0; i < nv; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    r = readv(bufferevent_getfd(bev), iov, nv);
    if (r <= 0) {
        evbuffer_commit_space(in, v, 0);
        evbuffer_freeze(in, 0);
        return 0;
    }
    /* Commit what the read filled: the first vector, then the second. */
    if ((size_t)r <= v[0].iov_len) {
        v[0].iov_len = (size_t)r;
        nv = 1;
    } else {
        v[1].iov_len = (size_t)r - v[0].iov_len;
    }
    evbuffer_commit_space(in, v, nv);
    evbuffer_freeze(in, 0);
    *budget -= (size_t)r < *budget ? (size_t)r : *budget;
    return (size_t)r;
}

/* Every complete frame in the input (bounded by the read watermark: two
 * maximal frames' worth). */
static void
s_read_cb(struct bufferevent *bev, void *arg)
{
    struct pl_link *l = arg;
    struct pl *pl = l->pl;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t bound = 2 * (4 + pl->cfg.max_frame), budget = PL_READ_BUDGET;
    char err[160];

    while (l->state != PL_ST_CLOSING) {
        size_t avail = evbuffer_get_length(in);
        uint8_t hdr[4], *p;
        uint32_t n;
        int rc;

        if (avail < 4 && s_read_more(l, in, bound, &budget) > 0)
            continue;
        if (avail < 4)
            break;
        evbuffer_copyout(in, hdr, 4);
        n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
            (uint32_t)hdr[2] << 8 | hdr[3];
        if (n == 0 || n > pl->cfg.max_frame) {
            pl->st.decode_errors[n ? -PW_E_OVERSIZE : -PW_E_EMPTY]++;
            pl__proto_error(l, "frame length %" PRIu32 " (want 1-%zu)", n,
                            pl->cfg.max_frame);
            break;
        }
        if (avail < 4 + (size_t)n && s_read_more(l, in, bound, &budget) > 0)
            continue;
        if (avail < 4 + (size_t)n)
            break;
        if ((p = evbuffer_pullup(in, 4 + (ev_ssize_t)n)) == NULL) {
            pl__close(l, "out of memory");
            break;
        }
        rc = pw_decode(p + 4, n, &pl->rx, err, sizeof(err));
        evbuffer_drain(in, 4 + (size_t)n);
        l->st.frames_in++;
        l->st.bytes_in += 4 + (uint64_t)n;
        if (rc != PW_OK) {
            pl->st.decode_errors[-rc]++;
            pl__proto_error(l, "%s", err);
        } else if (pl->rx.type == PW_HELLO && l->state != PL_ST_UP) {
            s_on_hello(l, &pl->rx.u.hello);
        } else if (l->state != PL_ST_UP) {
            pl__proto_error(l, "%s before the hello", pw_type_str(pl->rx.type));
        } else if (pl->rx.type == PW_HELLO) {
            pl__proto_error(l, "a second hello");
        } else {
            pl__dispatch(l, &pl->rx);
        }
    }
    /* Out of budget with plaintext perhaps left inside OpenSSL, which no
     * socket readiness announces: come back after the others' turn. */
    if (pl->cfg.tls && budget == 0 && l->state != PL_ST_CLOSING)
        bufferevent_trigger(bev, EV_READ,
                            BEV_TRIG_IGNORE_WATERMARKS |
                                BEV_TRIG_DEFER_CALLBACKS);
}

static void
s_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct pl_link *l = arg;
    struct pl *pl = l->pl;

    if (what & BEV_EVENT_CONNECTED) {
        /* TLS: the handshake is done (an acceptor waits for the hello). */
        if (!l->outgoing)
            return;
        s_sock_setup(l);
        if (!s_cn_ok(l, l->node_id))
            return;
        s_set_state(l, PL_ST_HELLO_SENT);
        s_send_hello(l);
    } else if ((what & BEV_EVENT_TIMEOUT) && l->state != PL_ST_UP) {
        pl__close(l, "timed out before the hello");
    } else if (what & BEV_EVENT_TIMEOUT) {
        pl->st.stalled++;
        s_warn(l, "stalled: read nothing for %.1f s (%zu bytes waiting)",
               pl->cfg.stall_timeout, pl__out_len(l));
        pl__close(l, "stalled: the peer read nothing for %.1f s",
                  pl->cfg.stall_timeout);
    } else if (what & BEV_EVENT_EOF) {
        pl__close(l, "closed by the peer");
    } else if (pl->cfg.tls) {
        s_tls_error(l);
    } else {
        pl__close(l, "%s",
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    }
}

/* ---- instance ------------------------------------------------------------ */

static void
s_accept_cb(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
            int salen, void *arg)
{
    struct pl *pl = arg;
    struct bufferevent *bev = NULL;
    struct pl_link *l;
    char who[64], why[160];

    addr_str(sa, who, sizeof(who));
    if (pl->n_accepting >= PL_ACCEPT_MAX) {
        pl->st.accept_refused++;
        if (rlog_allow(&pl->rl, "accept", 6, clock_now(), NULL))
            log_warnx("peer %s: refusing %s: %u connections without hello",
                      pl->node_id, who, pl->n_accepting);
        evutil_closesocket(fd);
        return;
    }
    /* Either way fd is the bufferevent's, or closed. */
    if (pl->cfg.tls) {
        if ((bev = tls_accept_bev(pl->cfg.tls, pl->base, fd, 0, why,
                                  sizeof(why))) == NULL)
            log_warnx("peer %s: %s: %s", pl->node_id, who, why);
    } else if ((bev = bufferevent_socket_new(pl->base, fd,
                                             BEV_OPT_CLOSE_ON_FREE)) == NULL) {
        evutil_closesocket(fd);
    }
    if (bev == NULL)
        return;
    if ((l = s_conn_new(pl, bev, PL_ST_HELLO_WAIT)) != NULL)
        s_sock_setup(l);
    else
        bufferevent_free(bev);
}

struct pl *
pl_new(struct event_base *base, const struct pl_config *cfg,
       const struct pl_callbacks *cb, void *arg, char *err, size_t errlen)
{
    struct pl *pl = NULL;
    struct pl_config *c;
    struct sockaddr_storage ss;
    socklen_t sslen;

    if (cfg->node_id == NULL || !wire_valid_node_id(cfg->node_id)) {
        snprintf(err, errlen, "peer link: bad node id");
        return NULL;
    }
    if ((pl = calloc(1, sizeof(*pl))) == NULL ||
        (pl->reap_ev = event_new(base, -1, 0, s_reap_cb, pl)) == NULL) {
        snprintf(err, errlen, "peer link: out of memory");
        goto fail;
    }
    pl->base = base;
    c = &pl->cfg;
    *c = *cfg;
    snprintf(pl->node_id, sizeof(pl->node_id), "%s", cfg->node_id);
    c->node_id = pl->node_id;
    c->listen = NULL;
    c->incarnation = c->incarnation ? c->incarnation : random_u64();
    if (c->stall_timeout <= 0)
        c->stall_timeout = PL_STALL_TIMEOUT_DEFAULT;
    if (c->hello_timeout <= 0)
        c->hello_timeout = PL_HELLO_TIMEOUT_DEFAULT;
    c->out_max = c->out_max ? c->out_max : PL_OUT_MAX_DEFAULT;
    c->out_max = c->out_max < PW_MAX_FRAME ? PW_MAX_FRAME : c->out_max;
    if (c->max_frame == 0 || c->max_frame > PW_MAX_FRAME)
        c->max_frame = PW_MAX_FRAME;
    c->max_frame = c->max_frame < 1024 ? 1024 : c->max_frame;
    if (cb)
        pl->cb = *cb;
    pl->arg = arg;
    TAILQ_INIT(&pl->conns);
    TAILQ_INIT(&pl->reap);
    rlog_init(&pl->rl, 1.0);
    if (cfg->listen == NULL)
        return pl;
    if (addr_parse(cfg->listen, &ss, &sslen) != 0) {
        snprintf(err, errlen, "peer link: bad listen address %s", cfg->listen);
        goto fail;
    }
    pl->lst = evconnlistener_new_bind(
        base, s_accept_cb, pl,
        LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 64,
        (struct sockaddr *)&ss, (int)sslen);
    if (pl->lst == NULL) {
        snprintf(err, errlen, "peer link: listen on %s: %s", cfg->listen,
                 strerror(errno));
        goto fail;
    }
    return pl;
fail:
    if (pl && pl->reap_ev)
        event_free(pl->reap_ev);
    free(pl);
    return NULL;
}

void
pl_free(struct pl **plp)
{
    struct pl *pl = plp ? *plp : NULL;
    struct pl_link *l;

    if (pl == NULL)
        return;
    while ((l = TAILQ_FIRST(&pl->conns)) != NULL ||
           (l = TAILQ_FIRST(&pl->reap)) != NULL) {
        if (l->state == PL_ST_CLOSING)
            TAILQ_REMOVE(&pl->reap, l, entry);
        else
            TAILQ_REMOVE(&pl->conns, l, entry);
        s_conn_free(l);
    }
    if (pl->lst)
        evconnlistener_free(pl->lst);
    event_free(pl->reap_ev);
    free(pl);
    *plp = NULL;
}

const struct pl_stats *
pl_stats(const struct pl *pl)
{
    return &pl->st;
}

int
pl_connect(struct pl *pl, const char *node_id, const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct bufferevent *bev;
    struct pl_link *l;
    char why[160];

    if (node_id == NULL || !wire_valid_node_id(node_id) ||
        strcmp(node_id, pl->node_id) == 0 || addr == NULL ||
        addr_parse(addr, &ss, &sslen) != 0) {
        errno = EINVAL;
        return -1;
    }
    if (s_other(pl, NULL, node_id) != NULL)
        return 0; /* up, or on its way */
    /* TLS: the socket comes from bufferevent_socket_connect below, and the
     * handshake follows the connect. */
    if (pl->cfg.tls) {
        if ((bev = tls_connect_bev(pl->cfg.tls, pl->base, -1, 0, why,
                                   sizeof(why))) == NULL)
            log_warnx("peer %s: dialing %s (%s): %s", pl->node_id, node_id,
                      addr, why);
    } else {
        bev = bufferevent_socket_new(pl->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (bev == NULL || (l = s_conn_new(pl, bev, PL_ST_CONNECTING)) == NULL) {
        if (bev)
            bufferevent_free(bev);
        errno = ENOMEM;
        return -1;
    }
    l->known = true;
    snprintf(l->node_id, sizeof(l->node_id), "%s", node_id);
    snprintf(l->st.remote, sizeof(l->st.remote), "%s", addr);
    /* Failures, even immediate ones, come back through the loop. */
    if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss, (int)sslen) !=
        0)
        pl__close(l, "connect: %s",
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    return 0;
}

void
pl_disconnect(struct pl *pl, const char *node_id, const char *reason)
{
    struct pl_link *l;

    while ((l = s_other(pl, NULL, node_id)) != NULL) {
        l->quiet = true;
        pl__close(l, "disconnected: %s", reason ? reason : "by request");
    }
}

struct pl_link *
pl_link_get(struct pl *pl, const char *node_id)
{
    struct pl_link *l;

    TAILQ_FOREACH (l, &pl->conns, entry)
        if (l->state == PL_ST_UP && strcmp(l->node_id, node_id) == 0)
            return l;
    return NULL;
}

struct pl_link *
pl_link_by_index(struct pl *pl, uint8_t node_index)
{
    struct pl_link *l;

    TAILQ_FOREACH (l, &pl->conns, entry)
        if (l->state == PL_ST_UP && l->st.node_index == node_index)
            return l;
    return NULL;
}

const char *
pl_link_node(const struct pl_link *l)
{
    return l->node_id;
}

struct pl *
pl_link_pl(const struct pl_link *l)
{
    return l->pl;
}

void
pl_link_stats(const struct pl_link *l, struct pl_link_stats *st)
{
    *st = l->st;
    st->out_len = pl__out_len(l);
    st->subs_owner = (unsigned)smap_count(&l->rsubs);
    st->subs_mine = (unsigned)smap_count(&l->lsubs);
    st->input_inflight = l->in_tx_bytes;
    st->input_unacked = l->in_rx_bytes;
}

void
pl_link_set_udata(struct pl_link *l, void *udata)
{
    l->udata = udata;
}

void *
pl_link_udata(const struct pl_link *l)
{
    return l->udata;
}
