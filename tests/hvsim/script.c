/*
 * script.c: the scripted client library of script.h (connections, event
 * log, expectations). The hypervisor handshake and the operator helpers
 * are in scen_roles.c.
 */
#include "vspc/compat.h"

#include "script.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

static struct scr_conn *scr_all;
static char scr_src_ip[64];
static void (*scr_hook_fn)(void *);
static void *scr_hook_arg;
static bool scr_in_hook;

int64_t
scr_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
scr_msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

void
scr_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void
scr_hex(FILE *f, const uint8_t *p, size_t n, size_t max)
{
    for (size_t i = 0; i < n && i < max; i++)
        fprintf(f, "%s%02X", i ? " " : "", p[i]);
    if (n > max)
        fprintf(f, " ... (%zu bytes)", n);
}

static void
scr_ev_print(FILE *f, const struct scr_conn *c, const struct scr_ev *e)
{
    const char *s;

    switch (e->kind) {
    case SCR_EV_DATA:
        fprintf(f, "DATA(%zu) ", e->n);
        scr_hex(f, c->data + e->off, e->n, 24);
        break;
    case SCR_EV_NEG:
        s = tn_opt_str(e->opt);
        fprintf(f, "%s %s(%u) [FF %02X %02X]", tn_verb_str(e->verb),
                s ? s : "?", e->opt, e->verb, e->opt);
        break;
    case SCR_EV_SB:
        if (e->opt == TN_OPT_VMWARE && e->n > 0) {
            s = vmx_sub_str(e->p[0]);
            fprintf(f, "SB 232 %s(%u) payload[", s ? s : "?", e->p[0]);
            scr_hex(f, e->p + 1, e->n - 1, 48);
            fputc(']', f);
        } else {
            fprintf(f, "SB opt %u payload[", e->opt);
            scr_hex(f, e->p, e->n, 48);
            fputc(']', f);
        }
        break;
    case SCR_EV_CMD:
        fprintf(f, "CMD FF %02X", e->verb);
        break;
    case SCR_EV_ERR:
        fprintf(f, "CODEC-ERROR %s", tn_err_str((enum tn_err)e->verb));
        break;
    case SCR_EV_EOF:
        fprintf(f, "%s", "EOF");
        break;
    }
}

void
scr_dump(struct scr_conn *c)
{
    size_t first = c->nev > 40 ? c->nev - 40 : 0;

    fprintf(stderr, "  conn %s received %zu bytes, %zu events%s:\n", c->name,
            c->nraw, c->nev, c->eof ? " (closed by peer)" : "");
    for (size_t i = first; i < c->nev; i++) {
        fprintf(stderr, "    +%4lldms %s ",
                (long long)(c->ev[i].t_ms - c->t_open),
                c->ev[i].used ? " " : "*");
        scr_ev_print(stderr, c, &c->ev[i]);
        fputc('\n', stderr);
    }
    if (c->nraw) {
        size_t from = c->nraw > 96 ? c->nraw - 96 : 0;

        fprintf(stderr, "    raw%s: ", from ? " (last 96)" : "");
        scr_hex(stderr, c->raw + from, c->nraw - from, 96);
        fputc('\n', stderr);
    }
}

void
scr_set_hook(void (*fn)(void *), void *arg)
{
    scr_hook_fn = fn;
    scr_hook_arg = arg;
}

static void
scr_run_hook(void)
{
    if (scr_hook_fn && !scr_in_hook) {
        scr_in_hook = true;
        scr_hook_fn(scr_hook_arg);
        scr_in_hook = false;
    }
}

static void *
scr_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    size_t ncap = *cap ? *cap : 64;
    void *np;

    if (need <= *cap)
        return p;
    while (ncap < need)
        ncap *= 2;
    np = realloc(p, ncap * elem);
    if (!np) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    *cap = ncap;
    return np;
}

static struct scr_ev *
scr_ev_add(struct scr_conn *c, uint8_t kind)
{
    struct scr_ev *e;

    c->ev = scr_grow(c->ev, &c->capev, c->nev + 1, sizeof(*c->ev));
    e = &c->ev[c->nev++];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->t_ms = scr_now_ms();
    return e;
}

