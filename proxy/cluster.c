/* cluster.c: see cluster.h. */
#include "vspc/compat.h"
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/util.h>

#include "vspc/epoch.h"
#include "vspc/log.h"
#include "vspc/zcurve.h"
#include "vspc/strmap.h"
#include "conhold.h"
#include "console.h"
#include "operator.h"
#include "opremote.h"
#include "ownstore.h"
#include "peerlink.h"
#include "rlog.h"
#include "rreader.h"
#include "tls.h"
#include "vmcross.h"

/* Links to live nodes are (re)dialed this often until up. */
#define CLU_DIAL_SECS 1
/* Consoles handed over or seen moving that the directory may not show yet
 * (the coordinator away), at most. */
#define CLU_HINTS_MAX 65536

/* Where a console went, as a handover or a MOVED told us: newer than the
 * directory until the directory shows that epoch (or a newer one). */
struct clu_hint {
    char id[PW_CONSOLE_ID_MAX + 1];
    char node[PW_NODE_ID_MAX + 1];
    uint64_t epoch;
    struct smap_node sn;
};

struct clu {
    struct proxy *px;
    struct zc_keys curve;   /* .on false: plain */
    struct own_store *own;  /* the ownership directory (ownstore.h) */
    struct pl *pl;          /* the peer link to the other nodes */
    struct tls_ctx *pl_tls; /* its TLS (--peer-tls-*), NULL: plain TCP */
    struct rr_set *readers; /* other nodes reading our consoles */
    struct opr_set *remote; /* our operators on other nodes' consoles */
    struct rlog *rlog;      /* our logs of other nodes' consoles */
    struct vxn *vmx;        /* vMotions across nodes */
    struct smap hints;      /* struct clu_hint by console id */
    struct event *dial_ev;
    struct con_observer obs;
    uint64_t fenced;
    char peer_addr[128];
};

/* The directory entry of a console this node holds. */
static void
clu_entry(const struct console *c, struct wire_console *w)
{
    memset(w, 0, sizeof(*w));
    snprintf(w->id, sizeof(w->id), "%s", c->id);
    snprintf(w->vm_name, sizeof(w->vm_name), "%s", c->name);
    w->epoch = c->epoch;
    snprintf(w->state, sizeof(w->state), "%s", con_state_str(con_state(c)));
    snprintf(w->hv_addr, sizeof(w->hv_addr), "%s", c->owner ? c->hv_addr : "");
}

/* Owner set or gone, name changed: (re)announce; a new owner here is a
 * claim, whose epoch must beat every epoch the cluster knows. */
static void
clu_changed(struct console *c, void *arg)
{
    struct clu *cl = arg;
    const struct wire_console *known;
    struct wire_console w;

    if (c->epoch == 0)
        return; /* never had a hypervisor on this node */
    if (c->owner && epoch_counter(c->epoch) == 1) {
        /* This process's first claim of a console it knew nothing of (not
         * a handover, not a reclaim): its counter starts at the wall
         * clock in milliseconds, so that a restarted node never claims
         * again with an epoch its previous life used (followers wait for a
         * higher one), whatever its replica knows yet. */
        struct timespec ts;
        uint64_t ms;

        clock_gettime(CLOCK_REALTIME, &ts);
        ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
        if (ms > 1 && ms < EPOCH_COUNTER_MAX)
            c->epoch = epoch_make(ms, cl->px->cfg.node_index);
    }
    known = own_console(cl->own, c->id);
    if (c->owner && known && known->epoch >= c->epoch &&
        strcmp(known->owner, cl->px->cfg.node_id) != 0) {
        uint64_t next = own_next_epoch(cl->own, c->id);

        log_info("console=%s claimed from node %s (epoch %llu -> %llu)", c->id,
                 known->owner, (unsigned long long)known->epoch,
                 (unsigned long long)next);
        c->epoch = next;
    }
    clu_entry(c, &w);
    if (own_announce(cl->own, &w) != 0)
        log_warnx("console=%s not announced to the cluster (limit or bad "
                  "entry)",
                  c->id);
}

