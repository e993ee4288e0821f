/*
 * test_stream.c: Check suite for a console's output stream (proxy/stream.c)
 * driven directly: fake readers (struct fr: the test sets room and progress;
 * it records all it is handed, in order, checked byte for byte) and fake
 * feeders on a real libevent base, so the stall timer (0.05 s) fires in a
 * bounded number of EVLOOP_ONCE rounds; no time is measured.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>

#include "vspc/log.h"
#include "stream.h"

#define STALL 0.05
#define BIG ((size_t)1 << 30) /* room that never runs out */

/* Stream byte at offset o: every value occurs, 0xFF included. */
static uint8_t
pat(uint64_t o)
{
    return (uint8_t)((o * 2654435761u) >> 11 ^ o);
}

static struct strm ST; /* the stream under test */

/* ---- a fake reader ------------------------------------------------------ */

/* One entry of a reader's transcript. */
struct item {
    char kind; /* 'D' bytes, 'E' event, 'G' gap */
    uint64_t a, b;
    char text[64];
};

struct fr {
    struct strm_reader rd; /* first */
    size_t room;           /* what room() answers; deliver uses it up */
    uint8_t *data;         /* every byte delivered, in order */
    size_t n, cap;
    uint64_t prog;   /* what progress() answers */
    bool prog_moves; /* progress() answers a new value each call */
    unsigned n_prog, n_gap, n_stalled, n_release, n_sealed;
    bool st_null_at_release;
    struct item items[256];
    unsigned n_items;
};

static struct fr *
fr_of(struct strm_reader *r)
{
    return (struct fr *)r;
}

static struct item *
fr_item(struct fr *f, char kind)
{
    ck_assert_uint_lt(f->n_items, VSPC_ARRAY_LEN(f->items));
    f->items[f->n_items].kind = kind;
    return &f->items[f->n_items++];
}

static size_t
fr_room(struct strm_reader *r)
{
    return fr_of(r)->room;
}

static void
fr_deliver(struct strm_reader *r, const uint8_t *p, size_t n)
{
    struct fr *f = fr_of(r);

    ck_assert_uint_ge(f->room, n);
    ck_assert_uint_gt(n, 0);
    if (f->room != BIG)
        f->room -= n;
    if (f->n + n > f->cap) {
        f->cap = (f->n + n) * 2;
        f->data = realloc(f->data, f->cap);
        ck_assert_ptr_nonnull(f->data);
    }
    memcpy(f->data + f->n, p, n);
    f->n += n;
    if (f->n_items > 0 && f->items[f->n_items - 1].kind == 'D')
        f->items[f->n_items - 1].a += n;
    else
        fr_item(f, 'D')->a = n;
}

static void
fr_gap(struct strm_reader *r, uint64_t from, uint64_t to)
{
    struct item *it = fr_item(fr_of(r), 'G');

    it->a = from;
    it->b = to;
    fr_of(r)->n_gap++;
}

static void
fr_event(struct strm_reader *r, const char *text)
{
    struct item *it = fr_item(fr_of(r), 'E');

    snprintf(it->text, sizeof(it->text), "%s", text);
}

static uint64_t
fr_progress(struct strm_reader *r)
{
    struct fr *f = fr_of(r);

    f->n_prog++;
    if (f->prog_moves)
        f->prog++;
    return f->prog;
}

static void
fr_stalled(struct strm_reader *r)
{
    fr_of(r)->n_stalled++;
    strm_reader_remove(r);
}

static void
fr_release(struct strm_reader *r)
{
    struct fr *f = fr_of(r);

    f->n_release++;
    f->st_null_at_release = r->st == NULL;
}

static void
fr_sealed(struct strm_reader *r)
{
    fr_of(r)->n_sealed++;
}

static const struct strm_reader_ops fr_ops = {
    .room = fr_room,
    .deliver = fr_deliver,
    .gap = fr_gap,
    .event = fr_event,
    .progress = fr_progress,
    .stalled = fr_stalled,
    .release = fr_release,
    .sealed = fr_sealed,
};

/* The same without stalled (cut loose even under STRM_DISCONNECT) and
 * without release (set up by setup()). */
static struct strm_reader_ops fr_ops_plain;

static void
fr_init(struct fr *f, size_t room)
{
    memset(f, 0, sizeof(*f));
    f->rd.ops = &fr_ops;
    f->room = room;
    snprintf(f->rd.desc, sizeof(f->rd.desc), "fake reader");
}

/* fr_init, then linked to read from `from`; returns where it starts. */
static uint64_t
fr_add(struct fr *f, size_t room, uint64_t from)
{
    fr_init(f, room);
    return strm_reader_add(&ST, &f->rd, from);
}

static void
fr_free(struct fr *f)
{
    strm_reader_remove(&f->rd);
    free(f->data);
    f->data = NULL;
}

