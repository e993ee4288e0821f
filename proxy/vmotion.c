/* vmotion.c: see vmotion.h. */
#include "vspc/compat.h"
#include "vmotion.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "vspc/log.h"
#include "audit.h"
#include "console.h"
#include "session.h"

/* Up to ESXi's 5 s vmotionLimit, where the vMotion is cancelled. */
const uint64_t vmo_latency_bounds_us[VMO_LAT_BUCKETS] = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000,
};

#define S(n, a)                                                                \
    {                                                                          \
        VMO_ST_##n, VMO_ACT_##a                                                \
    }
/* vmo_table[state][event]: the whole vMotion machine of one console. */
const struct vmo_step vmo_table[VMO_ST__COUNT][VMO_EV__COUNT] =
    {
        [VMO_ST_IDLE] =
            {
                [VMO_EV_BEGIN] = S(GOAHEAD, GOAHEAD),
                [VMO_EV_PEER_VALID] = S(IDLE, NONE),
                [VMO_EV_COMPLETE_PEER] = S(IDLE, NONE),
                [VMO_EV_COMPLETE_OTHER] = S(IDLE, NONE),
                [VMO_EV_ABORT_SOURCE] = S(IDLE, NONE),
                [VMO_EV_ABORT_OTHER] = S(IDLE, NONE),
                [VMO_EV_SOURCE_GONE] = S(IDLE, NONE),
                [VMO_EV_PEER_GONE] = S(IDLE, NONE),
                [VMO_EV_TIMEOUT] = S(IDLE, NONE),
                [VMO_EV_SOURCE_DRAINED] = S(IDLE, NONE),
            },
        [VMO_ST_GOAHEAD] =
            {
                [VMO_EV_BEGIN] = S(GOAHEAD, NOTNOW),
                [VMO_EV_PEER_VALID] = S(PEER_OK, PEER_OK),
                [VMO_EV_COMPLETE_PEER] = S(GOAHEAD, NONE),
                [VMO_EV_COMPLETE_OTHER] = S(GOAHEAD, NONE),
                [VMO_EV_ABORT_SOURCE] = S(IDLE, ABORT),
                [VMO_EV_ABORT_OTHER] = S(GOAHEAD, NONE),
                [VMO_EV_SOURCE_GONE] = S(GOAHEAD, SOURCE_GONE),
                [VMO_EV_PEER_GONE] = S(GOAHEAD, NONE),
                [VMO_EV_TIMEOUT] = S(IDLE, EXPIRE),
                [VMO_EV_SOURCE_DRAINED] = S(GOAHEAD, NONE),
            },
        [VMO_ST_PEER_OK] =
            {
                [VMO_EV_BEGIN] = S(PEER_OK, NOTNOW),
                [VMO_EV_PEER_VALID] = S(PEER_OK, NONE),
                [VMO_EV_COMPLETE_PEER] = S(HANDOVER, SWITCH),
                [VMO_EV_COMPLETE_OTHER] = S(PEER_OK, NONE),
                [VMO_EV_ABORT_SOURCE] = S(IDLE, ABORT),
                [VMO_EV_ABORT_OTHER] = S(PEER_OK, NONE),
                [VMO_EV_SOURCE_GONE] = S(PEER_OK, SOURCE_GONE),
                [VMO_EV_PEER_GONE] = S(GOAHEAD, PEER_LOST),
                [VMO_EV_TIMEOUT] = S(IDLE, EXPIRE),
                [VMO_EV_SOURCE_DRAINED] = S(PEER_OK, NONE),
            },
        [VMO_ST_HANDOVER] =
            {
                [VMO_EV_BEGIN] = S(HANDOVER, NOTNOW),
                [VMO_EV_PEER_VALID] = S(HANDOVER, NONE),
                [VMO_EV_COMPLETE_PEER] = S(HANDOVER, NONE),
                [VMO_EV_COMPLETE_OTHER] = S(HANDOVER, NONE),
                [VMO_EV_ABORT_SOURCE] = S(HANDOVER, NONE),
                [VMO_EV_ABORT_OTHER] = S(HANDOVER, NONE),
                [VMO_EV_SOURCE_GONE] = S(IDLE, HANDOVER),
                [VMO_EV_PEER_GONE] = S(IDLE, DEST_LOST),
                [VMO_EV_TIMEOUT] = S(IDLE, HANDOVER),
                [VMO_EV_SOURCE_DRAINED] = S(IDLE, HANDOVER),
            },
};
#undef S

