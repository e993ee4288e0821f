/*
 * peerwire.c: the peer link's codec (pw_): struct pw_frame <-> PeerFrame
 * (vspc.proto). See peerwire.h for the boundary and the rules.
 *
 * Decode order: length, unpack, version, body (presence and lengths,
 * while copying into the struct), then pw_validate (content: character
 * sets, console ids, non-zero ids, ranges). Encode: pw_validate, then
 * pack. One set of content rules for both directions, so a sender can
 * never emit what a receiver drops, without a second unpack per frame
 * (Data frames run at console speed).
 */
#include "vspc/compat.h"
#include "peerwire.h"
#include "peerwire_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vspc.pb-c.h"

static const char *const pw_type_names[PW_TYPE__COUNT] = {
    [PW_HELLO] = "hello",
    [PW_SUBSCRIBE] = "subscribe",
    [PW_UNSUBSCRIBE] = "unsubscribe",
    [PW_DATA] = "data",
    [PW_GAP] = "gap",
    [PW_EVENT] = "event",
    [PW_CREDIT] = "credit",
    [PW_INPUT] = "input",
    [PW_INPUT_ACK] = "input-ack",
    [PW_VALIDATE] = "validate",
    [PW_VALIDATE_REPLY] = "validate-reply",
    [PW_HANDOVER] = "handover",
    [PW_SUB_STATE] = "sub-state",
    [PW_CONTROL] = "control",
    [PW_SPLICE] = "splice",
    [PW_TIP] = "tip",
};

const char *
pw_type_str(enum pw_type t)
{
    if ((int)t <= 0 || t >= PW_TYPE__COUNT)
        return "???";
    return pw_type_names[t];
}

const char *
pw_err_str(int err)
{
    switch (err) {
    case PW_OK:
        return "ok";
    case PW_E_EMPTY:
        return "empty";
    case PW_E_OVERSIZE:
        return "oversized";
    case PW_E_MALFORMED:
        return "malformed";
    case PW_E_VERSION:
        return "version";
    case PW_E_NOBODY:
        return "no-body";
    case PW_E_INVALID:
        return "invalid";
    case PW_E_NOMEM:
        return "no-memory";
    case PW_E_SPACE:
        return "no-space";
    }
    return "???";
}

int
pw__fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- content checks (both directions) ------------------------------------ */

bool
pw_valid_operator_id(const char *s)
{
    size_t n = strnlen(s, PW_OPERATOR_ID_MAX + 1);

    return n <= PW_OPERATOR_ID_MAX && wire_is_token(s, n);
}

enum str_kind {
    K_TEXT,     /* no control characters; may be "" unless required */
    K_NODE,     /* a node id */
    K_CONSOLE,  /* a console id */
    K_OPERATOR, /* an operator id */
};

/* A string field of a struct: NUL-terminated within its array of cap
 * bytes, of the right kind; "" allowed only when !required. */
static int
s_chk_str(const char *s, size_t cap, enum str_kind kind, bool required,
          const char *what, char *err, size_t errlen)
{
    static const char *const want[] = {
        [K_TEXT] = "text without control characters",
        [K_NODE] = "printable characters, no spaces",
        [K_CONSOLE] = "32 lowercase hex digits [.label]",
        [K_OPERATOR] = "printable characters, no spaces",
    };
    size_t n = strnlen(s, cap);
    bool ok;

    if (n >= cap)
        return pw__fail(PW_E_INVALID, err, errlen, "%s: longer than %zu bytes",
                        what, cap - 1);
    if (n == 0)
        return required
                   ? pw__fail(PW_E_INVALID, err, errlen, "%s: missing", what)
                   : PW_OK;
    switch (kind) {
    case K_TEXT:
        ok = wire_is_text(s, n);
        break;
    case K_NODE:
        ok = wire_valid_node_id(s);
        break;
    case K_CONSOLE:
        ok = wire_valid_console_id(s);
        break;
    case K_OPERATOR:
        ok = pw_valid_operator_id(s);
        break;
    default:
        ok = false;
    }
    if (!ok)
        return pw__fail(PW_E_INVALID, err, errlen, "%s: bad value (want %s)",
                        what, want[kind]);
    return PW_OK;
}

