/*
 * wire.h: the coordinator link's messages (proto/vspc.proto) as plain C
 * (wire_).
 *
 * The boundary: wire.c (and peerwire.c, for PeerFrame) are the only
 * modules that include the generated vspc.pb-c.h. Callers see only the structs
 * below: fixed-size, bounded strings and plain integers, no pointers, no
 * protobuf-c types, nothing to free. Why not typedef the generated structs:
 * their strings are unbounded char pointers that may be NULL, presence is a
 * separate has_ flag per field, and their memory belongs to protobuf-c's
 * unpacker (the message must be freed with the right free_unpacked). Every
 * caller would re-check presence and lengths and could get the ownership wrong.
 * Here a decoded struct wire_msg has been size-checked (before unpacking),
 * version-checked and validated field by field (presence, lengths,
 * character sets, console id syntax, node index range) exactly once, and
 * it is a value: copy it, store it, drop it. The cost is one copy of a
 * few hundred bytes per message, nothing next to a ZeroMQ round trip.
 *
 * Decoding never trusts the input: any byte string, of any length, gives
 * either a valid message or an error code with a readable reason. Encoding
 * validates the same way (a bug in a sender fails at the sender).
 *
 * The peer-link frames (PeerFrame in vspc.proto) have their own codec,
 * proto/peerwire.h, with the same rules; it shares the field checks
 * below (wire_is_token, wire_is_text, wire_valid_console_id).
 *
 * Returns: wire_decode/wire_encode return WIRE_OK (0) or a negative
 * enum wire_err, with the reason in err (always NUL-terminated when
 * errlen > 0).
 */
#ifndef VSPC_WIRE_H
#define VSPC_WIRE_H

#include "vspc/compat.h"

#define WIRE_VERSION 1
/* Largest frame accepted or produced; checked before unpacking. */
#define WIRE_MAX_MSG (256 * 1024)

/* String bounds (bytes, without the NUL). */
#define WIRE_NODE_ID_MAX 63
#define WIRE_LABEL_MAX 64
#define WIRE_CONSOLE_ID_MAX (32 + 1 + WIRE_LABEL_MAX)
#define WIRE_VM_NAME_MAX 255
#define WIRE_STATE_MAX 31
#define WIRE_HV_ADDR_MAX 63
#define WIRE_PEER_ADDR_MAX 255
#define WIRE_REASON_MAX 127

enum wire_type {
    WIRE_REGISTER = 1,
    WIRE_REGISTER_REPLY,
    WIRE_HEARTBEAT,
    WIRE_HEARTBEAT_REPLY,
    WIRE_ANNOUNCE,
    WIRE_WITHDRAW,
    WIRE_SNAPSHOT_REQUEST,
    WIRE_SNAPSHOT_ENTRY,
    WIRE_SNAPSHOT_NODE,
    WIRE_SNAPSHOT_END,
    WIRE_UPDATE,
    WIRE_HUGZ,
    WIRE_BSTAR,
    WIRE_NOT_ACTIVE,
    WIRE_TYPE__COUNT
};

enum wire_err {
    WIRE_OK = 0,
    WIRE_E_EMPTY = -1,     /* zero-length frame */
    WIRE_E_OVERSIZE = -2,  /* longer than WIRE_MAX_MSG: not unpacked */
    WIRE_E_MALFORMED = -3, /* not a protobuf Envelope */
    WIRE_E_VERSION = -4,   /* no version, or not WIRE_VERSION */
    WIRE_E_NOBODY = -5,    /* no known message in the envelope */
    WIRE_E_INVALID = -6,   /* a field missing, too long or out of range */
    WIRE_E_NOMEM = -7,
};
#define WIRE_ERR__COUNT 8 /* -(most negative) + 1: index counters by -err */

/* A console as the directory holds it (ConsoleEntry). */
struct wire_console {
    char id[WIRE_CONSOLE_ID_MAX + 1];
    char vm_name[WIRE_VM_NAME_MAX + 1]; /* may be "" */
    uint64_t epoch;
    char state[WIRE_STATE_MAX + 1];
    char hv_addr[WIRE_HV_ADDR_MAX + 1]; /* may be "" */
    char owner[WIRE_NODE_ID_MAX + 1];
    uint8_t owner_index;
};

/* A node as the coordinator sees it (NodeEntry). */
struct wire_node {
    char node_id[WIRE_NODE_ID_MAX + 1];
    uint8_t node_index;
    char peer_addr[WIRE_PEER_ADDR_MAX + 1];
    bool alive;
};

