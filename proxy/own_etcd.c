/*
 * own_etcd.c: the ownership store (ownstore.h) kept in an etcd v3
 * cluster, reached through its JSON gateway (etcd.h); the layout of keys
 * and values is etcdkv.h, the transactions own_etcd_ops.c.
 *
 *   node liveness   a lease (TTL --etcd-ttl) kept alive every third of
 *                   it; alive/ID and index/N are put with it, so a dead
 *                   node's go when it expires
 *   node index      index/N is created only if absent or this node's
 *                   (a restart of the same node id takes it over)
 *   the directory   one range read (a sync), then a watch from the next
 *                   revision into the replica (common/ccreplica.c, the
 *                   coordinator client's, one generation per sync)
 *   ownership       announces and withdraws are transactions on the
 *                   console's epoch (own_etcd_ops.c); another node's
 *                   higher epoch fences ours, as with the coordinator
 *
 * A call that gets no answer (refused, reset, 2 s timeout, gRPC
 * UNAVAILABLE) turns to the next endpoint: the store is "away" until a
 * sync there succeeds; lookups answer from the replica meanwhile and
 * announces wait. The state machine is the table below.
 */
#include "vspc/compat.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "own_etcd_int.h"
#include "vspc/clock.h"
#include "vspc/log.h"

static const char *const oe_state_names[OE_ST__COUNT] = {
    [OE_GRANT] = "lease", [OE_REGISTER] = "register", [OE_REFUSED] = "refused",
    [OE_SYNC] = "sync",   [OE_ACTIVE] = "active",
};

/* next[state][event]. FAIL keeps the state: the endpoint changes and the
 * state's request is sent again when the retry timer fires. */
static const enum oe_state oe_next[OE_ST__COUNT][OE_EV__COUNT] = {
    [OE_GRANT] = {[OE_EV_OK] = OE_REGISTER,
                  [OE_EV_FAIL] = OE_GRANT,
                  [OE_EV_REFUSED] = OE_GRANT,
                  [OE_EV_LEASE_LOST] = OE_GRANT,
                  [OE_EV_RESYNC] = OE_GRANT,
                  [OE_EV_RETRY] = OE_GRANT},
    [OE_REGISTER] = {[OE_EV_OK] = OE_SYNC,
                     [OE_EV_FAIL] = OE_REGISTER,
                     [OE_EV_REFUSED] = OE_REFUSED,
                     [OE_EV_LEASE_LOST] = OE_GRANT,
                     [OE_EV_RESYNC] = OE_REGISTER,
                     [OE_EV_RETRY] = OE_REGISTER},
    [OE_REFUSED] = {[OE_EV_OK] = OE_REFUSED,
                    [OE_EV_FAIL] = OE_REFUSED,
                    [OE_EV_REFUSED] = OE_REFUSED,
                    [OE_EV_LEASE_LOST] = OE_GRANT,
                    [OE_EV_RESYNC] = OE_REFUSED,
                    [OE_EV_RETRY] = OE_REGISTER},
    [OE_SYNC] = {[OE_EV_OK] = OE_ACTIVE,
                 [OE_EV_FAIL] = OE_SYNC,
                 [OE_EV_REFUSED] = OE_REFUSED,
                 [OE_EV_LEASE_LOST] = OE_GRANT,
                 [OE_EV_RESYNC] = OE_SYNC,
                 [OE_EV_RETRY] = OE_SYNC},
    [OE_ACTIVE] = {[OE_EV_OK] = OE_ACTIVE,
                   [OE_EV_FAIL] = OE_SYNC,
                   [OE_EV_REFUSED] = OE_REFUSED,
                   [OE_EV_LEASE_LOST] = OE_GRANT,
                   [OE_EV_RESYNC] = OE_SYNC,
                   [OE_EV_RETRY] = OE_ACTIVE},
};

#define OE_BACKOFF_MIN 0.1
#define OE_BACKOFF_MAX 2.0
#define OE_REFUSED_RETRY 2.0

static void oe_enter(struct own_etcd *o);

