/*
 * coordsim.h: the coordinator test driver's shared state (tests/coord/).
 *
 * coordsim runs N fake nodes (cc_ clients, all in this process, one loop,
 * one ZeroMQ context) against a real vspc-coordinator that it starts
 * itself (--spawn) and stops by the PID it got, and walks a scenario: a
 * list of steps, each an action and a check polled every 20 ms until it
 * holds or its timeout passes. The expected directory is kept here (the
 * model); "converged" means every live fake node's replica equals the
 * model field by field, consoles and nodes.
 */
#ifndef VSPC_COORDSIM_H
#define VSPC_COORDSIM_H

#include "vspc/compat.h"

#include <sys/types.h>

#include "vspc/coordcli.h"
#include "vspc/strmap.h"
#include "wire.h"

#define SIM_MAX_NODES 8
#define SIM_MAX_RAW 16

struct sim;

struct sim_node {
    struct cc *cc; /* NULL: stopped */
    struct sim *sim;
    int slot;
    char node_id[WIRE_NODE_ID_MAX + 1];
    uint8_t index;
    char peer_addr[64];
    unsigned fenced;  /* fenced callbacks */
    unsigned removed; /* consoles gone from its replica */
    enum cc_state last_state;
    char last_detail[WIRE_REASON_MAX + 1];
};

/* The model: what every replica must hold. */
struct sim_xcon {
    struct smap_node hn;
    struct wire_console c;
};

struct sim_xnode {
    bool present;
    struct wire_node n;
};

struct sim_step {
    const char *name;
    void (*act)(struct sim *s);                        /* may be NULL */
    bool (*check)(struct sim *s, char *why, size_t n); /* NULL: done */
    double timeout;
};

struct sim_scenario {
    const char *name;
    const char *help;
    const struct sim_step *steps;
    bool needs_spawn;
};

struct sim {
    struct event_base *base;
    void *zctx;
    char endpoint[128], pub_endpoint[128];
    int port;
    const char *spawn_bin;
    const char *coord_log;
    const char *extra_args[8];
    int n_extra;
    pid_t coord_pid;
    int coord_status; /* from waitpid, once it exited */
    bool coord_exited;
    int nnodes, nconsoles;
    double hb, hb_timeout, grace;
    struct sim_node nodes[SIM_MAX_NODES];
    struct smap expect;
    struct sim_xnode xnodes[SIM_MAX_NODES];
    void *raw[SIM_MAX_RAW]; /* raw libzmq sockets of the garbage test */
    int nraw;
    void *xsub; /* one of raw: to the update port */
    uint8_t xsub_msg[64];
    size_t xsub_len;
    uint64_t seed;
    uint64_t coord_inc_before;
    const struct sim_scenario *scen;
    size_t step;
    bool acted;
    double step_start, deadline, t0;
    struct event *poll_ev;
    int failed;
};

/* coordsim.c: the model, the nodes, the coordinator process. */
void sim_console_id(char out[WIRE_CONSOLE_ID_MAX + 1], int slot, int k);
void sim_make_console(struct sim *s, int slot, int k, uint64_t counter,
                      struct wire_console *c);
/* Announce c from node slot and put it in the model. */
void sim_announce(struct sim *s, int slot, const struct wire_console *c);
/* Withdraw id from node slot at epoch and drop it from the model. */
void sim_withdraw(struct sim *s, int slot, const char *id, uint64_t epoch);
void sim_model_del(struct sim *s, const char *id);
struct sim_xcon *sim_model_get(struct sim *s, const char *id);
int sim_node_start(struct sim *s, int slot, uint8_t index);
void sim_node_stop(struct sim *s, int slot);
bool sim_converged(struct sim *s, char *why, size_t n);
int sim_coord_start(struct sim *s);
void sim_coord_term(struct sim *s);
/* The coordinator exited with status 0 (after sim_coord_term)? */
bool sim_coord_gone(struct sim *s, char *why, size_t n);
/* Count lines of the coordinator log containing needle (-1: no log). */
int sim_log_count(const struct sim *s, const char *needle);
uint64_t sim_rand(uint64_t *state);

/* coordsim_scen.c */
extern const struct sim_scenario sim_scenarios[];
void sim_raw_close(struct sim *s);

#endif /* VSPC_COORDSIM_H */
