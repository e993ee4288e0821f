/* console.c: see console.h. */
#include "vspc/compat.h"
#include "console.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "vspc/clock.h"
#include "vspc/epoch.h"
#include "vspc/log.h"
#include "vspc/ratelog.h"
#include "conhold.h"
#include "vmotion.h"

#define CON_HASH_MIN 256
/* Input flow control: stop reading operators past these. */
#define CON_OWNER_OUT_HIGH (256 * 1024)

struct con_registry {
    struct proxy *px;
    const struct con_observer *obs[CON_OBSERVERS_MAX];
    struct console **buckets;
    size_t nbuckets;
    size_t count;
    TAILQ_HEAD(, console) all;
    struct rlog cap_rl; /* the --max-consoles refusal line */
};

static const char *const con_state_names[CON_ST__COUNT] = {
    [CON_ST_CONNECTED] = "connected",
    [CON_ST_VMOTION] = "vmotion",
    [CON_ST_DISCONNECTED] = "disconnected",
};

const char *
con_state_str(enum con_state st)
{
    if ((unsigned)st < CON_ST__COUNT)
        return con_state_names[st];
    return "???";
}

static uint64_t
con_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

struct con_registry *
con_registry_new(struct proxy *px)
{
    struct con_registry *reg = calloc(1, sizeof(*reg));

    if (reg == NULL)
        return NULL;
    reg->px = px;
    rlog_init(&reg->cap_rl, 10.0);
    reg->nbuckets = CON_HASH_MIN;
    reg->buckets = calloc(reg->nbuckets, sizeof(*reg->buckets));
    if (reg->buckets == NULL) {
        free(reg);
        return NULL;
    }
    TAILQ_INIT(&reg->all);
    return reg;
}

int
con_registry_observe(struct con_registry *reg, const struct con_observer *o)
{
    for (size_t i = 0; i < CON_OBSERVERS_MAX; i++) {
        if (reg->obs[i] == NULL) {
            reg->obs[i] = o;
            return 0;
        }
    }
    return -1;
}

void
con_registry_unobserve(struct con_registry *reg, const struct con_observer *o)
{
    for (size_t i = 0; i < CON_OBSERVERS_MAX; i++)
        if (reg->obs[i] == o)
            reg->obs[i] = NULL;
}

/* Tell every observer that has the callback `cb`. */
#define CON_NOTIFY(reg, cb, c)                                                 \
    do {                                                                       \
        for (size_t i_ = 0; i_ < CON_OBSERVERS_MAX; i_++)                      \
            if ((reg)->obs[i_] && (reg)->obs[i_]->cb)                          \
                (reg)->obs[i_]->cb((c), (reg)->obs[i_]->arg);                  \
    } while (0)

static void
con_free(struct console *c)
{
    chold_free(c);
    if (c->vmo)
        vmo_cancel(c, "console freed");
    if (c->expire_ev)
        event_free(c->expire_ev);
    if (c->resv_ev)
        event_free(c->resv_ev);
    if (c->move_ev)
        event_free(c->move_ev);
    hin_free(&c->held);
    strm_fini(&c->out);
    free(c);
}

static void
con_unlink(struct con_registry *reg, struct console *c)
{
    struct console **pp = &reg->buckets[con_hash(c->id) % reg->nbuckets];

    for (; *pp; pp = &(*pp)->hnext) {
        if (*pp == c) {
            *pp = c->hnext;
            break;
        }
    }
    TAILQ_REMOVE(&reg->all, c, link);
    reg->count--;
}

void
con_registry_free(struct con_registry **regp)
{
    struct con_registry *reg = *regp;
    struct console *c;

    if (reg == NULL)
        return;
    while ((c = TAILQ_FIRST(&reg->all)) != NULL) {
        con_unlink(reg, c);
        con_free(c);
    }
    free(reg->buckets);
    free(reg);
    *regp = NULL;
}

size_t
con_registry_count(const struct con_registry *reg)
{
    return reg->count;
}

