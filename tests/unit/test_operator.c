/*
 * test_operator.c: Check suite for the operator port (proxy/operator.c) in
 * the in-process harness (harness.h), every reply and every byte toward
 * the VM asserted exactly: command mode (banner, help, list and list
 * --json, attach errors, line editing, quit), the escapes while attached
 * (^Ec. ^Ecr ^Ecf ^Ecs ^Ec? and unknown ones, ^E followed by ^E, escapes
 * split across writes), raw mode passing escape bytes, NVT CR NUL handling
 * (a client that refuses BINARY), re-attaching in the same write as the
 * detach, VMware's option-233 client (port list; connect by VM name with
 * capitals, by upper-case UUID and prefix; refusals), read-only input
 * refused with one notice, stalled operators (--slow-reader pace: the gap
 * notice and the scrollback, exactly; disconnect: closed), and an operator
 * that detaches while its input is paused by flow control.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>

#include "harness.h"

#define UUID_C "0123456789abcdeffedcba9800000001"
#define UUID_B_UPPER "420B112233445566778899AABBCCDDEE"

#define HELP                                                                   \
    "commands:\r\n"                                                            \
    "  list [--json]        the consoles: id, state, hypervisor, "             \
    "operators,\r\n"                                                           \
    "                       bytes from/to the VM, VM name\r\n"                 \
    "  attach <console> [rw|ro|excl] [raw] [escape=^X|none]\r\n"               \
    "                       console: id, VM name or unique id prefix;\r\n"     \
    "                       rw shares the console (default), ro watches,\r\n"  \
    "                       excl takes the write lock; raw: no escapes;\r\n"   \
    "                       escape=: this attachment's escape character\r\n"   \
    "  who <console> [--json]   the operators attached to it through this\r\n" \
    "                       node: address, user, mode, raw, since (and "       \
    "how\r\n"                                                                  \
    "                       many through other nodes)\r\n"                     \
    "  drain [status]       drain the node for an upgrade: operators are "     \
    "told,\r\n"                                                                \
    "                       /readyz 503, agent check \"drain\" (alone: new "   \
    "vMotions\r\n"                                                             \
    "                       get NOTNOW)\r\n"                                   \
    "  drain --close-after S   the same; after S seconds its hypervisors "     \
    "are let go\r\n"                                                           \
    "  undrain              end the drain\r\n"                                 \
    "  help                 this text\r\n"                                     \
    "  login [NAME]         log in as a user of --users (more rights than\r\n" \
    "                       anonymous, where the ACL says so)\r\n"             \
    "  quit                 leave\r\n"                                         \
    "attached: ^Ec. detach, ^Ecr replay, ^Ecf force write, ^Ecs "              \
    "spectator,\r\n"                                                           \
    "          ^Ecl send a break, ^Ec? help\r\n"
#define PROMPT "vspc> "
#define ESC "\x05" /* the default escape character, ^E */
#define RO_NOTICE                                                              \
    "\r\n[vspc " HW_MARK                                                       \
    ": read-only: your input is discarded (escape f forces write "             \
    "access)]\r\n"

static struct oper *
oper(struct ep *o)
{
    return o->op;
}

static struct ep *
host(const char *uuid_text, const char *name)
{
    struct ep *h = hw_host();

    hv_identify(h, uuid_text, "vSPC.py", name);
    return h;
}

/* Bytes as typed (no telnet escaping: none of them is 0xFF), pumped. */
static void
say(struct ep *o, const void *p, size_t n)
{
    ep_write(o, p, n);
    hw_pump();
}

static void
says(struct ep *o, const char *s)
{
    say(o, s, strlen(s));
}

