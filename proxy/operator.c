/* operator.c: see operator.h and tests/hvsim/OPERATOR-PORT.md. */
#include "vspc/compat.h"
#include "operator.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <event2/buffer.h>
#include <event2/util.h>
#include <openssl/rand.h>
#include <jansson.h>

#include "vspc/clock.h"
#include "vspc/log.h"
#include "session.h"
#include "cluster.h"
#include "node.h"
#include "auth.h"
#include "opcmd.h"
#include "tls.h"
#include "vmotion.h"

#define OP_PROMPT "vspc> "
/* A client that answers WILL 233 within this gets no banner. */
#define OP_BANNER_DELAY_MS 300
/* quit: the output gets this long to drain. */
#define OP_FLUSH_SECS 5
/* A login (or TLS handshake) must be done within this (or the idle
 * timeout if shorter). */
#define OP_LOGIN_SECS 60.0

static const char *const op_mode_names[OP_MODE__COUNT] = {"rw", "ro"};

/* ---- output -------------------------------------------------------------- */

static void
op_tn_out(void *arg, const uint8_t *p, size_t n)
{
    struct oper *op = arg;

    if (op->state == OP_ST_CLOSING)
        return;
    if (bufferevent_write(op->bev, p, n) != 0) {
        log_warnx("operator %s: out of memory queueing %zu bytes to it: "
                  "closing it",
                  op->addr, n);
        op_close(op, "out of memory");
        return;
    }
    op->wire_out += n;
}

void
op_puts(struct oper *op, const char *s)
{
    tn_send_data(&op->tn, (const uint8_t *)s, strlen(s));
}

void
op_printf(struct oper *op, const char *fmt, ...)
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

size_t
op_output_queued(const struct oper *op)
{
    return evbuffer_get_length(bufferevent_get_output(op->bev));
}

void
op_output(struct oper *op, const uint8_t *p, size_t n)
{
    tn_send_data(&op->tn, p, n);
}

void
op_output_gap(struct oper *op, const char *console_id, uint64_t from,
              uint64_t to)
{
    char text[160];

    op->px->stats.ops_gaps++;
    op->px->stats.ops_gap_bytes += to - from;
    log_warnx("console=%s operator %s missed %llu bytes (slow reader)",
              console_id, op->addr, (unsigned long long)(to - from));
    /* Visible in-band even to raw readers: they must know. */
    snprintf(text, sizeof(text),
             "\r\n[vspc %s: %llu bytes of output skipped (reader too slow); "
             "resuming at offset %llu]\r\n",
             op->mark, (unsigned long long)(to - from), (unsigned long long)to);
    op_puts(op, text);
}

void
op_notice(struct oper *op, const char *text)
{
    if (op->raw || op->state != OP_ST_ATTACHED)
        return;
    op_printf(op, "\r\n[vspc %s: %s]\r\n", op->mark, text);
}

void
op_set_input_blocked(struct oper *op, bool blocked)
{
    op->read_blocked = blocked;
    if (op->state == OP_ST_CLOSING || op->flush_close)
        return;
    if (blocked) {
        bufferevent_disable(op->bev, EV_READ);
        return;
    }
    bufferevent_enable(op->bev, EV_READ);
    /* Bytes read before the pause are still in the input buffer: run the
     * read callback again, deferred so we never re-enter a callback. */
    if (evbuffer_get_length(bufferevent_get_input(op->bev)) > 0)
        bufferevent_trigger(op->bev, EV_READ,
                            BEV_TRIG_IGNORE_WATERMARKS |
                                BEV_TRIG_DEFER_CALLBACKS);
}

void
op_close_flush(struct oper *op, const char *why)
{
    struct timeval tv = {OP_FLUSH_SECS, 0};

    if (op_output_queued(op) == 0) {
        op_close(op, why);
        return;
    }
    op->flush_close = true;
    bufferevent_disable(op->bev, EV_READ);
    evtimer_add(op->timer, &tv);
}

/* ---- attach and detach ----------------------------------------------------
 */

void
op_prompt(struct oper *op)
{
    if (op->state == OP_ST_LOGIN)
        opa_prompt(op);
    else
        op_puts(op, OP_PROMPT);
}

