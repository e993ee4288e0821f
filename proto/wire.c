/*
 * wire.c: the coordinator link's codec (wire_): struct wire_msg <->
 * Envelope (vspc.proto). The only file that includes the generated
 * header; see wire.h for why.
 *
 * Decode order: length, unpack, version, body, fields. Every string is
 * copied into a fixed-size field after its bound and character set were
 * checked, so a decoded message is safe to log and to store.
 */
#include "vspc/compat.h"
#include "wire.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vspc.pb-c.h"

static const char *const wire_type_names[WIRE_TYPE__COUNT] = {
    [WIRE_REGISTER] = "register",
    [WIRE_REGISTER_REPLY] = "register-reply",
    [WIRE_HEARTBEAT] = "heartbeat",
    [WIRE_HEARTBEAT_REPLY] = "heartbeat-reply",
    [WIRE_ANNOUNCE] = "announce",
    [WIRE_WITHDRAW] = "withdraw",
    [WIRE_SNAPSHOT_REQUEST] = "snapshot-request",
    [WIRE_SNAPSHOT_ENTRY] = "snapshot-entry",
    [WIRE_SNAPSHOT_NODE] = "snapshot-node",
    [WIRE_SNAPSHOT_END] = "snapshot-end",
    [WIRE_UPDATE] = "update",
    [WIRE_HUGZ] = "hugz",
    [WIRE_BSTAR] = "bstar-state",
    [WIRE_NOT_ACTIVE] = "not-active",
};

const char *
wire_type_str(enum wire_type t)
{
    if ((int)t <= 0 || t >= WIRE_TYPE__COUNT)
        return "???";
    return wire_type_names[t];
}

const char *
wire_err_str(int err)
{
    switch (err) {
    case WIRE_OK:
        return "ok";
    case WIRE_E_EMPTY:
        return "empty";
    case WIRE_E_OVERSIZE:
        return "oversized";
    case WIRE_E_MALFORMED:
        return "malformed";
    case WIRE_E_VERSION:
        return "version";
    case WIRE_E_NOBODY:
        return "no-body";
    case WIRE_E_INVALID:
        return "invalid";
    case WIRE_E_NOMEM:
        return "no-memory";
    }
    return "???";
}

static int VSPC_PRINTF(4, 5)
    s_fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- field checks ---------------------------------------------------- */

enum str_kind {
    K_TEXT,    /* any bytes but controls (0x00-0x1f, 0x7f); may be "" */
    K_TOKEN,   /* printable ASCII, no space; not empty */
    K_CONSOLE, /* a console id */
    K_ADDR,    /* printable ASCII "host:port"; not empty */
};

static bool
s_hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool
s_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool
wire_valid_console_id(const char *s)
{
    size_t n = strnlen(s, WIRE_CONSOLE_ID_MAX + 1), label;

    if (n < 32 || n > WIRE_CONSOLE_ID_MAX)
        return false;
    for (size_t i = 0; i < 32; i++)
        if (!s_hex_lower(s[i]))
            return false;
    if (n == 32)
        return true;
    if (s[32] != '.')
        return false;
    label = n - 33;
    if (label < 1 || label > WIRE_LABEL_MAX)
        return false;
    for (size_t i = 33; i < n; i++)
        if (!s_label_char(s[i]))
            return false;
    return true;
}

bool
wire_is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

bool
wire_valid_node_id(const char *s)
{
    size_t n = strnlen(s, WIRE_NODE_ID_MAX + 1);

    return n <= WIRE_NODE_ID_MAX && wire_is_token(s, n);
}

/* "host:port", port 1-65535, host non-empty. */
static bool
s_addr(const char *s, size_t n)
{
    const char *colon;
    unsigned long port = 0;
    size_t digits;

    if (!wire_is_token(s, n) || (colon = strrchr(s, ':')) == NULL || colon == s)
        return false;
    digits = n - (size_t)(colon + 1 - s);
    if (digits < 1 || digits > 5)
        return false;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    return port >= 1 && port <= 65535;
}

