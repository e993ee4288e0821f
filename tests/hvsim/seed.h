/*
 * seed.h: which pattern.h stream each simulated console uses.
 *
 * Console k of a run with --seed S:
 *   VM output (VM -> operators):   pat_byte(seed_vm(S, k), offset)
 *   operator input (operator -> VM): pat_byte(seed_op(S, k), offset)
 * With several operators per console (hvsim run --operator A --operator B
 * ...), operator j types pattern.h's pat_tagged(seed_op_n(S, k, j),
 * pat_tag_bits(operators), j, offset); operator 0 of one is the plain
 * stream above.
 * Tests and other tools compute the same streams with these two functions.
 */
#ifndef VSPC_HVSIM_SEED_H
#define VSPC_HVSIM_SEED_H

#include <stdint.h>

static inline uint64_t
seed_vm(uint64_t seed, uint64_t k)
{
    return seed * 1000003ULL + k;
}

static inline uint64_t
seed_op(uint64_t seed, uint64_t k)
{
    return seed_vm(seed, k) ^ 0x5a5a5a5a5a5a5a5aULL;
}

/* Operator j's stream seed; j = 0 is seed_op(). */
static inline uint64_t
seed_op_n(uint64_t seed, uint64_t k, unsigned j)
{
    return seed_op(seed, k) + (uint64_t)j * 0x9e3779b97f4a7c15ULL;
}

#endif /* VSPC_HVSIM_SEED_H */
