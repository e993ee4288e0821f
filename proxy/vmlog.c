/*
 * vmlog.c: vmlog_*, the loop-side half of the console log (see vmlog.h):
 * the record queue toward the writer, pending losses, stats, read
 * requests and their callbacks, vmlog_new and vmlog_free. The writer
 * thread is in vmlog_writer.c; the shared struct vmlog and the design are
 * in vmlog_int.h.
 *
 * Threads: everything here runs on the loop thread, except vmlog_mono and
 * the hash table functions, which the writer uses too (on its own table).
 * Under mu the loop thread only moves pointers and counters; it never
 * does I/O (vmlog_new opens the directory before the writer starts, and
 * vmlog_free closes it after the writer is joined).
 *
 * Ownership: vmlog_new makes the struct vmlog and starts the writer;
 * vmlog_free stops and joins it, then frees everything, including the
 * writer's state (its file table, output buffer and directory fd).
 */
#include "vspc/compat.h"
#include "vmlog.h"
#include "vmlog_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "vspc/log.h"
#include "vmext.h"

_Static_assert(VMLOG_ID_MAX >= VMX_CONSOLE_ID_MAX, "console ids must fit");

/* Rotation waits this long at most for a '\n'. */
#define VMLOG_SLACK_MAX 65536
#define VMLOG_OPEN_MAX 1024 /* files open at once, at most */
#define VMLOG_KEEP_MAX 1000

/* Loop side: losses of one console not yet carried by a record (entries
 * stay once made: at most one per console). In log->pend, under mu. */
struct vmlog_pend {
    struct vmlog_hent h;
    struct vmlog_loss lost;
};

/* ---- small helpers --------------------------------------------------- */

