/*
 * hvconn.c: one simulated ESXi host connection. See hvconn.h.
 *
 * The only delicate part is WILL 232. The capture shows the host receiving
 * the proxy's unprompted DO 232 before the AUTH answer and replying
 * WILL 232 only after DONT AUTHENTICATION. The RFC 1143 codec answers a DO
 * it accepts at once, so until the AUTH offer is answered the output
 * filter (hvc_tn_output) holds back an outgoing WILL 232 triple and
 * releases it when the answer comes; the codec's own state is already
 * "enabled", which is what the proxy will believe once it sees the WILL.
 */
#include "vspc/compat.h"
#include "hvconn.h"

#include "telnet.h"
#include "vmext.h"
#include "vspc/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

enum hvc_state {
    HVC_ST_CONNECTING = 0, /* TCP connect in progress */
    HVC_ST_TELNET,         /* negotiating; identity not sent yet */
    HVC_ST_IDENT,          /* DO-PROXY / PEER sent, source waits WILL-PROXY */
    HVC_ST_READY,          /* identified (source) / PEER sent (destination) */
    HVC_ST_FINISHING,      /* hvc_finish(): FIN sent or pending, draining */
};

struct hvc {
    TAILQ_ENTRY(hvc) entry;
    struct bufferevent *bev;
    struct event *timer; /* handshake, then linger */
    const struct hvc_handlers *h;
    void *arg;
    const struct hvc_ident *id;
    enum hvc_role role;
    enum hvc_state state;
    bool auth_answered; /* DO/DONT AUTHENTICATION received */
    bool will232_held;  /* codec answered DO 232 before the AUTH answer */
    bool ext_on;        /* option 232 enabled on our side */
    bool ks2_rcvd;      /* KNOWN-SUBOPTIONS-2 received */
    bool ident_sent;    /* KNOWN-SUBOPTIONS-1 + DO-PROXY/PEER sent */
    bool in_feed;       /* inside tn_feed(): defer the free */
    bool dead;          /* closed while in_feed */
    bool fin_sent;
    uint16_t peer_len;
    uint8_t peer[2 * VMX_SEQ_MAX + 2];
    struct tn tn;
};

static TAILQ_HEAD(, hvc) hvc_all = TAILQ_HEAD_INITIALIZER(hvc_all);
static size_t hvc_n;
static struct tn_policy hvc_policy;
static bool hvc_policy_ready;

/* ESXi's KNOWN-SUBOPTIONS-1 in the capture, in its order. */
static const uint8_t hvc_known1[] = {0,  1,  2,  3,  40, 41, 43, 44,
                                     45, 46, 48, 70, 71, 73, 80, 81,
                                     84, 85, 86, 87, 82, 83};

static void hvc_free(struct hvc *c);

static void
hvc_policy_init(void)
{
    if (hvc_policy_ready)
        return;
    memset(&hvc_policy, 0, sizeof(hvc_policy));
    tn_policy_allow(&hvc_policy, TN_OPT_BINARY, true, true);
    tn_policy_allow(&hvc_policy, TN_OPT_SGA, true, true);
    /* The proxy's WILL ECHO is answered DO ECHO (capture); we never echo. */
    tn_policy_allow(&hvc_policy, TN_OPT_ECHO, false, true);
    tn_policy_allow(&hvc_policy, TN_OPT_VMWARE, true, false);
    hvc_policy_ready = true;
}

/* End the connection from inside the module with the closed() callback. */
static void
hvc_fail(struct hvc *c, bool error, const char *why)
{
    if (c->dead)
        return;
    c->dead = true;
    if (c->in_feed)
        tn_stop(&c->tn);
    if (c->bev)
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    if (c->h->closed)
        c->h->closed(c->arg, c, error, why);
    if (!c->in_feed)
        hvc_free(c);
}

static void hvc_problem(struct hvc *c, const char *fmt, ...) VSPC_PRINTF(2, 3);

