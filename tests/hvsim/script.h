/*
 * script.h: a small blocking, scripted client library for the conformance
 * scenarios and the capture replay (script.c: connections, event log,
 * expectations; scen_roles.c: the hypervisor and operator roles).
 *
 * A scr_conn is one TCP connection to 127.0.0.0/8. What it receives goes
 * through a tn codec (used as a parser only, unless auto_answer is set)
 * into an event log: runs of data bytes, negotiations, subnegotiations,
 * other commands, codec errors, end of stream. Every wait has a deadline;
 * every expect_* helper prints what it expected and what came (bytes in
 * hex) when it fails, and returns false or NULL.
 *
 * Single-threaded. Connections are kept in a registry so scr_close_all()
 * frees whatever a failing scenario left open.
 */
#ifndef VSPC_HVSIM_SCRIPT_H
#define VSPC_HVSIM_SCRIPT_H

#include "vspc/compat.h"

#include "telnet.h"
#include "vmext.h"

#include <stdio.h>
#include <sys/types.h>

/* Default deadlines, milliseconds. */
#define SCR_T_ANSWER 3000 /* an answer the proxy must send */
#define SCR_T_SILENCE 400 /* how long "no answer" is watched */

enum scr_ev_kind {
    SCR_EV_DATA = 1, /* off/n: a run in the connection's data stream */
    SCR_EV_NEG,      /* verb, opt */
    SCR_EV_SB,       /* opt, p/n (unescaped payload) */
    SCR_EV_CMD,      /* verb = command byte */
    SCR_EV_ERR,      /* verb = enum tn_err */
    SCR_EV_EOF,      /* peer closed (or reset) */
};

struct scr_ev {
    uint8_t kind;
    uint8_t verb;
    uint8_t opt;
    bool used; /* consumed by an expect_* helper */
    uint8_t *p;
    size_t n;
    size_t off;   /* DATA: offset in the data stream */
    int64_t t_ms; /* when it was read */
};

/*
 * A transport over the connection's socket (TLS: scen_tls.c). recv/send
 * return like recv(2)/send(2) (-1 with errno EAGAIN when they would
 * block); pending: bytes readable without the socket (decrypted, held by
 * the TLS library); close: before the socket is closed.
 */
struct scr_conn;
struct scr_io {
    ssize_t (*recv)(struct scr_conn *c, void *buf, size_t n);
    ssize_t (*send)(struct scr_conn *c, const void *p, size_t n);
    bool (*pending)(struct scr_conn *c);
    void (*close)(struct scr_conn *c);
};

struct scr_conn {
    char name[32];
    char mark[16];    /* an operator's notice marker (from its banner), or "" */
    const char *addr; /* what scr_connect was given (the caller's string) */
    int fd;
    bool eof;
    bool reset;
    bool wr_shut;
    int split;        /* 1: every send in 1-byte TCP segments */
    int split_gap_us; /* pause between split segments */
    bool auto_answer; /* codec output is sent to the peer */
    struct tn tn;
    struct tn_policy pol;
    struct tn_handlers h;
    struct scr_ev *ev;
    size_t nev, capev;
    uint8_t *raw; /* every byte received, as received */
    size_t nraw, capraw;
    uint8_t *data; /* data bytes received, unescaped */
    size_t ndata, capdata;
    size_t rd;     /* data bytes consumed by expect_data */
    uint8_t *outq; /* codec output waiting to be sent */
    size_t noutq, capoutq;
    uint64_t sent; /* bytes written */
    int64_t t_open;
    const struct scr_io *io; /* NULL: plain TCP */
    void *io_arg;
    /* scr_set_sink: data bytes go here, not to data/raw/ev (streams of
     * gigabytes); NULL: kept as above. */
    void (*sink)(void *arg, const uint8_t *p, size_t n);
    void *sink_arg;
    uint64_t nread; /* bytes received (kept in raw or not) */
    struct scr_conn *next;
};

int64_t scr_now_ms(void);
void scr_msleep(int ms);
/* Prints "FAIL <where>: <message>" to stderr. */
void scr_fail(const char *file, int line, const char *fmt, ...)
    VSPC_PRINTF(3, 4);
void scr_hex(FILE *f, const uint8_t *p, size_t n, size_t max);
/* Prints the connection's event log (and the last raw bytes). */
void scr_dump(struct scr_conn *c);

/* Called on every turn of every wait loop (e.g. an operator typing). */
void scr_set_hook(void (*fn)(void *), void *arg);

