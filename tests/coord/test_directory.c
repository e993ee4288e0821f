/*
 * test_directory.c: Check suite for the coordinator's directory
 * (coordinator/directory.c), driven directly with a fake clock: the
 * epoch rule (higher wins, lower ignored, equal only from the owner,
 * the index in the low byte), node index conflicts, dead nodes (consoles
 * kept, taken over by a higher epoch, dropped when the node restarts),
 * the limits, and the update stream (every change published once, with
 * seq 1, 2, 3, ... and the incarnation; refreshes publish nothing).
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vspc/epoch.h"
#include "vspc/log.h"
#include "directory.h"

#define INC 0xc00dULL
#define MAXPUB 4096

/* The published updates, in order. */
struct pubs {
    struct wire_update u[MAXPUB];
    size_t n;
};

static void
publish_cb(const struct wire_update *u, void *arg)
{
    struct pubs *p = arg;

    /* Strictly one more than the previous one. */
    ck_assert_uint_eq(u->seq, p->n + 1);
    ck_assert_uint_eq(u->incarnation, INC);
    p->u[p->n++ % MAXPUB] = *u; /* the last MAXPUB kept */
}

static struct dir d;
static struct pubs pubs;

static void
setup(size_t max_nodes, size_t per_node, size_t total)
{
    struct dir_limits lim = {max_nodes, per_node, total, 3.0};

    log_init("test_directory", LOG_LVL_ERROR);
    memset(&pubs, 0, sizeof(pubs));
    ck_assert_int_eq(dir_init(&d, &lim, INC, publish_cb, &pubs), 0);
}

static void
setup_default(void)
{
    setup(256, 100000, 1000000);
}

static void
teardown(void)
{
    dir_fini(&d);
}

static enum dir_result
reg(const char *id, uint8_t index, uint64_t inc, double now, char *reason)
{
    struct wire_register r;
    char buf[WIRE_REASON_MAX + 1];

    memset(&r, 0, sizeof(r));
    snprintf(r.node_id, sizeof(r.node_id), "%s", id);
    r.node_index = index;
    snprintf(r.peer_addr, sizeof(r.peer_addr), "127.0.0.1:%u", 13390u + index);
    r.incarnation = inc;
    return dir_register(&d, &r, now, reason ? reason : buf,
                        WIRE_REASON_MAX + 1);
}

static void
con(struct wire_console *c, int k, const char *owner, uint8_t index,
    uint64_t counter)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->id, sizeof(c->id), "%032x", (unsigned)k);
    snprintf(c->vm_name, sizeof(c->vm_name), "vm-%d", k);
    c->epoch = epoch_make(counter, index);
    snprintf(c->state, sizeof(c->state), "connected");
    snprintf(c->hv_addr, sizeof(c->hv_addr), "10.0.0.%d:902", k % 250);
    snprintf(c->owner, sizeof(c->owner), "%s", owner);
    c->owner_index = index;
}

static enum dir_result
ann(int k, const char *owner, uint8_t index, uint64_t counter, double now)
{
    struct wire_console c;

    con(&c, k, owner, index, counter);
    return dir_announce(&d, &c, now);
}

static enum dir_result
wd(int k, const char *node, uint64_t epoch, double now)
{
    struct wire_withdraw w;

    memset(&w, 0, sizeof(w));
    snprintf(w.console_id, sizeof(w.console_id), "%032x", (unsigned)k);
    w.epoch = epoch;
    snprintf(w.node_id, sizeof(w.node_id), "%s", node);
    return dir_withdraw(&d, &w, now);
}

static const struct wire_console *
get(int k)
{
    char id[40];
    const struct dir_console *e;

    snprintf(id, sizeof(id), "%032x", (unsigned)k);
    e = dir_console_find(&d, id);
    return e ? &e->c : NULL;
}

static const struct wire_update *
last(void)
{
    ck_assert_uint_gt(pubs.n, 0);
    return &pubs.u[(pubs.n - 1) % MAXPUB];
}

