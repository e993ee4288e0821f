/*
 * test_peerwire.c: Check suite for the peer link's codec (proto/
 * peerwire.c): every frame type round-trips field for field at its bounds
 * (the largest valid frames fit PW_MAX_FRAME); every truncation of valid
 * frames, seeded random garbage, seeded bit flips, oversized frames,
 * wrong or missing versions, missing and out-of-range fields are rejected
 * with the right error and a readable reason, never a crash (this suite
 * also runs under ASan+UBSan); whatever decodes re-encodes. Frames with a
 * wrong version or impossible fields are built here by hand, byte by byte,
 * so the test does not trust the code it tests.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peerwire.h"

#define CID "0123456789abcdef0123456789abcdef"

static struct pw_frame F, G; /* large: not on the stack */
static uint8_t BUF[PW_MAX_FRAME + 64];

static uint64_t
rnd(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void
fill(char *dst, size_t n, char c)
{
    memset(dst, c, n);
    dst[n] = '\0';
}

/* A console id with the longest label. */
static void
max_cid(char *dst)
{
    memcpy(dst, CID ".", 33);
    fill(dst + 33, WIRE_LABEL_MAX, 'L');
}

/* f at its bounds, for each type (big: every array full). */
static void
max_frame(struct pw_frame *f, enum pw_type t, uint64_t seed)
{
    memset(f, 0, sizeof(*f));
    f->type = t;
    switch (t) {
    case PW_HELLO:
        fill(f->u.hello.node_id, PW_NODE_ID_MAX, 'n');
        f->u.hello.node_index = 255;
        f->u.hello.version = UINT32_MAX; /* the link's business */
        f->u.hello.incarnation = UINT64_MAX;
        break;
    case PW_SUBSCRIBE:
        max_cid(f->u.subscribe.console_id);
        f->u.subscribe.from_offset = UINT64_MAX;
        f->u.subscribe.epoch = UINT64_MAX;
        f->u.subscribe.sub_id = UINT64_MAX;
        f->u.subscribe.credit = PW_CREDIT_MAX;
        fill(f->u.subscribe.operator_id, PW_OPERATOR_ID_MAX, 'o');
        fill(f->u.subscribe.operator_name, PW_OPERATOR_NAME_MAX, 'n');
        f->u.subscribe.lock = PW_LOCK_MAX;
        f->u.subscribe.raw = true;
        break;
    case PW_SUB_STATE:
        f->u.sub_state.sub_id = UINT64_MAX;
        f->u.sub_state.status = PW_SUB_ENDED;
        f->u.sub_state.mode = 1;
        f->u.sub_state.offset = UINT64_MAX;
        f->u.sub_state.epoch = UINT64_MAX;
        fill(f->u.sub_state.text, PW_TEXT_MAX, 't');
        break;
    case PW_CONTROL:
        f->u.control.sub_id = UINT64_MAX;
        f->u.control.action = PW_CTL_SPECTATOR;
        break;
    case PW_UNSUBSCRIBE:
        f->u.unsubscribe.sub_id = UINT64_MAX;
        break;
    case PW_DATA:
        f->u.data.sub_id = UINT64_MAX;
        f->u.data.epoch = UINT64_MAX;
        f->u.data.offset = UINT64_MAX - PW_DATA_MAX;
        f->u.data.len = PW_DATA_MAX;
        for (size_t i = 0; i < PW_DATA_MAX; i++)
            f->u.data.bytes[i] = (uint8_t)rnd(&seed);
        break;
    case PW_GAP:
        f->u.gap = (struct pw_gap){UINT64_MAX, 0, UINT64_MAX, UINT64_MAX};
        break;
    case PW_TIP:
        f->u.tip = (struct pw_tip){UINT64_MAX, UINT64_MAX, UINT64_MAX};
        break;
    case PW_EVENT:
        f->u.event.sub_id = 1;
        f->u.event.epoch = UINT64_MAX;
        f->u.event.offset = UINT64_MAX;
        fill(f->u.event.text, PW_TEXT_MAX - 2, 'e');
        memcpy(f->u.event.text + PW_TEXT_MAX - 2, "\xc3\xa9", 3);
        break;
    case PW_CREDIT:
        f->u.credit.sub_id = UINT64_MAX;
        f->u.credit.bytes = PW_CREDIT_MAX;
        break;
    case PW_INPUT:
        max_cid(f->u.input.console_id);
        fill(f->u.input.operator_id, PW_OPERATOR_ID_MAX, 'o');
        f->u.input.seq = UINT64_MAX - PW_INPUT_MAX;
        f->u.input.epoch = UINT64_MAX;
        f->u.input.len = PW_INPUT_MAX;
        for (size_t i = 0; i < PW_INPUT_MAX; i++)
            f->u.input.bytes[i] = (uint8_t)rnd(&seed);
        break;
    case PW_INPUT_ACK:
        max_cid(f->u.input_ack.console_id);
        fill(f->u.input_ack.operator_id, PW_OPERATOR_ID_MAX, 'o');
        f->u.input_ack.seq = UINT64_MAX;
        break;
    case PW_VALIDATE:
        f->u.validate.request_id = UINT64_MAX;
        max_cid(f->u.validate.console_id);
        f->u.validate.seq_len = PW_VMOTION_SEQ_MAX;
        memset(f->u.validate.seq, 0xff, PW_VMOTION_SEQ_MAX);
        f->u.validate.secret_len = PW_SECRET_MAX;
        memset(f->u.validate.secret, 0, PW_SECRET_MAX);
        break;
    case PW_VALIDATE_REPLY:
        f->u.validate_reply.request_id = UINT64_MAX;
        f->u.validate_reply.ok = true;
        max_cid(f->u.validate_reply.console_id);
        f->u.validate_reply.epoch = UINT64_MAX;
        break;
    case PW_HANDOVER: {
        struct pw_handover *h = &f->u.handover;
        uint32_t off = 0;

        max_cid(h->console_id);
        h->epoch = UINT64_MAX;
        h->offset = UINT64_MAX;
        h->old_epoch = UINT64_MAX - 1;
        fill(h->vm_name, PW_VM_NAME_MAX, 'v');
        h->vmotion_seq_len = PW_VMOTION_SEQ_MAX;
        memset(h->vmotion_seq, 0x80, PW_VMOTION_SEQ_MAX);
        h->n_held = PW_HELD_MAX;
        for (unsigned i = 0; i < PW_HELD_MAX; i++) {
            uint32_t len = PW_HELD_BYTES_MAX / PW_HELD_MAX;

            fill(h->held[i].operator_id, PW_OPERATOR_ID_MAX,
                 (char)('a' + i % 26));
            h->held[i].seq = UINT64_MAX - len - i;
            h->held[i].off = off;
            h->held[i].len = len;
            off += len;
        }
        for (size_t i = 0; i < PW_HELD_BYTES_MAX; i++)
            h->held_bytes[i] = (uint8_t)rnd(&seed);
        h->request_id = UINT64_MAX;
        h->record_version = UINT32_MAX;
        h->more = true;
        fill(h->write_lock, PW_OPERATOR_ID_MAX, 'w');
        fill(h->exclusive, PW_OPERATOR_ID_MAX, 'x');
        fill(h->src_host, PW_TEXT_MAX, 'h');
        h->sb_len = PW_SCROLLBACK_CHUNK;
        h->sb_from = UINT64_MAX - PW_SCROLLBACK_CHUNK;
        for (size_t i = 0; i < PW_SCROLLBACK_CHUNK; i++)
            h->sb[i] = (uint8_t)rnd(&seed);
        break;
    }
    case PW_SPLICE:
        f->u.splice.request_id = UINT64_MAX;
        f->u.splice.kind = PW_SPLICE_CANCEL;
        f->u.splice.seq_len = PW_VMOTION_SEQ_MAX;
        memset(f->u.splice.seq, 0xff, PW_VMOTION_SEQ_MAX);
        break;
    default:
        ck_abort_msg("type %d", (int)t);
    }
}

/* The smallest valid frame of each type. */
static void
min_frame(struct pw_frame *f, enum pw_type t)
{
    memset(f, 0, sizeof(*f));
    f->type = t;
    switch (t) {
    case PW_HELLO:
        strcpy(f->u.hello.node_id, "n");
        break;
    case PW_SUBSCRIBE:
        strcpy(f->u.subscribe.console_id, CID);
        f->u.subscribe.sub_id = 1;
        break;
    case PW_UNSUBSCRIBE:
        f->u.unsubscribe.sub_id = 1;
        break;
    case PW_DATA:
        f->u.data.sub_id = 1;
        f->u.data.len = 1;
        break;
    case PW_GAP:
        f->u.gap.sub_id = 1;
        f->u.gap.to = 1;
        break;
    case PW_TIP:
        f->u.tip.sub_id = 1;
        break;
    case PW_EVENT:
        f->u.event.sub_id = 1;
        strcpy(f->u.event.text, "x");
        break;
    case PW_CREDIT:
        f->u.credit.sub_id = 1;
        f->u.credit.bytes = 1;
        break;
    case PW_INPUT:
        strcpy(f->u.input.console_id, CID);
        strcpy(f->u.input.operator_id, "o");
        f->u.input.len = 1;
        break;
    case PW_INPUT_ACK:
        strcpy(f->u.input_ack.console_id, CID);
        strcpy(f->u.input_ack.operator_id, "o");
        break;
    case PW_VALIDATE:
        f->u.validate.request_id = 1;
        f->u.validate.seq_len = 1;
        f->u.validate.secret_len = 1;
        break;
    case PW_VALIDATE_REPLY:
        f->u.validate_reply.request_id = 1;
        break;
    case PW_HANDOVER:
        strcpy(f->u.handover.console_id, CID);
        break;
    case PW_SUB_STATE:
        f->u.sub_state.sub_id = 1;
        f->u.sub_state.status = PW_SUB_ATTACHED;
        break;
    case PW_CONTROL:
        f->u.control.sub_id = 1;
        f->u.control.action = PW_CTL_REPLAY;
        break;
    case PW_SPLICE:
        f->u.splice.request_id = 1;
        f->u.splice.kind = PW_SPLICE_COMPLETE;
        break;
    default:
        ck_abort_msg("type %d", (int)t);
    }
}

/* a and b carry the same frame (only meaningful bytes compared). */
static void
same(const struct pw_frame *a, const struct pw_frame *b)
{
    ck_assert_int_eq(a->type, b->type);
    switch (a->type) {
    case PW_DATA:
        ck_assert_uint_eq(a->u.data.len, b->u.data.len);
        ck_assert_mem_eq(&a->u.data, &b->u.data,
                         offsetof(struct pw_data, bytes) + a->u.data.len);
        break;
    case PW_INPUT:
        ck_assert_uint_eq(a->u.input.len, b->u.input.len);
        ck_assert_mem_eq(&a->u.input, &b->u.input,
                         offsetof(struct pw_input, bytes) + a->u.input.len);
        break;
    case PW_HANDOVER: {
        const struct pw_handover *x = &a->u.handover, *y = &b->u.handover;
        size_t n = 0;

        ck_assert_mem_eq(x, y, offsetof(struct pw_handover, held));
        ck_assert_uint_eq(x->n_held, y->n_held);
        for (unsigned i = 0; i < x->n_held; i++) {
            ck_assert_str_eq(x->held[i].operator_id, y->held[i].operator_id);
            ck_assert_uint_eq(x->held[i].seq, y->held[i].seq);
            ck_assert_uint_eq(x->held[i].len, y->held[i].len);
            ck_assert_mem_eq(x->held_bytes + x->held[i].off,
                             y->held_bytes + y->held[i].off, x->held[i].len);
            ck_assert_uint_eq(y->held[i].off, n); /* laid out in order */
            n += y->held[i].len;
        }
        ck_assert_mem_eq(x->sb, y->sb, x->sb_len);
        break;
    }
    default: /* the small ones: whole body (zeroed padding both sides) */
        ck_assert_mem_eq(&a->u, &b->u, sizeof(struct pw_validate));
        break;
    }
}

static size_t
enc(const struct pw_frame *f)
{
    char err[160];
    size_t n = 0;
    int rc = pw_encode(f, BUF, sizeof(BUF), &n, err, sizeof(err));

    ck_assert_msg(rc == PW_OK, "%s: %s", pw_type_str(f->type), err);
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_le(n, PW_MAX_FRAME);
    return n;
}

static int
dec(const void *p, size_t n, char *err, size_t errlen)
{
    memset(&G, 0xa5, sizeof(G)); /* decoding must not rely on zeroes */
    return pw_decode(p, n, &G, err, errlen);
}

START_TEST(round_trip_bounds)
{
    char err[160];

    for (int t = PW_HELLO; t < PW_TYPE__COUNT; t++) {
        for (int k = 0; k < 2; k++) {
            size_t n;

            if (k == 0)
                max_frame(&F, (enum pw_type)t, (uint64_t)t);
            else
                min_frame(&F, (enum pw_type)t);
            n = enc(&F);
            ck_assert_msg(dec(BUF, n, err, sizeof(err)) == PW_OK, "%s: %s",
                          pw_type_str((enum pw_type)t), err);
            /* the small types compare whole bodies: zero the rest */
            if (t != PW_DATA && t != PW_INPUT && t != PW_HANDOVER) {
                struct pw_frame *g = &G;
                char e2[160];

                memset(g, 0, sizeof(*g));
                ck_assert_int_eq(pw_decode(BUF, n, g, e2, sizeof(e2)), PW_OK);
            }
            same(&F, &G);
            if (t == PW_DATA && k == 0)
                ck_assert_uint_le(n, PW_DATA_MAX + 48);
            /* the largest valid frame still fits, with room to spare */
            if (t == PW_HANDOVER && k == 0)
                ck_assert_uint_lt(n, 60 * 1024);
        }
    }
    ck_assert_str_eq(pw_type_str(PW_HANDOVER), "handover");
    ck_assert_str_eq(pw_type_str((enum pw_type)99), "???");
    ck_assert_str_eq(pw_err_str(PW_E_OVERSIZE), "oversized");
    ck_assert_str_eq(pw_err_str(-99), "???");
}
END_TEST

/* ---- hand-built protobuf ------------------------------------------------- */

struct pb {
    uint8_t b[PW_MAX_FRAME + 64];
    size_t n;
};

static void
pb_varint(struct pb *p, uint64_t v)
{
    do {
        p->b[p->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void
pb_u(struct pb *p, unsigned field, uint64_t v)
{
    pb_varint(p, (uint64_t)field << 3);
    pb_varint(p, v);
}

static void
pb_bytes(struct pb *p, unsigned field, const void *d, size_t n)
{
    pb_varint(p, (uint64_t)field << 3 | 2);
    pb_varint(p, n);
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

/* A PeerFrame: version (if have_version), then body field `field`. */
static void
pb_frame(struct pb *out, bool have_version, uint64_t version, unsigned field,
         const struct pb *body)
{
    out->n = 0;
    if (have_version)
        pb_u(out, 1, version);
    if (body)
        pb_bytes(out, field, body->b, body->n);
}

static struct pb P, Q;

static void
hello_body(struct pb *h, const char *id, uint64_t index)
{
    h->n = 0;
    pb_bytes(h, 1, id, strlen(id));
    pb_u(h, 2, index);
    pb_u(h, 3, 1);
    pb_u(h, 4, 42);
}

static void
expect(int want, const char *substr)
{
    char err[160];
    int rc = dec(P.b, P.n, err, sizeof(err));

    ck_assert_msg(rc == want, "got %d (%s), want %d", rc, err, want);
    if (want != PW_OK) {
        ck_assert_int_eq(G.type, 0);
        ck_assert_msg(strstr(err, substr) != NULL, "'%s' lacks '%s'", err,
                      substr);
    }
}

START_TEST(hand_built)
{
    hello_body(&Q, "node-1", 7);
    pb_frame(&P, true, 1, 100, &Q);
    expect(PW_OK, "");
    ck_assert_str_eq(G.u.hello.node_id, "node-1");
    ck_assert_uint_eq(G.u.hello.node_index, 7);
    ck_assert_uint_eq(G.u.hello.incarnation, 42);

    pb_frame(&P, true, 2, 100, &Q);
    expect(PW_E_VERSION, "unsupported version 2");
    pb_frame(&P, false, 0, 100, &Q);
    expect(PW_E_VERSION, "no version");
    pb_frame(&P, true, 1, 0, NULL);
    expect(PW_E_NOBODY, "no frame body");
    pb_frame(&P, true, 1, 10, &Q); /* a coordinator Register body */
    expect(PW_E_NOBODY, "no frame body");

    hello_body(&Q, "node-1", 256);
    pb_frame(&P, true, 1, 100, &Q);
    expect(PW_E_INVALID, "node_index");
    hello_body(&Q, "no de", 1);
    pb_frame(&P, true, 1, 100, &Q);
    expect(PW_E_INVALID, "hello.node_id");
    Q.n = 0; /* a hello without its fields */
    pb_frame(&P, true, 1, 100, &Q);
    expect(PW_E_INVALID, "missing");

    /* Data whose bytes exceed PW_DATA_MAX (the frame itself is small
     * enough to unpack). */
    Q.n = 0;
    pb_u(&Q, 1, 1);
    pb_u(&Q, 2, 1);
    pb_u(&Q, 3, 0);
    {
        static uint8_t big[PW_DATA_MAX + 1];

        pb_bytes(&Q, 4, big, sizeof(big));
    }
    pb_frame(&P, true, 1, 103, &Q);
    expect(PW_E_INVALID, "data.bytes");

    /* Data that would wrap the offset space. */
    Q.n = 0;
    pb_u(&Q, 1, 1);
    pb_u(&Q, 2, 1);
    pb_u(&Q, 3, UINT64_MAX);
    pb_bytes(&Q, 4, "ab", 2);
    pb_frame(&P, true, 1, 103, &Q);
    expect(PW_E_INVALID, "wraps");

    /* Handover with one record too many. */
    Q.n = 0;
    pb_bytes(&Q, 1, CID, 32);
    pb_u(&Q, 2, 1);
    pb_u(&Q, 3, 1);
    pb_u(&Q, 5, 1);
    for (int i = 0; i <= PW_HELD_MAX; i++) {
        struct pb r = {.n = 0};

        pb_bytes(&r, 1, "op", 2);
        pb_u(&r, 2, (uint64_t)i);
        pb_bytes(&r, 3, "x", 1);
        pb_bytes(&Q, 4, r.b, r.n);
    }
    pb_frame(&P, true, 1, 111, &Q);
    expect(PW_E_INVALID, "records");

    /* Garbage and limits. */
    {
        char err[64];

        ck_assert_int_eq(dec(P.b, 0, err, sizeof(err)), PW_E_EMPTY);
        ck_assert_int_eq(dec(BUF, PW_MAX_FRAME + 1, err, sizeof(err)),
                         PW_E_OVERSIZE);
        ck_assert_ptr_nonnull(strstr(err, "oversized"));
        memset(P.b, 0xff, 16);
        ck_assert_int_eq(dec(P.b, 16, err, sizeof(err)), PW_E_MALFORMED);
        /* errlen 0: no write to err at all */
        ck_assert_int_eq(dec(P.b, 16, NULL, 0), PW_E_MALFORMED);
    }
}
END_TEST

/* A record's followers travel in a frame of their own (no held input, no
 * scrollback), so the largest frame of either kind has room to spare. */
START_TEST(handover_followers)
{
    struct pw_handover *h = &F.u.handover;
    char err[160];
    size_t n;

    max_frame(&F, PW_HANDOVER, 7);
    h->n_held = 0;
    h->sb_len = 0;
    h->n_followers = PW_FOLLOWERS_MAX;
    for (unsigned i = 0; i < PW_FOLLOWERS_MAX; i++)
        fill(h->followers[i], PW_OPERATOR_ID_MAX, (char)('A' + i % 26));
    strcpy(h->followers[1], "log:n2");
    n = enc(&F);
    ck_assert_uint_lt(n, 16 * 1024);
    ck_assert_msg(dec(BUF, n, err, sizeof(err)) == PW_OK, "%s", err);
    ck_assert_uint_eq(G.u.handover.n_followers, PW_FOLLOWERS_MAX);
    for (unsigned i = 0; i < PW_FOLLOWERS_MAX; i++)
        ck_assert_str_eq(G.u.handover.followers[i], h->followers[i]);
    /* With held input or scrollback beside them: refused both ways. */
    h->sb_len = 1;
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err, "followers"));
    h->sb_len = 0;
    h->n_followers = PW_FOLLOWERS_MAX + 1;
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
    h->n_followers = 1;
    strcpy(h->followers[0], "has space");
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
}
END_TEST

START_TEST(encode_refuses)
{
    char err[160];
    size_t n;

    min_frame(&F, PW_SUBSCRIBE);
    F.u.subscribe.sub_id = 0;
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err, "sub_id"));
    min_frame(&F, PW_SUBSCRIBE);
    strcpy(F.u.subscribe.console_id, "0123456789ABCDEF0123456789abcdef");
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
    min_frame(&F, PW_SUBSCRIBE);
    F.u.subscribe.credit = PW_CREDIT_MAX + 1;
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
    min_frame(&F, PW_DATA);
    F.u.data.len = 0;
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
    min_frame(&F, PW_GAP);
    F.u.gap.from = 5;
    F.u.gap.to = 5;
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
    min_frame(&F, PW_TIP);
    F.u.tip.sub_id = 0;
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
    min_frame(&F, PW_CREDIT);
    F.u.credit.bytes = 0;
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
    min_frame(&F, PW_INPUT);
    strcpy(F.u.input.operator_id, "op 1");
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
    min_frame(&F, PW_EVENT);
    strcpy(F.u.event.text, "a\nb");
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
    min_frame(&F, PW_EVENT);
    memset(F.u.event.text, 'x', sizeof(F.u.event.text)); /* no NUL */
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
    min_frame(&F, PW_VALIDATE_REPLY);
    F.u.validate_reply.ok = true; /* ok needs a console */
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
    min_frame(&F, PW_HANDOVER);
    F.u.handover.n_held = 1;
    strcpy(F.u.handover.held[0].operator_id, "o");
    F.u.handover.held[0].off = PW_HELD_BYTES_MAX - 1;
    F.u.handover.held[0].len = 2; /* outside the pool */
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
    F.type = (enum pw_type)0;
    ck_assert_int_eq(pw_encode(&F, BUF, sizeof(BUF), &n, err, sizeof(err)),
                     PW_E_INVALID);
    /* too small a buffer: the size needed is reported */
    max_frame(&F, PW_DATA, 1);
    ck_assert_int_eq(pw_encode(&F, BUF, 100, &n, err, sizeof(err)), PW_E_SPACE);
    ck_assert_uint_gt(n, PW_DATA_MAX);
    ck_assert_int_eq(pw_encode(&F, BUF, n, &n, err, sizeof(err)), PW_OK);
}
END_TEST

/* Whatever decodes is valid: it encodes again. */
static void
closure(void)
{
    static uint8_t out[PW_MAX_FRAME];
    char err[160];
    size_t n;

    ck_assert_msg(pw_encode(&G, out, sizeof(out), &n, err, sizeof(err)) ==
                      PW_OK,
                  "decoded %s does not encode: %s", pw_type_str(G.type), err);
}

START_TEST(truncations_and_flips)
{
    static uint8_t frame[PW_MAX_FRAME];
    uint64_t seed = 0x5eed;
    char err[160];
    unsigned ok = 0, bad = 0;

    for (int t = PW_HELLO; t < PW_TYPE__COUNT; t++) {
        size_t n;

        max_frame(&F, (enum pw_type)t, (uint64_t)t);
        n = enc(&F);
        memcpy(frame, BUF, n);
        /* Every truncation (all of them for small frames, 600 for big). */
        for (size_t k = 0; k<n; k += n> 600 ? n / 600 : 1) {
            int rc = dec(frame, k, err, sizeof(err));

            ck_assert_int_ne(rc, PW_E_OVERSIZE);
            if (rc == PW_OK) {
                closure();
                ok++;
            } else {
                ck_assert_int_eq(G.type, 0);
                ck_assert(err[0] != '\0');
                bad++;
            }
        }
        /* Seeded bit flips: 300 mutants of 1-4 flips each. */
        for (int m = 0; m < 300; m++) {
            static uint8_t mut[PW_MAX_FRAME];
            int flips = 1 + (int)(rnd(&seed) % 4);

            memcpy(mut, frame, n);
            for (int i = 0; i < flips; i++) {
                size_t at = rnd(&seed) % n;

                mut[at] ^= (uint8_t)(1u << (rnd(&seed) % 8));
            }
            if (dec(mut, n, err, sizeof(err)) == PW_OK) {
                closure();
                ok++;
            } else {
                bad++;
            }
        }
    }
    ck_assert_uint_gt(bad, 1000);
    ck_assert_uint_gt(ok, 0);
}
END_TEST

START_TEST(random_garbage)
{
    static uint8_t g[4096];
    uint64_t seed = 0xdeadbeef;
    char err[160];
    unsigned ok = 0;

    for (int i = 0; i < 20000; i++) {
        size_t n = 1 + rnd(&seed) % sizeof(g);

        for (size_t k = 0; k < n; k++)
            g[k] = (uint8_t)rnd(&seed);
        /* half of them start like a version-1 PeerFrame */
        if (i % 2 && n >= 2) {
            g[0] = 0x08;
            g[1] = 0x01;
        }
        if (dec(g, n, err, sizeof(err)) == PW_OK) {
            closure();
            ok++;
        }
    }
    (void)ok;
}
END_TEST

START_TEST(operator_ids)
{
    char s[PW_OPERATOR_ID_MAX + 2];

    ck_assert(pw_valid_operator_id("node2/17"));
    ck_assert(!pw_valid_operator_id(""));
    ck_assert(!pw_valid_operator_id("a b"));
    ck_assert(!pw_valid_operator_id("a\x7f"));
    fill(s, PW_OPERATOR_ID_MAX, 'o');
    ck_assert(pw_valid_operator_id(s));
    fill(s, PW_OPERATOR_ID_MAX + 1, 'o');
    ck_assert(!pw_valid_operator_id(s));
}
END_TEST

static Suite *
peerwire_suite(void)
{
    Suite *s = suite_create("peerwire");
    TCase *tc = tcase_create("peerwire");

    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, round_trip_bounds);
    tcase_add_test(tc, hand_built);
    tcase_add_test(tc, handover_followers);
    tcase_add_test(tc, encode_refuses);
    tcase_add_test(tc, truncations_and_flips);
    tcase_add_test(tc, random_garbage);
    tcase_add_test(tc, operator_ids);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(peerwire_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
