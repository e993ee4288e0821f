/* session.c: see session.h. */
#include "vspc/compat.h"
#include "session.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/util.h>

#include "vspc/clock.h"
#include "vspc/log.h"
#include "vspc/strmap.h"
#include "console.h"
#include "tls.h"
#include "vmotion.h"

/* Write low watermark: below it, operators blocked on us resume. */
#define SESS_OUT_LOW (64 * 1024)
/* Data held before identification: stop reading past this many times
 * cfg.pre_ident_max (warn at cfg.pre_ident_max). */
#define SESS_PRE_HOLD 16
/* TLS: decrypted bytes waiting in the bufferevent, at most. */
#define SESS_TLS_IN_MAX (256 * 1024)
/* Plain sockets: read this much per call, at most the budget per wake-up. */
#define SESS_READ_CHUNK PROXY_RBUF_SIZE
#define SESS_READ_BUDGET (256 * 1024)
/* A connection being retired gets this long to drain its output. */
#define SESS_FLUSH_SECS 5

#define B(st) (1u << SESS_ST_##st)
/* Legal exits of each state (see the state list in session.h). */
const uint32_t sess_allowed[SESS_ST__COUNT] = {
    [SESS_ST_NEGOTIATING] = B(PROXY_REQ) | B(PEER) | B(RETIRED) | B(CLOSING),
    [SESS_ST_PROXY_REQ] = B(ACTIVE) | B(PEER) | B(RETIRED) | B(CLOSING),
    [SESS_ST_PEER] = B(ACTIVE) | B(RETIRED) | B(CLOSING),
    [SESS_ST_ACTIVE] = B(RETIRED) | B(CLOSING),
    [SESS_ST_RETIRED] = B(CLOSING),
    [SESS_ST_CLOSING] = 0,
};
#undef B

static const char *const sess_state_names[SESS_ST__COUNT] = {
    "NEGOTIATING", "PROXY_REQ", "PEER", "ACTIVE", "RETIRED", "CLOSING"};

const char *
sess_state_str(enum sess_state st)
{
    return (unsigned)st < SESS_ST__COUNT ? sess_state_names[st] : "???";
}

bool
sess_transition_ok(enum sess_state from, enum sess_state to)
{
    if ((unsigned)from >= SESS_ST__COUNT || (unsigned)to >= SESS_ST__COUNT)
        return false;
    return (sess_allowed[from] & (1u << to)) != 0;
}

/* ---- unidentified connections per source (--max-unidentified-per-source)
 */

struct sess_src {
    struct smap_node hn;
    char host[64];
    unsigned n;
};

struct sess_srcs {
    struct smap m;
};

static bool
sess_unidentified(enum sess_state st)
{
    return st == SESS_ST_NEGOTIATING || st == SESS_ST_PROXY_REQ ||
           st == SESS_ST_PEER;
}

static const char *sess_host(const char *addr, size_t *n);

/* s's host ("ADDR" of "ADDR:PORT", "[V6]" of "[V6]:PORT") into out. */
static void
sess_src_key(const struct session *s, char out[64])
{
    size_t n;

    sess_host(s->peer_addr, &n);
    if (n > 63)
        n = 63;
    memcpy(out, s->peer_addr, n);
    out[n] = '\0';
}

/* Count s in (true) or out; in: false if its source has too many. */
static bool
sess_src_count(struct session *s, bool in)
{
    struct proxy *px = s->px;
    struct smap_node *hn;
    struct sess_src *e;
    char key[64];

    if (px->srcs == NULL)
        return true;
    sess_src_key(s, key);
    hn = smap_get(&px->srcs->m, key);
    e = hn ? smap_entry(hn, struct sess_src, hn) : NULL;
    if (!in) {
        if (e && --e->n == 0) {
            smap_del(&px->srcs->m, hn);
            free(e);
        }
        return true;
    }
    if (e && e->n >= px->cfg.max_unident_per_source)
        return false;
    if (e == NULL) {
        if ((e = calloc(1, sizeof(*e))) == NULL)
            return true; /* uncounted: the global caps still hold */
        memcpy(e->host, key, sizeof(e->host));
        smap_put(&px->srcs->m, &e->hn, e->host);
    }
    e->n++;
    return true;
}

static void
sess_src_free_one(struct smap_node *hn, void *arg)
{
    free(smap_entry(hn, struct sess_src, hn));
}

void
sess_srcs_free(struct proxy *px)
{
    if (px->srcs == NULL)
        return;
    smap_foreach(&px->srcs->m, sess_src_free_one, NULL);
    smap_fini(&px->srcs->m);
    free(px->srcs);
    px->srcs = NULL;
}

static void
sess_set_state(struct session *s, enum sess_state to, int line)
{
    if (!sess_transition_ok(s->state, to)) {
        log_errorx("session=%llu illegal transition %s -> %s (line %d)",
                   (unsigned long long)s->id, sess_state_str(s->state),
                   sess_state_str(to), line);
        return;
    }
    if (sess_unidentified(s->state) && !sess_unidentified(to))
        sess_src_count(s, false);
    log_debug("session=%llu %s -> %s", (unsigned long long)s->id,
              sess_state_str(s->state), sess_state_str(to));
    s->state = to;
}
#define SET_STATE(s, to) sess_set_state((s), (to), __LINE__)

static const char *
sess_con_id(const struct session *s)
{
    return s->con ? s->con->id : "-";
}

/* ---- output ---------------------------------------------------------- */

