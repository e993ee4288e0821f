/*
 * test_bstar.c: Check suite for the coordinator pair's state machine
 * (coordinator/bstar.c) with two real instances in one process, their HA
 * ports on inproc endpoints, heartbeats of 50 ms: the primary turns active
 * and the backup passive when they hear each other; a passive refuses a
 * node while the primary is heard and takes over (a new term, a fresh
 * directory) only when a node asks after the primary went silent; a
 * primary restarted beside an active backup turns passive; a backup that
 * never hears its primary serves a node after the grace.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <event2/event.h>
#include <zmq.h>

#include "vspc/clock.h"
#include "bstar.h"

#define HB 0.05

struct side {
    unsigned activated, fresh, deactivated;
    uint64_t term;
};

static struct event_base *B;
static void *Z;

static void
s_activated(void *arg, uint64_t term, bool fresh)
{
    struct side *s = arg;

    s->activated++;
    s->fresh += fresh;
    s->term = term;
}

static void
s_deactivated(void *arg, const char *why)
{
    (void)why;
    ((struct side *)arg)->deactivated++;
}

static uint64_t
s_inc(void *arg)
{
    (void)arg;
    return 42;
}

static struct bstar *
mk(bool primary, const char *me, const char *peer, struct side *s)
{
    struct bs_cfg c = {
        .primary = primary, .ha_bind = me, .peer_ha = peer, .heartbeat = HB};
    struct bs_hooks h = {.activated = s_activated,
                         .deactivated = s_deactivated,
                         .incarnation = s_inc,
                         .arg = s};
    char err[256];
    struct bstar *b = bs_new(B, Z, &c, &h, err, sizeof(err));

    ck_assert_msg(b != NULL, "%s", err);
    return b;
}

/* Run the loop for secs (bounded: a timer ends it). */
static void
run_for(double secs)
{
    struct timeval tv = {(time_t)secs,
                         (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};

    event_base_loopexit(B, &tv);
    event_base_dispatch(B);
}

static void
setup(void)
{
    B = event_base_new();
    Z = zmq_ctx_new();
    ck_assert_ptr_nonnull(B);
    ck_assert_ptr_nonnull(Z);
}

static void
teardown(void)
{
    zmq_ctx_term(Z);
    event_base_free(B);
}

START_TEST(pair_failover_and_restart)
{
    struct side sp = {0}, sb = {0}, sp2 = {0};
    struct bstar *p = mk(true, "inproc://p", "inproc://b", &sp);
    struct bstar *b = mk(false, "inproc://b", "inproc://p", &sb);

    ck_assert_int_eq(bs_state(p), BS_PRIMARY);
    ck_assert(bs_serving(p, clock_now())); /* a starting primary serves */
    run_for(6 * HB);
    ck_assert_int_eq(bs_state(p), BS_ACTIVE);
    ck_assert_int_eq(bs_state(b), BS_PASSIVE);
    ck_assert_uint_eq(bs_term(p), 1);
    ck_assert_uint_eq(sp.activated, 1);
    ck_assert_uint_eq(sp.fresh, 0); /* it keeps what it served */
    /* The primary is heard: a node's request to the backup is refused. */
    ck_assert(!bs_serving(b, clock_now()));
    ck_assert_uint_eq(bs_stats(b)->rejected, 1);
    ck_assert_int_eq(bs_state(b), BS_PASSIVE);
    /* The primary dies: silence alone changes nothing ... */
    bs_free(&p);
    run_for(4 * HB);
    ck_assert_int_eq(bs_state(b), BS_PASSIVE);
    ck_assert_uint_eq(sb.activated, 0);
    /* ... a node's request after it does: failover, term 2, fresh. */
    ck_assert(bs_serving(b, clock_now()));
    ck_assert_int_eq(bs_state(b), BS_ACTIVE);
    ck_assert_uint_eq(bs_term(b), 2);
    ck_assert_uint_eq(sb.activated, 1);
    ck_assert_uint_eq(sb.fresh, 1);
    ck_assert_uint_eq(bs_stats(b)->failovers, 1);
    /* The primary restarted: it hears the active backup, turns passive. */
    p = mk(true, "inproc://p", "inproc://b", &sp2);
    run_for(6 * HB);
    ck_assert_int_eq(bs_state(p), BS_PASSIVE);
    ck_assert_int_eq(bs_state(b), BS_ACTIVE);
    ck_assert_uint_eq(sp2.deactivated, 1);
    ck_assert(!bs_serving(p, clock_now()));
    ck_assert(bs_serving(b, clock_now()));
    ck_assert_uint_eq(bs_stats(b)->dual_active, 0);
    bs_free(&p);
    bs_free(&b);
}
END_TEST

START_TEST(backup_alone)
{
    struct side sb = {0};
    struct bstar *b = mk(false, "inproc://b2", "inproc://nobody", &sb);

    ck_assert_int_eq(bs_state(b), BS_BACKUP);
    ck_assert(!bs_serving(b, clock_now())); /* the primary's grace */
    run_for(3 * HB);
    ck_assert(bs_serving(b, clock_now()));
    ck_assert_int_eq(bs_state(b), BS_ACTIVE);
    ck_assert_uint_eq(bs_term(b), 1);
    ck_assert_str_eq(bs_state_str(bs_state(b)), "active");
    bs_free(&b);
    ck_assert_ptr_null(b);
}
END_TEST

static Suite *
bstar_suite(void)
{
    Suite *s = suite_create("bstar");
    TCase *tc = tcase_create("bstar");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, pair_failover_and_restart);
    tcase_add_test(tc, backup_alone);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(bstar_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