struct console *
con_first(struct con_registry *reg)
{
    return TAILQ_FIRST(&reg->all);
}

struct console *
con_next(struct console *c)
{
    return TAILQ_NEXT(c, link);
}

struct console *
con_find(struct con_registry *reg, const char *id)
{
    struct console *c = reg->buckets[con_hash(id) % reg->nbuckets];

    for (; c; c = c->hnext)
        if (strcmp(c->id, id) == 0)
            return c;
    return NULL;
}

struct console *
con_lookup(struct con_registry *reg, const char *key, const char **err)
{
    struct console *c, *found = NULL;
    size_t klen = strlen(key);
    unsigned hits = 0;

    if (klen == 0) {
        *err = "no console given";
        return NULL;
    }
    if ((c = con_find(reg, key)) != NULL)
        return c;
    TAILQ_FOREACH (c, &reg->all, link) {
        if (strcmp(c->name, key) == 0) {
            found = c;
            hits++;
        }
    }
    if (hits == 1)
        return found;
    if (hits > 1) {
        *err = "ambiguous VM name: use the console id";
        return NULL;
    }
    TAILQ_FOREACH (c, &reg->all, link) {
        if (strncmp(c->id, key, klen) == 0) {
            found = c;
            hits++;
        }
    }
    if (hits == 1)
        return found;
    *err = hits ? "ambiguous prefix" : "no such console";
    return NULL;
}

static void
con_grow(struct con_registry *reg)
{
    size_t n = reg->nbuckets * 2;
    struct console **nb = calloc(n, sizeof(*nb));
    struct console *c;

    if (nb == NULL)
        return; /* keep the old table: longer chains, still correct */
    TAILQ_FOREACH (c, &reg->all, link) {
        size_t i = con_hash(c->id) % n;

        c->hnext = nb[i];
        nb[i] = c;
    }
    free(reg->buckets);
    reg->buckets = nb;
    reg->nbuckets = n;
}

static void con_expire_cb(evutil_socket_t fd, short what, void *arg);

/* --max-consoles reached: the oldest disconnected console nobody reads
 * goes early (pressure), or the new identity id is refused. */
static bool
con_make_room(struct con_registry *reg, const char *id)
{
    struct console *c;
    double now = clock_now();
    unsigned supp;

    TAILQ_FOREACH (c, &reg->all, link) {
        if (c->owner == NULL && c->vmo == NULL && c->n_ops == 0) {
            log_warnx("console=%s expires early: --max-consoles (%zu) "
                      "reached and %s is new",
                      c->id, reg->px->cfg.max_consoles, id);
            reg->px->stats.consoles_expired_early++;
            con_expire_cb(-1, 0, c);
            return true;
        }
    }
    reg->px->stats.consoles_refused_cap++;
    if (rlog_allow(&reg->cap_rl, "cap", 3, now, &supp))
        log_warnx("console=%s refused: this node holds --max-consoles (%zu) "
                  "consoles, none of them idle (%u more refused since the "
                  "last line)",
                  id, reg->px->cfg.max_consoles, supp);
    return false;
}

