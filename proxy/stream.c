/* stream.c: see stream.h. */
#include "vspc/compat.h"
#include "stream.h"

#include <stdlib.h>
#include <string.h>

#include "vspc/log.h"

static const char *const strm_policy_names[STRM_POLICY__COUNT] = {
    [STRM_PACE] = "pace",
    [STRM_CATCHUP] = "catchup",
    [STRM_DISCONNECT] = "disconnect",
};

const char *
strm_policy_str(enum strm_policy p)
{
    return (unsigned)p < STRM_POLICY__COUNT ? strm_policy_names[p] : "???";
}

int
strm_policy_parse(const char *s, enum strm_policy *out)
{
    for (unsigned i = 0; i < STRM_POLICY__COUNT; i++) {
        if (strcmp(s, strm_policy_names[i]) == 0) {
            *out = (enum strm_policy)i;
            return 0;
        }
    }
    return -1;
}

void
strm_init(struct strm *st, struct event_base *base, const struct strm_cfg *cfg,
          struct strm_stats *stats, const char *name)
{
    size_t max =
        cfg->scrollback > STRM_RING_MIN ? cfg->scrollback : STRM_RING_MIN;

    memset(st, 0, sizeof(*st));
    ring_init(&st->ring, max, 0);
    st->cfg = cfg;
    st->stats = stats;
    st->base = base;
    st->name = name;
    TAILQ_INIT(&st->readers);
    TAILQ_INIT(&st->events);
    TAILQ_INIT(&st->waiting);
}

uint64_t
strm_end(const struct strm *st)
{
    return ring_end(&st->ring);
}

uint64_t
strm_replay_start(const struct strm *st)
{
    uint64_t end = ring_end(&st->ring), start = ring_start(&st->ring);

    if (end - start > st->cfg->scrollback)
        start = end - st->cfg->scrollback;
    return start;
}

uint64_t
strm_lines_start(const struct strm *st, unsigned lines)
{
    uint64_t end = ring_end(&st->ring), from = end;
    uint64_t start = strm_replay_start(st);
    unsigned seen = 0;

    /* Back over the ring to just after the lines-th newline from the end
     * (a newline that is the very last byte does not count). */
    while (from > start) {
        if (ring_at(&st->ring, from - 1) == '\n' && from != end &&
            ++seen >= lines)
            break;
        from--;
    }
    return from;
}

/* ---- feeders ---------------------------------------------------------- */

bool
strm_paced(const struct strm *st)
{
    return st->n_blocking > 0;
}

bool
strm_feed_ok(struct strm *st, struct strm_feeder *f)
{
    if (st->n_blocking == 0 && (st->draining == NULL || st->draining == f))
        return true;
    if (f->waiting_on != st) {
        strm_feed_cancel(f);
        TAILQ_INSERT_TAIL(&st->waiting, f, link);
        f->waiting_on = st;
    }
    return false;
}

void
strm_feed_cancel(struct strm_feeder *f)
{
    if (f->waiting_on == NULL)
        return;
    TAILQ_REMOVE(&f->waiting_on->waiting, f, link);
    f->waiting_on = NULL;
}

/* Resume the feeders that may write now (their callbacks defer). */
static void
strm_wake(struct strm *st)
{
    struct strm_feeder *f, *next;

    if (st->n_blocking > 0)
        return;
    for (f = TAILQ_FIRST(&st->waiting); f; f = next) {
        next = TAILQ_NEXT(f, link);
        if (st->draining && f != st->draining)
            continue;
        TAILQ_REMOVE(&st->waiting, f, link);
        f->waiting_on = NULL;
        f->resume(f);
    }
}

void
strm_set_draining(struct strm *st, struct strm_feeder *f)
{
    st->draining = f;
}

void
strm_drained(struct strm *st, struct strm_feeder *f)
{
    if (st->draining != f)
        return;
    st->draining = NULL;
    strm_wake(st);
}

/* ---- events ----------------------------------------------------------- */

