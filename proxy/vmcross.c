/* vmcross.c: see vmcross.h. */
#include "vspc/compat.h"
#include "vmcross.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <event2/buffer.h>

#include "vspc/epoch.h"
#include "vspc/log.h"
#include "conhold.h"
#include "console.h"
#include "heldin.h"
#include "session.h"
#include "vmotion.h"

/* The owner's answer to a forwarded PEER: the host is waiting. */
#define VXN_VALIDATE_SECS 2.0
/* Held input accepted in one handover: what this node would hold itself,
 * and the frames one record may take. */
#define VXN_HELD_MAX(x) (2 * (x)->px->cfg.held_max + PW_HELD_BYTES_MAX)
/* A handed-over lock waits this long for its holder to follow. */
#define VXN_LOCK_KEEP_SECS 10.0
/* Scrollback accepted in one handover (the old owner sends what its own
 * scrollback setting keeps). */
#define VXN_SB_MAX (16u * 1024 * 1024)

/* ---- the owner's side: a destination on another node --------------------- */

struct vxn_out {
    struct vmo_dest d;
    struct vxn *x;
    char node[PW_NODE_ID_MAX + 1];
    uint8_t node_index;
    uint64_t req_id;
    TAILQ_ENTRY(vxn_out) link;
};

/* ---- the destination's side ---------------------------------------------- */

#define T(n, a)                                                                \
    {                                                                          \
        IN_##n, A_##a                                                          \
    }
const struct vxn_step vxn_table[IN__COUNT][VE__COUNT] =
    {
        [IN_VALIDATING] =
            {
                [VE_REPLY_OK] = T(ACCEPTED, ACCEPT),
                [VE_REPLY_NO] = T(END, REJECT),
                [VE_COMPLETE] = T(VALIDATING, NONE),
                [VE_HANDOVER] = T(VALIDATING, NONE),
                [VE_CANCEL] = T(VALIDATING, NONE),
                [VE_SESSION_GONE] = T(VALIDATING, DETACH),
                [VE_LINK_DOWN] = T(END, REJECT),
                [VE_TIMEOUT] = T(VALIDATING, NONE),
            },
        [IN_ACCEPTED] =
            {
                [VE_REPLY_OK] = T(ACCEPTED, NONE),
                [VE_REPLY_NO] = T(ACCEPTED, NONE),
                [VE_COMPLETE] = T(COMPLETING, COMPLETE),
                [VE_HANDOVER] = T(ACCEPTED, NONE),
                [VE_CANCEL] = T(END, DROP),
                [VE_SESSION_GONE] = T(END, TELL_GONE),
                [VE_LINK_DOWN] = T(END, DROP),
                [VE_TIMEOUT] = T(ACCEPTED, NONE),
            },
        [IN_COMPLETING] =
            {
                [VE_REPLY_OK] = T(COMPLETING, NONE),
                [VE_REPLY_NO] = T(COMPLETING, NONE),
                [VE_COMPLETE] = T(COMPLETING, NONE),
                [VE_HANDOVER] = T(END, INSTALL),
                [VE_CANCEL] = T(END, CLAIM),
                [VE_SESSION_GONE] = T(COMPLETING, DETACH),
                [VE_LINK_DOWN] = T(END, CLAIM),
                [VE_TIMEOUT] = T(END, CLAIM),
            },
        [IN_END] =
            {
                [VE_REPLY_OK] = T(END, NONE),
                [VE_REPLY_NO] = T(END, NONE),
                [VE_COMPLETE] = T(END, NONE),
                [VE_HANDOVER] = T(END, NONE),
                [VE_CANCEL] = T(END, NONE),
                [VE_SESSION_GONE] = T(END, NONE),
                [VE_LINK_DOWN] = T(END, NONE),
                [VE_TIMEOUT] = T(END, NONE),
            },
};
#undef T

static const char *const vxn_state_names[IN__COUNT] = {"VALIDATING", "ACCEPTED",
                                                       "COMPLETING", "END"};
