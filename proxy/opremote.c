/* opremote.c: see opremote.h. */
#include "vspc/compat.h"
#include "opremote.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <event2/buffer.h>

#include "vspc/log.h"
#include "vspc/strmap.h"
#include "operator.h"

/* Input typed while the console has no reachable owner, held for the
 * next one; beyond it the operator is not read. */
#define OPR_HOLD_MAX (64 * 1024)

struct opr_set {
    struct proxy *px;
    struct pl *pl;
    struct opr_resolver res;
    struct smap subs;          /* subscribed attachments, by pl_sub_key */
    TAILQ_HEAD(, opr) waiting; /* input waiting for the link's window */
    TAILQ_HEAD(, opr) orphans; /* waiting for the console's next owner */
    struct event *retry_ev;    /* orphans look again soon (a refusal) */
    struct opr_stats st;
    unsigned n;
};

struct opr {
    struct opr_set *set;
    struct oper *op; /* NULL once it detached (input still draining) */
    enum opr_state state;
    bool announced; /* op_attached was called (the operator saw "ok") */
    enum con_lock_req req;
    char node[PW_NODE_ID_MAX + 1]; /* the owner subscribed at (or last) */
    char console_id[PW_CONSOLE_ID_MAX + 1];
    char op_id[PW_OPERATOR_ID_MAX + 1];
    uint64_t sub_id; /* 0 while orphaned */
    uint64_t epoch;
    uint64_t window;     /* the credit granted at most */
    uint64_t uncredited; /* bytes received and not granted back yet */
    uint64_t in_seq;     /* input sent to this owner so far */
    uint64_t next;       /* stream offset of the next output byte */
    uint64_t tip;        /* the owner's stream end, as it last told */
    char lost_node[PW_NODE_ID_MAX + 1]; /* the owner it was attached to */
    uint64_t lost_epoch;                /* and its epoch then */
    bool have_next;        /* the operator has seen output (next is set) */
    struct evbuffer *pend; /* input not sent yet (window full, orphaned) */
    struct evbuffer *sent; /* the last PL_INPUT_WINDOW bytes sent: what a
                              MOVED may give back (pl_input_reclaim) */
    bool waiting;          /* in set->waiting */
    char key[PL_SUB_KEY_MAX];
    struct smap_node node_;
    TAILQ_ENTRY(opr) wlink;
    TAILQ_ENTRY(opr) olink; /* set->orphans while OPR_ORPHAN */
};

/*
 * The attachment's states and what moves it (opremote.h has the story):
 *
 *   state      ATTACHED reply   REFUSED        ENDED     MOVED / link lost
 *   ATTACHING  ATTACHED (ok)    gone (error)   gone      gone (error)
 *   ATTACHED   -                -              gone      ORPHAN
 *   REJOINING  ATTACHED notice  ORPHAN         gone      ORPHAN
 *   ORPHAN     (no subscription: the directory or the tick finds the next
 *              owner -> REJOINING, or this node -> a local attachment)
 */
static const char *const opr_state_names[OPR_ST__COUNT] = {
    "attaching", "attached", "rejoining", "orphan"};

const char *
opr_state_str(enum opr_state st)
{
    return st < OPR_ST__COUNT ? opr_state_names[st] : "?";
}

static struct opr *
opr_find(struct opr_set *set, struct pl_link *l, uint64_t sub_id)
{
    char key[PL_SUB_KEY_MAX];
    struct smap_node *n;

    pl_sub_key(key, pl_link_node(l), sub_id);
    n = smap_get(&set->subs, key);
    return n ? smap_entry(n, struct opr, node_) : NULL;
}

/* Its subscription is over (pl forgot it, or we unsubscribed). */
static void
opr_unkey(struct opr *a)
{
    if (a->sub_id != 0)
        smap_del(&a->set->subs, &a->node_);
    a->sub_id = 0;
    if (a->waiting) {
        TAILQ_REMOVE(&a->set->waiting, a, wlink);
        a->waiting = false;
    }
}

