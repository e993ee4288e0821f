/*
 * peerlink_flow.c: what the frames of an UP peer link mean (pl_):
 * subscriptions and their credit, the operator input window, validations
 * by request id, handovers; the pl_* calls that send them. The transport
 * under them is peerlink.c; the rules are in peerlink.h.
 *
 * Both ends keep the same books, so that either one catches the other
 * breaking the rules: per subscription the credit (the owner's "may
 * send", the subscriber's "granted, not received yet") and the next
 * offset; per (console, operator) the input [acked, end) in flight and
 * per link its total against PL_INPUT_WINDOW. The owner's books say what
 * it may send (pl_sub_room, pl_input_room); the receiver's books turn a
 * peer that sends beyond them into a protocol error and a closed link,
 * never into a buffer that grows.
 */
#include "vspc/compat.h"
#include "peerlink_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vspc/log.h"

/* ---- the tables ---------------------------------------------------------- */

#define SUB_KEY(buf, id) snprintf((buf), sizeof(buf), "%016" PRIx64, (id))

struct pl_ent *
pl__ent_get(struct smap *m, const char *key)
{
    struct smap_node *n = smap_get(m, key);

    return n ? smap_entry(n, struct pl_ent, node) : NULL;
}

static struct pl_ent *
s_sub(struct smap *m, uint64_t id)
{
    char key[17];

    SUB_KEY(key, id);
    return pl__ent_get(m, key);
}

struct pl_ent *
pl__ent_input(struct smap *m, const char *console, const char *op)
{
    char key[sizeof(((struct pl_ent *)0)->key)];

    IN_KEY(key, console, op);
    return pl__ent_get(m, key);
}

struct pl_ent *
pl__ent_add(struct smap *m, const struct pl_ent *e)
{
    struct pl_ent *n = malloc(sizeof(*n));

    if (n == NULL)
        return NULL;
    *n = *e;
    if (smap_put(m, &n->node, n->key) != 0) {
        free(n);
        return NULL;
    }
    return n;
}

void
pl__ent_del(struct smap *m, struct pl_ent *e)
{
    smap_del(m, &e->node);
    free(e);
}

static void
s_free_node(struct smap_node *n, void *arg)
{
    pl__ent_del(arg, smap_entry(n, struct pl_ent, node));
}

void
pl__flow_free(struct pl_link *l)
{
    struct smap *tables[] = {&l->rsubs, &l->lsubs, &l->in_tx, &l->in_rx,
                             &l->in_void};
    struct pl_req *r;

    while ((r = TAILQ_FIRST(&l->reqs)) != NULL) {
        TAILQ_REMOVE(&l->reqs, r, entry);
        event_free(r->ev);
        free(r);
    }
    for (size_t i = 0; i < VSPC_ARRAY_LEN(tables); i++)
        smap_foreach(tables[i], s_free_node, tables[i]);
}

struct s_end {
    struct pl_link *l;
    bool owner;
};

static void
s_end_sub(struct smap_node *n, void *arg)
{
    struct s_end *e = arg;
    struct pl *pl = e->l->pl;
    struct pl_ent *s = smap_entry(n, struct pl_ent, node);
    uint64_t id = s->id;

    pl__ent_del(e->owner ? &e->l->rsubs : &e->l->lsubs, s);
    if (e->owner && pl->cb.unsubscribe)
        pl->cb.unsubscribe(e->l, id, pl->arg);
    else if (!e->owner && pl->cb.sub_lost)
        pl->cb.sub_lost(e->l, id, pl->arg);
}

void
pl__flow_end(struct pl_link *l)
{
    struct pl *pl = l->pl;
    struct s_end e = {.l = l, .owner = true};
    struct pl_req *r;

    smap_foreach(&l->rsubs, s_end_sub, &e);
    e.owner = false;
    smap_foreach(&l->lsubs, s_end_sub, &e);
    while ((r = TAILQ_FIRST(&l->reqs)) != NULL) {
        TAILQ_REMOVE(&l->reqs, r, entry);
        l->n_reqs--;
        event_free(r->ev);
        if (pl->cb.validate_done)
            pl->cb.validate_done(l, r->id, PL_VAL_LINKDOWN, NULL, pl->arg);
        free(r);
    }
}