static const char *const vxn_event_names[VE__COUNT] = {
    "REPLY_OK", "REPLY_NO",     "COMPLETE",  "HANDOVER",
    "CANCEL",   "SESSION_GONE", "LINK_DOWN", "TIMEOUT"};
static const char *const vxn_action_names[A__COUNT] = {
    "NONE", "ACCEPT", "REJECT", "COMPLETE", "INSTALL",
    "DROP", "CLAIM",  "DETACH", "TELL_GONE"};

const char *
vxn_state_str(enum vxn_in_state st)
{
    return (unsigned)st < IN__COUNT ? vxn_state_names[st] : "???";
}

const char *
vxn_event_str(enum vxn_in_event ev)
{
    return (unsigned)ev < VE__COUNT ? vxn_event_names[ev] : "???";
}

const char *
vxn_action_str(enum vxn_in_action a)
{
    return (unsigned)a < A__COUNT ? vxn_action_names[a] : "???";
}

struct vxn_in {
    struct vxn *x;
    struct session *s; /* NULL once the connection closed */
    enum vxn_in_state st;
    char node[PW_NODE_ID_MAX + 1]; /* the owner's */
    uint64_t req_id;
    char console_id[PW_CONSOLE_ID_MAX + 1];
    uint8_t seq[VMX_SEQ_MAX];
    size_t seq_len;
    struct event *timer;
    /* The handover record, as its frames arrive. */
    bool rec_started;
    uint64_t epoch, old_epoch, offset, sb_from;
    char vm_name[PW_VM_NAME_MAX + 1];
    char src_host[PW_TEXT_MAX + 1];
    char lock_gid[PW_OPERATOR_ID_MAX + 1];
    bool lock_exclusive;
    size_t n_followers; /* the readers that follow it here (conhold.h) */
    char followers[PW_FOLLOWERS_MAX][CHOLD_KEY_MAX + 1];
    struct evbuffer *sb;
    struct hin_queue held;
    TAILQ_ENTRY(vxn_in) link;
};

struct vxn {
    struct proxy *px;
    struct pl *pl;
    struct vxn_hooks hooks;
    struct vmo_route route;
    TAILQ_HEAD(, vxn_out) outs;
    TAILQ_HEAD(, vxn_in) ins;
    struct vxn_stats st;
};

/* ---- the owner's side ---------------------------------------------------- */

static void
vxn_out_free(struct vxn_out *o)
{
    TAILQ_REMOVE(&o->x->outs, o, link);
    free(o);
}

static struct vxn_out *
vxn_out_find(struct vxn *x, const char *node, uint64_t req_id)
{
    struct vxn_out *o;

    TAILQ_FOREACH (o, &x->outs, link)
        if (o->req_id == req_id && strcmp(o->node, node) == 0)
            return o;
    return NULL;
}

static void
vxn_out_accept(struct vmo_dest *d, const uint8_t *seq, size_t n)
{
    struct vxn_out *o = VSPC_CONTAINER_OF(d, struct vxn_out, d);
    struct console *c = d->vmo->con;
    struct pw_validate_reply r = {.request_id = o->req_id, .ok = true};
    struct pl_link *l = pl_link_get(o->x->pl, o->node);

    (void)seq;
    (void)n;
    snprintf(r.console_id, sizeof(r.console_id), "%s", c->id);
    r.epoch = c->epoch;
    o->x->st.out_validated++;
    if (l == NULL || pl_send_validate_reply(l, &r) != 0)
        log_warnx("console=%s vmotion: PEER-OK for node %s not sent (link "
                  "down)",
                  c->id, o->node); /* its link_down ends it */
}

static void
vxn_splice_send(struct vxn *x, const char *node, uint64_t req_id,
                enum pw_splice_kind kind, const uint8_t *seq, size_t n)
{
    struct pw_splice sp = {.request_id = req_id, .kind = kind};
    struct pl_link *l = pl_link_get(x->pl, node);

    if (n > sizeof(sp.seq))
        n = sizeof(sp.seq);
    if (n > 0)
        memcpy(sp.seq, seq, n);
    sp.seq_len = n;
    if (l)
        pl_send_splice(l, &sp);
}