/* Forget a (its subscription is over or being ended). */
static void
opr_destroy(struct opr *a)
{
    struct opr_set *set = a->set;
    size_t held = evbuffer_get_length(a->pend);

    opr_unkey(a);
    if (a->state == OPR_ST_ORPHAN)
        TAILQ_REMOVE(&set->orphans, a, olink);
    set->n--;
    if (held > 0)
        log_warnx("console=%s operator %s: %zu bytes of input not delivered "
                  "(no owner reachable)",
                  a->console_id, a->op_id, held);
    if (a->op) {
        a->op->tgt = NULL;
        a->op->tgt_data = NULL;
    }
    evbuffer_free(a->pend);
    evbuffer_free(a->sent);
    free(a);
}

/* Unsubscribe and forget. */
static void
opr_close(struct opr *a)
{
    struct pl_link *l = pl_link_get(a->set->pl, a->node);

    if (l && a->sub_id)
        pl_unsubscribe(l, a->sub_id);
    opr_destroy(a);
}

/* Grant back what the operator's socket took, in quarter-window batches.
 * force: whatever is owed. */
static void
opr_credit(struct opr *a, bool force)
{
    struct pl_link *l;

    if (a->uncredited == 0 || a->sub_id == 0)
        return;
    if (!force && a->op &&
        (op_output_queued(a->op) > a->window / 2 ||
         a->uncredited < a->window / 4))
        return;
    if ((l = pl_link_get(a->set->pl, a->node)) == NULL)
        return;
    if (pl_credit(l, a->sub_id, a->uncredited) == 0)
        a->uncredited = 0;
}

/* Send what the window allows of p[n] to the owner; returns the bytes
 * sent (0 when not attached: they wait in pend). */
static size_t
opr_send(struct opr *a, const uint8_t *p, size_t n)
{
    struct pl_link *l;
    size_t k;

    if (a->state != OPR_ST_ATTACHED ||
        (l = pl_link_get(a->set->pl, a->node)) == NULL)
        return 0;
    k = pl_input_room(l);
    if (k > n)
        k = n;
    if (k == 0)
        return 0;
    if (pl_send_input(l, a->console_id, a->op_id, a->epoch, a->in_seq, p, k) !=
        0) {
        log_warnx("console=%s operator %s: %zu bytes of input not sent",
                  a->console_id, a->op_id, k);
        return 0;
    }
    a->in_seq += k;
    evbuffer_add(a->sent, p, k);
    if (evbuffer_get_length(a->sent) > PL_INPUT_WINDOW)
        evbuffer_drain(a->sent, evbuffer_get_length(a->sent) - PL_INPUT_WINDOW);
    return k;
}

/* The owner moved the console on: what it did not take comes back to the
 * front of pend, for the next owner. */
static void
opr_reclaim(struct opr *a, struct pl_link *l)
{
    size_t n = (size_t)pl_input_reclaim(l, a->console_id, a->op_id);
    size_t have = evbuffer_get_length(a->sent);
    struct evbuffer *tail;

    if (n > have) {
        log_warnx("console=%s operator %s: %zu bytes of input the old owner "
                  "did not take are lost",
                  a->console_id, a->op_id, n - have);
        n = have;
    }
    if (n > 0 && (tail = evbuffer_new()) != NULL) {
        evbuffer_drain(a->sent, have - n);
        evbuffer_add_buffer(tail, a->sent);
        evbuffer_add_buffer(tail, a->pend);
        evbuffer_add_buffer(a->pend, tail);
        evbuffer_free(tail);
        log_info("console=%s operator %s: %zu bytes of input go to the next "
                 "owner",
                 a->console_id, a->op_id, n);
    }
    evbuffer_drain(a->sent, evbuffer_get_length(a->sent));
}