/*
 * Room reappeared on the output: every subscription with credit may
 * send. Iterating the table while calling out is safe: only frames from
 * the peer add or remove the peer's subscriptions, and a close decided in
 * a callback tears down later (from the reap event).
 */
static void
s_room_one(struct smap_node *n, void *arg)
{
    struct pl_link *l = arg;
    struct pl_ent *s = smap_entry(n, struct pl_ent, node);

    if (l->state == PL_ST_UP && s->credit > 0)
        l->pl->cb.room(l, s->id, l->pl->arg);
}

void
pl__room_all(struct pl_link *l)
{
    if (l->pl->cb.room)
        smap_foreach(&l->rsubs, s_room_one, l);
}

/* ---- receiving ----------------------------------------------------------- */

/* Our subscription a frame is for, or NULL: ended (a late frame, dropped)
 * or never made (a protocol error, the link closed). */
static struct pl_ent *
s_my_sub(struct pl_link *l, uint64_t id)
{
    struct pl_ent *s = s_sub(&l->lsubs, id);

    if (s == NULL && id < l->next_sub_id)
        l->st.late_in++;
    else if (s == NULL)
        pl__proto_error(l, "frame for subscription %" PRIu64 ", never made",
                        id);
    return s;
}

static void
s_on_data(struct pl_link *l, const struct pw_data *d)
{
    struct pl_ent *s = s_my_sub(l, d->sub_id);

    if (s == NULL)
        return;
    if (d->len > s->credit) {
        pl__proto_error(l, "%zu bytes of data beyond the credit (%" PRIu64 ")",
                        d->len, s->credit);
        return;
    }
    if (s->have_next && d->offset != s->next) {
        pl__proto_error(l, "data at offset %" PRIu64 ", want %" PRIu64,
                        d->offset, s->next);
        return;
    }
    s->credit -= d->len;
    s->next = d->offset + d->len;
    s->have_next = true;
    l->st.data_in += d->len;
    if (l->pl->cb.data)
        l->pl->cb.data(l, d, l->pl->arg);
}

static void
s_on_gap(struct pl_link *l, const struct pw_gap *g)
{
    struct pl_ent *s = s_my_sub(l, g->sub_id);

    if (s == NULL)
        return;
    if (s->have_next && g->from != s->next) {
        pl__proto_error(l, "gap from %" PRIu64 ", want %" PRIu64, g->from,
                        s->next);
        return;
    }
    s->next = g->to;
    s->have_next = true;
    if (l->pl->cb.gap)
        l->pl->cb.gap(l, g, l->pl->arg);
}

static void
s_on_subscribe(struct pl_link *l, const struct pw_subscribe *sb)
{
    struct pl_ent e = {
        .id = sb->sub_id, .credit = sb->credit, .granted = sb->credit};

    SUB_KEY(e.key, sb->sub_id);
    if (pl__ent_get(&l->rsubs, e.key) != NULL)
        pl__proto_error(l, "subscription id %" PRIu64 " in use", sb->sub_id);
    else if (smap_count(&l->rsubs) >= PL_SUBS_MAX)
        pl__proto_error(l, "more than %d subscriptions", PL_SUBS_MAX);
    else if (pl__ent_add(&l->rsubs, &e) == NULL)
        pl__close(l, "out of memory");
    else {
        if (sb->sub_id > l->peer_sub_max)
            l->peer_sub_max = sb->sub_id;
        if (l->pl->cb.subscribe)
            l->pl->cb.subscribe(l, sb, l->pl->arg);
    }
}

/* The peer's subscription a frame is for, or NULL: one we ended (SubState
 * REFUSED or ENDED crossed its frame: counted late, dropped) or one it
 * never made (a protocol error, the link closed). */
static struct pl_ent *
s_peer_sub(struct pl_link *l, uint64_t id, const char *what)
{
    struct pl_ent *s = s_sub(&l->rsubs, id);

    if (s == NULL && id <= l->peer_sub_max)
        l->st.late_in++;
    else if (s == NULL)
        pl__proto_error(l, "%s for unknown subscription %" PRIu64, what, id);
    return s;
}