/* The first stored event r has not had yet, or NULL. */
static struct strm_ev *
strm_next_event(struct strm *st, const struct strm_reader *r)
{
    struct strm_ev *ev;

    TAILQ_FOREACH (ev, &st->events, link)
        if (ev->seq >= r->ev_next)
            return ev;
    return NULL;
}

/* Free the events every reader has had. */
static void
strm_prune(struct strm *st)
{
    uint64_t min = st->ev_seq;
    struct strm_reader *r;
    struct strm_ev *ev;

    TAILQ_FOREACH (r, &st->readers, link)
        if (r->ev_next < min)
            min = r->ev_next;
    while ((ev = TAILQ_FIRST(&st->events)) != NULL && ev->seq < min) {
        TAILQ_REMOVE(&st->events, ev, link);
        st->n_events--;
        free(ev);
    }
}

void
strm_event(struct strm *st, const char *text)
{
    uint64_t seq = st->ev_seq++, end = ring_end(&st->ring);
    struct strm_reader *r;
    struct strm_ev *ev;
    bool keep = false;

    TAILQ_FOREACH (r, &st->readers, link) {
        if (r->next == end && r->ev_next == seq) {
            r->ev_next = seq + 1;
            r->ops->event(r, text);
        } else {
            keep = true;
        }
    }
    if (!keep || (ev = malloc(sizeof(*ev))) == NULL)
        return;
    ev->seq = seq;
    ev->at = end;
    snprintf(ev->text, sizeof(ev->text), "%s", text);
    TAILQ_INSERT_TAIL(&st->events, ev, link);
    if (++st->n_events > STRM_EVENTS_MAX) {
        ev = TAILQ_FIRST(&st->events);
        log_warnx("console=%s event marker \"%s\" dropped for readers far "
                  "behind",
                  st->name, ev->text);
        TAILQ_REMOVE(&st->events, ev, link);
        st->n_events--;
        free(ev);
    }
}

/* ---- readers ---------------------------------------------------------- */

static void strm_stall_cb(evutil_socket_t fd, short what, void *arg);

static void
strm_arm_stall(struct strm_reader *r)
{
    double t = r->st->cfg->stall_timeout;
    struct timeval tv;

    tv.tv_sec = (time_t)t;
    tv.tv_usec = (suseconds_t)((t - (double)tv.tv_sec) * 1e6);
    if (r->stall_ev)
        evtimer_add(r->stall_ev, &tv);
}

static uint64_t
strm_us_since(const struct timespec *t0)
{
    struct timespec now;
    int64_t us;

    clock_gettime(CLOCK_MONOTONIC, &now);
    us = (int64_t)(now.tv_sec - t0->tv_sec) * 1000000 +
         (now.tv_nsec - t0->tv_nsec) / 1000;
    return us > 0 ? (uint64_t)us : 0;
}

/* A live reader starts or stops pacing the stream. */
static void
strm_set_blocking(struct strm_reader *r, bool on)
{
    struct strm *st = r->st;

    if (r->blocking == on)
        return;
    r->blocking = on;
    if (on) {
        if (st->n_blocking++ == 0) {
            st->stats->paced++;
            clock_gettime(CLOCK_MONOTONIC, &st->paced_since);
        }
        r->stall_mark = r->ops->progress(r);
        strm_arm_stall(r);
        return;
    }
    if (r->stall_ev)
        evtimer_del(r->stall_ev);
    if (--st->n_blocking == 0) {
        st->stats->paced_us += strm_us_since(&st->paced_since);
        strm_wake(st);
    }
}

/* After a pump: is r behind, does it pace, did it rejoin? */
static void
strm_settle(struct strm_reader *r)
{
    struct strm *st = r->st;
    bool behind = r->next < ring_end(&st->ring);
    bool pacing = st->cfg->policy != STRM_CATCHUP;

    if (!behind) {
        if (!r->live && pacing) {
            r->live = true;
            st->stats->readers_rejoined++;
            log_info("console=%s %s caught up: paces the VM again", st->name,
                     r->desc);
        }
        strm_set_blocking(r, false);
    } else if (r->live && pacing) {
        strm_set_blocking(r, true);
    }
}