bool
wire_valid_addr(const char *s)
{
    size_t n = strnlen(s, WIRE_PEER_ADDR_MAX + 1);

    return n <= WIRE_PEER_ADDR_MAX && s_addr(s, n);
}

bool
wire_is_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return false;
    return true;
}

/*
 * Check src (NULL = absent) and copy it into dst[cap]. what names the
 * field in the error. Returns WIRE_OK or WIRE_E_INVALID.
 */
static int
s_str(char *dst, size_t cap, const char *src, enum str_kind kind, bool required,
      const char *what, char *err, size_t errlen)
{
    size_t n;
    bool ok;

    if (src == NULL) {
        if (required)
            return s_fail(WIRE_E_INVALID, err, errlen, "%s: missing", what);
        dst[0] = '\0';
        return WIRE_OK;
    }
    n = strnlen(src, cap);
    if (n >= cap)
        return s_fail(WIRE_E_INVALID, err, errlen, "%s: longer than %zu bytes",
                      what, cap - 1);
    switch (kind) {
    case K_TEXT:
        ok = wire_is_text(src, n) && (n > 0 || !required);
        break;
    case K_TOKEN:
        ok = wire_is_token(src, n);
        break;
    case K_CONSOLE:
        ok = wire_valid_console_id(src);
        break;
    case K_ADDR:
        ok = s_addr(src, n);
        break;
    default:
        ok = false;
    }
    if (!ok) {
        static const char *const want[] = {
            [K_TEXT] = "text without control characters",
            [K_TOKEN] = "printable characters, no spaces",
            [K_CONSOLE] = "32 lowercase hex digits [.label]",
            [K_ADDR] = "host:port",
        };

        return s_fail(WIRE_E_INVALID, err, errlen, "%s: bad value (want %s)",
                      what, want[kind]);
    }
    memcpy(dst, src, n + 1);
    return WIRE_OK;
}

/* Presence of a scalar. */
#define NEED(has, what)                                                        \
    do {                                                                       \
        if (!(has))                                                            \
            return s_fail(WIRE_E_INVALID, err, errlen, "%s: missing", what);   \
    } while (0)

#define STR(dst, src, kind, req, what)                                         \
    do {                                                                       \
        int rc_ = s_str((dst), sizeof(dst), (src), (kind), (req), (what), err, \
                        errlen);                                               \
        if (rc_ != WIRE_OK)                                                    \
            return rc_;                                                        \
    } while (0)

static int
s_index(uint32_t v, bool has, uint8_t *out, const char *what, char *err,
        size_t errlen)
{
    NEED(has, what);
    if (v > 255)
        return s_fail(WIRE_E_INVALID, err, errlen,
                      "%s: %" PRIu32 " out of range (0-255)", what, v);
    *out = (uint8_t)v;
    return WIRE_OK;
}

#define INDEX(dst, v, has, what)                                               \
    do {                                                                       \
        int rc_ = s_index((v), (has), &(dst), (what), err, errlen);            \
        if (rc_ != WIRE_OK)                                                    \
            return rc_;                                                        \
    } while (0)

/* ---- decode ------------------------------------------------------------ */

static int
s_dec_console(const Vspc__ConsoleEntry *p, struct wire_console *c,
              const char *what, char *err, size_t errlen)
{
    char w[64];

    if (p == NULL)
        return s_fail(WIRE_E_INVALID, err, errlen, "%s: missing", what);
#define W(f) (snprintf(w, sizeof(w), "%s.%s", what, f), w)
    STR(c->id, p->id, K_CONSOLE, true, W("id"));
    STR(c->vm_name, p->vm_name, K_TEXT, false, W("vm_name"));
    NEED(p->has_epoch, W("epoch"));
    c->epoch = p->epoch;
    STR(c->state, p->state, K_TOKEN, true, W("state"));
    STR(c->hv_addr, p->hv_addr, K_TEXT, false, W("hv_addr"));
    STR(c->owner, p->owner, K_TOKEN, true, W("owner"));
    INDEX(c->owner_index, p->owner_index, p->has_owner_index, W("owner_index"));
#undef W
    return WIRE_OK;
}