struct console *
con_get(struct con_registry *reg, const char uuid[33], const char *label)
{
    char id[VMX_CONSOLE_ID_MAX + 1];
    struct console *c;
    size_t i;

    vmx_console_id(id, uuid, label);
    if ((c = con_find(reg, id)) != NULL)
        return c;
    if (reg->count >= reg->px->cfg.max_consoles && !con_make_room(reg, id)) {
        errno = ENOSPC;
        return NULL;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    hin_init(&c->held);
    memcpy(c->id, id, sizeof(c->id));
    memcpy(c->uuid, uuid, VMX_UUID_HEX + 1);
    snprintf(c->label, sizeof(c->label), "%s", label ? label : "");
    snprintf(c->hv_addr, sizeof(c->hv_addr), "-");
    c->px = reg->px;
    strm_init(&c->out, c->px->base, &c->px->strm_cfg, &c->px->stats.strm,
              c->id);
    TAILQ_INIT(&c->ops);
    if (reg->count + 1 > reg->nbuckets * 2)
        con_grow(reg);
    i = con_hash(c->id) % reg->nbuckets;
    c->hnext = reg->buckets[i];
    reg->buckets[i] = c;
    TAILQ_INSERT_TAIL(&reg->all, c, link);
    reg->count++;
    log_info("console=%s created", c->id);
    CON_NOTIFY(reg, created, c);
    return c;
}

enum con_state
con_state(const struct console *c)
{
    if (c->vmo)
        return CON_ST_VMOTION;
    return c->owner ? CON_ST_CONNECTED : CON_ST_DISCONNECTED;
}

json_t *
con_to_json(const struct console *c)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "id", c->id,
                     "name", c->name, "state", con_state_str(con_state(c)),
                     "hypervisor", c->hv_addr, "operators",
                     (json_int_t)c->n_ops, "bytes_in", (json_int_t)c->bytes_in,
                     "bytes_out", (json_int_t)c->bytes_out, "offset",
                     (json_int_t)strm_end(&c->out));
}

void
con_set_name(struct console *c, const char *name)
{
    if (strcmp(c->name, name) != 0) {
        if (c->name[0])
            log_info("console=%s renamed to \"%s\"", c->id, name);
        snprintf(c->name, sizeof(c->name), "%s", name);
        CON_NOTIFY(c->px->consoles, changed, c);
    }
}

static void con_move_finish(struct console *c, bool cut);

void
con_set_owner(struct console *c, struct con_hv *h)
{
    /* Back here: operators still reading the old stream follow the move
     * they were told of (they come back through it). */
    con_move_finish(c, true);
    strm_seal(&c->out, false);
    c->owner = h;
    c->moved_node[0] = '\0';
    /* A new owner: a higher epoch (the cluster may raise it further,
     * above what other nodes claimed: its `changed` observer). */
    c->epoch = epoch_next(c->epoch, c->px->cfg.node_index);
    snprintf(c->hv_addr, sizeof(c->hv_addr), "%s", h->addr);
    CON_NOTIFY(c->px->consoles, changed, c);
    con_check_expire(c);
    if (!vmo_holds_input(c))
        con_flush_held(c);
    con_update_input_flow(c);
}

void
con_owner_gone(struct console *c, struct con_hv *h)
{
    if (c->owner != h)
        return;
    c->owner = NULL;
    snprintf(c->hv_addr, sizeof(c->hv_addr), "-");
    con_update_input_flow(c);
    con_check_expire(c);
    CON_NOTIFY(c->px->consoles, changed, c);
}

void
con_vm_output(struct console *c, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    c->bytes_in += n;
    c->px->stats.bytes_from_vms += n;
    strm_write(&c->out, p, n);
}

void
con_op_input(struct console *c, struct con_op *op, const uint8_t *p, size_t n)
{
    uint64_t seq = op->in_seq;

    if (n == 0)
        return;
    op->in_seq += n;
    if (c->owner && !vmo_holds_input(c) && hin_len(&c->held) == 0) {
        c->owner->ops->send(c->owner, p, n);
        c->bytes_out += n;
        c->px->stats.bytes_to_vms += n;
    } else if (hin_add(&c->held, op->id, seq, p, n) != 0) {
        log_warnx("console=%s operator %s: input not held (out of memory)",
                  c->id, op->name);
    }
    con_update_input_flow(c);
}

void
con_flush_held(struct console *c)
{
    size_t done = 0, n;
    const uint8_t *p;

    if (c->owner == NULL || hin_len(&c->held) == 0 || vmo_holds_input(c))
        return;
    /* In order, record by record (bounded: each pass takes a record). */
    while ((n = hin_peek(&c->held, &p, NULL, NULL)) > 0) {
        c->owner->ops->send(c->owner, p, n);
        hin_take(&c->held, n);
        done += n;
    }
    c->bytes_out += done;
    c->px->stats.bytes_to_vms += done;
    log_debug("console=%s flushed %zu held bytes to %s", c->id, done,
              c->owner->addr);
    con_update_input_flow(c);
}

