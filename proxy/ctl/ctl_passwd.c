/*
 * ctl_passwd.c: `vspcctl passwd [--scheme scrypt|pbkdf2-sha256] [--cost N]
 * NAME [GROUPS]`: prints the users-file line NAME:HASH:GROUPS (users.h)
 * for a password read from the terminal without echo, twice, or as one
 * line from stdin when stdin is not a terminal. The terminal's modes are
 * put back on every path, a signal included.
 */
#include "vspc/compat.h"
#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "users.h"

static struct termios saved_tio;
static volatile sig_atomic_t tio_changed;

/* A signal while echo is off: echo back on, then die of the signal. */
static void
restore_and_die(int sig)
{
    if (tio_changed)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
    signal(sig, SIG_DFL);
    raise(sig);
}

/*
 * One line from stdin into buf (cap bytes, NUL-terminated, line end
 * dropped). Returns its length, or -1 with a message (too long, error).
 */
static long
read_line(char *buf, size_t cap)
{
    size_t n = 0;

    for (;;) {
        char ch;
        ssize_t r = read(STDIN_FILENO, &ch, 1);

        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            ctl_warnx("stdin: %s", strerror(errno));
            return -1;
        }
        if (r == 0 || ch == '\n')
            break;
        if (n + 1 >= cap) {
            ctl_warnx("password longer than %d bytes", USR_PASSWORD_MAX);
            return -1;
        }
        buf[n++] = ch;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return (long)n;
}

/* read_line with echo off after prompt on stderr. */
static long
read_tty(const char *prompt, char *buf, size_t cap)
{
    struct termios t;
    struct sigaction sa, old[4];
    static const int sigs[4] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    long n;

    if (tcgetattr(STDIN_FILENO, &saved_tio) == -1) {
        ctl_warnx("terminal: %s", strerror(errno));
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = restore_and_die;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 4; i++)
        sigaction(sigs[i], &sa, &old[i]);
    t = saved_tio;
    t.c_lflag &= ~(tcflag_t)ECHO;
    t.c_lflag |= ECHONL;
    fputs(prompt, stderr);
    fflush(stderr);
    tio_changed = 1;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == -1) {
        ctl_warnx("terminal: %s", strerror(errno));
        n = -1;
    } else
        n = read_line(buf, cap);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
    tio_changed = 0;
    for (int i = 0; i < 4; i++)
        sigaction(sigs[i], &old[i], NULL);
    return n;
}

/* GROUPS: 0..USR_GROUPS_MAX names, comma-separated. */
static bool
groups_ok(const char *groups)
{
    char name[USR_NAME_MAX + 1];
    int count = 0;

    for (const char *g = groups; *g;) {
        size_t n = strcspn(g, ",");

        if (n == 0 || n > USR_NAME_MAX || ++count > USR_GROUPS_MAX)
            return false;
        memcpy(name, g, n);
        name[n] = '\0';
        if (!usr_name_ok(name))
            return false;
        g += n;
        if (*g == ',' && *++g == '\0')
            return false;
    }
    return true;
}

/* The password: twice from a terminal, once from anything else. */
static long
get_password(char *pw, size_t cap)
{
    char again[USR_PASSWORD_MAX + 2];
    long n, m;

    if (!isatty(STDIN_FILENO))
        return read_line(pw, cap);
    if ((n = read_tty("Password: ", pw, cap)) < 0)
        return -1;
    if ((m = read_tty("Again: ", again, sizeof(again))) < 0)
        n = -1;
    else if (m != n || memcmp(pw, again, (size_t)n) != 0) {
        ctl_warnx("the passwords differ");
        n = -1;
    }
    OPENSSL_cleanse(again, sizeof(again));
    return n;
}

int
ctl_passwd(int argc, char **argv)
{
    static const struct option opts[] = {
        {"scheme", required_argument, NULL, 's'},
        {"cost", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *scheme = "scrypt", *name, *groups = "";
    char pw[USR_PASSWORD_MAX + 2], hash[USR_HASH_STR_MAX], err[256];
    char line[USR_NAME_MAX + USR_HASH_STR_MAX + USR_GROUPS_MAX * 65 + 4];
    unsigned long cost = 0;
    struct usr_db *check;
    long n;
    int c, rc = 1;

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;

        switch (c) {
        case 's':
            scheme = optarg;
            break;
        case 'c':
            errno = 0;
            cost = strtoul(optarg, &end, 10);
            if (optarg[0] < '0' || optarg[0] > '9' || *end || errno ||
                cost == 0 || cost > 10000000) {
                ctl_warnx("bad --cost \"%s\"", optarg);
                return 2;
            }
            break;
        case 'h':
            printf("usage: vspcctl passwd [--scheme scrypt|pbkdf2-sha256] "
                   "[--cost N] NAME [GROUPS]\n");
            return 0;
        default:
            return 2;
        }
    }
    if (optind >= argc || argc - optind > 2) {
        ctl_warnx("usage: vspcctl passwd [--scheme scrypt|pbkdf2-sha256] "
                  "[--cost N] NAME [GROUPS]");
        return 2;
    }
    name = argv[optind];
    if (optind + 1 < argc)
        groups = argv[optind + 1];
    if (strcmp(scheme, "scrypt") != 0 && strcmp(scheme, "pbkdf2-sha256")) {
        ctl_warnx("bad --scheme \"%s\" (scrypt or pbkdf2-sha256)", scheme);
        return 2;
    }
    if (!usr_name_ok(name) || strcmp(name, "anonymous") == 0) {
        ctl_warnx("bad NAME \"%s\" (1..64 of A-Za-z0-9._@-; not anonymous)",
                  name);
        return 2;
    }
    if (!groups_ok(groups)) {
        ctl_warnx("bad GROUPS \"%s\" (up to %d names, comma-separated)", groups,
                  USR_GROUPS_MAX);
        return 2;
    }
    if ((n = get_password(pw, sizeof(pw))) < 0)
        goto out;
    if (usr_hash_new(pw, (size_t)n, scheme, (unsigned)cost, hash, sizeof(hash),
                     err, sizeof(err)) != 0) {
        ctl_warnx("%s", err);
        goto out;
    }
    snprintf(line, sizeof(line), "%s:%s:%s\n", name, hash, groups);
    /* What we print must load. */
    if ((check = usr_db_parse(line, strlen(line), err, sizeof(err))) == NULL) {
        ctl_warnx("internal error: %s", err);
        goto out;
    }
    usr_db_free(&check);
    if (fputs(line, stdout) == EOF || fflush(stdout) != 0) {
        ctl_warnx("stdout: %s", strerror(errno));
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(pw, sizeof(pw));
    return rc;
}
