/*
 * pattern.h: the verifiable byte streams of the simulator and the tests.
 *
 * Byte i of stream `seed` is pat_byte(seed, i). Every byte value appears
 * (NUL, 0x11, 0xFF, ...), no two streams with different seeds agree for
 * long, and a receiver that knows (seed, offset) checks each byte it gets,
 * so loss, duplication and reordering all show up as a mismatch at a known
 * offset.
 */
#ifndef VSPC_HVSIM_PATTERN_H
#define VSPC_HVSIM_PATTERN_H

#include <stddef.h>
#include <stdint.h>

static inline uint8_t
pat_byte(uint64_t seed, uint64_t i)
{
    /* splitmix64 of (seed, i / 8), one byte of the result per offset. */
    uint64_t z = seed * 0x9e3779b97f4a7c15ULL + (i >> 3) + 1;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (uint8_t)(z >> ((i & 7) * 8));
}

static inline void
pat_fill(uint64_t seed, uint64_t off, uint8_t *dst, size_t n)
{
    for (size_t k = 0; k < n; k++)
        dst[k] = pat_byte(seed, off + k);
}

/* Index of the first mismatch against the stream at off, or n if none. */
static inline size_t
pat_check(uint64_t seed, uint64_t off, const uint8_t *p, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (p[k] != pat_byte(seed, off + k))
            return k;
    return n;
}

#endif /* VSPC_HVSIM_PATTERN_H */