#define CHK_STR(f, kind, req, what)                                            \
    do {                                                                       \
        int rc_ =                                                              \
            s_chk_str((f), sizeof(f), (kind), (req), (what), err, errlen);     \
        if (rc_ != PW_OK)                                                      \
            return rc_;                                                        \
    } while (0)

#define CHK(cond, ...)                                                         \
    do {                                                                       \
        if (!(cond))                                                           \
            return pw__fail(PW_E_INVALID, err, errlen, __VA_ARGS__);           \
    } while (0)

/* [lo, lo + n) does not wrap. */
static bool
s_no_wrap(uint64_t lo, uint64_t n)
{
    return lo <= UINT64_MAX - n;
}

static int
s_chk_handover(const struct pw_handover *h, char *err, size_t errlen)
{
    size_t total = 0;

    CHK_STR(h->console_id, K_CONSOLE, true, "handover.console_id");
    CHK_STR(h->vm_name, K_TEXT, false, "handover.vm_name");
    CHK(h->vmotion_seq_len <= PW_VMOTION_SEQ_MAX,
        "handover.vmotion_seq: longer than %d bytes", PW_VMOTION_SEQ_MAX);
    CHK(h->n_held <= PW_HELD_MAX, "handover.held: more than %d records",
        PW_HELD_MAX);
    for (unsigned i = 0; i < h->n_held; i++) {
        const struct pw_held *r = &h->held[i];

        CHK_STR(r->operator_id, K_OPERATOR, true, "handover.held.operator_id");
        CHK(r->len >= 1 && r->len <= PW_INPUT_MAX,
            "handover.held[%u]: %" PRIu32 " bytes (want 1-%d)", i, r->len,
            PW_INPUT_MAX);
        CHK(r->off <= PW_HELD_BYTES_MAX && r->len <= PW_HELD_BYTES_MAX - r->off,
            "handover.held[%u]: bytes outside the pool", i);
        CHK(s_no_wrap(r->seq, r->len), "handover.held[%u]: seq wraps", i);
        total += r->len;
    }
    CHK(total <= PW_HELD_BYTES_MAX, "handover.held: %zu bytes (max %d)", total,
        PW_HELD_BYTES_MAX);
    CHK_STR(h->write_lock, K_OPERATOR, false, "handover.write_lock");
    CHK_STR(h->exclusive, K_OPERATOR, false, "handover.exclusive");
    CHK_STR(h->src_host, K_TEXT, false, "handover.src_host");
    CHK(h->n_followers <= PW_FOLLOWERS_MAX, "handover.followers: %u (max %d)",
        h->n_followers, PW_FOLLOWERS_MAX);
    for (unsigned i = 0; i < h->n_followers; i++)
        CHK_STR(h->followers[i], K_OPERATOR, true, "handover.followers");
    CHK(h->n_followers == 0 || (h->n_held == 0 && h->sb_len == 0),
        "handover.followers: in a frame with held input or scrollback");
    CHK(h->sb_len <= PW_SCROLLBACK_CHUNK,
        "handover.scrollback: %zu bytes (max %d)", h->sb_len,
        PW_SCROLLBACK_CHUNK);
    CHK(s_no_wrap(h->sb_from, h->sb_len) && h->sb_from + h->sb_len <= h->offset,
        "handover.scrollback: beyond the offset");
    return PW_OK;
}

