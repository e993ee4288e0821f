/*
 * operator.h: op_*, the operator port (telnet, 127.0.0.1:13371 by
 * default; the contract is tests/hvsim/OPERATOR-PORT.md).
 *
 * An operator is in command mode (banner, prompt, line editing, `list`,
 * `attach`, `help`, `quit`) or attached to one console, where bytes flow
 * both ways (0xFF doubled on the wire) and conserver-style escapes apply
 * (--escape-char, or the attach's escape=, default ^E: ^Ec. detach, ^Ecr
 * replay, ^Ecf force write, ^Ecs spectator, ^Ecl break, ^Ec? help). A client
 * that accepts our WILL 233 speaks VMware's admin option instead
 * (PROTOCOL.md 8.2): port list, connect with a lock mode; it gets no banner, no
 * prompt and no escapes.
 *
 * Ownership: operators belong to proxy.operators; op_close() marks one
 * closing, detaches it from its console and queues it for the reap event.
 */
#ifndef VSPC_OPERATOR_H
#define VSPC_OPERATOR_H

#include "vspc/compat.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "acl.h"
#include "console.h"
#include "opcmd.h"
#include "proxy.h"
#include "telnet.h"

#define OP_LINE_MAX 512

#define OP_MARK_LEN 4

enum op_state {
    OP_ST_COMMAND = 0,
    OP_ST_LOGIN,     /* TLS handshake, or typing a name or password */
    OP_ST_VERIFYING, /* the password is being checked (opauth.c) */
    OP_ST_ATTACHING, /* waiting for the owner node's answer (cluster) */
    OP_ST_ATTACHED,
    OP_ST_CLOSING,
    OP_ST__COUNT,
};

struct oper;
struct auth_login;

/*
 * Where an attached operator's input and escapes go: its console on this
 * node (oplocal.c) or on the node that owns it (opremote.c). The operator
 * port itself never knows which.
 */
struct op_target_ops {
    /* Input toward the VM (escapes already taken out). */
    void (*input)(struct oper *op, const uint8_t *p, size_t n);
    /* ^Ecr, ^Ecf, ^Ecs: 'r' replay, 'f' force write, 's' spectator. */
    void (*escape)(struct oper *op, uint8_t ch);
    /* The socket's output drained below half its queue: more may come. */
    void (*room)(struct oper *op);
    /* Leave the console (escape, close, the owner went). Clears op->tgt. */
    void (*detach)(struct oper *op, const char *why);
};

struct oper {
    uint64_t id;
    enum op_state state;
    bool raw;   /* no escapes, no in-band notices */
    bool admin; /* speaks VMware's option 233 (vmware/vspc client) */
    bool banner_sent;
    bool read_blocked; /* console input flow control */
    bool last_cr;      /* NVT: drop the NUL of CR NUL */
    bool skip_lf;      /* attach line ended in CR: drop a LF/NUL */
    bool ro_told;      /* told once that its input is refused */
    bool tls;          /* the operators' TLS port */
    bool started;      /* negotiation begun (TLS: after the handshake) */
    bool authed;       /* logged in, or anonymous where allowed */
    bool typing_pw;    /* the line is a password: no echo */
    bool ro_right;     /* the ACL gives it read-only on its console */
    uint8_t login_tries;
    bool flush_close;      /* close once the output drained */
    uint8_t esc_state;     /* 0, 1 = saw the escape char, 2 = escape + 'c' */
    int esc;               /* attach ... escape=: -1 the node's --escape-char,
                              0 none, else the character */
    time_t attached_at;    /* when it attached (kept when it follows) */
    enum op_mode att_mode; /* the mode it attached with (who) */
    char att_id[VMX_CONSOLE_ID_MAX + 1]; /* the console it attached to */
    uint64_t wire_out; /* bytes ever queued to the socket (progress) */
    struct con_op co;  /* attached here: the console's view (mode, reader) */
    enum con_lock_req req; /* what it asked for (kept when it follows) */
    const struct op_target_ops *tgt; /* attaching or attached, else NULL */
    void *tgt_data;                  /* the target's own (opremote.c) */
    struct evbuffer *stash;          /* input read while attaching */
    struct proxy *px;
    struct bufferevent *bev;
    struct event *timer;   /* banner delay, close deadline */
    struct event *idle_ev; /* --operator-idle-timeout at the prompt */
    struct tn tn;
    struct console *con;
    char addr[64];
    /* This session's notice marker ("[vspc K7QX: ...]"): random, shown in
     * the banner, so that a VM's output cannot pass for vspc's notices
     * (the VM never sees it). */
    char mark[OP_MARK_LEN + 1];
    /* Who (auth.h): "" anonymous; login_user while logging in. */
    char user[72];
    char login_user[72];
    struct auth_login *login; /* the password being checked */
    struct sockaddr_storage sa;
    char line[OP_LINE_MAX];
    size_t line_len;
    TAILQ_ENTRY(oper) link; /* proxy.operators */
};

