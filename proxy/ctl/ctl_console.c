/*
 * ctl_console.c: `vspcctl console`, a terminal on one console through the
 * operator port (tests/hvsim/OPERATOR-PORT.md).
 *
 * Phases: connect (plain or tls://), log in if asked, up to the prompt
 * (ctl_op.c); send "attach <key> rw|ro|excl [raw] [escape=^X|none]"; read
 * lines until "ok attached ..." (then every byte after that line is the
 * console) or "error ...".
 * Attached: stdin goes to the connection, the connection to stdout, both
 * through the telnet codec (0xFF doubled one way, IAC sequences and
 * negotiation handled the other way). The terminal turns raw only once
 * attached, so a password is asked in the terminal's normal mode.
 *
 * Escapes, conserver style: ^E c . detaches and exits, ^E c ? prints the
 * list; any other ^E c <x> is passed on to the proxy (which knows ^Ecr,
 * ^Ecf, ^Ecs, ^Ecl ...), and ^E followed by anything but 'c' is sent as
 * is. -e ^X makes ^X the escape on both sides: the attach says
 * escape=^X, so the proxy takes ^X c <x> (and passes ^E to the VM like
 * any byte) whatever its --escape-char; without -e the attach says
 * escape=^E, so vspcctl and the proxy always agree. -e none: no escapes
 * at all, here or there (leave by ending stdin, or a signal). --raw: the
 * proxy takes no escapes; ^E c . and ^E c ? still work here, every other
 * byte is the VM's.
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
    bool raw;       /* the proxy takes no escapes */
    uint8_t esc_ch; /* the escape character; 0 none */
    uint8_t esc;    /* 0, 1 = saw the escape, 2 = saw the escape and c */
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
cs_help(const struct cs *cs)
{
    char text[600];

    snprintf(text, sizeof(text),
             "vspcctl escapes (^%c c, then):\r\n"
             "  .  detach and exit\r\n"
             "  ?  this help\r\n%s",
             cs->esc_ch + '@',
             cs->raw ? "  (raw: anything else goes to the VM as is)"
                     : "  r  replay the last lines         (the proxy)\r\n"
                       "  f  force write access          (the proxy)\r\n"
                       "  s  become a spectator          (the proxy)\r\n"
                       "  l  send a break to the VM      (the proxy)");
    say(text);
}

/* Stdin bytes: escapes first. Returns true when the user detached. */
static bool
cs_stdin_bytes(struct cs *cs, const uint8_t *p, size_t n)
{
    const uint8_t esc_c[2] = {cs->esc_ch, 'c'};
    size_t start = 0;

    if (cs->esc_ch == 0) { /* -e none */
        cs_send(cs, p, n);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = p[i];

        if (cs->esc == 0) {
            if (ch != cs->esc_ch)
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
            cs->esc = ch == cs->esc_ch ? 1 : 0;
            cs_send(cs, esc_c, 1);
            if (ch != cs->esc_ch)
                cs_send(cs, &ch, 1);
        } else {
            start = i + 1;
            cs->esc = 0;
            if (ch == '.')
                return true;
            if (ch == '?') {
                cs_help(cs);
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
 * (the console's bytes then go to stdout), 1 when the proxy does not know
 * the escape= option (an older one: try without), -1 failed. */
static int
cs_attach_once(struct cs *cs, const char *key, const struct ctl_attach *a,
               bool with_esc)
{
    static const char old_err[] = "error unknown attach option \"escape=";
    int64_t deadline = ctl_now_ms() + CTL_IO_TIMEOUT_MS;
    char cmd[512], esc[32] = "", line[CTL_OP_TEXT_MAX + 1];

    if (with_esc && a->esc == 0)
        snprintf(esc, sizeof(esc), " escape=none");
    else if (with_esc)
        snprintf(esc, sizeof(esc), " escape=^%c", a->esc + '@');
    snprintf(cmd, sizeof(cmd), "attach %s %s%s%s\r\n", key, a->mode,
             a->raw ? " raw" : "", esc);
    if (ctl_op_send(&cs->op, cmd, strlen(cmd)) == 0) {
        while (ctl_op_line(&cs->op, deadline, "answer to attach", line,
                           sizeof(line)) == 0) {
            if (strncmp(line, "ok attached ", 12) == 0) {
                say(line);
                cs->attached = true;
                ctl_op_set_sink(&cs->op, cs_stdout, cs);
                return 0;
            }
            if (with_esc && !a->esc_given &&
                strncmp(line, old_err, sizeof(old_err) - 1) == 0)
                return 1;
            if (strncmp(line, "error ", 6) == 0) {
                snprintf(cs->op.err, sizeof(cs->op.err), "%.200s", line + 6);
                break;
            }
        }
    }
    return -1;
}

static int
cs_attach(struct cs *cs, const char *key, const struct ctl_attach *a)
{
    /* raw: the proxy takes no escapes, so it needs no escape=. */
    int rc = cs_attach_once(cs, key, a, !a->raw);

    if (rc == 1)
        rc = cs_attach_once(cs, key, a, false);
    if (rc == 0)
        return 0;
    ctl_warnx("cannot attach to \"%s\": %s", key, cs->op.err);
    return -1;
}

int
ctl_parse_escape(const char *s, int *esc)
{
    if (strcmp(s, "none") == 0)
        *esc = 0;
    else if (s[0] == '^' && s[1] >= '@' && s[1] <= '_' && s[2] == '\0')
        *esc = s[1] - '@';
    else if (s[0] == '^' && s[1] >= 'a' && s[1] <= 'z' && s[2] == '\0')
        *esc = s[1] - 'a' + 1;
    else if (s[0] > 0 && s[0] < 0x20 && s[1] == '\0') /* the byte itself */
        *esc = s[0];
    else
        return -1;
    return 0;
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
ctl_console(const char *addr, const char *key, const struct ctl_attach *a)
{
    struct cs *cs = calloc(1, sizeof(*cs));
    int status = 1;

    if (cs == NULL)
        return 1;
    cs->raw = a->raw;
    cs->esc_ch = (uint8_t)a->esc;
    /* The login, if any, happens here, before the terminal goes raw. */
    if (ctl_op_open(&cs->op, addr) == -1) {
        free(cs);
        return 1;
    }
    if (cs_attach(cs, key, a) == 0) {
        if (tty_make_raw() == 0) {
            char hint[80];

            snprintf(hint, sizeof(hint),
                     "[vspcctl: ^%cc. detaches, ^%cc? helps]", cs->esc_ch + '@',
                     cs->esc_ch + '@');
            if (tty_raw)
                say(cs->esc_ch ? hint
                               : "[vspcctl: no escapes (-e none): end "
                                 "with a signal]");
            status = cs_relay(cs);
        }
        tty_restore();
    }
    ctl_op_close(&cs->op);
    free(cs);
    return status;
}
