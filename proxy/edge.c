/* edge.c: see edge.h. */
#include "vspc/compat.h"
#include "edge.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <event2/event.h>
#include <event2/util.h>

#include "vspc/log.h"
#include "pproxy.h"
#include "session.h"

/* A connection waiting for its PROXY header. */
struct edge_wait {
    struct proxy *px;
    int fd;
    bool tls;
    struct sockaddr_storage sock_peer;
    char addr[64];       /* the socket's peer, for logs */
    struct event *ev;    /* readable */
    struct event *timer; /* the header's deadline (from accept) */
    struct pp pp;
    LIST_ENTRY(edge_wait) link;
};

/* ---- allow-list ---------------------------------------------------------- */

int
edge_cidr_parse(const char *s, struct proxy_cidr *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    unsigned long bits;
    unsigned maxbits;
    char *end;

    memset(out, 0, sizeof(*out));
    if (hl == 0 || hl >= sizeof(host))
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->af = AF_INET;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->af = AF_INET6;
        maxbits = 128;
    } else {
        return -1;
    }
    bits = maxbits;
    if (slash) {
        if (slash[1] < '0' || slash[1] > '9')
            return -1;
        bits = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || bits > maxbits)
            return -1;
    }
    out->bits = (unsigned)bits;
    for (unsigned i = 0; i < maxbits / 8; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8
                        : bits > 8 * i      ? bits - 8 * i
                                            : 0;

        out->addr[i] &= (uint8_t)(0xFF00u >> keep);
    }
    return 0;
}

static bool
edge_cidr_match(const struct proxy_cidr *c, int af, const uint8_t *a)
{
    unsigned full = c->bits / 8, rest = c->bits % 8;

    if (c->af != af)
        return false;
    if (memcmp(c->addr, a, full) != 0)
        return false;
    return rest == 0 ||
           ((a[full] ^ c->addr[full]) & (uint8_t)(0xFF00u >> rest)) == 0;
}

bool
edge_allowed(const struct proxy_cidr *allow, size_t n,
             const struct sockaddr *sa)
{
    const uint8_t *a;
    int af;

    if (n == 0)
        return true;
    if (sa->sa_family == AF_INET) {
        af = AF_INET;
        a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *in6 =
            &((const struct sockaddr_in6 *)sa)->sin6_addr;

        af = AF_INET6;
        a = in6->s6_addr;
        if (IN6_IS_ADDR_V4MAPPED(in6)) {
            af = AF_INET;
            a += 12;
        }
    } else {
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (edge_cidr_match(&allow[i], af, a))
            return true;
    return false;
}

/* ---- PROXY header -------------------------------------------------------- */

static void
edge_wait_free(struct edge_wait *w, bool close_fd)
{
    LIST_REMOVE(w, link);
    if (w->ev)
        event_free(w->ev);
    if (w->timer)
        event_free(w->timer);
    if (close_fd)
        evutil_closesocket(w->fd);
    free(w);
}

static void
edge_refuse(struct edge_wait *w, const char *why)
{
    w->px->stats.hv_pp_errors++;
    log_warnx("hypervisor connection from %s%s closed: %s", w->addr,
              w->tls ? " (telnets)" : "", why);
    edge_wait_free(w, true);
}

static void
edge_header_done(struct edge_wait *w)
{
    struct proxy *px = w->px;
    const struct pp_info *in = pp_info(&w->pp);
    struct sockaddr_storage peer;
    char client[64];
    int fd = w->fd;
    bool tls = w->tls;

    if (in->has_addr) {
        peer = in->src;
        addr_str((const struct sockaddr *)&peer, client, sizeof(client));
        if (!edge_allowed(px->cfg.allow, px->cfg.n_allow,
                          (const struct sockaddr *)&peer)) {
            px->stats.hv_denied++;
            log_warnx("hypervisor connection from %s via %s refused: source "
                      "not in --allow",
                      client, w->addr);
            edge_wait_free(w, true);
            return;
        }
        log_info("hypervisor connection from %s via %s (PROXY v%d)%s", client,
                 w->addr, in->version, tls ? ", telnets" : "");
    } else {
        peer = w->sock_peer;
        log_debug("hypervisor connection from %s: PROXY v%d header without "
                  "a client address (LOCAL/UNKNOWN): using the connection's",
                  w->addr, in->version);
    }
    edge_wait_free(w, false);
    sess_new_ex(px, fd, (const struct sockaddr *)&peer, tls ? px->tls : NULL);
}

static void
edge_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct edge_wait *w = arg;
    uint8_t buf[PP_V2_MAX];
    size_t want = pp_want(&w->pp), used;
    enum pp_status st;
    ssize_t r;

    if (want > sizeof(buf))
        want = sizeof(buf);
    /* Peek, then consume exactly what belongs to the header. */
    r = recv(fd, buf, want, MSG_PEEK);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (r <= 0) {
        edge_refuse(w, r == 0 ? "closed before its PROXY protocol header"
                              : strerror(errno));
        return;
    }
    st = pp_feed(&w->pp, buf, (size_t)r, &used);
    if (st == PP_ERROR) {
        char why[128];

        snprintf(why, sizeof(why), "bad PROXY protocol header: %s",
                 pp_error(&w->pp));
        edge_refuse(w, why);
        return;
    }
    if (used > 0 && recv(fd, buf, used, 0) != (ssize_t)used) {
        edge_refuse(w, "lost bytes while consuming the PROXY header");
        return;
    }
    if (st == PP_DONE)
        edge_header_done(w);
}