static enum own_state
oe_own_state(enum oe_state st)
{
    switch (st) {
    case OE_GRANT:
    case OE_REGISTER:
        return OWN_ST_JOINING;
    case OE_REFUSED:
        return OWN_ST_REFUSED;
    case OE_SYNC:
        return OWN_ST_SYNCING;
    case OE_ACTIVE:
    case OE_ST__COUNT:
        break;
    }
    return OWN_ST_ACTIVE;
}

json_t *
oe_key_json(const struct own_etcd *o, enum ekv_kind k, const char *name)
{
    char key[EKV_KEY_MAX + 1];

    if (ekv_key(key, sizeof(key), o->prefix, k, name) != 0)
        return NULL;
    return etcd_b64(key, strlen(key));
}

static void
oe_tell(struct own_etcd *o, const char *detail)
{
    if (o->cbs.state)
        o->cbs.state(o->arg, oe_own_state(o->state), o->away, detail);
}

static void
oe_arm(struct event *ev, double secs)
{
    struct timeval tv;

    tv.tv_sec = (time_t)secs;
    tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
    event_add(ev, &tv);
}

void
oe_event(struct own_etcd *o, enum oe_event ev, const char *detail)
{
    enum oe_state from = o->state, to = oe_next[from][ev];

    if (detail)
        snprintf(o->detail, sizeof(o->detail), "%s", detail);
    o->state = to;
    switch (ev) {
    case OE_EV_FAIL: {
        const char *was = etcd_endpoint(o->et);

        o->gen++;
        o->ka_in_flight = false;
        log_warnx("cluster: etcd %s (%s): %s; turning to %s", was,
                  oe_state_names[from], detail ? detail : "no answer",
                  etcd_next_endpoint(o->et)[0] ? etcd_next_endpoint(o->et)
                                               : "it again");
        etcd_switch(o->et); /* abandons: op callbacks requeue */
        o->st.switches++;
        if (!o->away) {
            o->away = true;
            oe_tell(o, detail);
        }
        o->waiting = true;
        oe_arm(o->retry_ev, o->backoff);
        o->backoff =
            o->backoff * 2 > OE_BACKOFF_MAX ? OE_BACKOFF_MAX : o->backoff * 2;
        return;
    }
    case OE_EV_REFUSED:
        log_errorx("cluster: etcd: node %s: %s; trying again every %.0f s",
                   o->node_id, detail ? detail : "refused", OE_REFUSED_RETRY);
        o->waiting = true;
        oe_arm(o->retry_ev, OE_REFUSED_RETRY);
        oe_tell(o, detail);
        return;
    case OE_EV_LEASE_LOST:
        log_warnx("cluster: etcd: node %s's lease is gone (%s): a new one",
                  o->node_id, detail ? detail : "expired");
        o->lease = 0;
        break;
    case OE_EV_RESYNC:
        log_info("cluster: etcd: reading the directory again (%s)",
                 detail ? detail : "");
        break;
    case OE_EV_OK:
    case OE_EV_RETRY:
    case OE_EV__COUNT:
        break;
    }
    if (from != to && (to == OE_ACTIVE || from == OE_ACTIVE ||
                       to == OE_REFUSED || from == OE_REFUSED))
        oe_tell(o, detail);
    oe_enter(o);
}

bool
oe_failed(struct own_etcd *o, unsigned gen, const char *what,
          const struct etcd_err *er)
{
    char d[240];

    if (er->kind == ETCD_E_ABANDONED || gen != o->gen)
        return true;
    snprintf(d, sizeof(d), "%s: %s", what, er->msg);
    if (er->kind == ETCD_E_SERVER && er->code == ETCD_GRPC_NOT_FOUND &&
        strstr(er->msg, "lease"))
        oe_event(o, OE_EV_LEASE_LOST, d);
    else if (er->kind == ETCD_E_TRANSPORT ||
             er->code == ETCD_GRPC_UNAVAILABLE || er->code == 4 /* deadline */)
        oe_event(o, OE_EV_FAIL, d);
    else {
        /* etcd refused what we sent: a bug here, or a limit there. Turn
         * away all the same (never spin on one endpoint). */
        log_errorx("cluster: etcd refused %s", d);
        oe_event(o, OE_EV_FAIL, d);
    }
    return true;
}