static const char *const vmo_state_names[VMO_ST__COUNT] = {
    "IDLE", "GOAHEAD", "PEER_OK", "HANDOVER"};
static const char *const vmo_event_names[VMO_EV__COUNT] = {
    "BEGIN",        "PEER_VALID",    "COMPLETE_PEER", "COMPLETE_OTHER",
    "ABORT_SOURCE", "ABORT_OTHER",   "SOURCE_GONE",   "PEER_GONE",
    "TIMEOUT",      "SOURCE_DRAINED"};
static const char *const vmo_action_names[VMO_ACT__COUNT] = {
    "NONE",   "GOAHEAD",     "NOTNOW",    "PEER_OK",  "SWITCH",   "ABORT",
    "EXPIRE", "SOURCE_GONE", "PEER_LOST", "HANDOVER", "DEST_LOST"};

const char *
vmo_state_str(enum vmo_state st)
{
    return (unsigned)st < VMO_ST__COUNT ? vmo_state_names[st] : "???";
}

const char *
vmo_event_str(enum vmo_event ev)
{
    return (unsigned)ev < VMO_EV__COUNT ? vmo_event_names[ev] : "???";
}

const char *
vmo_action_str(enum vmo_action act)
{
    return (unsigned)act < VMO_ACT__COUNT ? vmo_action_names[act] : "???";
}

/* Every pending vMotion of this node: PEER is matched against these. */
struct vmo_node {
    struct vmotion *vmo;
    TAILQ_ENTRY(vmo_node) link;
};
static TAILQ_HEAD(, vmo_node) vmo_pending = TAILQ_HEAD_INITIALIZER(vmo_pending);

static uint64_t
vmo_us_between(const struct timespec *a, const struct timespec *b)
{
    int64_t us = (int64_t)(b->tv_sec - a->tv_sec) * 1000000 +
                 (b->tv_nsec - a->tv_nsec) / 1000;

    return us < 0 ? 0 : (uint64_t)us;
}

static void
vmo_hex(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 3 <= cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%02x", p[i]);
    if (o < cap)
        out[o] = '\0';
}

/* The audit record (log line and px->audit), then free. c->vmo, session
 * links cleared. */
static void
vmo_end(struct vmotion *vmo, enum aud_outcome outcome, const char *reason)
{
    struct console *c = vmo->con;
    struct vmo_node *n;
    struct timespec now;
    struct aud_rec rec;
    char seq[2 * 64 + 1];

    clock_gettime(CLOCK_MONOTONIC, &now);
    memset(&rec, 0, sizeof(rec));
    snprintf(rec.con_id, sizeof(rec.con_id), "%s", c->id);
    snprintf(rec.vm_name, sizeof(rec.vm_name), "%s", c->name);
    memcpy(rec.seq, vmo->seq, vmo->seq_len);
    rec.seq_len = (uint8_t)vmo->seq_len;
    rec.outcome = (uint8_t)outcome;
    snprintf(rec.src, sizeof(rec.src), "%s", vmo->src_addr);
    snprintf(rec.dst, sizeof(rec.dst), "%s", vmo->peer_addr);
    snprintf(rec.reason, sizeof(rec.reason), "%s", reason ? reason : "");
    rec.started = vmo->t_wall;
    rec.begin_goahead_us =
        (int64_t)vmo_us_between(&vmo->t_begin, &vmo->t_goahead);
    rec.peer_peerok_us =
        vmo->t_peer.tv_sec
            ? (int64_t)vmo_us_between(&vmo->t_peer, &vmo->t_peer_ok)
            : -1;
    rec.total_ms = vmo_us_between(&vmo->t_begin, &now) / 1000;
    rec.held_bytes = hin_len(&c->held);
    aud_add(c->px->audit, &rec);
    vmo_hex(vmo->seq, vmo->seq_len < 64 ? vmo->seq_len : 64, seq, sizeof(seq));
    log_info(
        "console=%s vmotion seq=%s outcome=%s src=%s dst=%s "
        "begin_goahead_us=%llu peer_peerok_us=%llu total_ms=%llu "
        "held_bytes=%llu",
        c->id, seq, aud_outcome_str(outcome), vmo->src_addr,
        vmo->peer_addr[0] ? vmo->peer_addr : "-",
        (unsigned long long)rec.begin_goahead_us,
        (unsigned long long)(rec.peer_peerok_us < 0 ? 0 : rec.peer_peerok_us),
        (unsigned long long)rec.total_ms, (unsigned long long)rec.held_bytes);
    TAILQ_FOREACH (n, &vmo_pending, link) {
        if (n->vmo == vmo) {
            TAILQ_REMOVE(&vmo_pending, n, link);
            free(n);
            break;
        }
    }
    if (vmo->dest && vmo->dest->vmo == vmo)
        vmo->dest->vmo = NULL;
    if (vmo->timer)
        event_free(vmo->timer);
    OPENSSL_cleanse(vmo->secret, sizeof(vmo->secret));
    c->vmo = NULL;
    free(vmo);
    con_check_expire(c);
}

