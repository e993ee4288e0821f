/*
 * fuzz.h: what the fuzz targets (tests/fuzz/fuzz_*.c) share. Each target
 * defines LLVMFuzzerTestOneInput; built with clang -fsanitize=fuzzer by
 * tests/fuzz/run.sh, or with corpus_main.c (any compiler) to replay the
 * committed corpus in ctest. A broken oracle calls fuzz_fail (abort), so
 * both report it as a crash with the input that caused it.
 */
#ifndef VSPC_FUZZ_H
#define VSPC_FUZZ_H

#include "vspc/compat.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_fail(...)                                                         \
    do {                                                                       \
        fprintf(stderr, "fuzz oracle: " __VA_ARGS__);                          \
        fputc('\n', stderr);                                                   \
        abort();                                                               \
    } while (0)

/* A byte log the differential oracles compare (bounded: inputs are). */
struct flog {
    uint8_t *p;
    size_t n, cap;
};

static inline void
flog_add(struct flog *l, const void *p, size_t n)
{
    if (l->n + n > l->cap) {
        size_t cap = (l->cap ? l->cap * 2 : 4096);

        while (cap < l->n + n)
            cap *= 2;
        if ((l->p = realloc(l->p, cap)) == NULL)
            abort();
        l->cap = cap;
    }
    for (size_t i = 0; i < n; i++)
        l->p[l->n + i] = ((const uint8_t *)p)[i];
    l->n += n;
}

static inline bool
flog_eq(const struct flog *a, const struct flog *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->p[i] != b->p[i])
            return false;
    return true;
}

/* Segment lengths 1..maxlen from a small seeded generator. */
static inline size_t
fuzz_seg(uint32_t *seed, size_t maxlen)
{
    *seed = *seed * 1103515245u + 12345u;
    return 1 + (size_t)((*seed >> 16) % (maxlen ? maxlen : 1));
}

#endif /* VSPC_FUZZ_H */
