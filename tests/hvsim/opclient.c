/*
 * opclient.c: one operator on the proxy's operator port. See opclient.h.
 *
 * Before "ok attached" the data stream is the command dialogue: lines
 * ending in CR LF, possibly behind a "vspc> " prompt. The byte after the
 * LF of "ok attached ..." is the first console byte (offset N), so the
 * line parser hands the rest of the same run to the verifier.
 */
#include "vspc/compat.h"
#include "opclient.h"

#include "pattern.h"
#include "telnet.h"
#include "vspc/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

enum opc_state {
    OPC_ST_CONNECTING = 0,
    OPC_ST_WAIT_REPLY, /* attach sent, waiting for ok/error */
    OPC_ST_RETRY,      /* "error ...": timer before the next attach */
    OPC_ST_ATTACHED,   /* console bytes both ways */
};

#define OPC_LINE_MAX 512
#define OPC_REPLY_MS 10000

struct opc {
    TAILQ_ENTRY(opc) entry;
    struct bufferevent *bev;
    struct event *timer;
    const struct opc_handlers *h;
    void *arg;
    enum opc_state state;
    bool in_feed;
    bool dead;
    uint64_t vm_seed;
    uint64_t op_seed;
    unsigned tag_bits; /* the typed stream's tag (pat_tagged) */
    unsigned tag;
    uint64_t t_start_us;
    struct opc_stats st;
    size_t line_len;
    char line[OPC_LINE_MAX];
    char last_error[128];
    char console_id[128];
    struct tn tn;
};

static TAILQ_HEAD(, opc) opc_all = TAILQ_HEAD_INITIALIZER(opc_all);
static struct tn_policy opc_policy;
static bool opc_policy_ready;

static void opc_free(struct opc *o);

static uint64_t
opc_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
opc_fail(struct opc *o, const char *why)
{
    if (o->dead)
        return;
    o->dead = true;
    if (o->in_feed)
        tn_stop(&o->tn);
    bufferevent_disable(o->bev, EV_READ | EV_WRITE);
    if (o->h->closed)
        o->h->closed(o->arg, o, why);
    if (!o->in_feed)
        opc_free(o);
}

static void opc_problem(struct opc *o, uint64_t off, const char *fmt, ...)
    VSPC_PRINTF(3, 4);

static void
opc_problem(struct opc *o, uint64_t off, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (o->h->problem)
        o->h->problem(o->arg, o, off, msg);
}

static void
opc_tn_output(void *arg, const uint8_t *p, size_t n)
{
    struct opc *o = arg;

    if (!o->dead)
        bufferevent_write(o->bev, p, n);
}

static void
opc_send_attach(struct opc *o)
{
    char cmd[200];
    int n;
    struct timeval tv = {OPC_REPLY_MS / 1000, 0};

    n = snprintf(cmd, sizeof(cmd), "attach %s rw raw\r\n", o->console_id);
    tn_send_data(&o->tn, (const uint8_t *)cmd, (size_t)n);
    o->st.attach_tries++;
    o->state = OPC_ST_WAIT_REPLY;
    evtimer_add(o->timer, &tv);
}

/* VM output after attaching: check against the VM stream. */
static void
opc_verify(struct opc *o, const uint8_t *p, size_t n)
{
    uint64_t off = o->st.offset + o->st.rx;

    if (!o->st.mismatch) {
        size_t k = pat_check(o->vm_seed, off, p, n);

        o->st.verified += k;
        if (k < n) {
            o->st.mismatch = true;
            opc_problem(o, off + k,
                        "operator: VM byte mismatch at offset %" PRIu64
                        ": got 0x%02x, want 0x%02x",
                        off + k, p[k], pat_byte(o->vm_seed, off + k));
        }
    }
    o->st.rx += n;
    if (o->h->data)
        o->h->data(o->arg, o, o->st.offset + o->st.rx);
}

