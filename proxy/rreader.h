/*
 * rreader.h: rr_*, the owner's side of a remote read: a console of this
 * node read by another node over the peer link (peerlink.h).
 *
 * Each Subscribe becomes one reader of the console's stream (stream.h),
 * exactly like a local one, whose queue is the subscription's credit:
 *   room     = pl_sub_room (the credit held, capped by the link's output)
 *   deliver  = pl_send_data at the reader's offset, under the owner epoch
 *   gap      = pl_send_gap, event = pl_send_event at the reader's offset
 *   progress = pl_sub_granted (grows whenever the remote consumer took
 *              bytes), so a remote reader paces the VM and is cut loose
 *              by the stall timeout exactly like a local one.
 * A Subscribe for an operator (operator_id set) attaches a struct con_op
 * with the operator's lock request: the owner arbitrates the locks of the
 * whole cluster (con_attach, ^Ecf, ^Ecs through Control frames), and the
 * answer (SubState ATTACHED with mode, start offset and epoch, or REFUSED
 * with the reason) goes before any Data. The remote operator's input
 * (Input frames) goes through con_op_input in order; it is acknowledged
 * once taken, except while the console's input is blocked (its queue
 * toward the VM is full): then the acks wait, the sender's input window
 * fills and the remote node stops reading its operators.
 *
 * Ownership: the set owns its readers; each lives from its Subscribe to
 * its Unsubscribe (or its link going down, or rr_free), and detaches
 * itself from its console then. Loop thread only; no process-wide state.
 */
#ifndef VSPC_RREADER_H
#define VSPC_RREADER_H

#include "vspc/compat.h"

#include "peerlink.h"
#include "proxy.h"

struct rr_set;

struct rr_set *rr_new(struct proxy *px);
/* Detach and free every remote reader (no frames sent). NULL-safe. */
void rr_free(struct rr_set **setp);
size_t rr_count(const struct rr_set *set);

/* The peer link's owner-side callbacks (cluster.c routes them here). */
void rr_subscribe(struct rr_set *set, struct pl_link *l,
                  const struct pw_subscribe *s);
void rr_unsubscribe(struct rr_set *set, struct pl_link *l, uint64_t sub_id);
void rr_room(struct rr_set *set, struct pl_link *l, uint64_t sub_id);
void rr_input(struct rr_set *set, struct pl_link *l, const struct pw_input *in);
void rr_control(struct rr_set *set, struct pl_link *l, uint64_t sub_id,
                enum pw_control_action action);

#endif /* VSPC_RREADER_H */