/* Checks "A.B.C.D:PORT" is in 127.0.0.0/8. */
bool scr_addr_ok(const char *addr);

/* Source address of later scr_connect calls ("127.0.0.2"; NULL: any). */
void scr_set_source(const char *ip);
/* Connects with retry for up to timeout_ms. NULL on failure (printed). */
struct scr_conn *scr_connect(const char *addr, const char *name,
                             int timeout_ms);
void scr_close(struct scr_conn *c);
/* Closes with an RST (SO_LINGER 0). */
void scr_abort(struct scr_conn *c);
void scr_close_all(void);
/* Sends FIN (shutdown write side). */
void scr_shut_wr(struct scr_conn *c);

/* Raw bytes (split per c->split). false on error (printed unless quiet). */
bool scr_send(struct scr_conn *c, const void *p, size_t n);
bool scr_send_quiet(struct scr_conn *c, const void *p, size_t n);
bool scr_send_verb(struct scr_conn *c, uint8_t verb, uint8_t opt);
/* Data with 0xFF doubled. */
bool scr_send_data(struct scr_conn *c, const void *p, size_t n);
/* FF FA E8 sub <payload escaped> FF F0 */
bool scr_send_vmx(struct scr_conn *c, uint8_t sub, const void *p, size_t n);
/* Builders for one-segment sends: append to buf (capacity cap), return new
 * length (or cap + 1 on overflow). */
size_t scr_put(uint8_t *buf, size_t len, size_t cap, const void *p, size_t n);
size_t scr_put_verb(uint8_t *buf, size_t len, size_t cap, uint8_t verb,
                    uint8_t opt);
size_t scr_put_vmx(uint8_t *buf, size_t len, size_t cap, uint8_t sub,
                   const void *p, size_t n);
size_t scr_put_data(uint8_t *buf, size_t len, size_t cap, const void *p,
                    size_t n);
/* A scripted host's opening in one go: WILL AUTH, DO and WILL BINARY, DO
 * and WILL SGA, WILL 232, KNOWN-SUBOPTIONS-1 (ks1), DO-PROXY 'S' "vSPC.py",
 * VM-VC-UUID uuid, VM-NAME name. */
size_t scr_put_hello(uint8_t *buf, size_t len, size_t cap, const uint8_t *ks1,
                     size_t nks1, const char *uuid, const char *name);

/* Reads what is available within timeout_ms. 1: got bytes, 0: nothing,
 * -1: EOF (now or before). */
int scr_pump(struct scr_conn *c, int timeout_ms);
/* Pumps every connection of the array for timeout_ms (poll on all). */
void scr_pump_many(struct scr_conn **cs, size_t n, int timeout_ms);
/* Pumps for ms milliseconds. */
void scr_settle(struct scr_conn *c, int ms);

/* Event helpers. "find" looks at unconsumed events only and consumes. */
const struct scr_ev *scr_wait_neg(struct scr_conn *c, uint8_t verb, uint8_t opt,
                                  int timeout_ms);
bool scr_expect_neg(struct scr_conn *c, uint8_t verb, uint8_t opt,
                    int timeout_ms);
/* Option-232 SB with this sub; *len = payload length (after sub). */
const uint8_t *scr_wait_vmx(struct scr_conn *c, uint8_t sub, size_t *len,
                            int timeout_ms);
const uint8_t *scr_expect_vmx(struct scr_conn *c, uint8_t sub, size_t *len,
                              int timeout_ms);
bool scr_expect_vmx_exact(struct scr_conn *c, uint8_t sub, const void *p,
                          size_t n, int timeout_ms);
/* Counts events (consumed or not) since index `from`. */
size_t scr_count_vmx(struct scr_conn *c, uint8_t sub, size_t from);
size_t scr_count_neg(struct scr_conn *c, uint8_t verb, uint8_t opt,
                     size_t from);
/* Pumps ms; false (printed) if an option-232 SB `sub` arrives meanwhile
 * (or is unconsumed already). sub = -1: any option-232 SB. */
bool scr_no_vmx(struct scr_conn *c, int sub, int ms);
/* Pumps ms; false if the connection is closed by then. */
bool scr_expect_open(struct scr_conn *c, int ms);
/* Waits for EOF/reset. */
bool scr_expect_eof(struct scr_conn *c, int timeout_ms);
bool scr_wait_eof(struct scr_conn *c, int timeout_ms); /* quiet */

/* Data stream. */
bool scr_wait_ndata(struct scr_conn *c, size_t n, int timeout_ms);
bool scr_expect_data(struct scr_conn *c, const void *want, size_t n,
                     int timeout_ms);
