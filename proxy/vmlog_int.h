/*
 * vmlog_int.h: the console log's internal types, shared by vmlog.c
 * (vmlog_*: the loop-side API of vmlog.h, the queue, stats, read requests,
 * vmlog_new/vmlog_free) and vmlog_writer.c (vmlw_*: the writer thread,
 * per-console files, write, rotate, reopen, reads). Not for other modules:
 * they use vmlog.h.
 *
 * DESIGN
 *
 * Two threads share one mutex-protected struct vmlog: the loop thread
 * (every public function, vmlog.c) and the writer thread (vmlw_main and
 * everything else in vmlog_writer.c). The rule that makes it simple: the
 * loop thread does nothing under the mutex but pointer and counter
 * updates, and does no I/O at all; the writer does all I/O and holds the
 * mutex only to take a whole batch of records off the queue and to report
 * counters and read results.
 *
 * Records (vmlog.c). vmlog_data/vmlog_event/vmlog_read/vmlog_reopen each
 * make one malloc'd struct vmlog_rec (id and payload copied in) and append
 * it to a FIFO. Every record is charged (payload + header) against
 * queue_max; a record that does not fit is dropped on the spot and its
 * bytes are remembered in a loop-side table of pending losses keyed by
 * console id ("pend"). The next record of that console that is accepted
 * carries those counts, and the writer puts a loss marker before it.
 * vmlog_free queues the losses still pending as records of their own, so
 * none goes unannounced.
 *
 * Files (vmlog_writer.c): see the comment at the top of that file.
 *
 * Reads. vmlog_read allocates its completion (struct vmlog_done) up front,
 * so a callback is owed exactly once whatever fails later. The writer does
 * the read in queue order and moves the completion to the done list; an
 * event on the loop's base, activated from the writer (libevent locking
 * on), runs the callbacks on the loop thread. vmlog_free runs whatever is
 * left with ECANCELED after the thread is joined.
 *
 * Ownership: a record belongs to the queue from vmlog_push until the
 * writer takes the batch, then to the writer, which frees it. A struct
 * vmlog_done belongs to its record until the read is done, then to the
 * done list, then to whoever runs its callback (vmlog_done_cb, or
 * vmlog_free), which frees it and its data.
 */
#ifndef VSPC_VMLOG_INT_H
#define VSPC_VMLOG_INT_H

#include "vspc/compat.h"
#include "vmlog.h"

#include <pthread.h>
#include <sys/queue.h>
#include <time.h>

#define VMLOG_OBUF 65536 /* writer's output buffer */
/* Hash buckets per table; thousands of consoles: short chains. */
#define VMLOG_NBUCKET 1024

enum vmlog_kind {
    VMLOG_R_DATA,     /* console bytes (n may be 0: losses to announce only) */
    VMLOG_R_EVENT,    /* marker text */
    VMLOG_R_READ,     /* a vmlog_read request */
    VMLOG_R_REOPEN,   /* close every file, reopen the directory */
    VMLOG_R_SETTINGS, /* p: a struct vmlog_settings (SIGHUP) */
};

/* What SIGHUP may change: applied by the writer, in stream order. */
struct vmlog_settings {
    bool timestamps;
    uint64_t rotate_soft, rotate_hard;
    unsigned keep;
};

/* Losses to announce: queue full (bytes, markers), write errors (bytes). */
struct vmlog_loss {
    uint64_t q, qev, w;
};

/* A finished (or cancelled) read, waiting for the loop thread. */
struct vmlog_done {
    struct vmlog_done *next;
    vmlog_read_cb cb;
    void *arg;
    int err;
    uint64_t file_size;
    size_t n;
    uint8_t *data;
};

/* One queued record: made by the loop thread, freed by the writer. */
struct vmlog_rec {
    struct vmlog_rec *next;
    enum vmlog_kind kind;
    struct timespec ts;      /* CLOCK_REALTIME when queued */
    size_t charge;           /* counted in queue_bytes while queued */
    struct vmlog_loss lost;  /* queue-full losses of this console before it */
    uint64_t offset;         /* VMLOG_R_READ */
    struct vmlog_done *done; /* VMLOG_R_READ */
    size_t n;                /* payload bytes; VMLOG_R_READ: max */
    uint8_t *p;              /* payload, in buf after the id */
    char buf[];              /* id, NUL, payload */
};

/* Intrusive hash entry, first member of vmlw_file and vmlog_pend. */
struct vmlog_hent {
    struct vmlog_hent *hnext;
    uint32_t hash;
    char id[VMLOG_ID_MAX + 1];
};

struct vmlog_htab {
    struct vmlog_hent *b[VMLOG_NBUCKET];
    size_t n;
};

/* Writer side: one console's file (struct vmlw_file, vmlog_writer.c). */
TAILQ_HEAD(vmlw_files, vmlw_file);

struct vmlog {
    /* Fixed after vmlog_new; read by both threads. */
    char *dir;
    /* Set by vmlog_new, then read and changed (VMLOG_R_SETTINGS) by the
     * writer only. */
    bool timestamps;
    uint64_t rotate_soft, rotate_hard; /* 0: no rotation */
    unsigned keep;
    size_t queue_max;
    size_t max_open;
    struct event_base *base;
    struct event *done_ev; /* activated by the writer, runs on the loop */
    struct event *room_ev; /* activated by the writer: queue space freed */
    void (*room_cb)(void *arg);
    void *room_arg;
    char *hold_path; /* VSPC_TEST_LOG_HOLD: no records while it exists */
    pthread_t thread;
    bool thread_on;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Under mu (both threads). */
    struct vmlog_rec *head, **tailp;
    struct vmlog_done *done, **done_tailp;
    struct vmlog_htab pend; /* struct vmlog_pend, loop side only */
    bool stop, hold, reopen_queued;
    bool want_room;       /* the loop waits for queue space (room_ev) */
    uint64_t freed_total; /* charge of every record done (progress) */
    struct vmlog_stats st;

    /* Loop thread only. */
    time_t loop_warn_at;

    /* Writer thread only (and vmlog_new/vmlog_free around it). */
    int dirfd;
    struct vmlog_htab files; /* struct vmlw_file */
    struct vmlw_files open_files;
    size_t nopen;
    struct vmlw_file *ofile; /* owner of obuf */
    uint8_t *obuf;
    size_t olen;
    uint64_t odata;          /* console bytes in obuf */
    struct vmlog_loss omark; /* losses announced by markers in obuf */
    struct vmlog_stats wd;   /* not yet reported: written, dropped, ... */
    size_t wfreed;           /* charge of records done, not yet reported */
    time_t warn_at;
    uint64_t warn_hidden;
};

/* ---- vmlog.c: helpers for both threads -------------------------------- */

/* CLOCK_MONOTONIC seconds. */
time_t vmlog_mono(void);

/* Hash table (FNV-1a, fixed buckets, chained). A table belongs to one
 * thread (or is under mu); these do no locking. */
struct vmlog_hent *vmlog_hfind(struct vmlog_htab *t, const char *id);
/* e->id set by the caller. */
void vmlog_hadd(struct vmlog_htab *t, struct vmlog_hent *e);
/* Frees every entry (each was malloc'd whole). */
void vmlog_hclear(struct vmlog_htab *t);

/* ---- vmlog_writer.c ---------------------------------------------------- */

/* The writer thread (pthread_create from vmlog_new; arg is the struct
 * vmlog). Runs until stop is set and the queue is drained, then closes
 * every file and reports. */
void *vmlw_main(void *arg);

#endif /* VSPC_VMLOG_INT_H */