static void vmo_run(struct console *c, enum vmo_event ev, struct session *s,
                    struct vmo_dest *d, const uint8_t *p, size_t n);

static void
vmo_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct vmotion *vmo = arg;

    vmo_run(vmo->con, VMO_EV_TIMEOUT, NULL, NULL, NULL, 0);
}

static void
vmo_arm(struct vmotion *vmo, double secs)
{
    struct timeval tv;

    tv.tv_sec = (time_t)secs;
    tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
    evtimer_add(vmo->timer, &tv);
}

static int
vmo_start(struct console *c, struct session *src, const uint8_t *seq, size_t n,
          const struct timespec *t0)
{
    struct proxy *px = c->px;
    struct vmotion *vmo = calloc(1, sizeof(*vmo));
    struct vmo_node *node = calloc(1, sizeof(*node));

    if (vmo == NULL || node == NULL)
        goto fail;
    vmo->secret[0] = px->cfg.node_index;
    if (RAND_bytes(vmo->secret + 1, VMX_SECRET_LEN - 1) != 1) {
        log_errorx("console=%s RAND_bytes failed: refusing vMotion", c->id);
        goto fail;
    }
    vmo->timer = evtimer_new(px->base, vmo_timer_cb, vmo);
    if (vmo->timer == NULL)
        goto fail;
    vmo->state = VMO_ST_GOAHEAD;
    vmo->con = c;
    vmo->source = src;
    memcpy(vmo->seq, seq, n);
    vmo->seq_len = n;
    vmo->t_begin = *t0;
    clock_gettime(CLOCK_REALTIME, &vmo->t_wall);
    vmo->held_at_begin = hin_len(&c->held);
    snprintf(vmo->src_addr, sizeof(vmo->src_addr), "%s", src->peer_addr);
    vmo_arm(vmo, px->cfg.vmotion_timeout);
    node->vmo = vmo;
    TAILQ_INSERT_TAIL(&vmo_pending, node, link);
    c->vmo = vmo;
    /*
     * Everything queued toward the VM is already in the source's output
     * buffer ahead of this GOAHEAD (operator input is written through as
     * it is read), so sending GOAHEAD now delivers it first. From here on
     * con_op_input holds operator input.
     */
    sess_send_vmx(src, VMX_VMOTION_GOAHEAD, seq, n, vmo->secret,
                  VMX_SECRET_LEN);
    clock_gettime(CLOCK_MONOTONIC, &vmo->t_goahead);
    {
        uint64_t us = vmo_us_between(&vmo->t_begin, &vmo->t_goahead);

        c->px->goahead.count++;
        c->px->goahead.sum_us += us;
        if (us > c->px->goahead.max_us)
            c->px->goahead.max_us = us;
        for (size_t i = 0; i < VMO_LAT_BUCKETS; i++) {
            if (us <= vmo_latency_bounds_us[i]) {
                c->px->goahead.buckets[i]++;
                break;
            }
        }
    }
    px->stats.vmotion_begin++;
    log_debug("console=%s vmotion BEGIN from %s: GOAHEAD (seq %zu bytes)",
              c->id, src->peer_addr, n);
    con_event(c, "vMotion begins from %s", src->peer_addr);
    return 0;
fail:
    if (vmo && vmo->timer)
        event_free(vmo->timer);
    free(vmo);
    free(node);
    return -1;
}