/* A buffer could not grow: the bytes cannot be kept, so the connection
 * goes (the host reconnects) rather than lose them silently. */
static void
sess_oom(struct session *s, const char *what)
{
    log_errorx("session=%llu %s: %s: closing it", (unsigned long long)s->id,
               s->peer_addr, what);
    sess_close(s, what);
}

static void
tn_out_cb(void *arg, const uint8_t *p, size_t n)
{
    struct session *s = arg;

    if (s->state == SESS_ST_CLOSING || s->bev == NULL)
        return;
    if (bufferevent_write(s->bev, p, n) != 0)
        sess_oom(s, "out of memory queueing bytes to the host");
}

void
sess_send_data(struct session *s, const uint8_t *p, size_t n)
{
    tn_send_data(&s->tn, p, n);
}

size_t
sess_output_len(const struct session *s)
{
    if (s->bev == NULL)
        return 0;
    return evbuffer_get_length(bufferevent_get_output(s->bev));
}

void
sess_send_vmx(struct session *s, uint8_t sub, const uint8_t *a, size_t an,
              const uint8_t *b, size_t bn)
{
    vmx_send2(&s->tn, sub, a, an, b, bn);
}

/* ---- identification ---------------------------------------------------- */

static void
sess_ask_ident(struct session *s)
{
    if (s->asked_ident)
        return;
    s->asked_ident = true;
    vmx_send(&s->tn, VMX_GET_VM_VC_UUID, NULL, 0);
    vmx_send(&s->tn, VMX_GET_VM_NAME, NULL, 0);
}

static void sess_resume(struct session *s);

/* Serial data held before identification goes to the console, in order,
 * as the console takes it (sess_pump). */
static void
sess_deliver_pre(struct session *s)
{
    size_t len = evbuffer_get_length(s->pre);

    if (len > 0 && s->con)
        log_info("console=%s %zu bytes received before identification "
                 "follow",
                 s->con->id, len);
    sess_resume(s);
}

static void
sess_disarm_timer(struct session *s)
{
    if (s->timer)
        evtimer_del(s->timer);
}

/* The host part of "ADDR:PORT" or "[ADDR]:PORT" (length into *n). */
static const char *
sess_host(const char *addr, size_t *n)
{
    const char *colon = strrchr(addr, ':');

    if (addr[0] == '[' && strchr(addr, ']')) {
        *n = (size_t)(strchr(addr, ']') - addr) + 1;
        return addr;
    }
    *n = colon ? (size_t)(colon - addr) : strlen(addr);
    return addr;
}

static bool
sess_same_host(const char *a, const char *b)
{
    size_t na, nb;

    sess_host(a, &na);
    sess_host(b, &nb);
    return na == nb && memcmp(a, b, na) == 0;
}

/* Another connection claims c while old holds it, outside a vMotion: the
 * most dangerous event on this port (whoever knows a UUID gets the
 * console's input). --takeover refuse keeps old (true: s is closed);
 * replace lets s in, loudly when it comes from another host. */
static bool
sess_takeover(struct session *s, struct console *c, struct con_hv *old)
{
    struct proxy *px = s->px;

    if (px->cfg.takeover_refuse) {
        px->stats.takeovers_refused++;
        log_warnx("console=%s: a connection from %s claims it while %s holds "
                  "it: refused (--takeover refuse)",
                  c->id, s->peer_addr, old->addr);
        con_event(c,
                  "a connection from %s claimed this console and was refused: "
                  "%s keeps it",
                  s->peer_addr, old->addr);
        sess_close(s, "its console has a live connection (--takeover refuse)");
        return true;
    }
    if (!sess_same_host(old->addr, s->peer_addr)) {
        px->stats.takeovers_other_host++;
        log_warnx("console=%s: TAKEOVER: its live connection from %s is "
                  "replaced by one from a different host, %s, outside a "
                  "vMotion",
                  c->id, old->addr, s->peer_addr);
        con_event(c,
                  "WARNING: this console's connection from %s was replaced "
                  "by one from a DIFFERENT host, %s (not a vMotion)",
                  old->addr, s->peer_addr);
    } else {
        log_info("console=%s reconnected from %s; replacing %s", c->id,
                 s->peer_addr, old->addr);
    }
    return false;
}

/* s carries its VM's console from now on (will_proxy: answer the host's
 * DO-PROXY; a destination that lost its vMotion's owner sent none). */
static void
sess_identify_ex(struct session *s, bool will_proxy)
{
    struct proxy *px = s->px;
    struct console *c = con_get(px->consoles, s->uuid, s->label);
    struct con_hv *old;

    if (c == NULL) {
        sess_close(s, errno == ENOSPC
                          ? "this node holds --max-consoles consoles"
                          : "out of memory creating the console");
        return;
    }
    old = c->owner;
    if (old && old != &s->hv && sess_takeover(s, c, old))
        return;
    if (c->vmo)
        vmo_cancel(c, "the VM connected again");
    if (old && old != &s->hv) {
        con_owner_gone(c, old);
        old->ops->replaced(old, "replaced by a new connection of its VM");
    }
    if (will_proxy)
        vmx_send(&s->tn, VMX_WILL_PROXY, NULL, 0);
    SET_STATE(s, SESS_ST_ACTIVE);
    s->con = c;
    sess_disarm_timer(s);
    if (s->name[0])
        con_set_name(c, s->name);
    px->stats.hv_identified++;
    log_info("console=%s connected from %s (vm \"%s\")", c->id, s->peer_addr,
             s->name);
    con_set_owner(c, &s->hv);
    con_event(c, "hypervisor %s connected", s->peer_addr);
    sess_deliver_pre(s);
}

