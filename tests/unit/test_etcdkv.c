/*
 * test_etcdkv.c: Check suite for the etcd store's layout (proxy/etcdkv.c)
 * and the gateway client's encodings (proxy/etcd.c: base64, int64s):
 * values byte-exact, epochs ordered byte-wise as etcd compares them,
 * keys parsed back, and everything malformed refused.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"
#include "etcdkv.h"

#define ID "0123456789abcdeffedcba9876543210"

static struct wire_console
console(uint64_t epoch)
{
    struct wire_console c;

    memset(&c, 0, sizeof(c));
    snprintf(c.id, sizeof(c.id), "%s", ID);
    snprintf(c.vm_name, sizeof(c.vm_name), "web \"01\"");
    snprintf(c.state, sizeof(c.state), "connected");
    snprintf(c.hv_addr, sizeof(c.hv_addr), "10.0.0.5:4021");
    snprintf(c.owner, sizeof(c.owner), "n2");
    c.owner_index = (uint8_t)(epoch & 0xff);
    c.epoch = epoch;
    return c;
}

START_TEST(test_console_roundtrip)
{
    struct wire_console c = console((77u << 8) | 2), d;
    char v[EKV_VALUE_MAX], err[160];
    size_t n;
    const char *want = "00000000000000019714 {\"vm\":\"web \\\"01\\\"\","
                       "\"state\":\"connected\",\"hv\":\"10.0.0.5:4021\","
                       "\"owner\":\"n2\",\"index\":2}";

    ck_assert_int_eq(ekv_console_encode(&c, v, sizeof(v), &n), 0);
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_mem_eq(v, want, n);
    ck_assert_int_eq(ekv_console_decode(ID, v, n, &d, err, sizeof(err)), 0);
    ck_assert_mem_eq(&c, &d, sizeof(c));
    /* Too small a buffer: refused, not cut. */
    ck_assert_int_eq(ekv_console_encode(&c, v, 40, &n), -1);
}
END_TEST

/* etcd's VALUE compare: bytes.Compare(value, bound) < 0. */
static bool
etcd_less(const char *v, size_t vl, const char *bound)
{
    size_t bl = strlen(bound);
    int c = memcmp(v, bound, vl < bl ? vl : bl);

    return c < 0 || (c == 0 && vl < bl);
}

START_TEST(test_epoch_order)
{
    /* etcd compares values byte-wise: the padded epoch orders them, and a
     * value with epoch E is below the bound of E but not of E - 1. */
    char a[EKV_EPOCH_DIGITS + 1], b[EKV_EPOCH_DIGITS + 1];
    char v[EKV_VALUE_MAX];
    size_t n;
    struct wire_console c = console((9u << 8) | 2);
    const uint64_t es[] = {
        0, 1, 255, 256, 99999, 100000, UINT64_MAX / 3, UINT64_MAX - 1};

    for (size_t i = 0; i + 1 < sizeof(es) / sizeof(es[0]); i++) {
        ekv_epoch_str(a, es[i]);
        ekv_epoch_str(b, es[i + 1]);
        ck_assert_int_lt(strcmp(a, b), 0);
    }
    ck_assert_int_eq(ekv_console_encode(&c, v, sizeof(v), &n), 0);
    /* "stored epoch <= E": true for E = the epoch and above, not below. */
    ekv_epoch_above(a, c.epoch);
    ck_assert(etcd_less(v, n, a));
    ekv_epoch_above(a, c.epoch + 1000);
    ck_assert(etcd_less(v, n, a));
    ekv_epoch_above(b, c.epoch - 1);
    ck_assert(!etcd_less(v, n, b));
    ekv_epoch_above(b, 0);
    ck_assert(!etcd_less(v, n, b));
    ekv_epoch_above(a, UINT64_MAX);
    ck_assert_str_eq(a, "99999999999999999999");
    ekv_epoch_str(b, UINT64_MAX);
    ck_assert_str_eq(b, "18446744073709551615");
}
END_TEST

