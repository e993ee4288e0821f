/* heldin.c: see heldin.h. */
#include "vspc/compat.h"
#include "heldin.h"

#include <stdlib.h>
#include <string.h>

void
hin_init(struct hin_queue *q)
{
    TAILQ_INIT(&q->recs);
    q->bytes = 0;
    q->nrecs = 0;
}

void
hin_free(struct hin_queue *q)
{
    struct hin_rec *r;

    while ((r = TAILQ_FIRST(&q->recs)) != NULL) {
        TAILQ_REMOVE(&q->recs, r, link);
        free(r);
    }
    q->bytes = 0;
    q->nrecs = 0;
}

int
hin_add(struct hin_queue *q, uint64_t op_id, uint64_t seq, const uint8_t *p,
        size_t n)
{
    struct hin_rec *last = TAILQ_LAST(&q->recs, hin_rec_head);

    while (n > 0) {
        size_t k;

        if (last == NULL || last->op_id != op_id ||
            last->seq + last->len != seq || last->len == last->cap) {
            size_t cap = n < HIN_REC_MIN   ? HIN_REC_MIN
                         : n > HIN_REC_MAX ? HIN_REC_MAX
                                           : n;

            if ((last = malloc(sizeof(*last) + cap)) == NULL)
                return -1;
            last->op_id = op_id;
            last->seq = seq;
            last->len = last->off = 0;
            last->cap = cap;
            TAILQ_INSERT_TAIL(&q->recs, last, link);
            q->nrecs++;
        }
        k = last->cap - last->len;
        if (k > n)
            k = n;
        memcpy(last->data + last->len, p, k);
        last->len += k;
        q->bytes += k;
        seq += k;
        p += k;
        n -= k;
    }
    return 0;
}

size_t
hin_len(const struct hin_queue *q)
{
    return q->bytes;
}

size_t
hin_peek(const struct hin_queue *q, const uint8_t **p, uint64_t *op_id,
         uint64_t *seq)
{
    const struct hin_rec *r = TAILQ_FIRST(&q->recs);

    if (r == NULL) {
        *p = NULL;
        return 0;
    }
    *p = r->data + r->off;
    if (op_id)
        *op_id = r->op_id;
    if (seq)
        *seq = r->seq + r->off;
    return r->len - r->off;
}

void
hin_take(struct hin_queue *q, size_t n)
{
    struct hin_rec *r;

    while (n > 0 && (r = TAILQ_FIRST(&q->recs)) != NULL) {
        size_t k = r->len - r->off;

        if (k > n)
            k = n;
        r->off += k;
        q->bytes -= k;
        n -= k;
        if (r->off == r->len) {
            TAILQ_REMOVE(&q->recs, r, link);
            q->nrecs--;
            free(r);
        }
    }
}