static void
vmo_notnow(struct session *s, const uint8_t *seq, size_t n, const char *why)
{
    struct aud_rec rec;

    memset(&rec, 0, sizeof(rec));
    if (s->con) {
        snprintf(rec.con_id, sizeof(rec.con_id), "%s", s->con->id);
        snprintf(rec.vm_name, sizeof(rec.vm_name), "%s", s->con->name);
    }
    memcpy(rec.seq, seq, n);
    rec.seq_len = (uint8_t)n;
    rec.outcome = AUD_NOTNOW;
    snprintf(rec.src, sizeof(rec.src), "%s", s->peer_addr);
    snprintf(rec.reason, sizeof(rec.reason), "%s", why);
    clock_gettime(CLOCK_REALTIME, &rec.started);
    rec.begin_goahead_us = -1;
    rec.peer_peerok_us = -1;
    aud_add(s->px->audit, &rec);
    s->px->stats.vmotion_notnow++;
    log_info("console=%s vmotion BEGIN from %s: NOTNOW (%s)",
             s->con ? s->con->id : "-", s->peer_addr, why);
    sess_send_vmx(s, VMX_VMOTION_NOTNOW, seq, n, NULL, 0);
}

/* The handover record of vmo, now (the source delivered its last byte). */
static void
vmo_record(const struct vmotion *vmo, struct vmo_handover *h)
{
    struct console *c = vmo->con;

    memset(h, 0, sizeof(*h));
    h->version = VMO_HANDOVER_VERSION;
    h->con = c;
    h->old_epoch = c->epoch;
    h->offset = strm_end(&c->out);
    h->sb_from = strm_replay_start(&c->out);
    snprintf(h->lock_gid, sizeof(h->lock_gid), "%s", con_lock_holder(c, false));
    h->lock_exclusive = h->lock_gid[0] && c->excl_all == c->excl_writer;
    h->held = &c->held;
    memcpy(h->seq, vmo->seq, vmo->seq_len);
    h->seq_len = vmo->seq_len;
    snprintf(h->src_addr, sizeof(h->src_addr), "%s", vmo->src_addr);
}

/* COMPLETE, and the source is done: the destination takes the console. */
static void
vmo_handover(struct vmotion *vmo)
{
    struct console *c = vmo->con;
    struct vmo_dest *d = vmo->dest;
    struct session *src = vmo->source;
    struct vmo_handover h;
    char dst[sizeof(vmo->peer_addr)];

    /* The timer: what the source sends from now on is late. Unlinked
     * first: its drain's end must not run the machine again. */
    vmo->source = NULL;
    if (src)
        sess_stop_draining(src);
    vmo_record(vmo, &h);
    snprintf(dst, sizeof(dst), "%s", vmo->peer_addr);
    c->px->stats.vmotion_complete++;
    vmo_end(vmo, AUD_COMPLETE, NULL);
    if (d && d->remote) /* the markers name both nodes */
        con_event(c, "vMotion complete: node %s (host %s) -> %s",
                  c->px->cfg.node_id, h.src_addr, dst);
    else
        con_event(c, "vMotion complete: %s -> %s", h.src_addr, dst);
    if (d)
        d->ops->handover(d, &h);
}

/* The single funnel: look the step up, apply it. */
static void
vmo_run(struct console *c, enum vmo_event ev, struct session *s,
        struct vmo_dest *d, const uint8_t *p, size_t n)
{
    struct vmotion *vmo = c->vmo;
    enum vmo_state st = vmo ? vmo->state : VMO_ST_IDLE;
    struct vmo_step step = vmo_table[st][ev];
    struct timespec t0;
    struct vmo_dest *dest;
    struct session *src;
    char vmo_src[64];

