/*
 * harness.h: in-process test world for the session, vMotion, audit,
 * console and operator suites (compiled into those runners by
 * tests/CMakeLists.txt).
 *
 * One struct proxy (proxy_init, no listeners) plus test endpoints, each the
 * far end of a socketpair whose near end belongs to the proxy:
 *   - a host endpoint plays the ESXi host of one hypervisor connection
 *     (sess_new), with its own telnet codec (BINARY/SGA both ways, WILL 232);
 *   - an operator endpoint plays a telnet client on the operator port
 *     (op_new).
 * hw_pump() runs the proxy's base without blocking and reads every endpoint
 * until nothing moves. Everything the proxy wrote is kept three ways: the raw
 * wire bytes, the unescaped data bytes and (hosts) a text log with one line
 * per option-232 subnegotiation and one per run of data:
 *   "D 41 42\n"         data bytes
 *   "46 53 76 ...\n"    suboption code, then its unescaped payload
 *   "29 01 02 +8\n"     GOAHEAD: the sequence, then the 8 secret bytes
 *                       (kept in ep.secret, not in the log)
 *
 * Logging: the proxy's log goes to a temporary file; hw_end() fails the
 * test if it holds an ERROR line (an illegal state transition, ...).
 * VSPC_UNIT_LOG=debug|info|... shows it on stderr instead.
 */
#ifndef VSPC_TESTS_HARNESS_H
#define VSPC_TESTS_HARNESS_H

#include "vspc/compat.h"

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "console.h"
#include "operator.h"
#include "proxy.h"
#include "session.h"
#include "telnet.h"
#include "vmext.h"
#include "vmotion.h"

/* Every operator endpoint's notice marker (op_set_mark): "[vspc TEST: ...]". */
#define HW_MARK "TEST"

#define FF 0xff

/* A growable byte buffer. */
struct bbuf {
    uint8_t *p;
    size_t n, cap;
};
void bb_add(struct bbuf *b, const void *p, size_t n);
void bb_addc(struct bbuf *b, uint8_t c);
void bb_adds(struct bbuf *b, const char *s);
void bb_clear(struct bbuf *b);
void bb_free(struct bbuf *b);
/* NUL-terminated view of the contents (for logs). */
const char *bb_str(struct bbuf *b);

/* Encoders for scripted host streams (0xFF doubled). */
void enc_data(struct bbuf *b, const void *p, size_t n);
void enc_verb(struct bbuf *b, uint8_t verb, uint8_t opt);
/* FF FA E8 <sub> <a> <b> FF F0. */
void enc_vmx(struct bbuf *b, uint8_t sub, const void *a, size_t an,
             const void *bp, size_t bn);
/* The host's whole negotiation, scripted (replies to the proxy's offers
 * plus WILL AUTH and WILL 232). */
void enc_host_negotiation(struct bbuf *b);

enum ep_kind { EP_HOST, EP_OPER };

struct ep {
    enum ep_kind kind;
    int fd;      /* test side; -1 once closed */
    bool mute;   /* drop the codec's own answers (scripted stream) */
    bool eof;    /* the proxy closed its side */
    bool broken; /* a write found the proxy's side closed */
    bool hold;   /* the test side stops reading (its socket buffer fills) */
    char addr[64];
    struct tn tn;
    struct tn_policy pol;
    struct bbuf raw;  /* every byte received, as on the wire */
    struct bbuf data; /* data bytes, unescaped */
    struct bbuf log;  /* event log (hosts) */
    char last;        /* 'D' while the last log line is a data run */
    uint8_t secret[VMX_SECRET_LEN];
    size_t seq_len; /* sequence length for splitting GOAHEAD payloads */
    unsigned n_sub[256];
    /* last payload of each suboption (without the code byte) */
    struct bbuf last_sub[256];
    void *op; /* operators: the proxy's object (op_new) */
};

/* The world. */
struct hw {
    struct proxy px;
    struct ep *eps[32];
    size_t n_eps;
    unsigned next_port;
    int saved_stderr;
    FILE *logf;
    bool quiet_log;
};
extern struct hw W;

/* Start/stop a world (fixtures call these; a test may restart it). */
void hw_begin(void);
/* hw_begin, tweak(cfg) changing the defaults before proxy_init (which
 * copies px->strm_cfg from them). */
void hw_begin_cfg(void (*tweak)(struct proxy_cfg *cfg));
void hw_end(void);
/* Checked-fixture wrappers. */
void hw_setup(void);
void hw_teardown(void);

/* Run the proxy until quiet (bounded). */
void hw_pump(void);
/* Run the base for secs of wall time (timers), then pump. */
void hw_wait(double secs);

