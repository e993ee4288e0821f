/*
 * peerwire_enc.c: the peer link codec's encoder (pw_encode); see
 * peerwire.h. pw_validate first, then pack into the caller's buffer: a
 * sender can never emit what a receiver drops.
 */
#include "vspc/compat.h"
#include "peerwire.h"

#include <stdint.h>
#include <string.h>

#include "peerwire_int.h"
#include "vspc.pb-c.h"

/* ---- encode -------------------------------------------------------------- */

/*
 * The generated structs point into f: char * for the strings, uint8_t *
 * for the bytes (protobuf-c does not write through them when packing).
 * The casts drop const only.
 */
#define CS(s) ((char *)(uintptr_t)(const char *)(s))
#define CB(p) ((uint8_t *)(uintptr_t)(const uint8_t *)(p))

static ProtobufCBinaryData
s_bin(const uint8_t *p, size_t n)
{
    ProtobufCBinaryData b = {.len = n, .data = CB(p)};

    return b;
}

/* Storage for one frame's body: at most one of each is used. */
struct enc {
    Vspc__PeerFrame pf;
    union {
        Vspc__PeerHello hello;
        Vspc__Subscribe subscribe;
        Vspc__Unsubscribe unsubscribe;
        Vspc__Data data;
        Vspc__Gap gap;
        Vspc__Tip tip;
        Vspc__Event event;
        Vspc__Credit credit;
        Vspc__Input input;
        Vspc__InputAck input_ack;
        Vspc__Validate validate;
        Vspc__ValidateReply validate_reply;
        Vspc__Handover handover;
        Vspc__SubState sub_state;
        Vspc__Control control;
        Vspc__Splice splice;
    } b;
    Vspc__HeldInput held[PW_HELD_MAX];
    Vspc__HeldInput *heldp[PW_HELD_MAX];
    char *followersp[PW_FOLLOWERS_MAX];
};

static void
s_enc_handover(const struct pw_handover *h, struct enc *x)
{
    Vspc__Handover *p = &x->b.handover;

    vspc__handover__init(p);
    p->console_id = CS(h->console_id);
    p->has_epoch = 1;
    p->epoch = h->epoch;
    p->has_offset = 1;
    p->offset = h->offset;
    p->has_old_epoch = 1;
    p->old_epoch = h->old_epoch;
    p->vm_name = CS(h->vm_name);
    if (h->vmotion_seq_len > 0) {
        p->has_vmotion_seq = 1;
        p->vmotion_seq = s_bin(h->vmotion_seq, h->vmotion_seq_len);
    }
    for (unsigned i = 0; i < h->n_held; i++) {
        Vspc__HeldInput *q = &x->held[i];

        vspc__held_input__init(q);
        q->operator_id = CS(h->held[i].operator_id);
        q->has_seq = 1;
        q->seq = h->held[i].seq;
        q->has_bytes = 1;
        q->bytes = s_bin(h->held_bytes + h->held[i].off, h->held[i].len);
        x->heldp[i] = q;
    }
    p->n_held = h->n_held;
    p->held = h->n_held ? x->heldp : NULL;
    if (h->request_id) {
        p->has_request_id = 1;
        p->request_id = h->request_id;
    }
    if (h->record_version) {
        p->has_record_version = 1;
        p->record_version = h->record_version;
    }
    if (h->more) {
        p->has_more = 1;
        p->more = 1;
    }
    p->write_lock = h->write_lock[0] ? CS(h->write_lock) : NULL;
    p->exclusive = h->exclusive[0] ? CS(h->exclusive) : NULL;
    p->src_host = h->src_host[0] ? CS(h->src_host) : NULL;
    for (unsigned i = 0; i < h->n_followers && i < PW_FOLLOWERS_MAX; i++)
        x->followersp[i] = CS(h->followers[i]);
    p->n_followers =
        h->n_followers < PW_FOLLOWERS_MAX ? h->n_followers : PW_FOLLOWERS_MAX;
    p->followers = p->n_followers ? x->followersp : NULL;
    if (h->sb_len > 0) {
        p->has_scrollback_from = 1;
        p->scrollback_from = h->sb_from;
        p->has_scrollback = 1;
        p->scrollback = s_bin(h->sb, h->sb_len);
    }
    x->pf.body_case = VSPC__PEER_FRAME__BODY_HANDOVER;
    x->pf.handover = p;
}

