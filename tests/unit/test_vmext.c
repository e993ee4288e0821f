/*
 * test_vmext.c: Check suite for the VMware extension codec
 * (proxy/vmext.c), including its payloads' round trip through the telnet
 * codec.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "telnet.h"
#include "vmext.h"
#include "tn_recorder.h"

#define U8(s) (const uint8_t *)(s), (sizeof(s) - 1)

static const char *const services[] = {"vSPC.py", "vmware-vspc"};

/* ------------------------------------------------------------------ */
/* Suboption table                                                     */

START_TEST(test_known_list)
{
    static const uint8_t want[] = {0,  1,  2,  3,  40, 41, 43, 44, 45,
                                   46, 48, 70, 71, 73, 80, 81, 82, 83};

    ck_assert_uint_eq(vmx_known_suboptions_2_len, sizeof(want));
    ck_assert_mem_eq(vmx_known_suboptions_2, want, sizeof(want));
    for (size_t i = 0; i < vmx_known_suboptions_2_len; i++)
        ck_assert(vmx_is_known(vmx_known_suboptions_2[i]));
}
END_TEST

START_TEST(test_is_known)
{
    static const uint8_t table[] = {0,  1,  2,  3,  40, 41, 43, 44, 45, 46, 48,
                                    70, 71, 73, 80, 81, 82, 83, 84, 85, 86, 87};
    int count = 0;

    for (int c = 0; c < 256; c++) {
        bool in = memchr(table, c, sizeof(table)) != NULL;

        ck_assert_msg(vmx_is_known((uint8_t)c) == in, "code %d", c);
        ck_assert((vmx_sub_str((uint8_t)c) != NULL) == in);
        count += in;
    }
    ck_assert_int_eq(count, 22);
    ck_assert(!vmx_is_known(42) && !vmx_is_known(47) && !vmx_is_known(72));
    ck_assert_str_eq(vmx_sub_str(VMX_VMOTION_GOAHEAD), "VMOTION-GOAHEAD");
    ck_assert_str_eq(vmx_sub_str(VMX_DO_PROXY), "DO-PROXY");
    ck_assert_str_eq(vmx_sub_str(VMX_GET_VM_LOCATION_UUID),
                     "GET-VM-LOCATION-UUID");
}
END_TEST

/* ------------------------------------------------------------------ */
/* UUID                                                                */

START_TEST(test_uuid_forms)
{
    static const char *const good[] = {
        "01 23 45 67 89 ab cd ef-fe dc ba 98 00 00 00 00",
        "01 23 45 67 89 AB CD EF-FE DC BA 98 00 00 00 00",
        "0123456789abcdeffedcba9800000000",
        "0123456789ABCDEFFEDCBA9800000000",
        "01234567-89ab-cdef-fedc-ba9800000000",
        "01234567-89AB-cdef-FEDC-ba9800000000",
    };
    char out[VMX_UUID_HEX + 1];

    for (size_t i = 0; i < VSPC_ARRAY_LEN(good); i++) {
        memset(out, 'X', sizeof(out));
        ck_assert_int_eq(
            vmx_uuid_normalise((const uint8_t *)good[i], strlen(good[i]), out),
            0);
        ck_assert_str_eq(out, "0123456789abcdeffedcba9800000000");
    }
    ck_assert_int_eq(
        vmx_uuid_normalise(U8("68 4c 91 6c 5f 6c 4c 2f-aa 50 df d6 61 a2 "
                              "2e 0d"),
                           out),
        0);
    ck_assert_str_eq(out, "684c916c5f6c4c2faa50dfd661a22e0d");
}
END_TEST

