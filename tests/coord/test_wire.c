/*
 * test_wire.c: Check suite for the coordinator link's codec
 * (proto/wire.c): every message type round-trips field for field at its
 * bounds; every truncation, seeded random garbage, seeded bit flips of
 * valid frames, oversized frames, wrong or missing versions, missing and
 * out-of-range fields are rejected with the right error and a readable
 * reason, never a crash (this suite also runs under ASan+UBSan). Frames
 * that are not produced by wire_encode are built here by hand, byte by
 * byte, so the test does not trust the code it tests.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static uint64_t
rnd(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* A string of n copies of c. */
static void
fill(char *dst, size_t n, char c)
{
    memset(dst, c, n);
    dst[n] = '\0';
}

/* A console at the bounds: a 64-character label, 255-byte name with
 * UTF-8, the largest epoch and index. */
static void
max_console(struct wire_console *c)
{
    memset(c, 0, sizeof(*c));
    memcpy(c->id, "0123456789abcdef0123456789abcdef.", 33);
    fill(c->id + 33, WIRE_LABEL_MAX, 'L');
    fill(c->vm_name, WIRE_VM_NAME_MAX - 2, 'v');
    memcpy(c->vm_name + WIRE_VM_NAME_MAX - 2, "\xc3\xa9", 3);
    c->epoch = UINT64_MAX;
    fill(c->state, WIRE_STATE_MAX, 's');
    fill(c->hv_addr, WIRE_HV_ADDR_MAX, 'h');
    fill(c->owner, WIRE_NODE_ID_MAX, 'o');
    c->owner_index = 255;
}

static void
min_console(struct wire_console *c)
{
    memset(c, 0, sizeof(*c));
    memcpy(c->id, "ffffffffffffffffffffffffffffffff", 33);
    c->epoch = 0;
    strcpy(c->state, "x");
    strcpy(c->owner, "n");
}

static void
max_node(struct wire_node *n, bool alive)
{
    memset(n, 0, sizeof(*n));
    fill(n->node_id, WIRE_NODE_ID_MAX, 'n');
    n->node_index = alive ? 255 : 0;
    fill(n->peer_addr, WIRE_PEER_ADDR_MAX - 6, 'p');
    memcpy(n->peer_addr + WIRE_PEER_ADDR_MAX - 6, ":65535", 7);
    n->alive = alive;
}

