/*
 * vmlog_writer.c: vmlw_*, the console log's writer thread (see vmlog.h
 * for what it writes, vmlog_int.h for the shared struct vmlog and the
 * design): per-console files, buffered writes, loss markers, rotation,
 * reopen, and the reads behind vmlog_read.
 *
 * Files. The writer keeps one struct vmlw_file per console ever seen (hash
 * by id): the fd (or -1), the file's size, whether the next byte starts a
 * line (timestamps, rotation point), and losses still to announce. Open
 * fds are on an LRU list, capped by max_open. Output goes through one
 * 64 KiB buffer that belongs to one file at a time (consecutive records of
 * one console become one write(2)); it is flushed before the writer
 * switches files, rotates, reads, reports, or sleeps. A failed write
 * closes the file (the next record reopens it) and turns the buffered
 * console bytes into a "write error" loss to announce.
 *
 * Rotation is a rename chain .log.<keep-1> -> .log.<keep> ... .log ->
 * .log.1 with the file closed; the new .log is created by the write that
 * follows. If a rename fails the chain stops there, so nothing is
 * overwritten that was not moved first, and rotation is retried a second
 * later.
 *
 * Threads: everything here runs on the writer thread. It touches the
 * "writer thread only" part of struct vmlog freely and the "under mu" part
 * only with mu held: in vmlw_main (taking a batch of records, waiting)
 * and vmlw_report (counters, freed queue space, finished reads).
 *
 * Ownership: the writer owns every record of a batch it took (and frees
 * it), every struct vmlw_file (in log->files, freed by vmlog_free after
 * the join) and every log file descriptor; a finished read's struct
 * vmlog_done goes to the done list (vmlw_report).
 */
#include "vspc/compat.h"
#include "vmlog.h"
#include "vmlog_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vspc/log.h"

#define VMLW_REPORT 65536 /* report counters at least every this many */
#define VMLW_NAME_MAX (VMLOG_ID_MAX + 16) /* "<id>.log.<n>" */
#define VMLW_TIME_LEN 24                  /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
#define VMLW_S(n) ((n) == 1 ? "" : "s")   /* plural */

/* One console's file. */
struct vmlw_file {
    struct vmlog_hent h;
    TAILQ_ENTRY(vmlw_file) lru; /* on open_files while fd >= 0 */
    int fd;
    bool line_start;        /* the next byte starts a line */
    uint64_t size;          /* bytes in the file + buffered for it */
    struct vmlog_loss lost; /* to announce before its next bytes */
    time_t rotate_retry;    /* CLOCK_MONOTONIC s: no rotation before */
};

/* ---- small helpers --------------------------------------------------- */

static void
vmlw_loss_add(struct vmlog_loss *to, const struct vmlog_loss *from)
{
    to->q += from->q;
    to->qev += from->qev;
    to->w += from->w;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ"; out has room for VMLW_TIME_LEN + 1 at least. */
static void
vmlw_time(char *out, size_t cap, const struct timespec *ts)
{
    struct tm tm;

    gmtime_r(&ts->tv_sec, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ts->tv_nsec / 1000000));
}

/* "<id>.log" (gen 0) or "<id>.log.<gen>". */
static void
vmlw_name(char out[VMLW_NAME_MAX], const char *id, unsigned gen)
{
    if (gen == 0)
        snprintf(out, VMLW_NAME_MAX, "%s.log", id);
    else
        snprintf(out, VMLW_NAME_MAX, "%s.log.%u", id, gen);
}

/* ---- writer: errors, counters, fds ---------------------------------- */

/* Count a failed call and log it, at most once a second. errno is kept. */
static void
vmlw_err(struct vmlog *log, const char *what, const char *name)
{
    int saved = errno;
    time_t now = vmlog_mono();

    log->wd.write_errors++;
    if (log->warn_at != 0 && now - log->warn_at < 1) {
        log->warn_hidden++;
        return;
    }
    errno = saved;
    if (log->warn_hidden > 0)
        log_warn("console log %s %s/%s (%" PRIu64 " more errors not shown)",
                 what, log->dir, name, log->warn_hidden);
    else
        log_warn("console log %s %s/%s", what, log->dir, name);
    log->warn_at = now;
    log->warn_hidden = 0;
    errno = saved;
}

