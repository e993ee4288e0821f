/*
 * peerlink.h: pl_*, the node-to-node peer link (DESIGN.md "Data paths" 4).
 *
 * Transport: plain TCP bufferevents (libevent), one connection per node
 * pair, frames as a 4-byte big-endian length + a PeerFrame
 * (proto/peerwire.h). Not ZeroMQ: PUB/SUB drops at the high-water mark,
 * and ROUTER/DEALER would put a second queue (ZeroMQ's, invisible and
 * bounded only in messages) between the console and the socket, hiding the
 * one signal backpressure needs: how many bytes are waiting for this peer.
 * With a bufferevent that number is evbuffer_get_length(output), the
 * flow control below is ours end to end, and the link runs on the same
 * loop, with the same rules, as every other connection of the node.
 *
 * Connections. Either node may dial (pl_connect); the dialer sends its
 * PeerHello first, the acceptor answers with its own only once it has
 * accepted the connection, so a connection the acceptor refuses never
 * looks up on the dialer's side. A hello carries node id, index, protocol
 * version and incarnation; a wrong version, a frame before the hello, a
 * node that is not the one dialed, or this node's own id or index: a log
 * line and the connection closed. Two connections between the same pair
 * (both nodes dialed at once, or a redial): if the incarnation in the new
 * hello differs from the UP link's (the peer restarted) the new connection
 * replaces it (link_down, then link_up); otherwise the
 * connection DIALED BY THE LOWER NODE INDEX wins, the same answer on both
 * sides, so exactly one survives (the acceptor decides before answering,
 * hence the loser was never reported up); between two connections dialed
 * by the same node, the older stays (a dialer that gave up on it closed
 * it, and its retry succeeds once that close arrived; a dial that reached
 * the wrong node by a stale address cannot take a working link down).
 *
 * States of one connection (the state table is in peerlink.c):
 *   CONNECTING   outgoing, TCP connect in progress
 *   HELLO_WAIT   incoming, waiting for the dialer's hello
 *   HELLO_SENT   outgoing, our hello sent, waiting for the answer
 *   UP           link_up reported; frames flow
 *   CLOSING      unlinked; its teardown callbacks and free are deferred
 * Only an UP connection is visible to callers, as a struct pl_link, from
 * link_up until link_down returns.
 *
 * Flow control, per subscription (per console): the subscriber grants
 * credit in bytes (the initial window in Subscribe, more with pl_credit
 * as its own consumer takes bytes); the owner sends Data only within the
 * credit it holds (pl_sub_room). Data therefore never arrives without room
 * for it: the receiving node never stops reading the connection, and a
 * stalled subscriber of one console never holds up another console on the
 * same link. Both sides enforce it: Data beyond the credit granted, or not
 * at the next offset, is a protocol error. Either side may end a
 * subscription (Unsubscribe; SubState REFUSED or ENDED): frames for it
 * that crossed the end on the wire are dropped and counted (late_in);
 * frames for an id the peer never used are a protocol error. The connection's
 * output buffer is bounded too (out_max): above it every subscription of the
 * link has room 0 until the buffer drained to half (then `room` is called for
 * every subscription with credit), and a link whose peer reads nothing while we
 * have output for it for stall_timeout is closed (the peer stopped reading
 * entirely). Gap, Event and control frames need no credit; they are small
 * and bounded by the data they describe. A hard bound (2 * out_max +
 * PW_MAX_FRAME) closes a link that exceeds it anyway.
 *
 * Operator input (toward the owner) has its own window: at most
 * PL_INPUT_WINDOW bytes sent and not yet acknowledged (InputAck) per link
 * and direction; pl_input_room says how much may be sent, and input_room
 * is called when room reappears after someone saw 0 (stop reading
 * operators meanwhile, never drop their bytes). Input of one operator into
 * one console is contiguous (seq == the end of what was sent) on a link;
 * an ack's seq is the offset of the next byte the owner expects. The
 * window is per link, so the owner should ack as soon as the bytes are in
 * the console's own bounded input path (its queue toward the hypervisor,
 * or held records during a vMotion): then one slow console holds up the
 * input of the others on the link only while its own queue is full.
 *
 * TLS (cfg.tls): every connection, both ways, is TLS 1.3 with mutual
 * authentication under the cluster CA (tls.h), before any frame; the hello
 * is sent once the handshake is done. A peer's certificate must also name
 * the node it is: its subject CN equal to the node id of its hello (the
 * dialer checks the node it dialed already at the handshake's end), so a
 * node with a valid certificate cannot pose as another. A failed handshake
 * or a CN that does not match: a log line (rate limited, with the address
 * and OpenSSL's reason), a count (pl_stats), the connection closed. The
 * tls_ctx must outlive the instance. Reading: libevent's OpenSSL
 * bufferevent reads and decrypts, the read callback only takes what
 * OpenSSL holds already (no socket I/O of ours under TLS).
 *
 * Every malformed, oversized or wrong-version frame, any protocol
 * violation: a log line (rate limited per peer address) and that
 * connection closed; other links are unaffected. Memory is bounded:
 * PL_SUBS_MAX subscriptions per link and direction, PL_INPUT_KEYS_MAX
 * operator inputs in flight, PL_VALIDATE_MAX pending requests, frames of
 * at most max_frame bytes, the input buffer to two frames, the output as
 * above, and PL_ACCEPT_MAX connections waiting for their hello.
 *
 * When a link goes down, everything on it ends: the owner side gets
 * unsubscribe for each of the peer's subscriptions, the subscriber side
 * sub_lost for each of its own, pending validations complete with
 * PL_VAL_LINKDOWN, then link_down. Readers own their offsets, so a
 * subscriber resubscribes from its next offset on the next link (the
 * owner's scrollback, or a Gap). There is no automatic redial: call
 * pl_connect again (it is idempotent).
 *
 * Rules: loop thread only; nothing blocks (addresses are numeric, no DNS);
 * no process-wide state (several instances on one event base are fine).
 * Callbacks never run from inside a pl_* call: a close decided during a
 * call (pl_disconnect, an output overflow) runs its callbacks from the
 * loop afterwards. Callbacks may call any pl_* function except pl_free.
 * Every pl_* function on a link that is no longer up fails (-1, 0) without
 * effect.
 *
 * Ownership: the caller owns the struct pl (pl_new, pl_free); a struct
 * pl_link belongs to the instance and is valid from link_up until
 * link_down returns (keep the node id, not the pointer, beyond that).
 * Frames passed to callbacks are valid during the callback only; every
 * pl_send_* copies what it is given before returning.
 *
 * Files: peerlink.c (the transport: connections, state table, hellos,
 * framing, the instance), peerlink_flow.c (what frames mean on an UP
 * link: credit, input window, validations), peerlink_int.h (their shared
 * types).
 *
 * Returns: int functions 0 or -1 (errno: EINVAL bad argument or over the
 * room, ENOENT unknown subscription or input, ENOTCONN link not up,
 * ENOBUFS a bound reached, ENOMEM); id functions an id != 0, or 0.
 */