static void
clu_freed(struct console *c, void *arg)
{
    struct clu *cl = arg;

    if (c->epoch != 0)
        own_withdraw(cl->own, c->id, c->epoch);
}

static void
clu_fenced_cb(void *arg, const struct wire_console *mine,
              const struct wire_console *theirs)
{
    struct clu *cl = arg;
    struct console *c = con_find(cl->px->consoles, mine->id);
    struct con_hv *hv;

    cl->fenced++;
    log_warnx("console=%s held by node %s with epoch %llu, above ours (%llu): "
              "letting go",
              mine->id, theirs->owner, (unsigned long long)theirs->epoch,
              (unsigned long long)mine->epoch);
    if (c == NULL || c->epoch > theirs->epoch)
        return;
    if ((hv = c->owner) != NULL) {
        con_event(c,
                  "console claimed by node %s (epoch %llu): hypervisor %s let "
                  "go",
                  theirs->owner, (unsigned long long)theirs->epoch, hv->addr);
        con_owner_gone(c, hv);
        hv->ops->replaced(hv, "fenced: a newer owner holds the console");
    }
    /* Its operators, here and remote, follow it there. */
    con_moved(c, theirs->owner, theirs->epoch);
}

/* ---- hints: where consoles went ------------------------------------------ */

static struct clu_hint *
clu_hint_get(struct clu *cl, const char *id)
{
    struct smap_node *n = smap_get(&cl->hints, id);

    return n ? smap_entry(n, struct clu_hint, sn) : NULL;
}

static void
clu_hint_del(struct clu *cl, struct clu_hint *h)
{
    smap_del(&cl->hints, &h->sn);
    free(h);
}

static void
clu_hint_set(void *arg, const char *id, const char *node, uint64_t epoch)
{
    struct clu *cl = arg;
    struct clu_hint *h = clu_hint_get(cl, id);
    const struct wire_console *w = own_console(cl->own, id);

    if ((w && w->epoch >= epoch) || (h && h->epoch >= epoch))
        return; /* the directory (or an earlier hint) knows better */
    if (h == NULL) {
        if (smap_count(&cl->hints) >= CLU_HINTS_MAX ||
            (h = calloc(1, sizeof(*h))) == NULL)
            return;
        snprintf(h->id, sizeof(h->id), "%s", id);
        if (smap_put(&cl->hints, &h->sn, h->id) != 0) {
            free(h);
            return;
        }
    }
    snprintf(h->node, sizeof(h->node), "%s", node);
    h->epoch = epoch;
}

/* The console's owner elsewhere per the hints or the directory: node and
 * epoch, or NULL. */
static const char *
clu_where(struct clu *cl, const char *id, uint64_t *epoch)
{
    const struct wire_console *w = own_console(cl->own, id);
    struct clu_hint *h = clu_hint_get(cl, id);

    if (h && (w == NULL || h->epoch > w->epoch)) {
        *epoch = h->epoch;
        return h->node;
    }
    if (w == NULL)
        return NULL;
    *epoch = w->epoch;
    return w->owner;
}

static void
clu_hints_free_one(struct smap_node *n, void *arg)
{
    clu_hint_del(arg, smap_entry(n, struct clu_hint, sn));
}

/* This node handed c over: its log here continues from the new owner. */
static void
clu_vx_moved(void *arg, const char *id, const char *node, uint64_t epoch,
             uint64_t offset)
{
    struct clu *cl = arg;
    struct console *c = con_find(cl->px->consoles, id);

    clu_hint_set(cl, id, node, epoch);
    rlog_follow(cl->rlog, id, node, epoch, offset);
    /* Not ours any more (no fencing of a copy we let go ourselves). */
    if (c && c->epoch != 0)
        own_handed_over(cl->own, id, c->epoch);
}

static uint64_t
clu_vx_log_resume(void *arg, const char *id)
{
    struct clu *cl = arg;

    return rlog_take(cl->rlog, id);
}

/* ---- the peer link ------------------------------------------------------- */

