/*
 * ctl_tls.c: struct ctl_conn, one connection of vspcctl to a daemon, plain
 * TCP or TLS (OpenSSL), behind the same calls, so that the operator port
 * and the HTTP client never ask which.
 *
 * The socket is non-blocking once open; every wait is a poll() with a
 * deadline. With TLS two things differ from a plain socket, and both are
 * hidden here:
 *   - bytes already decrypted inside OpenSSL (SSL_pending) are invisible
 *     to poll(): ctl_conn_pending() says so, and ctl_conn_wait() does not
 *     sleep on them;
 *   - a read may need the socket writable (and a write readable):
 *     ctl_conn_pollfd() asks for what the last call needed.
 *
 * The server is always verified: against --ca (PEM), else OpenSSL's
 * default paths, and its certificate must name the host given (DNS name
 * or IP address). There is no way to turn this off. A client certificate
 * (--cert, --key) is offered when one is configured.
 */
#include "vspc/compat.h"
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

static const char *tls_ca, *tls_cert, *tls_key;
static SSL_CTX *tls_ctx;

void
ctl_tls_setup(const char *ca, const char *cert, const char *key)
{
    tls_ca = ca;
    tls_cert = cert;
    tls_key = key;
}

/* The last OpenSSL error as text (the queue emptied), or fallback. */
static const char *
tls_err(const char *fallback)
{
    static char buf[256];
    unsigned long e = ERR_peek_last_error();

    if (e == 0)
        return fallback;
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
}

/* The client context, made once (files read on first use). */
static SSL_CTX *
tls_context(void)
{
    SSL_CTX *ctx;
    const char *key = tls_key ? tls_key : tls_cert;

    if (tls_ctx)
        return tls_ctx;
    if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
        ctl_warnx("TLS: %s", tls_err("cannot make a context"));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* A server that closes without close_notify ends the stream (EOF). */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    if (tls_ca) {
        if (SSL_CTX_load_verify_locations(ctx, tls_ca, NULL) != 1) {
            ctl_warnx("--ca %s: %s", tls_ca, tls_err("cannot load"));
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        ctl_warnx("TLS: the system's CA certificates: %s",
                  tls_err("cannot load"));
        goto fail;
    }
    if (tls_cert) {
        if (SSL_CTX_use_certificate_chain_file(ctx, tls_cert) != 1) {
            ctl_warnx("--cert %s: %s", tls_cert, tls_err("cannot load"));
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            ctl_warnx("--key %s: %s", key, tls_err("cannot load"));
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            ctl_warnx("--key %s does not match --cert %s", key, tls_cert);
            goto fail;
        }
    }
    tls_ctx = ctx;
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

const char *
ctl_addr_strip(const char *addr, const char *tls_scheme,
               const char *plain_scheme, bool *tls)
{
    const char *sep = strstr(addr, "://");
    size_t n;

    *tls = false;
    if (sep == NULL)
        return addr;
    n = (size_t)(sep - addr);
    if (strlen(tls_scheme) == n && strncasecmp(addr, tls_scheme, n) == 0) {
        *tls = true;
        return sep + 3;
    }
    if (plain_scheme && strlen(plain_scheme) == n &&
        strncasecmp(addr, plain_scheme, n) == 0)
        return sep + 3;
    ctl_warnx("bad address \"%s\": %s://HOST:PORT%s%s%s or HOST:PORT", addr,
              tls_scheme, plain_scheme ? ", " : "",
              plain_scheme ? plain_scheme : "",
              plain_scheme ? "://HOST:PORT" : "");
    return NULL;
}

/* Wait until fd has events or deadline passes: 1, 0 (timeout), -1. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int64_t left = deadline < 0 ? -1 : deadline - ctl_now_ms();
        int r;

        if (deadline >= 0 && left < 0)
            left = 0;
        r = poll(&p, 1, (int)left);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == 0)
            errno = ETIMEDOUT;
        return r;
    }
}

/* The TLS handshake on c->fd within deadline; 0, or -1 (printed). */
static int
tls_handshake(struct ctl_conn *c, int64_t deadline)
{
    SSL_CTX *ctx = tls_context();
    char host[256], port[16];
    unsigned char ip[16];
    X509_VERIFY_PARAM *vp;
    bool is_ip;

    if (ctx == NULL)
        return -1;
    if (ctl_split_addr(c->addr, host, sizeof(host), port, sizeof(port)) == -1)
        return -1; /* ctl_connect accepted it: cannot happen */
    is_ip =
        inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        ctl_warnx("%s: TLS: %s", c->addr, tls_err("out of memory"));
        return -1;
    }
    vp = SSL_get0_param(c->ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if ((is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host)
               : X509_VERIFY_PARAM_set1_host(vp, host, 0)) != 1 ||
        (!is_ip && SSL_set_tlsext_host_name(c->ssl, host) != 1)) {
        ctl_warnx("%s: TLS: %s", c->addr, tls_err("bad host name"));
        return -1;
    }
    for (;;) {
        int r = SSL_connect(c->ssl), e = SSL_get_error(c->ssl, r);
        long v;

        if (r == 1)
            return 0;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            r = wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                        deadline);
            if (r == 1)
                continue;
            ctl_warnx("%s: TLS handshake: %s", c->addr, strerror(errno));
            return -1;
        }
        if ((v = SSL_get_verify_result(c->ssl)) != X509_V_OK) {
            ERR_clear_error();
            ctl_warnx("%s: the server's certificate did not verify: %s "
                      "(trusted: %s)",
                      c->addr, X509_verify_cert_error_string(v),
                      tls_ca ? tls_ca : "the system's CAs; see --ca");
            return -1;
        }
        ctl_warnx("%s: TLS handshake failed: %s", c->addr,
                  tls_err(e == SSL_ERROR_SYSCALL && errno
                              ? strerror(errno)
                              : "the server closed the connection"));
        return -1;
    }
}

