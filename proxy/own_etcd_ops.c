/*
 * own_etcd_ops.c: what a node holds, in etcd (own_etcd_int.h): announces
 * and withdraws queued here and sent as conditional transactions, one at
 * a time per console, at most OE_MAX_OPS at once.
 *
 *   announce E:  if the key does not exist, or its epoch <= E: put it;
 *                else read it back: a higher epoch elsewhere fences us.
 *   withdraw E:  if its epoch <= E: delete it.
 *
 * (etcd's VALUE compare is byte-wise: values start with the epoch in 20
 * decimal digits, see etcdkv.h.)
 */
#include "vspc/compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "own_etcd_int.h"
#include "vspc/clock.h"
#include "vspc/epoch.h"
#include "vspc/log.h"

enum oe_op_kind { OE_OP_ANNOUNCE, OE_OP_WITHDRAW };

struct oe_op {
    struct own_etcd *o;
    enum oe_op_kind kind;
    unsigned gen;
    struct wire_console c; /* announce: as sent; withdraw: id and epoch */
};

/* ---- the queues ---------------------------------------------------------- */

static void
oe_owned_drop(struct own_etcd *o, struct oe_owned *w)
{
    if (w->dirty)
        TAILQ_REMOVE(&o->dirty, w, dq);
    smap_del(&o->owned, &w->hn);
    free(w);
}

static void
oe_wd_drop(struct own_etcd *o, struct oe_wd *w)
{
    TAILQ_REMOVE(&o->wdq, w, q);
    smap_del(&o->wds, &w->hn);
    free(w);
}

static void
oe_mark_dirty(struct own_etcd *o, struct oe_owned *w)
{
    if (!w->dirty) {
        w->dirty = true;
        TAILQ_INSERT_TAIL(&o->dirty, w, dq);
    }
}

static int
oe_wd_queue(struct own_etcd *o, const char *id, uint64_t epoch)
{
    struct smap_node *hn = smap_get(&o->wds, id);
    struct oe_wd *w;

    if (hn) {
        w = smap_entry(hn, struct oe_wd, hn);
        if (epoch > w->epoch)
            w->epoch = epoch;
        return 0;
    }
    if (smap_count(&o->wds) >= o->max_owned) {
        w = TAILQ_FIRST(&o->wdq);
        log_warnx("node %s: %zu withdraws queued: the one of %s dropped",
                  o->node_id, o->max_owned, w->id);
        oe_wd_drop(o, w);
    }
    if ((w = calloc(1, sizeof(*w))) == NULL)
        return -1;
    snprintf(w->id, sizeof(w->id), "%s", id);
    w->epoch = epoch;
    smap_put(&o->wds, &w->hn, w->id);
    TAILQ_INSERT_TAIL(&o->wdq, w, q);
    return 0;
}

int
oe_announce(struct own_store *s, const struct wire_console *c)
{
    struct own_etcd *o = (struct own_etcd *)s;
    struct smap_node *hn;
    struct oe_owned *w;
    struct wire_console a = *c, back;
    char v[EKV_VALUE_MAX], err[160] = "does not encode";
    size_t vl;

    snprintf(a.owner, sizeof(a.owner), "%s", o->node_id);
    a.owner_index = o->index;
    if (epoch_index(c->epoch) != o->index) {
        log_warnx("node %s: announce of %s with epoch %016" PRIx64
                  " whose low byte is not this node's index %u: refused",
                  o->node_id, c->id, c->epoch, (unsigned)o->index);
        return -1;
    }
    if (ekv_console_encode(&a, v, sizeof(v), &vl) != 0 ||
        ekv_console_decode(a.id, v, vl, &back, err, sizeof(err)) != 0) {
        log_warnx("node %s: announce of %s refused: not a valid entry (%s)",
                  o->node_id, c->id, err);
        return -1;
    }
    if ((hn = smap_get(&o->owned, c->id)) != NULL) {
        w = smap_entry(hn, struct oe_owned, hn);
    } else {
        if (smap_count(&o->owned) >= o->max_owned) {
            log_warnx("node %s: %zu consoles announced already (the limit): "
                      "%s not announced",
                      o->node_id, o->max_owned, c->id);
            return -1;
        }
        if ((w = calloc(1, sizeof(*w))) == NULL)
            return -1;
        memcpy(w->c.id, a.id, sizeof(w->c.id));
        smap_put(&o->owned, &w->hn, w->c.id);
    }
    w->c = a;
    oe_mark_dirty(o, w);
    /* A withdraw of an older claim is superseded by this announce. */
    if ((hn = smap_get(&o->wds, c->id)) != NULL &&
        smap_entry(hn, struct oe_wd, hn)->epoch <= c->epoch)
        oe_wd_drop(o, smap_entry(hn, struct oe_wd, hn));
    oe_flush(o);
    return 0;
}