    log_debug("console=%s vmotion %s + %s -> %s (%s)", c->id, vmo_state_str(st),
              vmo_event_str(ev), vmo_state_str(step.next),
              vmo_action_str(step.action));
    switch ((enum vmo_action)step.action) {
    case VMO_ACT_NONE:
        break;
    case VMO_ACT_GOAHEAD:
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (vmo_start(c, s, p, n, &t0) != 0)
            vmo_notnow(s, p, n, "cannot start");
        return;
    case VMO_ACT_NOTNOW:
        vmo_notnow(s, p, n, "a vMotion is already pending");
        return;
    case VMO_ACT_PEER_OK:
        vmo->state = VMO_ST_PEER_OK;
        vmo->dest = d;
        d->vmo = vmo;
        snprintf(vmo->peer_addr, sizeof(vmo->peer_addr), "%s", d->addr);
        clock_gettime(CLOCK_MONOTONIC, &vmo->t_peer);
        d->ops->accept(d, vmo->seq, vmo->seq_len);
        clock_gettime(CLOCK_MONOTONIC, &vmo->t_peer_ok);
        log_debug("console=%s vmotion PEER from %s: PEER-OK", c->id, d->addr);
        return;
    case VMO_ACT_SWITCH:
        vmo->state = VMO_ST_HANDOVER;
        src = vmo->source;
        log_debug("console=%s vmotion COMPLETE from %s%s", c->id,
                  vmo->peer_addr,
                  src ? ": the source's last output first" : "");
        if (src == NULL) {
            vmo_handover(vmo);
            return;
        }
        /* The source feeds the console until its FIN; the handover
         * follows (vmo_on_source_drained), at the latest on the timer. */
        evtimer_del(vmo->timer);
        vmo_arm(vmo, c->px->cfg.vmotion_timeout);
        sess_retire_source(src, c);
        return;
    case VMO_ACT_HANDOVER:
        vmo_handover(vmo);
        return;
    case VMO_ACT_DEST_LOST:
        if ((src = vmo->source) != NULL) {
            vmo->source = NULL; /* no re-entry from its drain's end */
            sess_stop_draining(src);
        }
        snprintf(vmo_src, sizeof(vmo_src), "%s", vmo->src_addr);
        vmo->dest = NULL;
        c->px->stats.vmotion_complete++;
        vmo_end(vmo, AUD_COMPLETE, "destination closed before the handover");
        con_event(c,
                  "vMotion complete but destination %s closed: waiting "
                  "for the VM to reconnect",
                  d ? d->addr : "?");
        con_update_input_flow(c);
        return;
    case VMO_ACT_ABORT:
    case VMO_ACT_EXPIRE:
        dest = vmo->dest;
        if (step.action == VMO_ACT_ABORT)
            c->px->stats.vmotion_abort++;
        else
            c->px->stats.vmotion_expired++;
        snprintf(vmo_src, sizeof(vmo_src), "%s", vmo->src_addr);
        vmo_end(vmo, step.action == VMO_ACT_ABORT ? AUD_ABORT : AUD_EXPIRED,
                NULL);
        con_event(c, "vMotion %s: staying on %s",
                  step.action == VMO_ACT_ABORT ? "aborted" : "expired",
                  vmo_src);
        if (dest)
            dest->ops->drop(dest, "vMotion ended before COMPLETE");
        con_flush_held(c);
        con_update_input_flow(c);
        return;
    case VMO_ACT_SOURCE_GONE:
        vmo->source = NULL;
        log_info("console=%s vmotion source %s closed before COMPLETE; "
                 "waiting",
                 c->id, vmo->src_addr);
        return;
    case VMO_ACT_PEER_LOST:
        vmo->state = VMO_ST_GOAHEAD;
        if (vmo->dest)
            vmo->dest->vmo = NULL;
        vmo->dest = NULL;
        log_info("console=%s vmotion peer %s closed before COMPLETE", c->id,
                 vmo->peer_addr);
        return;
    case VMO_ACT__COUNT:
        break;
    }
    if (vmo)
        vmo->state = step.next;
}

