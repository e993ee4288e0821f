/*
 * ctl_op.c: a session on the operator port (tests/hvsim/OPERATOR-PORT.md),
 * as `console` and `drain` both need it: connect (plain, or TLS for
 * tls://HOST:PORT), speak telnet, log in if asked, and stop at the first
 * "vspc> " prompt. After that the caller sends lines and reads the reply
 * lines, or hands the byte stream to a sink (an attached console).
 *
 * The login, as the server asks for it (proxy/opauth.c):
 *
 *   server says                        we
 *   "vspc> "                           done (anonymous, or a client
 *                                      certificate: "logged in as ...")
 *   "login: "                          NAME CR LF      (--user, or asked)
 *   "Password: "                       PASSWORD CR LF  (file, or asked)
 *   "logged in as NAME" "vspc> "       done
 *   "Login incorrect"                  fail: login incorrect
 *   "vspc: too many logins at once"    again, a few times
 *   "vspc: <anything else>"            fail with its text (a lock-out, a
 *                                      refused certificate)
 *
 * The name and the password go through the telnet codec like any data (an
 * FF byte doubled); the password is wiped from our buffers once sent.
 */
#include "vspc/compat.h"
#include "ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define OP_BUSY_TRIES 3 /* "too many logins at once": tries in all */
/* The server's longest line (proxy/operator.h OP_LINE_MAX): it drops the
 * bytes beyond, so a longer password could never match. */
#define CTL_OP_LINE_MAX 512

static void
op_tn_out(void *arg, const uint8_t *p, size_t n)
{
    struct ctl_op *op = arg;

    if (op->failed)
        return;
    if (ctl_conn_write_all(&op->conn, p, n, CTL_IO_TIMEOUT_MS) == -1) {
        snprintf(op->err, sizeof(op->err), "%s",
                 errno == ETIMEDOUT ? "the proxy stopped reading"
                                    : "connection lost");
        op->failed = true;
    }
}

static void
op_tn_data(void *arg, const uint8_t *p, size_t n)
{
    struct ctl_op *op = arg;

    if (op->sink) {
        op->sink(op->sink_arg, p, n);
        return;
    }
    if (op->text_len + n > CTL_OP_TEXT_MAX) {
        snprintf(op->err, sizeof(op->err), "a line longer than %d bytes",
                 CTL_OP_TEXT_MAX);
        op->failed = true;
        return;
    }
    memcpy(op->text + op->text_len, p, n);
    op->text_len += n;
    op->text[op->text_len] = '\0';
}

static const struct tn_handlers op_handlers = {
    .output = op_tn_out,
    .data = op_tn_data,
};

int
ctl_op_send(struct ctl_op *op, const void *p, size_t n)
{
    tn_send_data(&op->tn, p, n);
    return op->failed ? -1 : 0;
}

ssize_t
ctl_op_read(struct ctl_op *op)
{
    uint8_t buf[16384];
    ssize_t r = ctl_conn_read(&op->conn, buf, sizeof(buf));

    if (r == -1 && errno == EAGAIN)
        return 1;
    if (r <= 0) {
        if (r == 0)
            snprintf(op->err, sizeof(op->err),
                     "the proxy closed the connection");
        else if (op->err[0] == '\0')
            snprintf(op->err, sizeof(op->err), "%s", strerror(errno));
        return r;
    }
    tn_feed(&op->tn, buf, (size_t)r);
    if (tn_failed(&op->tn)) {
        snprintf(op->err, sizeof(op->err),
                 "telnet protocol error from the proxy");
        op->failed = true;
    }
    return op->failed ? -1 : r;
}

/* Wait for bytes until deadline and feed them: 0, or -1 (op->err). */
static int
op_more(struct ctl_op *op, int64_t deadline, const char *waiting_for)
{
    int64_t left = deadline - ctl_now_ms();
    int r;

    if (op->failed)
        return -1;
    if (left <= 0 || (r = ctl_conn_wait(&op->conn, (int)left)) == 0) {
        snprintf(op->err, sizeof(op->err), "no %s from the proxy", waiting_for);
        return -1;
    }
    if (r == -1) {
        snprintf(op->err, sizeof(op->err), "poll: %s", strerror(errno));
        return -1;
    }
    return ctl_op_read(op) > 0 ? 0 : -1;
}

