/*
 * vmotion.h: vmo_*, the vMotion splice on one node (PROTOCOL.md section 5,
 * DESIGN.md "vMotion").
 *
 * One pending vMotion per console at most. Its life is a transition table
 * (vmo_table, vmotion.c) from (state, event) to (next state, action):
 *
 *   IDLE     --BEGIN on the owner--> GOAHEAD   (flush, send GOAHEAD)
 *   GOAHEAD  --valid PEER--> PEER_OK           (send PEER-OK(seq))
 *   PEER_OK  --COMPLETE(seq) on the peer--> IDLE (switch owner, flush held)
 *   GOAHEAD|PEER_OK --ABORT on the source--> IDLE (flush held to source,
 *                                                 drop the peer)
 *   GOAHEAD|PEER_OK --timer--> IDLE            (expire like ABORT)
 *   everything else is a harmless no-op or a NOTNOW/reject.
 *
 * The secret is 8 bytes: byte 0 is the node index (routing hint for the
 * cluster), bytes 1-7 come from OpenSSL's RAND_bytes. PEER must present
 * exactly seq||secret (unescaped); each secret is accepted once.
 *
 * Ownership: a vmotion belongs to its console (c->vmo) and is freed when
 * it ends; sessions point at it (s->vmo) and are unlinked when it ends.
 */
#ifndef VSPC_VMOTION_H
#define VSPC_VMOTION_H

#include "vspc/compat.h"

#include <time.h>
#include <event2/event.h>

#include "proxy.h"
#include "vmext.h"

enum vmo_state {
    VMO_ST_IDLE = 0, /* no vMotion (no record exists in this state) */
    VMO_ST_GOAHEAD,  /* GOAHEAD sent; operator input held */
    VMO_ST_PEER_OK,  /* a peer presented the secret; PEER-OK sent */
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
    VMO_EV__COUNT,
};

enum vmo_action {
    VMO_ACT_NONE = 0,    /* harmless no-op */
    VMO_ACT_GOAHEAD,     /* start: issue a secret, send GOAHEAD */
    VMO_ACT_NOTNOW,      /* refuse this BEGIN: send NOTNOW(seq) */
    VMO_ACT_PEER_OK,     /* accept the peer: send PEER-OK(seq) */
    VMO_ACT_SWITCH,      /* COMPLETE: the peer becomes the owner */
    VMO_ACT_ABORT,       /* flush held input to the source, end */
    VMO_ACT_EXPIRE,      /* timer: end as aborted */
    VMO_ACT_SOURCE_GONE, /* remember the source is gone, keep waiting */
    VMO_ACT_PEER_LOST,   /* the peer vanished: back to waiting for one */
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

struct vmotion {
    enum vmo_state state;
    struct console *con;
    struct session *source; /* NULL once the source closed */
    struct session *peer;   /* accepted peer, or NULL */
    uint8_t seq[VMX_SEQ_MAX];
    size_t seq_len;
    uint8_t secret[VMX_SECRET_LEN];
    char src_addr[64];
    char peer_addr[64];
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
/* Console going away or replaced owner: end any pending vMotion. */
void vmo_cancel(struct console *c, const char *why);
/* true while operator input must be held (GOAHEAD..COMPLETE/ABORT). */
bool vmo_holds_input(const struct console *c);

/* Bucket bounds of the node's BEGIN->GOAHEAD histogram (px->goahead,
 * struct vmo_latency in proxy.h). */
extern const uint64_t vmo_latency_bounds_us[VMO_LAT_BUCKETS];

#endif /* VSPC_VMOTION_H */