/* Samples: every type, several at their bounds. */
#define NSAMPLES 22
static void
sample(int i, struct wire_msg *m)
{
    memset(m, 0, sizeof(*m));
    switch (i) {
    case 0:
        m->type = WIRE_REGISTER;
        fill(m->u.reg.node_id, WIRE_NODE_ID_MAX, '!');
        m->u.reg.node_index = 255;
        strcpy(m->u.reg.peer_addr, "[2001:db8::1]:13390");
        m->u.reg.incarnation = UINT64_MAX;
        break;
    case 1:
        m->type = WIRE_REGISTER;
        strcpy(m->u.reg.node_id, "a");
        strcpy(m->u.reg.peer_addr, "h:1");
        break;
    case 2:
        m->type = WIRE_REGISTER_REPLY;
        m->u.reg_reply.ok = false;
        fill(m->u.reg_reply.reason, WIRE_REASON_MAX, 'r');
        m->u.reg_reply.incarnation = 42;
        break;
    case 3:
        m->type = WIRE_REGISTER_REPLY;
        m->u.reg_reply.ok = true;
        m->u.reg_reply.term = UINT64_MAX;
        break;
    case 4:
        m->type = WIRE_HEARTBEAT;
        strcpy(m->u.heartbeat.node_id, "node-1");
        m->u.heartbeat.incarnation = 0x0123456789abcdefULL;
        break;
    case 5:
        m->type = WIRE_HEARTBEAT_REPLY;
        m->u.heartbeat_reply.incarnation = 7;
        m->u.heartbeat_reply.registered = true;
        m->u.heartbeat_reply.term = 9;
        break;
    case 6:
        m->type = WIRE_HEARTBEAT_REPLY;
        break;
    case 7:
        m->type = WIRE_ANNOUNCE;
        max_console(&m->u.announce);
        break;
    case 8:
        m->type = WIRE_ANNOUNCE;
        min_console(&m->u.announce);
        break;
    case 9:
        m->type = WIRE_WITHDRAW;
        memcpy(m->u.withdraw.console_id, "00000000000000000000000000000000.a",
               35);
        m->u.withdraw.epoch = (5ULL << 8) | 3;
        strcpy(m->u.withdraw.node_id, "n3");
        break;
    case 10:
        m->type = WIRE_SNAPSHOT_REQUEST;
        m->u.snapshot_request.request_id = UINT64_MAX;
        break;
    case 11:
        m->type = WIRE_SNAPSHOT_REQUEST;
        break;
    case 12:
        m->type = WIRE_SNAPSHOT_ENTRY;
        max_console(&m->u.snapshot_entry);
        break;
    case 13:
        m->type = WIRE_SNAPSHOT_NODE;
        max_node(&m->u.snapshot_node, true);
        break;
    case 14:
        m->type = WIRE_SNAPSHOT_END;
        m->u.snapshot_end.seq = 1000000;
        m->u.snapshot_end.incarnation = 9;
        m->u.snapshot_end.request_id = 3;
        break;
    case 15:
        m->type = WIRE_UPDATE;
        m->u.update.seq = 1;
        m->u.update.incarnation = UINT64_MAX;
        m->u.update.change = WIRE_CHANGE_UPSERT;
        max_console(&m->u.update.u.upsert);
        break;
    case 16:
        m->type = WIRE_UPDATE;
        m->u.update.seq = UINT64_MAX;
        m->u.update.incarnation = 1;
        m->u.update.change = WIRE_CHANGE_REMOVED;
        memcpy(m->u.update.u.removed.id, "abcdefabcdefabcdefabcdefabcdefab",
               33);
        m->u.update.u.removed.epoch = 0x100;
        break;
    case 17:
        m->type = WIRE_UPDATE;
        m->u.update.seq = 2;
        m->u.update.incarnation = 2;
        m->u.update.change = WIRE_CHANGE_NODE;
        max_node(&m->u.update.u.node, false);
        break;
    case 18:
        m->type = WIRE_HUGZ;
        m->u.hugz.seq = 77;
        m->u.hugz.incarnation = 88;
        break;
    case 19:
        m->type = WIRE_BSTAR;
        m->u.bstar.state = WIRE_BS_PASSIVE;
        m->u.bstar.term = UINT64_MAX;
        m->u.bstar.incarnation = 5;
        break;
    case 20:
        m->type = WIRE_NOT_ACTIVE;
        m->u.not_active.term = 3;
        memset(m->u.not_active.reason, 'r', WIRE_REASON_MAX);
        break;
    default:
        m->type = WIRE_HUGZ;
        break;
    }
}

static void
encode_ok(const struct wire_msg *m, uint8_t **buf, size_t *len)
{
    char err[256];
    int rc = wire_encode(m, buf, len, err, sizeof(err));

    ck_assert_msg(rc == WIRE_OK, "encode %s: %s", wire_type_str(m->type), err);
    ck_assert_uint_le(*len, WIRE_MAX_MSG);
}

START_TEST(test_round_trip)
{
    for (int i = 0; i < NSAMPLES; i++) {
        struct wire_msg m, d;
        uint8_t *buf;
        size_t len;
        char err[256];

        sample(i, &m);
        encode_ok(&m, &buf, &len);
        ck_assert_int_eq(buf[0], 0x08); /* field 1, varint: the version */
        ck_assert_int_eq(buf[1], WIRE_VERSION);
        ck_assert_int_eq(wire_decode(buf, len, &d, err, sizeof(err)), WIRE_OK);
        ck_assert_str_eq(err, "");
        /* Byte-exact: both structs are zero-filled past every string. */
        ck_assert_msg(memcmp(&m, &d, sizeof(m)) == 0,
                      "sample %d (%s) differs after the round trip", i,
                      wire_type_str(m.type));
        free(buf);
    }
}
END_TEST

START_TEST(test_truncated)
{
    /* The body is one length-delimited field: every proper prefix is
     * either no body (only the version) or a field running past the end. */
    for (int i = 0; i < NSAMPLES; i++) {
        struct wire_msg m, d;
        uint8_t *buf;
        size_t len;
        char err[256];

        sample(i, &m);
        encode_ok(&m, &buf, &len);
        for (size_t cut = 0; cut < len; cut++) {
            /* A copy of exactly cut bytes: ASan catches any over-read. */
            uint8_t *p = malloc(cut ? cut : 1);
            int rc;

            memcpy(p, buf, cut);
            rc = wire_decode(p, cut, &d, err, sizeof(err));
            ck_assert_msg(rc != WIRE_OK, "sample %d cut at %zu/%zu accepted", i,
                          cut, len);
            ck_assert_msg(err[0] != '\0', "no reason");
            if (cut == 0)
                ck_assert_int_eq(rc, WIRE_E_EMPTY);
            else if (cut == 2)
                ck_assert_int_eq(rc, WIRE_E_NOBODY);
            else if (cut == 1)
                ck_assert_int_eq(rc, WIRE_E_MALFORMED);
            free(p);
        }
        free(buf);
    }
}
END_TEST

