/*
 * peerlink_input.c: operator input on an UP link (peerlink.h, "Operator
 * input"): the window of unacknowledged bytes per link and direction, the
 * per-pair books (console, operator) on both sides, and the reclaim of a
 * pair whose console moved (vspc.proto, Input.reclaim).
 */
#include "vspc/compat.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vspc/log.h"
#include "peerlink.h"
#include "peerlink_int.h"

void
pl__on_input(struct pl_link *l, const struct pw_input *in)
{
    struct pl_ent *k =
        pl__ent_input(&l->in_rx, in->console_id, in->operator_id);
    struct pl_ent e = {.acked = in->seq, .end = in->seq}, *v;

    if (in->reclaim) {
        /* The sender took back what it sent after our MOVED: the pair's
         * books start afresh. */
        if ((v = pl__ent_input(&l->in_void, in->console_id, in->operator_id)) !=
            NULL)
            pl__ent_del(&l->in_void, v);
        if (k != NULL) {
            l->in_rx_bytes -= (size_t)(k->end - k->acked);
            pl__ent_del(&l->in_rx, k);
        }
        return;
    }
    if (pl__ent_input(&l->in_void, in->console_id, in->operator_id) != NULL) {
        l->st.late_in++; /* crossed our MOVED: the sender takes it back */
        return;
    }
    if (in->len > PL_INPUT_WINDOW - l->in_rx_bytes) {
        pl__proto_error(l, "input beyond the window (%d bytes)",
                        PL_INPUT_WINDOW);
        return;
    }
    if (k != NULL && in->seq != k->end) {
        pl__proto_error(l, "input at %" PRIu64 ", want %" PRIu64, in->seq,
                        k->end);
        return;
    }
    if (k == NULL && smap_count(&l->in_rx) >= PL_INPUT_KEYS_MAX) {
        pl__proto_error(l, "input of more than %d operators in flight",
                        PL_INPUT_KEYS_MAX);
        return;
    }
    if (k == NULL) {
        IN_KEY(e.key, in->console_id, in->operator_id);
        if ((k = pl__ent_add(&l->in_rx, &e)) == NULL) {
            pl__close(l, "out of memory");
            return;
        }
    }
    k->end += in->len;
    l->in_rx_bytes += in->len;
    if (l->pl->cb.input)
        l->pl->cb.input(l, in, l->pl->arg);
}

void
pl__on_input_ack(struct pl_link *l, const struct pw_input_ack *a)
{
    struct pl *pl = l->pl;
    struct pl_ent *k = pl__ent_input(&l->in_tx, a->console_id, a->operator_id);

    if (k == NULL || a->seq <= k->acked || a->seq > k->end) {
        pl__proto_error(l, "input ack at %" PRIu64 " for input not in flight",
                        a->seq);
        return;
    }
    l->in_tx_bytes -= (size_t)(a->seq - k->acked);
    k->acked = a->seq;
    if (k->acked == k->end)
        pl__ent_del(&l->in_tx, k);
    if (pl->cb.input_ack)
        pl->cb.input_ack(l, a, pl->arg);
    if (l->state == PL_ST_UP && l->in_blocked && pl_input_room(l) > 0) {
        l->in_blocked = false;
        if (pl->cb.input_room)
            pl->cb.input_room(l, pl->arg);
    }
}

/* ---- operator input ------------------------------------------------------ */

size_t
pl_input_room(struct pl_link *l)
{
    if (!pl__up(l))
        return 0;
    if (l->in_tx_bytes >= PL_INPUT_WINDOW ||
        smap_count(&l->in_tx) >= PL_INPUT_KEYS_MAX) {
        l->in_blocked = true;
        return 0;
    }
    return PL_INPUT_WINDOW - l->in_tx_bytes;
}