static void
vxn_out_drop(struct vmo_dest *d, const char *why)
{
    struct vxn_out *o = VSPC_CONTAINER_OF(d, struct vxn_out, d);

    log_info("vmotion: destination on node %s dropped: %s", o->node, why);
    vxn_splice_send(o->x, o->node, o->req_id, PW_SPLICE_CANCEL, NULL, 0);
    vxn_out_free(o);
}

/* The operator id of a lock holder, as the other node will know it. */
static void
vxn_op_name(struct vxn *x, uint64_t id, char *out, size_t cap)
{
    if (id == 0)
        out[0] = '\0';
    else
        snprintf(out, cap, "%s/%" PRIu64, x->px->cfg.node_id, id);
}

/* The handover record to o's node, in as many frames as it takes. 0, or
 * -1 when the link went down (nothing left this node for good). */
static int
vxn_send_record(struct vxn_out *o, struct pl_link *l,
                const struct vmo_handover *h, uint64_t epoch)
{
    struct console *c = h->con;
    struct pw_handover *f = calloc(1, sizeof(*f));
    uint64_t sb = h->sb_from;
    bool first = true;
    int rc = 0;

    if (f == NULL)
        return -1;
    for (;;) {
        size_t used = 0;
        const uint8_t *p;
        uint64_t op, seq;
        size_t n;

        memset(f, 0, offsetof(struct pw_handover, held_bytes));
        snprintf(f->console_id, sizeof(f->console_id), "%s", c->id);
        f->epoch = epoch;
        f->offset = h->offset;
        f->old_epoch = h->old_epoch;
        snprintf(f->vm_name, sizeof(f->vm_name), "%s", c->name);
        memcpy(f->vmotion_seq, h->seq, h->seq_len);
        f->vmotion_seq_len = h->seq_len;
        f->request_id = o->req_id;
        f->record_version = h->version;
        snprintf(f->write_lock, sizeof(f->write_lock), "%.*s",
                 (int)sizeof(f->write_lock) - 1, h->lock_gid);
        if (h->lock_exclusive)
            snprintf(f->exclusive, sizeof(f->exclusive), "%s", f->write_lock);
        snprintf(f->src_host, sizeof(f->src_host), "%s", h->src_addr);
        if (first) { /* a frame of its own first: who follows */
            const char *keys[PW_FOLLOWERS_MAX];
            size_t nk = strm_followers(&c->out, keys, PW_FOLLOWERS_MAX);

            first = false;
            for (size_t i = 0; i < nk; i++)
                snprintf(f->followers[f->n_followers++],
                         sizeof(f->followers[0]), "%s", keys[i]);
            if (f->n_followers > 0) {
                f->more = true;
                if (pl_send_handover(l, f) != 0) {
                    rc = -1;
                    break;
                }
                continue;
            }
        }
        /* Held input, oldest first. */
        while (f->n_held < PW_HELD_MAX &&
               (n = hin_peek(h->held, &p, &op, &seq)) > 0) {
            if (n > PW_INPUT_MAX)
                n = PW_INPUT_MAX;
            if (n > PW_HELD_BYTES_MAX - used)
                break;
            vxn_op_name(o->x, op ? op : 1, f->held[f->n_held].operator_id,
                        sizeof(f->held[0].operator_id));
            f->held[f->n_held].seq = seq;
            f->held[f->n_held].off = (uint32_t)used;
            f->held[f->n_held].len = (uint32_t)n;
            memcpy(f->held_bytes + used, p, n);
            used += n;
            f->n_held++;
            o->x->st.handover_bytes += n;
            hin_take(h->held, n);
        }
        /* A chunk of scrollback. */
        f->sb_from = sb;
        while (f->sb_len < PW_SCROLLBACK_CHUNK && sb < h->offset) {
            size_t k = ring_peek(&c->out.ring, sb, &p);

            if (k == 0)
                break;
            if (k > PW_SCROLLBACK_CHUNK - f->sb_len)
                k = PW_SCROLLBACK_CHUNK - f->sb_len;
            if (k > h->offset - sb)
                k = (size_t)(h->offset - sb);
            memcpy(f->sb + f->sb_len, p, k);
            f->sb_len += k;
            sb += k;
        }
        f->more = hin_len(h->held) > 0 || sb < h->offset;
        if (f->sb_len == 0 && f->more && sb < h->offset)
            sb = h->offset; /* the ring lost it: nothing more to send */
        if (pl_send_handover(l, f) != 0) {
            rc = -1;
            break;
        }
        if (!f->more)
            break;
    }
    free(f);
    return rc;
}