/* Send what waits; true when nothing is left. */
static bool
opr_flush(struct opr *a)
{
    while (evbuffer_get_length(a->pend) > 0) {
        struct evbuffer_iovec v;
        size_t sent;

        if (evbuffer_peek(a->pend, -1, NULL, &v, 1) < 1)
            break;
        sent = opr_send(a, v.iov_base, v.iov_len);
        evbuffer_drain(a->pend, sent);
        if (sent < v.iov_len)
            return false;
    }
    return true;
}

/* Input waits in pend: for the window (attached: queued for input_room)
 * or for an owner (orphaned: bounded by OPR_HOLD_MAX). */
static void
opr_hold(struct opr *a)
{
    size_t held = evbuffer_get_length(a->pend);

    if (a->state == OPR_ST_ATTACHED) {
        if (a->op)
            op_set_input_blocked(a->op, true);
        if (!a->waiting) {
            a->waiting = true;
            TAILQ_INSERT_TAIL(&a->set->waiting, a, wlink);
        }
    } else if (held >= OPR_HOLD_MAX && a->op) {
        op_set_input_blocked(a->op, true); /* until an owner takes it */
    }
}

/* Subscribe at node for the operator. 0, or -1 (link not up, bounds). */
static int
opr_subscribe(struct opr *a, const char *node, uint64_t epoch)
{
    struct pl_link *l = pl_link_get(a->set->pl, node);
    struct pl_sub_op so = {.operator_id = a->op_id,
                           .operator_name = a->op ? a->op->addr : a->op_id,
                           .lock = (uint32_t)a->req,
                           .raw = a->op && a->op->raw};
    uint64_t id;

    if (l == NULL)
        return -1;
    /* Following the console: its output goes on where it left off. */
    id = pl_subscribe_op(l, a->console_id, a->have_next ? a->next : 0, epoch,
                         a->window, &so);
    if (id == 0)
        return -1;
    snprintf(a->node, sizeof(a->node), "%s", node);
    pl_sub_key(a->key, node, id);
    if (smap_put(&a->set->subs, &a->node_, a->key) != 0) {
        pl_unsubscribe(l, id);
        return -1;
    }
    a->sub_id = id;
    a->epoch = epoch;
    a->uncredited = 0;
    a->in_seq = 0; /* a new reader at the owner: its input count starts */
    return 0;
}

static void
opr_set_state(struct opr *a, enum opr_state st)
{
    if (a->state == OPR_ST_ORPHAN)
        TAILQ_REMOVE(&a->set->orphans, a, olink);
    if (st == OPR_ST_ORPHAN)
        TAILQ_INSERT_TAIL(&a->set->orphans, a, olink);
    a->state = st;
}

/* Look for the console's owner now: rejoin it, or hand the operator to
 * this node's console. */
static void
opr_seek(struct opr *a)
{
    struct opr_set *set = a->set;
    uint64_t epoch = 0;
    const char *node;
    struct oper *op;

    if (a->state != OPR_ST_ORPHAN || set->res.owner == NULL ||
        (node = set->res.owner(set->res.arg, a->console_id, &epoch)) == NULL)
        return;
    if (strcmp(node, set->px->cfg.node_id) == 0) {
        char id[PW_CONSOLE_ID_MAX + 1];
        uint64_t from = a->have_next ? a->next : UINT64_MAX;
        struct evbuffer *held;

        if ((op = a->op) == NULL || set->res.local == NULL)
            return;
        /* Back on this node: a local attachment, then what was typed
         * meanwhile, in order. */
        if ((held = evbuffer_new()) == NULL)
            return; /* try again on the next tick */
        evbuffer_add_buffer(held, a->pend);
        snprintf(id, sizeof(id), "%s", a->console_id);
        a->op = NULL;
        op->tgt = NULL;
        op->tgt_data = NULL;
        opr_destroy(a);
        /* Paused by the hold only: the console's own flow control (set by
         * the attach) decides from here. */
        if (op->read_blocked)
            op_set_input_blocked(op, false);
        if (set->res.local(set->res.arg, op, id, op->req, from) != 0)
            op_ended(op, "the console came back here but cannot be attached");
        else if (op->tgt && evbuffer_get_length(held) > 0)
            op->tgt->input(op, evbuffer_pullup(held, -1),
                           evbuffer_get_length(held));
        evbuffer_free(held);
        return;
    }
    if (epoch <= a->lost_epoch && strcmp(node, a->lost_node) == 0)
        return; /* the owner it lost: not back (yet) under a newer epoch */
    if (opr_subscribe(a, node, epoch) == 0)
        opr_set_state(a, OPR_ST_REJOINING);
}

