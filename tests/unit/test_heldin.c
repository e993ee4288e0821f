/*
 * test_heldin.c: Check suite for proxy/heldin.c: held operator input as
 * records (operator, offset in its input, bytes), taken in typing order.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "heldin.h"

/* Take everything; the concatenation and, per run, (op, seq) checked
 * against the expected runs. */
struct run {
    uint64_t op, seq;
    const char *bytes;
};

static void
expect_runs(struct hin_queue *q, const struct run *want, size_t nwant)
{
    size_t i = 0;

    while (hin_len(q) > 0) {
        const uint8_t *p;
        uint64_t op, seq;
        size_t n = hin_peek(q, &p, &op, &seq);

        ck_assert_uint_lt(i, nwant);
        ck_assert_uint_eq(op, want[i].op);
        ck_assert_uint_eq(seq, want[i].seq);
        ck_assert_uint_eq(n, strlen(want[i].bytes));
        ck_assert(memcmp(p, want[i].bytes, n) == 0);
        hin_take(q, n);
        i++;
    }
    ck_assert_uint_eq(i, nwant);
    ck_assert_uint_eq(q->nrecs, 0);
}

START_TEST(interleaved_operators_keep_order)
{
    struct hin_queue q;
    static const struct run want[] = {
        {1, 0, "abc"}, {2, 0, "XY"}, {1, 3, "de"}, {1, 10, "z"}};

    hin_init(&q);
    ck_assert_int_eq(hin_add(&q, 1, 0, (const uint8_t *)"ab", 2), 0);
    ck_assert_int_eq(hin_add(&q, 1, 2, (const uint8_t *)"c", 1), 0); /* same */
    ck_assert_int_eq(hin_add(&q, 2, 0, (const uint8_t *)"XY", 2), 0);
    ck_assert_int_eq(hin_add(&q, 1, 3, (const uint8_t *)"de", 2), 0);
    ck_assert_int_eq(hin_add(&q, 1, 10, (const uint8_t *)"z", 1), 0); /* gap */
    ck_assert_uint_eq(hin_len(&q), 8);
    ck_assert_uint_eq(q.nrecs, 4);
    expect_runs(&q, want, 4);
    hin_free(&q);
}
END_TEST

START_TEST(partial_take_and_big_input)
{
    struct hin_queue q;
    size_t n = 3 * HIN_REC_MAX + 17, got = 0;
    uint8_t *in = malloc(n);
    const uint8_t *p;
    uint64_t op, seq;

    ck_assert_ptr_nonnull(in);
    for (size_t i = 0; i < n; i++)
        in[i] = (uint8_t)(i * 7 + 1);
    hin_init(&q);
    ck_assert_int_eq(hin_add(&q, 5, 100, in, n), 0);
    ck_assert_uint_eq(q.nrecs, 4);
    /* Take 1 byte, then the rest run by run: offsets continue. */
    ck_assert_uint_gt(hin_peek(&q, &p, &op, &seq), 0);
    ck_assert_uint_eq(seq, 100);
    ck_assert_uint_eq(p[0], in[0]);
    hin_take(&q, 1);
    got = 1;
    while (hin_len(&q) > 0) {
        size_t k = hin_peek(&q, &p, &op, &seq);

        ck_assert_uint_eq(op, 5);
        ck_assert_uint_eq(seq, 100 + got);
        ck_assert(memcmp(p, in + got, k) == 0);
        hin_take(&q, k);
        got += k;
    }
    ck_assert_uint_eq(got, n);
    ck_assert_uint_eq(hin_peek(&q, &p, NULL, NULL), 0);
    ck_assert_ptr_null(p);
    hin_free(&q);
    free(in);
}
END_TEST

START_TEST(free_with_records)
{
    struct hin_queue q;

    hin_init(&q);
    for (uint64_t i = 0; i < 100; i++)
        ck_assert_int_eq(hin_add(&q, i % 3, i, (const uint8_t *)"k", 1), 0);
    ck_assert_uint_eq(hin_len(&q), 100);
    hin_take(&q, 0);
    ck_assert_uint_eq(hin_len(&q), 100);
    hin_free(&q); /* ASan: nothing leaks */
    ck_assert_uint_eq(hin_len(&q), 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("heldin");
    TCase *tc = tcase_create("records");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, interleaved_operators_keep_order);
    tcase_add_test(tc, partial_take_and_big_input);
    tcase_add_test(tc, free_with_records);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