/* "\r\n[vspc " HW_MARK ": <text>]\r\n" */
static const char *notice(const char *fmt, ...) VSPC_PRINTF(1, 2);
static const char *
notice(const char *fmt, ...)
{
    static char bufs[4][512];
    static unsigned k;
    char *out = bufs[k++ % 4], text[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    snprintf(out, 512, "\r\n[vspc " HW_MARK ": %s]\r\n", text);
    return out;
}

/* e->data is exactly s (then cleared). */
#define ck_took(e, s)                                                          \
    do {                                                                       \
        const char *want_ = (s);                                               \
        ck_assert_msg(bb_eq(&(e)->data, want_, strlen(want_)),                 \
                      "%s: got [%s], want [%s]", #e, bb_str(&(e)->data),       \
                      want_);                                                  \
        ep_clear(e);                                                           \
    } while (0)

/* ---- command mode ---------------------------------------------------------
 */

START_TEST(help_and_line_editing)
{
    struct ep *o = hw_oper_prompt();

    ck_assert(!oper(o)->admin);
    says(o, "help\r\n");
    ck_took(o, "help\r\n" HELP PROMPT);
    says(o, "?\r");
    ck_took(o, "?\r\n" HELP PROMPT);
    says(o, "\r\n");
    ck_took(o, "\r\n" PROMPT);
    says(o, "  frob x\n");
    ck_took(o,
            "  frob x\r\nerror unknown command \"frob\" (try help)\r\n" PROMPT);
    says(o, "lisx\x7f"
            "t\r\n");
    ck_took(o, "lisx\b \bt\r\n" PROMPT);
    says(o, "\x08xyz\x15"
            "drain status\r\n");
    ck_took(o, "xyz\b \b\b \b\b \bdrain status\r\nok not draining\r\n" PROMPT);
    says(o, "abc\x03");
    ck_took(o, "abc^C\r\n" PROMPT);
    says(o, "help me\r\n");
    ck_took(o, "help me\r\n" HELP PROMPT);
    /* The command line is bounded: the rest of a long line is dropped. */
    {
        char line[700];

        memset(line, 'x', sizeof(line));
        line[sizeof(line) - 1] = '\r';
        struct bbuf want = {0};

        say(o, line, sizeof(line));
        bb_add(&want, line, OP_LINE_MAX - 1);
        bb_adds(&want, "\r\nerror unknown command \"");
        bb_add(&want, line, 40);
        bb_adds(&want, "\" (try help)\r\n" PROMPT);
        ck_assert_bb(&o->data, want.p, want.n);
        ep_clear(o);
        bb_free(&want);
    }
}
END_TEST

START_TEST(list_text_and_json)
{
    struct ep *h = host(UUID_A_TEXT, "vm-00000"), *o;
    struct console *b = con_get(W.px.consoles, UUID_B, NULL);
    char want[1024];

    con_set_name(b, "other name");
    ep_send_data(h, "0123456789", 10);
    hw_pump();
    o = hw_oper_prompt();
    says(o, "list\r\n");
    snprintf(want, sizeof(want),
             "list\r\n" UUID_A " connected hv=%s ops=0 in=10 out=0 "
             "name=vm-00000\r\n" UUID_B " disconnected hv=- ops=0 in=0 out=0 "
             "name=other name\r\n" PROMPT,
             h->addr);
    ck_took(o, want);
    says(o, "list --json\r\n");
    snprintf(want, sizeof(want),
             "list --json\r\n"
             "[{\"id\":\"" UUID_A "\",\"name\":\"vm-00000\",\"state\":"
             "\"connected\",\"hypervisor\":\"%s\",\"operators\":0,"
             "\"bytes_in\":10,\"bytes_out\":0,\"offset\":10},"
             "{\"id\":\"" UUID_B "\",\"name\":\"other name\",\"state\":"
             "\"disconnected\",\"hypervisor\":\"-\",\"operators\":0,"
             "\"bytes_in\":0,\"bytes_out\":0,\"offset\":0}]\r\n" PROMPT,
             h->addr);
    ck_took(o, want);
}
END_TEST

START_TEST(attach_errors)
{
    struct ep *o = hw_oper_prompt(), *x = hw_oper_prompt();
    char want[512];

    host(UUID_A_TEXT, "vm-00000");
    con_get(W.px.consoles, UUID_C, NULL);
    says(o, "attach\r\n");
    ck_took(o, "attach\r\nerror usage: attach <console> [rw|ro|excl] "
               "[raw] [escape=^X|none]\r\n" PROMPT);
    says(o, "attach nosuch\r\n");
    ck_took(o, "attach nosuch\r\nerror no such console\r\n" PROMPT);
    says(o, "attach 0123\r\n");
    ck_took(o, "attach 0123\r\nerror ambiguous prefix\r\n" PROMPT);
    says(o, "attach " UUID_A " sideways\r\n");
    ck_took(o, "attach " UUID_A " sideways\r\nerror unknown attach option "
               "\"sideways\"\r\n" PROMPT);
    op_attach_as(x, UUID_A, "excl", UUID_A, "rw");
    says(o, "attach " UUID_A " excl\r\n");
    ck_took(o, "attach " UUID_A " excl\r\nerror another operator holds the "
               "write lock (attach, then force with the escape f)\r\n" PROMPT);
    ck_assert_uint_eq(hw_con(UUID_A)->n_ops, 1);
    ck_assert_int_eq(oper(o)->state, OP_ST_COMMAND);
    /* Still in command mode; then a plain attach is read-only. */
    op_attach_as(o, "vm-00000", "", UUID_A, "ro");
    snprintf(want, sizeof(want), "operator %s attached (ro)", o->addr);
    ck_took(x, notice("%s", want));
    ck_took(o, "");
}
END_TEST

START_TEST(quit_exit_eof)
{
    struct ep *a = hw_oper_prompt(), *b = hw_oper_prompt();
    struct ep *c = hw_oper_prompt();

    says(a, "quit\r\n");
    ck_assert(a->eof);
    ck_took(a, "quit\r\nbye\r\n");
    says(b, "exit\r\n");
    ck_assert(b->eof);
    ck_took(b, "exit\r\nbye\r\n");
    says(c, "x\x7f");
    ck_took(c, "x\b \b");
    says(c, "\x04");
    ck_assert(c->eof);
    ck_took(c, "");
    ck_assert(TAILQ_EMPTY(&W.px.operators));
}
END_TEST

/* ---- escapes --------------------------------------------------------------
 */

START_TEST(escapes)
{
    struct ep *h = host(UUID_A_TEXT, "vm-00000");
    struct ep *o = hw_oper_prompt(), *w = hw_oper_prompt();
    struct console *c = hw_con(UUID_A);

    op_attach_as(w, UUID_A, "ro", UUID_A, "ro");
    op_attach_as(o, UUID_A, "", UUID_A, "rw");
    ck_took(w, notice("operator %s attached (rw)", o->addr));
    says(o, ESC "c?");
    ck_took(o, "\r\n[vspc " HW_MARK
               ": escapes: ^Ec. detach  ^Ecr replay  ^Ecf force "
               "write  ^Ecs spectator  ^Ecl break  ^Ec? help]\r\n");
    says(o, ESC "cx");
    ck_took(o, notice("unknown escape (escape c ? for help)"));
    says(o, ESC "cf");
    {
        char want[512];

        snprintf(want, sizeof(want), "%s%s",
                 notice("operator %s forced write access", o->addr),
                 notice("you have write access"));
        ck_took(o, want);
        ck_assert_uint_eq(c->excl_writer, 0); /* nobody held it */
        ck_took(w, notice("operator %s forced write access", o->addr));
        says(o, ESC "cs");
        snprintf(want, sizeof(want), "%s%s",
                 notice("operator %s is now a spectator", o->addr),
                 notice("you are a spectator (read-only)"));
        ck_took(o, want);
        ck_assert_int_eq(oper(o)->co.mode, OP_MODE_RO);
        ck_took(w, notice("operator %s is now a spectator", o->addr));
    }
    ck_took(h, "");
    says(o, ESC "c.");
    ck_took(o, "\r\n[vspc " HW_MARK ": detached]\r\n" PROMPT);
    ck_took(w, notice("operator %s detached (escape)", o->addr));
    ck_assert_int_eq(oper(o)->state, OP_ST_COMMAND);
    ck_assert_ptr_null(oper(o)->con);
    ck_assert_uint_eq(c->n_ops, 1);
    says(o, "drain status\r\n");
    ck_took(o, "drain status\r\nok not draining\r\n" PROMPT);
    ck_took(h, "");
}
END_TEST

/* ^Ecr: the last 20 lines again, exactly; fewer lines: all there is. */
START_TEST(escape_replay_lines)
{
    struct ep *h = host(UUID_A_TEXT, "vm-00000");
    struct ep *o = hw_oper_prompt();
    struct bbuf all = {0};
    size_t tail = 0;
    char l[64];

    op_attach_as(o, UUID_A, "", UUID_A, "rw");
    ep_send_data(h, "first\xff\n", 7);
    hw_pump();
    ck_assert_bb(&o->data, "first\xff\n", 7);
    ep_clear(o);
    says(o, ESC "cr");
    ck_assert_bb(&o->data, "first\xff\n", 7);
    ep_clear(o);
    for (unsigned k = 1; k <= 30; k++) {
        snprintf(l, sizeof(l), "line %02u: \xff the quick brown fox\r\n", k);
        if (k == 11)
            tail = all.n;
        bb_adds(&all, l);
    }
    bb_adds(&all, "prompt$ ");
    ep_send_data(h, all.p, all.n);
    hw_pump();
    ck_assert_bb(&o->data, all.p, all.n);
    ep_clear(o);
    /* The unfinished last line is one of the 20. */
    says(o, ESC "cr");
    {
        size_t from = tail + strlen(l);

        ck_assert_bb(&o->data, all.p + from, all.n - from);
    }
    ep_clear(o);
    ep_send_data(h, "\n", 1);
    bb_adds(&all, "\n");
    hw_pump();
    ep_clear(o);
    says(o, ESC "cr");
    tail += strlen(l); /* line 12 on: the last newline does not count */
    ck_assert_bb(&o->data, all.p + tail, all.n - tail);
    ck_took(h, "");
    bb_free(&all);
}
END_TEST

START_TEST(escape_bytes_and_splits)
{
    struct ep *h = host(UUID_A_TEXT, "vm-00000");
    struct ep *o = hw_oper_prompt();

    op_attach_as(o, UUID_A, "", UUID_A, "rw");
    /* ^E then anything but c: both are data. */
    says(o, "a" ESC "b");
    ck_assert_bb(&h->data, "a" ESC "b", 3);
    ep_clear(h);
    /* ^E^E passes one ^E; the second may still start an escape. */
    says(o, "a\x05\x05");
    ck_assert_bb(&h->data, "a\x05", 2);
    says(o, "x");
    ck_assert_bb(&h->data, "a\x05\x05x", 4);
    ep_clear(h);
    says(o, "\x05" ESC "cx");
    ck_assert_bb(&h->data, "\x05", 1);
    ck_took(o, notice("unknown escape (escape c ? for help)"));
    ep_clear(h);
    /* Split across writes, at every place. */
    says(o, "ab\x05");
    ck_assert_bb(&h->data, "ab", 2);
    says(o, "c");
    ck_assert_bb(&h->data, "ab", 2);
    says(o, "?");
    ck_assert_bb(&h->data, "ab", 2);
    ck_assert_uint_gt(o->data.n, 0);
    ep_clear(o);
    says(o, "\x05");
    says(o, "y");
    ck_assert_bb(&h->data, "ab\x05y", 4);
    says(o, "\x05");
    says(o, "\x05");
    says(o, "c");
    says(o, "z");
    ck_assert_bb(&h->data, "ab\x05y\x05", 5);
    ck_took(o, notice("unknown escape (escape c ? for help)"));
    ck_assert_int_eq(oper(o)->state, OP_ST_ATTACHED);
    says(o, "\x05");
    says(o, "c");
    says(o, ".");
    ck_took(o, "\r\n[vspc " HW_MARK ": detached]\r\n" PROMPT);
    ck_assert_bb(&h->data, "ab\x05y\x05", 5);
}
END_TEST

/* attach ... escape=^B: ^B is this attachment's escape, ^E is data; ^Bcl
 * sends IAC BRK to the host (everyone is told), a spectator's is refused;
 * `who` lists the operators. */
START_TEST(escape_option_break_who)
{
    struct ep *h = host(UUID_A_TEXT, "vm-00000");
    struct ep *o = hw_oper_prompt(), *w = hw_oper_prompt();
    struct console *c = hw_con(UUID_A);
    json_t *j, *e;

    op_attach_as(o, UUID_A, "rw escape=^B", UUID_A, "rw");
    says(o, ESC "c.");
    ck_assert_int_eq(oper(o)->state, OP_ST_ATTACHED);
    ck_assert_bb(&h->data, ESC "c.", 3);
    says(o, "\x02"
            "c?");
    ck_took(o, "\r\n[vspc " HW_MARK
               ": escapes: ^Bc. detach  ^Bcr replay  ^Bcf force "
               "write  ^Bcs spectator  ^Bcl break  ^Bc? help]\r\n");
    says(o, "\x02"
            "cl");
    ck_assert_uint_ge(h->raw.n, 2);
    ck_assert(memcmp(h->raw.p + h->raw.n - 2, "\xff\xf3", 2) == 0);
    ck_took(o, notice("operator %s sent a break", o->addr));
    says(w, "who nosuch\r\n");
    ck_took(w, "who nosuch\r\nerror no such console\r\n" PROMPT);
    says(w, "who\r\n");
    ck_took(w, "who\r\nerror usage: who <console> [--json]\r\n" PROMPT);
    op_attach_as(w, "vm-00000", "ro", UUID_A, "ro");
    ck_took(o, notice("operator %s attached (ro)", w->addr));
    says(w, ESC "cl");
    ck_took(w, notice("break: you are read-only (escape f forces write "
                      "access)"));
    j = ocm_who_json(&W.px, UUID_A, "vm-00000", c);
    ck_assert_ptr_nonnull(j);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "operators")), 2);
    e = json_array_get(json_object_get(j, "operators"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(e, "addr")), o->addr);
    ck_assert_str_eq(json_string_value(json_object_get(e, "user")),
                     "anonymous");
    ck_assert_str_eq(json_string_value(json_object_get(e, "mode")), "rw");
    e = json_array_get(json_object_get(j, "operators"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(e, "mode")), "ro");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "remote_operators")),
                     0);
    json_decref(j);
    says(o, "\x02"
            "c.");
    ck_took(o, "\r\n[vspc " HW_MARK ": detached]\r\n" PROMPT);
    /* A plain attach again: the node's ^E. */
    op_attach_as(o, UUID_A, "excl", UUID_A, "rw");
    j = ocm_who_json(&W.px, UUID_A, "", c);
    e = json_array_get(json_object_get(j, "operators"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(e, "mode")), "excl");
    json_decref(j);
    says(o, ESC "c.");
    ck_took(o, "\r\n[vspc " HW_MARK ": detached]\r\n" PROMPT);
}
END_TEST

