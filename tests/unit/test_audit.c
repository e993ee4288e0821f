/*
 * test_audit.c: Check suite for the vMotion audit ring (proxy/audit.c) and
 * its hooks in vmotion.c: records left by complete, abort, expired,
 * cancelled and NOTNOW, and the drain (node_set_draining) seen from a host
 * and from operators. The hook tests drive real sessions in-process
 * (harness.h).
 */
#include "vspc/compat.h"

#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "audit.h"
#include "harness.h"

/* ---- the ring -------------------------------------------------------------
 */

static void
rec_fill(struct aud_rec *r, unsigned k, const char *con)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->con_id, sizeof(r->con_id), "%s", con);
    snprintf(r->vm_name, sizeof(r->vm_name), "vm-%u", k);
    r->seq[0] = (uint8_t)k;
    r->seq[1] = 0xff;
    r->seq_len = 2;
    r->outcome = AUD_COMPLETE;
    snprintf(r->src, sizeof(r->src), "10.0.0.1:%u", 1000 + k);
    snprintf(r->dst, sizeof(r->dst), "10.0.0.2:%u", 2000 + k);
    r->started.tv_sec = 1700000000 + k;
    r->started.tv_nsec = 123456789;
    r->begin_goahead_us = k;
    r->peer_peerok_us = 2 * k;
    r->total_ms = 3 * k;
    r->held_bytes = 4 * k;
}

START_TEST(ring_fills_newest_first)
{
    struct aud_ring *r = aud_new(8);
    struct aud_rec rec;

    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_null(aud_get(r, 0));
    for (unsigned k = 1; k <= 3; k++) {
        rec_fill(&rec, k, "a");
        aud_add(r, &rec);
    }
    ck_assert_uint_eq(aud_count(r), 3);
    ck_assert_uint_eq(aud_total(r), 3);
    ck_assert_uint_eq(aud_capacity(r), 8);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_uint_eq(aud_get(r, i)->n, 3 - i);
        ck_assert_str_eq(aud_get(r, i)->vm_name,
                         i == 0 ? "vm-3" : (i == 1 ? "vm-2" : "vm-1"));
    }
    ck_assert_ptr_null(aud_get(r, 3));
    aud_free(&r);
    ck_assert_ptr_null(r);
    aud_free(&r); /* twice is harmless */
}
END_TEST

/* Wrap at every capacity around the array's growth steps (16, 32, ...). */
START_TEST(ring_wraps)
{
    static const size_t caps[] = {1, 2, 15, 16, 17, 33, 100};
    size_t cap = caps[_i];
    struct aud_ring *r = aud_new(cap);
    struct aud_rec rec;
    unsigned total = (unsigned)(3 * cap + 5);

    for (unsigned k = 1; k <= total; k++) {
        rec_fill(&rec, k, "a");
        aud_add(r, &rec);
        /* At every step: the newest min(k, cap), in order. */
        ck_assert_uint_eq(aud_count(r), k < cap ? k : cap);
        for (size_t i = 0; i < aud_count(r); i++) {
            ck_assert_uint_eq(aud_get(r, i)->n, k - i);
            ck_assert_uint_eq(aud_get(r, i)->held_bytes, 4 * (k - i));
        }
        ck_assert_ptr_null(aud_get(r, aud_count(r)));
    }
    ck_assert_uint_eq(aud_total(r), total);
    ck_assert_uint_eq(aud_dropped(r), 0);
    aud_free(&r);
}
END_TEST

START_TEST(ring_zero_and_null)
{
    struct aud_ring *r = aud_new(0);
    struct aud_rec rec;
    json_t *j;

    rec_fill(&rec, 1, "a");
    aud_add(r, &rec);
    aud_add(NULL, &rec);
    ck_assert_uint_eq(aud_count(r), 0);
    ck_assert_uint_eq(aud_total(r), 1);
    ck_assert_ptr_null(aud_get(r, 0));
    ck_assert_uint_eq(aud_count(NULL), 0);
    ck_assert_ptr_null(aud_get(NULL, 0));
    j = aud_to_json(r, NULL, 0);
    ck_assert(json_is_array(j) && json_array_size(j) == 0);
    json_decref(j);
    j = aud_to_json(NULL, NULL, 0);
    ck_assert(json_is_array(j) && json_array_size(j) == 0);
    json_decref(j);
    aud_free(&r);
}
END_TEST