static void
op_banner(struct oper *op)
{
    if (op->banner_sent || op->admin || !op->started)
        return;
    op->banner_sent = true;
    evtimer_del(op->timer);
    op_printf(op,
              "vspc %s node %s (help for commands); vspc's notices on this "
              "session read [vspc %s: ...]\r\n",
              VSPC_VERSION, op->px->cfg.node_id, op->mark);
    if (op->user[0] && op->state == OP_ST_COMMAND)
        op_printf(op, "logged in as %s (client certificate)\r\n", op->user);
    op_prompt(op);
}

/* Input that arrived while the attach was pending, now for the console
 * (or command mode). */
static void op_tn_data(void *arg, const uint8_t *p, size_t n);

void
op_unstash(struct oper *op)
{
    size_t n = evbuffer_get_length(op->stash);
    uint8_t *tmp;

    op_set_input_blocked(op, false);
    if (n == 0 || (tmp = malloc(n)) == NULL)
        return;
    evbuffer_remove(op->stash, tmp, n); /* a new attach may stash again */
    op_tn_data(op, tmp, n);
    free(tmp);
}

void
op_attached(struct oper *op, const char *console_id, const char *node,
            enum op_mode mode, uint64_t offset, uint64_t epoch)
{
    /* Only a remote attach waited (reading paused, input stashed); a local
     * one may have been paused just now by the console's input flow
     * control, which stays. */
    bool waited = op->state == OP_ST_ATTACHING;
    char text[200];

    if (op->state == OP_ST_ATTACHED) { /* it followed the console */
        snprintf(text, sizeof(text),
                 "console now on node %.63s (epoch %llu), %s, from offset "
                 "%llu",
                 node, (unsigned long long)epoch, op_mode_names[mode],
                 (unsigned long long)offset);
        log_info("console=%s operator %s: %s", console_id, op->addr, text);
        op_notice(op, text);
        return;
    }

    op->state = OP_ST_ATTACHED;
    op->esc_state = 0;
    op->ro_told = false;
    op->attached_at = time(NULL);
    op->att_mode = mode;
    snprintf(op->att_id, sizeof(op->att_id), "%s", console_id);
    log_info("console=%s operator %s attached %s%s%s", console_id, op->addr,
             op_mode_names[mode], op->raw ? " raw" : "",
             op->admin ? " (option 233)" : "");
    if (!op->admin)
        op_printf(op, "ok attached %s %s offset=%llu epoch=%llu\r\n",
                  console_id, op_mode_names[mode], (unsigned long long)offset,
                  (unsigned long long)epoch);
    else
        adm_send(op, ADM_VM_PORT_CONNECTED);
    if (waited)
        op_unstash(op);
}

void
op_attach_failed(struct oper *op, const char *err)
{
    op->tgt = NULL;
    op->state = OP_ST_COMMAND;
    op->last_cr = op->skip_lf; /* the attach line's CR, for command mode */
    op->skip_lf = false;
    if (op->admin) {
        log_info("operator %s (option 233): connect refused: %s", op->addr,
                 err);
        adm_send(op, ADM_VM_PORT_DISCONNECTED);
    } else {
        op_printf(op, "error %s\r\n" OP_PROMPT, err);
    }
    op_unstash(op);
}

void
op_ended(struct oper *op, const char *why)
{
    op->tgt = NULL;
    if (op->state != OP_ST_ATTACHED && op->state != OP_ST_ATTACHING)
        return;
    if (op->state == OP_ST_ATTACHING) {
        op_attach_failed(op, why);
        return;
    }
    op->state = OP_ST_COMMAND;
    op->esc_state = 0;
    if (op->read_blocked)
        op_set_input_blocked(op, false);
    if (op->admin) {
        adm_send(op, ADM_VM_PORT_DISCONNECTED);
        return;
    }
    op_printf(op, "\r\n[vspc %s: detached: %s]\r\n" OP_PROMPT, op->mark, why);
}