/* A decoded message must be what a sender could have sent: it
 * re-encodes and decodes to the same. */
static void
check_accepted(const struct wire_msg *d)
{
    struct wire_msg d2;
    uint8_t *buf;
    size_t len;
    char err[256];

    encode_ok(d, &buf, &len);
    ck_assert_int_eq(wire_decode(buf, len, &d2, err, sizeof(err)), WIRE_OK);
    ck_assert(memcmp(d, &d2, sizeof(d2)) == 0);
    free(buf);
}

START_TEST(test_random_garbage)
{
    uint64_t seed = 0x7e57;
    unsigned accepted = 0;

    for (int i = 0; i < 20000; i++) {
        size_t len = rnd(&seed) % 600;
        uint8_t *p = malloc(len ? len : 1);
        struct wire_msg d;
        char err[256];

        for (size_t k = 0; k < len; k++)
            p[k] = (uint8_t)rnd(&seed);
        /* Half start like an envelope, to get past the first byte. */
        if (len >= 2 && i % 2) {
            p[0] = 0x08;
            p[1] = 0x01;
        }
        if (wire_decode(p, len, &d, err, sizeof(err)) == WIRE_OK) {
            accepted++;
            check_accepted(&d);
        } else {
            ck_assert(err[0] != '\0');
        }
        free(p);
    }
    /* Random bytes almost never make a valid message. */
    ck_assert_uint_lt(accepted, 50);
}
END_TEST

START_TEST(test_bit_flips)
{
    uint64_t seed = 0xf11b0beefULL;

    for (int i = 0; i < NSAMPLES; i++) {
        struct wire_msg m, d;
        uint8_t *buf;
        size_t len;
        char err[256];

        sample(i, &m);
        encode_ok(&m, &buf, &len);
        for (int k = 0; k < 1500; k++) {
            uint8_t *p = malloc(len);
            unsigned flips = 1 + (unsigned)(rnd(&seed) % 3);

            memcpy(p, buf, len);
            for (unsigned f = 0; f < flips; f++) {
                size_t at = rnd(&seed) % len;

                p[at] ^= (uint8_t)(1u << (rnd(&seed) % 8));
            }
            if (wire_decode(p, len, &d, err, sizeof(err)) == WIRE_OK)
                check_accepted(&d);
            else
                ck_assert(err[0] != '\0');
            free(p);
        }
        free(buf);
    }
}
END_TEST

START_TEST(test_oversized)
{
    size_t n = WIRE_MAX_MSG + 1;
    uint8_t *p = malloc(n);
    struct wire_msg m, d;
    uint8_t *buf;
    size_t len;
    char err[256];

    /* A valid message followed by padding: refused on size alone. */
    sample(7, &m);
    encode_ok(&m, &buf, &len);
    memset(p, 0, n);
    memcpy(p, buf, len);
    ck_assert_int_eq(wire_decode(p, n, &d, err, sizeof(err)), WIRE_E_OVERSIZE);
    ck_assert_str_eq(err, "oversized frame: 262145 bytes (max 262144)");
    ck_assert_int_eq(d.type, 0);
    /* At the limit it is judged on content (padding: field 0 is invalid). */
    ck_assert_int_eq(wire_decode(p, WIRE_MAX_MSG, &d, err, sizeof(err)),
                     WIRE_E_MALFORMED);
    free(buf);
    free(p);
}
END_TEST

START_TEST(test_version)
{
    struct wire_msg m, d;
    uint8_t *buf, *p;
    size_t len;
    char err[256];

    sample(4, &m);
    encode_ok(&m, &buf, &len);
    buf[1] = 2;
    ck_assert_int_eq(wire_decode(buf, len, &d, err, sizeof(err)),
                     WIRE_E_VERSION);
    ck_assert_str_eq(err, "unsupported version 2 (want 1)");
    buf[1] = 0;
    ck_assert_int_eq(wire_decode(buf, len, &d, err, sizeof(err)),
                     WIRE_E_VERSION);
    ck_assert_str_eq(err, "unsupported version 0 (want 1)");
    /* No version field at all. */
    ck_assert_int_eq(wire_decode(buf + 2, len - 2, &d, err, sizeof(err)),
                     WIRE_E_VERSION);
    ck_assert_str_eq(err, "no version field (want version 1)");
    /* Version 2^32 - 1 as a 5-byte varint in front of the body. */
    p = malloc(len + 4);
    p[0] = 0x08;
    memcpy(p + 1, "\xff\xff\xff\xff\x0f", 5);
    memcpy(p + 6, buf + 2, len - 2);
    ck_assert_int_eq(wire_decode(p, len + 4, &d, err, sizeof(err)),
                     WIRE_E_VERSION);
    ck_assert_str_eq(err, "unsupported version 4294967295 (want 1)");
    free(p);
    free(buf);
}
END_TEST

