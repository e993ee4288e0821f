/*
 * ownstore.h: own_, the ownership directory as a node uses it, behind one
 * narrow interface, so that where it lives is a choice of implementation:
 *
 *   announce / withdraw / handed_over   what this node holds
 *   next_epoch                          the epoch to claim a console with
 *   console / foreach_console           lookup (a local replica: no round
 *                                       trip, works while the store is away)
 *   node / foreach_node                 node liveness and peer addresses
 *   callbacks                           watch: consoles and nodes changing,
 *                                       fencing, the store's state
 *
 * Implementations: own_coord_new (the vspc-coordinator pair, over ZeroMQ:
 * common/coordcli.c) and own_etcd_new (an etcd v3 cluster through its JSON
 * gateway: own_etcd.c). Every call is non-blocking and runs on the caller's
 * loop. The same rules hold for every implementation: an entry is owned
 * by the node with the highest epoch; a node whose console is shown held
 * elsewhere with a higher epoch is told (fenced) and lets it go; while the
 * store is away, lookups answer from the replica and announces wait.
 *
 * Ownership: the caller owns the store (own_free). Pointers handed to
 * callbacks are valid during the callback; pointers returned by lookups
 * until the loop runs again or the store is called.
 */
#ifndef VSPC_OWNSTORE_H
#define VSPC_OWNSTORE_H

#include "vspc/compat.h"

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct event_base;
struct zc_keys;

enum own_state {
    OWN_ST_JOINING, /* registering with the store */
    OWN_ST_REFUSED, /* the store refused this node (detail says why) */
    OWN_ST_SYNCING, /* joined; loading the directory */
    OWN_ST_ACTIVE,  /* the replica follows the store */
    OWN_ST__COUNT
};

struct own_callbacks {
    /* A console appeared (old NULL), changed, or went (now NULL). */
    void (*console)(void *arg, const struct wire_console *now,
                    const struct wire_console *old);
    /* A node appeared (old NULL), changed (alive, address), or went. */
    void (*node)(void *arg, const struct wire_node *now,
                 const struct wire_node *old);
    /* A console this node announced (mine) is held elsewhere with a
     * higher epoch (theirs); it is no longer announced. */
    void (*fenced)(void *arg, const struct wire_console *mine,
                   const struct wire_console *theirs);
    /* State change, or the store away/back; detail is readable. */
    void (*state)(void *arg, enum own_state st, bool away, const char *detail);
};

struct own_status {
    enum own_state state;
    bool away;
    size_t consoles, nodes, owned;
    uint64_t registrations, snapshots;
    uint64_t switches;  /* turned to another server of the store */
    uint64_t term;      /* the server's term (a pair's), 0 if none */
    const char *server; /* the one talked to (valid until it is called) */
    const char *other;  /* another one, "" if none */
};

struct own_store;
struct own_store_ops {
    int (*announce)(struct own_store *s, const struct wire_console *c);
    int (*withdraw)(struct own_store *s, const char *id, uint64_t epoch);
    void (*handed_over)(struct own_store *s, const char *id, uint64_t epoch);
    uint64_t (*next_epoch)(const struct own_store *s, const char *id);
    const struct wire_console *(*console)(const struct own_store *s,
                                          const char *id);
    const struct wire_node *(*node)(const struct own_store *s,
                                    const char *node_id);
    void (*foreach_console)(const struct own_store *s,
                            void (*fn)(const struct wire_console *c, void *arg),
                            void *arg);
    void (*foreach_node)(const struct own_store *s,
                         void (*fn)(const struct wire_node *n, void *arg),
                         void *arg);
    void (*status)(const struct own_store *s, struct own_status *st);
    void (*free)(struct own_store *s);
};

struct own_store {
    const struct own_store_ops *ops;
    const char *kind; /* "coordinator", ... (for logs) */
};

/* What every implementation is given. */
struct own_config {
    const char *const *endpoints; /* the store's addresses, n_endpoints */
    size_t n_endpoints;
    const char *node_id;
    uint8_t node_index;
    const char *peer_addr; /* this node's peer link, host:port */
    uint64_t incarnation;  /* this process's, never 0 */
    /* etcd only (own_etcd_new): keys under etcd_prefix (NULL: "/vspc/"),
     * the node's lease TTL in seconds (0: 10). */
    const char *etcd_prefix;
    unsigned etcd_ttl;
    /* The coordinator only: CURVE keys (vspc/zcurve.h), NULL: plain. */
    const struct zc_keys *curve;
};

/* The vspc-coordinator (pair): endpoints are their request ports. NULL on
 * failure, reason in err. */
struct own_store *own_coord_new(struct event_base *base,
                                const struct own_config *cfg,
                                const struct own_callbacks *cbs, void *arg,
                                char *err, size_t errlen);

/* An etcd v3 cluster: endpoints are its members' http://HOST:PORT. */
struct own_store *own_etcd_new(struct event_base *base,
                               const struct own_config *cfg,
                               const struct own_callbacks *cbs, void *arg,
                               char *err, size_t errlen);

/* Thin calls through the table (NULL-safe where noted). */
static inline int
own_announce(struct own_store *s, const struct wire_console *c)
{
    return s->ops->announce(s, c);
}
static inline int
own_withdraw(struct own_store *s, const char *id, uint64_t epoch)
{
    return s->ops->withdraw(s, id, epoch);
}
static inline void
own_handed_over(struct own_store *s, const char *id, uint64_t epoch)
{
    s->ops->handed_over(s, id, epoch);
}
static inline uint64_t
own_next_epoch(const struct own_store *s, const char *id)
{
    return s->ops->next_epoch(s, id);
}
static inline const struct wire_console *
own_console(const struct own_store *s, const char *id)
{
    return s->ops->console(s, id);
}
static inline void
own_foreach_console(const struct own_store *s,
                    void (*fn)(const struct wire_console *c, void *arg),
                    void *arg)
{
    s->ops->foreach_console(s, fn, arg);
}
static inline void
own_foreach_node(const struct own_store *s,
                 void (*fn)(const struct wire_node *n, void *arg), void *arg)
{
    s->ops->foreach_node(s, fn, arg);
}
static inline void
own_status(const struct own_store *s, struct own_status *st)
{
    s->ops->status(s, st);
}
/* NULL-safe; *sp = NULL. */
static inline void
own_free(struct own_store **sp)
{
    if (*sp)
        (*sp)->ops->free(*sp);
    *sp = NULL;
}
const char *own_state_str(enum own_state st);

#endif /* VSPC_OWNSTORE_H */
