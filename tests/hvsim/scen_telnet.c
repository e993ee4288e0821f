/*
 * scen_telnet.c: scenarios 1-25 of PROTOCOL.md section 10 (telnet layer,
 * handshake, identification, data transparency).
 */
#include "vspc/compat.h"

#include "scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pattern.h"

static const uint8_t ks1[] = {0,  1,  2,  3,  40, 41, 43, 44, 45, 46, 48,
                              70, 71, 73, 80, 81, 84, 85, 86, 87, 82, 83};

static bool
no_usr2(struct scr_conn *c)
{
    if (scr_count_vmx(c, VMX_UNKNOWN_SUBOPTION_RCVD_2, 0) == 0)
        return true;
    scr_fail(__FILE__, __LINE__,
             "conn %s: UNKNOWN-SUBOPTION-RCVD-2 for a "
             "known code",
             c->name);
    scr_dump(c);
    return false;
}

/* 1 */
static int
s_will_auth(struct scen *s)
{
    struct scr_conn *c = scr_connect(s->vm, "vm", 3000);

    TRY(c);
    TRY(scr_send_verb(c, TN_WILL, TN_OPT_AUTH));
    TRY(scr_expect_neg(c, TN_DONT, TN_OPT_AUTH, SCR_T_ANSWER));
    TRY(scr_expect_open(c, 200));
    TRY(scr_no_data(c, 0));
    return SCEN_PASS;
}

/* 2, 3, 6: the handshake variants, then data both ways. */
static int
s_basic(struct scen *s, bool ks1_first, bool bytewise)
{
    char text[48], norm[VMX_UUID_HEX + 1];
    struct scr_hs hs = {0};
    struct scr_conn *vm, *op;
    struct scr_console con;

    scr_uuid((unsigned)s->n, text, norm);
    vm = scr_connect(s->vm, "vm", 3000);
    TRY(vm);
    vm->split = bytewise ? 1 : 0;
    hs.uuid = text;
    hs.name = "vm-basic";
    hs.ks1_first = ks1_first;
    TRY(scr_handshake(vm, &hs));
    op = scr_op_connect(s->op);
    TRY(op);
    TRY(scr_op_wait_console(op, norm, "connected", SCR_T_ANSWER));
    TRY(scr_op_find(op, norm, &con) == 1);
    CHECK(strcmp(con.name, "vm-basic") == 0,
          "list name \"%s\", sent "
          "\"vm-basic\"",
          con.name);
    scr_close(op);
    op = scen_op(s, norm, "rw");
    TRY(op);
    TRY(scen_v2o(vm, op, SEED_VM(1), 0, bytewise ? 300 : 4096));
    TRY(scen_o2v(op, vm, SEED_OP(1), 0, 1024));
    TRY(no_usr2(vm));
    TRY(scr_no_data(op, 100));
    return SCEN_PASS;
}

/* 4 */
static int
s_no_will_232(struct scen *s)
{
    struct scr_conn *c = scr_connect(s->vm, "plain", 3000), *op;

    TRY(c);
    TRY(scr_send(c, "hello\r\n", 7));
    scr_settle(c, SCR_T_SILENCE);
    TRY(scr_no_data(c, 0));
    op = scr_op_connect(s->op);
    TRY(op);
    CHECK(scen_count_consoles(op) == 0, "a console exists for a plain "
                                        "telnet client");
    return SCEN_PASS;
}

/* 5 */
static int
s_wont_232(struct scen *s)
{
    char text[48], norm[VMX_UUID_HEX + 1];
    uint8_t b[512];
    size_t len = 0;
    struct scr_conn *c = scr_connect(s->vm, "vm", 3000), *op;

    TRY(c);
    scr_uuid(5, text, norm);
    TRY(scr_send_verb(c, TN_WILL, TN_OPT_AUTH));
    TRY(scr_expect_neg(c, TN_DONT, TN_OPT_AUTH, SCR_T_ANSWER));
    TRY(scr_expect_neg(c, TN_DO, TN_OPT_VMWARE, SCR_T_ANSWER));
    TRY(scr_send_verb(c, TN_WONT, TN_OPT_VMWARE));
    TRY(scr_no_vmx(c, -1, SCR_T_SILENCE));
    /* Extension traffic anyway: must not be processed any more. */
    len = scr_put_vmx(b, len, sizeof(b), VMX_KNOWN_SUBOPTIONS_1, ks1,
                      sizeof(ks1));
    len = scr_put_vmx(b, len, sizeof(b), VMX_DO_PROXY, "SvSPC.py", 8);
    len = scr_put_vmx(b, len, sizeof(b), VMX_VM_VC_UUID, text, strlen(text));
    len = scr_put_vmx(b, len, sizeof(b), VMX_VM_NAME, "vm-5", 4);
    scr_send_quiet(c, b, len);
    scr_settle(c, SCR_T_SILENCE);
    CHECK(scr_count_vmx(c, VMX_WILL_PROXY, 0) == 0 &&
              scr_count_vmx(c, VMX_KNOWN_SUBOPTIONS_2, 0) == 0,
          "extension answered after WONT 232");
    op = scr_op_connect(s->op);
    TRY(op);
    CHECK(scen_count_consoles(op) == 0, "console created after WONT 232");
    return SCEN_PASS;
}