START_TEST(test_register)
{
    char why[WIRE_REASON_MAX + 1];

    ck_assert_int_eq(reg("a", 3, 1, 0, why), DIR_APPLIED);
    ck_assert_str_eq(why, "");
    ck_assert_uint_eq(pubs.n, 1);
    ck_assert_int_eq(last()->change, WIRE_CHANGE_NODE);
    ck_assert_str_eq(last()->u.node.node_id, "a");
    ck_assert_uint_eq(last()->u.node.node_index, 3);
    ck_assert_str_eq(last()->u.node.peer_addr, "127.0.0.1:13393");
    ck_assert(last()->u.node.alive);
    /* Another id, same index, while "a" lives: refused, said why. */
    ck_assert_int_eq(reg("b", 3, 1, 1, why), DIR_REFUSED);
    ck_assert_str_eq(why, "node index 3 is held by live node a (peer "
                          "127.0.0.1:13393)");
    ck_assert_uint_eq(pubs.n, 1);
    ck_assert_ptr_null(dir_node_find(&d, "b"));
    /* The same id again (same incarnation): fine. */
    ck_assert_int_eq(reg("a", 3, 1, 2, why), DIR_APPLIED);
    /* Heartbeats: only of the registered incarnation. */
    {
        struct wire_heartbeat h = {"a", 1};

        ck_assert(dir_heartbeat(&d, &h, 2.5));
        h.incarnation = 2;
        ck_assert(!dir_heartbeat(&d, &h, 2.5));
        snprintf(h.node_id, sizeof(h.node_id), "zz");
        ck_assert(!dir_heartbeat(&d, &h, 2.5));
    }
    /* "a" dies: the index is free for "b". */
    ck_assert_uint_eq(dir_expire(&d, 5.4, 0), 0);
    ck_assert_uint_eq(dir_expire(&d, 5.6, 3.0), 0); /* we are behind */
    ck_assert_uint_eq(dir_expire(&d, 5.6, 0), 1);
    ck_assert(!dir_node_find(&d, "a")->n.alive);
    ck_assert(!last()->u.node.alive);
    ck_assert_int_eq(reg("b", 3, 1, 6, why), DIR_APPLIED);
    /* ... and "a" now cannot come back on it. */
    ck_assert_int_eq(reg("a", 3, 1, 7, why), DIR_REFUSED);
    ck_assert_str_eq(why, "node index 3 is held by live node b (peer "
                          "127.0.0.1:13393)");
    ck_assert_int_eq(reg("a", 4, 1, 7, why), DIR_APPLIED);
    ck_assert_uint_eq(dir_node_find(&d, "a")->n.node_index, 4);
}
END_TEST

START_TEST(test_max_nodes)
{
    char why[WIRE_REASON_MAX + 1];

    teardown();
    setup(2, 10, 100);
    ck_assert_int_eq(reg("a", 1, 1, 0, NULL), DIR_APPLIED);
    ck_assert_int_eq(reg("b", 2, 1, 0, NULL), DIR_APPLIED);
    ck_assert_int_eq(reg("c", 3, 1, 0, why), DIR_REFUSED);
    ck_assert_str_eq(why, "coordinator full: 2 nodes known");
    /* Known ids still get in. */
    ck_assert_int_eq(reg("b", 2, 2, 1, NULL), DIR_APPLIED);
}
END_TEST

START_TEST(test_epoch_rule)
{
    struct wire_console c;
    size_t n0;

    reg("a", 1, 1, 0, NULL);
    reg("b", 2, 1, 0, NULL);
    n0 = pubs.n;
    ck_assert_int_eq(ann(7, "a", 1, 5, 0), DIR_APPLIED);
    ck_assert_uint_eq(pubs.n, n0 + 1);
    ck_assert_int_eq(last()->change, WIRE_CHANGE_UPSERT);
    con(&c, 7, "a", 1, 5);
    ck_assert(memcmp(&last()->u.upsert, &c, sizeof(c)) == 0);
    /* The same again: a refresh, nothing published. */
    ck_assert_int_eq(ann(7, "a", 1, 5, 0), DIR_UNCHANGED);
    ck_assert_uint_eq(pubs.n, n0 + 1);
    /* A state change at the same epoch from the owner. */
    con(&c, 7, "a", 1, 5);
    snprintf(c.state, sizeof(c.state), "vmotion");
    ck_assert_int_eq(dir_announce(&d, &c, 0), DIR_APPLIED);
    ck_assert_str_eq(get(7)->state, "vmotion");
    ck_assert_uint_eq(pubs.n, n0 + 2);
    /* A lower epoch, from anyone: stale. */
    ck_assert_int_eq(ann(7, "a", 1, 4, 0), DIR_STALE);
    ck_assert_int_eq(ann(7, "b", 2, 4, 0), DIR_STALE);
    ck_assert_uint_eq(get(7)->epoch, epoch_make(5, 1));
    /* A higher epoch from another node: ownership moves. */
    ck_assert_int_eq(ann(7, "b", 2, 6, 0), DIR_APPLIED);
    ck_assert_str_eq(get(7)->owner, "b");
    ck_assert_uint_eq(get(7)->owner_index, 2);
    ck_assert_uint_eq(dir_node_find(&d, "a")->nconsoles, 0);
    ck_assert_uint_eq(dir_node_find(&d, "b")->nconsoles, 1);
    /* The old owner insists with its old epoch: stale. */
    ck_assert_int_eq(ann(7, "a", 1, 5, 0), DIR_STALE);
    ck_assert_uint_eq(pubs.n, n0 + 3);
    /* Counter 6 with index 1 is below counter 6 with index 2. */
    ck_assert_int_eq(ann(7, "a", 1, 6, 0), DIR_STALE);
    ck_assert_int_eq(ann(7, "a", 1, 7, 0), DIR_APPLIED);
    ck_assert_str_eq(get(7)->owner, "a");
    /* Epoch and index must agree with the sender. */
    con(&c, 8, "a", 1, 1);
    c.epoch = epoch_make(1, 9);
    ck_assert_int_eq(dir_announce(&d, &c, 0), DIR_BAD);
    con(&c, 8, "a", 1, 1);
    c.owner_index = 2;
    ck_assert_int_eq(dir_announce(&d, &c, 0), DIR_BAD);
    ck_assert_ptr_null(get(8));
    /* epoch_next: above the highest known, with one's own index. */
    ck_assert_uint_eq(epoch_next(epoch_make(7, 1), 2), epoch_make(8, 2));
    ck_assert_uint_eq(epoch_next(0, 0), epoch_make(1, 0));
    ck_assert_uint_eq(epoch_next(UINT64_MAX, 3),
                      epoch_make(EPOCH_COUNTER_MAX, 3));
}
END_TEST

