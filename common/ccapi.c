/*
 * ccapi.c: the coordinator client's calls (vspc/coordcli.h): what this
 * node announces and withdraws, the epoch to claim with, lookups in the
 * replica, status. The sockets and the state machine are coordcli.c.
 */
#include "vspc/compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vspc/epoch.h"
#include "vspc/log.h"
#include "vspc/zev.h"
#include "ccint.h"

int
cc_announce(struct cc *cc, const struct wire_console *c)
{
    struct wire_msg m;
    struct smap_node *hn;
    struct cc_owned *o;
    uint8_t *buf;
    size_t len;
    char err[256];

    memset(&m, 0, sizeof(m));
    m.type = WIRE_ANNOUNCE;
    m.u.announce = *c;
    snprintf(m.u.announce.owner, sizeof(m.u.announce.owner), "%s", cc->node_id);
    m.u.announce.owner_index = cc->index;
    if (epoch_index(c->epoch) != cc->index) {
        log_warnx("node %s: announce of %s with epoch %016" PRIx64
                  " whose low byte is not this node's index %u: refused",
                  cc->node_id, c->id, c->epoch, (unsigned)cc->index);
        return -1;
    }
    /* The wire's rules, checked now rather than at the flush. */
    if (wire_encode(&m, &buf, &len, err, sizeof(err)) != WIRE_OK) {
        log_warnx("node %s: announce refused: %s", cc->node_id, err);
        return -1;
    }
    free(buf);
    if ((hn = smap_get(&cc->owned, c->id)) != NULL) {
        o = smap_entry(hn, struct cc_owned, hn);
    } else {
        if (smap_count(&cc->owned) >= cc->max_owned) {
            log_warnx("node %s: %zu consoles announced already (the limit): "
                      "%s not announced",
                      cc->node_id, cc->max_owned, c->id);
            return -1;
        }
        if ((o = calloc(1, sizeof(*o))) == NULL)
            return -1;
        memcpy(o->c.id, m.u.announce.id, sizeof(o->c.id));
        smap_put(&cc->owned, &o->hn, o->c.id);
    }
    o->c = m.u.announce;
    if (!o->dirty) {
        o->dirty = true;
        TAILQ_INSERT_TAIL(&cc->dirty, o, dq);
    }
    /* A withdraw of an older claim is superseded by this announce. */
    if ((hn = smap_get(&cc->wds, c->id)) != NULL) {
        struct cc_wd *w = smap_entry(hn, struct cc_wd, hn);

        if (w->epoch <= c->epoch) {
            TAILQ_REMOVE(&cc->wdq, w, q);
            smap_del(&cc->wds, hn);
            free(w);
        }
    }
    if (cc__registered(cc))
        cc__flush_later(cc);
    return 0;
}

void
cc_handed_over(struct cc *cc, const char *id, uint64_t epoch)
{
    struct smap_node *hn = smap_get(&cc->owned, id);

    if (hn && smap_entry(hn, struct cc_owned, hn)->c.epoch <= epoch)
        cc__owned_drop(cc, smap_entry(hn, struct cc_owned, hn));
}

int
cc_withdraw(struct cc *cc, const char *id, uint64_t epoch)
{
    struct smap_node *hn;
    struct cc_wd *w;

    if (!wire_valid_console_id(id))
        return -1;
    if ((hn = smap_get(&cc->owned, id)) != NULL) {
        struct cc_owned *o = smap_entry(hn, struct cc_owned, hn);

        if (o->c.epoch <= epoch)
            cc__owned_drop(cc, o);
    }
    if ((hn = smap_get(&cc->wds, id)) != NULL) {
        w = smap_entry(hn, struct cc_wd, hn);
        if (epoch > w->epoch)
            w->epoch = epoch;
    } else {
        if (smap_count(&cc->wds) >= cc->max_owned) {
            /* Bounded while the coordinator is away: the oldest goes. Its
             * entry stays listed until claimed elsewhere. */
            struct cc_wd *old = TAILQ_FIRST(&cc->wdq);

            log_warnx("node %s: %zu withdraws queued: the one of %s dropped",
                      cc->node_id, cc->max_owned, old->id);
            TAILQ_REMOVE(&cc->wdq, old, q);
            smap_del(&cc->wds, &old->hn);
            free(old);
        }
        if ((w = calloc(1, sizeof(*w))) == NULL)
            return -1;
        snprintf(w->id, sizeof(w->id), "%s", id);
        w->epoch = epoch;
        smap_put(&cc->wds, &w->hn, w->id);
        TAILQ_INSERT_TAIL(&cc->wdq, w, q);
    }
    if (cc__registered(cc))
        cc__flush_later(cc);
    return 0;
}

uint64_t
cc_next_epoch(const struct cc *cc, const char *id)
{
    uint64_t hi = 0;
    struct smap_node *hn;

    if (ccr_get_console(&cc->rep, id) != NULL)
        hi = ccr_get_console(&cc->rep, id)->epoch;
    if ((hn = smap_get(&cc->owned, id)) != NULL) {
        uint64_t e = smap_entry(hn, struct cc_owned, hn)->c.epoch;

        hi = e > hi ? e : hi;
    }
    if ((hn = smap_get(&cc->wds, id)) != NULL) {
        uint64_t e = smap_entry(hn, struct cc_wd, hn)->epoch;

        hi = e > hi ? e : hi;
    }
    return epoch_next(hi, cc->index);
}

const struct wire_console *
cc_console(const struct cc *cc, const char *id)
{
    return ccr_get_console(&cc->rep, id);
}

const struct wire_node *
cc_node(const struct cc *cc, const char *node_id)
{
    return ccr_get_node(&cc->rep, node_id);
}

void
cc_foreach_console(const struct cc *cc,
                   void (*fn)(const struct wire_console *c, void *arg),
                   void *arg)
{
    ccr_foreach_console(&cc->rep, fn, arg);
}

void
cc_foreach_node(const struct cc *cc,
                void (*fn)(const struct wire_node *n, void *arg), void *arg)
{
    ccr_foreach_node(&cc->rep, fn, arg);
}

void
cc_status(const struct cc *cc, struct cc_status *st)
{
    *st = cc->st;
    st->state = cc->state;
    st->away = cc->away;
    st->incarnation = cc->inc;
    st->coordinator_inc = cc->coord_inc;
    st->coordinator_term = cc->coord_term;
    st->endpoint = cc->endpoint;
    st->other = cc->alt;
    st->seq = cc->last_seq;
    st->consoles = smap_count(&cc->rep.consoles);
    st->nodes = smap_count(&cc->rep.nodes);
    st->owned = smap_count(&cc->owned);
    st->pending_withdraws = smap_count(&cc->wds);
    st->updates_in = zev_stats(cc->sub)->msgs_in;
    st->updates_paused = zev_paused(cc->sub);
    st->updates_waiting = zev_readable(cc->sub);
}
