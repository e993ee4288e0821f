/*
 * zev.c: a libzmq socket on a libevent loop. See vspc/zev.h for the rules
 * (edge-triggered ZMQ_FD, drain, re-check after every send and callback).
 */
#include "vspc/compat.h"
#include "vspc/zev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <zmq.h>

struct zev {
    struct event_base *base;
    void *sock;
    struct event *ev;    /* ZMQ_FD readable: ZMQ_EVENTS may have changed */
    struct event *again; /* zero timeout: work left, next loop turn */
    zev_msg_fn on_msg;
    zev_writable_fn on_writable; /* one-shot, NULL when not wanted */
    void *arg;
    bool paused;
    bool closing; /* zev_free was called during a callback */
    int depth;    /* s_run frames on the stack */
    struct zev_stats stats;
};

/* ZMQ_EVENTS, or 0 if it cannot be read (a closed context). */
static int
s_events(const struct zev *z)
{
    int events = 0;
    size_t len = sizeof(events); /* must be set: FRR PR #2111 */

    if (zmq_getsockopt(z->sock, ZMQ_EVENTS, &events, &len) != 0)
        return 0;
    return events;
}

/*
 * Is there work for s_run? Then make the loop come back to it: through a
 * zero timeout rather than event_active, which would run it again in the
 * same pass over the active events, before any timer or other socket
 * (a busy socket would starve the heartbeat timer).
 */
static void
s_arm(struct zev *z, int events)
{
    static const struct timeval zero = {0, 0};

    if (z->closing)
        return;
    if (((events & ZMQ_POLLIN) && !z->paused) ||
        ((events & ZMQ_POLLOUT) && z->on_writable))
        evtimer_add(z->again, &zero);
}

static void
s_check(struct zev *z)
{
    if (!z->closing)
        s_arm(z, s_events(z));
}

static void
s_destroy(struct zev *z)
{
    int zero = 0;

    if (z->ev)
        event_free(z->ev);
    if (z->again)
        event_free(z->again);
    zmq_setsockopt(z->sock, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_close(z->sock);
    free(z);
}

/*
 * Receive one whole message and hand it to on_msg. Returns 1 if one was
 * received, 0 if none was waiting (or the socket failed).
 */
static int
s_recv_one(struct zev *z)
{
    zmq_msg_t parts[ZEV_MAX_FRAMES];
    struct zev_msg m;
    int more = 0;
    size_t len;

    memset(&m, 0, sizeof(m));
    zmq_msg_init(&parts[0]);
    if (zmq_msg_recv(&parts[0], z->sock, ZMQ_DONTWAIT) == -1) {
        if (errno != EAGAIN && errno != EINTR)
            z->stats.recv_errors++;
        zmq_msg_close(&parts[0]);
        return 0;
    }
    m.n = m.total = 1;
    /* The other frames of a message are delivered with the first one
     * (atomicity); the loop ends with RCVMORE clear, or on an error. */
    for (;;) {
        len = sizeof(more);
        if (zmq_getsockopt(z->sock, ZMQ_RCVMORE, &more, &len) != 0 || !more)
            break;
        if (m.n < ZEV_MAX_FRAMES) {
            zmq_msg_init(&parts[m.n]);
            if (zmq_msg_recv(&parts[m.n], z->sock, ZMQ_DONTWAIT) == -1) {
                zmq_msg_close(&parts[m.n]);
                z->stats.recv_errors++;
                break;
            }
            m.n++;
        } else {
            zmq_msg_t drop;

            zmq_msg_init(&drop);
            if (zmq_msg_recv(&drop, z->sock, ZMQ_DONTWAIT) == -1) {
                zmq_msg_close(&drop);
                z->stats.recv_errors++;
                break;
            }
            zmq_msg_close(&drop);
            z->stats.frames_dropped++;
        }
        m.total++;
    }
    for (size_t i = 0; i < m.n; i++) {
        m.f[i].data = zmq_msg_data(&parts[i]);
        m.f[i].size = zmq_msg_size(&parts[i]);
    }
    /* Metadata rides on frames that came from the wire (a ROUTER's
     * routing-id frame is made locally): look from the last one. */
    for (size_t i = m.n; i-- > 0 && m.peer == NULL;)
        m.peer = zmq_msg_gets(&parts[i], "Peer-Address");
    z->stats.msgs_in++;
    z->on_msg(z, &m, z->arg);
    for (size_t i = 0; i < m.n; i++)
        zmq_msg_close(&parts[i]);
    return 1;
}

/*
 * The drain loop: one wake-up's worth of work. At most one writable
 * notice and ZEV_BUDGET messages; whatever is left is found by the final
 * s_check, which re-activates the event for the next loop turn.
 */
static void
s_run(struct zev *z)
{
    bool notified = false;
    unsigned n = 0;
    int events;

    z->depth++;
    while (!z->closing) {
        events = s_events(z);
        if ((events & ZMQ_POLLOUT) && z->on_writable && !notified) {
            zev_writable_fn fn = z->on_writable;

            z->on_writable = NULL;
            notified = true;
            fn(z, z->arg);
            continue; /* ZMQ_EVENTS may have changed */
        }
        if (!(events & ZMQ_POLLIN) || z->paused)
            break;
        if (n >= ZEV_BUDGET) {
            z->stats.yields++;
            break;
        }
        if (s_recv_one(z) == 0)
            break;
        n++;
    }
    z->depth--;
    if (z->closing) {
        if (z->depth == 0)
            s_destroy(z);
        return;
    }
    s_check(z);
}

static void
s_fd_cb(evutil_socket_t fd, short what, void *arg)
{
    s_run(arg);
}

static void
s_again_cb(evutil_socket_t fd, short what, void *arg)
{
    s_run(arg);
}

struct zev *
zev_new(struct event_base *base, void *sock, zev_msg_fn on_msg, void *arg)
{
    struct zev *z;
    int fd = -1, zero = 0;
    size_t len = sizeof(fd);

    if ((z = calloc(1, sizeof(*z))) == NULL) {
        zmq_close(sock);
        return NULL;
    }
    z->base = base;
    z->sock = sock;
    z->on_msg = on_msg;
    z->arg = arg;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero));
    if (zmq_getsockopt(sock, ZMQ_FD, &fd, &len) != 0 ||
        (z->ev = event_new(base, fd, EV_READ | EV_PERSIST, s_fd_cb, z)) ==
            NULL ||
        (z->again = evtimer_new(base, s_again_cb, z)) == NULL ||
        event_add(z->ev, NULL) != 0) {
        s_destroy(z);
        return NULL;
    }
    /* Messages may be queued already: no edge would announce them. */
    s_check(z);
    return z;
}

