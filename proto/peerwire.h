/*
 * peerwire.h: the peer link's frames (PeerFrame in proto/vspc.proto) as
 * plain C (pw_).
 *
 * Same rules as wire.h, for the node <-> node link: callers see only the
 * structs below (fixed-size arrays, plain integers, no pointers, no
 * protobuf-c types, nothing to free). A decoded struct pw_frame has been
 * size-checked before unpacking (PW_MAX_FRAME), version-checked
 * (PeerFrame.version == PW_VERSION) and validated field by field
 * (presence, lengths, character sets, console ids as wire.c checks them,
 * non-zero ids, ranges that must not wrap) exactly once.
 *
 * Why a second module that includes the generated vspc.pb-c.h, next to
 * wire.c: the boundary is the directory, not the file. proto/ is where the
 * generated header may be included (its CMakeLists keeps the generated
 * directory PRIVATE to vspc_proto, so nothing outside proto/ can), and
 * each link gets its own codec: wire.c the coordinator link, peerwire.c
 * the peer link. They share the schema and the field checks (this module
 * calls wire_valid_console_id / wire_valid_node_id), not their message
 * sets: a node that speaks only one of the links links only the code it
 * needs to reason about, and neither file grows past a readable size.
 *
 * Bytes fields are COPIED into bounded arrays inside the struct (Data:
 * PW_DATA_MAX, Input: PW_INPUT_MAX, a Handover's held records: one pool of
 * PW_HELD_BYTES_MAX). A decoded frame is then a value like any other: it
 * does not point into the input buffer, nor into protobuf-c's unpacked
 * message (which is freed before pw_decode returns), so it may be kept or
 * copied without a lifetime rule. protobuf-c copies bytes out of the input
 * when it unpacks anyway, so pointing into "the decoded buffer" would have
 * meant keeping the unpacked message alive with a free function: the
 * ownership mistake this module exists to rule out. The cost is one copy
 * of at most 16 KiB per Data frame. struct pw_frame is large (42 KiB, a
 * Handover's records and pool): keep one per instance, not one per
 * console, and not on a small stack.
 *
 * Encoding validates the struct with the same checks as decoding (a bug
 * in a sender fails at the sender, never at the receiver) and packs into a
 * caller buffer: no allocation.
 *
 * Returns: pw_decode/pw_encode return PW_OK (0) or a negative enum pw_err,
 * with the reason in err (always NUL-terminated when errlen > 0).
 */
#ifndef VSPC_PEERWIRE_H
#define VSPC_PEERWIRE_H

#include "vspc/compat.h"

#include "wire.h"

#define PW_VERSION 1
/*
 * Largest frame accepted or produced (the PeerFrame bytes, without the
 * link's 4-byte length prefix); checked before unpacking. The largest
 * valid frame, a full Handover, encodes to under 60 KiB; a full Data frame
 * to at most PW_DATA_MAX + 48 bytes (test_peerwire checks both).
 */
#define PW_MAX_FRAME (64 * 1024)

#define PW_DATA_MAX 16384 /* bytes of one Data frame */
#define PW_INPUT_MAX 4096 /* bytes of one Input frame or held record */
#define PW_NODE_ID_MAX WIRE_NODE_ID_MAX
#define PW_CONSOLE_ID_MAX WIRE_CONSOLE_ID_MAX
#define PW_VM_NAME_MAX WIRE_VM_NAME_MAX
#define PW_OPERATOR_ID_MAX 127 /* printable, no spaces, e.g. "node2/17" */
#define PW_TEXT_MAX 255        /* an Event's text, no control characters */
#define PW_VMOTION_SEQ_MAX 255 /* vMotion sequence (VMX_SEQ_MAX) */
#define PW_SECRET_MAX 64       /* vMotion secret */
#define PW_HELD_MAX 64         /* held records in one Handover */
#define PW_HELD_BYTES_MAX (32 * 1024)   /* their bytes, all records */
#define PW_SCROLLBACK_CHUNK (16 * 1024) /* scrollback in one Handover */
#define PW_FOLLOWERS_MAX 32             /* followers in one Handover */
/* Largest credit in one Subscribe or Credit frame, and largest credit a
 * subscription may hold in total (so that sums never wrap). */
#define PW_CREDIT_MAX (UINT64_C(1) << 30)

enum pw_type {
    PW_HELLO = 1,
    PW_SUBSCRIBE,
    PW_UNSUBSCRIBE,
    PW_DATA,
    PW_GAP,
    PW_EVENT,
    PW_CREDIT,
    PW_INPUT,
    PW_INPUT_ACK,
    PW_VALIDATE,
    PW_VALIDATE_REPLY,
    PW_HANDOVER,
    PW_SUB_STATE,
    PW_CONTROL,
    PW_SPLICE,
    PW_TIP,
    PW_TYPE__COUNT
};

