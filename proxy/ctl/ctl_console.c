/*
 * ctl_console.c: `vspcctl console`, a terminal on one console through the
 * operator port (tests/hvsim/OPERATOR-PORT.md).
 *
 * Phases: connect; wait for the prompt; send "attach <key> rw|ro"; read
 * lines until "ok attached ..." (then every byte after that line is the
 * console) or "error ...". Attached: stdin goes to the socket, the socket
 * to stdout, both through the telnet codec (0xFF doubled one way, IAC
 * sequences and negotiation handled the other way).
 *
 * Escapes, conserver style: ^E c . detaches and exits, ^E c ? prints the
 * list; any other ^E c <x> is passed on to the proxy (which knows ^Ecr,
 * ^Ecf, ^Ecs ...), and ^E followed by anything but 'c' is sent as is.
 *
 * The terminal: when stdin is a tty it is put in raw mode (cfmakeraw) for
 * the attached phase and restored on every way out: return, exit() (an
 * atexit handler), SIGINT/SIGTERM/SIGHUP/SIGQUIT (the handler restores,
 * then dies of the same signal). When stdin is not a tty (a pipe, a file)
 * nothing is changed; at its end we keep printing the console until it
 * has been quiet for a moment, then leave.
 */
#include "vspc/compat.h"
#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "telnet.h"

#define ESC_CHAR 0x05       /* ^E */
#define REPLY_MAX 8192      /* command-mode bytes kept while waiting */
#define EOF_QUIET_MS 500    /* stdin ended: leave after this silence */
#define EOF_LINGER_MAX 2000 /* ... or this long at most */

/* ---- the terminal -------------------------------------------------------- */

static struct termios tty_saved;
static volatile sig_atomic_t tty_raw; /* tty_saved must be put back */

/* Async-signal-safe (tcsetattr is): used by the signal handlers too. */
static void
tty_restore(void)
{
    if (tty_raw) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &tty_saved);
        tty_raw = 0;
    }
}