/* ---- JSON -------------------------------------------------------------- */

static const char *const rec_keys[] = {
    "n",         "console",          "vm_name",        "seq",
    "source",    "destination",      "outcome",        "reason",
    "started",   "begin_goahead_us", "peer_peerok_us", "total_ms",
    "held_bytes"};

static void
check_shape(json_t *o)
{
    regex_t re;

    ck_assert(json_is_object(o));
    ck_assert_uint_eq(json_object_size(o), VSPC_ARRAY_LEN(rec_keys));
    for (size_t i = 0; i < VSPC_ARRAY_LEN(rec_keys); i++)
        ck_assert_msg(json_object_get(o, rec_keys[i]) != NULL, "no \"%s\"",
                      rec_keys[i]);
    ck_assert(json_is_integer(json_object_get(o, "n")));
    ck_assert(json_is_string(json_object_get(o, "vm_name")));
    ck_assert(json_is_string(json_object_get(o, "seq")));
    ck_assert(json_is_string(json_object_get(o, "source")));
    ck_assert(json_is_string(json_object_get(o, "outcome")));
    ck_assert(json_is_integer(json_object_get(o, "total_ms")));
    ck_assert(json_is_integer(json_object_get(o, "held_bytes")));
    ck_assert_int_eq(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                             "[0-9]{2}\\.[0-9]{6}Z$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    ck_assert_msg(regexec(&re, json_string_value(json_object_get(o, "started")),
                          0, NULL, 0) == 0,
                  "started: %s",
                  json_string_value(json_object_get(o, "started")));
    regfree(&re);
}

START_TEST(json_shape)
{
    struct aud_ring *r = aud_new(4);
    struct aud_rec rec;
    json_t *arr, *o;
    char *text;

    rec_fill(&rec, 7, "4c1f0a2b3c4d5e6f708192a3b4c5d6e7.com1");
    aud_add(r, &rec);
    arr = aud_to_json(r, NULL, 0);
    ck_assert_uint_eq(json_array_size(arr), 1);
    o = json_array_get(arr, 0);
    check_shape(o);
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(text,
                     "{\"begin_goahead_us\":7,"
                     "\"console\":\"4c1f0a2b3c4d5e6f708192a3b4c5d6e7.com1\","
                     "\"destination\":\"10.0.0.2:2007\",\"held_bytes\":28,"
                     "\"n\":1,\"outcome\":\"complete\",\"peer_peerok_us\":14,"
                     "\"reason\":null,\"seq\":\"07ff\","
                     "\"source\":\"10.0.0.1:1007\","
                     "\"started\":\"2023-11-14T22:13:27.123456Z\","
                     "\"total_ms\":21,\"vm_name\":\"vm-7\"}");
    free(text);
    json_decref(arr);
    aud_free(&r);
}
END_TEST

/* NOTNOW on a connection of no console: nulls where nothing was measured;
 * a VM name jansson refuses still gives valid JSON. */
START_TEST(json_nulls_and_bad_utf8)
{
    struct aud_ring *r = aud_new(4);
    struct aud_rec rec;
    json_t *arr, *o;

    rec_fill(&rec, 1, "");
    rec.outcome = AUD_NOTNOW;
    rec.dst[0] = '\0';
    snprintf(rec.reason, sizeof(rec.reason), "node draining");
    snprintf(rec.vm_name, sizeof(rec.vm_name), "bad\xff\xfe name");
    rec.begin_goahead_us = -1;
    rec.peer_peerok_us = -1;
    rec.seq_len = VMX_SEQ_MAX;
    memset(rec.seq, 0xab, sizeof(rec.seq));
    aud_add(r, &rec);
    arr = aud_to_json(r, NULL, 0);
    o = json_array_get(arr, 0);
    check_shape(o);
    ck_assert(json_is_null(json_object_get(o, "console")));
    ck_assert(json_is_null(json_object_get(o, "destination")));
    ck_assert(json_is_null(json_object_get(o, "begin_goahead_us")));
    ck_assert(json_is_null(json_object_get(o, "peer_peerok_us")));
    ck_assert_str_eq(json_string_value(json_object_get(o, "outcome")),
                     "notnow");
    ck_assert_str_eq(json_string_value(json_object_get(o, "reason")),
                     "node draining");
    ck_assert_str_eq(json_string_value(json_object_get(o, "vm_name")),
                     "bad?? name");
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(o, "seq"))),
                      2 * VMX_SEQ_MAX);
    json_decref(arr);
    aud_free(&r);
}
END_TEST