static void
hvc_problem(struct hvc *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->h->problem)
        c->h->problem(c->arg, c, msg);
}

/* Codec output. Before the AUTH answer only 3-byte verbs go out: hold a
 * WILL 232 among them (see the file comment). */
static void
hvc_tn_output(void *arg, const uint8_t *p, size_t n)
{
    struct hvc *c = arg;

    if (c->dead)
        return;
    if (!c->auth_answered && n % 3 == 0) {
        uint8_t keep[96];
        size_t k = 0;
        bool all_verbs = n <= sizeof(keep);

        for (size_t i = 0; all_verbs && i < n; i += 3)
            if (p[i] != TN_IAC || p[i + 1] < TN_WILL)
                all_verbs = false;
        if (all_verbs) {
            for (size_t i = 0; i < n; i += 3) {
                if (p[i + 1] == TN_WILL && p[i + 2] == TN_OPT_VMWARE) {
                    c->will232_held = true;
                    continue;
                }
                memcpy(keep + k, p + i, 3);
                k += 3;
            }
            if (k > 0)
                bufferevent_write(c->bev, keep, k);
            return;
        }
    }
    bufferevent_write(c->bev, p, n);
}

static void
hvc_send_identity(struct hvc *c)
{
    vmx_send(&c->tn, VMX_KNOWN_SUBOPTIONS_1, hvc_known1, sizeof(hvc_known1));
    if (c->role == HVC_SOURCE) {
        const char *uri = c->id->service_uri;

        vmx_send2(&c->tn, VMX_DO_PROXY, (const uint8_t *)"S", 1,
                  (const uint8_t *)uri, strlen(uri));
        c->state = HVC_ST_IDENT;
    } else {
        vmx_send(&c->tn, VMX_VMOTION_PEER, c->peer, c->peer_len);
        tn_request_local(&c->tn, TN_OPT_COMPORT, true);
        c->state = HVC_ST_READY;
        if (c->timer)
            evtimer_del(c->timer);
    }
    c->ident_sent = true;
}

/* Send our identity once 232 is agreed, AUTH answered and (by default)
 * KNOWN-SUBOPTIONS-2 received. */
static void
hvc_ext_progress(struct hvc *c)
{
    if (c->ident_sent || !c->auth_answered || !c->ext_on)
        return;
    if (!c->id->early_known1 && !c->ks2_rcvd)
        return;
    hvc_send_identity(c);
}

static void
hvc_auth_answered(struct hvc *c, bool accepted)
{
    if (c->auth_answered)
        return;
    c->auth_answered = true;
    if (accepted) {
        hvc_problem(c, "proxy accepted AUTHENTICATION (DO AUTH); the "
                       "simulator does not authenticate");
        tn_request_local(&c->tn, TN_OPT_AUTH, false);
    }
    if (c->will232_held) {
        static const uint8_t will232[3] = {TN_IAC, TN_WILL, TN_OPT_VMWARE};

        c->will232_held = false;
        bufferevent_write(c->bev, will232, sizeof(will232));
    } else if (!tn_local_enabled(&c->tn, TN_OPT_VMWARE)) {
        tn_request_local(&c->tn, TN_OPT_VMWARE, true);
    }
    hvc_ext_progress(c);
}

static void
hvc_tn_negotiation(void *arg, uint8_t verb, uint8_t opt)
{
    struct hvc *c = arg;

    if (opt == TN_OPT_AUTH && (verb == TN_DO || verb == TN_DONT))
        hvc_auth_answered(c, verb == TN_DO);
    /* A refusal changes no option state (no option callback): catch it
     * here rather than at the handshake timeout. */
    if (opt == TN_OPT_VMWARE && verb == TN_DONT)
        hvc_fail(c, true, "proxy sent DONT 232 (VMware extension refused)");
}