/* The transcript, adjacent byte runs merged: "D40 E:x G0-10 D5". */
static const char *
fr_str(const struct fr *f)
{
    static char buf[4096];
    size_t o = 0;

    buf[0] = 0;
    for (unsigned i = 0; i < f->n_items && o + 100 < sizeof(buf); i++) {
        const struct item *it = &f->items[i];
        unsigned long long a = it->a, b = it->b;

        o +=
            (size_t)(it->kind == 'E' ? snprintf(buf + o, 100, " E:%s", it->text)
                     : it->kind == 'G'
                         ? snprintf(buf + o, 100, " G%llu-%llu", a, b)
                         : snprintf(buf + o, 100, " D%llu", a));
    }
    return buf + (o > 0);
}

/* f->data holds exactly the stream bytes [from, from + len). */
static void
fr_check_bytes(const struct fr *f, size_t at, uint64_t from, size_t len)
{
    ck_assert_uint_ge(f->n, at + len);
    for (size_t i = 0; i < len; i++)
        if (f->data[at + i] != pat(from + i))
            ck_abort_msg("byte %zu (stream offset %llu): got %02x, want %02x",
                         at + i, (unsigned long long)(from + i),
                         f->data[at + i], pat(from + i));
}

/* f got exactly the stream bytes [from, from + len), nothing else. */
static void
fr_is(const struct fr *f, uint64_t from, size_t len)
{
    ck_assert_uint_eq(f->n, len);
    fr_check_bytes(f, 0, from, len);
}

/* ---- a fake feeder -------------------------------------------------------
 */

struct ff {
    struct strm_feeder f; /* first */
    unsigned resumed;
};

static void
ff_resume(struct strm_feeder *f)
{
    ((struct ff *)f)->resumed++;
}

#define FF_INIT                                                                \
    {                                                                          \
        .f.resume = ff_resume                                                  \
    }

/* ---- the world ------------------------------------------------------------
 */

static struct event_base *B;
static struct strm_cfg CFG;
static struct strm_stats STATS;
static bool st_up;

static void
setup(void)
{
    log_verbosity = LOG_LVL_ERROR;
    fr_ops_plain = fr_ops;
    fr_ops_plain.stalled = NULL;
    fr_ops_plain.release = NULL;
    B = event_base_new();
    ck_assert_ptr_nonnull(B);
    memset(&STATS, 0, sizeof(STATS));
    CFG.policy = STRM_PACE;
    CFG.stall_timeout = 60; /* the stall tests set STALL */
    CFG.scrollback = STRM_RING_MIN;
    st_up = false;
}

static void
teardown(void)
{
    if (st_up)
        strm_fini(&ST);
    st_up = false;
    event_base_free(B);
    B = NULL;
}

/* (Re)start the stream under test. */
static void
st_begin(enum strm_policy policy, size_t scrollback)
{
    if (st_up)
        strm_fini(&ST);
    CFG.policy = policy;
    CFG.scrollback = scrollback;
    strm_init(&ST, B, &CFG, &STATS, "test");
    st_up = true;
}

/* Write stream bytes [strm_end, strm_end + n) in writes of `chunk`,
 * asserting that f may feed before each. */
static void
feed(struct ff *f, size_t n, size_t chunk)
{
    static uint8_t buf[STRM_FEED_MAX];

    ck_assert_uint_le(chunk, STRM_FEED_MAX);
    while (n > 0) {
        size_t k = n < chunk ? n : chunk;
        uint64_t at = strm_end(&ST);

        ck_assert_msg(strm_feed_ok(&ST, &f->f), "paced at offset %llu",
                      (unsigned long long)at);
        for (size_t i = 0; i < k; i++)
            buf[i] = pat(at + i);
        strm_write(&ST, buf, k);
        n -= k;
    }
}

/* Bounded: EVLOOP_ONCE rounds until *count reaches want (each round
 * returns at once when nothing is pending). */
static void
run_until(const unsigned *count, unsigned want)
{
    for (int i = 0; i < 400 && *count < want; i++)
        event_base_loop(B, EVLOOP_ONCE);
    ck_assert_uint_ge(*count, want);
}

/* ---- the tests ------------------------------------------------------------
 */

START_TEST(policy_names)
{
    static const char *const names[] = {"pace", "catchup", "disconnect"};
    enum strm_policy p;

    for (int i = 0; i < STRM_POLICY__COUNT; i++) {
        ck_assert_str_eq(strm_policy_str(i), names[i]);
        ck_assert_int_eq(strm_policy_parse(names[i], &p), 0);
        ck_assert_int_eq(p, i);
    }
    ck_assert_str_eq(strm_policy_str(STRM_POLICY__COUNT), "???");
    ck_assert_int_eq(strm_policy_parse("Pace", &p), -1);
    ck_assert_int_eq(strm_policy_parse("", &p), -1);
}
END_TEST