START_TEST(json_filter_and_limit)
{
    struct aud_ring *r = aud_new(16);
    struct aud_rec rec;
    json_t *arr;

    for (unsigned k = 1; k <= 10; k++) {
        rec_fill(&rec, k, k % 2 ? "odd" : "even");
        aud_add(r, &rec);
    }
    arr = aud_to_json(r, "odd", 0);
    ck_assert_uint_eq(json_array_size(arr), 5);
    for (size_t i = 0; i < 5; i++)
        ck_assert_int_eq(
            json_integer_value(json_object_get(json_array_get(arr, i), "n")),
            9 - 2 * (json_int_t)i);
    json_decref(arr);
    arr = aud_to_json(r, "even", 2);
    ck_assert_uint_eq(json_array_size(arr), 2);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_array_get(arr, 1), "n")), 8);
    json_decref(arr);
    arr = aud_to_json(r, NULL, 3);
    ck_assert_uint_eq(json_array_size(arr), 3);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_array_get(arr, 0), "n")), 10);
    json_decref(arr);
    arr = aud_to_json(r, "none", 0);
    ck_assert_uint_eq(json_array_size(arr), 0);
    json_decref(arr);
    ck_assert_str_eq(aud_outcome_str(AUD_CANCELLED), "cancelled");
    ck_assert_str_eq(aud_outcome_str(AUD__COUNT), "unknown");
    aud_free(&r);
}
END_TEST

/* ---- hooks in vmotion.c (harness) -------------------------------------- */

static const uint8_t SEQ4[4] = {0x12, 0xff, 0x34, 0x56};

static struct ep *
source(void)
{
    struct ep *src = hw_host();

    hv_identify(src, UUID_A_TEXT, "vSPC.py", "vm-audit");
    ck_assert_ptr_nonnull(hw_con(UUID_A));
    return src;
}

static const struct aud_rec *
newest(void)
{
    const struct aud_rec *r = aud_get(W.px.audit, 0);

    ck_assert_ptr_nonnull(r);
    return r;
}

START_TEST(hook_complete)
{
    struct ep *src = source(), *peer = hw_host(), *op = hw_oper();
    const struct aud_rec *r;

    op_attach(op, UUID_A);
    hv_begin(src, SEQ4, sizeof(SEQ4));
    ep_send_data(op, "held", 4); /* held from GOAHEAD to COMPLETE */
    hw_pump();
    ck_assert(hv_peer(peer, SEQ4, sizeof(SEQ4), src->secret, UUID_A_TEXT));
    ck_assert_uint_eq(aud_count(W.px.audit), 0);
    ep_send_vmx(peer, VMX_VMOTION_COMPLETE, SEQ4, sizeof(SEQ4));
    hw_pump();
    ck_assert_uint_eq(aud_count(W.px.audit), 1);
    r = newest();
    ck_assert_str_eq(r->con_id, UUID_A);
    ck_assert_str_eq(r->vm_name, "vm-audit");
    ck_assert_uint_eq(r->seq_len, 4);
    ck_assert(memcmp(r->seq, SEQ4, 4) == 0);
    ck_assert_int_eq(r->outcome, AUD_COMPLETE);
    ck_assert_str_eq(r->src, src->addr);
    ck_assert_str_eq(r->dst, peer->addr);
    ck_assert_str_eq(r->reason, "");
    ck_assert_int_ge(r->begin_goahead_us, 0);
    ck_assert_int_ge(r->peer_peerok_us, 0);
    ck_assert_uint_eq(r->held_bytes, 4);
    ck_assert_int_gt(r->started.tv_sec, 1600000000);
}
END_TEST