/* The owner is gone (link lost, or it moved): wait for the next one. */
static void
opr_orphan(struct opr *a, const char *why)
{
    char text[PW_NODE_ID_MAX + 360];

    if (a->state == OPR_ST_ATTACHED) {
        snprintf(a->lost_node, sizeof(a->lost_node), "%s", a->node);
        a->lost_epoch = a->epoch;
    }
    opr_unkey(a);
    opr_set_state(a, OPR_ST_ORPHAN);
    snprintf(text, sizeof(text), "%s: waiting for the console's next owner",
             why);
    log_info("console=%s operator %s: %s", a->console_id, a->op_id, text);
    if (a->op)
        op_notice(a->op, text);
    opr_seek(a);
}

/* ---- the operator's target ----------------------------------------------- */

static void
opr_t_input(struct oper *op, const uint8_t *p, size_t n)
{
    struct opr *a = op->tgt_data;
    size_t sent = 0;

    if (a == NULL)
        return;
    if (evbuffer_get_length(a->pend) == 0)
        sent = opr_send(a, p, n);
    if (sent == n)
        return;
    /* Kept in order; the operator is not read while it cannot go. */
    evbuffer_add(a->pend, p + sent, n - sent);
    opr_hold(a);
}

static void
opr_t_escape(struct oper *op, uint8_t ch)
{
    struct opr *a = op->tgt_data;
    struct pl_link *l;
    enum pw_control_action act = ch == 'r'   ? PW_CTL_REPLAY
                                 : ch == 'f' ? PW_CTL_FORCE_WRITE
                                 : ch == 'l' ? PW_CTL_BREAK
                                             : PW_CTL_SPECTATOR;

    if (act == PW_CTL_BREAK && a && evbuffer_get_length(a->pend) > 0) {
        /* Not before the input typed ahead of it. */
        op_notice(op, "break not sent: input still on its way to the "
                      "owner node; try again");
        return;
    }
    if (a && a->sub_id && (l = pl_link_get(a->set->pl, a->node)) != NULL)
        pl_control(l, a->sub_id, act);
}

static void
opr_t_room(struct oper *op)
{
    struct opr *a = op->tgt_data;

    if (a)
        opr_credit(a, false);
}

static void
opr_t_detach(struct oper *op, const char *why)
{
    struct opr *a = op->tgt_data;

    op->tgt = NULL;
    op->tgt_data = NULL;
    if (a == NULL)
        return;
    a->op = NULL;
    log_info("console=%s operator %s detached (node %s): %s", a->console_id,
             op->addr, a->node, why);
    if (evbuffer_get_length(a->pend) == 0 || a->state != OPR_ST_ATTACHED)
        opr_close(a);
    /* else: its last input goes first (opr_input_room closes it). */
}

static const struct op_target_ops opr_target = {
    .input = opr_t_input,
    .escape = opr_t_escape,
    .room = opr_t_room,
    .detach = opr_t_detach,
};

/* ---- the set ------------------------------------------------------------- */

static void
opr_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    opr_tick(arg);
}