static void
s_on_credit(struct pl_link *l, const struct pw_credit *cr)
{
    struct pl_ent *s = s_peer_sub(l, cr->sub_id, "credit");

    if (s == NULL)
        return;
    if (cr->bytes > PW_CREDIT_MAX - s->credit) {
        pl__proto_error(l, "credit above %" PRIu64, PW_CREDIT_MAX);
        return;
    }
    s->credit += cr->bytes;
    s->granted += cr->bytes;
    if (l->pl->cb.room)
        l->pl->cb.room(l, cr->sub_id, l->pl->arg);
}

static void
s_on_validate_reply(struct pl_link *l, const struct pw_validate_reply *r)
{
    struct pl_req *q;

    TAILQ_FOREACH (q, &l->reqs, entry)
        if (q->id == r->request_id)
            break;
    if (q == NULL) { /* timed out already: dropped quietly */
        log_debug("peer %s: late validate reply %" PRIu64 " from %s",
                  l->pl->node_id, r->request_id, l->node_id);
        return;
    }
    TAILQ_REMOVE(&l->reqs, q, entry);
    l->n_reqs--;
    event_free(q->ev);
    free(q);
    if (l->pl->cb.validate_done)
        l->pl->cb.validate_done(l, r->request_id, PL_VAL_REPLY, r, l->pl->arg);
}

void
pl__dispatch(struct pl_link *l, const struct pw_frame *f)
{
    struct pl *pl = l->pl;
    struct pl_ent *s;

    switch (f->type) {
    case PW_SUBSCRIBE:
        s_on_subscribe(l, &f->u.subscribe);
        break;
    case PW_UNSUBSCRIBE:
        if ((s = s_peer_sub(l, f->u.unsubscribe.sub_id, "unsubscribe")) == NULL)
            break;
        pl__ent_del(&l->rsubs, s);
        if (pl->cb.unsubscribe)
            pl->cb.unsubscribe(l, f->u.unsubscribe.sub_id, pl->arg);
        break;
    case PW_CREDIT:
        s_on_credit(l, &f->u.credit);
        break;
    case PW_DATA:
        s_on_data(l, &f->u.data);
        break;
    case PW_GAP:
        s_on_gap(l, &f->u.gap);
        break;
    case PW_EVENT:
        if (s_my_sub(l, f->u.event.sub_id) != NULL && pl->cb.event)
            pl->cb.event(l, &f->u.event, pl->arg);
        break;
    case PW_TIP:
        if (s_my_sub(l, f->u.tip.sub_id) != NULL && pl->cb.tip)
            pl->cb.tip(l, &f->u.tip, pl->arg);
        break;
    case PW_INPUT:
        pl__on_input(l, &f->u.input);
        break;
    case PW_INPUT_ACK:
        pl__on_input_ack(l, &f->u.input_ack);
        break;
    case PW_VALIDATE:
        if (pl->cb.validate) {
            pl->cb.validate(l, &f->u.validate, pl->arg);
        } else {
            struct pw_validate_reply r = {.request_id =
                                              f->u.validate.request_id};

            pl_send_validate_reply(l, &r);
        }
        break;
    case PW_VALIDATE_REPLY:
        s_on_validate_reply(l, &f->u.validate_reply);
        break;
    case PW_HANDOVER:
        if (pl->cb.handover)
            pl->cb.handover(l, &f->u.handover, pl->arg);
        break;
    case PW_SPLICE:
        if (pl->cb.splice)
            pl->cb.splice(l, &f->u.splice, pl->arg);
        break;
    case PW_SUB_STATE:
        if ((s = s_my_sub(l, f->u.sub_state.sub_id)) == NULL)
            break;
        if (f->u.sub_state.status != PW_SUB_ATTACHED)
            pl__ent_del(&l->lsubs, s); /* over: later frames for it are late */
        if (pl->cb.sub_state)
            pl->cb.sub_state(l, &f->u.sub_state, pl->arg);
        break;
    case PW_CONTROL:
        if (s_peer_sub(l, f->u.control.sub_id, "control") != NULL &&
            pl->cb.control)
            pl->cb.control(l, f->u.control.sub_id, f->u.control.action,
                           pl->arg);
        break;
    default:
        pl__proto_error(l, "unknown frame type %d", (int)f->type);
        break;
    }
}