/* Parse "ok attached <id> <mode> offset=<N>". */
static bool
opc_parse_ok(struct opc *o, const char *line)
{
    const char *p = strstr(line, "offset=");
    char *end;
    unsigned long long v;

    if (p == NULL)
        return false;
    errno = 0;
    v = strtoull(p + 7, &end, 10);
    if (errno != 0 || end == p + 7)
        return false;
    o->st.offset = v;
    return true;
}

static void
opc_line(struct opc *o, char *line)
{
    size_t n = strlen(line);

    while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
        line[--n] = 0;
    while (strncmp(line, "vspc> ", 6) == 0)
        line += 6;
    if (o->state != OPC_ST_WAIT_REPLY)
        return;
    if (strncmp(line, "ok attached ", 12) == 0) {
        evtimer_del(o->timer);
        if (!opc_parse_ok(o, line)) {
            opc_problem(o, UINT64_MAX, "operator: cannot parse '%.100s'", line);
            opc_fail(o, "bad attach reply");
            return;
        }
        o->state = OPC_ST_ATTACHED;
        o->st.attached = true;
        o->st.attach_us = opc_now_us() - o->t_start_us;
        if (o->h->attached)
            o->h->attached(o->arg, o, o->st.offset);
        return;
    }
    if (strncmp(line, "error", 5) == 0) {
        struct timeval tv = {0, OPC_RETRY_MS * 1000};

        snprintf(o->last_error, sizeof(o->last_error), "%s", line);
        evtimer_del(o->timer);
        if (o->st.attach_tries >= OPC_ATTACH_TRIES) {
            char why[200];

            snprintf(why, sizeof(why), "attach failed %u times: %.120s",
                     o->st.attach_tries, o->last_error);
            opc_fail(o, why);
            return;
        }
        o->state = OPC_ST_RETRY;
        evtimer_add(o->timer, &tv);
    }
}

static void
opc_tn_data(void *arg, const uint8_t *p, size_t n)
{
    struct opc *o = arg;

    for (size_t i = 0; i < n && !o->dead; i++) {
        if (o->state == OPC_ST_ATTACHED) {
            opc_verify(o, p + i, n - i);
            return;
        }
        if (o->line_len < OPC_LINE_MAX - 1)
            o->line[o->line_len++] = (char)p[i];
        if (p[i] == '\n' || p[i] == 0) {
            o->line[o->line_len] = 0;
            o->line_len = 0;
            opc_line(o, o->line);
        }
    }
}

static void
opc_tn_subneg(void *arg, uint8_t opt, const uint8_t *p, size_t n)
{
    struct opc *o = arg;

    opc_problem(o, UINT64_MAX, "operator: unexpected SB for option %u", opt);
}

static void
opc_tn_error(void *arg, enum tn_err err)
{
    struct opc *o = arg;

    opc_problem(o, UINT64_MAX, "operator: telnet error: %s", tn_err_str(err));
    if (tn_err_is_fatal(err))
        opc_fail(o, "telnet error");
}

static const struct tn_handlers opc_tn_handlers = {
    .output = opc_tn_output,
    .data = opc_tn_data,
    .subneg = opc_tn_subneg,
    .error = opc_tn_error,
};

static void
opc_read_cb(struct bufferevent *bev, void *arg)
{
    struct opc *o = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    o->in_feed = true;
    while (!o->dead && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        size_t used;

        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
            break;
        used = tn_feed(&o->tn, v.iov_base, v.iov_len);
        evbuffer_drain(in, used);
        if (tn_failed(&o->tn))
            break;
    }
    o->in_feed = false;
    if (o->dead)
        opc_free(o);
}

static void
opc_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct opc *o = arg;

    if (what & BEV_EVENT_CONNECTED) {
        int fd = bufferevent_getfd(bev);
        int one = 1;

        if (fd >= 0)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        opc_send_attach(o);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        opc_fail(o, "proxy closed the operator connection");
    } else if (what & BEV_EVENT_ERROR) {
        char why[128];

        snprintf(why, sizeof(why), "operator socket: %s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        opc_fail(o, why);
    }
}

