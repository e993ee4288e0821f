/*
 * snapshot.c: snapshots sent in slices (snap_). See snapshot.h.
 */
#include "vspc/compat.h"
#include "snapshot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>

#include "vspc/clock.h"
#include "vspc/log.h"

struct snap_job {
    bool used;
    uint8_t rid[SNAP_RID_MAX];
    size_t ridlen;
    uint64_t request_id;
    uint64_t seq;       /* the directory's seq when requested */
    unsigned map_epoch; /* the console table's growth count at bucket 0 */
    size_t bucket;      /* next bucket to send */
    bool nodes_done;
    double retry_at; /* queue was full: not before then */
    double started;
    uint64_t sent;
};

struct snap {
    struct event_base *base;
    const struct dir *d;
    snap_send_fn send;
    void *arg;
    struct snap_job *jobs;
    size_t max_jobs, active, rr;
    struct event *ev;
};

enum { STEP_MORE = 0, STEP_DONE = 1, STEP_GONE = -1 };

static void s_pump_cb(evutil_socket_t fd, short what, void *arg);

struct snap *
snap_new(struct event_base *base, const struct dir *d, size_t max_jobs,
         snap_send_fn send, void *arg)
{
    struct snap *s;

    if (max_jobs == 0 || (s = calloc(1, sizeof(*s))) == NULL)
        return NULL;
    s->base = base;
    s->d = d;
    s->send = send;
    s->arg = arg;
    s->max_jobs = max_jobs;
    if ((s->jobs = calloc(max_jobs, sizeof(*s->jobs))) == NULL ||
        (s->ev = evtimer_new(base, s_pump_cb, s)) == NULL) {
        free(s->jobs);
        free(s);
        return NULL;
    }
    return s;
}

void
snap_free(struct snap **sp)
{
    struct snap *s = *sp;

    if (s == NULL)
        return;
    *sp = NULL;
    event_free(s->ev);
    free(s->jobs);
    free(s);
}

size_t
snap_active(const struct snap *s)
{
    return s->active;
}

static void
s_schedule(struct snap *s, double delay)
{
    struct timeval tv;

    if (delay < 0)
        delay = 0;
    tv.tv_sec = (time_t)delay;
    tv.tv_usec = (suseconds_t)((delay - (double)tv.tv_sec) * 1e6);
    evtimer_add(s->ev, &tv);
}

int
snap_request(struct snap *s, const uint8_t *rid, size_t ridlen,
             uint64_t request_id)
{
    struct snap_job *j = NULL;

    if (ridlen == 0 || ridlen > SNAP_RID_MAX)
        return -1;
    for (size_t i = 0; i < s->max_jobs; i++) {
        struct snap_job *c = &s->jobs[i];

        if (c->used && c->ridlen == ridlen &&
            memcmp(c->rid, rid, ridlen) == 0) {
            j = c; /* replaced: the requester gave up on the old one */
            break;
        }
        if (!c->used && j == NULL)
            j = c;
    }
    if (j == NULL)
        return -1;
    if (!j->used)
        s->active++;
    memset(j, 0, sizeof(*j));
    j->used = true;
    memcpy(j->rid, rid, ridlen);
    j->ridlen = ridlen;
    j->request_id = request_id;
    j->seq = s->d->seq;
    j->map_epoch = smap_epoch(&s->d->consoles);
    j->started = clock_now();
    s_schedule(s, 0);
    return 0;
}

/* Send m for job j. STEP_MORE if sent, else the job waits or ends. */
static int
s_send(struct snap *s, struct snap_job *j, const struct wire_msg *m, double now,
       bool *blocked)
{
    if (s->send(j->rid, j->ridlen, m, s->arg) == 0) {
        j->sent++;
        return STEP_MORE;
    }
    if (errno == EAGAIN) {
        j->retry_at = now + SNAP_RETRY;
        *blocked = true;
        return STEP_MORE;
    }
    return STEP_GONE;
}

/* Advance job j within *budget. */
static int
s_step(struct snap *s, struct snap_job *j, long *budget, double now)
{
    const struct dir *d = s->d;
    struct wire_msg m;
    bool blocked = false;

    if (!j->nodes_done) {
        for (size_t i = 0; i < d->nnodes; i++) {
            memset(&m, 0, sizeof(m));
            m.type = WIRE_SNAPSHOT_NODE;
            m.u.snapshot_node = d->node_list[i]->n;
            if (s_send(s, j, &m, now, &blocked) != STEP_MORE)
                return STEP_GONE;
            if (blocked)
                return STEP_MORE; /* all nodes again next time */
            (*budget)--;
        }
        j->nodes_done = true;
    }
    if (j->map_epoch != smap_epoch(&d->consoles)) {
        /* The table grew: bucket numbers changed. Start over; the
         * requester applies entries idempotently. */
        log_debug("snapshot for request %016llx: table grew, restarting",
                  (unsigned long long)j->request_id);
        j->map_epoch = smap_epoch(&d->consoles);
        j->bucket = 0;
    }
    while (j->bucket < smap_nbuckets(&d->consoles)) {
        if (*budget <= 0)
            return STEP_MORE;
        for (struct smap_node *hn = smap_bucket(&d->consoles, j->bucket); hn;
             hn = hn->next) {
            memset(&m, 0, sizeof(m));
            m.type = WIRE_SNAPSHOT_ENTRY;
            m.u.snapshot_entry = smap_entry(hn, struct dir_console, hn)->c;
            if (s_send(s, j, &m, now, &blocked) != STEP_MORE)
                return STEP_GONE;
            if (blocked)
                return STEP_MORE; /* this bucket again */
            (*budget)--;
        }
        (*budget)--; /* empty buckets cost too */
        j->bucket++;
    }
    memset(&m, 0, sizeof(m));
    m.type = WIRE_SNAPSHOT_END;
    m.u.snapshot_end.seq = j->seq;
    m.u.snapshot_end.incarnation = d->incarnation;
    m.u.snapshot_end.request_id = j->request_id;
    if (s_send(s, j, &m, now, &blocked) != STEP_MORE)
        return STEP_GONE;
    return blocked ? STEP_MORE : STEP_DONE;
}

static void
s_pump_cb(evutil_socket_t fd, short what, void *arg)
{
    struct snap *s = arg;
    double now = clock_now(), next = INFINITY;
    long budget = SNAP_BUDGET;
    bool more = false;

    for (size_t k = 0; k < s->max_jobs && s->active > 0; k++) {
        struct snap_job *j = &s->jobs[(s->rr + k) % s->max_jobs];
        int rc;

        if (!j->used)
            continue;
        if (j->retry_at > now) {
            next = fmin(next, j->retry_at);
            continue;
        }
        if (budget <= 0) {
            more = true;
            continue;
        }
        j->retry_at = 0;
        rc = s_step(s, j, &budget, now);
        if (rc == STEP_MORE) {
            if (j->retry_at > now)
                next = fmin(next, j->retry_at);
            else
                more = true;
            continue;
        }
        if (rc == STEP_DONE)
            log_debug("snapshot sent: %llu messages in %.3f s, seq %llu",
                      (unsigned long long)j->sent, now - j->started,
                      (unsigned long long)j->seq);
        else
            log_debug("snapshot abandoned after %llu messages: requester "
                      "gone",
                      (unsigned long long)j->sent);
        j->used = false;
        s->active--;
    }
    s->rr++;
    if (more)
        s_schedule(s, 0);
    else if (next < INFINITY)
        s_schedule(s, next - now);
}
