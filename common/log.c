/* log.c: see vspc/log.h. */
#include "vspc/compat.h"
#include "vspc/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <time.h>

int log_verbosity = LOG_LVL_INFO;
static const char *log_prog = "vspc";
/* stderr is the journal (JOURNAL_STREAM names it): "<N>message" lines,
 * the journal keeps the time, the program and the priority. */
static bool log_journal;

static const char *const log_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

/* sd-daemon's convention: JOURNAL_STREAM is "DEVICE:INODE" of the stream
 * systemd connected stderr to; it counts only if stderr still is it. */
static bool
log_stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    char tail;

    if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2 ||
        fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *prog, int level)
{
    const char *slash = strrchr(prog, '/');

    log_prog = slash ? slash + 1 : prog;
    log_verbosity = level;
    log_journal = log_stderr_is_journal();
}

int
log_level_parse(const char *name)
{
    static const char *const lower[] = {"error", "warn", "info", "debug"};

    for (size_t i = 0; i < VSPC_ARRAY_LEN(lower); i++)
        if (strcmp(name, lower[i]) == 0)
            return (int)i;
    return -1;
}

static log_console_name_fn log_con_name;

void
log_set_console_name(log_console_name_fn fn)
{
    log_con_name = fn;
}

/* "console=<id> rest" -> "console=<id> vm=\"name\" rest" in msg. */
static void
log_add_vm_name(char *msg, size_t cap)
{
    char id[320], ins[600];
    size_t idlen = strcspn(msg + 8, " "), o = 0, at, tl, il;
    const char *name;

    if (idlen == 0 || idlen >= sizeof(id))
        return;
    memcpy(id, msg + 8, idlen);
    id[idlen] = '\0';
    if ((name = log_con_name(id)) == NULL || name[0] == '\0')
        return;
    memcpy(ins, " vm=\"", 5);
    o = 5;
    for (const char *p = name; *p && o + 3 < sizeof(ins); p++) {
        if (*p == '"' || *p == '\\')
            ins[o++] = '\\';
        ins[o++] = *p;
    }
    ins[o++] = '"';
    il = o;
    at = 8 + idlen;
    tl = strlen(msg + at);
    if (at + il >= cap)
        return;
    if (at + il + tl >= cap)
        tl = cap - 1 - at - il; /* the line's end is cut, as vsnprintf does */
    memmove(msg + at + il, msg + at, tl);
    memcpy(msg + at, ins, il);
    msg[at + il + tl] = '\0';
}

static void
log_vwrite(int level, const char *fmt, va_list ap, const char *suffix)
{
    char msg[1024];
    char stamp[32];
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (log_con_name && strncmp(msg, "console=", 8) == 0)
        log_add_vm_name(msg, sizeof(msg));
    if (level < 0 || level > LOG_LVL_DEBUG)
        level = LOG_LVL_ERROR;
    /* One fprintf per line so concurrent writers do not interleave. */
    if (log_journal) {
        static const int prio[] = {3, 4, 6, 7}; /* err, warning, info, debug */

        fprintf(stderr, "<%d>%s%s%s\n", prio[level], msg, suffix ? ": " : "",
                suffix ? suffix : "");
        return;
    }
    fprintf(stderr, "%s.%03ldZ %s %s %s%s%s\n", stamp,
            (long)(tv.tv_usec / 1000), log_prog, log_names[level], msg,
            suffix ? ": " : "", suffix ? suffix : "");
}

void
log_msg(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(level, fmt, ap, NULL);
    va_end(ap);
}

void
log_msg_errno(int level, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(level, fmt, ap, strerror(saved));
    va_end(ap);
}

void
fatal(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(LOG_LVL_ERROR, fmt, ap, strerror(saved));
    va_end(ap);
    exit(1);
}

void
fatalx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(LOG_LVL_ERROR, fmt, ap, NULL);
    va_end(ap);
    exit(1);
}