struct opr_set *
opr_new(struct proxy *px, struct pl *pl, const struct opr_resolver *res)
{
    struct opr_set *set = calloc(1, sizeof(*set));

    if (set == NULL)
        return NULL;
    set->px = px;
    set->pl = pl;
    if (res)
        set->res = *res;
    TAILQ_INIT(&set->waiting);
    TAILQ_INIT(&set->orphans);
    if (smap_init(&set->subs) != 0) {
        free(set);
        return NULL;
    }
    set->retry_ev = evtimer_new(px->base, opr_retry_cb, set);
    return set;
}

static void
opr_end_op(struct opr *a, const char *why)
{
    struct oper *op = a->op;

    a->op = NULL;
    opr_destroy(a);
    if (op)
        op_ended(op, why);
}

static void
opr_free_one(struct smap_node *n, void *arg)
{
    (void)arg;
    opr_end_op(smap_entry(n, struct opr, node_), "this node is shutting down");
}

void
opr_free(struct opr_set **setp)
{
    struct opr_set *set = *setp;
    struct opr *a;

    if (set == NULL)
        return;
    smap_foreach(&set->subs, opr_free_one, NULL);
    while ((a = TAILQ_FIRST(&set->orphans)) != NULL)
        opr_end_op(a, "this node is shutting down");
    smap_fini(&set->subs);
    if (set->retry_ev)
        event_free(set->retry_ev);
    free(set);
    *setp = NULL;
}

void
opr_stats(const struct opr_set *set, struct opr_stats *out)
{
    if (set == NULL)
        memset(out, 0, sizeof(*out));
    else
        *out = set->st;
}

size_t
opr_count(const struct opr_set *set)
{
    return set ? set->n : 0;
}

/* A new attachment of op to console_id (no subscription yet). */
static struct opr *
opr_alloc(struct opr_set *set, struct oper *op, const char *console_id,
          enum con_lock_req req)
{
    struct opr *a = calloc(1, sizeof(*a));

    if (a == NULL || (a->pend = evbuffer_new()) == NULL ||
        (a->sent = evbuffer_new()) == NULL) {
        if (a && a->pend)
            evbuffer_free(a->pend);
        free(a);
        return NULL;
    }
    a->set = set;
    a->op = op;
    a->req = req;
    a->window = set->px->cfg.op_queue_max;
    if (a->window > PW_CREDIT_MAX)
        a->window = PW_CREDIT_MAX;
    snprintf(a->console_id, sizeof(a->console_id), "%s", console_id);
    snprintf(a->op_id, sizeof(a->op_id), "%s/%" PRIu64, set->px->cfg.node_id,
             op->id);
    set->n++;
    op->tgt = &opr_target;
    op->tgt_data = a;
    return a;
}

int
opr_attach(struct opr_set *set, struct oper *op, const char *node,
           const char *console_id, uint64_t epoch, enum con_lock_req req,
           const char **err)
{
    struct opr *a;

    if (pl_link_get(set->pl, node) == NULL) {
        *err = "the console's node is not reachable from this node now";
        return -1;
    }
    if ((a = opr_alloc(set, op, console_id, req)) == NULL) {
        *err = "out of memory";
        return -1;
    }
    a->state = OPR_ST_ATTACHING;
    if (opr_subscribe(a, node, epoch) != 0) {
        a->op = NULL;
        op->tgt = NULL;
        op->tgt_data = NULL;
        opr_destroy(a);
        *err = "cannot subscribe to the console's node";
        return -1;
    }
    log_info("console=%s operator %s attaching through node %s", console_id,
             op->addr, node);
    return 0;
}

int
opr_follow(struct opr_set *set, struct oper *op, const char *console_id,
           enum con_lock_req req, uint64_t next, const char *why)
{
    struct opr *a = opr_alloc(set, op, console_id, req);

    if (a == NULL)
        return -1;
    a->next = next;
    a->have_next = true;
    a->announced = true;        /* the operator is attached already */
    a->state = OPR_ST_ATTACHED; /* left at once, as any attached one */
    opr_orphan(a, why);
    return 0;
}

