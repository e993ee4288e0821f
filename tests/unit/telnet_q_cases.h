/*
 * telnet_q_cases.h: the RFC 1143 and capture-handshake cases of the telnet
 * suite, included by test_telnet.c (kept apart for size; not named test_*
 * so the unit glob does not build it as a runner of its own).
 */
#ifndef VSPC_TESTS_TELNET_Q_CASES_H
#define VSPC_TESTS_TELNET_Q_CASES_H

static void
feed_str(struct rec *r, const char *bytes, size_t n)
{
    ck_assert_uint_eq(rec_feed(r, (const uint8_t *)bytes, n), n);
}

/* Peer repeats WILL/DO 50 times for accepted options: one reply each. */
START_TEST(test_q_storm_accepted)
{
    struct rec *r = rec_new();

    for (int i = 0; i < 50; i++)
        feed_str(r, "\xff\xfb\x00\xff\xfd\x03", 6);
    ck_assert_uint_eq(r->outlen, 6);
    ck_assert_mem_eq(r->out, "\xff\xfd\x00\xff\xfb\x03", 6);
    ck_assert_uint_eq(r->n_neg, 100);
    ck_assert_uint_eq(r->n_opt, 2);
    ck_assert(tn_remote_enabled(&r->tn, 0));
    ck_assert(tn_local_enabled(&r->tn, 3));
    /* WONT then a WILL storm: one DONT, one DO, then silence. */
    rec_clear(r);
    feed_str(r, "\xff\xfc\x00", 3);
    for (int i = 0; i < 50; i++)
        feed_str(r, "\xff\xfb\x00", 3);
    ck_assert_uint_eq(r->outlen, 6);
    ck_assert_mem_eq(r->out, "\xff\xfe\x00\xff\xfd\x00", 6);
    ck_assert_uint_eq(r->n_opt, 2);
    /* Repeated WONT/DONT: one answer for the one change. */
    rec_clear(r);
    for (int i = 0; i < 50; i++)
        feed_str(r, "\xff\xfc\x00\xff\xfe\x03", 6);
    ck_assert_uint_eq(r->outlen, 6);
    ck_assert_mem_eq(r->out, "\xff\xfe\x00\xff\xfc\x03", 6);
    rec_free(r);
}
END_TEST

/*
 * A refused option stays NO, so every WILL is a new request and gets its
 * one DONT (RFC 1143: the refusing side answers each request; it is the
 * asking side's state that stops loops). Never more than one per WILL.
 */
START_TEST(test_q_storm_refused)
{
    struct rec *r = rec_new();

    for (int i = 0; i < 20; i++)
        feed_str(r, "\xff\xfb\x25", 3);
    ck_assert_uint_eq(r->outlen, 60);
    for (int i = 0; i < 20; i++)
        ck_assert_mem_eq(r->out + 3 * i, "\xff\xfe\x25", 3);
    ck_assert_uint_eq(r->n_opt, 0);
    rec_free(r);
}
END_TEST

/* Every option not in the policy: WILL -> DONT, DO -> WONT, no change. */
START_TEST(test_q_refuse_unimplemented)
{
    struct rec *r = rec_new();

    for (int o = 0; o < 256; o++) {
        bool loc = o == TN_OPT_BINARY || o == TN_OPT_SGA || o == TN_OPT_ECHO;
        bool rem = o == TN_OPT_BINARY || o == TN_OPT_SGA || o == TN_OPT_VMWARE;
        uint8_t will[3] = {FF, TN_WILL, (uint8_t)o};
        uint8_t dox[3] = {FF, TN_DO, (uint8_t)o};

        rec_clear(r);
        ck_assert_uint_eq(tn_feed(&r->tn, will, 3), 3);
        ck_assert_uint_eq(tn_feed(&r->tn, dox, 3), 3);
        ck_assert_uint_eq(r->outlen, 6);
        ck_assert_uint_eq(r->out[0], FF);
        ck_assert_uint_eq(r->out[1], rem ? TN_DO : TN_DONT);
        ck_assert_uint_eq(r->out[2], o);
        ck_assert_uint_eq(r->out[3], FF);
        ck_assert_uint_eq(r->out[4], loc ? TN_WILL : TN_WONT);
        ck_assert_uint_eq(r->out[5], o);
        ck_assert(tn_remote_enabled(&r->tn, (uint8_t)o) == rem);
        ck_assert(tn_local_enabled(&r->tn, (uint8_t)o) == loc);
        ck_assert_uint_eq(r->n_opt, (unsigned)rem + (unsigned)loc);
    }
    rec_free(r);
}
END_TEST

