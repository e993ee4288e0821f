/*
 * operator.h: op_*, the operator port (telnet, 127.0.0.1:13371 by
 * default; the contract is tests/hvsim/OPERATOR-PORT.md).
 *
 * An operator is in command mode (banner, prompt, line editing, `list`,
 * `attach`, `help`, `quit`) or attached to one console, where bytes flow
 * both ways (0xFF doubled on the wire) and conserver-style escapes apply
 * (default ^E: ^Ec. detach, ^Ecr replay, ^Ecf force write, ^Ecs spectator,
 * ^Ec? help). A client that accepts our WILL 233 speaks VMware's admin
 * option instead (PROTOCOL.md 8.2): port list, connect with a lock mode;
 * it gets no banner, no prompt and no escapes.
 *
 * Ownership: operators belong to proxy.operators; op_close() marks one
 * closing, detaches it from its console and queues it for the reap event.
 */
#ifndef VSPC_OPERATOR_H
#define VSPC_OPERATOR_H

#include "vspc/compat.h"

#include <sys/queue.h>
#include <event2/bufferevent.h>

#include "console.h"
#include "proxy.h"
#include "telnet.h"

#define OP_LINE_MAX 512

enum op_state {
    OP_ST_COMMAND = 0,
    OP_ST_ATTACHED,
    OP_ST_CLOSING,
    OP_ST__COUNT,
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
    bool flush_close;  /* close once the output drained */
    uint8_t esc_state; /* 0, 1 = saw the escape char, 2 = escape + 'c' */
    uint64_t wire_out; /* bytes ever queued to the socket (progress) */
    struct con_op co;  /* while attached: the console's view (mode, reader) */
    struct proxy *px;
    struct bufferevent *bev;
    struct event *timer; /* banner delay, close deadline */
    struct tn tn;
    struct console *con;
    char addr[64];
    char line[OP_LINE_MAX];
    size_t line_len;
    TAILQ_ENTRY(oper) link; /* proxy.operators */
};

/* Accept an operator connection on fd. NULL (fd closed) on failure. */
struct oper *op_new(struct proxy *px, int fd, const struct sockaddr *sa);
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
/* An in-band notice line ("[vspc: ...]\r\n"); not sent to raw operators. */
void op_notice(struct oper *op, const char *text);
/* Console input flow control: stop or resume reading this operator. */
void op_set_input_blocked(struct oper *op, bool blocked);

#endif /* VSPC_OPERATOR_H */