static void
vxn_out_handover(struct vmo_dest *d, const struct vmo_handover *h)
{
    struct vxn_out *o = VSPC_CONTAINER_OF(d, struct vxn_out, d);
    struct vxn *x = o->x;
    struct console *c = h->con;
    struct pl_link *l = pl_link_get(x->pl, o->node);
    uint64_t epoch = epoch_next(h->old_epoch, o->node_index);
    char node[PW_NODE_ID_MAX + 1];

    snprintf(node, sizeof(node), "%s", o->node);
    if (l == NULL || vxn_send_record(o, l, h, epoch) != 0) {
        /* The destination's node went away: the console stays here,
         * without a hypervisor, until its VM reconnects. */
        log_warnx("console=%s vmotion: handover to node %s failed (link "
                  "down): the console waits here for its VM",
                  c->id, node);
        con_event(c, "vMotion handover to node %s failed: waiting for the VM",
                  node);
        vxn_out_free(o);
        con_update_input_flow(c);
        return;
    }
    x->st.out_handovers++;
    log_info("console=%s handed over to node %s at offset %" PRIu64
             " (epoch %" PRIu64 " -> %" PRIu64 ")",
             c->id, node, h->offset, h->old_epoch, epoch);
    vxn_out_free(o);
    if (x->hooks.moved)
        x->hooks.moved(x->hooks.arg, c->id, node, epoch, h->offset);
    /* Operators here and remote readers follow it there. */
    con_moved(c, node, epoch);
    con_check_expire(c);
}

static const struct vmo_dest_ops vxn_out_ops = {
    .accept = vxn_out_accept,
    .drop = vxn_out_drop,
    .handover = vxn_out_handover,
};

void
vxn_validate(struct vxn *x, struct pl_link *l, const struct pw_validate *v)
{
    struct pw_validate_reply r = {.request_id = v->request_id};
    uint8_t p[PW_VMOTION_SEQ_MAX + PW_SECRET_MAX];
    struct pl_link_stats ls;
    struct vxn_out *o;

    if (x == NULL || v->seq_len + v->secret_len > sizeof(p) ||
        (o = calloc(1, sizeof(*o))) == NULL) {
        pl_send_validate_reply(l, &r);
        return;
    }
    pl_link_stats(l, &ls);
    o->x = x;
    o->d.ops = &vxn_out_ops;
    o->d.remote = true;
    snprintf(o->node, sizeof(o->node), "%s", pl_link_node(l));
    snprintf(o->d.addr, sizeof(o->d.addr), "node %s", o->node);
    o->node_index = ls.node_index;
    o->req_id = v->request_id;
    memcpy(p, v->seq, v->seq_len);
    memcpy(p + v->seq_len, v->secret, v->secret_len);
    TAILQ_INSERT_TAIL(&x->outs, o, link);
    if (!vmo_peer_remote(x->px, &o->d, p, v->seq_len + v->secret_len)) {
        vxn_out_free(o);
        pl_send_validate_reply(l, &r);
    }
}

/* ---- the destination's side ---------------------------------------------- */

static void vxn_in_run(struct vxn_in *in, enum vxn_in_event ev);

static void
vxn_in_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    vxn_in_run(arg, VE_TIMEOUT);
}

static struct vxn_in *
vxn_in_find(struct vxn *x, const char *node, uint64_t req_id)
{
    struct vxn_in *in;

    TAILQ_FOREACH (in, &x->ins, link)
        if (in->req_id == req_id && strcmp(in->node, node) == 0)
            return in;
    return NULL;
}