/* ---- lease ----------------------------------------------------------------
 */

struct oe_call {
    struct own_etcd *o;
    unsigned gen;
};

static struct oe_call *
oe_call_new(struct own_etcd *o)
{
    struct oe_call *c = malloc(sizeof(*c));

    if (c) {
        c->o = o;
        c->gen = o->gen;
    }
    return c;
}

/* Common head of the state requests' callbacks: false if stale/failed. */
static bool
oe_reply_ok(void *arg, const struct etcd_err *er, const char *what,
            struct own_etcd **op)
{
    struct oe_call *c = arg;
    struct own_etcd *o = c->o;
    unsigned gen = c->gen;

    free(c);
    *op = o;
    if (er) {
        oe_failed(o, gen, what, er);
        return false;
    }
    return gen == o->gen;
}

static void
oe_call(struct own_etcd *o, const char *path, json_t *body, etcd_reply_fn cb)
{
    struct oe_call *c = oe_call_new(o);

    if (c == NULL || body == NULL || etcd_call(o->et, path, body, cb, c) != 0) {
        free(c);
        /* Out of memory: try again on the retry timer. */
        log_warnx("cluster: etcd: cannot send %s (out of memory)", path);
        o->waiting = true;
        oe_arm(o->retry_ev, OE_BACKOFF_MAX);
    }
}

static void
oe_grant_cb(void *arg, json_t *reply, const struct etcd_err *er)
{
    struct own_etcd *o;

    if (!oe_reply_ok(arg, er, "lease grant", &o))
        return;
    o->lease = etcd_int(json_object_get(reply, "ID"));
    if (o->lease == 0) {
        oe_event(o, OE_EV_FAIL, "lease grant: no lease in the reply");
        return;
    }
    oe_event(o, OE_EV_OK, NULL);
}

static void
oe_ka_cb(void *arg, json_t *reply, const struct etcd_err *er)
{
    struct own_etcd *o = ((struct oe_call *)arg)->o;
    unsigned gen = ((struct oe_call *)arg)->gen;

    if (gen == o->gen)
        o->ka_in_flight = false;
    if (!oe_reply_ok(arg, er, "lease keepalive", &o))
        return;
    if (etcd_int(json_object_get(json_object_get(reply, "result"), "TTL")) <= 0)
        oe_event(o, OE_EV_LEASE_LOST, "keepalive: TTL 0");
}

static void
oe_keepalive(struct own_etcd *o)
{
    char id[32];

    if (o->lease == 0 || o->ka_in_flight || o->waiting)
        return;
    snprintf(id, sizeof(id), "%" PRId64, o->lease);
    o->ka_in_flight = true;
    oe_call(o, "/v3/lease/keepalive", json_pack("{s:s}", "ID", id), oe_ka_cb);
}

static void
oe_ka_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    oe_keepalive(arg);
}

/* ---- registration ---------------------------------------------------------
 */

static void
oe_register_cb(void *arg, json_t *reply, const struct etcd_err *er)
{
    struct own_etcd *o;
    json_t *inner, *kv;
    char holder[WIRE_NODE_ID_MAX + 1], d[200];
    size_t n;

    if (!oe_reply_ok(arg, er, "register", &o))
        return;
    if (json_is_true(json_object_get(reply, "succeeded"))) {
        o->st.registrations++;
        oe_event(o, OE_EV_OK, NULL);
        return;
    }
    inner = json_object_get(
        json_array_get(json_object_get(reply, "responses"), 0), "response_txn");
    if (json_is_true(json_object_get(inner, "succeeded"))) {
        o->st.registrations++;
        oe_event(o, OE_EV_OK, NULL);
        return;
    }
    kv = json_array_get(
        json_object_get(
            json_object_get(
                json_array_get(json_object_get(inner, "responses"), 0),
                "response_range"),
            "kvs"),
        0);
    if (kv == NULL || etcd_unb64(json_object_get(kv, "value"), holder,
                                 sizeof(holder), &n) != 0) {
        /* It went between the compares: just try again. */
        oe_event(o, OE_EV_RETRY, NULL);
        return;
    }
    snprintf(d, sizeof(d), "node index %u is held by live node %.63s",
             (unsigned)o->index, holder);
    oe_event(o, OE_EV_REFUSED, d);
}