int
oe_withdraw(struct own_store *s, const char *id, uint64_t epoch)
{
    struct own_etcd *o = (struct own_etcd *)s;
    struct smap_node *hn;

    if (!wire_valid_console_id(id))
        return -1;
    if ((hn = smap_get(&o->owned, id)) != NULL &&
        smap_entry(hn, struct oe_owned, hn)->c.epoch <= epoch)
        oe_owned_drop(o, smap_entry(hn, struct oe_owned, hn));
    if (oe_wd_queue(o, id, epoch) != 0)
        return -1;
    oe_flush(o);
    return 0;
}

void
oe_handed_over(struct own_store *s, const char *id, uint64_t epoch)
{
    struct own_etcd *o = (struct own_etcd *)s;
    struct smap_node *hn = smap_get(&o->owned, id);

    /* The new owner's announce (a higher epoch) replaces the entry. */
    if (hn && smap_entry(hn, struct oe_owned, hn)->c.epoch <= epoch)
        oe_owned_drop(o, smap_entry(hn, struct oe_owned, hn));
}

uint64_t
oe_next_epoch(const struct own_store *s, const char *id)
{
    const struct own_etcd *o = (const struct own_etcd *)s;
    const struct wire_console *c = ccr_get_console(&o->rep, id);
    struct smap_node *hn;
    uint64_t hi = c ? c->epoch : 0;

    if ((hn = smap_get(&o->owned, id)) != NULL &&
        smap_entry(hn, struct oe_owned, hn)->c.epoch > hi)
        hi = smap_entry(hn, struct oe_owned, hn)->c.epoch;
    if ((hn = smap_get(&o->wds, id)) != NULL &&
        smap_entry(hn, struct oe_wd, hn)->epoch > hi)
        hi = smap_entry(hn, struct oe_wd, hn)->epoch;
    return epoch_next(hi, o->index);
}

void
oe_mark_all_dirty(struct own_etcd *o)
{
    for (size_t i = 0; i < smap_nbuckets(&o->owned); i++)
        for (struct smap_node *hn = smap_bucket(&o->owned, i); hn;
             hn = hn->next)
            oe_mark_dirty(o, smap_entry(hn, struct oe_owned, hn));
}

void
oe_check_fenced(struct own_etcd *o, const struct wire_console *c)
{
    struct smap_node *hn = smap_get(&o->owned, c->id);
    struct wire_console mine;

    if (hn == NULL || strcmp(c->owner, o->node_id) == 0)
        return;
    mine = smap_entry(hn, struct oe_owned, hn)->c;
    if (mine.epoch >= c->epoch)
        return;
    oe_owned_drop(o, smap_entry(hn, struct oe_owned, hn));
    log_warnx("console=%s node %s: fenced: node %s holds it with epoch "
              "%016" PRIx64 " > ours %016" PRIx64,
              c->id, o->node_id, c->owner, c->epoch, mine.epoch);
    if (o->cbs.fenced)
        o->cbs.fenced(o->arg, &mine, c);
}

/* ---- transactions -------------------------------------------------------- */

