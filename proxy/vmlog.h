/*
 * vmlog.h: vmlog_*, per-console log files written by one writer thread.
 *
 * The event loop never touches the disk: it appends records (console
 * bytes, event markers) to a bounded in-memory queue and returns at once;
 * the writer thread owns every file descriptor and does open, write,
 * rotate and reopen. When the queue is full (slow or full disk) records
 * are dropped and counted, and the writer puts a marker with the number of
 * bytes lost into that console's file as soon as it can: a console is
 * never stalled by its log.
 *
 * Files: <dir>/<console-id>.log, rotated by size to <id>.log.1 ...
 * <id>.log.<keep> (oldest). The console id is made only of [0-9a-z._-]
 * (vmx_console_id); the VM's display name never becomes a path.
 *
 * Content: the console's output bytes exactly as the VM sent them, with
 * event markers on lines of their own: "\r\n[vspc <UTC time> <text>]\r\n"
 * (hypervisor connect/disconnect, vMotion begin/complete/abort with hosts,
 * operator attach/detach/force). With timestamps on, every line of output
 * starts with "[<UTC time>] " (the console bytes are otherwise unchanged).
 *
 * Reads for the HTTP API (log download, follow) also run on the writer
 * thread: vmlog_read() queues a request; its callback runs later on the
 * loop thread (through the event base) with the bytes.
 *
 * Threads: every function here is called on the loop thread only, except
 * that the writer thread runs inside. Ownership: vmlog_new() returns an
 * object the caller frees with vmlog_free(), which drains the queue and
 * joins the thread.
 */
#ifndef VSPC_VMLOG_H
#define VSPC_VMLOG_H

#include "vspc/compat.h"

#include <event2/event.h>

struct vmlog_cfg {
    const char *dir;     /* borrowed; must exist and be writable */
    bool timestamps;     /* "[time] " at the start of each output line */
    size_t rotate_bytes; /* rotate a file when it passes this (0 = never) */
    unsigned keep;       /* rotated files kept per console (>= 1) */
    size_t queue_max;    /* bytes queued toward the writer, all consoles */
};

struct vmlog_stats {
    uint64_t bytes_queued;   /* accepted from the loop */
    uint64_t bytes_written;  /* reached a file */
    uint64_t bytes_dropped;  /* queue full or write error: not logged */
    uint64_t write_errors;   /* failed open/write/rename calls */
    uint64_t rotations;
    uint64_t reopens;
    uint64_t queue_bytes;    /* now */
};

struct vmlog;

/*
 * Start the writer thread. base is the loop's event base (read callbacks
 * are delivered through it; libevent must have had
 * evthread_use_pthreads() called before the base was made). Returns NULL
 * with a log line on error (bad dir, thread).
 */
struct vmlog *vmlog_new(const struct vmlog_cfg *cfg, struct event_base *base);
/* Write everything queued, stop the thread, close files, free. */
void vmlog_free(struct vmlog **logp);

/* Console output. Never blocks. Returns 0, or -1 if dropped (counted). */
int vmlog_data(struct vmlog *log, const char *console_id, const uint8_t *p,
               size_t n);
/* An event marker line. Never blocks. */
int vmlog_event(struct vmlog *log, const char *console_id, const char *fmt,
                ...) VSPC_PRINTF(3, 4);
/* SIGHUP: close and reopen every file (after logrotate moved them). */
void vmlog_reopen(struct vmlog *log);
void vmlog_get_stats(struct vmlog *log, struct vmlog_stats *out);

/*
 * Read up to max bytes of a console's current log file from offset
 * (offset may be past the end: then 0 bytes). cb runs on the loop thread
 * with the bytes (valid only during the call), the file's size at read
 * time, and err = 0 or an errno (ENOENT: no log for that console). Records
 * queued before the call are written before the read happens. cb runs
 * exactly once for every request that returned 0 (also from vmlog_free,
 * with err = ECANCELED), so arg must stay valid until then. Returns 0, or
 * -1 if the request could not be queued.
 */
typedef void (*vmlog_read_cb)(void *arg, const uint8_t *p, size_t n,
                              uint64_t file_size, int err);
int vmlog_read(struct vmlog *log, const char *console_id, uint64_t offset,
               size_t max, vmlog_read_cb cb, void *arg);

#endif /* VSPC_VMLOG_H */
