/*
 * test_ring.c: Check suite for the console output window (proxy/ring.c),
 * tested against a model: the whole stream written so far, every byte at
 * its stream offset.
 *
 * For every max from 1 to 300, then powers of two and their neighbours up
 * to the 64 KiB default scrollback and seeded random values in between,
 * four scripts of write sizes (seeded random: 0, 1, small, exactly filling
 * the allocation, exactly reaching max, exactly max, max/2, more than max;
 * two halves of max then more; filling the allocation exactly as it
 * grows; one byte at a time), at stream offsets 0 and 2^40. After every
 * write: ring_end is all that was written, ring_start leaves exactly the
 * last min(written, max) bytes, memory has not outgrown what was written,
 * the replay from every offset in the window is byte-exact (see
 * check_window), ring_at agrees, and ring_peek outside the window is 0.
 * Also max 0, the empty ring, and the reported case: a console that wrote
 * exactly 32 KiB in 16 KiB writes, then more, replayed zeros.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

#define FIRST 4096       /* ring.h: "4 KiB first, doubling up to max" */
#define SCROLLBACK 65536 /* the default scrollback */
#define BIG_START (1ULL << 40)
#define SWEEP 300       /* every max in 1..SWEEP */
#define SWEEP_CHUNK 25  /* maxes per loop iteration */
#define LITERAL_ALL 128 /* literal replays from every offset up to this */
#define NRANDOM_MAX 24  /* seeded random maxes in (SWEEP, SCROLLBACK] */

/* Fails the test. A plain if: ck_assert marks a point on every call,
 * which is too slow for the per-byte checks. */
#define REQ(c, ...)                                                            \
    do {                                                                       \
        if (!(c))                                                              \
            ck_abort_msg(__VA_ARGS__);                                         \
    } while (0)

