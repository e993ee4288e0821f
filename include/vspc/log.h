/*
 * log.h: the operational log (stderr), OpenBSD style.
 *
 * Every line: "<time> <prog> <LEVEL> <message>". Console-related lines put
 * "console=<id>" first in the message so they can be grepped. The level is
 * checked before the arguments are evaluated. Safe to call from the loop
 * thread only (the writer thread of later issues uses its own counters).
 * Console data never goes here: that is the console log's job.
 */
#ifndef VSPC_LOG_H
#define VSPC_LOG_H

#include "vspc/compat.h"

enum log_level {
    LOG_LVL_ERROR = 0,
    LOG_LVL_WARN = 1,
    LOG_LVL_INFO = 2,
    LOG_LVL_DEBUG = 3,
};

extern int log_verbosity;

/* prog is kept by pointer: pass a string literal or argv[0]. */
void log_init(const char *prog, int level);
/* Parses "error|warn|info|debug"; returns -1 on an unknown name. */
int log_level_parse(const char *name);

/*
 * A console line ("console=<id> ...") gets vm="<VM name>" right after the
 * id when fn returns a non-empty name for the id (quotes and backslashes
 * escaped). fn runs on the logging thread: it must answer NULL off the
 * loop thread.
 */
typedef const char *(*log_console_name_fn)(const char *id);
void log_set_console_name(log_console_name_fn fn);

void log_msg(int level, const char *fmt, ...) VSPC_PRINTF(2, 3);
/* Like log_msg, appends ": strerror(errno)". */
void log_msg_errno(int level, const char *fmt, ...) VSPC_PRINTF(2, 3);
void fatal(const char *fmt, ...) VSPC_PRINTF(1, 2) VSPC_NORETURN;
void fatalx(const char *fmt, ...) VSPC_PRINTF(1, 2) VSPC_NORETURN;

#define log_at(lvl, ...)                                                       \
    do {                                                                       \
        if ((lvl) <= log_verbosity)                                            \
            log_msg((lvl), __VA_ARGS__);                                       \
    } while (0)
#define log_debug(...) log_at(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_warnx(...) log_at(LOG_LVL_WARN, __VA_ARGS__)
#define log_errorx(...) log_at(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)                                                          \
    do {                                                                       \
        if (LOG_LVL_WARN <= log_verbosity)                                     \
            log_msg_errno(LOG_LVL_WARN, __VA_ARGS__);                          \
    } while (0)

#endif /* VSPC_LOG_H */
