/*
 * vmotion.h: vmo_*, the vMotion splice (PROTOCOL.md section 5, DESIGN.md
 * "vMotion, on one node and across nodes"), on the console's owner.
 *
 * One pending vMotion per console at most. Its life is a transition table
 * (vmo_table, vmotion.c) from (state, event) to (next state, action):
 *
 *   IDLE     --BEGIN on the owner--> GOAHEAD   (flush, send GOAHEAD)
 *   GOAHEAD  --valid PEER--> PEER_OK           (the destination answers
 *                                               PEER-OK(seq))
 *   PEER_OK  --COMPLETE(seq) on the peer--> HANDOVER (retire the source:
 *                                               its last output goes first)
 *   HANDOVER --source drained or gone, or timer--> IDLE (hand the console
 *                                               over: struct vmo_handover)
 *   GOAHEAD|PEER_OK --ABORT on the source--> IDLE (flush held to source,
 *                                                 drop the peer)
 *   GOAHEAD|PEER_OK --timer--> IDLE            (expire like ABORT)
 *   everything else is a harmless no-op or a NOTNOW/reject.
 *
 * The destination is a struct vmo_dest: a connection on this node
 * (session.c) or on another node (vmcross.c, over the peer link). Both go
 * through the same table and the same handover: the record below is built
 * for every vMotion and given to the destination, which takes the console
 * from it (the local one by becoming its owner, the remote one by sending
 * it to its node).
 *
 * The secret is 8 bytes: byte 0 is the node index (routing hint: the node
 * a PEER lands on finds the owner from it, without the coordinator),
 * bytes 1-7 come from OpenSSL's RAND_bytes. PEER must present exactly
 * seq||secret (unescaped); each secret is accepted once.
 *
 * Ownership: a vmotion belongs to its console (c->vmo) and is freed when
 * it ends; destinations and sessions point at it and are unlinked when it
 * ends.
 */
#ifndef VSPC_VMOTION_H
#define VSPC_VMOTION_H

#include "vspc/compat.h"

#include <time.h>
#include <event2/event.h>

#include "heldin.h"
#include "proxy.h"
#include "vmext.h"

enum vmo_state {
    VMO_ST_IDLE = 0, /* no vMotion (no record exists in this state) */
    VMO_ST_GOAHEAD,  /* GOAHEAD sent; operator input held */
    VMO_ST_PEER_OK,  /* a peer presented the secret; PEER-OK sent */
    VMO_ST_HANDOVER, /* COMPLETE: the source's last output, then handover */
    VMO_ST__COUNT,
};

enum vmo_event {
    VMO_EV_BEGIN = 0,      /* BEGIN on the console's owner connection */
    VMO_EV_PEER_VALID,     /* PEER whose seq||secret matches */
    VMO_EV_COMPLETE_PEER,  /* COMPLETE(seq) on the accepted peer */
    VMO_EV_COMPLETE_OTHER, /* COMPLETE anywhere else or wrong seq */
    VMO_EV_ABORT_SOURCE,   /* ABORT on the source connection */
    VMO_EV_ABORT_OTHER,    /* ABORT on any other connection */
    VMO_EV_SOURCE_GONE,    /* the source connection closed */
    VMO_EV_PEER_GONE,      /* the accepted peer connection closed */
    VMO_EV_TIMEOUT,        /* the vMotion timer fired */
    VMO_EV_SOURCE_DRAINED, /* the retired source handed on its last byte */
    VMO_EV__COUNT,
};

enum vmo_action {
    VMO_ACT_NONE = 0,    /* harmless no-op */
    VMO_ACT_GOAHEAD,     /* start: issue a secret, send GOAHEAD */
    VMO_ACT_NOTNOW,      /* refuse this BEGIN: send NOTNOW(seq) */
    VMO_ACT_PEER_OK,     /* accept the peer: send PEER-OK(seq) */
    VMO_ACT_SWITCH,      /* COMPLETE: retire the source, await its end */
    VMO_ACT_ABORT,       /* flush held input to the source, end */
    VMO_ACT_EXPIRE,      /* timer: end as aborted */
    VMO_ACT_SOURCE_GONE, /* remember the source is gone, keep waiting */
    VMO_ACT_PEER_LOST,   /* the peer vanished: back to waiting for one */
    VMO_ACT_HANDOVER,    /* give the console to the destination */
    VMO_ACT_DEST_LOST,   /* the destination vanished after COMPLETE */
    VMO_ACT__COUNT,
};

struct vmo_step {
    uint8_t next;   /* enum vmo_state */
    uint8_t action; /* enum vmo_action */
};

/* The whole machine: vmo_table[state][event]. */
extern const struct vmo_step vmo_table[VMO_ST__COUNT][VMO_EV__COUNT];
const char *vmo_state_str(enum vmo_state st);
const char *vmo_event_str(enum vmo_event ev);
const char *vmo_action_str(enum vmo_action act);

struct console;
struct session;
struct vmotion;

/* Version of struct vmo_handover (and of the Handover frames carrying it). */
#define VMO_HANDOVER_VERSION 1

