/*
 * ccint.h: the coordinator client's insides, shared by its files only:
 * coordcli.c (sockets, the state machine, receiving) and ccapi.c (the
 * calls a node makes: announce, withdraw, lookups, status). Not for
 * anyone else: vspc/coordcli.h is the interface.
 */
#ifndef VSPC_CCINT_H
#define VSPC_CCINT_H

#include "vspc/compat.h"

#include <sys/queue.h>

#include "vspc/coordcli.h"
#include "vspc/ratelog.h"
#include "vspc/strmap.h"
#include "vspc/zcurve.h"
#include "ccreplica.h"

struct event;
struct zev;

/* ---- what this node announces ------------------------------------------ */

struct cc_owned {
    struct smap_node hn;
    struct wire_console c;
    bool dirty; /* on the dirty queue: to be (re-)announced */
    TAILQ_ENTRY(cc_owned) dq;
};

struct cc_wd {
    struct smap_node hn;
    char id[WIRE_CONSOLE_ID_MAX + 1];
    uint64_t epoch;
    TAILQ_ENTRY(cc_wd) q;
};

struct cc {
    struct event_base *base;
    void *zctx;
    struct zc_keys curve; /* .on false: plain */
    bool own_ctx;
    char endpoint[300], pub_endpoint[300]; /* the one we talk to */
    char alt[300], alt_pub[300];           /* the pair's other, or "" */
    double last_switch;
    uint64_t coord_term; /* from its last reply */
    char node_id[WIRE_NODE_ID_MAX + 1];
    char peer_addr[WIRE_PEER_ADDR_MAX + 1];
    uint8_t index;
    double hb_ivl, silence, grace;
    size_t max_owned, max_replica;
    struct cc_callbacks cbs;
    void *arg;

    struct zev *dealer, *sub;
    struct event *tick, *flush_ev, *sweep_ev;

    enum cc_state state;
    bool away;
    uint64_t inc;        /* ours */
    uint64_t coord_inc;  /* the coordinator's we registered with */
    uint64_t synced_inc; /* the incarnation of the last complete sync */
    uint64_t last_seq;
    uint64_t snap_req; /* request id of the snapshot being received */
    bool snap_unsent;  /* the SnapshotRequest hit EAGAIN */
    double last_reply, last_register, snap_progress;
    double wait_since; /* first unanswered Register, 0 if none */
    char refused[WIRE_REASON_MAX + 1];

    struct ccr rep; /* the directory replica */
    struct smap owned, wds;
    TAILQ_HEAD(, cc_owned) dirty;
    TAILQ_HEAD(, cc_wd) wdq;
    struct rlog rl;
    struct cc_status st; /* counters */
};

/* coordcli.c, for ccapi.c */
/* Registered with the current coordinator (SYNC or ACTIVE). */
bool cc__registered(const struct cc *cc);
/* Send what is dirty or queued soon (one flush per loop turn). */
void cc__flush_later(struct cc *cc);
/* Forget an owned console (and its place on the dirty queue). */
void cc__owned_drop(struct cc *cc, struct cc_owned *o);

#endif /* VSPC_CCINT_H */
