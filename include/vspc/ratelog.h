/*
 * ratelog.h: "at most one log line per key per interval" (rlog_), for
 * input a remote peer controls (bad messages, refused requests), so that
 * a peer sending garbage in a loop cannot flood the log.
 *
 * A fixed table of RLOG_SLOTS keys (binary, up to RLOG_KEY_MAX bytes;
 * longer keys are cut); when it is full the least recently logged key is
 * forgotten. Memory is the struct itself; nothing to free. Not
 * thread-safe; one table per owner (no process-wide state).
 */
#ifndef VSPC_RATELOG_H
#define VSPC_RATELOG_H

#include "vspc/compat.h"

#define RLOG_SLOTS 64
#define RLOG_KEY_MAX 32

struct rlog_slot {
    uint8_t key[RLOG_KEY_MAX];
    size_t keylen;
    double last;         /* when a line was last allowed */
    unsigned suppressed; /* lines refused since */
    bool used;
};

struct rlog {
    double interval; /* seconds */
    struct rlog_slot slots[RLOG_SLOTS];
};

void rlog_init(struct rlog *rl, double interval);

/*
 * May a line for key be logged at time now (seconds, monotonic)? If so,
 * *suppressed (if not NULL) is the number of lines refused for that key
 * since the last allowed one, and the count restarts.
 */
bool rlog_allow(struct rlog *rl, const void *key, size_t keylen, double now,
                unsigned *suppressed);

#endif /* VSPC_RATELOG_H */