#ifndef VSPC_PEERLINK_H
#define VSPC_PEERLINK_H

#include "vspc/compat.h"

#include <event2/event.h>

#include "peerwire.h"

/* Protocol constants of peer-link version 1 (both sides rely on them). */
#define PL_VERSION PW_VERSION
#define PL_INPUT_WINDOW (64 * 1024) /* unacked input bytes per link */
#define PL_INPUT_KEYS_MAX 256       /* (console, operator) pairs in flight */
#define PL_SUBS_MAX 4096            /* subscriptions per link, each way */
#define PL_VALIDATE_MAX 256         /* pending validations per link */
#define PL_ACCEPT_MAX 64            /* incoming connections before hello */

#define PL_STALL_TIMEOUT_DEFAULT 10.0
#define PL_HELLO_TIMEOUT_DEFAULT 5.0
#define PL_OUT_MAX_DEFAULT (1024 * 1024)

struct pl;
struct pl_link;
struct tls_ctx;

struct pl_config {
    const char *node_id;  /* this node; copied */
    uint8_t node_index;   /* 0-255 */
    const char *listen;   /* "ADDR:PORT", numeric; NULL: dial only */
    uint64_t incarnation; /* this process; 0: a random one */
    double stall_timeout; /* s; 0: PL_STALL_TIMEOUT_DEFAULT */
    double hello_timeout; /* s, connect + hellos; 0: default */
    size_t out_max;       /* output bound per link; 0: default; at least
                             PW_MAX_FRAME */
    size_t max_frame;     /* largest frame accepted; 0: PW_MAX_FRAME;
                             clamped to 1024..PW_MAX_FRAME */
    struct tls_ctx *tls;  /* NULL: plain TCP; else every connection is TLS
                             (tls_mutual_new), not owned: see "TLS" */
};

