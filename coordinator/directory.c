/*
 * directory.c: the coordinator's directory. See directory.h for the rules
 * and vspc.proto for the epoch rule.
 */
#include "vspc/compat.h"
#include "directory.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vspc/epoch.h"
#include "vspc/log.h"

static const char *const dir_result_names[DIR_RESULT__COUNT] = {
    [DIR_APPLIED] = "applied",   [DIR_UNCHANGED] = "unchanged",
    [DIR_REFUSED] = "refused",   [DIR_STALE] = "stale",
    [DIR_CONFLICT] = "conflict", [DIR_NOT_REGISTERED] = "not-registered",
    [DIR_BAD] = "bad",           [DIR_NOT_FOUND] = "not-found",
    [DIR_LIMIT] = "limit",       [DIR_NOMEM] = "no-memory",
};

const char *
dir_result_str(enum dir_result r)
{
    if ((int)r < 0 || r >= DIR_RESULT__COUNT)
        return "???";
    return dir_result_names[r];
}

/* Remote-controlled lines: at most one per node (key) per second. */
#define DIR_LOG_INTERVAL 1.0

int
dir_init(struct dir *d, const struct dir_limits *lim, uint64_t incarnation,
         dir_publish_fn publish, void *arg)
{
    memset(d, 0, sizeof(*d));
    d->lim = *lim;
    if (d->lim.max_nodes == 0 || d->lim.max_nodes > DIR_MAX_NODES)
        d->lim.max_nodes = DIR_MAX_NODES;
    d->incarnation = incarnation;
    d->publish = publish;
    d->arg = arg;
    rlog_init(&d->rl, DIR_LOG_INTERVAL);
    if (smap_init(&d->nodes) != 0)
        return -1;
    if (smap_init(&d->consoles) != 0) {
        smap_fini(&d->nodes);
        return -1;
    }
    return 0;
}

static void
s_free_console(struct smap_node *n, void *arg)
{
    struct dir *d = arg;

    smap_del(&d->consoles, n);
    free(smap_entry(n, struct dir_console, hn));
}

void
dir_fini(struct dir *d)
{
    smap_foreach(&d->consoles, s_free_console, d);
    smap_fini(&d->consoles);
    for (size_t i = 0; i < d->nnodes; i++)
        free(d->node_list[i]);
    d->nnodes = 0;
    smap_fini(&d->nodes);
}

/* ---- publishing ---------------------------------------------------------- */

static void
s_publish(struct dir *d, struct wire_update *u)
{
    u->seq = ++d->seq;
    u->incarnation = d->incarnation;
    if (d->publish)
        d->publish(u, d->arg);
}

static void
s_pub_node(struct dir *d, const struct dir_node *n)
{
    struct wire_update u;

    memset(&u, 0, sizeof(u));
    u.change = WIRE_CHANGE_NODE;
    u.u.node = n->n;
    s_publish(d, &u);
}

static void
s_pub_console(struct dir *d, const struct dir_console *e)
{
    struct wire_update u;

    memset(&u, 0, sizeof(u));
    u.change = WIRE_CHANGE_UPSERT;
    u.u.upsert = e->c;
    s_publish(d, &u);
}

static void
s_pub_removed(struct dir *d, const char *id, uint64_t epoch)
{
    struct wire_update u;

    memset(&u, 0, sizeof(u));
    u.change = WIRE_CHANGE_REMOVED;
    snprintf(u.u.removed.id, sizeof(u.u.removed.id), "%s", id);
    u.u.removed.epoch = epoch;
    s_publish(d, &u);
}

/*
 * A line caused by what a node sent: at most one per node and kind of
 * line per second (a node re-announcing a stale claim in a loop cannot
 * flood the log, and one kind does not hide another).
 */
#define LOG_NODE(d, lvl, node_id, kind, now, ...)                              \
    do {                                                                       \
        char key_[RLOG_KEY_MAX + 1];                                           \
        unsigned supp_;                                                        \
        int klen_ = snprintf(key_, sizeof(key_), "%s/%s", (node_id), (kind));  \
        if ((lvl) <= log_verbosity &&                                          \
            rlog_allow(&(d)->rl, key_,                                         \
                       klen_ < (int)sizeof(key_) ? (size_t)klen_               \
                                                 : sizeof(key_) - 1,           \
                       (now), &supp_)) {                                       \
            log_msg((lvl), __VA_ARGS__);                                       \
            if (supp_)                                                         \
                log_msg((lvl), "node %s: %u more %s lines suppressed",         \
                        (node_id), supp_, (kind));                             \
        }                                                                      \
    } while (0)

