/* strmap.c: see vspc/strmap.h. */
#include "vspc/compat.h"
#include "vspc/strmap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define SMAP_FIRST 64

static uint64_t
s_hash(uint64_t seed, const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;

    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    /* Final mix (splitmix64): FNV's low bits are weak for similar keys. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

int
smap_init(struct smap *m)
{
    memset(m, 0, sizeof(*m));
    if (getrandom(&m->seed, sizeof(m->seed), GRND_NONBLOCK) !=
        (ssize_t)sizeof(m->seed))
        m->seed = (uint64_t)(uintptr_t)m ^ 0x9e3779b97f4a7c15ULL;
    if ((m->buckets = calloc(SMAP_FIRST, sizeof(*m->buckets))) == NULL)
        return -1;
    m->nbuckets = SMAP_FIRST;
    return 0;
}

void
smap_fini(struct smap *m)
{
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = m->count = 0;
}

struct smap_node *
smap_get(const struct smap *m, const char *key)
{
    uint64_t h = s_hash(m->seed, key);

    for (struct smap_node *n = m->buckets[h & (m->nbuckets - 1)]; n;
         n = n->next)
        if (n->hash == h && strcmp(n->key, key) == 0)
            return n;
    return NULL;
}

static void
s_grow(struct smap *m)
{
    size_t nb = m->nbuckets * 2;
    struct smap_node **b;

    if (nb < m->nbuckets || (b = calloc(nb, sizeof(*b))) == NULL)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct smap_node *n = m->buckets[i], *next;

        for (; n; n = next) {
            next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
    m->epoch++;
}

int
smap_put(struct smap *m, struct smap_node *n, const char *key)
{
    struct smap_node **head;

    if (smap_get(m, key) != NULL)
        return -1;
    if (m->count >= m->nbuckets)
        s_grow(m);
    n->key = key;
    n->hash = s_hash(m->seed, key);
    head = &m->buckets[n->hash & (m->nbuckets - 1)];
    n->next = *head;
    *head = n;
    m->count++;
    return 0;
}

void
smap_del(struct smap *m, struct smap_node *n)
{
    struct smap_node **pp = &m->buckets[n->hash & (m->nbuckets - 1)];

    for (; *pp; pp = &(*pp)->next) {
        if (*pp == n) {
            *pp = n->next;
            n->next = NULL;
            m->count--;
            return;
        }
    }
}

void
smap_foreach(struct smap *m, void (*fn)(struct smap_node *n, void *arg),
             void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct smap_node *n = m->buckets[i], *next;

        for (; n; n = next) {
            next = n->next;
            fn(n, arg);
        }
    }
}
