/* operator.c: see operator.h and tests/hvsim/OPERATOR-PORT.md. */
#include "vspc/compat.h"
#include "operator.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <jansson.h>

#include "vspc/log.h"
#include "session.h"

#define OP_PROMPT "vspc> "

static const char *const op_mode_names[OP_MODE__COUNT] = {"rw", "ro"};

/* ---- output -------------------------------------------------------------- */

static void
op_tn_out(void *arg, const uint8_t *p, size_t n)
{
    struct operator* op = arg;

    if (op->state != OP_ST_CLOSING)
        bufferevent_write(op->bev, p, n);
}

static void
op_puts(struct operator* op, const char *s)
{
    tn_send_data(&op->tn, (const uint8_t *)s, strlen(s));
}

static void VSPC_PRINTF(2, 3)
    op_printf(struct operator* op, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(buf))
        n = sizeof(buf) - 1;
    tn_send_data(&op->tn, (const uint8_t *)buf, (size_t)n);
}

void
op_output(struct operator* op, const uint8_t *p, size_t n)
{
    if (op->state != OP_ST_ATTACHED)
        return;
    tn_send_data(&op->tn, p, n);
    if (evbuffer_get_length(bufferevent_get_output(op->bev)) >
        op->px->cfg.op_queue_max) {
        op->px->stats.ops_dropped_slow++;
        log_warnx("console=%s operator %s too slow (%zu bytes queued): "
                  "disconnected",
                  op->con ? op->con->id : "-", op->addr,
                  evbuffer_get_length(bufferevent_get_output(op->bev)));
        op_close(op, "reader too slow");
    }
}

void
op_notice(struct operator* op, const char *text)
{
    if (op->raw || op->state != OP_ST_ATTACHED)
        return;
    op_printf(op, "\r\n[vspc: %s]\r\n", text);
}

void
op_set_input_blocked(struct operator* op, bool blocked)
{
    op->read_blocked = blocked;
    if (op->state == OP_ST_CLOSING)
        return;
    if (blocked)
        bufferevent_disable(op->bev, EV_READ);
    else
        bufferevent_enable(op->bev, EV_READ);
}

/* ---- commands ---------------------------------------------------------- */

static void
op_cmd_list(struct operator* op, bool json)
{
    struct console *c;

    if (json) {
        json_t *arr = json_array();
        char *text;

        for (c = con_first(op->px->consoles); c; c = con_next(c)) {
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "id",
                               c->id, "name", c->name, "state",
                               con_state_str(con_state(c)), "hypervisor",
                               c->hv_addr, "operators", (json_int_t)c->n_ops,
                               "bytes_in", (json_int_t)c->bytes_in, "bytes_out",
                               (json_int_t)c->bytes_out, "offset",
                               (json_int_t)c->offset));
        }
        text = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        if (text) {
            op_puts(op, text);
            op_puts(op, "\r\n");
            free(text);
        }
        return;
    }
    for (c = con_first(op->px->consoles); c; c = con_next(c)) {
        op_printf(op, "%s %s hv=%s ops=%u in=%llu out=%llu name=%s\r\n", c->id,
                  con_state_str(con_state(c)), c->hv_addr, c->n_ops,
                  (unsigned long long)c->bytes_in,
                  (unsigned long long)c->bytes_out, c->name);
    }
}

static void op_cmd_help(struct operator* op)
{
    op_puts(op, "commands:\r\n"
                "  list [--json]                 consoles on this node\r\n"
                "  attach <console> [rw|ro] [raw]\r\n"
                "                                console: id, VM name or "
                "unique id prefix\r\n"
                "  help                          this text\r\n"
                "  quit                          leave\r\n");
}

