/*
 * ctl.h: the pieces of vspcctl, the operator and administrator command
 * line (DESIGN.md "vspcctl").
 *
 *   vspcctl.c      arguments, `list`, `log`
 *   ctl_net.c      ctl_*: blocking TCP with poll() deadlines, a small
 *                  HTTP/1.1 GET client (Content-Length, chunked, or EOF)
 *   ctl_console.c  `console`: the operator port, a raw terminal, escapes
 *   ctl_drain.c    `drain`, `undrain`: the operator port's drain command
 *   ctl_keygen.c   `keygen`: a CURVE key pair for the cluster links
 *   ctl_passwd.c   `passwd`: a users-file line (a password hashed, users.h)
 *
 * vspcctl is a client, not the daemon: it blocks, resolves host names and
 * exits on errors. Exit status: 0 success, 1 failure, 2 bad usage.
 */
#ifndef VSPC_CTL_H
#define VSPC_CTL_H

#include "vspc/compat.h"

#include <stdio.h>

#define CTL_DEFAULT_OPERATOR "127.0.0.1:13371"
#define CTL_DEFAULT_HTTP "127.0.0.1:13372"
#define CTL_CONNECT_TIMEOUT_MS 5000
#define CTL_IO_TIMEOUT_MS 10000

/* "vspcctl: <message>\n" on stderr. */
void ctl_warnx(const char *fmt, ...) VSPC_PRINTF(1, 2);

/* Milliseconds on the monotonic clock. */
int64_t ctl_now_ms(void);

/*
 * Connect to "HOST:PORT" or "[V6]:PORT" (host names resolved) within
 * timeout_ms. Returns a blocking socket, or -1 with a message on stderr.
 */
int ctl_connect(const char *addr, int timeout_ms);

/*
 * Write all n bytes to fd (blocking or not), waiting with poll() at most
 * timeout_ms for each step. Returns 0, or -1 (errno set; ETIMEDOUT).
 */
int ctl_write_all(int fd, const void *p, size_t n, int timeout_ms);

/* Receives the body of a response with status, piece by piece, as it
 * arrives. Returns 0 to go on, -1 to stop (ctl_http_get then returns -1). */
typedef int (*ctl_body_cb)(void *arg, int status, const char *p, size_t n);

/*
 * GET path from addr ("HOST:PORT"). The body goes to sink as it arrives
 * (de-chunked). idle_ms bounds each wait for bytes (-1: wait forever, for
 * `log --follow`). Returns the HTTP status (body delivered whatever it
 * is), or -1 with a message on stderr.
 */
int ctl_http_get(const char *addr, const char *path, int idle_ms,
                 ctl_body_cb sink, void *arg);

/* Largest body ctl_http_get_body keeps. */
#define CTL_BODY_MAX (64 * 1024 * 1024)
/*
 * GET path from addr, the whole body into *body (malloc'd, NUL-terminated,
 * "" when empty; the caller frees it; NULL only if even that failed).
 * Returns the HTTP status, or -1 with a message on stderr.
 */
int ctl_http_get_body(const char *addr, const char *path, char **body);

/*
 * `vspcctl drain NODE [--close-after S]` (on) and `vspcctl undrain NODE`:
 * checks through the HTTP API at http_addr that the node is NODE, then
 * sends the command on its operator port. Returns the exit status.
 */
int ctl_drain(const char *op_addr, const char *http_addr, const char *node,
              bool on, const char *close_after);

/* The HTTP API's bearer token from file's first line, sent with every
 * request from now on. 0, or -1 (printed). */
int ctl_load_token(const char *file);

/* `vspcctl keygen [FILE]` (file NULL: both keys on stdout). Exit status. */
int ctl_keygen(const char *file);

/* `vspcctl passwd [--scheme S] [--cost N] NAME [GROUPS]`, argv[0] being
 * "passwd": the users-file line on stdout. Exit status. */
int ctl_passwd(int argc, char **argv);

/*
 * `vspcctl console`: attach to key (id, VM name or unique id prefix)
 * through the operator port at addr, read-only if ro. Returns the exit
 * status (the terminal is restored on every path).
 */
int ctl_console(const char *addr, const char *key, bool ro);

#endif /* VSPC_CTL_H */
