/*
 * test_console.c: Check suite for the console module (proxy/console.c) in
 * the in-process harness (harness.h): lookup (exact id, VM name, unique
 * prefix, ambiguity), the lock modes of con_attach (VMware's five lock
 * bytes and TAKE_WRITE) table-driven, con_force_write, spectators,
 * operator input held while no hypervisor is connected and flushed in
 * order to the next owner, input flow control (held input past its limit,
 * a hypervisor that does not read), the attach replay after a write
 * pattern that fills the ring exactly, a 1 MiB scrollback replayed through
 * a 16 KiB operator queue, a console paced by a reader that still takes
 * input, and expiry of disconnected, unwatched consoles.
 */
#include "vspc/compat.h"

#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conhold.h"
#include "harness.h"

/* The id a console keeps for a lock holder (0: none). */
static uint64_t
ID(const struct oper *o)
{
    return o ? o->co.id : 0;
}

#define UUID_C "0123456789abcdeffedcba9800000001"

/* VM output byte at stream offset o: every value, 0xFF included. */
static uint8_t
vpat(uint64_t o)
{
    return (uint8_t)((o * 2654435761u) >> 11 ^ o);
}

/* The VM writes stream bytes [*at, *at + n) in one write; pumped. */
static void
vm_write(struct ep *h, uint64_t *at, size_t n)
{
    uint8_t *buf = malloc(n ? n : 1);

    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = vpat(*at + i);
    ep_send_data(h, buf, n);
    free(buf);
    *at += n;
    hw_pump();
}

/* b holds exactly stream bytes [from, from + len) at b->p + at. */
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

static struct ep *
host(const char *uuid_text, const char *name)
{
    struct ep *h = hw_host();

    hv_identify(h, uuid_text, "vSPC.py", name);
    return h;
}