static void
strm_pump(struct strm_reader *r)
{
    struct strm *st = r->st;

    if (r->in_pump)
        return;
    r->in_pump = true;
    for (;;) { /* each pass delivers, or moves next/ev_next forward */
        uint64_t start = ring_start(&st->ring);
        struct strm_ev *ev;
        uint64_t limit;
        const uint8_t *p;
        size_t n, room;

        if (r->next < start) {
            uint64_t from = r->next;

            /* Only once it can take bytes: one gap per catch-up. */
            if (r->ops->room(r) == 0)
                break;
            r->next = start;
            r->ops->gap(r, from, start);
            continue;
        }
        ev = strm_next_event(st, r);
        if (ev && ev->at <= r->next) {
            r->ev_next = ev->seq + 1;
            r->ops->event(r, ev->text);
            continue;
        }
        limit = ev ? ev->at : ring_end(&st->ring);
        if (r->next >= limit || (room = r->ops->room(r)) == 0)
            break;
        n = ring_peek(&st->ring, r->next, &p);
        if (n == 0)
            break; /* cannot happen: start <= next < end */
        if (n > limit - r->next)
            n = (size_t)(limit - r->next);
        if (n > room)
            n = room;
        r->ops->deliver(r, p, n);
        r->next += n;
    }
    r->in_pump = false;
    strm_prune(st);
    strm_settle(r);
    if (st->sealed && !r->seal_told && r->ops->sealed &&
        r->next >= ring_end(&st->ring) && strm_next_event(st, r) == NULL &&
        st->seal_ev)
        event_active(st->seal_ev, EV_TIMEOUT, 0);
}

static void
strm_seal_cb(evutil_socket_t fd, short what, void *arg)
{
    struct strm *st = arg;
    struct strm_reader *r, *next;

    (void)fd;
    (void)what;
    for (r = TAILQ_FIRST(&st->readers); r && st->sealed; r = next) {
        next = TAILQ_NEXT(r, link); /* sealed may unlink r */
        if (r->seal_told || r->next < ring_end(&st->ring) ||
            strm_next_event(st, r) != NULL)
            continue;
        r->seal_told = true;
        if (r->ops->sealed)
            r->ops->sealed(r);
    }
}

size_t
strm_followers(const struct strm *st, const char **out, size_t max)
{
    const struct strm_reader *r;
    size_t n = 0;

    TAILQ_FOREACH (r, &st->readers, link)
        if (r->follow && r->follow[0] && n < max)
            out[n++] = r->follow;
    return n;
}

void
strm_seal(struct strm *st, bool sealed)
{
    struct strm_reader *r;

    st->sealed = sealed;
    TAILQ_FOREACH (r, &st->readers, link)
        r->seal_told = false;
    if (!sealed)
        return;
    if (st->seal_ev == NULL &&
        (st->seal_ev = event_new(st->base, -1, 0, strm_seal_cb, st)) == NULL)
        return; /* out of memory: readers move when the caller times out */
    event_active(st->seal_ev, EV_TIMEOUT, 0);
}

void
strm_write(struct strm *st, const uint8_t *p, size_t n)
{
    struct strm_reader *r, *next;
    uint64_t was = ring_end(&st->ring);

    if (n == 0)
        return;
    ring_append(&st->ring, p, n);
    /* Readers that were caught up take the new bytes now; the others
     * move on when they have room (strm_reader_kick), so a reader that is
     * behind is caught up in large steps, with one gap at most each. */
    for (r = TAILQ_FIRST(&st->readers); r; r = next) {
        next = TAILQ_NEXT(r, link);
        if (r->next == was)
            strm_pump(r);
    }
}