/* Write sizes 1..STRM_FEED_MAX, 1 MiB in all (16 wraps of the 64 KiB
 * ring): a reader with all the room it wants gets every byte as written;
 * one whose room the test refills whenever the feeder is paced gets every
 * byte too, never a gap, and the feeder is resumed each time. */
START_TEST(live_every_byte_across_wrap)
{
    static const size_t sizes[] = {1,    7,    4095, 4096,  4097,
                                   100,  8192, 1000, 16384, 16383,
                                   3333, 65,   2,    12000, 16384};
    struct fr fast, slow;
    struct ff f = FF_INIT;
    size_t total = 0, k = 0;
    unsigned paced = 0;

    st_begin(STRM_PACE, STRM_RING_MIN);
    ck_assert_uint_eq(fr_add(&fast, BIG, 0), 0);
    ck_assert_uint_eq(fr_add(&slow, 5000, 0), 0);
    strm_reader_kick(&fast.rd);
    strm_reader_kick(&slow.rd);
    while (total < (1u << 20)) {
        size_t n = sizes[k++ % VSPC_ARRAY_LEN(sizes)];

        if (!strm_feed_ok(&ST, &f.f)) {
            unsigned before = f.resumed;

            paced++;
            ck_assert(strm_paced(&ST));
            /* The reader reads 5000 bytes of its queue, then says so. */
            slow.room = 5000;
            strm_reader_kick(&slow.rd);
            if (strm_feed_ok(&ST, &f.f))
                ck_assert_uint_eq(f.resumed, before + 1);
            else
                ck_assert_uint_eq(f.resumed, before);
            continue;
        }
        feed(&f, n, n);
        total += n;
        ck_assert_uint_eq(fast.n, total);
    }
    while (slow.n < total) { /* the rest of its backlog */
        slow.room = 5000;
        strm_reader_kick(&slow.rd);
    }
    ck_assert_uint_gt(paced, 100);
    /* Each pacing ended by resuming the feeder, but the last, when the
     * feeder had not asked yet. */
    ck_assert_uint_gt(f.resumed, 100);
    ck_assert_uint_ge(STATS.paced, f.resumed);
    ck_assert_uint_le(STATS.paced, f.resumed + 1);
    ck_assert_uint_eq(strm_end(&ST), total);
    fr_is(&fast, 0, total);
    fr_is(&slow, 0, total);
    ck_assert_uint_eq(fast.n_gap + slow.n_gap, 0);
    ck_assert_uint_eq(fast.n_items, 1);
    ck_assert_uint_eq(slow.n_items, 1);
    ck_assert(!strm_paced(&ST));
    ck_assert_uint_eq(STATS.readers_stalled, 0);
    fr_free(&fast);
    fr_free(&slow);
}
END_TEST

/* Room 0: the feeder is told no and queued (once, however often it asks);
 * room alone resumes nothing, the kick does, exactly once. */
START_TEST(full_reader_paces_feeder)
{
    struct fr r;
    struct ff f = FF_INIT, g = FF_INIT;

    st_begin(STRM_PACE, STRM_RING_MIN);
    fr_add(&r, 0, strm_end(&ST));
    strm_reader_kick(&r.rd);
    ck_assert(!strm_paced(&ST));
    feed(&f, 100, 100);
    ck_assert(strm_paced(&ST));
    ck_assert(r.rd.blocking);
    ck_assert_uint_eq(r.n, 0);
    ck_assert_uint_eq(STATS.paced, 1);
    ck_assert(!strm_feed_ok(&ST, &f.f));
    ck_assert(!strm_feed_ok(&ST, &f.f));
    ck_assert(!strm_feed_ok(&ST, &g.f));
    ck_assert_ptr_eq(f.f.waiting_on, &ST);
    strm_feed_cancel(&g.f); /* g goes away: never resumed */
    ck_assert_ptr_null(g.f.waiting_on);
    r.room = 60;
    event_base_loop(B, EVLOOP_NONBLOCK);
    ck_assert_uint_eq(f.resumed, 0);
    strm_reader_kick(&r.rd); /* 60 of 100: still behind */
    ck_assert_uint_eq(r.n, 60);
    ck_assert_uint_eq(f.resumed, 0);
    ck_assert(strm_paced(&ST));
    r.room = 1000;
    strm_reader_kick(&r.rd);
    fr_is(&r, 0, 100);
    ck_assert_uint_eq(f.resumed, 1);
    ck_assert_ptr_null(f.f.waiting_on);
    ck_assert_uint_eq(g.resumed, 0);
    ck_assert(!strm_paced(&ST));
    ck_assert(strm_feed_ok(&ST, &f.f));
    strm_reader_kick(&r.rd); /* nothing new: nothing happens */
    ck_assert_uint_eq(f.resumed, 1);
    ck_assert_str_eq(fr_str(&r), "D100");
    ck_assert_uint_eq(STATS.paced, 1);
    ck_assert_uint_eq(STATS.readers_stalled, 0);
    /* A pacing reader that goes away resumes the feeder too. */
    r.room = 0;
    feed(&f, 10, 10);
    ck_assert(!strm_feed_ok(&ST, &f.f));
    strm_reader_remove(&r.rd);
    ck_assert_uint_eq(f.resumed, 2);
    ck_assert(strm_feed_ok(&ST, &f.f));
    ck_assert_uint_eq(STATS.paced, 2);
    fr_free(&r);
}
END_TEST

