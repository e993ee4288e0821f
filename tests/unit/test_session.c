/*
 * test_session.c: Check suite for the hypervisor connection
 * (proxy/session.c): the state table sess_allowed[], then sessions driven
 * in-process through socketpairs (harness.h) for DO-PROXY, identification,
 * pre-identification data, unknown suboptions, reconnects, port labels and
 * byte transparency (PROTOCOL.md sections 2.3, 3, 4, 7.1; conformance
 * scenarios 9-13, 18, 21-23, 52).
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---- the table ------------------------------------------------------------
 */

#define B(st) (1u << SESS_ST_##st)
static const uint32_t want_exits[SESS_ST__COUNT] = {
    [SESS_ST_NEGOTIATING] = B(PROXY_REQ) | B(PEER) | B(RETIRED) | B(CLOSING),
    [SESS_ST_PROXY_REQ] = B(ACTIVE) | B(PEER) | B(RETIRED) | B(CLOSING),
    [SESS_ST_PEER] = B(ACTIVE) | B(RETIRED) | B(CLOSING),
    [SESS_ST_ACTIVE] = B(RETIRED) | B(CLOSING),
    [SESS_ST_RETIRED] = B(CLOSING),
    [SESS_ST_CLOSING] = 0,
};
#undef B

START_TEST(table_every_pair)
{
    for (int from = 0; from < SESS_ST__COUNT; from++) {
        ck_assert_msg(sess_allowed[from] == want_exits[from],
                      "%s: exits %#x, want %#x", sess_state_str(from),
                      sess_allowed[from], want_exits[from]);
        for (int to = 0; to < SESS_ST__COUNT; to++) {
            bool want = (want_exits[from] >> to) & 1u;

            ck_assert_msg(sess_transition_ok(from, to) == want,
                          "%s -> %s: got %d", sess_state_str(from),
                          sess_state_str(to), !want);
        }
        /* No state is its own exit; nothing leads back to NEGOTIATING. */
        ck_assert(!sess_transition_ok(from, from));
        ck_assert(!sess_transition_ok(from, SESS_ST_NEGOTIATING));
        ck_assert(!sess_transition_ok(from, SESS_ST__COUNT));
        ck_assert(!sess_transition_ok(SESS_ST__COUNT, from));
    }
    ck_assert_uint_eq(sess_allowed[SESS_ST_CLOSING], 0);
    /* Every state but CLOSING can close; bits past the states are clear. */
    for (int st = 0; st < SESS_ST__COUNT; st++) {
        ck_assert_uint_eq(sess_allowed[st] >> SESS_ST__COUNT, 0);
        if (st != SESS_ST_CLOSING)
            ck_assert(sess_transition_ok(st, SESS_ST_CLOSING));
    }
}
END_TEST

START_TEST(table_names)
{
    static const char *const names[] = {"NEGOTIATING", "PROXY_REQ", "PEER",
                                        "ACTIVE",      "RETIRED",   "CLOSING"};

    ck_assert_uint_eq(VSPC_ARRAY_LEN(names), SESS_ST__COUNT);
    for (int i = 0; i < SESS_ST__COUNT; i++)
        ck_assert_str_eq(sess_state_str(i), names[i]);
    ck_assert_str_eq(sess_state_str(SESS_ST__COUNT), "???");
    ck_assert_str_eq(sess_state_str((enum sess_state) - 1), "???");
}
END_TEST

/* ---- DO-PROXY --------------------------------------------------------------
 */

static const uint8_t WONT_PROXY[] = {FF, TN_SB, TN_OPT_VMWARE, VMX_WONT_PROXY,
                                     FF, TN_SE};

static void
configure_uri(void)
{
    static const char *const uris[] = {"vSPC.py"};

    W.px.cfg.service_uris[0] = uris[0];
    W.px.cfg.n_service_uris = 1;
}

START_TEST(do_proxy_accepted)
{
    struct ep *h = hw_host();

    configure_uri();
    hv_identify(h, UUID_A_TEXT, "vSPC.py", "vm-00000");
    ck_assert_ptr_nonnull(hw_con(UUID_A));
    ck_assert_uint_eq(con_registry_count(W.px.consoles), 1);
    ck_assert_uint_eq(W.px.stats.hv_refused, 0);
}
END_TEST

/* DO-PROXY payloads that must be refused: WONT-PROXY, then the proxy
 * closes; a UUID and data in the same write change nothing. */