time_t
vmlog_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* Length of a valid console id, or 0: [0-9A-Za-z._-], not '.' first. */
static size_t
vmlog_id_len(const char *id)
{
    size_t i;

    if (id == NULL || id[0] == '.')
        return 0;
    for (i = 0; id[i] != '\0'; i++) {
        char c = id[i];

        if (i >= VMLOG_ID_MAX)
            return 0;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return i;
}

/* ---- hash table (FNV-1a, fixed buckets, chained) ---------------------- */

static struct vmlog_hent **
vmlog_hslot(struct vmlog_htab *t, const char *id, uint32_t *hp)
{
    uint32_t h = 2166136261u;

    for (const char *c = id; *c; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    *hp = h;
    return &t->b[h % VMLOG_NBUCKET];
}

struct vmlog_hent *
vmlog_hfind(struct vmlog_htab *t, const char *id)
{
    uint32_t h;
    struct vmlog_hent *e = t->n ? *vmlog_hslot(t, id, &h) : NULL;

    while (e && (e->hash != h || strcmp(e->id, id) != 0))
        e = e->hnext;
    return e;
}

/* e->id set by the caller. */
void
vmlog_hadd(struct vmlog_htab *t, struct vmlog_hent *e)
{
    struct vmlog_hent **slot = vmlog_hslot(t, e->id, &e->hash);

    e->hnext = *slot;
    *slot = e;
    t->n++;
}

/* Frees every entry (each was malloc'd whole). */
void
vmlog_hclear(struct vmlog_htab *t)
{
    for (size_t i = 0; i < VMLOG_NBUCKET && t->n > 0; i++) {
        while (t->b[i]) {
            struct vmlog_hent *e = t->b[i];

            t->b[i] = e->hnext;
            t->n--;
            free(e);
        }
    }
}

/* ---- loop side -------------------------------------------------------- */

/* Rate-limited warning on the loop thread (bad ids). */
static void
vmlog_warn(struct vmlog *log, const char *what, const char *id)
{
    time_t now = vmlog_mono();
    char clean[64];
    size_t i;

    if (log->loop_warn_at != 0 && now - log->loop_warn_at < 1)
        return;
    log->loop_warn_at = now;
    for (i = 0; id && id[i] && i < sizeof(clean) - 1; i++)
        clean[i] = (id[i] > 0x20 && id[i] < 0x7f) ? id[i] : '?';
    clean[i] = '\0';
    log_warnx("console log: %s for invalid console id \"%s\" dropped", what,
              clean);
}

static struct vmlog_rec *
vmlog_rec_new(enum vmlog_kind kind, const char *id, size_t idlen, const void *p,
              size_t n)
{
    struct vmlog_rec *r;
    size_t extra = kind == VMLOG_R_EVENT ? 1 : 0; /* NUL after the text */

    if (n > SIZE_MAX / 2 ||
        (r = malloc(sizeof(*r) + idlen + 1 + n + extra)) == NULL)
        return NULL;
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    clock_gettime(CLOCK_REALTIME, &r->ts);
    r->charge = sizeof(*r) + idlen + 1 + n + extra;
    memcpy(r->buf, id, idlen + 1);
    r->p = (uint8_t *)r->buf + idlen + 1;
    if (n > 0)
        memcpy(r->p, p, n);
    if (extra)
        r->p[n] = '\0';
    r->n = n;
    return r;
}

/* Under mu. Append r, or refuse it (queue full unless forced). Data and
 * event records carry the console's pending losses. */
static int
vmlog_push(struct vmlog *log, struct vmlog_rec *r, bool forced)
{
    if (!forced && (log->st.queue_bytes >= log->queue_max ||
                    r->charge > log->queue_max - log->st.queue_bytes))
        return -1;
    if ((r->kind == VMLOG_R_DATA || r->kind == VMLOG_R_EVENT) &&
        log->pend.n > 0) {
        struct vmlog_pend *pe =
            (struct vmlog_pend *)vmlog_hfind(&log->pend, r->buf);

        if (pe) { /* the entry stays, zeroed, for the next loss */
            r->lost = pe->lost;
            memset(&pe->lost, 0, sizeof(pe->lost));
        }
    }
    r->next = NULL;
    *log->tailp = r;
    log->tailp = &r->next;
    log->st.queue_bytes += r->charge;
    pthread_cond_signal(&log->cv);
    return 0;
}

/* Under mu. Remember a console's loss for its next record. */
static void
vmlog_pend_add(struct vmlog *log, const char *id, uint64_t bytes,
               uint64_t events)
{
    struct vmlog_pend *pe = (struct vmlog_pend *)vmlog_hfind(&log->pend, id);

    if (pe == NULL) {
        if ((pe = calloc(1, sizeof(*pe))) == NULL)
            return; /* still counted in the stats; only the marker is lost */
        snprintf(pe->h.id, sizeof(pe->h.id), "%s", id);
        vmlog_hadd(&log->pend, &pe->h);
    }
    pe->lost.q += bytes;
    pe->lost.qev += events;
}

/* Queue a data or event record; count it either way. */
static int
vmlog_submit(struct vmlog *log, enum vmlog_kind kind, const char *id,
             const void *p, size_t n)
{
    size_t idlen = vmlog_id_len(id);
    struct vmlog_rec *r = NULL;
    int rc = -1, err = ENOMEM;

    if (idlen == 0) {
        vmlog_warn(log, kind == VMLOG_R_DATA ? "output" : "event", id);
        err = EINVAL;
    } else {
        r = vmlog_rec_new(kind, id, idlen, p, n);
    }
    pthread_mutex_lock(&log->mu);
    if (r && vmlog_push(log, r, false) == 0) {
        rc = 0;
        log->st.bytes_queued += kind == VMLOG_R_DATA ? n : 0;
    } else {
        if (r)
            err = ENOBUFS;
        log->st.bytes_dropped += kind == VMLOG_R_DATA ? n : 0;
        log->st.events_dropped += kind == VMLOG_R_EVENT ? 1 : 0;
        if (idlen > 0)
            vmlog_pend_add(log, id, kind == VMLOG_R_DATA ? n : 0,
                           kind == VMLOG_R_EVENT ? 1 : 0);
    }
    pthread_mutex_unlock(&log->mu);
    if (rc == -1) {
        free(r);
        errno = err;
    }
    return rc;
}

int
vmlog_data(struct vmlog *log, const char *console_id, const uint8_t *p,
           size_t n)
{
    if (n == 0)
        return 0;
    return vmlog_submit(log, VMLOG_R_DATA, console_id, p, n);
}

int
vmlog_event(struct vmlog *log, const char *console_id, const char *fmt, ...)
{
    char text[VMLOG_EVENT_MAX + 1];
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (len < 0)
        len = 0;
    if ((size_t)len >= sizeof(text))
        len = (int)sizeof(text) - 1;
    text[len] = '\0';
    for (int i = 0; i < len; i++)
        if ((uint8_t)text[i] < 0x20 || (uint8_t)text[i] == 0x7f)
            text[i] = '?';
    return vmlog_submit(log, VMLOG_R_EVENT, console_id, text, (size_t)len);
}

/* Rotation at rotate_bytes: soft at a line end, hard a slack later (0:
 * never). */
static void
vmlog_rotate_limits(size_t rotate_bytes, uint64_t *soft, uint64_t *hard)
{
    *soft = *hard = 0;
    if (rotate_bytes > 0) {
        *soft = rotate_bytes;
        *hard =
            rotate_bytes +
            (rotate_bytes < VMLOG_SLACK_MAX ? rotate_bytes : VMLOG_SLACK_MAX);
    }
}

void
vmlog_set(struct vmlog *log, bool timestamps, size_t rotate_bytes,
          unsigned keep)
{
    struct vmlog_settings set = {.timestamps = timestamps,
                                 .keep = keep < 1 ? 1 : keep};
    struct vmlog_rec *r;

    vmlog_rotate_limits(rotate_bytes, &set.rotate_soft, &set.rotate_hard);
    if ((r = vmlog_rec_new(VMLOG_R_SETTINGS, "", 0, &set, sizeof(set))) ==
        NULL) {
        log_warnx("console log settings: out of memory: unchanged");
        return;
    }
    pthread_mutex_lock(&log->mu);
    vmlog_push(log, r, true); /* tiny, and only on SIGHUP */
    pthread_mutex_unlock(&log->mu);
}

void
vmlog_reopen(struct vmlog *log)
{
    struct vmlog_rec *r = vmlog_rec_new(VMLOG_R_REOPEN, "", 0, NULL, 0);

    if (r == NULL) {
        log_warnx("console log reopen: out of memory");
        return;
    }
    pthread_mutex_lock(&log->mu);
    if (log->reopen_queued) { /* the queued one opens after this call */
        free(r);
    } else {
        log->reopen_queued = true;
        vmlog_push(log, r, true); /* tiny, and at most one queued */
    }
    pthread_mutex_unlock(&log->mu);
}

void
vmlog_get_stats(struct vmlog *log, struct vmlog_stats *out)
{
    pthread_mutex_lock(&log->mu);
    *out = log->st;
    pthread_mutex_unlock(&log->mu);
}

void
vmlog_hold(struct vmlog *log, bool hold)
{
    pthread_mutex_lock(&log->mu);
    log->hold = hold;
    pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
}

int
vmlog_read(struct vmlog *log, const char *console_id, uint64_t offset,
           size_t max, vmlog_read_cb cb, void *arg)
{
    size_t idlen = vmlog_id_len(console_id);
    struct vmlog_rec *r;
    struct vmlog_done *d;
    int rc;

    if (idlen == 0) {
        vmlog_warn(log, "read", console_id);
        errno = EINVAL;
        return -1;
    }
    r = vmlog_rec_new(VMLOG_R_READ, console_id, idlen, NULL, 0);
    d = calloc(1, sizeof(*d));
    if (r == NULL || d == NULL) {
        free(r);
        free(d);
        errno = ENOMEM;
        return -1;
    }
    r->offset = offset;
    r->n = max < VMLOG_READ_MAX ? max : VMLOG_READ_MAX;
    r->done = d;
    d->cb = cb;
    d->arg = arg;
    pthread_mutex_lock(&log->mu);
    rc = vmlog_push(log, r, false);
    pthread_mutex_unlock(&log->mu);
    if (rc == -1) {
        free(r);
        free(d);
        errno = ENOBUFS;
    }
    return rc;
}

/* Loop thread: run the callbacks of finished reads. */
static void
vmlog_done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct vmlog *log = arg;
    struct vmlog_done *d, *next;

    pthread_mutex_lock(&log->mu);
    d = log->done;
    log->done = NULL;
    log->done_tailp = &log->done;
    pthread_mutex_unlock(&log->mu);
    for (; d; d = next) { /* bounded by the list taken */
        next = d->next;
        d->cb(d->arg, d->data, d->n, d->file_size, d->err);
        free(d->data);
        free(d);
    }
}

/* Loop thread: the writer freed queue space someone waits for. */
static void
vmlog_room_ev_cb(evutil_socket_t fd, short what, void *arg)
{
    struct vmlog *log = arg;

    if (log->room_cb)
        log->room_cb(log->room_arg);
}

void
vmlog_set_room_cb(struct vmlog *log, void (*cb)(void *arg), void *arg)
{
    log->room_cb = cb;
    log->room_arg = arg;
}

size_t
vmlog_room(struct vmlog *log, const char *console_id, bool half_free)
{
    size_t idlen = vmlog_id_len(console_id);
    size_t over = sizeof(struct vmlog_rec) + idlen + 1;
    size_t min = log->queue_max / 4 < 4096 ? log->queue_max / 4 : 4096;
    size_t room = 0;

    if (idlen == 0)
        return SIZE_MAX / 4; /* refused (and counted) by vmlog_data */
    pthread_mutex_lock(&log->mu);
    if (half_free && min < log->queue_max / 2)
        min = log->queue_max / 2;
    if (log->st.queue_bytes + over + (min ? min : 1) <= log->queue_max)
        room = log->queue_max - log->st.queue_bytes - over;
    else
        log->want_room = true;
    pthread_mutex_unlock(&log->mu);
    return room;
}

uint64_t
vmlog_progress(struct vmlog *log)
{
    uint64_t v;

    pthread_mutex_lock(&log->mu);
    v = log->freed_total;
    pthread_mutex_unlock(&log->mu);
    return v;
}

void
vmlog_lost(struct vmlog *log, const char *console_id, uint64_t bytes)
{
    if (vmlog_id_len(console_id) == 0 || bytes == 0)
        return;
    pthread_mutex_lock(&log->mu);
    log->st.bytes_dropped += bytes;
    vmlog_pend_add(log, console_id, bytes, 0);
    pthread_mutex_unlock(&log->mu);
}

struct vmlog *
vmlog_new(const struct vmlog_cfg *cfg, struct event_base *base)
{
    struct vmlog *log;
    struct rlimit rl;
    sigset_t all, old;
    int rc;

    if (cfg->dir == NULL || cfg->queue_max == 0 ||
        (cfg->rotate_bytes > 0 &&
         (cfg->keep < 1 || cfg->keep > VMLOG_KEEP_MAX))) {
        log_warnx("console log: bad configuration (need a directory, "
                  "queue_max > 0, keep 1 to %u)",
                  VMLOG_KEEP_MAX);
        return NULL;
    }
    if ((log = calloc(1, sizeof(*log))) == NULL) {
        log_warnx("console log: out of memory");
        return NULL;
    }
    log->dirfd = -1;
    pthread_mutex_init(&log->mu, NULL);
    pthread_cond_init(&log->cv, NULL);
    log->tailp = &log->head;
    log->done_tailp = &log->done;
    TAILQ_INIT(&log->open_files);
    log->base = base;
    log->timestamps = cfg->timestamps;
    log->keep = cfg->keep;
    log->queue_max = cfg->queue_max;
    vmlog_rotate_limits(cfg->rotate_bytes, &log->rotate_soft,
                        &log->rotate_hard);
    log->max_open = VMLOG_OPEN_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur / 2 < log->max_open)
        log->max_open = rl.rlim_cur / 2 > 4 ? (size_t)(rl.rlim_cur / 2) : 4;

    if ((log->dir = strdup(cfg->dir)) == NULL ||
        (log->obuf = malloc(VMLOG_OBUF)) == NULL) {
        log_warnx("console log: out of memory");
        goto fail;
    }
    log->dirfd = open(cfg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (log->dirfd == -1 || faccessat(log->dirfd, ".", W_OK | X_OK, 0) == -1) {
        log_warn("console log directory %s", cfg->dir);
        goto fail;
    }
    if (getenv("VSPC_TEST_LOG_HOLD") && *getenv("VSPC_TEST_LOG_HOLD")) {
        log->hold_path = strdup(getenv("VSPC_TEST_LOG_HOLD"));
        log_warnx("console log: test hook VSPC_TEST_LOG_HOLD=%s",
                  log->hold_path ? log->hold_path : "(out of memory)");
    }
    log->room_ev = event_new(base, -1, 0, vmlog_room_ev_cb, log);
    if ((log->done_ev = event_new(base, -1, 0, vmlog_done_cb, log)) == NULL ||
        log->room_ev == NULL) {
        log_warnx("console log: cannot make its event");
        goto fail;
    }
    /* Signals stay with the loop thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&log->thread, NULL, vmlw_main, log);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        errno = rc;
        log_warn("console log writer thread");
        goto fail;
    }
    log->thread_on = true;
    return log;
fail:
    vmlog_free(&log);
    return NULL;
}

void
vmlog_free(struct vmlog **logp)
{
    struct vmlog *log = *logp;
    struct vmlog_done *d, *dnext;
    struct vmlog_rec *r;

    if (log == NULL)
        return;
    *logp = NULL;
    pthread_mutex_lock(&log->mu);
    /* Losses still owed get a record of their own (a marker, no bytes). */
    for (size_t i = 0; i < VMLOG_NBUCKET && log->pend.n > 0; i++) {
        struct vmlog_hent *e;

        for (e = log->pend.b[i]; e; e = e->hnext) {
            struct vmlog_pend *pe = (struct vmlog_pend *)e;

            if ((pe->lost.q > 0 || pe->lost.qev > 0) &&
                (r = vmlog_rec_new(VMLOG_R_DATA, e->id, strlen(e->id), NULL,
                                   0))) {
                r->lost = pe->lost;
                r->next = NULL;
                *log->tailp = r;
                log->tailp = &r->next;
                log->st.queue_bytes += r->charge;
            }
        }
    }
    vmlog_hclear(&log->pend);
    log->stop = true;
    log->hold = false;
    pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
    if (log->thread_on)
        pthread_join(log->thread, NULL);
    if (log->done_ev)
        event_free(log->done_ev);
    if (log->room_ev)
        event_free(log->room_ev);
    free(log->hold_path);
    /* The queue is empty: the writer drained it (or never ran, when
     * vmlog_new failed, and then nothing was queued). */
    for (d = log->done; d; d = dnext) {
        dnext = d->next;
        d->cb(d->arg, NULL, 0, 0, ECANCELED);
        free(d->data);
        free(d);
    }
    vmlog_hclear(&log->files);
    if (log->dirfd != -1)
        close(log->dirfd);
    pthread_cond_destroy(&log->cv);
    pthread_mutex_destroy(&log->mu);
    free(log->obuf);
    free(log->dir);
    free(log);
}
