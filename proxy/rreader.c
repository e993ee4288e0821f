/* rreader.c: see rreader.h. */
#include "vspc/compat.h"
#include "rreader.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vspc/log.h"
#include "vspc/strmap.h"
#include "conhold.h"
#include "heldin.h"
#include "console.h"

/* ^Ecr from a remote operator replays this many lines (as oplocal.c). */
#define RR_REPLAY_LINES 20

/* How often a reader behind is told how far the stream got (Tip). */
#define RR_TIP_MS 200

struct rr_set {
    struct proxy *px;
    struct event *tip_ev;
    struct smap subs;   /* by "node sub_id" */
    struct smap inputs; /* operators by "node console operator" */
};

struct rr {
    struct con_op co; /* co.rd: the console's stream reader */
    struct rr_set *set;
    struct console *c;
    struct pl_link *l; /* valid until the unsubscribe callback */
    uint64_t sub_id;
    bool is_op;   /* reads for an operator (else a plain reader) */
    bool ro_told; /* told once that its input is refused */
    bool ack_due; /* an ack waits for the console's input to unblock */
    uint64_t ack_seq;
    uint64_t tip_told; /* the stream end last told (Tip) */
    char op_id[PW_OPERATOR_ID_MAX + 1];
    char sub_key[PL_SUB_KEY_MAX];
    char in_key[PW_NODE_ID_MAX + PW_CONSOLE_ID_MAX + PW_OPERATOR_ID_MAX + 3];
    char follow[PW_NODE_ID_MAX + 5]; /* a log reader's: "log:<node>" */
    struct smap_node sub_node, in_node;
};

static struct rr *
rr_of(struct strm_reader *r)
{
    return (struct rr *)((char *)r - offsetof(struct rr, co.rd));
}

static struct rr *
rr_of_co(struct con_op *co)
{
    return (struct rr *)((char *)co - offsetof(struct rr, co));
}

/* Unlink from the console and the tables, free. */
static void
rr_destroy(struct rr *r, const char *why)
{
    struct rr_set *set = r->set;

    if (r->c && r->is_op)
        con_detach(r->c, &r->co, why);
    else if (r->c)
        strm_reader_remove(&r->co.rd);
    smap_del(&set->subs, &r->sub_node);
    if (r->is_op)
        smap_del(&set->inputs, &r->in_node);
    free(r);
}

/* The owner ends it: SubState ENDED, then gone (deferred: we may be inside
 * the stream's callbacks). */
static void
rr_free_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rr_destroy(arg, "ended");
}

/* Free from the loop (we may be inside the stream's callbacks). */
static void
rr_free_later(struct rr *r)
{
    struct timeval now = {0, 0};

    if (event_base_once(r->set->px->base, -1, EV_TIMEOUT, rr_free_cb, r,
                        &now) != 0)
        log_warnx("remote reader %s: not freed (out of memory)", r->sub_key);
}

static void
rr_end(struct rr *r, enum pw_sub_status status, const char *why)
{
    struct pw_sub_state t = {.sub_id = r->sub_id, .status = status};

    snprintf(t.text, sizeof(t.text), "%s", why);
    pl_send_sub_state(r->l, &t);
    /* Detach now (the console may be going), free from the loop. */
    if (r->c && r->is_op)
        con_detach(r->c, &r->co, why);
    else if (r->c)
        strm_reader_remove(&r->co.rd);
    r->c = NULL;
    rr_free_later(r);
}

/* ---- the stream reader ------------------------------------------------- */

static size_t
rr_rd_room(struct strm_reader *sr)
{
    struct rr *r = rr_of(sr);

    return pl_sub_room(r->l, r->sub_id);
}

static void
rr_rd_deliver(struct strm_reader *sr, const uint8_t *p, size_t n)
{
    struct rr *r = rr_of(sr);

    if (pl_send_data(r->l, r->sub_id, r->c->epoch, sr->next, p, n) != 0)
        log_warnx("console=%s %s: %zu bytes not sent", r->c->id, sr->desc, n);
}

static void
rr_rd_gap(struct strm_reader *sr, uint64_t from, uint64_t to)
{
    struct rr *r = rr_of(sr);

    pl_send_gap(r->l, r->sub_id, r->c->epoch, from, to);
}

static void
rr_rd_event(struct strm_reader *sr, const char *text)
{
    struct rr *r = rr_of(sr);

    pl_send_event(r->l, r->sub_id, r->c->epoch, sr->next, text);
}

static uint64_t
rr_rd_progress(struct strm_reader *sr)
{
    struct rr *r = rr_of(sr);

    return pl_sub_granted(r->l, r->sub_id);
}