int
ctl_conn_open(struct ctl_conn *c, const char *addr, bool tls, int timeout_ms)
{
    int64_t deadline = ctl_now_ms() + timeout_ms;
    int flags;

    memset(c, 0, sizeof(*c));
    snprintf(c->addr, sizeof(c->addr), "%s", addr);
    if ((c->fd = ctl_connect(addr, timeout_ms)) == -1)
        return -1;
    flags = fcntl(c->fd, F_GETFL);
    if (flags == -1 || fcntl(c->fd, F_SETFL, flags | O_NONBLOCK) == -1) {
        ctl_warnx("%s: fcntl: %s", addr, strerror(errno));
        ctl_conn_close(c);
        return -1;
    }
    if (tls && tls_handshake(c, deadline) == -1) {
        ctl_conn_close(c);
        return -1;
    }
    return 0;
}

void
ctl_conn_close(struct ctl_conn *c)
{
    if (c->ssl) {
        if (!c->broken)
            SSL_shutdown(c->ssl); /* one try at close_notify */
        SSL_free(c->ssl);
        c->ssl = NULL;
        ERR_clear_error();
    }
    if (c->fd != -1)
        close(c->fd);
    c->fd = -1;
}

bool
ctl_conn_pending(const struct ctl_conn *c)
{
    return c->ssl && SSL_pending(c->ssl) > 0;
}

void
ctl_conn_pollfd(const struct ctl_conn *c, struct pollfd *p)
{
    p->fd = c->fd;
    p->events = (short)(POLLIN | (c->want_write ? POLLOUT : 0));
    p->revents = 0;
}

/* After an SSL call failed with e: -1 with errno, or 0 at a clean EOF. */
static ssize_t
tls_failed(struct ctl_conn *c, int e)
{
    switch (e) {
    case SSL_ERROR_WANT_READ:
        c->want_write = false;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        c->want_write = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        c->broken = true;
        if (errno == 0)
            errno = ECONNRESET;
        ERR_clear_error();
        return -1;
    default:
        c->broken = true;
        ctl_warnx("%s: TLS: %s", c->addr, tls_err("protocol error"));
        errno = EPROTO;
        return -1;
    }
}

ssize_t
ctl_conn_read(struct ctl_conn *c, void *buf, size_t cap)
{
    size_t got = 0;
    ssize_t r;

    if (c->ssl == NULL) {
        r = read(c->fd, buf, cap);
        if (r == -1 && errno == EINTR)
            errno = EAGAIN;
        return r;
    }
    errno = 0;
    if (SSL_read_ex(c->ssl, buf, cap, &got) == 1) {
        c->want_write = false;
        return (ssize_t)got;
    }
    return tls_failed(c, SSL_get_error(c->ssl, 0));
}

int
ctl_conn_wait(struct ctl_conn *c, int timeout_ms)
{
    struct pollfd p;

    if (ctl_conn_pending(c))
        return 1;
    for (;;) {
        int r;

        ctl_conn_pollfd(c, &p);
        r = poll(&p, 1, timeout_ms);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == 0)
            errno = ETIMEDOUT;
        return r;
    }
}

ssize_t
ctl_conn_read_wait(struct ctl_conn *c, void *buf, size_t cap, int idle_ms)
{
    int64_t deadline = idle_ms < 0 ? -1 : ctl_now_ms() + idle_ms;

    for (;;) {
        ssize_t n = ctl_conn_read(c, buf, cap);
        int64_t left;

        if (n >= 0 || errno != EAGAIN)
            return n;
        left = deadline < 0 ? -1 : deadline - ctl_now_ms();
        if (deadline >= 0 && left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (ctl_conn_wait(c, (int)left) <= 0)
            return -1;
    }
}

int
ctl_conn_write_all(struct ctl_conn *c, const void *p, size_t n, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : ctl_now_ms() + timeout_ms;

    if (c->ssl == NULL)
        return ctl_write_all(c->fd, p, n, timeout_ms);
    if (c->broken) {
        errno = EPIPE;
        return -1;
    }
    while (n > 0) {
        size_t w = 0;
        int e;

        errno = 0;
        if (SSL_write_ex(c->ssl, p, n, &w) == 1) {
            p = (const char *)p + w;
            n -= w;
            continue;
        }
        e = SSL_get_error(c->ssl, 0);
        if (tls_failed(c, e) == 0) {
            errno = EPIPE;
            return -1;
        }
        if (errno != EAGAIN)
            return -1;
        /* The same buffer again once the socket allows (OpenSSL's rule). */
        if (wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                    deadline) != 1)
            return -1;
    }
    return 0;
}

bool
ctl_conn_peer_loopback(const struct ctl_conn *c)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == -1)
        return false;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a =
            &((const struct sockaddr_in6 *)&ss)->sin6_addr;

        return IN6_IS_ADDR_LOOPBACK(a) ||
               (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}