static void
strm_stall_cb(evutil_socket_t fd, short what, void *arg)
{
    struct strm_reader *r = arg;
    struct strm *st = r->st;
    uint64_t progress;

    if (st == NULL || !r->blocking)
        return;
    progress = r->ops->progress(r);
    if (progress != r->stall_mark) { /* slow, not stalled */
        r->stall_mark = progress;
        strm_arm_stall(r);
        return;
    }
    st->stats->readers_stalled++;
    log_warnx("console=%s %s stalled (no progress for %.3g s, %llu bytes "
              "behind): %s",
              st->name, r->desc, st->cfg->stall_timeout,
              (unsigned long long)(ring_end(&st->ring) - r->next),
              st->cfg->policy == STRM_DISCONNECT
                  ? "disconnected"
                  : "no longer pacing the VM, caught up later");
    r->live = false;
    strm_set_blocking(r, false);
    if (st->cfg->policy == STRM_DISCONNECT && r->ops->stalled)
        r->ops->stalled(r); /* unlinks r */
}

uint64_t
strm_reader_add(struct strm *st, struct strm_reader *r, uint64_t from)
{
    if (from < ring_start(&st->ring))
        from = ring_start(&st->ring);
    if (from > ring_end(&st->ring))
        from = ring_end(&st->ring);
    r->st = st;
    r->next = from;
    r->ev_next = st->ev_seq;
    r->live = true;
    r->blocking = false;
    r->in_pump = false;
    r->seal_told = false;
    if (r->stall_ev == NULL)
        r->stall_ev = evtimer_new(st->base, strm_stall_cb, r);
    TAILQ_INSERT_TAIL(&st->readers, r, link);
    st->n_readers++;
    return from;
}

void
strm_reader_remove(struct strm_reader *r)
{
    struct strm *st = r->st;

    if (st == NULL)
        return;
    strm_set_blocking(r, false);
    TAILQ_REMOVE(&st->readers, r, link);
    st->n_readers--;
    r->st = NULL;
    if (r->stall_ev) {
        event_free(r->stall_ev);
        r->stall_ev = NULL;
    }
    strm_prune(st);
}

void
strm_reader_kick(struct strm_reader *r)
{
    if (r->st)
        strm_pump(r);
}

void
strm_reader_seek(struct strm_reader *r, uint64_t from)
{
    struct strm *st = r->st;

    if (st == NULL)
        return;
    r->next = from < ring_end(&st->ring) ? from : ring_end(&st->ring);
}

void
strm_reader_rewind(struct strm_reader *r, uint64_t from)
{
    struct strm *st = r->st;

    if (st == NULL)
        return;
    if (from < ring_start(&st->ring))
        from = ring_start(&st->ring);
    if (from < r->next)
        r->next = from;
    strm_pump(r);
}

void
strm_seed(struct strm *st, uint64_t from, const uint8_t *p, size_t n,
          uint64_t resume)
{
    size_t max = st->ring.max;
    struct strm_reader *r;
    struct strm_ev *ev;

    ring_free(&st->ring);
    ring_init(&st->ring, max, from);
    ring_append(&st->ring, p, n);
    while ((ev = TAILQ_FIRST(&st->events)) != NULL) {
        TAILQ_REMOVE(&st->events, ev, link);
        free(ev);
    }
    st->n_events = 0;
    if (resume < ring_start(&st->ring))
        resume = ring_start(&st->ring);
    if (resume > ring_end(&st->ring))
        resume = ring_end(&st->ring);
    TAILQ_FOREACH (r, &st->readers, link) {
        r->next = resume;
        r->ev_next = st->ev_seq;
    }
    TAILQ_FOREACH (r, &st->readers, link)
        strm_reader_kick(r);
}

void
strm_fini(struct strm *st)
{
    struct strm_reader *r;
    struct strm_feeder *f;
    struct strm_ev *ev;

    while ((r = TAILQ_FIRST(&st->readers)) != NULL) {
        strm_reader_remove(r);
        if (r->ops->release)
            r->ops->release(r);
    }
    while ((f = TAILQ_FIRST(&st->waiting)) != NULL)
        strm_feed_cancel(f);
    st->draining = NULL;
    while ((ev = TAILQ_FIRST(&st->events)) != NULL) {
        TAILQ_REMOVE(&st->events, ev, link);
        free(ev);
    }
    st->n_events = 0;
    ring_free(&st->ring);
    if (st->seal_ev)
        event_free(st->seal_ev);
    st->seal_ev = NULL;
}