int
pw_validate(const struct pw_frame *f, char *err, size_t errlen)
{
    switch (f->type) {
    case PW_HELLO:
        CHK_STR(f->u.hello.node_id, K_NODE, true, "hello.node_id");
        return PW_OK;
    case PW_SUBSCRIBE: {
        const struct pw_subscribe *s = &f->u.subscribe;

        CHK_STR(s->console_id, K_CONSOLE, true, "subscribe.console_id");
        CHK(s->sub_id != 0, "subscribe.sub_id: 0");
        CHK(s->credit <= PW_CREDIT_MAX,
            "subscribe.credit: %" PRIu64 " > %" PRIu64, s->credit,
            PW_CREDIT_MAX);
        CHK_STR(s->operator_id, K_OPERATOR, false, "subscribe.operator_id");
        CHK_STR(s->operator_name, K_TEXT, false, "subscribe.operator_name");
        CHK(s->lock <= PW_LOCK_MAX, "subscribe.lock: %" PRIu32 " > %d", s->lock,
            PW_LOCK_MAX);
        return PW_OK;
    }
    case PW_SUB_STATE: {
        const struct pw_sub_state *t = &f->u.sub_state;

        CHK(t->sub_id != 0, "sub-state.sub_id: 0");
        CHK(t->status >= PW_SUB_ATTACHED && t->status <= PW_SUB_MOVED,
            "sub-state.status: %d", (int)t->status);
        CHK(t->mode <= 1, "sub-state.mode: %" PRIu32, t->mode);
        CHK_STR(t->text, K_TEXT, false, "sub-state.text");
        return PW_OK;
    }
    case PW_SPLICE:
        CHK(f->u.splice.request_id != 0, "splice.request_id: 0");
        CHK(f->u.splice.kind >= PW_SPLICE_COMPLETE &&
                f->u.splice.kind <= PW_SPLICE_CANCEL,
            "splice.kind: %d", (int)f->u.splice.kind);
        CHK(f->u.splice.seq_len <= PW_VMOTION_SEQ_MAX,
            "splice.seq: longer than %d bytes", PW_VMOTION_SEQ_MAX);
        return PW_OK;
    case PW_CONTROL:
        CHK(f->u.control.sub_id != 0, "control.sub_id: 0");
        CHK(f->u.control.action >= PW_CTL_REPLAY &&
                f->u.control.action <= PW_CTL_BREAK,
            "control.action: %d", (int)f->u.control.action);
        return PW_OK;
    case PW_UNSUBSCRIBE:
        CHK(f->u.unsubscribe.sub_id != 0, "unsubscribe.sub_id: 0");
        return PW_OK;
    case PW_DATA: {
        const struct pw_data *d = &f->u.data;

        CHK(d->sub_id != 0, "data.sub_id: 0");
        CHK(d->len >= 1 && d->len <= PW_DATA_MAX,
            "data.bytes: %zu bytes (want 1-%d)", d->len, PW_DATA_MAX);
        CHK(s_no_wrap(d->offset, d->len), "data.offset: wraps");
        return PW_OK;
    }
    case PW_TIP:
        CHK(f->u.tip.sub_id != 0, "tip.sub_id: 0");
        return PW_OK;
    case PW_GAP:
        CHK(f->u.gap.sub_id != 0, "gap.sub_id: 0");
        CHK(f->u.gap.from < f->u.gap.to, "gap: from %" PRIu64 " >= to %" PRIu64,
            f->u.gap.from, f->u.gap.to);
        return PW_OK;
    case PW_EVENT:
        CHK(f->u.event.sub_id != 0, "event.sub_id: 0");
        CHK_STR(f->u.event.text, K_TEXT, true, "event.text");
        return PW_OK;
    case PW_CREDIT:
        CHK(f->u.credit.sub_id != 0, "credit.sub_id: 0");
        CHK(f->u.credit.bytes >= 1 && f->u.credit.bytes <= PW_CREDIT_MAX,
            "credit.bytes: %" PRIu64 " (want 1-%" PRIu64 ")", f->u.credit.bytes,
            PW_CREDIT_MAX);
        return PW_OK;
    case PW_INPUT: {
        const struct pw_input *in = &f->u.input;

        CHK_STR(in->console_id, K_CONSOLE, true, "input.console_id");
        CHK_STR(in->operator_id, K_OPERATOR, true, "input.operator_id");
        CHK(in->reclaim ? in->len == 0
                        : in->len >= 1 && in->len <= PW_INPUT_MAX,
            "input.bytes: %zu bytes (want %s)", in->len,
            in->reclaim ? "none with reclaim" : "1-4096");
        CHK(s_no_wrap(in->seq, in->len), "input.seq: wraps");
        return PW_OK;
    }
    case PW_INPUT_ACK:
        CHK_STR(f->u.input_ack.console_id, K_CONSOLE, true,
                "input-ack.console_id");
        CHK_STR(f->u.input_ack.operator_id, K_OPERATOR, true,
                "input-ack.operator_id");
        return PW_OK;
    case PW_VALIDATE: {
        const struct pw_validate *v = &f->u.validate;

        CHK(v->request_id != 0, "validate.request_id: 0");
        CHK_STR(v->console_id, K_CONSOLE, false, "validate.console_id");
        CHK(v->seq_len >= 1 && v->seq_len <= PW_VMOTION_SEQ_MAX,
            "validate.seq: %zu bytes (want 1-%d)", v->seq_len,
            PW_VMOTION_SEQ_MAX);
        CHK(v->secret_len >= 1 && v->secret_len <= PW_SECRET_MAX,
            "validate.secret: %zu bytes (want 1-%d)", v->secret_len,
            PW_SECRET_MAX);
        return PW_OK;
    }
    case PW_VALIDATE_REPLY: {
        const struct pw_validate_reply *r = &f->u.validate_reply;

        CHK(r->request_id != 0, "validate-reply.request_id: 0");
        CHK_STR(r->console_id, K_CONSOLE, r->ok, "validate-reply.console_id");
        return PW_OK;
    }
    case PW_HANDOVER:
        return s_chk_handover(&f->u.handover, err, errlen);
    default:
        return pw__fail(PW_E_INVALID, err, errlen, "unknown frame type %d",
                        (int)f->type);
    }
}