/* ---- hand-built frames --------------------------------------------------- */

struct pb {
    uint8_t b[2048];
    size_t n;
};

static void
pb_varint(struct pb *p, uint64_t v)
{
    do {
        uint8_t c = v & 0x7f;

        v >>= 7;
        p->b[p->n++] = c | (v ? 0x80 : 0);
    } while (v);
}

static void
pb_uint(struct pb *p, unsigned field, uint64_t v)
{
    pb_varint(p, (uint64_t)field << 3);
    pb_varint(p, v);
}

static void
pb_bytes(struct pb *p, unsigned field, const void *d, size_t n)
{
    pb_varint(p, ((uint64_t)field << 3) | 2);
    pb_varint(p, n);
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void
pb_str(struct pb *p, unsigned field, const char *s)
{
    pb_bytes(p, field, s, strlen(s));
}

/* Envelope{version 1, field: body}. */
static void
pb_envelope(struct pb *out, unsigned field, const struct pb *body)
{
    out->n = 0;
    pb_uint(out, 1, 1);
    pb_bytes(out, field, body->b, body->n);
}

static int
dec(const struct pb *p, char *err, size_t cap)
{
    struct wire_msg d;

    return wire_decode(p->b, p->n, &d, err, cap);
}

START_TEST(test_fields)
{
    struct pb body, inner, env;
    char err[256], big[400];
    struct wire_msg d;

    /* Heartbeat without its incarnation. */
    body.n = 0;
    pb_str(&body, 1, "A");
    pb_envelope(&env, 12, &body);
    ck_assert_int_eq(dec(&env, err, sizeof(err)), WIRE_E_INVALID);
    ck_assert_str_eq(err, "heartbeat.incarnation: missing");

    /* Register with node index 256. */
    body.n = 0;
    pb_str(&body, 1, "n1");
    pb_uint(&body, 2, 256);
    pb_str(&body, 3, "h:1");
    pb_uint(&body, 4, 1);
    pb_envelope(&env, 10, &body);
    ck_assert_int_eq(dec(&env, err, sizeof(err)), WIRE_E_INVALID);
    ck_assert_str_eq(err, "register.node_index: 256 out of range (0-255)");

    /* Register with a port out of range, then a node id with a space. */
    body.n = 0;
    pb_str(&body, 1, "n1");
    pb_uint(&body, 2, 1);
    pb_str(&body, 3, "h:65536");
    pb_uint(&body, 4, 1);
    pb_envelope(&env, 10, &body);
    ck_assert_int_eq(dec(&env, err, sizeof(err)), WIRE_E_INVALID);
    ck_assert_str_eq(err, "register.peer_addr: bad value (want host:port)");
    body.n = 0;
    pb_str(&body, 1, "n 1");
    pb_uint(&body, 2, 1);
    pb_str(&body, 3, "h:1");
    pb_uint(&body, 4, 1);
    pb_envelope(&env, 10, &body);
    ck_assert_int_eq(dec(&env, err, sizeof(err)), WIRE_E_INVALID);
    ck_assert_str_eq(err, "register.node_id: bad value (want printable "
                          "characters, no spaces)");

    /* Announce: uppercase hex, a 65-character label, a 256-byte name, a
     * control character, no console at all. */
    {
        static const struct {
            const char *id, *name, *want;
        } cases[] = {
            {"0123456789ABCDEF0123456789abcdef", "vm",
             "announce.console.id: bad value (want 32 lowercase hex digits "
             "[.label])"},
            {"0123456789abcdef0123456789abcde", "vm",
             "announce.console.id: bad value (want 32 lowercase hex digits "
             "[.label])"},
            {"0123456789abcdef0123456789abcdef.", "vm",
             "announce.console.id: bad value (want 32 lowercase hex digits "
             "[.label])"},
            {"0123456789abcdef0123456789abcdef.a b", "vm",
             "announce.console.id: bad value (want 32 lowercase hex digits "
             "[.label])"},
            {NULL, "vm", "announce.console.id: longer than 97 bytes"},
            {"0123456789abcdef0123456789abcdef", NULL,
             "announce.console.vm_name: longer than 255 bytes"},
            {"0123456789abcdef0123456789abcdef", "a\nb",
             "announce.console.vm_name: bad value (want text without "
             "control characters)"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char label[120];

            inner.n = 0;
            if (cases[i].id) {
                pb_str(&inner, 1, cases[i].id);
            } else {
                memcpy(label, "0123456789abcdef0123456789abcdef.", 33);
                fill(label + 33, 65, 'x');
                pb_str(&inner, 1, label);
            }
            if (cases[i].name) {
                pb_str(&inner, 2, cases[i].name);
            } else {
                fill(big, 256, 'n');
                pb_str(&inner, 2, big);
            }
            pb_uint(&inner, 3, 0x105);
            pb_str(&inner, 4, "connected");
            pb_str(&inner, 6, "n1");
            pb_uint(&inner, 7, 5);
            body.n = 0;
            pb_bytes(&body, 1, inner.b, inner.n);
            pb_envelope(&env, 14, &body);
            ck_assert_int_eq(dec(&env, err, sizeof(err)), WIRE_E_INVALID);
            ck_assert_str_eq(err, cases[i].want);
        }
    }
    body.n = 0;
    pb_envelope(&env, 14, &body);
    ck_assert_int_eq(dec(&env, err, sizeof(err)), WIRE_E_INVALID);
    ck_assert_str_eq(err, "announce.console: missing");

    /* Update without a change. */
    body.n = 0;
    pb_uint(&body, 1, 1);
    pb_uint(&body, 2, 1);
    pb_envelope(&env, 20, &body);
    ck_assert_int_eq(dec(&env, err, sizeof(err)), WIRE_E_INVALID);
    ck_assert_str_eq(err, "update: no change");

    /* A peer-link frame (PeerFrame field 100) on the coordinator link. */
    body.n = 0;
    pb_str(&body, 1, "n1");
    pb_envelope(&env, 100, &body);
    ck_assert_int_eq(dec(&env, err, sizeof(err)), WIRE_E_NOBODY);

    /* Unknown fields are skipped (a newer sender's additions). */
    body.n = 0;
    pb_str(&body, 1, "A");
    pb_uint(&body, 2, 9);
    pb_str(&body, 77, "from the future");
    pb_envelope(&env, 12, &body);
    pb_uint(&env, 99, 12345);
    ck_assert_int_eq(wire_decode(env.b, env.n, &d, err, sizeof(err)), WIRE_OK);
    ck_assert_int_eq(d.type, WIRE_HEARTBEAT);
    ck_assert_str_eq(d.u.heartbeat.node_id, "A");
    ck_assert_uint_eq(d.u.heartbeat.incarnation, 9);
}
END_TEST

START_TEST(test_encode_checks)
{
    struct wire_msg m;
    uint8_t *buf = (uint8_t *)1;
    size_t len = 1;
    char err[256];

    /* The sender obeys the receiver's rules. */
    sample(8, &m);
    strcpy(m.u.announce.id, "not-a-console");
    ck_assert_int_eq(wire_encode(&m, &buf, &len, err, sizeof(err)),
                     WIRE_E_INVALID);
    ck_assert_ptr_null(buf);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(err, "announce.console.id: bad value (want 32 lowercase "
                          "hex digits [.label])");
    /* A string without its NUL is not read past its array. */
    sample(4, &m);
    memset(m.u.heartbeat.node_id, 'x', sizeof(m.u.heartbeat.node_id));
    ck_assert_int_eq(wire_encode(&m, &buf, &len, err, sizeof(err)),
                     WIRE_E_INVALID);
    ck_assert_str_eq(err, "heartbeat: a string field is not NUL-terminated");
    memset(&m, 0, sizeof(m));
    m.type = (enum wire_type)99;
    ck_assert_int_eq(wire_encode(&m, &buf, &len, err, sizeof(err)),
                     WIRE_E_INVALID);
    /* Names for logs and counters. */
    ck_assert_str_eq(wire_type_str(WIRE_SNAPSHOT_END), "snapshot-end");
    ck_assert_str_eq(wire_type_str((enum wire_type)0), "???");
    ck_assert_str_eq(wire_err_str(WIRE_E_OVERSIZE), "oversized");
    ck_assert_str_eq(wire_err_str(-99), "???");
    ck_assert(wire_valid_addr("[::1]:1"));
    ck_assert(!wire_valid_addr(":1"));
    ck_assert(!wire_valid_addr("h:0"));
    ck_assert(!wire_valid_addr("h:123456"));
    ck_assert(!wire_valid_node_id(""));
}
END_TEST

static Suite *
wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("codec");

    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_random_garbage);
    tcase_add_test(tc, test_bit_flips);
    tcase_add_test(tc, test_oversized);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_fields);
    tcase_add_test(tc, test_encode_checks);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(wire_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