/* raw: every byte is the VM's, escapes included; no notices. */
#define RAW_IN ESC "c." ESC "cf" ESC "cr" ESC ESC "c?" ESC

START_TEST(raw_passes_escapes)
{
    struct ep *h = host(UUID_A_TEXT, "vm-00000");
    struct ep *o = hw_oper_prompt();

    op_attach_as(o, UUID_A, "rw raw", UUID_A, "rw");
    says(o, RAW_IN);
    ck_assert_bb(&h->data, RAW_IN, sizeof(RAW_IN) - 1);
    says(o, "c.");
    ck_assert_bb(&h->data, RAW_IN "c.", sizeof(RAW_IN) + 1);
    ck_took(o, "");
    ck_assert_int_eq(oper(o)->state, OP_ST_ATTACHED);
    /* Read-only raw: refused without a notice. */
    {
        struct ep *r = hw_oper_prompt();

        op_attach_as(r, UUID_A, "ro raw", UUID_A, "ro");
        says(r, "nope");
        ck_took(r, "");
        ck_assert_bb(&h->data, RAW_IN "c.", sizeof(RAW_IN) + 1);
        ck_assert_uint_eq(W.px.stats.ops_input_refused, 4);
    }
}
END_TEST

/* ---- NVT: a client that refuses BINARY sends CR as CR NUL ----------------
 */

