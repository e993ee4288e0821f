/*
 * scen_vmotion.c: scenarios 26-48 of PROTOCOL.md section 10 (vMotion:
 * BEGIN/GOAHEAD/NOTNOW, PEER/PEER-OK, COMPLETE, ABORT).
 */
#include "vspc/compat.h"

#include "scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

static const uint8_t ks1[] = {0,  1,  2,  3,  40, 41, 43, 44, 45, 46, 48,
                              70, 71, 73, 80, 81, 84, 85, 86, 87, 82, 83};
static const uint8_t seq4[] = {0x44, 0xDA, 0x87, 0xF1};

/* Everything a vMotion scenario starts with: VM n identified, an
 * operator attached rw, some traffic both ways. */
struct vm1 {
    char id[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *vm, *op;
    uint64_t voff, ooff; /* pattern offsets VM->op, op->VM */
};

static bool
vm1_up(struct scen *s, struct vm1 *v)
{
    memset(v, 0, sizeof(*v));
    v->vm = scen_vm(s, (unsigned)s->n, NULL, v->id);
    if (!v->vm)
        return false;
    v->op = scen_op(s, v->id, "rw");
    if (!v->op)
        return false;
    if (!scen_v2o(v->vm, v->op, SEED_VM(s->n), 0, 700) ||
        !scen_o2v(v->op, v->vm, SEED_OP(s->n), 0, 300))
        return false;
    v->voff = 700;
    v->ooff = 300;
    return true;
}

/* Traffic both ways through vm (the console's connection now). */
static bool
vm1_flow(struct scen *s, struct vm1 *v, struct scr_conn *vm)
{
    if (!scen_v2o(vm, v->op, SEED_VM(s->n), v->voff, 500) ||
        !scen_o2v(v->op, vm, SEED_OP(s->n), v->ooff, 200))
        return false;
    v->voff += 500;
    v->ooff += 200;
    return true;
}

/* Operator input while a vMotion is pending: held by the proxy. */
static bool
vm1_type(struct scen *s, struct vm1 *v, size_t n, size_t *held_from)
{
    uint8_t b[4096];

    pat_fill(SEED_OP(s->n), v->ooff, b, n);
    *held_from = v->ooff;
    v->ooff += n;
    return scr_send_data(v->op, b, n);
}

static bool
no_peer_ok(struct scr_conn *c, int ms)
{
    scr_settle(c, ms);
    if (scr_count_vmx(c, VMX_VMOTION_PEER_OK, 0) == 0)
        return true;
    scr_fail(__FILE__, __LINE__,
             "conn %s: PEER-OK for a PEER that must be "
             "rejected",
             c->name);
    scr_dump(c);
    return false;
}

/* 26, 29 */
static int
s_success(struct scen *s, bool fin_first)
{
    struct vm1 v;
    uint8_t secret[VMX_SECRET_LEN];
    struct scr_conn *b;
    size_t held;

    TRY(vm1_up(s, &v));
    TRY(scen_begin(v.vm, seq4, 4, secret));
    TRY(vm1_type(s, &v, 256, &held));
    TRY(scr_no_data(v.vm, 100));
    b = scen_peer(s, (unsigned)s->n, seq4, 4, secret, sizeof(secret), true);
    TRY(b);
    if (fin_first) {
        scr_close(v.vm);
        v.vm = NULL;
        scr_settle(v.op, 200);
        CHECK(!v.op->eof, "operator disconnected by the source's FIN");
        TRY(scen_console_state(s, v.id, NULL, 500));
    }
    TRY(scr_send_vmx(b, VMX_VMOTION_COMPLETE, seq4, 4));
    TRY(scr_expect_pattern(b, SEED_OP(s->n), held, 256, SCR_T_ANSWER));
    if (!fin_first) {
        TRY(scr_expect_eof(v.vm, SCR_T_ANSWER));
        TRY(scr_no_data(v.vm, 0));
    }
    TRY(vm1_flow(s, &v, b));
    TRY(scen_console_state(s, v.id, "connected", SCR_T_ANSWER));
    TRY(scr_no_data(v.op, 50));
    return SCEN_PASS;
}

/* 27 */
static int
s_seq_lengths(struct scen *s)
{
    static const size_t lens[] = {1, 8, 32, 200};
    uint8_t seq[200];
    struct vm1 v;

    TRY(vm1_up(s, &v));
    for (size_t i = 0; i < VSPC_ARRAY_LEN(lens); i++) {
        pat_fill(2700 + i, 0, seq, lens[i]);
        printf("  sequence of %zu bytes\n", lens[i]);
        TRY(scen_vmotion(s, (unsigned)s->n, &v.vm, seq, lens[i]));
        TRY(vm1_flow(s, &v, v.vm));
    }
    return SCEN_PASS;
}

static bool
raw_has(struct scr_conn *c, uint8_t sub, const uint8_t *a, size_t an,
        const uint8_t *b, size_t bn)
{
    uint8_t want[600], pl[300];
    size_t len, n = 0;

    n = scr_put(pl, n, sizeof(pl), a, an);
    n = scr_put(pl, n, sizeof(pl), b, bn);
    len = scr_put_vmx(want, 0, sizeof(want), sub, pl, n);
    if (memmem(c->raw, c->nraw, want, len))
        return true;
    scr_fail(__FILE__, __LINE__, "conn %s: expected the escaped bytes",
             c->name);
    fprintf(stderr, "  expected: ");
    scr_hex(stderr, want, len, 64);
    fputc('\n', stderr);
    scr_dump(c);
    return false;
}

/* 28 */
static int
s_ff(struct scen *s)
{
    static const uint8_t seq[] = {0x76, 0x19, 0xFF, 0xE9};
    static const uint8_t seqff[] = {0xFF};
    uint8_t secret[VMX_SECRET_LEN], abort_pl[1];
    struct scr_conn *b;
    struct vm1 v;
    int tries = 0;

    TRY(vm1_up(s, &v));
    /* Until the proxy's random secret holds an 0xFF too (~3 % a try). */
    for (;;) {
        TRY(scen_begin(v.vm, seq, sizeof(seq), secret));
        tries++;
        if (memchr(secret, 0xFF, sizeof(secret)) || tries >= 600)
            break;
        TRY(scr_send_vmx(v.vm, VMX_VMOTION_ABORT, abort_pl, 0));
    }
    printf("  secret with 0xFF after %d BEGINs: %s\n", tries,
           memchr(secret, 0xFF, sizeof(secret)) ? "yes" : "no (unlucky)");
    TRY(raw_has(v.vm, VMX_VMOTION_GOAHEAD, seq, sizeof(seq), secret,
                sizeof(secret)));
    b = scen_peer(s, (unsigned)s->n, seq, sizeof(seq), secret, sizeof(secret),
                  true);
    TRY(b);
    TRY(raw_has(b, VMX_VMOTION_PEER_OK, seq, sizeof(seq), NULL, 0));
    TRY(scr_send_vmx(b, VMX_VMOTION_COMPLETE, seq, sizeof(seq)));
    TRY(scr_expect_eof(v.vm, SCR_T_ANSWER));
    scr_close(v.vm);
    v.vm = b;
    TRY(vm1_flow(s, &v, v.vm));
    /* A one-byte sequence that is 0xFF. */
    TRY(scen_vmotion(s, (unsigned)s->n, &v.vm, seqff, 1));
    TRY(vm1_flow(s, &v, v.vm));
    return SCEN_PASS;
}

/* 30 */
static int
s_fin_no_peer(struct scen *s)
{
    uint8_t secret[VMX_SECRET_LEN], csecret[VMX_SECRET_LEN], seq[4];
    char cid[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *c, *b, *op;
    int64_t t_goahead;
    struct vm1 v;

    /* VM 3001: source gone, no peer ever: must expire (timeout 2 s). */
    c = scen_vm(s, 3001, NULL, cid);
    TRY(c);
    TRY(scen_begin(c, seq4, 4, csecret));
    t_goahead = scr_now_ms();
    scr_close(c);
    /* VM 30: source gone, the peer comes later: completes. */
    TRY(vm1_up(s, &v));
    memcpy(seq, "\x30\x30\x30\x30", 4);
    TRY(scen_begin(v.vm, seq, 4, secret));
    scr_close(v.vm);
    v.vm = NULL;
    scr_settle(v.op, 300);
    b = scen_peer(s, (unsigned)s->n, seq, 4, secret, sizeof(secret), true);
    TRY(b);
    TRY(scr_send_vmx(b, VMX_VMOTION_COMPLETE, seq, 4));
    TRY(vm1_flow(s, &v, b));
    /* Back to VM 3001, after its vMotion expired. */
    op = scr_op_connect(s->op);
    TRY(op);
    scr_settle(op, (int)(t_goahead + 2600 - scr_now_ms()));
    TRY(scr_op_wait_console(op, cid, "disconnected", 2000));
    b = scen_peer(s, 3001, seq4, 4, csecret, sizeof(csecret), false);
    TRY(b);
    TRY(no_peer_ok(b, SCR_T_SILENCE));
    c = scen_vm(s, 3001, NULL, cid);
    TRY(c);
    TRY(scr_op_wait_console(op, cid, "connected", SCR_T_ANSWER));
    TRY(scen_begin(c, seq, 4, secret));
    return SCEN_PASS;
}

/* 31: the operator types every ~5 ms from before BEGIN to after COMPLETE. */
struct typist {
    struct scr_conn *op;
    uint64_t seed, typed;
    int64_t last;
    bool on;
};

static void
typist_hook(void *arg)
{
    struct typist *t = arg;
    uint8_t b[16];

    if (!t->on || scr_now_ms() - t->last < 5)
        return;
    t->last = scr_now_ms();
    pat_fill(t->seed, t->typed, b, sizeof(b));
    if (scr_send_data(t->op, b, sizeof(b)))
        t->typed += sizeof(b);
}

static int
s_typing(struct scen *s)
{
    uint8_t secret[VMX_SECRET_LEN];
    struct typist t = {0};
    struct scr_conn *b;
    struct vm1 v;
    size_t ga = 0, a_before, a_after = 0;

    TRY(vm1_up(s, &v));
    t.op = v.op;
    t.seed = SEED_OP(3100);
    t.on = true;
    v.vm->rd = v.vm->ndata;
    scr_set_hook(typist_hook, &t);
    scr_settle(v.vm, 150);
    TRY(scen_begin(v.vm, seq4, 4, secret));
    for (ga = 0; ga < v.vm->nev; ga++)
        if (v.vm->ev[ga].kind == SCR_EV_SB && v.vm->ev[ga].n &&
            v.vm->ev[ga].p[0] == VMX_VMOTION_GOAHEAD)
            break;
    scr_settle(v.vm, 100);
    b = scen_peer(s, (unsigned)s->n, seq4, 4, secret, sizeof(secret), true);
    TRY(b);
    scr_settle(b, 100);
    TRY(scr_send_vmx(b, VMX_VMOTION_COMPLETE, seq4, 4));
    scr_settle(b, 150);
    t.on = false;
    scr_set_hook(NULL, NULL);
    TRY(scr_expect_eof(v.vm, SCR_T_ANSWER));
    for (size_t i = ga; i < v.vm->nev; i++)
        if (v.vm->ev[i].kind == SCR_EV_DATA)
            a_after += v.vm->ev[i].n;
    CHECK(a_after == 0,
          "%zu operator bytes reached the source after "
          "GOAHEAD",
          a_after);
    a_before = v.vm->ndata - v.vm->rd;
    printf("  typed %llu bytes: %zu to the source before GOAHEAD, the rest "
           "to the destination\n",
           (unsigned long long)t.typed, a_before);
    TRY(scr_expect_pattern(v.vm, t.seed, 0, a_before, 0));
    TRY(scr_expect_pattern(b, t.seed, a_before, t.typed - a_before,
                           SCR_T_ANSWER));
    TRY(scr_no_data(b, 100));
    return SCEN_PASS;
}

/* 32 */
static int
s_data_with_begin(struct scen *s)
{
    uint8_t buf[2048], d[500], secret[VMX_SECRET_LEN];
    struct scr_conn *b;
    const uint8_t *p;
    struct vm1 v;
    size_t len, n;

    TRY(vm1_up(s, &v));
    pat_fill(SEED_VM(s->n), v.voff, d, sizeof(d));
    len = scr_put_data(buf, 0, sizeof(buf), d, sizeof(d));
    len = scr_put_vmx(buf, len, sizeof(buf), VMX_VMOTION_BEGIN, seq4, 4);
    TRY(scr_send(v.vm, buf, len));
    p = scr_expect_vmx(v.vm, VMX_VMOTION_GOAHEAD, &n, 5000);
    TRY(p);
    CHECK(n == 4 + VMX_SECRET_LEN && memcmp(p, seq4, 4) == 0,
          "GOAHEAD payload is not seq || 8-byte secret");
    memcpy(secret, p + 4, VMX_SECRET_LEN);
    TRY(scr_expect_pattern(v.op, SEED_VM(s->n), v.voff, sizeof(d),
                           SCR_T_ANSWER));
    v.voff += sizeof(d);
    b = scen_peer(s, (unsigned)s->n, seq4, 4, secret, sizeof(secret), true);
    TRY(b);
    TRY(scr_send_vmx(b, VMX_VMOTION_COMPLETE, seq4, 4));
    TRY(vm1_flow(s, &v, b));
    return SCEN_PASS;
}

/* 33 */
static int
s_burst(struct scen *s)
{
    enum { N = 50 };
    struct scr_conn *c[N];
    int64_t t_sent[N], worst = 0;
    uint8_t seq[N][4], secrets[N][VMX_SECRET_LEN];

    for (int i = 0; i < N; i++) {
        c[i] = scen_vm(s, 3300 + (unsigned)i, NULL, NULL);
        TRY(c[i]);
        seq[i][0] = (uint8_t)i;
        seq[i][1] = 0x33;
        seq[i][2] = 0xFF;
        seq[i][3] = (uint8_t)(0xA0 + i);
    }
    for (int i = 0; i < N; i++) {
        t_sent[i] = scr_now_ms();
        TRY(scr_send_vmx(c[i], VMX_VMOTION_BEGIN, seq[i], 4));
    }
    for (int i = 0; i < N; i++) {
        const uint8_t *p;
        size_t n;

        p = scr_wait_vmx(c[i], VMX_VMOTION_GOAHEAD, &n, 0);
        if (!p) {
            scr_pump_many(c, N, 0);
            p = scr_expect_vmx(c[i], VMX_VMOTION_GOAHEAD, &n,
                               (int)(t_sent[i] + 5000 - scr_now_ms()));
        }
        TRY(p);
        CHECK(n == 4 + VMX_SECRET_LEN && memcmp(p, seq[i], 4) == 0,
              "conn %d: GOAHEAD payload is not seq || 8-byte secret", i);
        memcpy(secrets[i], p + 4, VMX_SECRET_LEN);
        for (int j = 0; j < i; j++)
            CHECK(memcmp(secrets[i], secrets[j], VMX_SECRET_LEN) != 0,
                  "two vMotions got the same secret");
    }
    for (int i = 0; i < N; i++) {
        int64_t lat = -1;

        for (size_t k = 0; k < c[i]->nev; k++)
            if (c[i]->ev[k].kind == SCR_EV_SB && c[i]->ev[k].n &&
                c[i]->ev[k].p[0] == VMX_VMOTION_GOAHEAD)
                lat = c[i]->ev[k].t_ms - t_sent[i];
        CHECK(lat >= 0 && lat < 5000, "conn %d: GOAHEAD after %lld ms", i,
              (long long)lat);
        if (lat > worst)
            worst = lat;
        TRY(scr_send_vmx(c[i], VMX_VMOTION_ABORT, NULL, 0));
    }
    printf("  %d BEGINs, slowest GOAHEAD %lld ms\n", N, (long long)worst);
    return SCEN_PASS;
}

/* 34, 35, 36, 39: a PEER that must be rejected; then the source aborts
 * and keeps working. */
static int
s_bad_peer(struct scen *s)
{
    uint8_t secret[VMX_SECRET_LEN], bad[VMX_SECRET_LEN], seq[4];
    struct scr_conn *b, *b2, *op;
    struct vm1 v;
    size_t held;

    TRY(vm1_up(s, &v));
    if (s->n == 36) {
        int before;

        /* On a cluster other scenarios' consoles are listed too. */
        op = scr_op_connect(s->op);
        TRY(op);
        before = scen_count_consoles(op);
        CHECK(before >= 1, "console list on the operator port");
        pat_fill(3600, 0, secret, sizeof(secret));
        b = scen_peer(s, (unsigned)s->n, seq4, 4, secret, 8, false);
        TRY(b);
        TRY(no_peer_ok(b, SCR_T_SILENCE));
        CHECK(scen_count_consoles(op) == before,
              "state created by a PEER without BEGIN");
        TRY(scr_op_wait_console(op, v.id, "connected", 0));
        TRY(scr_no_data(b, 0));
        TRY(scen_begin(v.vm, seq4, 4, secret));
        TRY(scr_send_vmx(v.vm, VMX_VMOTION_ABORT, NULL, 0));
        TRY(vm1_flow(s, &v, v.vm));
        return SCEN_PASS;
    }
    TRY(scen_begin(v.vm, seq4, 4, secret));
    TRY(vm1_type(s, &v, 200, &held));
    memcpy(bad, secret, sizeof(bad));
    memcpy(seq, seq4, 4);
    b = b2 = NULL;
    if (s->n == 34) {
        bad[3] ^= 0x5A;
        b = scen_peer(s, (unsigned)s->n, seq4, 4, bad, sizeof(bad), false);
    } else if (s->n == 35) {
        seq[3] ^= 0x01;
        b = scen_peer(s, (unsigned)s->n, seq, 4, secret, sizeof(secret), false);
        TRY(b);
        /* The same bytes, cut at another place: seq[0..2] || secret. */
        b2 = scen_peer(s, (unsigned)s->n, seq4, 3, secret, sizeof(secret),
                       false);
        TRY(b2);
    } else {
        uint8_t pl[12];

        memcpy(pl, seq4, 4);
        memcpy(pl + 4, secret, VMX_SECRET_LEN);
        TRY(scr_send_vmx(v.vm, VMX_VMOTION_PEER, pl, sizeof(pl)));
        b = v.vm;
    }
    TRY(b);
    TRY(no_peer_ok(b, SCR_T_SILENCE));
    if (b2)
        TRY(no_peer_ok(b2, 0));
    TRY(scr_expect_open(v.vm, 0));
    if (b != v.vm)
        TRY(scr_no_data(b, 0));
    TRY(scr_send_vmx(v.vm, VMX_VMOTION_ABORT, NULL, 0));
    TRY(scr_expect_pattern(v.vm, SEED_OP(s->n), held, 200, SCR_T_ANSWER));
    TRY(vm1_flow(s, &v, v.vm));
    return SCEN_PASS;
}

/* 37 */
static int
s_replay(struct scen *s)
{
    uint8_t secret[VMX_SECRET_LEN];
    struct scr_conn *b, *c;
    struct vm1 v;

    TRY(vm1_up(s, &v));
    TRY(scen_begin(v.vm, seq4, 4, secret));
    b = scen_peer(s, (unsigned)s->n, seq4, 4, secret, sizeof(secret), true);
    TRY(b);
    TRY(scr_send_vmx(b, VMX_VMOTION_COMPLETE, seq4, 4));
    TRY(scr_expect_eof(v.vm, SCR_T_ANSWER));
    c = scen_peer(s, (unsigned)s->n, seq4, 4, secret, sizeof(secret), false);
    TRY(c);
    TRY(no_peer_ok(c, SCR_T_SILENCE));
    TRY(scr_send_vmx(c, VMX_VMOTION_COMPLETE, seq4, 4));
    TRY(vm1_flow(s, &v, b));
    TRY(scr_no_data(c, 50));
    return SCEN_PASS;
}

/* 38 */
static int
s_concurrent(struct scen *s)
{
    char text[48], norm[VMX_UUID_HEX + 1];
    uint8_t secret[VMX_SECRET_LEN], buf[512], pl[12];
    struct scr_conn *p[2], *win, *lose;
    struct vm1 v;
    size_t len, ok0, ok1;

    TRY(vm1_up(s, &v));
    scr_uuid((unsigned)s->n, text, norm);
    TRY(scen_begin(v.vm, seq4, 4, secret));
    memcpy(pl, seq4, 4);
    memcpy(pl + 4, secret, VMX_SECRET_LEN);
    for (int i = 0; i < 2; i++) {
        p[i] = scr_connect(s->vm, i ? "peer-b" : "peer-a", 3000);
        TRY(p[i]);
        TRY(scr_negotiate(p[i]));
    }
    len = scr_put_vmx(buf, 0, sizeof(buf), VMX_KNOWN_SUBOPTIONS_1, ks1,
                      sizeof(ks1));
    len = scr_put_vmx(buf, len, sizeof(buf), VMX_VMOTION_PEER, pl, 12);
    len =
        scr_put_vmx(buf, len, sizeof(buf), VMX_VM_VC_UUID, text, strlen(text));
    len = scr_put_vmx(buf, len, sizeof(buf), VMX_VM_NAME, "vm-38", 5);
    TRY(scr_send(p[0], buf, len));
    TRY(scr_send(p[1], buf, len));
    scr_pump_many(p, 2, 600);
    ok0 = scr_count_vmx(p[0], VMX_VMOTION_PEER_OK, 0);
    ok1 = scr_count_vmx(p[1], VMX_VMOTION_PEER_OK, 0);
    if (ok0 + ok1 != 1) {
        scr_fail(__FILE__, __LINE__,
                 "two peers with one secret: %zu and "
                 "%zu PEER-OK, expected exactly one in total",
                 ok0, ok1);
        scr_dump(p[0]);
        scr_dump(p[1]);
        return SCEN_FAIL;
    }
    win = ok0 ? p[0] : p[1];
    lose = ok0 ? p[1] : p[0];
    TRY(scr_expect_vmx_exact(win, VMX_VMOTION_PEER_OK, seq4, 4, 0));
    TRY(scr_send_vmx(win, VMX_VMOTION_COMPLETE, seq4, 4));
    TRY(scr_send_vmx(lose, VMX_VMOTION_COMPLETE, seq4, 4));
    TRY(scr_expect_eof(v.vm, SCR_T_ANSWER));
    TRY(vm1_flow(s, &v, win));
    TRY(scr_no_data(lose, 50));
    return SCEN_PASS;
}

/* 40, 44 */
static int
s_complete_dup_abort_peer(struct scen *s)
{
    uint8_t secret[VMX_SECRET_LEN];
    struct scr_conn *b;
    struct vm1 v;
    size_t held;

    TRY(vm1_up(s, &v));
    TRY(scen_begin(v.vm, seq4, 4, secret));
    TRY(vm1_type(s, &v, 100, &held));
    b = scen_peer(s, (unsigned)s->n, seq4, 4, secret, sizeof(secret), true);
    TRY(b);
    if (s->n == 44) {
        TRY(scr_send_vmx(b, VMX_VMOTION_ABORT, NULL, 0));
        TRY(scr_no_data(v.vm, 200));
    }
    TRY(scr_send_vmx(b, VMX_VMOTION_COMPLETE, seq4, 4));
    TRY(scr_expect_pattern(b, SEED_OP(s->n), held, 100, SCR_T_ANSWER));
    TRY(scr_expect_eof(v.vm, SCR_T_ANSWER));
    if (s->n == 40)
        TRY(scr_send_vmx(b, VMX_VMOTION_COMPLETE, seq4, 4));
    TRY(scr_no_vmx(b, -1, 200));
    TRY(scr_expect_open(b, 0));
    TRY(vm1_flow(s, &v, b));
    TRY(vm1_flow(s, &v, b));
    return SCEN_PASS;
}

/* 41, 42, 45: a COMPLETE or ABORT that must be a no-op. */
static int
s_noop(struct scen *s)
{
    uint8_t secret[VMX_SECRET_LEN], buf[256];
    struct scr_conn *b, *c;
    struct vm1 v;
    size_t held, len;

    TRY(vm1_up(s, &v));
    if (s->n == 41 || s->n == 45) {
        /* Nothing pending. */
        if (s->n == 41)
            TRY(scr_send_vmx(v.vm, VMX_VMOTION_COMPLETE, seq4, 4));
        else
            TRY(scr_send_vmx(v.vm, VMX_VMOTION_ABORT, NULL, 0));
        TRY(scr_no_vmx(v.vm, -1, SCR_T_SILENCE));
        TRY(scr_expect_open(v.vm, 0));
        TRY(vm1_flow(s, &v, v.vm));
    }
    TRY(scen_begin(v.vm, seq4, 4, secret));
    TRY(vm1_type(s, &v, 100, &held));
    if (s->n == 41) {
        TRY(scr_send_vmx(v.vm, VMX_VMOTION_COMPLETE, seq4, 4));
        TRY(scr_expect_open(v.vm, 200));
        TRY(scr_no_data(v.vm, 0));
    } else if (s->n == 42) {
        /* A destination that skips PEER. */
        b = scr_connect(s->vm, "no-peer", 3000);
        TRY(b);
        TRY(scr_negotiate(b));
        len = scr_put_vmx(buf, 0, sizeof(buf), VMX_KNOWN_SUBOPTIONS_1, ks1,
                          sizeof(ks1));
        len = scr_put_vmx(buf, len, sizeof(buf), VMX_VMOTION_COMPLETE, seq4, 4);
        TRY(scr_send(b, buf, len));
        TRY(scr_no_data(b, 200));
        TRY(scr_expect_open(v.vm, 0));
        TRY(scr_no_data(v.vm, 0));
    }
    c = scen_peer(s, (unsigned)s->n, seq4, 4, secret, sizeof(secret), true);
    TRY(c);
    TRY(scr_send_vmx(c, VMX_VMOTION_COMPLETE, seq4, 4));
    TRY(scr_expect_pattern(c, SEED_OP(s->n), held, 100, SCR_T_ANSWER));
    TRY(scr_expect_eof(v.vm, SCR_T_ANSWER));
    TRY(vm1_flow(s, &v, c));
    return SCEN_PASS;
}

/* 43 */
static int
s_abort(struct scen *s)
{
    uint8_t secret[VMX_SECRET_LEN];
    struct scr_conn *b, *c;
    struct vm1 v;
    size_t held;

    TRY(vm1_up(s, &v));
    TRY(scen_begin(v.vm, seq4, 4, secret));
    TRY(vm1_type(s, &v, 300, &held));
    b = scen_peer(s, (unsigned)s->n, seq4, 4, secret, sizeof(secret), true);
    TRY(b);
    TRY(scr_send_vmx(v.vm, VMX_VMOTION_ABORT, NULL, 0));
    TRY(scr_expect_pattern(v.vm, SEED_OP(s->n), held, 300, SCR_T_ANSWER));
    if (!scr_wait_eof(b, 1000)) {
        /* Orphaned rather than closed: its COMPLETE must do nothing. */
        printf("  peer not closed after ABORT; checking its COMPLETE is "
               "ignored\n");
        TRY(scr_send_vmx(b, VMX_VMOTION_COMPLETE, seq4, 4));
        scr_settle(b, 200);
    }
    TRY(scr_no_data(b, 0));
    c = scen_peer(s, (unsigned)s->n, seq4, 4, secret, sizeof(secret), false);
    TRY(c);
    TRY(no_peer_ok(c, SCR_T_SILENCE));
    TRY(vm1_flow(s, &v, v.vm));
    TRY(scr_no_data(c, 0));
    return SCEN_PASS;
}

/* 46 */
static int
s_second_begin(struct scen *s)
{
    static const uint8_t seq2[] = {0x46, 0x46, 0x46, 0x02};
    uint8_t secret[VMX_SECRET_LEN];
    const uint8_t *p;
    struct scr_conn *b;
    struct vm1 v;
    size_t n;
    bool notnow;

    TRY(vm1_up(s, &v));
    TRY(scen_begin(v.vm, seq4, 4, secret));
    TRY(scr_send_vmx(v.vm, VMX_VMOTION_BEGIN, seq2, 4));
    scr_settle(v.vm, 200);
    p = scr_wait_vmx(v.vm, VMX_VMOTION_NOTNOW, &n, SCR_T_ANSWER);
    notnow = p != NULL;
    printf("  second BEGIN answered with %s\n",
           notnow ? "NOTNOW" : "GOAHEAD (replacement)");
    if (notnow) {
        CHECK(n == 4 && memcmp(p, seq2, 4) == 0,
              "NOTNOW must carry the "
              "second BEGIN's sequence exactly");
        b = scen_peer(s, (unsigned)s->n, seq4, 4, secret, sizeof(secret), true);
    } else {
        /* A documented replacement: the first secret must be dead. */
        p = scr_expect_vmx(v.vm, VMX_VMOTION_GOAHEAD, &n, 0);
        TRY(p);
        CHECK(n == 12 && memcmp(p, seq2, 4) == 0, "bad GOAHEAD payload");
        b = scen_peer(s, (unsigned)s->n, seq4, 4, secret, sizeof(secret),
                      false);
        TRY(b);
        TRY(no_peer_ok(b, SCR_T_SILENCE));
        memcpy(secret, p + 4, VMX_SECRET_LEN);
        b = scen_peer(s, (unsigned)s->n, seq2, 4, secret, sizeof(secret), true);
    }
    TRY(b);
    TRY(scr_send_vmx(b, VMX_VMOTION_COMPLETE, notnow ? seq4 : seq2, 4));
    TRY(scr_expect_eof(v.vm, SCR_T_ANSWER));
    TRY(vm1_flow(s, &v, b));
    return SCEN_PASS;
}

/* 47 */
static int
s_begin_unidentified(struct scen *s)
{
    struct scr_conn *c = scr_connect(s->vm, "unidentified", 3000);
    uint8_t buf[256];
    const uint8_t *p;
    size_t len, n;

    TRY(c);
    TRY(scr_negotiate(c));
    len = scr_put_vmx(buf, 0, sizeof(buf), VMX_KNOWN_SUBOPTIONS_1, ks1,
                      sizeof(ks1));
    len = scr_put_vmx(buf, len, sizeof(buf), VMX_VMOTION_BEGIN, seq4, 4);
    TRY(scr_send(c, buf, len));
    p = scr_wait_vmx(c, VMX_VMOTION_NOTNOW, &n, SCR_T_ANSWER);
    printf("  BEGIN on an unidentified connection: %s\n",
           p ? "NOTNOW" : (c->eof ? "closed" : "no answer"));
    if (!p) {
        CHECK(c->eof, "BEGIN on an unidentified connection: expected "
                      "NOTNOW or a close");
        CHECK(scr_count_vmx(c, VMX_VMOTION_GOAHEAD, 0) == 0,
              "GOAHEAD on an unidentified connection");
        return SCEN_PASS;
    }
    CHECK(n == 4 && memcmp(p, seq4, 4) == 0, "NOTNOW payload must be the "
                                             "sequence exactly");
    CHECK(scr_count_vmx(c, VMX_VMOTION_GOAHEAD, 0) == 0,
          "GOAHEAD on an unidentified connection");
    return SCEN_PASS;
}

/* 48 (proxy started with --refuse-vmotion) */
static int
s_refuse(struct scen *s)
{
    static const uint8_t seq2[] = {0xFF, 0x48, 0x48};
    struct vm1 v;

    TRY(vm1_up(s, &v));
    TRY(scr_send_vmx(v.vm, VMX_VMOTION_BEGIN, seq4, 4));
    TRY(scr_expect_vmx_exact(v.vm, VMX_VMOTION_NOTNOW, seq4, 4, 5000));
    TRY(vm1_flow(s, &v, v.vm));
    TRY(scr_send_vmx(v.vm, VMX_VMOTION_BEGIN, seq2, 3));
    TRY(scr_expect_vmx_exact(v.vm, VMX_VMOTION_NOTNOW, seq2, 3, 5000));
    TRY(vm1_flow(s, &v, v.vm));
    CHECK(scr_count_vmx(v.vm, VMX_VMOTION_GOAHEAD, 0) == 0,
          "GOAHEAD although vMotion is refused");
    return SCEN_PASS;
}

int
scen_26_48(struct scen *s)
{
    switch (s->n) {
    case 26:
        return s_success(s, false);
    case 27:
        return s_seq_lengths(s);
    case 28:
        return s_ff(s);
    case 29:
        return s_success(s, true);
    case 30:
        return s_fin_no_peer(s);
    case 31:
        return s_typing(s);
    case 32:
        return s_data_with_begin(s);
    case 33:
        return s_burst(s);
    case 34:
    case 35:
    case 36:
    case 39:
        return s_bad_peer(s);
    case 37:
        return s_replay(s);
    case 38:
        return s_concurrent(s);
    case 40:
    case 44:
        return s_complete_dup_abort_peer(s);
    case 41:
    case 42:
    case 45:
        return s_noop(s);
    case 43:
        return s_abort(s);
    case 46:
        return s_second_begin(s);
    case 47:
        return s_begin_unidentified(s);
    case 48:
        return s_refuse(s);
    }
    return SCEN_FAIL;
}