/* Hand counters and freed queue space to the loop side; d (if any) goes
 * on the done list and the loop is woken. */
static void
vmlw_report(struct vmlog *log, struct vmlog_done *d)
{
    bool room = false;

    pthread_mutex_lock(&log->mu);
    log->st.bytes_written += log->wd.bytes_written;
    log->st.bytes_dropped += log->wd.bytes_dropped;
    log->st.write_errors += log->wd.write_errors;
    log->st.rotations += log->wd.rotations;
    log->st.reopens += log->wd.reopens;
    log->st.queue_bytes -= log->wfreed;
    log->freed_total += log->wfreed;
    if (log->want_room && log->wfreed > 0) {
        log->want_room = false;
        room = true;
    }
    if (d) {
        d->next = NULL;
        *log->done_tailp = d;
        log->done_tailp = &d->next;
    }
    pthread_mutex_unlock(&log->mu);
    memset(&log->wd, 0, sizeof(log->wd));
    log->wfreed = 0;
    if (d)
        event_active(log->done_ev, EV_READ, 1);
    if (room && log->room_ev)
        event_active(log->room_ev, EV_READ, 1);
}

/* write(2) all of p; 0 or -1 (errno set). Bounded: each pass progresses. */
static int
vmlw_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);

        if (k == -1 && errno == EINTR)
            continue;
        if (k <= 0) {
            errno = k == 0 ? EIO : errno;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void vmlw_close(struct vmlog *log, struct vmlw_file *f);

/* Write obuf to its file. On failure the console bytes in it are dropped,
 * the losses it announced and its console bytes are to be announced
 * again, and the file is closed (the next record reopens it). */
static void
vmlw_flush(struct vmlog *log)
{
    struct vmlw_file *f = log->ofile;
    char name[VMLW_NAME_MAX];

    if (f == NULL || log->olen == 0)
        return;
    if (vmlw_write_all(f->fd, log->obuf, log->olen) == 0) {
        log->wd.bytes_written += log->odata;
    } else {
        vmlw_name(name, f->h.id, 0);
        vmlw_err(log, "write", name);
        log->wd.bytes_dropped += log->odata;
        log->omark.w += log->odata;
        vmlw_loss_add(&f->lost, &log->omark);
        log->olen = 0;
        vmlw_close(log, f);
    }
    log->olen = 0; /* before a failure's vmlw_close flushes again */
    log->odata = 0;
    memset(&log->omark, 0, sizeof(log->omark));
}

static void
vmlw_close(struct vmlog *log, struct vmlw_file *f)
{
    if (f->fd < 0)
        return;
    if (log->ofile == f)
        vmlw_flush(log);
    if (f->fd < 0) /* the flush failed and closed it */
        return;
    TAILQ_REMOVE(&log->open_files, f, lru);
    log->nopen--;
    close(f->fd); /* nothing to retry: the data was written or counted */
    f->fd = -1;
}

/* open(2) a log file for appending or reading, *size its size; a FIFO,
 * device or symlink is refused without blocking. Evicts one open file on
 * EMFILE. */
static int
vmlw_openat(struct vmlog *log, const char *name, bool rd, uint64_t *size)
{
    int flags = (rd ? O_RDONLY : O_WRONLY | O_APPEND | O_CREAT) | O_CLOEXEC |
                O_NOFOLLOW | O_NONBLOCK;
    struct stat sb;
    int fd, fl;

    fd = openat(log->dirfd, name, flags, 0640);
    if (fd == -1 && errno == EMFILE && !TAILQ_EMPTY(&log->open_files)) {
        vmlw_close(log, TAILQ_FIRST(&log->open_files));
        fd = openat(log->dirfd, name, flags, 0640);
    }
    if (fd == -1)
        return -1;
    if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
        (fl = fcntl(fd, F_GETFL)) == -1 ||
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    *size = (uint64_t)sb.st_size;
    return fd;
}

/* Make sure f is open (most recently used). 0, or -1 (counted). */
static int
vmlw_open(struct vmlog *log, struct vmlw_file *f)
{
    char name[VMLW_NAME_MAX];

    if (f->fd >= 0) {
        TAILQ_REMOVE(&log->open_files, f, lru);
        TAILQ_INSERT_TAIL(&log->open_files, f, lru);
        return 0;
    }
    if (log->nopen >= log->max_open)
        vmlw_close(log, TAILQ_FIRST(&log->open_files));
    vmlw_name(name, f->h.id, 0);
    if ((f->fd = vmlw_openat(log, name, false, &f->size)) == -1) {
        vmlw_err(log, "open", name);
        return -1;
    }
    TAILQ_INSERT_TAIL(&log->open_files, f, lru);
    log->nopen++;
    return 0;
}

/* ---- writer: output --------------------------------------------------- */

/*
 * Buffer len (<= VMLOG_OBUF) bytes for f, which the caller opened: ndata of
 * them console bytes, the rest a stamp or a marker announcing ann.
 */
static void
vmlw_out(struct vmlog *log, struct vmlw_file *f, const void *p, size_t len,
         size_t ndata, const struct vmlog_loss *ann)
{
    if (log->ofile != f) {
        vmlw_flush(log);
        log->ofile = f;
    }
    if (log->olen + len > VMLOG_OBUF)
        vmlw_flush(log);
    if (f->fd < 0) { /* the flush failed: f is closed, these are lost */
        log->wd.bytes_dropped += ndata;
        f->lost.w += ndata;
        if (ann)
            vmlw_loss_add(&f->lost, ann);
        return;
    }
    memcpy(log->obuf + log->olen, p, len);
    log->olen += len;
    log->odata += ndata;
    if (ann)
        vmlw_loss_add(&log->omark, ann);
    f->size += len;
}

/* "\r\n[vspc <time> <text>]\r\n"; text already clean. */
static void
vmlw_marker(struct vmlog *log, struct vmlw_file *f, const struct timespec *ts,
            const char *text, const struct vmlog_loss *ann)
{
    char t[64], line[VMLOG_EVENT_MAX + 128];
    int len;

    vmlw_time(t, sizeof(t), ts);
    len = snprintf(line, sizeof(line), "\r\n[vspc %s %s]\r\n", t, text);
    if (len < 0)
        return;
    if ((size_t)len >= sizeof(line))
        len = (int)sizeof(line) - 1;
    vmlw_out(log, f, line, (size_t)len, 0, ann);
    f->line_start = true;
}

static void
vmlw_rotate(struct vmlog *log, struct vmlw_file *f)
{
    char from[VMLW_NAME_MAX], to[VMLW_NAME_MAX];

    vmlw_close(log, f);
    for (unsigned gen = log->keep; gen >= 1; gen--) { /* bounded by keep */
        vmlw_name(from, f->h.id, gen - 1);
        vmlw_name(to, f->h.id, gen);
        if (renameat(log->dirfd, from, log->dirfd, to) == -1 &&
            errno != ENOENT) {
            /* Stop: everything renamed so far was moved, not lost. */
            vmlw_err(log, "rename", from);
            f->rotate_retry = vmlog_mono() + 1;
            return;
        }
    }
    log->wd.rotations++;
}

/* Open f, rotate it if due, announce its losses. 0, or -1: f cannot be
 * opened (counted). */
static int
vmlw_ready(struct vmlog *log, struct vmlw_file *f, const struct timespec *ts)
{
    char text[128];

    if (vmlw_open(log, f) == -1)
        return -1;
    if (log->rotate_soft > 0 && f->size >= log->rotate_soft &&
        (f->line_start || f->size >= log->rotate_hard) &&
        (f->rotate_retry == 0 || vmlog_mono() >= f->rotate_retry)) {
        vmlw_rotate(log, f);
        if (vmlw_open(log, f) == -1)
            return -1;
    }
    if (f->lost.q > 0 || f->lost.qev > 0) {
        struct vmlog_loss a = {f->lost.q, f->lost.qev, 0};
        int k = snprintf(text, sizeof(text), "%" PRIu64 " byte%s", a.q,
                         VMLW_S(a.q));

        if (a.qev > 0)
            k += snprintf(text + k, sizeof(text) - (size_t)k,
                          " and %" PRIu64 " event marker%s", a.qev,
                          VMLW_S(a.qev));
        snprintf(text + k, sizeof(text) - (size_t)k,
                 " not logged (queue full)");
        f->lost.q = f->lost.qev = 0;
        vmlw_marker(log, f, ts, text, &a);
    }
    if (f->lost.w > 0) {
        struct vmlog_loss a = {0, 0, f->lost.w};

        snprintf(text, sizeof(text),
                 "%" PRIu64 " byte%s not logged (write error)", a.w,
                 VMLW_S(a.w));
        f->lost.w = 0;
        vmlw_marker(log, f, ts, text, &a);
    }
    return f->fd >= 0 ? 0 : -1;
}

/* Console bytes: cut at line ends when stamping or when a rotation may
 * fall inside the record, and at the hard rotation size. */
static void
vmlw_data(struct vmlog *log, struct vmlw_file *f, const struct vmlog_rec *r)
{
    const uint8_t *p = r->p;
    size_t n = r->n;
    char t[64], stamp[80];

    while (n > 0) { /* bounded: every pass consumes at least one byte */
        size_t len = n;
        const uint8_t *nl;

        if (vmlw_ready(log, f, &r->ts) == -1) {
            log->wd.bytes_dropped += n;
            f->lost.w += n;
            return;
        }
        if (log->timestamps ||
            (log->rotate_soft > 0 && f->size + n >= log->rotate_soft)) {
            if ((nl = memchr(p, '\n', n)) != NULL)
                len = (size_t)(nl - p) + 1;
        }
        if (log->rotate_soft > 0 && f->size < log->rotate_hard &&
            len > log->rotate_hard - f->size)
            len = (size_t)(log->rotate_hard - f->size);
        if (len > VMLOG_OBUF - 128) /* room for a stamp */
            len = VMLOG_OBUF - 128;
        if (log->timestamps && f->line_start) {
            int k;

            vmlw_time(t, sizeof(t), &r->ts);
            k = snprintf(stamp, sizeof(stamp), "[%s] ", t);
            vmlw_out(log, f, stamp, (size_t)k, 0, NULL);
        }
        vmlw_out(log, f, p, len, len, NULL);
        f->line_start = p[len - 1] == '\n';
        p += len;
        n -= len;
    }
}

static struct vmlw_file *
vmlw_file_get(struct vmlog *log, const char *id)
{
    struct vmlw_file *f = (struct vmlw_file *)vmlog_hfind(&log->files, id);

    if (f)
        return f;
    if ((f = calloc(1, sizeof(*f))) == NULL)
        return NULL;
    snprintf(f->h.id, sizeof(f->h.id), "%s", id);
    f->fd = -1;
    f->line_start = true;
    vmlog_hadd(&log->files, &f->h);
    return f;
}

static void
vmlw_read(struct vmlog *log, struct vmlog_rec *r, bool stopping)
{
    struct vmlog_done *d = r->done;
    char name[VMLW_NAME_MAX];
    int fd;

    if (stopping) {
        d->err = ECANCELED;
        return;
    }
    vmlw_flush(log);
    vmlw_name(name, r->buf, 0);
    if ((fd = vmlw_openat(log, name, true, &d->file_size)) == -1) {
        d->err = errno;
        return;
    }
    if (r->offset < d->file_size && r->n > 0) {
        uint64_t left = d->file_size - r->offset;
        size_t want = left < r->n ? (size_t)left : r->n;

        if ((d->data = malloc(want)) == NULL) {
            d->err = ENOMEM;
            want = 0;
        }
        while (d->n < want) { /* bounded: progress or stop */
            ssize_t k = pread(fd, d->data + d->n, want - d->n,
                              (off_t)(r->offset + d->n));

            if (k == -1 && errno == EINTR)
                continue;
            if (k == -1)
                d->err = errno;
            if (k <= 0)
                break;
            d->n += (size_t)k;
        }
    }
    close(fd);
}

static void
vmlw_reopen(struct vmlog *log)
{
    int fd;

    vmlw_flush(log);
    while (!TAILQ_EMPTY(&log->open_files)) /* bounded by nopen */
        vmlw_close(log, TAILQ_FIRST(&log->open_files));
    fd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1) {
        vmlw_err(log, "reopen", ".");
    } else {
        close(log->dirfd);
        log->dirfd = fd;
    }
    log->wd.reopens++;
}