static void
hvc_tn_option(void *arg, uint8_t opt, bool local, bool enabled)
{
    struct hvc *c = arg;

    if (opt != TN_OPT_VMWARE || !local)
        return;
    if (!enabled) {
        if (c->ext_on || c->ident_sent)
            hvc_fail(c, true, "proxy disabled option 232 (DONT 232)");
        else
            hvc_fail(c, true, "proxy refused option 232 (DONT 232)");
        return;
    }
    c->ext_on = true;
    hvc_ext_progress(c);
}

static void
hvc_tn_data(void *arg, const uint8_t *p, size_t n)
{
    struct hvc *c = arg;

    if (!c->dead && n > 0)
        c->h->data(c->arg, c, p, n);
}

static void
hvc_answer_get(struct hvc *c, uint8_t sub, const char *text)
{
    vmx_send(&c->tn, sub, (const uint8_t *)text, strlen(text));
}

static bool
hvc_ks2_has_vmotion(const uint8_t *p, size_t n)
{
    static const uint8_t need[] = {40, 41, 43, 44, 45, 46, 48};

    for (size_t i = 0; i < sizeof(need); i++)
        if (memchr(p, need[i], n) == NULL)
            return false;
    return true;
}

static void
hvc_vmext(struct hvc *c, const uint8_t *p, size_t n)
{
    uint8_t sub;

    if (n == 0) {
        hvc_problem(c, "empty option-232 subnegotiation from proxy");
        return;
    }
    sub = p[0];
    p++;
    n--;
    switch (sub) {
    case VMX_KNOWN_SUBOPTIONS_2:
        if (!hvc_ks2_has_vmotion(p, n))
            log_warnx("proxy KNOWN-SUBOPTIONS-2 lacks vMotion codes");
        c->ks2_rcvd = true;
        hvc_ext_progress(c);
        break;
    case VMX_UNKNOWN_SUBOPTION_RCVD_2:
        if (c->role == HVC_DEST && n == 1 && p[0] == VMX_VMOTION_PEER) {
            c->h->vmotion(c->arg, c, sub, p, n);
            break;
        }
        hvc_problem(c, "proxy sent UNKNOWN-SUBOPTION-RCVD-2 %d",
                    n > 0 ? p[0] : -1);
        break;
    case VMX_VMOTION_GOAHEAD:
    case VMX_VMOTION_NOTNOW:
    case VMX_VMOTION_PEER_OK:
        c->h->vmotion(c->arg, c, sub, p, n);
        break;
    case VMX_WILL_PROXY:
        if (c->role != HVC_SOURCE || c->state != HVC_ST_IDENT) {
            hvc_problem(c, "unexpected WILL-PROXY (role %s, state %d)",
                        c->role == HVC_SOURCE ? "source" : "destination",
                        (int)c->state);
            break;
        }
        c->state = HVC_ST_READY;
        if (c->timer)
            evtimer_del(c->timer);
        tn_request_local(&c->tn, TN_OPT_COMPORT, true);
        if (c->h->ready)
            c->h->ready(c->arg, c);
        break;
    case VMX_WONT_PROXY:
        hvc_fail(c, true, "proxy refused DO-PROXY (WONT-PROXY)");
        break;
    case VMX_GET_VM_VC_UUID:
        hvc_answer_get(c, VMX_VM_VC_UUID, c->id->uuid_text);
        break;
    case VMX_GET_VM_NAME:
        hvc_answer_get(c, VMX_VM_NAME, c->id->name);
        break;
    case VMX_GET_VM_BIOS_UUID:
        hvc_answer_get(c, VMX_VM_BIOS_UUID, c->id->bios_text);
        break;
    case VMX_GET_VM_LOCATION_UUID:
        hvc_answer_get(c, VMX_VM_LOCATION_UUID, c->id->location_text);
        break;
    default:
        if (!vmx_is_known(sub)) {
            vmx_send(&c->tn, VMX_UNKNOWN_SUBOPTION_RCVD_1, &sub, 1);
            hvc_problem(c, "proxy sent unknown suboption %u", sub);
        } else {
            hvc_problem(c, "proxy sent host-side suboption %s",
                        vmx_sub_str(sub));
        }
        break;
    }
}