static void
opc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct opc *o = arg;

    if (o->state == OPC_ST_RETRY)
        opc_send_attach(o);
    else if (o->state == OPC_ST_CONNECTING)
        opc_fail(o, "operator connect timeout");
    else if (o->state == OPC_ST_WAIT_REPLY)
        opc_fail(o, "no reply to attach");
}

struct opc *
opc_new(struct event_base *base, const struct sockaddr_in *addr,
        const char *console_id, uint64_t vm_seed, uint64_t op_seed,
        unsigned tag_bits, unsigned tag, const struct opc_handlers *h,
        void *arg)
{
    struct opc *o;
    struct timeval tv = {OPC_REPLY_MS / 1000, 0};

    if (!opc_policy_ready) {
        tn_policy_allow(&opc_policy, TN_OPT_BINARY, true, true);
        tn_policy_allow(&opc_policy, TN_OPT_SGA, true, true);
        tn_policy_allow(&opc_policy, TN_OPT_ECHO, false, true);
        opc_policy_ready = true;
    }
    if (strlen(console_id) >= sizeof(o->console_id))
        return NULL;
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    o->h = h;
    o->arg = arg;
    o->vm_seed = vm_seed;
    o->op_seed = op_seed;
    o->tag_bits = tag_bits;
    o->tag = tag;
    o->t_start_us = opc_now_us();
    snprintf(o->console_id, sizeof(o->console_id), "%s", console_id);
    tn_init(&o->tn, &opc_policy, &opc_tn_handlers, o);
    o->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    o->timer = evtimer_new(base, opc_timer_cb, o);
    if (o->bev == NULL || o->timer == NULL)
        goto fail;
    bufferevent_setcb(o->bev, opc_read_cb, NULL, opc_event_cb, o);
    /* Read as much per event as the writers write (64 KiB buffers),
     * else a flat-out writer in this process outruns its reader. */
    bufferevent_set_max_single_read(o->bev, 256 * 1024);
    bufferevent_enable(o->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(o->bev, (const struct sockaddr *)addr,
                                   sizeof(*addr)) == -1)
        goto fail;
    evtimer_add(o->timer, &tv);
    TAILQ_INSERT_TAIL(&opc_all, o, entry);
    return o;
fail:
    if (o->bev)
        bufferevent_free(o->bev);
    if (o->timer)
        event_free(o->timer);
    free(o);
    return NULL;
}

size_t
opc_type(struct opc *o, size_t max)
{
    uint8_t buf[4096];
    size_t done = 0;

    if (o->dead || o->state != OPC_ST_ATTACHED)
        return 0;
    while (done < max && opc_outbuf(o) < OPC_HIWAT) {
        size_t n = max - done;

        if (n > sizeof(buf))
            n = sizeof(buf);
        pat_fill_tagged(o->op_seed, o->tag_bits, o->tag, o->st.typed, buf, n);
        tn_send_data(&o->tn, buf, n);
        o->st.typed += n;
        done += n;
    }
    return done;
}

size_t
opc_outbuf(const struct opc *o)
{
    return evbuffer_get_length(bufferevent_get_output(o->bev));
}

const struct opc_stats *
opc_stats(const struct opc *o)
{
    return &o->st;
}

static void
opc_free(struct opc *o)
{
    TAILQ_REMOVE(&opc_all, o, entry);
    event_free(o->timer);
    bufferevent_free(o->bev);
    free(o);
}

void
opc_close(struct opc *o)
{
    if (o == NULL || o->dead)
        return;
    o->dead = true;
    if (o->in_feed)
        tn_stop(&o->tn);
    bufferevent_disable(o->bev, EV_READ | EV_WRITE);
    if (!o->in_feed)
        opc_free(o);
}

void
opc_close_all(void)
{
    struct opc *o;

    while ((o = TAILQ_FIRST(&opc_all)) != NULL)
        opc_free(o);
}
