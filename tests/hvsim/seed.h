/*
 * seed.h: which pattern.h stream each simulated console uses.
 *
 * Console k of a run with --seed S:
 *   VM output (VM -> operators):   pat_byte(seed_vm(S, k), offset)
 *   operator input (operator -> VM): pat_byte(seed_op(S, k), offset)
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

#endif /* VSPC_HVSIM_SEED_H */