/* The whole host side of a handshake plus data, as one byte string. */
static size_t
hs_bytes(uint8_t *b, size_t cap, const char *uuid, const char *name,
         uint64_t seed, size_t ndata)
{
    uint8_t d[1024];
    size_t len = scr_put_hello(b, 0, cap, ks1, sizeof(ks1), uuid, name);
    len = scr_put_verb(b, len, cap, TN_WILL, TN_OPT_COMPORT);
    pat_fill(seed, 0, d, ndata);
    return scr_put_data(b, len, cap, d, ndata);
}

static bool
hs_answers(struct scr_conn *c)
{
    const uint8_t *p;
    size_t n;

    if (!scr_expect_neg(c, TN_DONT, TN_OPT_AUTH, SCR_T_ANSWER) ||
        !scr_expect_neg(c, TN_DO, TN_OPT_VMWARE, SCR_T_ANSWER))
        return false;
    p = scr_expect_vmx(c, VMX_KNOWN_SUBOPTIONS_2, &n, SCR_T_ANSWER);
    return p && scr_check_ks2(p, n) &&
           scr_expect_vmx_exact(c, VMX_GET_VM_VC_UUID, "", 0, SCR_T_ANSWER) &&
           scr_expect_vmx_exact(c, VMX_GET_VM_NAME, "", 0, SCR_T_ANSWER) &&
           scr_expect_vmx_exact(c, VMX_WILL_PROXY, "", 0, SCR_T_ANSWER) &&
           scr_expect_neg(c, TN_DONT, TN_OPT_COMPORT, SCR_T_ANSWER);
}

/* 7 */
static int
s_single_segment(struct scen *s)
{
    char text[48], norm[VMX_UUID_HEX + 1];
    uint8_t b[4096];
    size_t len;
    struct scr_conn *c = scr_connect(s->vm, "vm", 3000), *op;

    TRY(c);
    scr_uuid(7, text, norm);
    len = hs_bytes(b, sizeof(b), text, "vm-7", SEED_VM(7), 600);
    TRY(scr_send(c, b, len));
    TRY(hs_answers(c));
    op = scen_op(s, norm, "ro");
    TRY(op);
    TRY(scr_expect_pattern(op, SEED_VM(7), 0, 600, SCR_T_ANSWER));
    TRY(scr_no_data(op, 100));
    TRY(no_usr2(c));
    return SCEN_PASS;
}

/* 8: five connections; connection j cuts the byte string into segments of
 * 2 (j = 0, 1) or 3 (j = 2..4) bytes with phase j, so every position of
 * every command (after FF, after FF FA, before F0, inside FF FF) is a
 * segment boundary on some connection. */
static int
s_iac_split(struct scen *s)
{
    struct scr_conn *c[5], *op;
    char text[5][48], norm[5][VMX_UUID_HEX + 1];
    uint8_t b[4096];

    for (int j = 0; j < 5; j++) {
        size_t len, seg = j < 2 ? 2 : 3,
                    phase = j < 2 ? (size_t)j : (size_t)j - 2;
        size_t pos = 0, k;

        scr_uuid(800 + (unsigned)j, text[j], norm[j]);
        c[j] = scr_connect(s->vm, "vm-split", 3000);
        TRY(c[j]);
        len = hs_bytes(b, sizeof(b), text[j], "vm-8", SEED_VM(800 + j), 400);
        while (pos < len) {
            k = pos == 0 && phase ? phase : seg;
            if (k > len - pos)
                k = len - pos;
            TRY(scr_send(c[j], b + pos, k));
            pos += k;
            usleep(300);
        }
    }
    for (int j = 0; j < 5; j++) {
        TRY(hs_answers(c[j]));
        op = scen_op(s, norm[j], "ro");
        TRY(op);
        TRY(scr_expect_pattern(op, SEED_VM(800 + j), 0, 400, SCR_T_ANSWER));
        TRY(scr_no_data(op, 20));
        TRY(no_usr2(c[j]));
        scr_close(op);
    }
    return SCEN_PASS;
}

