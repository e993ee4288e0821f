/*
 * sim.h: sim_*, the simulator core behind `vspc-hvsim run`: many
 * simulated VM serial ports (consoles) on one event loop, each streaming a
 * verifiable pattern (pattern.h, seed.h) to the proxy, verifying what the
 * proxy sends back, doing vMotions (migrate.c) and, optionally, with one
 * operator per console on each of up to SIM_OPS_MAX operator ports
 * (opclient.c, simops.c).
 *
 * Ownership: sim_run() borrows the configuration for the whole run; the
 * strings in it are borrowed too (argv in practice).
 */
#ifndef VSPC_HVSIM_SIM_H
#define VSPC_HVSIM_SIM_H

#include "vspc/compat.h"

#include <netinet/in.h>

enum sim_vmo_mode {
    SIM_VMO_OK = 0, /* full vMotion: GOAHEAD, PEER, PEER-OK, COMPLETE */
    SIM_VMO_ABORT,  /* VMOTION-ABORT on the source after GOAHEAD */
    SIM_VMO_MIXED,  /* a pseudo-random mix of both */
};

#define SIM_VMO_DEST_MAX 8 /* --vmotion-dest given at most this often */
#define SIM_OPS_MAX 4      /* --operator given at most this often */

struct sim_cfg {
    struct sockaddr_in proxy; /* --proxy: hypervisor port */
    /* --vmotion-dest (default: proxy). With several, vMotion k of a console
     * goes to the next one in the list (cyclically) that is not the address
     * its current connection uses (migrate.c). */
    struct sockaddr_in vmo_dest[SIM_VMO_DEST_MAX];
    unsigned n_vmo_dest;
    /* --operator: each console gets one operator through each address. */
    struct sockaddr_in op_addr[SIM_OPS_MAX];
    unsigned n_ops;
    bool have_operator;         /* n_ops > 0 */
    unsigned consoles;          /* --consoles */
    uint64_t seed;              /* --seed */
    uint8_t uuid_base[16];      /* --uuid-base */
    const char *name_prefix;    /* --name-prefix */
    const char *service_uri;    /* --service-uri */
    const char *port_label;     /* --port-label, NULL if none */
    uint64_t rate;              /* --rate bytes/s per console, 0 = flat out */
    uint64_t bytes;             /* --bytes per console, 0 = unlimited */
    unsigned write_interval_ms; /* --write-interval, 0 = auto */
    uint64_t max_lag;     /* --max-lag: VM ahead of its operator, 0 = no cap */
    uint64_t duration_ms; /* --duration, 0 = until bytes/vmotions done */
    unsigned vmotions;    /* --vmotions per console */
    unsigned vmo_interval_ms;    /* --vmotion-interval */
    unsigned vmo_first_ms;       /* --vmotion-first: before a console's first */
    bool vmo_first_set;          /* else vmo_interval_ms */
    bool vmo_spread;             /* --vmotion-spread: console k's first after
                                    interval * (k + 1) / consoles */
    enum sim_vmo_mode vmo_mode;  /* --vmotion-mode */
    unsigned abort_delay_ms;     /* --abort-delay: GOAHEAD -> ABORT */
    unsigned vmo_window;         /* --vmotion-window: in flight at once */
    unsigned peer_delay_ms;      /* --peer-delay: GOAHEAD -> destination */
    unsigned fin_lead_ms;        /* --fin-lead: source FIN -> COMPLETE */
    unsigned seq_len;            /* --seq-len 1..200 */
    bool complete_first;         /* --complete-first */
    bool early_known1;           /* --early-known1 */
    uint64_t op_rate;            /* --operator-rate bytes/s, 0 = no typing */
    uint64_t op_bytes;           /* --operator-bytes, 0 = until the end */
    unsigned drain_timeout_ms;   /* --drain-timeout */
    unsigned connect_timeout_ms; /* --connect-timeout */
    unsigned connect_window;     /* --connect-window */
    unsigned handshake_timeout_ms; /* --handshake-timeout, per connection */
    unsigned goahead_timeout_ms;   /* --goahead-timeout (host's limit) */
    unsigned peer_timeout_ms;      /* --peer-timeout */
    unsigned max_notnow;           /* --max-notnow in a row per vMotion */
    bool notnow_ok;    /* --notnow-ok: giving up after NOTNOWs is no error */
    bool connect_only; /* --connect-only */
    bool reconnect;    /* --reconnect: a lost connection is redialed, as
                          ESXi does (same address, back-off) */
    bool text;         /* --text: readable lines (textpat.h), no operators */
    unsigned error_print_max; /* errors printed before going quiet */
};

/* Defaults for everything (addresses 127.0.0.1:13370 / :13371). */
void sim_cfg_defaults(struct sim_cfg *cfg);

/*
 * Parse "A.B.C.D:PORT" into out. Only 127.0.0.0/8 is accepted. Returns 0,
 * or -1 with a reason in err.
 */
int sim_parse_addr(const char *s, struct sockaddr_in *out, char *err,
                   size_t errlen);

/* The value of one hex digit, -1 if ch is none. */
int sim_hexval(char ch);
/* True inside the network namespace VSPC_NETNS names (see sim.c). */
bool sim_in_own_netns(void);

/* Parse a UUID text (32 hex digits, spaces and dashes ignored). 0 / -1. */
int sim_parse_uuid(const char *s, uint8_t out[16]);

/* Run to the end. Returns the process exit code: 0 pass, 1 fail, 2 setup
 * error. Prints the summary line on stdout. */
int sim_run(const struct sim_cfg *cfg);

#endif /* VSPC_HVSIM_SIM_H */
