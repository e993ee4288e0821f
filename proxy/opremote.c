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

struct opr_set {
    struct proxy *px;
    struct pl *pl;
    struct smap subs;          /* by "node sub_id" */
    TAILQ_HEAD(, opr) waiting; /* input waiting for the link's window */
    unsigned n;
};

struct opr {
    struct opr_set *set;
    struct oper *op; /* NULL once it detached (input still draining) */
    char node[PW_NODE_ID_MAX + 1];
    char console_id[PW_CONSOLE_ID_MAX + 1];
    char op_id[PW_OPERATOR_ID_MAX + 1];
    uint64_t sub_id;
    uint64_t epoch;
    uint64_t window;       /* the credit granted at most */
    uint64_t uncredited;   /* bytes received and not granted back yet */
    uint64_t in_seq;       /* the operator's input sent so far */
    struct evbuffer *pend; /* input not sent yet (window full) */
    bool waiting;          /* in set->waiting */
    char key[PL_SUB_KEY_MAX];
    struct smap_node node_;
    TAILQ_ENTRY(opr) wlink;
};

static struct opr *
opr_find(struct opr_set *set, struct pl_link *l, uint64_t sub_id)
{
    char key[PL_SUB_KEY_MAX];
    struct smap_node *n;

    pl_sub_key(key, pl_link_node(l), sub_id);
    n = smap_get(&set->subs, key);
    return n ? smap_entry(n, struct opr, node_) : NULL;
}

/* Forget a (its subscription is over or being ended). */
static void
opr_destroy(struct opr *a)
{
    struct opr_set *set = a->set;

    if (a->waiting)
        TAILQ_REMOVE(&set->waiting, a, wlink);
    smap_del(&set->subs, &a->node_);
    set->n--;
    if (a->op) {
        a->op->tgt = NULL;
        a->op->tgt_data = NULL;
    }
    evbuffer_free(a->pend);
    free(a);
}

/* Unsubscribe and forget. */
static void
opr_close(struct opr *a)
{
    struct pl_link *l = pl_link_get(a->set->pl, a->node);

    if (l)
        pl_unsubscribe(l, a->sub_id);
    opr_destroy(a);
}