/* ---- nodes --------------------------------------------------------------- */

const struct dir_node *
dir_node_find(const struct dir *d, const char *node_id)
{
    struct smap_node *n = smap_get(&d->nodes, node_id);

    return n ? smap_entry(n, struct dir_node, hn) : NULL;
}

static struct dir_node *
s_node(struct dir *d, const char *node_id)
{
    return (struct dir_node *)(uintptr_t)dir_node_find(d, node_id);
}

/* Drop every console n owns (it restarted: it holds none of them now). */
struct drop_ctx {
    struct dir *d;
    struct dir_node *n;
    size_t dropped;
};

static void
s_drop_owned(struct smap_node *hn, void *arg)
{
    struct drop_ctx *x = arg;
    struct dir_console *e = smap_entry(hn, struct dir_console, hn);

    if (e->owner != x->n)
        return;
    smap_del(&x->d->consoles, hn);
    x->n->nconsoles--;
    x->dropped++;
    s_pub_removed(x->d, e->c.id, e->c.epoch);
    free(e);
}

enum dir_result
dir_register(struct dir *d, const struct wire_register *r, double now,
             char *reason, size_t cap)
{
    struct dir_node *n = s_node(d, r->node_id);
    bool restarted = false;

    reason[0] = '\0';
    for (size_t i = 0; i < d->nnodes; i++) {
        const struct dir_node *o = d->node_list[i];

        if (o != n && o->n.alive && o->n.node_index == r->node_index) {
            snprintf(reason, cap,
                     "node index %u is held by live node %s (peer %s)",
                     (unsigned)r->node_index, o->n.node_id, o->n.peer_addr);
            d->stats.results[DIR_REFUSED]++;
            LOG_NODE(d, LOG_LVL_WARN, r->node_id, "refused", now,
                     "node %s: registration refused: %s", r->node_id, reason);
            return DIR_REFUSED;
        }
    }
    if (n == NULL) {
        if (d->nnodes >= d->lim.max_nodes) {
            snprintf(reason, cap, "coordinator full: %zu nodes known",
                     d->lim.max_nodes);
            d->stats.results[DIR_REFUSED]++;
            LOG_NODE(d, LOG_LVL_WARN, r->node_id, "refused", now,
                     "node %s: registration refused: %s (--max-nodes)",
                     r->node_id, reason);
            return DIR_REFUSED;
        }
        if ((n = calloc(1, sizeof(*n))) == NULL) {
            snprintf(reason, cap, "coordinator out of memory");
            d->stats.results[DIR_NOMEM]++;
            return DIR_NOMEM;
        }
        memcpy(n->n.node_id, r->node_id, sizeof(n->n.node_id));
        smap_put(&d->nodes, &n->hn, n->n.node_id);
        d->node_list[d->nnodes++] = n;
        n->incarnation = r->incarnation;
        log_info("node %s registered: index %u, peer %s, incarnation "
                 "%016" PRIx64,
                 r->node_id, (unsigned)r->node_index, r->peer_addr,
                 r->incarnation);
    } else if (n->incarnation != r->incarnation) {
        struct drop_ctx x = {.d = d, .n = n};

        smap_foreach(&d->consoles, s_drop_owned, &x);
        restarted = true;
        d->stats.restarts++;
        log_info("node %s restarted (incarnation %016" PRIx64 " -> %016" PRIx64
                 "): index %u, peer %s; %zu consoles it held dropped until "
                 "announced again",
                 r->node_id, n->incarnation, r->incarnation,
                 (unsigned)r->node_index, r->peer_addr, x.dropped);
        n->incarnation = r->incarnation;
    } else if (!n->n.alive) {
        log_info("node %s registered again after being declared dead "
                 "(index %u, %zu consoles)",
                 r->node_id, (unsigned)r->node_index, n->nconsoles);
    }
    if (n->n.node_index != r->node_index && n->n.alive && !restarted)
        log_warnx("node %s changed its index %u -> %u", r->node_id,
                  (unsigned)n->n.node_index, (unsigned)r->node_index);
    n->n.node_index = r->node_index;
    memcpy(n->n.peer_addr, r->peer_addr, sizeof(n->n.peer_addr));
    n->n.alive = true;
    n->last_seen = now;
    n->limit_logged = false;
    d->stats.results[DIR_APPLIED]++;
    s_pub_node(d, n);
    return DIR_APPLIED;
}