/* ---- decode -------------------------------------------------------------- */

/* Presence of a scalar. */
#define NEED(has, what)                                                        \
    do {                                                                       \
        if (!(has))                                                            \
            return pw__fail(PW_E_INVALID, err, errlen, "%s: missing", what);   \
    } while (0)

/* Copy string src (NULL: absent, copied as "") into dst[cap]. */
static int
s_str(char *dst, size_t cap, const char *src, const char *what, char *err,
      size_t errlen)
{
    size_t n;

    if (src == NULL) {
        dst[0] = '\0';
        return PW_OK;
    }
    n = strnlen(src, cap);
    if (n >= cap)
        return pw__fail(PW_E_INVALID, err, errlen, "%s: longer than %zu bytes",
                        what, cap - 1);
    memcpy(dst, src, n + 1);
    return PW_OK;
}

#define STR(dst, src, what)                                                    \
    do {                                                                       \
        int rc_ = s_str((dst), sizeof(dst), (src), (what), err, errlen);       \
        if (rc_ != PW_OK)                                                      \
            return rc_;                                                        \
    } while (0)

/* Copy bytes b (absent: length 0) into dst[cap], *len. */
static int
s_bytes(uint8_t *dst, size_t cap, size_t *len, protobuf_c_boolean has,
        const ProtobufCBinaryData *b, const char *what, char *err,
        size_t errlen)
{
    *len = 0;
    if (!has || b->len == 0)
        return PW_OK;
    if (b->len > cap)
        return pw__fail(PW_E_INVALID, err, errlen, "%s: %zu bytes (max %zu)",
                        what, b->len, cap);
    memcpy(dst, b->data, b->len);
    *len = b->len;
    return PW_OK;
}

#define BYTES(dst, lenp, has, b, what)                                         \
    do {                                                                       \
        int rc_ = s_bytes((dst), sizeof(dst), (lenp), (has), &(b), (what),     \
                          err, errlen);                                        \
        if (rc_ != PW_OK)                                                      \
            return rc_;                                                        \
    } while (0)

