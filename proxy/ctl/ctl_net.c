/* ctl_net.c: blocking sockets and a small HTTP client for vspcctl. */
#include "vspc/compat.h"
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <openssl/crypto.h>

#define CTL_HEAD_MAX (16 * 1024)
#define CTL_AUTH_MAX 2048 /* "Basic " and base64 of user:password */

void
ctl_warnx(const char *fmt, ...)
{
    va_list ap;

    fputs("vspcctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int64_t
ctl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
ctl_split_addr(const char *addr, char *host, size_t hcap, char *port,
               size_t pcap)
{
    const char *colon, *h = addr;
    size_t hlen;

    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');

        if (rb == NULL || rb[1] != ':')
            return -1;
        h = addr + 1;
        hlen = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - addr);
    }
    if (hlen == 0 || hlen >= hcap || colon[1] == '\0' ||
        strlen(colon + 1) >= pcap)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    snprintf(port, pcap, "%s", colon + 1);
    return 0;
}

static int
ctl_connect_one(const struct addrinfo *ai, int timeout_ms)
{
    int fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    int flags, err = 0, one = 1;
    socklen_t elen = sizeof(err);
    struct pollfd pfd;

    if (fd == -1)
        return -1;
    flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
        if (errno != EINPROGRESS)
            goto fail;
        pfd.fd = fd;
        pfd.events = POLLOUT;
        if (poll(&pfd, 1, timeout_ms) != 1) {
            errno = ETIMEDOUT;
            goto fail;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
            goto fail;
        if (err) {
            errno = err;
            goto fail;
        }
    }
    fcntl(fd, F_SETFL, flags);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
fail:
    err = errno;
    close(fd);
    errno = err;
    return -1;
}

int
ctl_connect(const char *addr, int timeout_ms)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res, *ai;
    char host[256], port[16];
    int rc, fd = -1;

    if (ctl_split_addr(addr, host, sizeof(host), port, sizeof(port)) == -1) {
        ctl_warnx("bad address \"%s\" (HOST:PORT)", addr);
        return -1;
    }
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        ctl_warnx("%s: %s", addr, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai && fd == -1; ai = ai->ai_next)
        fd = ctl_connect_one(ai, timeout_ms);
    if (fd == -1)
        ctl_warnx("cannot connect to %s: %s", addr, strerror(errno));
    freeaddrinfo(res);
    return fd;
}

