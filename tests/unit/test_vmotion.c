/*
 * test_vmotion.c: Check suite for the vMotion splice (proxy/vmotion.c).
 *
 * Part 1 checks the transition table vmo_table[state][event] cell by cell
 * against the rules of PROTOCOL.md section 5, and the names: it is in
 * vmotion_cases_table.c, compiled into this runner (vmotion_cases.h).
 * Part 2 (here) drives real sessions in-process (harness.h): socketpairs,
 * the proxy's own sess_new/op_new, a host-side telnet codec per
 * connection. It covers the conformance scenarios 26-47 of PROTOCOL.md
 * section 10.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "vmotion_cases.h"

/* ---- part 2: helpers ------------------------------------------------------
 */

/* ---- part 2: handshake, BEGIN ------------------------------------------- */

START_TEST(handshake_identifies)
{
    struct ep *src = hw_host(), *op;
    struct console *c;
    struct bbuf want_log = {0};
    char line[256];

    hv_identify(src, UUID_A_TEXT, "vSPC.py", "vm-00000");
    c = con_a();
    ck_assert_ptr_eq(c->owner, &hw_sess(src)->hv);
    ck_assert_str_eq(c->name, "vm-00000");
    ck_assert_int_eq(con_state(c), CON_ST_CONNECTED);
    ck_assert_uint_eq(W.px.stats.hv_identified, 1);
    /* The proxy's option-232 dialogue, in order: -2, the GETs, WILL. */
    snprintf(line, sizeof(line), "01 %s\n",
             hexs(vmx_known_suboptions_2, vmx_known_suboptions_2_len));
    bb_adds(&want_log, line);
    bb_adds(&want_log, "51\n53\n47\n");
    ck_assert_str_eq(bb_str(&src->log), bb_str(&want_log));
    bb_free(&want_log);
    op = hw_oper();
    op_attach(op, UUID_A);
    ep_send_data(src, "boot\r\n", 6);
    hw_pump();
    ck_assert_bb(&op->data, "boot\r\n", 6);
}
END_TEST

START_TEST(begin_goahead)
{
    struct ep *src, *op;
    struct bbuf wire = {0};
    uint8_t first[VMX_SECRET_LEN];

    source_and_op(&src, &op);
    ep_clear(src);
    hv_begin(src, SEQ, sizeof(SEQ));
    /* Exactly one SB on the wire: FF FA E8 29 seq secret FF F0. */
    enc_vmx(&wire, VMX_VMOTION_GOAHEAD, SEQ, sizeof(SEQ), src->secret,
            VMX_SECRET_LEN);
    ck_assert_bb(&src->raw, wire.p, wire.n);
    bb_free(&wire);
    ck_assert_uint_eq(src->secret[0], 7);
    ck_assert_int_eq(vstate(), VMO_ST_GOAHEAD);
    ck_assert_int_eq(con_state(con_a()), CON_ST_VMOTION);
    ck_assert_uint_eq(W.px.stats.vmotion_begin, 1);
    memcpy(first, src->secret, sizeof(first));
    /* Another console's BEGIN gets a different secret. */
    {
        struct ep *b = hw_host();

        hv_identify(b, UUID_B_TEXT, "vSPC.py", "vm-b");
        hv_begin(b, SEQ, sizeof(SEQ));
        ck_assert_msg(memcmp(first, b->secret, VMX_SECRET_LEN) != 0,
                      "two vMotions got the same secret");
    }
}
END_TEST

START_TEST(input_held_until_complete)
{
    struct ep *src, *op, *peer;

    source_and_op(&src, &op);
    ep_send_data(op, "A", 1);
    hw_pump();
    ck_assert_bb(&src->data, "A", 1);
    hv_begin(src, SEQ, sizeof(SEQ));
    ep_send_data(op, "B", 1);
    hw_pump();
    ep_send_data(op, "C\xff", 2);
    hw_pump();
    ck_assert_bb(&src->data, "A", 1); /* nothing after GOAHEAD */
    peer = hw_host();
    ck_assert(hv_peer(peer, SEQ, sizeof(SEQ), src->secret, UUID_A_TEXT));
    ep_send_data(op, "D", 1);
    hw_pump();
    ck_assert_uint_eq(peer->data.n, 0); /* not before COMPLETE */
    ck_assert_bb(&src->data, "A", 1);
    ep_send_vmx(peer, VMX_VMOTION_COMPLETE, SEQ, sizeof(SEQ));
    hw_pump();
    ck_assert_bb(&peer->data,
                 "BC\xff"
                 "D",
                 4);
    ep_send_data(op, "E", 1);
    hw_pump();
    ck_assert_bb(&peer->data,
                 "BC\xff"
                 "DE",
                 5);
    ck_assert_bb(&src->data, "A", 1);
    ck_assert(src->eof); /* the source is retired and closed */
    ck_assert_ptr_eq(con_a()->owner, &hw_sess(peer)->hv);
    ck_assert_uint_eq(W.px.stats.vmotion_complete, 1);
    /* VM output now flows from the peer. */
    ep_send_data(peer, "up", 2);
    hw_pump();
    ck_assert_bb(&op->data, "up", 2);
}
END_TEST