/* Grant back what the operator's socket took. force: whatever is owed. */
static void
opr_credit(struct opr *a, bool force)
{
    struct pl_link *l;

    if (a->uncredited == 0)
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

/* Send what the window allows of p[n]; returns the bytes sent (all of
 * them when the link is gone: sub_lost ends the attachment). */
static size_t
opr_send(struct opr *a, const uint8_t *p, size_t n)
{
    struct pl_link *l = pl_link_get(a->set->pl, a->node);
    size_t k;

    if (l == NULL)
        return n;
    k = pl_input_room(l);
    if (k > n)
        k = n;
    if (k == 0)
        return 0;
    if (pl_send_input(l, a->console_id, a->op_id, a->epoch, a->in_seq, p, k) !=
        0) {
        log_warnx("console=%s operator %s: %zu bytes of input not sent",
                  a->console_id, a->op_id, k);
        return n;
    }
    a->in_seq += k;
    return k;
}

/* Send what waits; true when nothing is left. */
static bool
opr_flush(struct opr *a)
{
    size_t len;

    while ((len = evbuffer_get_length(a->pend)) > 0) {
        struct evbuffer_iovec v;
        size_t sent;

        if (evbuffer_peek(a->pend, -1, NULL, &v, 1) < 1)
            break;
        sent = opr_send(a, v.iov_base, v.iov_len);
        evbuffer_drain(a->pend, sent);
        if (sent < v.iov_len)
            return false;
    }
    return evbuffer_get_length(a->pend) == 0;
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
    /* The window is full: keep the rest in order, stop reading the
     * operator until InputAcks open it (opr_input_room). */
    evbuffer_add(a->pend, p + sent, n - sent);
    op_set_input_blocked(op, true);
    if (!a->waiting) {
        a->waiting = true;
        TAILQ_INSERT_TAIL(&a->set->waiting, a, wlink);
    }
}

static void
opr_t_escape(struct oper *op, uint8_t ch)
{
    struct opr *a = op->tgt_data;
    struct pl_link *l;
    enum pw_control_action act = ch == 'r'   ? PW_CTL_REPLAY
                                 : ch == 'f' ? PW_CTL_FORCE_WRITE
                                             : PW_CTL_SPECTATOR;

    if (a && (l = pl_link_get(a->set->pl, a->node)) != NULL)
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
    if (evbuffer_get_length(a->pend) == 0)
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

struct opr_set *
opr_new(struct proxy *px, struct pl *pl)
{
    struct opr_set *set = calloc(1, sizeof(*set));

    if (set == NULL)
        return NULL;
    set->px = px;
    set->pl = pl;
    TAILQ_INIT(&set->waiting);
    if (smap_init(&set->subs) != 0) {
        free(set);
        return NULL;
    }
    return set;
}

static void
opr_free_one(struct smap_node *n, void *arg)
{
    struct opr *a = smap_entry(n, struct opr, node_);
    struct oper *op = a->op;

    (void)arg;
    opr_destroy(a);
    if (op)
        op_ended(op, "this node is shutting down");
}

void
opr_free(struct opr_set **setp)
{
    struct opr_set *set = *setp;

    if (set == NULL)
        return;
    smap_foreach(&set->subs, opr_free_one, NULL);
    smap_fini(&set->subs);
    free(set);
    *setp = NULL;
}

size_t
opr_count(const struct opr_set *set)
{
    return set ? set->n : 0;
}

int
opr_attach(struct opr_set *set, struct oper *op, const char *node,
           const char *console_id, uint64_t epoch, enum con_lock_req req,
           const char **err)
{
    struct pl_link *l = pl_link_get(set->pl, node);
    struct pl_sub_op so;
    struct opr *a;

    if (l == NULL) {
        *err = "the console's node is not reachable from this node now";
        return -1;
    }
    if ((a = calloc(1, sizeof(*a))) == NULL ||
        (a->pend = evbuffer_new()) == NULL) {
        free(a);
        *err = "out of memory";
        return -1;
    }
    a->set = set;
    a->op = op;
    a->epoch = epoch;
    a->window = set->px->cfg.op_queue_max;
    if (a->window > PW_CREDIT_MAX)
        a->window = PW_CREDIT_MAX;
    snprintf(a->node, sizeof(a->node), "%s", node);
    snprintf(a->console_id, sizeof(a->console_id), "%s", console_id);
    snprintf(a->op_id, sizeof(a->op_id), "%s/%" PRIu64, set->px->cfg.node_id,
             op->id);
    so = (struct pl_sub_op){.operator_id = a->op_id,
                            .operator_name = op->addr,
                            .lock = (uint32_t)req,
                            .raw = op->raw};
    a->sub_id = pl_subscribe_op(l, console_id, 0, epoch, a->window, &so);
    pl_sub_key(a->key, node, a->sub_id);
    if (a->sub_id == 0 || smap_put(&set->subs, &a->node_, a->key) != 0) {
        if (a->sub_id)
            pl_unsubscribe(l, a->sub_id);
        evbuffer_free(a->pend);
        free(a);
        *err = "cannot subscribe to the console's node";
        return -1;
    }
    set->n++;
    op->tgt = &opr_target;
    op->tgt_data = a;
    log_info("console=%s operator %s attaching through node %s", console_id,
             op->addr, node);
    return 0;
}

bool
opr_sub_state(struct opr_set *set, struct pl_link *l,
              const struct pw_sub_state *t)
{
    struct opr *a = opr_find(set, l, t->sub_id);
    struct oper *op;

    if (a == NULL)
        return false;
    op = a->op;
    if (t->status == PW_SUB_ATTACHED) {
        a->epoch = t->epoch;
        if (op && op->state == OP_ST_ATTACHING)
            op_attached(op, a->console_id, t->mode ? OP_MODE_RO : OP_MODE_RW,
                        t->offset, t->epoch);
        else if (op == NULL && evbuffer_get_length(a->pend) == 0)
            opr_close(a); /* detached while attaching */
        return true;
    }
    opr_destroy(a); /* the subscription is over (pl forgot it) */
    if (op && t->status == PW_SUB_REFUSED)
        op_attach_failed(op, t->text[0] ? t->text : "refused");
    else if (op)
        op_ended(op, t->text[0] ? t->text : "ended by the console's node");
    return true;
}

bool
opr_data(struct opr_set *set, struct pl_link *l, const struct pw_data *d)
{
    struct opr *a = opr_find(set, l, d->sub_id);

    if (a == NULL)
        return false;
    a->uncredited += d->len;
    if (a->op && a->op->state == OP_ST_ATTACHED)
        op_output(a->op, d->bytes, d->len);
    opr_credit(a, a->op == NULL);
    return true;
}

bool
opr_gap(struct opr_set *set, struct pl_link *l, const struct pw_gap *g)
{
    struct opr *a = opr_find(set, l, g->sub_id);

    if (a && a->op && a->op->state == OP_ST_ATTACHED)
        op_output_gap(a->op, a->console_id, g->from, g->to);
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
    struct oper *op;
    char why[PW_NODE_ID_MAX + 48];

    if (a == NULL)
        return false;
    op = a->op;
    snprintf(why, sizeof(why), "the link to node %s went down", a->node);
    opr_destroy(a);
    if (op)
        op_ended(op, why);
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