/* ---- this connection as a vMotion's destination (vmotion.h) ------------ */

static void
sess_vd_accept(struct vmo_dest *d, const uint8_t *seq, size_t n)
{
    sess_become_peer(VSPC_CONTAINER_OF(d, struct session, vd), seq, n);
}

static void
sess_vd_drop(struct vmo_dest *d, const char *why)
{
    sess_close(VSPC_CONTAINER_OF(d, struct session, vd), why);
}

static void
sess_vd_handover(struct vmo_dest *d, const struct vmo_handover *h)
{
    /* Same node: the console is already here, with its stream, held input
     * and locks; the connection just becomes its owner. */
    sess_become_owner(VSPC_CONTAINER_OF(d, struct session, vd), h->con);
}

static const struct vmo_dest_ops sess_vd_ops = {
    .accept = sess_vd_accept,
    .drop = sess_vd_drop,
    .handover = sess_vd_handover,
};

void
sess_become_peer(struct session *s, const uint8_t *seq, size_t n)
{
    SET_STATE(s, SESS_ST_PEER);
    sess_disarm_timer(s);
    sess_ask_ident(s);
    sess_send_vmx(s, VMX_VMOTION_PEER_OK, seq, n, NULL, 0);
}

void
sess_become_owner(struct session *s, struct console *c)
{
    SET_STATE(s, SESS_ST_ACTIVE);
    s->con = c;
    if (s->name[0])
        con_set_name(c, s->name);
    con_set_owner(c, &s->hv);
    sess_deliver_pre(s);
}

/* ---- option 232 ---------------------------------------------------------- */

static void
sess_on_do_proxy(struct session *s, const uint8_t *p, size_t n)
{
    struct proxy *px = s->px;
    const uint8_t *uri;
    size_t urilen;
    char dir;

    if (s->state != SESS_ST_NEGOTIATING) {
        log_info("session=%llu %s: DO-PROXY in state %s: ignored",
                 (unsigned long long)s->id, s->peer_addr,
                 sess_state_str(s->state));
        return;
    }
    if (vmx_parse_do_proxy(p, n, &dir, &uri, &urilen) != 0 || dir != 'S' ||
        vmx_service_match(uri, urilen, px->cfg.service_uris,
                          px->cfg.n_service_uris, s->label) != 0) {
        char shown[128];

        vmx_sanitise_name(p, n, shown, sizeof(shown));
        px->stats.hv_refused++;
        log_warnx("session=%llu %s: DO-PROXY \"%s\" refused (%s): "
                  "WONT-PROXY",
                  (unsigned long long)s->id, s->peer_addr, shown,
                  n == 0        ? "empty"
                  : p[0] != 'S' ? "direction is not S"
                                : "service URI not configured");
        vmx_send(&s->tn, VMX_WONT_PROXY, NULL, 0);
        sess_close_flush(s, "DO-PROXY refused");
        return;
    }
    s->proxy_ok = true;
    SET_STATE(s, SESS_ST_PROXY_REQ);
    sess_ask_ident(s);
    if (s->uuid[0])
        sess_identify_ex(s, true);
}

static void
sess_on_uuid(struct session *s, const uint8_t *p, size_t n)
{
    char uuid[VMX_UUID_HEX + 1];

    if (vmx_uuid_normalise(p, n, uuid) != 0) {
        char shown[80];

        vmx_sanitise_name(p, n, shown, sizeof(shown));
        s->px->stats.proto_errors++;
        log_warnx("session=%llu %s: malformed VM-VC-UUID \"%s\"",
                  (unsigned long long)s->id, s->peer_addr, shown);
        if (s->state == SESS_ST_NEGOTIATING || s->state == SESS_ST_PROXY_REQ)
            sess_close(s, "malformed VM-VC-UUID");
        return;
    }
    if (s->uuid[0] && strcmp(s->uuid, uuid) != 0) {
        log_warnx("console=%s %s announced a second, different UUID %s: "
                  "ignored",
                  sess_con_id(s), s->peer_addr, uuid);
        return;
    }
    memcpy(s->uuid, uuid, sizeof(uuid));
    if (s->state == SESS_ST_PEER && s->vd.vmo &&
        strcmp(s->vd.vmo->con->uuid, uuid) != 0) {
        log_warnx("console=%s vMotion peer %s announced UUID %s: not this "
                  "VM, dropping the peer",
                  s->vd.vmo->con->id, s->peer_addr, uuid);
        sess_close(s, "peer UUID mismatch");
        return;
    }
    if (s->state == SESS_ST_PROXY_REQ)
        sess_identify_ex(s, true);
}

static void
sess_on_name(struct session *s, const uint8_t *p, size_t n)
{
    vmx_sanitise_name(p, n, s->name, sizeof(s->name));
    if (s->con && s->state == SESS_ST_ACTIVE)
        con_set_name(s->con, s->name);
}