void
opr_owner_changed(struct opr_set *set, const char *console_id)
{
    struct opr *a, *next;

    for (a = TAILQ_FIRST(&set->orphans); a; a = next) {
        next = TAILQ_NEXT(a, olink);
        if (strcmp(a->console_id, console_id) == 0)
            opr_seek(a);
    }
}

void
opr_tick(struct opr_set *set)
{
    struct opr *a, *next;

    for (a = TAILQ_FIRST(&set->orphans); a; a = next) {
        next = TAILQ_NEXT(a, olink);
        opr_seek(a);
    }
}

/* The owner answered ATTACHED: the operator is on (again). */
static void
opr_on_attached(struct opr *a, const struct pw_sub_state *t)
{
    struct oper *op = a->op;
    bool rejoined = a->state == OPR_ST_REJOINING;

    a->epoch = t->epoch;
    if (rejoined && a->have_next && t->offset < a->next) {
        char text[PW_NODE_ID_MAX + 200];

        a->set->st.stream_restarts++;
        snprintf(text, sizeof(text),
                 "the console's output restarted on node %s at offset %" PRIu64
                 " (you had it up to %" PRIu64
                 "): what its previous owner had not sent is lost",
                 a->node, t->offset, a->next);
        log_warnx("console=%s operator %s: %s", a->console_id, a->op_id, text);
        if (op)
            op_notice(op, text);
    }
    a->next = t->offset;
    a->tip = t->offset; /* this owner's offsets from here on */
    a->have_next = true;
    opr_set_state(a, OPR_ST_ATTACHED);
    if (op == NULL) {
        if (evbuffer_get_length(a->pend) == 0)
            opr_close(a); /* detached meanwhile */
        return;
    }
    op_attached(op, a->console_id, a->node, t->mode ? OP_MODE_RO : OP_MODE_RW,
                t->offset, t->epoch);
    a->announced = true;
    if (rejoined && opr_flush(a) && op->read_blocked)
        op_set_input_blocked(op, false); /* what it typed meanwhile went */
    else if (evbuffer_get_length(a->pend) > 0)
        opr_hold(a);
}

bool
opr_sub_state(struct opr_set *set, struct pl_link *l,
              const struct pw_sub_state *t)
{
    struct opr *a = opr_find(set, l, t->sub_id);
    char why[PW_TEXT_MAX + 32];

    if (a == NULL)
        return false;
    if (t->status == PW_SUB_ATTACHED) {
        opr_on_attached(a, t);
        return true;
    }
    opr_unkey(a); /* the subscription is over (pl forgot it) */
    if (a->state == OPR_ST_REJOINING &&
        (t->status == PW_SUB_REFUSED || t->status == PW_SUB_MOVED)) {
        /* Not there yet (a handover in flight), or a stale copy that
         * points elsewhere: look again soon. */
        struct timeval tv = {0, 100 * 1000};

        if (t->status == PW_SUB_MOVED && set->res.moved && t->text[0] &&
            t->epoch)
            set->res.moved(set->res.arg, a->console_id, t->text, t->epoch);
        opr_set_state(a, OPR_ST_ORPHAN);
        if (set->retry_ev)
            evtimer_add(set->retry_ev, &tv);
    } else if (t->status == PW_SUB_MOVED && a->state != OPR_ST_ATTACHING) {
        opr_reclaim(a, l);
        if (set->res.moved && t->text[0] && t->epoch)
            set->res.moved(set->res.arg, a->console_id, t->text, t->epoch);
        snprintf(why, sizeof(why), "console moved to node %s", t->text);
        opr_orphan(a, why);
    } else if (a->state == OPR_ST_ATTACHING && a->op) {
        struct oper *op = a->op;

        a->op = NULL;
        opr_destroy(a);
        op_attach_failed(op, t->status == PW_SUB_MOVED
                                 ? "the console just moved: attach again"
                             : t->text[0] ? t->text
                                          : "refused");
    } else {
        opr_end_op(a, t->text[0] ? t->text : "ended by the console's node");
    }
    return true;
}