/* Operator input racing BEGIN: before GOAHEAD on the source, or after it on
 * the peer; exactly once either way. */
START_TEST(input_racing_begin)
{
    struct ep *src, *op, *peer;
    struct bbuf b = {0};
    const uint8_t *g;

    source_and_op(&src, &op);
    ep_clear(src);
    ep_send_data(op, "X", 1);
    ep_send_vmx(src, VMX_VMOTION_BEGIN, SEQ, sizeof(SEQ));
    hw_pump();
    ck_assert_uint_eq(src->n_sub[VMX_VMOTION_GOAHEAD], 1);
    enc_vmx(&b, VMX_VMOTION_GOAHEAD, SEQ, sizeof(SEQ), src->secret,
            VMX_SECRET_LEN);
    g = memmem(src->raw.p, src->raw.n, b.p, b.n);
    ck_assert_ptr_nonnull(g);
    /* Whatever reached the source came before the GOAHEAD. */
    ck_assert_uint_eq((size_t)(g - src->raw.p) + b.n, src->raw.n);
    bb_free(&b);
    peer = hw_host();
    ck_assert(hv_peer(peer, SEQ, sizeof(SEQ), src->secret, UUID_A_TEXT));
    ep_send_vmx(peer, VMX_VMOTION_COMPLETE, SEQ, sizeof(SEQ));
    hw_pump();
    ck_assert_uint_eq(src->data.n + peer->data.n, 1);
}
END_TEST

/* ---- PEER checks ----------------------------------------------------------
 */

START_TEST(peer_wrong_secret)
{
    struct ep *src, *op, *bad, *good;
    uint8_t secret[VMX_SECRET_LEN];

    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    memcpy(secret, src->secret, sizeof(secret));
    secret[7] ^= 0x01;
    bad = hw_host();
    ck_assert(!hv_peer(bad, SEQ, sizeof(SEQ), secret, UUID_A_TEXT));
    /* Truncated and over-long payloads are no better. */
    ep_send_vmx2(bad, VMX_VMOTION_PEER, SEQ, sizeof(SEQ), src->secret, 7);
    ep_send_vmx2(bad, VMX_VMOTION_PEER, SEQ, sizeof(SEQ) - 1, src->secret,
                 VMX_SECRET_LEN);
    hw_pump();
    ck_assert_uint_eq(bad->n_sub[VMX_VMOTION_PEER_OK], 0);
    ck_assert(!bad->eof);
    ck_assert_int_eq(vstate(), VMO_ST_GOAHEAD);
    ck_assert_uint_eq(W.px.stats.peer_rejected, 3);
    /* The source is unaffected. */
    ep_send_data(src, "still", 5);
    hw_pump();
    ck_assert_bb(&op->data, "still", 5);
    ck_assert_ptr_eq(con_a()->owner, &hw_sess(src)->hv);
    /* A wrong guess does not spend the real secret. */
    good = hw_host();
    ck_assert(hv_peer(good, SEQ, sizeof(SEQ), src->secret, UUID_A_TEXT));
}
END_TEST

START_TEST(peer_wrong_seq)
{
    struct ep *src, *op, *bad;
    const uint8_t seq2[4] = {0x44, 0xda, 0x87, 0xf2};

    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    bad = hw_host();
    ck_assert(!hv_peer(bad, seq2, sizeof(seq2), src->secret, UUID_A_TEXT));
    /* seq||secret with the sequence one byte shorter. */
    ep_send_vmx2(bad, VMX_VMOTION_PEER, SEQ, 3, src->secret, VMX_SECRET_LEN);
    hw_pump();
    ck_assert_uint_eq(bad->n_sub[VMX_VMOTION_PEER_OK], 0);
    ck_assert_int_eq(vstate(), VMO_ST_GOAHEAD);
}
END_TEST

START_TEST(peer_without_begin)
{
    struct ep *src, *op, *bad;
    uint8_t secret[VMX_SECRET_LEN] = {7, 1, 2, 3, 4, 5, 6, 7};

    source_and_op(&src, &op);
    bad = hw_host();
    ck_assert(!hv_peer(bad, SEQ, sizeof(SEQ), secret, UUID_A_TEXT));
    ck_assert_ptr_null(con_a()->vmo);
    ck_assert_int_eq(hw_sess(bad)->state, SESS_ST_NEGOTIATING);
}
END_TEST