static void
oe_register(struct own_etcd *o)
{
    char ix[8], lease[32], inc[32], v[EKV_VALUE_MAX];
    size_t vl;
    struct wire_node me;
    json_t *puts, *body;

    memset(&me, 0, sizeof(me));
    snprintf(me.node_id, sizeof(me.node_id), "%s", o->node_id);
    me.node_index = o->index;
    snprintf(me.peer_addr, sizeof(me.peer_addr), "%s", o->peer_addr);
    snprintf(ix, sizeof(ix), "%u", (unsigned)o->index);
    snprintf(lease, sizeof(lease), "%" PRId64, o->lease);
    snprintf(inc, sizeof(inc), "%" PRIu64, o->incarnation);
    if (ekv_node_encode(&me, v, sizeof(v), &vl) != 0) {
        oe_event(o, OE_EV_REFUSED, "this node's entry does not encode");
        return;
    }
    /* index/N (lease), alive/ID (lease), nodes/ID: if index/N is absent,
     * or ours; else read who holds it. */
#define OE_PUTS()                                                              \
    json_pack("[{s:{s:o, s:o, s:s}}, {s:{s:o, s:o, s:s}}, {s:{s:o, s:o}}]",    \
              "request_put", "key", oe_key_json(o, EKV_INDEX, ix), "value",    \
              etcd_b64(o->node_id, strlen(o->node_id)), "lease", lease,        \
              "request_put", "key", oe_key_json(o, EKV_ALIVE, o->node_id),     \
              "value", etcd_b64(inc, strlen(inc)), "lease", lease,             \
              "request_put", "key", oe_key_json(o, EKV_NODE, o->node_id),      \
              "value", etcd_b64(v, vl))
    puts = OE_PUTS();
    body = json_pack(
        "{s:[{s:o, s:s, s:s, s:s}], s:o, s:[{s:{s:[{s:o, s:s, s:s, s:o}], "
        "s:o, s:[{s:{s:o}}]}}]}",
        "compare", "key", oe_key_json(o, EKV_INDEX, ix), "target", "CREATE",
        "result", "EQUAL", "create_revision", "0", "success", puts, "failure",
        "request_txn", "compare", "key", oe_key_json(o, EKV_INDEX, ix),
        "target", "VALUE", "result", "EQUAL", "value",
        etcd_b64(o->node_id, strlen(o->node_id)), "success", OE_PUTS(),
        "failure", "request_range", "key", oe_key_json(o, EKV_INDEX, ix));
#undef OE_PUTS
    oe_call(o, "/v3/kv/txn", body, oe_register_cb);
}

/* ---- the directory: sync and watch ----------------------------------------
 */

/* A node's replica entry from its nodes/ entry and the alive/ set. */
static void
oe_node_refresh(struct own_etcd *o, const char *node_id)
{
    const struct wire_node *n = ccr_get_node(&o->rep, node_id);
    struct wire_node x;

    if (n == NULL)
        return; /* alive/ before nodes/: the nodes/ entry does it */
    x = *n;
    x.alive = smap_get(&o->alive, node_id) != NULL;
    ccr_node(&o->rep, &x);
}

/* alive/ID put (alive) or deleted: a deletion shows only after
 * OE_DEAD_GRACE (oe_dead_cb), unless the key is back by then. */
