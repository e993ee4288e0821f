/*
 * own_coord.c: the ownership store (ownstore.h) kept by the
 * vspc-coordinator pair: a thin adapter over the coordinator client
 * (vspc/coordcli.h, cc_), which does the work (registration, heartbeats,
 * the Clone-pattern replica, fencing).
 */
#include "vspc/compat.h"
#include "ownstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vspc/coordcli.h"

struct own_coord {
    struct own_store s; /* first */
    struct cc *cc;
    struct own_callbacks cbs;
    void *arg;
};

static const char *const own_state_names[OWN_ST__COUNT] = {
    [OWN_ST_JOINING] = "register",
    [OWN_ST_REFUSED] = "refused",
    [OWN_ST_SYNCING] = "sync",
    [OWN_ST_ACTIVE] = "active",
};

const char *
own_state_str(enum own_state st)
{
    return (unsigned)st < OWN_ST__COUNT ? own_state_names[st] : "?";
}

static struct own_coord *
oc_of(struct own_store *s)
{
    return (struct own_coord *)s;
}

static const struct own_coord *
oc_cof(const struct own_store *s)
{
    return (const struct own_coord *)s;
}

static enum own_state
oc_state(enum cc_state st)
{
    switch (st) {
    case CC_ST_REGISTER:
        return OWN_ST_JOINING;
    case CC_ST_REFUSED:
        return OWN_ST_REFUSED;
    case CC_ST_SYNC:
        return OWN_ST_SYNCING;
    case CC_ST_ACTIVE:
    case CC_ST__COUNT:
        break;
    }
    return OWN_ST_ACTIVE;
}

/* ---- the client's callbacks, passed on --------------------------------- */

static void
oc_console_cb(void *arg, const struct wire_console *now,
              const struct wire_console *old)
{
    struct own_coord *o = arg;

    if (o->cbs.console)
        o->cbs.console(o->arg, now, old);
}

static void
oc_node_cb(void *arg, const struct wire_node *now, const struct wire_node *old)
{
    struct own_coord *o = arg;

    if (o->cbs.node)
        o->cbs.node(o->arg, now, old);
}

static void
oc_fenced_cb(void *arg, const struct wire_console *mine,
             const struct wire_console *theirs)
{
    struct own_coord *o = arg;

    if (o->cbs.fenced)
        o->cbs.fenced(o->arg, mine, theirs);
}

static void
oc_state_cb(void *arg, enum cc_state st, bool away, const char *detail)
{
    struct own_coord *o = arg;

    if (o->cbs.state)
        o->cbs.state(o->arg, oc_state(st), away, detail);
}

/* ---- the table ----------------------------------------------------------- */

static int
oc_announce(struct own_store *s, const struct wire_console *c)
{
    return cc_announce(oc_of(s)->cc, c);
}

static int
oc_withdraw(struct own_store *s, const char *id, uint64_t epoch)
{
    return cc_withdraw(oc_of(s)->cc, id, epoch);
}

static void
oc_handed_over(struct own_store *s, const char *id, uint64_t epoch)
{
    cc_handed_over(oc_of(s)->cc, id, epoch);
}

static uint64_t
oc_next_epoch(const struct own_store *s, const char *id)
{
    return cc_next_epoch(oc_cof(s)->cc, id);
}

static const struct wire_console *
oc_console(const struct own_store *s, const char *id)
{
    return cc_console(oc_cof(s)->cc, id);
}

static const struct wire_node *
oc_node(const struct own_store *s, const char *node_id)
{
    return cc_node(oc_cof(s)->cc, node_id);
}

static void
oc_foreach_console(const struct own_store *s,
                   void (*fn)(const struct wire_console *c, void *arg),
                   void *arg)
{
    cc_foreach_console(oc_cof(s)->cc, fn, arg);
}

static void
oc_foreach_node(const struct own_store *s,
                void (*fn)(const struct wire_node *n, void *arg), void *arg)
{
    cc_foreach_node(oc_cof(s)->cc, fn, arg);
}

static void
oc_status(const struct own_store *s, struct own_status *st)
{
    struct cc_status cs;

    cc_status(oc_cof(s)->cc, &cs);
    memset(st, 0, sizeof(*st));
    st->state = oc_state(cs.state);
    st->away = cs.away;
    st->consoles = cs.consoles;
    st->nodes = cs.nodes;
    st->owned = cs.owned;
    st->registrations = cs.registrations;
    st->switches = cs.switches;
    st->term = cs.coordinator_term;
    st->server = cs.endpoint;
    st->other = cs.other;
    st->snapshots = cs.snapshots;
}

static void
oc_free(struct own_store *s)
{
    struct own_coord *o = oc_of(s);

    cc_free(&o->cc);
    free(o);
}

static const struct own_store_ops oc_ops = {
    .announce = oc_announce,
    .withdraw = oc_withdraw,
    .handed_over = oc_handed_over,
    .next_epoch = oc_next_epoch,
    .console = oc_console,
    .node = oc_node,
    .foreach_console = oc_foreach_console,
    .foreach_node = oc_foreach_node,
    .status = oc_status,
    .free = oc_free,
};

struct own_store *
own_coord_new(struct event_base *base, const struct own_config *cfg,
              const struct own_callbacks *cbs, void *arg, char *err,
              size_t errlen)
{
    struct own_coord *o;
    struct cc_config cc;
    struct cc_callbacks ccb = {.console = oc_console_cb,
                               .node = oc_node_cb,
                               .fenced = oc_fenced_cb,
                               .state = oc_state_cb};

    if (cfg->n_endpoints == 0) {
        snprintf(err, errlen, "no coordinator endpoint");
        return NULL;
    }
    if ((o = calloc(1, sizeof(*o))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->s.ops = &oc_ops;
    o->s.kind = "coordinator";
    o->cbs = *cbs;
    o->arg = arg;
    memset(&cc, 0, sizeof(cc));
    cc.endpoint = cfg->endpoints[0];
    cc.endpoint2 = cfg->n_endpoints > 1 ? cfg->endpoints[1] : NULL;
    cc.node_id = cfg->node_id;
    cc.node_index = cfg->node_index;
    cc.peer_addr = cfg->peer_addr;
    cc.incarnation = cfg->incarnation;
    cc.curve = cfg->curve;
    if ((o->cc = cc_new(base, NULL, &cc, &ccb, o, err, errlen)) == NULL) {
        free(o);
        return NULL;
    }
    return &o->s;
}