START_TEST(test_q_unsolicited_disable)
{
    struct rec *r = rec_new();

    for (int o = 0; o < 256; o++) {
        uint8_t in[6] = {FF, TN_WONT, (uint8_t)o, FF, TN_DONT, (uint8_t)o};

        ck_assert_uint_eq(tn_feed(&r->tn, in, 6), 6);
    }
    ck_assert_uint_eq(r->outlen, 0);
    ck_assert_uint_eq(r->n_opt, 0);
    ck_assert_uint_eq(r->n_neg, 512);
    rec_free(r);
}
END_TEST

/* negotiation fires before the Q method acts; option after its reply. */
START_TEST(test_q_callback_order)
{
    struct rec *r = rec_new();

    feed_str(r, "\xff\xfd\x01\xff\xfe\x01\xff\xfe\x01", 9);
    ck_assert_str_eq(r->log, "N DO 01\nW ff fb 01\nO L 01 +\n"
                             "N DONT 01\nW ff fc 01\nO L 01 -\n"
                             "N DONT 01\n");
    rec_free(r);
}
END_TEST

START_TEST(test_q_request)
{
    struct rec *r = rec_new();

    tn_request_remote(&r->tn, TN_OPT_VMWARE, true);
    tn_request_remote(&r->tn, TN_OPT_VMWARE, true); /* already asking */
    ck_assert_str_eq(r->log, "W ff fd e8\n");
    ck_assert(!tn_remote_enabled(&r->tn, TN_OPT_VMWARE));
    for (int i = 0; i < 10; i++)
        feed_str(r, "\xff\xfb\xe8", 3);
    ck_assert_str_eq(r->log, "W ff fd e8\nN WILL e8\nO R e8 +\n"
                             "N WILL e8\nN WILL e8\nN WILL e8\nN WILL e8\n"
                             "N WILL e8\nN WILL e8\nN WILL e8\nN WILL e8\n"
                             "N WILL e8\n");
    ck_assert(tn_remote_enabled(&r->tn, TN_OPT_VMWARE));
    tn_request_remote(&r->tn, TN_OPT_VMWARE, true); /* already on */
    rec_clear(r);
    tn_request_remote(&r->tn, TN_OPT_VMWARE, false);
    tn_request_remote(&r->tn, TN_OPT_VMWARE, false);
    feed_str(r, "\xff\xfc\xe8\xff\xfc\xe8", 6);
    ck_assert_str_eq(r->log, "W ff fe e8\nO R e8 -\nN WONT e8\nN WONT e8\n");
    tn_request_local(&r->tn, 44, false); /* already off: nothing */
    ck_assert_uint_eq(r->outlen, 3);
    rec_free(r);
}
END_TEST

START_TEST(test_q_request_refused)
{
    struct rec *r = rec_new();

    tn_request_local(&r->tn, TN_OPT_COMPORT, true);
    feed_str(r, "\xff\xfe\x2c", 3); /* peer refuses: no answer */
    ck_assert_str_eq(r->log, "W ff fb 2c\nN DONT 2c\n");
    ck_assert(!tn_local_enabled(&r->tn, TN_OPT_COMPORT));
    ck_assert_uint_eq(r->tn.q[TN_OPT_COMPORT], 0);
    tn_request_local(&r->tn, TN_OPT_COMPORT, true); /* may ask again */
    ck_assert_str_eq(r->log, "W ff fb 2c\nN DONT 2c\nW ff fb 2c\n");
    rec_free(r);
}
END_TEST

/* The queue bits: a change of mind while waiting is remembered, and
 * acted on once, when the answer comes. */