static void
edge_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    edge_refuse(arg, "no PROXY protocol header in time");
}

/* ---- accept -------------------------------------------------------------- */

void
edge_accept(struct proxy *px, int fd, const struct sockaddr *sa, bool tls)
{
    struct edge_wait *w;
    char addr[64];
    double secs;
    struct timeval tv;

    if (!edge_allowed(px->cfg.allow, px->cfg.n_allow, sa)) {
        addr_str(sa, addr, sizeof(addr));
        px->stats.hv_denied++;
        log_warnx("hypervisor connection from %s refused: source not in "
                  "--allow",
                  addr);
        evutil_closesocket(fd);
        return;
    }
    if (!px->cfg.proxy_protocol) {
        sess_new_ex(px, fd, sa, tls ? px->tls : NULL);
        return;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        log_warnx("cannot set up a hypervisor connection: out of memory");
        evutil_closesocket(fd);
        return;
    }
    w->px = px;
    w->fd = fd;
    w->tls = tls;
    memcpy(&w->sock_peer, sa,
           sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                     : sizeof(struct sockaddr_in));
    addr_str(sa, w->addr, sizeof(w->addr));
    pp_init(&w->pp);
    LIST_INSERT_HEAD(&px->edge_waits, w, link);
    evutil_make_socket_nonblocking(fd);
    w->ev = event_new(px->base, fd, EV_READ | EV_PERSIST, edge_read_cb, w);
    w->timer = evtimer_new(px->base, edge_timer_cb, w);
    secs = px->cfg.idle_timeout < EDGE_PP_SECS ? px->cfg.idle_timeout
                                               : EDGE_PP_SECS;
    tv.tv_sec = (time_t)secs;
    tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
    if (w->ev == NULL || w->timer == NULL || event_add(w->ev, NULL) != 0 ||
        evtimer_add(w->timer, &tv) != 0) {
        log_warnx("cannot set up a hypervisor connection: out of memory");
        edge_wait_free(w, true);
        return;
    }
    log_debug("hypervisor connection from %s: waiting for its PROXY header",
              w->addr);
}

void
edge_fini(struct proxy *px)
{
    struct edge_wait *w;

    while ((w = LIST_FIRST(&px->edge_waits)) != NULL)
        edge_wait_free(w, true);
}
