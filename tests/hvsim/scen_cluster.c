/*
 * scen_cluster.c: scenarios 49 and 50 of PROTOCOL.md section 10, against
 * two nodes of a cluster: node A (--proxy, --operator) and node B
 * (--peer-proxy, --operator2). Without those options scenario.c answers
 * "not applicable" (77).
 *
 * 49: the destination host of a vMotion lands on node B while the source
 *     and an operator are on node A: PEER-OK from B, and after COMPLETE
 *     the operator on A (and one on B) go on with the console, byte-exact
 *     both ways, the typing of the vMotion delivered in order.
 * 50: node A (--owner-pid) is killed with SIGKILL right after GOAHEAD: B
 *     must not accept the PEER (it cannot verify A's secret); the VM's plain
 *     reconnection to B claims the console with a higher epoch, and the
 *     operator attached through B keeps its session.
 */
#include "vspc/compat.h"

#include "scenario.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "pattern.h"

static const uint8_t seq49[] = {0x49, 0xDA, 0xFF, 0xF1};
static const uint8_t seq50[] = {0x50, 0x0D, 0xEA, 0xD0};

/* The same scenario seen from node B. */
static struct scen
scen_b(const struct scen *s)
{
    struct scen b = *s;

    b.vm = s->peer_vm;
    b.op = s->op2;
    return b;
}

/* Pattern bytes on c (data, 0xFF doubled). */
static bool
send_pat(struct scr_conn *c, uint64_t seed, uint64_t off, size_t n)
{
    uint8_t b[4096];

    if (n > sizeof(b))
        return false;
    pat_fill(seed, off, b, n);
    return scr_send_data(c, b, n);
}

/* The rest of the line at data offset `at` (up to CR/LF), NUL-terminated. */
static void
line_at(const struct scr_conn *c, size_t at, char *out, size_t cap)
{
    size_t n = 0;

    while (at + n < c->ndata && n + 1 < cap && c->data[at + n] != '\r' &&
           c->data[at + n] != '\n')
        n++;
    memcpy(out, c->data + at, n);
    out[n] = 0;
}

static bool
no_peer_ok(struct scr_conn *c, int ms)
{
    scr_settle(c, ms);
    if (scr_count_vmx(c, VMX_VMOTION_PEER_OK, 0) == 0)
        return true;
    scr_fail(__FILE__, __LINE__,
             "conn %s: PEER-OK for a secret of a dead node (it cannot be "
             "verified)",
             c->name);
    scr_dump(c);
    return false;
}

/* An operator on node B's port attached to id (owned by node A): waits for
 * the console to be listed there first. raw: "attach <id> <mode> raw". */
static struct scr_conn *
op_on_b(const struct scen *s, const char *id, const char *mode, bool raw)
{
    struct scr_conn *op = scr_op_connect(s->op2);
    uint64_t off = 1;

    if (!op || !scr_op_wait_console(op, id, NULL, 8000) ||
        !scr_op_attach(op, id, mode, raw, NULL, &off, false))
        return NULL;
    if (off != 0) {
        scr_fail(__FILE__, __LINE__,
                 "attach %s on node B: offset=%llu, "
                 "expected 0",
                 id, (unsigned long long)off);
        return NULL;
    }
    return op;
}

