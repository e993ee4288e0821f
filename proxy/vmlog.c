/*
 * vmlog.c: see vmlog.h.
 *
 * DESIGN
 *
 * Two threads share one mutex-protected struct: the loop thread (every
 * public function) and the writer thread (vl_writer and everything named
 * vl_w_*). The rule that makes it simple: the loop thread does nothing
 * under the mutex but pointer and counter updates, and does no I/O at all;
 * the writer does all I/O and holds the mutex only to take a whole batch
 * of records off the queue and to report counters and read results.
 *
 * Records. vmlog_data/vmlog_event/vmlog_read/vmlog_reopen each make one
 * malloc'd record (id and payload copied in) and append it to a FIFO.
 * Every record is charged (payload + header) against queue_max; a record
 * that does not fit is dropped on the spot and its bytes are remembered in
 * a loop-side table of pending losses keyed by console id ("pend"). The
 * next record of that console that is accepted carries those counts, and
 * the writer puts a loss marker before it. vmlog_free queues the losses
 * still pending as records of their own, so none goes unannounced.
 *
 * Files. The writer keeps one struct vl_file per console ever seen (hash
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
 * Reads. vmlog_read allocates its completion (struct vl_done) up front,
 * so a callback is owed exactly once whatever fails later. The writer does
 * the read in queue order and moves the completion to the done list; an
 * event on the loop's base, activated from the writer (libevent locking
 * on), runs the callbacks on the loop thread. vmlog_free runs whatever is
 * left with ECANCELED after the thread is joined.
 */
#include "vspc/compat.h"
#include "vmlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vspc/log.h"
#include "vmext.h"

_Static_assert(VMLOG_ID_MAX >= VMX_CONSOLE_ID_MAX, "console ids must fit");

#define VL_OBUF 65536      /* writer's output buffer */
#define VL_REPORT 65536    /* report counters at least every this many */
#define VL_SLACK_MAX 65536 /* rotation waits this long at most for a '\n' */
#define VL_OPEN_MAX 1024   /* files open at once, at most */
#define VL_KEEP_MAX 1000
#define VL_NAME_MAX (VMLOG_ID_MAX + 16) /* "<id>.log.<n>" */
#define VL_TIME_LEN 24                  /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
#define VL_NBUCKET 1024 /* per table; thousands of consoles: short chains */
#define VL_S(n) ((n) == 1 ? "" : "s") /* plural */

enum vl_kind {
    VL_DATA,   /* console bytes (n may be 0: losses to announce only) */
    VL_EVENT,  /* marker text */
    VL_READ,   /* a vmlog_read request */
    VL_REOPEN, /* close every file, reopen the directory */
};

/* Losses to announce: queue full (bytes, markers), write errors (bytes). */
struct vl_loss {
    uint64_t q, qev, w;
};

/* A finished (or cancelled) read, waiting for the loop thread. */
struct vl_done {
    struct vl_done *next;
    vmlog_read_cb cb;
    void *arg;
    int err;
    uint64_t file_size;
    size_t n;
    uint8_t *data;
};

struct vl_rec {
    struct vl_rec *next;
    enum vl_kind kind;
    struct timespec ts;   /* CLOCK_REALTIME when queued */
    size_t charge;        /* counted in queue_bytes while queued */
    struct vl_loss lost;  /* queue-full losses of this console before it */
    uint64_t offset;      /* VL_READ */
    struct vl_done *done; /* VL_READ */
    size_t n;             /* payload bytes; VL_READ: max */
    uint8_t *p;           /* payload, in buf after the id */
    char buf[];           /* id, NUL, payload */
};

/* Intrusive hash entry, first member of vl_file and vl_pend. */
struct vl_hent {
    struct vl_hent *hnext;
    uint32_t hash;
    char id[VMLOG_ID_MAX + 1];
};

struct vl_htab {
    struct vl_hent *b[VL_NBUCKET];
    size_t n;
};