/* A healthy and a stalled reader: after the stall timeout the stalled one
 * no longer paces; when it reads again it gets one gap for exactly the
 * bytes that left the ring, then the ring from its start, byte-exact, and
 * rejoins the live set. */
START_TEST(stalled_reader_cut_loose_then_rejoins)
{
    struct fr ok, st;
    struct ff f = FF_INIT;
    uint64_t start, end;

    CFG.stall_timeout = STALL;
    st_begin(STRM_PACE, STRM_RING_MIN);
    fr_add(&ok, BIG, 0);
    fr_add(&st, 0, 0);
    feed(&f, 100, 100);
    ck_assert(!strm_feed_ok(&ST, &f.f));
    ck_assert_uint_eq(f.resumed, 0);
    run_until(&f.resumed, 1);
    ck_assert_uint_eq(STATS.readers_stalled, 1);
    ck_assert(!st.rd.live);
    ck_assert(!st.rd.blocking);
    ck_assert(!strm_paced(&ST));
    ck_assert(strm_feed_ok(&ST, &f.f));
    /* 300 KiB more: the stalled reader paces nothing, misses the start. */
    feed(&f, 300 * 1024, STRM_FEED_MAX);
    feed(&f, 17, 17);
    end = strm_end(&ST);
    ck_assert_uint_eq(end, 100 + 300 * 1024 + 17);
    start = end - STRM_RING_MIN;
    fr_is(&ok, 0, end);
    ck_assert_str_eq(fr_str(&st), "");
    ck_assert_uint_eq(STATS.readers_stalled, 1);
    ck_assert_uint_eq(STATS.readers_rejoined, 0);
    /* It reads again: 10000 bytes of room, then all it wants. */
    st.room = 10000;
    strm_reader_kick(&st.rd);
    ck_assert_uint_eq(st.n_gap, 1);
    ck_assert_uint_eq(st.items[0].a, 0);
    ck_assert_uint_eq(st.items[0].b, start);
    ck_assert_uint_eq(st.n, 10000);
    ck_assert(!st.rd.live);
    ck_assert_uint_eq(STATS.readers_rejoined, 0);
    ck_assert(strm_feed_ok(&ST, &f.f)); /* cut loose: paces nothing */
    st.room = BIG;
    strm_reader_kick(&st.rd);
    ck_assert_uint_eq(st.n_gap, 1);
    fr_is(&st, start, STRM_RING_MIN);
    {
        char want[64];

        snprintf(want, sizeof(want), "G0-%llu D%d", (unsigned long long)start,
                 STRM_RING_MIN);
        ck_assert_str_eq(fr_str(&st), want);
    }
    ck_assert(st.rd.live);
    ck_assert_uint_eq(STATS.readers_rejoined, 1);
    ck_assert_uint_eq(STATS.readers_stalled, 1);
    /* Live again: it gets new bytes as they come, and paces again. */
    feed(&f, 50, 50);
    ck_assert_uint_eq(st.n, STRM_RING_MIN + 50);
    fr_check_bytes(&st, STRM_RING_MIN, end, 50);
    st.room = 0;
    feed(&f, 1, 1);
    ck_assert(!strm_feed_ok(&ST, &f.f));
    ck_assert_uint_eq(ok.n, end + 51);
    fr_free(&ok);
    fr_free(&st);
}
END_TEST

/* Progress moves whenever the stall timer looks: slow, not stalled. It
 * keeps pacing through several timeouts and is never cut loose. */
START_TEST(slow_reader_not_cut)
{
    struct fr r;
    struct ff f = FF_INIT;

    CFG.stall_timeout = STALL;
    st_begin(STRM_PACE, STRM_RING_MIN);
    fr_add(&r, 0, 0);
    r.prog_moves = true;
    feed(&f, 1000, 1000);
    ck_assert(!strm_feed_ok(&ST, &f.f));
    ck_assert_uint_eq(r.n_prog, 1); /* the mark, when it started pacing */
    run_until(&r.n_prog, 4);        /* three timeouts */
    ck_assert_uint_eq(STATS.readers_stalled, 0);
    ck_assert(r.rd.live);
    ck_assert(r.rd.blocking);
    ck_assert(strm_paced(&ST));
    ck_assert_uint_eq(f.resumed, 0);
    r.room = 1000;
    strm_reader_kick(&r.rd);
    ck_assert_uint_eq(f.resumed, 1);
    ck_assert_str_eq(fr_str(&r), "D1000");
    fr_check_bytes(&r, 0, 0, 1000);
    ck_assert_uint_eq(STATS.readers_rejoined, 0);
    /* Caught up: the timer is off; nothing more happens. */
    event_base_loop(B, EVLOOP_NONBLOCK);
    ck_assert_uint_eq(event_base_get_num_events(B, EVENT_BASE_COUNT_ADDED), 0);
    fr_free(&r);
}
END_TEST