START_TEST(peer_on_source)
{
    struct ep *src, *op;

    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    ep_send_vmx2(src, VMX_VMOTION_PEER, SEQ, sizeof(SEQ), src->secret,
                 VMX_SECRET_LEN);
    hw_pump();
    ck_assert_uint_eq(src->n_sub[VMX_VMOTION_PEER_OK], 0);
    ck_assert_int_eq(vstate(), VMO_ST_GOAHEAD);
    ck_assert_int_eq(hw_sess(src)->state, SESS_ST_ACTIVE);
    ck_assert_ptr_eq(con_a()->owner, &hw_sess(src)->hv);
}
END_TEST

START_TEST(peer_replay_after_complete)
{
    struct ep *src, *op, *peer, *replay;
    uint8_t secret[VMX_SECRET_LEN];

    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    memcpy(secret, src->secret, sizeof(secret));
    peer = hw_host();
    ck_assert(hv_peer(peer, SEQ, sizeof(SEQ), secret, UUID_A_TEXT));
    ep_send_vmx(peer, VMX_VMOTION_COMPLETE, SEQ, sizeof(SEQ));
    hw_pump();
    replay = hw_host();
    ck_assert(!hv_peer(replay, SEQ, sizeof(SEQ), secret, UUID_A_TEXT));
    ck_assert_ptr_eq(con_a()->owner, &hw_sess(peer)->hv);
    ck_assert_ptr_null(con_a()->vmo);
}
END_TEST

START_TEST(peer_second_concurrent)
{
    struct ep *src, *op, *p1, *p2;

    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    p1 = hw_host();
    ck_assert(hv_peer(p1, SEQ, sizeof(SEQ), src->secret, UUID_A_TEXT));
    p2 = hw_host();
    ck_assert(!hv_peer(p2, SEQ, sizeof(SEQ), src->secret, UUID_A_TEXT));
    ck_assert_ptr_eq(con_a()->vmo->dest, sess_dest(hw_sess(p1)));
    ep_send_vmx(p2, VMX_VMOTION_COMPLETE, SEQ, sizeof(SEQ));
    hw_pump();
    ck_assert_int_eq(vstate(), VMO_ST_PEER_OK);
    ep_send_vmx(p1, VMX_VMOTION_COMPLETE, SEQ, sizeof(SEQ));
    hw_pump();
    ck_assert_ptr_eq(con_a()->owner, &hw_sess(p1)->hv);
}
END_TEST

/* Two peers present the secret in the same loop iteration: one wins. */
START_TEST(peer_two_at_once)
{
    struct ep *src, *op, *p[2];

    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    for (int i = 0; i < 2; i++) {
        p[i] = hw_host();
        hv_negotiate(p[i]);
        hw_pump();
    }
    for (int i = 0; i < 2; i++)
        ep_send_vmx2(p[i], VMX_VMOTION_PEER, SEQ, sizeof(SEQ), src->secret,
                     VMX_SECRET_LEN);
    hw_pump();
    ck_assert_uint_eq(
        p[0]->n_sub[VMX_VMOTION_PEER_OK] + p[1]->n_sub[VMX_VMOTION_PEER_OK], 1);
}
END_TEST

/* ---- COMPLETE checks ------------------------------------------------------
 */

START_TEST(complete_duplicated)
{
    struct ep *src, *op, *peer;

    source_and_op(&src, &op);
    peer = migrate(src, SEQ, sizeof(SEQ));
    ep_send_vmx(peer, VMX_VMOTION_COMPLETE, SEQ, sizeof(SEQ));
    hw_pump();
    ck_assert(!peer->eof);
    ck_assert_ptr_eq(con_a()->owner, &hw_sess(peer)->hv);
    ck_assert_uint_eq(W.px.stats.vmotion_complete, 1);
    ep_send_data(peer, "go on", 5);
    hw_pump();
    ck_assert_bb(&op->data, "go on", 5);
}
END_TEST

START_TEST(complete_on_source)
{
    struct ep *src, *op;

    source_and_op(&src, &op);
    ep_send_vmx(src, VMX_VMOTION_COMPLETE, SEQ, sizeof(SEQ)); /* none pending */
    hw_pump();
    hv_begin(src, SEQ, sizeof(SEQ));
    ep_send_vmx(src, VMX_VMOTION_COMPLETE, SEQ, sizeof(SEQ));
    hw_pump();
    ck_assert(!src->eof);
    ck_assert_int_eq(vstate(), VMO_ST_GOAHEAD);
    ck_assert_ptr_eq(con_a()->owner, &hw_sess(src)->hv);
    ep_send_data(src, "x", 1);
    hw_pump();
    ck_assert_bb(&op->data, "x", 1);
}
END_TEST

