/*
 * directory.h: the coordinator's directory (dir_): which nodes exist and
 * which node owns which console, with the epoch rule of proto/vspc.proto.
 * I/O-free: no sockets, no clock (callers pass `now`, seconds on a
 * monotonic clock), so the Check suite drives it directly.
 *
 * Soft state only: everything here is rebuilt from what nodes register
 * and announce. Every change is handed to the publish callback as a
 * struct wire_update with the next sequence number (1, 2, ... within this
 * incarnation) and the directory's incarnation filled in: the Clone
 * pattern's update stream. Unchanged refreshes publish nothing.
 *
 * Rules (see vspc.proto "EPOCHS" for the epoch ones):
 *   - Register: refused when a LIVE node with another node_id holds the
 *     index, or when max_nodes distinct node ids are known. A known
 *     node_id with a new incarnation restarted: its consoles are dropped
 *     (published as removed) until it announces them again.
 *   - Heartbeat: keeps a registered node alive; a node silent for
 *     heartbeat_timeout is marked dead by dir_expire and published; its
 *     consoles stay listed with the dead owner.
 *   - Announce / Withdraw: accepted only from a live registered node;
 *     epoch and owner checked; limits per node and in total.
 *
 * Memory: one struct dir_console (about 0.6 KiB) per console, at most
 * max_consoles; one struct dir_node per node id, at most max_nodes.
 * Ownership: the directory owns its entries; pointers returned by the
 * lookup functions are valid until the next call that changes the
 * directory.
 */
#ifndef VSPC_DIRECTORY_H
#define VSPC_DIRECTORY_H

#include "vspc/compat.h"
#include "vspc/ratelog.h"
#include "vspc/strmap.h"
#include "wire.h"

#define DIR_MAX_NODES 256

struct dir_limits {
    size_t max_nodes;         /* 1 to DIR_MAX_NODES */
    size_t max_per_node;      /* consoles one node may own */
    size_t max_consoles;      /* consoles in all */
    double heartbeat_timeout; /* seconds */
};

struct dir_node {
    struct smap_node hn;
    struct wire_node n; /* node_id, index, peer_addr, alive */
    uint64_t incarnation;
    double last_seen;
    size_t nconsoles; /* consoles it owns (alive or not) */
    bool limit_logged;
};

struct dir_console {
    struct smap_node hn;
    struct wire_console c;
    struct dir_node *owner;
};

/* Called for every change, in order; u valid during the call only. */
typedef void (*dir_publish_fn)(const struct wire_update *u, void *arg);

enum dir_result {
    DIR_APPLIED = 0,    /* changed and published */
    DIR_UNCHANGED,      /* a refresh: nothing to publish */
    DIR_REFUSED,        /* register refused (reason given) */
    DIR_STALE,          /* epoch lower than known: ignored */
    DIR_CONFLICT,       /* same epoch, another owner: ignored */
    DIR_NOT_REGISTERED, /* sender unknown or dead */
    DIR_BAD,            /* owner / index / epoch inconsistent */
    DIR_NOT_FOUND,      /* withdraw of an unknown console */
    DIR_LIMIT,          /* a memory limit: ignored */
    DIR_NOMEM,
    DIR_RESULT__COUNT
};

struct dir_stats {
    uint64_t results[DIR_RESULT__COUNT];
    uint64_t deaths;   /* nodes marked dead */
    uint64_t restarts; /* nodes seen with a new incarnation */
};

struct dir {
    struct dir_limits lim;
    uint64_t incarnation;
    uint64_t seq;                              /* last published */
    struct smap nodes;                         /* node_id -> struct dir_node */
    struct smap consoles;                      /* id -> struct dir_console */
    struct dir_node *node_list[DIR_MAX_NODES]; /* in registration order */
    size_t nnodes;
    dir_publish_fn publish;
    void *arg;
    struct rlog rl; /* remote-controlled log lines, per node */
    struct dir_stats stats;
};

/* 0, or -1 (out of memory). */
int dir_init(struct dir *d, const struct dir_limits *lim, uint64_t incarnation,
             dir_publish_fn publish, void *arg);
void dir_fini(struct dir *d);

/* DIR_APPLIED, or DIR_REFUSED with the reason in reason[cap]. */
enum dir_result dir_register(struct dir *d, const struct wire_register *r,
                             double now, char *reason, size_t cap);
/* True if the sender is a live registered node of that incarnation. */
bool dir_heartbeat(struct dir *d, const struct wire_heartbeat *h, double now);
enum dir_result dir_announce(struct dir *d, const struct wire_console *c,
                             double now);
enum dir_result dir_withdraw(struct dir *d, const struct wire_withdraw *w,
                             double now);
/*
 * Mark nodes silent for longer than the heartbeat timeout (plus slack)
 * dead. Returns how many were. The server passes a slack when requests
 * are waiting unread: a heartbeat may be among them, and a coordinator
 * that falls behind must not declare its nodes dead for its own delay.
 */
size_t dir_expire(struct dir *d, double now, double slack);

const struct dir_node *dir_node_find(const struct dir *d, const char *node_id);
const struct dir_console *dir_console_find(const struct dir *d, const char *id);

static inline size_t
dir_console_count(const struct dir *d)
{
    return smap_count(&d->consoles);
}

const char *dir_result_str(enum dir_result r);

#endif /* VSPC_DIRECTORY_H */