/* STRM_CATCHUP: a full reader never paces and no timer runs; when it
 * reads it is caught up from the ring (one gap), it never "rejoins". */
START_TEST(catchup_never_paces)
{
    struct fr r;
    struct ff f = FF_INIT;

    st_begin(STRM_CATCHUP, STRM_RING_MIN);
    fr_add(&r, 0, 0);
    feed(&f, 100, 100);
    ck_assert(!strm_paced(&ST));
    ck_assert(!r.rd.blocking);
    ck_assert_uint_eq(event_base_get_num_events(B, EVENT_BASE_COUNT_ADDED), 0);
    feed(&f, 200 * 1024, STRM_FEED_MAX);
    ck_assert_uint_eq(STATS.paced, 0);
    ck_assert_uint_eq(f.resumed, 0);
    r.room = BIG;
    strm_reader_kick(&r.rd);
    ck_assert_uint_eq(r.n_gap, 1);
    ck_assert_uint_eq(r.items[0].b, 100 + 200 * 1024 - STRM_RING_MIN);
    fr_is(&r, r.items[0].b, STRM_RING_MIN);
    ck_assert_uint_eq(STATS.readers_stalled, 0);
    ck_assert_uint_eq(STATS.readers_rejoined, 0);
    fr_free(&r);
}
END_TEST

/* STRM_DISCONNECT: a stalled reader's ops->stalled runs (it unlinks);
 * the feeder resumes. A reader without `stalled` is cut loose instead. */
START_TEST(disconnect_calls_stalled)
{
    struct fr r, plain;
    struct ff f = FF_INIT;

    CFG.stall_timeout = STALL;
    st_begin(STRM_DISCONNECT, STRM_RING_MIN);
    fr_add(&r, 0, 0);
    feed(&f, 10, 10);
    ck_assert(!strm_feed_ok(&ST, &f.f));
    run_until(&r.n_stalled, 1);
    ck_assert_uint_eq(r.n_stalled, 1);
    ck_assert_ptr_null(r.rd.st);
    ck_assert_uint_eq(ST.n_readers, 0);
    ck_assert_uint_eq(STATS.readers_stalled, 1);
    ck_assert_uint_eq(f.resumed, 1);
    ck_assert(strm_feed_ok(&ST, &f.f));
    ck_assert_uint_eq(r.n_release, 0);
    ck_assert_str_eq(fr_str(&r), "");
    /* Without a stalled callback: cut loose, still linked. */
    fr_add(&plain, 0, strm_end(&ST));
    plain.rd.ops = &fr_ops_plain;
    feed(&f, 10, 10);
    ck_assert(!strm_feed_ok(&ST, &f.f));
    run_until(&f.resumed, 2);
    ck_assert_ptr_eq(plain.rd.st, &ST);
    ck_assert(!plain.rd.live);
    ck_assert_uint_eq(STATS.readers_stalled, 2);
    plain.room = BIG;
    strm_reader_kick(&plain.rd);
    ck_assert_str_eq(fr_str(&plain), "D10");
    fr_check_bytes(&plain, 0, 10, 10);
    ck_assert_uint_eq(STATS.readers_rejoined, 1);
    fr_free(&r);
    fr_free(&plain);
}
END_TEST

/* An event after 100 bytes, while a reader has taken 40, reaches it after
 * byte 100; a caught-up reader gets it at once; later readers never see
 * it; events at one offset keep their order; all are freed once had. */