START_TEST(hook_abort_expire_cancel)
{
    struct ep *src = source();
    const struct aud_rec *r;

    hv_begin(src, SEQ4, sizeof(SEQ4));
    ep_send_vmx(src, VMX_VMOTION_ABORT, NULL, 0);
    hw_pump();
    r = newest();
    ck_assert_int_eq(r->outcome, AUD_ABORT);
    ck_assert_str_eq(r->dst, "");
    ck_assert_int_eq(r->peer_peerok_us, -1);
    /* Expired by the timer. */
    W.px.cfg.vmotion_timeout = 0.05;
    hv_begin(src, SEQ4, sizeof(SEQ4));
    hw_wait(0.2);
    r = newest();
    ck_assert_int_eq(r->outcome, AUD_EXPIRED);
    ck_assert_uint_eq(r->n, 2);
    /* Cancelled: the console goes away with a vMotion pending. */
    W.px.cfg.vmotion_timeout = 30;
    hv_begin(src, SEQ4, sizeof(SEQ4));
    vmo_cancel(hw_con(UUID_A), "test");
    r = newest();
    ck_assert_int_eq(r->outcome, AUD_CANCELLED);
    ck_assert_str_eq(r->reason, "test");
    ck_assert_uint_eq(aud_count(W.px.audit), 3);
}
END_TEST

START_TEST(hook_notnow)
{
    struct ep *src = source(), *lone = hw_host();
    const struct aud_rec *r;

    hv_begin(src, SEQ4, sizeof(SEQ4));
    ep_send_vmx(src, VMX_VMOTION_BEGIN, SEQ4, 3); /* while pending */
    hw_pump();
    ck_assert_uint_eq(src->n_sub[VMX_VMOTION_NOTNOW], 1);
    r = newest();
    ck_assert_int_eq(r->outcome, AUD_NOTNOW);
    ck_assert_str_eq(r->con_id, UUID_A);
    ck_assert_uint_eq(r->seq_len, 3);
    ck_assert_str_eq(r->reason, "a vMotion is already pending");
    ck_assert_int_eq(r->begin_goahead_us, -1);
    /* BEGIN on a connection of no console. */
    hv_negotiate(lone);
    ep_send_vmx(lone, VMX_VMOTION_BEGIN, SEQ4, 4);
    hw_pump();
    ck_assert_uint_eq(lone->n_sub[VMX_VMOTION_NOTNOW], 1);
    r = newest();
    ck_assert_str_eq(r->con_id, "");
    ck_assert_str_eq(r->src, lone->addr);
    ck_assert_uint_eq(aud_count(W.px.audit), 2);
}
END_TEST

/* A small ring in a live proxy keeps the newest. */
START_TEST(hook_ring_wraps)
{
    struct ep *src = source();

    aud_free(&W.px.audit);
    W.px.audit = aud_new(2);
    for (int i = 0; i < 5; i++) {
        hv_begin(src, SEQ4, sizeof(SEQ4));
        ep_send_vmx(src, VMX_VMOTION_ABORT, NULL, 0);
        hw_pump();
    }
    ck_assert_uint_eq(aud_count(W.px.audit), 2);
    ck_assert_uint_eq(aud_total(W.px.audit), 5);
    ck_assert_uint_eq(newest()->n, 5);
    ck_assert_uint_eq(aud_get(W.px.audit, 1)->n, 4);
}
END_TEST

/* Command-mode line on an operator; returns what came back. */
static const char *
op_say(struct ep *o, const char *line)
{
    bb_clear(&o->data);
    ep_send_str(o, line);
    hw_pump();
    return bb_str(&o->data);
}

