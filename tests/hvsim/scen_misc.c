/*
 * scen_misc.c: scenarios 51, 52, 55 and 56 of PROTOCOL.md section 10
 * (two ports of one VM, reconnect, idle timeout, reconnect storm).
 */
#include "vspc/compat.h"

#include "scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

static const uint8_t seq4[] = {0x51, 0x51, 0xFF, 0x51};

/* 51: same UUID, labels com1 and com2, same sequence: only the secret
 * tells the peers apart. */
static int
s_two_ports(struct scen *s)
{
    char id[2][VMX_CONSOLE_ID_MAX + 1];
    static const char *const label[2] = {"com1", "com2"};
    uint8_t secret[2][VMX_SECRET_LEN];
    struct scr_conn *a[2], *op[2], *b[2];

    for (int i = 0; i < 2; i++) {
        a[i] = scen_vm(s, 51, label[i], id[i]);
        TRY(a[i]);
        op[i] = scen_op(s, id[i], "rw");
        TRY(op[i]);
    }
    for (int i = 0; i < 2; i++)
        TRY(scen_begin(a[i], seq4, 4, secret[i]));
    CHECK(memcmp(secret[0], secret[1], VMX_SECRET_LEN) != 0,
          "two ports got the same secret");
    for (int i = 1; i >= 0; i--) {
        b[i] = scen_peer(s, 51, seq4, 4, secret[i], VMX_SECRET_LEN, true);
        TRY(b[i]);
    }
    for (int i = 0; i < 2; i++) {
        TRY(scr_send_vmx(b[i], VMX_VMOTION_COMPLETE, seq4, 4));
        TRY(scr_expect_eof(a[i], SCR_T_ANSWER));
    }
    for (int i = 0; i < 2; i++) {
        TRY(scen_v2o(b[i], op[i], SEED_VM(5100 + i), 0, 800));
        TRY(scen_o2v(op[i], b[i], SEED_OP(5100 + i), 0, 300));
    }
    for (int i = 0; i < 2; i++) {
        TRY(scr_no_data(op[i], 100));
        TRY(scr_no_data(b[i], 0));
    }
    return SCEN_PASS;
}