static int
s_dec_node(const Vspc__NodeEntry *p, struct wire_node *n, const char *what,
           char *err, size_t errlen)
{
    char w[64];

    if (p == NULL)
        return s_fail(WIRE_E_INVALID, err, errlen, "%s: missing", what);
#define W(f) (snprintf(w, sizeof(w), "%s.%s", what, f), w)
    STR(n->node_id, p->node_id, K_TOKEN, true, W("node_id"));
    INDEX(n->node_index, p->node_index, p->has_node_index, W("node_index"));
    STR(n->peer_addr, p->peer_addr, K_ADDR, true, W("peer_addr"));
    NEED(p->has_alive, W("alive"));
    n->alive = p->alive;
#undef W
    return WIRE_OK;
}

static int
s_dec_update(const Vspc__Update *p, struct wire_update *u, char *err,
             size_t errlen)
{
    NEED(p->has_seq, "update.seq");
    NEED(p->has_incarnation, "update.incarnation");
    u->seq = p->seq;
    u->incarnation = p->incarnation;
    switch (p->change_case) {
    case VSPC__UPDATE__CHANGE_UPSERT:
        u->change = WIRE_CHANGE_UPSERT;
        return s_dec_console(p->upsert, &u->u.upsert, "update.upsert", err,
                             errlen);
    case VSPC__UPDATE__CHANGE_REMOVED:
        u->change = WIRE_CHANGE_REMOVED;
        STR(u->u.removed.id, p->removed->id, K_CONSOLE, true,
            "update.removed.id");
        NEED(p->removed->has_epoch, "update.removed.epoch");
        u->u.removed.epoch = p->removed->epoch;
        return WIRE_OK;
    case VSPC__UPDATE__CHANGE_NODE:
        u->change = WIRE_CHANGE_NODE;
        return s_dec_node(p->node, &u->u.node, "update.node", err, errlen);
    default:
        return s_fail(WIRE_E_INVALID, err, errlen, "update: no change");
    }
}