START_TEST(events_at_their_offsets)
{
    struct fr behind, up;
    struct ff f = FF_INIT;

    /* Under catchup, so that bytes may follow while a reader is behind. */
    st_begin(STRM_CATCHUP, STRM_RING_MIN);
    strm_event(&ST, "before anyone"); /* nobody: not kept */
    ck_assert_uint_eq(ST.n_events, 0);
    fr_add(&behind, 40, 0);
    fr_add(&up, BIG, 0);
    strm_event(&ST, "at 0");
    feed(&f, 100, 100);
    ck_assert_uint_eq(behind.n, 40);
    strm_event(&ST, "at 100 a");
    strm_event(&ST, "at 100 b");
    ck_assert_str_eq(fr_str(&up), "E:at 0 D100 E:at 100 a E:at 100 b");
    ck_assert_str_eq(fr_str(&behind), "E:at 0 D40");
    ck_assert_uint_eq(ST.n_events, 2);
    strm_event(&ST, "at 100 c");
    ck_assert_uint_eq(ST.n_events, 3);
    feed(&f, 2, 2);
    strm_event(&ST, "at 102");
    behind.room = 30;
    strm_reader_kick(&behind.rd);
    ck_assert_str_eq(fr_str(&behind), "E:at 0 D70");
    behind.room = BIG;
    strm_reader_kick(&behind.rd);
    ck_assert_str_eq(fr_str(&behind),
                     "E:at 0 D100 E:at 100 a E:at 100 b E:at 100 c D2 "
                     "E:at 102");
    ck_assert_str_eq(fr_str(&up), "E:at 0 D100 E:at 100 a E:at 100 b "
                                  "E:at 100 c D2 E:at 102");
    fr_check_bytes(&behind, 0, 0, 102);
    ck_assert_uint_eq(ST.n_events, 0);
    {
        struct fr late;

        fr_add(&late, BIG, 0);
        strm_reader_kick(&late.rd);
        ck_assert_str_eq(fr_str(&late), "D102");
        fr_free(&late);
    }
    fr_free(&behind);
    fr_free(&up);
}
END_TEST

/* More than STRM_EVENTS_MAX markers for a reader behind: the oldest go. */
START_TEST(events_oldest_dropped)
{
    struct fr r;
    struct ff f = FF_INIT;
    char want[STRM_EVENTS_MAX * 8 + 16], t[16];
    size_t o = 0;

    st_begin(STRM_CATCHUP, STRM_RING_MIN);
    fr_add(&r, 0, 0);
    feed(&f, 1, 1);
    for (int i = 0; i < STRM_EVENTS_MAX + 6; i++) {
        snprintf(t, sizeof(t), "e%d", i);
        strm_event(&ST, t);
    }
    ck_assert_uint_eq(ST.n_events, STRM_EVENTS_MAX);
    r.room = BIG;
    strm_reader_kick(&r.rd);
    o += (size_t)snprintf(want + o, sizeof(want) - o, "D1");
    for (int i = 6; i < STRM_EVENTS_MAX + 6; i++)
        o += (size_t)snprintf(want + o, sizeof(want) - o, " E:e%d", i);
    ck_assert_str_eq(fr_str(&r), want);
    ck_assert_uint_eq(ST.n_events, 0);
    fr_free(&r);
}
END_TEST

/* vMotion hand-over: while f drains, g waits (even with nothing pacing);
 * f may feed; drained by someone else changes nothing; drained(f) resumes
 * g once. */
START_TEST(draining_feeder)
{
    struct ff f = FF_INIT, g = FF_INIT;
    struct fr r;

    st_begin(STRM_PACE, STRM_RING_MIN);
    fr_add(&r, BIG, 0);
    strm_set_draining(&ST, &f.f);
    ck_assert(!strm_feed_ok(&ST, &g.f));
    ck_assert(strm_feed_ok(&ST, &f.f));
    ck_assert(!strm_paced(&ST));
    feed(&f, 30, 30);
    strm_drained(&ST, &g.f); /* not the draining one: ignored */
    ck_assert_uint_eq(g.resumed, 0);
    ck_assert(!strm_feed_ok(&ST, &g.f));
    /* Paced while draining: f waits too, and is resumed first. */
    r.room = 0;
    feed(&f, 5, 5);
    ck_assert(!strm_feed_ok(&ST, &f.f));
    r.room = BIG;
    strm_reader_kick(&r.rd);
    ck_assert_uint_eq(f.resumed, 1);
    ck_assert_uint_eq(g.resumed, 0);
    ck_assert_ptr_eq(g.f.waiting_on, &ST);
    strm_drained(&ST, &f.f);
    ck_assert_uint_eq(g.resumed, 1);
    ck_assert_ptr_null(g.f.waiting_on);
    ck_assert(strm_feed_ok(&ST, &g.f));
    ck_assert(strm_feed_ok(&ST, &f.f));
    feed(&g, 7, 7);
    ck_assert_str_eq(fr_str(&r), "D42");
    fr_check_bytes(&r, 0, 0, 42);
    fr_free(&r);
}
END_TEST

/* strm_reader_add clamps to the ring; replay_start honours a scrollback
 * below STRM_RING_MIN (the ring still holds STRM_RING_MIN) and above it. */