static void
oe_alive_set(struct own_etcd *o, const char *node_id, bool alive)
{
    struct smap_node *hn = smap_get(&o->alive, node_id);
    struct oe_alive *a = hn ? smap_entry(hn, struct oe_alive, hn) : NULL;

    if (alive) {
        if (a == NULL) {
            if ((a = calloc(1, sizeof(*a))) == NULL)
                return;
            snprintf(a->id, sizeof(a->id), "%s", node_id);
            smap_put(&o->alive, &a->hn, a->id);
        }
        a->gone_at = 0;
        a->seen = true;
        oe_node_refresh(o, node_id);
    } else if (a && a->gone_at == 0) {
        struct timeval tv = {(time_t)OE_DEAD_GRACE, 0};

        a->gone_at = clock_now();
        if (!evtimer_pending(o->dead_ev, NULL))
            evtimer_add(o->dead_ev, &tv);
    }
}

struct oe_sweep {
    struct own_etcd *o;
    double now;
    bool more;
};

static void
oe_dead_one(struct smap_node *hn, void *arg)
{
    struct oe_sweep *x = arg;
    struct oe_alive *a = smap_entry(hn, struct oe_alive, hn);
    char id[WIRE_NODE_ID_MAX + 1];

    if (a->gone_at == 0)
        return;
    if (x->now - a->gone_at < OE_DEAD_GRACE) {
        x->more = true;
        return;
    }
    snprintf(id, sizeof(id), "%s", a->id);
    smap_del(&x->o->alive, hn);
    free(a);
    oe_node_refresh(x->o, id);
}

static void
oe_dead_cb(evutil_socket_t fd, short what, void *arg)
{
    struct oe_sweep x = {arg, clock_now(), false};
    struct timeval tv = {0, 500000};

    smap_foreach(&x.o->alive, oe_dead_one, &x);
    if (x.more)
        evtimer_add(x.o->dead_ev, &tv);
}

static void
oe_alive_unsee(struct smap_node *hn, void *arg)
{
    smap_entry(hn, struct oe_alive, hn)->seen = false;
}

/* After a sync: what it did not show is gone (with the grace). */
static void
oe_alive_unseen_gone(struct smap_node *hn, void *arg)
{
    struct oe_alive *a = smap_entry(hn, struct oe_alive, hn);

    if (!a->seen)
        oe_alive_set(arg, a->id, false);
}

void
oe_apply_console(struct own_etcd *o, const struct wire_console *c)
{
    ccr_console(&o->rep, c, clock_now());
    oe_check_fenced(o, c);
}

/* One key-value from a range or a watch PUT. */
static void
oe_apply_kv(struct own_etcd *o, json_t *kv)
{
    char key[EKV_KEY_MAX + 1], name[WIRE_CONSOLE_ID_MAX + 1];
    char v[EKV_VALUE_MAX + 1], err[160];
    size_t kl, vl;
    enum ekv_kind k;
    unsigned supp;

    if (etcd_unb64(json_object_get(kv, "key"), key, sizeof(key), &kl) != 0)
        return;
    k = ekv_parse_key(o->prefix, key, kl, name, sizeof(name));
    if (k == EKV_OTHER || k == EKV_INDEX)
        return;
    if (etcd_unb64(json_object_get(kv, "value"), v, sizeof(v), &vl) != 0) {
        snprintf(err, sizeof(err), "value too long or not base64");
    } else if (k == EKV_ALIVE) {
        oe_alive_set(o, name, true);
        return;
    } else if (k == EKV_CONSOLE) {
        struct wire_console c;

        if (ekv_console_decode(name, v, vl, &c, err, sizeof(err)) == 0) {
            oe_apply_console(o, &c);
            return;
        }
    } else {
        struct wire_node n;

        if (ekv_node_decode(name, v, vl, &n, err, sizeof(err)) == 0) {
            n.alive = smap_get(&o->alive, name) != NULL;
            ccr_node(&o->rep, &n);
            return;
        }
    }
    if (rlog_allow(&o->rl, key, kl, clock_now(), &supp))
        log_warnx("cluster: etcd: %.*s is not a vspc entry (%s): ignored",
                  (int)kl, key, err);
}