START_TEST(test_console_bad)
{
    struct wire_console d;
    char err[160];
    const char *bad[] = {
        "",
        "00000000000000019714",
        "0000000000000001971x {}",
        "00000000000000019714{}",
        "00000000000000019714 []",
        "00000000000000019714 {\"vm\":\"\",\"state\":\"connected\"}",
        /* index not the epoch's */
        "00000000000000019714 {\"vm\":\"\",\"state\":\"c\",\"hv\":\"\","
        "\"owner\":\"n2\",\"index\":3}",
        /* wrong type */
        "00000000000000019714 {\"vm\":1,\"state\":\"c\",\"hv\":\"\","
        "\"owner\":\"n2\",\"index\":2}",
        /* duplicate key */
        "00000000000000019714 {\"vm\":\"\",\"vm\":\"\",\"state\":\"c\","
        "\"hv\":\"\",\"owner\":\"n2\",\"index\":2}",
        /* index out of range */
        "00000000000000019714 {\"vm\":\"\",\"state\":\"c\",\"hv\":\"\","
        "\"owner\":\"n2\",\"index\":258}",
        /* beyond uint64 */
        "99999999999999999999 {\"vm\":\"\",\"state\":\"c\",\"hv\":\"\","
        "\"owner\":\"n2\",\"index\":2}",
        /* a NUL inside a string */
        "00000000000000019714 {\"vm\":\"a\\u0000b\",\"state\":\"c\","
        "\"hv\":\"\",\"owner\":\"n2\",\"index\":2}",
    };
    char big[EKV_VALUE_MAX + 10];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_msg(ekv_console_decode(ID, bad[i], strlen(bad[i]), &d, err,
                                         sizeof(err)) == -1,
                      "accepted %s", bad[i]);
        ck_assert(err[0] != '\0');
    }
    memset(big, ' ', sizeof(big));
    memcpy(big, "00000000000000019714 ", 21);
    ck_assert_int_eq(
        ekv_console_decode(ID, big, sizeof(big), &d, err, sizeof(err)), -1);
    /* A key name that is no console id. */
    {
        const char *ok = "00000000000000019714 {\"vm\":\"\",\"state\":\"c\","
                         "\"hv\":\"\",\"owner\":\"n2\",\"index\":2}";

        ck_assert_int_eq(
            ekv_console_decode(ID, ok, strlen(ok), &d, err, sizeof(err)), 0);
        ck_assert_int_eq(ekv_console_decode("not an id!", ok, strlen(ok), &d,
                                            err, sizeof(err)),
                         -1);
    }
}
END_TEST

