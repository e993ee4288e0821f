/*
 * ccreplica.c: the coordinator client's directory replica (ccr_). See
 * ccreplica.h for the generation rules.
 */
#include "vspc/compat.h"
#include "ccreplica.h"

#include <stdlib.h>
#include <string.h>

#include "vspc/log.h"

struct ccr_console {
    struct smap_node hn;
    struct wire_console c;
    unsigned gen; /* the sync that last confirmed it */
};

struct ccr_node {
    struct smap_node hn;
    struct wire_node n;
    unsigned gen;
};

int
ccr_init(struct ccr *r, size_t max_consoles, const char *who,
         const struct cc_callbacks *cbs, void *arg)
{
    memset(r, 0, sizeof(*r));
    r->max_consoles = max_consoles;
    r->who = who;
    r->console = cbs->console;
    r->node = cbs->node;
    r->arg = arg;
    rlog_init(&r->rl, 1.0);
    if (smap_init(&r->consoles) != 0)
        return -1;
    if (smap_init(&r->nodes) != 0) {
        smap_fini(&r->consoles);
        return -1;
    }
    return 0;
}

static void
s_free(struct smap_node *hn, void *arg)
{
    smap_del(arg, hn);
    free(hn); /* both entry types start with their smap_node */
}

void
ccr_fini(struct ccr *r)
{
    if (r->consoles.buckets) {
        smap_foreach(&r->consoles, s_free, &r->consoles);
        smap_fini(&r->consoles);
    }
    if (r->nodes.buckets) {
        smap_foreach(&r->nodes, s_free, &r->nodes);
        smap_fini(&r->nodes);
    }
}

void
ccr_begin(struct ccr *r)
{
    r->gen++;
}

void
ccr_new_incarnation(struct ccr *r, double grace_until)
{
    r->inc_gen = r->gen;
    r->grace_until = grace_until;
}

static bool
s_console_same(const struct wire_console *a, const struct wire_console *b)
{
    return a->epoch == b->epoch && a->owner_index == b->owner_index &&
           strcmp(a->id, b->id) == 0 && strcmp(a->vm_name, b->vm_name) == 0 &&
           strcmp(a->state, b->state) == 0 &&
           strcmp(a->hv_addr, b->hv_addr) == 0 &&
           strcmp(a->owner, b->owner) == 0;
}

static bool
s_node_same(const struct wire_node *a, const struct wire_node *b)
{
    return a->node_index == b->node_index && a->alive == b->alive &&
           strcmp(a->node_id, b->node_id) == 0 &&
           strcmp(a->peer_addr, b->peer_addr) == 0;
}

void
ccr_console(struct ccr *r, const struct wire_console *c, double now)
{
    struct smap_node *hn = smap_get(&r->consoles, c->id);
    struct ccr_console *e;
    struct wire_console old;

    if (hn == NULL) {
        unsigned supp;

        if (smap_count(&r->consoles) >= r->max_consoles) {
            if (rlog_allow(&r->rl, "full", 4, now, &supp))
                log_warnx("node %s: replica full (%zu consoles): %s and "
                          "further ones not kept",
                          r->who, r->max_consoles, c->id);
            return;
        }
        if ((e = calloc(1, sizeof(*e))) == NULL) {
            log_warnx("node %s: out of memory: console %s not kept", r->who,
                      c->id);
            return;
        }
        e->c = *c;
        e->gen = r->gen;
        smap_put(&r->consoles, &e->hn, e->c.id);
        if (r->console)
            r->console(r->arg, &e->c, NULL);
        return;
    }
    e = smap_entry(hn, struct ccr_console, hn);
    /* Confirmed in this sync already: never move it back. */
    if (e->gen == r->gen && c->epoch < e->c.epoch)
        return;
    e->gen = r->gen;
    if (s_console_same(&e->c, c))
        return;
    old = e->c;
    e->c = *c;
    if (r->console)
        r->console(r->arg, &e->c, &old);
}

