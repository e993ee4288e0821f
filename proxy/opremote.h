/*
 * opremote.h: opr_*, an operator of this node attached to a console that
 * another node owns (the operator side of a remote read; the owner side
 * is rreader.c).
 *
 * One subscription per operator (pl_subscribe_op) carries its lock
 * request to the owner, which arbitrates the locks cluster-wide and
 * answers (SubState) before any Data; the operator waits in ATTACHING
 * (its input stashed, reading paused) until then. Then:
 *   output  Data -> the operator's socket; credit (the window is the
 *           operator's queue, cfg.op_queue_max) is granted back as the
 *           socket drains, so a slow operator paces the VM through the
 *           owner exactly as a local one would, and a stalled one is cut
 *           loose there and caught up with a gap notice.
 *   input   -> Input frames with this operator's id and sequence, within
 *           the link's input window; what does not fit waits here (in
 *           order) and the operator is not read until the window opens
 *           (InputAck), so no accepted byte is dropped. An operator that
 *           detaches with input still waiting keeps its attachment until
 *           that input is sent.
 *   escapes ^Ecr, ^Ecf, ^Ecs -> Control frames; the owner sends the
 *           notices.
 * The console moving (SubState MOVED: its owner was fenced by a newer
 * one) or the owner's link going down does not end the operator's
 * session: the attachment becomes an ORPHAN (the operator is told), its
 * input is held (up to 64 KiB, then the operator is not read), and as
 * soon as the directory shows the console's next owner (a higher epoch)
 * and the link to it is up, it subscribes there with the same operator id
 * and lock request (REJOINING) and continues from the start of the new
 * owner's scrollback with a notice; if the next owner is this node, the
 * operator becomes a local attachment. The owner ending it (SubState
 * ENDED) tells the operator and returns it to command mode.
 *
 * Ownership: the set owns the attachments; an attachment points at its
 * operator (op->tgt_data points back) until the operator detaches.
 * Loop thread only; no process-wide state.
 */
#ifndef VSPC_OPREMOTE_H
#define VSPC_OPREMOTE_H

#include "vspc/compat.h"

#include "console.h"
#include "peerlink.h"
#include "proxy.h"

struct opr_set;
struct oper;

enum opr_state {
    OPR_ST_ATTACHING = 0, /* subscribed, waiting for the owner's answer */
    OPR_ST_ATTACHED,      /* the owner's reader carries the operator */
    OPR_ST_REJOINING,     /* orphaned, subscribed at the next owner */
    OPR_ST_ORPHAN,        /* no owner reachable: waiting for the next */
    OPR_ST__COUNT,
};
const char *opr_state_str(enum opr_state st);

/* What the set asks the cluster (cluster.c). */
struct opr_resolver {
    /* The node holding console_id per the directory (and its epoch), or
     * NULL. */
    const char *(*owner)(void *arg, const char *console_id, uint64_t *epoch);
    /* Attach op (attached, following) to this node's console, its output
     * going on at offset from: 0 or -1. */
    int (*local)(void *arg, struct oper *op, const char *console_id,
                 enum con_lock_req req, uint64_t from);
    /* The owner said console_id moved to node at epoch (SubState MOVED):
     * newer than the directory until it catches up. May be NULL. */
    void (*moved)(void *arg, const char *console_id, const char *node,
                  uint64_t epoch);
    void *arg;
};

struct opr_set *opr_new(struct proxy *px, struct pl *pl,
                        const struct opr_resolver *res);
/* Ends every attachment (operators back to command mode). NULL-safe. */
void opr_free(struct opr_set **setp);
size_t opr_count(const struct opr_set *set);
/* What died with owner nodes, as the operators here saw it. */
struct opr_stats {
    uint64_t input_lost;      /* bytes sent to an owner whose link went
                                 down before it confirmed them */
    uint64_t stream_restarts; /* a new owner's stream began before the
                                 operator's offset: what the old one had
                                 not sent is gone */
    uint64_t output_lost;     /* output an owner whose link went down had
                                 taken from the VM (its last Tip) and not
                                 sent here: died with it */
};
void opr_stats(const struct opr_set *set, struct opr_stats *out);

/* Attach op to console_id on node (its owner): 0, op waits for the answer
 * (op_attached or op_attach_failed follow); -1 with *err. */
int opr_attach(struct opr_set *set, struct oper *op, const char *node,
               const char *console_id, uint64_t epoch, enum con_lock_req req,
               const char **err);

/* op, attached, follows console_id whose owner changed (why: for the
 * notice): an ORPHAN that finds the next owner. 0, or -1 (ENOMEM). */
int opr_follow(struct opr_set *set, struct oper *op, const char *console_id,
               enum con_lock_req req, uint64_t next, const char *why);
/* The directory changed console_id: orphans of it look for its owner. */
void opr_owner_changed(struct opr_set *set, const char *console_id);
/* Every second: orphans look again (a link may have come up). */
void opr_tick(struct opr_set *set);

/* The peer link's subscriber-side callbacks (cluster.c routes them):
 * true when sub_id is one of this set's. */
bool opr_sub_state(struct opr_set *set, struct pl_link *l,
                   const struct pw_sub_state *t);
bool opr_data(struct opr_set *set, struct pl_link *l, const struct pw_data *d);
bool opr_gap(struct opr_set *set, struct pl_link *l, const struct pw_gap *g);
bool opr_tip(struct opr_set *set, struct pl_link *l, const struct pw_tip *t);
bool opr_event(struct opr_set *set, struct pl_link *l,
               const struct pw_event *e);
bool opr_sub_lost(struct opr_set *set, struct pl_link *l, uint64_t sub_id);
void opr_input_room(struct opr_set *set, struct pl_link *l);

#endif /* VSPC_OPREMOTE_H */
