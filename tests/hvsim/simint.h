/*
 * simint.h: the simulator's internal types, shared by sim.c (consoles,
 * streaming, run phases), simops.c (operators, verification of their
 * input) and migrate.c (vMotion). Not for other modules: they use sim.h.
 *
 * Ownership: struct sim owns the console array; each console owns its
 * connections (cur, dst: hvc objects closed with hvc_close() or ended by
 * their closed() callback, see hvconn.h), its operators (opc, simops.c)
 * and its vMotion timer. Source connections that are finishing after a vMotion
 * are no longer referenced by their console (hvconn owns them until they end).
 */
#ifndef VSPC_HVSIM_SIMINT_H
#define VSPC_HVSIM_SIMINT_H

#include "vspc/compat.h"

#include "hvconn.h"
#include "opclient.h"
#include "sim.h"

struct event;
struct event_base;
struct opc;

enum sim_phase {
    SIM_PH_CONNECT = 0, /* consoles connecting and identifying */
    SIM_PH_RUN,         /* streaming and vMotions */
    SIM_PH_DRAIN,       /* generation stopped; waiting for verification */
    SIM_PH_DONE,        /* summary printed, loop stopping */
};

enum mig_state {
    MIG_IDLE = 0,      /* streaming on cur; the timer starts the next one */
    MIG_BEGIN,         /* BEGIN sent, waiting GOAHEAD or NOTNOW */
    MIG_ABORT_WAIT,    /* GOAHEAD received, ABORT after --abort-delay */
    MIG_PEER_DELAY,    /* GOAHEAD received, destination after --peer-delay */
    MIG_PEER,          /* GOAHEAD received, destination waits PEER-OK */
    MIG_COMPLETE_WAIT, /* PEER-OK, source FIN sent, COMPLETE after
                          --fin-lead */
};

#define SIM_SEQ_MAX 200
#define SIM_SECRET_MAX 255

/* A latency series, microseconds (bounded: SIM_LAT_CAP samples). */
struct sim_lat {
    uint32_t *v;
    size_t n, cap;
};

/* One operator of a console (simops.c): operator k of a console attaches
 * through --operator number k and types its own tagged stream (seed.h). */
struct sop {
    struct opc *op;        /* NULL before it starts and once it is gone */
    struct opc_stats last; /* its counters, kept when it goes away */
    uint64_t seed;         /* the stream it types: seed_op_n(S, idx, k) */
    uint64_t tokens;       /* typing token bucket, bytes * 1e6 */
    /* Its input stream as received (demultiplexed) by the VM. */
    uint64_t rx;
    uint64_t rx_ok; /* verified prefix */
    bool rx_bad;
    /* Waiting for the first VM byte written after the last switch. */
    bool gap_wait;
};

struct scon {
    struct sim *sim;
    unsigned idx;
    uint64_t vm_seed;
    uint64_t rng;

    char uuid_text[48];
    char bios_text[48];
    char loc_text[48];
    char name[96];
    char console_id[80];
    char service_uri[160];
    struct hvc_ident ident;

    struct hvc *cur;             /* the connection that carries the console */
    struct hvc *dst;             /* vMotion destination being set up */
    struct sockaddr_in cur_addr; /* where cur is connected */
    struct sockaddr_in dst_addr; /* where dst is connected */
    unsigned vmo_next;           /* next --vmotion-dest index to try */
    struct sop ops[SIM_OPS_MAX]; /* cfg->n_ops of them */
    unsigned ops_attached;       /* operators that said "ok attached" */

    bool connecting; /* counted in sim->pending */
    bool identified;
    bool ready;     /* identified and (no operator or attached) */
    bool failed;    /* gave up on this console (already counted) */
    bool streaming; /* may send VM output now */

    /* VM output stream (VM -> operators). */
    uint64_t tx;
    uint64_t tokens; /* token bucket, bytes * 1e6 */
    /* Operator input bytes received by the VM, all operators. */
    uint64_t rx;

    /* vMotion */
    enum mig_state mig;
    struct event *mig_timer;
    unsigned vmo_attempts; /* BEGINs sent */
    unsigned vmo_done;     /* finished one way or another */
    unsigned notnow_run;   /* NOTNOWs in a row */
    bool abort_this;
    uint8_t seq_len;
    uint8_t secret_len;
    uint8_t seq[SIM_SEQ_MAX];
    uint8_t secret[SIM_SECRET_MAX];
    uint64_t t_begin_us;
    uint64_t t_peer_us; /* destination connection opened (PEER) */
    /* The switch gap: COMPLETE sent at gap_t0_us; the VM's first byte on
     * the destination (stream offset gap_off) written at gap_tw_us (0:
     * not yet); each operator's first sight of it ends its sample. */
    uint64_t gap_off;
    uint64_t gap_t0_us;
    uint64_t gap_tw_us;