static int
s_dec_handover(const Vspc__Handover *p, struct pw_handover *h, char *err,
               size_t errlen)
{
    size_t used = 0;

    STR(h->console_id, p->console_id, "handover.console_id");
    NEED(p->has_epoch, "handover.epoch");
    NEED(p->has_offset, "handover.offset");
    NEED(p->has_old_epoch, "handover.old_epoch");
    h->epoch = p->epoch;
    h->offset = p->offset;
    h->old_epoch = p->old_epoch;
    STR(h->vm_name, p->vm_name, "handover.vm_name");
    BYTES(h->vmotion_seq, &h->vmotion_seq_len, p->has_vmotion_seq,
          p->vmotion_seq, "handover.vmotion_seq");
    if (p->n_held > PW_HELD_MAX)
        return pw__fail(PW_E_INVALID, err, errlen,
                        "handover.held: %zu records (max %d)", p->n_held,
                        PW_HELD_MAX);
    h->n_held = (unsigned)p->n_held;
    for (size_t i = 0; i < p->n_held; i++) {
        const Vspc__HeldInput *q = p->held[i];
        struct pw_held *r = &h->held[i];
        size_t n;

        STR(r->operator_id, q->operator_id, "handover.held.operator_id");
        NEED(q->has_seq, "handover.held.seq");
        r->seq = q->seq;
        if (!q->has_bytes || q->bytes.len == 0)
            return pw__fail(PW_E_INVALID, err, errlen,
                            "handover.held[%zu]: no bytes", i);
        n = q->bytes.len;
        if (n > PW_INPUT_MAX || n > PW_HELD_BYTES_MAX - used)
            return pw__fail(
                PW_E_INVALID, err, errlen,
                "handover.held: more than %d bytes per record or %d "
                "in all",
                PW_INPUT_MAX, PW_HELD_BYTES_MAX);
        memcpy(h->held_bytes + used, q->bytes.data, n);
        r->off = (uint32_t)used;
        r->len = (uint32_t)n;
        used += n;
    }
    h->request_id = p->has_request_id ? p->request_id : 0;
    h->record_version = p->has_record_version ? p->record_version : 0;
    h->more = p->has_more && p->more;
    STR(h->write_lock, p->write_lock, "handover.write_lock");
    STR(h->exclusive, p->exclusive, "handover.exclusive");
    STR(h->src_host, p->src_host, "handover.src_host");
    if (p->n_followers > PW_FOLLOWERS_MAX)
        return pw__fail(PW_E_INVALID, err, errlen,
                        "handover.followers: %zu (max %d)", p->n_followers,
                        PW_FOLLOWERS_MAX);
    for (size_t i = 0; i < p->n_followers; i++)
        STR(h->followers[i], p->followers[i], "handover.followers");
    h->n_followers = (unsigned)p->n_followers;
    h->sb_from = p->has_scrollback_from ? p->scrollback_from : 0;
    BYTES(h->sb, &h->sb_len, p->has_scrollback, p->scrollback,
          "handover.scrollback");
    return PW_OK;
}