static void
vxn_in_free(struct vxn_in *in)
{
    if (in->s && in->s->xpeer == in)
        in->s->xpeer = NULL;
    TAILQ_REMOVE(&in->x->ins, in, link);
    if (in->timer)
        event_free(in->timer);
    if (in->sb)
        evbuffer_free(in->sb);
    hin_free(&in->held);
    free(in);
}

static bool
vxn_route_peer(void *arg, struct session *s, uint8_t node_index,
               const uint8_t *p, size_t n)
{
    struct vxn *x = arg;
    struct pl_link *l = pl_link_by_index(x->pl, node_index);
    struct vxn_in *in;
    size_t seq_len = n - VMX_SECRET_LEN;

    if (l == NULL) {
        x->st.in_no_owner++;
        log_warnx("session=%llu %s: PEER for a vMotion of node index %u, "
                  "which this node has no link to (dead or unknown): no "
                  "answer",
                  (unsigned long long)s->id, s->peer_addr, node_index);
        return false;
    }
    if (seq_len > VMX_SEQ_MAX || (in = calloc(1, sizeof(*in))) == NULL)
        return false;
    in->x = x;
    in->s = s;
    in->st = IN_VALIDATING;
    hin_init(&in->held);
    memcpy(in->seq, p, seq_len);
    in->seq_len = seq_len;
    snprintf(in->node, sizeof(in->node), "%s", pl_link_node(l));
    in->timer = evtimer_new(x->px->base, vxn_in_timer_cb, in);
    in->sb = evbuffer_new();
    TAILQ_INSERT_TAIL(&x->ins, in, link);
    if (in->timer == NULL || in->sb == NULL ||
        (in->req_id = pl_validate(l, NULL, p, seq_len, p + seq_len,
                                  VMX_SECRET_LEN, VXN_VALIDATE_SECS)) == 0) {
        vxn_in_free(in);
        return false;
    }
    s->xpeer = in;
    x->st.in_forwarded++;
    log_debug("session=%llu %s: PEER for a vMotion of node %s: asking it",
              (unsigned long long)s->id, s->peer_addr, in->node);
    return true;
}

static void
vxn_route_complete(void *arg, struct session *s, const uint8_t *seq, size_t n)
{
    struct vxn_in *in = s->xpeer;

    (void)arg;
    if (in == NULL || s->state != SESS_ST_PEER || n != in->seq_len ||
        memcmp(seq, in->seq, n) != 0) {
        log_info("session=%llu %s: COMPLETE not for its vMotion: ignored",
                 (unsigned long long)s->id, s->peer_addr);
        return;
    }
    vxn_in_run(in, VE_COMPLETE);
}

static void
vxn_route_gone(void *arg, struct session *s)
{
    struct vxn_in *in = s->xpeer;

    (void)arg;
    s->xpeer = NULL;
    if (in) {
        in->s = NULL;
        vxn_in_run(in, VE_SESSION_GONE);
    }
}

/* The console is ours now: the stream goes on where the old owner's
 * ended, with its scrollback; the held input goes first. */