/* 49 */
static int
s_peer_other_node(struct scen *s)
{
    char id[VMX_CONSOLE_ID_MAX + 1];
    uint8_t secret[VMX_SECRET_LEN];
    struct scr_conn *src, *op, *dst, *opb = NULL;
    struct scen b = scen_b(s);
    uint64_t voff = 700, ooff = 300, held = 300;
    int64_t t0;

    src = scen_vm(s, 49, NULL, id);
    TRY(src);
    op = scen_op(s, id, "rw");
    TRY(op);
    if (s->op2) { /* a spectator through node B, raw */
        opb = op_on_b(s, id, "ro", true);
        TRY(opb);
    }
    TRY(scen_v2o(src, op, SEED_VM(49), 0, 700));
    TRY(scen_o2v(op, src, SEED_OP(49), 0, 300));
    TRY(scen_begin(src, seq49, sizeof(seq49), secret));
    printf("  GOAHEAD on node A, the secret names node index %u\n", secret[0]);
    /* Typed between GOAHEAD and PEER-OK: held, none to the source. */
    TRY(send_pat(op, SEED_OP(49), ooff, 256));
    ooff += 256;
    TRY(scr_no_data(src, 150));
    t0 = scr_now_ms();
    dst = scen_peer(&b, 49, seq49, sizeof(seq49), secret, sizeof(secret), true);
    TRY(dst);
    printf("  PEER-OK from node B %lld ms after the destination's "
           "handshake began\n",
           (long long)(scr_now_ms() - t0));
    /* Typed between PEER-OK and COMPLETE: held too. */
    TRY(send_pat(op, SEED_OP(49), ooff, 128));
    ooff += 128;
    TRY(scr_no_data(src, 150));
    TRY(scr_no_data(dst, 0));
    /* As in the capture: the source's last output, its FIN, COMPLETE. */
    TRY(send_pat(src, SEED_VM(49), voff, 300));
    scr_shut_wr(src);
    TRY(scr_send_vmx(dst, VMX_VMOTION_COMPLETE, seq49, sizeof(seq49)));
    TRY(scr_expect_pattern(dst, SEED_OP(49), held, 384, SCR_T_ANSWER));
    TRY(scr_expect_eof(src, SCR_T_ANSWER));
    TRY(scr_no_data(src, 0));
    /* The destination's first output comes after the source's last. */
    TRY(send_pat(dst, SEED_VM(49), voff + 300, 500));
    TRY(scr_expect_pattern(op, SEED_VM(49), voff, 800, SCR_T_ANSWER));
    voff += 800;
    printf("  after COMPLETE: the operator on node A got the source's last "
           "300 bytes, then the destination's, no gap\n");
    TRY(scen_o2v(op, dst, SEED_OP(49), ooff, 200));
    ooff += 200;
    TRY(scen_v2o(dst, op, SEED_VM(49), voff, 500));
    voff += 500;
    TRY(scen_o2v(op, dst, SEED_OP(49), ooff, 4096));
    TRY(scen_v2o(dst, op, SEED_VM(49), voff, 4096));
    voff += 4096;
    CHECK(!op->eof, "the operator on node A lost its session");
    TRY(scr_no_data(op, 100));
    TRY(scr_no_data(dst, 0));
    if (opb) {
        TRY(scr_expect_pattern(opb, SEED_VM(49), 0, (size_t)voff,
                               SCR_T_ANSWER));
        TRY(scr_no_data(opb, 0));
        CHECK(!opb->eof, "the operator on node B lost its session");
        TRY(scen_console_state(&b, id, "connected", SCR_T_ANSWER));
        printf("  the spectator on node B got the whole stream, 0..%llu\n",
               (unsigned long long)voff);
    }
    return SCEN_PASS;
}