static int
s_dec_body(const Vspc__PeerFrame *e, struct pw_frame *f, char *err,
           size_t errlen)
{
    switch (e->body_case) {
    case VSPC__PEER_FRAME__BODY_HELLO: {
        const Vspc__PeerHello *p = e->hello;

        f->type = PW_HELLO;
        STR(f->u.hello.node_id, p->node_id, "hello.node_id");
        NEED(p->has_node_index, "hello.node_index");
        if (p->node_index > 255)
            return pw__fail(PW_E_INVALID, err, errlen,
                            "hello.node_index: %" PRIu32
                            " out of range (0-255)",
                            p->node_index);
        f->u.hello.node_index = (uint8_t)p->node_index;
        NEED(p->has_version, "hello.version");
        f->u.hello.version = p->version;
        NEED(p->has_incarnation, "hello.incarnation");
        f->u.hello.incarnation = p->incarnation;
        return PW_OK;
    }
    case VSPC__PEER_FRAME__BODY_SUBSCRIBE: {
        const Vspc__Subscribe *p = e->subscribe;
        struct pw_subscribe *s = &f->u.subscribe;

        f->type = PW_SUBSCRIBE;
        STR(s->console_id, p->console_id, "subscribe.console_id");
        NEED(p->has_from_offset, "subscribe.from_offset");
        NEED(p->has_epoch, "subscribe.epoch");
        NEED(p->has_sub_id, "subscribe.sub_id");
        NEED(p->has_credit, "subscribe.credit");
        s->from_offset = p->from_offset;
        s->epoch = p->epoch;
        s->sub_id = p->sub_id;
        s->credit = p->credit;
        STR(s->operator_id, p->operator_id, "subscribe.operator_id");
        STR(s->operator_name, p->operator_name, "subscribe.operator_name");
        s->lock = p->has_lock ? p->lock : 0;
        s->raw = p->has_raw && p->raw;
        return PW_OK;
    }
    case VSPC__PEER_FRAME__BODY_SUB_STATE: {
        const Vspc__SubState *p = e->sub_state;
        struct pw_sub_state *t = &f->u.sub_state;

        f->type = PW_SUB_STATE;
        NEED(p->has_sub_id, "sub-state.sub_id");
        NEED(p->has_status, "sub-state.status");
        t->sub_id = p->sub_id;
        t->status = (enum pw_sub_status)p->status;
        t->mode = p->has_mode ? p->mode : 0;
        t->offset = p->has_offset ? p->offset : 0;
        t->epoch = p->has_epoch ? p->epoch : 0;
        STR(t->text, p->text, "sub-state.text");
        return PW_OK;
    }
    case VSPC__PEER_FRAME__BODY_CONTROL:
        f->type = PW_CONTROL;
        NEED(e->control->has_sub_id, "control.sub_id");
        NEED(e->control->has_action, "control.action");
        f->u.control.sub_id = e->control->sub_id;
        f->u.control.action = (enum pw_control_action)e->control->action;
        return PW_OK;
    case VSPC__PEER_FRAME__BODY_UNSUBSCRIBE:
        f->type = PW_UNSUBSCRIBE;
        NEED(e->unsubscribe->has_sub_id, "unsubscribe.sub_id");
        f->u.unsubscribe.sub_id = e->unsubscribe->sub_id;
        return PW_OK;
    case VSPC__PEER_FRAME__BODY_DATA: {
        const Vspc__Data *p = e->data;
        struct pw_data *d = &f->u.data;

        f->type = PW_DATA;
        NEED(p->has_sub_id, "data.sub_id");
        NEED(p->has_epoch, "data.epoch");
        NEED(p->has_offset, "data.offset");
        d->sub_id = p->sub_id;
        d->epoch = p->epoch;
        d->offset = p->offset;
        BYTES(d->bytes, &d->len, p->has_bytes, p->bytes, "data.bytes");
        return PW_OK;
    }
    case VSPC__PEER_FRAME__BODY_GAP: {
        const Vspc__Gap *p = e->gap;

        f->type = PW_GAP;
        NEED(p->has_sub_id, "gap.sub_id");
        NEED(p->has_from, "gap.from");
        NEED(p->has_to, "gap.to");
        NEED(p->has_epoch, "gap.epoch");
        f->u.gap.sub_id = p->sub_id;
        f->u.gap.from = p->from;
        f->u.gap.to = p->to;
        f->u.gap.epoch = p->epoch;
        return PW_OK;
    }
    case VSPC__PEER_FRAME__BODY_TIP: {
        const Vspc__Tip *p = e->tip;

        f->type = PW_TIP;
        NEED(p->has_sub_id, "tip.sub_id");
        NEED(p->has_epoch, "tip.epoch");
        NEED(p->has_tip, "tip.tip");
        f->u.tip.sub_id = p->sub_id;
        f->u.tip.epoch = p->epoch;
        f->u.tip.tip = p->tip;
        return PW_OK;
    }
    case VSPC__PEER_FRAME__BODY_EVENT: {
        const Vspc__Event *p = e->event;

        f->type = PW_EVENT;
        NEED(p->has_sub_id, "event.sub_id");
        NEED(p->has_epoch, "event.epoch");
        NEED(p->has_offset, "event.offset");
        f->u.event.sub_id = p->sub_id;
        f->u.event.epoch = p->epoch;
        f->u.event.offset = p->offset;
        STR(f->u.event.text, p->text, "event.text");
        return PW_OK;
    }
    case VSPC__PEER_FRAME__BODY_CREDIT:
        f->type = PW_CREDIT;
        NEED(e->credit->has_sub_id, "credit.sub_id");
        NEED(e->credit->has_bytes, "credit.bytes");
        f->u.credit.sub_id = e->credit->sub_id;
        f->u.credit.bytes = e->credit->bytes;
        return PW_OK;
    case VSPC__PEER_FRAME__BODY_INPUT: {
        const Vspc__Input *p = e->input;
        struct pw_input *in = &f->u.input;

        f->type = PW_INPUT;
        STR(in->console_id, p->console_id, "input.console_id");
        STR(in->operator_id, p->operator_id, "input.operator_id");
        NEED(p->has_seq, "input.seq");
        NEED(p->has_epoch, "input.epoch");
        in->seq = p->seq;
        in->epoch = p->epoch;
        in->reclaim = p->has_reclaim && p->reclaim;
        if (in->reclaim && p->has_bytes && p->bytes.len > 0)
            return pw__fail(PW_E_INVALID, err, errlen,
                            "input: bytes with reclaim");
        if (!in->reclaim)
            BYTES(in->bytes, &in->len, p->has_bytes, p->bytes, "input.bytes");
        return PW_OK;
    }
    case VSPC__PEER_FRAME__BODY_INPUT_ACK: {
        const Vspc__InputAck *p = e->input_ack;

        f->type = PW_INPUT_ACK;
        STR(f->u.input_ack.console_id, p->console_id, "input-ack.console_id");
        STR(f->u.input_ack.operator_id, p->operator_id,
            "input-ack.operator_id");
        NEED(p->has_seq, "input-ack.seq");
        f->u.input_ack.seq = p->seq;
        return PW_OK;
    }
    case VSPC__PEER_FRAME__BODY_VALIDATE: {
        const Vspc__Validate *p = e->validate;
        struct pw_validate *v = &f->u.validate;

        f->type = PW_VALIDATE;
        NEED(p->has_request_id, "validate.request_id");
        v->request_id = p->request_id;
        STR(v->console_id, p->console_id, "validate.console_id");
        BYTES(v->seq, &v->seq_len, p->has_seq, p->seq, "validate.seq");
        BYTES(v->secret, &v->secret_len, p->has_secret, p->secret,
              "validate.secret");
        return PW_OK;
    }
    case VSPC__PEER_FRAME__BODY_VALIDATE_REPLY: {
        const Vspc__ValidateReply *p = e->validate_reply;
        struct pw_validate_reply *r = &f->u.validate_reply;

        f->type = PW_VALIDATE_REPLY;
        NEED(p->has_request_id, "validate-reply.request_id");
        NEED(p->has_ok, "validate-reply.ok");
        r->request_id = p->request_id;
        r->ok = p->ok != 0;
        STR(r->console_id, p->console_id, "validate-reply.console_id");
        if (r->ok)
            NEED(p->has_epoch, "validate-reply.epoch");
        r->epoch = p->has_epoch ? p->epoch : 0;
        return PW_OK;
    }
    case VSPC__PEER_FRAME__BODY_HANDOVER:
        f->type = PW_HANDOVER;
        return s_dec_handover(e->handover, &f->u.handover, err, errlen);
    case VSPC__PEER_FRAME__BODY_SPLICE: {
        const Vspc__Splice *p = e->splice;
        struct pw_splice *sp = &f->u.splice;

        f->type = PW_SPLICE;
        NEED(p->has_request_id, "splice.request_id");
        NEED(p->has_kind, "splice.kind");
        sp->request_id = p->request_id;
        sp->kind = (enum pw_splice_kind)p->kind;
        BYTES(sp->seq, &sp->seq_len, p->has_seq, p->seq, "splice.seq");
        return PW_OK;
    }
    default:
        return pw__fail(PW_E_NOBODY, err, errlen,
                        "no frame body (unknown type, or a coordinator message "
                        "on the peer port?)");
    }
}