static void
sess_on_vmx(struct session *s, const uint8_t *p, size_t n)
{
    uint8_t sub;

    if (n == 0) {
        s->px->stats.proto_errors++;
        log_warnx("session=%llu %s: empty option-232 subnegotiation",
                  (unsigned long long)s->id, s->peer_addr);
        return;
    }
    sub = p[0];
    p++;
    n--;
    log_debug("session=%llu <- %s (%zu bytes)", (unsigned long long)s->id,
              vmx_sub_str(sub) ? vmx_sub_str(sub) : "?", n);
    switch (sub) {
    case VMX_KNOWN_SUBOPTIONS_1:
    case VMX_UNKNOWN_SUBOPTION_RCVD_1:
    case VMX_VM_BIOS_UUID:
    case VMX_VM_LOCATION_UUID:
        return; /* noted; nothing to do */
    case VMX_DO_PROXY:
        sess_on_do_proxy(s, p, n);
        return;
    case VMX_VM_VC_UUID:
        sess_on_uuid(s, p, n);
        return;
    case VMX_VM_NAME:
        sess_on_name(s, p, n);
        return;
    case VMX_VMOTION_BEGIN:
        vmo_on_begin(s, p, n);
        return;
    case VMX_VMOTION_PEER:
        sess_ask_ident(s);
        vmo_on_peer(s, p, n);
        return;
    case VMX_VMOTION_COMPLETE:
        if (s->xpeer && s->px->vmroute)
            s->px->vmroute->complete(s->px->vmroute->arg, s, p, n);
        else
            vmo_on_complete(s, p, n);
        return;
    case VMX_VMOTION_ABORT:
        vmo_on_abort(s);
        return;
    default:
        break;
    }
    if (vmx_is_known(sub)) {
        /* A code only a proxy sends: known, so no UNKNOWN reply. */
        log_info("session=%llu %s: %s is not for a proxy to receive: "
                 "ignored",
                 (unsigned long long)s->id, s->peer_addr, vmx_sub_str(sub));
        return;
    }
    s->px->stats.unknown_suboptions++;
    log_info("session=%llu %s: unknown suboption %u: "
             "UNKNOWN-SUBOPTION-RCVD-2",
             (unsigned long long)s->id, s->peer_addr, sub);
    vmx_send(&s->tn, VMX_UNKNOWN_SUBOPTION_RCVD_2, &sub, 1);
}

/* ---- telnet callbacks -----------------------------------------------------
 */

static void
tn_data_cb(void *arg, const uint8_t *p, size_t n)
{
    struct session *s = arg;

    switch (s->state) {
    case SESS_ST_ACTIVE:
        /* Bytes held from before identification go first. */
        if (evbuffer_get_length(s->pre) == 0)
            con_vm_output(s->con, p, n);
        else if (evbuffer_add(s->pre, p, n) != 0)
            sess_oom(s, "out of memory holding the VM's bytes");
        return;
    case SESS_ST_NEGOTIATING:
    case SESS_ST_PROXY_REQ:
    case SESS_ST_PEER:
        /* Keep reading (the message that identifies the connection may
         * be behind this data) up to the hold limit (sess_may_feed). */
        if (evbuffer_add(s->pre, p, n) != 0) {
            sess_oom(s, "out of memory holding the VM's bytes");
            return;
        }
        if (!s->pre_warned &&
            evbuffer_get_length(s->pre) >= s->px->cfg.pre_ident_max) {
            s->pre_warned = true;
            log_warnx("session=%llu %s: %zu bytes before identification",
                      (unsigned long long)s->id, s->peer_addr,
                      evbuffer_get_length(s->pre));
        }
        return;
    case SESS_ST_RETIRED:
        if (s->draining && s->con) { /* a vMotion source's last output */
            con_vm_output(s->con, p, n);
            return;
        }
        break;
    case SESS_ST_CLOSING:
    case SESS_ST__COUNT:
        break;
    }
    log_warnx("console=%s %zu bytes from retired connection %s discarded",
              sess_con_id(s), n, s->peer_addr);
}

static void
tn_subneg_cb(void *arg, uint8_t opt, const uint8_t *p, size_t n)
{
    struct session *s = arg;

    if (s->state == SESS_ST_CLOSING || s->state == SESS_ST_RETIRED)
        return;
    if (opt == TN_OPT_VMWARE)
        sess_on_vmx(s, p, n);
    else
        log_debug("session=%llu SB for option %u ignored",
                  (unsigned long long)s->id, opt);
}

static void
tn_option_cb(void *arg, uint8_t opt, bool local, bool enabled)
{
    struct session *s = arg;

    if (opt == TN_OPT_VMWARE && !local && enabled)
        vmx_send(&s->tn, VMX_KNOWN_SUBOPTIONS_2, vmx_known_suboptions_2,
                 vmx_known_suboptions_2_len);
}

static void
tn_negotiation_cb(void *arg, uint8_t verb, uint8_t opt)
{
    struct session *s = arg;

    if (opt == TN_OPT_VMWARE && verb == TN_WONT &&
        s->state == SESS_ST_NEGOTIATING) {
        log_warnx("session=%llu %s: host refuses option 232 (not a VMware "
                  "host?)",
                  (unsigned long long)s->id, s->peer_addr);
        sess_close_flush(s, "no VMware telnet extension");
    }
}

static void
tn_error_cb(void *arg, enum tn_err err)
{
    struct session *s = arg;

    s->px->stats.proto_errors++;
    if ((unsigned)err < TN_ERR__COUNT)
        s->px->stats.tn_errors[err]++;
    log_warnx("console=%s %s: telnet protocol error: %s", sess_con_id(s),
              s->peer_addr, tn_err_str(err));
    if (tn_err_is_fatal(err))
        sess_close(s, "telnet protocol error");
}

