/*
 * audit.h: aud_*, the vMotion audit records kept in memory (DESIGN.md
 * "vMotion": every vMotion leaves an audit record).
 *
 * A bounded ring of the last cfg.audit_max records (default 1024), newest
 * overwriting oldest. vmotion.c adds one when a vMotion ends (complete,
 * abort, expired, cancelled) and one per NOTNOW answer; GET
 * /api/v1/vmotions (http.c) lists them newest first. The same facts go to
 * the log as one "console=... vmotion seq=... outcome=..." line.
 *
 * Memory: one record is under 1 KiB (the VM name and the sequence are
 * kept whole); the ring's array grows with use up to its capacity, so an
 * idle node does not pay for 1024 records. Loop thread only.
 */
#ifndef VSPC_AUDIT_H
#define VSPC_AUDIT_H

#include "vspc/compat.h"

#include <time.h>
#include <jansson.h>

#include "vmext.h"

#define AUD_DEFAULT_MAX 1024

enum aud_outcome {
    AUD_COMPLETE = 0, /* COMPLETE on the peer: the console moved */
    AUD_ABORT,        /* ABORT on the source */
    AUD_EXPIRED,      /* no COMPLETE/ABORT within cfg.vmotion_timeout */
    AUD_CANCELLED,    /* the console went away or got a new owner */
    AUD_NOTNOW,       /* BEGIN refused (pending, maintenance, draining) */
    AUD__COUNT,
};

/* "complete", "abort", "expired", "cancelled", "notnow". */
const char *aud_outcome_str(enum aud_outcome o);

struct aud_rec {
    uint64_t n;                          /* 1, 2, ... set by aud_add */
    char con_id[VMX_CONSOLE_ID_MAX + 1]; /* "" = not a console's (NOTNOW) */
    char vm_name[VMX_NAME_MAX + 1];      /* sanitised display name */
    uint8_t seq[VMX_SEQ_MAX];            /* the sequence, as received */
    uint8_t seq_len;
    uint8_t outcome;          /* enum aud_outcome */
    char src[64];             /* source host "addr:port" */
    char dst[96];             /* destination host (the peer), "" = none */
    char reason[64];          /* NOTNOW/cancel: why; else "" */
    struct timespec started;  /* CLOCK_REALTIME of BEGIN */
    int64_t begin_goahead_us; /* -1: no GOAHEAD (NOTNOW) */
    int64_t peer_peerok_us;   /* -1: no peer was accepted */
    uint64_t total_ms;        /* BEGIN to the end */
    uint64_t held_bytes;      /* operator input held at the end */
};

struct aud_ring;

/* A ring of cap records (0: records are counted, none kept). NULL only
 * when out of memory. */
struct aud_ring *aud_new(size_t cap);
void aud_free(struct aud_ring **rp);
/* Copies rec in (its n is assigned). r NULL: nothing. Never fails loudly:
 * out of memory drops the record (counted in aud_dropped). */
void aud_add(struct aud_ring *r, const struct aud_rec *rec);
/* Records held now; records ever added; records lost to memory. */
size_t aud_count(const struct aud_ring *r);
uint64_t aud_total(const struct aud_ring *r);
uint64_t aud_dropped(const struct aud_ring *r);
size_t aud_capacity(const struct aud_ring *r);
/* The i-th newest record (0 = newest), NULL past the end. */
const struct aud_rec *aud_get(const struct aud_ring *r, size_t i);

/*
 * One record as JSON: {"n", "console" (null if none), "vm_name", "seq" (hex),
 * "source", "destination" (null if none), "outcome", "reason" (null if none),
 * "started" (RFC 3339 UTC, microseconds), "begin_goahead_us" (null if
 * none), "peer_peerok_us" (null if none), "total_ms", "held_bytes"}.
 */
json_t *aud_rec_to_json(const struct aud_rec *rec);
/* Newest first; con_id NULL = every console, else that console id only;
 * limit 0 = no limit. NULL when out of memory. */
json_t *aud_to_json(const struct aud_ring *r, const char *con_id, size_t limit);

#endif /* VSPC_AUDIT_H */
