/*
 * vmlog.h: vmlog_*, per-console log files written by one writer thread.
 *
 * The event loop never touches the disk: it appends records (console
 * bytes, event markers) to a bounded in-memory queue and returns at once;
 * the writer thread owns every file descriptor and does open, write,
 * rotate and reopen. When the queue is full (slow or full disk) records
 * are dropped and counted, and the writer puts a marker with the number of
 * bytes lost into that console's file as soon as it can. The console log
 * reader (clog.c) asks vmlog_room() first, so its consoles are paced by a
 * slow disk instead of losing bytes, until the stall timeout cuts it loose
 * (vmlog_lost() then marks what it missed).
 *
 * Files: <dir>/<console-id>.log (mode 0640 before the umask), opened
 * lazily on the first record, rotated by size to <id>.log.1 ...
 * <id>.log.<keep> (oldest; the one beyond is deleted). The console id is
 * made only of [0-9A-Za-z._-] and does not start with '.' (vmx_console_id
 * makes such ids); any other id is refused (logged, counted as dropped),
 * so the VM's display name never becomes a path. Rotation never loses or
 * doubles a byte: the files concatenated oldest first are the stream. It
 * happens at the first line start once the file has rotate_bytes, or
 * anyway (mid-line) once it has rotate_bytes + min(rotate_bytes, 64 KiB).
 *
 * Content: the console's output bytes exactly as the VM sent them, with
 * event markers on lines of their own: "\r\n[vspc <UTC time> <text>]\r\n"
 * (hypervisor connect/disconnect, vMotion begin/complete/abort with hosts,
 * operator attach/detach/force); control characters in <text> become
 * '?'. <UTC time> is "YYYY-MM-DDTHH:MM:SS.mmmZ", taken when the loop
 * queued the record. With timestamps on, every line of output starts with
 * "[<UTC time>] " (a line starts after '\n'; the console bytes are
 * otherwise unchanged; markers are not stamped). Losses are announced in
 * the console's file (as markers) before its next logged bytes, or by
 * vmlog_free:
 *   "N bytes not logged (queue full)" (" and M event markers" is inserted
 *   before " not logged" when markers were lost too)
 *   "N bytes not logged (write error)" (ENOSPC etc.; the file is reopened)
 * ("byte", "marker" when the count is 1).
 *
 * Reads for the HTTP API (log download, follow) also run on the writer
 * thread: vmlog_read() queues a request; its callback runs later on the
 * loop thread (through the event base) with the bytes.
 *
 * Threads: every function here is called on the loop thread only, except
 * that the writer thread runs inside. Ownership: vmlog_new() returns an
 * object the caller frees with vmlog_free(), which drains the queue and
 * joins the thread. Write errors never block or stop the writer: they are
 * counted, logged at most once a second, and the file is reopened on its
 * next record.
 */
#ifndef VSPC_VMLOG_H
#define VSPC_VMLOG_H

#include "vspc/compat.h"

#include <event2/event.h>

#define VMLOG_ID_MAX 128     /* longest console id accepted */
#define VMLOG_EVENT_MAX 256  /* marker text bytes kept (longer: cut) */
#define VMLOG_READ_MAX 65536 /* vmlog_read returns at most this much */

struct vmlog_cfg {
    const char *dir;     /* borrowed; must exist and be writable */
    bool timestamps;     /* "[time] " at the start of each output line */
    size_t rotate_bytes; /* rotate a file when it passes this (0 = never) */
    unsigned keep;       /* rotated files kept per console (>= 1) */
    size_t queue_max;    /* bytes queued toward the writer, all consoles
                            (payload + id + ~100 bytes per record) */
};

/*
 * The byte counters count console bytes (vmlog_data) only, never markers
 * or timestamps. Once the queue is drained, every byte offered to
 * vmlog_data is either written or dropped: offered = bytes_queued +
 * queue-full drops = bytes_written + bytes_dropped. A failed write counts
 * its whole chunk as dropped (even if part of it reached the file).
 */
struct vmlog_stats {
    uint64_t bytes_queued;  /* accepted from the loop */
    uint64_t bytes_written; /* reached a file */
    uint64_t bytes_dropped; /* queue full, bad id or write error */
    uint64_t write_errors;  /* failed open/write/rename calls */
    uint64_t rotations;
    uint64_t reopens;
    uint64_t queue_bytes;    /* now, as charged against queue_max */
    uint64_t events_dropped; /* markers refused (queue full, bad id) */
};