START_TEST(test_withdraw)
{
    size_t n0;

    reg("a", 1, 1, 0, NULL);
    reg("b", 2, 1, 0, NULL);
    ck_assert_int_eq(ann(1, "a", 1, 5, 0), DIR_APPLIED);
    n0 = pubs.n;
    ck_assert_int_eq(wd(1, "a", epoch_make(4, 1), 0), DIR_STALE);
    ck_assert_int_eq(wd(1, "b", epoch_make(5, 1), 0), DIR_CONFLICT);
    ck_assert_int_eq(wd(2, "a", epoch_make(5, 1), 0), DIR_NOT_FOUND);
    ck_assert_uint_eq(pubs.n, n0);
    ck_assert_int_eq(wd(1, "a", epoch_make(5, 1), 0), DIR_APPLIED);
    ck_assert_ptr_null(get(1));
    ck_assert_int_eq(last()->change, WIRE_CHANGE_REMOVED);
    ck_assert_uint_eq(last()->u.removed.epoch, epoch_make(5, 1));
    ck_assert_uint_eq(dir_node_find(&d, "a")->nconsoles, 0);
    /* A higher epoch than known removes it, whoever sends it. */
    ck_assert_int_eq(ann(1, "a", 1, 6, 0), DIR_APPLIED);
    ck_assert_int_eq(wd(1, "b", epoch_make(7, 2), 0), DIR_APPLIED);
    ck_assert_uint_eq(last()->u.removed.epoch, epoch_make(7, 2));
    ck_assert_uint_eq(dir_console_count(&d), 0);
}
END_TEST

START_TEST(test_dead_node)
{
    struct wire_heartbeat h = {"a", 1};
    size_t n0;

    reg("a", 1, 1, 0, NULL);
    reg("b", 2, 1, 0, NULL);
    for (int k = 0; k < 10; k++)
        ck_assert_int_eq(ann(k, "a", 1, 1, 0), DIR_APPLIED);
    /* b keeps heartbeating, a does not. */
    h = (struct wire_heartbeat){"b", 1};
    ck_assert(dir_heartbeat(&d, &h, 2.9));
    ck_assert_uint_eq(dir_expire(&d, 3.5, 0), 1);
    ck_assert(!dir_node_find(&d, "a")->n.alive);
    ck_assert(dir_node_find(&d, "b")->n.alive);
    ck_assert_int_eq(last()->change, WIRE_CHANGE_NODE);
    ck_assert_str_eq(last()->u.node.node_id, "a");
    ck_assert(!last()->u.node.alive);
    /* Dead: its consoles stay, its messages are refused. */
    ck_assert_uint_eq(dir_console_count(&d), 10);
    ck_assert_str_eq(get(3)->owner, "a");
    h = (struct wire_heartbeat){"a", 1};
    ck_assert(!dir_heartbeat(&d, &h, 3.6));
    ck_assert_int_eq(ann(20, "a", 1, 1, 3.6), DIR_NOT_REGISTERED);
    ck_assert_int_eq(wd(3, "a", epoch_make(1, 1), 3.6), DIR_NOT_REGISTERED);
    /* b takes one over with a higher epoch. */
    ck_assert_int_eq(ann(3, "b", 2, 2, 3.6), DIR_APPLIED);
    ck_assert_str_eq(get(3)->owner, "b");
    ck_assert_uint_eq(dir_node_find(&d, "a")->nconsoles, 9);
    /* A node with a's index but another id: index is free (a is dead),
     * and a's epoch at the same counter is a conflict. */
    ck_assert_int_eq(reg("c", 1, 1, 3.7, NULL), DIR_APPLIED);
    ck_assert_int_eq(ann(4, "c", 1, 1, 3.7), DIR_CONFLICT);
    ck_assert_int_eq(ann(4, "c", 1, 2, 3.7), DIR_APPLIED);
    ck_assert_uint_eq(dir_node_find(&d, "a")->nconsoles, 8);
    /* a registers again, same incarnation (it was only silent): alive,
     * its consoles kept. The index is taken by c now, so it needs
     * another one. */
    ck_assert_int_eq(reg("a", 5, 1, 4, NULL), DIR_APPLIED);
    ck_assert(dir_node_find(&d, "a")->n.alive);
    ck_assert_uint_eq(dir_node_find(&d, "a")->nconsoles, 8);
    /* a restarts (new incarnation): its 8 consoles are dropped, each
     * published as removed; b's and c's stay. */
    n0 = pubs.n;
    ck_assert_int_eq(reg("a", 5, 2, 5, NULL), DIR_APPLIED);
    ck_assert_uint_eq(pubs.n, n0 + 8 + 1);
    for (size_t i = n0; i < n0 + 8; i++)
        ck_assert_int_eq(pubs.u[i].change, WIRE_CHANGE_REMOVED);
    ck_assert_int_eq(pubs.u[n0 + 8].change, WIRE_CHANGE_NODE);
    ck_assert_uint_eq(dir_console_count(&d), 2);
    ck_assert_str_eq(get(3)->owner, "b");
    ck_assert_str_eq(get(4)->owner, "c");
    ck_assert_uint_eq(d.stats.restarts, 1);
    ck_assert_uint_eq(d.stats.deaths, 1);
}
END_TEST