START_TEST(nvt_cr_nul)
{
    struct ep *h = host(UUID_A_TEXT, "vm-00000"), *o = hw_oper(), *b;
    char want[256];

    tn_policy_allow(&o->pol, TN_OPT_BINARY, false, true);
    hw_pump();
    ck_assert(!tn_remote_enabled(&oper(o)->tn, TN_OPT_BINARY));
    snprintf(want, sizeof(want),
             "vspc %s node %s (help for commands); vspc's notices on this "
             "session read [vspc " HW_MARK ": ...]\r\n" PROMPT,
             VSPC_VERSION, W.px.cfg.node_id);
    ck_took(o, want);
    say(o, "drain status\r\0", 14);
    ck_took(o, "drain status\r\nok not draining\r\n" PROMPT);
    /* The attach line's CR NUL, then data with CR NUL, in one write. */
    say(o, "attach " UUID_A "\r\0x\r\0y", sizeof("attach " UUID_A) - 1 + 6);
    /* epoch 263: counter 1, the harness node index 7 */
    ck_took(o, "attach " UUID_A "\r\nok attached " UUID_A
               " rw offset=0 epoch=263\r\n");
    ck_assert_bb(&h->data, "x\ry", 3);
    say(o, "z\r", 2);
    say(o, "\0w", 2);
    ck_assert_bb(&h->data, "x\ryz\rw", 6);
    say(o, "p\r\nq\0", 5); /* CR LF passes, a NUL not after CR too */
    ck_assert_bb(&h->data, "x\ryz\rwp\r\nq\0", 11);
    say(o, ESC "c\r\0", 4); /* an escape of CR: unknown; its NUL goes too */
    ck_took(o, notice("unknown escape (escape c ? for help)"));
    ck_assert_bb(&h->data, "x\ryz\rwp\r\nq\0", 11);
    say(o, "\r\0\r\0", 4);
    ck_assert_bb(&h->data, "x\ryz\rwp\r\nq\0\r\r", 13);
    /* With BINARY a NUL after CR is data. */
    ep_clear(h);
    b = hw_oper_prompt();
    ck_assert(tn_remote_enabled(&oper(b)->tn, TN_OPT_BINARY));
    op_attach_as(b, UUID_A, "", UUID_A, "rw");
    say(b, "a\r\0b", 4);
    ck_assert_bb(&h->data, "a\r\0b", 4);
    /* The attach line's LF may come in the next write. */
    ep_clear(h);
    says(b, ESC "c.");
    ep_clear(b);
    says(b, "attach " UUID_A "\r");
    ck_took(b, "attach " UUID_A "\r\nok attached " UUID_A
               " rw offset=0 epoch=263\r\n");
    says(b, "\nLF");
    says(b, "\nLF");
    ck_assert_bb(&h->data, "LF\nLF", 5);
}
END_TEST