/* Zero the part of the union the body case will fill (not all of it: a
 * Handover is tens of KiB, a Credit 16 bytes). */
static void
s_clear_body(struct pw_frame *f, Vspc__PeerFrame__BodyCase c)
{
    size_t n;

    switch (c) {
    case VSPC__PEER_FRAME__BODY_HELLO:
        n = sizeof(f->u.hello);
        break;
    case VSPC__PEER_FRAME__BODY_SUBSCRIBE:
        n = sizeof(f->u.subscribe);
        break;
    case VSPC__PEER_FRAME__BODY_DATA:
        n = offsetof(struct pw_data, bytes);
        break;
    case VSPC__PEER_FRAME__BODY_EVENT:
        n = sizeof(f->u.event);
        break;
    case VSPC__PEER_FRAME__BODY_SUB_STATE:
        n = sizeof(f->u.sub_state);
        break;
    case VSPC__PEER_FRAME__BODY_INPUT:
        n = offsetof(struct pw_input, bytes);
        break;
    case VSPC__PEER_FRAME__BODY_INPUT_ACK:
        n = sizeof(f->u.input_ack);
        break;
    case VSPC__PEER_FRAME__BODY_VALIDATE:
        n = sizeof(f->u.validate);
        break;
    case VSPC__PEER_FRAME__BODY_VALIDATE_REPLY:
        n = sizeof(f->u.validate_reply);
        break;
    case VSPC__PEER_FRAME__BODY_HANDOVER:
        n = offsetof(struct pw_handover, held_bytes);
        break;
    case VSPC__PEER_FRAME__BODY_SPLICE:
        n = sizeof(f->u.splice);
        break;
    default:
        n = sizeof(struct pw_gap); /* the small fixed ones */
        break;
    }
    memset(&f->u, 0, n);
}