static const struct tn_handlers sess_tn_handlers = {
    .output = tn_out_cb,
    .data = tn_data_cb,
    .subneg = tn_subneg_cb,
    .option = tn_option_cb,
    .negotiation = tn_negotiation_cb,
    .error = tn_error_cb,
};

/* ---- libevent callbacks ----------------------------------------------------
 */

/*
 * Reading, paced by the console.
 *
 * libevent 2.1 reads at most 4 KiB per readiness event (EVBUFFER_MAX_READ),
 * so a console streaming flat out would cost one wake-up per 4 KiB. On a
 * plain socket we read ourselves, SESS_READ_CHUNK at a time into
 * `unparsed`, up to SESS_READ_BUDGET per wake-up (then yield to the other
 * connections); TLS sessions parse what OpenSSL's bufferevent decrypted
 * (bounded by its read high watermark). Either way the codec gets at most
 * STRM_FEED_MAX bytes per call, and before each call sess_may_feed() asks
 * the console's stream (or, unidentified, the hold limit) whether more
 * may come: if not, reading stops (EV_READ off: TCP backpressure toward
 * the host), what was read stays in `unparsed` or the bufferevent, and
 * sess_resume() starts again. Order is kept: bytes held in `pre` go
 * before anything parsed later; `unparsed` before the bufferevent's input.
 * EOF is acted on only once every byte read before it was handed on.
 */

/* Does s hand its data to a console (as opposed to holding it)? */
static bool
sess_feeds_console(const struct session *s)
{
    return s->con && (s->state == SESS_ST_ACTIVE ||
                      (s->state == SESS_ST_RETIRED && s->draining));
}

static bool
sess_may_feed(struct session *s)
{
    switch (s->state) {
    case SESS_ST_ACTIVE:
        return strm_feed_ok(&s->con->out, &s->feed);
    case SESS_ST_RETIRED:
        return !sess_feeds_console(s) || strm_feed_ok(&s->con->out, &s->feed);
    case SESS_ST_NEGOTIATING:
    case SESS_ST_PROXY_REQ:
    case SESS_ST_PEER:
        /* All connections together hold at most --max-unidentified-bytes:
         * past it, one holding data waits (its handshake may go on). */
        if (evbuffer_get_length(s->pre) > 0 &&
            s->px->pre_held >= s->px->cfg.pre_total_max) {
            if (!s->pre_full) {
                s->pre_full = true;
                s->px->stats.pre_paused++;
                s->px->stats.pre_paused_total++;
                log_warnx("session=%llu %s: unidentified connections hold "
                          "%zu bytes (--max-unidentified-bytes): reading "
                          "paused until it identifies (idle timeout %.0f s)",
                          (unsigned long long)s->id, s->peer_addr,
                          s->px->pre_held, s->px->cfg.idle_timeout);
            }
            return false;
        }
        if (evbuffer_get_length(s->pre) <
            SESS_PRE_HOLD * s->px->cfg.pre_ident_max)
            return true;
        if (!s->pre_full) {
            s->pre_full = true;
            s->px->stats.pre_paused++;
            log_warnx("session=%llu %s: %zu bytes held before "
                      "identification: reading paused until it identifies "
                      "(idle timeout %.0f s)",
                      (unsigned long long)s->id, s->peer_addr,
                      evbuffer_get_length(s->pre), s->px->cfg.idle_timeout);
        }
        return false;
    case SESS_ST_CLOSING:
    case SESS_ST__COUNT:
        break;
    }
    return false;
}

/* Bytes read (or held) and not yet handed on. */
static size_t
sess_pending(const struct session *s)
{
    size_t n = evbuffer_get_length(s->unparsed) +
               evbuffer_get_length(bufferevent_get_input(s->bev));

    return n + (sess_feeds_console(s) ? evbuffer_get_length(s->pre) : 0);
}

/* One chunk of `pre` to the console. */
static void
sess_feed_pre(struct session *s)
{
    struct evbuffer_iovec v;
    size_t n;

    if (evbuffer_peek(s->pre, STRM_FEED_MAX, NULL, &v, 1) < 1)
        return;
    n = v.iov_len < STRM_FEED_MAX ? v.iov_len : STRM_FEED_MAX;
    con_vm_output(s->con, v.iov_base, n);
    evbuffer_drain(s->pre, n);
}

static void sess_end_draining(struct session *s);

/* Parse n bytes just read, STRM_FEED_MAX at a time while the console
 * takes them; the rest waits in `unparsed` (the next pass pauses). */
static void
sess_feed_read(struct session *s, const uint8_t *p, size_t n)
{
    size_t off = 0;

    while (off < n && s->state != SESS_ST_CLOSING && !tn_failed(&s->tn)) {
        size_t k = n - off < STRM_FEED_MAX ? n - off : STRM_FEED_MAX, used;

        if ((sess_feeds_console(s) && evbuffer_get_length(s->pre) > 0) ||
            !sess_may_feed(s))
            break;
        used = tn_feed(&s->tn, p + off, k);
        off += used;
        if (used < k)
            return; /* a fatal telnet error: nothing more is parsed */
    }
    if (off < n && s->state != SESS_ST_CLOSING && !tn_failed(&s->tn) &&
        evbuffer_add(s->unparsed, p + off, n - off) != 0)
        sess_oom(s, "out of memory keeping the VM's bytes");
}