START_TEST(test_uuid_malformed)
{
    static const char *const bad[] = {
        "",
        "0123456789abcdeffedcba980000000",   /* 31 */
        "0123456789abcdeffedcba98000000000", /* 33 */
        "0123456789abcdeffedcba980000000g",
        "{01234567-89ab-cdef-fedc-ba9800000000}",
        "0x0123456789abcdeffedcba9800000000",
        "01\t23456789abcdeffedcba9800000000",
        "01 23 45 67 89 ab cd ef-fe dc ba 98 00 00 00 00 00",
        "   ---   ",
        "vm-00000",
    };
    char out[VMX_UUID_HEX + 1];

    for (size_t i = 0; i < VSPC_ARRAY_LEN(bad); i++) {
        memset(out, 'X', sizeof(out));
        ck_assert_msg(vmx_uuid_normalise((const uint8_t *)bad[i],
                                         strlen(bad[i]), out) == -1,
                      "accepted '%s'", bad[i]);
        ck_assert_str_eq(out, "");
    }
    /* An embedded NUL is not a separator. */
    ck_assert_int_eq(
        vmx_uuid_normalise(U8("0123456789abcdef\0fedcba9800000000"), out), -1);
    /* Trailing NUL (C string sent with its terminator): rejected too. */
    ck_assert_int_eq(
        vmx_uuid_normalise(U8("0123456789abcdeffedcba9800000000\0"), out), -1);
}
END_TEST

START_TEST(test_console_id)
{
    char id[VMX_CONSOLE_ID_MAX + 1];
    const char *uuid = "0123456789abcdeffedcba9800000000";

    ck_assert_uint_eq(vmx_console_id(id, uuid, NULL), 32);
    ck_assert_str_eq(id, uuid);
    ck_assert_uint_eq(vmx_console_id(id, uuid, ""), 32);
    ck_assert_str_eq(id, uuid);
    ck_assert_uint_eq(vmx_console_id(id, uuid, "serial1"), 40);
    ck_assert_str_eq(id, "0123456789abcdeffedcba9800000000.serial1");
    ck_assert_uint_eq(
        vmx_console_id(id, uuid, "abcdefghijklmnopqrstuvwxyz012345"),
        VMX_CONSOLE_ID_MAX);
    ck_assert_uint_eq(strlen(id), VMX_CONSOLE_ID_MAX);
}
END_TEST

/* ------------------------------------------------------------------ */
/* DO-PROXY and service URIs                                           */

START_TEST(test_do_proxy)
{
    const uint8_t *uri = NULL;
    size_t ulen = 99;
    char dir = 0;
    const uint8_t s1[] = "SvSPC.py?port=a";

    ck_assert_int_eq(vmx_parse_do_proxy(s1, 0, &dir, &uri, &ulen), -1);
    ck_assert_int_eq(dir, 0);
    ck_assert_int_eq(vmx_parse_do_proxy(s1, 1, &dir, &uri, &ulen), 0);
    ck_assert_int_eq(dir, 'S');
    ck_assert_uint_eq(ulen, 0);
    ck_assert_ptr_eq(uri, s1 + 1);
    ck_assert_int_eq(vmx_parse_do_proxy(s1, sizeof(s1) - 1, &dir, &uri, &ulen),
                     0);
    ck_assert_uint_eq(ulen, 14);
    ck_assert_mem_eq(uri, "vSPC.py?port=a", 14);
    ck_assert_int_eq(vmx_parse_do_proxy(U8("Ctelnet://h:1"), &dir, &uri, &ulen),
                     0);
    ck_assert_int_eq(dir, 'C');
    ck_assert_uint_eq(ulen, 12);
    ck_assert_int_eq(vmx_parse_do_proxy(U8("svSPC.py"), &dir, &uri, &ulen), -1);
    ck_assert_int_eq(vmx_parse_do_proxy(U8("\0vSPC.py"), &dir, &uri, &ulen),
                     -1);
}
END_TEST

static int
match(const char *uri, char label[VMX_LABEL_MAX + 1])
{
    memset(label, 'X', VMX_LABEL_MAX + 1);
    return vmx_service_match((const uint8_t *)uri, strlen(uri), services,
                             VSPC_ARRAY_LEN(services), label);
}