static const struct {
    const char *payload;
    size_t n;
} refused[] = {
    {"Sother", 6},                  /* wrong URI */
    {"SvSPC.p", 7},                 /* prefix of the URI */
    {"SvSPC.pyx", 9},               /* longer */
    {"CvSPC.py", 8},                /* client direction */
    {"", 0},                        /* empty */
    {"S", 1},                       /* direction only */
    {"XvSPC.py", 8},                /* bad direction byte */
    {"SvSPC.py?port=a&port=b", 22}, /* ambiguous label */
};

START_TEST(do_proxy_refused)
{
    struct ep *h = hw_host();
    struct bbuf b = {0};

    configure_uri();
    hv_negotiate(h);
    hw_pump();
    ep_clear(h);
    enc_vmx(&b, VMX_DO_PROXY, refused[_i].payload, refused[_i].n, NULL, 0);
    enc_vmx(&b, VMX_VM_VC_UUID, UUID_A_TEXT, strlen(UUID_A_TEXT), NULL, 0);
    enc_data(&b, "leak", 4);
    ep_write(h, b.p, b.n);
    bb_free(&b);
    hw_pump();
    ck_assert_bb(&h->raw, WONT_PROXY, sizeof(WONT_PROXY));
    ck_assert(h->eof);
    ck_assert_ptr_null(hw_sess(h));
    ck_assert_uint_eq(con_registry_count(W.px.consoles), 0);
    ck_assert_uint_eq(W.px.stats.hv_refused, 1);
    ck_assert_uint_eq(W.px.stats.bytes_from_vms, 0);
}
END_TEST

/* ---- VM-VC-UUID ------------------------------------------------------------
 */

static const char *const bad_uuids[] = {
    "01 23 45 67 89 ab cd ef-fe dc ba 98 00 00 00",       /* short */
    "01 23 45 67 89 ab cd ef-fe dc ba 98 00 00 00 00 00", /* long */
    "01 23 45 67 89 ab cd ef-fe dc ba 98 00 00 00 0g",    /* non-hex */
    "",                                                   /* empty */
    "../../../../etc/passwd",
};

START_TEST(uuid_malformed_closes)
{
    struct ep *h = hw_host();

    hv_negotiate(h);
    ep_send_vmx(h, VMX_DO_PROXY, "SvSPC.py", 8);
    hw_pump();
    ck_assert_uint_eq(h->n_sub[VMX_GET_VM_VC_UUID], 1);
    ep_send_vmx(h, VMX_VM_VC_UUID, bad_uuids[_i], strlen(bad_uuids[_i]));
    ep_send_data(h, "data", 4);
    hw_pump();
    ck_assert(h->eof);
    ck_assert_uint_eq(h->n_sub[VMX_WILL_PROXY], 0);
    ck_assert_uint_eq(con_registry_count(W.px.consoles), 0);
    ck_assert_ptr_null(hw_sess(h));
}
END_TEST

START_TEST(uuid_before_do_proxy)
{
    struct ep *h = hw_host();

    hv_negotiate(h);
    ep_send_vmx(h, VMX_VM_VC_UUID, UUID_A_TEXT, strlen(UUID_A_TEXT));
    hw_pump();
    ck_assert_uint_eq(con_registry_count(W.px.consoles), 0);
    ep_send_vmx(h, VMX_DO_PROXY, "SvSPC.py", 8);
    hw_pump();
    ck_assert_uint_eq(h->n_sub[VMX_WILL_PROXY], 1);
    ck_assert_ptr_nonnull(hw_con(UUID_A));
    ck_assert_int_eq(hw_sess(h)->state, SESS_ST_ACTIVE);
}
END_TEST

/* ---- data before identification ---------------------------------------- */

