/*
 * ctl_login.c: who vspcctl logs in as, and with which password.
 *
 * The user is --user (or $VSPC_USER); when the operator port asks for a
 * login and none was given, the name is asked on the terminal, if there
 * is one. The password is the first line of --password-file (or
 * $VSPC_PASSWORD_FILE), else it is asked on the terminal (/dev/tty, echo
 * off), never taken from the command line. It is read once, when first
 * needed (a client certificate may make it unneeded), kept for the other
 * connections of this run, and wiped at exit.
 *
 * The terminal: the prompt and the answer go through /dev/tty, not stdin
 * and stderr, which may be pipes; echo is put back on every path, a
 * signal included.
 */
#include "vspc/compat.h"
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* Longest password read: the users file's limit (users.h). */
#define CTL_PW_MAX 1024
#define CTL_NAME_MAX 64

static const char *login_user_opt, *login_pw_file;
static char login_name[CTL_NAME_MAX + 1];
static char login_pw[CTL_PW_MAX + 2];
static size_t login_pw_len;
static bool login_pw_set;

static int tty_fd = -1;
static struct termios tty_saved;
static volatile sig_atomic_t tty_noecho; /* tty_saved must be put back */

static void
login_wipe(void)
{
    OPENSSL_cleanse(login_pw, sizeof(login_pw));
    login_pw_set = false;
}

void
ctl_login_setup(const char *user, const char *password_file)
{
    login_user_opt = user && user[0] ? user : NULL;
    login_pw_file = password_file && password_file[0] ? password_file : NULL;
    atexit(login_wipe);
}

bool
ctl_login_configured(void)
{
    return login_user_opt != NULL;
}

/* A signal while echo is off: echo back on, then die of the signal. */
static void
tty_signal(int sig)
{
    if (tty_noecho)
        tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
    signal(sig, SIG_DFL);
    raise(sig);
}

/*
 * prompt on the terminal, then one line into buf (cap bytes, NUL-ended,
 * no line end), echo off unless echo. Returns its length, or -1 (no
 * terminal: errno ENXIO, no message; else printed).
 */