/*
 * The handover: everything the destination needs to carry the console on,
 * built once the source delivered its last byte. The new owner continues
 * the stream at `offset` under a higher epoch; the scrollback [sb_from,
 * offset) replays to operators who attach there; `held` is the operator
 * input held since GOAHEAD, in order, for the new owner's hypervisor
 * connection first; the lock holder is named by its gid (the same on every
 * node), and its lock is kept for it while it follows the console. The record
 * points into the console (held, scrollback): valid during the handover call
 * only.
 */
struct vmo_handover {
    unsigned version; /* VMO_HANDOVER_VERSION */
    struct console *con;
    uint64_t old_epoch;
    uint64_t offset;        /* the stream offset the new owner continues at */
    uint64_t sb_from;       /* scrollback start (sb_from <= offset) */
    char lock_gid[128];     /* the write lock's holder (con_op gid), "" none */
    bool lock_exclusive;    /* ... holding EXCLUSIVE */
    struct hin_queue *held; /* taken by a destination elsewhere */
    uint8_t seq[VMX_SEQ_MAX];
    size_t seq_len;
    char src_addr[64]; /* the source host */
};

/*
 * Whoever presented the secret. ops are called by vmotion.c only:
 *   accept    the secret matched: answer PEER-OK(seq) (d->vmo is set)
 *   drop      the vMotion ended without a handover (ABORT, expiry,
 *             cancel): let the destination go (d->vmo already NULL)
 *   handover  COMPLETE, and the source is done: carry the console on from
 *             h (d->vmo already NULL, c->vmo too: input flows again)
 */
struct vmo_dest;
struct vmo_dest_ops {
    void (*accept)(struct vmo_dest *d, const uint8_t *seq, size_t n);
    void (*drop)(struct vmo_dest *d, const char *why);
    void (*handover)(struct vmo_dest *d, const struct vmo_handover *h);
};
struct vmo_dest {
    const struct vmo_dest_ops *ops;
    struct vmotion *vmo; /* while it is this vMotion's destination */
    char addr[96];       /* "host" or "node host", for the audit and logs */
    bool remote;         /* on another node (the source host stays here) */
};

struct vmotion {
    enum vmo_state state;
    struct console *con;
    struct session *source; /* NULL once the source closed */
    struct vmo_dest *dest;  /* accepted destination, or NULL */
    uint8_t seq[VMX_SEQ_MAX];
    size_t seq_len;
    uint8_t secret[VMX_SECRET_LEN];
    bool secret_spent; /* used, and could not be drawn anew: never matches */
    char src_addr[64];
    char peer_addr[96];
    struct timespec t_begin, t_goahead, t_peer, t_peer_ok;
    struct timespec t_wall; /* CLOCK_REALTIME of BEGIN, for the audit */
    uint64_t held_at_begin;
    struct event *timer;
};

/* Option-232 vMotion messages, dispatched by the session that got them.
 * Each one runs through vmo_table. */
void vmo_on_begin(struct session *s, const uint8_t *seq, size_t n);
void vmo_on_peer(struct session *s, const uint8_t *p, size_t n);
void vmo_on_complete(struct session *s, const uint8_t *seq, size_t n);
void vmo_on_abort(struct session *s);
/* A session that plays a role in a vMotion is closing. */
void vmo_on_session_gone(struct session *s);
/* s, the retired source of c's vMotion, handed on all it had (its FIN,
 * or its drain ended). */
void vmo_on_source_drained(struct console *c, struct session *s);

/*
 * A destination elsewhere (vmcross.c): d presents p = seq||secret, as a
 * PEER on another node. true: it matched a pending vMotion of this node and
 * d was accepted (d->ops->accept ran); false: no match (spent or unknown).
 */
bool vmo_peer_remote(struct proxy *px, struct vmo_dest *d, const uint8_t *p,
                     size_t n);
/* The remote destination d saw COMPLETE(seq) / closed before the
 * handover. */
void vmo_dest_complete(struct vmo_dest *d, const uint8_t *seq, size_t n);
void vmo_dest_gone(struct vmo_dest *d);

/*
 * Where a PEER this node cannot match goes: the node named by the secret's
 * routing hint (vmcross.c sets px->vmroute in a cluster).
 *   peer      true: taken (s->xpeer set; the session waits for that
 *             node's answer); false: rejected here
 *   complete  COMPLETE on a session with s->xpeer
 *   gone      a session with s->xpeer is closing
 */
struct vmo_route {
    bool (*peer)(void *arg, struct session *s, uint8_t node_index,
                 const uint8_t *p, size_t n);
    void (*complete)(void *arg, struct session *s, const uint8_t *seq,
                     size_t n);
    void (*gone)(void *arg, struct session *s);
    void *arg;
};

/* Console going away or replaced owner: end any pending vMotion. */
void vmo_cancel(struct console *c, const char *why);
/* true while operator input must be held (GOAHEAD..handover/ABORT). */
bool vmo_holds_input(const struct console *c);

/* Bucket bounds of the node's BEGIN->GOAHEAD histogram (px->goahead,
 * struct vmo_latency in proxy.h). */
extern const uint64_t vmo_latency_bounds_us[VMO_LAT_BUCKETS];

#endif /* VSPC_VMOTION_H */