/* ---- codec callbacks ----------------------------------------------------- */

static void
cb_output(void *arg, const uint8_t *p, size_t n)
{
    struct scr_conn *c = arg;

    if (!c->auto_answer)
        return;
    c->outq = scr_grow(c->outq, &c->capoutq, c->noutq + n, 1);
    memcpy(c->outq + c->noutq, p, n);
    c->noutq += n;
}

static void
cb_data(void *arg, const uint8_t *p, size_t n)
{
    struct scr_conn *c = arg;
    struct scr_ev *e;

    if (c->sink) {
        c->sink(c->sink_arg, p, n);
        return;
    }
    c->data = scr_grow(c->data, &c->capdata, c->ndata + n, 1);
    memcpy(c->data + c->ndata, p, n);
    if (c->nev && c->ev[c->nev - 1].kind == SCR_EV_DATA) {
        c->ev[c->nev - 1].n += n;
    } else {
        e = scr_ev_add(c, SCR_EV_DATA);
        e->off = c->ndata;
        e->n = n;
    }
    c->ndata += n;
}

static void
cb_subneg(void *arg, uint8_t opt, const uint8_t *p, size_t n)
{
    struct scr_conn *c = arg;
    struct scr_ev *e = scr_ev_add(c, SCR_EV_SB);

    e->opt = opt;
    e->n = n;
    e->p = malloc(n ? n : 1);
    if (!e->p)
        exit(2);
    if (n)
        memcpy(e->p, p, n);
}

static void
cb_negotiation(void *arg, uint8_t verb, uint8_t opt)
{
    struct scr_ev *e = scr_ev_add(arg, SCR_EV_NEG);

    e->verb = verb;
    e->opt = opt;
}

static void
cb_command(void *arg, uint8_t cmd)
{
    scr_ev_add(arg, SCR_EV_CMD)->verb = cmd;
}

static void
cb_error(void *arg, enum tn_err err)
{
    scr_ev_add(arg, SCR_EV_ERR)->verb = (uint8_t)err;
}

/* ---- connections ----------------------------------------------------------
 */

static bool
scr_parse_addr(const char *addr, struct sockaddr_in *sin)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    char *end;
    long port;

    if (!colon || (size_t)(colon - addr) >= sizeof(host))
        return false;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port > 65535)
        return false;
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return false;
    return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
}

void
scr_set_source(const char *ip)
{
    snprintf(scr_src_ip, sizeof(scr_src_ip), "%s", ip ? ip : "");
}

bool
scr_addr_ok(const char *addr)
{
    struct sockaddr_in sin;

    return addr && scr_parse_addr(addr, &sin);
}

struct scr_conn *
scr_connect(const char *addr, const char *name, int timeout_ms)
{
    struct sockaddr_in sin;
    int64_t deadline = scr_now_ms() + timeout_ms;
    struct scr_conn *c;
    int fd, one = 1, err;

    if (!scr_parse_addr(addr, &sin)) {
        fprintf(stderr, "bad address %s (need 127.x.x.x:port)\n", addr);
        return NULL;
    }
    for (;;) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            perror("socket");
            return NULL;
        }
        if (scr_src_ip[0]) {
            struct sockaddr_in src = {.sin_family = AF_INET};

            if (inet_pton(AF_INET, scr_src_ip, &src.sin_addr) != 1 ||
                bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
                fprintf(stderr, "FAIL: bind %s: %s\n", scr_src_ip,
                        strerror(errno));
                close(fd);
                return NULL;
            }
        }
        if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
            break;
        err = errno;
        if (err == EINPROGRESS) {
            /* Bounded: wait for the handshake until the deadline. */
            struct pollfd pfd = {fd, POLLOUT, 0};
            int left = (int)(deadline - scr_now_ms());
            socklen_t elen = sizeof(err);

            if (poll(&pfd, 1, left > 0 ? left : 0) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 &&
                err == 0)
                break;
            if (err == EINPROGRESS || err == 0)
                err = ETIMEDOUT;
        }
        close(fd);
        if (scr_now_ms() >= deadline ||
            (err != ECONNREFUSED && err != EAGAIN && err != EINTR)) {
            fprintf(stderr, "FAIL: connect %s (%s): %s\n", addr, name,
                    strerror(err));
            return NULL;
        }
        scr_msleep(20);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c = calloc(1, sizeof(*c));
    if (!c)
        exit(2);
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->addr = addr;
    c->fd = fd;
    c->split_gap_us = 200;
    c->t_open = scr_now_ms();
    c->h.output = cb_output;
    c->h.data = cb_data;
    c->h.subneg = cb_subneg;
    c->h.negotiation = cb_negotiation;
    c->h.command = cb_command;
    c->h.error = cb_error;
    tn_init(&c->tn, &c->pol, &c->h, c);
    c->next = scr_all;
    scr_all = c;
    return c;
}