/* ---- re-attach in the same write (issue 6) --------------------------------
 */

START_TEST(reattach_same_write)
{
    struct ep *ha = host(UUID_A_TEXT, "vm-00000");
    struct ep *hb = host(UUID_B_TEXT, "vm-b");
    struct ep *o = hw_oper_prompt();

    op_attach_as(o, UUID_A, "", UUID_A, "rw");
    says(o, ESC "c."
                "attach " UUID_A "\r"
                "TWO");
    ck_took(ha, "TWO");
    ck_took(o, "\r\n[vspc " HW_MARK ": detached]\r\n" PROMPT "attach " UUID_A
               "\r\nok attached " UUID_A " rw offset=0 epoch=263\r\n");
    says(o, ESC "c."
                "attach " UUID_A "\r\n"
                "THREE");
    ck_took(ha, "THREE");
    ck_took(o, "\r\n[vspc " HW_MARK ": detached]\r\n" PROMPT "attach " UUID_A
               "\r\nok attached " UUID_A " rw offset=0 epoch=263\r\n");
    says(o, ESC "c."
                "attach vm-b\r"
                "X" ESC "c.list\r");
    ck_took(hb, "X");
    ck_took(ha, "");
    ck_assert_int_eq(oper(o)->state, OP_ST_COMMAND);
}
END_TEST

/* ---- option 233 -------------------------------------------------------- */