START_TEST(data_before_ident)
{
    struct ep *h = hw_host(), *op;
    uint8_t d1[] = {'a', 0x00, 0xff, 0x11, '\r', '\n'};
    uint8_t d2[] = {0xff, 0xff, 'b'};
    uint8_t all[sizeof(d1) + sizeof(d2) + 2];
    struct console *c;

    memcpy(all, d1, sizeof(d1));
    memcpy(all + sizeof(d1), d2, sizeof(d2));
    memcpy(all + sizeof(d1) + sizeof(d2), "zz", 2);
    hv_negotiate(h);
    ep_send_data(h, d1, sizeof(d1)); /* before DO-PROXY */
    hw_pump();
    ep_send_vmx(h, VMX_DO_PROXY, "SvSPC.py", 8);
    ep_send_data(h, d2, sizeof(d2)); /* between DO-PROXY and UUID */
    hw_pump();
    ck_assert_uint_eq(con_registry_count(W.px.consoles), 0);
    ep_send_vmx(h, VMX_VM_VC_UUID, UUID_A_TEXT, strlen(UUID_A_TEXT));
    ep_send_data(h, "zz", 2);
    hw_pump();
    c = hw_con(UUID_A);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(strm_end(&c->out), sizeof(all));
    op = hw_oper();
    op_attach(op, UUID_A);
    ck_assert_bb(&op->data, all, sizeof(all)); /* scrollback, in order */
}
END_TEST

/* The console exists (an operator waits) before the host identifies. */
START_TEST(data_before_ident_live_operator)
{
    struct ep *h = hw_host(), *op;
    uint8_t d1[] = {0x00, 0xff, 'x'};

    ck_assert_ptr_nonnull(con_get(W.px.consoles, UUID_A, ""));
    op = hw_oper();
    op_attach(op, UUID_A);
    hv_negotiate(h);
    ep_send_data(h, d1, sizeof(d1));
    hw_pump();
    ck_assert_uint_eq(op->data.n, 0);
    ep_send_vmx(h, VMX_DO_PROXY, "SvSPC.py", 8);
    ep_send_vmx(h, VMX_VM_VC_UUID, UUID_A_TEXT, strlen(UUID_A_TEXT));
    ep_send_data(h, "y", 1);
    hw_pump();
    ck_assert_bb(&op->data, "\x00\xffxy", 4);
}
END_TEST

/* More data before identification than cfg.pre_ident_max: the proxy may
 * stop reading, but it must still identify the VM and deliver every byte
 * (or close, never hang). PROTOCOL.md 6.6 item 4, scenario 23. */
START_TEST(data_before_ident_over_limit)
{
    struct ep *h = hw_host(), *op;
    size_t n = 8192;
    uint8_t *d = malloc(n);
    struct console *c;

    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)(i % 251);
    W.px.cfg.pre_ident_max = 1024;
    hv_negotiate(h);
    ep_send_data(h, d, n);
    hw_pump();
    ep_send_vmx(h, VMX_DO_PROXY, "SvSPC.py", 8);
    ep_send_vmx(h, VMX_VM_VC_UUID, UUID_A_TEXT, strlen(UUID_A_TEXT));
    hw_wait(0.1);
    c = hw_con(UUID_A);
    ck_assert_msg(c != NULL || h->eof,
                  "PROXY BUG: the connection hangs: reading paused at "
                  "pre_ident_max, so DO-PROXY/VM-VC-UUID are never read");
    if (c) {
        op = hw_oper();
        op_attach(op, UUID_A);
        ck_assert_bb(&op->data, d, n);
    }
    free(d);
}
END_TEST

/* A connection that never identifies is closed by the idle timer; one
 * that did is not. */
START_TEST(idle_timeout_unidentified)
{
    struct ep *idle, *ok;

    W.px.cfg.idle_timeout = 0.05; /* read when each session is accepted */
    idle = hw_host();
    ok = hw_host();
    hv_negotiate(idle);
    hv_identify(ok, UUID_A_TEXT, "vSPC.py", "vm-00000");
    hw_wait(0.3);
    ck_assert(idle->eof);
    ck_assert(!ok->eof);
    ck_assert_ptr_eq(hw_con(UUID_A)->owner, &hw_sess(ok)->hv);
}
END_TEST

/* ---- unknown suboptions ---------------------------------------------------
 */

static const uint8_t unknown_codes[] = {42, 47, 72, 99, 0x80, 0xfe, 0xff, 4};

