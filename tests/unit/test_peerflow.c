/*
 * test_peerflow.c: Check suite for what flows over an UP peer link (proxy/
 * peerlink_flow.c): three pl instances in one process over real TCP on
 * 127.0.0.1 ports 24340-24379 (peerlink_harness.h). 64 MiB streamed
 * byte-exact, offsets contiguous, never more in flight than the credit
 * granted; a stalled subscription next to a streaming one on the same
 * link (the stalled one gets exactly its credit, the other completes);
 * gaps and events in their place; the input window with acks; validation
 * by request id (reply, timeout, late reply dropped, link down); handover.
 */
#include "vspc/compat.h"

#include "peerlink_harness.h"

START_TEST(stream_64mib_within_credit)
{
    struct ssub *s, *t;
    struct pl_link_stats st;

    three_nodes(24340, 0, 0);
    serve_total[0] = 64 * MIB;
    serve_total[1] = 4 * MIB;
    s = subscribe(1, 0, CON_A, 256 * 1024, false);
    t = subscribe(2, 0, CON_B, 64 * 1024, false);
    RUN_UNTIL(s->received == 64 * MIB && t->received == 4 * MIB);
    settle(20);
    ck_assert_uint_eq(s->expect, 64 * MIB);
    ck_assert_uint_eq(s->received, 64 * MIB);
    ck_assert_uint_eq(t->expect, 4 * MIB);
    ck_assert_uint_eq(N[0].os[0].next, 64 * MIB);
    pl_link_stats(link_of(1, 0), &st);
    ck_assert_uint_eq(st.data_in, 64 * MIB);
    ck_assert_uint_eq(st.subs_mine, 1);
    pl_link_stats(link_of(0, 1), &st);
    ck_assert_uint_eq(st.data_out, 64 * MIB);
    ck_assert_uint_eq(st.subs_owner, 1);
    ck_assert_uint_le(st.out_peak, PL_OUT_MAX_DEFAULT + PW_MAX_FRAME);
    /* Unsubscribe: the owner hears of it. */
    ck_assert_int_eq(pl_unsubscribe(s->l, s->id), 0);
    ck_assert_int_eq(pl_unsubscribe(s->l, s->id), -1);
    ck_assert_int_eq(errno, ENOENT);
    RUN_UNTIL(N[0].unsubscribed == 1);
    ck_assert_uint_eq(pl_sub_room(link_of(0, 1), s->id), 0);
    ck_assert_uint_eq(N[0].downs + N[1].downs + N[2].downs, 0);
    teardown_all();
}
END_TEST

START_TEST(stalled_subscription_next_to_streaming_one)
{
    struct ssub *a, *b;

    three_nodes(24350, 0, 0);
    serve_total[0] = UINT64_MAX / 2;             /* A: endless */
    serve_total[1] = 32 * MIB;                   /* B */
    a = subscribe(1, 0, CON_A, 64 * 1024, true); /* never grants more */
    b = subscribe(1, 0, CON_B, 256 * 1024, false);
    RUN_UNTIL(b->received == 32 * MIB);
    settle(20);
    /* B streamed to the end over the same link; A got exactly its
     * credit, not a byte more, and holds no room at the owner. */
    ck_assert_uint_eq(b->expect, 32 * MIB);
    ck_assert_uint_eq(a->received, 64 * 1024);
    ck_assert_uint_eq(a->granted, 64 * 1024);
    ck_assert_uint_eq(pl_sub_room(link_of(0, 1), a->id), 0);
    ck_assert_uint_eq(pl_sub_granted(link_of(0, 1), a->id), 64 * 1024);
    RUN_UNTIL(pl_sub_granted(link_of(0, 1), b->id) == b->granted);
    ck_assert_uint_eq(N[0].os[0].next, 64 * 1024);
    /* A's consumer takes 1000 bytes: exactly 1000 more arrive. */
    ck_assert_int_eq(pl_credit(a->l, a->id, 1000), 0);
    a->granted += 1000;
    RUN_UNTIL(a->received == 64 * 1024 + 1000);
    settle(20);
    ck_assert_uint_eq(a->received, 64 * 1024 + 1000);
    ck_assert_uint_eq(N[0].downs + N[1].downs, 0);
    /* Credit is bounded. */
    ck_assert_int_eq(pl_credit(a->l, a->id, PW_CREDIT_MAX + 1), -1);
    ck_assert_int_eq(pl_credit(a->l, a->id, 0), -1);
    teardown_all();
}
END_TEST