START_TEST(test_limits)
{
    teardown();
    setup(4, 3, 5);
    reg("a", 1, 1, 0, NULL);
    reg("b", 2, 1, 0, NULL);
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(ann(k, "a", 1, 1, 0), DIR_APPLIED);
    ck_assert_int_eq(ann(3, "a", 1, 1, 0), DIR_LIMIT);
    /* Updates of what it holds are fine at the limit. */
    ck_assert_int_eq(ann(2, "a", 1, 2, 0), DIR_APPLIED);
    ck_assert_int_eq(ann(10, "b", 2, 1, 0), DIR_APPLIED);
    ck_assert_int_eq(ann(11, "b", 2, 1, 0), DIR_APPLIED);
    /* The total (5) is reached. */
    ck_assert_int_eq(ann(12, "b", 2, 1, 0), DIR_LIMIT);
    /* Taking one of a's over does not grow the total, but b is at 2 of 3:
     * fine; then b is at 3. */
    ck_assert_int_eq(ann(0, "b", 2, 2, 0), DIR_APPLIED);
    ck_assert_int_eq(ann(1, "b", 2, 2, 0), DIR_LIMIT);
    ck_assert_uint_eq(dir_console_count(&d), 5);
    ck_assert_uint_eq(d.stats.results[DIR_LIMIT], 3);
    /* Room again after a withdraw. */
    ck_assert_int_eq(wd(10, "b", epoch_make(1, 2), 0), DIR_APPLIED);
    ck_assert_int_eq(ann(1, "b", 2, 2, 0), DIR_APPLIED);
}
END_TEST

START_TEST(test_many)
{
    /* Growth of the table under 20000 consoles, then all withdrawn. */
    reg("a", 1, 1, 0, NULL);
    for (int k = 0; k < 20000; k++)
        ck_assert_int_eq(ann(k, "a", 1, 1, 0), DIR_APPLIED);
    ck_assert_uint_eq(dir_console_count(&d), 20000);
    for (int k = 0; k < 20000; k++)
        ck_assert_ptr_nonnull(get(k));
    for (int k = 0; k < 20000; k += 2)
        ck_assert_int_eq(wd(k, "a", epoch_make(1, 1), 0), DIR_APPLIED);
    ck_assert_uint_eq(dir_console_count(&d), 10000);
    ck_assert_ptr_null(get(0));
    ck_assert_ptr_nonnull(get(1));
}
END_TEST

static void
big_setup(void)
{
    setup_default();
}

static Suite *
directory_suite(void)
{
    Suite *s = suite_create("directory");
    TCase *tc = tcase_create("rules");
    TCase *big = tcase_create("many");

    tcase_add_checked_fixture(tc, setup_default, teardown);
    tcase_add_test(tc, test_register);
    tcase_add_test(tc, test_max_nodes);
    tcase_add_test(tc, test_epoch_rule);
    tcase_add_test(tc, test_withdraw);
    tcase_add_test(tc, test_dead_node);
    tcase_add_test(tc, test_limits);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(big, big_setup, teardown);
    tcase_add_test(big, test_many);
    suite_add_tcase(s, big);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(directory_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