void
op_detach(struct oper *op, const char *why)
{
    if (op->tgt == NULL)
        return;
    op->tgt->detach(op, why); /* clears op->tgt */
    evbuffer_drain(op->stash, evbuffer_get_length(op->stash));
    /* Paused by that console's input flow control: read commands again. */
    if (op->read_blocked)
        op_set_input_blocked(op, false);
}

/* Attach op to key, here or on the node that owns it. Returns true when
 * op left command mode (attached, or waiting for the owner). With
 * read-only rights it attaches as a spectator whatever it asked. */
bool
op_attach_key(struct oper *op, const char *key, enum con_lock_req req, bool raw,
              const char **err)
{
    struct console *c = con_lookup(op->px->consoles, key, err);
    bool last_cr = op->last_cr;
    int rc;

    const char *id = c ? c->id : key, *name = c ? c->name : "";
    enum acl_right right;

    if (c == NULL)
        clu_names(op->px->clu, key, &id, &name);
    if ((right = opa_right(op, id, name)) == ACL_NONE) {
        /* Said like an unknown console: no hint that it exists. */
        if (c || clu_knows(op->px->clu, key))
            opa_denied(op, "attach", id);
        *err = "no such console";
        return false;
    }
    op->ro_right = right == ACL_RO;
    if (op->ro_right)
        req = CON_LOCK_READONLY;
    op->raw = raw;
    op->req = req;
    op->skip_lf = last_cr;
    op->last_cr = false;
    bool shadowed = c && clu_shadowed(op->px->clu, c);

    if (c && !shadowed && opl_attach(op, c, req, err) == 0)
        return true;
    if ((c == NULL || shadowed) &&
        (rc = clu_attach(op->px->clu, op, c ? c->id : key, req, err)) > 0) {
        op->state = OP_ST_ATTACHING;
        op_set_input_blocked(op, true); /* until the owner answers */
        return true;
    }
    op->skip_lf = false;
    op->last_cr = last_cr;
    return false;
}

/* ---- command mode -------------------------------------------------------- */

/* Returns true when the operator left command mode. */
static bool
op_run_line(struct oper *op)
{
    struct opc c;
    const char *err = NULL;

    op->line[op->line_len] = '\0';
    if (op->state == OP_ST_LOGIN) {
        size_t n = op->line_len;

        op->line_len = 0;
        return opa_line(op, op->line, n);
    }
    op->line_len = 0;
    opc_parse(op->line, &c);
    switch (c.kind) {
    case OPC_EMPTY:
        break;
    case OPC_LIST:
        ocm_list(op, c.json);
        break;
    case OPC_ATTACH:
        op->esc = c.esc;
        if (op_attach_key(op, c.key, c.req, c.raw, &err))
            return true;
        op_printf(op, "error %s\r\n", err);
        break;
    case OPC_DRAIN:
    case OPC_DRAIN_STATUS:
    case OPC_UNDRAIN:
        ocm_drain(op, &c);
        break;
    case OPC_HELP:
        ocm_help(op);
        break;
    case OPC_WHO:
        ocm_who(op, &c);
        break;
    case OPC_QUIT:
        op_puts(op, "bye\r\n");
        op_close_flush(op, "quit");
        return true;
    case OPC_LOGIN:
        if (opa_login_cmd(op, c.key)) {
            op_idle_arm(op); /* the login's own limit from now */
            return false;    /* the login prompt is out */
        }
        break;
    default:
        ocm_usage(op, &c);
        break;
    }
    op_puts(op, OP_PROMPT);
    return false;
}

static void
op_echo(struct oper *op, const char *s, size_t n)
{
    if (op->typing_pw && !(n == 2 && s[0] == '\r'))
        return; /* a password: only the line end */
    if (tn_local_enabled(&op->tn, TN_OPT_ECHO))
        tn_send_data(&op->tn, (const uint8_t *)s, n);
}

/* Command mode, byte by byte. Returns how many bytes it used: fewer than
 * n when an attach switched the operator to the console. */
