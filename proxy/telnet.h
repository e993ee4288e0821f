/*
 * telnet.h: tn_*, an I/O-free, allocation-free telnet codec (RFC 854/855)
 * with RFC 1143 ("Q method") option negotiation.
 *
 * The codec never sees a socket. Bytes go in with tn_feed(); out come
 * callbacks: runs of data bytes (IAC IAC already unescaped), completed
 * subnegotiations (payload unescaped), option state changes, other
 * two-byte commands and errors. Everything the codec wants to send (its
 * negotiation answers, escaped data, escaped subnegotiations) goes out
 * through handlers.output, in order.
 *
 * It survives any segmentation: a byte may arrive split anywhere, including
 * between FF and the next byte, and between FF and F0 of an SB end.
 *
 * Ownership: struct tn is embedded by its user (no allocation); the policy
 * is borrowed and must outlive the codec; payload pointers passed to
 * callbacks are valid only during the callback.
 *
 * Re-entrancy: callbacks may call tn_send_* and tn_request_* on the same
 * codec, and tn_stop(). They must not call tn_feed() on it.
 */
#ifndef VSPC_TELNET_H
#define VSPC_TELNET_H

#include "vspc/compat.h"

enum {
    TN_SE = 240,
    TN_NOP = 241,
    TN_DM = 242,
    TN_BRK = 243,
    TN_IP = 244,
    TN_AO = 245,
    TN_AYT = 246,
    TN_EC = 247,
    TN_EL = 248,
    TN_GA = 249,
    TN_SB = 250,
    TN_WILL = 251,
    TN_WONT = 252,
    TN_DO = 253,
    TN_DONT = 254,
    TN_IAC = 255,
};

enum {
    TN_OPT_BINARY = 0,
    TN_OPT_ECHO = 1,
    TN_OPT_SGA = 3,
    TN_OPT_AUTH = 37,
    TN_OPT_COMPORT = 44,
    TN_OPT_VMWARE = 232,     /* VMWARE-TELNET-EXT */
    TN_OPT_VSPC_ADMIN = 233, /* vmware/vspc admin option */
};

/* Largest subnegotiation payload (after the option byte, unescaped). */
#define TN_SB_MAX 1024

enum tn_err {
    TN_ERR_NONE = 0,
    TN_ERR_SB_OVERFLOW, /* payload longer than TN_SB_MAX: fatal */
    TN_ERR_SB_EMPTY,    /* FF FA FF F0 (no option byte): SB dropped */
    TN_ERR_SB_BAD_IAC,  /* FF <x> inside SB, x not FF/F0: fatal */
    TN_ERR_SE_OUTSIDE,  /* FF F0 outside SB: ignored */
    TN_ERR__COUNT,
};
const char *tn_err_str(enum tn_err err);
/* true when the codec stops parsing after this error (state TN_ST_ERROR). */
bool tn_err_is_fatal(enum tn_err err);

/* Which options we agree to enable. Bit n of local[] = we accept DO n
 * (answer WILL); bit n of remote[] = we accept WILL n (answer DO).
 * Everything else is refused (DO -> WONT, WILL -> DONT). A NULL policy
 * refuses everything. The policy only governs what the peer asks for:
 * tn_request_*() is obeyed whatever it says. */
struct tn_policy {
    uint8_t local[32];
    uint8_t remote[32];
};
/* Sets both bits of opt (true = allow, false = refuse); start from a
 * zeroed policy. */
void tn_policy_allow(struct tn_policy *p, uint8_t opt, bool local, bool remote);

struct tn_handlers {
    /* Bytes to write to the peer, already encoded. Required. */
    void (*output)(void *arg, const uint8_t *p, size_t n);
    /* A run of data bytes, unescaped. Required. */
    void (*data)(void *arg, const uint8_t *p, size_t n);
    /* A complete SB: option and unescaped payload (may be empty). */
    void (*subneg)(void *arg, uint8_t opt, const uint8_t *p, size_t n);
    /* An option changed state. local: our side (WILL/WONT), else the
     * peer's side (DO/DONT about the peer). Optional. */
    void (*option)(void *arg, uint8_t opt, bool local, bool enabled);
    /* Any raw WILL/WONT/DO/DONT received, before the Q method acts on it
     * (for tracing and tests). Optional. */
    void (*negotiation)(void *arg, uint8_t verb, uint8_t opt);
    /* A two-byte command other than WILL/WONT/DO/DONT/SB/SE/IAC. Optional. */
    void (*command)(void *arg, uint8_t cmd);
    /* A protocol error. Optional. */
    void (*error)(void *arg, enum tn_err err);
};

