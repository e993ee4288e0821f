/*
 * coordcli.h: a node's client of the coordinator (cc_): registration,
 * heartbeats, announce/withdraw, and a local replica of the directory
 * (the Clone pattern's client). Runs on the caller's libevent loop, over
 * zev (a DEALER for requests, a SUB for the update stream); never blocks.
 *
 * States (an explicit table in coordcli.c):
 *   REGISTER  sending Register every heartbeat interval until answered.
 *   REFUSED   the coordinator refused (node index held by another live
 *             node, or too many nodes): logged as an error, the state
 *             callback is told the reason; Register again every 5
 *             intervals (the conflict may go away).
 *   SYNC      registered; everything this node holds was (re-)announced;
 *             a snapshot is being received (the update stream is paused
 *             meanwhile: libzmq queues it).
 *   ACTIVE    the replica follows the update stream.
 * A HeartbeatReply with another coordinator incarnation (it restarted) or
 * registered = false (it declared this node dead) sends the node back to
 * REGISTER: it registers, re-announces everything it was given and
 * re-snapshots. A sequence gap (an update lost at the publisher's
 * high-water mark) sends it back to SYNC.
 *
 * A pair (cc_config.endpoint2): NotActive from the one it talks to, or
 * its silence, turns the client to the other (at most once per heartbeat
 * interval for NotActive, once per `silence` for silence): it registers
 * there, re-announces everything and re-snapshots, as after a restart.
 *
 * The coordinator away (no reply for `silence` seconds): logged once, the
 * state callback is told, and everything keeps working from the replica;
 * announces and withdraws made meanwhile are kept and sent once a
 * coordinator answers.
 *
 * Replica rules: within one coordinator incarnation the replica mirrors
 * the directory (updates applied in sequence; an entry from the snapshot
 * that is newer than a replayed update is not moved back). Entries the new
 * snapshot of a NEW incarnation does not contain are kept for
 * `resync_grace` seconds (the other nodes are still re-announcing) and
 * removed then if still unconfirmed; after a gap in the same incarnation,
 * at once.
 *
 * Fencing: when the replica shows a console this node announced held by
 * another node with a higher epoch, cc_ forgets it (it will not be
 * re-announced) and calls the fenced callback: the caller lets its
 * hypervisor connection go.
 *
 * No process-wide state: several clients may share one loop and one
 * ZeroMQ context (the tests run three nodes in one process).
 *
 * Ownership and lifetime: cc_new copies the config strings. zctx, if
 * given, is kept by pointer and must outlive the client; if NULL the
 * client makes and terminates its own. Pointers handed to callbacks are
 * valid during the callback only. Callbacks may call cc_announce,
 * cc_withdraw and the lookups, never cc_free. Pointers returned by the
 * lookups are valid until the loop runs again or the client is called.
 */
#ifndef VSPC_COORDCLI_H
#define VSPC_COORDCLI_H

#include "vspc/compat.h"
#include "wire.h"

struct event_base;
struct cc;

enum cc_state {
    CC_ST_REGISTER,
    CC_ST_REFUSED,
    CC_ST_SYNC,
    CC_ST_ACTIVE,
    CC_ST__COUNT
};

struct zc_keys;

struct cc_config {
    const char *endpoint;     /* tcp://HOST:PORT, the coordinator's requests */
    const char *pub_endpoint; /* NULL: endpoint's PORT + 1 */
    /* The other coordinator of a Binary Star pair (NULL: alone; its
     * updates on PORT + 1). The client talks to one at a time and turns
     * to the other when the one it talks to answers NotActive or stays
     * silent for `silence`. */
    const char *endpoint2;
    const char *node_id; /* 1-63 printable characters, no spaces */
    uint8_t node_index;
    const char *peer_addr; /* this node's peer link, host:port */
    double heartbeat_ivl;  /* seconds; 0: 1 */
    double silence;        /* coordinator away after; 0: 3 intervals */
    double resync_grace;   /* seconds; 0: 5 */
    size_t max_owned;      /* consoles this node may announce; 0: 100000 */
    size_t max_replica;    /* consoles kept; 0: 1000000 */
    uint64_t incarnation;  /* 0: random (one per process start) */
    /* CURVE (vspc/zcurve.h): this node's keys and the coordinators'
     * public key; NULL or off: plain. Copied. */
    const struct zc_keys *curve;
};