static void
scr_free(struct scr_conn *c)
{
    struct scr_conn **pp;

    for (pp = &scr_all; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    for (size_t i = 0; i < c->nev; i++)
        free(c->ev[i].p);
    free(c->ev);
    free(c->raw);
    free(c->data);
    free(c->outq);
    free(c);
}

void
scr_close(struct scr_conn *c)
{
    if (!c)
        return;
    if (c->io && c->io->close)
        c->io->close(c);
    if (c->fd >= 0)
        close(c->fd);
    scr_free(c);
}

void
scr_abort(struct scr_conn *c)
{
    struct linger lg = {1, 0};

    if (!c)
        return;
    if (c->io && c->io->close)
        c->io->close(c);
    if (c->fd >= 0) {
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(c->fd);
    }
    scr_free(c);
}

void
scr_close_all(void)
{
    while (scr_all)
        scr_close(scr_all);
    scr_hook_fn = NULL;
}

void
scr_shut_wr(struct scr_conn *c)
{
    if (!c->wr_shut)
        shutdown(c->fd, SHUT_WR);
    c->wr_shut = true;
}

/* ---- reading ----------------------------------------------------------------
 */

static bool scr_write_all(struct scr_conn *c, const uint8_t *p, size_t n,
                          bool quiet);

static void
scr_feed(struct scr_conn *c, const uint8_t *buf, size_t n)
{
    c->nread += n;
    if (!c->sink) {
        c->raw = scr_grow(c->raw, &c->capraw, c->nraw + n, 1);
        memcpy(c->raw + c->nraw, buf, n);
        c->nraw += n;
    }
    if (!tn_failed(&c->tn))
        tn_feed(&c->tn, buf, n);
    if (c->noutq) {
        size_t k = c->noutq;

        c->noutq = 0;
        scr_write_all(c, c->outq, k, true);
    }
}

/* Reads once without waiting. 1 got bytes, 0 nothing, -1 EOF. */
static int
scr_read_now(struct scr_conn *c)
{
    uint8_t buf[65536];
    ssize_t r;

    if (c->eof)
        return -1;
    if (c->io)
        r = c->io->recv(c, buf, sizeof(buf));
    else
        r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r > 0) {
        scr_feed(c, buf, (size_t)r);
        return 1;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    c->eof = true;
    c->reset = r < 0;
    scr_ev_add(c, SCR_EV_EOF);
    return -1;
}

void
scr_set_sink(struct scr_conn *c,
             void (*fn)(void *arg, const uint8_t *p, size_t n), void *arg)
{
    size_t rd = c->rd;

    c->rd = c->ndata;
    c->sink = fn;
    c->sink_arg = arg;
    if (fn && rd < c->ndata)
        fn(arg, c->data + rd, c->ndata - rd);
}

long
scr_read_some(struct scr_conn *c, size_t max)
{
    static uint8_t buf[256 * 1024];
    ssize_t r;

    if (c->eof)
        return -1;
    if (max == 0)
        return 0;
    if (max > sizeof(buf))
        max = sizeof(buf);
    if (c->io)
        r = c->io->recv(c, buf, max);
    else
        r = recv(c->fd, buf, max, MSG_DONTWAIT);
    if (r > 0) {
        scr_feed(c, buf, (size_t)r);
        return (long)r;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    c->eof = true;
    c->reset = r < 0;
    scr_ev_add(c, SCR_EV_EOF);
    return -1;
}

int
scr_pump(struct scr_conn *c, int timeout_ms)
{
    struct pollfd pfd;
    int r, got = 0;

    scr_run_hook();
    if (c->eof)
        return -1;
    pfd.fd = c->fd;
    pfd.events = POLLIN;
    if (timeout_ms > 10 && scr_hook_fn)
        timeout_ms = 10;
    /* TLS: decrypted bytes may be waiting with the socket silent. */
    if (c->io && c->io->pending(c))
        timeout_ms = 0;
    r = poll(&pfd, 1, timeout_ms < 0 ? 0 : timeout_ms);
    if (r <= 0 && !(c->io && c->io->pending(c)))
        return 0;
    while ((r = scr_read_now(c)) > 0)
        got = 1;
    return r < 0 && !got ? -1 : got;
}

void
scr_pump_many(struct scr_conn **cs, size_t n, int timeout_ms)
{
    struct pollfd pfd[1024];
    int64_t deadline = scr_now_ms() + timeout_ms;

    if (n > 1024)
        n = 1024;
    do {
        int left = (int)(deadline - scr_now_ms());
        nfds_t k = 0;

        scr_run_hook();
        for (size_t i = 0; i < n; i++) {
            pfd[i].fd = cs[i] && !cs[i]->eof ? cs[i]->fd : -1;
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
            k++;
        }
        for (size_t i = 0; i < n; i++)
            if (cs[i] && cs[i]->io && cs[i]->io->pending(cs[i]))
                left = 0;
        if (poll(pfd, k,
                 left < 0 ? 0 : (scr_hook_fn && left > 10 ? 10 : left)) >= 0) {
            for (size_t i = 0; i < n; i++)
                if (pfd[i].revents ||
                    (cs[i] && cs[i]->io && cs[i]->io->pending(cs[i])))
                    while (scr_read_now(cs[i]) > 0)
                        ;
        }
    } while (scr_now_ms() < deadline);
}

void
scr_settle(struct scr_conn *c, int ms)
{
    int64_t deadline = scr_now_ms() + ms;
    int left;

    while ((left = (int)(deadline - scr_now_ms())) > 0) {
        if (scr_pump(c, left) < 0) {
            scr_msleep(left > 10 ? 10 : left);
            scr_run_hook();
        }
    }
}

/* ---- writing ----------------------------------------------------------------
 */

static bool
scr_write_all(struct scr_conn *c, const uint8_t *p, size_t n, bool quiet)
{
    int64_t deadline = scr_now_ms() + 5000;

    while (n > 0) {
        ssize_t w = c->io ? c->io->send(c, p, n)
                          : send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (w > 0) {
            p += w;
            n -= (size_t)w;
            c->sent += (uint64_t)w;
            continue;
        }
        if (w < 0 &&
            (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            struct pollfd pfd = {c->fd, POLLOUT | POLLIN, 0};
            int left = (int)(deadline - scr_now_ms());

            if (left <= 0) {
                if (!quiet)
                    scr_fail(__FILE__, __LINE__,
                             "conn %s: send blocked for 5 s", c->name);
                return false;
            }
            if (poll(&pfd, 1, left) > 0 && (pfd.revents & POLLIN))
                scr_read_now(c);
            continue;
        }
        if (!quiet)
            scr_fail(__FILE__, __LINE__, "conn %s: send: %s", c->name,
                     strerror(errno));
        return false;
    }
    return true;
}

static bool
scr_send_impl(struct scr_conn *c, const void *p, size_t n, bool quiet)
{
    const uint8_t *b = p;

    if (c->split != 1 || n <= 1)
        return scr_write_all(c, b, n, quiet);
    for (size_t i = 0; i < n; i++) {
        if (!scr_write_all(c, b + i, 1, quiet))
            return false;
        if (c->split_gap_us > 0 && i + 1 < n)
            usleep((useconds_t)c->split_gap_us);
    }
    return true;
}

bool
scr_send(struct scr_conn *c, const void *p, size_t n)
{
    return scr_send_impl(c, p, n, false);
}

bool
scr_send_quiet(struct scr_conn *c, const void *p, size_t n)
{
    return scr_send_impl(c, p, n, true);
}

size_t
scr_put(uint8_t *buf, size_t len, size_t cap, const void *p, size_t n)
{
    if (len > cap || n > cap - len)
        return cap + 1;
    if (n)
        memcpy(buf + len, p, n);
    return len + n;
}

size_t
scr_put_verb(uint8_t *buf, size_t len, size_t cap, uint8_t verb, uint8_t opt)
{
    uint8_t b[3] = {TN_IAC, verb, opt};

    return scr_put(buf, len, cap, b, 3);
}

size_t
scr_put_data(uint8_t *buf, size_t len, size_t cap, const void *p, size_t n)
{
    const uint8_t *s = p;

    for (size_t i = 0; i < n && len <= cap; i++) {
        len = scr_put(buf, len, cap, s + i, 1);
        if (s[i] == TN_IAC)
            len = scr_put(buf, len, cap, s + i, 1);
    }
    return len;
}

size_t
scr_put_vmx(uint8_t *buf, size_t len, size_t cap, uint8_t sub, const void *p,
            size_t n)
{
    uint8_t h[4] = {TN_IAC, TN_SB, TN_OPT_VMWARE, sub};
    uint8_t t[2] = {TN_IAC, TN_SE};

    len = scr_put(buf, len, cap, h, sub == TN_IAC ? 3 : 4);
    if (sub == TN_IAC)
        len = scr_put_data(buf, len, cap, &sub, 1);
    len = scr_put_data(buf, len, cap, p, n);
    return scr_put(buf, len, cap, t, 2);
}

size_t
scr_put_hello(uint8_t *buf, size_t len, size_t cap, const uint8_t *ks1,
              size_t nks1, const char *uuid, const char *name)
{
    len = scr_put_verb(buf, len, cap, TN_WILL, TN_OPT_AUTH);
    len = scr_put_verb(buf, len, cap, TN_DO, TN_OPT_BINARY);
    len = scr_put_verb(buf, len, cap, TN_WILL, TN_OPT_BINARY);
    len = scr_put_verb(buf, len, cap, TN_DO, TN_OPT_SGA);
    len = scr_put_verb(buf, len, cap, TN_WILL, TN_OPT_SGA);
    len = scr_put_verb(buf, len, cap, TN_WILL, TN_OPT_VMWARE);
    len = scr_put_vmx(buf, len, cap, VMX_KNOWN_SUBOPTIONS_1, ks1, nks1);
    len = scr_put_vmx(buf, len, cap, VMX_DO_PROXY, "SvSPC.py", 8);
    len = scr_put_vmx(buf, len, cap, VMX_VM_VC_UUID, uuid, strlen(uuid));
    return scr_put_vmx(buf, len, cap, VMX_VM_NAME, name, strlen(name));
}

bool
scr_send_verb(struct scr_conn *c, uint8_t verb, uint8_t opt)
{
    uint8_t b[3] = {TN_IAC, verb, opt};

    return scr_send(c, b, 3);
}

bool
scr_send_data(struct scr_conn *c, const void *p, size_t n)
{
    size_t cap = 2 * n + 1, len;
    uint8_t *buf = malloc(cap);
    bool ok;

    if (!buf)
        exit(2);
    len = scr_put_data(buf, 0, cap, p, n);
    ok = scr_send(c, buf, len);
    free(buf);
    return ok;
}

bool
scr_send_vmx(struct scr_conn *c, uint8_t sub, const void *p, size_t n)
{
    size_t cap = 2 * n + 16, len;
    uint8_t *buf = malloc(cap);
    bool ok;

    if (!buf)
        exit(2);
    len = scr_put_vmx(buf, 0, cap, sub, p, n);
    ok = scr_send(c, buf, len);
    free(buf);
    return ok;
}

/* ---- expectations
 * ------------------------------------------------------------ */

typedef bool (*scr_match_fn)(const struct scr_ev *e, const void *arg);

static struct scr_ev *
scr_find(struct scr_conn *c, scr_match_fn fn, const void *arg, size_t from)
{
    for (size_t i = from; i < c->nev; i++)
        if (!c->ev[i].used && fn(&c->ev[i], arg))
            return &c->ev[i];
    return NULL;
}

static struct scr_ev *
scr_wait(struct scr_conn *c, scr_match_fn fn, const void *arg, int timeout_ms)
{
    int64_t deadline = scr_now_ms() + timeout_ms;
    struct scr_ev *e;

    for (;;) {
        int left;

        if ((e = scr_find(c, fn, arg, 0)) != NULL) {
            e->used = true;
            return e;
        }
        left = (int)(deadline - scr_now_ms());
        if (left <= 0 || c->eof)
            return NULL;
        scr_pump(c, left);
    }
}

struct neg_arg {
    uint8_t verb, opt;
};

static bool
match_neg(const struct scr_ev *e, const void *arg)
{
    const struct neg_arg *a = arg;

    return e->kind == SCR_EV_NEG && e->verb == a->verb && e->opt == a->opt;
}

static bool
match_vmx(const struct scr_ev *e, const void *arg)
{
    const int *sub = arg;

    return e->kind == SCR_EV_SB && e->opt == TN_OPT_VMWARE && e->n > 0 &&
           (*sub < 0 || e->p[0] == *sub);
}

const struct scr_ev *
scr_wait_neg(struct scr_conn *c, uint8_t verb, uint8_t opt, int timeout_ms)
{
    struct neg_arg a = {verb, opt};

    return scr_wait(c, match_neg, &a, timeout_ms);
}

bool
scr_expect_neg(struct scr_conn *c, uint8_t verb, uint8_t opt, int timeout_ms)
{
    const char *s = tn_opt_str(opt);

    if (scr_wait_neg(c, verb, opt, timeout_ms))
        return true;
    scr_fail(__FILE__, __LINE__,
             "conn %s: expected %s %s (FF %02X %02X) within %d ms%s", c->name,
             tn_verb_str(verb), s ? s : "?", verb, opt, timeout_ms,
             c->eof ? "; the connection was closed" : "");
    scr_dump(c);
    return false;
}

const uint8_t *
scr_wait_vmx(struct scr_conn *c, uint8_t sub, size_t *len, int timeout_ms)
{
    int s = sub;
    struct scr_ev *e = scr_wait(c, match_vmx, &s, timeout_ms);

    if (!e)
        return NULL;
    if (len)
        *len = e->n - 1;
    return e->p + 1;
}

const uint8_t *
scr_expect_vmx(struct scr_conn *c, uint8_t sub, size_t *len, int timeout_ms)
{
    const uint8_t *p = scr_wait_vmx(c, sub, len, timeout_ms);
    const char *s = vmx_sub_str(sub);

    if (p)
        return p;
    scr_fail(__FILE__, __LINE__,
             "conn %s: expected SB 232 %s (FF FA E8 %02X ...) within %d "
             "ms%s",
             c->name, s ? s : "?", sub, timeout_ms,
             c->eof ? "; the connection was closed" : "");
    scr_dump(c);
    return NULL;
}

bool
scr_expect_vmx_exact(struct scr_conn *c, uint8_t sub, const void *p, size_t n,
                     int timeout_ms)
{
    size_t len;
    const uint8_t *got = scr_expect_vmx(c, sub, &len, timeout_ms);
    const char *s = vmx_sub_str(sub);

    if (!got)
        return false;
    if (len == n && memcmp(got, p, n) == 0)
        return true;
    scr_fail(__FILE__, __LINE__, "conn %s: SB 232 %s payload differs", c->name,
             s ? s : "?");
    fprintf(stderr, "  expected (%zu): ", n);
    scr_hex(stderr, p, n, 300);
    fprintf(stderr, "\n  received (%zu): ", len);
    scr_hex(stderr, got, len, 300);
    fputc('\n', stderr);
    return false;
}

size_t
scr_count_vmx(struct scr_conn *c, uint8_t sub, size_t from)
{
    size_t k = 0;

    for (size_t i = from; i < c->nev; i++)
        if (c->ev[i].kind == SCR_EV_SB && c->ev[i].opt == TN_OPT_VMWARE &&
            c->ev[i].n > 0 && c->ev[i].p[0] == sub)
            k++;
    return k;
}

size_t
scr_count_neg(struct scr_conn *c, uint8_t verb, uint8_t opt, size_t from)
{
    size_t k = 0;

    for (size_t i = from; i < c->nev; i++)
        if (c->ev[i].kind == SCR_EV_NEG && c->ev[i].verb == verb &&
            c->ev[i].opt == opt)
            k++;
    return k;
}

bool
scr_no_vmx(struct scr_conn *c, int sub, int ms)
{
    struct scr_ev *e;

    scr_settle(c, ms);
    e = scr_find(c, match_vmx, &sub, 0);
    if (!e)
        return true;
    scr_fail(__FILE__, __LINE__, "conn %s: unexpected answer %s", c->name,
             vmx_sub_str(e->p[0]) ? vmx_sub_str(e->p[0]) : "?");
    scr_dump(c);
    return false;
}

bool
scr_expect_open(struct scr_conn *c, int ms)
{
    scr_settle(c, ms);
    if (!c->eof)
        return true;
    scr_fail(__FILE__, __LINE__,
             "conn %s: closed by the proxy, expected it "
             "to stay open",
             c->name);
    scr_dump(c);
    return false;
}

bool
scr_wait_eof(struct scr_conn *c, int timeout_ms)
{
    int64_t deadline = scr_now_ms() + timeout_ms;

    while (!c->eof) {
        int left = (int)(deadline - scr_now_ms());

        if (left <= 0)
            return false;
        scr_pump(c, left);
    }
    return true;
}

bool
scr_expect_eof(struct scr_conn *c, int timeout_ms)
{
    if (scr_wait_eof(c, timeout_ms))
        return true;
    scr_fail(__FILE__, __LINE__,
             "conn %s: expected the proxy to close the connection within "
             "%d ms",
             c->name, timeout_ms);
    scr_dump(c);
    return false;
}

bool
scr_wait_ndata(struct scr_conn *c, size_t n, int timeout_ms)
{
    int64_t deadline = scr_now_ms() + timeout_ms;

    while (c->ndata - c->rd < n) {
        int left = (int)(deadline - scr_now_ms());

        if (left <= 0 || c->eof)
            return false;
        scr_pump(c, left);
    }
    return true;
}

static bool
scr_data_mismatch(struct scr_conn *c, const uint8_t *want, size_t n,
                  size_t have)
{
    size_t k = 0, from;

    while (k < n && k < have && c->data[c->rd + k] == want[k])
        k++;
    if (k == n)
        return false;
    from = k > 8 ? k - 8 : 0;
    scr_fail(__FILE__, __LINE__,
             "conn %s: data stream: expected %zu bytes at stream offset %zu, "
             "%s at byte %zu (offset %zu)",
             c->name, n, c->rd, k < have ? "mismatch" : "only got", k,
             c->rd + k);
    fprintf(stderr, "  expected from +%zu: ", from);
    scr_hex(stderr, want + from, n - from, 32);
    fprintf(stderr, "\n  received from +%zu: ", from);
    scr_hex(stderr, c->data + c->rd + from, have > from ? have - from : 0, 32);
    fputc('\n', stderr);
    return true;
}

bool
scr_expect_data(struct scr_conn *c, const void *want, size_t n, int timeout_ms)
{
    size_t have;

    scr_wait_ndata(c, n, timeout_ms);
    have = c->ndata - c->rd;
    if (scr_data_mismatch(c, want, n, have < n ? have : n)) {
        if (have < n)
            scr_dump(c);
        return false;
    }
    c->rd += n;
    return true;
}

bool
scr_expect_pattern(struct scr_conn *c, uint64_t seed, uint64_t off, size_t n,
                   int timeout_ms)
{
    uint8_t *want = malloc(n ? n : 1);
    bool ok;

    if (!want)
        exit(2);
    pat_fill(seed, off, want, n);
    ok = scr_expect_data(c, want, n, timeout_ms);
    free(want);
    return ok;
}

bool
scr_no_data(struct scr_conn *c, int ms)
{
    scr_settle(c, ms);
    if (c->ndata == c->rd)
        return true;
    scr_fail(__FILE__, __LINE__, "conn %s: %zu unexpected data bytes", c->name,
             c->ndata - c->rd);
    fprintf(stderr, "  received: ");
    scr_hex(stderr, c->data + c->rd, c->ndata - c->rd, 64);
    fputc('\n', stderr);
    return false;
}
