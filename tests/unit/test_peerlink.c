/*
 * test_peerlink.c: Check suite for the peer link's connections (proxy/
 * peerlink.c): three pl instances in one process over real TCP on
 * 127.0.0.1 ports 24300-24339 and 24380-24399 (peerlink_harness.h), plus
 * raw sockets playing a misbehaving node. The hello handshake; duplicate
 * connections (both nodes dial at once, in both orders; a redial with the
 * same incarnation is refused, one with a new incarnation replaces the
 * link; a stale address cannot take a working link down); malformed,
 * oversized, wrong-version and out-of-order frames close only their
 * connection, and Data beyond the credit closes the link at the
 * subscriber; the stall timeout closes a link whose peer stopped reading,
 * with the output bound held.
 */
#include "vspc/compat.h"

#include "peerlink_harness.h"

START_TEST(hello_three_nodes)
{
    struct pl_link_stats st;
    char addr[64];

    three_nodes(24300, 0, 0);
    for (unsigned i = 0; i < 3; i++)
        for (unsigned j = 0; j < 3; j++) {
            if (i == j)
                continue;
            ck_assert_ptr_nonnull(link_of(i, j));
            ck_assert_str_eq(pl_link_node(link_of(i, j)), N[j].id);
            ck_assert_ptr_eq(pl_link_pl(link_of(i, j)), N[i].pl);
            pl_link_stats(link_of(i, j), &st);
            ck_assert_uint_eq(st.node_index, j);
            ck_assert_uint_eq(st.incarnation, 1000 + j);
            ck_assert(st.outgoing == (i < j)); /* 0->1, 1->2, 0->2 */
        }
    /* Idempotent: no second connection. */
    node_connect(0, 1);
    node_connect(1, 0);
    settle(20);
    ck_assert_uint_eq(N[0].ups + N[1].ups + N[2].ups, 6);
    /* Refused arguments. */
    ck_assert_int_eq(pl_connect(N[0].pl, "n0", addr_of(1, addr, 64)), -1);
    ck_assert_int_eq(pl_connect(N[0].pl, "n9", "localhost:1"), -1);
    ck_assert_int_eq(pl_connect(N[0].pl, "n 9", addr_of(1, addr, 64)), -1);
    ck_assert_ptr_null(pl_link_get(N[0].pl, "n9"));
    /* Nobody listening: connect_failed, no link. */
    ck_assert_int_eq(pl_connect(N[0].pl, "n9", addr_of(9, addr, 64)), 0);
    RUN_UNTIL(N[0].failed == 1);
    /* A stale address: "n7" dialed at n2's port. n2 already has n0's
     * connection (dialed by the same node): it keeps that one and closes
     * the new one without a hello; the working link stays up. */
    ck_assert_int_eq(pl_connect(N[0].pl, "n7", addr_of(2, addr, 64)), 0);
    RUN_UNTIL(N[0].failed == 2);
    settle(20);
    ck_assert_ptr_nonnull(link_of(0, 2));
    ck_assert_ptr_nonnull(link_of(2, 0));
    ck_assert_uint_eq(N[0].downs + N[1].downs + N[2].downs, 0);
    ck_assert_uint_ge(pl_stats(N[2].pl)->duplicates, 1);
    teardown_all();
}
END_TEST

START_TEST(duplicate_connections)
{
    for (int order = 0; order < 2; order++) {
        struct pl_link_stats a, b;

        setup_ports(24310 + 10 * order);
        node_start(0, 0, 0);
        node_start(1, 0, 0);
        /* Both dial in the same loop round. */
        node_connect(order ? 1 : 0, order ? 0 : 1);
        node_connect(order ? 0 : 1, order ? 1 : 0);
        RUN_UNTIL(N[0].ups == 1 && N[1].ups == 1);
        settle(50);
        /* One connection each side, the one node 0 (lower index) dialed,
         * never a link reported up then down. */
        ck_assert_uint_eq(N[0].ups, 1);
        ck_assert_uint_eq(N[1].ups, 1);
        ck_assert_uint_eq(N[0].downs + N[1].downs, 0);
        pl_link_stats(link_of(0, 1), &a);
        pl_link_stats(link_of(1, 0), &b);
        ck_assert(a.outgoing);
        ck_assert(!b.outgoing);
        ck_assert_str_eq(a.local, b.remote);
        ck_assert_str_eq(a.remote, b.local);
        ck_assert_uint_ge(
            pl_stats(N[0].pl)->duplicates + pl_stats(N[1].pl)->duplicates, 1);
        teardown_all();
    }
}
END_TEST

