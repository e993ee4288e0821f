/*
 * proxy.h: the node's configuration and its one process-wide context.
 *
 * Ownership: struct proxy is created by main.c, lives for the whole run
 * and owns the event base, the listeners, the console registry and every
 * session and operator (freed by proxy_free at exit). All of it is touched
 * from the loop thread only.
 */
#ifndef VSPC_PROXY_H
#define VSPC_PROXY_H

#include "vspc/compat.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "stream.h"
#include "vspc/addr.h"
#include "vspc/ratelimit.h"
#include "telnet.h"

struct vmo_route;
struct lguard;
struct sess_srcs;

#define PROXY_MAX_SERVICE_URIS 16
#define PROXY_MAX_ALLOW 64
#define PROXY_MAX_COORDINATORS 2 /* a Binary Star pair */
#define PROXY_ENDPOINT_MAX 128
#define PROXY_MAX_ETCD 5 /* etcd members (ETCD_MAX_ENDPOINTS) */
/* The node's read buffer for hypervisor connections (px->rbuf). */
#define PROXY_RBUF_SIZE (64 * 1024)

/* One --allow entry: an IPv4 or IPv6 prefix. */
struct proxy_cidr {
    int af; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned bits;
};

/* --operator-anonymous: who may use the operator port and the HTTP API
 * without logging in. */
enum proxy_anon {
    PROXY_ANON_LOOPBACK = 0, /* clients on 127.0.0.0/8 and ::1 */
    PROXY_ANON_ANY,
    PROXY_ANON_NONE,
};

struct proxy_cfg {
    char vm_listen[128];
    char operator_listen[128];
    const char *service_uris[PROXY_MAX_SERVICE_URIS];
    size_t n_service_uris;
    char node_id[64];
    uint8_t node_index;     /* routing hint in every secret we issue */
    double vmotion_timeout; /* s: a pending vMotion expires */
    double idle_timeout;    /* s: an unidentified connection is closed */
    double console_expire;  /* s: a disconnected, unwatched console goes */
    bool refuse_vmotion;    /* maintenance: every BEGIN gets NOTNOW */
    size_t scrollback;      /* bytes of VM output kept per console */
    size_t pre_ident_max;   /* bytes held before identification */
    size_t pre_total_max;   /* the same, all connections together */
    unsigned max_unident_per_source; /* unidentified connections per host */
    size_t held_max;              /* operator input held toward one console */
    size_t op_queue_max;          /* output queued to one operator */
    uint8_t escape_char;          /* operator escape (default ^E, 0x05) */
    enum strm_policy slow_reader; /* pace, catchup or disconnect */
    double stall_timeout;         /* s: a reader without progress is cut */
    char http_listen[128];        /* "" = no HTTP */
    char agent_listen[128];       /* HAProxy agent-check port, "" = off */
    const char *log_dir;          /* NULL = no console logs */
    bool log_timestamps;
    size_t log_rotate_bytes;
    unsigned log_keep;
    char tls_listen[128];   /* "" = no telnets:// listener */
    const char *tls_cert;   /* PEM certificate chain (NULL = no TLS) */
    const char *tls_key;    /* PEM private key */
    bool proxy_protocol;    /* hypervisor listeners expect a PROXY header */
    bool takeover_refuse;   /* a live console's connection is never replaced */
    size_t max_consoles;    /* consoles this node holds at most */
    unsigned max_operators; /* operator connections at most */
    double op_idle_timeout; /* s: an operator idle at the prompt goes */
    bool allow_defaulted;   /* no --allow given: loopback only */
    struct proxy_cidr allow[PROXY_MAX_ALLOW]; /* none = any source */
    size_t n_allow;
    size_t audit_max; /* vMotion audit records kept in memory (ring) */
    int log_level;    /* enum log_level: main.c applies it */
    const char *user; /* become it once the ports are bound (NULL: stay) */
    const char *http_token_file; /* bearer token the HTTP API requires */
    /* Operator authentication (auth.h). */
    char op_tls_listen[128]; /* "" = no TLS operator listener */
    const char *op_cert;     /* its PEM certificate chain */
    const char *op_key;      /* its PEM private key */
    const char *op_ca;       /* client certificates' CA (NULL: none) */
    enum proxy_anon op_anon; /* who may skip the login */
    const char *users_file;  /* users and password hashes (users.h) */
    const char *acl_file;    /* per-console rights (acl.h) */
    unsigned login_failures; /* failed logins per source per minute */
    const char *http_cert;   /* HTTPS on the HTTP listener (NULL: plain) */
    const char *http_key;
    /* The cluster (cluster.c): none = this node runs alone. */
    char coordinators[PROXY_MAX_COORDINATORS][PROXY_ENDPOINT_MAX];
    size_t n_coordinators;
    /* Or an etcd v3 cluster (own_etcd.c): its members' JSON gateways. */
    char etcd[PROXY_MAX_ETCD][PROXY_ENDPOINT_MAX];
    size_t n_etcd;
    char etcd_prefix[65];     /* keys under it, ends in '/' */
    unsigned etcd_ttl;        /* s: the node's lease */
    char peer_listen[128];    /* the peer link (other nodes) */
    const char *curve_key;    /* CURVE secret key file (NULL: plain) */
    char coordinator_key[41]; /* the coordinators' public key (Z85) */
    char peer_advertise[128]; /* "" = peer_listen's address */
    /* The peer link in TLS (tls_mutual_new); NULL: plain TCP. */
    const char *peer_tls_cert; /* this node's chain, CN = node_id */
    const char *peer_tls_key;  /* its private key */
    const char *peer_ca;       /* the cluster CA: the only one trusted */
    bool owns_strings; /* config.c copied the strings: cfg_free frees them */
};

