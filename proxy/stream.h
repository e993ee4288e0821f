/*
 * stream.h: strm_*, a console's output stream and everyone who reads it.
 *
 * How a byte of VM output travels:
 *
 *   feeder (the hypervisor connection that owns the console) --strm_write-->
 *   offset assigned, scrollback ring --strm_reader pump--> each reader's
 *   bounded queue (an operator's socket buffer, the log writer's queue;
 *   from the cluster issue on, a remote node subscribing for its operators)
 *
 * Every reader owns `next`, the stream offset of the next byte it needs.
 * One path, the pump, serves replay on attach, catch-up after a stall and
 * live output: it hands the reader bytes [next, end) from the ring as far
 * as the reader has room, with the stream's event markers (attach,
 * vMotion, ...) interleaved at the offsets where they happened. A reader
 * whose `next` has left the ring gets one gap callback for exactly the
 * bytes it missed, then continues at the ring's start.
 *
 * Flow control (DESIGN.md "Data paths" 3). Policy STRM_PACE (the default)
 * and STRM_DISCONNECT: a *live* reader that is behind (its queue is full)
 * paces the stream: strm_feed_ok() says no and the feeder stops reading its
 * hypervisor connection (TCP backpressure toward ESXi) until every live
 * reader has caught up; it is then resumed through its callback. So the
 * VM runs at the pace of the slowest reader that makes progress, and every
 * live reader gets every byte. A reader that is behind and makes no
 * progress for stall_timeout is cut loose (counted, logged): it no longer
 * paces, is caught up from the ring when it reads again (gap callback if
 * the ring moved past it), and rejoins the live set once caught up; under
 * STRM_DISCONNECT its `stalled` callback removes it instead. Policy
 * STRM_CATCHUP never paces: readers behind are caught up from the ring.
 * A feeder never hands more than STRM_FEED_MAX bytes per strm_write
 * between two strm_feed_ok() checks, and the ring holds at least
 * STRM_RING_MIN (> STRM_FEED_MAX) bytes, so a live reader's backlog always
 * fits in the ring: live readers never see a gap. Memory is bounded by
 * the ring and the readers' queues whatever readers do.
 *
 * vMotion hand-over: strm_set_draining(st, f) makes f (the retired source
 * connection) the only feeder allowed until strm_drained(st, f): VM output
 * still arriving from the source is delivered before the new owner's
 * first byte.
 *
 * Ownership: a strm is embedded in its console and lives as long as it.
 * Readers and feeders are embedded in their owners (operator, log reader,
 * session), which link and unlink them; strm_fini calls ops->release of
 * every reader still linked. Loop thread only.
 */
#ifndef VSPC_STREAM_H
#define VSPC_STREAM_H

#include "vspc/compat.h"

#include <sys/queue.h>
#include <time.h>
#include <event2/event.h>

#include "ring.h"

/* Largest strm_write between two strm_feed_ok checks. */
#define STRM_FEED_MAX (16 * 1024)
/* The ring holds at least this, whatever the scrollback setting. */
#define STRM_RING_MIN (64 * 1024)
/* Event markers kept for readers that are behind (oldest dropped). */
#define STRM_EVENTS_MAX 64
#define STRM_EVENT_TEXT 256

enum strm_policy {
    STRM_PACE = 0,   /* pace the VM; stalled readers caught up later */
    STRM_CATCHUP,    /* never pace; readers behind are caught up */
    STRM_DISCONNECT, /* pace the VM; stalled readers disconnected */
    STRM_POLICY__COUNT,
};
const char *strm_policy_str(enum strm_policy p);
int strm_policy_parse(const char *s, enum strm_policy *out);

struct strm_cfg {
    enum strm_policy policy;
    double stall_timeout; /* seconds */
    size_t scrollback;    /* bytes replayed on attach */
};

/* Counters, owned by the caller (struct proxy_stats), loop thread only. */
struct strm_stats {
    uint64_t readers_stalled; /* cut loose by the stall timeout */
    uint64_t readers_rejoined;
    uint64_t paced;    /* times a stream stopped its feeders */
    uint64_t paced_us; /* time spent paced, microseconds */
};

struct strm;
struct strm_reader;

struct strm_reader_ops {
    /* Room in its queue now, in stream bytes (0: full). */
    size_t (*room)(struct strm_reader *r);
    /* Take stream bytes [r->next, r->next + n), n <= room. Must not
     * unlink the reader. */
    void (*deliver)(struct strm_reader *r, const uint8_t *p, size_t n);
    /* Stream bytes [from, to) left the ring before it took them. */
    void (*gap)(struct strm_reader *r, uint64_t from, uint64_t to);
    /* An event marker, at its place in the stream. Must not unlink. */
    void (*event)(struct strm_reader *r, const char *text);
    /* A count that grows whenever bytes leave its queue. */
    uint64_t (*progress)(struct strm_reader *r);
    /* STRM_DISCONNECT: it stalled; unlink (strm_reader_remove) now. NULL:
     * never disconnected, cut loose as under STRM_PACE. */
    void (*stalled)(struct strm_reader *r);
    /* The stream is going away (strm_fini); the reader is already
     * unlinked. May be NULL. */
    void (*release)(struct strm_reader *r);
    /* The stream is sealed (strm_seal) and r has had all of it, events
     * included: called once, from the loop (never inside another of these
     * callbacks); may unlink r. May be NULL. */
    void (*sealed)(struct strm_reader *r);
};