static void
rr_rd_stalled(struct strm_reader *sr)
{
    struct rr *r = rr_of(sr);

    r->set->px->stats.ops_dropped_slow++;
    rr_end(r, PW_SUB_ENDED, "reader too slow");
}

static void
rr_rd_release(struct strm_reader *sr)
{
    struct rr *r = rr_of(sr);

    r->c = NULL; /* the console is going: already unlinked */
    rr_end(r, PW_SUB_ENDED, "console gone");
}

static void rr_co_moved(struct con_op *co, const char *node, uint64_t epoch);

/* It read all this node has of a console that moved: an operator follows
 * (con_op_sealed); a log reader is told MOVED at once (rlog.c follows). */
static void
rr_rd_sealed(struct strm_reader *sr)
{
    struct rr *r = rr_of(sr);

    if (r->is_op)
        con_op_sealed(&r->co);
    else if (r->c && r->c->moved_node[0])
        rr_co_moved(&r->co, r->c->moved_node, r->c->moved_epoch);
}

static const struct strm_reader_ops rr_rd_ops = {
    .room = rr_rd_room,
    .deliver = rr_rd_deliver,
    .gap = rr_rd_gap,
    .event = rr_rd_event,
    .progress = rr_rd_progress,
    .stalled = rr_rd_stalled,
    .release = rr_rd_release,
    .sealed = rr_rd_sealed,
};

/* ---- the operator, as the console sees it -------------------------------- */

static void
rr_ack(struct rr *r, uint64_t seq)
{
    if (pl_send_input_ack(r->l, r->c ? r->c->id : "", r->op_id, seq) != 0)
        log_warnx("%s: input ack %" PRIu64 " not sent", r->co.rd.desc, seq);
}

static void
rr_co_input_blocked(struct con_op *co, bool blocked)
{
    struct rr *r = rr_of_co(co);

    if (!blocked && r->ack_due) {
        r->ack_due = false;
        rr_ack(r, r->ack_seq);
    }
}

static void
rr_co_notice(struct con_op *co, const char *text)
{
    struct rr *r = rr_of_co(co);

    pl_send_event(r->l, r->sub_id, r->c ? r->c->epoch : 0, r->co.rd.next, text);
}

/* Input it sent that this node did not take is voided here and reclaimed
 * by its node (peerlink.h) after the MOVED, which sends it to the next
 * owner. */
static void
rr_co_leaving(struct con_op *co)
{
    struct rr *r = rr_of_co(co);

    if (!r->is_op || r->c == NULL)
        return;
    if (r->ack_due) { /* taken into the console's input path */
        r->ack_due = false;
        rr_ack(r, r->ack_seq);
    }
    if (pl_input_void(r->l, r->c->id, r->op_id) != 0)
        log_warnx("%s: its input in flight cannot be voided", co->rd.desc);
}

/* Fenced or handed over: the subscriber follows the console to its new
 * owner (after it read what this node has: rr_co_leaving first). */
static void
rr_co_moved(struct con_op *co, const char *node, uint64_t epoch)
{
    struct rr *r = rr_of_co(co);
    struct pw_sub_state t = {
        .sub_id = r->sub_id, .status = PW_SUB_MOVED, .epoch = epoch};

    rr_co_leaving(co); /* again: idempotent */
    snprintf(t.text, sizeof(t.text), "%s", node);
    pl_send_sub_state(r->l, &t);
    if (r->c && r->is_op)
        con_detach(r->c, &r->co, "moved");
    else if (r->c)
        strm_reader_remove(&r->co.rd);
    r->c = NULL;
    rr_free_later(r);
}

static const struct con_op_ops rr_co_ops = {
    .input_blocked = rr_co_input_blocked,
    .notice = rr_co_notice,
    .moved = rr_co_moved,
    .leaving = rr_co_leaving,
};

/* ---- the set ------------------------------------------------------------- */

/* Every reader behind the stream's end hears where the end is (at most
 * RR_TIP_MS old), so that if this node dies its node knows what died. */
static void
rr_tip_one(struct smap_node *n, void *arg)
{
    struct rr *r = smap_entry(n, struct rr, sub_node);
    uint64_t end;

    (void)arg;
    if (r->c == NULL || r->co.rd.st == NULL)
        return;
    end = strm_end(&r->c->out);
    if (end > r->tip_told && end > r->co.rd.next &&
        pl_send_tip(r->l, r->sub_id, r->c->epoch, end) == 0)
        r->tip_told = end;
}

static void
rr_tip_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rr_set *set = arg;

    smap_foreach(&set->subs, rr_tip_one, NULL);
}