/* Drop the first n bytes of the text. */
static void
op_consume(struct ctl_op *op, size_t n)
{
    op->text_len -= n;
    memmove(op->text, op->text + n, op->text_len);
    op->text[op->text_len] = '\0';
}

/* The text after the last line end: what the server is waiting on. */
static const char *
op_tail(const struct ctl_op *op)
{
    const char *nl = strrchr(op->text, '\n');

    return nl ? nl + 1 : op->text;
}

static bool
ends_with(const char *s, const char *end)
{
    size_t n = strlen(s), m = strlen(end);

    return n >= m && memcmp(s + n - m, end, m) == 0;
}

/* The first complete line of the text, NUL-ended without its line end,
 * into line; false if there is none yet. */
static bool
op_take_line(struct ctl_op *op, char *line, size_t cap)
{
    char *nl = memchr(op->text, '\n', op->text_len);
    size_t n;

    if (nl == NULL)
        return false;
    n = (size_t)(nl - op->text);
    if (n > 0 && op->text[n - 1] == '\r')
        n--;
    snprintf(line, cap, "%.*s", (int)n, op->text);
    op_consume(op, (size_t)(nl + 1 - op->text));
    return true;
}

/* Send NAME or the password, then CR LF; the copy sent is wiped. */
static int
op_send_secret(struct ctl_op *op, const char *s, size_t n)
{
    char buf[1100];
    int rc;

    if (n + 2 > sizeof(buf)) {
        snprintf(op->err, sizeof(op->err), "password too long");
        return -1;
    }
    memcpy(buf, s, n);
    memcpy(buf + n, "\r\n", 2);
    rc = ctl_op_send(op, buf, n + 2);
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

enum op_login {
    OPL_WAIT,   /* nothing sent: the prompt or "login: " */
    OPL_NAME,   /* name sent: "Password: " */
    OPL_PASS,   /* password sent: the verdict */
    OPL_LOGGED, /* "logged in as": the prompt follows */
};

/* The banner, "vspc VERSION node NODE-ID (help ...": the node id. */
static void
op_banner(struct ctl_op *op, const char *line)
{
    const char *p = strstr(line, " node ");

    if (strncmp(line, "vspc ", 5) != 0 || p == NULL || op->node[0])
        return;
    p += 6;
    snprintf(op->node, sizeof(op->node), "%.*s", (int)strcspn(p, " \t"), p);
}

/* The complete lines said before the prompt. 0 go on, -1 failed. */
static int
op_login_lines(struct ctl_op *op, enum op_login *st, int *busy)
{
    char line[CTL_OP_TEXT_MAX + 1];

    while (op_take_line(op, line, sizeof(line))) {
        op_banner(op, line);
        if (strncmp(line, "logged in as ", 13) == 0) {
            *st = OPL_LOGGED;
            if (op->user[0] == '\0') /* a client certificate's */
                snprintf(op->user, sizeof(op->user), "%.*s",
                         (int)strcspn(line + 13, " "), line + 13);
        } else if (*st == OPL_NAME && strncmp(line, "error ", 6) == 0) {
            snprintf(op->err, sizeof(op->err), "%.200s", line + 6);
            return -1; /* `login NAME` refused */
        } else if (*st == OPL_PASS && strcmp(line, "Login incorrect") == 0) {
            snprintf(op->err, sizeof(op->err), "login incorrect");
            return -1;
        } else if (strncmp(line, "vspc: too many logins at once", 29) == 0 &&
                   ++*busy < OP_BUSY_TRIES) {
            *st = OPL_WAIT; /* "login: " again */
        } else if (strncmp(line, "vspc: ", 6) == 0) {
            snprintf(op->err, sizeof(op->err), "%.200s", line + 6);
            return -1;
        }
    }
    return 0;
}

/* Up to the first prompt, logging in on the way (st: OPL_NAME once
 * `login NAME` was sent). 0, or -1 (op->err). */
static int
op_login(struct ctl_op *op, enum op_login st)
{
    int64_t deadline = ctl_now_ms() + CTL_IO_TIMEOUT_MS;
    int busy = 0;

    for (;;) {
        const char *tail, *user, *pw;
        size_t pwlen;

        if (op_login_lines(op, &st, &busy) == -1)
            return -1;
        tail = op_tail(op);
        if (ends_with(tail, "vspc> ") && st != OPL_NAME) {
            op_consume(op, op->text_len);
            return 0;
        }
        if (ends_with(tail, "login: ") && st != OPL_NAME) {
            if (st == OPL_PASS) { /* a verdict we did not understand */
                snprintf(op->err, sizeof(op->err), "login incorrect");
                return -1;
            }
            op_consume(op, op->text_len);
            if ((user = ctl_login_user(op->addr)) == NULL)
                return -2; /* said why */
            if (op_send_secret(op, user, strlen(user)) == -1)
                return -1;
            snprintf(op->user, sizeof(op->user), "%s", user);
            st = OPL_NAME;
            deadline = ctl_now_ms() + CTL_IO_TIMEOUT_MS;
            continue;
        }
        if (ends_with(tail, "Password: ") && st == OPL_NAME) {
            op_consume(op, op->text_len);
            if ((pw = ctl_login_password(op->user, op->addr, &pwlen)) == NULL)
                return -2;
            if (pwlen + 2 > CTL_OP_LINE_MAX) {
                snprintf(op->err, sizeof(op->err),
                         "the operator port takes passwords of at most %d "
                         "bytes",
                         CTL_OP_LINE_MAX - 2);
                return -1;
            }
            if (op_send_secret(op, pw, pwlen) == -1)
                return -1;
            st = OPL_PASS;
            /* The hash is slow on purpose, a failure slower still. */
            deadline = ctl_now_ms() + CTL_IO_TIMEOUT_MS;
            continue;
        }
        if (op_more(op, deadline,
                    st == OPL_NAME   ? "password prompt"
                    : st == OPL_PASS ? "answer to the login"
                                     : "prompt") == -1) {
            /* An unfinished last line may say why. */
            if (strncmp(op_tail(op), "vspc: ", 6) == 0)
                snprintf(op->err, sizeof(op->err), "%.200s", op_tail(op) + 6);
            return -1;
        }
    }
}

int
ctl_op_open(struct ctl_op *op, const char *addr)
{
    static struct tn_policy policy;
    const char *hostport;
    bool tls;
    int rc;

    memset(op, 0, sizeof(*op));
    op->conn.fd = -1;
    snprintf(op->addr, sizeof(op->addr), "%s", addr);
    if ((hostport = ctl_addr_strip(addr, "tls", "telnet", &tls)) == NULL)
        return -1;
    /* Binary and SGA both ways; the proxy echoes (WILL ECHO); we refuse
     * VMware's admin option 233, so we get the text command mode. */
    tn_policy_allow(&policy, TN_OPT_BINARY, true, true);
    tn_policy_allow(&policy, TN_OPT_SGA, true, true);
    tn_policy_allow(&policy, TN_OPT_ECHO, false, true);
    if (ctl_conn_open(&op->conn, hostport, tls, CTL_CONNECT_TIMEOUT_MS) == -1)
        return -1;
    tn_init(&op->tn, &policy, &op_handlers, op);
    tn_request_local(&op->tn, TN_OPT_BINARY, true);
    tn_request_remote(&op->tn, TN_OPT_BINARY, true);
    rc = op_login(op, OPL_WAIT);
    /* Let in anonymously, but --user was given: log in as that user (the
     * node's `login NAME`), for the rights the user has. */
    if (rc == 0 && op->user[0] == '\0' && ctl_login_configured()) {
        const char *user = ctl_login_user(op->addr);
        char line[128];

        if (user == NULL) {
            rc = -2;
        } else {
            snprintf(line, sizeof(line), "login %.100s\r\n", user);
            snprintf(op->user, sizeof(op->user), "%s", user);
            rc = ctl_op_send(op, line, strlen(line)) == 0
                     ? op_login(op, OPL_NAME)
                     : -1;
        }
    }
    if (rc != 0) {
        if (rc == -1)
            ctl_warnx("%s: %s", addr, op->err);
        ctl_op_close(op);
        return -1;
    }
    return 0;
}

int
ctl_op_line(struct ctl_op *op, int64_t deadline, const char *waiting_for,
            char *line, size_t cap)
{
    while (!op_take_line(op, line, cap))
        if (op_more(op, deadline, waiting_for) == -1)
            return -1;
    /* A reply follows the prompt of the line before. */
    while (strncmp(line, "vspc> ", 6) == 0)
        memmove(line, line + 6, strlen(line + 6) + 1);
    return 0;
}

/* ---- one command, its whole reply ---------------------------------------- */

struct op_reply {
    char *p;
    size_t n, cap;
    bool too_big;
};

static void
op_reply_sink(void *arg, const uint8_t *p, size_t n)
{
    struct op_reply *r = arg;

    if (r->too_big || n == 0)
        return;
    if (r->n + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        char *np;

        while (cap < r->n + n + 1)
            cap *= 2;
        if (cap > CTL_BODY_MAX || (np = realloc(r->p, cap)) == NULL) {
            r->too_big = true;
            return;
        }
        r->p = np;
        r->cap = cap;
    }
    memcpy(r->p + r->n, p, n);
    r->n += n;
    r->p[r->n] = '\0';
}

int
ctl_op_command(struct ctl_op *op, const char *cmd, char **reply)
{
    int64_t deadline = ctl_now_ms() + CTL_IO_TIMEOUT_MS;
    struct op_reply r = {0};
    size_t clen = strlen(cmd), skip = 0;
    char line[600], *w;
    int rc = -1;

    *reply = NULL;
    snprintf(line, sizeof(line), "%s\r\n", cmd);
    ctl_op_set_sink(op, op_reply_sink, &r);
    if (ctl_op_send(op, line, strlen(line)) == -1)
        goto out;
    /* The reply ends with the next prompt, the only "\r\nvspc> " (a reply
     * line never holds a line end). */
    while (r.n < 8 || memcmp(r.p + r.n - 8, "\r\nvspc> ", 8) != 0) {
        if (r.too_big) {
            snprintf(op->err, sizeof(op->err), "a reply larger than %d bytes",
                     CTL_BODY_MAX);
            goto out;
        }
        if (op_more(op, deadline, "reply") == -1)
            goto out;
    }
    r.p[r.n - 8] = '\0';
    /* The server echoes what it was sent. */
    if (strncmp(r.p, cmd, clen) == 0 && strncmp(r.p + clen, "\r\n", 2) == 0)
        skip = clen + 2;
    w = r.p; /* without the echo; CR LF -> LF */
    for (const char *q = r.p + skip; *q; q++)
        if (q[0] != '\r' || q[1] != '\n')
            *w++ = *q;
    *w = '\0';
    *reply = r.p;
    r.p = NULL;
    rc = 0;
out:
    ctl_op_set_sink(op, NULL, NULL);
    free(r.p);
    return rc;
}

void
ctl_op_set_sink(struct ctl_op *op, ctl_op_sink sink, void *arg)
{
    op->sink = sink;
    op->sink_arg = arg;
    if (sink && op->text_len > 0) {
        sink(arg, (const uint8_t *)op->text, op->text_len);
        op_consume(op, op->text_len);
    }
}

void
ctl_op_close(struct ctl_op *op)
{
    ctl_conn_close(&op->conn);
}