static int
s_dec_body(const Vspc__Envelope *e, struct wire_msg *m, char *err,
           size_t errlen)
{
    switch (e->body_case) {
    case VSPC__ENVELOPE__BODY_REG: {
        struct wire_register *r = &m->u.reg;

        m->type = WIRE_REGISTER;
        STR(r->node_id, e->reg->node_id, K_TOKEN, true, "register.node_id");
        INDEX(r->node_index, e->reg->node_index, e->reg->has_node_index,
              "register.node_index");
        STR(r->peer_addr, e->reg->peer_addr, K_ADDR, true,
            "register.peer_addr");
        NEED(e->reg->has_incarnation, "register.incarnation");
        r->incarnation = e->reg->incarnation;
        return WIRE_OK;
    }
    case VSPC__ENVELOPE__BODY_REG_REPLY: {
        struct wire_register_reply *r = &m->u.reg_reply;

        m->type = WIRE_REGISTER_REPLY;
        NEED(e->reg_reply->has_ok, "register-reply.ok");
        r->ok = e->reg_reply->ok;
        STR(r->reason, e->reg_reply->reason, K_TEXT, false,
            "register-reply.reason");
        NEED(e->reg_reply->has_incarnation, "register-reply.incarnation");
        r->incarnation = e->reg_reply->incarnation;
        r->term = e->reg_reply->term;
        return WIRE_OK;
    }
    case VSPC__ENVELOPE__BODY_HEARTBEAT:
        m->type = WIRE_HEARTBEAT;
        STR(m->u.heartbeat.node_id, e->heartbeat->node_id, K_TOKEN, true,
            "heartbeat.node_id");
        NEED(e->heartbeat->has_incarnation, "heartbeat.incarnation");
        m->u.heartbeat.incarnation = e->heartbeat->incarnation;
        return WIRE_OK;
    case VSPC__ENVELOPE__BODY_HEARTBEAT_REPLY:
        m->type = WIRE_HEARTBEAT_REPLY;
        NEED(e->heartbeat_reply->has_incarnation,
             "heartbeat-reply.incarnation");
        NEED(e->heartbeat_reply->has_registered, "heartbeat-reply.registered");
        m->u.heartbeat_reply.incarnation = e->heartbeat_reply->incarnation;
        m->u.heartbeat_reply.registered = e->heartbeat_reply->registered;
        m->u.heartbeat_reply.term = e->heartbeat_reply->term;
        return WIRE_OK;
    case VSPC__ENVELOPE__BODY_ANNOUNCE:
        m->type = WIRE_ANNOUNCE;
        return s_dec_console(e->announce->console, &m->u.announce,
                             "announce.console", err, errlen);
    case VSPC__ENVELOPE__BODY_WITHDRAW: {
        struct wire_withdraw *w = &m->u.withdraw;

        m->type = WIRE_WITHDRAW;
        STR(w->console_id, e->withdraw->console_id, K_CONSOLE, true,
            "withdraw.console_id");
        NEED(e->withdraw->has_epoch, "withdraw.epoch");
        w->epoch = e->withdraw->epoch;
        STR(w->node_id, e->withdraw->node_id, K_TOKEN, true,
            "withdraw.node_id");
        return WIRE_OK;
    }
    case VSPC__ENVELOPE__BODY_SNAPSHOT_REQUEST:
        m->type = WIRE_SNAPSHOT_REQUEST;
        m->u.snapshot_request.request_id = e->snapshot_request->request_id;
        return WIRE_OK;
    case VSPC__ENVELOPE__BODY_SNAPSHOT_ENTRY:
        m->type = WIRE_SNAPSHOT_ENTRY;
        return s_dec_console(e->snapshot_entry->console, &m->u.snapshot_entry,
                             "snapshot-entry.console", err, errlen);
    case VSPC__ENVELOPE__BODY_SNAPSHOT_NODE:
        m->type = WIRE_SNAPSHOT_NODE;
        return s_dec_node(e->snapshot_node->node, &m->u.snapshot_node,
                          "snapshot-node.node", err, errlen);
    case VSPC__ENVELOPE__BODY_SNAPSHOT_END:
        m->type = WIRE_SNAPSHOT_END;
        NEED(e->snapshot_end->has_seq, "snapshot-end.seq");
        NEED(e->snapshot_end->has_incarnation, "snapshot-end.incarnation");
        m->u.snapshot_end.seq = e->snapshot_end->seq;
        m->u.snapshot_end.incarnation = e->snapshot_end->incarnation;
        m->u.snapshot_end.request_id = e->snapshot_end->request_id;
        return WIRE_OK;
    case VSPC__ENVELOPE__BODY_UPDATE:
        m->type = WIRE_UPDATE;
        return s_dec_update(e->update, &m->u.update, err, errlen);
    case VSPC__ENVELOPE__BODY_HUGZ:
        m->type = WIRE_HUGZ;
        NEED(e->hugz->has_seq, "hugz.seq");
        NEED(e->hugz->has_incarnation, "hugz.incarnation");
        m->u.hugz.seq = e->hugz->seq;
        m->u.hugz.incarnation = e->hugz->incarnation;
        return WIRE_OK;
    case VSPC__ENVELOPE__BODY_BSTAR:
        m->type = WIRE_BSTAR;
        NEED(e->bstar->has_state, "bstar.state");
        NEED(e->bstar->has_term, "bstar.term");
        if (e->bstar->state < VSPC__BSTAR_STATE__STATE__PRIMARY ||
            e->bstar->state > VSPC__BSTAR_STATE__STATE__PASSIVE)
            return s_fail(WIRE_E_INVALID, err, errlen,
                          "bstar.state: %d is not a state",
                          (int)e->bstar->state);
        m->u.bstar.state = (enum wire_bstar_state)e->bstar->state;
        m->u.bstar.term = e->bstar->term;
        m->u.bstar.incarnation = e->bstar->incarnation;
        return WIRE_OK;
    case VSPC__ENVELOPE__BODY_NOT_ACTIVE:
        m->type = WIRE_NOT_ACTIVE;
        m->u.not_active.term = e->not_active->term;
        STR(m->u.not_active.reason, e->not_active->reason, K_TEXT, false,
            "not-active.reason");
        return WIRE_OK;
    default:
        return s_fail(WIRE_E_NOBODY, err, errlen,
                      "no message body (unknown type, or a peer-link frame "
                      "on the coordinator port?)");
    }
}