static size_t
op_command_bytes(struct oper *op, const uint8_t *p, size_t n)
{
    op_banner(op);
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
            op_prompt(op);
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

/* ---- attached: escapes and input ------------------------------------------
 */

static void
op_input(struct oper *op, const uint8_t *p, size_t n)
{
    if (n > 0 && op->tgt)
        op->tgt->input(op, p, n);
}

/* Escape command ch after "<esc> c". Returns false if op left the console. */
static bool
op_escape(struct oper *op, uint8_t ch)
{
    switch (ch) {
    case '.':
        op_detach(op, "escape");
        op->state = OP_ST_COMMAND;
        op_printf(op, "\r\n[vspc %s: detached]\r\n" OP_PROMPT, op->mark);
        return false;
    case 'f':
        if (op->ro_right) {
            opa_denied(op, "force write", op->con ? op->con->id : "-");
            op_notice(op, "force write needs read-write access");
            return true;
        }
        /* fall through */
    case 'r':
    case 's':
        if (op->tgt)
            op->tgt->escape(op, ch);
        return true;
    case 'l':
        ocm_break(op);
        return true;
    case '?':
        ocm_escape_help(op);
        return true;
    default:
        op_notice(op, "unknown escape (escape c ? for help)");
        return true;
    }
}

/* Attached input (NVT already undone), escapes applied. Returns the bytes
 * used: fewer than n when an escape took the operator off the console. */
static size_t
op_console_bytes(struct oper *op, const uint8_t *p, size_t n)
{
    uint8_t esc = op_escape_char(op);
    size_t run = 0, skipped = 0;

    if (op->skip_lf && n > 0) {
        /* The LF or NUL of the attach line's CR LF / CR NUL. */
        op->skip_lf = false;
        if (p[0] == '\n' || p[0] == '\0') {
            p++;
            n--;
            skipped = 1;
        }
    }
    if (op->raw || esc == 0) {
        op_input(op, p, n);
        return skipped + n;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = p[i];

        if (op->esc_state == 0) {
            if (ch != esc)
                continue;
            op_input(op, p + run, i - run);
            op->esc_state = 1;
        } else if (op->esc_state == 1) {
            if (ch == 'c') {
                op->esc_state = 2;
            } else {
                /* Not an escape: the escape char and this byte are data. */
                op->esc_state = 0;
                op_input(op, &esc, 1);
                if (ch == esc) {
                    op->esc_state = 1;
                } else {
                    run = i;
                    continue;
                }
            }
        } else {
            op->esc_state = 0;
            if (!op_escape(op, ch))
                return skipped + i + 1; /* the rest is for command mode */
        }
        run = i + 1;
    }
    if (op->esc_state == 0)
        op_input(op, p + run, n - run);
    return skipped + n;
}

/* Attached input as it came from the telnet codec. Without BINARY the
 * client sends CR as CR NUL: the NUL is not the user's. Returns the bytes
 * used, fewer than n when the operator left the console. */
static size_t
op_attached_bytes(struct oper *op, const uint8_t *p, size_t n)
{
    bool nvt = !tn_remote_enabled(&op->tn, TN_OPT_BINARY);
    size_t i = 0;

    while (i < n && op->state == OP_ST_ATTACHED) {
        size_t j = i, used;

        if (nvt && p[i] == '\0' && op->last_cr) {
            op->last_cr = false;
            i++;
            continue;
        }
        /* A run up to (not including) the next NUL that follows a CR. */
        for (j = i + 1; j < n && !(nvt && p[j] == '\0' && p[j - 1] == '\r');
             j++)
            ;
        used = op_console_bytes(op, p + i, j - i);
        op->last_cr = used > 0 && p[i + used - 1] == '\r';
        if (used < j - i) { /* left the console: last_cr is command mode's */
            op->last_cr = false;
            return i + used;
        }
        i = j;
    }
    return i;
}

static void
op_tn_subneg(void *arg, uint8_t opt, const uint8_t *p, size_t n)
{
    struct oper *op = arg;

    if (opt != TN_OPT_VSPC_ADMIN || !op->admin || n == 0) {
        log_debug("operator %s: SB option %u ignored", op->addr, opt);
        return;
    }
    adm_request(op, p, n);
}

static void
op_tn_option(void *arg, uint8_t opt, bool local, bool enabled)
{
    struct oper *op = arg;

    if (opt == TN_OPT_VSPC_ADMIN && local && enabled && !op->authed) {
        /* Its client cannot log in: only where anonymous is allowed. */
        log_warnx("operator %s: option 233 refused: a login is needed from "
                  "there (--operator-anonymous)",
                  op->addr);
        op_puts(op, "vspc: VMware's admin client needs anonymous access, "
                    "which this address does not have\r\n");
        op_close_flush(op, "option 233 without a login");
        return;
    }
    if (opt == TN_OPT_VSPC_ADMIN && local && enabled && !op->banner_sent) {
        op->admin = true;
        evtimer_del(op->timer);
        log_debug("operator %s speaks option 233", op->addr);
    }
}

static void
op_tn_negotiation(void *arg, uint8_t verb, uint8_t opt)
{
    struct oper *op = arg;

    if (opt == TN_OPT_VSPC_ADMIN && verb == TN_DONT)
        op_banner(op);
}

/* Input that arrives while a remote attach waits for its answer: reading
 * is paused, so at most the rest of one read. */
static size_t
op_stash(struct oper *op, const uint8_t *p, size_t n)
{
    if (evbuffer_add(op->stash, p, n) == 0)
        return n;
    op_close(op, "out of memory");
    return 0;
}

static void
op_tn_data(void *arg, const uint8_t *p, size_t n)
{
    struct oper *op = arg;

    /* Command mode and the console take turns: an attach or a detach
     * in the middle leaves the rest for the other (each pass uses at
     * least one byte). */
    while (n > 0 && !op->flush_close) {
        size_t used;

        if ((op->state == OP_ST_COMMAND || op->state == OP_ST_LOGIN) &&
            !op->admin)
            used = op_command_bytes(op, p, n);
        else if (op->state == OP_ST_ATTACHED)
            used = op_attached_bytes(op, p, n);
        else if (op->state == OP_ST_ATTACHING || op->state == OP_ST_VERIFYING)
            used = op_stash(op, p, n);
        else
            break; /* closing, or option 233 not connected (ignored) */
        if (used == 0)
            break;
        p += used;
        n -= used;
    }
}

static const struct tn_handlers op_tn_handlers = {
    .output = op_tn_out,
    .data = op_tn_data,
    .subneg = op_tn_subneg,
    .option = op_tn_option,
    .negotiation = op_tn_negotiation,
};

/* ---- libevent -------------------------------------------------------------
 */

/* (Re)starts the idle clock: it runs while the operator sits at the
 * prompt (attached operators are left alone however quiet). */
static double
op_login_timeout(const struct oper *op)
{
    double t = op->px->cfg.op_idle_timeout;

    return t < OP_LOGIN_SECS ? t : OP_LOGIN_SECS;
}

void
op_idle_arm(struct oper *op)
{
    double t = op->state == OP_ST_LOGIN || op->state == OP_ST_VERIFYING
                   ? op_login_timeout(op)
                   : op->px->cfg.op_idle_timeout;
    struct timeval tv = {(time_t)t,
                         (suseconds_t)((t - (double)(time_t)t) * 1e6)};

    if (op->idle_ev)
        evtimer_add(op->idle_ev, &tv);
}

static void
op_idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct oper *op = arg;

    if (op->state == OP_ST_LOGIN || op->state == OP_ST_VERIFYING) {
        if (op->flush_close)
            return;
        log_info("operator %s: no login in %.0f s: closed", op->addr,
                 op_login_timeout(op));
        op_puts(op, "\r\nvspc: no login in time: closing\r\n");
        op_close_flush(op, "no login in time");
        return;
    }
    if (op->state != OP_ST_COMMAND || op->flush_close) {
        op_idle_arm(op);
        return;
    }
    op->px->stats.ops_idle_closed++;
    log_info("operator %s idle at the prompt for %.0f s: closed", op->addr,
             op->px->cfg.op_idle_timeout);
    op_printf(op, "\r\nvspc: idle for %.0f s: closing\r\n",
              op->px->cfg.op_idle_timeout);
    op_close_flush(op, "idle at the prompt");
}

