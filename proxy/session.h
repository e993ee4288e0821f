/*
 * session.h: sess_*, one hypervisor connection (ESXi host -> this node).
 *
 * A session runs the telnet codec and the option-232 dialogue, identifies
 * itself (DO-PROXY + VM-VC-UUID, or an accepted VMOTION-PEER), then
 * carries one console. The life cycle is an explicit state machine
 * (session.c: sess_allowed[]); every change goes through sess_set_state().
 *
 *   NEGOTIATING  accepted; telnet/232 negotiation; waiting for DO-PROXY
 *                or VMOTION-PEER. Data is held in `pre` (up to
 *                SESS_PRE_HOLD x cfg.pre_ident_max; past that the session
 *                stops reading until it is identified or the idle
 *                timeout closes it: TCP backpressure, never a drop).
 *   PROXY_REQ    DO-PROXY accepted; waiting for VM-VC-UUID.
 *   PEER         VMOTION-PEER accepted (PEER-OK sent); waiting for
 *                COMPLETE. Data is held in `pre`.
 *   ACTIVE       carries its console (owner). Data goes to the console.
 *   RETIRED      was the owner, a newer connection took over (vMotion
 *                COMPLETE, reconnect); flushing, then closed. A vMotion
 *                source retired by COMPLETE keeps feeding its console
 *                until its FIN (`draining`): its last output comes before
 *                the new owner's first byte.
 *
 * Reading is paced by the console (stream.h): before every chunk it hands
 * on (STRM_FEED_MAX at most) the session asks strm_feed_ok(); when the
 * answer is no it stops reading the socket (bytes already read wait in
 * `unparsed`) and resumes from its feeder callback.
 *   CLOSING      closed; waiting to be reaped after callbacks unwind.
 *
 * Ownership: sessions belong to proxy.sessions; sess_close() only marks
 * the session CLOSING and queues it for the reap event, so a session is
 * never freed under a running callback.
 */
#ifndef VSPC_SESSION_H
#define VSPC_SESSION_H

#include "vspc/compat.h"

#include <sys/queue.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "console.h"
#include "proxy.h"
#include "telnet.h"
#include "vmext.h"
#include "vmotion.h"

enum sess_state {
    SESS_ST_NEGOTIATING = 0,
    SESS_ST_PROXY_REQ,
    SESS_ST_PEER,
    SESS_ST_ACTIVE,
    SESS_ST_RETIRED,
    SESS_ST_CLOSING,
    SESS_ST__COUNT,
};

/* Legal exits of each state, as a bitmask of (1u << next). */
extern const uint32_t sess_allowed[SESS_ST__COUNT];
const char *sess_state_str(enum sess_state st);
bool sess_transition_ok(enum sess_state from, enum sess_state to);

struct console;
struct vmotion;

struct session {
    uint64_t id;
    enum sess_state state;
    struct proxy *px;
    struct bufferevent *bev;
    char peer_addr[64];
    struct tn tn;
    struct console *con;         /* ACTIVE/RETIRED: its console */
    struct vmo_dest vd;          /* as a vMotion's destination (vd.vmo) */
    void *xpeer;                 /* PEER for another node's vMotion
                                    (px->vmroute's; vmcross.c) */
    struct evbuffer *pre;        /* serial data before identification */
    struct evbuffer *unparsed;   /* read from the socket, not yet parsed */
    struct strm_feeder feed;     /* paced by its console's stream */
    struct con_hv hv;            /* the console's view of this connection */
    struct event *timer;         /* idle timeout / close-flush deadline */
    char uuid[VMX_UUID_HEX + 1]; /* as the host announced it ("" if not) */
    char label[VMX_LABEL_MAX + 1];
    char name[VMX_NAME_MAX + 1];
    bool proxy_ok;      /* DO-PROXY accepted */
    bool asked_ident;   /* GET-VM-VC-UUID/GET-VM-NAME sent */
    bool pre_warned;    /* warned: much data before identification */
    bool eof;           /* the host closed its side */
    bool closing_flush; /* close once the output buffer drains */
    bool tls;           /* telnets:// (the bufferevent is OpenSSL's) */
    bool tls_up;        /* its handshake completed */
    bool draining;      /* RETIRED vMotion source still feeding s->con */
    bool pre_full;      /* stopped reading: too much data before ident */
    bool paused;        /* EV_READ off: paced (sess_may_feed said no) */
    TAILQ_ENTRY(session) link;
};

/* Accept a hypervisor connection on fd. Returns NULL (fd closed) on
 * failure. The session belongs to px. */
struct session *sess_new(struct proxy *px, int fd, const struct sockaddr *sa);
/* Same; peer is the host's address for logs and `list` (the socket's, or
 * a PROXY header's); tls non-NULL: implicit TLS on fd, this node being the
 * TLS server (the telnet stream starts after the handshake). */
struct tls_ctx;
struct session *sess_new_ex(struct proxy *px, int fd,
                            const struct sockaddr *peer, struct tls_ctx *tls);
/* Close now (drop unsent output) or after the output drains. */
void sess_close(struct session *s, const char *why);
/* The per-source counts of unidentified connections (proxy shutdown). */
void sess_srcs_free(struct proxy *px);
void sess_close_flush(struct session *s, const char *why);
/* Free a session queued by sess_close (reap event; proxy_free). */
void sess_free(struct session *s);

/* Serial data toward the VM (escaped by the codec). */
void sess_send_data(struct session *s, const uint8_t *p, size_t n);
/* Bytes queued toward the host and not yet written to the socket. */
size_t sess_output_len(const struct session *s);
/* Send an option-232 suboption. */
void sess_send_vmx(struct session *s, uint8_t sub, const uint8_t *a, size_t an,
                   const uint8_t *b, size_t bn);
/* Its PEER was accepted (here or by the owner's node): state PEER, send
 * PEER-OK(seq). */
void sess_become_peer(struct session *s, const uint8_t *seq, size_t n);
/* A PEER session's vMotion completed: it now carries the console. */
void sess_become_owner(struct session *s, struct console *c);
/*
 * vMotion COMPLETE: the source (the console's owner until now) retires but
 * keeps feeding c until its FIN, or until cfg.vmotion_timeout; the new
 * owner's output waits until then. Call before sess_become_owner(peer).
 */
void sess_retire_source(struct session *s, struct console *c);
/* The handover happens now: a retired source still feeding its console
 * stops (what it sends later is discarded, counted). No-op otherwise. */
void sess_stop_draining(struct session *s);
/* s as a vMotion destination (vmotion.h). */
struct vmo_dest *sess_dest(struct session *s);
/* A destination whose vMotion's owner died after PEER-OK: it carries its
 * VM's console as a plain connection (a claim with a higher epoch), or
 * closes if the host never said which VM it is. */
void sess_claim(struct session *s);

#endif /* VSPC_SESSION_H */