START_TEST(test_node)
{
    struct wire_node n, d;
    char v[EKV_VALUE_MAX], err[160];
    size_t len;

    memset(&n, 0, sizeof(n));
    snprintf(n.node_id, sizeof(n.node_id), "n3");
    n.node_index = 3;
    snprintf(n.peer_addr, sizeof(n.peer_addr), "127.0.0.1:13390");
    ck_assert_int_eq(ekv_node_encode(&n, v, sizeof(v), &len), 0);
    ck_assert_str_eq(v, "{\"index\":3,\"peer\":\"127.0.0.1:13390\"}");
    ck_assert_int_eq(ekv_node_decode("n3", v, len, &d, err, sizeof(err)), 0);
    ck_assert_mem_eq(&n, &d, sizeof(n));
    ck_assert_int_eq(ekv_node_decode("n 3", v, len, &d, err, sizeof(err)), -1);
    ck_assert_int_eq(ekv_node_decode("n3", "{\"index\":3,\"peer\":\"x y:1\"}",
                                     26, &d, err, sizeof(err)),
                     -1);
    ck_assert_int_eq(ekv_node_decode("n3", "{\"index\":-1,\"peer\":\"a:1\"}",
                                     26, &d, err, sizeof(err)),
                     -1);
    ck_assert_int_eq(ekv_node_decode("n3", "[]", 2, &d, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_keys)
{
    char k[EKV_KEY_MAX + 1], name[WIRE_CONSOLE_ID_MAX + 1], end[80];

    ck_assert(ekv_prefix_ok("/vspc/"));
    ck_assert(ekv_prefix_ok("/site-a/vspc/"));
    ck_assert(!ekv_prefix_ok("/vspc"));
    ck_assert(!ekv_prefix_ok(""));
    ck_assert(!ekv_prefix_ok("/v spc/"));
    ck_assert_int_eq(ekv_key(k, sizeof(k), "/vspc/", EKV_CONSOLE, ID), 0);
    ck_assert_str_eq(k, "/vspc/consoles/" ID);
    ck_assert_int_eq(ekv_parse_key("/vspc/", k, strlen(k), name, sizeof(name)),
                     EKV_CONSOLE);
    ck_assert_str_eq(name, ID);
    ck_assert_int_eq(ekv_key(k, sizeof(k), "/vspc/", EKV_ALIVE, "n1"), 0);
    ck_assert_int_eq(ekv_parse_key("/vspc/", k, strlen(k), name, sizeof(name)),
                     EKV_ALIVE);
    ck_assert_str_eq(name, "n1");
    ck_assert_int_eq(
        ekv_parse_key("/vspc/", "/vspc/index/7", 13, name, sizeof(name)),
        EKV_INDEX);
    ck_assert_str_eq(name, "7");
    ck_assert_int_eq(
        ekv_parse_key("/vspc/", "/vspc/nodes/n2", 14, name, sizeof(name)),
        EKV_NODE);
    /* Not ours: another prefix, an empty name, a NUL, an unknown dir. */
    ck_assert_int_eq(
        ekv_parse_key("/vspc/", "/other/nodes/n2", 15, name, sizeof(name)),
        EKV_OTHER);
    ck_assert_int_eq(
        ekv_parse_key("/vspc/", "/vspc/nodes/", 12, name, sizeof(name)),
        EKV_OTHER);
    ck_assert_int_eq(
        ekv_parse_key("/vspc/", "/vspc/nodes/a\0b", 15, name, sizeof(name)),
        EKV_OTHER);
    ck_assert_int_eq(
        ekv_parse_key("/vspc/", "/vspc/junk/a", 12, name, sizeof(name)),
        EKV_OTHER);
    ck_assert_int_eq(ekv_key(k, 10, "/vspc/", EKV_CONSOLE, ID), -1);
    ck_assert_int_eq(ekv_range_end(end, sizeof(end), "/vspc/"), 0);
    ck_assert_str_eq(end, "/vspc0");
}
END_TEST

START_TEST(test_b64)
{
    json_t *s;
    char out[64];
    size_t n;
    const char raw[] = "a\0b\xff/vspc/";

    for (size_t len = 0; len < sizeof(raw); len++) {
        s = etcd_b64(raw, len);
        ck_assert_ptr_nonnull(s);
        ck_assert_int_eq(etcd_unb64(s, out, sizeof(out), &n), 0);
        ck_assert_uint_eq(n, len);
        ck_assert_mem_eq(out, raw, len);
        json_decref(s);
    }
    s = json_string("L3ZzcGMveA==");
    ck_assert_int_eq(etcd_unb64(s, out, sizeof(out), &n), 0);
    ck_assert_str_eq(out, "/vspc/x");
    ck_assert_int_eq(etcd_unb64(s, out, 7, &n), -1); /* no room for the NUL */
    json_decref(s);
    s = json_string("L3ZzcGMveA=");
    ck_assert_int_eq(etcd_unb64(s, out, sizeof(out), &n), -1);
    json_decref(s);
    s = json_string("!!!!");
    ck_assert_int_eq(etcd_unb64(s, out, sizeof(out), &n), -1);
    json_decref(s);
    ck_assert_int_eq(etcd_unb64(NULL, out, sizeof(out), &n), 0);
    ck_assert_uint_eq(n, 0);
    s = json_integer(5);
    ck_assert_int_eq(etcd_unb64(s, out, sizeof(out), &n), -1);
    json_decref(s);
    s = json_string("5892575555690109447");
    ck_assert_int_eq(etcd_int(s), INT64_C(5892575555690109447));
    json_decref(s);
    s = json_string("12x");
    ck_assert_int_eq(etcd_int(s), 0);
    json_decref(s);
}
END_TEST

START_TEST(test_endpoints)
{
    char err[200];

    ck_assert_int_eq(
        etcd_endpoint_check("http://127.0.0.1:2379", err, sizeof(err)), 0);
    ck_assert_int_eq(etcd_endpoint_check("http://[::1]:2379", err, sizeof(err)),
                     0);
    ck_assert_int_eq(
        etcd_endpoint_check("https://127.0.0.1:2379", err, sizeof(err)), -1);
    ck_assert_int_eq(
        etcd_endpoint_check("http://etcd.example:2379", err, sizeof(err)), -1);
    ck_assert_int_eq(
        etcd_endpoint_check("http://127.0.0.1:2379/v3", err, sizeof(err)), -1);
    ck_assert_int_eq(etcd_endpoint_check("http://127.0.0.1", err, sizeof(err)),
                     -1);
}
END_TEST

static Suite *
etcdkv_suite(void)
{
    Suite *s = suite_create("etcdkv");
    TCase *tc = tcase_create("layout");

    tcase_add_test(tc, test_console_roundtrip);
    tcase_add_test(tc, test_epoch_order);
    tcase_add_test(tc, test_console_bad);
    tcase_add_test(tc, test_node);
    tcase_add_test(tc, test_keys);
    suite_add_tcase(s, tc);
    tc = tcase_create("gateway");
    tcase_add_test(tc, test_b64);
    tcase_add_test(tc, test_endpoints);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(etcdkv_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