static void
op_read_cb(struct bufferevent *bev, void *arg)
{
    struct oper *op = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    if (op->state == OP_ST_COMMAND)
        op_idle_arm(op);
    while (op->state != OP_ST_CLOSING && !op->flush_close &&
           !tn_failed(&op->tn)) {
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
op_write_cb(struct bufferevent *bev, void *arg)
{
    struct oper *op = arg;

    if (op->flush_close) {
        if (op_output_queued(op) == 0)
            op_close(op, "flushed");
        return;
    }
    if (op->state == OP_ST_ATTACHED && op->tgt)
        op->tgt->room(op);
}

static void op_start(struct oper *op);

static void
op_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct oper *op = arg;

    if ((what & BEV_EVENT_CONNECTED) && op->tls && !op->started) {
        op_start(op);
        return;
    }
    if (op->tls && !op->started && (what & BEV_EVENT_ERROR)) {
        char why[256];

        tls_error_str(bev, why, sizeof(why));
        log_info("operator %s: TLS handshake failed: %s", op->addr, why);
        op_close(op, "TLS handshake failed");
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        op_close(op, (what & BEV_EVENT_EOF) ? "operator closed"
                                            : "connection error");
}

static void
op_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct oper *op = arg;

    if (op->flush_close)
        op_close(op, "output not drained in time");
    else
        op_banner(op);
}

/* --max-operators reached: one line to the newcomer, closed. */
static void
op_refuse_cap(struct proxy *px, int fd, const struct sockaddr *sa)
{
    static const char msg[] =
        "vspc: too many operator connections (--max-operators): try later\r\n";
    char addr[64];
    unsigned quiet;
    ssize_t w;

    px->stats.ops_refused_cap++;
    addr_str(sa, addr, sizeof(addr));
    if (rlim_allow(&px->op_cap_rl, clock_now(), 10.0, &quiet))
        log_warnx("operator %s refused: %zu operator connections "
                  "(--max-operators; %u more refused since the last line)",
                  addr, px->n_operators, quiet);
    evutil_make_socket_nonblocking(fd);
    w = send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL); /* best effort */
    (void)w;
    evutil_closesocket(fd);
}