void
ccr_removed(struct ccr *r, const struct wire_removed *rm)
{
    struct smap_node *hn = smap_get(&r->consoles, rm->id);
    struct ccr_console *e;

    if (hn == NULL)
        return;
    e = smap_entry(hn, struct ccr_console, hn);
    if (e->gen == r->gen && rm->epoch < e->c.epoch)
        return; /* removes an older claim than the one we have */
    smap_del(&r->consoles, hn);
    if (r->console)
        r->console(r->arg, NULL, &e->c);
    free(e);
}

void
ccr_node(struct ccr *r, const struct wire_node *n)
{
    struct smap_node *hn = smap_get(&r->nodes, n->node_id);
    struct ccr_node *e;
    struct wire_node old;

    if (hn == NULL) {
        /* Node ids are bounded by the coordinator's --max-nodes. */
        if ((e = calloc(1, sizeof(*e))) == NULL)
            return;
        e->n = *n;
        e->gen = r->gen;
        smap_put(&r->nodes, &e->hn, e->n.node_id);
        if (r->node)
            r->node(r->arg, &e->n, NULL);
        return;
    }
    e = smap_entry(hn, struct ccr_node, hn);
    e->gen = r->gen;
    if (s_node_same(&e->n, n))
        return;
    old = e->n;
    e->n = *n;
    if (r->node)
        r->node(r->arg, &e->n, &old);
}

struct sweep_ctx {
    struct ccr *r;
    double now;
    size_t removed;
};

/* Not confirmed by this sync, and not an older incarnation's entry still
 * in its grace period. */
static bool
s_stale(const struct ccr *r, unsigned gen, double now)
{
    if (gen == r->gen)
        return false;
    if ((int)(gen - r->inc_gen) < 0 && now < r->grace_until)
        return false;
    return true;
}

static void
s_sweep_console(struct smap_node *hn, void *arg)
{
    struct sweep_ctx *x = arg;
    struct ccr_console *e = smap_entry(hn, struct ccr_console, hn);

    if (!s_stale(x->r, e->gen, x->now))
        return;
    smap_del(&x->r->consoles, hn);
    x->removed++;
    if (x->r->console)
        x->r->console(x->r->arg, NULL, &e->c);
    free(e);
}

static void
s_sweep_node(struct smap_node *hn, void *arg)
{
    struct sweep_ctx *x = arg;
    struct ccr_node *e = smap_entry(hn, struct ccr_node, hn);

    if (!s_stale(x->r, e->gen, x->now))
        return;
    smap_del(&x->r->nodes, hn);
    if (x->r->node)
        x->r->node(x->r->arg, NULL, &e->n);
    free(e);
}

size_t
ccr_sweep(struct ccr *r, double now)
{
    struct sweep_ctx x = {.r = r, .now = now};

    smap_foreach(&r->consoles, s_sweep_console, &x);
    smap_foreach(&r->nodes, s_sweep_node, &x);
    return x.removed;
}

const struct wire_console *
ccr_get_console(const struct ccr *r, const char *id)
{
    struct smap_node *hn = smap_get(&r->consoles, id);

    return hn ? &smap_entry(hn, struct ccr_console, hn)->c : NULL;
}

const struct wire_node *
ccr_get_node(const struct ccr *r, const char *id)
{
    struct smap_node *hn = smap_get(&r->nodes, id);

    return hn ? &smap_entry(hn, struct ccr_node, hn)->n : NULL;
}

void
ccr_foreach_console(const struct ccr *r,
                    void (*fn)(const struct wire_console *c, void *arg),
                    void *arg)
{
    for (size_t i = 0; i < smap_nbuckets(&r->consoles); i++)
        for (struct smap_node *hn = smap_bucket(&r->consoles, i); hn;
             hn = hn->next)
            fn(&smap_entry(hn, struct ccr_console, hn)->c, arg);
}

void
ccr_foreach_node(const struct ccr *r,
                 void (*fn)(const struct wire_node *n, void *arg), void *arg)
{
    for (size_t i = 0; i < smap_nbuckets(&r->nodes); i++)
        for (struct smap_node *hn = smap_bucket(&r->nodes, i); hn;
             hn = hn->next)
            fn(&smap_entry(hn, struct ccr_node, hn)->n, arg);
}