START_TEST(drain_refuses_and_tells)
{
    struct ep *src = source(), *admin = hw_oper(), *raw = hw_oper();
    struct ep *cooked = hw_oper();
    const char *out;
    struct bbuf wire = {0};

    op_attach(raw, UUID_A);
    hw_pump();
    ep_send_str(cooked, "attach " UUID_A " rw\r\n");
    hw_pump();
    ck_assert_ptr_nonnull(strstr(bb_str(&cooked->data), "ok attached"));
    bb_clear(&cooked->data);
    hw_pump();

    out = op_say(admin, "drain status\r\n");
    ck_assert_ptr_nonnull(strstr(out, "ok not draining\r\n"));
    out = op_say(admin, "drain\r\n");
    ck_assert_ptr_nonnull(strstr(out, "ok draining\r\n"));
    ck_assert(W.px.draining);
    ck_assert_str_eq(bb_str(&cooked->data),
                     "\r\n[vspc " HW_MARK ": node draining]\r\n");
    ck_assert_uint_eq(raw->data.n, 0); /* raw operators get no notices */
    out = op_say(admin, "drain\r\n");
    ck_assert_ptr_nonnull(strstr(out, "ok already draining\r\n"));
    out = op_say(admin, "drain status\r\n");
    ck_assert_ptr_nonnull(strstr(out, "ok draining\r\n"));
    out = op_say(admin, "drain now\r\n");
    ck_assert_ptr_nonnull(
        strstr(out, "error usage: drain [status | --close-after SECONDS]\r\n"));
    out = op_say(admin, "drain --close-after 0\r\n");
    ck_assert_ptr_nonnull(strstr(out, "error usage: drain"));
    out = op_say(admin, "drain --close-after 1x\r\n");
    ck_assert_ptr_nonnull(strstr(out, "error usage: drain"));

    /* BEGIN gets exactly NOTNOW(seq); the console keeps working. */
    ep_clear(src);
    ep_send_vmx(src, VMX_VMOTION_BEGIN, SEQ4, sizeof(SEQ4));
    hw_pump();
    enc_vmx(&wire, VMX_VMOTION_NOTNOW, SEQ4, sizeof(SEQ4), NULL, 0);
    ck_assert_bb(&src->raw, wire.p, wire.n);
    bb_free(&wire);
    ck_assert_ptr_null(hw_con(UUID_A)->vmo);
    ck_assert_str_eq(newest()->reason, "node draining");
    ck_assert_uint_eq(W.px.stats.vmotion_notnow, 1);
    /* New hypervisor connections are still accepted. */
    {
        struct ep *b = hw_host();

        hv_identify(b, UUID_B_TEXT, "vSPC.py", "vm-b");
        ck_assert_ptr_nonnull(hw_con(UUID_B));
    }

    bb_clear(&cooked->data);
    out = op_say(admin, "undrain\r\n");
    ck_assert_ptr_nonnull(strstr(out, "ok not draining\r\n"));
    ck_assert(!W.px.draining);
    ck_assert_str_eq(bb_str(&cooked->data),
                     "\r\n[vspc " HW_MARK ": node no longer draining]\r\n");
    out = op_say(admin, "undrain\r\n");
    ck_assert_ptr_nonnull(strstr(out, "ok already not draining\r\n"));
    hv_begin(src, SEQ4, sizeof(SEQ4)); /* GOAHEAD again */
    out = op_say(admin, "help\r\n");
    ck_assert_ptr_nonnull(strstr(out, "  drain [status]"));
    ck_assert_ptr_nonnull(strstr(out, "  undrain"));
}
END_TEST

static Suite *
audit_suite(void)
{
    Suite *s = suite_create("audit");
    TCase *tr = tcase_create("ring");
    TCase *th = tcase_create("hooks");

    tcase_add_test(tr, ring_fills_newest_first);
    tcase_add_loop_test(tr, ring_wraps, 0, 7);
    tcase_add_test(tr, ring_zero_and_null);
    tcase_add_test(tr, json_shape);
    tcase_add_test(tr, json_nulls_and_bad_utf8);
    tcase_add_test(tr, json_filter_and_limit);
    suite_add_tcase(s, tr);

    tcase_add_checked_fixture(th, hw_setup, hw_teardown);
    tcase_add_test(th, hook_complete);
    tcase_add_test(th, hook_abort_expire_cancel);
    tcase_add_test(th, hook_notnow);
    tcase_add_test(th, hook_ring_wraps);
    tcase_add_test(th, drain_refuses_and_tells);
    suite_add_tcase(s, th);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(audit_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