static void
oe_apply_delete(struct own_etcd *o, json_t *ev)
{
    char key[EKV_KEY_MAX + 1], name[WIRE_CONSOLE_ID_MAX + 1];
    char v[EKV_VALUE_MAX + 1], err[160];
    size_t kl, vl;
    struct wire_removed rm;
    struct wire_console prev;
    const struct wire_console *cur;

    if (etcd_unb64(json_object_get(json_object_get(ev, "kv"), "key"), key,
                   sizeof(key), &kl) != 0)
        return;
    switch (ekv_parse_key(o->prefix, key, kl, name, sizeof(name))) {
    case EKV_ALIVE:
        oe_alive_set(o, name, false);
        return;
    case EKV_CONSOLE:
        memset(&rm, 0, sizeof(rm));
        snprintf(rm.id, sizeof(rm.id), "%s", name);
        cur = ccr_get_console(&o->rep, name);
        rm.epoch = cur ? cur->epoch : 0;
        if (etcd_unb64(json_object_get(json_object_get(ev, "prev_kv"), "value"),
                       v, sizeof(v), &vl) == 0 &&
            ekv_console_decode(name, v, vl, &prev, err, sizeof(err)) == 0)
            rm.epoch = prev.epoch;
        ccr_removed(&o->rep, &rm);
        return;
    default:
        return;
    }
}

static void
oe_watch_fn(void *arg, json_t *res)
{
    struct own_etcd *o = arg;
    json_t *evs = json_object_get(res, "events"), *ev;
    size_t i;
    char d[120];

    if (json_is_true(json_object_get(res, "canceled"))) {
        snprintf(d, sizeof(d), "watch canceled (compacted to %" PRId64 ")",
                 etcd_int(json_object_get(res, "compact_revision")));
        oe_event(o, OE_EV_RESYNC, d);
        return;
    }
    if (json_array_size(evs) == 0) {
        if (!json_is_true(json_object_get(res, "created")))
            o->rev = etcd_int(json_object_get(json_object_get(res, "header"),
                                              "revision")); /* progress */
        return;
    }
    json_array_foreach(evs, i, ev)
    {
        json_t *type = json_object_get(ev, "type");
        int64_t r = etcd_int(
            json_object_get(json_object_get(ev, "kv"), "mod_revision"));

        if (json_is_string(type) &&
            strcmp(json_string_value(type), "DELETE") == 0)
            oe_apply_delete(o, ev);
        else
            oe_apply_kv(o, json_object_get(ev, "kv"));
        if (r > o->rev)
            o->rev = r;
    }
}

static void
oe_watch_end(void *arg, const char *why)
{
    struct own_etcd *o = arg;
    char d[160];

    snprintf(d, sizeof(d), "watch: %s", why);
    oe_event(o, OE_EV_FAIL, d);
}

static void
oe_watch_start(struct own_etcd *o)
{
    char end[EKV_PREFIX_MAX + 1], rev[32];
    json_t *req;

    ekv_range_end(end, sizeof(end), o->prefix);
    snprintf(rev, sizeof(rev), "%" PRId64, o->rev + 1);
    req = json_pack("{s:o, s:o, s:s, s:b, s:b}", "key",
                    etcd_b64(o->prefix, strlen(o->prefix)), "range_end",
                    etcd_b64(end, strlen(end)), "start_revision", rev,
                    "prev_kv", 1, "progress_notify", 1);
    if (req == NULL ||
        etcd_watch(o->et, req, oe_watch_fn, oe_watch_end, o) != 0)
        oe_event(o, OE_EV_FAIL, "cannot start the watch (out of memory)");
}

/* Restart clean-up, once per process: entries still naming this node
 * that it does not hold are a previous life's (the coordinator drops them
 * when a node registers with a new incarnation). */
static void
oe_cleanup_one(const struct wire_console *c, void *arg)
{
    struct own_etcd *o = arg;

    if (strcmp(c->owner, o->node_id) == 0 && !smap_get(&o->owned, c->id) &&
        !smap_get(&o->wds, c->id))
        oe_withdraw(&o->s, c->id, c->epoch);
}

static void
oe_fence_one(const struct wire_console *c, void *arg)
{
    oe_check_fenced(arg, c);
}