/* 52 */
static int
s_reconnect(struct scen *s)
{
    char id[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *a, *op, *op2, *lst;
    uint64_t off = 1;

    a = scen_vm(s, 52, "com1", id);
    TRY(a);
    op = scen_op(s, id, "rw");
    TRY(op);
    TRY(scen_v2o(a, op, SEED_VM(52), 0, 700));
    scr_close(a);
    lst = scr_op_connect(s->op);
    TRY(lst);
    TRY(scr_op_wait_console(lst, id, "disconnected", SCR_T_ANSWER));
    TRY(scr_expect_open(op, 100));
    TRY(scr_no_data(op, 0));
    a = scen_vm(s, 52, "com1", id);
    TRY(a);
    TRY(scr_op_wait_console(lst, id, "connected", SCR_T_ANSWER));
    CHECK(scen_count_consoles(lst) == 1, "reconnect created a second "
                                         "console");
    TRY(scen_v2o(a, op, SEED_VM(52), 700, 500));
    TRY(scen_o2v(op, a, SEED_OP(52), 0, 300));
    op2 = scr_op_connect(s->op);
    TRY(op2);
    TRY(scr_op_attach(op2, id, "ro", true, NULL, &off, false));
    CHECK(off == 0, "scrollback offset=%llu, expected 0",
          (unsigned long long)off);
    TRY(scr_expect_pattern(op2, SEED_VM(52), 0, 1200, SCR_T_ANSWER));
    TRY(scr_no_data(op2, 100));
    return SCEN_PASS;
}

/* 55 (proxy started with --idle-timeout 2) */
static int
s_idle(struct scen *s)
{
    char id[VMX_CONSOLE_ID_MAX + 1];
    static const uint8_t ks1[] = {0, 1, 2, 3, 40, 41, 43, 44, 45, 46, 48};
    struct scr_conn *a, *op, *c[3];
    uint8_t secret[VMX_SECRET_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
    int fd0, fd1, fd2 = -1;
    int64_t t0, deadline;

    a = scen_vm(s, 55, NULL, id);
    TRY(a);
    op = scen_op(s, id, "rw");
    TRY(op);
    fd0 = scen_proxy_fds(s);
    t0 = scr_now_ms();
    /* Negotiated, never identifies. */
    c[0] = scr_connect(s->vm, "half-open", 3000);
    TRY(c[0]);
    TRY(scr_negotiate(c[0]));
    TRY(scr_send_vmx(c[0], VMX_KNOWN_SUBOPTIONS_1, ks1, sizeof(ks1)));
    /* A rejected PEER, left to time out. */
    c[1] = scen_peer(s, 55, seq4, 4, secret, sizeof(secret), false);
    TRY(c[1]);
    /* TCP only. */
    c[2] = scr_connect(s->vm, "silent", 3000);
    TRY(c[2]);
    scr_settle(c[2], 100);
    fd1 = scen_proxy_fds(s);
    deadline = t0 + 6000;
    while (scr_now_ms() < deadline && !(c[0]->eof && c[1]->eof && c[2]->eof))
        scr_pump_many(c, 3, 50);
    for (int i = 0; i < 3; i++)
        CHECK(c[i]->eof,
              "conn %s not closed %lld ms after it went idle "
              "(idle timeout 2 s)",
              c[i]->name, (long long)(scr_now_ms() - t0));
    printf("  idle connections closed after %lld ms\n",
           (long long)(scr_now_ms() - t0));
    /* The identified connection is not idle-closed. */
    TRY(scr_expect_open(a, 0));
    TRY(scen_v2o(a, op, SEED_VM(55), 0, 500));
    TRY(scen_o2v(op, a, SEED_OP(55), 0, 300));
    for (int i = 0; i < 20 && fd0 >= 0; i++) {
        fd2 = scen_proxy_fds(s);
        if (fd2 <= fd0)
            break;
        scr_msleep(50);
    }
    if (fd0 >= 0) {
        printf("  proxy fds: %d before, %d with the idle connections, %d "
               "after\n",
               fd0, fd1, fd2);
        CHECK(fd2 <= fd0,
              "proxy fd count %d after the idle timeouts, %d "
              "before",
              fd2, fd0);
    }
    return SCEN_PASS;
}

/* 56 */
static int
s_storm(struct scen *s)
{
    enum { TOTAL = 2000, BATCH = 100, NUUID = 10 };
    static const uint8_t junk[] = {0xFF, 0xFB, 0x25, 0xFF, 0xFA, 0xE8, 0x50};
    struct scr_console arr[64];
    struct scr_conn *c[BATCH], *op, *a, *att;
    char id[VMX_CONSOLE_ID_MAX + 1], text[48], norm[VMX_UUID_HEX + 1];
    int fd0, fd1 = -1, n;
    int64_t t0 = scr_now_ms();

    op = scr_op_connect(s->op);
    TRY(op);
    fd0 = scen_proxy_fds(s);
    for (int done = 0; done < TOTAL; done += BATCH) {
        for (int i = 0; i < BATCH; i++) {
            c[i] = scr_connect(s->vm, "storm", 3000);
            TRY(c[i]);
            switch (i % 10) {
            case 0: {
                struct scr_hs hs = {0};

                scr_uuid(5600 + (unsigned)(i / 10) % NUUID, text, norm);
                hs.uuid = text;
                hs.no_comport = true;
                TRY(scr_handshake(c[i], &hs));
                TRY(scr_send_data(c[i], "x", 1));
                break;
            }
            case 1:
            case 2:
            case 3:
                TRY(scr_send_verb(c[i], TN_WILL, TN_OPT_AUTH));
                break;
            case 8:
            case 9:
                scr_send_quiet(c[i], junk, sizeof(junk));
                break;
            default:
                break;
            }
        }
        for (int i = 0; i < BATCH; i++) {
            if (i % 10 >= 8 || i % 7 == 3)
                scr_abort(c[i]);
            else
                scr_close(c[i]);
        }
        /* Before the same UUIDs identify again: their old connections are
         * gone. */
        for (int u = 0; u < NUUID; u++) {
            scr_uuid(5600 + (unsigned)u, text, norm);
            TRY(scr_op_wait_console(op, norm, "disconnected", SCR_T_ANSWER));
        }
    }
    printf("  %d connections in %lld ms\n", TOTAL,
           (long long)(scr_now_ms() - t0));
    for (int i = 0; i < 100 && fd0 >= 0; i++) {
        fd1 = scen_proxy_fds(s);
        if (fd1 <= fd0)
            break;
        scr_msleep(50);
    }
    if (fd0 >= 0) {
        printf("  proxy fds: %d before, %d after\n", fd0, fd1);
        CHECK(fd1 <= fd0,
              "fd leak: proxy had %d fds before the storm, %d "
              "after",
              fd0, fd1);
    } else {
        printf("  VSPC_PROXY_PID not set: fd count not checked\n");
    }
    n = scr_op_list(op, arr, 64);
    TRY(n >= 0);
    CHECK(n == NUUID, "%d consoles after the storm, expected %d", n, NUUID);
    for (int i = 0; i < n; i++)
        CHECK(strcmp(arr[i].state, "disconnected") == 0 &&
                  strcmp(arr[i].hv, "-") == 0,
              "stale console %s: state %s hv=%s", arr[i].id, arr[i].state,
              arr[i].hv);
    a = scen_vm(s, 5600, NULL, id);
    TRY(a);
    att = scr_op_connect(s->op);
    TRY(att);
    TRY(scr_op_attach(att, id, "rw", true, NULL, NULL, false));
    att->rd = att->ndata;
    scr_settle(att, 100);
    att->rd = att->ndata; /* scrollback of the storm: "x" bytes */
    TRY(scen_v2o(a, att, SEED_VM(56), 0, 500));
    TRY(scen_o2v(att, a, SEED_OP(56), 0, 300));
    return SCEN_PASS;
}

int
scen_51_56(struct scen *s)
{
    switch (s->n) {
    case 51:
        return s_two_ports(s);
    case 52:
        return s_reconnect(s);
    case 55:
        return s_idle(s);
    case 56:
        return s_storm(s);
    }
    return SCEN_FAIL;
}