struct cc_callbacks {
    /* A console appeared (old NULL), changed, or went (now NULL). */
    void (*console)(void *arg, const struct wire_console *now,
                    const struct wire_console *old);
    /* A node appeared (old NULL), changed (alive, address), or went. */
    void (*node)(void *arg, const struct wire_node *now,
                 const struct wire_node *old);
    /* A console this node announced (mine) is held elsewhere with a
     * higher epoch (theirs); it was dropped from what this node announces. */
    void (*fenced)(void *arg, const struct wire_console *mine,
                   const struct wire_console *theirs);
    /* State change or coordinator away/back; detail is a readable reason
     * (the refusal's, "coordinator silent", ...). */
    void (*state)(void *arg, enum cc_state st, bool away, const char *detail);
};

struct cc_status {
    enum cc_state state;
    bool away;                /* no reply for `silence` */
    uint64_t incarnation;     /* this node's */
    uint64_t coordinator_inc; /* the coordinator's, 0 before the first */
    uint64_t seq;             /* last update applied */
    size_t consoles, nodes, owned, pending_withdraws;
    uint64_t registrations, snapshots, gaps, bad_messages;
    uint64_t switches;         /* turned to the other coordinator of the pair */
    uint64_t coordinator_term; /* its term in the pair (0 alone) */
    const char *endpoint;      /* the coordinator talked to */
    const char *other;         /* the pair's other one, "" alone */
    /* The update stream: messages received, read paused (while syncing),
     * a message waiting to be read. */
    uint64_t updates_in;
    bool updates_paused, updates_waiting;
};

/* NULL on failure (bad config, no memory, sockets), reason in err. */
struct cc *cc_new(struct event_base *base, void *zctx,
                  const struct cc_config *cfg, const struct cc_callbacks *cbs,
                  void *arg, char *err, size_t errlen);
/* Closes the sockets, frees everything; *ccp = NULL. NULL-safe. Not from
 * a callback. */
void cc_free(struct cc **ccp);

/*
 * This node holds c (a claim, a refresh or a state change): copied, sent
 * now if registered, re-sent after every re-registration. c->owner and
 * owner_index are set to this node's. Returns 0, or -1 (invalid entry,
 * epoch whose low byte is not this node's index, or max_owned reached).
 */
int cc_announce(struct cc *cc, const struct wire_console *c);
/* This node no longer holds console id at epoch. 0, or -1 (bad id). */
int cc_withdraw(struct cc *cc, const char *id, uint64_t epoch);
/* This node handed console id (held at epoch) to another node, which
 * announces it with a newer epoch: forgotten here without a withdraw (the
 * directory's entry stays until the new owner's replaces it, so nobody
 * sees the console vanish), and never reported as fenced. */
void cc_handed_over(struct cc *cc, const char *id, uint64_t epoch);

/* The epoch to claim console id with (vspc.proto EPOCHS): above the
 * highest this client knows of (replica, own, pending withdraws). */
uint64_t cc_next_epoch(const struct cc *cc, const char *id);

const struct wire_console *cc_console(const struct cc *cc, const char *id);
const struct wire_node *cc_node(const struct cc *cc, const char *node_id);
/* Call fn for every console / node of the replica. fn must not call cc_. */
void cc_foreach_console(const struct cc *cc,
                        void (*fn)(const struct wire_console *c, void *arg),
                        void *arg);
void cc_foreach_node(const struct cc *cc,
                     void (*fn)(const struct wire_node *n, void *arg),
                     void *arg);

void cc_status(const struct cc *cc, struct cc_status *st);
const char *cc_state_str(enum cc_state st);

#endif /* VSPC_COORDCLI_H */