int
ctl_write_all(int fd, const void *p, size_t n, int timeout_ms)
{
    const char *c = p;

    while (n > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        ssize_t w;
        int r = poll(&pfd, 1, timeout_ms);

        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1)
            return -1;
        if (r == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        w = write(fd, c, n);
        if (w == -1) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- chunked transfer decoding ------------------------------------------ */

enum ch_state {
    CH_SIZE,    /* hex digits of the chunk size */
    CH_EXT,     /* chunk extension, up to LF */
    CH_DATA,    /* chunk bytes */
    CH_DATA_CR, /* the CR LF after the data */
    CH_DATA_LF,
    CH_TRAILER, /* after the 0 chunk: lines up to an empty one */
    CH_DONE,
};

struct chunked {
    enum ch_state st;
    uint64_t left;
    unsigned digits;
    size_t line_len; /* trailer: bytes in the current line */
};

/* Feed n bytes; body bytes go to sink. Returns 0, 1 when the body is
 * complete, -1 on a protocol error or when sink stops. */
typedef int (*ch_sink)(void *arg, const char *p, size_t n);

static int
ch_feed(struct chunked *ch, const char *p, size_t n, ch_sink sink, void *arg)
{
    size_t i = 0;

    while (i < n && ch->st != CH_DONE) {
        char c = p[i];

        switch (ch->st) {
        case CH_SIZE:
            if (c >= '0' && c <= '9')
                ch->left = ch->left * 16 + (uint64_t)(c - '0');
            else if (c >= 'a' && c <= 'f')
                ch->left = ch->left * 16 + (uint64_t)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                ch->left = ch->left * 16 + (uint64_t)(c - 'A' + 10);
            else if (ch->digits > 0 && (c == '\r' || c == ';' || c == ' ')) {
                ch->st = CH_EXT;
                break;
            } else if (ch->digits > 0 && c == '\n') {
                ch->st = ch->left ? CH_DATA : CH_TRAILER;
                ch->line_len = 0;
                break;
            } else {
                return -1;
            }
            if (++ch->digits > 15)
                return -1;
            break;
        case CH_EXT:
            if (c == '\n') {
                ch->st = ch->left ? CH_DATA : CH_TRAILER;
                ch->line_len = 0;
            }
            break;
        case CH_DATA: {
            size_t take = n - i;

            if (take > ch->left)
                take = (size_t)ch->left;
            if (sink(arg, p + i, take) == -1)
                return -1;
            ch->left -= take;
            i += take;
            if (ch->left == 0)
                ch->st = CH_DATA_CR;
            continue;
        }
        case CH_DATA_CR:
            if (c == '\n') {
                ch->st = CH_SIZE;
                ch->digits = 0;
                break;
            }
            if (c != '\r')
                return -1;
            ch->st = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (c != '\n')
                return -1;
            ch->st = CH_SIZE;
            ch->digits = 0;
            break;
        case CH_TRAILER:
            if (c == '\n') {
                if (ch->line_len == 0)
                    ch->st = CH_DONE;
                ch->line_len = 0;
            } else if (c != '\r') {
                ch->line_len++;
            }
            break;
        case CH_DONE:
            break;
        }
        i++;
    }
    return ch->st == CH_DONE ? 1 : 0;
}

/* ---- GET ------------------------------------------------------------------
 */

/* Tells a sink that stopped from a malformed body. */
struct sink_wrap {
    ctl_body_cb cb;
    void *arg;
    int status;
    bool failed;
};

static int
sw_cb(void *a, const char *p, size_t n)
{
    struct sink_wrap *w = a;

    if (n > 0 && w->cb(w->arg, w->status, p, n) == -1) {
        w->failed = true;
        return -1;
    }
    return 0;
}

static const char *
ctl_header(const char *head, const char *name)
{
    size_t nl = strlen(name);

    for (const char *l = strstr(head, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
        const char *v = l + 2;

        if (strncasecmp(v, name, nl) == 0 && v[nl] == ':') {
            v += nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            return v;
        }
    }
    return NULL;
}

static char ctl_token[256];

int
ctl_load_token(const char *file)
{
    FILE *f = fopen(file, "r");

    if (f == NULL) {
        ctl_warnx("%s: %s", file, strerror(errno));
        return -1;
    }
    if (fgets(ctl_token, sizeof(ctl_token), f) == NULL)
        ctl_token[0] = '\0';
    fclose(f);
    ctl_token[strcspn(ctl_token, "\r\n")] = '\0';
    if (ctl_token[0] == '\0') {
        ctl_warnx("%s: no token on its first line", file);
        return -1;
    }
    return 0;
}

/*
 * The Authorization header for a request to c (plain or TLS), into out:
 * the bearer token if there is one, else HTTP Basic if --user was given
 * (never in clear beyond loopback), else nothing. 0, or -1 (printed).
 */
static int
ctl_auth_header(const struct ctl_conn *c, const char *addr, char *out,
                size_t cap)
{
    char basic[CTL_AUTH_MAX];

    out[0] = '\0';
    if (ctl_token[0]) {
        snprintf(out, cap, "Authorization: Bearer %s\r\n", ctl_token);
        return 0;
    }
    if (!ctl_login_configured())
        return 0;
    if (c->ssl == NULL && !ctl_conn_peer_loopback(c)) {
        ctl_warnx("%s: will not send a password in clear beyond loopback: "
                  "use https://%s (or --token-file)",
                  addr, c->addr);
        return -1;
    }
    if (ctl_login_basic(addr, basic, sizeof(basic)) == -1)
        return -1;
    snprintf(out, cap, "Authorization: %s\r\n", basic);
    OPENSSL_cleanse(basic, sizeof(basic));
    return 0;
}

int
ctl_http_get(const char *addr, const char *path, int idle_ms, ctl_body_cb sink,
             void *arg)
{
    char *buf = malloc(CTL_HEAD_MAX + 1), *req = NULL;
    char auth[CTL_AUTH_MAX + 32];
    size_t len = 0, reqcap = CTL_AUTH_MAX + 1024;
    char *sep = NULL;
    const char *v, *hostport;
    int status = -1, rc = 0, n;
    bool chunked = false, has_length = false, tls, auth_sent;
    uint64_t length = 0, got = 0;
    struct chunked ch = {0};
    struct sink_wrap w = {.cb = sink, .arg = arg};
    struct ctl_conn conn = {.fd = -1};
    ssize_t r;

    if (buf == NULL)
        return -1;
    if ((hostport = ctl_addr_strip(addr, "https", "http", &tls)) == NULL ||
        ctl_conn_open(&conn, hostport, tls, CTL_CONNECT_TIMEOUT_MS) == -1) {
        free(buf);
        return -1;
    }
    if (ctl_auth_header(&conn, addr, auth, sizeof(auth)) == -1 ||
        (req = malloc(reqcap)) == NULL)
        goto out;
    auth_sent = auth[0] != '\0';
    n = snprintf(req, reqcap,
                 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: vspcctl/%s\r\n"
                 "Accept: */*\r\n%sConnection: close\r\n\r\n",
                 path, hostport, VSPC_VERSION, auth);
    OPENSSL_cleanse(auth, sizeof(auth));
    if (n < 0 || (size_t)n >= reqcap) {
        ctl_warnx("request too long");
        goto out;
    }
    r = ctl_conn_write_all(&conn, req, (size_t)n, CTL_IO_TIMEOUT_MS);
    OPENSSL_cleanse(req, (size_t)n);
    if (r == -1) {
        ctl_warnx("%s: write: %s", addr, strerror(errno));
        goto out;
    }
    /* Status line and headers. */
    while (sep == NULL) {
        if (len == CTL_HEAD_MAX) {
            ctl_warnx("%s: response headers too long", addr);
            goto out;
        }
        r = ctl_conn_read_wait(&conn, buf + len, CTL_HEAD_MAX - len,
                               CTL_IO_TIMEOUT_MS);
        if (r <= 0) {
            ctl_warnx("%s: %s", addr,
                      r == 0 ? "connection closed before a response"
                             : strerror(errno));
            goto out;
        }
        len += (size_t)r;
        buf[len] = '\0';
        sep = strstr(buf, "\r\n\r\n");
    }
    *sep = '\0';
    if (strncmp(buf, "HTTP/1.", 7) != 0 || strlen(buf) < 12) {
        ctl_warnx("%s: not an HTTP response", addr);
        goto out;
    }
    status = atoi(buf + 9);
    w.status = status;
    if (status == 401)
        ctl_warnx("%s: %s", addr,
                  auth_sent ? "the credentials were refused"
                            : "the HTTP API wants credentials: --user NAME "
                              "(over https:// or loopback) or --token-file "
                              "FILE");
    if ((v = ctl_header(buf, "Transfer-Encoding")) &&
        strncasecmp(v, "chunked", 7) == 0)
        chunked = true;
    else if ((v = ctl_header(buf, "Content-Length")) != NULL) {
        has_length = true;
        length = strtoull(v, NULL, 10);
    }
    /* Body: what came with the headers, then the rest. */
    {
        size_t off = (size_t)(sep + 4 - buf), have = len - off;

        memmove(buf, buf + off, have);
        len = have;
    }
    for (;;) {
        if (len > 0) {
            if (chunked) {
                rc = ch_feed(&ch, buf, len, sw_cb, &w);
                if (rc == -1) {
                    if (!w.failed)
                        ctl_warnx("%s: malformed chunked reply", addr);
                    break;
                }
            } else {
                size_t take = len;

                if (has_length && take > length - got)
                    take = (size_t)(length - got);
                if (sw_cb(&w, buf, take) == -1) {
                    rc = -1;
                    break;
                }
                got += take;
                rc = has_length && got == length;
            }
            if (rc == 1)
                break;
        }
        r = ctl_conn_read_wait(&conn, buf, CTL_HEAD_MAX, idle_ms);
        if (r == 0 && !chunked && !has_length) {
            rc = 1; /* body delimited by the end of the connection */
            break;
        }
        if (r <= 0) {
            ctl_warnx("%s: %s", addr,
                      r == 0 ? "connection closed in the middle of a reply"
                             : strerror(errno));
            rc = -1;
            break;
        }
        len = (size_t)r;
    }
    if (rc == -1)
        status = -1;
out:
    ctl_conn_close(&conn);
    free(req);
    free(buf);
    return status;
}

struct ctl_membuf {
    char *p;
    size_t n;
};

static int
ctl_mem_sink(void *arg, int status, const char *p, size_t n)
{
    struct ctl_membuf *m = arg;
    char *np;

    (void)status;
    if (m->n + n > CTL_BODY_MAX) {
        ctl_warnx("reply too large");
        return -1;
    }
    if ((np = realloc(m->p, m->n + n + 1)) == NULL) {
        ctl_warnx("out of memory");
        return -1;
    }
    m->p = np;
    memcpy(m->p + m->n, p, n);
    m->n += n;
    m->p[m->n] = '\0';
    return 0;
}

int
ctl_http_get_body(const char *addr, const char *path, char **body)
{
    struct ctl_membuf m = {NULL, 0};
    int status = ctl_http_get(addr, path, CTL_IO_TIMEOUT_MS, ctl_mem_sink, &m);

    if (m.p == NULL)
        m.p = strdup("");
    *body = m.p;
    return m.p ? status : -1;
}

bool
ctl_url_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                     (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                     c == '_' || c == '~';

        if (n + (plain ? 1 : 3) >= cap)
            return false;
        if (plain) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    if (cap == 0)
        return false;
    out[n] = '\0';
    return true;
}