START_TEST(test_q_queue)
{
    struct rec *r = rec_new();

    /* WANTYES + disable -> OPPOSITE; WILL -> WANTNO + DONT; WONT -> NO. */
    tn_request_remote(&r->tn, 0, true);
    tn_request_remote(&r->tn, 0, false);
    tn_request_remote(&r->tn, 0, false); /* already queued */
    ck_assert_str_eq(r->log, "W ff fd 00\n");
    feed_str(r, "\xff\xfb\x00", 3);
    ck_assert_str_eq(r->log, "W ff fd 00\nN WILL 00\nW ff fe 00\n");
    ck_assert_uint_eq(r->n_opt, 0); /* never YES */
    feed_str(r, "\xff\xfc\x00", 3);
    ck_assert_uint_eq(r->outlen, 6);
    ck_assert_uint_eq(r->tn.q[0], 0);

    /* WANTNO + enable -> OPPOSITE; WONT -> WANTYES + DO; WILL -> YES. */
    rec_clear(r);
    feed_str(r, "\xff\xfd\x03", 3); /* us YES */
    tn_request_local(&r->tn, 3, false);
    tn_request_local(&r->tn, 3, true);
    tn_request_local(&r->tn, 3, true);
    feed_str(r, "\xff\xfe\x03", 3);
    feed_str(r, "\xff\xfd\x03", 3);
    ck_assert_str_eq(r->log, "N DO 03\nW ff fb 03\nO L 03 +\n"
                             "W ff fc 03\nO L 03 -\n"
                             "N DONT 03\nW ff fb 03\n"
                             "N DO 03\nO L 03 +\n");

    /* Cancelling a queued change: WANTYES + disable + enable. */
    rec_clear(r);
    tn_request_remote(&r->tn, 3, true);
    tn_request_remote(&r->tn, 3, false);
    tn_request_remote(&r->tn, 3, true);
    feed_str(r, "\xff\xfb\x03", 3);
    ck_assert_str_eq(r->log, "W ff fd 03\nN WILL 03\nO R 03 +\n");
    /* ... and WANTNO + enable + disable. */
    rec_clear(r);
    tn_request_remote(&r->tn, 3, false);
    tn_request_remote(&r->tn, 3, true);
    tn_request_remote(&r->tn, 3, false);
    feed_str(r, "\xff\xfc\x03", 3);
    ck_assert_str_eq(r->log, "W ff fe 03\nO R 03 -\nN WONT 03\n");
    ck_assert_uint_eq(r->tn.q[3] >> 3, 0);
    rec_free(r);
}
END_TEST

/* Peer errors: our DONT answered by WILL. No reply, no loop. */
START_TEST(test_q_wantno_answered_by_will)
{
    struct rec *r = rec_new();

    feed_str(r, "\xff\xfb\x00", 3);
    tn_request_remote(&r->tn, 0, false);
    feed_str(r, "\xff\xfb\x00", 3);
    ck_assert_str_eq(r->log, "N WILL 00\nW ff fd 00\nO R 00 +\n"
                             "W ff fe 00\nO R 00 -\nN WILL 00\n");
    ck_assert(!tn_remote_enabled(&r->tn, 0));
    /* With a queued re-enable the option just ends up on. */
    rec_clear(r);
    feed_str(r, "\xff\xfb\x00", 3); /* NO: accepted again */
    tn_request_remote(&r->tn, 0, false);
    tn_request_remote(&r->tn, 0, true);
    feed_str(r, "\xff\xfb\x00", 3);
    ck_assert_str_eq(r->log, "N WILL 00\nW ff fd 00\nO R 00 +\n"
                             "W ff fe 00\nO R 00 -\nN WILL 00\nO R 00 +\n");
    ck_assert(tn_remote_enabled(&r->tn, 0));
    rec_free(r);
}
END_TEST

/* Pump bytes between two codecs until neither has anything to say. */
static unsigned
q_pump(struct rec *a, struct rec *b, size_t *a_sent, size_t *b_sent)
{
    unsigned rounds = 0;

    while (*a_sent < a->outlen || *b_sent < b->outlen) {
        size_t an = a->outlen, bn = b->outlen;

        ck_assert_uint_lt(++rounds, 8);
        ck_assert_uint_eq(rec_feed(b, a->out + *a_sent, an - *a_sent),
                          an - *a_sent);
        *a_sent = an;
        ck_assert_uint_eq(rec_feed(a, b->out + *b_sent, bn - *b_sent),
                          bn - *b_sent);
        *b_sent = bn;
    }
    return rounds;
}

