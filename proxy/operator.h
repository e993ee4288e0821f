/*
 * operator.h: op_*, the operator port (telnet, 127.0.0.1:13371 by
 * default; the contract is tests/hvsim/OPERATOR-PORT.md).
 *
 * An operator is in command mode (banner, prompt, line editing, `list`,
 * `attach`, `help`, `quit`) or attached to one console, where bytes flow
 * both ways (0xFF doubled on the wire).
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

struct operator
{
    uint64_t id;
    enum op_state state;
    enum op_mode mode;
    bool raw;          /* no escapes, no in-band notices */
    bool read_blocked; /* console input flow control */
    bool last_cr;      /* NVT: drop the NUL of CR NUL */
    bool skip_lf;      /* attach line ended in CR: drop a LF/NUL */
    struct proxy *px;
    struct bufferevent *bev;
    struct tn tn;
    struct console *con;
    char addr[64];
    char line[OP_LINE_MAX];
    size_t line_len;
    TAILQ_ENTRY(operator) link;     /* proxy.operators */
    TAILQ_ENTRY(operator) con_link; /* console.ops */
};

struct operator* op_new(struct proxy *px, int fd, const struct sockaddr *sa);
void op_close(struct operator* op, const char *why);
void op_free(struct operator* op);

/* Console output to this operator (escaped); closes a reader whose queue
 * passed cfg.op_queue_max. */
void op_output(struct operator* op, const uint8_t *p, size_t n);
/* An in-band notice line ("[vspc: ...]\r\n"); not sent to raw operators. */
void op_notice(struct operator* op, const char *text);
/* Console input flow control: stop or resume reading this operator. */
void op_set_input_blocked(struct operator* op, bool blocked);

#endif /* VSPC_OPERATOR_H */