static void
oe_range_cb(void *arg, json_t *reply, const struct etcd_err *er)
{
    struct own_etcd *o;
    json_t *kvs, *kv;
    size_t i;
    char key[EKV_KEY_MAX + 1], name[WIRE_CONSOLE_ID_MAX + 1];
    size_t kl;

    if (!oe_reply_ok(arg, er, "sync", &o))
        return;
    kvs = json_object_get(reply, "kvs");
    o->rev =
        etcd_int(json_object_get(json_object_get(reply, "header"), "revision"));
    o->st.term = (uint64_t)etcd_int(
        json_object_get(json_object_get(reply, "header"), "raft_term"));
    ccr_begin(&o->rep);
    /* alive/ first, so the nodes/ entries read it. */
    smap_foreach(&o->alive, oe_alive_unsee, NULL);
    json_array_foreach(kvs, i, kv)
    {
        if (etcd_unb64(json_object_get(kv, "key"), key, sizeof(key), &kl) ==
                0 &&
            ekv_parse_key(o->prefix, key, kl, name, sizeof(name)) == EKV_ALIVE)
            oe_apply_kv(o, kv);
    }
    json_array_foreach(kvs, i, kv) oe_apply_kv(o, kv);
    smap_foreach(&o->alive, oe_alive_unseen_gone, o);
    ccr_sweep(&o->rep, clock_now());
    o->st.snapshots++;
    ccr_foreach_console(&o->rep, oe_fence_one, o);
    if (!o->synced) {
        o->synced = true;
        ccr_foreach_console(&o->rep, oe_cleanup_one, o);
    }
    oe_mark_all_dirty(o);
    o->backoff = OE_BACKOFF_MIN;
    o->away = false;
    oe_event(o, OE_EV_OK, "in sync");
}

static void
oe_sync(struct own_etcd *o)
{
    char end[EKV_PREFIX_MAX + 1];

    etcd_watch_stop(o->et);
    ekv_range_end(end, sizeof(end), o->prefix);
    oe_call(o, "/v3/kv/range",
            json_pack("{s:o, s:o}", "key",
                      etcd_b64(o->prefix, strlen(o->prefix)), "range_end",
                      etcd_b64(end, strlen(end))),
            oe_range_cb);
}

/* ---- entering a state ------------------------------------------------------
 */

static void
oe_enter(struct own_etcd *o)
{
    o->waiting = false;
    event_del(o->retry_ev);
    switch (o->state) {
    case OE_GRANT:
        oe_call(o, "/v3/lease/grant", json_pack("{s:i}", "TTL", (int)o->ttl),
                oe_grant_cb);
        break;
    case OE_REGISTER:
        oe_keepalive(o);
        oe_register(o);
        break;
    case OE_REFUSED:
        break;
    case OE_SYNC:
        oe_keepalive(o);
        oe_sync(o);
        break;
    case OE_ACTIVE:
        if (!etcd_watching(o->et))
            oe_watch_start(o);
        oe_flush(o);
        break;
    case OE_ST__COUNT:
        break;
    }
}

static void
oe_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    oe_event(arg, OE_EV_RETRY, NULL);
}

/* ---- the table -------------------------------------------------------------
 */

static const struct wire_console *
oe_console(const struct own_store *s, const char *id)
{
    return ccr_get_console(&((const struct own_etcd *)s)->rep, id);
}

static const struct wire_node *
oe_node(const struct own_store *s, const char *node_id)
{
    return ccr_get_node(&((const struct own_etcd *)s)->rep, node_id);
}

static void
oe_foreach_console(const struct own_store *s,
                   void (*fn)(const struct wire_console *c, void *arg),
                   void *arg)
{
    ccr_foreach_console(&((const struct own_etcd *)s)->rep, fn, arg);
}

static void
oe_foreach_node(const struct own_store *s,
                void (*fn)(const struct wire_node *n, void *arg), void *arg)
{
    ccr_foreach_node(&((const struct own_etcd *)s)->rep, fn, arg);
}