bool
opr_data(struct opr_set *set, struct pl_link *l, const struct pw_data *d)
{
    struct opr *a = opr_find(set, l, d->sub_id);

    if (a == NULL)
        return false;
    a->uncredited += d->len;
    a->next = d->offset + d->len;
    a->have_next = true;
    if (a->op && a->op->state == OP_ST_ATTACHED)
        op_output(a->op, d->bytes, d->len);
    opr_credit(a, a->op == NULL);
    return true;
}

bool
opr_gap(struct opr_set *set, struct pl_link *l, const struct pw_gap *g)
{
    struct opr *a = opr_find(set, l, g->sub_id);

    if (a) {
        a->next = g->to;
        a->have_next = true;
    }
    if (a && a->op && a->op->state == OP_ST_ATTACHED)
        op_output_gap(a->op, a->console_id, g->from, g->to);
    return a != NULL;
}

bool
opr_tip(struct opr_set *set, struct pl_link *l, const struct pw_tip *t)
{
    struct opr *a = opr_find(set, l, t->sub_id);

    if (a && t->epoch == a->epoch && t->tip > a->tip)
        a->tip = t->tip;
    return a != NULL;
}

bool
opr_event(struct opr_set *set, struct pl_link *l, const struct pw_event *e)
{
    struct opr *a = opr_find(set, l, e->sub_id);

    if (a && a->op)
        op_notice(a->op, e->text);
    return a != NULL;
}

bool
opr_sub_lost(struct opr_set *set, struct pl_link *l, uint64_t sub_id)
{
    struct opr *a = opr_find(set, l, sub_id);
    char why[PW_NODE_ID_MAX + 300], out[96] = "", in[80] = "";
    uint64_t unacked, unsent;

    if (a == NULL)
        return false;
    unacked = pl_input_unacked(l, a->console_id, a->op_id);
    set->st.input_lost += unacked;
    /* What it had taken from the VM and not sent here, as far as it told
     * (a Tip at most 200 ms old; bytes it had not read from the VM are
     * the VM's, not counted). */
    unsent = a->have_next && a->tip > a->next ? a->tip - a->next : 0;
    set->st.output_lost += unsent;
    if (unsent > 0)
        snprintf(out, sizeof(out),
                 "; %" PRIu64 " bytes of output it held for you are lost",
                 unsent);
    if (unacked > 0)
        snprintf(in, sizeof(in),
                 "; %" PRIu64 " bytes of your input not confirmed by it",
                 unacked);
    snprintf(why, sizeof(why), "the link to node %s went down%s%s", a->node,
             out, in);
    if (unsent > 0)
        log_warnx("console=%s operator %s: %" PRIu64 " bytes of output "
                  "(offsets %" PRIu64 "-%" PRIu64 ") died with node %s",
                  a->console_id, a->op_id, unsent, a->next, a->tip, a->node);
    opr_unkey(a);
    if (a->state == OPR_ST_ATTACHING && a->op) {
        struct oper *op = a->op;

        a->op = NULL;
        opr_destroy(a);
        op_attach_failed(op, why);
    } else if (a->op == NULL) {
        opr_destroy(a); /* detached, its last input lost with the link */
    } else {
        opr_orphan(a, why);
    }
    return true;
}

void
opr_input_room(struct opr_set *set, struct pl_link *l)
{
    const char *node = pl_link_node(l);
    struct opr *a, *next;

    for (a = TAILQ_FIRST(&set->waiting); a; a = next) {
        next = TAILQ_NEXT(a, wlink);
        if (strcmp(a->node, node) != 0)
            continue;
        if (!opr_flush(a))
            break; /* the window is full again: the rest wait their turn */
        TAILQ_REMOVE(&set->waiting, a, wlink);
        a->waiting = false;
        if (a->op)
            op_set_input_blocked(a->op, false);
        else
            opr_close(a); /* detached: its last input is sent */
    }
}