static void
clu_dial_one(const struct wire_node *n, void *arg)
{
    struct clu *cl = arg;

    if (n->alive && n->peer_addr[0] &&
        strcmp(n->node_id, cl->px->cfg.node_id) != 0)
        pl_connect(cl->pl, n->node_id, n->peer_addr); /* idempotent */
}

/* Every live node gets a link (pl_connect does nothing for one that is up
 * or being made); a dial that failed is retried on the next tick. */
static void
clu_dial_cb(evutil_socket_t fd, short what, void *arg)
{
    struct clu *cl = arg;
    struct timeval tv = {CLU_DIAL_SECS, 0};

    (void)fd;
    (void)what;
    own_foreach_node(cl->own, clu_dial_one, cl);
    rlog_tick(cl->rlog);
    opr_tick(cl->remote);
    evtimer_add(cl->dial_ev, &tv);
}

static void
clu_node_cb(void *arg, const struct wire_node *now, const struct wire_node *old)
{
    struct clu *cl = arg;

    if (now && now->alive) {
        clu_dial_one(now, cl);
    } else if (old && strcmp(old->node_id, cl->px->cfg.node_id) != 0) {
        log_info("cluster: node %s %s", old->node_id, now ? "dead" : "gone");
        pl_disconnect(cl->pl, old->node_id, now ? "node dead" : "node gone");
    }
}

static void
clu_link_up(struct pl_link *l, void *arg)
{
    struct pl_link_stats st;

    (void)arg;
    pl_link_stats(l, &st);
    log_info("cluster: peer link to node %s up (%s -> %s)", pl_link_node(l),
             st.local, st.remote);
}

static void
clu_link_down(struct pl_link *l, const char *reason, void *arg)
{
    struct clu *cl = arg;
    struct console *c;

    log_info("cluster: peer link to node %s down: %s", pl_link_node(l), reason);
    vxn_link_down(cl->vmx, l);
    for (c = con_first(cl->px->consoles); c; c = con_next(c))
        if (c->hold)
            chold_node_gone(c, pl_link_node(l));
}

static void
clu_pl_validate(struct pl_link *l, const struct pw_validate *v, void *arg)
{
    vxn_validate(((struct clu *)arg)->vmx, l, v);
}

static void
clu_pl_validate_done(struct pl_link *l, uint64_t request_id,
                     enum pl_val_status status,
                     const struct pw_validate_reply *r, void *arg)
{
    vxn_validate_done(((struct clu *)arg)->vmx, l, request_id, status, r);
}

static void
clu_pl_splice(struct pl_link *l, const struct pw_splice *sp, void *arg)
{
    vxn_splice(((struct clu *)arg)->vmx, l, sp);
}

static void
clu_pl_handover(struct pl_link *l, const struct pw_handover *h, void *arg)
{
    vxn_handover(((struct clu *)arg)->vmx, l, h);
}

static void
clu_pl_subscribe(struct pl_link *l, const struct pw_subscribe *s, void *arg)
{
    rr_subscribe(((struct clu *)arg)->readers, l, s);
}

static void
clu_pl_unsubscribe(struct pl_link *l, uint64_t sub_id, void *arg)
{
    rr_unsubscribe(((struct clu *)arg)->readers, l, sub_id);
}

static void
clu_pl_room(struct pl_link *l, uint64_t sub_id, void *arg)
{
    rr_room(((struct clu *)arg)->readers, l, sub_id);
}

static void
clu_pl_input(struct pl_link *l, const struct pw_input *in, void *arg)
{
    rr_input(((struct clu *)arg)->readers, l, in);
}

static void
clu_pl_control(struct pl_link *l, uint64_t sub_id,
               enum pw_control_action action, void *arg)
{
    rr_control(((struct clu *)arg)->readers, l, sub_id, action);
}

static void
clu_pl_sub_state(struct pl_link *l, const struct pw_sub_state *t, void *arg)
{
    struct clu *cl = arg;

    if (!opr_sub_state(cl->remote, l, t))
        rlog_sub_state(cl->rlog, l, t);
}