START_TEST(redial_same_and_new_incarnation)
{
    struct pl_link *old;

    setup_ports(24330);
    node_start(0, 0, 0);
    node_start(1, 0, 0);
    node_connect(0, 1);
    RUN_UNTIL(N[0].ups == 1 && N[1].ups == 1);
    old = link_of(0, 1);
    /* "n1" again, same incarnation, dialed by index 1: n0 keeps the
     * connection it dialed and closes this one without a hello. */
    raw_open(&R[0], port0, 0);
    raw_hello(&R[0], "n1", 1, PL_VERSION, 1001);
    RUN_UNTIL(raw_closed(&R[0]));
    ck_assert_uint_eq(R[0].n, 0);
    ck_assert_ptr_eq(link_of(0, 1), old);
    ck_assert_uint_eq(N[0].downs, 0);
    /* "n1" restarted (new incarnation): the new connection replaces the
     * old link: link_down(old) first, then link_up(new). */
    raw_open(&R[1], port0, 0);
    raw_hello(&R[1], "n1", 1, PL_VERSION, 4242);
    RUN_UNTIL(raw_next(&R[1]));
    ck_assert_int_eq(RF.type, PW_HELLO);
    ck_assert_uint_eq(N[0].downs, 1);
    ck_assert_ptr_nonnull(strstr(N[0].down_reason, "restarted"));
    ck_assert_uint_eq(N[0].ups, 2);
    ck_assert_ptr_ne(link_of(0, 1), old);
    RUN_UNTIL(N[1].downs == 1); /* the real n1 saw its link closed */
    raw_close(&R[0]);
    raw_close(&R[1]);
    teardown_all();
}
END_TEST

START_TEST(malformed_frames_close_only_their_link)
{
    static uint8_t junk[8192];
    struct pl_link *l01, *l02;
    struct ssub *s;
    uint64_t seed = 99, errs0;
    struct node *n1 = &N[1];
    struct pl_link *rl;
    uint64_t sub;

    three_nodes(24380, 0, 0);
    l01 = link_of(0, 1);
    l02 = link_of(0, 2);
    serve_total[0] = 16 * MIB;
    s = subscribe(1, 0, CON_A, 128 * 1024, false);
    RUN_UNTIL(s->received > 0);
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(seed = seed * 6364136223846793005ULL + 1) >> 3;

    /* 0: connects and says nothing (the hello timeout, checked last). */
    raw_open(&R[0], port0, 0);
    /* 1: garbage before any hello (a huge length). */
    raw_open(&R[1], port0, 0);
    raw_write(&R[1], "\xff\xff\xff\xff garbage", 12);
    RUN_UNTIL(raw_closed(&R[1]));
    ck_assert_uint_eq(R[1].n, 0); /* no hello for it */
    /* 2: a frame before the hello. */
    raw_open(&R[2], port0, 0);
    RF.type = PW_SUBSCRIBE;
    memset(&RF.u.subscribe, 0, sizeof(RF.u.subscribe));
    strcpy(RF.u.subscribe.console_id, CON_A);
    RF.u.subscribe.sub_id = 1;
    raw_frame(&R[2], &RF);
    RUN_UNTIL(raw_closed(&R[2]));
    ck_assert_uint_eq(R[2].n, 0);
    /* 3: a hello of another version: no answer. */
    raw_open(&R[3], port0, 0);
    raw_hello(&R[3], "n7", 7, 2, 1);
    RUN_UNTIL(raw_closed(&R[3]));
    ck_assert_uint_eq(R[3].n, 0);
    /* 4: after the hello, random bytes in a well-framed frame. */
    raw_join(&R[4], 0, "n7", 7);
    raw_body(&R[4], junk, 20);
    RUN_UNTIL(raw_closed(&R[4]));
    /* 5: after the hello, a PeerFrame of version 2. */
    raw_join(&R[5], 0, "n7", 7);
    raw_body(&R[5], "\x08\x02", 2);
    RUN_UNTIL(raw_closed(&R[5]));
    /* 6: credit for a subscription never made. */
    raw_join(&R[6], 0, "n7", 7);
    RF.type = PW_CREDIT;
    RF.u.credit = (struct pw_credit){.sub_id = 5, .bytes = 10};
    raw_frame(&R[6], &RF);
    RUN_UNTIL(raw_closed(&R[6]));
    /* 7: input beyond the window. */
    raw_join(&R[7], 0, "n7", 7);
    memset(N[0].in_len, 0, sizeof(N[0].in_len));
    RF.type = PW_INPUT;
    memset(&RF.u.input, 0, offsetof(struct pw_input, bytes));
    strcpy(RF.u.input.console_id, CON_A);
    strcpy(RF.u.input.operator_id, "op1");
    RF.u.input.len = PW_INPUT_MAX;
    for (int i = 0; i <= PL_INPUT_WINDOW / PW_INPUT_MAX; i++) {
        RF.type = PW_INPUT;
        RF.u.input.seq = (uint64_t)i * PW_INPUT_MAX;
        raw_frame(&R[7], &RF);
    }
    RUN_UNTIL(raw_closed(&R[7]));
    ck_assert_uint_eq(N[0].in_len[0], PL_INPUT_WINDOW); /* not a byte more */
    /* 8: an oversized length after the hello. */
    raw_join(&R[8], 0, "n7", 7);
    raw_write(&R[8], "\x00\x01\x00\x01", 4); /* 65537 > max_frame */
    RUN_UNTIL(raw_closed(&R[8]));
    /* 9: a truncated frame, then the peer goes away. */
    raw_join(&R[9], 0, "n7", 7);
    raw_write(&R[9], "\x00\x00\x00\x64 half", 9);
    raw_close(&R[9]);
    /* 10: an owner that sends Data beyond the credit n1 granted. */
    raw_join(&R[10], 1, "n8", 8);
    RUN_UNTIL((rl = pl_link_get(n1->pl, "n8")) != NULL);
    sub = pl_subscribe(rl, CON_A, 0, 1, 100);
    ck_assert_uint_ne(sub, 0);
    n1->ss[n1->n_ss++] = (struct ssub){
        .l = rl, .id = sub, .seed = 1, .granted = 100, .stalled = true};
    RUN_UNTIL(raw_next(&R[10]));
    ck_assert_int_eq(RF.type, PW_SUBSCRIBE);
    ck_assert_uint_eq(RF.u.subscribe.credit, 100);
    RF.type = PW_DATA;
    RF.u.data = (struct pw_data){.sub_id = sub, .epoch = 1, .len = 101};
    for (size_t i = 0; i < 101; i++)
        RF.u.data.bytes[i] = pat(1, i);
    raw_frame(&R[10], &RF);
    RUN_UNTIL(raw_closed(&R[10]));
    ck_assert_uint_eq(n1->ss[n1->n_ss - 1].received, 0);
    ck_assert_uint_eq(n1->ss[n1->n_ss - 1].lost, 1); /* sub_lost */
    /* 0 again: closed by the hello timeout. */
    RUN_UNTIL(raw_closed(&R[0]));

    errs0 = pl_stats(N[0].pl)->protocol_errors;
    ck_assert_uint_ge(errs0, 8);
    ck_assert_uint_ge(pl_stats(N[1].pl)->protocol_errors, 1);
    ck_assert_uint_ge(pl_stats(N[0].pl)->decode_errors[-PW_E_OVERSIZE], 2);
    ck_assert_uint_ge(pl_stats(N[0].pl)->decode_errors[-PW_E_VERSION], 1);
    /* The real links never moved, and the stream completes. */
    ck_assert_ptr_eq(link_of(0, 1), l01);
    ck_assert_ptr_eq(link_of(0, 2), l02);
    RUN_UNTIL(s->received == 16 * MIB);
    ck_assert_uint_eq(N[2].downs, 0);
    ck_assert_uint_eq(N[1].downs, 1);            /* n8 only */
    ck_assert_uint_eq(N[0].downs, N[0].ups - 2); /* the raw ones only */
    for (int i = 0; i < 11; i++)
        raw_close(&R[i]);
    teardown_all();
}
END_TEST

