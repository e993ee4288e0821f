/*
 * ctl.h: the pieces of vspcctl, the operator and administrator command
 * line (DESIGN.md "vspcctl").
 *
 *   vspcctl.c      arguments, which transport a command takes, `list`,
 *                  `log`, `status`
 *   ctl_net.c      ctl_*: TCP connect with poll() deadlines, a small
 *                  HTTP/1.1 GET client (Content-Length, chunked, or EOF;
 *                  https://, a bearer token or HTTP Basic)
 *   ctl_tls.c      ctl_conn_*: one connection, plain TCP or TLS (OpenSSL,
 *                  the server verified), the same calls for both
 *   ctl_login.c    ctl_login_*: the user and the password (a file, or
 *                  asked on the terminal), HTTP Basic credentials
 *   ctl_op.c       ctl_op_*: an operator-port session: telnet, the login
 *                  dialogue, reply lines, then a byte sink
 *   ctl_console.c  `console`: the operator port, a raw terminal, escapes
 *   ctl_drain.c    `drain`, `undrain`, `drain --status`: the operator
 *                  port's drain command, the node checked by its banner
 *   ctl_who.c      `who`: the operators attached to a console (HTTP or
 *                  the operator port), the table
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
#include <sys/types.h>
#include <jansson.h>

#include "telnet.h"

struct pollfd;
struct ssl_st;

#define CTL_DEFAULT_OPERATOR "127.0.0.1:13371"
#define CTL_DEFAULT_HTTP "127.0.0.1:13372"
#define CTL_CONNECT_TIMEOUT_MS 5000
#define CTL_IO_TIMEOUT_MS 10000

/* "vspcctl: <message>\n" on stderr. */
void ctl_warnx(const char *fmt, ...) VSPC_PRINTF(1, 2);

/* Milliseconds on the monotonic clock. */
int64_t ctl_now_ms(void);

/* Split "HOST:PORT" / "[V6]:PORT" into host and port. 0, or -1. */
int ctl_split_addr(const char *addr, char *host, size_t hcap, char *port,
                   size_t pcap);

/*
 * Connect to "HOST:PORT" or "[V6]:PORT" (host names resolved) within
 * timeout_ms. Returns a blocking socket, or -1 with a message on stderr.
 */
int ctl_connect(const char *addr, int timeout_ms);

/* ---- connections: plain or TLS (ctl_tls.c) ---------------------------- */

/* TLS settings for every TLS connection of this run: ca (PEM; NULL: the
 * system's), a client certificate chain and its key (NULL: none; key
 * NULL: in the cert file). The files are read at the first TLS use. */
void ctl_tls_setup(const char *ca, const char *cert, const char *key);

/*
 * addr without its scheme: "TLS://HOST:PORT" (tls_scheme, *tls set),
 * "PLAIN://HOST:PORT" (plain_scheme, may be NULL) or "HOST:PORT" as is.
 * NULL with a message for any other scheme.
 */
const char *ctl_addr_strip(const char *addr, const char *tls_scheme,
                           const char *plain_scheme, bool *tls);

struct ctl_conn {
    int fd;             /* non-blocking; -1 once closed */
    struct ssl_st *ssl; /* NULL: plain TCP */
    bool want_write;    /* TLS: the last read needs POLLOUT to go on */
    bool broken;        /* TLS: fatal error, no close_notify */
    char addr[272];     /* HOST:PORT, for messages */
};

/*
 * Connect c to addr ("HOST:PORT"), with TLS if tls (handshake included:
 * the server's certificate verified and matched with HOST), all within
 * timeout_ms. 0, or -1 with a message (c closed).
 */
int ctl_conn_open(struct ctl_conn *c, const char *addr, bool tls,
                  int timeout_ms);
void ctl_conn_close(struct ctl_conn *c);
/* Without waiting: >0 bytes, 0 at the end, -1 with errno (EAGAIN: none
 * yet; then wait with ctl_conn_wait or poll ctl_conn_pollfd). */