static void
tty_signal(int sig)
{
    static const char msg[] = "\r\n[vspcctl: terminal restored]\r\n";
    bool was_raw = tty_raw;

    tty_restore();
    if (was_raw) {
        ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);

        (void)r;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static int
tty_make_raw(void)
{
    static bool hooked;
    struct termios raw;
    struct sigaction sa;
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

    if (!isatty(STDIN_FILENO))
        return 0;
    if (tcgetattr(STDIN_FILENO, &tty_saved) == -1) {
        ctl_warnx("tcgetattr: %s", strerror(errno));
        return -1;
    }
    if (!hooked) {
        atexit(tty_restore);
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = tty_signal;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < VSPC_ARRAY_LEN(sigs); i++)
            sigaction(sigs[i], &sa, NULL);
        hooked = true;
    }
    raw = tty_saved;
    cfmakeraw(&raw);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    tty_raw = 1; /* first: a signal in between still restores */
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == -1) {
        tty_raw = 0;
        ctl_warnx("tcsetattr: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* A line for the user: stderr, with CR LF while the terminal is raw. */
static void
say(const char *text)
{
    if (tty_raw)
        fprintf(stderr, "\r\n%s\r\n", text);
    else
        fprintf(stderr, "%s\n", text);
}

/* ---- the session --------------------------------------------------------- */

enum cs_phase {
    CS_PROMPT,   /* waiting for "vspc> " */
    CS_REPLY,    /* attach sent, waiting for ok / error */
    CS_ATTACHED, /* console bytes both ways */
};

struct cs {
    int fd;
    enum cs_phase phase;
    bool failed;    /* socket or stdout error: leave with status 1 */
    bool out_error; /* stdout is gone */
    struct tn tn;
    char reply[REPLY_MAX + 1];
    size_t reply_len;
    char err[256]; /* "error ..." from the proxy */
    uint8_t esc;   /* 0, 1 = saw ^E, 2 = saw ^E c */
};

static void
cs_tn_out(void *arg, const uint8_t *p, size_t n)
{
    struct cs *cs = arg;

    if (!cs->failed && ctl_write_all(cs->fd, p, n, CTL_IO_TIMEOUT_MS) == -1) {
        say(errno == ETIMEDOUT ? "vspcctl: the proxy stopped reading"
                               : "vspcctl: connection lost");
        cs->failed = true;
    }
}

static void
cs_stdout(struct cs *cs, const void *p, size_t n)
{
    if (n == 0 || cs->out_error)
        return;
    if (ctl_write_all(STDOUT_FILENO, p, n, -1) == -1)
        cs->out_error = true;
}

/*
 * Command-mode bytes: look for the prompt, then for the reply line. On
 * "ok attached" the bytes after the line are console output already.
 */
static void
cs_reply_bytes(struct cs *cs, const uint8_t *p, size_t n)
{
    char *line, *nl;

    if (cs->reply_len + n > REPLY_MAX) {
        snprintf(cs->err, sizeof(cs->err), "no answer to attach");
        cs->failed = true;
        return;
    }
    memcpy(cs->reply + cs->reply_len, p, n);
    cs->reply_len += n;
    cs->reply[cs->reply_len] = '\0';
    if (cs->phase != CS_REPLY)
        return;
    line = cs->reply;
    while (
        (nl = memchr(line, '\n', cs->reply_len - (size_t)(line - cs->reply)))) {
        char *s = line;
        size_t rest;

        *nl = '\0';
        if (nl > s && nl[-1] == '\r')
            nl[-1] = '\0';
        while (strncmp(s, "vspc> ", 6) == 0)
            s += 6;
        if (strncmp(s, "ok attached ", 12) == 0) {
            rest = cs->reply_len - (size_t)(nl + 1 - cs->reply);
            cs->phase = CS_ATTACHED;
            say(s);
            cs_stdout(cs, nl + 1, rest);
            cs->reply_len = 0;
            return;
        }
        if (strncmp(s, "error ", 6) == 0) {
            snprintf(cs->err, sizeof(cs->err), "%s", s + 6);
            cs->failed = true;
            return;
        }
        line = nl + 1;
    }
    /* Keep only the unfinished line. */
    cs->reply_len -= (size_t)(line - cs->reply);
    memmove(cs->reply, line, cs->reply_len);
    cs->reply[cs->reply_len] = '\0';
}

static void
cs_tn_data(void *arg, const uint8_t *p, size_t n)
{
    struct cs *cs = arg;

    if (cs->phase == CS_ATTACHED)
        cs_stdout(cs, p, n);
    else
        cs_reply_bytes(cs, p, n);
}

static const struct tn_handlers cs_handlers = {
    .output = cs_tn_out,
    .data = cs_tn_data,
};

/* Read the socket once and feed the codec. Returns bytes read, 0 at EOF,
 * -1 on error. */
static ssize_t
cs_read_socket(struct cs *cs)
{
    uint8_t buf[16384];
    ssize_t r = read(cs->fd, buf, sizeof(buf));

    if (r == -1 && (errno == EINTR || errno == EAGAIN))
        return 1;
    if (r <= 0)
        return r;
    tn_feed(&cs->tn, buf, (size_t)r);
    if (tn_failed(&cs->tn)) {
        say("vspcctl: telnet protocol error from the proxy");
        cs->failed = true;
        return -1;
    }
    return r;
}

/* User bytes toward the console, CR as CR NUL unless we send binary. */
static void
cs_send(struct cs *cs, const uint8_t *p, size_t n)
{
    if (tn_local_enabled(&cs->tn, TN_OPT_BINARY)) {
        tn_send_data(&cs->tn, p, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        static const uint8_t crnul[2] = {'\r', '\0'};

        if (p[i] == '\r')
            tn_send_data(&cs->tn, crnul, 2);
        else
            tn_send_data(&cs->tn, p + i, 1);
    }
}

static void
cs_help(void)
{
    say("vspcctl escapes (^E c, then):\r\n"
        "  .  detach and exit\r\n"
        "  ?  this help\r\n"
        "  r  replay the scrollback       (the proxy)\r\n"
        "  f  force write access          (the proxy)\r\n"
        "  s  become a spectator          (the proxy)");
}

/* Stdin bytes: escapes first. Returns true when the user detached. */
static bool
cs_stdin_bytes(struct cs *cs, const uint8_t *p, size_t n)
{
    static const uint8_t esc_c[2] = {ESC_CHAR, 'c'};
    size_t start = 0;

    for (size_t i = 0; i < n; i++) {
        uint8_t ch = p[i];

        if (cs->esc == 0) {
            if (ch != ESC_CHAR)
                continue;
            cs_send(cs, p + start, i - start);
            start = i + 1;
            cs->esc = 1;
        } else if (cs->esc == 1) {
            start = i + 1;
            if (ch == 'c') {
                cs->esc = 2;
                continue;
            }
            /* Not an escape: the ^E goes through. ^E ^E sends one and
             * the second may start an escape. */
            cs->esc = ch == ESC_CHAR ? 1 : 0;
            cs_send(cs, esc_c, 1);
            if (ch != ESC_CHAR)
                cs_send(cs, &ch, 1);
        } else {
            start = i + 1;
            cs->esc = 0;
            if (ch == '.')
                return true;
            if (ch == '?') {
                cs_help();
                continue;
            }
            cs_send(cs, esc_c, 2);
            cs_send(cs, &ch, 1);
        }
    }
    cs_send(cs, p + start, n - start);
    return false;
}

/* Wait for the prompt and the reply to attach. Returns 0 once attached. */
static int
cs_attach(struct cs *cs, const char *key, bool ro)
{
    int64_t deadline = ctl_now_ms() + CTL_IO_TIMEOUT_MS;
    char cmd[512];

    while (!cs->failed && cs->phase != CS_ATTACHED) {
        struct pollfd pfd = {.fd = cs->fd, .events = POLLIN};
        int64_t left = deadline - ctl_now_ms();
        ssize_t r;

        if (cs->phase == CS_PROMPT && strstr(cs->reply, "vspc> ")) {
            snprintf(cmd, sizeof(cmd), "attach %s %s\r\n", key,
                     ro ? "ro" : "rw");
            cs->phase = CS_REPLY;
            cs->reply_len = 0;
            cs->reply[0] = '\0';
            tn_send_data(&cs->tn, (const uint8_t *)cmd, strlen(cmd));
            continue;
        }
        if (left <= 0) {
            snprintf(cs->err, sizeof(cs->err), "no %s from the proxy",
                     cs->phase == CS_PROMPT ? "prompt" : "answer to attach");
            break;
        }
        r = poll(&pfd, 1, (int)left);
        if (r == -1 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        r = cs_read_socket(cs);
        if (r == 0) {
            snprintf(cs->err, sizeof(cs->err),
                     "the proxy closed the "
                     "connection");
            break;
        }
        if (r == -1)
            break;
    }
    if (cs->phase == CS_ATTACHED && !cs->failed)
        return 0;
    ctl_warnx("cannot attach to \"%s\": %s", key,
              cs->err[0] ? cs->err : strerror(errno));
    return -1;
}

/* The attached phase. Returns the exit status. */
static int
cs_relay(struct cs *cs)
{
    bool stdin_open = true;
    int64_t eof_at = 0, last_rx = 0;

    while (!cs->failed && !cs->out_error) {
        struct pollfd pfd[2] = {
            {.fd = cs->fd, .events = POLLIN},
            {.fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN},
        };
        int timeout = -1, r;

        if (!stdin_open) {
            int64_t now = ctl_now_ms();

            if (now - last_rx >= EOF_QUIET_MS || now - eof_at >= EOF_LINGER_MAX)
                return 0;
            timeout = (int)(EOF_QUIET_MS - (now - last_rx));
        }
        r = poll(pfd, 2, timeout);
        if (r == -1) {
            if (errno == EINTR)
                continue;
            ctl_warnx("poll: %s", strerror(errno));
            return 1;
        }
        if (pfd[0].revents) {
            ssize_t n = cs_read_socket(cs);

            if (n == 0) {
                say("[vspcctl: the proxy closed the connection]");
                return stdin_open ? 1 : 0;
            }
            if (n == -1) {
                if (!cs->failed)
                    say("[vspcctl: connection lost]");
                return 1;
            }
            last_rx = ctl_now_ms();
        }
        if (stdin_open && pfd[1].revents) {
            uint8_t buf[4096];
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

            if (n == -1 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0) {
                stdin_open = false;
                eof_at = last_rx = ctl_now_ms();
                continue;
            }
            if (cs_stdin_bytes(cs, buf, (size_t)n)) {
                say("[vspcctl: detached]");
                return 0;
            }
        }
    }
    return 1;
}

int
ctl_console(const char *addr, const char *key, bool ro)
{
    static struct tn_policy policy;
    struct cs *cs = calloc(1, sizeof(*cs));
    int status = 1;

    if (cs == NULL)
        return 1;
    /* Binary and SGA both ways; the proxy echoes (WILL ECHO); we refuse
     * VMware's admin option 233, so we get the text command mode. */
    tn_policy_allow(&policy, TN_OPT_BINARY, true, true);
    tn_policy_allow(&policy, TN_OPT_SGA, true, true);
    tn_policy_allow(&policy, TN_OPT_ECHO, false, true);
    if ((cs->fd = ctl_connect(addr, CTL_CONNECT_TIMEOUT_MS)) == -1) {
        free(cs);
        return 1;
    }
    tn_init(&cs->tn, &policy, &cs_handlers, cs);
    tn_request_local(&cs->tn, TN_OPT_BINARY, true);
    tn_request_remote(&cs->tn, TN_OPT_BINARY, true);
    if (cs_attach(cs, key, ro) == 0) {
        if (tty_make_raw() == 0) {
            if (tty_raw)
                say("[vspcctl: ^Ec. detaches, ^Ec? helps]");
            status = cs_relay(cs);
        }
        tty_restore();
    }
    close(cs->fd);
    free(cs);
    return status;
}