/* Returns true when the operator left command mode. */
static bool
op_cmd_attach(struct operator* op, char *args)
{
    char *save = NULL, *tok;
    const char *key = NULL, *err = NULL;
    enum op_mode mode = OP_MODE_RW;
    bool raw = false;
    struct console *c;
    uint64_t start;

    for (tok = strtok_r(args, " \t", &save); tok;
         tok = strtok_r(NULL, " \t", &save)) {
        if (key == NULL)
            key = tok;
        else if (strcmp(tok, "rw") == 0)
            mode = OP_MODE_RW;
        else if (strcmp(tok, "ro") == 0)
            mode = OP_MODE_RO;
        else if (strcmp(tok, "raw") == 0)
            raw = true;
        else {
            op_printf(op, "error unknown attach option \"%.32s\"\r\n", tok);
            return false;
        }
    }
    if (key == NULL) {
        op_puts(op, "error usage: attach <console> [rw|ro] [raw]\r\n");
        return false;
    }
    c = con_lookup(op->px->consoles, key, &err);
    if (c == NULL) {
        op_printf(op, "error %s\r\n", err);
        return false;
    }
    op->mode = mode;
    op->raw = raw;
    op->con = c;
    op->state = OP_ST_ATTACHED;
    op->skip_lf = op->last_cr;
    op->last_cr = false;
    op_printf(op, "ok attached %s %s offset=%llu\r\n", c->id,
              op_mode_names[mode],
              (unsigned long long)(c->offset - c->ring_len));
    log_info("console=%s operator %s attached %s%s", c->id, op->addr,
             op_mode_names[mode], raw ? " raw" : "");
    con_notice(c, "operator %s attached (%s)", op->addr, op_mode_names[mode]);
    start = con_attach(c, op);
    (void)start;
    return op->state == OP_ST_ATTACHED;
}

/* Returns true when the operator left command mode. */
static bool op_run_line(struct operator* op)
{
    char *line = op->line, *cmd, *rest;

    op->line[op->line_len] = '\0';
    op->line_len = 0;
    while (*line == ' ' || *line == '\t')
        line++;
    cmd = line;
    rest = strpbrk(line, " \t");
    if (rest)
        *rest++ = '\0';
    else
        rest = line + strlen(line);
    if (*cmd == '\0') {
        /* empty line */
    } else if (strcmp(cmd, "list") == 0) {
        op_cmd_list(op, strstr(rest, "--json") != NULL);
    } else if (strcmp(cmd, "attach") == 0) {
        if (op_cmd_attach(op, rest))
            return true;
        if (op->state == OP_ST_CLOSING)
            return true;
    } else if (strcmp(cmd, "help") == 0 || strcmp(cmd, "?") == 0) {
        op_cmd_help(op);
    } else if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "exit") == 0) {
        op_puts(op, "bye\r\n");
        op_close(op, "quit");
        return true;
    } else {
        op_printf(op, "error unknown command \"%.40s\" (try help)\r\n", cmd);
    }
    op_puts(op, OP_PROMPT);
    return false;
}

static void
op_echo(struct operator* op, const char *s, size_t n)
{
    if (tn_local_enabled(&op->tn, TN_OPT_ECHO))
        tn_send_data(&op->tn, (const uint8_t *)s, n);
}

/* Command mode, byte by byte. Returns how many bytes it used: fewer than
 * n when an attach switched the operator to the console. */
static size_t
op_command_bytes(struct operator* op, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = p[i];
        bool was_cr = op->last_cr;

        op->last_cr = false;
        if ((ch == '\n' || ch == '\0') && was_cr)
            continue; /* CR LF, CR NUL */
        if (ch == '\r' || ch == '\n') {
            op->last_cr = ch == '\r';
            op_echo(op, "\r\n", 2);
            if (op_run_line(op))
                return i + 1;
        } else if (ch == 0x08 || ch == 0x7f) {
            if (op->line_len > 0) {
                op->line_len--;
                op_echo(op, "\b \b", 3);
            }
        } else if (ch == 0x15) { /* ^U */
            while (op->line_len > 0) {
                op->line_len--;
                op_echo(op, "\b \b", 3);
            }
        } else if (ch == 0x03) { /* ^C */
            op->line_len = 0;
            op_echo(op, "^C\r\n", 4);
            op_puts(op, OP_PROMPT);
        } else if (ch == 0x04 && op->line_len == 0) { /* ^D */
            op_close(op, "end of input");
            return n;
        } else if (ch >= 0x20 && op->line_len + 1 < OP_LINE_MAX) {
            op->line[op->line_len++] = (char)ch;
            op_echo(op, (const char *)&ch, 1);
        }
    }
    return n;
}

