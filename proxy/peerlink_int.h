/*
 * peerlink_int.h: the peer link's internal types, shared by peerlink.c
 * (the transport: connections and their state table, hellos and duplicate
 * connections, framing, closing and reaping, the instance) and
 * peerlink_flow.c (what the frames of an UP link mean: subscriptions and
 * their credit, the input window, validations, and the pl_* calls for
 * them). Not for other modules: they use peerlink.h.
 *
 * Functions shared between the two files are prefixed pl__ (internal).
 */
#ifndef VSPC_PEERLINK_INT_H
#define VSPC_PEERLINK_INT_H

#include "vspc/compat.h"

#include <sys/queue.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "vspc/ratelimit.h"
#include "vspc/ratelog.h"
#include "vspc/strmap.h"
#include "peerlink.h"

/* Connection states; the transitions are in peerlink.c (pl_allowed). */
enum pl_state {
    PL_ST_CONNECTING, /* outgoing, TCP connect in progress */
    PL_ST_HELLO_WAIT, /* incoming, waiting for the dialer's hello */
    PL_ST_HELLO_SENT, /* outgoing, our hello sent */
    PL_ST_UP,         /* link_up reported; frames flow */
    PL_ST_CLOSING,    /* unlinked; teardown and free from the reap event */
    PL_ST__COUNT
};

/*
 * An entry of a link's tables: a subscription (key: its id in hex; on
 * the owner side credit is what may be sent, on the subscriber side what
 * was granted and not received yet; next: the offset expected next, once
 * have_next), or one operator's input into one console in flight (key:
 * "console operator"; [acked, end) not acknowledged yet).
 */
struct pl_ent {
    struct smap_node node; /* first: freed through it */
    uint64_t id, credit, next, acked, end;
    uint64_t granted; /* owner side: all the credit ever granted */
    bool have_next;
    char key[PW_CONSOLE_ID_MAX + 1 + PW_OPERATOR_ID_MAX + 1];
};

/* A validation waiting for its reply. */
struct pl_req {
    TAILQ_ENTRY(pl_req) entry;
    struct pl_link *l;
    uint64_t id;
    struct event *ev;
};

struct pl_link {
    struct pl *pl;
    TAILQ_ENTRY(pl_link) entry; /* pl->conns, or pl->reap once CLOSING */
    enum pl_state state;
    bool outgoing;
    bool known;       /* node_id known: dialed, or hello received */
    bool was_up;      /* reached UP: teardown reports it */
    bool quiet;       /* no connect_failed (duplicate loser, pl_disconnect) */
    bool torn;        /* teardown callbacks done */
    bool out_blocked; /* output over out_max: room 0 until drained */
    bool in_blocked;  /* someone saw input room 0 */
    bool tls_refused; /* TLS failure or wrong CN: logged, rate limited */
    struct bufferevent *bev;
    struct event *hs_ev; /* hello timeout */
    char node_id[PW_NODE_ID_MAX + 1];
    char reason[160];
    struct smap rsubs; /* owner side: the peer's subscriptions */
    struct smap lsubs; /* subscriber side: ours */
    uint64_t next_sub_id;
    uint64_t peer_sub_max; /* the peer's highest subscription id so far */
    struct smap in_tx;     /* our input in flight */
    size_t in_tx_bytes;
    struct smap in_rx; /* the peer's input we did not ack yet */
    size_t in_rx_bytes;
    struct smap in_void; /* pairs whose input we drop until reclaimed */
    TAILQ_HEAD(, pl_req) reqs;
    unsigned n_reqs;
    void *udata;
    struct pl_link_stats st; /* also: the peer's index and incarnation */
};

TAILQ_HEAD(pl_link_head, pl_link);

struct pl {
    struct event_base *base;
    struct pl_config cfg;
    char node_id[PW_NODE_ID_MAX + 1];
    struct pl_callbacks cb;
    void *arg;
    struct evconnlistener *lst;
    struct pl_link_head conns; /* every connection not CLOSING */
    struct pl_link_head reap;  /* CLOSING, to be torn down and freed */
    struct event *reap_ev;
    unsigned n_accepting; /* in HELLO_WAIT */
    uint64_t next_req_id;
    struct rlog rl;
    struct rlim tls_rl, cn_rl; /* failed handshakes, wrong CNs: log lines */
    uint8_t txbuf[4 + PW_MAX_FRAME];
    struct pw_frame rx, tx; /* scratch frames */
    struct pl_stats st;
};

/* ---- peerlink.c ---------------------------------------------------------- */

/* Mark l CLOSING now, unlink it; callbacks and free from the reap event. */
void pl__close(struct pl_link *l, const char *fmt, ...) VSPC_PRINTF(2, 3);
/* The peer broke the protocol: a log line (rate limited), l closed. */
void pl__proto_error(struct pl_link *l, const char *fmt, ...) VSPC_PRINTF(2, 3);
/* l is UP (else errno = ENOTCONN). */
bool pl__up(const struct pl_link *l);
size_t pl__out_len(const struct pl_link *l);
struct timeval pl__tv(double seconds);
/* pl->tx with its type set and the body's first `clear` bytes zeroed. */
struct pw_frame *pl__tx(struct pl *pl, enum pw_type type, size_t clear);
/* Encode f and queue it on l: 0, or -1 (errno; l may be closing). */
int pl__send(struct pl_link *l, const struct pw_frame *f);

/* ---- peerlink_flow.c ----------------------------------------------------- */

/* A frame other than a hello on an UP link. */
void pl__dispatch(struct pl_link *l, const struct pw_frame *f);
/* The output drained below half its bound: room for every subscription
 * with credit. */
void pl__room_all(struct pl_link *l);
/* Teardown of an UP link that closed: unsubscribe / sub_lost for every
 * subscription, PL_VAL_LINKDOWN for every pending validation. */
void pl__flow_end(struct pl_link *l);
/* Free every table entry and pending request (no callbacks). */
void pl__flow_free(struct pl_link *l);
/* The key of an input pair (console, operator) in in_tx, in_rx, in_void. */
#define IN_KEY(buf, c, o) snprintf((buf), sizeof(buf), "%s %s", (c), (o))
/* The tables' entries: lookup by key or by (console, operator); a copy of
 * e (key filled in) added (NULL: out of memory); removed and freed. */
struct pl_ent *pl__ent_get(struct smap *m, const char *key);
struct pl_ent *pl__ent_input(struct smap *m, const char *console,
                             const char *op);
struct pl_ent *pl__ent_add(struct smap *m, const struct pl_ent *e);
void pl__ent_del(struct smap *m, struct pl_ent *e);

/* ---- peerlink_input.c ---------------------------------------------------- */

void pl__on_input(struct pl_link *l, const struct pw_input *in);
void pl__on_input_ack(struct pl_link *l, const struct pw_input_ack *a);

#endif /* VSPC_PEERLINK_INT_H */