int
pw_decode(const void *buf, size_t len, struct pw_frame *out, char *err,
          size_t errlen)
{
    Vspc__PeerFrame *e;
    int rc;

    out->type = 0;
    if (errlen > 0)
        err[0] = '\0';
    if (len == 0)
        return pw__fail(PW_E_EMPTY, err, errlen, "empty frame");
    /* Before unpacking: protobuf-c allocates in proportion to the input. */
    if (len > PW_MAX_FRAME)
        return pw__fail(PW_E_OVERSIZE, err, errlen,
                        "oversized frame: %zu bytes (max %d)", len,
                        PW_MAX_FRAME);
    e = vspc__peer_frame__unpack(NULL, len, buf);
    if (e == NULL)
        return pw__fail(PW_E_MALFORMED, err, errlen,
                        "malformed frame: not a protobuf PeerFrame (%zu bytes)",
                        len);
    if (!e->has_version) {
        rc = pw__fail(PW_E_VERSION, err, errlen,
                      "no version field (want version %d)", PW_VERSION);
    } else if (e->version != PW_VERSION) {
        rc = pw__fail(PW_E_VERSION, err, errlen,
                      "unsupported version %" PRIu32 " (want %d)", e->version,
                      PW_VERSION);
    } else {
        s_clear_body(out, e->body_case);
        rc = s_dec_body(e, out, err, errlen);
        if (rc == PW_OK)
            rc = pw_validate(out, err, errlen);
    }
    vspc__peer_frame__free_unpacked(e, NULL);
    if (rc != PW_OK)
        out->type = 0;
    return rc;
}