ssize_t ctl_conn_read(struct ctl_conn *c, void *buf, size_t cap);
/* Bytes are waiting inside OpenSSL, which poll() cannot see: read now. */
bool ctl_conn_pending(const struct ctl_conn *c);
/* The pollfd that says when ctl_conn_read may make progress. */
void ctl_conn_pollfd(const struct ctl_conn *c, struct pollfd *p);
/* Wait at most timeout_ms (-1 forever) for ctl_conn_read to have
 * something: 1, 0 (timeout, errno ETIMEDOUT), -1 (errno). */
int ctl_conn_wait(struct ctl_conn *c, int timeout_ms);
/* Read once, waiting at most idle_ms (-1 forever): >0 bytes, 0 EOF, -1
 * error or timeout (errno). */
ssize_t ctl_conn_read_wait(struct ctl_conn *c, void *buf, size_t cap,
                           int idle_ms);
/* All n bytes, each wait at most timeout_ms. 0, or -1 (errno). */
int ctl_conn_write_all(struct ctl_conn *c, const void *p, size_t n,
                       int timeout_ms);
/* Is the peer a loopback address (127/8, ::1, ::ffff:127/104)? */
bool ctl_conn_peer_loopback(const struct ctl_conn *c);

/* ---- who we log in as (ctl_login.c) ------------------------------------ */

/* --user (NULL: none; asked if a login is asked for) and --password-file
 * (NULL: the password is asked on the terminal). */
void ctl_login_setup(const char *user, const char *password_file);
/* Was a user given (HTTP Basic is sent only then)? */
bool ctl_login_configured(void);
/* The user to log in to addr as: --user, else asked on /dev/tty. NULL
 * with a message when there is neither. */
const char *ctl_login_user(const char *addr);
/* user's password (*len bytes, NUL-ended), read or asked once per run
 * and kept until exit (then wiped). NULL with a message. */
const char *ctl_login_password(const char *user, const char *addr, size_t *len);
/* "Basic <base64(user:password)>" into out. 0, or -1 (printed). */
int ctl_login_basic(const char *addr, char *out, size_t cap);

/* ---- operator-port sessions (ctl_op.c) --------------------------------- */

#define CTL_OP_TEXT_MAX 8192 /* command-mode bytes kept while waiting */

typedef void (*ctl_op_sink)(void *arg, const uint8_t *p, size_t n);

struct ctl_op {
    struct ctl_conn conn;
    struct tn tn;
    char addr[280];   /* as given (tls://...), for messages */
    char user[72];    /* who we logged in as ("" none) */
    char node[128];   /* the node id its banner names ("" none seen) */
    bool failed;      /* write or protocol error: unusable */
    char err[256];    /* why the last call failed */
    ctl_op_sink sink; /* NULL: the bytes are command-mode text */
    void *sink_arg;
    size_t text_len;
    char text[CTL_OP_TEXT_MAX + 1];
};

/*
 * Open a session on the operator port at addr ("HOST:PORT" or
 * "tls://HOST:PORT") and log in if the server asks (ctl_login.c):
 * returns 0 at the first "vspc> " prompt, or -1 with a message on stderr
 * (op closed).
 */
int ctl_op_open(struct ctl_op *op, const char *addr);
void ctl_op_close(struct ctl_op *op);
/* Data to the server through telnet (FF doubled). 0, or -1 (op->err). */
int ctl_op_send(struct ctl_op *op, const void *p, size_t n);
/* Read once without waiting and feed the codec: >0 (progress or nothing
 * yet), 0 at the end, -1 on error (op->err). */
ssize_t ctl_op_read(struct ctl_op *op);
/* The next reply line (line end and leading prompts removed) into line,
 * waiting until deadline (ms, ctl_now_ms). 0, or -1 (op->err). */
int ctl_op_line(struct ctl_op *op, int64_t deadline, const char *waiting_for,
                char *line, size_t cap);
/* From now on the bytes go to sink (NULL: back to text), starting with
 * those received after the last line taken. */
void ctl_op_set_sink(struct ctl_op *op, ctl_op_sink sink, void *arg);
/*
 * At the prompt: send the command line cmd and take its whole reply, up
 * to the next prompt (any size up to CTL_BODY_MAX), into *reply (malloc'd,
 * the echo left out, lines ending in LF). 0, or -1 (op->err).
 */