struct rr_set *
rr_new(struct proxy *px)
{
    struct rr_set *set = calloc(1, sizeof(*set));
    struct timeval tv = {0, RR_TIP_MS * 1000};

    if (set == NULL)
        return NULL;
    set->px = px;
    if (smap_init(&set->subs) != 0 || smap_init(&set->inputs) != 0 ||
        (set->tip_ev = event_new(px->base, -1, EV_PERSIST, rr_tip_cb, set)) ==
            NULL) {
        smap_fini(&set->subs);
        smap_fini(&set->inputs);
        free(set);
        return NULL;
    }
    event_add(set->tip_ev, &tv);
    return set;
}

static void
rr_free_one(struct smap_node *n, void *arg)
{
    (void)arg;
    rr_destroy(smap_entry(n, struct rr, sub_node), "shutdown");
}

void
rr_free(struct rr_set **setp)
{
    struct rr_set *set = *setp;

    if (set == NULL)
        return;
    event_free(set->tip_ev);
    smap_foreach(&set->subs, rr_free_one, NULL);
    smap_fini(&set->subs);
    smap_fini(&set->inputs);
    free(set);
    *setp = NULL;
}

size_t
rr_count(const struct rr_set *set)
{
    return set ? smap_count(&set->subs) : 0;
}

static struct rr *
rr_find(struct rr_set *set, struct pl_link *l, uint64_t sub_id)
{
    char key[PL_SUB_KEY_MAX];
    struct smap_node *n;

    pl_sub_key(key, pl_link_node(l), sub_id);
    n = smap_get(&set->subs, key);
    return n ? smap_entry(n, struct rr, sub_node) : NULL;
}

static void
rr_refuse(struct pl_link *l, uint64_t sub_id, const char *why)
{
    struct pw_sub_state t = {.sub_id = sub_id, .status = PW_SUB_REFUSED};

    snprintf(t.text, sizeof(t.text), "%s", why);
    pl_send_sub_state(l, &t);
}

void
rr_subscribe(struct rr_set *set, struct pl_link *l,
             const struct pw_subscribe *s)
{
    struct console *c = con_find(set->px->consoles, s->console_id);
    struct pw_sub_state t = {.sub_id = s->sub_id, .status = PW_SUB_ATTACHED};
    const char *err = NULL;
    struct rr *r;
    uint64_t start;

    if (c == NULL || c->epoch == 0) {
        rr_refuse(l, s->sub_id, "no such console on this node");
        return;
    }
    if (c->owner == NULL && c->moved_node[0]) {
        /* It went elsewhere: the subscriber follows it there. */
        struct pw_sub_state m = {.sub_id = s->sub_id,
                                 .status = PW_SUB_MOVED,
                                 .epoch = c->moved_epoch};

        snprintf(m.text, sizeof(m.text), "%s", c->moved_node);
        pl_send_sub_state(l, &m);
        return;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        rr_refuse(l, s->sub_id, "out of memory");
        return;
    }
    r->set = set;
    r->l = l;
    r->sub_id = s->sub_id;
    r->is_op = s->operator_id[0] != '\0';
    r->co.ops = &rr_co_ops;
    r->co.id = ++set->px->next_session_id;
    r->co.rd.ops = &rr_rd_ops;
    snprintf(r->op_id, sizeof(r->op_id), "%s", s->operator_id);
    snprintf(r->co.gid, sizeof(r->co.gid), "%s", s->operator_id);
    snprintf(r->co.name, sizeof(r->co.name), "%.40s@%.20s",
             s->operator_name[0] ? s->operator_name : s->operator_id,
             pl_link_node(l));
    if (r->is_op)
        snprintf(r->co.rd.desc, sizeof(r->co.rd.desc),
                 "remote operator %.24s on node %.24s", r->co.name,
                 pl_link_node(l));
    else
        snprintf(r->co.rd.desc, sizeof(r->co.rd.desc),
                 "remote reader on node %.40s", pl_link_node(l));
    pl_sub_key(r->sub_key, pl_link_node(l), s->sub_id);
    snprintf(r->in_key, sizeof(r->in_key), "%s %s %s", pl_link_node(l), c->id,
             s->operator_id);
    if (smap_put(&set->subs, &r->sub_node, r->sub_key) != 0 ||
        (r->is_op && smap_put(&set->inputs, &r->in_node, r->in_key) != 0)) {
        if (smap_get(&set->subs, r->sub_key) == &r->sub_node)
            smap_del(&set->subs, &r->sub_node);
        free(r);
        rr_refuse(l, s->sub_id, "operator already attached");
        return;
    }
    if (r->is_op &&
        con_attach(c, &r->co, (enum con_lock_req)s->lock, &start, &err) != 0) {
        smap_del(&set->subs, &r->sub_node);
        smap_del(&set->inputs, &r->in_node);
        free(r);
        rr_refuse(l, s->sub_id, err);
        return;
    }
    snprintf(r->follow, sizeof(r->follow), "log:%s", pl_link_node(l));
    r->co.rd.follow = r->is_op ? r->co.gid : r->follow;
    if (!r->is_op) {
        start = strm_reader_add(&c->out, &r->co.rd, s->from_offset);
        chold_arrived(c, r->follow);
    } else if (s->from_offset > 0) {
        /* An operator following the console here: on from its offset. */
        strm_reader_seek(&r->co.rd, s->from_offset);
        start = r->co.rd.next;
    }
    r->c = c;
    t.mode = r->co.mode == OP_MODE_RO ? 1 : 0;
    t.offset = start;
    t.epoch = c->epoch;
    pl_send_sub_state(l, &t);
    log_info("console=%s %s attached from offset %" PRIu64, c->id,
             r->co.rd.desc, start);
    strm_reader_kick(&r->co.rd);
}