/* New endpoints. */
struct ep *hw_host(void);
struct ep *hw_oper(void);
/* The proxy's live session for a host endpoint, NULL if closed. */
struct session *hw_sess(const struct ep *e);

/* Raw writes (no pump). */
void ep_write(struct ep *e, const void *p, size_t n);
void ep_send_data(struct ep *e, const void *p, size_t n);
void ep_send_vmx(struct ep *e, uint8_t sub, const void *p, size_t n);
void ep_send_vmx2(struct ep *e, uint8_t sub, const void *a, size_t an,
                  const void *b, size_t bn);
void ep_send_str(struct ep *e, const char *s);
/* Half-close (FIN); the endpoint keeps reading. */
void ep_fin(struct ep *e);
/* Forget what was received so far. */
void ep_clear(struct ep *e);

/* Default identity. */
#define UUID_A_TEXT "01 23 45 67 89 ab cd ef-fe dc ba 98 00 00 00 00"
#define UUID_A "0123456789abcdeffedcba9800000000"
#define UUID_B_TEXT "42 0b 11 22 33 44 55 66-77 88 99 aa bb cc dd ee"
#define UUID_B "420b112233445566778899aabbccddee"

/* Telnet negotiation (WILL AUTH, answers), KNOWN-SUBOPTIONS-1. Asserts the
 * proxy's KNOWN-SUBOPTIONS-2. */
void hv_negotiate(struct ep *e);
/* Negotiate, DO-PROXY 'S' uri, VM-VC-UUID, VM-NAME; asserts WILL-PROXY. */
void hv_identify(struct ep *e, const char *uuid_text, const char *uri,
                 const char *name);
/* BEGIN(seq); asserts GOAHEAD(seq, secret) (kept in e->secret). */
void hv_begin(struct ep *e, const uint8_t *seq, size_t n);
/* Negotiate, PEER(seq||secret), answers the GETs; returns true when
 * PEER-OK(seq) came back. */
bool hv_peer(struct ep *e, const uint8_t *seq, size_t n, const uint8_t *secret,
             const char *uuid_text);
/* Operator: negotiate, "attach <id> rw raw"; received data and raw bytes
 * start empty after the "ok attached ..." line (scrollback follows). */
void op_attach(struct ep *o, const char *id);
/* Operator at the prompt (console and operator suites): negotiation done,
 * the banner and prompt asserted exactly, then cleared. */
struct ep *hw_oper_prompt(void);
/* Types "attach <key>[ <opts>]" CR LF (echo on); asserts the echo and
 * "ok attached <id> <mode> offset=N" exactly; returns N. o->data keeps
 * what followed the ok line (the scrollback), raw bytes are cleared. */
uint64_t op_attach_as(struct ep *o, const char *key, const char *opts,
                      const char *id, const char *mode);

/* Convenience. */
struct console *hw_con(const char *id);
bool bb_eq(const struct bbuf *b, const void *p, size_t n);
/* hex dump into a static buffer (for messages) */
const char *hexs(const void *p, size_t n);
bool hw_log_has(const char *needle);

/* ---- vMotion helpers (test_vmotion.c) ---- */

/* 4-byte sequences as in the capture; SEQ_FF holds a 0xFF. */
extern const uint8_t SEQ[4];
extern const uint8_t SEQ_FF[4];
/* Source identified as UUID_A with an attached raw rw operator. */
void source_and_op(struct ep **src, struct ep **op);
/* The UUID_A console (asserted to exist) and its vMotion state. */
struct console *con_a(void);
enum vmo_state vstate(void);
/* A full vMotion of UUID_A from src (identified). Returns the peer. */
struct ep *migrate(struct ep *src, const uint8_t *seq, size_t n);

/*
 * One whole vMotion of UUID_A with seq SEQ_FF, both host streams scripted
 * (muted codecs): an operator waits on the pre-created console and types
 * before the source connects, after GOAHEAD and after COMPLETE. m says how
 * the streams are written: whole, the source's or the peer's split at byte
 * `at`, or both one byte per write. The outcome (host logs, EOFs, operator
 * data, console state) is appended to out as text; *len_src and *len_peer
 * get the stream lengths.
 */
enum split_mode { SPLIT_NONE, SPLIT_SRC, SPLIT_PEER, SPLIT_BYTES };
void full_run(enum split_mode m, size_t at, struct bbuf *out, size_t *len_src,
              size_t *len_peer);

#define ck_assert_bb(b, ptr, len)                                              \
    ck_assert_msg(bb_eq((b), (ptr), (len)), "%s: got [%s]", #b,                \
                  hexs((b)->p, (b)->n))

#endif /* VSPC_TESTS_HARNESS_H */
