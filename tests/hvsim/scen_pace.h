/*
 * scen_pace.h: scenarios 110-118 (`vspc-hvsim scenario N`, ctest pace_*):
 * issue 6, every byte to every reader that keeps reading (DESIGN.md "Data
 * paths" 3). scen_pace.c: the machinery below, a stalled reader next to a
 * healthy one (110), a slow reader (111); scen_pace2.c: a stalled console
 * log (112), scrollback replays (113-115), two operator-port fixes (116,
 * 117), backpressure before identification (118).
 *
 * The long streams are never kept in memory. A VM writer (struct pw)
 * generates its pattern as it sends, flat out and non-blocking, and
 * measures the longest time the proxy left it unable to write. A reader
 * (struct pv) checks every byte an operator receives as it arrives
 * (scr_set_sink); with notices allowed it parses the gap notices
 * ("\r\n[vspc: N bytes of output skipped (reader too slow); resuming at
 * offset M]\r\n") and follows the offsets they name, else a notice is a
 * wrong byte like any other. Single-threaded, every wait bounded.
 */
#ifndef VSPC_HVSIM_SCEN_PACE_H
#define VSPC_HVSIM_SCEN_PACE_H

#include "vspc/compat.h"

#include "scenario.h"

#define PACE_FIRST 110
#define PACE_LAST 118

#define PACE_QUEUE 262144            /* --operator-queue default */
#define PACE_RING 65536              /* --scrollback default */
#define PACE_STALL_MAX_MS 3000       /* --stall-timeout 1 plus slack */
#define PACE_TX_MAX (64ULL << 30)    /* "flat out": no byte limit */
#define PACE_TURN_READ (1024 * 1024) /* bytes read per reader per turn */

/* Name of pace scenario n (PACE_FIRST..PACE_LAST), NULL if none. */
const char *pace_name(int n);
/* Runs pace scenario s->n (scen_pace2: 112-118). */
int scen_pace(struct scen *s);
int scen_pace2(struct scen *s);

/* ---- the VM writer ------------------------------------------------------ */

#define PW_CHUNK 65536

struct pw {
    struct scr_conn *c;
    uint64_t seed;
    uint64_t tx;    /* stream bytes generated (sent, or in buf) */
    uint64_t limit; /* generate up to this offset */
    size_t blen, bpos;
    int64_t t_start;
    int64_t t_progress; /* last time the socket took bytes */
    int64_t max_stall;  /* longest time it took none, ms */
    int64_t stall_end;  /* when that stall ended, ms after t_start */
    uint64_t stall_tx;  /* tx then */
    uint8_t raw[PW_CHUNK];
    uint8_t buf[2 * PW_CHUNK];
};

/* The one writer of a scenario (large: not for the stack). */
extern struct pw pace_w;

/* Streams pattern seed from offset `from` up to `limit` on c; the stall
 * measurement starts now. */
void pw_start(struct pw *w, struct scr_conn *c, uint64_t seed, uint64_t from,
              uint64_t limit);
/* Something left to generate or to send. */
bool pw_busy(const struct pw *w);
/* Sends what the socket takes now (at most 1 MiB). false on an error. */
bool pw_step(struct pw *w);
/* Stop generating: what is generated still goes out. */
void pw_stop(struct pw *w);
/* "VM wrote N bytes in T ms; longest write stall ..." (since from). */
void pace_report_writer(const struct pw *w, uint64_t from);

/* ---- an operator's reader ----------------------------------------------- */

struct pv {
    const char *who;
    struct scr_conn *c;
    uint64_t seed;
    uint64_t pos; /* stream offset of the next byte expected */
    uint64_t rx;  /* data bytes received since attached */
    bool notices; /* gap notices are parsed (else they are mismatches) */
    bool bad;     /* a wrong byte was reported */
    long gaps;
    uint64_t gap_bytes;
    uint64_t gap_at; /* stream offset of the first notice */
    size_t nhold;
    uint8_t hold[192]; /* maybe a notice, not complete yet */
};

/* c is attached at stream offset `from`: check what it receives from now
 * on (what it received already after c->rd first). */
void pv_start(struct pv *v, const char *who, struct scr_conn *c, uint64_t seed,
              uint64_t from, bool notices);
/* The stream paused: held bytes that are no complete notice are data. */
void pv_flush(struct pv *v);
/* v alone reaches stream offset `target` within timeout_ms. */
bool pv_wait(struct pv *v, uint64_t target, int timeout_ms);
/* Nothing more arrives at v for ms. */
bool pv_quiet(struct pv *v, int ms);

/*
 * One turn: waits up to wait_ms for the VM socket (w, may be NULL) to take
 * bytes or a reader to have some, then writes what the socket takes and
 * reads up to max[i] bytes from reader i (0: not this turn; at most 7
 * readers). false if the VM's connection failed or the proxy closed a
 * reader (printed).
 */
bool pace_turn(struct pw *w, struct pv **rs, const size_t *max, size_t nr,
               int wait_ms);
/* The VM (w, may be NULL) finishes sending, and every reader of rs reaches
 * w->tx (or target, without w) within timeout_ms. */
bool pace_finish(struct pw *w, struct pv **rs, size_t nr, uint64_t target,
                 int timeout_ms);

/* ---- helpers ------------------------------------------------------------ */

/* Operator attached "ro raw" to id; the offset must be want_off. rcvbuf:
 * its SO_RCVBUF (0: the default). NULL on failure (printed). */
struct scr_conn *pace_op(struct scen *s, const char *id, int rcvbuf,
                         uint64_t want_off);
/* A sample of /metrics; -1 if absent, -2 if /metrics failed (printed). */
long long pace_metric(const char *name);
/* VmRSS of process pid in kB, -1 if unknown. */
long long pace_rss_kb(long pid);
/* Is process pid built with AddressSanitizer? */
bool pace_asan(long pid);
/* Prints up to 64 bytes to stderr, the unprintable ones as \xNN. */
void pace_show(const uint8_t *p, size_t n);

#endif