struct wire_register {
    char node_id[WIRE_NODE_ID_MAX + 1];
    uint8_t node_index;
    char peer_addr[WIRE_PEER_ADDR_MAX + 1];
    uint64_t incarnation;
};

struct wire_register_reply {
    bool ok;
    char reason[WIRE_REASON_MAX + 1]; /* "" when ok */
    uint64_t incarnation;             /* the coordinator's */
    uint64_t term;                    /* of a pair; 0 alone */
};

struct wire_heartbeat {
    char node_id[WIRE_NODE_ID_MAX + 1];
    uint64_t incarnation; /* the node's */
};

struct wire_heartbeat_reply {
    uint64_t incarnation; /* the coordinator's */
    bool registered;
    uint64_t term; /* of a pair; 0 alone */
};

struct wire_withdraw {
    char console_id[WIRE_CONSOLE_ID_MAX + 1];
    uint64_t epoch;
    char node_id[WIRE_NODE_ID_MAX + 1];
};

struct wire_snapshot_request {
    uint64_t request_id;
};

struct wire_snapshot_end {
    uint64_t seq;
    uint64_t incarnation;
    uint64_t request_id;
};

struct wire_removed {
    char id[WIRE_CONSOLE_ID_MAX + 1];
    uint64_t epoch;
};

enum wire_change {
    WIRE_CHANGE_UPSERT = 1,
    WIRE_CHANGE_REMOVED,
    WIRE_CHANGE_NODE,
};

struct wire_update {
    uint64_t seq;
    uint64_t incarnation;
    enum wire_change change;
    union {
        struct wire_console upsert;
        struct wire_removed removed;
        struct wire_node node;
    } u;
};

struct wire_hugz {
    uint64_t seq;
    uint64_t incarnation;
};

/* Binary Star (BstarState.State). */
enum wire_bstar_state {
    WIRE_BS_PRIMARY = 1,
    WIRE_BS_BACKUP,
    WIRE_BS_ACTIVE,
    WIRE_BS_PASSIVE,
};

struct wire_bstar {
    enum wire_bstar_state state;
    uint64_t term;
    uint64_t incarnation;
};

struct wire_not_active {
    uint64_t term;
    char reason[WIRE_REASON_MAX + 1];
};

/* One message of the coordinator link. Plain value: no heap, no free. */
struct wire_msg {
    enum wire_type type;
    union {
        struct wire_register reg;
        struct wire_register_reply reg_reply;
        struct wire_heartbeat heartbeat;
        struct wire_heartbeat_reply heartbeat_reply;
        struct wire_console announce;
        struct wire_withdraw withdraw;
        struct wire_snapshot_request snapshot_request;
        struct wire_console snapshot_entry;
        struct wire_node snapshot_node;
        struct wire_snapshot_end snapshot_end;
        struct wire_update update;
        struct wire_hugz hugz;
        struct wire_bstar bstar;
        struct wire_not_active not_active;
    } u;
};

/*
 * Decode one frame into *out (overwritten; left zeroed on error). Checks,
 * in this order: length (0, > WIRE_MAX_MSG), protobuf syntax, version,
 * body, fields. Never reads past buf[len - 1].
 */
int wire_decode(const void *buf, size_t len, struct wire_msg *out, char *err,
                size_t errlen);

/*
 * Encode m (validated first). On success *out is a malloc'd buffer of
 * *outlen bytes (at most WIRE_MAX_MSG) that the caller owns and frees with
 * free(); on error *out is NULL.
 */
int wire_encode(const struct wire_msg *m, uint8_t **out, size_t *outlen,
                char *err, size_t errlen);

/* "register", "announce", ...; "???" for an unknown value. Static. */
const char *wire_type_str(enum wire_type t);
/* "oversized", "malformed", ...; for counters and log lines. Static. */
const char *wire_err_str(int err);

/* Field checks, shared with callers that build messages from user input
 * (a node id from a config file): true if s is acceptable. */
bool wire_valid_node_id(const char *s);
bool wire_valid_console_id(const char *s);
/* "host:port" (printable, no spaces, port 1-65535), up to
 * WIRE_PEER_ADDR_MAX bytes. */
bool wire_valid_addr(const char *s);
/* n bytes of printable ASCII without spaces, n > 0 (ids, tokens). */
bool wire_is_token(const char *s, size_t n);
/* n bytes without control characters (0x00-0x1f, 0x7f); n may be 0. */
bool wire_is_text(const char *s, size_t n);

#endif /* VSPC_WIRE_H */
