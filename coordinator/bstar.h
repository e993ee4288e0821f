/*
 * bstar.h: bs_, the coordinator pair (the zguide's Binary Star): a primary
 * and a backup, each publishing its state every heartbeat on its HA port
 * (a PUB bound on the port after the update port; the other subscribes).
 *
 * The state machine is one table (bstar.c, bs_table): states PRIMARY and
 * BACKUP (starting), ACTIVE, PASSIVE; events: the peer's state as heard,
 * and a node's request (the "client vote"). The rules:
 *   - a starting primary serves; it turns ACTIVE when it hears the backup,
 *     PASSIVE when it hears an ACTIVE backup;
 *   - a passive (or a starting backup) answers nodes NotActive while the
 *     peer is heard; a node's request after the peer's heartbeats stopped
 *     (2 intervals) makes it ACTIVE: failover needs both the silence and a
 *     node that cannot reach the other one, so a lost heartbeat alone
 *     never makes two actives;
 *   - two actives (a healed cut): logged loudly; the one with the lower
 *     term (the backup on a tie) turns PASSIVE and drops its directory, so
 *     its nodes move to the other, which they re-announce to;
 *   - two passives: the primary turns ACTIVE.
 * Every change to ACTIVE takes a new term (above both sides'); the server
 * starts a fresh directory then (new incarnation: nodes re-register and
 * re-announce what they hold, epochs and all: they never go backwards).
 *
 * Ownership: bs_new keeps base and zctx by pointer; the pair owns its two
 * sockets and timer. Loop thread only; never blocks.
 */
#ifndef VSPC_BSTAR_H
#define VSPC_BSTAR_H

#include "vspc/compat.h"

#include <stddef.h>
#include <stdint.h>

struct zc_keys;
struct event_base;
struct bstar;

enum bs_state { BS_PRIMARY, BS_BACKUP, BS_ACTIVE, BS_PASSIVE, BS__COUNT };

struct bs_cfg {
    bool primary;
    const char *ha_bind;         /* tcp://ADDR:PORT: our state PUB */
    const char *peer_ha;         /* tcp://ADDR:PORT: the peer's */
    double heartbeat;            /* seconds between states; 0: 1 */
    const struct zc_keys *curve; /* NULL or off: no CURVE (the pair shares
                                  * its key: the peer's public is ours) */
};

struct bs_hooks {
    /* We became ACTIVE with this term (fresh: start a new directory). */
    void (*activated)(void *arg, uint64_t term, bool fresh);
    /* We stopped being ACTIVE (two actives, lower term): drop the
     * directory. */
    void (*deactivated)(void *arg, const char *why);
    /* The directory's incarnation, published with our state. */
    uint64_t (*incarnation)(void *arg);
    void *arg;
};

struct bstar *bs_new(struct event_base *base, void *zctx,
                     const struct bs_cfg *cfg, const struct bs_hooks *hooks,
                     char *err, size_t errlen);
void bs_free(struct bstar **bp);

/* A node's request arrived: true if we serve it (ACTIVE or a starting
 * primary, or the vote just made us ACTIVE); false: answer NotActive. */
bool bs_serving(struct bstar *b, double now);
enum bs_state bs_state(const struct bstar *b);
uint64_t bs_term(const struct bstar *b);
const char *bs_state_str(enum bs_state st);
/* Counters for the stats line. */
struct bs_stats {
    uint64_t failovers;   /* became ACTIVE by a vote */
    uint64_t dual_active; /* two actives seen */
    uint64_t rejected;    /* requests answered NotActive */
    uint64_t heard;       /* peer states received */
};
const struct bs_stats *bs_stats(const struct bstar *b);

#endif /* VSPC_BSTAR_H */