enum pw_err {
    PW_OK = 0,
    PW_E_EMPTY = -1,     /* zero-length frame */
    PW_E_OVERSIZE = -2,  /* longer than PW_MAX_FRAME: not unpacked */
    PW_E_MALFORMED = -3, /* not a protobuf PeerFrame */
    PW_E_VERSION = -4,   /* no version, or not PW_VERSION */
    PW_E_NOBODY = -5,    /* no known frame in the PeerFrame */
    PW_E_INVALID = -6,   /* a field missing, too long or out of range */
    PW_E_NOMEM = -7,
    PW_E_SPACE = -8, /* encode: the caller's buffer is too small */
};
#define PW_ERR__COUNT 9 /* -(most negative) + 1: index counters by -err */

/*
 * First frame each way. version is the peer-link protocol version the
 * sender speaks; the codec accepts any value so that the link can say
 * "node X speaks version N, want 1" before closing.
 */
struct pw_hello {
    char node_id[PW_NODE_ID_MAX + 1];
    uint8_t node_index;
    uint32_t version;
    uint64_t incarnation;
};

/* sub_id != 0; credit <= PW_CREDIT_MAX (may be 0). operator_id "": a
 * plain reader (lock, raw and operator_name are then ignored); else lock
 * <= PW_LOCK_MAX and operator_name is text (may be ""). */
#define PW_LOCK_MAX 0x100
#define PW_OPERATOR_NAME_MAX 63
struct pw_subscribe {
    char console_id[PW_CONSOLE_ID_MAX + 1];
    uint64_t from_offset;
    uint64_t epoch;
    uint64_t sub_id;
    uint64_t credit;
    char operator_id[PW_OPERATOR_ID_MAX + 1];
    char operator_name[PW_OPERATOR_NAME_MAX + 1];
    uint32_t lock;
    bool raw;
};

enum pw_sub_status {
    PW_SUB_ATTACHED = 1,
    PW_SUB_REFUSED = 2,
    PW_SUB_ENDED = 3,
    PW_SUB_MOVED = 4, /* a newer owner holds the console: subscribe there */
};
/* sub_id != 0; status one of the above; mode 0 or 1; text may be "". */
struct pw_sub_state {
    uint64_t sub_id;
    enum pw_sub_status status;
    uint32_t mode;
    uint64_t offset;
    uint64_t epoch;
    char text[PW_TEXT_MAX + 1];
};

enum pw_control_action {
    PW_CTL_REPLAY = 1,
    PW_CTL_FORCE_WRITE = 2,
    PW_CTL_SPECTATOR = 3,
    PW_CTL_BREAK = 4,
};
struct pw_control {
    uint64_t sub_id;
    enum pw_control_action action;
};

struct pw_unsubscribe {
    uint64_t sub_id;
};

/* Output bytes [offset, offset + len); 1 <= len <= PW_DATA_MAX; offset +
 * len does not wrap. */
struct pw_data {
    uint64_t sub_id;
    uint64_t epoch;
    uint64_t offset;
    size_t len;
    uint8_t bytes[PW_DATA_MAX];
};

/* Bytes [from, to) are gone; from < to. */
struct pw_gap {
    uint64_t sub_id;
    uint64_t from;
    uint64_t to;
    uint64_t epoch;
};

/* The owner's stream reached tip (owner -> subscriber). */
struct pw_tip {
    uint64_t sub_id;
    uint64_t epoch;
    uint64_t tip;
};

/* text: 1..PW_TEXT_MAX bytes, no control characters. */
struct pw_event {
    uint64_t sub_id;
    uint64_t epoch;
    uint64_t offset;
    char text[PW_TEXT_MAX + 1];
};

/* 1 <= bytes <= PW_CREDIT_MAX. */
struct pw_credit {
    uint64_t sub_id;
    uint64_t bytes;
};

/* Operator input: bytes [seq, seq + len) of that operator's input into
 * the console; 1 <= len <= PW_INPUT_MAX; seq + len does not wrap. With
 * reclaim, len is 0 (vspc.proto, Input). */
struct pw_input {
    char console_id[PW_CONSOLE_ID_MAX + 1];
    char operator_id[PW_OPERATOR_ID_MAX + 1];
    uint64_t seq;
    uint64_t epoch;
    bool reclaim;
    size_t len;
    uint8_t bytes[PW_INPUT_MAX];
};

/* The owner took that operator's input below seq (seq is the offset of
 * the next byte it expects: one past the last byte acknowledged). */
struct pw_input_ack {
    char console_id[PW_CONSOLE_ID_MAX + 1];
    char operator_id[PW_OPERATOR_ID_MAX + 1];
    uint64_t seq;
};

/* request_id != 0; console_id may be "" (unknown to the asker); seq and
 * secret: 1..max bytes. */
struct pw_validate {
    uint64_t request_id;
    char console_id[PW_CONSOLE_ID_MAX + 1];
    size_t seq_len;
    uint8_t seq[PW_VMOTION_SEQ_MAX];
    size_t secret_len;
    uint8_t secret[PW_SECRET_MAX];
};