int
pl_send_input(struct pl_link *l, const char *console_id,
              const char *operator_id, uint64_t epoch, uint64_t seq,
              const uint8_t *p, size_t n)
{
    struct pl_ent e = {.acked = seq, .end = seq}, *k;
    struct pw_frame *f;

    if (!pl__up(l))
        return -1;
    if (console_id == NULL || !wire_valid_console_id(console_id) ||
        operator_id == NULL || !pw_valid_operator_id(operator_id) || n == 0 ||
        n > pl_input_room(l) || seq > UINT64_MAX - n) {
        errno = EINVAL;
        return -1;
    }
    if ((k = pl__ent_input(&l->in_tx, console_id, operator_id)) != NULL &&
        seq != k->end) {
        errno = EINVAL;
        return -1;
    }
    if (k == NULL) {
        IN_KEY(e.key, console_id, operator_id);
        if ((k = pl__ent_add(&l->in_tx, &e)) == NULL) {
            errno = ENOMEM;
            return -1;
        }
    }
    f = pl__tx(l->pl, PW_INPUT, offsetof(struct pw_input, bytes));
    snprintf(f->u.input.console_id, sizeof(f->u.input.console_id), "%s",
             console_id);
    snprintf(f->u.input.operator_id, sizeof(f->u.input.operator_id), "%s",
             operator_id);
    f->u.input.epoch = epoch;
    while (n > 0) {
        size_t c = n < PW_INPUT_MAX ? n : PW_INPUT_MAX;

        f->u.input.seq = seq;
        f->u.input.len = c;
        memcpy(f->u.input.bytes, p, c);
        if (pl__send(l, f) != 0)
            return -1;
        k->end += c;
        l->in_tx_bytes += c;
        seq += c;
        p += c;
        n -= c;
    }
    /* A sender that filled the window is told when it opens, even if it
     * never asks pl_input_room in between. */
    (void)pl_input_room(l);
    return 0;
}

uint64_t
pl_input_unacked(struct pl_link *l, const char *console_id,
                 const char *operator_id)
{
    struct pl_ent *k;

    if (l == NULL || console_id == NULL || operator_id == NULL ||
        (k = pl__ent_input(&l->in_tx, console_id, operator_id)) == NULL)
        return 0;
    return k->end - k->acked;
}

int
pl_send_input_ack(struct pl_link *l, const char *console_id,
                  const char *operator_id, uint64_t seq)
{
    struct pl_ent *k;
    struct pw_frame *f;

    if (!pl__up(l))
        return -1;
    if (console_id == NULL || operator_id == NULL ||
        (k = pl__ent_input(&l->in_rx, console_id, operator_id)) == NULL) {
        errno = ENOENT;
        return -1;
    }
    if (seq <= k->acked || seq > k->end) {
        errno = EINVAL;
        return -1;
    }
    f = pl__tx(l->pl, PW_INPUT_ACK, sizeof(f->u.input_ack));
    snprintf(f->u.input_ack.console_id, sizeof(f->u.input_ack.console_id), "%s",
             console_id);
    snprintf(f->u.input_ack.operator_id, sizeof(f->u.input_ack.operator_id),
             "%s", operator_id);
    f->u.input_ack.seq = seq;
    if (pl__send(l, f) != 0)
        return -1;
    l->in_rx_bytes -= (size_t)(seq - k->acked);
    k->acked = seq;
    if (k->acked == k->end)
        pl__ent_del(&l->in_rx, k);
    return 0;
}

int
pl_input_void(struct pl_link *l, const char *console_id,
              const char *operator_id)
{
    struct pl_ent e = {0}, *k;

    if (!pl__up(l))
        return -1;
    if (console_id == NULL || operator_id == NULL) {
        errno = EINVAL;
        return -1;
    }
    if ((k = pl__ent_input(&l->in_rx, console_id, operator_id)) != NULL) {
        l->in_rx_bytes -= (size_t)(k->end - k->acked);
        pl__ent_del(&l->in_rx, k);
    }
    if (pl__ent_input(&l->in_void, console_id, operator_id) != NULL)
        return 0;
    if (smap_count(&l->in_void) >= PL_SUBS_MAX) {
        errno = ENOBUFS;
        return -1;
    }
    IN_KEY(e.key, console_id, operator_id);
    if (pl__ent_add(&l->in_void, &e) == NULL) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

uint64_t
pl_input_reclaim(struct pl_link *l, const char *console_id,
                 const char *operator_id)
{
    struct pl_ent *k;
    struct pw_frame *f;
    uint64_t n = 0, seq = 0;

    if (!pl__up(l) || console_id == NULL || operator_id == NULL ||
        !wire_valid_console_id(console_id) ||
        !pw_valid_operator_id(operator_id))
        return 0;
    if ((k = pl__ent_input(&l->in_tx, console_id, operator_id)) != NULL) {
        n = k->end - k->acked;
        seq = k->end;
        l->in_tx_bytes -= (size_t)n;
        pl__ent_del(&l->in_tx, k);
    }
    f = pl__tx(l->pl, PW_INPUT, offsetof(struct pw_input, bytes));
    snprintf(f->u.input.console_id, sizeof(f->u.input.console_id), "%s",
             console_id);
    snprintf(f->u.input.operator_id, sizeof(f->u.input.operator_id), "%s",
             operator_id);
    f->u.input.seq = seq;
    f->u.input.reclaim = true;
    (void)pl__send(l, f);
    return n;
}