void
con_update_input_flow(struct console *c)
{
    bool blocked;
    struct con_op *op;

    if (hin_len(&c->held) >= c->px->cfg.held_max)
        blocked = true;
    else if (c->owner && !vmo_holds_input(c))
        blocked = c->owner->ops->queued(c->owner) >= CON_OWNER_OUT_HIGH;
    else
        blocked = false;
    if (blocked == c->input_blocked)
        return;
    c->input_blocked = blocked;
    log_debug("console=%s operator input %s", c->id,
              blocked ? "paused" : "resumed");
    TAILQ_FOREACH (op, &c->ops, link)
        op->ops->input_blocked(op, blocked);
}

int
con_lock_from_byte(uint8_t b, enum con_lock_req *out)
{
    switch (b) {
    case CON_LOCK_READWRITE:
    case CON_LOCK_READONLY:
    case CON_LOCK_EXCLUSIVE:
    case CON_LOCK_EXCL_WRITE:
    case CON_LOCK_READONLY_OK:
        *out = (enum con_lock_req)b;
        return 0;
    default:
        return -1;
    }
}

static bool
con_has_other_writer(const struct console *c, const struct con_op *self)
{
    const struct con_op *op;

    TAILQ_FOREACH (op, &c->ops, link) {
        if (op != self && op->mode == OP_MODE_RW)
            return true;
    }
    return false;
}

static struct con_op *
con_op_by_id(struct console *c, uint64_t id)
{
    struct con_op *op;

    TAILQ_FOREACH (op, &c->ops, link)
        if (op->id == id)
            return op;
    return NULL;
}

static const char *const con_mode_names[OP_MODE__COUNT] = {"rw", "ro"};

/* The reserved lock goes to nobody (expired, forced, freed). */
static void
con_resv_end(struct console *c, const char *why)
{
    if (c->resv_gid[0] == '\0')
        return;
    if (c->excl_writer == CON_OP_RESERVED)
        c->excl_writer = 0;
    if (c->excl_all == CON_OP_RESERVED)
        c->excl_all = 0;
    if (why)
        con_event(c, "lock kept for operator %s released: %s", c->resv_gid,
                  why);
    c->resv_gid[0] = '\0';
    if (c->resv_ev)
        evtimer_del(c->resv_ev);
}

static void
con_resv_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    con_resv_end(arg, "it did not follow the console here");
}

void
con_reserve_lock(struct console *c, const char *gid, bool exclusive,
                 double secs)
{
    struct timeval tv = {(time_t)secs, 0};

    con_resv_end(c, NULL);
    if (gid == NULL || gid[0] == '\0' || c->excl_writer || c->excl_all)
        return;
    if (c->resv_ev == NULL &&
        (c->resv_ev = evtimer_new(c->px->base, con_resv_cb, c)) == NULL)
        return; /* no lock kept rather than one kept forever */
    snprintf(c->resv_gid, sizeof(c->resv_gid), "%s", gid);
    c->excl_writer = CON_OP_RESERVED;
    if (exclusive)
        c->excl_all = CON_OP_RESERVED;
    evtimer_add(c->resv_ev, &tv);
}

const char *
con_lock_holder(const struct console *c, bool excl)
{
    uint64_t id = excl ? c->excl_all : c->excl_writer;
    const struct con_op *op;

    if (id == CON_OP_RESERVED)
        return c->resv_gid;
    TAILQ_FOREACH (op, &c->ops, link)
        if (id != 0 && op->id == id)
            return op->gid;
    return "";
}

