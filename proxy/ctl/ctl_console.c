/*
 * ctl_console.c: `vspcctl console`, a terminal on one console through the
 * operator port (tests/hvsim/OPERATOR-PORT.md).
 *
 * Phases: connect (plain or tls://), log in if asked, up to the prompt
 * (ctl_op.c); send "attach <key> rw|ro"; read lines until "ok attached
 * ..." (then every byte after that line is the console) or "error ...".
 * Attached: stdin goes to the connection, the connection to stdout, both
 * through the telnet codec (0xFF doubled one way, IAC sequences and
 * negotiation handled the other way). The terminal turns raw only once
 * attached, so a password is asked in the terminal's normal mode.
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

struct cs {
    struct ctl_op op; /* connected and logged in, at the prompt */
    bool attached;
    bool out_error; /* stdout is gone */
    uint8_t esc;    /* 0, 1 = saw ^E, 2 = saw ^E c */
};

static void
cs_stdout(void *arg, const uint8_t *p, size_t n)
{
    struct cs *cs = arg;

    if (n == 0 || cs->out_error)
        return;
    if (ctl_write_all(STDOUT_FILENO, p, n, -1) == -1)
        cs->out_error = true;
}

/* The session broke (cs->op.err says how): tell the user. */
static void
cs_broken(struct cs *cs)
{
    char msg[300];

    snprintf(msg, sizeof(msg), "[vspcctl: %s]",
             cs->op.err[0] ? cs->op.err : "connection lost");
    say(msg);
}

/* User bytes toward the console, CR as CR NUL unless we send binary. */
static void
cs_send(struct cs *cs, const uint8_t *p, size_t n)
{
    if (tn_local_enabled(&cs->op.tn, TN_OPT_BINARY)) {
        ctl_op_send(&cs->op, p, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        static const uint8_t crnul[2] = {'\r', '\0'};

        if (p[i] == '\r')
            ctl_op_send(&cs->op, crnul, 2);
        else
            ctl_op_send(&cs->op, p + i, 1);
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

/* At the prompt: attach, and wait for the reply. Returns 0 once attached
 * (the console's bytes then go to stdout). */
static int
cs_attach(struct cs *cs, const char *key, bool ro)
{
    int64_t deadline = ctl_now_ms() + CTL_IO_TIMEOUT_MS;
    char cmd[512], line[CTL_OP_TEXT_MAX + 1];

    snprintf(cmd, sizeof(cmd), "attach %s %s\r\n", key, ro ? "ro" : "rw");
    if (ctl_op_send(&cs->op, cmd, strlen(cmd)) == 0) {
        while (ctl_op_line(&cs->op, deadline, "answer to attach", line,
                           sizeof(line)) == 0) {
            if (strncmp(line, "ok attached ", 12) == 0) {
                say(line);
                cs->attached = true;
                ctl_op_set_sink(&cs->op, cs_stdout, cs);
                return 0;
            }
            if (strncmp(line, "error ", 6) == 0) {
                snprintf(cs->op.err, sizeof(cs->op.err), "%.200s", line + 6);
                break;
            }
        }
    }
    ctl_warnx("cannot attach to \"%s\": %s", key, cs->op.err);
    return -1;
}

/* The attached phase. Returns the exit status. */
static int
cs_relay(struct cs *cs)
{
    bool stdin_open = true;
    int64_t eof_at = 0, last_rx = 0;

    while (!cs->op.failed && !cs->out_error) {
        struct pollfd pfd[2] = {
            {.fd = -1},
            {.fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN},
        };
        /* Bytes decrypted already (TLS) do not wake poll(). */
        bool pending = ctl_conn_pending(&cs->op.conn);
        int timeout = -1, r;

        ctl_conn_pollfd(&cs->op.conn, &pfd[0]);
        if (!stdin_open) {
            int64_t now = ctl_now_ms();

            if (now - last_rx >= EOF_QUIET_MS || now - eof_at >= EOF_LINGER_MAX)
                return 0;
            timeout = (int)(EOF_QUIET_MS - (now - last_rx));
        }
        if (pending)
            timeout = 0;
        r = poll(pfd, 2, timeout);
        if (r == -1) {
            if (errno == EINTR)
                continue;
            ctl_warnx("poll: %s", strerror(errno));
            return 1;
        }
        if (pfd[0].revents || pending) {
            ssize_t n = ctl_op_read(&cs->op);

            if (n == 0) {
                say("[vspcctl: the proxy closed the connection]");
                return stdin_open ? 1 : 0;
            }
            if (n == -1) {
                cs_broken(cs);
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
    if (cs->op.failed)
        cs_broken(cs);
    return 1;
}

int
ctl_console(const char *addr, const char *key, bool ro)
{
    struct cs *cs = calloc(1, sizeof(*cs));
    int status = 1;

    if (cs == NULL)
        return 1;
    /* The login, if any, happens here, before the terminal goes raw. */
    if (ctl_op_open(&cs->op, addr) == -1) {
        free(cs);
        return 1;
    }
    if (cs_attach(cs, key, ro) == 0) {
        if (tty_make_raw() == 0) {
            if (tty_raw)
                say("[vspcctl: ^Ec. detaches, ^Ec? helps]");
            status = cs_relay(cs);
        }
        tty_restore();
    }
    ctl_op_close(&cs->op);
    free(cs);
    return status;
}