/* OP_MARK_LEN characters a VM cannot guess (20 bits; the VM never sees
 * them): no 0/O or 1/I to misread. */
static void
op_new_mark(struct oper *op)
{
    static const char abc[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    uint8_t r[OP_MARK_LEN];

    if (RAND_bytes(r, sizeof(r)) != 1)
        evutil_secure_rng_get_bytes(r, sizeof(r));
    for (size_t i = 0; i < OP_MARK_LEN; i++)
        op->mark[i] = abc[r[i] % 32];
    op->mark[OP_MARK_LEN] = '\0';
}

void
op_set_mark(struct oper *op, const char *mark)
{
    snprintf(op->mark, sizeof(op->mark), "%s", mark);
}

/* The session begins (plain: at once; TLS: the handshake is done): who
 * it is (opauth.c), the telnet negotiation, the banner. */
static void
op_start(struct oper *op)
{
    struct timeval tv = {0, OP_BANNER_DELAY_MS * 1000};

    op->started = true;
    if (op->tls) {
        char desc[128];

        tls_describe(op->bev, desc, sizeof(desc));
        log_debug("operator %s: TLS %s", op->addr, desc);
    }
    if (!opa_start(op))
        return;
    op_idle_arm(op);
    tn_request_local(&op->tn, TN_OPT_ECHO, true);
    tn_request_local(&op->tn, TN_OPT_SGA, true);
    tn_request_remote(&op->tn, TN_OPT_SGA, true);
    tn_request_local(&op->tn, TN_OPT_BINARY, true);
    tn_request_remote(&op->tn, TN_OPT_BINARY, true);
    if (op->authed)
        tn_request_local(&op->tn, TN_OPT_VSPC_ADMIN, true);
    /* The banner waits for the answer about 233 (or a short timer). */
    evtimer_add(op->timer, &tv);
}

static struct oper *
op_new_any(struct proxy *px, int fd, const struct sockaddr *sa, bool tls)
{
    struct oper *op;

    if (px->n_operators >= px->cfg.max_operators) {
        op_refuse_cap(px, fd, sa);
        return NULL;
    }
    if ((op = calloc(1, sizeof(*op))) == NULL) {
        evutil_closesocket(fd);
        return NULL;
    }
    op->px = px;
    op->id = ++px->next_session_id;
    op->state = OP_ST_LOGIN; /* until op_start says who it is */
    op->tls = tls;
    op->esc = -1;
    op_new_mark(op);
    addr_str(sa, op->addr, sizeof(op->addr));
    memcpy(&op->sa, sa,
           sa->sa_family == AF_INET6  ? sizeof(struct sockaddr_in6)
           : sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                      : sizeof(sa->sa_family));
    evutil_make_socket_nonblocking(fd);
    if (tls) {
        char why[256];

        op->bev = tls_accept_bev(px->op_tls, px->base, fd, 0, why, sizeof(why));
        if (op->bev == NULL)
            log_warnx("operator %s: %s", op->addr, why);
        fd = -1; /* closed by tls_accept_bev on failure */
    } else {
        op->bev = bufferevent_socket_new(px->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    op->timer = evtimer_new(px->base, op_timer_cb, op);
    op->idle_ev = evtimer_new(px->base, op_idle_cb, op);
    op->stash = evbuffer_new();
    if (op->bev == NULL || op->timer == NULL || op->idle_ev == NULL ||
        op->stash == NULL) {
        if (op->bev)
            bufferevent_free(op->bev);
        else if (fd != -1)
            evutil_closesocket(fd);
        if (op->timer)
            event_free(op->timer);
        if (op->idle_ev)
            event_free(op->idle_ev);
        if (op->stash)
            evbuffer_free(op->stash);
        free(op);
        return NULL;
    }
    tn_init(&op->tn, &px->op_policy, &op_tn_handlers, op);
    opl_init(op);
    bufferevent_setcb(op->bev, op_read_cb, op_write_cb, op_event_cb, op);
    /* Refilled from the stream whenever half the queue has drained. */
    bufferevent_setwatermark(op->bev, EV_WRITE, px->cfg.op_queue_max / 2, 0);
    /* libevent 2.1 writes at most 16 KiB per wake-up by default. */
    bufferevent_set_max_single_write(op->bev, 128 * 1024);
    bufferevent_enable(op->bev, EV_READ | EV_WRITE);
    TAILQ_INSERT_TAIL(&px->operators, op, link);
    px->n_operators++;
    px->stats.ops_accepted++;
    log_debug("operator %s connected%s", op->addr, tls ? " (TLS)" : "");
    if (tls)
        op_idle_arm(op); /* the handshake has the login's time */
    else
        op_start(op);
    return op;
}

struct oper *
op_new(struct proxy *px, int fd, const struct sockaddr *sa)
{
    return op_new_any(px, fd, sa, false);
}

struct oper *
op_new_tls(struct proxy *px, int fd, const struct sockaddr *sa)
{
    return op_new_any(px, fd, sa, true);
}

void
op_close(struct oper *op, const char *why)
{
    struct proxy *px = op->px;

    if (op->state == OP_ST_CLOSING)
        return;
    op_detach(op, why);
    opa_cancel(op);
    op->state = OP_ST_CLOSING;
    log_debug("operator %s closed: %s", op->addr, why);
    bufferevent_disable(op->bev, EV_READ | EV_WRITE);
    evtimer_del(op->timer);
    evtimer_del(op->idle_ev);
    TAILQ_REMOVE(&px->operators, op, link);
    px->n_operators--;
    TAILQ_INSERT_TAIL(&px->reap_operators, op, link);
    proxy_schedule_reap(px);
}

void
op_free(struct oper *op)
{
    opa_cancel(op);
    if (op->bev)
        bufferevent_free(op->bev);
    if (op->timer)
        event_free(op->timer);
    if (op->idle_ev)
        event_free(op->idle_ev);
    if (op->stash)
        evbuffer_free(op->stash);
    free(op);
}