static uint64_t
rnd(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The ring under test and its model. */
struct model {
    struct ring r;
    size_t max;
    uint64_t start; /* offset of b[0] */
    uint8_t *b;     /* every byte written: b[i] is at offset start + i */
    size_t n, alloc;
    uint8_t *tmp; /* a literal replay, max bytes */
    uint64_t seed;
    unsigned writes; /* for the messages */
};

static void
m_init(struct model *m, size_t max, uint64_t start, uint64_t seed)
{
    memset(m, 0, sizeof(*m));
    m->max = max;
    m->start = start;
    m->seed = seed;
    m->alloc = 4096;
    m->b = malloc(m->alloc);
    m->tmp = malloc(max + 1);
    ck_assert_ptr_nonnull(m->b);
    ck_assert_ptr_nonnull(m->tmp);
    ring_init(&m->r, max, start);
}

static void
m_free(struct model *m)
{
    ring_free(&m->r);
    ck_assert_ptr_null(m->r.buf);
    free(m->b);
    free(m->tmp);
}

static size_t
held(const struct model *m)
{
    return m->n < m->max ? m->n : m->max;
}

/* A literal replay from `from`: ring_peek runs concatenated until
 * ring_end, at most two of them (the longest runs of a ring). */
static void
replay(struct model *m, uint64_t from)
{
    uint64_t end = ring_end(&m->r);
    size_t got = 0, l;
    const uint8_t *p;
    int runs = 0;

    while (from + got < end) {
        l = ring_peek(&m->r, from + got, &p);
        REQ(l > 0 && l <= end - from - got && ++runs <= 2,
            "max %zu write %u: replay from %llu: run %d of %zu bytes at %llu",
            m->max, m->writes, (unsigned long long)from, runs, l,
            (unsigned long long)(from + got));
        memcpy(m->tmp + got, p, l);
        got += l;
    }
    REQ(memcmp(m->tmp, m->b + (from - m->start), got) == 0,
        "max %zu write %u: replay from %llu (%zu bytes) differs", m->max,
        m->writes, (unsigned long long)from, got);
}

/* Literal replays from every offset in the window: O(held^2). */
static void
replay_all(struct model *m)
{
    for (uint64_t off = ring_start(&m->r); off <= ring_end(&m->r); off++)
        replay(m, off);
}

/*
 * Everything the ring must show after a write. The replay from every
 * offset is checked byte-exactly in O(held): offsets newest first, the
 * first byte of each run compared with the model, and the rest of the run
 * too unless it is exactly the run one offset later (already checked).
 * Literal replays from every offset while the window is small, else from
 * its edges, its wrap and a seeded sample.
 */
static void
check_window(struct model *m, uint64_t *rs)
{
    const struct ring *r = &m->r;
    uint64_t end = m->start + m->n, s = end - held(m), wrap;
    size_t want_cap = held(m) * 2 > FIRST ? held(m) * 2 : FIRST;
    const uint8_t *p, *q = NULL;
    size_t l, lq = 0;

    REQ(ring_end(r) == end, "max %zu write %u: end %llu, want %llu", m->max,
        m->writes, (unsigned long long)ring_end(r), (unsigned long long)end);
    REQ(ring_start(r) == s, "max %zu write %u: start %llu, want %llu", m->max,
        m->writes, (unsigned long long)ring_start(r), (unsigned long long)s);
    REQ(r->cap >= held(m) && r->cap <= m->max && r->cap <= want_cap,
        "max %zu write %u: cap %zu holding %zu", m->max, m->writes, r->cap,
        held(m));
    for (uint64_t off = end; off-- > s;) {
        const uint8_t *want = m->b + (off - m->start);

        l = ring_peek(r, off, &p);
        REQ(l >= 1 && l <= end - off && p != NULL,
            "max %zu write %u: peek at %llu gave %zu of %llu", m->max,
            m->writes, (unsigned long long)off, l,
            (unsigned long long)(end - off));
        REQ(p[0] == want[0] && ring_at(r, off) == want[0],
            "max %zu write %u: byte at %llu is %u/%u, want %u", m->max,
            m->writes, (unsigned long long)off, p[0], ring_at(r, off), want[0]);
        if (l > 1 && !(q == p + 1 && lq == l - 1))
            REQ(memcmp(p, want, l) == 0,
                "max %zu write %u: run of %zu at %llu differs", m->max,
                m->writes, l, (unsigned long long)off);
        q = p;
        lq = l;
    }
    /* Outside the window: nothing. */
    REQ(ring_peek(r, end, &p) == 0, "peek at end");
    REQ(ring_peek(r, end + 1, &p) == 0, "peek past end");
    REQ(ring_peek(r, UINT64_MAX, &p) == 0, "peek at UINT64_MAX");
    if (s > 0) {
        REQ(ring_peek(r, s - 1, &p) == 0,
            "max %zu write %u: peek before start %llu", m->max, m->writes,
            (unsigned long long)s);
        REQ(ring_peek(r, 0, &p) == 0, "peek at 0");
        REQ(ring_peek(r, s - 1 - (rnd(rs) % s), &p) == 0, "peek before");
    }
    if (held(m) <= LITERAL_ALL) {
        replay_all(m);
        return;
    }
    wrap = s + ring_peek(r, s, &p); /* where the second run starts */
    replay(m, s);
    replay(m, s + 1);
    replay(m, wrap - 1);
    replay(m, wrap);
    if (wrap < end)
        replay(m, wrap + 1);
    replay(m, end - 1);
    replay(m, end);
    for (int i = 0; i < 8; i++)
        replay(m, s + rnd(rs) % (held(m) + 1));
}

/* Appends n model bytes (never 0, so a replayed zero always shows) and
 * checks the window. */
static void
m_write(struct model *m, size_t n)
{
    size_t old = m->n;
    uint64_t s = m->seed ^ m->n;

    if (m->n + n > m->alloc) {
        while (m->n + n > m->alloc)
            m->alloc *= 2;
        m->b = realloc(m->b, m->alloc);
        ck_assert_ptr_nonnull(m->b);
    }
    for (size_t i = 0; i < n; i += 8) {
        uint64_t x = rnd(&s);

        for (size_t k = i; k < n && k < i + 8; k++, x >>= 8)
            m->b[k + old] = (uint8_t)(1 + (x & 0xff) % 255);
    }
    m->n += n;
    m->writes++;
    ring_append(&m->r, m->b + old, n);
    check_window(m, &m->seed);
}

/* Bytes to the end of the allocation, or a whole allocation when full. */
static size_t
fill_cap(const struct model *m)
{
    size_t cap = m->r.cap;

    if (cap == 0)
        return m->max < FIRST ? m->max : FIRST;
    return cap > held(m) ? cap - held(m) : cap;
}

/* A seeded random write size for the model's ring. */
static size_t
pick(struct model *m)
{
    uint64_t x = rnd(&m->seed);
    size_t max = m->max, k = 0;

    switch (x % 14) {
    case 0:
        return 0;
    case 1:
        return 1;
    case 2:
        return 1 + (x >> 8) % 16;
    case 3:
        return fill_cap(m);
    case 4: /* exactly to max */
        return max > held(m) ? max - held(m) : max;
    case 5:
        return max;
    case 6:
        return max / 2;
    case 7: /* more than max */
        return max + 1 + (x >> 8) % (2 * max);
    case 8:
        return 1 + (x >> 8) % max;
    case 9:
        return 1 + (x >> 8) % (2 * max);
    case 10: /* a power of two up to 2 max */
        while (((size_t)2 << k) <= 2 * max)
            k++;
        return (size_t)1 << ((x >> 8) % (k + 1));
    case 11:
        return 16384;
    case 12:
        return max - 1;
    default:
        return (x >> 8) % FIRST;
    }
}

enum script { S_RANDOM, S_HALVES, S_FILL_CAP, S_BYTES, S_COUNT };

static void
run_script(size_t max, uint64_t start, enum script sc)
{
    struct model m;
    size_t half = max / 2;

    m_init(&m, max, start, 0x5eed0000ULL * (sc + 1) + max + (start >> 20));
    check_window(&m, &m.seed); /* empty, and no memory yet */
    ck_assert_uint_eq(m.r.cap, 0);
    m_write(&m, 0);
    ck_assert_uint_eq(m.r.cap, 0);
    switch (sc) {
    case S_RANDOM:
        for (int i = 0; i < 48; i++)
            m_write(&m, pick(&m));
        break;
    case S_HALVES: /* two halves fill max exactly, then more */
        m_write(&m, half);
        m_write(&m, max - half);
        m_write(&m, 1);
        m_write(&m, half);
        m_write(&m, max - half);
        m_write(&m, half + 1);
        for (int i = 0; i < 8; i++)
            m_write(&m, pick(&m));
        break;
    case S_FILL_CAP: /* exactly the allocation, as it grows, then more */
        for (int i = 0; i < 14; i++)
            m_write(&m, fill_cap(&m));
        m_write(&m, 1);
        for (int i = 0; i < 4; i++)
            m_write(&m, fill_cap(&m));
        for (int i = 0; i < 4; i++)
            m_write(&m, pick(&m));
        break;
    default: /* a byte at a time past max, a big write, bytes again */
        for (size_t i = 0; i < max + 3 && i < 300; i++)
            m_write(&m, 1);
        m_write(&m, 3 * max + 7);
        for (int i = 0; i < 40; i++)
            m_write(&m, 1);
        break;
    }
    m_free(&m);
}

static void
run_max(size_t max)
{
    for (int sc = 0; sc < S_COUNT; sc++) {
        run_script(max, 0, (enum script)sc);
        run_script(max, BIG_START, (enum script)sc);
    }
}

/* Every max in 1..SWEEP, SWEEP_CHUNK of them per iteration. */
START_TEST(test_sweep_small)
{
    for (size_t max = 1 + (size_t)_i * SWEEP_CHUNK;
         max <= (size_t)(_i + 1) * SWEEP_CHUNK && max <= SWEEP; max++)
        run_max(max);
}
END_TEST

/* Powers of two and their neighbours above the sweep, up to 64 KiB. */
static size_t
spread_fixed(int i)
{
    int k = 9 + i / 3; /* 511, 512, 513, ..., 65535, 65536 */

    return ((size_t)1 << k) + (size_t)(i % 3) - 1;
}

#define NSPREAD_FIXED 23 /* 65537 left out: above the default */

START_TEST(test_spread_fixed)
{
    run_max(spread_fixed(_i));
}
END_TEST

/* Seeded random maxes in (SWEEP, SCROLLBACK], two per iteration. */
START_TEST(test_spread_random)
{
    uint64_t s = 0xC0FFEEULL + (uint64_t)_i;

    for (int i = 0; i < 2; i++)
        run_max(SWEEP + 1 + rnd(&s) % (SCROLLBACK - SWEEP));
}
END_TEST

/* The report: a console wrote exactly 32 KiB in 16 KiB writes, then more,
 * and an attach replayed zeros. Also the default 64 KiB, filled in 16 KiB
 * writes. */
START_TEST(test_halves_then_more)
{
    static const size_t more[] = {1, 16384, 16383, 100, 32768, 40000, 1};
    uint64_t start = _i ? BIG_START : 0;
    struct model m;

    m_init(&m, 32768, start, 32768);
    m_write(&m, 16384);
    m_write(&m, 16384);
    ck_assert_uint_eq(m.r.cap, 32768);
    for (size_t i = 0; i < VSPC_ARRAY_LEN(more); i++) {
        m_write(&m, more[i]);
        if (i == 0 || i == 2)
            replay_all(&m);
    }
    m_free(&m);

    m_init(&m, SCROLLBACK, start, SCROLLBACK);
    for (int i = 0; i < 4; i++)
        m_write(&m, 16384);
    ck_assert_uint_eq(m.r.cap, SCROLLBACK);
    for (size_t i = 0; i < VSPC_ARRAY_LEN(more); i++)
        m_write(&m, more[i]);
    m_write(&m, 3 * SCROLLBACK);
    m_free(&m);
}
END_TEST

/* max 0 holds nothing, allocates nothing; the end still advances. */
START_TEST(test_max_zero)
{
    static const size_t sizes[] = {0, 1, 100, 4096, 70000, 0, 1};
    uint64_t start = _i ? BIG_START : 0, end = start;
    uint8_t *buf = calloc(1, 70000);
    const uint8_t *p;
    struct ring r;

    ck_assert_ptr_nonnull(buf);
    ring_init(&r, 0, start);
    for (size_t i = 0; i < VSPC_ARRAY_LEN(sizes); i++) {
        memset(buf, 0xA5, sizes[i]);
        ring_append(&r, buf, sizes[i]);
        end += sizes[i];
        ck_assert_uint_eq(ring_end(&r), end);
        ck_assert_uint_eq(ring_start(&r), end);
        ck_assert_uint_eq(r.cap, 0);
        ck_assert_ptr_null(r.buf);
        ck_assert_uint_eq(ring_peek(&r, end, &p), 0);
        ck_assert_uint_eq(ring_peek(&r, end + 1, &p), 0);
        if (end > 0)
            ck_assert_uint_eq(ring_peek(&r, end - 1, &p), 0);
        ck_assert_uint_eq(ring_peek(&r, start, &p), 0);
    }
    ring_free(&r);
    free(buf);
}
END_TEST

/* A fresh ring: an empty window at its start offset, no memory. */
START_TEST(test_empty)
{
    static const uint64_t starts[] = {0, 1, BIG_START, UINT64_MAX / 2};
    const uint8_t *p;
    struct ring r;

    for (size_t i = 0; i < VSPC_ARRAY_LEN(starts); i++) {
        ring_init(&r, SCROLLBACK, starts[i]);
        ck_assert_uint_eq(ring_start(&r), starts[i]);
        ck_assert_uint_eq(ring_end(&r), starts[i]);
        ck_assert_uint_eq(r.cap, 0);
        ck_assert_uint_eq(ring_peek(&r, starts[i], &p), 0);
        ck_assert_uint_eq(ring_peek(&r, starts[i] + 1, &p), 0);
        if (starts[i] > 0)
            ck_assert_uint_eq(ring_peek(&r, starts[i] - 1, &p), 0);
        ring_append(&r, (const uint8_t *)"x", 0);
        ck_assert_uint_eq(r.cap, 0);
        ck_assert_uint_eq(ring_end(&r), starts[i]);
        ring_free(&r);
    }
}
END_TEST

static Suite *
ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("edges");

    tcase_add_loop_test(tc, test_max_zero, 0, 2);
    tcase_add_test(tc, test_empty);
    tcase_add_loop_test(tc, test_halves_then_more, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("model");
    tcase_set_timeout(tc, 60); /* per iteration; each is far below */
    tcase_add_loop_test(tc, test_sweep_small, 0,
                        (SWEEP + SWEEP_CHUNK - 1) / SWEEP_CHUNK);
    tcase_add_loop_test(tc, test_spread_fixed, 0, NSPREAD_FIXED);
    tcase_add_loop_test(tc, test_spread_random, 0, NRANDOM_MAX / 2);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(ring_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
