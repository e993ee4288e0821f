/* scenario.h: `vspc-hvsim scenario ...`, the PROTOCOL.md section 10 runs. */
#ifndef VSPC_HVSIM_SCENARIO_H
#define VSPC_HVSIM_SCENARIO_H

#include "vspc/compat.h"

/* argv[0] is "scenario". Returns the process exit code (0 = pass). */
int scen_main(int argc, char **argv);

/* ---- internal to scenario.c and scen_*.c -------------------------------- */

#include "script.h"

#define SCEN_PASS 0
#define SCEN_FAIL 1
#define SCEN_NA 77

struct scen {
    int n;
    const char *vm;       /* proxy's hypervisor address */
    const char *op;       /* proxy's operator address */
    long pid;             /* VSPC_PROXY_PID, 0 if unknown */
    const char *log_dir;  /* --log-dir DIR (the proxy's), or NULL */
    const char *tls;      /* --tls ADDR: the proxy's telnets:// port */
    const char *tls_cert; /* --tls-cert FILE: its certificate (pinned) */
    /* 49, 50: a second node of the same cluster. */
    const char *peer_vm; /* --peer-proxy ADDR: node B's hypervisor port */
    const char *op2;     /* --operator2 ADDR: node B's operator port */
    long owner_pid;      /* --owner-pid PID: node A, killed in 50 */
};

/* Helper already printed the failure: fail the scenario. */
#define TRY(cond)                                                              \
    do {                                                                       \
        if (!(cond))                                                           \
            return SCEN_FAIL;                                                  \
    } while (0)
/* Fail with a message. */
#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            scr_fail(__FILE__, __LINE__, __VA_ARGS__);                         \
            return SCEN_FAIL;                                                  \
        }                                                                      \
    } while (0)

/* Seeds of the pattern streams: VM output and operator input. */
#define SEED_VM(n) (1000u + (n))
#define SEED_OP(n) (5000u + (n))

/* Connects VM number vmno (label may be NULL) and runs the 4.1 handshake;
 * id receives the console id. */
struct scr_conn *scen_vm(struct scen *s, unsigned vmno, const char *label,
                         char id[VMX_CONSOLE_ID_MAX + 1]);
/* Same with a prepared handshake description (uuid/uri filled in). */
struct scr_conn *scen_vm_hs(struct scen *s, const char *name,
                            struct scr_hs *hs);
/* Operator attached raw to id; checks offset 0. */
struct scr_conn *scen_op(struct scen *s, const char *id, const char *mode);
/* BEGIN(seq) on src: GOAHEAD within 5 s with payload exactly seq || 8
 * bytes; the secret is copied out. */
bool scen_begin(struct scr_conn *src, const uint8_t *seq, size_t nseq,
                uint8_t secret[VMX_SECRET_LEN]);
/* Where a destination host dials: the proxy, or with --peer-proxy the
 * node other than the one the last BEGIN went out on. */
const char *scen_dest_addr(const struct scen *s);
/* A destination host (at scen_dest_addr): negotiates, PEER(seq||secret);
 * expect_ok: waits for PEER-OK(seq) exactly. */
struct scr_conn *scen_peer(struct scen *s, unsigned vmno, const uint8_t *seq,
                           size_t nseq, const uint8_t *secret, size_t nsecret,
                           bool expect_ok);
/* Whole vMotion of *src (VM vmno): BEGIN, peer, PEER-OK, COMPLETE, source
 * closed by the proxy. *src becomes the peer. */
bool scen_vmotion(struct scen *s, unsigned vmno, struct scr_conn **src,
                  const uint8_t *seq, size_t nseq);
/* Pattern bytes sent by one side (VM data or operator input), checked
 * byte-exact on the other within SCR_T_ANSWER. */
bool scen_v2o(struct scr_conn *vm, struct scr_conn *op, uint64_t seed,
              uint64_t off, size_t n);
bool scen_o2v(struct scr_conn *op, struct scr_conn *vm, uint64_t seed,
              uint64_t off, size_t n);
/* Waits for text in c's data stream from offset `from` on; the offset just
 * past it, or -1 (printed). */
long scen_wait_text(struct scr_conn *c, size_t from, const char *text,
                    int timeout_ms);
/* A fresh operator connection waits for console id (in state, if not
 * NULL) to appear in `list`. */
bool scen_console_state(struct scen *s, const char *id, const char *state,
                        int timeout_ms);
/* Number of consoles in `list`, -1 on failure. */
int scen_count_consoles(struct scr_conn *op);
/* Open fds of the proxy, -1 if unknown. */
int scen_proxy_fds(struct scen *s);

int scen_01_25(struct scen *s);
int scen_26_48(struct scen *s);
int scen_51_56(struct scen *s);
/* scen_cluster.c: 49 and 50 (needs peer_vm; 50 also op2 and owner_pid). */
int scen_cluster(struct scen *s);

/* scen_drain.c: scenario 201, the drain of one node (ctest admin_drain). */
#define DRAIN_SCEN 201
const char *drain_name(int n);
int scen_drain(struct scen *s);

#endif
