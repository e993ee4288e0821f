/*
 * vmlog_cases_rotate.c: the "rotation" cases of the console log suite
 * (test_vmlog.c is the runner; helpers in vmlog_cases.h): rotation by
 * size under load and with timestamps, the number of files kept, and
 * reopen after logrotate moved the file.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmlog.h"
#include "vmlog_cases.h"

/* ---- rotation ------------------------------------------------------------ */

/* Letters with a '\n' now and then, and one long run without any. */
static uint8_t *
pattern(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n);
    uint32_t s = seed;

    for (size_t i = 0; i < n; i++) {
        uint32_t r = xs32(&s);

        if (i > n / 2 && i < n / 2 + 300000)
            p[i] = (uint8_t)('a' + r % 26);
        else
            p[i] = r % 61 == 0 ? '\n' : (uint8_t)('A' + r % 26);
    }
    return p;
}

/* Concatenate <id>.log.<N> ... <id>.log.1 <id>.log; *nfiles = N + 1. */
static uint8_t *
concat(const char *dir, const char *id, size_t *len, unsigned *nfiles,
       size_t max_file)
{
    char name[256];
    unsigned top = 0;
    uint8_t *all = NULL;
    size_t n = 0;

    for (;;) {
        snprintf(name, sizeof(name), "%s.log.%u", id, top + 1);
        if (!file_exists(dir, name))
            break;
        top++;
    }
    for (unsigned g = top + 1; g-- > 0;) {
        size_t k;
        uint8_t *part;

        if (g == 0)
            snprintf(name, sizeof(name), "%s.log", id);
        else
            snprintf(name, sizeof(name), "%s.log.%u", id, g);
        part = slurp(dir, name, &k);
        ck_assert_msg(part != NULL, "%s missing", name);
        ck_assert_msg(max_file == 0 || k <= max_file, "%s: %zu bytes", name, k);
        all = realloc(all, n + k + 1);
        memcpy(all + n, part, k);
        n += k;
        free(part);
    }
    *len = n;
    *nfiles = top + 1;
    return all;
}

START_TEST(test_rotation_under_load)
{
    const size_t total = 5u << 20, rot = 256u << 10;
    struct env e;
    uint8_t *in = pattern(total, 12345), *out;
    uint32_t s = 777;
    size_t off = 0, n;
    unsigned nfiles;
    struct vmlog_stats st;

    env_init(&e);
    env_log(&e, false, rot, 1000, 64u << 20);
    while (off < total) {
        uint32_t r = xs32(&s);
        size_t k = r % 16 == 0 ? 1 + r % 100000 : 1 + r % 8192;

        if (k > total - off)
            k = total - off;
        ck_assert_int_eq(vmlog_data(e.log, ID, in + off, k), 0);
        off += k;
    }
    env_sync(&e);
    vmlog_get_stats(e.log, &st);
    ck_assert_uint_eq(st.bytes_queued, total);
    ck_assert_uint_eq(st.bytes_written, total);
    ck_assert_uint_eq(st.bytes_dropped, 0);
    ck_assert_uint_eq(st.write_errors, 0);
    ck_assert_uint_ge(st.rotations, total / (rot + 65536));
    vmlog_free(&e.log);
    /* No file beyond rotate_bytes + 64 KiB. */
    out = concat(e.dir, ID, &n, &nfiles, rot + 65536);
    ck_assert_uint_eq(nfiles, st.rotations + 1);
    ck_assert_uint_eq(n, total);
    ck_assert(memcmp(in, out, total) == 0);
    /* Rotated files end at a line end, or at the hard size. */
    for (unsigned g = 1; g < nfiles; g++) {
        char name[256];
        size_t k;
        uint8_t *part;

        snprintf(name, sizeof(name), "%s.log.%u", ID, g);
        part = slurp(e.dir, name, &k);
        ck_assert(k >= rot);
        ck_assert_msg(part[k - 1] == '\n' || k == rot + 65536,
                      "%s ends mid-line at %zu", name, k);
        free(part);
    }
    free(in);
    free(out);
    env_fini(&e);
}
END_TEST

/* Remove the "[time] " at every line start; checks each stamp. */
static size_t
strip_stamps(const uint8_t *p, size_t n, uint8_t *out)
{
    size_t o = 0, i = 0;
    bool bol = true;

    while (i < n) {
        if (bol) {
            ck_assert_msg(i + TLEN + 3 <= n && p[i] == '[' &&
                              is_time(p + i + 1) && p[i + TLEN + 1] == ']' &&
                              p[i + TLEN + 2] == ' ',
                          "no stamp at %zu", i);
            i += TLEN + 3;
            bol = false;
            continue;
        }
        out[o++] = p[i];
        bol = p[i] == '\n';
        i++;
    }
    return o;
}