void
zev_free(struct zev **zp)
{
    struct zev *z = *zp;

    if (z == NULL)
        return;
    *zp = NULL;
    if (z->closing)
        return;
    z->closing = true;
    if (z->depth > 0) {
        /* Inside one of our callbacks: s_run frees on its way out. No more
         * wake-ups meanwhile. */
        event_del(z->ev);
        event_del(z->again);
        return;
    }
    s_destroy(z);
}

void *
zev_socket(const struct zev *z)
{
    return z->sock;
}

int
zev_send(struct zev *z, const struct zev_frame *f, size_t n)
{
    int saved;

    if (z == NULL) { /* a socket that could not be made (yet) */
        errno = ENOTCONN;
        return -1;
    }
    if (n == 0 || z->closing) {
        errno = EINVAL;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int flags = ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0);

        if (zmq_send(z->sock, f[i].data, f[i].size, flags) == -1) {
            saved = errno;
            /* Only the first frame can be refused: once it is queued,
             * libzmq takes the rest of the message (atomic delivery). */
            if (saved == EAGAIN)
                z->stats.send_eagain++;
            else
                z->stats.send_errors++;
            s_check(z);
            errno = saved;
            return -1;
        }
    }
    z->stats.msgs_out++;
    /* The send may have consumed the edge announcing an incoming message. */
    s_check(z);
    return 0;
}

void
zev_pause(struct zev *z)
{
    if (z == NULL)
        return;
    z->paused = true;
}

void
zev_resume(struct zev *z)
{
    if (z == NULL)
        return;
    z->paused = false;
    s_check(z);
}

bool
zev_paused(const struct zev *z)
{
    return z == NULL || z->paused;
}

bool
zev_readable(struct zev *z)
{
    int events;

    if (z == NULL)
        return false;
    events = s_events(z);

    /* Reading ZMQ_EVENTS processes the socket's commands and may consume
     * the fd's edge: whoever reads it must arm the loop (the rule). */
    s_arm(z, events);
    return (events & ZMQ_POLLIN) != 0;
}

void
zev_want_writable(struct zev *z, zev_writable_fn fn)
{
    if (z == NULL)
        return;
    z->on_writable = fn;
    if (fn)
        s_check(z);
}

const struct zev_stats *
zev_stats(const struct zev *z)
{
    static const struct zev_stats none;

    return z ? &z->stats : &none;
}

int
zev_endpoint_port_add(const char *ep, int delta, char *out, size_t cap)
{
    const char *colon, *p;
    long port = 0;
    int n;

    if (strncmp(ep, "tcp://", 6) != 0 || (colon = strrchr(ep, ':')) == NULL ||
        colon < ep + 7 || colon[1] == '\0' || strlen(colon + 1) > 5)
        return -1;
    for (p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        port = port * 10 + (*p - '0');
    }
    port += delta;
    if (port < 1 || port > 65535)
        return -1;
    n = snprintf(out, cap, "%.*s:%ld", (int)(colon - ep), ep, port);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}