    /* --reconnect */
    struct event *rc_timer;
    unsigned rc_backoff_ms; /* next delay; 0: none yet */
    bool reconnecting;      /* cur is a redial not yet identified */
    uint64_t t_lost_us;     /* when the connection was lost */
};

struct sim {
    const struct sim_cfg *cfg;
    struct event_base *base;
    struct scon *cons;
    struct event *tick;
    struct event *sig_int;
    struct event *sig_term;
    enum sim_phase phase;
    int exit_code;

    unsigned write_ms; /* minimum time between writes per console */

    uint64_t t_start_us;
    uint64_t t_last_tick_us;
    uint64_t t_run_us;   /* entered RUN */
    uint64_t t_drain_us; /* entered DRAIN */

    unsigned next_connect; /* next console index to connect */
    bool in_connect;       /* inside sim_connect_more() */
    unsigned pending;      /* consoles connecting, within the window */
    unsigned nready;
    unsigned nfailed;

    uint64_t errors;
    uint64_t errors_printed;
    uint64_t vmo_ok;
    uint64_t vmo_aborted;
    uint64_t vmo_notnow;
    uint64_t vmo_failed;
    uint64_t vmo_refused;  /* given up after NOTNOWs, with --notnow-ok */
    unsigned vmo_inflight; /* consoles not in MIG_IDLE */

    /* Host-observed vMotion latencies: BEGIN written -> GOAHEAD read,
     * destination connected -> PEER-OK read, and the switch gap
     * (migrate.c). */
    struct sim_lat lat_goahead;
    struct sim_lat lat_peerok;
    struct sim_lat lat_gap;
    /* --reconnect: connections lost and redialed, and the time from the
     * loss to the console identified again. */
    uint64_t lost, reconnected;
    struct sim_lat lat_reconnect;
};

/* sim.c services for migrate.c */
uint64_t sim_now_us(void);
void sim_err(struct sim *s, const struct scon *c, uint64_t off, const char *fmt,
             ...) VSPC_PRINTF(4, 5);
void sim_stream_pause(struct scon *c);
void sim_stream_resume(struct scon *c);
void sim_con_fail(struct scon *c, const char *why);
/* c is identified and every operator attached: start streaming. */
void sim_con_ready(struct scon *c);
void sim_lat_add(struct sim_lat *l, uint64_t us);
uint64_t sim_rand(struct scon *c);
extern const struct hvc_handlers sim_hvc_handlers;

/* simops.c: the operators of a console */
/* Connect one operator per --operator (after identification). */
void sops_start(struct scon *c);
/* Close them (the console failed), keeping their counters. */
void sops_close(struct scon *c);
/* Operator input arriving at the VM: demultiplex and verify. */
void sops_vm_input(struct scon *c, const uint8_t *p, size_t n);
/* The least VM stream offset seen by any live operator (UINT64_MAX: none). */
uint64_t sops_min_seen(const struct scon *c);
/* Typing: refill the buckets by dt_us and type what they allow. */
void sops_pump(struct scon *c, uint64_t dt_us, uint64_t cap, uint64_t chunk);
/* Every operator typed what it was asked to. */
bool sops_typing_done(const struct scon *c);
/* Everything sent both ways verified (or a mismatch: no use waiting). */
bool sops_drained(const struct scon *c);
/* Final per-console checks (errors through sim_err). */
void sops_final(struct scon *c);
/* Operator k's counters, live or kept. */
const struct opc_stats *sops_stats(const struct scon *c, unsigned k);

/* migrate.c */
int mig_init(struct scon *c);
void mig_cleanup(struct scon *c);
/* The VM wrote its first byte since the switch (sim.c). */
void mig_first_write(struct scon *c);
/* Operator k has seen VM output up to stream offset end (simops.c). */
void mig_op_seen(struct scon *c, unsigned k, uint64_t end);
/* Arm the timer for the next vMotion if any is left. */
void mig_schedule(struct scon *c);
/* Stop starting new vMotions (drain); in-flight ones go on. */
void mig_stop(struct scon *c);
/* Forget any vMotion in progress (closes the destination), no error. */
void mig_reset(struct scon *c);
/* true while the source VM is frozen (GOAHEAD received, not yet resumed
 * or switched): operator bytes arriving on it would be lost. */
bool mig_frozen(const struct scon *c);
void mig_on_vmotion(struct scon *c, struct hvc *h, uint8_t sub,
                    const uint8_t *p, size_t n);
/* A connection of c that mig cares about (cur or dst) ended. */
void mig_on_closed(struct scon *c, struct hvc *h, bool error, const char *why);

#endif /* VSPC_HVSIM_SIMINT_H */
