/* ring.c: see ring.h. */
#include "vspc/compat.h"
#include "ring.h"

#include <stdlib.h>
#include <string.h>

#define RING_FIRST 4096

void
ring_init(struct ring *r, size_t max, uint64_t start)
{
    memset(r, 0, sizeof(*r));
    r->max = max;
    r->end = start;
}

void
ring_free(struct ring *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->len = r->head = 0;
}

/* Reallocate to want bytes, the held bytes copied oldest first to index 0.
 * On failure the ring is unchanged. */
static void
ring_resize(struct ring *r, size_t want)
{
    uint8_t *nb = malloc(want);
    size_t tail, first;

    if (nb == NULL)
        return;
    if (r->len > 0) {
        tail = (r->head + r->cap - r->len) % r->cap; /* oldest byte */
        first = r->cap - tail;
        if (first > r->len)
            first = r->len;
        memcpy(nb, r->buf + tail, first);
        memcpy(nb + first, r->buf, r->len - first);
    }
    free(r->buf);
    r->buf = nb;
    r->cap = want;
    r->head = r->len % want;
}

void
ring_append(struct ring *r, const uint8_t *p, size_t n)
{
    r->end += n;
    if (r->max == 0 || n == 0)
        return;
    if (n > r->max) { /* only the tail can stay */
        p += n - r->max;
        n = r->max;
    }
    if (r->cap < r->max && r->len + n > r->cap) {
        size_t want = r->cap ? r->cap : RING_FIRST;

        while (want < r->len + n && want < r->max)
            want = want > r->max / 2 ? r->max : want * 2;
        if (want > r->max)
            want = r->max;
        ring_resize(r, want);
    }
    if (r->cap == 0)
        return;
    if (n > r->cap) {
        p += n - r->cap;
        n = r->cap;
    }
    while (n > 0) { /* at most two passes */
        size_t chunk = r->cap - r->head;

        if (chunk > n)
            chunk = n;
        memcpy(r->buf + r->head, p, chunk);
        r->head = (r->head + chunk) % r->cap;
        r->len = r->len + chunk > r->cap ? r->cap : r->len + chunk;
        p += chunk;
        n -= chunk;
    }
}

uint64_t
ring_start(const struct ring *r)
{
    return r->end - r->len;
}

uint64_t
ring_end(const struct ring *r)
{
    return r->end;
}

size_t
ring_peek(const struct ring *r, uint64_t from, const uint8_t **p)
{
    size_t back, pos, run;

    *p = NULL;
    if (from < ring_start(r) || from >= r->end)
        return 0;
    back = (size_t)(r->end - from); /* 1..len bytes from the end */
    pos = (r->head + r->cap - back) % r->cap;
    run = r->cap - pos;
    if (run > back)
        run = back;
    *p = r->buf + pos;
    return run;
}

uint8_t
ring_at(const struct ring *r, uint64_t off)
{
    size_t back = (size_t)(r->end - off);

    return r->buf[(r->head + r->cap - back) % r->cap];
}
