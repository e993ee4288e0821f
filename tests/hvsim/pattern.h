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

/* The 8 bytes of group g (offsets 8g .. 8g+7), byte i & 7 in bits
 * (i & 7) * 8: splitmix64 of (seed, g). */
static inline uint64_t
pat_word(uint64_t seed, uint64_t g)
{
    uint64_t z = seed * 0x9e3779b97f4a7c15ULL + g + 1;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint8_t
pat_byte(uint64_t seed, uint64_t i)
{
    return (uint8_t)(pat_word(seed, i >> 3) >> ((i & 7) * 8));
}

/* pat_fill and pat_check hash once per 8 bytes (the streams of a run of
 * gigabytes are generated and checked at memory speed, even unoptimised). */
static inline void
pat_fill(uint64_t seed, uint64_t off, uint8_t *dst, size_t n)
{
    size_t k = 0;

    while (k < n) {
        uint64_t i = off + k, z = pat_word(seed, i >> 3);

        for (unsigned b = (unsigned)(i & 7); b < 8 && k < n; b++, k++)
            dst[k] = (uint8_t)(z >> (b * 8));
    }
}

/* Index of the first mismatch against the stream at off, or n if none. */
static inline size_t
pat_check(uint64_t seed, uint64_t off, const uint8_t *p, size_t n)
{
    size_t k = 0;

    while (k < n) {
        uint64_t i = off + k, z = pat_word(seed, i >> 3);

        for (unsigned b = (unsigned)(i & 7); b < 8 && k < n; b++, k++)
            if (p[k] != (uint8_t)(z >> (b * 8)))
                return k;
    }
    return n;
}

/*
 * Several writers into one stream (the operators of one console, whose
 * input the proxy merges in any interleaving). Writer k of K writes
 * pat_tagged(seed_k, bits, k, j), j = 0, 1, ...: the stream's byte shifted
 * left by bits, with k in the low bits, where bits = pat_tag_bits(K). The
 * reader takes k from the low bits of each byte it gets and checks the byte
 * against writer k's next one, so each writer's subsequence is checked
 * exactly (a lost, doubled or reordered byte is a mismatch at a known
 * offset of a known writer, a missing tail a short count).
 *
 * K = 1: bits 0, the plain stream (every byte value). K = 2: one tag bit,
 * writer 0 the even, writer 1 the odd values; K = 3 or 4: two tag bits.
 * Together the writers of K = 2 or 4 still cover every byte value.
 */
static inline unsigned
pat_tag_bits(unsigned writers)
{
    return writers <= 1 ? 0 : writers == 2 ? 1 : 2;
}

static inline uint8_t
pat_tagged(uint64_t seed, unsigned bits, unsigned k, uint64_t i)
{
    return (uint8_t)(pat_byte(seed, i) << bits | k);
}

static inline void
pat_fill_tagged(uint64_t seed, unsigned bits, unsigned k, uint64_t off,
                uint8_t *dst, size_t n)
{
    pat_fill(seed, off, dst, n);
    if (bits == 0)
        return;
    for (size_t i = 0; i < n; i++)
        dst[i] = (uint8_t)(dst[i] << bits | k);
}

#endif /* VSPC_HVSIM_PATTERN_H */