START_TEST(add_clamps_and_replay_start)
{
    struct fr a, b, c;
    struct ff f = FF_INIT;
    uint64_t end;

    st_begin(STRM_PACE, 1000);
    ck_assert_uint_eq(strm_end(&ST), 0);
    ck_assert_uint_eq(strm_replay_start(&ST), 0);
    feed(&f, 600, 600);
    ck_assert_uint_eq(strm_replay_start(&ST), 0);
    feed(&f, 100 * 1024, STRM_FEED_MAX);
    end = strm_end(&ST);
    ck_assert_uint_eq(strm_replay_start(&ST), end - 1000);
    ck_assert_uint_eq(fr_add(&a, BIG, 0), end - STRM_RING_MIN);
    ck_assert_uint_eq(fr_add(&b, BIG, end + 5), end);
    ck_assert_uint_eq(fr_add(&c, BIG, strm_replay_start(&ST)), end - 1000);
    strm_reader_kick(&a.rd);
    strm_reader_kick(&b.rd);
    strm_reader_kick(&c.rd);
    fr_is(&a, end - STRM_RING_MIN, STRM_RING_MIN);
    ck_assert_uint_eq(b.n, 0);
    ck_assert_str_eq(fr_str(&c), "D1000");
    fr_check_bytes(&c, 0, end - 1000, 1000);
    ck_assert_uint_eq(a.n_gap + b.n_gap + c.n_gap, 0);
    fr_free(&a);
    fr_free(&b);
    fr_free(&c);
    strm_fini(&ST);
    st_up = false;
    /* Scrollback 0: nothing replayed. Larger than the minimum: all of it. */
    st_begin(STRM_PACE, 0);
    feed(&f, 300, 300);
    ck_assert_uint_eq(strm_replay_start(&ST), 300);
    st_begin(STRM_PACE, 200 * 1024);
    feed(&f, 150 * 1024, STRM_FEED_MAX);
    ck_assert_uint_eq(strm_replay_start(&ST), 0);
    feed(&f, 100 * 1024, STRM_FEED_MAX);
    ck_assert_uint_eq(strm_replay_start(&ST), 50 * 1024);
    ck_assert_uint_eq(fr_add(&a, BIG, 0), 50 * 1024);
    strm_reader_kick(&a.rd);
    fr_is(&a, 50 * 1024, 200 * 1024);
    fr_free(&a);
}
END_TEST

static void
write_str(const char *s)
{
    strm_write(&ST, (const uint8_t *)s, strlen(s));
}

/* Where the last N lines start, and ^Ecr's rewind. */
START_TEST(lines_start_and_rewind)
{
    struct fr r;

    st_begin(STRM_PACE, STRM_RING_MIN);
    ck_assert_uint_eq(strm_lines_start(&ST, 20), 0);
    write_str("a\nbb\nccc\n");
    ck_assert_uint_eq(strm_lines_start(&ST, 1), 5); /* "ccc\n" */
    ck_assert_uint_eq(strm_lines_start(&ST, 2), 2); /* "bb\nccc\n" */
    ck_assert_uint_eq(strm_lines_start(&ST, 3), 0);
    ck_assert_uint_eq(strm_lines_start(&ST, 20), 0);
    write_str("dd"); /* an unfinished line counts as the last */
    ck_assert_uint_eq(strm_lines_start(&ST, 1), 9);
    ck_assert_uint_eq(strm_lines_start(&ST, 2), 5);
    write_str("\n\n");
    ck_assert_uint_eq(strm_lines_start(&ST, 1), 12); /* the empty line */
    ck_assert_uint_eq(strm_lines_start(&ST, 2), 9);
    fr_add(&r, BIG, strm_end(&ST));
    strm_reader_kick(&r.rd);
    ck_assert_uint_eq(r.n, 0);
    strm_reader_rewind(&r.rd, strm_lines_start(&ST, 2));
    ck_assert_uint_eq(r.n, 4);
    ck_assert_int_eq(memcmp(r.data, "dd\n\n", 4), 0);
    strm_reader_rewind(&r.rd, 13); /* not behind where it is: nothing */
    ck_assert_uint_eq(r.n, 4);
    strm_reader_rewind(&r.rd, 0);
    ck_assert_uint_eq(r.n, 4 + 13);
    ck_assert_int_eq(memcmp(r.data + 4, "a\nbb\nccc\ndd\n\n", 13), 0);
    ck_assert_uint_eq(r.n_gap, 0);
    fr_free(&r);
    strm_fini(&ST);
    st_up = false;
    /* A scrollback of 8 bytes bounds the search; lines across the wrap. */
    st_begin(STRM_PACE, 8);
    for (int i = 0; i < 10000; i++)
        write_str("line\n");
    write_str("xy\nz");
    ck_assert_uint_eq(strm_end(&ST), 50004);
    ck_assert_uint_eq(strm_lines_start(&ST, 1), 50003);
    ck_assert_uint_eq(strm_lines_start(&ST, 2), 49995 + 5);
    ck_assert_uint_eq(strm_lines_start(&ST, 3), 49996); /* the 8-byte bound */
    st_begin(STRM_PACE, STRM_RING_MIN);
    for (int i = 0; i < 20000; i++)
        write_str("line\n");
    ck_assert_uint_eq(strm_lines_start(&ST, 20), 100000 - 100);
    ck_assert_uint_eq(strm_lines_start(&ST, 100000), 100000 - STRM_RING_MIN);
}
END_TEST