START_TEST(gap_and_event_in_place)
{
    struct ssub *s;

    three_nodes(24345, 0, 0);
    serve_total[1] = 3 * MIB;
    serve_gap[1] = MIB; /* subscribing from 0: [0, 1 MiB) is gone */
    s = subscribe(2, 0, CON_B, 64 * 1024, false);
    RUN_UNTIL(s->received == 2 * MIB);
    ck_assert_uint_eq(s->gaps, 1);
    ck_assert_uint_eq(s->events, 1);
    ck_assert_uint_eq(s->expect, 3 * MIB);
    ck_assert_uint_eq(N[0].downs + N[2].downs, 0);
    teardown_all();
}
END_TEST

/* The owner ends a subscription (SubState ENDED) while the subscriber's
 * Credit and Unsubscribe for it are in flight: both sides drop the late
 * frames (counted), the link stays up; an id the peer never used is still
 * a protocol error on the owner's books. */
START_TEST(owner_end_crosses_unsubscribe)
{
    struct ssub *a, *b;
    struct pw_sub_state t = {.status = PW_SUB_ENDED};
    struct pl_link_stats st;

    three_nodes(24375, 0, 0);
    serve_total[0] = UINT64_MAX / 2;
    serve_total[1] = 4 * MIB;
    a = subscribe(1, 0, CON_A, 64 * 1024, true);
    b = subscribe(1, 0, CON_B, 256 * 1024, false);
    RUN_UNTIL(a->received == 64 * 1024);
    t.sub_id = a->id;
    snprintf(t.text, sizeof(t.text), "console gone");
    ck_assert_int_eq(pl_send_sub_state(link_of(0, 1), &t), 0);
    ck_assert_uint_eq(pl_sub_room(link_of(0, 1), a->id), 0);
    ck_assert_int_eq(pl_credit(a->l, a->id, 1000), 0);
    ck_assert_int_eq(pl_unsubscribe(a->l, a->id), 0);
    RUN_UNTIL(b->received == 4 * MIB);
    settle(20);
    ck_assert_uint_eq(b->expect, 4 * MIB);
    pl_link_stats(link_of(0, 1), &st);
    ck_assert_uint_eq(st.late_in, 2); /* the credit and the unsubscribe */
    ck_assert_uint_eq(st.subs_owner, 1);
    pl_link_stats(link_of(1, 0), &st);
    ck_assert_uint_eq(st.subs_mine, 1);
    ck_assert_uint_eq(N[0].unsubscribed, 0); /* ended by the owner: no
                                                 unsubscribe callback */
    ck_assert_uint_eq(N[0].downs + N[1].downs, 0);
    teardown_all();
}
END_TEST

