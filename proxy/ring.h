/*
 * ring.h: ring_*, the window a console keeps on its output stream.
 *
 * Every byte a VM writes has a 64-bit stream offset. A ring holds the most
 * recent bytes of that stream, at most `max` of them: the stream bytes
 * [ring_start, ring_end). It is the scrollback an operator is replayed on
 * attach, the backlog of every reader that has not taken its bytes yet,
 * and the source a stalled reader is caught up from.
 *
 * Memory grows with what was written (4 KiB first, doubling up to max), so
 * thousands of idle consoles cost little. Growing copies the held bytes
 * oldest first into the new buffer: the layout never assumes an unwrapped
 * ring. If memory runs out the window keeps its current size (bytes leave
 * it sooner; the offsets stay exact: readers see a gap, never garbage).
 *
 * Ownership: the ring owns buf; the struct is embedded by its user (the
 * console), set up by ring_init and released by ring_free.
 */
#ifndef VSPC_RING_H
#define VSPC_RING_H

#include "vspc/compat.h"

#include <stddef.h>
#include <stdint.h>

struct ring {
    uint8_t *buf;
    size_t cap;   /* allocated bytes */
    size_t max;   /* the most it grows to (0: holds nothing) */
    size_t len;   /* bytes held, <= cap */
    size_t head;  /* buf index of the next byte appended (< cap, or 0) */
    uint64_t end; /* stream offset of the next byte appended */
};

/* An empty window at stream offset `start` that grows to max bytes. */
void ring_init(struct ring *r, size_t max, uint64_t start);
void ring_free(struct ring *r);
/* Append n stream bytes (only the last max of them stay). */
void ring_append(struct ring *r, const uint8_t *p, size_t n);
/* Offset of the oldest byte held; ring_end(r) when empty. */
uint64_t ring_start(const struct ring *r);
uint64_t ring_end(const struct ring *r);
/*
 * The longest contiguous run of held bytes starting at stream offset
 * `from` (ring_start <= from <= ring_end): *p points at it, the length is
 * returned (0 at the end or outside the window). Valid until the next
 * append.
 */
size_t ring_peek(const struct ring *r, uint64_t from, const uint8_t **p);
/* The byte at offset off (ring_start <= off < ring_end). */
uint8_t ring_at(const struct ring *r, uint64_t off);

#endif /* VSPC_RING_H */