static void
q_assert_settled(const struct rec *a, const struct rec *b)
{
    for (int o = 0; o < 256; o++) {
        unsigned qa = a->tn.q[o], qb = b->tn.q[o];

        ck_assert_uint_le(qa & 7u, TN_Q_YES); /* NO or YES, no queue */
        ck_assert_uint_le(qa >> 3, TN_Q_YES);
        ck_assert_uint_le(qb & 7u, TN_Q_YES);
        ck_assert_uint_le(qb >> 3, TN_Q_YES);
        ck_assert(tn_local_enabled(&a->tn, (uint8_t)o) ==
                  tn_remote_enabled(&b->tn, (uint8_t)o));
        ck_assert(tn_remote_enabled(&a->tn, (uint8_t)o) ==
                  tn_local_enabled(&b->tn, (uint8_t)o));
    }
}

/* Two Q-method codecs asking at random, several requests in flight,
 * crossing requests included: always settles, in a few rounds, in
 * agreement, with bounded traffic. */
START_TEST(test_q_back_to_back)
{
    struct rec *a = rec_new(), *b = rec_new();
    size_t a_sent = 0, b_sent = 0;
    uint32_t x = 7;

    memset(&a->pol, 0, sizeof(a->pol));
    memset(&b->pol, 0, sizeof(b->pol));
    for (int o = 0; o < 8; o++) {
        tn_policy_allow(&a->pol, (uint8_t)o, o < 6, o >= 2);
        tn_policy_allow(&b->pol, (uint8_t)o, o >= 1, o < 5);
    }
    for (int step = 0; step < 3000; step++) {
        struct rec *who;
        uint8_t opt;
        bool local, enable;

        x = x * 1103515245u + 12345u;
        who = (x >> 8) & 1 ? a : b;
        opt = (uint8_t)((x >> 9) & 7);
        local = (x >> 12) & 1;
        enable = (x >> 13) & 1;
        if (local)
            tn_request_local(&who->tn, opt, enable);
        else
            tn_request_remote(&who->tn, opt, enable);
        if ((x >> 16) % 4 == 0) {
            q_pump(a, b, &a_sent, &b_sent);
            q_assert_settled(a, b);
        }
    }
    q_pump(a, b, &a_sent, &b_sent);
    q_assert_settled(a, b);
    /* Each request costs at most a few commands of 3 bytes. */
    ck_assert_uint_lt(a->outlen + b->outlen, 3000 * 3 * 4);
    rec_free(a);
    rec_free(b);
}
END_TEST

/* Crossing requests: both ask for the same thing at the same time. */
START_TEST(test_q_crossing)
{
    struct rec *a = rec_new(), *b = rec_new();
    size_t a_sent = 0, b_sent = 0;

    tn_request_local(&a->tn, TN_OPT_SGA, true);  /* WILL SGA */
    tn_request_remote(&b->tn, TN_OPT_SGA, true); /* DO SGA */
    tn_request_local(&b->tn, TN_OPT_BINARY, true);
    tn_request_remote(&a->tn, TN_OPT_BINARY, true);
    ck_assert_uint_eq(q_pump(a, b, &a_sent, &b_sent), 1);
    ck_assert_uint_eq(a->outlen + b->outlen, 12); /* no answers needed */
    ck_assert(tn_local_enabled(&a->tn, TN_OPT_SGA));
    ck_assert(tn_remote_enabled(&b->tn, TN_OPT_SGA));
    q_assert_settled(a, b);
    rec_free(a);
    rec_free(b);
}
END_TEST

/* A callback may send: the SB goes out after the DO that enabled 232. */
static void
reentrant_option(void *arg, uint8_t opt, bool local, bool enabled)
{
    struct rec *r = arg;

    rec_cb_option(arg, opt, local, enabled);
    if (opt == TN_OPT_VMWARE && !local && enabled)
        tn_send_sb(&r->tn, TN_OPT_VMWARE, (const uint8_t *)"\x01\x00", 2);
}