int
con_attach(struct console *c, struct con_op *op, enum con_lock_req req,
           uint64_t *start, const char **err)
{
    enum op_mode mode = OP_MODE_RW;
    bool take_write = false, take_all = false;

    if (c->resv_gid[0] && op->gid[0] && strcmp(op->gid, c->resv_gid) == 0) {
        /* The holder followed the console here: its lock again. */
        take_write = c->excl_writer == CON_OP_RESERVED;
        take_all = c->excl_all == CON_OP_RESERVED;
        con_resv_end(c, NULL);
        goto attach;
    }
    if (c->excl_all) {
        *err = "console is held exclusively by another operator";
        return -1;
    }
    switch (req) {
    case CON_LOCK_READWRITE:
        if (c->excl_writer) {
            *err = "another operator holds the write lock";
            return -1;
        }
        break;
    case CON_LOCK_READONLY:
        mode = OP_MODE_RO;
        break;
    case CON_LOCK_EXCLUSIVE:
        if (c->n_ops > 0) {
            *err = "other operators are attached";
            return -1;
        }
        take_all = take_write = true;
        break;
    case CON_LOCK_EXCL_WRITE:
        if (c->excl_writer || con_has_other_writer(c, op)) {
            *err = "another operator has write access";
            return -1;
        }
        take_write = true;
        break;
    case CON_LOCK_READONLY_OK:
        if (c->excl_writer)
            mode = OP_MODE_RO;
        break;
    case CON_LOCK_TAKE_WRITE:
        if (c->excl_writer) {
            *err = "another operator holds the write lock (attach, then "
                   "force with the escape f)";
            return -1;
        }
        take_write = true;
        break;
    default:
        *err = "unknown lock mode";
        return -1;
    }
attach:
    op->mode = mode;
    if (take_write)
        c->excl_writer = op->id;
    if (take_all)
        c->excl_all = op->id;
    con_event(c, "operator %s attached (%s%s)", op->name, con_mode_names[mode],
              take_all     ? ", exclusive"
              : take_write ? ", write lock"
                           : "");
    TAILQ_INSERT_TAIL(&c->ops, op, link);
    c->n_ops++;
    *start = strm_reader_add(&c->out, &op->rd, strm_replay_start(&c->out));
    chold_arrived(c, op->gid); /* one the stream waited for (conhold.h) */
    op->ops->input_blocked(op, c->input_blocked);
    con_check_expire(c);
    return 0;
}

/* op follows the console to moved_node (it may detach itself). */
static void
con_op_follow(struct console *c, struct con_op *op)
{
    op->moving = false;
    if (op->ops->moved)
        op->ops->moved(op, c->moved_node, c->moved_epoch);
}

/* The drain after con_moved is over (cut: time is up, or the console
 * came back): operators still behind follow now; what they did not read
 * here reaches them as a gap from the new owner. */
static void
con_move_finish(struct console *c, bool cut)
{
    struct con_op *op, *next;

    if (c->move_ev)
        event_del(c->move_ev);
    for (op = TAILQ_FIRST(&c->ops); op; op = next) {
        next = TAILQ_NEXT(op, link);
        if (!op->moving)
            continue;
        if (cut) {
            uint64_t left = strm_end(&c->out) - op->rd.next;

            c->px->stats.ops_move_cut++;
            c->px->stats.ops_move_cut_bytes += left;
            log_warnx("console=%s operator %s: %" PRIu64 " bytes not read "
                      "here before it follows the console to node %s",
                      c->id, op->name, left, c->moved_node);
        }
        con_op_follow(c, op);
    }
}

static void
con_move_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    con_move_finish(arg, true);
}

void
con_moved(struct console *c, const char *node, uint64_t epoch)
{
    struct con_op *op, *next;
    unsigned behind = 0;

    snprintf(c->moved_node, sizeof(c->moved_node), "%s", node);
    c->moved_epoch = epoch;
    strm_seal(&c->out, true);
    for (op = TAILQ_FIRST(&c->ops); op; op = next) {
        next = TAILQ_NEXT(op, link); /* it may detach itself */
        if (op->rd.st != NULL && op->rd.next < strm_end(&c->out)) {
            op->moving = true; /* con_op_sealed once it has the rest */
            behind++;
            if (op->ops->leaving)
                op->ops->leaving(op);
            continue;
        }
        con_op_follow(c, op);
    }
    if (behind == 0)
        return;
    if (c->move_ev == NULL)
        c->move_ev = evtimer_new(c->px->base, con_move_cb, c);
    if (c->move_ev) {
        struct timeval tv = {CON_MOVE_DRAIN_MS / 1000,
                             (CON_MOVE_DRAIN_MS % 1000) * 1000};

        evtimer_add(c->move_ev, &tv);
    }
}