static void
clu_pl_data(struct pl_link *l, const struct pw_data *d, void *arg)
{
    struct clu *cl = arg;

    if (!opr_data(cl->remote, l, d))
        rlog_data(cl->rlog, l, d);
}

static void
clu_pl_gap(struct pl_link *l, const struct pw_gap *g, void *arg)
{
    struct clu *cl = arg;

    if (!opr_gap(cl->remote, l, g))
        rlog_gap(cl->rlog, l, g);
}

static void
clu_pl_tip(struct pl_link *l, const struct pw_tip *t, void *arg)
{
    opr_tip(((struct clu *)arg)->remote, l, t);
}

static void
clu_pl_event(struct pl_link *l, const struct pw_event *e, void *arg)
{
    struct clu *cl = arg;

    if (!opr_event(cl->remote, l, e))
        rlog_event(cl->rlog, l, e);
}

static void
clu_pl_sub_lost(struct pl_link *l, uint64_t sub_id, void *arg)
{
    struct clu *cl = arg;

    if (!opr_sub_lost(cl->remote, l, sub_id))
        rlog_sub_lost(cl->rlog, l, sub_id);
}

static void
clu_pl_input_room(struct pl_link *l, void *arg)
{
    opr_input_room(((struct clu *)arg)->remote, l);
}

static const struct pl_callbacks clu_pl_cbs = {
    .link_up = clu_link_up,
    .link_down = clu_link_down,
    .subscribe = clu_pl_subscribe,
    .unsubscribe = clu_pl_unsubscribe,
    .room = clu_pl_room,
    .input = clu_pl_input,
    .control = clu_pl_control,
    .sub_state = clu_pl_sub_state,
    .data = clu_pl_data,
    .gap = clu_pl_gap,
    .event = clu_pl_event,
    .tip = clu_pl_tip,
    .sub_lost = clu_pl_sub_lost,
    .input_room = clu_pl_input_room,
    .validate = clu_pl_validate,
    .validate_done = clu_pl_validate_done,
    .splice = clu_pl_splice,
    .handover = clu_pl_handover,
};

/* opremote's questions: who owns a console now, and attach here. */
static const char *
clu_owner_of(void *arg, const char *id, uint64_t *epoch)
{
    struct clu *cl = arg;
    const char *node = clu_where(cl, id, epoch);
    struct console *c;

    /* This node's own claim may be newer than what the others told. */
    c = con_find(cl->px->consoles, id);
    if (c && c->owner && (node == NULL || c->epoch >= *epoch)) {
        *epoch = c->epoch;
        return cl->px->cfg.node_id;
    }
    return node; /* valid until the client is called again */
}

static int
clu_attach_local(void *arg, struct oper *op, const char *id,
                 enum con_lock_req req, uint64_t from)
{
    struct clu *cl = arg;
    struct console *c = con_find(cl->px->consoles, id);
    const char *err = NULL;

    if (c == NULL || opl_attach_from(op, c, req, from, &err) != 0) {
        log_warnx("console=%s operator %s: not attached here: %s", id, op->addr,
                  err ? err : "no such console");
        return -1;
    }
    return 0;
}

int
clu_follow(struct clu *cl, struct oper *op, const char *console_id,
           enum con_lock_req req, uint64_t next, const char *why)
{
    if (cl == NULL || cl->remote == NULL)
        return -1;
    return opr_follow(cl->remote, op, console_id, req, next, why);
}