struct strm_reader {
    const struct strm_reader_ops *ops;
    struct strm *st; /* NULL while not linked */
    char desc[80];   /* "operator 127.0.0.1:4242", for logs */
    /* Who it is on the console's next node if the console moves there (an
     * operator's gid, "log:<node>"; conhold.h), NULL: nobody. Borrowed. */
    const char *follow;
    uint64_t next;    /* stream offset of the next byte it needs */
    uint64_t ev_next; /* sequence number of the next event it needs */
    bool live;        /* paces the stream (policy permitting) */
    bool blocking;    /* live and behind: counted in st->n_blocking */
    bool in_pump;     /* re-entry guard */
    bool seal_told;   /* ops->sealed ran for the current seal */
    uint64_t stall_mark;
    struct event *stall_ev;
    TAILQ_ENTRY(strm_reader) link;
};

/* Something that writes into a stream: a hypervisor connection. */
struct strm_feeder {
    void (*resume)(struct strm_feeder *f); /* may feed again (deferred) */
    struct strm *waiting_on;               /* NULL unless queued */
    TAILQ_ENTRY(strm_feeder) link;
};

struct strm_ev {
    TAILQ_ENTRY(strm_ev) link;
    uint64_t seq;
    uint64_t at; /* stream offset it happened at */
    char text[STRM_EVENT_TEXT];
};

struct strm {
    struct ring ring;
    const struct strm_cfg *cfg; /* borrowed (the node's configuration) */
    struct strm_stats *stats;   /* borrowed */
    struct event_base *base;
    const char *name; /* console id, for logs (borrowed) */
    TAILQ_HEAD(, strm_reader) readers;
    unsigned n_readers;
    unsigned n_blocking;          /* live readers behind: the stream is paced */
    TAILQ_HEAD(, strm_ev) events; /* for readers behind, oldest first */
    unsigned n_events;
    uint64_t ev_seq; /* sequence number of the next event */
    TAILQ_HEAD(, strm_feeder) waiting;
    struct strm_feeder *draining; /* retired vMotion source, or NULL */
    struct timespec paced_since;
    bool sealed;           /* strm_seal: nothing more will be written */
    struct event *seal_ev; /* runs ops->sealed of readers at the end */
};

void strm_init(struct strm *st, struct event_base *base,
               const struct strm_cfg *cfg, struct strm_stats *stats,
               const char *name);
/* Unlinks every reader (ops->release) and feeder; frees the ring. */
void strm_fini(struct strm *st);

/* Stream offset of the next byte written (bytes written so far). */
uint64_t strm_end(const struct strm *st);
/* Offset where an attach's replay starts (the last scrollback bytes). */
uint64_t strm_replay_start(const struct strm *st);
/* Offset of the start of the last `lines` lines held (^Ecr). */
uint64_t strm_lines_start(const struct strm *st, unsigned lines);

/* VM output (n <= STRM_FEED_MAX from a feeder that asked strm_feed_ok). */
void strm_write(struct strm *st, const uint8_t *p, size_t n);
/* An event marker for every reader, at the current offset. */
void strm_event(struct strm *st, const char *text);

/*
 * May f write now? If not, f is queued and f->resume runs once it may.
 * A stream paced by a live reader, or draining another feeder, says no.
 */
bool strm_feed_ok(struct strm *st, struct strm_feeder *f);
/* f goes away or stops feeding st: forget it. */
void strm_feed_cancel(struct strm_feeder *f);
bool strm_paced(const struct strm *st);
/*
 * A vMotion from another node: the stream continues at from + n, the
 * bytes [from, from + n) (the old owner's scrollback) its ring; every
 * reader reads on from `resume` (clamped to the ring), pending event
 * markers are dropped. Readers are kicked.
 */
void strm_seed(struct strm *st, uint64_t from, const uint8_t *p, size_t n,
               uint64_t resume);
/*
 * The console moved to another node: nothing more is written here. Each
 * reader gets ops->sealed once it has read everything (at once if it has),
 * so readers that are behind finish here before they follow the console.
 * strm_seal(st, false): written again (the console came back).
 */
void strm_seal(struct strm *st, bool sealed);
/* Who would follow the console if it moved: the `follow` keys of its
 * readers that have one, at most max into out (borrowed). Returns how
 * many. */
size_t strm_followers(const struct strm *st, const char **out, size_t max);
/* vMotion hand-over (see above). */
void strm_set_draining(struct strm *st, struct strm_feeder *f);
void strm_drained(struct strm *st, struct strm_feeder *f);

/*
 * Link r (ops and desc set by the caller) to read from offset `from`
 * (clamped to the ring), live. Nothing is sent until strm_reader_kick.
 * Returns the offset it starts at.
 */
uint64_t strm_reader_add(struct strm *st, struct strm_reader *r, uint64_t from);
/* Unlink (safe if not linked); the stream may resume its feeders. */
void strm_reader_remove(struct strm_reader *r);
/* The reader has room again (or was just added): pump it. A reader that
 * is behind moves only through this (strm_write feeds readers that were
 * caught up): kick it when a good part of its queue is free. */
void strm_reader_kick(struct strm_reader *r);
/* A reader that follows a console from another node goes on at `from`
 * (at most the stream's end; below the ring: a gap first). Before its
 * first kick. */
void strm_reader_seek(struct strm_reader *r, uint64_t from);
/* Read again from `from` (clamped to the ring), e.g. a replay. */
void strm_reader_rewind(struct strm_reader *r, uint64_t from);

#endif /* VSPC_STREAM_H */