START_TEST(test_rotation_with_timestamps)
{
    const size_t total = 200000;
    struct env e;
    uint8_t *in = pattern(total, 99), *out, *plain;
    size_t off = 0, n, k;
    uint32_t s = 5;
    unsigned nfiles;

    /* No long run here: every rotation falls on a line start. */
    for (size_t i = 0; i < total; i++)
        if (i % 97 == 96)
            in[i] = '\n';
    env_init(&e);
    env_log(&e, true, 4096, 1000, 64u << 20);
    while (off < total) {
        k = 1 + xs32(&s) % 3000;
        if (k > total - off)
            k = total - off;
        ck_assert_int_eq(vmlog_data(e.log, ID, in + off, k), 0);
        off += k;
    }
    vmlog_free(&e.log);
    out = concat(e.dir, ID, &n, &nfiles, 0);
    ck_assert_uint_gt(nfiles, 10);
    /* Every file starts with a stamp. */
    for (unsigned g = 0; g < nfiles; g++) {
        char name[256];
        uint8_t *part;

        if (g == 0)
            snprintf(name, sizeof(name), "%s.log", ID);
        else
            snprintf(name, sizeof(name), "%s.log.%u", ID, g);
        part = slurp(e.dir, name, &k);
        ck_assert(k > TLEN + 3 && part[0] == '[' && is_time(part + 1));
        free(part);
    }
    plain = malloc(n);
    k = strip_stamps(out, n, plain);
    ck_assert_uint_eq(k, total);
    ck_assert(memcmp(plain, in, total) == 0);
    free(plain);
    free(in);
    free(out);
    env_fini(&e);
}
END_TEST

START_TEST(test_rotation_keep2)
{
    struct env e;
    char line[101], *in = malloc(10000);
    size_t n;
    unsigned nfiles;
    uint8_t *out;
    struct vmlog_stats st;

    env_init(&e);
    env_log(&e, false, 1024, 2, 1 << 20);
    for (int i = 0; i < 100; i++) {
        snprintf(line, sizeof(line), "%099d", i);
        line[99] = '\n';
        memcpy(in + i * 100, line, 100);
        ck_assert_int_eq(vmlog_data(e.log, ID, (uint8_t *)line, 100), 0);
    }
    env_sync(&e);
    vmlog_get_stats(e.log, &st);
    ck_assert_uint_ge(st.rotations, 8);
    vmlog_free(&e.log);
    ck_assert(file_exists(e.dir, ID ".log.1"));
    ck_assert(file_exists(e.dir, ID ".log.2"));
    ck_assert(!file_exists(e.dir, ID ".log.3"));
    out = concat(e.dir, ID, &n, &nfiles, 0);
    ck_assert_uint_eq(nfiles, 3);
    ck_assert_uint_lt(n, 10000);
    ck_assert(n >= 2 * 1024);
    ck_assert(memcmp(out, in + 10000 - n, n) == 0);
    free(out);
    free(in);
    env_fini(&e);
}
END_TEST

START_TEST(test_reopen_after_move)
{
    struct env e;
    char from[512], to[512];
    uint8_t *a, *b;
    size_t na, nb;
    struct vmlog_stats st;
    uint64_t reopens;

    env_init(&e);
    env_log(&e, false, 0, 1, 1 << 20);
    ck_assert_int_eq(vmlog_data(e.log, ID, (const uint8_t *)"before\n", 7), 0);
    env_sync(&e);
    snprintf(from, sizeof(from), "%s/%s.log", e.dir, ID);
    snprintf(to, sizeof(to), "%s/%s.log-20240101", e.dir, ID);
    ck_assert_int_eq(rename(from, to), 0);
    /* Still open: this goes to the moved file. */
    ck_assert_int_eq(vmlog_data(e.log, ID, (const uint8_t *)"late\n", 5), 0);
    vmlog_reopen(e.log);
    vmlog_reopen(e.log); /* coalesced unless the writer took the first */
    ck_assert_int_eq(vmlog_data(e.log, ID, (const uint8_t *)"after\n", 6), 0);
    env_sync(&e);
    vmlog_get_stats(e.log, &st);
    ck_assert(st.reopens == 1 || st.reopens == 2);
    vmlog_hold(e.log, true); /* now surely coalesced */
    vmlog_reopen(e.log);
    vmlog_reopen(e.log);
    vmlog_hold(e.log, false);
    reopens = st.reopens;
    env_sync(&e);
    vmlog_get_stats(e.log, &st);
    ck_assert_uint_eq(st.reopens, reopens + 1);
    vmlog_free(&e.log);
    a = slurp(e.dir, ID ".log-20240101", &na);
    b = slurp(e.dir, ID ".log", &nb);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq((char *)a, "before\nlate\n");
    ck_assert_str_eq((char *)b, "after\n");
    free(a);
    free(b);
    env_fini(&e);
}
END_TEST

void
vmlog_cases_rotate(Suite *s)
{
    TCase *tc = tcase_create("rotation");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rotation_under_load);
    tcase_add_test(tc, test_rotation_with_timestamps);
    tcase_add_test(tc, test_rotation_keep2);
    tcase_add_test(tc, test_reopen_after_move);
    suite_add_tcase(s, tc);
}