static long
tty_ask(const char *prompt, bool echo, char *buf, size_t cap)
{
    static const int sigs[4] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    struct sigaction sa, old[4];
    struct termios t;
    size_t n = 0;
    long rc = -1;
    bool too_long = false;

    if ((tty_fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1) {
        errno = ENXIO;
        return -1;
    }
    if (!echo) {
        if (tcgetattr(tty_fd, &tty_saved) == -1) {
            ctl_warnx("/dev/tty: %s", strerror(errno));
            goto out;
        }
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = tty_signal;
        sigemptyset(&sa.sa_mask);
        for (int i = 0; i < 4; i++)
            sigaction(sigs[i], &sa, &old[i]);
        t = tty_saved;
        t.c_lflag &= ~(tcflag_t)ECHO;
        t.c_lflag |= ECHONL;
        tty_noecho = 1;
        if (tcsetattr(tty_fd, TCSAFLUSH, &t) == -1) {
            ctl_warnx("/dev/tty: %s", strerror(errno));
            goto restore;
        }
    }
    if (write(tty_fd, prompt, strlen(prompt)) == -1) {
        ctl_warnx("/dev/tty: %s", strerror(errno));
        goto restore;
    }
    for (;;) {
        char ch;
        ssize_t r = read(tty_fd, &ch, 1);

        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            ctl_warnx("/dev/tty: %s", strerror(errno));
            goto restore;
        }
        if (r == 0 && n == 0) {
            ctl_warnx("no answer on the terminal");
            goto restore;
        }
        if (r == 0 || ch == '\n')
            break;
        if (n + 1 >= cap)
            too_long = true;
        else
            buf[n++] = ch;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (too_long)
        ctl_warnx("too long (at most %zu bytes)", cap - 2);
    else
        rc = (long)n;
restore:
    if (!echo) {
        tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
        tty_noecho = 0;
        for (int i = 0; i < 4; i++)
            sigaction(sigs[i], &old[i], NULL);
    }
out:
    close(tty_fd);
    tty_fd = -1;
    return rc;
}

/* A name the operator port can carry: printable, no spaces. */
static bool
name_ok(const char *s)
{
    if (s[0] == '\0' || strlen(s) > CTL_NAME_MAX)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return false;
    return true;
}

const char *
ctl_login_user(const char *addr)
{
    char prompt[320];

    if (login_user_opt) {
        if (!name_ok(login_user_opt)) {
            ctl_warnx("bad --user \"%s\"", login_user_opt);
            return NULL;
        }
        return login_user_opt;
    }
    if (login_name[0])
        return login_name;
    snprintf(prompt, sizeof(prompt), "login for %s: ", addr);
    if (tty_ask(prompt, true, login_name, sizeof(login_name)) < 0) {
        if (errno == ENXIO)
            ctl_warnx("%s asks for a login and there is no terminal to ask "
                      "on: give --user NAME (or $VSPC_USER) and "
                      "--password-file FILE (or $VSPC_PASSWORD_FILE)",
                      addr);
        login_name[0] = '\0';
        return NULL;
    }
    if (!name_ok(login_name)) {
        ctl_warnx("bad user name \"%s\"", login_name);
        login_name[0] = '\0';
        return NULL;
    }
    return login_name;
}

/* The password file's first line; 0, or -1 (printed). */
static int
pw_from_file(const char *file)
{
    struct stat st;
    FILE *f = fopen(file, "re");

    if (f == NULL) {
        ctl_warnx("%s: %s", file, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0044))
        ctl_warnx("warning: %s holds a password and others may read it "
                  "(chmod 600)",
                  file);
    if (fgets(login_pw, sizeof(login_pw), f) == NULL)
        login_pw[0] = '\0';
    fclose(f);
    login_pw_len = strcspn(login_pw, "\r\n");
    if (login_pw_len == sizeof(login_pw) - 1) {
        ctl_warnx("%s: the password is longer than %d bytes", file, CTL_PW_MAX);
        return -1;
    }
    login_pw[login_pw_len] = '\0';
    if (login_pw_len == 0) {
        ctl_warnx("%s: no password on its first line", file);
        return -1;
    }
    return 0;
}

const char *
ctl_login_password(const char *user, const char *addr, size_t *len)
{
    char prompt[400];
    long n;

    if (login_pw_set) {
        *len = login_pw_len;
        return login_pw;
    }
    if (login_pw_file) {
        if (pw_from_file(login_pw_file) == -1) {
            login_wipe();
            return NULL;
        }
    } else {
        snprintf(prompt, sizeof(prompt), "Password for %s at %s: ", user, addr);
        if ((n = tty_ask(prompt, false, login_pw, sizeof(login_pw))) < 0) {
            if (errno == ENXIO)
                ctl_warnx("%s: a password is needed for %s and there is no "
                          "terminal to ask on: give --password-file FILE (or "
                          "$VSPC_PASSWORD_FILE)",
                          addr, user);
            login_wipe();
            return NULL;
        }
        login_pw_len = (size_t)n;
    }
    login_pw_set = true;
    *len = login_pw_len;
    return login_pw;
}

int
ctl_login_basic(const char *addr, char *out, size_t cap)
{
    const char *user = ctl_login_user(addr), *pw;
    unsigned char plain[CTL_NAME_MAX + CTL_PW_MAX + 2];
    size_t ulen, pwlen, n;
    int rc = -1;

    if (user == NULL || (pw = ctl_login_password(user, addr, &pwlen)) == NULL)
        return -1;
    ulen = strlen(user);
    if (strchr(user, ':')) {
        ctl_warnx("a user name with ':' cannot log in over HTTP");
        return -1;
    }
    memcpy(plain, user, ulen);
    plain[ulen] = ':';
    memcpy(plain + ulen + 1, pw, pwlen);
    n = ulen + 1 + pwlen;
    /* base64: 4 bytes per 3, then the NUL. */
    if (cap >= 6 + 4 * ((n + 2) / 3) + 1) {
        memcpy(out, "Basic ", 6);
        EVP_EncodeBlock((unsigned char *)out + 6, plain, (int)n);
        rc = 0;
    }
    OPENSSL_cleanse(plain, sizeof(plain));
    return rc;
}
