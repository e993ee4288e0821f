/* clog.c: see clog.h. */
#include "vspc/compat.h"
#include "clog.h"

#include <stdio.h>
#include <stdlib.h>

#include "vspc/log.h"
#include "console.h"
#include "stream.h"
#include "vmlog.h"

struct clog_reader {
    struct strm_reader rd; /* first: the strm callbacks get &rd */
    struct clog *cl;
    struct console *con;
    bool waiting; /* on cl->waiting: no room in the writer's queue */
    TAILQ_ENTRY(clog_reader) wait_link;
    TAILQ_ENTRY(clog_reader) link;
};

struct clog {
    struct proxy *px;
    struct vmlog *log;
    bool closing; /* clog_free: offer everything, room or not */
    struct con_observer obs;
    char follow[72]; /* "log:<node>": this log follows a console that moves */
    TAILQ_HEAD(, clog_reader) all;
    TAILQ_HEAD(, clog_reader) waiting;
};

static struct clog_reader *
clog_of(struct strm_reader *r)
{
    return (struct clog_reader *)r;
}

static size_t
clog_room(struct strm_reader *r)
{
    struct clog_reader *lr = clog_of(r);
    size_t room;

    if (lr->cl->closing)
        return STRM_FEED_MAX;
    /* Cut loose: catch up in large steps (one loss marker each). */
    room = vmlog_room(lr->cl->log, lr->con->id, !r->live);
    if (room == 0 && !lr->waiting) {
        lr->waiting = true;
        TAILQ_INSERT_TAIL(&lr->cl->waiting, lr, wait_link);
    }
    return room;
}

static void
clog_deliver(struct strm_reader *r, const uint8_t *p, size_t n)
{
    struct clog_reader *lr = clog_of(r);

    /* Only refused at shutdown with a full queue: counted and marked. */
    vmlog_data(lr->cl->log, lr->con->id, p, n);
}

static void
clog_gap(struct strm_reader *r, uint64_t from, uint64_t to)
{
    struct clog_reader *lr = clog_of(r);

    lr->cl->px->stats.log_gaps++;
    lr->cl->px->stats.log_gap_bytes += to - from;
    log_warnx("console=%s console log missed %llu bytes at offset %llu "
              "(log writer stalled)",
              lr->con->id, (unsigned long long)(to - from),
              (unsigned long long)from);
    vmlog_lost(lr->cl->log, lr->con->id, to - from);
}

static void
clog_event(struct strm_reader *r, const char *text)
{
    struct clog_reader *lr = clog_of(r);

    vmlog_event(lr->cl->log, lr->con->id, "%s", text);
}

static uint64_t
clog_progress(struct strm_reader *r)
{
    return vmlog_progress(clog_of(r)->cl->log);
}

static void
clog_unwait(struct clog_reader *lr)
{
    if (lr->waiting) {
        TAILQ_REMOVE(&lr->cl->waiting, lr, wait_link);
        lr->waiting = false;
    }
}

/* The console is being freed: so is its log reader. */
static void
clog_release(struct strm_reader *r)
{
    struct clog_reader *lr = clog_of(r);

    clog_unwait(lr);
    TAILQ_REMOVE(&lr->cl->all, lr, link);
    free(lr);
}

static const struct strm_reader_ops clog_ops = {
    .room = clog_room,
    .deliver = clog_deliver,
    .gap = clog_gap,
    .event = clog_event,
    .progress = clog_progress,
    .stalled = NULL, /* never disconnected: cut loose like under pace */
    .release = clog_release,
};

/* The writer freed queue space: pump every reader that waited for it. */
static void
clog_room_cb(void *arg)
{
    struct clog *cl = arg;
    TAILQ_HEAD(, clog_reader) batch = TAILQ_HEAD_INITIALIZER(batch);
    struct clog_reader *lr;

    TAILQ_CONCAT(&batch, &cl->waiting, wait_link);
    while ((lr = TAILQ_FIRST(&batch)) != NULL) {
        TAILQ_REMOVE(&batch, lr, wait_link);
        lr->waiting = false;
        strm_reader_kick(&lr->rd);
    }
}

static void
clog_created(struct console *c, void *arg)
{
    struct clog *cl = arg;
    struct clog_reader *lr = calloc(1, sizeof(*lr));

    if (lr == NULL) {
        log_warnx("console=%s no console log (out of memory)", c->id);
        return;
    }
    lr->cl = cl;
    lr->con = c;
    lr->rd.ops = &clog_ops;
    lr->rd.follow = cl->follow;
    snprintf(lr->rd.desc, sizeof(lr->rd.desc), "console log");
    TAILQ_INSERT_TAIL(&cl->all, lr, link);
    strm_reader_add(&c->out, &lr->rd, strm_end(&c->out));
}

struct clog *
clog_new(struct proxy *px)
{
    struct clog *cl = calloc(1, sizeof(*cl));

    if (cl == NULL)
        return NULL;
    cl->px = px;
    cl->log = px->vmlog;
    snprintf(cl->follow, sizeof(cl->follow), "log:%.63s", px->cfg.node_id);
    TAILQ_INIT(&cl->all);
    TAILQ_INIT(&cl->waiting);
    vmlog_set_room_cb(cl->log, clog_room_cb, cl);
    cl->obs.created = clog_created;
    cl->obs.arg = cl;
    if (con_registry_observe(px->consoles, &cl->obs) != 0) {
        free(cl);
        return NULL;
    }
    return cl;
}

void
clog_free(struct clog **clp)
{
    struct clog *cl = *clp;
    struct clog_reader *lr;

    if (cl == NULL)
        return;
    cl->closing = true;
    con_registry_unobserve(cl->px->consoles, &cl->obs);
    vmlog_set_room_cb(cl->log, NULL, NULL);
    while ((lr = TAILQ_FIRST(&cl->all)) != NULL) {
        strm_reader_kick(&lr->rd);
        strm_reader_remove(&lr->rd);
        clog_release(&lr->rd);
    }
    free(cl);
    *clp = NULL;
}