static void
vxn_install(struct vxn_in *in)
{
    struct vxn *x = in->x;
    struct proxy *px = x->px;
    struct session *s = in->s;
    char uuid[VMX_UUID_HEX + 1], label[VMX_LABEL_MAX + 1];
    const char *dot = strchr(in->console_id, '.');
    size_t sb_len = evbuffer_get_length(in->sb);
    uint64_t resume = UINT64_MAX;
    char self[72];
    struct console *c;
    struct con_hv *old;
    const uint8_t *p;
    uint64_t op, seq;
    size_t n;

    snprintf(uuid, sizeof(uuid), "%.*s", VMX_UUID_HEX, in->console_id);
    snprintf(label, sizeof(label), "%s", dot ? dot + 1 : "");
    if ((c = con_get(px->consoles, uuid, label[0] ? label : NULL)) == NULL ||
        strcmp(c->id, in->console_id) != 0) {
        log_warnx("console=%s handover from node %s: cannot make the console "
                  "here: claiming it instead",
                  in->console_id, in->node);
        if (s)
            sess_claim(s);
        return;
    }
    if (c->vmo)
        vmo_cancel(c, "taken over by a vMotion from another node");
    if ((old = c->owner) != NULL && (s == NULL || old != &s->hv)) {
        con_owner_gone(c, old);
        old->ops->replaced(old, "replaced by a vMotion from another node");
    }
    if (x->hooks.log_resume)
        resume = x->hooks.log_resume(x->hooks.arg, c->id);
    if (resume == UINT64_MAX)
        resume = in->offset;
    if (sb_len > in->offset - in->sb_from)
        sb_len = (size_t)(in->offset - in->sb_from);
    strm_seed(&c->out, in->offset - sb_len,
              evbuffer_pullup(in->sb, (ssize_t)sb_len), sb_len, resume);
    /* Every byte from here on waits for the readers that follow. */
    snprintf(self, sizeof(self), "log:%.63s", px->cfg.node_id);
    chold_start(c, (const char(*)[CHOLD_KEY_MAX + 1]) in->followers,
                in->n_followers, self);
    /* The owner's epoch counter under this node's index: the claim below
     * (con_set_owner) takes the next one, the epoch the old owner told
     * everyone. */
    if (c->epoch < epoch_make(epoch_counter(in->old_epoch), px->cfg.node_index))
        c->epoch = epoch_make(epoch_counter(in->old_epoch), px->cfg.node_index);
    while ((n = hin_peek(&in->held, &p, &op, &seq)) > 0) {
        if (hin_add(&c->held, 0, seq, p, n) != 0)
            log_warnx("console=%s handover: %zu held bytes not kept (out of "
                      "memory)",
                      c->id, n);
        x->st.handover_bytes += n;
        hin_take(&in->held, n);
    }
    /* The lock holder keeps its lock while it follows the console here. */
    if (in->lock_gid[0])
        con_reserve_lock(c, in->lock_gid, in->lock_exclusive,
                         VXN_LOCK_KEEP_SECS);
    x->st.in_installed++;
    log_info("console=%s taken over from node %s at offset %" PRIu64
             " (%zu bytes of scrollback, %zu held)",
             c->id, in->node, in->offset, sb_len, hin_len(&c->held));
    con_event(c,
              "vMotion from node %s (host %s) complete: the console continues "
              "on node %s",
              in->node, in->src_host[0] ? in->src_host : "?", px->cfg.node_id);
    if (s) {
        s->xpeer = NULL;
        in->s = NULL;
        sess_become_owner(s, c); /* the held input first, a new epoch */
    } else {
        c->epoch = epoch_next(c->epoch, px->cfg.node_index);
        con_check_expire(c);
    }
    if (in->vm_name[0] && c->name[0] == '\0')
        con_set_name(c, in->vm_name);
}