static void
sess_pump(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    size_t budget = SESS_READ_BUDGET;
    bool idle = false; /* everything the host sent so far is handed on */

    while (s->state != SESS_ST_CLOSING && !tn_failed(&s->tn)) {
        struct evbuffer *src = NULL;
        struct evbuffer_iovec v;
        size_t n, used;

        if (!sess_may_feed(s)) {
            if (!s->paused) {
                s->paused = true;
                bufferevent_disable(s->bev, EV_READ);
            }
            return;
        }
        if (sess_feeds_console(s) && evbuffer_get_length(s->pre) > 0) {
            sess_feed_pre(s);
            continue;
        }
        if (evbuffer_get_length(s->unparsed) > 0)
            src = s->unparsed;
        else if (evbuffer_get_length(in) > 0)
            src = in;
        if (src == NULL) {
            int r;

            /* TLS: libevent drains OpenSSL after each read; should it
             * ever stop early, nothing decrypted is left behind. */
            if (s->tls && !s->paused && tls_move_pending(s->bev) > 0)
                continue;
            if (s->tls || s->eof) {
                idle = true;
                break;
            }
            if (budget == 0 ||
                (!s->paused && !(bufferevent_get_enabled(s->bev) & EV_READ)))
                break;
            /* evbuffer_read would read 4 KiB at a time (libevent 2.1):
             * read into the node's buffer, parse from there, and keep
             * in `unparsed` only what the console did not take yet. */
            r = read(bufferevent_getfd(s->bev), s->px->rbuf, SESS_READ_CHUNK);
            if (r == 0)
                s->eof = true;
            if (r < 0 &&
                (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                idle = true;
            if (r <= 0) /* errors are left for libevent to report */
                break;
            budget = (size_t)r >= budget ? 0 : budget - (size_t)r;
            sess_feed_read(s, s->px->rbuf, (size_t)r);
            continue;
        }
        if (evbuffer_peek(src, STRM_FEED_MAX, NULL, &v, 1) < 1)
            break;
        n = v.iov_len < STRM_FEED_MAX ? v.iov_len : STRM_FEED_MAX;
        used = tn_feed(&s->tn, v.iov_base, n);
        evbuffer_drain(src, used);
        if (used < n)
            break; /* the session never calls tn_stop: a fatal error */
    }
    if (tn_failed(&s->tn) && s->state != SESS_ST_CLOSING) {
        sess_close(s, "telnet protocol error");
        return;
    }
    if (s->state == SESS_ST_CLOSING)
        return;
    if (s->paused) {
        s->paused = false;
        bufferevent_enable(s->bev, EV_READ);
    }
    /* A retired vMotion source has handed on all it had sent. */
    if (s->draining && idle && sess_pending(s) == 0) {
        sess_end_draining(s);
        return;
    }
    /* The host closed its side: close once everything before is on. */
    if (s->eof && sess_pending(s) == 0)
        sess_close(s, s->tls && !s->tls_up
                          ? "host closed the connection during the TLS "
                            "handshake"
                          : "host closed the connection");
}

/* Feeder callback and state changes: read again (deferred: never from
 * inside another connection's callback). */
static void
sess_resume(struct session *s)
{
    if (s->state == SESS_ST_CLOSING || s->bev == NULL)
        return;
    s->pre_full = false;
    bufferevent_trigger(s->bev, EV_READ,
                        BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

static void
sess_feed_resume_cb(struct strm_feeder *f)
{
    sess_resume((struct session *)((char *)f - offsetof(struct session, feed)));
}

/* ---- the console's view of this connection (struct con_hv) ---------- */

static struct session *
sess_of_hv(const struct con_hv *h)
{
    return (struct session *)((const char *)h - offsetof(struct session, hv));
}

static void
sess_hv_send(struct con_hv *h, const uint8_t *p, size_t n)
{
    sess_send_data(sess_of_hv(h), p, n);
}

static size_t
sess_hv_queued(const struct con_hv *h)
{
    return sess_output_len(sess_of_hv(h));
}

static void
sess_hv_replaced(struct con_hv *h, const char *why)
{
    struct session *s = sess_of_hv(h);

    s->con = NULL;
    sess_close_flush(s, why);
}

/* A serial break toward the VM: telnet IAC BRK (PROTOCOL.md: what ESXi
 * makes of it is up to the host). */
static void
sess_hv_brk(struct con_hv *h)
{
    tn_send_cmd(&sess_of_hv(h)->tn, TN_BRK);
}

static const struct con_hv_ops sess_hv_ops = {
    .send = sess_hv_send,
    .queued = sess_hv_queued,
    .replaced = sess_hv_replaced,
    .brk = sess_hv_brk,
};

static void
sess_read_cb(struct bufferevent *bev, void *arg)
{
    sess_pump(arg);
}

static void
sess_write_cb(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    if (s->closing_flush && sess_output_len(s) == 0) {
        sess_close(s, "flushed");
        return;
    }
    if (s->con && s->con->owner == &s->hv)
        con_update_input_flow(s->con);
}

static void
sess_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct session *s = arg;
    char why[512];

    if (what & BEV_EVENT_CONNECTED) {
        /* telnets: the handshake is done. */
        s->tls_up = true;
        s->px->stats.hv_tls_accepted++;
        tls_describe(bev, why, sizeof(why));
        log_info("session=%llu %s: TLS established (%s)",
                 (unsigned long long)s->id, s->peer_addr, why);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        s->eof = true;
        sess_pump(s); /* hands on what came before, closes when done */
    } else if (what & BEV_EVENT_ERROR) {
        if (s->tls) {
            char msg[600];

            tls_error_str(bev, why, sizeof(why));
            if (!s->tls_up)
                s->px->stats.hv_tls_failures++;
            snprintf(msg, sizeof(msg), "%s: %s",
                     s->tls_up ? "TLS error" : "TLS handshake failed", why);
            if (!s->tls_up)
                log_warnx("session=%llu %s: %s", (unsigned long long)s->id,
                          s->peer_addr, msg);
            sess_close(s, msg);
        } else {
            int err = EVUTIL_SOCKET_ERROR();

            sess_close(s, evutil_socket_error_to_string(err));
        }
    }
}

static void
sess_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    if (s->closing_flush)
        sess_close(s, "output not drained in time");
    else if (s->draining)
        sess_close(s, "vMotion source did not close in time");
    else if (s->state == SESS_ST_NEGOTIATING || s->state == SESS_ST_PROXY_REQ)
        sess_close(s, "idle before identification");
}

/* ---- life cycle ------------------------------------------------------------
 */

static void
sess_arm_timer(struct session *s, double secs)
{
    struct timeval tv;

    tv.tv_sec = (time_t)secs;
    tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
    evtimer_add(s->timer, &tv);
}

static void
sess_tune_socket(int fd)
{
    int on = 1, idle = 60, intvl = 10, cnt = 6;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* Keeps px->pre_held, the bytes all sessions hold before identification. */
static void
sess_pre_cb(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
    struct proxy *px = arg;

    px->pre_held += info->n_added;
    px->pre_held -= info->n_deleted;
}

struct session *
sess_new(struct proxy *px, int fd, const struct sockaddr *sa)
{
    return sess_new_ex(px, fd, sa, NULL);
}

struct session *
sess_new_ex(struct proxy *px, int fd, const struct sockaddr *sa,
            struct tls_ctx *tls)
{
    struct session *s = calloc(1, sizeof(*s));
    char why[160] = "out of memory";

    if (s == NULL)
        goto fail;
    s->px = px;
    s->id = ++px->next_session_id;
    s->state = SESS_ST_NEGOTIATING;
    addr_str(sa, s->peer_addr, sizeof(s->peer_addr));
    if (px->srcs == NULL && (px->srcs = calloc(1, sizeof(*px->srcs))) != NULL &&
        smap_init(&px->srcs->m) != 0) {
        free(px->srcs);
        px->srcs = NULL;
    }
    if (!sess_src_count(s, true)) {
        unsigned quiet;

        px->stats.hv_refused_per_source++;
        if (rlim_allow(&px->src_rl, clock_now(), 10.0, &quiet))
            log_warnx("hypervisor connection from %s refused: %u connections "
                      "from it are not identified yet "
                      "(--max-unidentified-per-source; %u more refused since "
                      "the last line)",
                      s->peer_addr, px->cfg.max_unident_per_source, quiet);
        evutil_closesocket(fd);
        free(s);
        return NULL;
    }
    evutil_make_socket_nonblocking(fd);
    sess_tune_socket(fd);
    if (tls) {
        /* The handshake runs first; what the session writes meanwhile
         * (our telnet offers) waits in the output buffer. */
        s->tls = true;
        s->bev = tls_accept_bev(tls, px->base, fd, 0, why, sizeof(why));
        fd = -1; /* owned by the bufferevent, or closed */
    } else {
        s->bev = bufferevent_socket_new(px->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (s->bev == NULL)
        goto fail;
    fd = -1; /* the bufferevent owns it now */
    if ((s->pre = evbuffer_new()) != NULL)
        evbuffer_add_cb(s->pre, sess_pre_cb, px);
    s->unparsed = evbuffer_new();
    s->timer = evtimer_new(px->base, sess_timer_cb, s);
    if (s->pre == NULL || s->unparsed == NULL || s->timer == NULL)
        goto fail;
    s->feed.resume = sess_feed_resume_cb;
    s->hv.ops = &sess_hv_ops;
    snprintf(s->hv.addr, sizeof(s->hv.addr), "%s", s->peer_addr);
    s->vd.ops = &sess_vd_ops;
    snprintf(s->vd.addr, sizeof(s->vd.addr), "%s", s->peer_addr);
    if (s->tls)
        bufferevent_setwatermark(s->bev, EV_READ, 0, SESS_TLS_IN_MAX);
    tn_init(&s->tn, &px->hv_policy, &sess_tn_handlers, s);
    bufferevent_setcb(s->bev, sess_read_cb, sess_write_cb, sess_event_cb, s);
    bufferevent_setwatermark(s->bev, EV_WRITE, SESS_OUT_LOW, 0);
    bufferevent_set_max_single_write(s->bev, SESS_READ_CHUNK);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    TAILQ_INSERT_TAIL(&px->sessions, s, link);
    px->stats.hv_accepted++;
    sess_arm_timer(s, px->cfg.idle_timeout);
    log_debug("session=%llu accepted from %s%s", (unsigned long long)s->id,
              s->peer_addr, s->tls ? " (telnets, TLS handshake)" : "");
    /* Our offers (RFC 1143 requests); the host's WILL AUTH gets DONT. */
    tn_request_local(&s->tn, TN_OPT_BINARY, true);
    tn_request_remote(&s->tn, TN_OPT_BINARY, true);
    tn_request_local(&s->tn, TN_OPT_SGA, true);
    tn_request_remote(&s->tn, TN_OPT_SGA, true);
    tn_request_remote(&s->tn, TN_OPT_VMWARE, true);
    return s;
fail:
    log_warnx("cannot set up a hypervisor connection%s%s: %s",
              s ? " from " : "", s ? s->peer_addr : "", why);
    if (s) {
        sess_src_count(s, false); /* counted in above */
        if (s->bev)
            bufferevent_free(s->bev);
        if (s->pre) {
            px->pre_held -= evbuffer_get_length(s->pre);
            evbuffer_free(s->pre);
        }
        if (s->unparsed)
            evbuffer_free(s->unparsed);
        if (s->timer)
            event_free(s->timer);
        free(s);
    }
    if (fd >= 0)
        evutil_closesocket(fd);
    return NULL;
}

/* Unlink from the console and any vMotion. */
static void
sess_detach_all(struct session *s)
{
    strm_feed_cancel(&s->feed);
    if (s->draining && s->con) {
        s->draining = false;
        strm_drained(&s->con->out, &s->feed);
    }
    vmo_on_session_gone(s);
    if (s->xpeer && s->px->vmroute)
        s->px->vmroute->gone(s->px->vmroute->arg, s);
    if (s->con) {
        con_owner_gone(s->con, &s->hv);
        if (s->con->owner == NULL && s->state != SESS_ST_RETIRED) {
            s->px->stats.hv_closed++;
            con_event(s->con, "hypervisor %s disconnected", s->peer_addr);
        }
    }
}

void
sess_close(struct session *s, const char *why)
{
    struct proxy *px = s->px;

    if (s->state == SESS_ST_CLOSING)
        return;
    if (s->con)
        log_info("console=%s connection from %s closed: %s", s->con->id,
                 s->peer_addr, why);
    else
        log_info("session=%llu %s closed: %s", (unsigned long long)s->id,
                 s->peer_addr, why);
    sess_detach_all(s);
    SET_STATE(s, SESS_ST_CLOSING);
    s->con = NULL;
    if (s->bev)
        bufferevent_disable(s->bev, EV_READ | EV_WRITE);
    if (s->timer)
        evtimer_del(s->timer);
    TAILQ_REMOVE(&px->sessions, s, link);
    TAILQ_INSERT_TAIL(&px->reap_sessions, s, link);
    proxy_schedule_reap(px);
}

void
sess_close_flush(struct session *s, const char *why)
{
    if (s->state == SESS_ST_CLOSING || s->state == SESS_ST_RETIRED)
        return;
    if (sess_output_len(s) == 0) {
        sess_close(s, why);
        return;
    }
    log_debug("session=%llu retiring (%s): flushing %zu bytes",
              (unsigned long long)s->id, why, sess_output_len(s));
    sess_detach_all(s);
    SET_STATE(s, SESS_ST_RETIRED);
    s->closing_flush = true;
    bufferevent_disable(s->bev, EV_READ);
    bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
    sess_arm_timer(s, SESS_FLUSH_SECS);
}

/* The retired source is done feeding: flush our output to it, close. */
static void
sess_end_draining(struct session *s)
{
    struct console *c = s->con;

    s->draining = false;
    strm_feed_cancel(&s->feed);
    if (c)
        strm_drained(&c->out, &s->feed);
    if (c)
        vmo_on_source_drained(c, s); /* the handover may follow now */
    s->con = NULL;
    evtimer_del(s->timer);
    if (sess_output_len(s) == 0) {
        sess_close(s, "vMotion complete: source retired");
        return;
    }
    s->closing_flush = true;
    bufferevent_disable(s->bev, EV_READ);
    bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
    sess_arm_timer(s, SESS_FLUSH_SECS);
}

void
sess_retire_source(struct session *s, struct console *c)
{
    if (s->state != SESS_ST_ACTIVE || s->con != c) {
        sess_close_flush(s, "vMotion complete: source retired");
        return;
    }
    log_debug("console=%s vMotion source %s retired: its output until its "
              "FIN goes first",
              c->id, s->peer_addr);
    con_owner_gone(c, &s->hv);
    SET_STATE(s, SESS_ST_RETIRED);
    s->draining = true;
    strm_set_draining(&c->out, &s->feed);
    sess_arm_timer(s, s->px->cfg.vmotion_timeout);
    sess_resume(s);
}

void
sess_stop_draining(struct session *s)
{
    if (s->draining && s->state == SESS_ST_RETIRED) {
        log_info("console=%s vMotion source %s: no more of its output is "
                 "taken",
                 sess_con_id(s), s->peer_addr);
        sess_end_draining(s);
    }
}

struct vmo_dest *
sess_dest(struct session *s)
{
    return &s->vd;
}

void
sess_claim(struct session *s)
{
    if (s->state != SESS_ST_PEER && s->state != SESS_ST_NEGOTIATING)
        return;
    if (s->uuid[0] == '\0') {
        sess_close(s, "its console's owner is gone and it never said which "
                      "VM it carries");
        return;
    }
    sess_identify_ex(s, false);
}

void
sess_free(struct session *s)
{
    if (s->bev && s->tls)
        tls_close_notify(s->bev);
    if (s->bev)
        bufferevent_free(s->bev);
    if (s->pre) {
        s->px->pre_held -= evbuffer_get_length(s->pre);
        evbuffer_free(s->pre);
    }
    if (s->unparsed)
        evbuffer_free(s->unparsed);
    if (s->timer)
        event_free(s->timer);
    free(s);
}