static void
oe_busy_set(struct own_etcd *o, const char *id, bool on)
{
    struct smap_node *hn = smap_get(&o->busy, id);

    if (on && hn == NULL) {
        struct oe_busy *b = calloc(1, sizeof(*b));

        if (b) { /* without memory ops on one id may overlap: still safe */
            snprintf(b->id, sizeof(b->id), "%s", id);
            smap_put(&o->busy, &b->hn, b->id);
        }
    } else if (!on && hn) {
        smap_del(&o->busy, hn);
        free(smap_entry(hn, struct oe_busy, hn));
    }
}

/* An op that did not take effect goes back to its queue (unless newer
 * news replaced it meanwhile). */
static void
oe_op_requeue(struct own_etcd *o, const struct oe_op *op)
{
    struct smap_node *hn = smap_get(&o->owned, op->c.id);

    if (op->kind == OE_OP_ANNOUNCE) {
        if (hn && smap_entry(hn, struct oe_owned, hn)->c.epoch == op->c.epoch)
            oe_mark_dirty(o, smap_entry(hn, struct oe_owned, hn));
    } else if (hn == NULL ||
               smap_entry(hn, struct oe_owned, hn)->c.epoch <= op->c.epoch) {
        oe_wd_queue(o, op->c.id, op->c.epoch);
    }
}

/* The announce's transaction failed its compares: what holds the key. */
static void
oe_announce_lost(struct own_etcd *o, const struct oe_op *op, json_t *reply)
{
    /* responses[0].response_txn.responses[0].response_range.kvs[0] */
    json_t *inner = json_object_get(
        json_array_get(json_object_get(reply, "responses"), 0), "response_txn");
    json_t *kv = json_array_get(
        json_object_get(
            json_object_get(
                json_array_get(json_object_get(inner, "responses"), 0),
                "response_range"),
            "kvs"),
        0);
    char v[EKV_VALUE_MAX + 1], err[160];
    size_t vl;
    struct wire_console theirs;

    if (kv == NULL)
        return; /* deleted meanwhile: the next flush claims it */
    if (etcd_unb64(json_object_get(kv, "value"), v, sizeof(v), &vl) != 0 ||
        ekv_console_decode(op->c.id, v, vl, &theirs, err, sizeof(err)) != 0) {
        log_warnx("console=%s node %s: etcd holds an entry that is not one "
                  "(%s): not announced",
                  op->c.id, o->node_id, err);
        return;
    }
    ccr_console(&o->rep, &theirs, clock_now());
    oe_check_fenced(o, &theirs);
}

static void
oe_op_cb(void *arg, json_t *reply, const struct etcd_err *er)
{
    struct oe_op *op = arg;
    struct own_etcd *o = op->o;
    json_t *inner;

    o->ops_in_flight--;
    oe_busy_set(o, op->c.id, false);
    if (er) {
        oe_op_requeue(o, op);
        if (er->kind != ETCD_E_ABANDONED)
            oe_failed(o, op->gen,
                      op->kind == OE_OP_ANNOUNCE ? "announce" : "withdraw", er);
        free(op);
        return;
    }
    if (op->kind == OE_OP_ANNOUNCE &&
        !json_is_true(json_object_get(reply, "succeeded"))) {
        inner = json_object_get(
            json_array_get(json_object_get(reply, "responses"), 0),
            "response_txn");
        if (!json_is_true(json_object_get(inner, "succeeded")))
            oe_announce_lost(o, op, reply);
    }
    free(op);
    oe_flush(o);
}

static json_t *
oe_put_op(const struct own_etcd *o, const char *id, const char *v, size_t vl)
{
    return json_pack("{s:{s:o, s:o}}", "request_put", "key",
                     oe_key_json(o, EKV_CONSOLE, id), "value", etcd_b64(v, vl));
}

static json_t *
oe_epoch_le(const struct own_etcd *o, const char *id, uint64_t epoch)
{
    char bound[EKV_EPOCH_DIGITS + 1];

    ekv_epoch_above(bound, epoch);
    return json_pack("{s:o, s:s, s:s, s:o}", "key",
                     oe_key_json(o, EKV_CONSOLE, id), "target", "VALUE",
                     "result", "LESS", "value", etcd_b64(bound, strlen(bound)));
}