START_TEST(complete_before_peer_ok)
{
    struct ep *src, *op, *peer;

    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    peer = hw_host();
    hv_negotiate(peer);
    ep_send_vmx(peer, VMX_VMOTION_COMPLETE, SEQ, sizeof(SEQ));
    hw_pump();
    ck_assert_int_eq(vstate(), VMO_ST_GOAHEAD);
    ck_assert_ptr_eq(con_a()->owner, &hw_sess(src)->hv);
    ck_assert(!peer->eof);
    /* Wrong sequence on the accepted peer: ignored too. */
    ep_send_vmx2(peer, VMX_VMOTION_PEER, SEQ, sizeof(SEQ), src->secret,
                 VMX_SECRET_LEN);
    hw_pump();
    ck_assert_uint_eq(peer->n_sub[VMX_VMOTION_PEER_OK], 1);
    ep_send_vmx(peer, VMX_VMOTION_COMPLETE, SEQ, 3);
    hw_pump();
    ck_assert_int_eq(vstate(), VMO_ST_PEER_OK);
    ep_send_vmx(peer, VMX_VMOTION_COMPLETE, SEQ, sizeof(SEQ));
    hw_pump();
    ck_assert_ptr_eq(con_a()->owner, &hw_sess(peer)->hv);
}
END_TEST

/* ---- ABORT -------------------------------------------------------------- */

START_TEST(abort_flushes_to_source)
{
    struct ep *src, *op, *peer, *late;
    uint8_t secret[VMX_SECRET_LEN];

    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    memcpy(secret, src->secret, sizeof(secret));
    peer = hw_host();
    ck_assert(hv_peer(peer, SEQ, sizeof(SEQ), secret, UUID_A_TEXT));
    ep_send_data(op, "held", 4);
    hw_pump();
    ck_assert_uint_eq(src->data.n, 0);
    ep_send_vmx(src, VMX_VMOTION_ABORT, NULL, 0);
    hw_pump();
    ck_assert_bb(&src->data, "held", 4);
    ck_assert_uint_eq(peer->data.n, 0);
    ck_assert(peer->eof); /* the peer that had the secret is dropped */
    ck_assert_ptr_null(con_a()->vmo);
    ck_assert_ptr_eq(con_a()->owner, &hw_sess(src)->hv);
    ck_assert_uint_eq(W.px.stats.vmotion_abort, 1);
    ep_send_data(op, "now", 3);
    hw_pump();
    ck_assert_bb(&src->data, "heldnow", 7);
    /* The secret is dead. */
    late = hw_host();
    ck_assert(!hv_peer(late, SEQ, sizeof(SEQ), secret, UUID_A_TEXT));
    /* ABORT again, with nothing pending: no-op. */
    ep_send_vmx(src, VMX_VMOTION_ABORT, NULL, 0);
    hw_pump();
    ck_assert(!src->eof);
    ck_assert_uint_eq(W.px.stats.vmotion_abort, 1);
}
END_TEST

START_TEST(abort_on_peer_ignored)
{
    struct ep *src, *op, *peer;

    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    peer = hw_host();
    ck_assert(hv_peer(peer, SEQ, sizeof(SEQ), src->secret, UUID_A_TEXT));
    ep_send_data(op, "q", 1);
    ep_send_vmx(peer, VMX_VMOTION_ABORT, NULL, 0);
    hw_pump();
    ck_assert_int_eq(vstate(), VMO_ST_PEER_OK);
    ck_assert_uint_eq(src->data.n, 0);
    ck_assert(!peer->eof);
    ep_send_vmx(peer, VMX_VMOTION_COMPLETE, SEQ, sizeof(SEQ));
    hw_pump();
    ck_assert_bb(&peer->data, "q", 1);
}
END_TEST

/* ---- NOTNOW ---------------------------------------------------------------
 */

START_TEST(second_begin_notnow)
{
    struct ep *src, *op, *peer;
    const uint8_t seq2[3] = {0xcd, 0xff, 0x55};
    struct bbuf wire = {0};
    uint8_t secret[VMX_SECRET_LEN];

    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    memcpy(secret, src->secret, sizeof(secret));
    ep_clear(src);
    ep_send_vmx(src, VMX_VMOTION_BEGIN, seq2, sizeof(seq2));
    hw_pump();
    enc_vmx(&wire, VMX_VMOTION_NOTNOW, seq2, sizeof(seq2), NULL, 0);
    ck_assert_bb(&src->raw, wire.p, wire.n);
    ck_assert_int_eq(vstate(), VMO_ST_GOAHEAD);
    ck_assert(memcmp(con_a()->vmo->seq, SEQ, sizeof(SEQ)) == 0);
    /* The first vMotion's secret still works; BEGIN in PEER_OK: NOTNOW. */
    peer = hw_host();
    ck_assert(hv_peer(peer, SEQ, sizeof(SEQ), secret, UUID_A_TEXT));
    ep_clear(src);
    ep_send_vmx(src, VMX_VMOTION_BEGIN, seq2, sizeof(seq2));
    hw_pump();
    ck_assert_bb(&src->raw, wire.p, wire.n);
    ck_assert_int_eq(vstate(), VMO_ST_PEER_OK);
    ck_assert_uint_eq(W.px.stats.vmotion_notnow, 2);
    bb_free(&wire);
}
END_TEST