static void
vxn_in_run(struct vxn_in *in, enum vxn_in_event ev)
{
    struct vxn *x = in->x;
    struct vxn_step step = vxn_table[in->st][ev];
    struct session *s = in->s;
    struct timeval tv;
    double t;

    log_debug("vmotion from node %s (request %" PRIu64 "): %s + %s -> %s (%s)",
              in->node, in->req_id, vxn_state_str(in->st), vxn_event_str(ev),
              vxn_state_str((enum vxn_in_state)step.next),
              vxn_action_str((enum vxn_in_action)step.action));
    in->st = (enum vxn_in_state)step.next;
    switch ((enum vxn_in_action)step.action) {
    case A_NONE:
        break;
    case A_ACCEPT:
        if (s == NULL) { /* the connection went meanwhile */
            vxn_splice_send(x, in->node, in->req_id, PW_SPLICE_GONE, in->seq,
                            in->seq_len);
            in->st = IN_END;
            break;
        }
        log_debug("session=%llu %s: node %s accepted its PEER for console %s: "
                  "PEER-OK",
                  (unsigned long long)s->id, s->peer_addr, in->node,
                  in->console_id);
        sess_become_peer(s, in->seq, in->seq_len);
        break;
    case A_REJECT:
        x->px->stats.peer_rejected++;
        if (s)
            log_warnx("session=%llu %s: node %s did not accept its PEER: no "
                      "answer",
                      (unsigned long long)s->id, s->peer_addr, in->node);
        break;
    case A_COMPLETE:
        vxn_splice_send(x, in->node, in->req_id, PW_SPLICE_COMPLETE, in->seq,
                        in->seq_len);
        t = 2 * x->px->cfg.vmotion_timeout + 1;
        tv.tv_sec = (time_t)t;
        tv.tv_usec = 0;
        evtimer_add(in->timer, &tv);
        break;
    case A_INSTALL:
        vxn_install(in);
        break;
    case A_DROP:
        if (s) {
            s->xpeer = NULL;
            in->s = NULL;
            sess_close(s, ev == VE_CANCEL
                              ? "vMotion ended by the console's owner"
                              : "the console's owner node is gone");
        }
        break;
    case A_CLAIM:
        if (s) {
            x->st.in_claimed++;
            log_warnx("console=%s vMotion from node %s: %s after COMPLETE: "
                      "the VM's new connection claims the console here",
                      in->console_id, in->node,
                      ev == VE_TIMEOUT  ? "no handover"
                      : ev == VE_CANCEL ? "cancelled"
                                        : "node lost");
            s->xpeer = NULL;
            in->s = NULL;
            sess_claim(s);
        }
        break;
    case A_DETACH:
        in->s = NULL;
        break;
    case A_TELL_GONE:
        vxn_splice_send(x, in->node, in->req_id, PW_SPLICE_GONE, in->seq,
                        in->seq_len);
        break;
    case A__COUNT:
        break;
    }
    if (in->st == IN_END)
        vxn_in_free(in);
}

void
vxn_validate_done(struct vxn *x, struct pl_link *l, uint64_t request_id,
                  enum pl_val_status status, const struct pw_validate_reply *r)
{
    struct vxn_in *in;

    if (x == NULL || (in = vxn_in_find(x, pl_link_node(l), request_id)) == NULL)
        return;
    if (status == PL_VAL_REPLY && r && r->ok) {
        snprintf(in->console_id, sizeof(in->console_id), "%s", r->console_id);
        vxn_in_run(in, VE_REPLY_OK);
    } else {
        vxn_in_run(in, status == PL_VAL_LINKDOWN ? VE_LINK_DOWN : VE_REPLY_NO);
    }
}

void
vxn_splice(struct vxn *x, struct pl_link *l, const struct pw_splice *sp)
{
    const char *node = pl_link_node(l);
    struct vxn_out *o;
    struct vxn_in *in;

    if (x == NULL)
        return;
    switch (sp->kind) {
    case PW_SPLICE_COMPLETE:
        if ((o = vxn_out_find(x, node, sp->request_id)) != NULL)
            vmo_dest_complete(&o->d, sp->seq, sp->seq_len); /* o may go */
        break;
    case PW_SPLICE_GONE:
        if ((o = vxn_out_find(x, node, sp->request_id)) != NULL) {
            vmo_dest_gone(&o->d);
            vxn_out_free(o);
        }
        break;
    case PW_SPLICE_CANCEL:
        if ((in = vxn_in_find(x, node, sp->request_id)) != NULL)
            vxn_in_run(in, VE_CANCEL);
        break;
    }
}

