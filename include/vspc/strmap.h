/*
 * strmap.h: an intrusive hash table keyed by NUL-terminated strings
 * (smap_). The caller embeds a struct smap_node in its own struct; the
 * table stores pointers only and never allocates or frees nodes.
 *
 * Chained buckets, power-of-two count, grown (doubled) when the count
 * passes the bucket count, never shrunk. The hash is FNV-1a with a random
 * per-table seed (keys come from the network). Not thread-safe; no
 * process-wide state.
 *
 * Iteration by bucket index (smap_bucket) survives removals of any node
 * and insertions that do not grow the table; smap_epoch() changes on every
 * growth, so a long-lived cursor (a snapshot sent in slices) can restart.
 *
 * Ownership: nodes belong to the caller and must stay valid, with their key
 * unchanged, while they are in the table. smap_fini frees the bucket array
 * only.
 */
#ifndef VSPC_STRMAP_H
#define VSPC_STRMAP_H

#include "vspc/compat.h"

struct smap_node {
    struct smap_node *next;
    uint64_t hash;
    const char *key; /* points into the caller's struct */
};

struct smap {
    struct smap_node **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
    uint64_t seed;
    unsigned epoch; /* bumped on every growth */
};

/* 0, or -1 (out of memory). */
int smap_init(struct smap *m);
void smap_fini(struct smap *m);

struct smap_node *smap_get(const struct smap *m, const char *key);
/* Insert n under key (kept by pointer). -1 if the key is already there. A
 * failed growth (out of memory) is not an error: chains get longer. */
int smap_put(struct smap *m, struct smap_node *n, const char *key);
/* Remove n, which must be in m. */
void smap_del(struct smap *m, struct smap_node *n);

static inline size_t
smap_count(const struct smap *m)
{
    return m->count;
}

static inline size_t
smap_nbuckets(const struct smap *m)
{
    return m->nbuckets;
}

static inline unsigned
smap_epoch(const struct smap *m)
{
    return m->epoch;
}

/* The chain of bucket i (< smap_nbuckets), or NULL. */
static inline struct smap_node *
smap_bucket(const struct smap *m, size_t i)
{
    return m->buckets[i];
}

/*
 * Call fn on every node. fn may smap_del the node it was given (and no
 * other) and must not insert.
 */
void smap_foreach(struct smap *m, void (*fn)(struct smap_node *n, void *arg),
                  void *arg);

#define smap_entry(ptr, type, member)                                          \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif /* VSPC_STRMAP_H */