void
pl_sub_key(char key[PL_SUB_KEY_MAX], const char *node, uint64_t sub_id)
{
    snprintf(key, PL_SUB_KEY_MAX, "%s %" PRIu64, node, sub_id);
}

/* ---- subscriber side ----------------------------------------------------- */

uint64_t
pl_subscribe(struct pl_link *l, const char *console_id, uint64_t from,
             uint64_t epoch, uint64_t credit)
{
    return pl_subscribe_op(l, console_id, from, epoch, credit, NULL);
}

uint64_t
pl_subscribe_op(struct pl_link *l, const char *console_id, uint64_t from,
                uint64_t epoch, uint64_t credit, const struct pl_sub_op *op)
{
    struct pl_ent e = {.credit = credit}, *s;
    struct pw_frame *f;

    if (!pl__up(l))
        return 0;
    if (smap_count(&l->lsubs) >= PL_SUBS_MAX) {
        errno = ENOBUFS;
        return 0;
    }
    f = pl__tx(l->pl, PW_SUBSCRIBE, sizeof(f->u.subscribe));
    snprintf(f->u.subscribe.console_id, sizeof(f->u.subscribe.console_id), "%s",
             console_id ? console_id : "");
    f->u.subscribe.from_offset = from;
    f->u.subscribe.epoch = epoch;
    f->u.subscribe.sub_id = e.id = l->next_sub_id;
    f->u.subscribe.credit = credit;
    if (op) {
        struct pw_subscribe *sb = &f->u.subscribe;

        snprintf(sb->operator_id, sizeof(sb->operator_id), "%s",
                 op->operator_id ? op->operator_id : "");
        snprintf(sb->operator_name, sizeof(sb->operator_name), "%s",
                 op->operator_name ? op->operator_name : "");
        sb->lock = op->lock;
        sb->raw = op->raw;
    }
    SUB_KEY(e.key, e.id);
    if (pw_validate(f, NULL, 0) != PW_OK) {
        errno = EINVAL;
        return 0;
    }
    if ((s = pl__ent_add(&l->lsubs, &e)) == NULL) {
        errno = ENOMEM;
        return 0;
    }
    if (pl__send(l, f) != 0) {
        pl__ent_del(&l->lsubs, s);
        return 0;
    }
    return l->next_sub_id++;
}

int
pl_credit(struct pl_link *l, uint64_t sub_id, uint64_t bytes)
{
    struct pl_ent *s;
    struct pw_frame *f;

    if (!pl__up(l))
        return -1;
    if ((s = s_sub(&l->lsubs, sub_id)) == NULL) {
        errno = ENOENT;
        return -1;
    }
    if (bytes == 0 || bytes > PW_CREDIT_MAX - s->credit) {
        errno = EINVAL;
        return -1;
    }
    f = pl__tx(l->pl, PW_CREDIT, 0);
    f->u.credit = (struct pw_credit){.sub_id = sub_id, .bytes = bytes};
    if (pl__send(l, f) != 0)
        return -1;
    s->credit += bytes;
    return 0;
}

/* 0 if the link is up and sub_id is in subs; else -1 (errno ENOENT when
 * the subscription is unknown). */
static int
s_sub_live(struct pl_link *l, struct smap *subs, uint64_t sub_id)
{
    if (!pl__up(l))
        return -1;
    if (s_sub(subs, sub_id) == NULL) {
        errno = ENOENT;
        return -1;
    }
    return 0;
}

int
pl_control(struct pl_link *l, uint64_t sub_id, enum pw_control_action action)
{
    struct pw_frame *f;

    if (s_sub_live(l, &l->lsubs, sub_id) != 0)
        return -1;
    f = pl__tx(l->pl, PW_CONTROL, 0);
    f->u.control = (struct pw_control){.sub_id = sub_id, .action = action};
    if (pw_validate(f, NULL, 0) != PW_OK) {
        errno = EINVAL;
        return -1;
    }
    return pl__send(l, f);
}

int
pl_unsubscribe(struct pl_link *l, uint64_t sub_id)
{
    struct pl_ent *s;
    struct pw_frame *f;

    if (!pl__up(l))
        return -1;
    if ((s = s_sub(&l->lsubs, sub_id)) == NULL) {
        errno = ENOENT;
        return -1;
    }
    pl__ent_del(&l->lsubs, s);
    f = pl__tx(l->pl, PW_UNSUBSCRIBE, 0);
    f->u.unsubscribe.sub_id = sub_id;
    return pl__send(l, f);
}

