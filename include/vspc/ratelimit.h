/*
 * ratelimit.h: rlim_, "one log line per interval" for one event (a cap's
 * refusals, a listener out of descriptors), with the count of the lines
 * it held back. Per-key tables are vspc/ratelog.h. Not thread-safe.
 */
#ifndef VSPC_RATELIMIT_H
#define VSPC_RATELIMIT_H

#include "vspc/compat.h"

struct rlim {
    double last;    /* when a line was last allowed */
    unsigned quiet; /* refused since */
    bool used;
};

/* May a line be logged at now (seconds, monotonic)? If so *quiet is the
 * number refused since the last one, and the count restarts. */
static inline bool
rlim_allow(struct rlim *r, double now, double interval, unsigned *quiet)
{
    if (r->used && now - r->last < interval) {
        r->quiet++;
        return false;
    }
    *quiet = r->quiet;
    r->quiet = 0;
    r->last = now;
    r->used = true;
    return true;
}

#endif /* VSPC_RATELIMIT_H */