START_TEST(test_q_reentrant_send)
{
    struct tn_handlers h = rec_handlers;
    struct rec *r = rec_new();

    h.option = reentrant_option;
    tn_init(&r->tn, &r->pol, &h, r);
    feed_str(r,
             "\xff\xfb\xe8"
             "A",
             4);
    ck_assert_str_eq(r->log, "N WILL e8\nW ff fd e8\nO R e8 +\n"
                             "W ff fa e8 01 00 ff f0\nD 41\n");
    rec_free(r);
}
END_TEST

/* PROTOCOL.md 4.1, we are P, every H->P byte in a feed of its own. */
static void
cap_feed(struct rec *r, struct rec *exp, const char *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(tn_feed(&r->tn, (const uint8_t *)h + i, 1), 1);
    ck_assert_msg(strcmp(r->log, exp->log) == 0, "got:\n%s\nwant:\n%s", r->log,
                  exp->log);
}

#define CAP_KNOWN2                                                             \
    "\x01\x00\x01\x02\x03\x28\x29\x2b\x2c\x2d\x2e\x30\x46\x47\x49\x50\x51"     \
    "\x52\x53"
#define CAP_KNOWN1                                                             \
    "\x00\x00\x01\x02\x03\x28\x29\x2b\x2c\x2d\x2e\x30\x46\x47\x49\x50\x51"     \
    "\x54\x55\x56\x57\x52\x53"
#define CAP_UUID "01 23 45 67 89 ab cd ef-fe dc ba 98 00 00 00 00"
#define SBX(s) (const uint8_t *)(s), sizeof(s) - 1