START_TEST(begin_unidentified_notnow)
{
    struct ep *h = hw_host();
    struct bbuf wire = {0};

    hv_negotiate(h);
    hw_pump();
    ep_clear(h);
    ep_send_vmx(h, VMX_VMOTION_BEGIN, SEQ, sizeof(SEQ));
    hw_pump();
    enc_vmx(&wire, VMX_VMOTION_NOTNOW, SEQ, sizeof(SEQ), NULL, 0);
    ck_assert_bb(&h->raw, wire.p, wire.n);
    ck_assert(!h->eof);
    ck_assert_uint_eq(con_registry_count(W.px.consoles), 0);
    bb_free(&wire);
}
END_TEST

START_TEST(begin_refused_maintenance)
{
    struct ep *src, *op;
    struct bbuf wire = {0};

    source_and_op(&src, &op);
    W.px.cfg.refuse_vmotion = true;
    ep_clear(src);
    ep_send_vmx(src, VMX_VMOTION_BEGIN, SEQ_FF, sizeof(SEQ_FF));
    hw_pump();
    enc_vmx(&wire, VMX_VMOTION_NOTNOW, SEQ_FF, sizeof(SEQ_FF), NULL, 0);
    ck_assert_bb(&src->raw, wire.p, wire.n);
    ck_assert_ptr_null(con_a()->vmo);
    ep_send_data(op, "in", 2);
    ep_send_data(src, "out", 3);
    hw_pump();
    ck_assert_bb(&src->data, "in", 2);
    ck_assert_bb(&op->data, "out", 3);
    bb_free(&wire);
}
END_TEST

/* ---- source FIN, timeouts -------------------------------------------------
 */

START_TEST(source_fin_before_complete)
{
    struct ep *src, *op, *peer;

    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    peer = hw_host();
    ck_assert(hv_peer(peer, SEQ, sizeof(SEQ), src->secret, UUID_A_TEXT));
    ep_send_data(op, "h1", 2);
    ep_fin(src);
    hw_pump();
    ck_assert(src->eof);
    ck_assert_ptr_nonnull(hw_con(UUID_A)); /* console kept */
    ck_assert_int_eq(vstate(), VMO_ST_PEER_OK);
    ck_assert_uint_eq(con_a()->n_ops, 1);
    ep_send_data(op, "h2", 2);
    ep_send_vmx(peer, VMX_VMOTION_COMPLETE, SEQ, sizeof(SEQ));
    hw_pump();
    ck_assert_ptr_eq(con_a()->owner, &hw_sess(peer)->hv);
    ck_assert_bb(&peer->data, "h1h2", 4);
    ck_assert_uint_eq(W.px.stats.vmotion_complete, 1);
    ep_send_data(peer, "ok", 2);
    hw_pump();
    ck_assert_bb(&op->data, "ok", 2);
}
END_TEST

START_TEST(timeout_source_gone)
{
    struct ep *src, *op, *next;

    W.px.cfg.vmotion_timeout = 0.05;
    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    ep_send_data(op, "t1", 2);
    ep_fin(src);
    hw_pump();
    ck_assert_int_eq(vstate(), VMO_ST_GOAHEAD);
    hw_wait(0.25);
    ck_assert_ptr_null(con_a()->vmo); /* not frozen */
    ck_assert_uint_eq(W.px.stats.vmotion_expired, 1);
    ep_send_data(op, "t2", 2);
    hw_pump();
    next = hw_host();
    hv_identify(next, UUID_A_TEXT, "vSPC.py", "vm-00000");
    ck_assert_bb(&next->data, "t1t2", 4);
    ep_send_data(op, "t3", 2);
    hw_pump();
    ck_assert_bb(&next->data, "t1t2t3", 6);
    ck_assert_uint_eq(src->data.n, 0);
}
END_TEST

START_TEST(timeout_source_alive)
{
    struct ep *src, *op, *peer;

    W.px.cfg.vmotion_timeout = 0.05;
    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    peer = hw_host();
    ck_assert(hv_peer(peer, SEQ, sizeof(SEQ), src->secret, UUID_A_TEXT));
    ep_send_data(op, "w", 1);
    hw_wait(0.25);
    ck_assert_ptr_null(con_a()->vmo);
    ck_assert(peer->eof);
    ck_assert_bb(&src->data, "w", 1);
    ck_assert_ptr_eq(con_a()->owner, &hw_sess(src)->hv);
    /* A late COMPLETE changes nothing (the peer is gone anyway). */
    ep_send_data(op, "v", 1);
    hw_pump();
    ck_assert_bb(&src->data, "wv", 2);
}
END_TEST

/* #30: the source closes between GOAHEAD and PEER, no ABORT: the peer
 * still completes. */