int
wire_decode(const void *buf, size_t len, struct wire_msg *out, char *err,
            size_t errlen)
{
    Vspc__Envelope *e;
    int rc;

    memset(out, 0, sizeof(*out));
    if (errlen > 0)
        err[0] = '\0';
    if (len == 0)
        return s_fail(WIRE_E_EMPTY, err, errlen, "empty frame");
    /* Before unpacking: protobuf-c allocates in proportion to the input. */
    if (len > WIRE_MAX_MSG)
        return s_fail(WIRE_E_OVERSIZE, err, errlen,
                      "oversized frame: %zu bytes (max %d)", len, WIRE_MAX_MSG);
    e = vspc__envelope__unpack(NULL, len, buf);
    if (e == NULL)
        return s_fail(WIRE_E_MALFORMED, err, errlen,
                      "malformed frame: not a protobuf Envelope (%zu bytes)",
                      len);
    if (!e->has_version)
        rc = s_fail(WIRE_E_VERSION, err, errlen,
                    "no version field (want version %d)", WIRE_VERSION);
    else if (e->version != WIRE_VERSION)
        rc = s_fail(WIRE_E_VERSION, err, errlen,
                    "unsupported version %" PRIu32 " (want %d)", e->version,
                    WIRE_VERSION);
    else
        rc = s_dec_body(e, out, err, errlen);
    vspc__envelope__free_unpacked(e, NULL);
    if (rc != WIRE_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* ---- encode ------------------------------------------------------------ */

/*
 * The generated structs point into m: char * for the strings (protobuf-c
 * does not write through them when packing). The casts drop const only.
 */
#define CS(s) ((char *)(uintptr_t)(const char *)(s))

static void
s_enc_console(const struct wire_console *c, Vspc__ConsoleEntry *p)
{
    vspc__console_entry__init(p);
    p->id = CS(c->id);
    p->vm_name = CS(c->vm_name);
    p->has_epoch = 1;
    p->epoch = c->epoch;
    p->state = CS(c->state);
    p->hv_addr = CS(c->hv_addr);
    p->owner = CS(c->owner);
    p->has_owner_index = 1;
    p->owner_index = c->owner_index;
}

static void
s_enc_node(const struct wire_node *n, Vspc__NodeEntry *p)
{
    vspc__node_entry__init(p);
    p->node_id = CS(n->node_id);
    p->has_node_index = 1;
    p->node_index = n->node_index;
    p->peer_addr = CS(n->peer_addr);
    p->has_alive = 1;
    p->alive = n->alive;
}

/* Storage for one envelope's body: at most one of each is used. */
struct enc {
    Vspc__Envelope env;
    union {
        Vspc__Register reg;
        Vspc__RegisterReply reg_reply;
        Vspc__Heartbeat heartbeat;
        Vspc__HeartbeatReply heartbeat_reply;
        Vspc__Announce announce;
        Vspc__Withdraw withdraw;
        Vspc__SnapshotRequest snapshot_request;
        Vspc__SnapshotEntry snapshot_entry;
        Vspc__SnapshotNode snapshot_node;
        Vspc__SnapshotEnd snapshot_end;
        Vspc__Update update;
        Vspc__Hugz hugz;
        Vspc__BstarState bstar;
        Vspc__NotActive not_active;
    } b;
    Vspc__ConsoleEntry console;
    Vspc__NodeEntry node;
    Vspc__ConsoleRemoved removed;
};

/* Every string field of m ends within its array (else packing would read
 * past it). A struct from wire_decode or built with snprintf always does. */
static bool
s_terminated(const struct wire_msg *m)
{
#define T(f) (memchr((f), '\0', sizeof(f)) != NULL)
    const struct wire_console *c = NULL;
    const struct wire_node *n = NULL;

    switch (m->type) {
    case WIRE_REGISTER:
        return T(m->u.reg.node_id) && T(m->u.reg.peer_addr);
    case WIRE_REGISTER_REPLY:
        return T(m->u.reg_reply.reason);
    case WIRE_NOT_ACTIVE:
        return T(m->u.not_active.reason);
    case WIRE_HEARTBEAT:
        return T(m->u.heartbeat.node_id);
    case WIRE_WITHDRAW:
        return T(m->u.withdraw.console_id) && T(m->u.withdraw.node_id);
    case WIRE_ANNOUNCE:
        c = &m->u.announce;
        break;
    case WIRE_SNAPSHOT_ENTRY:
        c = &m->u.snapshot_entry;
        break;
    case WIRE_SNAPSHOT_NODE:
        n = &m->u.snapshot_node;
        break;
    case WIRE_UPDATE:
        if (m->u.update.change == WIRE_CHANGE_UPSERT)
            c = &m->u.update.u.upsert;
        else if (m->u.update.change == WIRE_CHANGE_NODE)
            n = &m->u.update.u.node;
        else if (m->u.update.change == WIRE_CHANGE_REMOVED)
            return T(m->u.update.u.removed.id);
        break;
    default:
        break;
    }
    if (c)
        return T(c->id) && T(c->vm_name) && T(c->state) && T(c->hv_addr) &&
               T(c->owner);
    if (n)
        return T(n->node_id) && T(n->peer_addr);
    return true;
#undef T
}

static int
s_enc_build(const struct wire_msg *m, struct enc *x, char *err, size_t errlen)
{
    Vspc__Envelope *e = &x->env;

    if (!s_terminated(m))
        return s_fail(WIRE_E_INVALID, err, errlen,
                      "%s: a string field is not NUL-terminated",
                      wire_type_str(m->type));

    vspc__envelope__init(e);
    e->has_version = 1;
    e->version = WIRE_VERSION;
    switch (m->type) {
    case WIRE_REGISTER:
        vspc__register__init(&x->b.reg);
        x->b.reg.node_id = CS(m->u.reg.node_id);
        x->b.reg.has_node_index = 1;
        x->b.reg.node_index = m->u.reg.node_index;
        x->b.reg.peer_addr = CS(m->u.reg.peer_addr);
        x->b.reg.has_incarnation = 1;
        x->b.reg.incarnation = m->u.reg.incarnation;
        e->body_case = VSPC__ENVELOPE__BODY_REG;
        e->reg = &x->b.reg;
        return WIRE_OK;
    case WIRE_REGISTER_REPLY:
        vspc__register_reply__init(&x->b.reg_reply);
        x->b.reg_reply.has_ok = 1;
        x->b.reg_reply.ok = m->u.reg_reply.ok;
        x->b.reg_reply.reason = CS(m->u.reg_reply.reason);
        x->b.reg_reply.has_incarnation = 1;
        x->b.reg_reply.incarnation = m->u.reg_reply.incarnation;
        x->b.reg_reply.has_term = m->u.reg_reply.term != 0;
        x->b.reg_reply.term = m->u.reg_reply.term;
        e->body_case = VSPC__ENVELOPE__BODY_REG_REPLY;
        e->reg_reply = &x->b.reg_reply;
        return WIRE_OK;
    case WIRE_HEARTBEAT:
        vspc__heartbeat__init(&x->b.heartbeat);
        x->b.heartbeat.node_id = CS(m->u.heartbeat.node_id);
        x->b.heartbeat.has_incarnation = 1;
        x->b.heartbeat.incarnation = m->u.heartbeat.incarnation;
        e->body_case = VSPC__ENVELOPE__BODY_HEARTBEAT;
        e->heartbeat = &x->b.heartbeat;
        return WIRE_OK;
    case WIRE_HEARTBEAT_REPLY:
        vspc__heartbeat_reply__init(&x->b.heartbeat_reply);
        x->b.heartbeat_reply.has_incarnation = 1;
        x->b.heartbeat_reply.incarnation = m->u.heartbeat_reply.incarnation;
        x->b.heartbeat_reply.has_registered = 1;
        x->b.heartbeat_reply.registered = m->u.heartbeat_reply.registered;
        x->b.heartbeat_reply.has_term = m->u.heartbeat_reply.term != 0;
        x->b.heartbeat_reply.term = m->u.heartbeat_reply.term;
        e->body_case = VSPC__ENVELOPE__BODY_HEARTBEAT_REPLY;
        e->heartbeat_reply = &x->b.heartbeat_reply;
        return WIRE_OK;
    case WIRE_ANNOUNCE:
        vspc__announce__init(&x->b.announce);
        s_enc_console(&m->u.announce, &x->console);
        x->b.announce.console = &x->console;
        e->body_case = VSPC__ENVELOPE__BODY_ANNOUNCE;
        e->announce = &x->b.announce;
        return WIRE_OK;
    case WIRE_WITHDRAW:
        vspc__withdraw__init(&x->b.withdraw);
        x->b.withdraw.console_id = CS(m->u.withdraw.console_id);
        x->b.withdraw.has_epoch = 1;
        x->b.withdraw.epoch = m->u.withdraw.epoch;
        x->b.withdraw.node_id = CS(m->u.withdraw.node_id);
        e->body_case = VSPC__ENVELOPE__BODY_WITHDRAW;
        e->withdraw = &x->b.withdraw;
        return WIRE_OK;
    case WIRE_SNAPSHOT_REQUEST:
        vspc__snapshot_request__init(&x->b.snapshot_request);
        x->b.snapshot_request.has_request_id = 1;
        x->b.snapshot_request.request_id = m->u.snapshot_request.request_id;
        e->body_case = VSPC__ENVELOPE__BODY_SNAPSHOT_REQUEST;
        e->snapshot_request = &x->b.snapshot_request;
        return WIRE_OK;
    case WIRE_SNAPSHOT_ENTRY:
        vspc__snapshot_entry__init(&x->b.snapshot_entry);
        s_enc_console(&m->u.snapshot_entry, &x->console);
        x->b.snapshot_entry.console = &x->console;
        e->body_case = VSPC__ENVELOPE__BODY_SNAPSHOT_ENTRY;
        e->snapshot_entry = &x->b.snapshot_entry;
        return WIRE_OK;
    case WIRE_SNAPSHOT_NODE:
        vspc__snapshot_node__init(&x->b.snapshot_node);
        s_enc_node(&m->u.snapshot_node, &x->node);
        x->b.snapshot_node.node = &x->node;
        e->body_case = VSPC__ENVELOPE__BODY_SNAPSHOT_NODE;
        e->snapshot_node = &x->b.snapshot_node;
        return WIRE_OK;
    case WIRE_SNAPSHOT_END:
        vspc__snapshot_end__init(&x->b.snapshot_end);
        x->b.snapshot_end.has_seq = 1;
        x->b.snapshot_end.seq = m->u.snapshot_end.seq;
        x->b.snapshot_end.has_incarnation = 1;
        x->b.snapshot_end.incarnation = m->u.snapshot_end.incarnation;
        x->b.snapshot_end.has_request_id = 1;
        x->b.snapshot_end.request_id = m->u.snapshot_end.request_id;
        e->body_case = VSPC__ENVELOPE__BODY_SNAPSHOT_END;
        e->snapshot_end = &x->b.snapshot_end;
        return WIRE_OK;
    case WIRE_UPDATE: {
        Vspc__Update *u = &x->b.update;
        const struct wire_update *w = &m->u.update;

        vspc__update__init(u);
        u->has_seq = 1;
        u->seq = w->seq;
        u->has_incarnation = 1;
        u->incarnation = w->incarnation;
        switch (w->change) {
        case WIRE_CHANGE_UPSERT:
            s_enc_console(&w->u.upsert, &x->console);
            u->change_case = VSPC__UPDATE__CHANGE_UPSERT;
            u->upsert = &x->console;
            break;
        case WIRE_CHANGE_REMOVED:
            vspc__console_removed__init(&x->removed);
            x->removed.id = CS(w->u.removed.id);
            x->removed.has_epoch = 1;
            x->removed.epoch = w->u.removed.epoch;
            u->change_case = VSPC__UPDATE__CHANGE_REMOVED;
            u->removed = &x->removed;
            break;
        case WIRE_CHANGE_NODE:
            s_enc_node(&w->u.node, &x->node);
            u->change_case = VSPC__UPDATE__CHANGE_NODE;
            u->node = &x->node;
            break;
        default:
            return s_fail(WIRE_E_INVALID, err, errlen,
                          "update: unknown change %d", (int)w->change);
        }
        e->body_case = VSPC__ENVELOPE__BODY_UPDATE;
        e->update = u;
        return WIRE_OK;
    }
    case WIRE_HUGZ:
        vspc__hugz__init(&x->b.hugz);
        x->b.hugz.has_seq = 1;
        x->b.hugz.seq = m->u.hugz.seq;
        x->b.hugz.has_incarnation = 1;
        x->b.hugz.incarnation = m->u.hugz.incarnation;
        e->body_case = VSPC__ENVELOPE__BODY_HUGZ;
        e->hugz = &x->b.hugz;
        return WIRE_OK;
    case WIRE_BSTAR:
        vspc__bstar_state__init(&x->b.bstar);
        x->b.bstar.has_state = 1;
        x->b.bstar.state = (Vspc__BstarState__State)m->u.bstar.state;
        x->b.bstar.has_term = 1;
        x->b.bstar.term = m->u.bstar.term;
        x->b.bstar.has_incarnation = 1;
        x->b.bstar.incarnation = m->u.bstar.incarnation;
        e->body_case = VSPC__ENVELOPE__BODY_BSTAR;
        e->bstar = &x->b.bstar;
        return WIRE_OK;
    case WIRE_NOT_ACTIVE:
        vspc__not_active__init(&x->b.not_active);
        x->b.not_active.has_term = 1;
        x->b.not_active.term = m->u.not_active.term;
        x->b.not_active.reason = CS(m->u.not_active.reason);
        e->body_case = VSPC__ENVELOPE__BODY_NOT_ACTIVE;
        e->not_active = &x->b.not_active;
        return WIRE_OK;
    default:
        return s_fail(WIRE_E_INVALID, err, errlen, "unknown message type %d",
                      (int)m->type);
    }
}

int
wire_encode(const struct wire_msg *m, uint8_t **out, size_t *outlen, char *err,
            size_t errlen)
{
    struct enc x;
    struct wire_msg check;
    uint8_t *buf;
    size_t len;
    int rc;

    *out = NULL;
    *outlen = 0;
    if (errlen > 0)
        err[0] = '\0';
    if ((rc = s_enc_build(m, &x, err, errlen)) != WIRE_OK)
        return rc;
    len = vspc__envelope__get_packed_size(&x.env);
    if (len > WIRE_MAX_MSG)
        return s_fail(WIRE_E_OVERSIZE, err, errlen,
                      "encoded %s is %zu bytes (max %d)",
                      wire_type_str(m->type), len, WIRE_MAX_MSG);
    if ((buf = malloc(len ? len : 1)) == NULL)
        return s_fail(WIRE_E_NOMEM, err, errlen, "out of memory");
    vspc__envelope__pack(&x.env, buf);
    /*
     * Validate by decoding what we produced: one set of field rules for
     * both directions, so a sender can never emit what a receiver drops.
     * The messages are small; the cost is a second unpack.
     */
    if ((rc = wire_decode(buf, len, &check, err, errlen)) != WIRE_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    *outlen = len;
    return WIRE_OK;
}