START_TEST(stall_timeout_bounds_output)
{
    const size_t out_max = 256 * 1024;
    struct raw *r = &R[0];

    setup_ports(24390);
    node_start(0, 0.5, out_max);
    node_start(1, 0.5, out_max);
    node_connect(1, 0);
    RUN_UNTIL(N[0].ups == 1 && N[1].ups == 1);
    serve_total[0] = UINT64_MAX / 2;
    /* A node that subscribes with a large credit, then reads nothing. */
    raw_open(r, port0, 4096);
    raw_hello(r, "n7", 7, PL_VERSION, 77);
    RUN_UNTIL(raw_next(r));
    RF.type = PW_SUBSCRIBE;
    memset(&RF.u.subscribe, 0, sizeof(RF.u.subscribe));
    strcpy(RF.u.subscribe.console_id, CON_A);
    RF.u.subscribe.sub_id = 1;
    RF.u.subscribe.credit = PW_CREDIT_MAX;
    raw_frame(r, &RF);
    RUN_UNTIL(N[0].downs == 1);
    ck_assert_msg(strstr(N[0].down_reason, "stalled") != NULL, "%s",
                  N[0].down_reason);
    ck_assert_uint_eq(pl_stats(N[0].pl)->stalled, 1);
    /* Memory bounded: the output never went past its bound by more than
     * one frame, however much credit the peer granted. */
    ck_assert_uint_gt(N[0].down_stats.out_peak, out_max / 2);
    ck_assert_uint_le(N[0].down_stats.out_peak, out_max + PW_MAX_FRAME);
    ck_assert_uint_eq(N[0].unsubscribed, 1);
    /* The other link is untouched. */
    ck_assert_ptr_nonnull(link_of(0, 1));
    ck_assert_uint_eq(N[1].downs, 0);
    raw_close(r);
    teardown_all();
}
END_TEST

static Suite *
peerlink_suite(void)
{
    Suite *s = suite_create("peerlink");
    TCase *tc = tcase_create("peerlink");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, hello_three_nodes);
    tcase_add_test(tc, duplicate_connections);
    tcase_add_test(tc, redial_same_and_new_incarnation);
    tcase_add_test(tc, malformed_frames_close_only_their_link);
    tcase_add_test(tc, stall_timeout_bounds_output);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(peerlink_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