void
rr_unsubscribe(struct rr_set *set, struct pl_link *l, uint64_t sub_id)
{
    struct rr *r = rr_find(set, l, sub_id);

    if (r == NULL)
        return; /* ended by us, its free pending */
    if (r->c)
        log_info("console=%s %s detached", r->c->id, r->co.rd.desc);
    rr_destroy(r, "detached");
}

void
rr_room(struct rr_set *set, struct pl_link *l, uint64_t sub_id)
{
    struct rr *r = rr_find(set, l, sub_id);

    if (r && r->c)
        strm_reader_kick(&r->co.rd);
}

void
rr_input(struct rr_set *set, struct pl_link *l, const struct pw_input *in)
{
    char key[sizeof(((struct rr *)0)->in_key)];
    struct smap_node *n;
    struct rr *r;
    uint64_t end = in->seq + in->len;

    snprintf(key, sizeof(key), "%s %s %s", pl_link_node(l), in->console_id,
             in->operator_id);
    n = smap_get(&set->inputs, key);
    r = n ? smap_entry(n, struct rr, in_node) : NULL;
    if (r == NULL || r->c == NULL) {
        /* Its attachment ended while the input was in flight: nothing to
         * deliver it to; acknowledged so the sender's window moves. */
        pl_send_input_ack(l, in->console_id, in->operator_id, end);
        return;
    }
    if (!con_op_can_write(r->c, &r->co)) {
        set->px->stats.ops_input_refused += in->len;
        if (!r->ro_told) {
            r->ro_told = true;
            rr_co_notice(&r->co, "read-only: your input is discarded "
                                 "(escape f forces write access)");
        }
        rr_ack(r, end);
        return;
    }
    r->ro_told = false;
    con_op_input(r->c, &r->co, in->bytes, in->len);
    if (r->c->input_blocked) {
        r->ack_due = true; /* the sender stops at its window meanwhile */
        r->ack_seq = end;
    } else {
        rr_ack(r, end);
    }
}

void
rr_control(struct rr_set *set, struct pl_link *l, uint64_t sub_id,
           enum pw_control_action action)
{
    struct rr *r = rr_find(set, l, sub_id);

    if (r == NULL || r->c == NULL || !r->is_op)
        return;
    switch (action) {
    case PW_CTL_REPLAY:
        con_replay_lines(r->c, &r->co, RR_REPLAY_LINES);
        break;
    case PW_CTL_FORCE_WRITE:
        con_force_write(r->c, &r->co);
        rr_co_notice(&r->co, "you have write access");
        break;
    case PW_CTL_SPECTATOR:
        con_make_spectator(r->c, &r->co);
        rr_co_notice(&r->co, "you are a spectator (read-only)");
        break;
    case PW_CTL_BREAK:
        /* The subscriber's node checked the ACL; here the lock, and that
         * the input before it has gone straight to the host. */
        if (!con_op_can_write(r->c, &r->co))
            rr_co_notice(&r->co, "break: you are read-only (escape f "
                                 "forces write access)");
        else if (r->c->vmo || r->co.moving || hin_len(&r->c->held) > 0 ||
                 r->c->owner == NULL || r->c->owner->ops->brk == NULL)
            rr_co_notice(&r->co, "break not sent: no hypervisor connection "
                                 "now (or a vMotion is under way)");
        else {
            r->c->owner->ops->brk(r->c->owner);
            log_info("console=%s operator %s sent a break", r->c->id,
                     r->co.name);
            con_event(r->c, "operator %s sent a break", r->co.name);
        }
        break;
    }
}