void
vxn_handover(struct vxn *x, struct pl_link *l, const struct pw_handover *h)
{
    struct vxn_in *in;

    if (x == NULL ||
        (in = vxn_in_find(x, pl_link_node(l), h->request_id)) == NULL ||
        in->st != IN_COMPLETING || strcmp(h->console_id, in->console_id) != 0) {
        log_warnx("console=%s handover from node %s for no vMotion in "
                  "progress here: ignored",
                  h->console_id, pl_link_node(l));
        return;
    }
    if (!in->rec_started) {
        in->rec_started = true;
        in->epoch = h->epoch;
        in->old_epoch = h->old_epoch;
        in->offset = h->offset;
        in->sb_from = h->offset; /* until a frame brings scrollback */
        snprintf(in->vm_name, sizeof(in->vm_name), "%s", h->vm_name);
        snprintf(in->src_host, sizeof(in->src_host), "%s", h->src_host);
        snprintf(in->lock_gid, sizeof(in->lock_gid), "%s", h->write_lock);
        in->lock_exclusive = h->exclusive[0] != '\0';
        for (unsigned i = 0; i < h->n_followers && i < PW_FOLLOWERS_MAX; i++)
            snprintf(in->followers[in->n_followers++], sizeof(in->followers[0]),
                     "%s", h->followers[i]);
    }
    if (h->sb_len > 0 && evbuffer_get_length(in->sb) == 0 &&
        in->sb_from == in->offset && h->sb_from <= in->offset)
        in->sb_from = h->sb_from; /* the first chunk */
    if (h->sb_len > 0 &&
        evbuffer_get_length(in->sb) + h->sb_len <= VXN_SB_MAX &&
        h->sb_from == in->sb_from + evbuffer_get_length(in->sb))
        evbuffer_add(in->sb, h->sb, h->sb_len);
    for (unsigned i = 0; i < h->n_held; i++) {
        /* Bounded like input held here (the old owner held no more). */
        if (hin_len(&in->held) + h->held[i].len > VXN_HELD_MAX(x)) {
            log_warnx("console=%s handover from node %s: more held input "
                      "than %zu bytes: %u bytes dropped",
                      in->console_id, in->node, VXN_HELD_MAX(x),
                      h->held[i].len);
            continue;
        }
        if (hin_add(&in->held, 0, h->held[i].seq,
                    h->held_bytes + h->held[i].off, h->held[i].len) != 0)
            log_warnx("console=%s handover: %u held bytes lost (out of "
                      "memory)",
                      in->console_id, h->held[i].len);
    }
    if (!h->more)
        vxn_in_run(in, VE_HANDOVER);
}

void
vxn_link_down(struct vxn *x, struct pl_link *l)
{
    const char *node = pl_link_node(l);
    struct vxn_out *o, *onext;
    struct vxn_in *in, *inext;

    if (x == NULL)
        return;
    for (o = TAILQ_FIRST(&x->outs); o; o = onext) {
        onext = TAILQ_NEXT(o, link);
        if (strcmp(o->node, node) == 0) {
            vmo_dest_gone(&o->d);
            vxn_out_free(o);
        }
    }
    for (in = TAILQ_FIRST(&x->ins); in; in = inext) {
        inext = TAILQ_NEXT(in, link);
        if (strcmp(in->node, node) == 0 && in->st != IN_VALIDATING)
            vxn_in_run(in, VE_LINK_DOWN); /* validations: validate_done */
    }
}

/* ---- the instance -------------------------------------------------------- */

struct vxn *
vxn_new(struct proxy *px, struct pl *pl, const struct vxn_hooks *hooks)
{
    struct vxn *x = calloc(1, sizeof(*x));

    if (x == NULL)
        return NULL;
    x->px = px;
    x->pl = pl;
    if (hooks)
        x->hooks = *hooks;
    TAILQ_INIT(&x->outs);
    TAILQ_INIT(&x->ins);
    x->route.peer = vxn_route_peer;
    x->route.complete = vxn_route_complete;
    x->route.gone = vxn_route_gone;
    x->route.arg = x;
    px->vmroute = &x->route;
    return x;
}

void
vxn_free(struct vxn **xp)
{
    struct vxn *x = *xp;
    struct vxn_out *o;
    struct vxn_in *in;

    if (x == NULL)
        return;
    while ((o = TAILQ_FIRST(&x->outs)) != NULL) {
        vmo_dest_gone(&o->d);
        vxn_out_free(o);
    }
    while ((in = TAILQ_FIRST(&x->ins)) != NULL) {
        struct session *s = in->s;

        vxn_in_free(in);
        if (s)
            sess_close(s, "node shutting down");
    }
    if (x->px->vmroute == &x->route)
        x->px->vmroute = NULL;
    free(x);
    *xp = NULL;
}

void
vxn_stats(const struct vxn *x, struct vxn_stats *out)
{
    if (x == NULL)
        memset(out, 0, sizeof(*out));
    else
        *out = x->st;
}