static void
hvc_tn_subneg(void *arg, uint8_t opt, const uint8_t *p, size_t n)
{
    struct hvc *c = arg;

    if (c->dead)
        return;
    if (opt != TN_OPT_VMWARE) {
        hvc_problem(c, "subnegotiation for option %u from proxy", opt);
        return;
    }
    hvc_vmext(c, p, n);
}

static void
hvc_tn_error(void *arg, enum tn_err err)
{
    struct hvc *c = arg;

    if (tn_err_is_fatal(err)) {
        char why[96];

        snprintf(why, sizeof(why), "telnet error from proxy: %s",
                 tn_err_str(err));
        hvc_fail(c, true, why);
    } else {
        hvc_problem(c, "telnet error from proxy: %s", tn_err_str(err));
    }
}

static const struct tn_handlers hvc_tn_handlers = {
    .output = hvc_tn_output,
    .data = hvc_tn_data,
    .subneg = hvc_tn_subneg,
    .option = hvc_tn_option,
    .negotiation = hvc_tn_negotiation,
    .error = hvc_tn_error,
};

static void
hvc_read_cb(struct bufferevent *bev, void *arg)
{
    struct hvc *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    c->in_feed = true;
    /* Everything in the buffer: libevent does not call again for data
     * that is already here. */
    while (!c->dead && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        size_t used;

        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
            break;
        used = tn_feed(&c->tn, v.iov_base, v.iov_len);
        evbuffer_drain(in, used);
        if (tn_failed(&c->tn)) {
            evbuffer_drain(in, evbuffer_get_length(in));
            break;
        }
    }
    c->in_feed = false;
    if (c->dead)
        hvc_free(c);
}

static void
hvc_do_shutdown(struct hvc *c)
{
    int fd = bufferevent_getfd(c->bev);

    if (c->fin_sent)
        return;
    c->fin_sent = true;
    if (fd >= 0 && shutdown(fd, SHUT_WR) == -1)
        log_debug("shutdown: %s", strerror(errno));
}

static void
hvc_write_cb(struct bufferevent *bev, void *arg)
{
    struct hvc *c = arg;

    if (c->state == HVC_ST_FINISHING) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            hvc_do_shutdown(c);
        return;
    }
    if (c->h->writable)
        c->h->writable(c->arg, c);
}

static void
hvc_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct hvc *c = arg;

    if (what & BEV_EVENT_CONNECTED) {
        int fd = bufferevent_getfd(bev);
        int one = 1;

        if (fd >= 0)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->state = HVC_ST_TELNET;
        /* The host's first and only unprompted bytes. */
        tn_request_local(&c->tn, TN_OPT_AUTH, true);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        if (c->state == HVC_ST_FINISHING)
            hvc_fail(c, false, "closed");
        else
            hvc_fail(c, true, "proxy closed the connection");
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        char why[128];

        snprintf(why, sizeof(why), "%s: %s",
                 c->state == HVC_ST_CONNECTING ? "connect" : "socket",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        hvc_fail(c, c->state != HVC_ST_FINISHING, why);
    }
}

static void
hvc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct hvc *c = arg;

    if (c->state == HVC_ST_FINISHING) {
        hvc_fail(c, false, "linger timeout");
        return;
    }
    if (c->state == HVC_ST_CONNECTING)
        hvc_fail(c, true, "handshake timeout (TCP connect)");
    else if (!c->auth_answered)
        hvc_fail(c, true, "handshake timeout (no answer to WILL AUTH)");
    else if (!c->ext_on)
        hvc_fail(c, true, "handshake timeout (option 232 not agreed)");
    else if (!c->ident_sent)
        hvc_fail(c, true,
                 "handshake timeout (no KNOWN-SUBOPTIONS-2 from proxy)");
    else
        hvc_fail(c, true, "handshake timeout (no WILL-PROXY)");
}

