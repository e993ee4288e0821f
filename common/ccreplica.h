/*
 * ccreplica.h: the directory replica (ccr_) of the coordinator client
 * (common/coordcli.c) and of the etcd store (proxy/own_etcd.c). No sockets, no
 * clock: the client feeds it what the coordinator sends and passes `now`.
 *
 * Generations: every sync (snapshot) starts a generation (ccr_begin);
 * whatever the snapshot or a later update confirms is stamped with it.
 * The first sync with a new coordinator incarnation also marks where that
 * incarnation began (ccr_new_incarnation): entries older than that are
 * kept until grace_until (the other nodes are re-announcing to the new
 * coordinator), then ccr_sweep removes those not confirmed by then.
 * Entries of an earlier sync of the same incarnation that the new
 * snapshot lacks are removed at once.
 *
 * Within a generation an entry never moves back to a lower epoch: a
 * snapshot sent in slices may hold a newer entry than an update replayed
 * after it. Across generations the coordinator is authoritative.
 *
 * Ownership: entries are owned by the replica; pointers from the lookups
 * and to the callbacks are valid until the replica next changes.
 */
#ifndef VSPC_CCREPLICA_H
#define VSPC_CCREPLICA_H

#include "vspc/compat.h"
#include "vspc/coordcli.h"
#include "vspc/ratelog.h"
#include "vspc/strmap.h"
#include "wire.h"

struct ccr {
    struct smap consoles; /* id -> struct ccr_console */
    struct smap nodes;    /* node_id -> struct ccr_node */
    unsigned gen;         /* the current sync */
    unsigned inc_gen;     /* the first sync of the current incarnation */
    double grace_until;
    size_t max_consoles;
    const char *who; /* the node id, for log lines (kept by pointer) */
    struct rlog rl;
    /* The client's callbacks (coordcli.h), with its argument. */
    void (*console)(void *arg, const struct wire_console *now,
                    const struct wire_console *old);
    void (*node)(void *arg, const struct wire_node *now,
                 const struct wire_node *old);
    void *arg;
};

/* 0, or -1 (out of memory). cbs: the client's console and node
 * callbacks (either may be NULL), called with arg. */
int ccr_init(struct ccr *r, size_t max_consoles, const char *who,
             const struct cc_callbacks *cbs, void *arg);
void ccr_fini(struct ccr *r);

/* A sync starts: a new generation. */
void ccr_begin(struct ccr *r);
/* The sync just completed was the first with a new coordinator
 * incarnation: older entries are kept until grace_until. */
void ccr_new_incarnation(struct ccr *r, double grace_until);

void ccr_console(struct ccr *r, const struct wire_console *c, double now);
void ccr_removed(struct ccr *r, const struct wire_removed *rm);
void ccr_node(struct ccr *r, const struct wire_node *n);
/* Remove what the current generation did not confirm (see above).
 * Returns the number of consoles removed. */
size_t ccr_sweep(struct ccr *r, double now);

const struct wire_console *ccr_get_console(const struct ccr *r, const char *id);
const struct wire_node *ccr_get_node(const struct ccr *r, const char *id);
void ccr_foreach_console(const struct ccr *r,
                         void (*fn)(const struct wire_console *c, void *arg),
                         void *arg);
void ccr_foreach_node(const struct ccr *r,
                      void (*fn)(const struct wire_node *n, void *arg),
                      void *arg);

#endif /* VSPC_CCREPLICA_H */