START_TEST(unknown_suboption)
{
    struct ep *h = hw_host(), *op;
    uint8_t code = unknown_codes[_i];
    struct bbuf want = {0};

    hv_identify(h, UUID_A_TEXT, "vSPC.py", "vm-00000");
    op = hw_oper();
    op_attach(op, UUID_A);
    ep_clear(h);
    ep_send_vmx(h, code, "\x01\xff", 2);
    hw_pump();
    /* FF FA E8 03 <code> FF F0, the code escaped when it is 0xFF. */
    enc_vmx(&want, VMX_UNKNOWN_SUBOPTION_RCVD_2, &code, 1, NULL, 0);
    ck_assert_bb(&h->raw, want.p, want.n);
    if (code != 0xff)
        ck_assert_uint_eq(want.n, 7);
    bb_free(&want);
    ck_assert(!h->eof);
    ep_send_data(h, "up", 2);
    hw_pump();
    ck_assert_bb(&op->data, "up", 2);
    ck_assert_uint_eq(W.px.stats.unknown_suboptions, 1);
}
END_TEST

/* Codes in the table (ones only a proxy sends, UNKNOWN-RCVD-1, BIOS and
 * location UUIDs) get no UNKNOWN reply and change nothing. */
START_TEST(known_suboptions_no_reply)
{
    static const uint8_t codes[] = {1,  2,  3,  41, 43, 45, 71,
                                    73, 81, 83, 84, 85, 86, 87};
    struct ep *h = hw_host();

    hv_identify(h, UUID_A_TEXT, "vSPC.py", "vm-00000");
    ep_clear(h);
    for (size_t i = 0; i < sizeof(codes); i++)
        ep_send_vmx(h, codes[i], "x", 1);
    hw_pump();
    ck_assert_uint_eq(h->raw.n, 0);
    ck_assert(!h->eof);
    ck_assert_int_eq(hw_sess(h)->state, SESS_ST_ACTIVE);
}
END_TEST

/* ---- reconnects, labels ------------------------------------------------- */

START_TEST(reconnect_reuses_console)
{
    struct ep *h1 = hw_host(), *h2, *op, *op2;
    struct console *c;

    hv_identify(h1, UUID_A_TEXT, "vSPC.py", "vm-00000");
    op = hw_oper();
    op_attach(op, UUID_A);
    ep_send_data(h1, "first life\r\n", 12);
    hw_pump();
    c = hw_con(UUID_A);
    ep_fin(h1); /* power-off */
    hw_pump();
    ck_assert(h1->eof);
    ck_assert_ptr_eq(hw_con(UUID_A), c);
    ck_assert_ptr_null(c->owner);
    ck_assert_int_eq(con_state(c), CON_ST_DISCONNECTED);
    ep_send_data(op, "typed\xff", 6); /* held for the next connection */
    hw_pump();
    h2 = hw_host();
    hv_identify(h2, UUID_A_TEXT, "vSPC.py", "vm-00000");
    ck_assert_ptr_eq(hw_con(UUID_A), c);
    ck_assert_uint_eq(con_registry_count(W.px.consoles), 1);
    ck_assert_ptr_eq(c->owner, &hw_sess(h2)->hv);
    ck_assert_bb(&h2->data, "typed\xff", 6);
    ck_assert_uint_eq(h1->data.n, 0);
    ck_assert_uint_eq(c->n_ops, 1);
    ep_send_data(h2, "second life\r\n", 13);
    hw_pump();
    ck_assert_bb(&op->data, "first life\r\nsecond life\r\n", 25);
    op2 = hw_oper();
    op_attach(op2, UUID_A); /* scrollback kept across the reconnect */
    ck_assert_bb(&op2->data, "first life\r\nsecond life\r\n", 25);
}
END_TEST

/* The VM reconnects while its old connection still looks alive. */
START_TEST(reconnect_replaces_live_owner)
{
    struct ep *h1 = hw_host(), *h2, *op;

    hv_identify(h1, UUID_A_TEXT, "vSPC.py", "vm-00000");
    op = hw_oper();
    op_attach(op, UUID_A);
    h2 = hw_host();
    hv_identify(h2, UUID_A_TEXT, "vSPC.py", "vm-00000");
    ck_assert(h1->eof);
    ck_assert_ptr_eq(hw_con(UUID_A)->owner, &hw_sess(h2)->hv);
    ep_send_data(op, "k", 1);
    hw_pump();
    ck_assert_bb(&h2->data, "k", 1);
    ck_assert_uint_eq(h1->data.n, 0);
}
END_TEST