static void
oe_status(const struct own_store *s, struct own_status *st)
{
    const struct own_etcd *o = (const struct own_etcd *)s;

    *st = o->st;
    st->state = oe_own_state(o->state);
    st->away = o->away;
    st->consoles = smap_count(&o->rep.consoles);
    st->nodes = smap_count(&o->rep.nodes);
    st->owned = smap_count(&o->owned);
    st->server = etcd_endpoint(o->et);
    st->other = etcd_next_endpoint(o->et);
}

static void
oe_free(struct own_store *s)
{
    struct own_etcd *o = (struct own_etcd *)s;

    etcd_free(&o->et); /* abandons: op callbacks run now */
    if (o->retry_ev)
        event_free(o->retry_ev);
    if (o->ka_ev)
        event_free(o->ka_ev);
    if (o->dead_ev)
        event_free(o->dead_ev);
    oe_ops_free(o);
    ccr_fini(&o->rep);
    free(o);
}

static const struct own_store_ops oe_ops = {
    .announce = oe_announce,
    .withdraw = oe_withdraw,
    .handed_over = oe_handed_over,
    .next_epoch = oe_next_epoch,
    .console = oe_console,
    .node = oe_node,
    .foreach_console = oe_foreach_console,
    .foreach_node = oe_foreach_node,
    .status = oe_status,
    .free = oe_free,
};

struct own_store *
own_etcd_new(struct event_base *base, const struct own_config *cfg,
             const struct own_callbacks *cbs, void *arg, char *err,
             size_t errlen)
{
    struct own_etcd *o;
    struct etcd_config ec;
    struct cc_callbacks rcb;
    struct timeval ka;

    if (!ekv_prefix_ok(cfg->etcd_prefix ? cfg->etcd_prefix : "/vspc/")) {
        snprintf(err, errlen, "the etcd prefix must be printable and end in /");
        return NULL;
    }
    if ((o = calloc(1, sizeof(*o))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->s.ops = &oe_ops;
    o->s.kind = "etcd";
    o->base = base;
    o->cbs = *cbs;
    o->arg = arg;
    snprintf(o->node_id, sizeof(o->node_id), "%s", cfg->node_id);
    o->index = cfg->node_index;
    snprintf(o->peer_addr, sizeof(o->peer_addr), "%s", cfg->peer_addr);
    o->incarnation = cfg->incarnation;
    snprintf(o->prefix, sizeof(o->prefix), "%s",
             cfg->etcd_prefix ? cfg->etcd_prefix : "/vspc/");
    o->ttl = cfg->etcd_ttl ? cfg->etcd_ttl : 10;
    o->max_owned = 100000;
    o->backoff = OE_BACKOFF_MIN;
    o->state = OE_GRANT;
    TAILQ_INIT(&o->dirty);
    TAILQ_INIT(&o->wdq);
    rlog_init(&o->rl, 10.0);
    memset(&rcb, 0, sizeof(rcb));
    rcb.console = cbs->console;
    rcb.node = cbs->node;
    smap_init(&o->owned);
    smap_init(&o->wds);
    smap_init(&o->busy);
    smap_init(&o->alive);
    memset(&ec, 0, sizeof(ec));
    ec.endpoints = cfg->endpoints;
    ec.n_endpoints = cfg->n_endpoints;
    ec.timeout = 2.0;
    if (ccr_init(&o->rep, 1000000, o->node_id, &rcb, arg) != 0 ||
        (o->et = etcd_new(base, &ec, err, errlen)) == NULL ||
        (o->retry_ev = evtimer_new(base, oe_retry_cb, o)) == NULL ||
        (o->dead_ev = evtimer_new(base, oe_dead_cb, o)) == NULL ||
        (o->ka_ev = event_new(base, -1, EV_PERSIST, oe_ka_timer_cb, o)) ==
            NULL) {
        if (err[0] == '\0')
            snprintf(err, errlen, "out of memory");
        oe_free(&o->s);
        return NULL;
    }
    ka.tv_sec = o->ttl / 3;
    ka.tv_usec = (suseconds_t)((o->ttl % 3) * 1000000 / 3);
    event_add(o->ka_ev, &ka);
    oe_enter(o);
    return &o->s;
}
