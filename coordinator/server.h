/*
 * server.h: the coordinator's sockets and event handling (srv_).
 *
 * Ports (from the bind endpoint tcp://ADDR:P):
 *   P     ROUTER: requests from nodes (Register, Heartbeat, Announce,
 *         Withdraw, SnapshotRequest) and their replies.
 *   P+1   XPUB: the sequenced directory updates (Update, Hugz). An XPUB
 *         rather than a PUB so that a peer sending anything but a
 *         subscription there is seen and logged instead of silently
 *         ignored.
 *   P+2   the HA port when one of a pair (bstar.h): our state, PUB; the
 *         peer's is its own P+2 (or what ha_peer says). A coordinator
 *         that is not active answers every request NotActive, publishes
 *         nothing, and keeps no directory.
 *
 * Every received message is size-checked and decoded through wire_; a bad
 * one is logged (at most once per peer per second, with the count of
 * those suppressed) and dropped. Failed ZMTP handshakes (garbage, wrong
 * socket type) on both ports are logged through socket monitors. Nothing
 * blocks: replies that would block are dropped (the node retries),
 * snapshots are sent in slices (snapshot.h).
 *
 * Ownership: srv_new keeps base and zctx by pointer (both must outlive
 * the server); the server owns its sockets, timers and directory.
 */
#ifndef VSPC_SERVER_H
#define VSPC_SERVER_H

#include "vspc/compat.h"
#include "directory.h"

struct zc_keys;
struct event_base;
struct srv;

struct srv_cfg {
    const char *bind; /* tcp://ADDR:PORT */
    struct dir_limits lim;
    uint64_t incarnation; /* 0: random */
    /* One of a pair (NULL peer: alone). */
    const char *peer;            /* the other's bind endpoint */
    bool primary;                /* else the backup */
    const char *ha_bind;         /* NULL: bind's port + 2 */
    const char *ha_peer;         /* NULL: peer's port + 2 */
    const struct zc_keys *curve; /* NULL or off: no CURVE */
};

/* NULL on failure, with the reason in err. */
struct srv *srv_new(struct event_base *base, void *zctx,
                    const struct srv_cfg *cfg, char *err, size_t errlen);
void srv_free(struct srv **sp);

const struct dir *srv_dir(const struct srv *s);
const char *srv_pub_endpoint(const struct srv *s);
/* "active", "passive", ...; "alone" without a peer. */
const char *srv_ha_state(const struct srv *s);
/* One log line of counters (messages, rejects by reason, directory). */
void srv_log_stats(const struct srv *s);

#endif /* VSPC_SERVER_H */
