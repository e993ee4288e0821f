/* audit.c: see audit.h. */
#include "vspc/compat.h"
#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* seq_len (uint8_t) can never pass the end of seq. */
_Static_assert(VMX_SEQ_MAX <= UINT8_MAX, "seq_len is a uint8_t");

struct aud_ring {
    struct aud_rec *recs; /* alloc slots, grown up to cap */
    size_t alloc;
    size_t cap;
    size_t len;  /* records held (<= cap) */
    size_t head; /* next slot to write once full (the oldest) */
    uint64_t total;
    uint64_t dropped;
};

static const char *const aud_outcome_names[AUD__COUNT] = {
    "complete", "abort", "expired", "cancelled", "notnow"};

const char *
aud_outcome_str(enum aud_outcome o)
{
    return (unsigned)o < AUD__COUNT ? aud_outcome_names[o] : "unknown";
}

struct aud_ring *
aud_new(size_t cap)
{
    struct aud_ring *r = calloc(1, sizeof(*r));

    if (r)
        r->cap = cap;
    return r;
}

void
aud_free(struct aud_ring **rp)
{
    struct aud_ring *r = rp ? *rp : NULL;

    if (r == NULL)
        return;
    *rp = NULL;
    free(r->recs);
    free(r);
}

void
aud_add(struct aud_ring *r, const struct aud_rec *rec)
{
    struct aud_rec *slot;

    if (r == NULL)
        return;
    r->total++;
    if (r->cap == 0)
        return;
    if (r->len < r->cap) {
        if (r->len == r->alloc) {
            size_t want = r->alloc ? r->alloc * 2 : 16;
            struct aud_rec *p;

            if (want > r->cap)
                want = r->cap;
            p = realloc(r->recs, want * sizeof(*p));
            if (p == NULL) {
                r->dropped++;
                return;
            }
            r->recs = p;
            r->alloc = want;
        }
        slot = &r->recs[r->len++];
        r->head = r->len % r->cap;
    } else {
        slot = &r->recs[r->head];
        r->head = (r->head + 1) % r->cap;
    }
    *slot = *rec;
    slot->n = r->total;
    /* Strings always end, whatever the caller left in them. */
    slot->con_id[sizeof(slot->con_id) - 1] = '\0';
    slot->vm_name[sizeof(slot->vm_name) - 1] = '\0';
    slot->src[sizeof(slot->src) - 1] = '\0';
    slot->dst[sizeof(slot->dst) - 1] = '\0';
    slot->reason[sizeof(slot->reason) - 1] = '\0';
}

size_t
aud_count(const struct aud_ring *r)
{
    return r ? r->len : 0;
}

uint64_t
aud_total(const struct aud_ring *r)
{
    return r ? r->total : 0;
}

uint64_t
aud_dropped(const struct aud_ring *r)
{
    return r ? r->dropped : 0;
}

size_t
aud_capacity(const struct aud_ring *r)
{
    return r ? r->cap : 0;
}

const struct aud_rec *
aud_get(const struct aud_ring *r, size_t i)
{
    if (r == NULL || i >= r->len)
        return NULL;
    /* head is the next write slot: head - 1 is the newest, whether the
     * ring has wrapped (head < len) or not (head == len). */
    return &r->recs[(r->head + r->cap - 1 - i) % r->cap];
}

/* ---- JSON ----------------------------------------------------------------
 */

/* A string that jansson refuses (not UTF-8) becomes its printable ASCII. */
static json_t *
aud_str(const char *s)
{
    json_t *j = json_string(s);
    char safe[VMX_NAME_MAX + 1];
    size_t o = 0;

    if (j)
        return j;
    for (; *s && o + 1 < sizeof(safe); s++)
        safe[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    safe[o] = '\0';
    return json_string(safe);
}

static json_t *
aud_str_or_null(const char *s)
{
    return s[0] ? aud_str(s) : json_null();
}

static json_t *
aud_int_or_null(int64_t v)
{
    return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

json_t *
aud_rec_to_json(const struct aud_rec *rec)
{
    char seq[2 * VMX_SEQ_MAX + 1], when[64];
    struct tm tm;
    time_t t = rec->started.tv_sec;
    size_t n = rec->seq_len;

    for (size_t i = 0; i < n; i++)
        snprintf(seq + 2 * i, 3, "%02x", rec->seq[i]);
    seq[2 * n] = '\0';
    if (gmtime_r(&t, &tm) == NULL ||
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(when, sizeof(when), "1970-01-01T00:00:00");
    snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%06ldZ",
             (long)(rec->started.tv_nsec / 1000));
    return json_pack(
        "{s:I, s:o, s:o, s:s, s:o, s:o, s:s, s:o, s:s, s:o, s:o, s:I, s:I}",
        "n", (json_int_t)rec->n, "console", aud_str_or_null(rec->con_id),
        "vm_name", aud_str(rec->vm_name), "seq", seq, "source",
        aud_str(rec->src), "destination", aud_str_or_null(rec->dst), "outcome",
        aud_outcome_str((enum aud_outcome)rec->outcome), "reason",
        aud_str_or_null(rec->reason), "started", when, "begin_goahead_us",
        aud_int_or_null(rec->begin_goahead_us), "peer_peerok_us",
        aud_int_or_null(rec->peer_peerok_us), "total_ms",
        (json_int_t)rec->total_ms, "held_bytes", (json_int_t)rec->held_bytes);
}

json_t *
aud_to_json(const struct aud_ring *r, const char *con_id, size_t limit)
{
    json_t *arr = json_array();
    const struct aud_rec *rec;
    size_t out = 0;

    for (size_t i = 0; arr && (rec = aud_get(r, i)) != NULL; i++) {
        if (limit && out >= limit)
            break;
        if (con_id && strcmp(rec->con_id, con_id) != 0)
            continue;
        if (json_array_append_new(arr, aud_rec_to_json(rec)) == -1) {
            json_decref(arr);
            return NULL;
        }
        out++;
    }
    return arr;
}