/* Loop side: losses of one console not yet carried by a record (entries
 * stay once made: at most one per console). */
struct vl_pend {
    struct vl_hent h;
    struct vl_loss lost;
};

/* Writer side: one console's file. */
struct vl_file {
    struct vl_hent h;
    TAILQ_ENTRY(vl_file) lru; /* on open_files while fd >= 0 */
    int fd;
    bool line_start;     /* the next byte starts a line */
    uint64_t size;       /* bytes in the file + buffered for it */
    struct vl_loss lost; /* to announce before its next bytes */
    time_t rotate_retry; /* CLOCK_MONOTONIC s: no rotation before */
};

TAILQ_HEAD(vl_files, vl_file);

struct vmlog {
    /* Fixed after vmlog_new. */
    char *dir;
    bool timestamps;
    uint64_t rotate_soft, rotate_hard; /* 0: no rotation */
    unsigned keep;
    size_t queue_max;
    size_t max_open;
    struct event_base *base;
    struct event *done_ev;
    pthread_t thread;
    bool thread_on;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Under mu. */
    struct vl_rec *head, **tailp;
    struct vl_done *done, **done_tailp;
    struct vl_htab pend;
    bool stop, hold, reopen_queued;
    struct vmlog_stats st;

    /* Loop thread only. */
    time_t loop_warn_at;

    /* Writer thread only (and vmlog_new/vmlog_free around it). */
    int dirfd;
    struct vl_htab files;
    struct vl_files open_files;
    size_t nopen;
    struct vl_file *ofile; /* owner of obuf */
    uint8_t *obuf;
    size_t olen;
    uint64_t odata;        /* console bytes in obuf */
    struct vl_loss omark;  /* losses announced by markers in obuf */
    struct vmlog_stats wd; /* not yet reported: written, dropped, ... */
    size_t wfreed;         /* charge of records done, not yet reported */
    time_t warn_at;
    uint64_t warn_hidden;
};

/* ---- small helpers --------------------------------------------------- */

static void
vl_loss_add(struct vl_loss *to, const struct vl_loss *from)
{
    to->q += from->q;
    to->qev += from->qev;
    to->w += from->w;
}

static time_t
vl_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ"; out has room for VL_TIME_LEN + 1 at least. */
static void
vl_time(char *out, size_t cap, const struct timespec *ts)
{
    struct tm tm;

    gmtime_r(&ts->tv_sec, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ts->tv_nsec / 1000000));
}

/* Length of a valid console id, or 0: [0-9A-Za-z._-], not '.' first. */
static size_t
vl_id_len(const char *id)
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

/* "<id>.log" (gen 0) or "<id>.log.<gen>". */
static void
vl_name(char out[VL_NAME_MAX], const char *id, unsigned gen)
{
    if (gen == 0)
        snprintf(out, VL_NAME_MAX, "%s.log", id);
    else
        snprintf(out, VL_NAME_MAX, "%s.log.%u", id, gen);
}

/* ---- hash table (FNV-1a, fixed buckets, chained) ---------------------- */