/* The defaults of every option (config.c's table) and of the rest. */
void proxy_cfg_defaults(struct proxy_cfg *cfg);

/* Counters, updated on the loop thread only. */
struct proxy_stats {
    uint64_t hv_accepted;
    uint64_t hv_closed;
    uint64_t hv_identified;
    uint64_t hv_refused;           /* WONT-PROXY, bad UUID */
    uint64_t takeovers_other_host; /* live connection replaced by another
                                      host's, outside a vMotion */
    uint64_t takeovers_refused;    /* --takeover refuse kept the live one */
    uint64_t proto_errors;
    uint64_t unknown_suboptions;
    uint64_t bytes_from_vms;
    uint64_t bytes_to_vms;
    uint64_t vmotion_begin;
    uint64_t vmotion_notnow;
    uint64_t vmotion_complete;
    uint64_t vmotion_abort;
    uint64_t vmotion_expired;
    uint64_t peer_rejected;
    uint64_t ops_accepted;
    uint64_t ops_refused_cap;        /* --max-operators reached */
    uint64_t ops_idle_closed;        /* idle at the prompt */
    uint64_t consoles_refused_cap;   /* new identities at --max-consoles */
    uint64_t consoles_expired_early; /* idle ones let go to make room */
    uint64_t accept_paused;          /* listeners paused: out of descriptors */
    uint64_t ops_dropped_slow;       /* slow readers disconnected */
    uint64_t ops_gaps;           /* slow readers caught up from scrollback */
    uint64_t ops_gap_bytes;      /* bytes those readers missed */
    uint64_t ops_input_refused;  /* bytes from read-only operators */
    uint64_t drain_closed;       /* hypervisors let go by drain --close-after */
    uint64_t agent_checks;       /* load-balancer agent checks answered */
    uint64_t ops_move_drained;   /* operators that read the rest, then moved */
    uint64_t ops_move_cut;       /* ... that did not within CON_MOVE_DRAIN_MS */
    uint64_t ops_move_cut_bytes; /* what those did not read here */
    uint64_t log_gaps;           /* console log readers caught up */
    uint64_t log_gap_bytes;      /* bytes those readers missed */
    uint64_t pre_paused;         /* unidentified connections paused */
    uint64_t pre_paused_total;   /* ...of those, by the all-connections cap */
    uint64_t hv_refused_per_source;    /* --max-unidentified-per-source */
    struct strm_stats strm;            /* pacing and stalled readers */
    uint64_t tn_errors[TN_ERR__COUNT]; /* hypervisor parse errors by kind */
    uint64_t hv_denied;                /* sources refused by --allow */
    uint64_t hv_pp_errors;    /* missing, late or malformed PROXY headers */
    uint64_t hv_tls_accepted; /* telnets:// handshakes completed */
    uint64_t hv_tls_failures; /* telnets:// handshakes failed */
};