/* How a validation ended (validate_done). */
enum pl_val_status {
    PL_VAL_REPLY = 0, /* the owner answered: see the reply's ok */
    PL_VAL_TIMEOUT,   /* no answer within the timeout */
    PL_VAL_LINKDOWN,  /* the link went down first */
};

/*
 * Every callback is optional (NULL). Pointers to frames are valid during
 * the callback only. arg is pl_new's.
 */
struct pl_callbacks {
    void (*link_up)(struct pl_link *l, void *arg);
    /* l stays valid until this returns. reason: for logs. */
    void (*link_down)(struct pl_link *l, const char *reason, void *arg);
    /* An outgoing connection to node_id closed before it came up (not
     * called when it lost to a duplicate that is coming up). */
    void (*connect_failed)(struct pl *pl, const char *node_id,
                           const char *reason, void *arg);

    /* -- owner side (the peer reads one of our consoles) -- */
    /* The peer subscribed. Answer with Data (within pl_sub_room), Gap,
     * Event (e.g. "no such console": the subscriber then unsubscribes). */
    void (*subscribe)(struct pl_link *l, const struct pw_subscribe *s,
                      void *arg);
    /* The peer unsubscribed, or the link is going down. */
    void (*unsubscribe)(struct pl_link *l, uint64_t sub_id, void *arg);
    /* Room appeared for sub_id (credit arrived, or the output buffer
     * drained): pump that reader. */
    void (*room)(struct pl_link *l, uint64_t sub_id, void *arg);

    /* -- subscriber side -- */
    /* Output bytes within the credit granted: take them all. */
    void (*data)(struct pl_link *l, const struct pw_data *d, void *arg);
    void (*gap)(struct pl_link *l, const struct pw_gap *g, void *arg);
    void (*event)(struct pl_link *l, const struct pw_event *e, void *arg);
    /* The owner's stream reached t->tip (what it would lose if it died). */
    void (*tip)(struct pl_link *l, const struct pw_tip *t, void *arg);
    /* The link is going down: our subscription sub_id ended. */
    void (*sub_lost)(struct pl_link *l, uint64_t sub_id, void *arg);
    /* The owner answered (ATTACHED, REFUSED) or ended the subscription;
     * unless ATTACHED it is over (no sub_lost follows). */
    void (*sub_state)(struct pl_link *l, const struct pw_sub_state *t,
                      void *arg);
    /* Owner side: an operator's escape on subscription sub_id. */
    void (*control)(struct pl_link *l, uint64_t sub_id,
                    enum pw_control_action action, void *arg);

    /* -- operator input -- */
    /* Owner side: input within the window; acknowledge it with
     * pl_send_input_ack once it is delivered or held. */
    void (*input)(struct pl_link *l, const struct pw_input *in, void *arg);
    /* Operator side: the owner took the input below a->seq. */
    void (*input_ack)(struct pl_link *l, const struct pw_input_ack *a,
                      void *arg);
    /* Operator side: input room reappeared after pl_input_room said 0. */
    void (*input_room)(struct pl_link *l, void *arg);

    /* -- vMotion -- */
    /* Owner side: answer with pl_send_validate_reply (now or later).
     * NULL: every validation is answered ok = false. */
    void (*validate)(struct pl_link *l, const struct pw_validate *v, void *arg);
    /* Asker side: r is the reply (status PL_VAL_REPLY) or NULL. */
    void (*validate_done)(struct pl_link *l, uint64_t request_id,
                          enum pl_val_status status,
                          const struct pw_validate_reply *r, void *arg);
    void (*handover)(struct pl_link *l, const struct pw_handover *h, void *arg);
    /* A validated vMotion's COMPLETE, GONE or CANCEL (pw_splice). */
    void (*splice)(struct pl_link *l, const struct pw_splice *s, void *arg);
};