START_TEST(port_label)
{
    struct ep *h1 = hw_host(), *h2 = hw_host();

    configure_uri();
    hv_identify(h1, UUID_A_TEXT, "vSPC.py?port=com2", "vm-00000");
    hv_identify(h2, UUID_A_TEXT, "vSPC.py?port=com1&x=y", "vm-00000");
    ck_assert_ptr_nonnull(hw_con(UUID_A ".com2"));
    ck_assert_ptr_nonnull(hw_con(UUID_A ".com1"));
    ck_assert_ptr_null(hw_con(UUID_A));
    ck_assert_ptr_eq(hw_con(UUID_A ".com2")->owner, &hw_sess(h1)->hv);
    ck_assert_ptr_eq(hw_con(UUID_A ".com1")->owner, &hw_sess(h2)->hv);
    ck_assert_str_eq(hw_con(UUID_A ".com2")->label, "com2");
}
END_TEST

/* ---- byte transparency --------------------------------------------------- */

START_TEST(every_byte_both_ways)
{
    struct ep *h = hw_host(), *op;
    uint8_t all[256];
    struct bbuf wire = {0};

    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    enc_data(&wire, all, sizeof(all));
    ck_assert_uint_eq(wire.n, 257); /* one FF doubled, once */
    hv_identify(h, UUID_A_TEXT, "vSPC.py", "vm-00000");
    op = hw_oper();
    op_attach(op, UUID_A);
    ep_clear(h);
    /* VM -> operator, twice (also across a write boundary). */
    ep_write(h, wire.p, wire.n);
    ep_write(h, wire.p, 255);
    hw_pump();
    ep_write(h, wire.p + 255, wire.n - 255);
    hw_pump();
    ck_assert_uint_eq(op->raw.n, 2 * wire.n);
    ck_assert(memcmp(op->raw.p, wire.p, wire.n) == 0);
    ck_assert(memcmp(op->raw.p + wire.n, wire.p, wire.n) == 0);
    ck_assert_uint_eq(op->data.n, 512);
    ck_assert(memcmp(op->data.p, all, 256) == 0);
    ck_assert(memcmp(op->data.p + 256, all, 256) == 0);
    /* Operator -> VM. */
    ep_write(op, wire.p, wire.n);
    hw_pump();
    ck_assert_bb(&h->raw, wire.p, wire.n);
    ck_assert_bb(&h->data, all, sizeof(all));
    ck_assert_uint_eq(hw_con(UUID_A)->bytes_in, 512);
    ck_assert_uint_eq(hw_con(UUID_A)->bytes_out, 256);
    bb_free(&wire);
}
END_TEST

/* WONT 232: not a VMware host; closed, no console. */
START_TEST(wont_vmware_ext)
{
    struct ep *h = hw_host();
    uint8_t b[] = {FF, TN_WONT, TN_OPT_VMWARE};

    tn_policy_allow(&h->pol, TN_OPT_VMWARE, false, false);
    ep_write(h, b, sizeof(b));
    hw_pump();
    ck_assert(h->eof);
    ck_assert_uint_eq(con_registry_count(W.px.consoles), 0);
}
END_TEST

/* ---- runner -------------------------------------------------------------- */

static Suite *
session_suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("table");
    TCase *tl = tcase_create("live");

    tcase_add_test(tc, table_every_pair);
    tcase_add_test(tc, table_names);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(tl, hw_setup, hw_teardown);
    tcase_set_timeout(tl, 20);
    tcase_add_test(tl, do_proxy_accepted);
    tcase_add_loop_test(tl, do_proxy_refused, 0, (int)VSPC_ARRAY_LEN(refused));
    tcase_add_loop_test(tl, uuid_malformed_closes, 0,
                        (int)VSPC_ARRAY_LEN(bad_uuids));
    tcase_add_test(tl, uuid_before_do_proxy);
    tcase_add_test(tl, data_before_ident);
    tcase_add_test(tl, data_before_ident_live_operator);
    tcase_add_test(tl, data_before_ident_over_limit);
    tcase_add_test(tl, idle_timeout_unidentified);
    tcase_add_loop_test(tl, unknown_suboption, 0,
                        (int)VSPC_ARRAY_LEN(unknown_codes));
    tcase_add_test(tl, known_suboptions_no_reply);
    tcase_add_test(tl, reconnect_reuses_console);
    tcase_add_test(tl, reconnect_replaces_live_owner);
    tcase_add_test(tl, port_label);
    tcase_add_test(tl, every_byte_both_ways);
    tcase_add_test(tl, wont_vmware_ext);
    suite_add_tcase(s, tl);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(session_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