START_TEST(source_fin_before_peer)
{
    struct ep *src, *op, *peer;
    uint8_t secret[VMX_SECRET_LEN];

    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    memcpy(secret, src->secret, sizeof(secret));
    ep_send_data(op, "z", 1);
    ep_fin(src);
    hw_pump();
    ck_assert_int_eq(vstate(), VMO_ST_GOAHEAD);
    peer = hw_host();
    ck_assert(hv_peer(peer, SEQ, sizeof(SEQ), secret, UUID_A_TEXT));
    ep_send_vmx(peer, VMX_VMOTION_COMPLETE, SEQ, sizeof(SEQ));
    hw_pump();
    ck_assert_ptr_eq(con_a()->owner, &hw_sess(peer)->hv);
    ck_assert_bb(&peer->data, "z", 1);
}
END_TEST

/* The peer announces another VM's UUID: dropped, the vMotion waits on. */
START_TEST(peer_uuid_mismatch)
{
    struct ep *src, *op, *peer;

    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    peer = hw_host();
    ck_assert(hv_peer(peer, SEQ, sizeof(SEQ), src->secret, UUID_B_TEXT));
    hw_pump();
    ck_assert(peer->eof);
    ck_assert_int_eq(vstate(), VMO_ST_GOAHEAD);
    ck_assert_ptr_null(con_a()->vmo->dest);
    ck_assert_ptr_null(hw_con(UUID_B));
    ep_send_data(op, "y", 1);
    ep_send_vmx(src, VMX_VMOTION_ABORT, NULL, 0);
    hw_pump();
    ck_assert_bb(&src->data, "y", 1);
}
END_TEST

/* The accepted peer vanishes: back to waiting; its secret stays spent. */
START_TEST(peer_gone_then_abort)
{
    struct ep *src, *op, *peer, *again;
    uint8_t secret[VMX_SECRET_LEN];

    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    memcpy(secret, src->secret, sizeof(secret));
    peer = hw_host();
    ck_assert(hv_peer(peer, SEQ, sizeof(SEQ), secret, UUID_A_TEXT));
    ep_send_data(op, "p", 1);
    ep_fin(peer);
    hw_pump();
    ck_assert_int_eq(vstate(), VMO_ST_GOAHEAD);
    again = hw_host();
    ck_assert(!hv_peer(again, SEQ, sizeof(SEQ), secret, UUID_A_TEXT));
    ep_send_vmx(src, VMX_VMOTION_ABORT, NULL, 0);
    hw_pump();
    ck_assert_bb(&src->data, "p", 1);
    ck_assert_ptr_null(con_a()->vmo);
}
END_TEST

/* Two vMotions in a row: the first peer is an ordinary owner afterwards. */
START_TEST(chained_vmotion)
{
    struct ep *src, *op, *p1, *p2;

    source_and_op(&src, &op);
    p1 = migrate(src, SEQ, sizeof(SEQ));
    p2 = migrate(p1, SEQ_FF, sizeof(SEQ_FF));
    ck_assert(p1->eof);
    ep_send_data(op, "hop", 3);
    ep_send_data(p2, "pong", 4);
    hw_pump();
    ck_assert_bb(&p2->data, "hop", 3);
    ck_assert_bb(&op->data, "pong", 4);
    ck_assert_uint_eq(W.px.stats.vmotion_complete, 2);
}
END_TEST

/* The VM reconnects (DO-PROXY, same UUID) while a vMotion is pending: the
 * vMotion is cancelled, held input goes to the new connection. */
START_TEST(reconnect_during_goahead)
{
    struct ep *src, *op, *peer, *next;

    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    peer = hw_host();
    ck_assert(hv_peer(peer, SEQ, sizeof(SEQ), src->secret, UUID_A_TEXT));
    ep_send_data(op, "r", 1);
    hw_pump();
    next = hw_host();
    hv_identify(next, UUID_A_TEXT, "vSPC.py", "vm-00000");
    ck_assert_ptr_null(con_a()->vmo);
    ck_assert(peer->eof);
    ck_assert(src->eof);
    ck_assert_bb(&next->data, "r", 1);
    ck_assert_uint_eq(src->data.n, 0);
}
END_TEST

/* Operator input past held_max while held: reading pauses, nothing is
 * lost, everything reaches the peer in order after COMPLETE. */
START_TEST(held_input_large)
{
    struct ep *src, *op, *peer;
    size_t n = 200000;
    uint8_t *big = malloc(n);

    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (uint8_t)(i * 7 + i / 251);
    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    ep_send_data(op, big, n);
    hw_pump();
    ck_assert_uint_eq(src->data.n, 0);
    ck_assert_uint_le(hin_len(&con_a()->held), W.px.cfg.held_max + 65536);
    peer = hw_host();
    ck_assert(hv_peer(peer, SEQ, sizeof(SEQ), src->secret, UUID_A_TEXT));
    ep_send_vmx(peer, VMX_VMOTION_COMPLETE, SEQ, sizeof(SEQ));
    hw_pump();
    ck_assert_msg(peer->data.n == n, "peer got %zu of %zu bytes", peer->data.n,
                  n);
    ck_assert(memcmp(peer->data.p, big, n) == 0);
    free(big);
}
END_TEST

