/* rlog.c: see rlog.h. */
#include "vspc/compat.h"
#include "rlog.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vspc/log.h"
#include "vspc/strmap.h"
#include "vmlog.h"

struct rlog {
    struct proxy *px;
    struct pl *pl;
    struct smap by_console; /* subscriptions by console id */
    struct smap by_sub;     /* the same, by "node sub_id" */
};

struct rlog_sub {
    struct rlog *rl;
    char id[PW_CONSOLE_ID_MAX + 1];
    char node[PW_NODE_ID_MAX + 1];
    uint64_t sub_id; /* 0 until subscribed (the link was not up) */
    uint64_t epoch;
    uint64_t next;  /* offset of the next byte to log (this owner's stream) */
    bool have_next; /* something was logged from this owner */
    uint64_t uncredited;
    char sub_key[PL_SUB_KEY_MAX];
    struct smap_node cnode, snode;
};

struct rlog *
rlog_new(struct proxy *px, struct pl *pl)
{
    struct rlog *rl;

    if (px->vmlog == NULL || (rl = calloc(1, sizeof(*rl))) == NULL)
        return NULL;
    rl->px = px;
    rl->pl = pl;
    if (smap_init(&rl->by_console) != 0 || smap_init(&rl->by_sub) != 0) {
        smap_fini(&rl->by_console);
        free(rl);
        return NULL;
    }
    return rl;
}

static void
rlog_unsub(struct rlog_sub *s)
{
    struct pl_link *l;

    if (s->sub_id == 0)
        return;
    if ((l = pl_link_get(s->rl->pl, s->node)) != NULL)
        pl_unsubscribe(l, s->sub_id);
    smap_del(&s->rl->by_sub, &s->snode);
    s->sub_id = 0;
}

static void
rlog_forget(struct rlog_sub *s, bool unsubscribe)
{
    if (unsubscribe)
        rlog_unsub(s);
    else if (s->sub_id)
        smap_del(&s->rl->by_sub, &s->snode);
    smap_del(&s->rl->by_console, &s->cnode);
    free(s);
}

static void
rlog_free_one(struct smap_node *n, void *arg)
{
    (void)arg;
    rlog_forget(smap_entry(n, struct rlog_sub, cnode), false);
}

void
rlog_free(struct rlog **rlp)
{
    struct rlog *rl = *rlp;

    if (rl == NULL)
        return;
    smap_foreach(&rl->by_console, rlog_free_one, NULL);
    smap_fini(&rl->by_console);
    smap_fini(&rl->by_sub);
    free(rl);
    *rlp = NULL;
}

size_t
rlog_count(const struct rlog *rl)
{
    return rl ? smap_count(&rl->by_console) : 0;
}

/* Subscribe s at its node if the link is up. */
static void
rlog_subscribe(struct rlog_sub *s)
{
    struct pl_link *l = pl_link_get(s->rl->pl, s->node);

    if (l == NULL || s->sub_id != 0)
        return;
    /* After a lost link: from where the log left off. */
    s->sub_id = pl_subscribe(l, s->id, s->have_next ? s->next : 0, s->epoch,
                             RLOG_WINDOW);
    if (s->sub_id == 0)
        return;
    s->uncredited = 0;
    pl_sub_key(s->sub_key, s->node, s->sub_id);
    if (smap_put(&s->rl->by_sub, &s->snode, s->sub_key) != 0) {
        pl_unsubscribe(l, s->sub_id);
        s->sub_id = 0;
    }
}

void
rlog_sync(struct rlog *rl, const struct wire_console *w, bool gone)
{
    struct smap_node *n;
    struct rlog_sub *s;
    bool remote;

    if (rl == NULL)
        return;
    n = smap_get(&rl->by_console, w->id);
    s = n ? smap_entry(n, struct rlog_sub, cnode) : NULL;
    remote = !gone && strcmp(w->owner, rl->px->cfg.node_id) != 0;
    if (s && !remote) {
        rlog_forget(s, true); /* gone, or ours now */
        s = NULL;
    }
    if (!remote)
        return;
    if (s && strcmp(s->node, w->owner) != 0) {
        /* Moved: the log goes on from the next owner where it is. */
        rlog_unsub(s);
        snprintf(s->node, sizeof(s->node), "%s", w->owner);
    }
    if (s == NULL) {
        if ((s = calloc(1, sizeof(*s))) == NULL)
            return;
        s->rl = rl;
        snprintf(s->id, sizeof(s->id), "%s", w->id);
        snprintf(s->node, sizeof(s->node), "%s", w->owner);
        if (smap_put(&rl->by_console, &s->cnode, s->id) != 0) {
            free(s);
            return;
        }
    }
    s->epoch = w->epoch;
    rlog_subscribe(s);
}

/* Grant back what the writer took, if it has room for a window. */
static void
rlog_credit(struct rlog_sub *s)
{
    struct pl_link *l;

    if (s->uncredited == 0 || s->sub_id == 0 ||
        vmlog_room(s->rl->px->vmlog, s->id, false) < s->uncredited ||
        (l = pl_link_get(s->rl->pl, s->node)) == NULL)
        return;
    if (pl_credit(l, s->sub_id, s->uncredited) == 0)
        s->uncredited = 0;
}

static void
rlog_tick_one(struct smap_node *n, void *arg)
{
    struct rlog_sub *s = smap_entry(n, struct rlog_sub, cnode);

    (void)arg;
    if (s->sub_id == 0)
        rlog_subscribe(s); /* the link came up, or a refusal: retry */
    else
        rlog_credit(s);
}

void
rlog_tick(struct rlog *rl)
{
    if (rl)
        smap_foreach(&rl->by_console, rlog_tick_one, NULL);
}