/* ---- owner side ---------------------------------------------------------- */

size_t
pl_sub_room(struct pl_link *l, uint64_t sub_id)
{
    struct pl_ent *s;
    size_t len;

    if (!pl__up(l) || (s = s_sub(&l->rsubs, sub_id)) == NULL || l->out_blocked)
        return 0;
    if ((len = pl__out_len(l)) >= l->pl->cfg.out_max) {
        l->out_blocked = true; /* until drained to half: s_write_cb */
        return 0;
    }
    len = l->pl->cfg.out_max - len;
    return s->credit < len ? (size_t)s->credit : len;
}

int
pl_send_sub_state(struct pl_link *l, const struct pw_sub_state *t)
{
    struct pl_ent *s;
    struct pw_frame *f;

    if (!pl__up(l))
        return -1;
    if ((s = s_sub(&l->rsubs, t->sub_id)) == NULL) {
        errno = ENOENT;
        return -1;
    }
    f = pl__tx(l->pl, PW_SUB_STATE, 0);
    f->u.sub_state = *t;
    if (pw_validate(f, NULL, 0) != PW_OK) {
        errno = EINVAL;
        return -1;
    }
    if (t->status != PW_SUB_ATTACHED)
        pl__ent_del(&l->rsubs, s); /* over: no unsubscribe callback follows */
    return pl__send(l, f);
}

uint64_t
pl_sub_granted(struct pl_link *l, uint64_t sub_id)
{
    struct pl_ent *s;

    if (!pl__up(l) || (s = s_sub(&l->rsubs, sub_id)) == NULL)
        return 0;
    return s->granted;
}

/* The peer's subscription sub_id, if it continues at `from`. */
static struct pl_ent *
s_owner_sub(struct pl_link *l, uint64_t sub_id, uint64_t from)
{
    struct pl_ent *s;

    if (!pl__up(l))
        return NULL;
    if ((s = s_sub(&l->rsubs, sub_id)) == NULL)
        errno = ENOENT;
    else if (s->have_next && from != s->next)
        errno = EINVAL;
    else
        return s;
    return NULL;
}

int
pl_send_data(struct pl_link *l, uint64_t sub_id, uint64_t epoch,
             uint64_t offset, const uint8_t *p, size_t n)
{
    struct pl_ent *s = s_owner_sub(l, sub_id, offset);
    struct pw_frame *f;

    if (s == NULL)
        return -1;
    if (n == 0 || n > pl_sub_room(l, sub_id) || offset > UINT64_MAX - n) {
        errno = EINVAL;
        return -1;
    }
    f = pl__tx(l->pl, PW_DATA, 0);
    while (n > 0) {
        size_t k = n < PW_DATA_MAX ? n : PW_DATA_MAX;

        f->u.data.sub_id = sub_id;
        f->u.data.epoch = epoch;
        f->u.data.offset = offset;
        f->u.data.len = k;
        memcpy(f->u.data.bytes, p, k);
        if (pl__send(l, f) != 0)
            return -1;
        s->credit -= k;
        s->next = offset + k;
        s->have_next = true;
        l->st.data_out += k;
        offset += k;
        p += k;
        n -= k;
    }
    return 0;
}

int
pl_send_gap(struct pl_link *l, uint64_t sub_id, uint64_t epoch, uint64_t from,
            uint64_t to)
{
    struct pl_ent *s = s_owner_sub(l, sub_id, from);
    struct pw_frame *f;

    if (s == NULL)
        return -1;
    f = pl__tx(l->pl, PW_GAP, 0);
    f->u.gap = (struct pw_gap){
        .sub_id = sub_id, .from = from, .to = to, .epoch = epoch};
    if (pl__send(l, f) != 0)
        return -1;
    s->next = to;
    s->have_next = true;
    return 0;
}

int
pl_send_tip(struct pl_link *l, uint64_t sub_id, uint64_t epoch, uint64_t tip)
{
    struct pw_frame *f;

    if (s_sub_live(l, &l->rsubs, sub_id) != 0)
        return -1;
    f = pl__tx(l->pl, PW_TIP, 0);
    f->u.tip = (struct pw_tip){.sub_id = sub_id, .epoch = epoch, .tip = tip};
    return pl__send(l, f);
}

