/*
 * heldin.h: hin_*, operator input held toward a VM, as records.
 *
 * While a vMotion is between GOAHEAD and COMPLETE/ABORT, or while no
 * hypervisor carries the console, operator input waits here, in the order
 * it was typed across all operators. Each record says whose input it is
 * and where it sits in that operator's own input stream (seq: the offset
 * of its first byte among every byte that operator typed into this
 * console), so the queue can be handed to another node whole, merged with
 * input held elsewhere in order, and de-duplicated (a record whose bytes an
 * owner already delivered is recognised by (operator, seq)). Consecutive
 * input from one operator extends its last record (one record per burst,
 * not per read), up to HIN_REC_MAX bytes; a record's memory is its bytes
 * rounded up to HIN_REC_MIN, so many small records stay small.
 *
 * Ownership: the queue owns its records; it is embedded in its console.
 * Loop thread only.
 */
#ifndef VSPC_HELDIN_H
#define VSPC_HELDIN_H

#include "vspc/compat.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#define HIN_REC_MAX 4096 /* bytes per record at most */
#define HIN_REC_MIN 64   /* room a new record gets at least */

struct hin_rec {
    TAILQ_ENTRY(hin_rec) link;
    uint64_t op_id; /* the operator (unique on its node) */
    uint64_t seq;   /* offset of data[0] in that operator's input */
    size_t len;     /* bytes in data (the first `off` already taken) */
    size_t off;
    size_t cap; /* bytes data has room for (<= HIN_REC_MAX) */
    uint8_t data[];
};

struct hin_queue {
    TAILQ_HEAD(hin_rec_head, hin_rec) recs;
    size_t bytes; /* not yet taken, all records */
    size_t nrecs;
};

void hin_init(struct hin_queue *q);
void hin_free(struct hin_queue *q);
/* Append n bytes of op_id's input starting at its offset seq. 0, or -1
 * on ENOMEM (the bytes from the first that did not fit are not held). */
int hin_add(struct hin_queue *q, uint64_t op_id, uint64_t seq, const uint8_t *p,
            size_t n);
size_t hin_len(const struct hin_queue *q);
/* The oldest bytes not taken yet: a run inside one record (*p, returned
 * length; 0 when empty); with op_id/seq of that run when not NULL. */
size_t hin_peek(const struct hin_queue *q, const uint8_t **p, uint64_t *op_id,
                uint64_t *seq);
/* Take n bytes (at most what hin_peek returned) off the front. */
void hin_take(struct hin_queue *q, size_t n);

#endif /* VSPC_HELDIN_H */