START_TEST(test_service_match)
{
    char l[VMX_LABEL_MAX + 1];

    ck_assert_int_eq(match("vSPC.py", l), 0);
    ck_assert_str_eq(l, "");
    ck_assert_int_eq(match("vmware-vspc", l), 0);
    ck_assert_str_eq(l, "");
    ck_assert_int_eq(match("vSPC.py?", l), 0);
    ck_assert_str_eq(l, "");
    ck_assert_int_eq(match("vSPC.py?port=serial1", l), 0);
    ck_assert_str_eq(l, "serial1");
    ck_assert_int_eq(match("vSPC.py?foo=bar&port=a_b-C9&x", l), 0);
    ck_assert_str_eq(l, "a_b-C9");
    ck_assert_int_eq(match("vSPC.py?&&port=Z&", l), 0);
    ck_assert_str_eq(l, "Z");
    ck_assert_int_eq(match("vSPC.py?ports=1&xport=2&Port=3", l), 0);
    ck_assert_str_eq(l, ""); /* none of these is "port" */
    ck_assert_int_eq(match("vSPC.py?port=abcdefghijklmnopqrstuvwxyz012345", l),
                     0);
    ck_assert_str_eq(l, "abcdefghijklmnopqrstuvwxyz012345");
    /* '?' inside the value is part of the value: rejected below. */

    /* Base must match exactly. */
    static const char *const nomatch[] = {
        "",
        "vSPC.p",
        "vSPC.pyx",
        "vspc.py",
        "vSPC.py ",
        " vSPC.py",
        "telnet://vSPC.py",
        "vSPC.py/",
        "vSPC.py#x",
        "vmware-vspc2?port=a",
    };
    for (size_t i = 0; i < VSPC_ARRAY_LEN(nomatch); i++) {
        ck_assert_msg(match(nomatch[i], l) == -1, "matched '%s'", nomatch[i]);
        ck_assert_str_eq(l, "");
    }
}
END_TEST

START_TEST(test_service_bad_labels)
{
    static const char *const bad[] = {
        "vSPC.py?port=",
        "vSPC.py?port",
        "vSPC.py?a=1&port",
        "vSPC.py?port=abcdefghijklmnopqrstuvwxyz0123456", /* 33 */
        "vSPC.py?port=a/b",
        "vSPC.py?port=..",
        "vSPC.py?port=a.b",
        "vSPC.py?port=a b",
        "vSPC.py?port=a%20",
        "vSPC.py?port=a?b",
        "vSPC.py?port=a=b",
        "vSPC.py?port=a#x",
        "vSPC.py?port=\xc3\xa9",
        "vSPC.py?port=a&port=b", /* ambiguous */
        "vSPC.py?port=a&port=a",
    };
    char l[VMX_LABEL_MAX + 1];

    for (size_t i = 0; i < VSPC_ARRAY_LEN(bad); i++) {
        ck_assert_msg(match(bad[i], l) == -1, "accepted '%s'", bad[i]);
        ck_assert_str_eq(l, "");
    }
    /* A NUL inside the label. */
    ck_assert_int_eq(vmx_service_match(U8("vSPC.py?port=a\0b"), services, 2, l),
                     -1);
}
END_TEST