/* 9 */
static int
s_do_proxy_server(struct scen *s)
{
    char id1[VMX_CONSOLE_ID_MAX + 1], id2[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *a = scen_vm(s, 9, NULL, id1), *b, *op;

    TRY(a);
    b = scen_vm(s, 9, "com2", id2);
    TRY(b);
    op = scr_op_connect(s->op);
    TRY(op);
    TRY(scr_op_wait_console(op, id1, "connected", SCR_T_ANSWER));
    TRY(scr_op_wait_console(op, id2, "connected", SCR_T_ANSWER));
    CHECK(scen_count_consoles(op) == 2, "expected exactly 2 consoles");
    return SCEN_PASS;
}

/* 10, 11, 12: a DO-PROXY the proxy must refuse. */
static int
refused(struct scen *s, const void *pl, size_t n, bool wont_required)
{
    char text[48], norm[VMX_UUID_HEX + 1];
    uint8_t b[512];
    size_t len = 0;
    struct scr_conn *c = scr_connect(s->vm, "vm", 3000), *op;
    uint8_t data[64];

    TRY(c);
    scr_uuid((unsigned)s->n, text, norm);
    TRY(scr_negotiate(c));
    len = scr_put_vmx(b, len, sizeof(b), VMX_KNOWN_SUBOPTIONS_1, ks1,
                      sizeof(ks1));
    len = scr_put_vmx(b, len, sizeof(b), VMX_DO_PROXY, pl, n);
    TRY(scr_send(c, b, len));
    if (!scr_wait_vmx(c, VMX_WONT_PROXY, NULL, SCR_T_ANSWER)) {
        CHECK(!wont_required && c->eof,
              "expected WONT-PROXY (FF FA E8 49 FF F0)%s",
              wont_required ? "" : " or a close");
    }
    /* The host carries on regardless: identity and data. */
    len = scr_put_vmx(b, 0, sizeof(b), VMX_VM_VC_UUID, text, strlen(text));
    len = scr_put_vmx(b, len, sizeof(b), VMX_VM_NAME, "vm-refused", 10);
    pat_fill(SEED_VM(s->n), 0, data, sizeof(data));
    len = scr_put_data(b, len, sizeof(b), data, sizeof(data));
    scr_send_quiet(c, b, len);
    scr_settle(c, SCR_T_SILENCE);
    printf("  DO-PROXY payload of %zu bytes: %s, connection %s\n", n,
           scr_count_vmx(c, VMX_WONT_PROXY, 0) ? "WONT-PROXY" : "no answer",
           scr_wait_eof(c, 500) ? "closed by the proxy" : "left open");
    CHECK(scr_count_vmx(c, VMX_WILL_PROXY, 0) == 0, "WILL-PROXY after a "
                                                    "refused DO-PROXY");
    op = scr_op_connect(s->op);
    TRY(op);
    CHECK(scen_count_consoles(op) == 0, "console created for a refused "
                                        "DO-PROXY");
    return SCEN_PASS;
}

/* 13 */
static int
s_unknown_suboption(struct scen *s)
{
    static const uint8_t codes[] = {42, 99, 255, 47, 72};
    char id[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *vm = scen_vm(s, 13, NULL, id), *op;

    TRY(vm);
    op = scen_op(s, id, "ro");
    TRY(op);
    for (size_t i = 0; i < sizeof(codes); i++) {
        uint8_t want[8], pl = codes[i];
        size_t len = scr_put_vmx(want, 0, sizeof(want),
                                 VMX_UNKNOWN_SUBOPTION_RCVD_2, &pl, 1);

        TRY(scr_send_vmx(vm, codes[i], "x", i & 1));
        TRY(scr_expect_vmx_exact(vm, VMX_UNKNOWN_SUBOPTION_RCVD_2, &codes[i], 1,
                                 SCR_T_ANSWER));
        CHECK(memmem(vm->raw, vm->nraw, want, len),
              "UNKNOWN-SUBOPTION-RCVD-2 %u must be sent as FF FA E8 03 %s%02X "
              "FF F0",
              codes[i], codes[i] == 0xFF ? "FF " : "", codes[i]);
    }
    TRY(scen_v2o(vm, op, SEED_VM(13), 0, 512));
    TRY(scr_expect_open(vm, 50));
    return SCEN_PASS;
}

/* 14 */
static int
s_unknown_rcvd_1(struct scen *s)
{
    char id[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *vm = scen_vm(s, 14, NULL, id), *op;
    uint8_t code = 0x01;

    TRY(vm);
    op = scen_op(s, id, "rw");
    TRY(op);
    TRY(scr_send_vmx(vm, VMX_UNKNOWN_SUBOPTION_RCVD_1, &code, 1));
    TRY(scr_no_vmx(vm, -1, SCR_T_SILENCE));
    TRY(scen_v2o(vm, op, SEED_VM(14), 0, 512));
    TRY(scen_o2v(op, vm, SEED_OP(14), 0, 512));
    return SCEN_PASS;
}

/* 15 */
static int
s_truncated_sb(struct scen *s)
{
    char text[48], norm[VMX_UUID_HEX + 1], id[VMX_CONSOLE_ID_MAX + 1];
    uint8_t b[512];
    size_t len = 0;
    struct scr_conn *a = scr_connect(s->vm, "vm-a", 3000), *b2, *op;
    static const uint8_t trunc[] = {0xFF, 0xFA, 0xE8, 0x50, 'a', 'b', 'c'};

    TRY(a);
    scr_uuid(15, text, norm);
    TRY(scr_negotiate(a));
    len = scr_put_vmx(b, len, sizeof(b), VMX_KNOWN_SUBOPTIONS_1, ks1,
                      sizeof(ks1));
    len = scr_put_vmx(b, len, sizeof(b), VMX_DO_PROXY, "SvSPC.py", 8);
    TRY(scr_send(a, b, len));
    TRY(scr_expect_vmx(a, VMX_GET_VM_VC_UUID, NULL, SCR_T_ANSWER));
    /* A complete UUID text, but the SB never ends: FIN. */
    len = scr_put_vmx(b, 0, sizeof(b), VMX_VM_VC_UUID, text, strlen(text));
    TRY(scr_send(a, b, len - 2));
    scr_shut_wr(a);
    TRY(scr_expect_eof(a, SCR_T_ANSWER));
    op = scr_op_connect(s->op);
    TRY(op);
    CHECK(scen_count_consoles(op) == 0, "the unterminated VM-VC-UUID was "
                                        "applied");
    /* The literal case, on an identified connection. */
    b2 = scen_vm(s, 1515, NULL, id);
    TRY(b2);
    TRY(scr_send(b2, trunc, sizeof(trunc)));
    scr_shut_wr(b2);
    TRY(scr_expect_eof(b2, SCR_T_ANSWER));
    TRY(scr_op_wait_console(op, id, "disconnected", SCR_T_ANSWER));
    /* The proxy still works, with the first UUID too. */
    a = scen_vm(s, 15, NULL, id);
    TRY(a);
    TRY(scr_op_wait_console(op, norm, "connected", SCR_T_ANSWER));
    return SCEN_PASS;
}

/* 16 */
static int
s_unterminated_sb(struct scen *s)
{
    char id[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *vm = scen_vm(s, 16, NULL, id), *op;
    static uint8_t junk[4096];
    static const uint8_t start[] = {0xFF, 0xFA, 0xE8, 0x52};
    size_t sent = 0;

    TRY(vm);
    memset(junk, 'A', sizeof(junk));
    TRY(scr_send(vm, start, sizeof(start)));
    while (sent < 256 * 1024 && !vm->eof) {
        if (!scr_send_quiet(vm, junk, sizeof(junk)))
            break;
        sent += sizeof(junk);
        scr_pump(vm, 0);
    }
    TRY(scr_expect_eof(vm, SCR_T_ANSWER));
    printf("  closed after %zu payload bytes sent\n", sent);
    op = scr_op_connect(s->op);
    TRY(op);
    TRY(scr_op_wait_console(op, id, "disconnected", SCR_T_ANSWER));
    return SCEN_PASS;
}

static bool
name_ok(const struct scr_console *con)
{
    const uint8_t *p = (const uint8_t *)con->name;
    size_t n = con->name_len, i = 0;

    if (n > VMX_NAME_MAX) {
        scr_fail(__FILE__, __LINE__, "listed name is %zu bytes (max %d)", n,
                 VMX_NAME_MAX);
        return false;
    }
    while (i < n) {
        size_t k = p[i] < 0x80         ? 1
                   : (p[i] >> 5) == 6  ? 2
                   : (p[i] >> 4) == 14 ? 3
                   : (p[i] >> 3) == 30 ? 4
                                       : 0;

        if (p[i] < 0x20 || p[i] == 0x7f || k == 0 || i + k > n)
            goto bad;
        for (size_t j = 1; j < k; j++)
            if ((p[i + j] & 0xC0) != 0x80)
                goto bad;
        i += k;
    }
    return true;
bad:
    scr_fail(__FILE__, __LINE__,
             "listed name has a control byte or invalid "
             "UTF-8 at %zu",
             i);
    fprintf(stderr, "  name: ");
    scr_hex(stderr, p, n, 300);
    fputc('\n', stderr);
    return false;
}

/* 17 */
static int
s_vm_name(struct scen *s)
{
    static const char hostile[] = "a/../b\0c\x01\x1b[2J\x7f\xc3\x28\xff\xfe"
                                  "\xe2\x82\xac end/../../etc/passwd";
    static char longname[1001], huge[100 * 1024];
    char text[48], norm[VMX_UUID_HEX + 1];
    struct scr_hs hs = {0};
    struct scr_conn *c, *op;
    struct scr_console con;

    op = scr_op_connect(s->op);
    TRY(op);
    for (size_t i = 0; i < 1000; i++)
        longname[i] = "../etc/passwd/"[i % 14];
    scr_uuid(1701, text, norm);
    hs.uuid = text;
    hs.name = longname;
    TRY(scen_vm_hs(s, "vm-long", &hs));
    TRY(scr_op_wait_console(op, norm, NULL, SCR_T_ANSWER));
    TRY(scr_op_find(op, norm, &con) == 1);
    TRY(name_ok(&con));
    CHECK(con.name_len > 0 && memcmp(con.name, longname, con.name_len) == 0,
          "a printable ASCII name must be kept (truncated), got \"%s\"",
          con.name);

    scr_uuid(1702, text, norm);
    hs.uuid = text;
    hs.name = hostile;
    hs.name_len = sizeof(hostile) - 1;
    TRY(scen_vm_hs(s, "vm-hostile", &hs));
    TRY(scr_op_wait_console(op, norm, NULL, SCR_T_ANSWER));
    TRY(scr_op_find(op, norm, &con) == 1);
    TRY(name_ok(&con));
    CHECK(strncmp(con.name, "a/../b", 6) == 0 && strstr(con.name, "\xe2\x82"
                                                                  "\xac"),
          "sanitised name lost its valid part: \"%s\"", con.name);

    /* 100 KB: over the SB limit, the connection is closed (or the name
     * bounded). */
    memset(huge, 'N', sizeof(huge));
    scr_uuid(1703, text, norm);
    c = scr_connect(s->vm, "vm-huge", 3000);
    TRY(c);
    memset(&hs, 0, sizeof(hs));
    hs.uuid = text;
    hs.no_comport = true;
    hs.name = huge;
    hs.name_len = sizeof(huge);
    if (scr_handshake(c, &hs) && !scr_wait_eof(c, 1000)) {
        TRY(scr_op_wait_console(op, norm, NULL, SCR_T_ANSWER));
        TRY(scr_op_find(op, norm, &con) == 1);
        TRY(name_ok(&con));
    }
    CHECK(scen_count_consoles(op) >= 2, "operator list broken");
    return SCEN_PASS;
}

/* 18 */
static int
s_uuid_malformed(struct scen *s)
{
    static const char *const bad[] = {
        "01 23",
        "zz 23 45 67 89 ab cd ef-fe dc ba 98 00 00 00 00",
        "01 23 45 67 89 ab cd ef-fe dc ba 98 00 00 00 00 0",
        "",
        "01 23 45 67 89 ab cd ef-fe dc ba 98 00 00 00 0g",
        "01 23 45 67 89 ab cd ef-fe dc ba 98 00 00 00 00/..",
    };
    static const struct {
        const char *text, *norm;
    } odd[] = {
        {"01 23 45 67 89 AB CD EF-FE DC BA 98 00 00 00 01",
         "0123456789abcdeffedcba9800000001"},
        {"01234567-89ab-cdef-fedc-ba9800000002",
         "0123456789abcdeffedcba9800000002"},
    };
    struct scr_console arr[16];
    struct scr_hs hs = {0};
    struct scr_conn *c, *op;
    int n;

    hs.no_wait_proxy = true;
    hs.no_comport = true;
    for (size_t i = 0; i < VSPC_ARRAY_LEN(bad); i++) {
        c = scr_connect(s->vm, "vm-bad-uuid", 3000);
        TRY(c);
        hs.uuid = bad[i];
        TRY(scr_handshake(c, &hs));
        scr_settle(c, 50);
        CHECK(scr_count_vmx(c, VMX_WILL_PROXY, 0) == 0,
              "WILL-PROXY for the malformed VM-VC-UUID \"%s\"", bad[i]);
    }
    op = scr_op_connect(s->op);
    TRY(op);
    scr_settle(op, 200);
    CHECK(scen_count_consoles(op) == 0, "console created for a malformed "
                                        "VM-VC-UUID");
    for (size_t i = 0; i < VSPC_ARRAY_LEN(odd); i++) {
        c = scr_connect(s->vm, "vm-odd-uuid", 3000);
        TRY(c);
        hs.uuid = odd[i].text;
        TRY(scr_handshake(c, &hs));
        scr_settle(c, 100);
    }
    n = scr_op_list(op, arr, 16);
    TRY(n >= 0);
    for (int i = 0; i < n; i++) {
        bool known = false;

        for (size_t j = 0; j < VSPC_ARRAY_LEN(odd); j++)
            known |= strcmp(arr[i].id, odd[j].norm) == 0;
        CHECK(known, "console id \"%s\" is not a normalised UUID", arr[i].id);
    }
    printf("  uppercase / dashed UUIDs: %d of 2 accepted (normalised)\n", n);
    return SCEN_PASS;
}

/* 19, 20: after a telnet protocol error the connection is closed, or the
 * parser is still in sync for what follows. */
static int
after_error(struct scen *s, const uint8_t *junk, size_t n, bool tail_only)
{
    char id[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *vm = scen_vm(s, (unsigned)s->n, NULL, id), *op;
    static const char marker[] = "after-protocol-error";
    uint8_t code = 99;

    TRY(vm);
    op = scen_op(s, id, "ro");
    TRY(op);
    TRY(scr_send(vm, junk, n));
    scr_settle(vm, 100);
    if (vm->eof) {
        printf("  connection closed after the error\n");
        return SCEN_PASS;
    }
    scr_send_quiet(vm, marker, sizeof(marker) - 1);
    scr_send_vmx(vm, code, NULL, 0);
    if (scr_wait_eof(vm, 200)) {
        printf("  connection closed after the error\n");
        return SCEN_PASS;
    }
    TRY(scr_expect_vmx_exact(vm, VMX_UNKNOWN_SUBOPTION_RCVD_2, &code, 1,
                             SCR_T_ANSWER));
    scr_settle(op, 200);
    if (tail_only && op->ndata - op->rd > sizeof(marker) - 1)
        op->rd = op->ndata - (sizeof(marker) - 1);
    TRY(scr_expect_data(op, marker, sizeof(marker) - 1, SCR_T_ANSWER));
    TRY(scr_no_data(op, 0));
    return SCEN_PASS;
}

/* 21 */
static int
s_all_bytes_to_op(struct scen *s)
{
    char id[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *vm = scen_vm(s, 21, NULL, id), *op;
    struct scr_console con;
    uint8_t all[512];

    TRY(vm);
    op = scen_op(s, id, "ro");
    TRY(op);
    for (int i = 0; i < 512; i++)
        all[i] = (uint8_t)i;
    TRY(scr_send_data(vm, all, sizeof(all)));
    TRY(scr_expect_data(op, all, sizeof(all), SCR_T_ANSWER));
    TRY(scen_v2o(vm, op, SEED_VM(21), 0, 16384));
    TRY(scr_no_data(op, 100));
    op = scr_op_connect(s->op);
    TRY(op);
    TRY(scr_op_find(op, id, &con) == 1);
    CHECK(con.in == 512 + 16384, "list shows in=%llu, the VM sent %d bytes",
          (unsigned long long)con.in, 512 + 16384);
    return SCEN_PASS;
}

/* 22 */
static int
s_all_bytes_to_vm(struct scen *s)
{
    char id[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *vm = scen_vm(s, 22, NULL, id), *op;
    struct scr_console con;
    uint8_t all[512];
    size_t ff = 0, ffraw = 0, raw0;

    TRY(vm);
    op = scen_op(s, id, "rw");
    TRY(op);
    for (int i = 0; i < 512; i++)
        all[i] = (uint8_t)i;
    raw0 = vm->nraw;
    TRY(scr_send_data(op, all, sizeof(all)));
    TRY(scr_expect_data(vm, all, sizeof(all), SCR_T_ANSWER));
    for (size_t i = raw0; i < vm->nraw; i++)
        ffraw += vm->raw[i] == 0xFF;
    ff = 2;
    CHECK(ffraw == 2 * ff,
          "0xFF must be doubled exactly once: %zu FF "
          "bytes on the wire for %zu data FF",
          ffraw, ff);
    TRY(scen_o2v(op, vm, SEED_OP(22), 0, 16384));
    TRY(scr_no_data(vm, 100));
    op = scr_op_connect(s->op);
    TRY(op);
    TRY(scr_op_find(op, id, &con) == 1);
    CHECK(con.out == 512 + 16384,
          "list shows out=%llu, the operator sent "
          "%d bytes",
          (unsigned long long)con.out, 512 + 16384);
    return SCEN_PASS;
}

/* 23 */
static int
s_data_before_ident(struct scen *s)
{
    char text[48], norm[VMX_UUID_HEX + 1];
    uint8_t b[512];
    size_t len = 0;
    struct scr_conn *c = scr_connect(s->vm, "vm", 3000), *op, *u;

    TRY(c);
    scr_uuid(23, text, norm);
    TRY(scr_negotiate(c));
    TRY(scr_send_data(c, "[before DO-PROXY]", 17));
    len = scr_put_vmx(b, len, sizeof(b), VMX_KNOWN_SUBOPTIONS_1, ks1,
                      sizeof(ks1));
    len = scr_put_vmx(b, len, sizeof(b), VMX_DO_PROXY, "SvSPC.py", 8);
    TRY(scr_send(c, b, len));
    TRY(scr_expect_vmx(c, VMX_GET_VM_VC_UUID, NULL, SCR_T_ANSWER));
    TRY(scr_send_data(c, "[before UUID \xff]", 15));
    TRY(scr_send_vmx(c, VMX_VM_VC_UUID, text, strlen(text)));
    TRY(scr_expect_vmx_exact(c, VMX_WILL_PROXY, "", 0, SCR_T_ANSWER));
    TRY(scr_send_vmx(c, VMX_VM_NAME, "vm-23", 5));
    TRY(scr_send_data(c, "[after]", 7));
    op = scen_op(s, norm, "ro");
    TRY(op);
    TRY(scr_expect_data(op, "[before DO-PROXY][before UUID \xff][after]", 39,
                        SCR_T_ANSWER));
    /* Unidentified connection with data, closed: no console. */
    u = scr_connect(s->vm, "unidentified", 3000);
    TRY(u);
    TRY(scr_negotiate(u));
    TRY(scr_send_data(u, "orphan", 6));
    scr_settle(u, 100);
    scr_close(u);
    scr_settle(op, 200);
    TRY(scr_no_data(op, 0));
    op = scr_op_connect(s->op);
    TRY(op);
    CHECK(scen_count_consoles(op) == 1, "expected exactly one console");
    return SCEN_PASS;
}

/* 24 */
static int
s_will_comport(struct scen *s)
{
    char text[48], norm[VMX_UUID_HEX + 1];
    struct scr_hs hs = {0};
    struct scr_conn *c;

    scr_uuid(24, text, norm);
    hs.uuid = text;
    hs.no_comport = true;
    c = scen_vm_hs(s, "vm", &hs);
    TRY(c);
    TRY(scr_send_verb(c, TN_WILL, TN_OPT_COMPORT));
    TRY(scr_expect_neg(c, TN_DONT, TN_OPT_COMPORT, SCR_T_ANSWER));
    scr_settle(c, 200);
    /* RFC 1143: a new WILL in state NO is refused again; WONT/DONT in
     * state NO are not answered. */
    TRY(scr_send_verb(c, TN_WILL, TN_OPT_COMPORT));
    TRY(scr_expect_neg(c, TN_DONT, TN_OPT_COMPORT, SCR_T_ANSWER));
    TRY(scr_send_verb(c, TN_WONT, TN_OPT_COMPORT));
    TRY(scr_send_verb(c, TN_DONT, TN_OPT_COMPORT));
    scr_settle(c, SCR_T_SILENCE);
    CHECK(scr_count_neg(c, TN_DONT, TN_OPT_COMPORT, 0) == 2 &&
              scr_count_neg(c, TN_WONT, TN_OPT_COMPORT, 0) == 0 &&
              scr_count_neg(c, TN_DO, TN_OPT_COMPORT, 0) == 0 &&
              scr_count_neg(c, TN_WILL, TN_OPT_COMPORT, 0) == 0,
          "COM-PORT: expected exactly 2 DONT for 2 WILL (got DONT %zu, "
          "WONT %zu, DO %zu, WILL %zu)",
          scr_count_neg(c, TN_DONT, TN_OPT_COMPORT, 0),
          scr_count_neg(c, TN_WONT, TN_OPT_COMPORT, 0),
          scr_count_neg(c, TN_DO, TN_OPT_COMPORT, 0),
          scr_count_neg(c, TN_WILL, TN_OPT_COMPORT, 0));
    TRY(scr_expect_open(c, 0));
    return SCEN_PASS;
}

/* 25 */
static int
s_storm(struct scen *s)
{
    static const uint8_t opts[] = {TN_OPT_BINARY, TN_OPT_SGA, TN_OPT_VMWARE};
    static const uint8_t verbs[] = {TN_WILL, TN_WONT, TN_DO, TN_DONT};
    char id[VMX_CONSOLE_ID_MAX + 1];
    struct scr_conn *vm = scen_vm(s, 25, NULL, id), *op;
    uint8_t b[4096];
    size_t len = 0, from, n1;

    TRY(vm);
    op = scen_op(s, id, "ro");
    TRY(op);
    scr_settle(vm, 50);
    from = vm->nev;
    for (int r = 0; r < 20; r++) {
        len = scr_put_verb(b, len, sizeof(b), TN_WILL, TN_OPT_BINARY);
        len = scr_put_verb(b, len, sizeof(b), TN_DO, TN_OPT_BINARY);
        len = scr_put_verb(b, len, sizeof(b), TN_WILL, TN_OPT_SGA);
        len = scr_put_verb(b, len, sizeof(b), TN_DO, TN_OPT_SGA);
        len = scr_put_verb(b, len, sizeof(b), TN_WILL, TN_OPT_VMWARE);
        len = scr_put_verb(b, len, sizeof(b), TN_WILL, TN_OPT_ECHO);
        len = scr_put_verb(b, len, sizeof(b), TN_DO, TN_OPT_ECHO);
        len = scr_put_verb(b, len, sizeof(b), TN_WONT, 99);
        len = scr_put_verb(b, len, sizeof(b), TN_DONT, 99);
    }
    TRY(scr_send(vm, b, len));
    scr_settle(vm, SCR_T_SILENCE);
    n1 = vm->nev;
    for (size_t i = 0; i < sizeof(opts); i++)
        for (size_t j = 0; j < sizeof(verbs); j++)
            CHECK(scr_count_neg(vm, verbs[j], opts[i], from) <= 1,
                  "%zu replies %s %u to a storm on an agreed option",
                  scr_count_neg(vm, verbs[j], opts[i], from),
                  tn_verb_str(verbs[j]), opts[i]);
    CHECK(scr_count_neg(vm, TN_DONT, TN_OPT_ECHO, from) <= 20 &&
              scr_count_neg(vm, TN_WONT, TN_OPT_ECHO, from) <= 20,
          "more ECHO refusals than requests");
    CHECK(scr_count_neg(vm, TN_DONT, 99, from) +
                  scr_count_neg(vm, TN_WONT, 99, from) +
                  scr_count_neg(vm, TN_DO, 99, from) +
                  scr_count_neg(vm, TN_WILL, 99, from) ==
              0,
          "WONT/DONT for a disabled option must not be answered");
    scr_settle(vm, 300);
    CHECK(vm->nev == n1, "negotiation still going on after the storm "
                         "(loop?)");
    TRY(scen_v2o(vm, op, SEED_VM(25), 0, 1024));
    return SCEN_PASS;
}

int
scen_01_25(struct scen *s)
{
    static const uint8_t empty_se[] = {0xFF, 0xFA, 0xFF, 0xF0, 0xFF, 0xF0};
    static const uint8_t bad_sb[] = {0xFF, 0xFA, 0xE8, 0x52, 'a',  'b',
                                     0xFF, 0x01, 'c',  'd',  0xFF, 0xF0};

    switch (s->n) {
    case 1:
        return s_will_auth(s);
    case 2:
        return s_basic(s, false, false);
    case 3:
        return s_basic(s, true, false);
    case 4:
        return s_no_will_232(s);
    case 5:
        return s_wont_232(s);
    case 6:
        return s_basic(s, false, true);
    case 7:
        return s_single_segment(s);
    case 8:
        return s_iac_split(s);
    case 9:
        return s_do_proxy_server(s);
    case 10:
        return refused(s, "Swrong-uri", 10, true);
    case 11:
        return refused(s, "CvSPC.py", 8, true);
    case 12:
        return refused(s, "", 0, false) == SCEN_PASS &&
                       refused(s, "S", 1, false) == SCEN_PASS
                   ? SCEN_PASS
                   : SCEN_FAIL;
    case 13:
        return s_unknown_suboption(s);
    case 14:
        return s_unknown_rcvd_1(s);
    case 15:
        return s_truncated_sb(s);
    case 16:
        return s_unterminated_sb(s);
    case 17:
        return s_vm_name(s);
    case 18:
        return s_uuid_malformed(s);
    case 19:
        return after_error(s, empty_se, sizeof(empty_se), false);
    case 20:
        return after_error(s, bad_sb, sizeof(bad_sb), true);
    case 21:
        return s_all_bytes_to_op(s);
    case 22:
        return s_all_bytes_to_vm(s);
    case 23:
        return s_data_before_ident(s);
    case 24:
        return s_will_comport(s);
    case 25:
        return s_storm(s);
    }
    return SCEN_FAIL;
}