void
vmo_on_begin(struct session *s, const uint8_t *seq, size_t n)
{
    struct console *c = s->con;

    if (n == 0 || n > VMX_SEQ_MAX) {
        log_warnx("session=%llu BEGIN with a %zu-byte sequence: ignored",
                  (unsigned long long)s->id, n);
        return;
    }
    if (s->state != SESS_ST_ACTIVE || c == NULL || c->owner != &s->hv) {
        vmo_notnow(s, seq, n, "connection is not a console's owner");
        return;
    }
    if (s->px->cfg.refuse_vmotion) {
        vmo_notnow(s, seq, n, "node refuses vMotion (maintenance)");
        return;
    }
    if (s->px->draining && s->px->clu == NULL) { /* in a cluster: may leave */
        vmo_notnow(s, seq, n, "node draining");
        return;
    }
    vmo_run(c, VMO_EV_BEGIN, s, NULL, seq, n);
}

/* The pending vMotion whose seq||secret is p (not the one s is the source
 * of), or NULL. */
static struct vmotion *
vmo_match(const uint8_t *p, size_t n, const struct session *s)
{
    struct vmo_node *node;

    TAILQ_FOREACH (node, &vmo_pending, link) {
        struct vmotion *vmo = node->vmo;

        if (vmo->state != VMO_ST_GOAHEAD || vmo->dest != NULL ||
            vmo->secret_spent || n != vmo->seq_len + VMX_SECRET_LEN ||
            (s && vmo->source == s))
            continue;
        if (CRYPTO_memcmp(p, vmo->seq, vmo->seq_len) == 0 &&
            CRYPTO_memcmp(p + vmo->seq_len, vmo->secret, VMX_SECRET_LEN) == 0)
            return vmo;
    }
    return NULL;
}

/* vmo accepts d: one use, the secret is spent whatever happens next. */
static void
vmo_accept(struct vmotion *vmo, struct vmo_dest *d, const uint8_t *p, size_t n)
{
    vmo_run(vmo->con, VMO_EV_PEER_VALID, NULL, d, p, n);
    /* Spent: never matches again, even if the generator fails (a zero
     * secret is never handed out: GOAHEAD draws a random one). */
    if (RAND_bytes(vmo->secret, VMX_SECRET_LEN) != 1) {
        memset(vmo->secret, 0, VMX_SECRET_LEN);
        vmo->secret_spent = true;
    }
}

void
vmo_on_peer(struct session *s, const uint8_t *p, size_t n)
{
    const struct vmo_route *rt = s->px->vmroute;
    struct vmotion *vmo;
    uint8_t hint;

    if (s->state != SESS_ST_NEGOTIATING && s->state != SESS_ST_PROXY_REQ) {
        s->px->stats.peer_rejected++;
        log_warnx("session=%llu %s: PEER on a connection in state %s: "
                  "rejected",
                  (unsigned long long)s->id, s->peer_addr,
                  sess_state_str(s->state));
        return;
    }
    if ((vmo = vmo_match(p, n, s)) != NULL) {
        vmo_accept(vmo, sess_dest(s), p, n);
        return;
    }
    /* Another node's secret: its index is the secret's first byte. */
    if (n > VMX_SECRET_LEN) {
        hint = p[n - VMX_SECRET_LEN];
        if (rt && hint != s->px->cfg.node_index &&
            rt->peer(rt->arg, s, hint, p, n))
            return;
    }
    s->px->stats.peer_rejected++;
    log_warnx("session=%llu %s: PEER matches no pending vMotion (%zu bytes): "
              "no answer",
              (unsigned long long)s->id, s->peer_addr, n);
}

bool
vmo_peer_remote(struct proxy *px, struct vmo_dest *d, const uint8_t *p,
                size_t n)
{
    struct vmotion *vmo = vmo_match(p, n, NULL);

    if (vmo == NULL) {
        px->stats.peer_rejected++;
        log_warnx("vmotion: PEER from %s matches no pending vMotion here "
                  "(%zu bytes): refused",
                  d->addr, n);
        return false;
    }
    vmo_accept(vmo, d, p, n);
    return true;
}