static struct vl_hent **
vl_hslot(struct vl_htab *t, const char *id, uint32_t *hp)
{
    uint32_t h = 2166136261u;

    for (const char *c = id; *c; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    *hp = h;
    return &t->b[h % VL_NBUCKET];
}

static struct vl_hent *
vl_hfind(struct vl_htab *t, const char *id)
{
    uint32_t h;
    struct vl_hent *e = t->n ? *vl_hslot(t, id, &h) : NULL;

    while (e && (e->hash != h || strcmp(e->id, id) != 0))
        e = e->hnext;
    return e;
}

/* e->id set by the caller. */
static void
vl_hadd(struct vl_htab *t, struct vl_hent *e)
{
    struct vl_hent **slot = vl_hslot(t, e->id, &e->hash);

    e->hnext = *slot;
    *slot = e;
    t->n++;
}

/* Frees every entry (each was malloc'd whole). */
static void
vl_hclear(struct vl_htab *t)
{
    for (size_t i = 0; i < VL_NBUCKET && t->n > 0; i++) {
        while (t->b[i]) {
            struct vl_hent *e = t->b[i];

            t->b[i] = e->hnext;
            t->n--;
            free(e);
        }
    }
}

/* ---- writer: errors, counters, fds ---------------------------------- */

/* Count a failed call and log it, at most once a second. errno is kept. */
static void
vl_w_err(struct vmlog *log, const char *what, const char *name)
{
    int saved = errno;
    time_t now = vl_mono();

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
vl_w_report(struct vmlog *log, struct vl_done *d)
{
    pthread_mutex_lock(&log->mu);
    log->st.bytes_written += log->wd.bytes_written;
    log->st.bytes_dropped += log->wd.bytes_dropped;
    log->st.write_errors += log->wd.write_errors;
    log->st.rotations += log->wd.rotations;
    log->st.reopens += log->wd.reopens;
    log->st.queue_bytes -= log->wfreed;
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
}

/* write(2) all of p; 0 or -1 (errno set). Bounded: each pass progresses. */
static int
vl_write_all(int fd, const uint8_t *p, size_t n)
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

static void vl_w_close(struct vmlog *log, struct vl_file *f);

/* Write obuf to its file. On failure the console bytes in it are dropped,
 * the losses it announced and its console bytes are to be announced
 * again, and the file is closed (the next record reopens it). */
static void
vl_w_flush(struct vmlog *log)
{
    struct vl_file *f = log->ofile;
    char name[VL_NAME_MAX];

    if (f == NULL || log->olen == 0)
        return;
    if (vl_write_all(f->fd, log->obuf, log->olen) == 0) {
        log->wd.bytes_written += log->odata;
    } else {
        vl_name(name, f->h.id, 0);
        vl_w_err(log, "write", name);
        log->wd.bytes_dropped += log->odata;
        log->omark.w += log->odata;
        vl_loss_add(&f->lost, &log->omark);
        log->olen = 0;
        vl_w_close(log, f);
    }
    log->olen = 0; /* before a failure's vl_w_close flushes again */
    log->odata = 0;
    memset(&log->omark, 0, sizeof(log->omark));
}

static void
vl_w_close(struct vmlog *log, struct vl_file *f)
{
    if (f->fd < 0)
        return;
    if (log->ofile == f)
        vl_w_flush(log);
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
vl_w_openat(struct vmlog *log, const char *name, bool rd, uint64_t *size)
{
    int flags = (rd ? O_RDONLY : O_WRONLY | O_APPEND | O_CREAT) | O_CLOEXEC |
                O_NOFOLLOW | O_NONBLOCK;
    struct stat sb;
    int fd, fl;

    fd = openat(log->dirfd, name, flags, 0640);
    if (fd == -1 && errno == EMFILE && !TAILQ_EMPTY(&log->open_files)) {
        vl_w_close(log, TAILQ_FIRST(&log->open_files));
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
vl_w_open(struct vmlog *log, struct vl_file *f)
{
    char name[VL_NAME_MAX];

    if (f->fd >= 0) {
        TAILQ_REMOVE(&log->open_files, f, lru);
        TAILQ_INSERT_TAIL(&log->open_files, f, lru);
        return 0;
    }
    if (log->nopen >= log->max_open)
        vl_w_close(log, TAILQ_FIRST(&log->open_files));
    vl_name(name, f->h.id, 0);
    if ((f->fd = vl_w_openat(log, name, false, &f->size)) == -1) {
        vl_w_err(log, "open", name);
        return -1;
    }
    TAILQ_INSERT_TAIL(&log->open_files, f, lru);
    log->nopen++;
    return 0;
}

/* ---- writer: output --------------------------------------------------- */

/*
 * Buffer len (<= VL_OBUF) bytes for f, which the caller opened: ndata of
 * them console bytes, the rest a stamp or a marker announcing ann.
 */
static void
vl_w_out(struct vmlog *log, struct vl_file *f, const void *p, size_t len,
         size_t ndata, const struct vl_loss *ann)
{
    if (log->ofile != f) {
        vl_w_flush(log);
        log->ofile = f;
    }
    if (log->olen + len > VL_OBUF)
        vl_w_flush(log);
    if (f->fd < 0) { /* the flush failed: f is closed, these are lost */
        log->wd.bytes_dropped += ndata;
        f->lost.w += ndata;
        if (ann)
            vl_loss_add(&f->lost, ann);
        return;
    }
    memcpy(log->obuf + log->olen, p, len);
    log->olen += len;
    log->odata += ndata;
    if (ann)
        vl_loss_add(&log->omark, ann);
    f->size += len;
}

/* "\r\n[vspc <time> <text>]\r\n"; text already clean. */
static void
vl_w_marker(struct vmlog *log, struct vl_file *f, const struct timespec *ts,
            const char *text, const struct vl_loss *ann)
{
    char t[64], line[VMLOG_EVENT_MAX + 128];
    int len;

    vl_time(t, sizeof(t), ts);
    len = snprintf(line, sizeof(line), "\r\n[vspc %s %s]\r\n", t, text);
    if (len < 0)
        return;
    if ((size_t)len >= sizeof(line))
        len = (int)sizeof(line) - 1;
    vl_w_out(log, f, line, (size_t)len, 0, ann);
    f->line_start = true;
}

static void
vl_w_rotate(struct vmlog *log, struct vl_file *f)
{
    char from[VL_NAME_MAX], to[VL_NAME_MAX];

    vl_w_close(log, f);
    for (unsigned gen = log->keep; gen >= 1; gen--) { /* bounded by keep */
        vl_name(from, f->h.id, gen - 1);
        vl_name(to, f->h.id, gen);
        if (renameat(log->dirfd, from, log->dirfd, to) == -1 &&
            errno != ENOENT) {
            /* Stop: everything renamed so far was moved, not lost. */
            vl_w_err(log, "rename", from);
            f->rotate_retry = vl_mono() + 1;
            return;
        }
    }
    log->wd.rotations++;
}

/* Open f, rotate it if due, announce its losses. 0, or -1: f cannot be
 * opened (counted). */
static int
vl_w_ready(struct vmlog *log, struct vl_file *f, const struct timespec *ts)
{
    char text[128];

    if (vl_w_open(log, f) == -1)
        return -1;
    if (log->rotate_soft > 0 && f->size >= log->rotate_soft &&
        (f->line_start || f->size >= log->rotate_hard) &&
        (f->rotate_retry == 0 || vl_mono() >= f->rotate_retry)) {
        vl_w_rotate(log, f);
        if (vl_w_open(log, f) == -1)
            return -1;
    }
    if (f->lost.q > 0 || f->lost.qev > 0) {
        struct vl_loss a = {f->lost.q, f->lost.qev, 0};
        int k =
            snprintf(text, sizeof(text), "%" PRIu64 " byte%s", a.q, VL_S(a.q));

        if (a.qev > 0)
            k +=
                snprintf(text + k, sizeof(text) - (size_t)k,
                         " and %" PRIu64 " event marker%s", a.qev, VL_S(a.qev));
        snprintf(text + k, sizeof(text) - (size_t)k,
                 " not logged (queue full)");
        f->lost.q = f->lost.qev = 0;
        vl_w_marker(log, f, ts, text, &a);
    }
    if (f->lost.w > 0) {
        struct vl_loss a = {0, 0, f->lost.w};

        snprintf(text, sizeof(text),
                 "%" PRIu64 " byte%s not logged (write error)", a.w, VL_S(a.w));
        f->lost.w = 0;
        vl_w_marker(log, f, ts, text, &a);
    }
    return f->fd >= 0 ? 0 : -1;
}

/* Console bytes: cut at line ends when stamping or when a rotation may
 * fall inside the record, and at the hard rotation size. */
static void
vl_w_data(struct vmlog *log, struct vl_file *f, const struct vl_rec *r)
{
    const uint8_t *p = r->p;
    size_t n = r->n;
    char t[64], stamp[80];

    while (n > 0) { /* bounded: every pass consumes at least one byte */
        size_t len = n;
        const uint8_t *nl;

        if (vl_w_ready(log, f, &r->ts) == -1) {
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
        if (len > VL_OBUF - 128) /* room for a stamp */
            len = VL_OBUF - 128;
        if (log->timestamps && f->line_start) {
            int k;

            vl_time(t, sizeof(t), &r->ts);
            k = snprintf(stamp, sizeof(stamp), "[%s] ", t);
            vl_w_out(log, f, stamp, (size_t)k, 0, NULL);
        }
        vl_w_out(log, f, p, len, len, NULL);
        f->line_start = p[len - 1] == '\n';
        p += len;
        n -= len;
    }
}

static struct vl_file *
vl_w_file(struct vmlog *log, const char *id)
{
    struct vl_file *f = (struct vl_file *)vl_hfind(&log->files, id);

    if (f)
        return f;
    if ((f = calloc(1, sizeof(*f))) == NULL)
        return NULL;
    snprintf(f->h.id, sizeof(f->h.id), "%s", id);
    f->fd = -1;
    f->line_start = true;
    vl_hadd(&log->files, &f->h);
    return f;
}

static void
vl_w_read(struct vmlog *log, struct vl_rec *r, bool stopping)
{
    struct vl_done *d = r->done;
    char name[VL_NAME_MAX];
    int fd;

    if (stopping) {
        d->err = ECANCELED;
        return;
    }
    vl_w_flush(log);
    vl_name(name, r->buf, 0);
    if ((fd = vl_w_openat(log, name, true, &d->file_size)) == -1) {
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
vl_w_reopen(struct vmlog *log)
{
    int fd;

    vl_w_flush(log);
    while (!TAILQ_EMPTY(&log->open_files)) /* bounded by nopen */
        vl_w_close(log, TAILQ_FIRST(&log->open_files));
    fd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1) {
        vl_w_err(log, "reopen", ".");
    } else {
        close(log->dirfd);
        log->dirfd = fd;
    }
    log->wd.reopens++;
}

static void
vl_w_record(struct vmlog *log, struct vl_rec *r, bool stopping)
{
    struct vl_file *f;

    switch (r->kind) {
    case VL_READ:
        vl_w_read(log, r, stopping);
        log->wfreed += r->charge;
        vl_w_report(log, r->done);
        r->done = NULL;
        return;
    case VL_REOPEN:
        vl_w_reopen(log);
        break;
    case VL_DATA:
    case VL_EVENT:
        if ((f = vl_w_file(log, r->buf)) == NULL) {
            errno = ENOMEM;
            vl_w_err(log, "track", r->buf);
            log->wd.bytes_dropped += r->kind == VL_DATA ? r->n : 0;
            break;
        }
        vl_loss_add(&f->lost, &r->lost);
        if (vl_w_ready(log, f, &r->ts) == -1) {
            if (r->kind == VL_DATA) {
                log->wd.bytes_dropped += r->n;
                f->lost.w += r->n;
            }
            break;
        }
        if (r->kind == VL_DATA)
            vl_w_data(log, f, r);
        else
            vl_w_marker(log, f, &r->ts, (const char *)r->p, NULL);
        break;
    }
    log->wfreed += r->charge;
}

static void *
vl_writer(void *arg)
{
    struct vmlog *log = arg;

    pthread_mutex_lock(&log->mu);
    for (;;) {
        struct vl_rec *r, *next;
        bool stopping;

        while (!log->stop && (log->head == NULL || log->hold))
            pthread_cond_wait(&log->cv, &log->mu);
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
            vl_w_record(log, r, stopping);
            free(r);
            if (log->wfreed >= VL_REPORT) {
                vl_w_flush(log);
                vl_w_report(log, NULL);
            }
        }
        vl_w_flush(log);
        vl_w_report(log, NULL);
        pthread_mutex_lock(&log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    while (!TAILQ_EMPTY(&log->open_files)) /* bounded by nopen */
        vl_w_close(log, TAILQ_FIRST(&log->open_files));
    vl_w_report(log, NULL);
    return NULL;
}

/* ---- loop side -------------------------------------------------------- */

/* Rate-limited warning on the loop thread (bad ids). */
static void
vl_loop_warn(struct vmlog *log, const char *what, const char *id)
{
    time_t now = vl_mono();
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

static struct vl_rec *
vl_rec_new(enum vl_kind kind, const char *id, size_t idlen, const void *p,
           size_t n)
{
    struct vl_rec *r;
    size_t extra = kind == VL_EVENT ? 1 : 0; /* NUL after the text */

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
vl_push(struct vmlog *log, struct vl_rec *r, bool forced)
{
    if (!forced && (log->st.queue_bytes >= log->queue_max ||
                    r->charge > log->queue_max - log->st.queue_bytes))
        return -1;
    if ((r->kind == VL_DATA || r->kind == VL_EVENT) && log->pend.n > 0) {
        struct vl_pend *pe = (struct vl_pend *)vl_hfind(&log->pend, r->buf);

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
vl_pend_add(struct vmlog *log, const char *id, uint64_t bytes, uint64_t events)
{
    struct vl_pend *pe = (struct vl_pend *)vl_hfind(&log->pend, id);

    if (pe == NULL) {
        if ((pe = calloc(1, sizeof(*pe))) == NULL)
            return; /* still counted in the stats; only the marker is lost */
        snprintf(pe->h.id, sizeof(pe->h.id), "%s", id);
        vl_hadd(&log->pend, &pe->h);
    }
    pe->lost.q += bytes;
    pe->lost.qev += events;
}

/* Queue a data or event record; count it either way. */
static int
vl_submit(struct vmlog *log, enum vl_kind kind, const char *id, const void *p,
          size_t n)
{
    size_t idlen = vl_id_len(id);
    struct vl_rec *r = NULL;
    int rc = -1, err = ENOMEM;

    if (idlen == 0) {
        vl_loop_warn(log, kind == VL_DATA ? "output" : "event", id);
        err = EINVAL;
    } else {
        r = vl_rec_new(kind, id, idlen, p, n);
    }
    pthread_mutex_lock(&log->mu);
    if (r && vl_push(log, r, false) == 0) {
        rc = 0;
        log->st.bytes_queued += kind == VL_DATA ? n : 0;
    } else {
        if (r)
            err = ENOBUFS;
        log->st.bytes_dropped += kind == VL_DATA ? n : 0;
        log->st.events_dropped += kind == VL_EVENT ? 1 : 0;
        if (idlen > 0)
            vl_pend_add(log, id, kind == VL_DATA ? n : 0,
                        kind == VL_EVENT ? 1 : 0);
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
    return vl_submit(log, VL_DATA, console_id, p, n);
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
    return vl_submit(log, VL_EVENT, console_id, text, (size_t)len);
}

void
vmlog_reopen(struct vmlog *log)
{
    struct vl_rec *r = vl_rec_new(VL_REOPEN, "", 0, NULL, 0);

    if (r == NULL) {
        log_warnx("console log reopen: out of memory");
        return;
    }
    pthread_mutex_lock(&log->mu);
    if (log->reopen_queued) { /* the queued one opens after this call */
        free(r);
    } else {
        log->reopen_queued = true;
        vl_push(log, r, true); /* tiny, and at most one queued */
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
    size_t idlen = vl_id_len(console_id);
    struct vl_rec *r;
    struct vl_done *d;
    int rc;

    if (idlen == 0) {
        vl_loop_warn(log, "read", console_id);
        errno = EINVAL;
        return -1;
    }
    r = vl_rec_new(VL_READ, console_id, idlen, NULL, 0);
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
    rc = vl_push(log, r, false);
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
vl_done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct vmlog *log = arg;
    struct vl_done *d, *next;

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

struct vmlog *
vmlog_new(const struct vmlog_cfg *cfg, struct event_base *base)
{
    struct vmlog *log;
    struct rlimit rl;
    sigset_t all, old;
    int rc;

    if (cfg->dir == NULL || cfg->queue_max == 0 ||
        (cfg->rotate_bytes > 0 && (cfg->keep < 1 || cfg->keep > VL_KEEP_MAX))) {
        log_warnx("console log: bad configuration (need a directory, "
                  "queue_max > 0, keep 1 to %u)",
                  VL_KEEP_MAX);
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
    if (cfg->rotate_bytes > 0) {
        log->rotate_soft = cfg->rotate_bytes;
        log->rotate_hard = cfg->rotate_bytes + (cfg->rotate_bytes < VL_SLACK_MAX
                                                    ? cfg->rotate_bytes
                                                    : VL_SLACK_MAX);
    }
    log->max_open = VL_OPEN_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur / 2 < log->max_open)
        log->max_open = rl.rlim_cur / 2 > 4 ? (size_t)(rl.rlim_cur / 2) : 4;

    if ((log->dir = strdup(cfg->dir)) == NULL ||
        (log->obuf = malloc(VL_OBUF)) == NULL) {
        log_warnx("console log: out of memory");
        goto fail;
    }
    log->dirfd = open(cfg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (log->dirfd == -1 || faccessat(log->dirfd, ".", W_OK | X_OK, 0) == -1) {
        log_warn("console log directory %s", cfg->dir);
        goto fail;
    }
    if ((log->done_ev = event_new(base, -1, 0, vl_done_cb, log)) == NULL) {
        log_warnx("console log: cannot make its event");
        goto fail;
    }
    /* Signals stay with the loop thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&log->thread, NULL, vl_writer, log);
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
    struct vl_done *d, *dnext;
    struct vl_rec *r;

    if (log == NULL)
        return;
    *logp = NULL;
    pthread_mutex_lock(&log->mu);
    /* Losses still owed get a record of their own (a marker, no bytes). */
    for (size_t i = 0; i < VL_NBUCKET && log->pend.n > 0; i++) {
        struct vl_hent *e;

        for (e = log->pend.b[i]; e; e = e->hnext) {
            struct vl_pend *pe = (struct vl_pend *)e;

            if ((pe->lost.q > 0 || pe->lost.qev > 0) &&
                (r = vl_rec_new(VL_DATA, e->id, strlen(e->id), NULL, 0))) {
                r->lost = pe->lost;
                r->next = NULL;
                *log->tailp = r;
                log->tailp = &r->next;
                log->st.queue_bytes += r->charge;
            }
        }
    }
    vl_hclear(&log->pend);
    log->stop = true;
    log->hold = false;
    pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
    if (log->thread_on)
        pthread_join(log->thread, NULL);
    if (log->done_ev)
        event_free(log->done_ev);
    /* The queue is empty: the writer drained it (or never ran, when
     * vmlog_new failed, and then nothing was queued). */
    for (d = log->done; d; d = dnext) {
        dnext = d->next;
        d->cb(d->arg, NULL, 0, 0, ECANCELED);
        free(d->data);
        free(d);
    }
    vl_hclear(&log->files);
    if (log->dirfd != -1)
        close(log->dirfd);
    pthread_cond_destroy(&log->cv);
    pthread_mutex_destroy(&log->mu);
    free(log->obuf);
    free(log->dir);
    free(log);
}