/* f was validated. */
static void
s_enc_build(const struct pw_frame *f, struct enc *x)
{
    Vspc__PeerFrame *e = &x->pf;

    vspc__peer_frame__init(e);
    e->has_version = 1;
    e->version = PW_VERSION;
    switch (f->type) {
    case PW_HELLO: {
        Vspc__PeerHello *p = &x->b.hello;

        vspc__peer_hello__init(p);
        p->node_id = CS(f->u.hello.node_id);
        p->has_node_index = 1;
        p->node_index = f->u.hello.node_index;
        p->has_version = 1;
        p->version = f->u.hello.version;
        p->has_incarnation = 1;
        p->incarnation = f->u.hello.incarnation;
        e->body_case = VSPC__PEER_FRAME__BODY_HELLO;
        e->hello = p;
        break;
    }
    case PW_SUBSCRIBE: {
        Vspc__Subscribe *p = &x->b.subscribe;
        const struct pw_subscribe *s = &f->u.subscribe;

        vspc__subscribe__init(p);
        p->console_id = CS(s->console_id);
        p->has_from_offset = 1;
        p->from_offset = s->from_offset;
        p->has_epoch = 1;
        p->epoch = s->epoch;
        p->has_sub_id = 1;
        p->sub_id = s->sub_id;
        p->has_credit = 1;
        p->credit = s->credit;
        if (s->operator_id[0]) {
            p->operator_id = CS(s->operator_id);
            p->operator_name = CS(s->operator_name);
            p->has_lock = 1;
            p->lock = s->lock;
            p->has_raw = 1;
            p->raw = s->raw;
        }
        e->body_case = VSPC__PEER_FRAME__BODY_SUBSCRIBE;
        e->subscribe = p;
        break;
    }
    case PW_UNSUBSCRIBE:
        vspc__unsubscribe__init(&x->b.unsubscribe);
        x->b.unsubscribe.has_sub_id = 1;
        x->b.unsubscribe.sub_id = f->u.unsubscribe.sub_id;
        e->body_case = VSPC__PEER_FRAME__BODY_UNSUBSCRIBE;
        e->unsubscribe = &x->b.unsubscribe;
        break;
    case PW_DATA: {
        Vspc__Data *p = &x->b.data;
        const struct pw_data *d = &f->u.data;

        vspc__data__init(p);
        p->has_sub_id = 1;
        p->sub_id = d->sub_id;
        p->has_epoch = 1;
        p->epoch = d->epoch;
        p->has_offset = 1;
        p->offset = d->offset;
        p->has_bytes = 1;
        p->bytes = s_bin(d->bytes, d->len);
        e->body_case = VSPC__PEER_FRAME__BODY_DATA;
        e->data = p;
        break;
    }
    case PW_GAP: {
        Vspc__Gap *p = &x->b.gap;

        vspc__gap__init(p);
        p->has_sub_id = 1;
        p->sub_id = f->u.gap.sub_id;
        p->has_from = 1;
        p->from = f->u.gap.from;
        p->has_to = 1;
        p->to = f->u.gap.to;
        p->has_epoch = 1;
        p->epoch = f->u.gap.epoch;
        e->body_case = VSPC__PEER_FRAME__BODY_GAP;
        e->gap = p;
        break;
    }
    case PW_TIP: {
        Vspc__Tip *p = &x->b.tip;

        vspc__tip__init(p);
        p->has_sub_id = 1;
        p->sub_id = f->u.tip.sub_id;
        p->has_epoch = 1;
        p->epoch = f->u.tip.epoch;
        p->has_tip = 1;
        p->tip = f->u.tip.tip;
        e->body_case = VSPC__PEER_FRAME__BODY_TIP;
        e->tip = p;
        break;
    }
    case PW_EVENT: {
        Vspc__Event *p = &x->b.event;

        vspc__event__init(p);
        p->has_sub_id = 1;
        p->sub_id = f->u.event.sub_id;
        p->has_epoch = 1;
        p->epoch = f->u.event.epoch;
        p->has_offset = 1;
        p->offset = f->u.event.offset;
        p->text = CS(f->u.event.text);
        e->body_case = VSPC__PEER_FRAME__BODY_EVENT;
        e->event = p;
        break;
    }
    case PW_CREDIT:
        vspc__credit__init(&x->b.credit);
        x->b.credit.has_sub_id = 1;
        x->b.credit.sub_id = f->u.credit.sub_id;
        x->b.credit.has_bytes = 1;
        x->b.credit.bytes = f->u.credit.bytes;
        e->body_case = VSPC__PEER_FRAME__BODY_CREDIT;
        e->credit = &x->b.credit;
        break;
    case PW_INPUT: {
        Vspc__Input *p = &x->b.input;
        const struct pw_input *in = &f->u.input;

        vspc__input__init(p);
        p->console_id = CS(in->console_id);
        p->operator_id = CS(in->operator_id);
        p->has_seq = 1;
        p->seq = in->seq;
        if (in->reclaim) {
            p->has_reclaim = 1;
            p->reclaim = 1;
        } else {
            p->has_bytes = 1;
            p->bytes = s_bin(in->bytes, in->len);
        }
        p->has_epoch = 1;
        p->epoch = in->epoch;
        e->body_case = VSPC__PEER_FRAME__BODY_INPUT;
        e->input = p;
        break;
    }
    case PW_INPUT_ACK: {
        Vspc__InputAck *p = &x->b.input_ack;

        vspc__input_ack__init(p);
        p->console_id = CS(f->u.input_ack.console_id);
        p->operator_id = CS(f->u.input_ack.operator_id);
        p->has_seq = 1;
        p->seq = f->u.input_ack.seq;
        e->body_case = VSPC__PEER_FRAME__BODY_INPUT_ACK;
        e->input_ack = p;
        break;
    }
    case PW_VALIDATE: {
        Vspc__Validate *p = &x->b.validate;
        const struct pw_validate *v = &f->u.validate;

        vspc__validate__init(p);
        p->has_request_id = 1;
        p->request_id = v->request_id;
        p->console_id = v->console_id[0] ? CS(v->console_id) : NULL;
        p->has_seq = 1;
        p->seq = s_bin(v->seq, v->seq_len);
        p->has_secret = 1;
        p->secret = s_bin(v->secret, v->secret_len);
        e->body_case = VSPC__PEER_FRAME__BODY_VALIDATE;
        e->validate = p;
        break;
    }
    case PW_VALIDATE_REPLY: {
        Vspc__ValidateReply *p = &x->b.validate_reply;
        const struct pw_validate_reply *r = &f->u.validate_reply;

        vspc__validate_reply__init(p);
        p->has_request_id = 1;
        p->request_id = r->request_id;
        p->has_ok = 1;
        p->ok = r->ok;
        p->console_id = r->console_id[0] ? CS(r->console_id) : NULL;
        p->has_epoch = 1;
        p->epoch = r->epoch;
        e->body_case = VSPC__PEER_FRAME__BODY_VALIDATE_REPLY;
        e->validate_reply = p;
        break;
    }
    case PW_HANDOVER:
        s_enc_handover(&f->u.handover, x);
        break;
    case PW_SUB_STATE: {
        Vspc__SubState *p = &x->b.sub_state;
        const struct pw_sub_state *t = &f->u.sub_state;

        vspc__sub_state__init(p);
        p->has_sub_id = 1;
        p->sub_id = t->sub_id;
        p->has_status = 1;
        p->status = (Vspc__SubState__Status)t->status;
        p->has_mode = 1;
        p->mode = t->mode;
        p->has_offset = 1;
        p->offset = t->offset;
        p->has_epoch = 1;
        p->epoch = t->epoch;
        p->text = t->text[0] ? CS(t->text) : NULL;
        e->body_case = VSPC__PEER_FRAME__BODY_SUB_STATE;
        e->sub_state = p;
        break;
    }
    case PW_SPLICE:
        vspc__splice__init(&x->b.splice);
        x->b.splice.has_request_id = 1;
        x->b.splice.request_id = f->u.splice.request_id;
        x->b.splice.has_kind = 1;
        x->b.splice.kind = (Vspc__Splice__Kind)f->u.splice.kind;
        if (f->u.splice.seq_len > 0) {
            x->b.splice.has_seq = 1;
            x->b.splice.seq = s_bin(f->u.splice.seq, f->u.splice.seq_len);
        }
        e->body_case = VSPC__PEER_FRAME__BODY_SPLICE;
        e->splice = &x->b.splice;
        break;
    case PW_CONTROL:
        vspc__control__init(&x->b.control);
        x->b.control.has_sub_id = 1;
        x->b.control.sub_id = f->u.control.sub_id;
        x->b.control.has_action = 1;
        x->b.control.action = (Vspc__Control__Action)f->u.control.action;
        e->body_case = VSPC__PEER_FRAME__BODY_CONTROL;
        e->control = &x->b.control;
        break;
    default: /* refused by pw_validate */
        break;
    }
}

int
pw_encode(const struct pw_frame *f, uint8_t *out, size_t cap, size_t *outlen,
          char *err, size_t errlen)
{
    struct enc x;
    size_t len;
    int rc;

    *outlen = 0;
    if (errlen > 0)
        err[0] = '\0';
    if ((rc = pw_validate(f, err, errlen)) != PW_OK)
        return rc;
    s_enc_build(f, &x);
    len = vspc__peer_frame__get_packed_size(&x.pf);
    if (len > PW_MAX_FRAME)
        return pw__fail(PW_E_OVERSIZE, err, errlen,
                        "encoded %s is %zu bytes (max %d)",
                        pw_type_str(f->type), len, PW_MAX_FRAME);
    if (len > cap) {
        *outlen = len;
        return pw__fail(PW_E_SPACE, err, errlen,
                        "encoded %s is %zu bytes, buffer %zu",
                        pw_type_str(f->type), len, cap);
    }
    vspc__peer_frame__pack(&x.pf, out);
    *outlen = len;
    return PW_OK;
}