static json_t *
oe_announce_txn(const struct own_etcd *o, const struct wire_console *c)
{
    char v[EKV_VALUE_MAX];
    size_t vl;

    if (ekv_console_encode(c, v, sizeof(v), &vl) != 0)
        return NULL;
    return json_pack(
        "{s:[{s:o, s:s, s:s, s:s}], s:[o], s:[{s:{s:[o], s:[o], "
        "s:[{s:{s:o}}]}}]}",
        "compare", "key", oe_key_json(o, EKV_CONSOLE, c->id), "target",
        "CREATE", "result", "EQUAL", "create_revision", "0", "success",
        oe_put_op(o, c->id, v, vl), "failure", "request_txn", "compare",
        oe_epoch_le(o, c->id, c->epoch), "success", oe_put_op(o, c->id, v, vl),
        "failure", "request_range", "key", oe_key_json(o, EKV_CONSOLE, c->id));
}

static json_t *
oe_withdraw_txn(const struct own_etcd *o, const char *id, uint64_t epoch)
{
    return json_pack("{s:[o], s:[{s:{s:o}}]}", "compare",
                     oe_epoch_le(o, id, epoch), "success",
                     "request_delete_range", "key",
                     oe_key_json(o, EKV_CONSOLE, id));
}

static bool
oe_send(struct own_etcd *o, enum oe_op_kind kind, const struct wire_console *c)
{
    struct oe_op *op = calloc(1, sizeof(*op));
    json_t *body;

    if (op == NULL)
        return false;
    op->o = o;
    op->kind = kind;
    op->gen = o->gen;
    op->c = *c;
    body = kind == OE_OP_ANNOUNCE ? oe_announce_txn(o, c)
                                  : oe_withdraw_txn(o, c->id, c->epoch);
    if (body == NULL ||
        etcd_call(o->et, "/v3/kv/txn", body, oe_op_cb, op) != 0) {
        free(op);
        return false;
    }
    o->ops_in_flight++;
    oe_busy_set(o, c->id, true);
    return true;
}

void
oe_flush(struct own_etcd *o)
{
    struct oe_owned *w, *wn;
    struct oe_wd *d, *dn;

    if (o->state != OE_ACTIVE || o->waiting)
        return;
    for (d = TAILQ_FIRST(&o->wdq); d && o->ops_in_flight < OE_MAX_OPS; d = dn) {
        struct wire_console c;

        dn = TAILQ_NEXT(d, q);
        if (smap_get(&o->busy, d->id))
            continue;
        memset(&c, 0, sizeof(c));
        snprintf(c.id, sizeof(c.id), "%s", d->id);
        c.epoch = d->epoch;
        if (!oe_send(o, OE_OP_WITHDRAW, &c))
            return;
        oe_wd_drop(o, d);
    }
    for (w = TAILQ_FIRST(&o->dirty); w && o->ops_in_flight < OE_MAX_OPS;
         w = wn) {
        wn = TAILQ_NEXT(w, dq);
        if (smap_get(&o->busy, w->c.id))
            continue;
        if (!oe_send(o, OE_OP_ANNOUNCE, &w->c))
            return;
        w->dirty = false;
        TAILQ_REMOVE(&o->dirty, w, dq);
    }
}

static void
oe_free_one(struct smap_node *hn, void *arg)
{
    (void)arg;
    free(hn);
}

void
oe_ops_free(struct own_etcd *o)
{
    struct oe_owned *w;
    struct oe_wd *d;

    while ((w = TAILQ_FIRST(&o->dirty)) != NULL)
        oe_owned_drop(o, w);
    smap_foreach(&o->owned, oe_free_one, NULL);
    while ((d = TAILQ_FIRST(&o->wdq)) != NULL)
        oe_wd_drop(o, d);
    smap_foreach(&o->busy, oe_free_one, NULL);
    smap_foreach(&o->alive, oe_free_one, NULL);
    smap_fini(&o->owned);
    smap_fini(&o->wds);
    smap_fini(&o->busy);
    smap_fini(&o->alive);
}