/* BEGIN->GOAHEAD latency histogram (microseconds), for benchmarks and
 * the vspc_vmotion_goahead_seconds metric. buckets[i] counts the
 * latencies in (bounds[i-1], bounds[i]] (vmo_latency_bounds_us, not
 * cumulative); those above the last bound are count minus the sum of
 * buckets. */
#define VMO_LAT_BUCKETS 13
struct vmo_latency {
    uint64_t count;
    uint64_t max_us;
    uint64_t sum_us;
    uint64_t buckets[VMO_LAT_BUCKETS];
};

struct session;
struct oper;
struct edge_wait;
struct con_registry;
struct vmlog;
struct http;
struct tls_ctx;
struct aud_ring;
struct clog;
struct clu;
struct rld;

struct proxy {
    struct proxy_cfg cfg;
    struct event_base *base;
    struct evconnlistener *vm_listener;
#define PROXY_MAX_GUARDS 4
    struct lguard *guards[PROXY_MAX_GUARDS]; /* lguard.h */
    size_t n_guards;
    struct evconnlistener *op_listener;
    struct event *sig_term;
    struct event *sig_int;
    struct event *reap_ev; /* frees closed sessions/operators */
    struct con_registry *consoles;
    TAILQ_HEAD(, session) sessions; /* every live hypervisor connection */
    TAILQ_HEAD(, session) reap_sessions;
    TAILQ_HEAD(, oper) operators;
    size_t n_operators;     /* in `operators` */
    size_t pre_held;        /* bytes held before identification, all */
    struct sess_srcs *srcs; /* unidentified connections per source */
    struct rlim src_rl;     /* the per-source refusal line */
    struct rlim op_cap_rl;  /* the --max-operators line */
    TAILQ_HEAD(, oper) reap_operators;
    struct tn_policy hv_policy;
    struct tn_policy op_policy;
    struct proxy_stats stats;
    uint64_t next_session_id;
    struct vmlog *vmlog; /* NULL without --log-dir */
    struct http *http;   /* NULL without HTTP */
    struct event *sig_hup;
    struct evconnlistener *tls_listener;   /* NULL without TLS */
    struct evconnlistener *agent_listener; /* NULL without --agent-listen */
    struct event *drain_close_ev;          /* drain --close-after, or NULL */
    struct tls_ctx *tls;                   /* NULL without --tls-cert */
    struct tls_ctx *op_tls;                /* NULL without --operator-cert */
    struct evconnlistener *op_tls_listener;
    struct auth *auth;      /* logins and rights (auth.h); NULL in unit tests */
    struct rld *rld;        /* SIGHUP (reload.h); NULL until the first */
    struct aud_ring *audit; /* the last cfg.audit_max vMotion records */
    bool draining; /* operator `drain`: BEGIN gets NOTNOW (node_set_draining) */
    struct strm_cfg strm_cfg; /* from cfg, by proxy_init */
    struct clog *clog;        /* the console log's readers (NULL: no log) */
    struct clu *clu;          /* the cluster membership (NULL: alone) */
    /* Where PEERs for other nodes' vMotions go (vmotion.h; NULL: alone). */
    const struct vmo_route *vmroute;
    uint8_t *rbuf; /* hypervisor reads land here (session.c), loop only */
    LIST_HEAD(, edge_wait) edge_waits; /* waiting for a PROXY header */
    struct vmo_latency goahead;        /* BEGIN->GOAHEAD (vmotion.c) */
};

/*
 * Set up px (cfg already filled): event base, console registry, reap
 * event, telnet policies. No listeners: main.c adds those, tests use
 * socketpairs. Returns 0 or -1. proxy_fini closes every session and
 * operator and frees everything proxy_init made.
 */
int proxy_init(struct proxy *px);
void proxy_fini(struct proxy *px);

/* Schedule the reap event (frees what sess_close/op_close queued). */
void proxy_schedule_reap(struct proxy *px);

#endif /* VSPC_PROXY_H */