void
vmo_dest_complete(struct vmo_dest *d, const uint8_t *seq, size_t n)
{
    struct vmotion *vmo = d->vmo;

    if (vmo && vmo->dest == d && n == vmo->seq_len &&
        memcmp(seq, vmo->seq, n) == 0)
        vmo_run(vmo->con, VMO_EV_COMPLETE_PEER, NULL, d, seq, n);
    else if (vmo)
        vmo_run(vmo->con, VMO_EV_COMPLETE_OTHER, NULL, d, seq, n);
}

void
vmo_dest_gone(struct vmo_dest *d)
{
    struct vmotion *vmo = d->vmo;

    if (vmo && vmo->dest == d)
        vmo_run(vmo->con, VMO_EV_PEER_GONE, NULL, d, NULL, 0);
    d->vmo = NULL;
}

void
vmo_on_complete(struct session *s, const uint8_t *seq, size_t n)
{
    struct vmo_dest *d = sess_dest(s);
    struct vmotion *vmo = d->vmo;

    if (s->state == SESS_ST_PEER && vmo && vmo->dest == d &&
        n == vmo->seq_len && memcmp(seq, vmo->seq, n) == 0) {
        vmo_run(vmo->con, VMO_EV_COMPLETE_PEER, s, d, seq, n);
        return;
    }
    log_info("session=%llu %s: COMPLETE not for a pending vMotion of this "
             "connection: ignored",
             (unsigned long long)s->id, s->peer_addr);
    if (s->con && s->con->vmo)
        vmo_run(s->con, VMO_EV_COMPLETE_OTHER, s, NULL, seq, n);
}

void
vmo_on_abort(struct session *s)
{
    struct console *c = s->con;
    struct vmo_dest *d = sess_dest(s);

    if (s->state == SESS_ST_ACTIVE && c && c->vmo && c->vmo->source == s) {
        vmo_run(c, VMO_EV_ABORT_SOURCE, s, NULL, NULL, 0);
        return;
    }
    log_info("session=%llu %s: ABORT not from a vMotion source: ignored",
             (unsigned long long)s->id, s->peer_addr);
    if (d->vmo)
        vmo_run(d->vmo->con, VMO_EV_ABORT_OTHER, s, NULL, NULL, 0);
}

void
vmo_on_session_gone(struct session *s)
{
    struct vmo_dest *d = sess_dest(s);

    if (d->vmo)
        vmo_dest_gone(d);
    if (s->con && s->con->vmo && s->con->vmo->source == s) {
        if (s->con->vmo->state == VMO_ST_HANDOVER)
            s->con->vmo->source = NULL;
        vmo_run(s->con, VMO_EV_SOURCE_GONE, s, NULL, NULL, 0);
    }
}

void
vmo_on_source_drained(struct console *c, struct session *s)
{
    struct vmotion *vmo = c->vmo;

    if (vmo == NULL || vmo->source != s)
        return;
    if (vmo->state == VMO_ST_HANDOVER)
        vmo->source = NULL; /* done: nothing left to stop */
    vmo_run(c, VMO_EV_SOURCE_DRAINED, s, NULL, NULL, 0);
}

void
vmo_cancel(struct console *c, const char *why)
{
    struct vmotion *vmo = c->vmo;
    struct vmo_dest *dest;

    if (vmo == NULL)
        return;
    log_info("console=%s vmotion cancelled: %s", c->id, why);
    dest = vmo->dest;
    if (vmo->source && vmo->state == VMO_ST_HANDOVER) {
        struct session *src = vmo->source;

        vmo->source = NULL; /* no re-entry from its drain's end */
        sess_stop_draining(src);
    }
    c->px->stats.vmotion_expired++;
    vmo_end(vmo, AUD_CANCELLED, why);
    if (dest)
        dest->ops->drop(dest, "vMotion cancelled");
}

bool
vmo_holds_input(const struct console *c)
{
    return c->vmo != NULL;
}
