/*
 * vmcross.h: vxn_*, vMotion across nodes (DESIGN.md "vMotion, on one node
 * and across nodes"; PROTOCOL.md 5.6).
 *
 * Two sides, both over the peer link (peerlink.h):
 *
 * The owner's side (the source host is connected here): a PEER that
 * landed on another node arrives as Validate. vmo_peer_remote matches it
 * against this node's pending vMotions; the match becomes the vMotion's
 * destination, a struct vmo_dest whose ops answer over the link
 * (ValidateReply ok, Splice CANCEL, Handover). The vMotion runs through
 * the same table and the same handover record as on one node
 * (vmotion.h); its handover sends the record (Handover frames: epoch,
 * offset, held input, scrollback, lock holders) and then tells this
 * node's operators and remote readers where the console went
 * (con_moved: they follow it without reattaching).
 *
 * The destination's side (the destination host dialled this node): a
 * PEER this node cannot match goes to the node its secret's routing hint
 * (byte 0: the node index) names, over the link to that index, found
 * without the coordinator. No link (the owner is dead or unknown): no
 * answer, so a secret only a dead node could verify is never accepted.
 * One record per such connection, with its own table:
 *
 *   state       REPLY_OK    REPLY_NO   COMPLETE   HANDOVER  CANCEL
 *   VALIDATING  ACCEPTED    end        -          -         -
 *   ACCEPTED    -           -          COMPLETING -         end: drop
 *   COMPLETING  -           -          -          end:      end: claim
 *                                                 install
 *               SESSION_GONE            LINK_DOWN    TIMEOUT
 *   VALIDATING  stay (tell GONE later)  end          -
 *   ACCEPTED    end: tell GONE          end: drop    -
 *   COMPLETING  stay (install, no host) end: claim   end: claim
 *
 * ACCEPTED sends PEER-OK(seq); COMPLETING sends Splice COMPLETE and waits
 * (bounded) for the Handover; install makes the connection the console's
 * owner here, the stream continuing at the handed-over offset with the
 * old owner's scrollback, the held input first; claim (the owner died
 * after COMPLETE: the VM runs behind this connection) makes it the owner
 * as a plain reconnect would, with a higher epoch.
 *
 * Ownership: the cluster (cluster.c) owns the struct vxn (vxn_new,
 * vxn_free) and routes the peer link's vMotion frames and link_down here;
 * vxn_new sets px->vmroute. Loop thread only.
 */
#ifndef VSPC_VMCROSS_H
#define VSPC_VMCROSS_H

#include "vspc/compat.h"

#include "peerlink.h"
#include "proxy.h"

struct vxn;

/* The destination side's record (see the table above). */
enum vxn_in_state {
    IN_VALIDATING = 0,
    IN_ACCEPTED,
    IN_COMPLETING,
    IN_END, /* freed by the funnel */
    IN__COUNT,
};

enum vxn_in_event {
    VE_REPLY_OK = 0,
    VE_REPLY_NO,
    VE_COMPLETE,
    VE_HANDOVER,
    VE_CANCEL,
    VE_SESSION_GONE,
    VE_LINK_DOWN,
    VE_TIMEOUT,
    VE__COUNT,
};

enum vxn_in_action {
    A_NONE = 0,
    A_ACCEPT,    /* PEER-OK(seq) to the host */
    A_REJECT,    /* no answer: the host times out and aborts */
    A_COMPLETE,  /* Splice COMPLETE to the owner, wait for the handover */
    A_INSTALL,   /* the console is ours now */
    A_DROP,      /* close the destination connection */
    A_CLAIM,     /* the owner is gone after COMPLETE: a plain claim */
    A_DETACH,    /* the connection closed: carry on without it */
    A_TELL_GONE, /* Splice GONE to the owner */
    A__COUNT,
};

struct vxn_step {
    uint8_t next, action;
};

/* The destination side's whole machine: vxn_table[state][event]. */
extern const struct vxn_step vxn_table[IN__COUNT][VE__COUNT];
const char *vxn_state_str(enum vxn_in_state st);
const char *vxn_event_str(enum vxn_in_event ev);
const char *vxn_action_str(enum vxn_in_action a);

/* What the cluster learns from a handover. */
struct vxn_hooks {
    /* This node handed console_id over to node at epoch, its stream
     * going on there at offset: until the directory says so, that is
     * where it is. */
    void (*moved)(void *arg, const char *console_id, const char *node,
                  uint64_t epoch, uint64_t offset);
    /* This node just took console_id over: the stream offset its log
     * here should continue at (UINT64_MAX: no log kept it). */
    uint64_t (*log_resume)(void *arg, const char *console_id);
    void *arg;
};

struct vxn *vxn_new(struct proxy *px, struct pl *pl,
                    const struct vxn_hooks *hooks);
/* Ends every record (destination connections of pending cross-node
 * vMotions are closed); clears px->vmroute. NULL-safe. */
void vxn_free(struct vxn **xp);

/* The peer link's vMotion frames (pl_callbacks) and its link_down. */
void vxn_validate(struct vxn *x, struct pl_link *l,
                  const struct pw_validate *v);
void vxn_validate_done(struct vxn *x, struct pl_link *l, uint64_t request_id,
                       enum pl_val_status status,
                       const struct pw_validate_reply *r);
void vxn_splice(struct vxn *x, struct pl_link *l, const struct pw_splice *s);
void vxn_handover(struct vxn *x, struct pl_link *l,
                  const struct pw_handover *h);
void vxn_link_down(struct vxn *x, struct pl_link *l);

/* Counters for /metrics. */
struct vxn_stats {
    uint64_t out_validated;  /* PEERs elsewhere matched here */
    uint64_t out_handovers;  /* consoles handed to another node */
    uint64_t in_forwarded;   /* PEERs here sent to their owner */
    uint64_t in_no_owner;    /* PEERs whose owner's node is unreachable */
    uint64_t in_installed;   /* consoles taken over from another node */
    uint64_t in_claimed;     /* owner lost after COMPLETE: claimed here */
    uint64_t handover_bytes; /* held input bytes handed over, both ways */
};
void vxn_stats(const struct vxn *x, struct vxn_stats *out);

#endif /* VSPC_VMCROSS_H */