void
con_op_sealed(struct con_op *op)
{
    struct console *c;

    if (!op->moving || op->rd.st == NULL)
        return;
    c = VSPC_CONTAINER_OF(op->rd.st, struct console, out);
    c->px->stats.ops_move_drained++;
    con_op_follow(c, op);
}

void
con_detach(struct console *c, struct con_op *op, const char *why)
{
    strm_reader_remove(&op->rd);
    TAILQ_REMOVE(&c->ops, op, link);
    c->n_ops--;
    if (c->excl_writer == op->id)
        c->excl_writer = 0;
    if (c->excl_all == op->id)
        c->excl_all = 0;
    con_event(c, "operator %s detached (%s)", op->name, why);
    con_check_expire(c);
}

bool
con_op_can_write(const struct console *c, const struct con_op *op)
{
    return op->mode == OP_MODE_RW &&
           (c->excl_writer == 0 || c->excl_writer == op->id);
}

void
con_force_write(struct console *c, struct con_op *op)
{
    struct con_op *prev;

    if (c->excl_writer == CON_OP_RESERVED) {
        con_resv_end(c, "write access forced");
        c->excl_writer = op->id;
    }
    prev = c->excl_writer ? con_op_by_id(c, c->excl_writer) : NULL;

    if (prev && prev != op) {
        prev->mode = OP_MODE_RO;
        prev->ops->notice(prev,
                          "your write access was taken over: now read-only");
        c->excl_writer = op->id;
        if (c->excl_all == prev->id)
            c->excl_all = 0;
    }
    op->mode = OP_MODE_RW;
    con_event(c, "operator %s forced write access%s%s", op->name,
              prev && prev != op ? " from " : "",
              prev && prev != op ? prev->name : "");
}

void
con_make_spectator(struct console *c, struct con_op *op)
{
    op->mode = OP_MODE_RO;
    if (c->excl_writer == op->id)
        c->excl_writer = 0;
    if (c->excl_all == op->id)
        c->excl_all = 0;
    con_event(c, "operator %s is now a spectator", op->name);
}

uint64_t
con_ring_start(const struct console *c)
{
    return strm_replay_start(&c->out);
}

void
con_replay_lines(struct console *c, struct con_op *op, unsigned lines)
{
    strm_reader_rewind(&op->rd, strm_lines_start(&c->out, lines));
}

void
con_event(struct console *c, const char *fmt, ...)
{
    char text[STRM_EVENT_TEXT];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    strm_event(&c->out, text);
}

static void
con_expire_cb(evutil_socket_t fd, short what, void *arg)
{
    struct console *c = arg;
    struct con_registry *reg = c->px->consoles;

    if (c->owner || c->vmo || c->n_ops > 0)
        return;
    log_info("console=%s expired (disconnected, no operators)", c->id);
    CON_NOTIFY(reg, freed, c);
    con_unlink(reg, c);
    con_free(c);
}

void
con_check_expire(struct console *c)
{
    bool idle = c->owner == NULL && c->vmo == NULL && c->n_ops == 0;

    if (!idle) {
        if (c->expire_ev)
            event_del(c->expire_ev);
        return;
    }
    if (c->expire_ev == NULL) {
        c->expire_ev = evtimer_new(c->px->base, con_expire_cb, c);
        if (c->expire_ev == NULL)
            return;
    }
    struct timeval tv;
    double t = c->px->cfg.console_expire;

    if (evtimer_pending(c->expire_ev, NULL))
        return;
    tv.tv_sec = (time_t)t;
    tv.tv_usec = (suseconds_t)((t - (double)tv.tv_sec) * 1e6);
    evtimer_add(c->expire_ev, &tv);
}
