/*
 * zev.h: one libzmq socket driven by a libevent loop (zev_).
 *
 * libzmq's ZMQ_FD is edge-triggered and is also used inside zmq_send and
 * zmq_recv: "readable" means only "ZMQ_EVENTS may have changed", and a
 * send can consume the edge that announced an incoming message. So:
 *
 *   - the fd is watched with EV_READ|EV_PERSIST (no EV_ET): a wake-up runs
 *     a drain loop that re-reads ZMQ_EVENTS before every receive and
 *     receives whole messages with ZMQ_DONTWAIT until ZMQ_POLLIN is clear;
 *   - at most ZEV_BUDGET messages per wake-up (fairness between sockets);
 *     if ZMQ_POLLIN is still set, a zero-timeout timer brings the loop
 *     back on its next turn, after the other sockets and the timers (not
 *     event_active: libevent would run it again in the same pass, and a
 *     busy socket would starve everything else);
 *   - after every zev_send, and after every callback, ZMQ_EVENTS is
 *     re-checked and that timer armed when a message is waiting (or a
 *     requested writable notice is due): an edge consumed by a send is
 *     never lost;
 *   - the first check is made at creation (messages already queued).
 *
 * Never blocks: every zmq_send/zmq_recv uses ZMQ_DONTWAIT. A send that
 * would block (high-water mark reached, or no connected peer with
 * ZMQ_IMMEDIATE) fails with EAGAIN and is reported to the caller; zev
 * never retries. The caller may ask for a one-shot writable notice
 * (zev_want_writable) when ZMQ_EVENTS shows ZMQ_POLLOUT again. (A ROUTER
 * reports POLLOUT whenever any peer has room, so callers sending to one
 * peer of a ROUTER should retry on a timer instead.)
 *
 * No process-wide state; one thread (the loop's) owns the socket.
 *
 * Ownership: zev_new takes ownership of the socket (closed by zev_free,
 * with ZMQ_LINGER 0; also closed when zev_new fails). The owner may set
 * options, bind and connect through zev_socket() but must never send,
 * receive or read ZMQ_EVENTS on it directly (reading ZMQ_EVENTS consumes
 * the edge: use zev_readable, which re-arms). A struct zev_msg and its frames
 * are valid only during the callback. zev_free may be called from inside a
 * callback of the same zev: the destruction is deferred until the
 * callback returns, and no further callback is made.
 */
#ifndef VSPC_ZEV_H
#define VSPC_ZEV_H

#include "vspc/compat.h"

struct event_base;
struct zev;

#define ZEV_MAX_FRAMES                                                         \
    8                 /* frames kept per message; more are dropped (ZAP: 7) */
#define ZEV_BUDGET 64 /* messages per wake-up */

struct zev_frame {
    const void *data;
    size_t size;
};

struct zev_msg {
    size_t n; /* frames in f */
    struct zev_frame f[ZEV_MAX_FRAMES];
    size_t total;     /* frames the message had: > n means some were dropped */
    const char *peer; /* the connection's "Peer-Address" (IP), or NULL */
};

typedef void (*zev_msg_fn)(struct zev *z, const struct zev_msg *m, void *arg);
typedef void (*zev_writable_fn)(struct zev *z, void *arg);

struct zev_stats {
    uint64_t msgs_in, msgs_out;
    uint64_t send_eagain; /* sends refused: would block */
    uint64_t send_errors; /* other send failures */
    uint64_t recv_errors;
    uint64_t frames_dropped; /* beyond ZEV_MAX_FRAMES */
    uint64_t yields;         /* budget used up with messages still waiting */
};

/*
 * Watch sock (a libzmq socket) on base; on_msg(z, msg, arg) for every
 * message received. Returns NULL on failure (sock is closed then).
 */
struct zev *zev_new(struct event_base *base, void *sock, zev_msg_fn on_msg,
                    void *arg);
/* Close the socket and free; *zp = NULL. NULL-safe, idempotent. */
void zev_free(struct zev **zp);

/* zev_send, zev_pause/resume/paused, zev_readable, zev_want_writable and
 * zev_stats accept NULL (a socket that could not be made): nothing is
 * sent (ENOTCONN), nothing is readable, the counters are zero. */

/* The socket, for options, bind and connect only. */
void *zev_socket(const struct zev *z);

/*
 * Send one message of n frames (n >= 1), never blocking. Returns 0, or -1
 * with errno: EAGAIN (would block: nothing was queued), EHOSTUNREACH
 * (ROUTER with ZMQ_ROUTER_MANDATORY: no such peer), or what zmq_send says.
 */
int zev_send(struct zev *z, const struct zev_frame *f, size_t n);

/* Stop / restart receiving (messages stay queued in libzmq meanwhile, up
 * to its high-water mark). */
void zev_pause(struct zev *z);
void zev_resume(struct zev *z);
bool zev_paused(const struct zev *z);
/* A message is waiting to be received (ZMQ_EVENTS has ZMQ_POLLIN). Like
 * every read of ZMQ_EVENTS it may consume the fd's edge, so it also arms
 * the loop to receive it (not const). */
bool zev_readable(struct zev *z);

/* Call fn once, from the loop, when ZMQ_EVENTS shows ZMQ_POLLOUT (maybe
 * at once). A later call replaces fn; NULL cancels. */
void zev_want_writable(struct zev *z, zev_writable_fn fn);

const struct zev_stats *zev_stats(const struct zev *z);

/*
 * "tcp://HOST:PORT" with PORT + delta, written to out[cap] (the
 * coordinator's update port is its request port + 1). Returns 0, or -1 if
 * ep is not tcp://HOST:PORT or the result is not a port (1-65535).
 */
int zev_endpoint_port_add(const char *ep, int delta, char *out, size_t cap);

#endif /* VSPC_ZEV_H */