static void
vmlw_record(struct vmlog *log, struct vmlog_rec *r, bool stopping)
{
    struct vmlw_file *f;

    switch (r->kind) {
    case VMLOG_R_READ:
        vmlw_read(log, r, stopping);
        log->wfreed += r->charge;
        vmlw_report(log, r->done);
        r->done = NULL;
        return;
    case VMLOG_R_REOPEN:
        vmlw_reopen(log);
        break;
    case VMLOG_R_SETTINGS: {
        struct vmlog_settings set;

        memcpy(&set, r->p, sizeof(set));
        log->timestamps = set.timestamps;
        log->rotate_soft = set.rotate_soft;
        log->rotate_hard = set.rotate_hard;
        log->keep = set.keep;
        break;
    }
    case VMLOG_R_DATA:
    case VMLOG_R_EVENT:
        if ((f = vmlw_file_get(log, r->buf)) == NULL) {
            errno = ENOMEM;
            vmlw_err(log, "track", r->buf);
            log->wd.bytes_dropped += r->kind == VMLOG_R_DATA ? r->n : 0;
            break;
        }
        vmlw_loss_add(&f->lost, &r->lost);
        if (vmlw_ready(log, f, &r->ts) == -1) {
            if (r->kind == VMLOG_R_DATA) {
                log->wd.bytes_dropped += r->n;
                f->lost.w += r->n;
            }
            break;
        }
        if (r->kind == VMLOG_R_DATA)
            vmlw_data(log, f, r);
        else
            vmlw_marker(log, f, &r->ts, (const char *)r->p, NULL);
        break;
    }
    log->wfreed += r->charge;
}