/* The payload of the k-th option-233 SB the proxy sent to o. */
static bool
sb233(struct ep *o, unsigned k, struct bbuf *out)
{
    const uint8_t *p = o->raw.p;
    size_t n = o->raw.n;
    unsigned seen = 0;

    bb_clear(out);
    for (size_t i = 0; i + 2 < n; i++) {
        if (p[i] != FF)
            continue;
        if (p[i + 1] != TN_SB) {
            i++; /* FF FF, or a command */
            continue;
        }
        if (p[i + 2] != TN_OPT_VSPC_ADMIN)
            continue;
        for (i += 3; i + 1 < n && !(p[i] == FF && p[i + 1] == TN_SE); i++) {
            if (seen == k)
                bb_addc(out, p[i]);
            if (p[i] == FF)
                i++;
        }
        if (seen++ == k)
            return true;
    }
    return false;
}

static void
adm_req(struct ep *o, const void *p, size_t n)
{
    tn_send_sb(&o->tn, TN_OPT_VSPC_ADMIN, p, n);
    hw_pump();
}

/* Connect request: 0x20, lock byte, key. */
static void
adm_connect(struct ep *o, uint8_t lock, const char *key)
{
    uint8_t req[128];
    size_t n = strlen(key);

    req[0] = 0x20;
    req[1] = lock;
    memcpy(req + 2, key, n);
    adm_req(o, req, n + 2);
}

/* The proxy sent o exactly one option-233 SB since the last call: code
 * (a one-byte reply). Forgets the raw bytes (data stays). */
static void
adm_expect(struct ep *o, uint8_t code)
{
    struct bbuf sb = {0};

    ck_assert_msg(sb233(o, 0, &sb), "no option-233 reply");
    ck_assert_bb(&sb, &code, 1);
    ck_assert_msg(!sb233(o, 1, &sb), "more than one option-233 reply");
    bb_clear(&o->raw);
    bb_free(&sb);
}

static struct ep *
adm_client(void)
{
    struct ep *o = hw_oper();

    tn_policy_allow(&o->pol, TN_OPT_VSPC_ADMIN, false, true);
    hw_pump();
    ck_assert(oper(o)->admin);
    ck_assert_uint_eq(o->data.n, 0);
    return o;
}

START_TEST(option_233)
{
    static const uint8_t list_req = 0x10;
    struct ep *ha = host(UUID_A_TEXT, "ProdVM");
    struct ep *hb = host(UUID_B_TEXT, "vm-b");
    struct ep *o = adm_client(), *o2;
    struct bbuf sb = {0}, want = {0};

    ep_send_data(ha, "hello\xff", 6);
    hw_pump();
    adm_req(o, &list_req, 1);
    ck_assert(sb233(o, 0, &sb));
    bb_addc(&want, 0x11);
    bb_add(&want, UUID_A "\0ProdVM\0\0" UUID_B "\0vm-b", 32 + 9 + 32 + 5);
    bb_addc(&want, 0);
    ck_assert_bb(&sb, want.p, want.n);
    ck_assert(!sb233(o, 1, &sb));
    bb_clear(&o->raw);
    ck_assert_uint_eq(o->data.n, 0);
    /* By VM name, capitals and all (issue 6): scrollback, raw input. */
    adm_connect(o, CON_LOCK_READWRITE, "ProdVM");
    adm_expect(o, 0x21);
    ck_assert_bb(&o->data, "hello\xff", 6);
    ck_assert(oper(o)->raw);
    ep_send_data(o, ESC "c.\xff", 4);
    hw_pump();
    ck_assert_bb(&ha->data, ESC "c.\xff", 4);
    ep_clear(ha);
    bb_clear(&o->data);
    /* By upper-case UUID, read-only: moves from A to B. */
    adm_connect(o, CON_LOCK_READONLY, UUID_B_UPPER);
    adm_expect(o, 0x21);
    ck_assert_ptr_eq(oper(o)->con, hw_con(UUID_B));
    ck_assert_int_eq(oper(o)->co.mode, OP_MODE_RO);
    ck_assert_uint_eq(hw_con(UUID_A)->n_ops, 0);
    ep_send_data(o, "ro", 2);
    hw_pump();
    ck_took(hb, "");
    ck_assert_uint_eq(o->data.n, 0);
    /* Upper-case prefix. */
    adm_connect(o, CON_LOCK_READWRITE, "420B1122");
    adm_expect(o, 0x21);
    ep_send_data(o, "rw", 2);
    hw_pump();
    ck_took(hb, "rw");
    /* Refusals: a name in the wrong case, an unknown lock byte, no key. */
    adm_connect(o, CON_LOCK_READWRITE, "PRODVM");
    adm_expect(o, 0x22);
    ck_assert_ptr_null(oper(o)->con);
    adm_connect(o, 0x02, "ProdVM");
    adm_expect(o, 0x22);
    adm_req(o, "\x20", 1);
    adm_expect(o, 0x22);
    adm_req(o, "\x20\x00", 2);
    adm_expect(o, 0x22);
    ep_send_data(o, "dropped", 7);
    hw_pump();
    ck_took(ha, "");
    ck_took(hb, "");
    /* EXCLUSIVE keeps a second client out. */
    adm_connect(o, CON_LOCK_EXCLUSIVE, UUID_A);
    adm_expect(o, 0x21);
    o2 = adm_client();
    adm_connect(o2, CON_LOCK_READONLY, "ProdVM");
    adm_expect(o2, 0x22);
    ck_assert_uint_eq(hw_con(UUID_A)->n_ops, 1);
    bb_free(&sb);
    bb_free(&want);
}
END_TEST