/* Counters of one link (pl_link_stats). */
struct pl_link_stats {
    uint64_t frames_in, frames_out;
    uint64_t bytes_in, bytes_out; /* on the wire, prefixes included */
    uint64_t data_in, data_out;   /* Data payload bytes */
    uint64_t late_in;             /* frames for subscriptions already ended */
    size_t out_len, out_peak;     /* output buffer now, and its high mark */
    unsigned subs_owner;          /* the peer's subscriptions to us */
    unsigned subs_mine;           /* ours to the peer */
    size_t input_inflight;        /* our input not acked yet */
    size_t input_unacked;         /* the peer's input we did not ack yet */
    bool outgoing;                /* we dialed */
    uint8_t node_index;           /* the peer's */
    uint64_t incarnation;         /* the peer's */
    char local[64], remote[64];
};

/* Counters of an instance (pl_stats). */
struct pl_stats {
    uint64_t links_up, links_down;
    uint64_t connect_failed;
    uint64_t protocol_errors; /* connections closed for a bad frame */
    uint64_t duplicates;      /* connections closed as duplicates */
    uint64_t stalled;         /* links closed by the stall timeout */
    uint64_t accept_refused;  /* over PL_ACCEPT_MAX */
    uint64_t tls_failures;    /* TLS handshakes that failed */
    uint64_t tls_wrong_cn;    /* certificate CN not the node of the hello */
    uint64_t decode_errors[PW_ERR__COUNT]; /* by -pw_err */
};

/*
 * Listen (cfg->listen) and return the instance, or NULL with the reason
 * in err. cfg and cb are copied. Caller owns the result: pl_free.
 */
struct pl *pl_new(struct event_base *base, const struct pl_config *cfg,
                  const struct pl_callbacks *cb, void *arg, char *err,
                  size_t errlen);
/* Close every connection (no callbacks), free, NULL *plp. NULL-safe. Not
 * from a callback. */
void pl_free(struct pl **plp);
const struct pl_stats *pl_stats(const struct pl *pl);

/*
 * Make sure a link to node_id exists or is being made: dial addr
 * ("ADDR:PORT", numeric) unless a connection to node_id is up or in
 * progress. 0, or -1 (bad id or address, our own id, ENOMEM).
 */
int pl_connect(struct pl *pl, const char *node_id, const char *addr);
/* Close the link or attempt to node_id, if any (callbacks follow from
 * the loop). */
void pl_disconnect(struct pl *pl, const char *node_id, const char *reason);
/* The UP link to node_id, or NULL. */
struct pl_link *pl_link_get(struct pl *pl, const char *node_id);

const char *pl_link_node(const struct pl_link *l); /* peer's node id */
/* "<node> <sub_id>": a subscription's key, unique in the node (a table of
 * subscriptions over every link is keyed by it). */
#define PL_SUB_KEY_MAX (PW_NODE_ID_MAX + 22)
void pl_sub_key(char key[PL_SUB_KEY_MAX], const char *node, uint64_t sub_id);
struct pl *pl_link_pl(const struct pl_link *l);
/* Counters and identity (index, incarnation, addresses) of l. */
void pl_link_stats(const struct pl_link *l, struct pl_link_stats *st);
/* One pointer for the caller, NULL until set. */
void pl_link_set_udata(struct pl_link *l, void *udata);
void *pl_link_udata(const struct pl_link *l);

/* ---- subscriber side ----------------------------------------------------- */

/* Subscribe to console_id's output from offset `from`, believing the
 * owner's epoch is `epoch`, with an initial window of `credit` bytes
 * (<= PW_CREDIT_MAX). Returns the subscription id (unique on the link). */
uint64_t pl_subscribe(struct pl_link *l, const char *console_id, uint64_t from,
                      uint64_t epoch, uint64_t credit);
/* The same for one operator: the owner attaches it with its lock request
 * and answers with SubState (sub_state callback) before any Data. */
struct pl_sub_op {
    const char *operator_id;   /* unique on this node, e.g. "node1/17" */
    const char *operator_name; /* "addr:port", for the owner's logs */
    uint32_t lock;             /* enum con_lock_req's value */
    bool raw;
};
uint64_t pl_subscribe_op(struct pl_link *l, const char *console_id,
                         uint64_t from, uint64_t epoch, uint64_t credit,
                         const struct pl_sub_op *op);
/* An operator's escape (replay, force write, spectator) to the owner. */
int pl_control(struct pl_link *l, uint64_t sub_id,
               enum pw_control_action action);
/* Our consumer took `bytes` more: grant them again. Send it in batches
 * (e.g. once a quarter of the window was taken), not per byte. */
int pl_credit(struct pl_link *l, uint64_t sub_id, uint64_t bytes);
/* Ends it now; Data already in flight for it is dropped (late_in). */
int pl_unsubscribe(struct pl_link *l, uint64_t sub_id);