void *
vmlw_main(void *arg)
{
    struct vmlog *log = arg;

    pthread_mutex_lock(&log->mu);
    for (;;) {
        struct vmlog_rec *r, *next;
        bool stopping;

        while (!log->stop && (log->head == NULL || log->hold))
            pthread_cond_wait(&log->cv, &log->mu);
        /* Test hook: a stalled disk, for as long as the file exists. */
        if (log->hold_path && !log->stop && access(log->hold_path, F_OK) == 0) {
            struct timespec ts = {0, 10 * 1000 * 1000};

            pthread_mutex_unlock(&log->mu);
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&log->mu);
            continue;
        }
        if (log->head == NULL) /* stopping and drained */
            break;
        r = log->head;
        log->head = NULL;
        log->tailp = &log->head;
        stopping = log->stop;
        log->reopen_queued = false; /* a later call must queue its own */
        pthread_mutex_unlock(&log->mu);

        for (; r; r = next) { /* bounded by the batch taken */
            next = r->next;
            vmlw_record(log, r, stopping);
            free(r);
            if (log->wfreed >= VMLW_REPORT) {
                vmlw_flush(log);
                vmlw_report(log, NULL);
            }
        }
        vmlw_flush(log);
        vmlw_report(log, NULL);
        pthread_mutex_lock(&log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    while (!TAILQ_EMPTY(&log->open_files)) /* bounded by nopen */
        vmlw_close(log, TAILQ_FIRST(&log->open_files));
    vmlw_report(log, NULL);
    return NULL;
}