static void
op_console_bytes(struct operator* op, const uint8_t *p, size_t n)
{
    uint8_t buf[4096];
    size_t o = 0;

    if (op->skip_lf) {
        /* The LF or NUL of the attach line's CR LF / CR NUL. */
        op->skip_lf = false;
        if (p[0] == '\n' || p[0] == '\0') {
            p++;
            n--;
        }
    }
    if (op->mode != OP_MODE_RW || op->con == NULL || n == 0)
        return; /* a spectator's input never reaches the VM */
    if (tn_remote_enabled(&op->tn, TN_OPT_BINARY)) {
        con_op_input(op->con, p, n);
        return;
    }
    /* NVT: the client sends CR as CR NUL; the NUL is not the user's. */
    for (size_t i = 0; i < n; i++) {
        bool was_cr = op->last_cr;

        op->last_cr = p[i] == '\r';
        if (p[i] == '\0' && was_cr)
            continue;
        buf[o++] = p[i];
        if (o == sizeof(buf)) {
            con_op_input(op->con, buf, o);
            o = 0;
        }
    }
    if (o)
        con_op_input(op->con, buf, o);
}

static void
op_tn_data(void *arg, const uint8_t *p, size_t n)
{
    struct operator* op = arg;

    if (op->state == OP_ST_COMMAND) {
        size_t used = op_command_bytes(op, p, n);

        p += used;
        n -= used;
    }
    if (op->state == OP_ST_ATTACHED && n > 0)
        op_console_bytes(op, p, n);
}

static const struct tn_handlers op_tn_handlers = {
    .output = op_tn_out,
    .data = op_tn_data,
};

/* ---- libevent -------------------------------------------------------------
 */

static void
op_read_cb(struct bufferevent *bev, void *arg)
{
    struct operator* op = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    while (op->state != OP_ST_CLOSING && !tn_failed(&op->tn)) {
        struct evbuffer_iovec v;
        size_t used;

        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
            break;
        used = tn_feed(&op->tn, v.iov_base, v.iov_len);
        evbuffer_drain(in, used);
        if (used < v.iov_len)
            break;
        /* Flow control may have paused us mid-buffer: leave the rest. */
        if (op->read_blocked)
            break;
    }
    if (tn_failed(&op->tn))
        op_close(op, "telnet protocol error");
}

static void
op_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct operator* op = arg;

    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        op_close(op, (what & BEV_EVENT_EOF) ? "operator closed"
                                            : "connection error");
}

struct operator* op_new(struct proxy *px, int fd, const struct sockaddr *sa)
{
    struct operator* op = calloc(1, sizeof(*op));

    if (op == NULL) {
        evutil_closesocket(fd);
        return NULL;
    }
    op->px = px;
    op->id = ++px->next_session_id;
    op->state = OP_ST_COMMAND;
    proxy_addr_str(sa, op->addr, sizeof(op->addr));
    evutil_make_socket_nonblocking(fd);
    op->bev = bufferevent_socket_new(px->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (op->bev == NULL) {
        evutil_closesocket(fd);
        free(op);
        return NULL;
    }
    tn_init(&op->tn, &px->op_policy, &op_tn_handlers, op);
    bufferevent_setcb(op->bev, op_read_cb, NULL, op_event_cb, op);
    bufferevent_enable(op->bev, EV_READ | EV_WRITE);
    TAILQ_INSERT_TAIL(&px->operators, op, link);
    px->stats.ops_accepted++;
    tn_request_local(&op->tn, TN_OPT_ECHO, true);
    tn_request_local(&op->tn, TN_OPT_SGA, true);
    tn_request_remote(&op->tn, TN_OPT_SGA, true);
    tn_request_local(&op->tn, TN_OPT_BINARY, true);
    tn_request_remote(&op->tn, TN_OPT_BINARY, true);
    op_printf(op, "vspc %s node %s\r\n", VSPC_VERSION, px->cfg.node_id);
    op_puts(op, OP_PROMPT);
    log_debug("operator %s connected", op->addr);
    return op;
}

void
op_close(struct operator* op, const char *why)
{
    struct proxy *px = op->px;
    struct console *c = op->con;

    if (op->state == OP_ST_CLOSING)
        return;
    op->state = OP_ST_CLOSING;
    if (c) {
        con_detach(c, op);
        op->con = NULL;
        log_info("console=%s operator %s detached: %s", c->id, op->addr, why);
        con_notice(c, "operator %s detached", op->addr);
    } else {
        log_debug("operator %s closed: %s", op->addr, why);
    }
    bufferevent_disable(op->bev, EV_READ | EV_WRITE);
    TAILQ_REMOVE(&px->operators, op, link);
    TAILQ_INSERT_TAIL(&px->reap_operators, op, link);
    proxy_schedule_reap(px);
}

void op_free(struct operator* op)
{
    if (op->bev)
        bufferevent_free(op->bev);
    free(op);
}