enum tn_q { TN_Q_NO = 0, TN_Q_YES, TN_Q_WANTNO, TN_Q_WANTYES };

enum tn_pstate {
    TN_ST_DATA = 0,
    TN_ST_IAC,        /* saw FF */
    TN_ST_VERB,       /* saw FF WILL/WONT/DO/DONT, waiting for the option */
    TN_ST_SB_OPT,     /* saw FF FA, waiting for the option byte */
    TN_ST_SB,         /* inside SB payload */
    TN_ST_SB_IAC,     /* saw FF inside SB */
    TN_ST_ERROR,      /* after a fatal error: everything is ignored */
    TN_ST_SB_OPT_IAC, /* saw FF FA FF: FF F0 = empty SB, FF FF = option 255 */
};

struct tn {
    const struct tn_handlers *h;
    void *arg;
    const struct tn_policy *policy;
    uint8_t pstate; /* enum tn_pstate */
    uint8_t verb;
    uint8_t sb_opt;
    bool stop;
    bool sb_overflow;
    uint16_t sb_len;
    /* RFC 1143 per option: bits 0-1 us, bit 2 usq, bits 3-4 him, bit 5
     * himq. */
    uint8_t q[256];
    uint8_t sb[TN_SB_MAX];
};

void tn_init(struct tn *tn, const struct tn_policy *policy,
             const struct tn_handlers *h, void *arg);

/*
 * Parse n bytes. Returns the number consumed: n, or fewer if a callback
 * called tn_stop() (the caller feeds the rest later) or a fatal error
 * occurred (then tn_failed() is true and the rest is never parsed; the
 * count includes the offending byte, and every later call returns 0).
 */
size_t tn_feed(struct tn *tn, const uint8_t *p, size_t n);
/*
 * From a callback: make tn_feed() return once the current event is
 * complete (a command, an SB, a data run). The bytes of that event count as
 * consumed; no byte is ever delivered twice. When called from the data
 * callback, the run just delivered is consumed. Every event consumes at
 * least one byte, so a stopped feed always makes progress. The request is
 * cleared when tn_feed() is entered: calling it outside a callback has no
 * effect.
 */
void tn_stop(struct tn *tn);
bool tn_failed(const struct tn *tn);
/* true while a SB or command is partially received. */
bool tn_in_command(const struct tn *tn);

/* RFC 1143: ask to enable/disable our side (WILL/WONT) or the peer's
 * side (DO/DONT). Sends at most one command; never loops. */
void tn_request_local(struct tn *tn, uint8_t opt, bool enable);
void tn_request_remote(struct tn *tn, uint8_t opt, bool enable);
bool tn_local_enabled(const struct tn *tn, uint8_t opt);
bool tn_remote_enabled(const struct tn *tn, uint8_t opt);

/* Send data bytes, doubling 0xFF. A run without 0xFF goes out in one output
 * call, unchanged (no copy); otherwise it is escaped through a stack buffer
 * and output in chunks. */
void tn_send_data(struct tn *tn, const uint8_t *p, size_t n);
/* Send FF FA opt <payload, FF doubled> FF F0. An option byte of 255 is
 * doubled too (tn_feed() reads FF FA FF FF as option 255). Small SBs go out
 * in a single output call; longer ones in several, in order. */
void tn_send_sb(struct tn *tn, uint8_t opt, const uint8_t *p, size_t n);
/* Same, the payload being the concatenation of cnt pieces (no copy). */
struct tn_buf {
    const uint8_t *p;
    size_t n;
};
void tn_send_sbv(struct tn *tn, uint8_t opt, const struct tn_buf *v,
                 size_t cnt);
/* Send FF cmd (NOP, BRK, ...) or FF verb opt, raw, bypassing RFC 1143. */
void tn_send_cmd(struct tn *tn, uint8_t cmd);
void tn_send_raw_verb(struct tn *tn, uint8_t verb, uint8_t opt);

/*
 * Pure helper: escape src into dst (capacity >= 2*n), doubling 0xFF.
 * Returns the number of bytes written.
 */
size_t tn_escape(uint8_t *dst, const uint8_t *src, size_t n);

/* "WILL", "NOP", "SE", ... for 240..255; "???" for anything else. */
const char *tn_verb_str(uint8_t verb);
/* "BINARY", "SGA", "VMWARE-EXT", ... or NULL for an unnamed option. */
const char *tn_opt_str(uint8_t opt);

#endif /* VSPC_TELNET_H */
