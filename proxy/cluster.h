/*
 * cluster.h: clu_*, this node as a member of the cluster.
 *
 * With --coordinator, the node registers with the coordinator (common/
 * coordcli.c: registration, heartbeats, the directory replica of the
 * Clone pattern), announces every console it owns (id, VM name, owner
 * epoch, state, hypervisor address) whenever that changes, and withdraws
 * a console when it forgets it. The replica lets `list` and the HTTP API
 * show every console of the cluster with its owner node, without a round
 * trip and while the coordinator is away.
 *
 * Epochs (vspc/epoch.h): a console claimed here takes an epoch above every
 * epoch the replica knows for it (cc_next_epoch), so a newer owner always
 * wins. Fencing: when the replica shows a console this node holds owned by
 * another node with a higher epoch (the same VM connected there, e.g. an
 * isolated host whose VM was restarted elsewhere), this node lets its
 * hypervisor connection go and tells the console's readers.
 *
 * The peer link (peerlink.h): the node listens on --peer-listen and keeps
 * a link to every live node of the replica (redialed every second until
 * up). Over it, other nodes read our consoles (rreader.c) and our
 * operators attach to theirs (opremote.c): `attach` of a console owned
 * elsewhere subscribes for that operator at the owner, which arbitrates
 * the locks.
 *
 * Nodes with --log-dir log every console of the cluster: rlog.c subscribes
 * as a plain reader to each console another node owns.
 *
 * Ownership: clu_new returns NULL when the node runs alone (no
 * coordinator) or on error (then *err is set); clu_free before the
 * console registry goes. Loop thread only.
 */
#ifndef VSPC_CLUSTER_H
#define VSPC_CLUSTER_H

#include "vspc/compat.h"

#include <jansson.h>

#include "console.h"
#include "proxy.h"

struct clu;

/* NULL and err[0] == '\0': no coordinator configured (alone). */
struct clu *clu_new(struct proxy *px, char *err, size_t errlen);
void clu_free(struct clu **clp);

/* A console of the cluster owned by another node, as `list` shows it. */
struct clu_remote {
    const char *id, *name, *state, *hv_addr, *node;
    uint64_t epoch;
};
/* Each console of the replica not held by this node (loop thread). */
void clu_foreach_remote(struct clu *cl,
                        void (*fn)(const struct clu_remote *r, void *arg),
                        void *arg);
/* true when the replica shows another node holding c with a higher
 * epoch: `list` shows that node's entry instead of this stale copy. */
bool clu_shadowed(struct clu *cl, const struct console *c);
/* Does another node hold console key (id or VM name)? */
bool clu_knows(struct clu *cl, const char *key);
/* If so, its id and VM name (valid until the loop runs again); else *id
 * and *name are left as they are. */
void clu_names(struct clu *cl, const char *key, const char **id,
               const char **name);
/*
 * Attach operator op to console key (id or VM name) if another node owns
 * it (opremote.c): 1, op now waits for the owner's answer; 0, no other
 * node holds it (or cl is NULL: alone); -1 with *err.
 */
struct oper;
int clu_attach(struct clu *cl, struct oper *op, const char *key,
               enum con_lock_req req, const char **err);
/* op, attached to console_id here, lost it to a newer owner: it follows
 * the console there (opremote.c), keeping its session. 0, or -1 (alone,
 * ENOMEM). */
int clu_follow(struct clu *cl, struct oper *op, const char *console_id,
               enum con_lock_req req, uint64_t next, const char *why);
/*
 * `list --json` and /api/v1/consoles in a cluster: clu_json_local adds
 * "node" (this node) and "epoch" to a local console's object;
 * clu_json_remotes appends the other nodes' consoles ({id, name, state,
 * hypervisor, node, epoch}). Both are no-ops when cl is NULL (alone: the
 * output is exactly a single node's).
 */
void clu_json_local(struct clu *cl, json_t *o, const struct console *c);
void clu_json_remotes(struct clu *cl, json_t *arr);
/* /api/v1/cluster's cluster part into o: "store" (kind, state, the server
 * talked to and its term, the other, away, switches), "nodes" (each with
 * alive, peer address, consoles it owns) and "orphans" (consoles whose
 * owner is dead or unknown). */
void clu_json_cluster(struct clu *cl, json_t *o);
/* {state, coordinator_away, consoles, nodes, ...} for /metrics. */
struct clu_stats {
    int state; /* enum own_state */
    bool away;
    uint64_t consoles, nodes, registrations, snapshots, fenced;
    uint64_t store_switches; /* turned to the other coordinator */
    uint64_t links_up, peer_errors, remote_readers, remote_attachments;
    /* vMotions across nodes (vmcross.c) and what died with owner nodes */
    uint64_t vmo_handed_over, vmo_taken_over, vmo_peers_forwarded;
    uint64_t vmo_peers_no_owner, vmo_claimed, vmo_held_bytes;
    uint64_t input_lost, stream_restarts, output_lost;
    uint64_t peer_tls_failures; /* peer TLS handshakes failed */
    uint64_t peer_tls_wrong_cn; /* certificate CN not the hello's node */
};
void clu_stats(struct clu *cl, struct clu_stats *out);
const char *clu_state_str(int state);

#endif /* VSPC_CLUSTER_H */