/* The peer sends more than cfg.pre_ident_max of serial data before its
 * COMPLETE. The proxy pauses reading the peer, so it must not stall the
 * vMotion: COMPLETE must still be seen and every byte delivered. */
START_TEST(peer_data_over_limit_then_complete)
{
    struct ep *src, *op, *peer;
    size_t n = 8192;
    uint8_t *d = malloc(n);

    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)(i % 253);
    W.px.cfg.pre_ident_max = 1024;
    source_and_op(&src, &op);
    hv_begin(src, SEQ, sizeof(SEQ));
    peer = hw_host();
    ck_assert(hv_peer(peer, SEQ, sizeof(SEQ), src->secret, UUID_A_TEXT));
    ep_send_data(peer, d, n);
    hw_pump();
    ep_send_vmx(peer, VMX_VMOTION_COMPLETE, SEQ, sizeof(SEQ));
    hw_pump();
    ck_assert_msg(con_a()->owner == &hw_sess(peer)->hv,
                  "PROXY BUG: COMPLETE never read: reading of the PEER "
                  "connection paused at pre_ident_max (state %s)",
                  vmo_state_str(vstate()));
    ck_assert_bb(&op->data, d, n);
    free(d);
}
END_TEST

/* ---- sequence lengths, 0xFF ------------------------------------------------
 */

static const size_t seq_lens[] = {1, 4, 8, 32, 200, VMX_SEQ_MAX};

START_TEST(seq_lengths)
{
    size_t n = seq_lens[_i];
    uint8_t seq[VMX_SEQ_MAX];
    struct ep *src, *op, *peer;
    struct bbuf wire = {0};

    for (size_t k = 0; k < n; k++)
        seq[k] = (uint8_t)(k % 3 == 0 ? 0xff : 0x11 * k);
    source_and_op(&src, &op);
    ep_clear(src);
    hv_begin(src, seq, n);
    enc_vmx(&wire, VMX_VMOTION_GOAHEAD, seq, n, src->secret, VMX_SECRET_LEN);
    ck_assert_bb(&src->raw, wire.p, wire.n); /* escaped exactly once */
    bb_clear(&wire);
    peer = hw_host();
    hv_negotiate(peer);
    hw_pump();
    ep_clear(peer);
    ep_send_vmx2(peer, VMX_VMOTION_PEER, seq, n, src->secret, VMX_SECRET_LEN);
    hw_pump();
    ck_assert_uint_eq(peer->n_sub[VMX_VMOTION_PEER_OK], 1);
    ck_assert_bb(&peer->last_sub[VMX_VMOTION_PEER_OK], seq, n);
    enc_vmx(&wire, VMX_VMOTION_PEER_OK, seq, n, NULL, 0);
    ck_assert_ptr_nonnull(memmem(peer->raw.p, peer->raw.n, wire.p, wire.n));
    bb_free(&wire);
    ep_send_vmx(peer, VMX_VMOTION_COMPLETE, seq, n);
    hw_pump();
    ck_assert_ptr_eq(con_a()->owner, &hw_sess(peer)->hv);
}
END_TEST

START_TEST(seq_too_long_no_crash)
{
    uint8_t seq[VMX_SEQ_MAX + 1];
    struct ep *src, *op;

    memset(seq, 0xab, sizeof(seq));
    source_and_op(&src, &op);
    ep_send_vmx(src, VMX_VMOTION_BEGIN, seq, sizeof(seq));
    hw_pump();
    ck_assert_uint_eq(src->n_sub[VMX_VMOTION_GOAHEAD], 0);
    ck_assert_ptr_null(con_a()->vmo);
    ck_assert(!src->eof);
    ep_send_data(src, "x", 1);
    hw_pump();
    ck_assert_bb(&op->data, "x", 1);
}
END_TEST

/* ---- data and BEGIN in one write --------------------------------------- */

START_TEST(data_then_begin_one_write)
{
    struct ep *src, *op;
    struct bbuf b = {0};

    source_and_op(&src, &op);
    ep_send_data(op, "pre", 3);
    hw_pump();
    enc_data(&b, "last words\xff\x00", 12);
    enc_vmx(&b, VMX_VMOTION_BEGIN, SEQ, sizeof(SEQ), NULL, 0);
    enc_data(&b, "after", 5);
    ep_write(src, b.p, b.n);
    bb_free(&b);
    hw_pump();
    ck_assert_bb(&op->data,
                 "last words\xff\x00"
                 "after",
                 17);
    ck_assert_uint_eq(strm_end(&con_a()->out), 17);
    ck_assert_uint_eq(src->n_sub[VMX_VMOTION_GOAHEAD], 1);
    ck_assert_int_eq(vstate(), VMO_ST_GOAHEAD);
    ck_assert_bb(&src->data, "pre", 3);
}
END_TEST