int
pl_send_event(struct pl_link *l, uint64_t sub_id, uint64_t epoch,
              uint64_t offset, const char *text)
{
    struct pw_frame *f;

    if (s_sub_live(l, &l->rsubs, sub_id) != 0)
        return -1;
    if (text == NULL || strlen(text) > PW_TEXT_MAX) {
        errno = EINVAL;
        return -1;
    }
    f = pl__tx(l->pl, PW_EVENT, sizeof(f->u.event));
    f->u.event.sub_id = sub_id;
    f->u.event.epoch = epoch;
    f->u.event.offset = offset;
    snprintf(f->u.event.text, sizeof(f->u.event.text), "%s", text);
    return pl__send(l, f);
}

/* ---- vMotion ------------------------------------------------------------- */

static void
s_req_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pl_req *q = arg;
    struct pl_link *l = q->l;
    uint64_t id = q->id;

    TAILQ_REMOVE(&l->reqs, q, entry);
    l->n_reqs--;
    event_free(q->ev);
    free(q);
    if (l->pl->cb.validate_done)
        l->pl->cb.validate_done(l, id, PL_VAL_TIMEOUT, NULL, l->pl->arg);
}

uint64_t
pl_validate(struct pl_link *l, const char *console_id, const uint8_t *seq,
            size_t seqlen, const uint8_t *secret, size_t secretlen,
            double timeout)
{
    struct pw_frame *f;
    struct pl_req *q;
    struct timeval tv;

    if (!pl__up(l))
        return 0;
    if (seq == NULL || seqlen > PW_VMOTION_SEQ_MAX || secret == NULL ||
        secretlen > PW_SECRET_MAX || timeout <= 0) {
        errno = EINVAL;
        return 0;
    }
    if (l->n_reqs >= PL_VALIDATE_MAX) {
        errno = ENOBUFS;
        return 0;
    }
    f = pl__tx(l->pl, PW_VALIDATE, sizeof(f->u.validate));
    f->u.validate.request_id = l->pl->next_req_id + 1;
    snprintf(f->u.validate.console_id, sizeof(f->u.validate.console_id), "%s",
             console_id ? console_id : "");
    memcpy(f->u.validate.seq, seq, seqlen);
    f->u.validate.seq_len = seqlen;
    memcpy(f->u.validate.secret, secret, secretlen);
    f->u.validate.secret_len = secretlen;
    if (pw_validate(f, NULL, 0) != PW_OK) {
        errno = EINVAL;
        return 0;
    }
    if ((q = calloc(1, sizeof(*q))) == NULL ||
        (q->ev = evtimer_new(l->pl->base, s_req_timeout_cb, q)) == NULL) {
        free(q);
        errno = ENOMEM;
        return 0;
    }
    if (pl__send(l, f) != 0) {
        event_free(q->ev);
        free(q);
        return 0;
    }
    q->l = l;
    q->id = ++l->pl->next_req_id;
    tv = pl__tv(timeout);
    evtimer_add(q->ev, &tv);
    TAILQ_INSERT_TAIL(&l->reqs, q, entry);
    l->n_reqs++;
    return q->id;
}

int
pl_send_validate_reply(struct pl_link *l, const struct pw_validate_reply *r)
{
    struct pw_frame *f;

    if (!pl__up(l))
        return -1;
    f = pl__tx(l->pl, PW_VALIDATE_REPLY, 0);
    f->u.validate_reply = *r;
    return pl__send(l, f);
}

int
pl_send_handover(struct pl_link *l, const struct pw_handover *h)
{
    struct pw_frame *f;

    if (!pl__up(l))
        return -1;
    f = pl__tx(l->pl, PW_HANDOVER, 0);
    f->u.handover = *h;
    return pl__send(l, f);
}

int
pl_send_splice(struct pl_link *l, const struct pw_splice *sp)
{
    struct pw_frame *f;

    if (!pl__up(l))
        return -1;
    f = pl__tx(l->pl, PW_SPLICE, 0);
    f->u.splice = *sp;
    return pl__send(l, f);
}