bool
dir_heartbeat(struct dir *d, const struct wire_heartbeat *h, double now)
{
    struct dir_node *n = s_node(d, h->node_id);

    if (n == NULL || !n->n.alive || n->incarnation != h->incarnation)
        return false;
    n->last_seen = now;
    return true;
}

size_t
dir_expire(struct dir *d, double now, double slack)
{
    size_t dead = 0;

    for (size_t i = 0; i < d->nnodes; i++) {
        struct dir_node *n = d->node_list[i];

        if (!n->n.alive ||
            now - n->last_seen <= d->lim.heartbeat_timeout + slack)
            continue;
        n->n.alive = false;
        dead++;
        d->stats.deaths++;
        log_warnx("node %s (index %u) missed its heartbeats for %.1f s: "
                  "dead; its %zu consoles stay listed until another node "
                  "claims them or it registers again",
                  n->n.node_id, (unsigned)n->n.node_index, now - n->last_seen,
                  n->nconsoles);
        s_pub_node(d, n);
    }
    return dead;
}

/* ---- consoles ------------------------------------------------------------ */

const struct dir_console *
dir_console_find(const struct dir *d, const char *id)
{
    struct smap_node *n = smap_get(&d->consoles, id);

    return n ? smap_entry(n, struct dir_console, hn) : NULL;
}

static bool
s_same(const struct wire_console *a, const struct wire_console *b)
{
    return a->epoch == b->epoch && a->owner_index == b->owner_index &&
           strcmp(a->id, b->id) == 0 && strcmp(a->vm_name, b->vm_name) == 0 &&
           strcmp(a->state, b->state) == 0 &&
           strcmp(a->hv_addr, b->hv_addr) == 0 &&
           strcmp(a->owner, b->owner) == 0;
}

static enum dir_result
s_result(struct dir *d, enum dir_result r)
{
    d->stats.results[r]++;
    return r;
}

/* n may own one more console (grows: one more in all)? Logs when a limit
 * is hit. */
static bool
s_room(struct dir *d, struct dir_node *n, const char *id, bool grows,
       double now)
{
    if (n->nconsoles >= d->lim.max_per_node) {
        if (!n->limit_logged)
            log_warnx("node %s: console limit reached (%zu, "
                      "--max-consoles-per-node): announce of %s and "
                      "further ones ignored",
                      n->n.node_id, d->lim.max_per_node, id);
        n->limit_logged = true;
        return false;
    }
    if (grows && smap_count(&d->consoles) >= d->lim.max_consoles) {
        LOG_NODE(d, LOG_LVL_WARN, n->n.node_id, "full", now,
                 "directory full (%zu consoles, --max-consoles): announce "
                 "of %s by node %s ignored",
                 d->lim.max_consoles, id, n->n.node_id);
        return false;
    }
    n->limit_logged = false;
    return true;
}