int ctl_op_command(struct ctl_op *op, const char *cmd, char **reply);

/*
 * Write all n bytes to fd (blocking or not), waiting with poll() at most
 * timeout_ms for each step. Returns 0, or -1 (errno set; ETIMEDOUT).
 */
int ctl_write_all(int fd, const void *p, size_t n, int timeout_ms);

/* Receives the body of a response with status, piece by piece, as it
 * arrives. Returns 0 to go on, -1 to stop (ctl_http_get then returns -1). */
typedef int (*ctl_body_cb)(void *arg, int status, const char *p, size_t n);

/*
 * GET path from addr ("HOST:PORT", "http://HOST:PORT" or, over TLS,
 * "https://HOST:PORT"), with the bearer token if one was loaded, else
 * HTTP Basic if --user was given (refused, -1, in clear to a
 * non-loopback peer). The body goes to sink as it arrives (de-chunked).
 * idle_ms bounds each wait for bytes (-1: wait forever, for `log
 * --follow`). Returns the HTTP status (body delivered whatever it is), or
 * -1 with a message on stderr.
 */
int ctl_http_get(const char *addr, const char *path, int idle_ms,
                 ctl_body_cb sink, void *arg);

/* s percent-encoded for a URL path segment (all but A-Z a-z 0-9 - . _ ~)
 * into out; false if it does not fit. */
bool ctl_url_escape(const char *s, char *out, size_t cap);

/* Largest body ctl_http_get_body keeps. */
#define CTL_BODY_MAX (64 * 1024 * 1024)
/*
 * GET path from addr, the whole body into *body (malloc'd, NUL-terminated,
 * "" when empty; the caller frees it; NULL only if even that failed).
 * Returns the HTTP status, or -1 with a message on stderr.
 */
int ctl_http_get_body(const char *addr, const char *path, char **body);

/*
 * `vspcctl drain NODE [--close-after S]` (what "drain"), `vspcctl undrain
 * NODE` ("undrain") and `vspcctl drain --status [NODE]` ("status", node
 * may be NULL): on the operator port at op_addr, once its banner says the
 * node is NODE. The answer as text, or JSON. Returns the exit status.
 */
int ctl_drain(const char *op_addr, const char *what, const char *node,
              const char *close_after, bool as_json);

/*
 * `vspcctl who <key>`: the operators of the node attached to console key,
 * from the HTTP API at http_addr (op_addr NULL) or the operator port at
 * op_addr (`who <key> --json`), as a table or JSON. Exit status.
 */
int ctl_who(const char *op_addr, const char *http_addr, const char *key,
            bool as_json);
/* The operator port's `cmd` (one that answers JSON: `list --json`, `who
 * KEY --json`) at addr, parsed. NULL with a message ("error ..." replies
 * too). */
json_t *ctl_op_json(const char *addr, const char *cmd);

/* The HTTP API's bearer token from file's first line, sent with every
 * request from now on. 0, or -1 (printed). */
int ctl_load_token(const char *file);

/* `vspcctl keygen [FILE]` (file NULL: both keys on stdout). Exit status. */
int ctl_keygen(const char *file);

/* `vspcctl passwd [--scheme S] [--cost N] NAME [GROUPS]`, argv[0] being
 * "passwd": the users-file line on stdout. Exit status. */
int ctl_passwd(int argc, char **argv);

/* How `vspcctl console` attaches. */
struct ctl_attach {
    const char *mode; /* "rw", "ro" or "excl" */
    bool raw;         /* attach ... raw: the proxy takes no escapes */
    int esc;          /* -e: 0 none, else the character (default ^E) */
    bool esc_given;   /* -e was given */
};
/* "^X" (^@.. ^_, ^a.. ^z) or "none" into *esc (0 none). 0, or -1. */
int ctl_parse_escape(const char *s, int *esc);

/*
 * `vspcctl console`: attach to key (id, VM name or unique id prefix)
 * through the operator port at addr, as a says. Returns the exit status
 * (the terminal is restored on every path).
 */
int ctl_console(const char *addr, const char *key, const struct ctl_attach *a);

#endif /* VSPC_CTL_H */
