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
 * The owner ending it (SubState ENDED) or the link going down tells the
 * operator and returns it to command mode.
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

struct opr_set *opr_new(struct proxy *px, struct pl *pl);
/* Ends every attachment (operators back to command mode). NULL-safe. */
void opr_free(struct opr_set **setp);
size_t opr_count(const struct opr_set *set);

/* Attach op to console_id on node (its owner): 0, op waits for the answer
 * (op_attached or op_attach_failed follow); -1 with *err. */
int opr_attach(struct opr_set *set, struct oper *op, const char *node,
               const char *console_id, uint64_t epoch, enum con_lock_req req,
               const char **err);

/* The peer link's subscriber-side callbacks (cluster.c routes them):
 * true when sub_id is one of this set's. */
bool opr_sub_state(struct opr_set *set, struct pl_link *l,
                   const struct pw_sub_state *t);
bool opr_data(struct opr_set *set, struct pl_link *l, const struct pw_data *d);
bool opr_gap(struct opr_set *set, struct pl_link *l, const struct pw_gap *g);
bool opr_event(struct opr_set *set, struct pl_link *l,
               const struct pw_event *e);
bool opr_sub_lost(struct opr_set *set, struct pl_link *l, uint64_t sub_id);
void opr_input_room(struct opr_set *set, struct pl_link *l);

#endif /* VSPC_OPREMOTE_H */
