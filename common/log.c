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