/* Accept an operator connection on fd. NULL (fd closed) on failure. */
struct oper *op_new(struct proxy *px, int fd, const struct sockaddr *sa);
/* The same on the operators' TLS port (px->op_tls): the session starts
 * once the handshake is done. */
struct oper *op_new_tls(struct proxy *px, int fd, const struct sockaddr *sa);
void op_close(struct oper *op, const char *why);
void op_free(struct oper *op);

/*
 * Console output reaches an attached operator through op->co.rd
 * (stream.h):
 * its queue is the socket's output buffer, up to cfg.op_queue_max bytes.
 * A full queue paces the VM (--slow-reader pace); a stalled reader is cut
 * loose and later caught up from the scrollback with an in-band notice
 * and a counted gap (even raw readers get it: they must know), or is
 * disconnected (--slow-reader disconnect).
 */
/* ---- for the targets (oplocal.c, opremote.c) ---- */

/* Console output to the operator, as is (0xFF doubled on the wire). */
void op_output(struct oper *op, const uint8_t *p, size_t n);
/* Bytes queued on the operator's socket. */
size_t op_output_queued(const struct oper *op);
/* Output [from, to) of console_id was skipped (slow reader): counted,
 * logged, told in-band. */
void op_output_gap(struct oper *op, const char *console_id, uint64_t from,
                   uint64_t to);
/* The attach succeeded: the reply, then console mode (input read again).
 * An operator already attached that follows its console to a new owner
 * (node) gets a notice instead of the reply. */
void op_attached(struct oper *op, const char *console_id, const char *node,
                 enum op_mode mode, uint64_t offset, uint64_t epoch);
/* The attach was refused: the reply, back to command mode. */
void op_attach_failed(struct oper *op, const char *err);
/* The console ended the attachment (its node went, it was fenced): told,
 * back to command mode. */
void op_ended(struct oper *op, const char *why);
/* A notice line, as op_notice, even to raw operators (they must know). */
void op_puts(struct oper *op, const char *s);
void op_printf(struct oper *op, const char *fmt, ...) VSPC_PRINTF(2, 3);
/* Close once the output is written (at most a few seconds). */
void op_close_flush(struct oper *op, const char *why);
/* The prompt of op's state ("vspc> ", "login: ", "Password: "). */
void op_prompt(struct oper *op);
/* Input read while reading was paused (attach, login), now used. */
void op_unstash(struct oper *op);
/* (Re)start the idle clock for op's state: the login's limit while it
 * logs in, --operator-idle-timeout at the prompt. */
void op_idle_arm(struct oper *op);

/*
 * opauth.c: the login and the rights of an operator (auth.h). Without
 * px->auth (unit tests) everyone is anonymous with every right.
 */
/* The session starts: client certificate, anonymous, or a login. Returns
 * false if op was closed. */
bool opa_start(struct oper *op);
/* A line typed at the login (state OP_ST_LOGIN). Returns true when op
 * left the line editor (checking the password, or closing). */
bool opa_line(struct oper *op, char *line, size_t len);
void opa_prompt(struct oper *op);
/* The `login [NAME]` command: an operator let in anonymously (or logged
 * in) logs in (again) as a user. true: the prompt is out; false: told
 * why not. */
bool opa_login_cmd(struct oper *op, const char *name);
/* Forget a login in progress (op closes). */
void opa_cancel(struct oper *op);
/* op's rights on a console. */
enum acl_right opa_right(struct oper *op, const char *console_id,
                         const char *vm_name);