START_TEST(test_service_any)
{
    char l[VMX_LABEL_MAX + 1];

    ck_assert_int_eq(vmx_service_match(U8("anything at all"), NULL, 0, l), 0);
    ck_assert_str_eq(l, "");
    ck_assert_int_eq(vmx_service_match(U8("x?port=p1"), NULL, 0, l), 0);
    ck_assert_str_eq(l, "p1");
    ck_assert_int_eq(vmx_service_match(U8("x?port=p/1"), NULL, 0, l), -1);
    ck_assert_int_eq(vmx_service_match(NULL, 0, NULL, 0, l), 0);
    ck_assert_int_eq(vmx_service_match(NULL, 0, services, 2, l), -1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Display names                                                       */

static void
check_name(const char *in, size_t n, size_t cap, const char *want)
{
    char out[512];

    ck_assert_uint_le(cap, sizeof(out));
    memset(out, 'Z', sizeof(out));
    ck_assert_uint_eq(vmx_sanitise_name((const uint8_t *)in, n, out, cap),
                      strlen(want));
    ck_assert_msg(strcmp(out, want) == 0, "got '%s' want '%s'", out, want);
}

#define NAME(s, want) check_name((s), sizeof(s) - 1, 256, (want))

START_TEST(test_name_basic)
{
    NAME("vm-00000", "vm-00000");
    NAME("", "");
    NAME("a\0b", "a?b");
    NAME("../../etc/passwd", "../../etc/passwd"); /* display only */
    NAME("a/b", "a/b");
    NAME("tab\there\r\n\x1b[2J\x7f", "tab?here???[2J?");
    NAME("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    NAME("\xc2\x9b"
         "1m",
         "?1m");                  /* C1 CSI: one '?' for the character */
    NAME("\xc2\xa0", "\xc2\xa0"); /* U+00A0 is not a control */
    NAME("\xef\xbf\xbf\xf4\x8f\xbf\xbf", "\xef\xbf\xbf\xf4\x8f\xbf\xbf");
}
END_TEST

START_TEST(test_name_invalid_utf8)
{
    NAME("\xc0\xaf", "??");               /* overlong '/' */
    NAME("\xc1\xbf", "??");               /* overlong */
    NAME("\xe0\x80\xaf", "???");          /* overlong 3-byte */
    NAME("\xe0\x9f\xbf", "???");          /* overlong 3-byte, top */
    NAME("\xf0\x80\x80\xaf", "????");     /* overlong 4-byte */
    NAME("\xf0\x8f\xbf\xbf", "????");     /* overlong 4-byte, top */
    NAME("\xed\xa0\x80", "???");          /* surrogate U+D800 */
    NAME("\xed\xbf\xbf", "???");          /* surrogate U+DFFF */
    NAME("\xed\x9f\xbf", "\xed\x9f\xbf"); /* U+D7FF is fine */
    NAME("\xf4\x90\x80\x80", "????");     /* above U+10FFFF */
    NAME("\xf5\x80\x80\x80", "????");
    NAME("\xff\xfe", "??");
    NAME("\x80"
         "a",
         "?a"); /* lone continuation */
    NAME("\xe2\x82"
         "A",
         "??A");                  /* truncated, then ASCII */
    NAME("abc\xe2\x82", "abc??"); /* truncated at the end */
    NAME("\xc3", "?");
}
END_TEST

START_TEST(test_name_truncation)
{
    static uint8_t big[100 * 1024];
    char out[VMX_NAME_MAX + 1];

    /* 100 KB of a 3-byte character: 255 bytes fit 85 of them. */
    for (size_t i = 0; i + 3 <= sizeof(big); i += 3)
        memcpy(big + i, "\xe2\x82\xac", 3);
    ck_assert_uint_eq(
        vmx_sanitise_name(big, sizeof(big) / 3 * 3, out, sizeof(out)), 255);
    ck_assert_uint_eq(strlen(out), 255);
    /* 2-byte characters: 254 bytes, the 128th would be split. */
    for (size_t i = 0; i + 2 <= sizeof(big); i += 2)
        memcpy(big + i, "\xc3\xa9", 2);
    ck_assert_uint_eq(vmx_sanitise_name(big, sizeof(big), out, sizeof(out)),
                      254);
    ck_assert_uint_eq((uint8_t)out[253], 0xa9);
    ck_assert_uint_eq(out[254], '\0');
    /* 100 KB of garbage: 255 '?' */
    memset(big, 0x80, sizeof(big));
    ck_assert_uint_eq(vmx_sanitise_name(big, sizeof(big), out, sizeof(out)),
                      255);
    for (size_t i = 0; i < 255; i++)
        ck_assert_int_eq(out[i], '?');
    /* Small caps. */
    check_name("\xc3\xa9", 2, 2, "");
    check_name("\xc3\xa9", 2, 3, "\xc3\xa9");
    check_name("ab\xf0\x9f\x98\x80", 6, 6, "ab");
    check_name("ab", 2, 1, "");
    ck_assert_uint_eq(vmx_sanitise_name(U8("ab"), out, 0), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Sending, with a round trip through the telnet codec                 */

START_TEST(test_send_capture_bytes)
{
    struct rec *r = rec_new();
    static const uint8_t known2[] = {
        0xff, 0xfa, 0xe8, 0x01, 0x00, 0x01, 0x02, 0x03, 0x28, 0x29, 0x2b, 0x2c,
        0x2d, 0x2e, 0x30, 0x46, 0x47, 0x49, 0x50, 0x51, 0x52, 0x53, 0xff, 0xf0};
    static const uint8_t notnow[] = {0xff, 0xfa, 0xe8, 0x2b, 0xcd,
                                     0x52, 0x67, 0x55, 0xff, 0xf0};

    vmx_send(&r->tn, VMX_KNOWN_SUBOPTIONS_2, vmx_known_suboptions_2,
             vmx_known_suboptions_2_len);
    ck_assert_uint_eq(r->n_out, 1);
    ck_assert_uint_eq(r->outlen, sizeof(known2));
    ck_assert_mem_eq(r->out, known2, sizeof(known2));
    rec_clear(r);
    vmx_send(&r->tn, VMX_GET_VM_VC_UUID, NULL, 0);
    vmx_send(&r->tn, VMX_GET_VM_NAME, NULL, 0);
    vmx_send(&r->tn, VMX_WILL_PROXY, NULL, 0);
    ck_assert_str_eq(r->log, "W ff fa e8 51 ff f0 ff fa e8 53 ff f0 "
                             "ff fa e8 47 ff f0\n");
    rec_clear(r);
    vmx_send(&r->tn, VMX_VMOTION_NOTNOW, U8("\xcd\x52\x67\x55"));
    ck_assert_uint_eq(r->outlen, sizeof(notnow));
    ck_assert_mem_eq(r->out, notnow, sizeof(notnow));
    rec_free(r);
}
END_TEST

/* GOAHEAD with 0xFF in both the sequence (the capture's 76 19 FF E9) and
 * the secret: doubled on the wire, unescaped back by the parser. */
START_TEST(test_send_goahead_ff)
{
    static const uint8_t seq[] = {0x76, 0x19, 0xff, 0xe9};
    static const uint8_t secret[VMX_SECRET_LEN] = {0xff, 0x00, 0xff, 0xff,
                                                   0xf0, 0xfa, 0x11, 0xff};
    static const uint8_t wire[] = {
        0xff, 0xfa, 0xe8, 0x29, 0x76, 0x19, 0xff, 0xff, 0xe9, 0xff, 0xff, 0x00,
        0xff, 0xff, 0xff, 0xff, 0xf0, 0xfa, 0x11, 0xff, 0xff, 0xff, 0xf0};
    static const uint8_t payload[] = {0x29, 0x76, 0x19, 0xff, 0xe9, 0xff, 0x00,
                                      0xff, 0xff, 0xf0, 0xfa, 0x11, 0xff};
    struct rec *tx = rec_new(), *rx = rec_new(), *exp = rec_new();

    vmx_send2(&tx->tn, VMX_VMOTION_GOAHEAD, seq, sizeof(seq), secret,
              sizeof(secret));
    ck_assert_uint_eq(tx->outlen, sizeof(wire));
    ck_assert_mem_eq(tx->out, wire, sizeof(wire));
    rec_cb_subneg(exp, TN_OPT_VMWARE, payload, sizeof(payload));
    rec_cb_subneg(exp, TN_OPT_VMWARE, payload, sizeof(payload));
    /* Whole, then one byte per feed. */
    ck_assert_uint_eq(rec_feed(rx, tx->out, tx->outlen), tx->outlen);
    for (size_t i = 0; i < tx->outlen; i++)
        ck_assert_uint_eq(tn_feed(&rx->tn, tx->out + i, 1), 1);
    ck_assert_uint_eq(rx->n_sub, 2);
    ck_assert_str_eq(rx->log, exp->log);
    rec_free(tx);
    rec_free(rx);
    rec_free(exp);
}
END_TEST

/* PEER (host side) and PEER-OK (ours) round trip: the receiver splits
 * sequence||secret with the sequence length remembered from BEGIN. */
START_TEST(test_send_peer_roundtrip)
{
    static const uint8_t seq[] = {0xff, 0xff, 0x44, 0xff};
    static const uint8_t secret[VMX_SECRET_LEN] = {1, 2, 0xff, 4,
                                                   5, 6, 7,    0xff};
    struct rec *tx = rec_new(), *rx = rec_new();
    const uint8_t *p;

    vmx_send2(&tx->tn, VMX_VMOTION_PEER, seq, sizeof(seq), secret,
              sizeof(secret));
    vmx_send(&tx->tn, VMX_VMOTION_PEER_OK, seq, sizeof(seq));
    vmx_send(&tx->tn, VMX_VMOTION_ABORT, NULL, 0);
    ck_assert_uint_eq(rec_feed(rx, tx->out, tx->outlen), tx->outlen);
    ck_assert_str_eq(rx->log, "S e8: 2c ff ff 44 ff 01 02 ff 04 05 06 07 ff\n"
                              "S e8: 2d ff ff 44 ff\n"
                              "S e8: 30\n");
    /* The ABORT frame is exactly the capture's. */
    p = tx->out + tx->outlen - 6;
    ck_assert_mem_eq(p, "\xff\xfa\xe8\x30\xff\xf0", 6);
    rec_free(tx);
    rec_free(rx);
}
END_TEST

/* The last SB payload, copied out of the callback. */
static uint8_t last_sb[TN_SB_MAX];
static size_t last_sb_len;

static void
keep_subneg(void *arg, uint8_t opt, const uint8_t *p, size_t n)
{
    rec_cb_subneg(arg, opt, p, n);
    memcpy(last_sb, p, n);
    last_sb_len = n;
}

/* DO-PROXY / VM-VC-UUID / VM-NAME as the parser hands them over. */
START_TEST(test_identify_from_wire)
{
    struct tn_handlers h = rec_handlers;
    static const uint8_t wire[] =
        "\xff\xfa\xe8\x46"
        "SvSPC.py?port=com2\xff\xf0"
        "\xff\xfa\xe8\x50"
        "01 23 45 67 89 ab cd ef-fe dc ba 98 00 00 00 00"
        "\xff\xf0"
        "\xff\xfa\xe8\x52"
        "vm-\xff\xff\x01"
        "0\xff\xf0";
    struct rec *rx = rec_new();
    char dir, label[VMX_LABEL_MAX + 1], uuid[VMX_UUID_HEX + 1], name[64];
    char id[VMX_CONSOLE_ID_MAX + 1];
    const uint8_t *uri;
    size_t ulen;
    const uint8_t *s;

    h.subneg = keep_subneg;
    tn_init(&rx->tn, &rx->pol, &h, rx);
    s = wire;
    ck_assert_uint_eq(tn_feed(&rx->tn, s, 24), 24);
    ck_assert_str_eq(rx->log, "S e8: 46 53 76 53 50 43 2e 70 79 3f 70 6f 72 "
                              "74 3d 63 6f 6d 32\n");
    ck_assert_int_eq(
        vmx_parse_do_proxy(last_sb + 1, last_sb_len - 1, &dir, &uri, &ulen), 0);
    ck_assert_int_eq(dir, 'S');
    ck_assert_int_eq(vmx_service_match(uri, ulen, services, 2, label), 0);
    ck_assert_str_eq(label, "com2");
    s += 24;
    ck_assert_uint_eq(tn_feed(&rx->tn, s, 53), 53);
    ck_assert_uint_eq(last_sb[0], VMX_VM_VC_UUID);
    ck_assert_int_eq(vmx_uuid_normalise(last_sb + 1, last_sb_len - 1, uuid), 0);
    s += 53;
    ck_assert_uint_eq(tn_feed(&rx->tn, s, 13), 13);
    ck_assert_uint_eq(last_sb_len, 7);
    ck_assert_uint_eq(
        vmx_sanitise_name(last_sb + 1, last_sb_len - 1, name, sizeof(name)), 6);
    ck_assert_str_eq(name, "vm-??0");
    ck_assert_uint_eq(vmx_console_id(id, uuid, label), 37);
    ck_assert_str_eq(id, "0123456789abcdeffedcba9800000000.com2");
    ck_assert_uint_eq((size_t)(s + 13 - wire), sizeof(wire) - 1);
    rec_free(rx);
}
END_TEST

static Suite *
vmext_suite(void)
{
    Suite *s = suite_create("vmext");
    TCase *tc = tcase_create("table");

    tcase_add_test(tc, test_known_list);
    tcase_add_test(tc, test_is_known);
    suite_add_tcase(s, tc);

    tc = tcase_create("identity");
    tcase_add_test(tc, test_uuid_forms);
    tcase_add_test(tc, test_uuid_malformed);
    tcase_add_test(tc, test_console_id);
    tcase_add_test(tc, test_do_proxy);
    tcase_add_test(tc, test_service_match);
    tcase_add_test(tc, test_service_bad_labels);
    tcase_add_test(tc, test_service_any);
    suite_add_tcase(s, tc);

    tc = tcase_create("names");
    tcase_add_test(tc, test_name_basic);
    tcase_add_test(tc, test_name_invalid_utf8);
    tcase_add_test(tc, test_name_truncation);
    suite_add_tcase(s, tc);

    tc = tcase_create("send");
    tcase_add_test(tc, test_send_capture_bytes);
    tcase_add_test(tc, test_send_goahead_ff);
    tcase_add_test(tc, test_send_peer_roundtrip);
    tcase_add_test(tc, test_identify_from_wire);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(vmext_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
