/*
 * clock.h: the monotonic clock in seconds, for timeouts and rate limits.
 */
#ifndef VSPC_CLOCK_H
#define VSPC_CLOCK_H

#include "vspc/compat.h"

#include <time.h>

static inline double
clock_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif /* VSPC_CLOCK_H */