START_TEST(test_capture_handshake)
{
    static const char p2h[] =
        "\xff\xfe\x25"                         /* DONT AUTH, at once */
        "\xff\xfb\x00\xff\xfb\x03\xff\xfb\x01" /* WILL BINARY SGA ECHO */
        "\xff\xfd\x00\xff\xfd\x03"             /* DO BINARY SGA */
        "\xff\xfd\xe8"                         /* DO 232 */
        "\xff\xfa\xe8" CAP_KNOWN2 "\xff\xf0"   /* KNOWN-SUBOPTIONS-2 */
        "\xff\xfa\xe8\x51\xff\xf0\xff\xfa\xe8\x53\xff\xf0" /* GETs */
        "\xff\xfa\xe8\x47\xff\xf0"                         /* WILL-PROXY */
        "\xff\xfe\x2c";                                    /* DONT COM-PORT */
    struct rec *r = rec_new(), *e = rec_new();

    rec_cb_negotiation(e, TN_WILL, 0x25);
    rec_cb_output(e, (const uint8_t *)"\xff\xfe\x25", 3);
    cap_feed(r, e, "\xff\xfb\x25", 3);

    tn_request_local(&r->tn, TN_OPT_BINARY, true);
    tn_request_local(&r->tn, TN_OPT_SGA, true);
    tn_request_local(&r->tn, TN_OPT_ECHO, true);
    rec_cb_output(e, (const uint8_t *)"\xff\xfb\x00\xff\xfb\x03\xff\xfb\x01",
                  9);
    rec_cb_negotiation(e, TN_DO, 0);
    rec_cb_option(e, 0, true, true);
    cap_feed(r, e, "\xff\xfd\x00", 3);

    tn_request_remote(&r->tn, TN_OPT_BINARY, true);
    tn_request_remote(&r->tn, TN_OPT_SGA, true);
    rec_cb_output(e, (const uint8_t *)"\xff\xfd\x00\xff\xfd\x03", 6);
    rec_cb_negotiation(e, TN_DO, 3);
    rec_cb_option(e, 3, true, true);
    rec_cb_negotiation(e, TN_DO, 1);
    rec_cb_option(e, 1, true, true);
    rec_cb_negotiation(e, TN_WILL, 0);
    rec_cb_option(e, 0, false, true);
    cap_feed(r, e, "\xff\xfd\x03\xff\xfd\x01\xff\xfb\x00", 9);

    tn_request_remote(&r->tn, TN_OPT_VMWARE, true);
    rec_cb_output(e, (const uint8_t *)"\xff\xfd\xe8", 3);
    rec_cb_negotiation(e, TN_WILL, 3);
    rec_cb_option(e, 3, false, true);
    cap_feed(r, e, "\xff\xfb\x03", 3);
    rec_cb_negotiation(e, TN_WILL, 0xe8);
    rec_cb_option(e, 0xe8, false, true);
    cap_feed(r, e, "\xff\xfb\xe8", 3);

    tn_send_sb(&r->tn, TN_OPT_VMWARE, SBX(CAP_KNOWN2));
    rec_cb_output(e, (const uint8_t *)"\xff\xfa\xe8" CAP_KNOWN2 "\xff\xf0",
                  sizeof(CAP_KNOWN2) + 4);
    rec_cb_subneg(e, 0xe8, SBX(CAP_KNOWN1));
    rec_cb_subneg(e, 0xe8,
                  SBX("\x46"
                      "SvSPC.py"));
    cap_feed(r, e,
             "\xff\xfa\xe8" CAP_KNOWN1 "\xff\xf0"
             "\xff\xfa\xe8\x46"
             "SvSPC.py\xff\xf0",
             3 + sizeof(CAP_KNOWN1) - 1 + 2 + 4 + 8 + 2);

    tn_send_sb(&r->tn, TN_OPT_VMWARE, SBX("\x51"));
    tn_send_sb(&r->tn, TN_OPT_VMWARE, SBX("\x53"));
    rec_cb_output(e, (const uint8_t *)"\xff\xfa\xe8\x51\xff\xf0", 6);
    rec_cb_output(e, (const uint8_t *)"\xff\xfa\xe8\x53\xff\xf0", 6);
    rec_cb_subneg(e, 0xe8, SBX("\x50" CAP_UUID));
    cap_feed(r, e, "\xff\xfa\xe8\x50" CAP_UUID "\xff\xf0",
             4 + sizeof(CAP_UUID) - 1 + 2);

    tn_send_sb(&r->tn, TN_OPT_VMWARE, SBX("\x47"));
    rec_cb_output(e, (const uint8_t *)"\xff\xfa\xe8\x47\xff\xf0", 6);
    rec_cb_subneg(e, 0xe8,
                  SBX("\x52"
                      "vm-00000"));
    rec_cb_negotiation(e, TN_WILL, 0x2c);
    rec_cb_output(e, (const uint8_t *)"\xff\xfe\x2c", 3);
    rec_cb_data(e, (const uint8_t *)"\x20\x21\x22", 3);
    cap_feed(r, e,
             "\xff\xfa\xe8\x52"
             "vm-00000\xff\xf0\xff\xfb\x2c\x20\x21\x22",
             4 + 8 + 2 + 3 + 3);

    ck_assert_uint_eq(r->outlen, sizeof(p2h) - 1);
    ck_assert_mem_eq(r->out, p2h, sizeof(p2h) - 1);
    ck_assert_uint_eq(r->n_data, 3); /* one segment, one callback each */
    ck_assert(tn_local_enabled(&r->tn, TN_OPT_ECHO));
    ck_assert(!tn_remote_enabled(&r->tn, TN_OPT_ECHO));
    ck_assert(tn_remote_enabled(&r->tn, TN_OPT_VMWARE));
    ck_assert(!tn_remote_enabled(&r->tn, TN_OPT_AUTH));
    rec_free(r);
    rec_free(e);
}
END_TEST

static TCase *
telnet_q_tcase(void)
{
    TCase *tc = tcase_create("rfc1143");

    tcase_add_test(tc, test_q_storm_accepted);
    tcase_add_test(tc, test_q_storm_refused);
    tcase_add_test(tc, test_q_refuse_unimplemented);
    tcase_add_test(tc, test_q_unsolicited_disable);
    tcase_add_test(tc, test_q_callback_order);
    tcase_add_test(tc, test_q_request);
    tcase_add_test(tc, test_q_request_refused);
    tcase_add_test(tc, test_q_queue);
    tcase_add_test(tc, test_q_wantno_answered_by_will);
    tcase_add_test(tc, test_q_back_to_back);
    tcase_add_test(tc, test_q_crossing);
    tcase_add_test(tc, test_q_reentrant_send);
    tcase_add_test(tc, test_capture_handshake);
    return tc;
}

#endif /* VSPC_TESTS_TELNET_Q_CASES_H */