/* ---- every split position of a whole vMotion ------------------------------
 */

static void
check_reference(const char *got)
{
    /* The essentials, spelled out once. */
    ck_assert_ptr_nonnull(strstr(got, "D 65 61 72 6c 79\n29 76 19 ff e9 +8\n"));
    ck_assert_ptr_nonnull(strstr(got, "2d 76 19 ff e9\nD 6c 61 74 65 "
                                      "61 66 74 65 72\nopen\n"));
    ck_assert_ptr_nonnull(
        strstr(got, "op: 76 6d 31 ff 00 76 6d 32 76 6d 33 ff\n"));
    ck_assert_ptr_nonnull(strstr(got, "owner=peer vmo=(nil) state=connected "
                                      "complete=1 in=12 out=14\n"));
    ck_assert_ptr_nonnull(strstr(got, "src:\n"));
}

static void
split_all(enum split_mode m)
{
    struct bbuf ref = {0}, got = {0};
    size_t l1, l2, lim;

    full_run(SPLIT_NONE, 0, &ref, &l1, &l2);
    check_reference(bb_str(&ref));
    /* peer log: the GETs, PEER-OK, then held input, in that order */
    ck_assert_ptr_nonnull(strstr(bb_str(&ref), "51\n53\n2d 76 19 ff e9\n"));
    lim = m == SPLIT_SRC ? l1 : m == SPLIT_PEER ? l2 : 2;
    for (size_t at = 1; at < lim; at++) {
        hw_end();
        hw_begin();
        bb_clear(&got);
        full_run(m, at, &got, &l1, &l2);
        ck_assert_msg(strcmp(bb_str(&got), bb_str(&ref)) == 0,
                      "split %d at %zu differs:\n%s\nwant:\n%s", (int)m, at,
                      bb_str(&got), bb_str(&ref));
    }
    bb_free(&ref);
    bb_free(&got);
}

START_TEST(split_source_every_position)
{
    split_all(SPLIT_SRC);
}
END_TEST

START_TEST(split_peer_every_position)
{
    split_all(SPLIT_PEER);
}
END_TEST

START_TEST(split_one_byte_per_write)
{
    split_all(SPLIT_BYTES);
}
END_TEST

/* ---- runner ----------------------------------------------------------------
 */

static Suite *
vmotion_suite(void)
{
    Suite *s = suite_create("vmotion");
    TCase *tl = tcase_create("live");
    TCase *ts = tcase_create("split");

    vmotion_cases_table(s); /* "table", vmotion_cases_table.c */

    tcase_add_checked_fixture(tl, hw_setup, hw_teardown);
    tcase_set_timeout(tl, 20);
    tcase_add_test(tl, handshake_identifies);
    tcase_add_test(tl, begin_goahead);
    tcase_add_test(tl, input_held_until_complete);
    tcase_add_test(tl, input_racing_begin);
    tcase_add_test(tl, peer_wrong_secret);
    tcase_add_test(tl, peer_wrong_seq);
    tcase_add_test(tl, peer_without_begin);
    tcase_add_test(tl, peer_on_source);
    tcase_add_test(tl, peer_replay_after_complete);
    tcase_add_test(tl, peer_second_concurrent);
    tcase_add_test(tl, peer_two_at_once);
    tcase_add_test(tl, complete_duplicated);
    tcase_add_test(tl, complete_on_source);
    tcase_add_test(tl, complete_before_peer_ok);
    tcase_add_test(tl, abort_flushes_to_source);
    tcase_add_test(tl, abort_on_peer_ignored);
    tcase_add_test(tl, second_begin_notnow);
    tcase_add_test(tl, begin_unidentified_notnow);
    tcase_add_test(tl, begin_refused_maintenance);
    tcase_add_test(tl, source_fin_before_complete);
    tcase_add_test(tl, timeout_source_gone);
    tcase_add_test(tl, timeout_source_alive);
    tcase_add_test(tl, source_fin_before_peer);
    tcase_add_test(tl, peer_uuid_mismatch);
    tcase_add_test(tl, peer_gone_then_abort);
    tcase_add_test(tl, chained_vmotion);
    tcase_add_test(tl, reconnect_during_goahead);
    tcase_add_test(tl, held_input_large);
    tcase_add_test(tl, peer_data_over_limit_then_complete);
    tcase_add_loop_test(tl, seq_lengths, 0, (int)VSPC_ARRAY_LEN(seq_lens));
    tcase_add_test(tl, seq_too_long_no_crash);
    tcase_add_test(tl, data_then_begin_one_write);
    suite_add_tcase(s, tl);

    tcase_add_checked_fixture(ts, hw_setup, hw_teardown);
    tcase_set_timeout(ts, 60);
    tcase_add_test(ts, split_source_every_position);
    tcase_add_test(ts, split_peer_every_position);
    tcase_add_test(ts, split_one_byte_per_write);
    suite_add_tcase(s, ts);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(vmotion_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