struct vmlog;

/*
 * Start the writer thread. base is the loop's event base (read callbacks
 * are delivered through it; libevent must have had
 * evthread_use_pthreads() called before the base was made). Returns NULL
 * with a log line on error (dir missing, not a directory or not writable;
 * keep 0 or above 1000 with rotation on; queue_max 0; thread). cfg is
 * copied (dir too). At most 1024 files (and at most half the fd limit)
 * are open at once; the least recently written is closed beyond that.
 */
struct vmlog *vmlog_new(const struct vmlog_cfg *cfg, struct event_base *base);
/*
 * Write everything queued (including the loss markers still owed), stop
 * the thread, close files, free; NULL-safe, NULLs *logp. Every read
 * callback not yet run is run from here, on the calling thread (the loop
 * is stopping), with err = ECANCELED, even if its read was done. Not from
 * inside a read callback.
 */
void vmlog_free(struct vmlog **logp);

/*
 * Console output; bytes are copied. Never blocks. Returns 0, or -1 if
 * dropped (counted; errno ENOBUFS queue full, EINVAL bad id, ENOMEM).
 */
int vmlog_data(struct vmlog *log, const char *console_id, const uint8_t *p,
               size_t n);
/* An event marker line (see above). Never blocks. 0, or -1 as above. */
int vmlog_event(struct vmlog *log, const char *console_id, const char *fmt, ...)
    VSPC_PRINTF(3, 4);
/*
 * SIGHUP: close every file (and reopen the directory); records queued
 * after this call go to newly opened files (after logrotate moved them).
 * Queued in order with the records; never blocks.
 */
void vmlog_reopen(struct vmlog *log);
/* SIGHUP: new timestamps, rotation size and keep, applied by the writer
 * from this point of the stream on (files stay open). */
void vmlog_set(struct vmlog *log, bool timestamps, size_t rotate_bytes,
               unsigned keep);
/* Counters as of the writer's last report (it reports after each batch
 * and before each read completes). */
void vmlog_get_stats(struct vmlog *log, struct vmlog_stats *out);

/*
 * Read up to max bytes of a console's current log file from offset
 * (offset may be past the end: then 0 bytes). cb runs on the loop thread
 * with the bytes (valid only during the call), the file's size at read
 * time, and err = 0 or an errno (ENOENT: no log for that console, e.g.
 * not written yet since it rotated). At most VMLOG_READ_MAX bytes come
 * back per call, whatever max says. Records queued before the call are
 * written before the read happens. cb runs exactly once for every request
 * that returned 0 (also from vmlog_free, with err = ECANCELED), so arg
 * must stay valid until then. Returns 0, or -1 if the request could not
 * be queued (errno: ENOBUFS queue full, EINVAL bad id, ENOMEM).
 */
typedef void (*vmlog_read_cb)(void *arg, const uint8_t *p, size_t n,
                              uint64_t file_size, int err);
int vmlog_read(struct vmlog *log, const char *console_id, uint64_t offset,
               size_t max, vmlog_read_cb cb, void *arg);

/*
 * Flow control for readers that must not lose bytes (the console log
 * reader, clog.c). vmlog_room: how many console bytes one vmlog_data call
 * for console_id may carry now without being refused; 0 when the queue
 * is (nearly) full, or with half_free, while less than half the queue is
 * free; then the room callback runs on the loop thread once the writer
 * has freed space. vmlog_progress grows whenever the
 * writer finishes records. vmlog_lost: bytes that will never be offered
 * (a reader cut loose missed them): counted as dropped and announced in
 * the console's file like a queue-full loss.
 */
size_t vmlog_room(struct vmlog *log, const char *console_id, bool half_free);
void vmlog_set_room_cb(struct vmlog *log, void (*cb)(void *arg), void *arg);
uint64_t vmlog_progress(struct vmlog *log);
void vmlog_lost(struct vmlog *log, const char *console_id, uint64_t bytes);

/*
 * Test hook: with VSPC_TEST_LOG_HOLD=<path> in the environment of
 * vmlog_new, the writer takes no records while that file exists (a
 * stalled disk, for the end-to-end tests).
 *
 * Hold (true) or release (false) the writer: while held it takes no
 * records, which queue and are dropped when the queue is full, exactly as
 * behind a slow disk. For tests; vmlog_free releases it.
 */
void vmlog_hold(struct vmlog *log, bool hold);

#endif /* VSPC_VMLOG_H */