/* "epoch=E" / "(epoch E)" after offset at in c's data; 0 if absent. */
static unsigned long long
epoch_in(const struct scr_conn *c, size_t at, const char *key)
{
    char line[512];
    const char *p;

    line_at(c, at, line, sizeof(line));
    p = strstr(line, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* 50 */
static int
s_owner_crash(struct scen *s)
{
    char id[VMX_CONSOLE_ID_MAX + 1], id2[VMX_CONSOLE_ID_MAX + 1];
    char line[512];
    uint8_t secret[VMX_SECRET_LEN];
    struct scr_conn *src, *op, *obs, *dst, *vm, *lst;
    struct scen b = scen_b(s);
    unsigned long long e0, e1;
    long k, m;

    src = scen_vm(s, 50, NULL, id);
    TRY(src);
    /* Through the node that survives: a raw writer, and a spectator that
     * shows the in-band notices (raw operators get none). */
    op = op_on_b(s, id, "rw", true);
    TRY(op);
    obs = op_on_b(s, id, "ro", false);
    TRY(obs);
    k = scen_wait_text(obs, 0, "ok attached ", 100);
    TRY(k >= 0);
    e0 = epoch_in(obs, (size_t)k, "epoch=");
    TRY(scen_v2o(src, op, SEED_VM(50), 0, 700));
    TRY(scen_o2v(op, src, SEED_OP(50), 0, 300));
    TRY(scen_begin(src, seq50, sizeof(seq50), secret));
    printf("  GOAHEAD on node A (epoch %llu), the secret names node index "
           "%u; SIGKILL to node A (pid %ld)\n",
           e0, secret[0], s->owner_pid);
    CHECK(kill((pid_t)s->owner_pid, SIGKILL) == 0, "kill %ld: %s", s->owner_pid,
          strerror(errno));
    TRY(scr_expect_eof(src, SCR_T_ANSWER));
    /* The destination host reaches node B: no PEER-OK. */
    dst =
        scen_peer(&b, 50, seq50, sizeof(seq50), secret, sizeof(secret), false);
    TRY(dst);
    TRY(no_peer_ok(dst, 3000));
    printf("  node B did not accept the PEER within 3 s\n");
    scr_close(dst); /* the host gives up on the destination */
    k = scen_wait_text(obs, (size_t)k, "waiting for the console's next owner",
                       SCR_T_ANSWER);
    TRY(k >= 0);
    CHECK(!op->eof, "the operator on node B lost its session with node A");
    TRY(scr_no_data(op, 0));
    /* Typed while the console has no owner: held by node B. */
    TRY(send_pat(op, SEED_OP(50), 300, 200));
    /* The VM reconnects, plainly, to node B: B claims the console. */
    vm = scen_vm(&b, 50, NULL, id2);
    TRY(vm);
    CHECK(strcmp(id, id2) == 0, "reconnection: console %s, expected %s", id2,
          id);
    m = scen_wait_text(obs, (size_t)k, "console now on node ", SCR_T_ANSWER);
    TRY(m >= 0);
    line_at(obs, (size_t)m, line, sizeof(line));
    line[strcspn(line, "]")] = 0;
    e1 = epoch_in(obs, (size_t)m, "(epoch ");
    printf("  the spectator on node B: \"console now on node %s\"\n", line);
    CHECK(e1 > e0, "the claim's epoch %llu is not above node A's %llu", e1, e0);
    TRY(scr_expect_pattern(vm, SEED_OP(50), 300, 200, SCR_T_ANSWER));
    TRY(scr_no_data(op, 0));
    TRY(scen_v2o(vm, op, SEED_VM(50), 700, 800));
    TRY(scen_o2v(op, vm, SEED_OP(50), 500, 300));
    TRY(scen_v2o(vm, op, SEED_VM(50), 1500, 4096));
    TRY(scen_o2v(op, vm, SEED_OP(50), 800, 4096));
    CHECK(!op->eof, "the operator on node B lost its session");
    TRY(scr_no_data(op, 100));
    TRY(scr_no_data(vm, 0));
    lst = scr_op_connect(b.op);
    TRY(lst);
    TRY(scr_op_wait_console(lst, id, "connected", SCR_T_ANSWER));
    CHECK(scen_count_consoles(lst) == 1, "node B lists %d consoles, expected 1",
          scen_count_consoles(lst));
    return SCEN_PASS;
}

int
scen_cluster(struct scen *s)
{
    if (!scr_addr_ok(s->peer_vm)) {
        fprintf(stderr, "scenario: --peer-proxy must be 127.x.x.x:PORT\n");
        return 2;
    }
    if (s->op2 && !scr_addr_ok(s->op2)) {
        fprintf(stderr, "scenario: --operator2 must be 127.x.x.x:PORT\n");
        return 2;
    }
    if (s->n == 49)
        return s_peer_other_node(s);
    return s_owner_crash(s);
}
