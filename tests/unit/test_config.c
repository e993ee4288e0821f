/*
 * test_config.c: Check suite for vspc-proxy's option table and INI reader
 * (proxy/config.c): every key's happy path, errors with FILE:LINE, the
 * command line over the file, repeatable keys, booleans, derived TLS
 * defaults and the table's own defaults.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vspc/log.h"
#include "audit.h"
#include "config.h"
#include "proxy.h"

static struct proxy_cfg cfg;
static struct opt_loader ld;
static char path[64];

static void
setup(void)
{
    cfg_loader_init(&ld, &cfg);
    path[0] = '\0';
}

static void
teardown(void)
{
    cfg_loader_fini(&ld);
    cfg_free(&cfg);
    if (path[0])
        unlink(path);
}

/* Write text to a fresh temporary file (its name in path), load it. */
static int
load(const char *text)
{
    int fd;
    size_t n = strlen(text);

    if (path[0])
        unlink(path);
    snprintf(path, sizeof(path), "/tmp/vspc-test-cfg-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    return cfg_load_file(&ld, path);
}

/* The errors hold "PATH:LINE: what". */
static void
assert_error_at(int line, const char *what)
{
    char want[256];

    snprintf(want, sizeof(want), "%s:%d: %s", path, line, what);
    ck_assert_msg(strstr(cfg_errors(&ld), want) != NULL,
                  "want \"%s\" in errors:\n%s", want, cfg_errors(&ld));
}

/* ---- defaults ------------------------------------------------------------
 */

START_TEST(defaults_from_table)
{
    struct proxy_cfg d;

    proxy_cfg_defaults(&d);
    ck_assert_str_eq(d.vm_listen, "0.0.0.0:13370");
    ck_assert_str_eq(d.operator_listen, "127.0.0.1:13371");
    ck_assert_str_eq(d.http_listen, "127.0.0.1:13372");
    ck_assert_str_eq(d.tls_listen, "");
    ck_assert_str_eq(d.node_id, "node1");
    ck_assert_uint_eq(d.node_index, 0);
    ck_assert(d.vmotion_timeout == 30.0);
    ck_assert(d.idle_timeout == 60.0);
    ck_assert(d.console_expire == 86400.0);
    ck_assert_uint_eq(d.scrollback, 65536);
    ck_assert_uint_eq(d.op_queue_max, 262144);
    ck_assert_uint_eq(d.escape_char, 0x05);
    ck_assert_int_eq(d.slow_reader, STRM_PACE);
    ck_assert(d.stall_timeout == 1.0);
    ck_assert(!d.refuse_vmotion && !d.proxy_protocol);
    ck_assert(!d.log_timestamps);
    ck_assert_uint_eq(d.log_rotate_bytes, 16u * 1024 * 1024);
    ck_assert_uint_eq(d.log_keep, 5);
    ck_assert_uint_eq(d.audit_max, AUD_DEFAULT_MAX);
    ck_assert_int_eq(d.log_level, LOG_LVL_INFO);
    ck_assert_ptr_null(d.log_dir);
    ck_assert_ptr_null(d.tls_cert);
    ck_assert_uint_eq(d.n_service_uris, 0);
    ck_assert_uint_eq(d.n_allow, 0);
    ck_assert(!d.owns_strings);
    cfg_free(&d); /* a no-op on a config it does not own */
}
END_TEST

START_TEST(table_names_unique)
{
    for (size_t i = 0; i < cfg_n_opts; i++) {
        ck_assert_ptr_eq(cfg_find(cfg_opts[i].name), &cfg_opts[i]);
        ck_assert_ptr_nonnull(cfg_opts[i].want);
    }
    ck_assert_ptr_null(cfg_find("config"));
    ck_assert_ptr_null(cfg_find("nope"));
}
END_TEST

/* ---- every key ------------------------------------------------------------
 */

START_TEST(every_key)
{
    ck_assert_int_eq(load("# vspc-proxy\n"
                          "[proxy]\n"
                          "vm-listen = 127.0.0.1:25800\n"
                          "operator-listen = [::1]:25801\n"
                          "http-listen = none\n"
                          "tls-cert = /etc/vspc/cert.pem\n"
                          "tls-key = /etc/vspc/key.pem\n"
                          "tls-listen = 127.0.0.1:25802\n"
                          "proxy-protocol = yes\n"
                          "allow = 10.0.0.0/8\n"
                          "allow = 2001:db8::/32\n"
                          "service-uri = vSPC.py\n"
                          "node-id = node7\n"
                          "node-index = 255\n"
                          "vmotion-timeout = 2.5\n"
                          "refuse-vmotion = true\n"
                          "idle-timeout = 7\n"
                          "console-expire = 3600\n"
                          "scrollback = 0\n"
                          "escape-char = ^]\n"
                          "slow-reader = disconnect\n"
                          "stall-timeout = 0.25\n"
                          "operator-queue = 4096\n"
                          "log-dir = /var/log/vspc\n"
                          "log-timestamps = 1\n"
                          "log-rotate-bytes = 0\n"
                          "log-keep = 1000\n"
                          "audit-records = 0\n"
                          "log-level = debug\n"),
                     0);
    ck_assert_int_eq(cfg_validate(&ld), 0);
    ck_assert_str_eq(cfg_errors(&ld), "");
    ck_assert_str_eq(cfg.vm_listen, "127.0.0.1:25800");
    ck_assert_str_eq(cfg.operator_listen, "[::1]:25801");
    ck_assert_str_eq(cfg.http_listen, "");
    ck_assert_str_eq(cfg.tls_cert, "/etc/vspc/cert.pem");
    ck_assert_str_eq(cfg.tls_key, "/etc/vspc/key.pem");
    ck_assert_str_eq(cfg.tls_listen, "127.0.0.1:25802");
    ck_assert(cfg.proxy_protocol);
    ck_assert_uint_eq(cfg.n_allow, 2);
    ck_assert_int_eq(cfg.allow[1].af, AF_INET6);
    ck_assert_uint_eq(cfg.allow[1].bits, 32);
    ck_assert_uint_eq(cfg.n_service_uris, 1);
    ck_assert_str_eq(cfg.service_uris[0], "vSPC.py");
    ck_assert_str_eq(cfg.node_id, "node7");
    ck_assert_uint_eq(cfg.node_index, 255);
    ck_assert(cfg.vmotion_timeout == 2.5);
    ck_assert(cfg.refuse_vmotion);
    ck_assert(cfg.idle_timeout == 7.0);
    ck_assert(cfg.console_expire == 3600.0);
    ck_assert_uint_eq(cfg.scrollback, 0);
    ck_assert_uint_eq(cfg.escape_char, 0x1d);
    ck_assert_int_eq(cfg.slow_reader, STRM_DISCONNECT);
    ck_assert(cfg.stall_timeout == 0.25);
    ck_assert_uint_eq(cfg.op_queue_max, 4096);
    ck_assert_str_eq(cfg.log_dir, "/var/log/vspc");
    ck_assert(cfg.log_timestamps);
    ck_assert_uint_eq(cfg.log_rotate_bytes, 0);
    ck_assert_uint_eq(cfg.log_keep, 1000);
    ck_assert_uint_eq(cfg.audit_max, 0);
    ck_assert_int_eq(cfg.log_level, LOG_LVL_DEBUG);
}
END_TEST

/* Each key alone, from the command line: the same parser. */
START_TEST(every_key_cmdline)
{
    static const char *const kv[][2] = {
        {"vm-listen", "0.0.0.0:1"},
        {"operator-listen", "127.0.0.1:2"},
        {"http-listen", "[::]:3"},
        {"tls-listen", "none"},
        {"proxy-protocol", NULL},
        {"allow", "192.0.2.1"},
        {"service-uri", "x"},
        {"node-id", "n"},
        {"node-index", "0"},
        {"vmotion-timeout", "1e7"},
        {"refuse-vmotion", "no"},
        {"idle-timeout", "0.001"},
        {"console-expire", "1"},
        {"scrollback", "1073741824"},
        {"escape-char", "none"},
        {"slow-reader", "catchup"},
        {"stall-timeout", "0.5"},
        {"operator-queue", "1073741824"},
        {"log-dir", "d"},
        {"log-timestamps", NULL},
        {"log-rotate-bytes", "1099511627776"},
        {"log-keep", "1"},
        {"audit-records", "1000000"},
        {"log-level", "error"},
        {"tls-cert", "c.pem"},
        {"tls-key", "k.pem"},
    };

    for (size_t i = 0; i < VSPC_ARRAY_LEN(kv); i++)
        ck_assert_msg(cfg_set_arg(&ld, kv[i][0], kv[i][1]) == 0, "%s: %s",
                      kv[i][0], cfg_errors(&ld));
    ck_assert_int_eq(cfg_validate(&ld), 0);
    ck_assert(cfg.proxy_protocol && cfg.log_timestamps);
    ck_assert_uint_eq(cfg.escape_char, 0);
    ck_assert_uint_eq(cfg.log_rotate_bytes, (size_t)1 << 40);
    ck_assert_int_eq(cfg.log_level, LOG_LVL_ERROR);
    ck_assert_str_eq(cfg.tls_listen, ""); /* none given: stays off */
}
END_TEST

/* ---- booleans -------------------------------------------------------------
 */

START_TEST(booleans)
{
    static const struct {
        const char *v;
        bool want;
    } cases[] = {
        {"yes", true},    {"no", false},    {"true", true},
        {"false", false}, {"1", true},      {"0", false},
        {"YES", true},    {"False", false}, {NULL, true}, /* a bare flag */
    };

    for (size_t i = 0; i < VSPC_ARRAY_LEN(cases); i++) {
        cfg.refuse_vmotion = !cases[i].want;
        ck_assert_int_eq(cfg_set_arg(&ld, "refuse-vmotion", cases[i].v), 0);
        ck_assert(cfg.refuse_vmotion == cases[i].want);
    }
    ck_assert_int_eq(cfg_set_arg(&ld, "log-timestamps", "on"), -1);
    ck_assert_int_eq(cfg_set_arg(&ld, "log-timestamps", ""), -1);
    ck_assert_int_eq(cfg_set_arg(&ld, "log-timestamps", "2"), -1);
    ck_assert_ptr_nonnull(strstr(cfg_errors(&ld), "--log-timestamps: bad "
                                                  "value \"on\""));
}
END_TEST

START_TEST(booleans_in_file)
{
    ck_assert_int_eq(load("[proxy]\n"
                          "proxy-protocol = false\n"
                          "log-timestamps = TRUE\n"
                          "refuse-vmotion = 1\n"),
                     0);
    ck_assert(!cfg.proxy_protocol && cfg.log_timestamps && cfg.refuse_vmotion);
}
END_TEST

/* ---- errors ---------------------------------------------------------------
 */

START_TEST(errors_with_lines)
{
    ck_assert_int_eq(load("vm-listen = 127.0.0.1:1\n"      /* 1 */
                          "[proxy]\n"                      /* 2 */
                          "vm-listen = 127.0.0.1\n"        /* 3 */
                          "bogus = 1\n"                    /* 4 */
                          "node-index = 256\n"             /* 5 */
                          "scrollback = -1\n"              /* 6 */
                          "operator-queue = 4095\n"        /* 7 */
                          "log-keep = 0\n"                 /* 8 */
                          "idle-timeout = 0\n"             /* 9 */
                          "console-expire = nan\n"         /* 10 */
                          "escape-char = E\n"              /* 11 */
                          "slow-reader = drop\n"           /* 12 */
                          "log-level = trace\n"            /* 13 */
                          "allow = 10.0.0.0/33\n"          /* 14 */
                          "service-uri = vSPC.py?port=1\n" /* 15 */
                          "node-id =\n"                    /* 16 */
                          "just words\n"                   /* 17 */
                          "[other]\n"                      /* 18 */
                          "anything = goes\n"              /* 19 */
                          "[proxy\n"                       /* 20 */
                          "[proxy]\n"                      /* 21 */
                          "node-index = 1\n"               /* 22 */
                          "node-index = 2\n"               /* 23 */
                          "audit-records = 1000001\n"      /* 24 */
                          "vmotion-timeout = 10000001\n"), /* 25 */
                     -1);
    assert_error_at(1, "vm-listen: keys belong in a [proxy] section");
    assert_error_at(3, "vm-listen: bad value \"127.0.0.1\"");
    assert_error_at(4, "unknown key \"bogus\"");
    assert_error_at(5, "node-index: bad value \"256\": want 0 to 255");
    assert_error_at(6, "scrollback: bad value");
    assert_error_at(7, "operator-queue: bad value");
    assert_error_at(8, "log-keep: bad value");
    assert_error_at(9, "idle-timeout: bad value");
    assert_error_at(10, "console-expire: bad value");
    assert_error_at(11, "escape-char: bad value");
    assert_error_at(12, "slow-reader: bad value");
    assert_error_at(13, "log-level: bad value");
    assert_error_at(14, "allow: bad value");
    assert_error_at(15, "service-uri: bad value");
    assert_error_at(16, "node-id: bad value");
    assert_error_at(17, "syntax error");
    assert_error_at(18, "unknown section [other]");
    assert_error_at(20, "syntax error");
    /* A bad value counts as given. */
    assert_error_at(22, "node-index: given twice (first on line 5)");
    assert_error_at(23, "node-index: given twice (first on line 5)");
    assert_error_at(24, "audit-records: bad value");
    assert_error_at(25, "vmotion-timeout: bad value");
    ck_assert_uint_eq(ld.n_errors, 22);
    ck_assert_int_eq(cfg_validate(&ld), -1);
}
END_TEST

START_TEST(error_long_line)
{
    char text[600];

    snprintf(text, sizeof(text), "[proxy]\nlog-dir = /%0400d\nnode-id = x\n",
             0);
    ck_assert_int_eq(load(text), -1);
    assert_error_at(2, "line longer than");
    ck_assert_str_eq(cfg.node_id, "x"); /* the next line still counts */
}
END_TEST

START_TEST(error_no_file)
{
    ck_assert_int_eq(cfg_load_file(&ld, "/nonexistent/vspc.ini"), -1);
    ck_assert_ptr_nonnull(
        strstr(cfg_errors(&ld), "/nonexistent/vspc.ini: cannot open"));
}
END_TEST

START_TEST(error_cmdline)
{
    ck_assert_int_eq(cfg_set_arg(&ld, "vm-listen", "localhost:1"), -1);
    ck_assert_int_eq(cfg_set_arg(&ld, "node-index", NULL), -1);
    ck_assert_ptr_nonnull(strstr(cfg_errors(&ld), "--vm-listen: bad value"));
    ck_assert_ptr_nonnull(strstr(cfg_errors(&ld), "--node-index: needs"));
    ck_assert_uint_eq(ld.n_errors, 2);
}
END_TEST

START_TEST(comments_and_blanks)
{
    ck_assert_int_eq(load("\n; a comment\n# another\n[proxy]\n\n"
                          "   node-id = indented   ; trailing comment\n"
                          "\tlog-keep = 7\n"),
                     0);
    ck_assert_str_eq(cfg.node_id, "indented");
    ck_assert_uint_eq(cfg.log_keep, 7);
}
END_TEST

/* ---- cross-option checks --------------------------------------------------
 */

START_TEST(tls_key_needs_cert)
{
    ck_assert_int_eq(load("[proxy]\n\ntls-key = k.pem\n"), 0);
    ck_assert_int_eq(cfg_validate(&ld), -1);
    assert_error_at(3, "tls-key needs tls-cert");
}
END_TEST

/* The ownership store: etcd or the coordinator, not both; etcd's URLs
 * numeric http://; the prefix printable and ending in '/'. */
START_TEST(store_etcd)
{
    ck_assert_int_eq(load("[proxy]\netcd = http://127.0.0.1:2379\n"
                          "etcd = http://[::1]:2379\netcd-ttl = 5\n"),
                     0);
    ck_assert_int_eq(cfg_validate(&ld), 0);
    ck_assert_uint_eq(cfg.n_etcd, 2);
    ck_assert_str_eq(cfg.etcd[1], "http://[::1]:2379");
    ck_assert_str_eq(cfg.etcd_prefix, "/vspc/");
    ck_assert_uint_eq(cfg.etcd_ttl, 5);
}
END_TEST

START_TEST(store_etcd_errors)
{
    ck_assert_int_eq(load("[proxy]\netcd = http://etcd.example:2379\n"
                          "etcd = https://127.0.0.1:2379\netcd-ttl = 1\n"
                          "etcd-prefix = vspc\netcd = http://127.0.0.1:2379\n"
                          "coordinator = tcp://127.0.0.1:13380\n"),
                     -1);
    assert_error_at(2, "etcd");
    assert_error_at(3, "etcd");
    assert_error_at(4, "etcd-ttl");
    ck_assert_int_eq(cfg_validate(&ld), -1);
    assert_error_at(5, "etcd-prefix: printable");
    assert_error_at(6, "etcd and coordinator are two ownership stores");
}
END_TEST

START_TEST(tls_listen_needs_cert)
{
    ck_assert_int_eq(cfg_set_arg(&ld, "tls-listen", "0.0.0.0:1"), 0);
    ck_assert_int_eq(cfg_validate(&ld), -1);
    ck_assert_ptr_nonnull(
        strstr(cfg_errors(&ld), "--tls-listen needs tls-cert"));
}
END_TEST

START_TEST(tls_derived)
{
    ck_assert_int_eq(load("[proxy]\ntls-cert = both.pem\n"), 0);
    ck_assert_int_eq(cfg_validate(&ld), 0);
    ck_assert_str_eq(cfg.tls_key, "both.pem");
    ck_assert_ptr_ne(cfg.tls_key, cfg.tls_cert); /* its own copy */
    ck_assert_str_eq(cfg.tls_listen, "0.0.0.0:13369");
}
END_TEST

START_TEST(tls_listen_off)
{
    ck_assert_int_eq(load("[proxy]\ntls-cert = c.pem\ntls-listen = none\n"), 0);
    ck_assert_int_eq(cfg_validate(&ld), 0);
    ck_assert_str_eq(cfg.tls_listen, "");
}
END_TEST

/* ---- overrides and repeatable keys ----------------------------------------
 */

START_TEST(cmdline_overrides_file)
{
    ck_assert_int_eq(load("[proxy]\n"
                          "vm-listen = 127.0.0.1:25810\n"
                          "node-id = fromfile\n"
                          "log-dir = /file\n"
                          "refuse-vmotion = yes\n"),
                     0);
    ck_assert_int_eq(cfg_set_arg(&ld, "node-id", "fromargv"), 0);
    ck_assert_int_eq(cfg_set_arg(&ld, "log-dir", "/argv"), 0);
    ck_assert_int_eq(cfg_set_arg(&ld, "refuse-vmotion", "no"), 0);
    /* The command line may repeat an option: the last one wins. */
    ck_assert_int_eq(cfg_set_arg(&ld, "node-id", "last"), 0);
    ck_assert_int_eq(cfg_validate(&ld), 0);
    ck_assert_str_eq(cfg.vm_listen, "127.0.0.1:25810");
    ck_assert_str_eq(cfg.node_id, "last");
    ck_assert_str_eq(cfg.log_dir, "/argv");
    ck_assert(!cfg.refuse_vmotion);
}
END_TEST

START_TEST(repeatable_accumulate)
{
    ck_assert_int_eq(load("[proxy]\n"
                          "service-uri = a\n"
                          "service-uri = b\n"
                          "allow = 10.0.0.1\n"
                          "allow = 10.0.0.2\n"),
                     0);
    ck_assert_uint_eq(cfg.n_service_uris, 2);
    ck_assert_str_eq(cfg.service_uris[0], "a");
    ck_assert_str_eq(cfg.service_uris[1], "b");
    ck_assert_uint_eq(cfg.n_allow, 2);
}
END_TEST

START_TEST(repeatable_replaced_by_cmdline)
{
    ck_assert_int_eq(load("[proxy]\n"
                          "service-uri = a\n"
                          "service-uri = b\n"
                          "allow = 10.0.0.1\n"),
                     0);
    ck_assert_int_eq(cfg_set_arg(&ld, "service-uri", "c"), 0);
    ck_assert_int_eq(cfg_set_arg(&ld, "service-uri", "d"), 0);
    ck_assert_uint_eq(cfg.n_service_uris, 2);
    ck_assert_str_eq(cfg.service_uris[0], "c");
    ck_assert_str_eq(cfg.service_uris[1], "d");
    ck_assert_uint_eq(cfg.n_allow, 1); /* not named: the file's list */
}
END_TEST

START_TEST(repeatable_bounded)
{
    char v[16];

    for (int i = 0; i < PROXY_MAX_SERVICE_URIS; i++) {
        snprintf(v, sizeof(v), "u%d", i);
        ck_assert_int_eq(cfg_set_arg(&ld, "service-uri", v), 0);
    }
    ck_assert_int_eq(cfg_set_arg(&ld, "service-uri", "one-too-many"), -1);
    ck_assert_ptr_nonnull(strstr(cfg_errors(&ld), "--service-uri: at most"));
    for (int i = 0; i < PROXY_MAX_ALLOW; i++)
        ck_assert_int_eq(cfg_set_arg(&ld, "allow", "192.0.2.0/24"), 0);
    ck_assert_int_eq(cfg_set_arg(&ld, "allow", "192.0.2.0/24"), -1);
}
END_TEST

static Suite *
config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults_from_table);
    tcase_add_test(tc, table_names_unique);
    tcase_add_test(tc, every_key);
    tcase_add_test(tc, every_key_cmdline);
    tcase_add_test(tc, booleans);
    tcase_add_test(tc, booleans_in_file);
    tcase_add_test(tc, errors_with_lines);
    tcase_add_test(tc, error_long_line);
    tcase_add_test(tc, error_no_file);
    tcase_add_test(tc, error_cmdline);
    tcase_add_test(tc, comments_and_blanks);
    tcase_add_test(tc, tls_key_needs_cert);
    tcase_add_test(tc, tls_listen_needs_cert);
    tcase_add_test(tc, tls_derived);
    tcase_add_test(tc, tls_listen_off);
    tcase_add_test(tc, cmdline_overrides_file);
    tcase_add_test(tc, repeatable_accumulate);
    tcase_add_test(tc, repeatable_replaced_by_cmdline);
    tcase_add_test(tc, repeatable_bounded);
    tcase_add_test(tc, store_etcd);
    tcase_add_test(tc, store_etcd_errors);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(config_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