static struct oper *
oper(struct ep *o)
{
    return o->op;
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

#define ck_data(e, s)                                                          \
    do {                                                                       \
        const char *want_ = (s);                                               \
        ck_assert_msg(bb_eq(&(e)->data, want_, strlen(want_)),                 \
                      "%s: got [%s], want [%s]", #e, bb_str(&(e)->data),       \
                      want_);                                                  \
    } while (0)

/* Write what the proxy takes now (non-blocking), pumping between tries. */
static size_t
try_write(struct ep *e, const uint8_t *p, size_t n)
{
    size_t done = 0;

    for (int tries = 0; tries < 3 && done < n;) {
        ssize_t w = write(e->fd, p + done, n - done);

        if (w > 0) {
            done += (size_t)w;
            tries = 0;
            continue;
        }
        ck_assert_msg(w < 0 && (errno == EAGAIN || errno == EINTR),
                      "write failed");
        hw_pump();
        tries++;
    }
    return done;
}

/* ---- lookup ---------------------------------------------------------------
 */

START_TEST(lookup)
{
    struct con_registry *reg = W.px.consoles;
    struct console *a, *a2, *b, *c, *it;
    const char *err = NULL;

    a = con_get(reg, UUID_A, NULL);
    a2 = con_get(reg, UUID_A, "com2");
    b = con_get(reg, UUID_B, "");
    c = con_get(reg, UUID_C, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(con_get(reg, UUID_A, ""), a);
    ck_assert_str_eq(a->id, UUID_A);
    ck_assert_str_eq(a2->id, UUID_A ".com2");
    ck_assert_uint_eq(con_registry_count(reg), 4);
    it = con_first(reg);
    ck_assert_ptr_eq(it, a);
    ck_assert_ptr_eq(it = con_next(it), a2);
    ck_assert_ptr_eq(it = con_next(it), b);
    ck_assert_ptr_eq(it = con_next(it), c);
    ck_assert_ptr_null(con_next(it));
    con_set_name(a, "ProdVM");
    con_set_name(a2, "420b"); /* a name that is also b's id prefix */
    con_set_name(b, "twin");
    con_set_name(c, "twin");
    /* Exact id first, even when it is a prefix of another id. */
    ck_assert_ptr_eq(con_lookup(reg, UUID_A, &err), a);
    ck_assert_ptr_eq(con_lookup(reg, UUID_A ".com2", &err), a2);
    ck_assert_ptr_eq(con_lookup(reg, UUID_C, &err), c);
    /* Then the VM name (exactly, capitals and all). */
    ck_assert_ptr_eq(con_lookup(reg, "ProdVM", &err), a);
    ck_assert_ptr_eq(con_lookup(reg, "420b", &err), a2);
    ck_assert_ptr_null(con_lookup(reg, "prodvm", &err));
    ck_assert_str_eq(err, "no such console");
    ck_assert_ptr_null(con_lookup(reg, "twin", &err));
    ck_assert_str_eq(err, "ambiguous VM name: use the console id");
    /* Then a unique id prefix. */
    ck_assert_ptr_eq(con_lookup(reg, "420b1", &err), b);
    ck_assert_ptr_eq(con_lookup(reg, "4", &err), b);
    ck_assert_ptr_eq(con_lookup(reg, UUID_A ".c", &err), a2);
    err = NULL;
    ck_assert_ptr_null(con_lookup(reg, "0123", &err));
    ck_assert_str_eq(err, "ambiguous prefix");
    ck_assert_ptr_null(
        con_lookup(reg, "0123456789abcdeffedcba980000000", &err));
    ck_assert_str_eq(err, "ambiguous prefix");
    ck_assert_ptr_null(con_lookup(reg, "ff", &err));
    ck_assert_str_eq(err, "no such console");
    ck_assert_ptr_null(con_lookup(reg, "", &err));
    ck_assert_str_eq(err, "no console given");
    /* con_find is ids only. */
    ck_assert_ptr_null(con_find(reg, "ProdVM"));
    ck_assert_ptr_null(con_find(reg, "0123"));
    ck_assert_ptr_eq(con_find(reg, UUID_B), b);
    ck_assert_int_eq(con_state(a), CON_ST_DISCONNECTED);
    ck_assert_str_eq(con_state_str(CON_ST_DISCONNECTED), "disconnected");
    ck_assert_str_eq(con_state_str(CON_ST__COUNT), "???");
    {
        json_t *j = con_to_json(a);
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

        ck_assert_str_eq(s, "{\"bytes_in\":0,\"bytes_out\":0,\"hypervisor\":"
                            "\"-\",\"id\":\"" UUID_A "\",\"name\":\"ProdVM\","
                            "\"offset\":0,\"operators\":0,\"state\":"
                            "\"disconnected\"}");
        free(s);
        json_decref(j);
    }
}
END_TEST

/* ---- lock modes --------------------------------------------------------- */

#define NONE (-1)
#define RW CON_LOCK_READWRITE
#define RO CON_LOCK_READONLY
#define EX CON_LOCK_EXCLUSIVE
#define EW CON_LOCK_EXCL_WRITE
#define OK CON_LOCK_READONLY_OK
#define TW CON_LOCK_TAKE_WRITE

static const char E_EXCL[] = "console is held exclusively by another operator";
static const char E_OTHERS[] = "other operators are attached";
static const char E_WRITER[] = "another operator has write access";
static const char E_LOCK[] = "another operator holds the write lock";
static const char E_TAKE[] = "another operator holds the write lock (attach, "
                             "then force with the escape f)";

static const struct lock_case {
    int pre;  /* lock of the operator already attached, or NONE */
    int req;  /* the request under test */
    int mode; /* OP_MODE_RW/RO on success, -1 refused */
    const char *err;
    bool writer, all; /* the new operator holds the write / EXCLUSIVE lock */
} lock_cases[] = {
    {NONE, RW, OP_MODE_RW, NULL, false, false},
    {NONE, RO, OP_MODE_RO, NULL, false, false},
    {NONE, EX, OP_MODE_RW, NULL, true, true},
    {NONE, EW, OP_MODE_RW, NULL, true, false},
    {NONE, OK, OP_MODE_RW, NULL, false, false},
    {NONE, TW, OP_MODE_RW, NULL, true, false},
    {RW, RW, OP_MODE_RW, NULL, false, false},
    {RW, RO, OP_MODE_RO, NULL, false, false},
    {RW, EX, -1, E_OTHERS, false, false},
    {RW, EW, -1, E_WRITER, false, false},
    {RW, OK, OP_MODE_RW, NULL, false, false},
    {RW, TW, OP_MODE_RW, NULL, true, false},
    {RO, RW, OP_MODE_RW, NULL, false, false},
    {RO, EX, -1, E_OTHERS, false, false},
    {RO, EW, OP_MODE_RW, NULL, true, false},
    {RO, TW, OP_MODE_RW, NULL, true, false},
    {OK, EW, -1, E_WRITER, false, false},
    {EW, RW, -1, E_LOCK, false, false},
    {EW, RO, OP_MODE_RO, NULL, false, false},
    {EW, EX, -1, E_OTHERS, false, false},
    {EW, EW, -1, E_WRITER, false, false},
    {EW, OK, OP_MODE_RO, NULL, false, false},
    {EW, TW, -1, E_TAKE, false, false},
    {TW, RW, -1, E_LOCK, false, false},
    {TW, RO, OP_MODE_RO, NULL, false, false},
    {TW, EX, -1, E_OTHERS, false, false},
    {TW, EW, -1, E_WRITER, false, false},
    {TW, OK, OP_MODE_RO, NULL, false, false},
    {TW, TW, -1, E_TAKE, false, false},
    {EX, RW, -1, E_EXCL, false, false},
    {EX, RO, -1, E_EXCL, false, false},
    {EX, EX, -1, E_EXCL, false, false},
    {EX, EW, -1, E_EXCL, false, false},
    {EX, OK, -1, E_EXCL, false, false},
    {EX, TW, -1, E_EXCL, false, false},
    {NONE, 0x02, -1, "unknown lock mode", false, false},
    {RW, 0x21, -1, "unknown lock mode", false, false},
};

START_TEST(lock_modes)
{
    const struct lock_case *lc = &lock_cases[_i];
    struct console *c = con_get(W.px.consoles, UUID_A, NULL);
    struct oper *first = oper(hw_oper()), *op = oper(hw_oper());
    struct oper *writer = NULL, *all = NULL;
    const char *err = NULL;
    uint64_t start = 99;
    int rc;

    hw_pump();
    if (lc->pre != NONE) {
        ck_assert_int_eq(con_attach(c, &first->co, lc->pre, &start, &err), 0);
        ck_assert_uint_eq(start, 0);
        writer = c->excl_writer ? first : NULL;
        all = c->excl_all ? first : NULL;
        ck_assert_ptr_eq(writer, lc->pre == EX || lc->pre == EW || lc->pre == TW
                                     ? first
                                     : NULL);
        ck_assert_ptr_eq(all, lc->pre == EX ? first : NULL);
    }
    start = 99;
    rc = con_attach(c, &op->co, lc->req, &start, &err);
    if (lc->mode < 0) {
        ck_assert_int_eq(rc, -1);
        ck_assert_str_eq(err, lc->err);
        ck_assert_uint_eq(c->n_ops, lc->pre != NONE);
        ck_assert_uint_eq(c->excl_writer, ID(writer));
        ck_assert_uint_eq(c->excl_all, ID(all));
        ck_assert_ptr_null(op->co.rd.st);
        ck_assert_uint_eq(start, 99);
    } else {
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(op->co.mode, lc->mode);
        ck_assert_uint_eq(c->n_ops, 1 + (lc->pre != NONE));
        ck_assert_uint_eq(c->excl_writer, ID(lc->writer ? op : writer));
        ck_assert_uint_eq(c->excl_all, ID(lc->all ? op : all));
        ck_assert_ptr_eq(op->co.rd.st, &c->out);
        ck_assert_uint_eq(start, 0);
        ck_assert(con_op_can_write(c, &op->co) ==
                  (lc->mode == OP_MODE_RW &&
                   (c->excl_writer == 0 || c->excl_writer == op->co.id)));
        if (lc->pre != NONE)
            ck_assert(
                con_op_can_write(c, &first->co) ==
                (first->co.mode == OP_MODE_RW &&
                 (c->excl_writer == 0 || c->excl_writer == first->co.id)));
        con_detach(c, &op->co, "test");
        ck_assert_uint_eq(c->excl_writer, ID(writer));
        ck_assert_uint_eq(c->excl_all, ID(all));
    }
    if (lc->pre != NONE)
        con_detach(c, &first->co, "test");
    ck_assert_uint_eq(c->n_ops, 0);
    ck_assert_uint_eq(c->excl_writer, 0);
    ck_assert_uint_eq(c->excl_all, 0);
}
END_TEST

START_TEST(lock_bytes)
{
    static const uint8_t good[] = {0x00, 0x01, 0x10, 0x11, 0x20};
    static const uint8_t bad[] = {0x02, 0x0f, 0x12, 0x21, 0x30, 0xff};
    enum con_lock_req r;

    for (size_t i = 0; i < VSPC_ARRAY_LEN(good); i++) {
        r = CON_LOCK_TAKE_WRITE;
        ck_assert_int_eq(con_lock_from_byte(good[i], &r), 0);
        ck_assert_int_eq((int)r, good[i]);
    }
    for (size_t i = 0; i < VSPC_ARRAY_LEN(bad); i++) {
        r = CON_LOCK_TAKE_WRITE;
        ck_assert_int_eq(con_lock_from_byte(bad[i], &r), -1);
        ck_assert_int_eq(r, CON_LOCK_TAKE_WRITE);
    }
}
END_TEST

/* ---- force, spectators ---------------------------------------------------
 */

START_TEST(force_write)
{
    struct ep *h = host(UUID_A_TEXT, "vm-00000");
    struct ep *a = hw_oper_prompt(), *b = hw_oper_prompt();
    struct console *c = hw_con(UUID_A);
    struct oper *oa = oper(a), *ob = oper(b);

    op_attach_as(a, UUID_A, "excl", UUID_A, "rw");
    ck_assert_uint_eq(c->excl_writer, ID(oa));
    op_attach_as(b, UUID_A, "", UUID_A, "ro"); /* rw, the lock is held */
    ck_data(a, notice("operator %s attached (ro)", b->addr));
    ck_data(b, "");
    ep_clear(a);
    ep_send_str(b, "b0");
    hw_pump();
    ck_data(h, "");
    ep_clear(b);
    con_force_write(c, &ob->co);
    hw_pump();
    ck_assert_int_eq(oa->co.mode, OP_MODE_RO);
    ck_assert_int_eq(ob->co.mode, OP_MODE_RW);
    ck_assert_uint_eq(c->excl_writer, ID(ob));
    {
        char want[1024];

        snprintf(want, sizeof(want), "%s%s",
                 notice("your write access was taken over: now read-only"),
                 notice("operator %s forced write access from %s", b->addr,
                        a->addr));
        ck_data(a, want);
    }
    ck_data(
        b, notice("operator %s forced write access from %s", b->addr, a->addr));
    ck_assert(!con_op_can_write(c, &oa->co));
    ck_assert(con_op_can_write(c, &ob->co));
    ep_clear(a);
    ep_clear(b);
    ep_send_str(a, "a1");
    ep_send_str(b, "b1");
    hw_pump();
    ck_data(h, "b1");
    ck_data(a, notice("read-only: your input is discarded (escape f forces "
                      "write access)"));
    ep_clear(a);
    /* The holder forcing: nobody demoted. */
    con_force_write(c, &ob->co);
    hw_pump();
    ck_data(a, notice("operator %s forced write access", b->addr));
    ck_assert_uint_eq(c->excl_writer, ID(ob));
    ck_assert_int_eq(oa->co.mode, OP_MODE_RO);
    /* Nobody holds the lock: forcing makes one read-write, takes no lock. */
    con_make_spectator(c, &ob->co);
    ck_assert_uint_eq(c->excl_writer, 0);
    hw_pump();
    ep_clear(a);
    con_force_write(c, &oa->co);
    hw_pump();
    ck_assert_int_eq(oa->co.mode, OP_MODE_RW);
    ck_assert_uint_eq(c->excl_writer, 0);
    ck_data(a, notice("operator %s forced write access", a->addr));
    ep_send_str(a, "a2");
    ep_send_str(b, "b2");
    hw_pump();
    ck_data(h, "b1a2");
}
END_TEST

START_TEST(spectator)
{
    struct ep *h = host(UUID_A_TEXT, "vm-00000");
    struct ep *a = hw_oper_prompt(), *b = hw_oper_prompt();
    struct console *c = hw_con(UUID_A);
    struct oper *oa = oper(a), *ox = oper(hw_oper());
    const char *err = NULL;
    uint64_t start;

    op_attach_as(a, UUID_A, "excl", UUID_A, "rw");
    con_make_spectator(c, &oa->co);
    hw_pump();
    ck_assert_int_eq(oa->co.mode, OP_MODE_RO);
    ck_assert_uint_eq(c->excl_writer, 0);
    ck_data(a, notice("operator %s is now a spectator", a->addr));
    ep_clear(a);
    ep_send_str(a, "nope");
    hw_pump();
    ck_data(h, "");
    ck_assert_uint_eq(W.px.stats.ops_input_refused, 4);
    /* The lock is free: b takes it. */
    op_attach_as(b, UUID_A, "excl", UUID_A, "rw");
    ck_assert_uint_eq(c->excl_writer, ID(oper(b)));
    ep_send_str(b, "yes");
    hw_pump();
    ck_data(h, "yes");
    ep_send_str(b, "\x05"
                   "c.");
    ep_send_str(a, "\x05"
                   "c.");
    hw_pump();
    ck_assert_uint_eq(c->n_ops, 0);
    ck_assert_uint_eq(c->excl_writer, 0);
    /* An EXCLUSIVE holder made a spectator frees both locks. */
    ck_assert_int_eq(con_attach(c, &ox->co, CON_LOCK_EXCLUSIVE, &start, &err),
                     0);
    ck_assert_uint_eq(c->excl_all, ID(ox));
    con_make_spectator(c, &ox->co);
    ck_assert_uint_eq(c->excl_all, 0);
    ck_assert_uint_eq(c->excl_writer, 0);
    ck_assert_int_eq(ox->co.mode, OP_MODE_RO);
    ck_assert_int_eq(con_attach(c, &oa->co, CON_LOCK_EXCL_WRITE, &start, &err),
                     0);
    con_detach(c, &oa->co, "test");
    con_detach(c, &ox->co, "test");
}
END_TEST

/* ---- input toward the VM ---------------------------------------------------
 */

/* No hypervisor: input is held, in order, and flushed to the next owner,
 * which then gets new input directly. */
START_TEST(held_until_owner)
{
    struct console *c = con_get(W.px.consoles, UUID_A, NULL);
    struct ep *o = hw_oper(), *h, *h2;

    op_attach(o, UUID_A);
    ep_send_data(o, "early\xff\x00", 7);
    hw_pump();
    ep_send_data(o, "-more", 5);
    hw_pump();
    ck_assert_uint_eq(hin_len(&c->held), 12);
    ck_assert_uint_eq(c->bytes_out, 0);
    h = host(UUID_A_TEXT, "vm-00000");
    ck_assert_ptr_eq(c->owner, &hw_sess(h)->hv);
    ck_assert_bb(&h->data, "early\xff\x00-more", 12);
    ck_assert_uint_eq(hin_len(&c->held), 0);
    ck_assert_uint_eq(c->bytes_out, 12);
    ep_send_data(o, "late", 4);
    hw_pump();
    ck_assert_bb(&h->data, "early\xff\x00-morelate", 16);
    /* The host goes: held again, for the one that comes back. */
    ep_fin(h);
    hw_pump();
    ck_assert_ptr_null(c->owner);
    ck_assert_int_eq(con_state(c), CON_ST_DISCONNECTED);
    ep_send_data(o, "gone", 4);
    hw_pump();
    ck_assert_uint_eq(hin_len(&c->held), 4);
    h2 = host(UUID_A_TEXT, "vm-00000");
    ck_assert_bb(&h2->data, "gone", 4);
    ck_assert_bb(&h->data, "early\xff\x00-morelate", 16);
    ck_assert_uint_eq(c->bytes_out, 20);
    ck_assert_uint_eq(W.px.stats.bytes_to_vms, 20);
}
END_TEST

/* Operator input past held_max with nobody to take it: the operator stops
 * being read (its bytes wait in its socket), then every byte reaches the
 * hypervisor that connects, in order. */
START_TEST(flow_held_max)
{
    enum { TOTAL = 1 << 20 };
    struct console *c = con_get(W.px.consoles, UUID_A, NULL);
    struct ep *o = hw_oper(), *h;
    struct bbuf want = {0}, wire = {0};
    size_t sent = 0;

    for (size_t i = 0; i < TOTAL; i++)
        bb_addc(&want, vpat(i));
    enc_data(&wire, want.p, want.n);
    op_attach(o, UUID_A);
    sent = try_write(o, wire.p, wire.n);
    hw_pump();
    sent += try_write(o, wire.p + sent, wire.n - sent);
    ck_assert_uint_lt(sent, wire.n);
    ck_assert(c->input_blocked);
    ck_assert(oper(o)->read_blocked);
    ck_assert_uint_ge(hin_len(&c->held), W.px.cfg.held_max);
    ck_assert_uint_lt(hin_len(&c->held), W.px.cfg.held_max + 65536);
    h = host(UUID_A_TEXT, "vm-00000");
    for (int i = 0; i < 1000 && h->data.n < TOTAL; i++) {
        sent += try_write(o, wire.p + sent, wire.n - sent);
        hw_pump();
    }
    ck_assert_uint_eq(sent, wire.n);
    ck_assert_uint_eq(h->data.n, TOTAL);
    ck_assert_int_eq(memcmp(h->data.p, want.p, TOTAL), 0);
    ck_assert(!c->input_blocked);
    ck_assert(!oper(o)->read_blocked);
    ck_assert_uint_eq(c->bytes_out, TOTAL);
    bb_free(&want);
    bb_free(&wire);
}
END_TEST

/* A hypervisor that does not read: past the owner's output limit the
 * operators stop being read; when it reads again every byte arrives. */
START_TEST(flow_slow_hypervisor)
{
    enum { TOTAL = 3 << 20 };
    struct ep *h = host(UUID_A_TEXT, "vm-00000"), *o = hw_oper(), *o2;
    struct console *c = hw_con(UUID_A);
    struct bbuf want = {0}, wire = {0};
    size_t sent;

    for (size_t i = 0; i < TOTAL; i++)
        bb_addc(&want, vpat(i * 3));
    enc_data(&wire, want.p, want.n);
    op_attach(o, UUID_A);
    o2 = hw_oper();
    op_attach(o2, UUID_A);
    h->hold = true;
    sent = try_write(o, wire.p, wire.n);
    ck_assert_uint_lt(sent, wire.n);
    ck_assert(c->input_blocked);
    ck_assert(oper(o)->read_blocked);
    ck_assert(oper(o2)->read_blocked);
    ck_assert_uint_eq(hin_len(&c->held), 0);
    /* Output still flows to the operators while their input waits. */
    {
        uint64_t at = 0;

        vm_write(h, &at, 1000);
        ck_assert_uint_eq(o->data.n, 1000);
        check_pat(&o->data, 0, 0, 1000);
        ck_assert_bb(&o2->data, o->data.p, 1000);
        ck_assert(c->input_blocked);
    }
    h->hold = false;
    for (int i = 0; i < 2000 && h->data.n < TOTAL; i++) {
        sent += try_write(o, wire.p + sent, wire.n - sent);
        hw_pump();
    }
    ck_assert_uint_eq(sent, wire.n);
    ck_assert_uint_eq(h->data.n, TOTAL);
    ck_assert_int_eq(memcmp(h->data.p, want.p, TOTAL), 0);
    ck_assert(!c->input_blocked);
    ck_assert(!oper(o)->read_blocked);
    ck_assert(!oper(o2)->read_blocked);
    bb_free(&want);
    bb_free(&wire);
}
END_TEST

/* ---- replay ---------------------------------------------------------------
 */

static size_t tweak_scrollback;
static size_t tweak_queue;
static double tweak_stall;

static void
tweak(struct proxy_cfg *cfg)
{
    cfg->scrollback = tweak_scrollback;
    if (tweak_queue)
        cfg->op_queue_max = tweak_queue;
    if (tweak_stall > 0)
        cfg->stall_timeout = tweak_stall;
}

/* A new world whose configuration differs before proxy_init. */
static void
restart(size_t scrollback, size_t queue, double stall)
{
    hw_end();
    tweak_scrollback = scrollback;
    tweak_queue = queue;
    tweak_stall = stall;
    hw_begin_cfg(tweak);
    ck_assert_uint_eq(W.px.strm_cfg.scrollback, scrollback);
}

/* 16 KiB writes that fill the ring exactly (the ring holds
 * max(scrollback, STRM_RING_MIN)), then more: every attach replays exactly
 * the last `scrollback` bytes; an operator attached throughout got all. */
static const size_t replay_sizes[] = {32768, 65536, 98304, 49152};

START_TEST(replay_after_exact_fill)
{
    const size_t sb = replay_sizes[_i];
    const size_t ring = sb > STRM_RING_MIN ? sb : STRM_RING_MIN;
    struct ep *h, *all;
    uint64_t at = 0, off;

    restart(sb, 0, 0);
    h = host(UUID_A_TEXT, "vm-00000");
    all = hw_oper();
    op_attach(all, UUID_A);
    for (int round = 0; round < 3; round++) {
        struct ep *o;

        if (round == 0)
            while (at < sb)
                vm_write(h, &at, 16384); /* the scrollback, exactly */
        else if (round == 1)
            while (at < ring)
                vm_write(h, &at, 16384); /* the ring, exactly */
        else
            vm_write(h, &at, 16384 + 100); /* wrapped, and more */
        o = hw_oper_prompt();
        off = op_attach_as(o, UUID_A, "ro raw", UUID_A, "ro");
        ck_assert_uint_eq(off, at > sb ? at - sb : 0);
        hw_pump();
        ck_assert_uint_eq(o->data.n, at - off);
        check_pat(&o->data, 0, off, at - off);
        ck_assert_uint_eq(con_ring_start(hw_con(UUID_A)), off);
    }
    ck_assert_uint_eq(all->data.n, at);
    check_pat(&all->data, 0, 0, at);
    ck_assert_uint_eq(W.px.stats.ops_gaps, 0);
}
END_TEST

/* Scrollback 1 MiB, operator queue 16 KiB: the replay is paced by the
 * queue and every byte of the 1 MiB arrives, no notice; then live. */
START_TEST(replay_larger_than_queue)
{
    enum { SB = 1 << 20, TOTAL = 1600 * 1000 };
    struct ep *h, *o;
    uint64_t at = 0, off;

    restart(SB, 16384, 0);
    ck_assert_uint_eq(W.px.cfg.op_queue_max, 16384);
    h = host(UUID_A_TEXT, "vm-00000");
    while (at < TOTAL)
        vm_write(h, &at, TOTAL - at < 16384 ? TOTAL - at : 16384);
    o = hw_oper_prompt();
    off = op_attach_as(o, UUID_A, "rw raw", UUID_A, "rw");
    ck_assert_uint_eq(off, TOTAL - SB);
    for (int i = 0; i < 100 && o->data.n < SB; i++)
        hw_pump();
    ck_assert_uint_eq(o->data.n, SB);
    check_pat(&o->data, 0, off, SB);
    ck_assert_uint_eq(W.px.stats.ops_gaps, 0);
    vm_write(h, &at, 100000);
    for (int i = 0; i < 100 && o->data.n < SB + 100000; i++)
        hw_pump();
    ck_assert_uint_eq(o->data.n, SB + 100000);
    check_pat(&o->data, 0, off, SB + 100000);
    ck_assert_uint_eq(W.px.stats.ops_gaps, 0);
    ck_assert_uint_eq(W.px.stats.strm.readers_stalled, 0);
}
END_TEST

/* An operator that does not read paces the VM (the session stops reading
 * its host); input toward the VM still flows meanwhile (issue 6 item 5);
 * once it reads it gets every byte, no notice, no gap. */
START_TEST(paced_console_takes_input)
{
    enum { TOTAL = 4 << 20 };
    struct ep *h, *o;
    struct console *c;
    struct bbuf vm = {0}, wire = {0};
    size_t sent;

    restart(65536, 0, 3600); /* no stall in this test */
    h = host(UUID_A_TEXT, "vm-00000");
    c = hw_con(UUID_A);
    o = hw_oper();
    op_attach(o, UUID_A);
    o->hold = true;
    for (size_t i = 0; i < TOTAL; i++)
        bb_addc(&vm, vpat(i));
    enc_data(&wire, vm.p, vm.n);
    sent = try_write(h, wire.p, wire.n);
    ck_assert_uint_lt(sent, wire.n);
    ck_assert(strm_paced(&c->out));
    ck_assert(hw_sess(h)->paused);
    ck_assert_uint_ge(W.px.stats.strm.paced, 1);
    ep_send_data(o, "input while paced", 17);
    hw_pump();
    ck_assert_bb(&h->data, "input while paced", 17);
    ck_assert(!c->input_blocked);
    ck_assert(strm_paced(&c->out));
    o->hold = false;
    for (int i = 0; i < 2000 && o->data.n < TOTAL; i++) {
        sent += try_write(h, wire.p + sent, wire.n - sent);
        hw_pump();
    }
    ck_assert_uint_eq(sent, wire.n);
    ck_assert_uint_eq(o->data.n, TOTAL);
    ck_assert_int_eq(memcmp(o->data.p, vm.p, TOTAL), 0);
    ck_assert_uint_eq(W.px.stats.strm.readers_stalled, 0);
    ck_assert_uint_eq(W.px.stats.ops_gaps, 0);
    ck_assert(!strm_paced(&c->out));
    bb_free(&vm);
    bb_free(&wire);
}
END_TEST

/* A console that came here by a vMotion from another node holds its
 * output for the readers the old owner named (conhold.h): the VM is paced
 * from the first chunk on until the last of them attached (the node's own
 * log is not waited for), so the first follower gets every byte. */
START_TEST(hold_for_followers)
{
    enum { TOTAL = 256 << 10 };
    static const char keys[3][CHOLD_KEY_MAX + 1] = {"n9/1", "log:n8", "log:n7"};
    struct ep *h, *o;
    struct console *c;
    struct bbuf vm = {0}, wire = {0};
    size_t sent;

    restart(65536, 0, 3600);
    h = host(UUID_A_TEXT, "vm-00000");
    c = hw_con(UUID_A);
    chold_start(c, keys, 3, "log:n7");
    ck_assert_ptr_nonnull(c->hold);
    for (size_t i = 0; i < TOTAL; i++)
        bb_addc(&vm, vpat(i));
    enc_data(&wire, vm.p, vm.n);
    sent = try_write(h, wire.p, wire.n);
    hw_pump();
    ck_assert_uint_lt(sent, wire.n);
    ck_assert(strm_paced(&c->out));
    ck_assert_uint_le(strm_end(&c->out), STRM_FEED_MAX);
    o = hw_oper();
    op_attach(o, UUID_A);
    hw_pump();
    ck_assert(strm_paced(&c->out)); /* not one of them */
    chold_arrived(c, "n9/1");
    chold_arrived(c, "n9/1"); /* once */
    ck_assert_ptr_nonnull(c->hold);
    ck_assert(strm_paced(&c->out));
    chold_arrived(c, "log:n8");
    ck_assert_ptr_null(c->hold);
    for (int i = 0; i < 2000 && o->data.n < TOTAL; i++) {
        sent += try_write(h, wire.p + sent, wire.n - sent);
        hw_pump();
    }
    ck_assert_uint_eq(o->data.n, TOTAL);
    ck_assert_int_eq(memcmp(o->data.p, vm.p, TOTAL), 0);
    ck_assert_uint_eq(W.px.stats.ops_gaps, 0);
    /* Followers on a node whose link went down are not waited for. */
    {
        static const char k2[3][CHOLD_KEY_MAX + 1] = {"n9/1", "log:n9",
                                                      "log:n8"};

        chold_start(c, k2, 3, "log:n7");
        ck_assert_ptr_nonnull(c->hold);
        chold_node_gone(c, "n");  /* a prefix of n9: not it */
        chold_node_gone(c, "n9"); /* "n9/1" and "log:n9" */
        ck_assert_ptr_nonnull(c->hold);
        chold_node_gone(c, "n8");
        ck_assert_ptr_null(c->hold);
    }
    /* A hold the console goes away with is freed with it (ASan). */
    chold_start(c, keys, 2, "log:n7");
    ck_assert_ptr_nonnull(c->hold);
    bb_free(&vm);
    bb_free(&wire);
}
END_TEST

/* ---- expiry ---------------------------------------------------------------
 */

/* Wait (bounded) until the UUID_A console is gone. */
static bool
wait_gone(void)
{
    for (int i = 0; i < 200 && hw_con(UUID_A); i++)
        hw_wait(0.01);
    return hw_con(UUID_A) == NULL;
}

START_TEST(expiry)
{
    struct ep *h, *o;
    uint64_t at = 0;

    W.px.cfg.console_expire = 0.05;
    /* Disconnected with an operator: kept. */
    h = host(UUID_A_TEXT, "vm-00000");
    vm_write(h, &at, 1000);
    o = hw_oper();
    op_attach(o, UUID_A);
    ep_fin(h);
    hw_pump();
    ck_assert_int_eq(con_state(hw_con(UUID_A)), CON_ST_DISCONNECTED);
    hw_wait(0.2);
    ck_assert_ptr_nonnull(hw_con(UUID_A));
    /* The operator leaves: gone. */
    close(o->fd);
    o->fd = -1;
    ck_assert(wait_gone());
    ck_assert_uint_eq(con_registry_count(W.px.consoles), 0);
    /* A new connection: a new console, empty. */
    h = host(UUID_A_TEXT, "vm-00000");
    ck_assert_uint_eq(strm_end(&hw_con(UUID_A)->out), 0);
    at = 0;
    vm_write(h, &at, 500);
    /* Disconnected, nobody watching, but the VM is back in time: kept,
     * scrollback and all. */
    W.px.cfg.console_expire = 3600; /* no race with the reconnect */
    ep_fin(h);
    hw_pump();
    ck_assert_int_eq(con_state(hw_con(UUID_A)), CON_ST_DISCONNECTED);
    ck_assert(evtimer_pending(hw_con(UUID_A)->expire_ev, NULL));
    h = host(UUID_A_TEXT, "vm-00000");
    ck_assert(!evtimer_pending(hw_con(UUID_A)->expire_ev, NULL));
    W.px.cfg.console_expire = 0.05;
    o = hw_oper();
    op_attach(o, UUID_A);
    ck_assert_uint_eq(o->data.n, 500);
    check_pat(&o->data, 0, 0, 500);
    /* Operator gone, then the VM: expires. */
    close(o->fd);
    o->fd = -1;
    hw_pump();
    ck_assert_ptr_nonnull(hw_con(UUID_A));
    ep_fin(h);
    ck_assert(wait_gone());
}
END_TEST

static Suite *
console_suite(void)
{
    Suite *s = suite_create("console");
    TCase *tc = tcase_create("console");

    tcase_add_checked_fixture(tc, hw_setup, hw_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, lookup);
    tcase_add_loop_test(tc, lock_modes, 0, (int)VSPC_ARRAY_LEN(lock_cases));
    tcase_add_test(tc, lock_bytes);
    tcase_add_test(tc, force_write);
    tcase_add_test(tc, spectator);
    tcase_add_test(tc, held_until_owner);
    tcase_add_test(tc, flow_held_max);
    tcase_add_test(tc, flow_slow_hypervisor);
    tcase_add_loop_test(tc, replay_after_exact_fill, 0,
                        (int)VSPC_ARRAY_LEN(replay_sizes));
    tcase_add_test(tc, replay_larger_than_queue);
    tcase_add_test(tc, paced_console_takes_input);
    tcase_add_test(tc, hold_for_followers);
    tcase_add_test(tc, expiry);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(console_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