/* request_id != 0; when ok, console_id is a console id; else it may be
 * "" (and epoch is 0). */
struct pw_validate_reply {
    uint64_t request_id;
    bool ok;
    char console_id[PW_CONSOLE_ID_MAX + 1];
    uint64_t epoch;
};

/* One held input record; its bytes are held_bytes[off, off + len) of the
 * Handover that carries it (1 <= len <= PW_INPUT_MAX). */
struct pw_held {
    char operator_id[PW_OPERATOR_ID_MAX + 1];
    uint64_t seq;
    uint32_t off;
    uint32_t len;
};

/*
 * n_held <= PW_HELD_MAX records whose bytes, laid out one after the other
 * in held_bytes, total at most PW_HELD_BYTES_MAX (the decoder lays them
 * out that way; the encoder accepts any in-bounds off/len). vm_name may
 * be ""; vmotion_seq_len may be 0.
 */
struct pw_handover {
    char console_id[PW_CONSOLE_ID_MAX + 1];
    uint64_t epoch;
    uint64_t offset;
    uint64_t old_epoch;
    char vm_name[PW_VM_NAME_MAX + 1];
    size_t vmotion_seq_len;
    uint8_t vmotion_seq[PW_VMOTION_SEQ_MAX];
    uint64_t request_id;     /* the Validate's; 0: none */
    uint32_t record_version; /* struct vmo_handover's; 0: unspecified */
    bool more;               /* more frames of this record follow */
    char write_lock[PW_OPERATOR_ID_MAX + 1]; /* "" none */
    char exclusive[PW_OPERATOR_ID_MAX + 1];  /* "" none */
    char src_host[PW_TEXT_MAX + 1];
    uint64_t sb_from; /* offset of sb[0] */
    size_t sb_len;    /* <= PW_SCROLLBACK_CHUNK */
    unsigned n_followers;
    char followers[PW_FOLLOWERS_MAX][PW_OPERATOR_ID_MAX + 1];
    unsigned n_held;
    struct pw_held held[PW_HELD_MAX];
    uint8_t held_bytes[PW_HELD_BYTES_MAX];
    uint8_t sb[PW_SCROLLBACK_CHUNK];
};

/* A validated vMotion's events across nodes (vspc.proto, Splice). */
enum pw_splice_kind {
    PW_SPLICE_COMPLETE = 1, /* destination's node -> owner */
    PW_SPLICE_GONE = 2,     /* destination's node -> owner */
    PW_SPLICE_CANCEL = 3,   /* owner -> destination's node */
};
struct pw_splice {
    uint64_t request_id; /* != 0 */
    enum pw_splice_kind kind;
    size_t seq_len; /* 0..PW_VMOTION_SEQ_MAX */
    uint8_t seq[PW_VMOTION_SEQ_MAX];
};

/* One frame of the peer link. Plain value: no heap, no free. */
struct pw_frame {
    enum pw_type type;
    union {
        struct pw_hello hello;
        struct pw_subscribe subscribe;
        struct pw_unsubscribe unsubscribe;
        struct pw_data data;
        struct pw_gap gap;
        struct pw_tip tip;
        struct pw_event event;
        struct pw_credit credit;
        struct pw_input input;
        struct pw_input_ack input_ack;
        struct pw_validate validate;
        struct pw_validate_reply validate_reply;
        struct pw_handover handover;
        struct pw_sub_state sub_state;
        struct pw_control control;
        struct pw_splice splice;
    } u;
};

/*
 * Decode one frame into *out. Checks, in this order: length (0, >
 * PW_MAX_FRAME), protobuf syntax, version, body, fields. Never reads past
 * buf[len - 1]. On error *out is left with type 0 (only the type is
 * cleared: the struct is large; its other bytes are unspecified).
 */
int pw_decode(const void *buf, size_t len, struct pw_frame *out, char *err,
              size_t errlen);

/*
 * Validate f and pack it into out[cap] (no allocation); *outlen is the
 * encoded length (at most PW_MAX_FRAME). PW_E_SPACE if cap is too small
 * (cap >= PW_MAX_FRAME always suffices), with *outlen the length needed.
 */
int pw_encode(const struct pw_frame *f, uint8_t *out, size_t cap,
              size_t *outlen, char *err, size_t errlen);

/* The checks pw_encode applies: PW_OK or PW_E_INVALID with a reason. */
int pw_validate(const struct pw_frame *f, char *err, size_t errlen);

/* "hello", "data", ...; "???" for an unknown value. Static. */
const char *pw_type_str(enum pw_type t);
/* "oversized", "malformed", ...; for counters and log lines. Static. */
const char *pw_err_str(int err);

/* An operator id as the link accepts it (printable, no spaces,
 * 1..PW_OPERATOR_ID_MAX bytes). */
bool pw_valid_operator_id(const char *s);

#endif /* VSPC_PEERWIRE_H */