/* strm_fini: every reader still linked is unlinked, then released (NULL
 * release is fine); queued feeders are forgotten; events freed. */
START_TEST(fini_releases)
{
    struct fr a, b, c;
    struct ff f = FF_INIT;

    st_begin(STRM_PACE, STRM_RING_MIN);
    fr_add(&a, 0, 0);
    fr_add(&b, BIG, 0);
    fr_add(&c, BIG, 0);
    c.rd.ops = &fr_ops_plain;
    feed(&f, 10, 10);
    strm_event(&ST, "kept for a");
    ck_assert_uint_eq(ST.n_events, 1);
    ck_assert(!strm_feed_ok(&ST, &f.f));
    strm_fini(&ST);
    st_up = false;
    ck_assert_uint_eq(a.n_release, 1);
    ck_assert_uint_eq(b.n_release, 1);
    ck_assert(a.st_null_at_release);
    ck_assert(b.st_null_at_release);
    ck_assert_ptr_null(a.rd.st);
    ck_assert_ptr_null(b.rd.st);
    ck_assert_ptr_null(c.rd.st);
    ck_assert_ptr_null(a.rd.stall_ev);
    ck_assert_ptr_null(f.f.waiting_on);
    ck_assert_uint_eq(event_base_get_num_events(B, EVENT_BASE_COUNT_ADDED), 0);
    free(a.data);
    free(b.data);
    free(c.data);
}
END_TEST

/* A sealed stream (the console moved on): a reader that has everything,
 * events included, is told once, from the loop; one behind is told when
 * it has caught up; unsealing and sealing again tells them again. */
START_TEST(seal_tells_readers_at_the_end)
{
    struct fr a, b, c;
    struct ff f = FF_INIT;

    st_begin(STRM_PACE, STRM_RING_MIN);
    fr_add(&a, BIG, 0);
    fr_add(&b, 0, 0);
    fr_add(&c, BIG, 0);
    c.rd.ops = &fr_ops_plain; /* no sealed callback: never called */
    feed(&f, 100, 100);
    strm_event(&ST, "vMotion complete");
    strm_seal(&ST, true);
    ck_assert_uint_eq(a.n_sealed, 0); /* not inside the caller */
    event_base_loop(B, EVLOOP_NONBLOCK);
    ck_assert_uint_eq(a.n_sealed, 1);
    ck_assert_uint_eq(b.n_sealed, 0);
    ck_assert_str_eq(fr_str(&a), "D100 E:vMotion complete");
    event_base_loop(B, EVLOOP_NONBLOCK);
    ck_assert_uint_eq(a.n_sealed, 1); /* once */
    b.room = 40;
    strm_reader_kick(&b.rd);
    event_base_loop(B, EVLOOP_NONBLOCK);
    ck_assert_uint_eq(b.n_sealed, 0); /* 60 bytes and the event to go */
    b.room = BIG;
    strm_reader_kick(&b.rd);
    event_base_loop(B, EVLOOP_NONBLOCK);
    ck_assert_uint_eq(b.n_sealed, 1);
    fr_is(&b, 0, 100);
    strm_seal(&ST, false);
    feed(&f, 10, 10);
    event_base_loop(B, EVLOOP_NONBLOCK);
    ck_assert_uint_eq(a.n_sealed, 1);
    strm_seal(&ST, true);
    event_base_loop(B, EVLOOP_NONBLOCK);
    ck_assert_uint_eq(a.n_sealed, 2);
    ck_assert_uint_eq(b.n_sealed, 2);
    fr_free(&a);
    fr_free(&b);
    fr_free(&c);
}
END_TEST

static Suite *
stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("stream");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, policy_names);
    tcase_add_test(tc, live_every_byte_across_wrap);
    tcase_add_test(tc, full_reader_paces_feeder);
    tcase_add_test(tc, stalled_reader_cut_loose_then_rejoins);
    tcase_add_test(tc, slow_reader_not_cut);
    tcase_add_test(tc, catchup_never_paces);
    tcase_add_test(tc, disconnect_calls_stalled);
    tcase_add_test(tc, events_at_their_offsets);
    tcase_add_test(tc, events_oldest_dropped);
    tcase_add_test(tc, draining_feeder);
    tcase_add_test(tc, add_clamps_and_replay_start);
    tcase_add_test(tc, lines_start_and_rewind);
    tcase_add_test(tc, fini_releases);
    tcase_add_test(tc, seal_tells_readers_at_the_end);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(stream_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
