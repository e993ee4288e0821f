/*
 * http_client.c: the proxy and blocking HTTP client shared by the HTTP
 * suites (see http_client.h).
 */
#include "vspc/compat.h"

#include "http_client.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <event2/event.h>

#include "vspc/log.h"
#include "http.h"

struct proxy px;
static int port;

double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
pump(void)
{
    event_base_loop(px.base, EVLOOP_NONBLOCK);
}

void
pump_for(double secs)
{
    double end = now_s() + secs;

    while (now_s() < end) {
        pump();
        usleep(2000);
    }
}

void
hc_setup(const char *name, int port_base)
{
    char addr[32];
    int first = (int)(getpid() % 100);

    signal(SIGPIPE, SIG_IGN);
    log_init(name, getenv("VSPC_UNIT_LOG") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
    memset(&px, 0, sizeof(px));
    proxy_cfg_defaults(&px.cfg);
    ck_assert_int_eq(proxy_init(&px), 0);
    for (int i = 0; i < 100 && px.http == NULL; i++) {
        port = port_base + (first + i) % 100;
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
        px.http = http_new(&px, addr);
    }
    ck_assert_ptr_nonnull(px.http);
}

/* ---- client ---------------------------------------------------------------
 */

void
resp_free(struct resp *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

int
cl_connect(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Loopback: the kernel completes the handshake from the backlog even
     * though the server has not run accept() yet. */
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

void
cl_send(int fd, const char *s)
{
    size_t n = strlen(s);

    ck_assert_int_eq(write(fd, s, n), (ssize_t)n);
}

int
cl_read_some(int fd, char **buf, size_t *len, size_t *cap, double deadline)
{
    while (now_s() < deadline) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t r;

        pump();
        if (poll(&pfd, 1, 5) <= 0)
            continue;
        if (*len + 65536 + 1 > *cap) {
            *cap = (*len + 65536 + 1) * 2;
            *buf = realloc(*buf, *cap);
            ck_assert_ptr_nonnull(*buf);
        }
        r = read(fd, *buf + *len, 65536);
        if (r == 0)
            return 0;
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return 0; /* reset: treat as end */
        }
        *len += (size_t)r;
        (*buf)[*len] = '\0';
        return 1;
    }
    return -1;
}

/* Decode a chunked body in place; returns -1 if incomplete, else its
 * length (*done set when the last chunk was seen). */
static long
dechunk(const char *in, size_t n, char *out, bool *done)
{
    size_t i = 0, o = 0;

    *done = false;
    for (;;) {
        char *end;
        unsigned long sz;
        const char *crlf = memmem(in + i, n - i, "\r\n", 2);

        if (crlf == NULL)
            return (long)o;
        sz = strtoul(in + i, &end, 16);
        if (end == in + i)
            return -1;
        i = (size_t)(crlf - in) + 2;
        if (sz == 0) {
            *done = n - i >= 2;
            return (long)o;
        }
        if (n - i < sz + 2)
            return (long)o;
        memcpy(out + o, in + i, sz);
        o += sz;
        i += sz + 2;
    }
}

bool
parse_resp(const char *raw, size_t n, bool eof, struct resp *r)
{
    const char *sep = memmem(raw, n, "\r\n\r\n", 4);
    const char *body;
    size_t hlen, blen;
    const char *cl;
    bool done = eof;

    if (sep == NULL)
        return false;
    hlen = (size_t)(sep - raw);
    body = sep + 4;
    blen = n - hlen - 4;
    free(r->head);
    free(r->body);
    r->head = strndup(raw, hlen);
    r->body = malloc(blen + 1);
    ck_assert_ptr_nonnull(r->body);
    r->status = atoi(raw + 9);
    if (strcasestr(r->head, "transfer-encoding: chunked")) {
        bool last;
        long bl = dechunk(body, blen, r->body, &last);

        ck_assert_int_ge(bl, 0);
        r->body_len = (size_t)bl;
        done = done || last;
    } else {
        memcpy(r->body, body, blen);
        r->body_len = blen;
        if ((cl = strcasestr(r->head, "content-length:")) != NULL)
            done = done || blen >= (size_t)atol(cl + 15);
    }
    r->body[r->body_len] = '\0';
    return done;
}

void
http_req(const char *method, const char *path, struct resp *r)
{
    char req[512];
    char *raw = NULL;
    size_t len = 0, cap = 0;
    double deadline = now_s() + 10;
    int fd = cl_connect(), rc = 1;

    memset(r, 0, sizeof(*r));
    snprintf(req, sizeof(req),
             "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
             "\r\n",
             method, path);
    cl_send(fd, req);
    while (rc == 1) {
        rc = cl_read_some(fd, &raw, &len, &cap, deadline);
        if (raw && parse_resp(raw, len, rc == 0, r))
            break;
    }
    ck_assert_msg(rc != -1, "%s %s: no complete response", method, path);
    ck_assert_ptr_nonnull(r->head);
    free(raw);
    close(fd);
}

void
get(const char *path, struct resp *r)
{
    http_req("GET", path, r);
}