/* May op run an administrative command (what: for the log)? */
bool opa_admin(struct oper *op, const char *what);
/* May op see the console at all (rights above none)? */
bool opa_sees(struct oper *op, const char *console_id, const char *vm_name);
/* The ACL refused op something (what) on a console: counted, logged. */
void opa_denied(struct oper *op, const char *what, const char *console_id);

/* For the command handlers (opcmds.c) and option 233 (opadmin.c). */
/* Attach op to key, here or on the node that owns it. Returns true when
 * op left command mode (attached, or waiting for the owner); false with
 * *err. With read-only rights it attaches as a spectator whatever it
 * asked. */
bool op_attach_key(struct oper *op, const char *key, enum con_lock_req req,
                   bool raw, const char **err);
/* Leave the console (if any). */
void op_detach(struct oper *op, const char *why);

/* The escape character of op's attachment (0: none). */
static inline uint8_t
op_escape_char(const struct oper *op)
{
    return op->esc >= 0 ? (uint8_t)op->esc : op->px->cfg.escape_char;
}

/* opcmds.c: the command-mode commands that answer from the node's state
 * (the parser is opcmd.c). */
void ocm_list(struct oper *op, bool json);
void ocm_help(struct oper *op);
void ocm_drain(struct oper *op, const struct opc *c);
/* The reply to a command line opc_parse refused (c->kind an error). */
void ocm_usage(struct oper *op, const struct opc *c);
/* ^Ec? while attached. */
void ocm_escape_help(struct oper *op);

/* opwho.c: `who` and the break escape. */
/* key as the operator port's attach finds it: a console of this node
 * (con_lookup: id, VM name, unique id prefix; *cp set) or, in a cluster,
 * another node's by id or VM name (*cp NULL). 0 with *id and *name (valid
 * until the loop runs again), or -1 with *err ("no such console",
 * "ambiguous ..."; *id is key, *name ""). */
int ocm_resolve(struct proxy *px, const char *key, struct console **cp,
                const char **id, const char **name, const char **err);
/* {console, name, node, operators: [{addr, user, mode, raw, tls, since,
 * since_unix}], remote_operators}: the operators of THIS node attached to
 * console id (c: this node's copy, or NULL); remote_operators counts those
 * attached through other nodes (null unless this node holds it). NULL on
 * ENOMEM. */
json_t *ocm_who_json(struct proxy *px, const char *id, const char *name,
                     const struct console *c);
void ocm_who(struct oper *op, const struct opc *c);
/* ^Ecl: a telnet BREAK toward the VM (write access needed). */
void ocm_break(struct oper *op);

/* opadmin.c: VMware's admin option 233 (PROTOCOL.md 8.2), subcommands
 * from vmware/vspc vspc/admin_option.py. */
enum {
    ADM_GET_VM_PORT_LIST = 0x10,
    ADM_VM_PORT_LIST = 0x11,
    ADM_VM_PORT_SET_CONNECTION = 0x20,
    ADM_VM_PORT_CONNECTED = 0x21,
    ADM_VM_PORT_DISCONNECTED = 0x22,
};
/* A one-byte option-233 subnegotiation. */
void adm_send(struct oper *op, uint8_t sub);
/* An option-233 request (the SB payload, n > 0). */
void adm_request(struct oper *op, const uint8_t *p, size_t n);

/* oplocal.c: a console of this node. */
void opl_init(struct oper *op);
/* 0, or -1 with *err (nothing changed). */
int opl_attach(struct oper *op, struct console *c, enum con_lock_req req,
               const char **err);
/* The same for an operator that follows the console here from another
 * node: its output goes on at stream offset `from` (UINT64_MAX: the
 * scrollback, as a new attach). */
int opl_attach_from(struct oper *op, struct console *c, enum con_lock_req req,
                    uint64_t from, const char **err);

/* An in-band notice line ("[vspc: ...]\r\n"); not sent to raw operators. */
void op_notice(struct oper *op, const char *text);
/* Console input flow control: stop or resume reading this operator. */
void op_set_input_blocked(struct oper *op, bool blocked);

/* Pin op's notice marker (tests; OP_MARK_LEN characters). */
void op_set_mark(struct oper *op, const char *mark);

#endif /* VSPC_OPERATOR_H */