/* ---- read-only input --------------------------------------------------- */

START_TEST(readonly_notice_once)
{
    struct ep *h = host(UUID_A_TEXT, "vm-00000");
    struct ep *o = hw_oper_prompt();

    op_attach_as(o, UUID_A, "ro", UUID_A, "ro");
    says(o, "abc");
    ck_took(o, RO_NOTICE);
    says(o, "def");
    ck_took(o, "");
    ck_assert_uint_eq(W.px.stats.ops_input_refused, 6);
    ck_took(h, "");
    says(o, ESC "cf");
    ep_clear(o);
    says(o, "ghi");
    ck_took(h, "ghi");
    ck_took(o, "");
    says(o, ESC "cs");
    ep_clear(o);
    says(o, "jkl");
    ck_took(o, RO_NOTICE);
    says(o, "mno");
    ck_took(o, "");
    ck_took(h, "");
    ck_assert_uint_eq(W.px.stats.ops_input_refused, 12);
}
END_TEST

/* ---- slow readers -------------------------------------------------------- */

static enum strm_policy tweak_policy;

static void
tweak(struct proxy_cfg *cfg)
{
    cfg->slow_reader = tweak_policy;
    cfg->stall_timeout = 0.05;
}

static uint8_t
vpat(uint64_t o)
{
    return (uint8_t)((o * 2654435761u) >> 11 ^ o);
}

static void
check_pat(const struct bbuf *b, size_t at, uint64_t from, size_t len)
{
    ck_assert_uint_ge(b->n, at + len);
    for (size_t i = 0; i < len; i++)
        if (b->p[at + i] != vpat(from + i))
            ck_abort_msg("byte %zu (offset %llu): got %02x, want %02x", at + i,
                         (unsigned long long)(from + i), b->p[at + i],
                         vpat(from + i));
}

/*
 * The VM writes TOTAL bytes as fast as the proxy takes them; o (raw) stops
 * reading, o2 reads. Returns once the VM has written everything and o2 has
 * it all, exactly (bounded: the stall timer needs wall time).
 */
enum { TOTAL = 4 << 20 };

static void
stall_run(enum strm_policy policy, struct ep **h, struct ep **o)
{
    struct bbuf wire = {0}, vm = {0};
    struct ep *o2;
    size_t sent = 0;

    hw_end();
    tweak_policy = policy;
    hw_begin_cfg(tweak);
    *h = host(UUID_A_TEXT, "vm-00000");
    *o = hw_oper();
    op_attach(*o, UUID_A);
    o2 = hw_oper();
    op_attach(o2, UUID_A);
    (*o)->hold = true;
    for (size_t i = 0; i < TOTAL; i++)
        bb_addc(&vm, vpat(i));
    enc_data(&wire, vm.p, vm.n);
    for (int i = 0; i < 1000 && (sent < wire.n || o2->data.n < TOTAL); i++) {
        size_t k = 0;

        for (int j = 0; j < 3; j++) {
            ssize_t w = write((*h)->fd, wire.p + sent + k, wire.n - sent - k);

            if (w > 0)
                k += (size_t)w;
            hw_pump();
        }
        sent += k;
        if (k == 0)
            hw_wait(0.01); /* paced: let the stall timer run */
    }
    ck_assert_uint_eq(sent, wire.n);
    ck_assert_bb(&o2->data, vm.p, vm.n);
    ck_assert_uint_eq(W.px.stats.strm.readers_stalled, 1);
    ck_assert_uint_eq(W.px.stats.ops_gaps, 0);
    bb_free(&wire);
    bb_free(&vm);
}

/* --slow-reader pace: the stalled operator, once it reads again, gets what
 * it had, one in-band notice for exactly the bytes that left the
 * scrollback, then the scrollback, byte-exact; it rejoins. */
