/* cluster.c: see cluster.h. */
#include "vspc/compat.h"
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vspc/coordcli.h"
#include "vspc/log.h"
#include "console.h"

struct clu {
    struct proxy *px;
    struct cc *cc;
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
    known = cc_console(cl->cc, c->id);
    if (c->owner && known && known->epoch >= c->epoch &&
        strcmp(known->owner, cl->px->cfg.node_id) != 0) {
        uint64_t next = cc_next_epoch(cl->cc, c->id);

        log_info("console=%s claimed from node %s (epoch %llu -> %llu)", c->id,
                 known->owner, (unsigned long long)known->epoch,
                 (unsigned long long)next);
        c->epoch = next;
    }
    clu_entry(c, &w);
    if (cc_announce(cl->cc, &w) != 0)
        log_warnx("console=%s not announced to the cluster (limit or bad "
                  "entry)",
                  c->id);
}

static void
clu_freed(struct console *c, void *arg)
{
    struct clu *cl = arg;

    if (c->epoch != 0)
        cc_withdraw(cl->cc, c->id, c->epoch);
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
    if (c == NULL || (hv = c->owner) == NULL || c->epoch > theirs->epoch)
        return;
    con_event(c,
              "console claimed by node %s (epoch %llu): hypervisor %s let go",
              theirs->owner, (unsigned long long)theirs->epoch, hv->addr);
    con_owner_gone(c, hv);
    hv->ops->replaced(hv, "fenced: a newer owner holds the console");
}

static void
clu_state_cb(void *arg, enum cc_state st, bool away, const char *detail)
{
    struct clu *cl = arg;

    if (st == CC_ST_REFUSED)
        log_errorx("cluster: node %s (index %u) refused by the coordinator: "
                   "%s",
                   cl->px->cfg.node_id, cl->px->cfg.node_index,
                   detail ? detail : "?");
    else
        log_info("cluster: %s%s%s%s", cc_state_str(st),
                 away ? " (coordinator away)" : "", detail ? ": " : "",
                 detail ? detail : "");
}

struct clu *
clu_new(struct proxy *px, char *err, size_t errlen)
{
    struct clu *cl;
    struct cc_config cfg;
    struct cc_callbacks cbs;

    err[0] = '\0';
    if (px->cfg.n_coordinators == 0)
        return NULL;
    if ((cl = calloc(1, sizeof(*cl))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cl->px = px;
    snprintf(cl->peer_addr, sizeof(cl->peer_addr), "%s",
             px->cfg.peer_advertise[0] ? px->cfg.peer_advertise
                                       : px->cfg.peer_listen);
    if (strncmp(cl->peer_addr, "0.0.0.0:", 8) == 0 ||
        strncmp(cl->peer_addr, "[::]:", 5) == 0)
        log_warnx("cluster: other nodes are told to dial %s: set "
                  "--peer-advertise to an address they can reach",
                  cl->peer_addr);
    memset(&cfg, 0, sizeof(cfg));
    cfg.endpoint = px->cfg.coordinators[0];
    cfg.node_id = px->cfg.node_id;
    cfg.node_index = px->cfg.node_index;
    cfg.peer_addr = cl->peer_addr;
    memset(&cbs, 0, sizeof(cbs));
    cbs.fenced = clu_fenced_cb;
    cbs.state = clu_state_cb;
    cl->cc = cc_new(px->base, NULL, &cfg, &cbs, cl, err, errlen);
    if (cl->cc == NULL) {
        free(cl);
        return NULL;
    }
    cl->obs.changed = clu_changed;
    cl->obs.freed = clu_freed;
    cl->obs.arg = cl;
    if (con_registry_observe(px->consoles, &cl->obs) != 0) {
        snprintf(err, errlen, "too many console observers");
        cc_free(&cl->cc);
        free(cl);
        return NULL;
    }
    log_info("cluster: node %s (index %u) joining through %s, peer link %s",
             px->cfg.node_id, px->cfg.node_index, cfg.endpoint, cl->peer_addr);
    return cl;
}

void
clu_free(struct clu **clp)
{
    struct clu *cl = *clp;

    if (cl == NULL)
        return;
    con_registry_unobserve(cl->px->consoles, &cl->obs);
    cc_free(&cl->cc);
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

    cc_foreach_console(cl->cc, clu_each_cb, &e);
}

bool
clu_shadowed(struct clu *cl, const struct console *c)
{
    const struct wire_console *w;

    if (cl == NULL || (w = cc_console(cl->cc, c->id)) == NULL)
        return false;
    return strcmp(w->owner, cl->px->cfg.node_id) != 0 && w->epoch > c->epoch;
}

struct clu_find {
    const char *key, *node, *self;
};

static void
clu_find_cb(const struct wire_console *w, void *arg)
{
    struct clu_find *f = arg;

    if (f->node == NULL && strcmp(w->owner, f->self) != 0 &&
        (strcmp(w->id, f->key) == 0 || strcmp(w->vm_name, f->key) == 0))
        f->node = w->owner; /* valid until the client is called again */
}

const char *
clu_owner_elsewhere(struct clu *cl, const char *key)
{
    struct clu_find f = {key, NULL, cl->px->cfg.node_id};

    cc_foreach_console(cl->cc, clu_find_cb, &f);
    return f.node;
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

void
clu_stats(struct clu *cl, struct clu_stats *out)
{
    struct cc_status st;

    cc_status(cl->cc, &st);
    memset(out, 0, sizeof(*out));
    out->state = (int)st.state;
    out->away = st.away;
    out->consoles = st.consoles;
    out->nodes = st.nodes;
    out->registrations = st.registrations;
    out->snapshots = st.snapshots;
    out->fenced = cl->fenced;
}

const char *
clu_state_str(int state)
{
    return cc_state_str((enum cc_state)state);
}
