/*
 * random.h: a random 64-bit value from the kernel's CSPRNG, for
 * incarnation numbers and hash seeds (not for secrets: those use OpenSSL).
 * Never 0 (0 means "unset" in the coordinator protocol).
 */
#ifndef VSPC_RANDOM_H
#define VSPC_RANDOM_H

#include "vspc/compat.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t
random_u64(void)
{
    uint64_t v = 0;

    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
        /* Only without a kernel CSPRNG: still unique enough per start. */
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
            ((uint64_t)getpid() << 16);
        v *= 0x9e3779b97f4a7c15ULL;
    }
    return v ? v : 1;
}

#endif /* VSPC_RANDOM_H */
