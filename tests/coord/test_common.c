/*
 * test_common.c: Check suite for the small common modules the coordinator
 * and its client use: strmap (against a model, through growth and
 * removals during a walk), ratelog (one line per key per interval, the
 * suppressed count, eviction when full) and the coordinator's option
 * table (defaults, bounds, the endpoint syntax).
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vspc/ratelog.h"
#include "vspc/strmap.h"
#include "config.h"

struct item {
    struct smap_node hn;
    char key[24];
    int v;
};

static void
del_odd(struct smap_node *n, void *arg)
{
    struct smap *m = arg;
    struct item *it = smap_entry(n, struct item, hn);

    if (it->v % 2)
        smap_del(m, n);
}

START_TEST(test_strmap)
{
    enum { N = 5000 };
    struct item *items = calloc(N, sizeof(*items));
    struct smap m;
    size_t seen = 0;

    ck_assert_int_eq(smap_init(&m), 0);
    for (int i = 0; i < N; i++) {
        snprintf(items[i].key, sizeof(items[i].key), "k%d", i);
        items[i].v = i;
        ck_assert_int_eq(smap_put(&m, &items[i].hn, items[i].key), 0);
        ck_assert_int_eq(smap_put(&m, &items[i].hn, items[i].key), -1);
    }
    ck_assert_uint_eq(smap_count(&m), N);
    ck_assert_uint_ge(smap_nbuckets(&m), N);
    ck_assert_uint_gt(smap_epoch(&m), 0);
    for (int i = 0; i < N; i++) {
        char k[24];
        struct smap_node *n;

        snprintf(k, sizeof(k), "k%d", i);
        n = smap_get(&m, k);
        ck_assert_ptr_nonnull(n);
        ck_assert_int_eq(smap_entry(n, struct item, hn)->v, i);
    }
    ck_assert_ptr_null(smap_get(&m, "k-1"));
    smap_foreach(&m, del_odd, &m);
    ck_assert_uint_eq(smap_count(&m), N / 2);
    for (size_t b = 0; b < smap_nbuckets(&m); b++)
        for (struct smap_node *n = smap_bucket(&m, b); n; n = n->next) {
            ck_assert_int_eq(smap_entry(n, struct item, hn)->v % 2, 0);
            seen++;
        }
    ck_assert_uint_eq(seen, N / 2);
    ck_assert_ptr_null(smap_get(&m, "k1"));
    ck_assert_ptr_nonnull(smap_get(&m, "k2"));
    smap_fini(&m);
    free(items);
}
END_TEST

START_TEST(test_ratelog)
{
    struct rlog rl;
    unsigned supp = 99;
    char key[8];

    rlog_init(&rl, 1.0);
    ck_assert(rlog_allow(&rl, "a", 1, 10.0, &supp));
    ck_assert_uint_eq(supp, 0);
    for (int i = 0; i < 5; i++)
        ck_assert(!rlog_allow(&rl, "a", 1, 10.5, &supp));
    ck_assert(rlog_allow(&rl, "b", 1, 10.5, &supp)); /* other key */
    ck_assert(rlog_allow(&rl, "a", 1, 11.0, &supp));
    ck_assert_uint_eq(supp, 5);
    ck_assert(!rlog_allow(&rl, "a", 1, 11.1, NULL));
    /* Full table: the least recently logged key is forgotten. */
    for (int i = 0; i < RLOG_SLOTS; i++) {
        snprintf(key, sizeof(key), "x%d", i);
        ck_assert(rlog_allow(&rl, key, strlen(key), 20.0 + i, NULL));
    }
    ck_assert(rlog_allow(&rl, "a", 1, 100.0, &supp));
    /* Long keys are cut, not overflowed. */
    {
        char longkey[100];

        memset(longkey, 'k', sizeof(longkey));
        ck_assert(rlog_allow(&rl, longkey, sizeof(longkey), 200, NULL));
        ck_assert(!rlog_allow(&rl, longkey, sizeof(longkey), 200.5, NULL));
    }
}
END_TEST

START_TEST(test_config)
{
    struct coord_cfg cfg;
    struct opt_loader ld;

    ccfg_loader_init(&ld, &cfg);
    ck_assert_str_eq(cfg.bind, "tcp://127.0.0.1:13380");
    ck_assert(cfg.heartbeat_timeout == 3.0);
    ck_assert_uint_eq(cfg.max_nodes, 256);
    ck_assert_uint_eq(cfg.max_per_node, 100000);
    ck_assert_uint_eq(cfg.max_consoles, 1000000);
    ck_assert_int_eq(ccfg_set_arg(&ld, "bind", "tcp://[::1]:24000"), 0);
    ck_assert_int_eq(ccfg_set_arg(&ld, "bind", "tcp://*:24000"), 0);
    ck_assert_int_eq(ccfg_set_arg(&ld, "heartbeat-timeout", "0.5"), 0);
    ck_assert(cfg.heartbeat_timeout == 0.5);
    ck_assert_int_eq(ld.n_errors, 0);
    ck_assert_int_eq(ccfg_set_arg(&ld, "bind", "tcp://127.0.0.1:65534"), -1);
    ck_assert_int_eq(ccfg_set_arg(&ld, "bind", "tcp://host:1"), -1);
    ck_assert_int_eq(ccfg_set_arg(&ld, "bind", "ipc:///x"), -1);
    ck_assert_int_eq(ccfg_set_arg(&ld, "heartbeat-timeout", "0"), -1);
    ck_assert_int_eq(ccfg_set_arg(&ld, "max-nodes", "257"), -1);
    ck_assert_int_eq(ccfg_set_arg(&ld, "max-nodes", "-1"), -1);
    ck_assert_int_eq(ccfg_set_arg(&ld, "log-level", "loud"), -1);
    ck_assert_int_eq(ccfg_set_arg(&ld, "nope", "1"), -1);
    ck_assert_uint_eq(ld.n_errors, 8);
    ck_assert_str_eq(cfg.bind, "tcp://*:24000");
    ck_assert_uint_eq(cfg.max_nodes, 256);
    ck_assert_ptr_nonnull(strstr(ccfg_errors(&ld),
                                 "--max-nodes: bad value \"257\": want 1 to "
                                 "256\n"));
    ck_assert_ptr_nonnull(strstr(ccfg_errors(&ld), "--nope: unknown option\n"));
    ccfg_loader_fini(&ld);
}
END_TEST

static Suite *
common_suite(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("common");

    tcase_add_test(tc, test_strmap);
    tcase_add_test(tc, test_ratelog);
    tcase_add_test(tc, test_config);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(common_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