struct hvc *
hvc_new(struct event_base *base, const struct sockaddr_in *addr,
        enum hvc_role role, const struct hvc_ident *id, const uint8_t *peer,
        size_t peer_len, unsigned handshake_ms, const struct hvc_handlers *h,
        void *arg)
{
    struct hvc *c;
    struct timeval tv;

    hvc_policy_init();
    if (peer_len > sizeof(c->peer))
        return NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        log_warn("hvc_new");
        return NULL;
    }
    c->h = h;
    c->arg = arg;
    c->id = id;
    c->role = role;
    c->state = HVC_ST_CONNECTING;
    if (peer_len > 0)
        memcpy(c->peer, peer, peer_len);
    c->peer_len = (uint16_t)peer_len;
    tn_init(&c->tn, &hvc_policy, &hvc_tn_handlers, c);
    c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    c->timer = evtimer_new(base, hvc_timer_cb, c);
    if (c->bev == NULL || c->timer == NULL)
        goto fail;
    bufferevent_setcb(c->bev, hvc_read_cb, hvc_write_cb, hvc_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, HVC_LOWAT, 0);
    /* Read as much per event as the writers write (64 KiB buffers),
     * else a flat-out writer in this process outruns its reader. */
    bufferevent_set_max_single_read(c->bev, 256 * 1024);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)addr,
                                   sizeof(*addr)) == -1) {
        log_warnx("connect: %s",
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        goto fail;
    }
    tv.tv_sec = handshake_ms / 1000;
    tv.tv_usec = (handshake_ms % 1000) * 1000;
    evtimer_add(c->timer, &tv);
    TAILQ_INSERT_TAIL(&hvc_all, c, entry);
    hvc_n++;
    return c;
fail:
    if (c->bev)
        bufferevent_free(c->bev);
    if (c->timer)
        event_free(c->timer);
    free(c);
    return NULL;
}

static void
hvc_free(struct hvc *c)
{
    TAILQ_REMOVE(&hvc_all, c, entry);
    hvc_n--;
    if (c->timer)
        event_free(c->timer);
    if (c->bev)
        bufferevent_free(c->bev);
    free(c);
}

void
hvc_send_data(struct hvc *c, const uint8_t *p, size_t n)
{
    if (!c->dead && !c->fin_sent && c->state != HVC_ST_FINISHING)
        tn_send_data(&c->tn, p, n);
}

void
hvc_send_vmext(struct hvc *c, uint8_t sub, const uint8_t *p, size_t n)
{
    if (!c->dead && !c->fin_sent && c->state != HVC_ST_FINISHING)
        vmx_send(&c->tn, sub, p, n);
}

size_t
hvc_outbuf(const struct hvc *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

enum hvc_role
hvc_role(const struct hvc *c)
{
    return c->role;
}

bool
hvc_identified(const struct hvc *c)
{
    return c->state == HVC_ST_READY;
}

bool
hvc_finishing(const struct hvc *c)
{
    return c->state == HVC_ST_FINISHING;
}

void
hvc_finish(struct hvc *c, unsigned linger_ms)
{
    struct timeval tv;

    if (c->dead || c->state == HVC_ST_FINISHING)
        return;
    c->state = HVC_ST_FINISHING;
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        hvc_do_shutdown(c);
    tv.tv_sec = linger_ms / 1000;
    tv.tv_usec = (linger_ms % 1000) * 1000;
    evtimer_add(c->timer, &tv);
}

void
hvc_close(struct hvc *c)
{
    if (c == NULL || c->dead)
        return;
    c->dead = true;
    if (c->in_feed)
        tn_stop(&c->tn);
    if (c->bev)
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    if (!c->in_feed)
        hvc_free(c);
}

void
hvc_close_all(void)
{
    struct hvc *c;

    while ((c = TAILQ_FIRST(&hvc_all)) != NULL)
        hvc_free(c);
}

size_t
hvc_count(void)
{
    return hvc_n;
}
