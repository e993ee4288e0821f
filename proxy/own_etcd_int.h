/*
 * own_etcd_int.h: the etcd ownership store's insides (oe_), shared by
 * own_etcd.c (the state machine: lease, registration, sync, watch) and
 * own_etcd_ops.c (what this node announces and withdraws, sent as
 * conditional transactions). Private to those two files.
 */
#ifndef VSPC_OWN_ETCD_INT_H
#define VSPC_OWN_ETCD_INT_H

#include "vspc/compat.h"

#include <sys/queue.h>

#include "ccreplica.h"
#include "etcd.h"
#include "etcdkv.h"
#include "ownstore.h"
#include "vspc/ratelog.h"
#include "vspc/strmap.h"

enum oe_state {
    OE_GRANT,    /* no lease: asking for one */
    OE_REGISTER, /* claiming the node index, writing the node's entries */
    OE_REFUSED,  /* the index is another live node's: trying again later */
    OE_SYNC,     /* reading the whole directory */
    OE_ACTIVE,   /* watching; announces and withdraws flow */
    OE_ST__COUNT
};

enum oe_event {
    OE_EV_OK,         /* the state's request succeeded */
    OE_EV_FAIL,       /* the endpoint did not answer: turn to the next */
    OE_EV_REFUSED,    /* the index is held by another node */
    OE_EV_LEASE_LOST, /* etcd no longer knows our lease */
    OE_EV_RESYNC,     /* the watch cannot go on (compacted, ended) */
    OE_EV_RETRY,      /* the retry timer */
    OE_EV__COUNT
};

struct oe_owned { /* a console this node holds */
    struct smap_node hn;
    struct wire_console c;
    bool dirty; /* to be (re)sent */
    TAILQ_ENTRY(oe_owned) dq;
};

struct oe_wd { /* a withdraw to send */
    struct smap_node hn;
    char id[WIRE_CONSOLE_ID_MAX + 1];
    uint64_t epoch;
    TAILQ_ENTRY(oe_wd) q;
};

struct oe_busy { /* an id with a transaction in flight */
    struct smap_node hn;
    char id[WIRE_CONSOLE_ID_MAX + 1];
};

/* A node whose alive/ key exists, or went less than OE_DEAD_GRACE ago (a
 * lease lost and taken again at once never shows the node dead: that
 * would cut working peer links). */
struct oe_alive {
    struct smap_node hn;
    char id[WIRE_NODE_ID_MAX + 1];
    double gone_at; /* 0: the key exists */
    bool seen;      /* in the sync being read */
};
#define OE_DEAD_GRACE 3.0

struct own_etcd {
    struct own_store s; /* first */
    struct event_base *base;
    struct etcd *et;
    struct own_callbacks cbs;
    void *arg;
    char node_id[WIRE_NODE_ID_MAX + 1];
    uint8_t index;
    char peer_addr[WIRE_PEER_ADDR_MAX + 1];
    uint64_t incarnation;
    char prefix[EKV_PREFIX_MAX + 1];
    unsigned ttl;
    /* The state machine. */
    enum oe_state state;
    bool away;
    unsigned gen; /* bumped at every switch: older replies are stale */
    bool waiting; /* the retry timer is armed, nothing sent */
    double backoff;
    struct event *retry_ev, *ka_ev, *dead_ev;
    int64_t lease;
    bool ka_in_flight;
    int64_t rev; /* the directory's revision the replica is at */
    bool synced; /* a first sync was done (restart clean-up) */
    char detail[200];
    /* The replica and what this node holds. */
    struct ccr rep;
    struct smap alive; /* node id -> struct oe_alive */
    struct smap owned, wds, busy;
    TAILQ_HEAD(, oe_owned) dirty;
    TAILQ_HEAD(, oe_wd) wdq;
    size_t ops_in_flight, max_owned;
    struct rlog rl;
    struct own_status st; /* counters */
};

#define OE_MAX_OPS 64 /* transactions in flight at once */

/* own_etcd.c */
void oe_event(struct own_etcd *o, enum oe_event ev, const char *detail);
/* A reply's error: FAIL for the endpoint (if of the current gen), and a
 * log line. Returns true if the caller should stop. */
bool oe_failed(struct own_etcd *o, unsigned gen, const char *what,
               const struct etcd_err *er);
void oe_apply_console(struct own_etcd *o, const struct wire_console *c);
json_t *oe_key_json(const struct own_etcd *o, enum ekv_kind k,
                    const char *name);

/* own_etcd_ops.c */
int oe_announce(struct own_store *s, const struct wire_console *c);
int oe_withdraw(struct own_store *s, const char *id, uint64_t epoch);
void oe_handed_over(struct own_store *s, const char *id, uint64_t epoch);
uint64_t oe_next_epoch(const struct own_store *s, const char *id);
void oe_flush(struct own_etcd *o);
void oe_mark_all_dirty(struct own_etcd *o);
/* c is held elsewhere: if this node announced it lower, it is fenced. */
void oe_check_fenced(struct own_etcd *o, const struct wire_console *c);
void oe_ops_free(struct own_etcd *o);

#endif /* VSPC_OWN_ETCD_INT_H */