START_TEST(input_window_and_acks)
{
    static uint8_t buf[4096];
    struct pl_link *l, *o;
    struct pl_link_stats st;
    uint64_t seq[2] = {0, 0}, total = 0;
    const char *ops[2] = {"op1", "op2"};

    three_nodes(24360, 0, 0);
    l = link_of(1, 0); /* operators on n1, console owned by n0 */
    o = link_of(0, 1);
    ck_assert_uint_eq(pl_input_room(l), PL_INPUT_WINDOW);
    /* Two operators type until the window is full. */
    for (int i = 0; pl_input_room(l) > 0; i++) {
        int op = i % 2;
        size_t n = op ? 3000 : 1000, room = pl_input_room(l);

        n = n < room ? n : room;
        for (size_t k = 0; k < n; k++)
            buf[k] = pat(10 + (unsigned)op, seq[op] + k);
        ck_assert_int_eq(pl_send_input(l, CON_A, ops[op], 1, seq[op], buf, n),
                         0);
        seq[op] += n;
        total += n;
    }
    ck_assert_uint_eq(total, PL_INPUT_WINDOW);
    ck_assert_int_eq(pl_send_input(l, CON_A, "op1", 1, seq[0], buf, 1), -1);
    ck_assert_uint_eq(pl_input_room(l), 0);
    RUN_UNTIL(N[0].in_len[0] + N[0].in_len[1] == PL_INPUT_WINDOW);
    for (int op = 0; op < 2; op++) {
        ck_assert_uint_eq(N[0].in_len[op], seq[op]);
        for (uint64_t k = 0; k < seq[op]; k++)
            ck_assert_uint_eq(N[0].in_data[op][k], pat(10 + (unsigned)op, k));
    }
    pl_link_stats(o, &st);
    ck_assert_uint_eq(st.input_unacked, PL_INPUT_WINDOW);
    /* Acks within what was received, above what was acked. */
    ck_assert_int_eq(pl_send_input_ack(o, CON_A, "op1", seq[0] + 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(pl_send_input_ack(o, CON_A, "op3", 1), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(pl_send_input_ack(o, CON_A, "op1", seq[0] / 2), 0);
    ck_assert_int_eq(pl_send_input_ack(o, CON_A, "op1", seq[0] / 2), -1);
    RUN_UNTIL(N[1].acks == 1);
    ck_assert_uint_eq(N[1].acked_seq, seq[0] / 2);
    ck_assert_uint_eq(N[1].input_rooms, 1); /* operators may be read */
    ck_assert_uint_eq(pl_input_room(l), seq[0] / 2);
    /* The operator continues where it left off, nowhere else. */
    ck_assert_int_eq(pl_send_input(l, CON_A, "op1", 1, seq[0] + 1, buf, 1), -1);
    for (size_t k = 0; k < 10; k++)
        buf[k] = pat(10, seq[0] + k);
    ck_assert_int_eq(pl_send_input(l, CON_A, "op1", 1, seq[0], buf, 10), 0);
    seq[0] += 10;
    RUN_UNTIL(N[0].in_len[0] == seq[0]);
    ck_assert_int_eq(pl_send_input_ack(o, CON_A, "op1", seq[0]), 0);
    ck_assert_int_eq(pl_send_input_ack(o, CON_A, "op2", seq[1]), 0);
    RUN_UNTIL(N[1].acks == 3);
    ck_assert_uint_eq(pl_input_room(l), PL_INPUT_WINDOW);
    pl_link_stats(l, &st);
    ck_assert_uint_eq(st.input_inflight, 0);
    pl_link_stats(o, &st);
    ck_assert_uint_eq(st.input_unacked, 0);
    ck_assert_uint_eq(N[0].downs + N[1].downs, 0);
    teardown_all();
}
END_TEST

START_TEST(validate_and_handover)
{
    static const uint8_t secret[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static struct pw_handover h;
    struct pl_link *l;
    struct pw_validate_reply late = {0};

    three_nodes(24370, 0, 0);
    l = link_of(1, 0);
    /* A reply. */
    N[0].val_reply = N[0].val_ok = true;
    N[1].val_req =
        pl_validate(l, CON_A, (const uint8_t *)"abc", 3, secret, 8, 5.0);
    ck_assert_uint_ne(N[1].val_req, 0);
    RUN_UNTIL(N[1].val_done[PL_VAL_REPLY] == 1);
    ck_assert(N[1].val_r.ok);
    ck_assert_str_eq(N[1].val_r.console_id, CON_A);
    ck_assert_uint_eq(N[1].val_r.epoch, 0x1203);
    /* No reply: a timeout; the reply arriving later is dropped. */
    N[0].val_reply = false;
    N[1].val_req =
        pl_validate(l, NULL, (const uint8_t *)"abc", 3, secret, 8, 0.2);
    RUN_UNTIL(N[1].val_done[PL_VAL_TIMEOUT] == 1);
    late.request_id = N[0].val_id;
    ck_assert_uint_eq(late.request_id, N[1].val_req);
    ck_assert_int_eq(pl_send_validate_reply(N[0].val_link, &late), 0);
    N[0].val_reply = true; /* the next one answered: after the late one */
    N[1].val_req =
        pl_validate(l, CON_A, (const uint8_t *)"abc", 3, secret, 8, 5.0);
    RUN_UNTIL(N[1].val_done[PL_VAL_REPLY] == 2);
    ck_assert_uint_eq(N[1].val_done[PL_VAL_TIMEOUT], 1);
    /* Refused arguments. */
    ck_assert_uint_eq(pl_validate(l, NULL, secret, 0, secret, 8, 1.0), 0);
    ck_assert_uint_eq(pl_validate(l, "xyz", secret, 3, secret, 8, 1.0), 0);
    /* A handover. */
    memset(&h, 0, sizeof(h));
    snprintf(h.console_id, sizeof(h.console_id), "%s", CON_B);
    h.epoch = 0x201;
    h.old_epoch = 0x100;
    h.offset = 123456;
    snprintf(h.vm_name, sizeof(h.vm_name), "vm one");
    h.n_held = 3;
    for (unsigned i = 0; i < 3; i++) {
        snprintf(h.held[i].operator_id, sizeof(h.held[i].operator_id), "n0/%u",
                 i);
        h.held[i].seq = 10 * i;
        h.held[i].off = 100 * i;
        h.held[i].len = 5 + i;
        memset(h.held_bytes + h.held[i].off, 'a' + (int)i, h.held[i].len);
    }
    ck_assert_int_eq(pl_send_handover(link_of(0, 1), &h), 0);
    RUN_UNTIL(N[1].handovers == 1);
    ck_assert_str_eq(N[1].ho.console_id, CON_B);
    ck_assert_uint_eq(N[1].ho.offset, 123456);
    ck_assert_uint_eq(N[1].ho.n_held, 3);
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_str_eq(N[1].ho.held[i].operator_id, h.held[i].operator_id);
        ck_assert_uint_eq(N[1].ho.held[i].len, 5 + i);
        ck_assert_mem_eq(N[1].ho.held_bytes + N[1].ho.held[i].off,
                         h.held_bytes + h.held[i].off, 5 + i);
    }
    /* Pending when the link goes down: PL_VAL_LINKDOWN, once. */
    N[0].val_reply = false;
    N[1].val_req =
        pl_validate(l, CON_A, (const uint8_t *)"abc", 3, secret, 8, 10.0);
    RUN_UNTIL(N[0].validates == 4);
    pl_disconnect(N[0].pl, "n1", "test");
    ck_assert_ptr_null(link_of(0, 1)); /* at once */
    RUN_UNTIL(N[1].val_done[PL_VAL_LINKDOWN] == 1);
    RUN_UNTIL(N[0].downs == 1 && N[1].downs == 1);
    ck_assert_uint_eq(N[1].val_done[PL_VAL_REPLY], 2);
    ck_assert_uint_eq(N[1].val_done[PL_VAL_TIMEOUT], 1);
    ck_assert_uint_eq(N[0].failed, 0); /* not a failed dial */
    teardown_all();
}
END_TEST

static Suite *
peerflow_suite(void)
{
    Suite *s = suite_create("peerflow");
    TCase *tc = tcase_create("peerflow");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, stream_64mib_within_credit);
    tcase_add_test(tc, stalled_subscription_next_to_streaming_one);
    tcase_add_test(tc, gap_and_event_in_place);
    tcase_add_test(tc, owner_end_crosses_unsubscribe);
    tcase_add_test(tc, input_window_and_acks);
    tcase_add_test(tc, validate_and_handover);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(peerflow_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