START_TEST(stalled_operator_gap_notice)
{
    const uint64_t m = TOTAL - 65536;
    struct ep *h, *o;
    const char *at;
    char want[160];
    size_t x, n;

    stall_run(STRM_PACE, &h, &o);
    ck_assert(!oper(o)->co.rd.live);
    ck_assert_uint_le(evbuffer_get_length(bufferevent_get_output(oper(o)->bev)),
                      2 * W.px.cfg.op_queue_max);
    o->hold = false;
    for (int i = 0; i < 100 && o->data.n < TOTAL / 2; i++) {
        n = o->data.n;
        hw_pump();
        if (o->data.n == n && i > 3)
            break;
    }
    at = memmem(o->data.p, o->data.n, "\r\n[vspc " HW_MARK ": ", 9);
    ck_assert_ptr_nonnull(at);
    x = (size_t)(at - (const char *)o->data.p);
    check_pat(&o->data, 0, 0, x);
    snprintf(want, sizeof(want),
             "\r\n[vspc " HW_MARK
             ": %llu bytes of output skipped (reader too slow); "
             "resuming at offset %llu]\r\n",
             (unsigned long long)(m - x), (unsigned long long)m);
    ck_assert_uint_ge(o->data.n, x + strlen(want));
    ck_assert_msg(memcmp(at, want, strlen(want)) == 0, "notice: got [%.*s]",
                  (int)strlen(want), at);
    ck_assert_uint_eq(o->data.n, x + strlen(want) + (TOTAL - m));
    check_pat(&o->data, x + strlen(want), m, TOTAL - m);
    ck_assert_uint_eq(W.px.stats.ops_gaps, 1);
    ck_assert_uint_eq(W.px.stats.ops_gap_bytes, m - x);
    ck_assert_uint_eq(W.px.stats.strm.readers_rejoined, 1);
    ck_assert(oper(o)->co.rd.live);
    ck_assert_uint_eq(W.px.stats.ops_dropped_slow, 0);
}
END_TEST

/* --slow-reader disconnect: the stalled operator is closed; what it had
 * received is an exact prefix; nobody else notices. */
START_TEST(stalled_operator_disconnected)
{
    struct ep *h, *o;

    stall_run(STRM_DISCONNECT, &h, &o);
    ck_assert_uint_eq(W.px.stats.ops_dropped_slow, 1);
    o->hold = false;
    hw_pump();
    ck_assert(o->eof);
    ck_assert_uint_gt(o->data.n, 0);
    ck_assert_uint_lt(o->data.n, TOTAL);
    check_pat(&o->data, 0, 0, o->data.n);
    ck_assert_uint_eq(hw_con(UUID_A)->n_ops, 1);
    ck_assert_uint_eq(W.px.stats.strm.readers_rejoined, 0);
}
END_TEST

/* ---- flow control and detach -------------------------------------------- */

/*
 * Input paused by flow control (held input past held_max, no hypervisor)
 * in the middle of a write that also detaches: the operator is back in
 * command mode, no longer on the console, and must be read again.
 */
START_TEST(detach_while_input_paused)
{
    struct console *c = con_get(W.px.consoles, UUID_A, NULL);
    struct ep *o = hw_oper_prompt();
    size_t first = W.px.cfg.held_max - 536;
    static char buf[65536];
    char want[512];

    for (size_t i = 0; i < first; i++)
        buf[i] = (char)('a' + i % 26);
    op_attach_as(o, UUID_A, "", UUID_A, "rw");
    say(o, buf, first);
    ck_assert_uint_eq(hin_len(&c->held), first);
    ck_assert(!c->input_blocked);
    memset(buf, 'z', 600);
    memcpy(buf + 600, ESC "c.list\r\n", 9);
    say(o, buf, 609);
    ck_assert_uint_eq(hin_len(&c->held), first + 600);
    ck_assert(c->input_blocked);
    ck_assert_int_eq(oper(o)->state, OP_ST_COMMAND);
    ck_assert_uint_eq(c->n_ops, 0);
    snprintf(want, sizeof(want),
             "\r\n[vspc " HW_MARK ": detached]\r\n" PROMPT "list\r\n" UUID_A
             " disconnected hv=- ops=0 in=0 out=0 name=\r\n" PROMPT);
    ck_took(o, want);
    /* Regression: the detach used to leave reading off (read_blocked),
     * so the operator hung at the prompt; the next command is answered. */
    says(o, "drain status\r\n");
    ck_took(o, "drain status\r\nok not draining\r\n" PROMPT);
}
END_TEST

static Suite *
operator_suite(void)
{
    Suite *s = suite_create("operator");
    TCase *tc = tcase_create("operator");

    tcase_add_checked_fixture(tc, hw_setup, hw_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, help_and_line_editing);
    tcase_add_test(tc, list_text_and_json);
    tcase_add_test(tc, attach_errors);
    tcase_add_test(tc, quit_exit_eof);
    tcase_add_test(tc, escapes);
    tcase_add_test(tc, escape_replay_lines);
    tcase_add_test(tc, escape_bytes_and_splits);
    tcase_add_test(tc, raw_passes_escapes);
    tcase_add_test(tc, escape_option_break_who);
    tcase_add_test(tc, nvt_cr_nul);
    tcase_add_test(tc, reattach_same_write);
    tcase_add_test(tc, option_233);
    tcase_add_test(tc, readonly_notice_once);
    tcase_add_test(tc, stalled_operator_gap_notice);
    tcase_add_test(tc, stalled_operator_disconnected);
    tcase_add_test(tc, detach_while_input_paused);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(operator_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