enum dir_result
dir_announce(struct dir *d, const struct wire_console *c, double now)
{
    struct dir_node *n = s_node(d, c->owner);
    struct smap_node *hn;
    struct dir_console *e;

    if (n == NULL || !n->n.alive) {
        LOG_NODE(d, LOG_LVL_DEBUG, c->owner, "unregistered", now,
                 "node %s: announce of %s while not registered: ignored "
                 "(it registers again on its next heartbeat)",
                 c->owner, c->id);
        return s_result(d, DIR_NOT_REGISTERED);
    }
    if (c->owner_index != n->n.node_index ||
        epoch_index(c->epoch) != n->n.node_index) {
        LOG_NODE(d, LOG_LVL_WARN, c->owner, "bad-epoch", now,
                 "node %s (index %u): announce of %s with owner index %u, "
                 "epoch %016" PRIx64 " (low byte must be the owner's index): "
                 "ignored",
                 c->owner, (unsigned)n->n.node_index, c->id,
                 (unsigned)c->owner_index, c->epoch);
        return s_result(d, DIR_BAD);
    }
    n->last_seen = now; /* any message counts as a sign of life */
    if ((hn = smap_get(&d->consoles, c->id)) == NULL) {
        if (!s_room(d, n, c->id, true, now))
            return s_result(d, DIR_LIMIT);
        if ((e = calloc(1, sizeof(*e))) == NULL)
            return s_result(d, DIR_NOMEM);
        e->c = *c;
        e->owner = n;
        smap_put(&d->consoles, &e->hn, e->c.id);
        n->nconsoles++;
        s_pub_console(d, e);
        return s_result(d, DIR_APPLIED);
    }
    e = smap_entry(hn, struct dir_console, hn);
    if (c->epoch < e->c.epoch) {
        LOG_NODE(d, LOG_LVL_INFO, c->owner, "stale-announce", now,
                 "console=%s stale announce from node %s: epoch %016" PRIx64
                 " < known %016" PRIx64 " (owner %s): ignored",
                 c->id, c->owner, c->epoch, e->c.epoch, e->c.owner);
        return s_result(d, DIR_STALE);
    }
    if (c->epoch == e->c.epoch && e->owner != n) {
        LOG_NODE(d, LOG_LVL_WARN, c->owner, "conflict", now,
                 "console=%s announce from node %s with the epoch %016" PRIx64
                 " that node %s holds: ignored",
                 c->id, c->owner, c->epoch, e->c.owner);
        return s_result(d, DIR_CONFLICT);
    }
    if (s_same(&e->c, c))
        return s_result(d, DIR_UNCHANGED);
    if (e->owner != n) {
        if (!s_room(d, n, c->id, false, now))
            return s_result(d, DIR_LIMIT);
        log_debug("console=%s owner %s -> %s, epoch %016" PRIx64
                  " -> %016" PRIx64,
                  c->id, e->c.owner, c->owner, e->c.epoch, c->epoch);
        e->owner->nconsoles--;
        n->nconsoles++;
        e->owner = n;
    }
    e->c = *c;
    s_pub_console(d, e);
    return s_result(d, DIR_APPLIED);
}

enum dir_result
dir_withdraw(struct dir *d, const struct wire_withdraw *w, double now)
{
    struct dir_node *n = s_node(d, w->node_id);
    struct smap_node *hn;
    struct dir_console *e;
    uint64_t epoch;

    if (n == NULL || !n->n.alive) {
        LOG_NODE(d, LOG_LVL_DEBUG, w->node_id, "unregistered", now,
                 "node %s: withdraw of %s while not registered: ignored",
                 w->node_id, w->console_id);
        return s_result(d, DIR_NOT_REGISTERED);
    }
    n->last_seen = now;
    if ((hn = smap_get(&d->consoles, w->console_id)) == NULL) {
        log_debug("console=%s withdraw from node %s: not listed", w->console_id,
                  w->node_id);
        return s_result(d, DIR_NOT_FOUND);
    }
    e = smap_entry(hn, struct dir_console, hn);
    if (w->epoch < e->c.epoch) {
        LOG_NODE(d, LOG_LVL_INFO, w->node_id, "stale-withdraw", now,
                 "console=%s stale withdraw from node %s: epoch %016" PRIx64
                 " < known %016" PRIx64 " (owner %s): ignored",
                 w->console_id, w->node_id, w->epoch, e->c.epoch, e->c.owner);
        return s_result(d, DIR_STALE);
    }
    if (w->epoch == e->c.epoch && e->owner != n) {
        LOG_NODE(d, LOG_LVL_WARN, w->node_id, "conflict", now,
                 "console=%s withdraw from node %s of the epoch %016" PRIx64
                 " that node %s holds: ignored",
                 w->console_id, w->node_id, w->epoch, e->c.owner);
        return s_result(d, DIR_CONFLICT);
    }
    epoch = w->epoch > e->c.epoch ? w->epoch : e->c.epoch;
    smap_del(&d->consoles, hn);
    e->owner->nconsoles--;
    s_pub_removed(d, w->console_id, epoch);
    free(e);
    return s_result(d, DIR_APPLIED);
}