bool scr_expect_pattern(struct scr_conn *c, uint64_t seed, uint64_t off,
                        size_t n, int timeout_ms);
/* Pumps ms; false if new data bytes (beyond rd) arrive or are pending. */
bool scr_no_data(struct scr_conn *c, int ms);

/* From now on the data bytes of c go to fn(arg, ...) as they are parsed
 * (the unconsumed ones, after rd, first), and nothing received is kept.
 * Negotiations and SBs are still answered and logged as events. */
void scr_set_sink(struct scr_conn *c,
                  void (*fn)(void *arg, const uint8_t *p, size_t n), void *arg);
/* Reads once without waiting, at most max bytes, through the codec. The
 * number of bytes read, 0 if none were ready, -1 at EOF (now or before). */
long scr_read_some(struct scr_conn *c, size_t max);

/* ---- hypervisor side ---------------------------------------------------- */

/* Builds a VM-VC-UUID text ("01 23 ... ef-fe ...") for VM number n and its
 * normalised form (32 lowercase hex). */
void scr_uuid(unsigned n, char text[48], char norm[VMX_UUID_HEX + 1]);

/* Checks a KNOWN-SUBOPTIONS-2 payload holds every code we rely on. */
bool scr_check_ks2(const uint8_t *p, size_t n);

struct scr_hs {
    const char *uuid;   /* VM-VC-UUID payload text (NULL: no UUID sent) */
    const char *name;   /* VM-NAME (NULL: "vm-sim") */
    size_t name_len;    /* 0: strlen(name) */
    const char *uri;    /* service URI (NULL: "vSPC.py") */
    char dir;           /* 0: 'S' */
    bool ks1_first;     /* KS-1 + DO-PROXY before KS-2 has arrived */
    bool no_comport;    /* skip WILL COM-PORT */
    bool no_wait_proxy; /* do not expect WILL-PROXY */
    /* Peer connection: PEER(seq || secret) instead of DO-PROXY. */
    const uint8_t *seq;
    size_t nseq;
    const uint8_t *secret;
    size_t nsecret;
    bool expect_peer_ok; /* wait for PEER-OK(seq) before VM-NAME */
};

/* PROTOCOL.md 4.1 (or 4.2 with seq set). false on failure (printed). */
bool scr_handshake(struct scr_conn *c, const struct scr_hs *hs);
/* Telnet part only: WILL AUTH, answers, WILL 232, waits for KS-2. */
bool scr_negotiate(struct scr_conn *c);

/* ---- operator side ------------------------------------------------------ */

struct scr_console {
    char id[VMX_CONSOLE_ID_MAX + 1];
    char state[16];
    char hv[64];
    unsigned ops;
    uint64_t in, out;
    char name[1024];
    size_t name_len;
};

struct scr_conn *scr_op_connect(const char *addr);
/* Sends a command line, returns the reply text (without the prompt) in
 * out, NUL-terminated. false on timeout. */
bool scr_op_cmd(struct scr_conn *op, const char *cmd, char *out, size_t cap,
                int timeout_ms);
/* -1 on failure, else the number of consoles (up to max stored). */
int scr_op_list(struct scr_conn *op, struct scr_console *arr, int max);
/* 1 found, 0 not found, -1 failure. */
int scr_op_find(struct scr_conn *op, const char *id, struct scr_console *out);
/* Polls `list` until the console exists (and has `state` if not NULL). */
bool scr_op_wait_console(struct scr_conn *op, const char *id, const char *state,
                         int timeout_ms);
/* The next whole line op received after op->rd, without leading prompts
 * ("vspc> ") and its CR LF, into line (NUL-terminated, cut to cap - 1);
 * op->rd moves past it. Its whole length, or -1 if no whole line came. */
long scr_op_line(struct scr_conn *op, char *line, size_t cap);
/* "attach <target> <mode> [raw]". true on "ok attached": id and offset
 * filled, op->rd points at the first console byte. quiet: no FAIL line
 * for an "error" reply. */
bool scr_op_attach(struct scr_conn *op, const char *target, const char *mode,
                   bool raw, char *id_out, uint64_t *offset, bool quiet);
/* Operator connection attached (rw raw) to console id, offset 0 expected.
 * NULL on failure. */
struct scr_conn *scr_op_open_attached(const char *addr, const char *id,
                                      const char *mode, uint64_t *offset);

#endif /* VSPC_HVSIM_SCRIPT_H */