/* ---- owner side ---------------------------------------------------------- */

/* Bytes of Data that may be sent for sub_id now: the credit held, capped
 * by the output buffer's room; 0 while the buffer is over its bound. */
size_t pl_sub_room(struct pl_link *l, uint64_t sub_id);
/* All the credit the subscriber granted so far (the initial window and
 * every Credit): it grows whenever the remote consumer takes bytes, so it
 * is the `progress` count of a remote reader of the stream. */
uint64_t pl_sub_granted(struct pl_link *l, uint64_t sub_id);
/* Bytes [offset, offset + n), 1 <= n <= pl_sub_room, offset == the end
 * of what was sent before (after a gap: its `to`). Split into frames of
 * PW_DATA_MAX. */
int pl_send_data(struct pl_link *l, uint64_t sub_id, uint64_t epoch,
                 uint64_t offset, const uint8_t *p, size_t n);
/* Answer a Subscribe (ATTACHED, REFUSED) or end it (ENDED); unless
 * ATTACHED the subscription is over on both sides. */
int pl_send_sub_state(struct pl_link *l, const struct pw_sub_state *t);
/* Bytes [from, to) are gone; the next Data starts at `to`. */
int pl_send_gap(struct pl_link *l, uint64_t sub_id, uint64_t epoch,
                uint64_t from, uint64_t to);
int pl_send_event(struct pl_link *l, uint64_t sub_id, uint64_t epoch,
                  uint64_t offset, const char *text);
/* The stream of sub_id reached tip here (no credit needed). */
int pl_send_tip(struct pl_link *l, uint64_t sub_id, uint64_t epoch,
                uint64_t tip);

/* ---- operator input ------------------------------------------------------ */

/* Bytes of input that may be sent now (0: stop reading operators until
 * input_room). */
size_t pl_input_room(struct pl_link *l);
/* operator_id's input [seq, seq + n) into console_id, 1 <= n <=
 * pl_input_room; seq continues what was sent for that pair unless all of
 * it was acked. Split into frames of PW_INPUT_MAX. */
int pl_send_input(struct pl_link *l, const char *console_id,
                  const char *operator_id, uint64_t epoch, uint64_t seq,
                  const uint8_t *p, size_t n);
/* operator_id's input into console_id sent and not acknowledged yet (a
 * link going down: what may not have reached the owner). Valid until
 * link_down returns. */
uint64_t pl_input_unacked(struct pl_link *l, const char *console_id,
                          const char *operator_id);
/*
 * The console moved (SubState MOVED sent for that operator's attachment):
 * owner side, pl_input_void drops the pair's input not acknowledged yet
 * and every Input of the pair that crossed the MOVED (ack first what was
 * taken); operator side, on that MOVED, pl_input_reclaim takes back what
 * the owner did not acknowledge (returns its length: the sender resends
 * those bytes to the next owner) and tells the owner the pair's books
 * start afresh. Room may reappear: pl_input_reclaim runs no callback.
 */
int pl_input_void(struct pl_link *l, const char *console_id,
                  const char *operator_id);
uint64_t pl_input_reclaim(struct pl_link *l, const char *console_id,
                          const char *operator_id);
/* Owner side: operator_id's input into console_id below seq is taken;
 * seq within what was received and above what was acked. */
int pl_send_input_ack(struct pl_link *l, const char *console_id,
                      const char *operator_id, uint64_t seq);

/* ---- vMotion ------------------------------------------------------------- */

/* Ask the owner at l whether (seq, secret) is a live vMotion of its;
 * console_id may be NULL. validate_done follows exactly once (reply,
 * timeout after `timeout` s, or link down). Returns the request id. */
uint64_t pl_validate(struct pl_link *l, const char *console_id,
                     const uint8_t *seq, size_t seqlen, const uint8_t *secret,
                     size_t secretlen, double timeout);
int pl_send_validate_reply(struct pl_link *l,
                           const struct pw_validate_reply *r);
int pl_send_handover(struct pl_link *l, const struct pw_handover *h);
int pl_send_splice(struct pl_link *l, const struct pw_splice *s);
/* The UP link to the node with this index, or NULL. */
struct pl_link *pl_link_by_index(struct pl *pl, uint8_t node_index);

#endif /* VSPC_PEERLINK_H */