static struct rlog_sub *
rlog_find(struct rlog *rl, struct pl_link *l, uint64_t sub_id)
{
    char key[PL_SUB_KEY_MAX];
    struct smap_node *n;

    if (rl == NULL)
        return NULL;
    pl_sub_key(key, pl_link_node(l), sub_id);
    n = smap_get(&rl->by_sub, key);
    return n ? smap_entry(n, struct rlog_sub, snode) : NULL;
}

/* The subscription is over (pl forgot it): resubscribe on the next tick. */
static void
rlog_over(struct rlog_sub *s)
{
    smap_del(&s->rl->by_sub, &s->snode);
    s->sub_id = 0;
}

/* The owner's stream continues at `at`: bytes it no longer had since the
 * last logged one are marked lost. */
static void
rlog_resume(struct rlog_sub *s, uint64_t at)
{
    if (s->have_next && at < s->next) {
        /* A new owner whose stream is behind ours: the old owner died
         * with what it had not sent (or the VM restarted elsewhere). */
        s->rl->px->stats.log_gaps++;
        log_warnx("console=%s console log: node %s's stream goes on at "
                  "offset %" PRIu64 ", before the %" PRIu64 " logged: what "
                  "the previous owner had not sent is lost",
                  s->id, s->node, at, s->next);
        vmlog_event(s->rl->px->vmlog, s->id,
                    "console restarted on node %s at offset %" PRIu64
                    " (logged up to %" PRIu64 "): output the previous owner "
                    "had not sent is lost",
                    s->node, at, s->next);
    }
    if (s->have_next && at > s->next) {
        s->rl->px->stats.log_gaps++;
        s->rl->px->stats.log_gap_bytes += at - s->next;
        log_warnx("console=%s console log (from node %s) missed %" PRIu64
                  " bytes at offset %" PRIu64,
                  s->id, s->node, at - s->next, s->next);
        vmlog_lost(s->rl->px->vmlog, s->id, at - s->next);
    }
    s->next = at;
    s->have_next = true;
}

bool
rlog_sub_state(struct rlog *rl, struct pl_link *l, const struct pw_sub_state *t)
{
    struct rlog_sub *s = rlog_find(rl, l, t->sub_id);

    if (s == NULL)
        return false;
    if (t->status == PW_SUB_ATTACHED) {
        rlog_resume(s, t->offset);
    } else if (t->status == PW_SUB_MOVED && t->text[0]) {
        /* Handed over or fenced: on from the next owner, at once. */
        log_info("console=%s remote log: moved from node %s to node %s", s->id,
                 s->node, t->text);
        rlog_over(s);
        snprintf(s->node, sizeof(s->node), "%.*s", (int)sizeof(s->node) - 1,
                 t->text);
        if (t->epoch > s->epoch)
            s->epoch = t->epoch;
        if (strcmp(s->node, rl->px->cfg.node_id) != 0)
            rlog_subscribe(s);
    } else {
        log_info("console=%s remote log from node %s %s: %s", s->id, s->node,
                 t->status == PW_SUB_REFUSED ? "refused" : "ended", t->text);
        rlog_over(s);
    }
    return true;
}

bool
rlog_data(struct rlog *rl, struct pl_link *l, const struct pw_data *d)
{
    struct rlog_sub *s = rlog_find(rl, l, d->sub_id);

    if (s == NULL)
        return false;
    vmlog_data(rl->px->vmlog, s->id, d->bytes, d->len);
    s->next = d->offset + d->len;
    s->uncredited += d->len;
    if (s->uncredited >= RLOG_WINDOW / 4)
        rlog_credit(s);
    return true;
}

bool
rlog_gap(struct rlog *rl, struct pl_link *l, const struct pw_gap *g)
{
    struct rlog_sub *s = rlog_find(rl, l, g->sub_id);

    if (s == NULL)
        return false;
    rlog_resume(s, g->to);
    return true;
}

bool
rlog_event(struct rlog *rl, struct pl_link *l, const struct pw_event *e)
{
    struct rlog_sub *s = rlog_find(rl, l, e->sub_id);

    if (s == NULL)
        return false;
    vmlog_event(rl->px->vmlog, s->id, "%s", e->text);
    return true;
}

bool
rlog_sub_lost(struct rlog *rl, struct pl_link *l, uint64_t sub_id)
{
    struct rlog_sub *s = rlog_find(rl, l, sub_id);

    if (s == NULL)
        return false;
    rlog_over(s);
    return true;
}

uint64_t
rlog_take(struct rlog *rl, const char *console_id)
{
    struct smap_node *n;
    struct rlog_sub *s;
    uint64_t next;

    if (rl == NULL || (n = smap_get(&rl->by_console, console_id)) == NULL)
        return UINT64_MAX;
    s = smap_entry(n, struct rlog_sub, cnode);
    next = s->have_next ? s->next : UINT64_MAX;
    rlog_forget(s, true);
    return next;
}

void
rlog_follow(struct rlog *rl, const char *console_id, const char *node,
            uint64_t epoch, uint64_t next)
{
    struct smap_node *n;
    struct rlog_sub *s;

    if (rl == NULL)
        return;
    if ((n = smap_get(&rl->by_console, console_id)) != NULL)
        rlog_forget(smap_entry(n, struct rlog_sub, cnode), true);
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return;
    s->rl = rl;
    snprintf(s->id, sizeof(s->id), "%s", console_id);
    snprintf(s->node, sizeof(s->node), "%s", node);
    s->epoch = epoch;
    s->next = next;
    s->have_next = true;
    if (smap_put(&rl->by_console, &s->cnode, s->id) != 0) {
        free(s);
        return;
    }
    rlog_subscribe(s);
}