/* The peer link and its two sides. 0, or -1 with err. */
static int
clu_peer_new(struct clu *cl, uint64_t incarnation, char *err, size_t errlen)
{
    struct proxy *px = cl->px;
    struct pl_config pc;

    memset(&pc, 0, sizeof(pc));
    pc.node_id = px->cfg.node_id;
    pc.node_index = px->cfg.node_index;
    pc.listen = px->cfg.peer_listen;
    pc.incarnation = incarnation;
    pc.stall_timeout = 0; /* the link's own: a peer that reads nothing */
    if (px->cfg.peer_tls_cert) {
        char cn[PW_NODE_ID_MAX + 2];

        cl->pl_tls = tls_mutual_new(px->cfg.peer_tls_cert, px->cfg.peer_tls_key,
                                    px->cfg.peer_ca, err, errlen);
        if (cl->pl_tls == NULL)
            return -1;
        if (tls_ctx_cn(cl->pl_tls, cn, sizeof(cn)) != 0 ||
            strcmp(cn, px->cfg.node_id) != 0)
            log_warnx("cluster: --peer-tls-cert %s: its subject CN is not "
                      "this node's id %s: every other node will refuse this "
                      "one's peer links",
                      px->cfg.peer_tls_cert, px->cfg.node_id);
        log_info("cluster: peer links in TLS 1.3, mutually authenticated "
                 "under the CA of %s (this node: %s)",
                 px->cfg.peer_ca, tls_ctx_subject(cl->pl_tls));
        pc.tls = cl->pl_tls;
    }
    if ((cl->pl = pl_new(px->base, &pc, &clu_pl_cbs, cl, err, errlen)) == NULL)
        return -1;
    cl->readers = rr_new(px);
    {
        struct opr_resolver res = {.owner = clu_owner_of,
                                   .local = clu_attach_local,
                                   .moved = clu_hint_set,
                                   .arg = cl};

        cl->remote = opr_new(px, cl->pl, &res);
    }
    cl->rlog = rlog_new(px, cl->pl); /* NULL without --log-dir */
    {
        struct vxn_hooks vh = {
            .moved = clu_vx_moved, .log_resume = clu_vx_log_resume, .arg = cl};

        cl->vmx = vxn_new(px, cl->pl, &vh);
    }
    cl->dial_ev = evtimer_new(px->base, clu_dial_cb, cl);
    if (cl->readers == NULL || cl->remote == NULL || cl->dial_ev == NULL ||
        cl->vmx == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static void
clu_peer_free(struct clu *cl)
{
    vxn_free(&cl->vmx);
    rlog_free(&cl->rlog);
    opr_free(&cl->remote);
    rr_free(&cl->readers);
    pl_free(&cl->pl);
    tls_ctx_free(&cl->pl_tls); /* after every SSL of the links */
    if (cl->dial_ev)
        event_free(cl->dial_ev);
    cl->dial_ev = NULL;
}

static void
clu_console_cb(void *arg, const struct wire_console *now,
               const struct wire_console *old)
{
    struct clu *cl = arg;
    struct clu_hint *h;

    if (now && (h = clu_hint_get(cl, now->id)) != NULL) {
        if (now->epoch < h->epoch)
            return;          /* older than what a handover told us */
        clu_hint_del(cl, h); /* the directory caught up */
    }
    rlog_sync(cl->rlog, now ? now : old, now == NULL);
    if (now)
        opr_owner_changed(cl->remote, now->id);
}

static void
clu_state_cb(void *arg, enum own_state st, bool away, const char *detail)
{
    struct clu *cl = arg;

    if (st == OWN_ST_REFUSED)
        log_errorx("cluster: node %s (index %u) refused by the %s: %s",
                   cl->px->cfg.node_id, cl->px->cfg.node_index,
                   cl->own ? cl->own->kind : "ownership store",
                   detail ? detail : "?");
    else
        log_info("cluster: %s%s%s%s", own_state_str(st),
                 away ? " (ownership store away)" : "", detail ? ": " : "",
                 detail ? detail : "");
}

struct clu *
clu_new(struct proxy *px, char *err, size_t errlen)
{
    struct clu *cl;
    const char *eps[PROXY_MAX_ETCD > PROXY_MAX_COORDINATORS
                        ? PROXY_MAX_ETCD
                        : PROXY_MAX_COORDINATORS];
    struct own_config cfg;
    struct own_callbacks cbs;

    err[0] = '\0';
    if (px->cfg.n_coordinators == 0 && px->cfg.n_etcd == 0)
        return NULL;
    if ((cl = calloc(1, sizeof(*cl))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cl->px = px;
    if (smap_init(&cl->hints) != 0) {
        free(cl);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(cl->peer_addr, sizeof(cl->peer_addr), "%s",
             px->cfg.peer_advertise[0] ? px->cfg.peer_advertise
                                       : px->cfg.peer_listen);
    if (strncmp(cl->peer_addr, "0.0.0.0:", 8) == 0 ||
        strncmp(cl->peer_addr, "[::]:", 5) == 0)
        log_warnx("cluster: other nodes are told to dial %s: set "
                  "--peer-advertise to an address they can reach",
                  cl->peer_addr);
    memset(&cfg, 0, sizeof(cfg));
    evutil_secure_rng_get_bytes(&cfg.incarnation, sizeof(cfg.incarnation));
    cfg.incarnation |= 1; /* never 0 ("pick one") */
    if (clu_peer_new(cl, cfg.incarnation, err, errlen) != 0) {
        clu_peer_free(cl);
        free(cl);
        return NULL;
    }
    for (size_t i = 0; i < px->cfg.n_coordinators; i++)
        eps[i] = px->cfg.coordinators[i];
    for (size_t i = 0; i < px->cfg.n_etcd; i++)
        eps[i] = px->cfg.etcd[i];
    cfg.endpoints = eps;
    cfg.n_endpoints = px->cfg.n_etcd ? px->cfg.n_etcd : px->cfg.n_coordinators;
    cfg.etcd_prefix = px->cfg.etcd_prefix;
    if (px->cfg.curve_key) {
        if (zc_load(&cl->curve, px->cfg.curve_key, err, errlen) != 0) {
            clu_peer_free(cl);
            free(cl);
            return NULL;
        }
        memcpy(cl->curve.server, px->cfg.coordinator_key,
               sizeof(cl->curve.server));
        cfg.curve = &cl->curve;
        log_info("cluster: curve on, this node's public key %s",
                 cl->curve.public_);
    }
    cfg.etcd_ttl = px->cfg.etcd_ttl;
    cfg.node_id = px->cfg.node_id;
    cfg.node_index = px->cfg.node_index;
    cfg.peer_addr = cl->peer_addr;
    memset(&cbs, 0, sizeof(cbs));
    cbs.fenced = clu_fenced_cb;
    cbs.state = clu_state_cb;
    cbs.node = clu_node_cb;
    cbs.console = clu_console_cb;
    cl->own = px->cfg.n_etcd
                  ? own_etcd_new(px->base, &cfg, &cbs, cl, err, errlen)
                  : own_coord_new(px->base, &cfg, &cbs, cl, err, errlen);
    if (cl->own == NULL) {
        clu_peer_free(cl);
        free(cl);
        return NULL;
    }
    cl->obs.changed = clu_changed;
    cl->obs.freed = clu_freed;
    cl->obs.arg = cl;
    if (con_registry_observe(px->consoles, &cl->obs) != 0) {
        snprintf(err, errlen, "too many console observers");
        own_free(&cl->own);
        clu_peer_free(cl);
        free(cl);
        return NULL;
    }
    clu_dial_cb(-1, 0, cl);
    log_info("cluster: node %s (index %u) joining through the %s at %s%s%s, "
             "peer link %s",
             px->cfg.node_id, px->cfg.node_index, cl->own->kind, eps[0],
             cfg.n_endpoints > 1 ? " or " : "",
             cfg.n_endpoints > 1 ? eps[1] : "", cl->peer_addr);
    return cl;
}

void
clu_free(struct clu **clp)
{
    struct clu *cl = *clp;

    if (cl == NULL)
        return;
    con_registry_unobserve(cl->px->consoles, &cl->obs);
    clu_peer_free(cl);
    own_free(&cl->own);
    smap_foreach(&cl->hints, clu_hints_free_one, cl);
    smap_fini(&cl->hints);
    free(cl);
    *clp = NULL;
}

struct clu_each {
    struct clu *cl;
    void (*fn)(const struct clu_remote *r, void *arg);
    void *arg;
};

static void
clu_each_cb(const struct wire_console *w, void *arg)
{
    struct clu_each *e = arg;
    struct clu_remote r;

    const struct console *c;

    if (strcmp(w->owner, e->cl->px->cfg.node_id) == 0)
        return; /* this node's own view is the local console */
    c = con_find(e->cl->px->consoles, w->id);
    if (c && c->epoch >= w->epoch)
        return; /* the local copy is as new: it is listed */
    r.id = w->id;
    r.name = w->vm_name;
    r.state = w->state;
    r.hv_addr = w->hv_addr[0] ? w->hv_addr : "-";
    r.node = w->owner;
    r.epoch = w->epoch;
    e->fn(&r, e->arg);
}

void
clu_foreach_remote(struct clu *cl,
                   void (*fn)(const struct clu_remote *r, void *arg), void *arg)
{
    struct clu_each e = {cl, fn, arg};

    own_foreach_console(cl->own, clu_each_cb, &e);
}

bool
clu_shadowed(struct clu *cl, const struct console *c)
{
    uint64_t epoch = 0;
    const char *node;

    if (cl == NULL || (node = clu_where(cl, c->id, &epoch)) == NULL)
        return false;
    return strcmp(node, cl->px->cfg.node_id) != 0 && epoch > c->epoch;
}

struct clu_find {
    const char *key, *self;
    const struct wire_console *w;
};

static void
clu_find_cb(const struct wire_console *w, void *arg)
{
    struct clu_find *f = arg;

    if (f->w == NULL && strcmp(w->owner, f->self) != 0 &&
        (strcmp(w->id, f->key) == 0 || strcmp(w->vm_name, f->key) == 0))
        f->w = w; /* valid until the client is called again */
}

/* The entry of console key (id or VM name) held by another node. */
static const struct wire_console *
clu_find_remote(struct clu *cl, const char *key)
{
    struct clu_find f = {key, cl->px->cfg.node_id, NULL};

    own_foreach_console(cl->own, clu_find_cb, &f);
    return f.w;
}

bool
clu_knows(struct clu *cl, const char *key)
{
    return cl && clu_find_remote(cl, key) != NULL;
}

void
clu_names(struct clu *cl, const char *key, const char **id, const char **name)
{
    const struct wire_console *w = cl ? clu_find_remote(cl, key) : NULL;

    if (w) {
        *id = w->id;
        *name = w->vm_name;
    }
}

int
clu_attach(struct clu *cl, struct oper *op, const char *key,
           enum con_lock_req req, const char **err)
{
    const struct wire_console *w;
    const struct console *c;
    const char *id, *node;
    uint64_t epoch = 0;

    if (cl == NULL)
        return 0;
    /* The console by id or name: a directory entry elsewhere, or a copy
     * here that a newer owner shadows. */
    if ((w = clu_find_remote(cl, key)) != NULL)
        id = w->id;
    else if ((c = con_find(cl->px->consoles, key)) != NULL &&
             clu_shadowed(cl, c))
        id = c->id;
    else
        return 0;
    if ((node = clu_where(cl, id, &epoch)) == NULL ||
        strcmp(node, cl->px->cfg.node_id) == 0)
        return 0;
    if (opr_attach(cl->remote, op, node, id, epoch, req, err) != 0)
        return -1;
    return 1;
}

void
clu_json_local(struct clu *cl, json_t *o, const struct console *c)
{
    if (cl == NULL || o == NULL)
        return;
    json_object_set_new(o, "node", json_string(cl->px->cfg.node_id));
    json_object_set_new(o, "epoch", json_integer((json_int_t)c->epoch));
}

static void
clu_json_remote_cb(const struct clu_remote *r, void *arg)
{
    json_t *arr = arg;

    json_array_append_new(
        arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "id", r->id, "name",
                       r->name, "state", r->state, "hypervisor", r->hv_addr,
                       "node", r->node, "epoch", (json_int_t)r->epoch));
}

void
clu_json_remotes(struct clu *cl, json_t *arr)
{
    if (cl && arr)
        clu_foreach_remote(cl, clu_json_remote_cb, arr);
}

struct clu_census {
    struct clu *cl;
    json_t *nodes, *orphans;
};

static void
clu_census_node(const struct wire_node *n, void *arg)
{
    struct clu_census *k = arg;

    json_object_set_new(k->nodes, n->node_id,
                        json_pack("{s:i, s:b, s:s, s:i}", "index",
                                  (int)n->node_index, "alive", n->alive, "peer",
                                  n->peer_addr, "consoles", 0));
}

static void
clu_census_console(const struct wire_console *w, void *arg)
{
    struct clu_census *k = arg;
    json_t *n = json_object_get(k->nodes, w->owner);

    if (n) {
        json_t *c = json_object_get(n, "consoles");

        json_integer_set(c, json_integer_value(c) + 1);
    }
    if (n == NULL || !json_is_true(json_object_get(n, "alive")))
        json_array_append_new(k->orphans,
                              json_pack("{s:s, s:s, s:s, s:I}", "id", w->id,
                                        "name", w->vm_name, "owner", w->owner,
                                        "epoch", (json_int_t)w->epoch));
}

void
clu_json_cluster(struct clu *cl, json_t *o)
{
    struct clu_census k = {cl, json_object(), json_array()};
    struct own_status st;
    json_t *nodes;
    const char *id;
    json_t *v;

    own_status(cl->own, &st);
    json_object_set_new(
        o, "store",
        json_pack("{s:s, s:s, s:b, s:s, s:s, s:I, s:I, s:I}", "kind",
                  cl->own->kind, "state", own_state_str(st.state), "away",
                  st.away, "server", st.server ? st.server : "", "other",
                  st.other ? st.other : "", "term", (json_int_t)st.term,
                  "switches", (json_int_t)st.switches, "registrations",
                  (json_int_t)st.registrations));
    own_foreach_node(cl->own, clu_census_node, &k);
    own_foreach_console(cl->own, clu_census_console, &k);
    /* As a list. */
    nodes = json_array();
    json_object_foreach(k.nodes, id, v)
    {
        json_object_set_new(v, "id", json_string(id));
        json_array_append(nodes, v);
    }
    json_decref(k.nodes);
    json_object_set_new(o, "nodes", nodes);
    json_object_set_new(o, "orphans", k.orphans);
}

void
clu_stats(struct clu *cl, struct clu_stats *out)
{
    struct own_status st;

    own_status(cl->own, &st);
    memset(out, 0, sizeof(*out));
    out->state = (int)st.state;
    out->away = st.away;
    out->consoles = st.consoles;
    out->nodes = st.nodes;
    out->registrations = st.registrations;
    out->store_switches = st.switches;
    out->snapshots = st.snapshots;
    out->fenced = cl->fenced;
    if (cl->pl) {
        const struct pl_stats *ps = pl_stats(cl->pl);

        out->links_up = ps->links_up - ps->links_down;
        out->peer_errors = ps->protocol_errors;
        out->peer_tls_failures = ps->tls_failures;
        out->peer_tls_wrong_cn = ps->tls_wrong_cn;
    }
    out->remote_readers = rr_count(cl->readers);
    out->remote_attachments = opr_count(cl->remote);
    {
        struct vxn_stats vs;
        struct opr_stats os;

        vxn_stats(cl->vmx, &vs);
        opr_stats(cl->remote, &os);
        out->vmo_handed_over = vs.out_handovers;
        out->vmo_taken_over = vs.in_installed;
        out->vmo_peers_forwarded = vs.in_forwarded;
        out->vmo_peers_no_owner = vs.in_no_owner;
        out->vmo_claimed = vs.in_claimed;
        out->vmo_held_bytes = vs.handover_bytes;
        out->input_lost = os.input_lost;
        out->stream_restarts = os.stream_restarts;
        out->output_lost = os.output_lost;
    }
}

const char *
clu_state_str(int state)
{
    return own_state_str((enum own_state)state);
}
