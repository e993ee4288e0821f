/*
 * http.c: see http.h.
 *
 * Everything here runs on the loop thread and never blocks: the listener
 * address is numeric (no resolver call, not even getaddrinfo on a
 * literal), /metrics and /api/v1 are built from memory, and log files are
 * read by the vmlog writer thread.
 *
 * A log download is a small state machine (struct http_log) between three
 * parties that each may go first:
 *   - the vmlog writer: every vmlog_read() that returned 0 calls back
 *     exactly once (read_pending), even after the client or this module
 *     is gone, so the state outlives both until that call;
 *   - the client: when its connection dies (hang-up, write error or
 *     timeout), libevent calls our closecb and req becomes NULL;
 *   - http_free: closes every connection (the closecbs run) and leaves
 *     the states whose read is still pending orphaned (http NULL).
 * A state is freed by whoever finds it with neither a request nor a
 * pending read.
 */
#include "vspc/compat.h"
#include "http.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>

#include "vspc/log.h"
#include "audit.h"
#include "console.h"
#include "operator.h"
#include "session.h"
#include "cluster.h"
#include "node.h"
#include "vmlog.h"
#include "vmotion.h"

#define HTTP_LOG_CHUNK (64 * 1024)     /* bytes per vmlog_read */
#define HTTP_LOG_OUT_HIGH (256 * 1024) /* unsent bytes: pause reading */
#define HTTP_LOGS_MAX 256              /* concurrent log requests */
#define HTTP_FOLLOW_MAX 64             /* of which ?follow=1 */
#define HTTP_FOLLOW_POLL_MS 200        /* follow: look for new bytes */
#define HTTP_BACKOFF_MS 50             /* client behind, or queue full */
#define HTTP_RETRIES_MAX 100           /* vmlog_read refused in a row */
#define HTTP_TIMEOUT_S 30              /* request read, reply write */
#define HTTP_HEADERS_MAX (8 * 1024)
#define HTTP_BODY_MAX 1024
#define HTTP_API_PREFIX "/api/v1/consoles"
#define HTTP_VMOTIONS "/api/v1/vmotions"
#define HTTP_VMOTIONS_MAX (1024 * 1024) /* ?limit= clamp */

struct http_log;

struct http {
    struct proxy *px;
    struct evhttp *evh;
    TAILQ_HEAD(, http_log) logs; /* every log request not orphaned */
    unsigned n_logs;
    unsigned n_follow;
    uint64_t requests; /* served, any path */
};

struct http_log {
    struct http *http;          /* NULL once http_free orphaned it */
    struct evhttp_request *req; /* NULL once the client is gone */
    struct event *timer;        /* next read; armed only when idle */
    char con_id[VMX_CONSOLE_ID_MAX + 1];
    uint64_t offset; /* next byte of the file to send */
    uint64_t end;    /* without follow: stop here (size at first read) */
    unsigned retries;
    bool follow;
    bool started;      /* 200 and headers sent: chunks from now on */
    bool read_pending; /* a vmlog_read callback is still to come */
    TAILQ_ENTRY(http_log) link;
};

/* ---- small replies ------------------------------------------------------ */

static void
http_reply(struct evhttp_request *req, int code, const char *ctype,
           const char *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      ctype);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control",
                      "no-store");
    if (b)
        evbuffer_add(b, body, len);
    evhttp_send_reply(req, code, NULL, b);
    if (b)
        evbuffer_free(b);
}

static void
http_reply_text(struct evhttp_request *req, int code, const char *text)
{
    http_reply(req, code, "text/plain; charset=utf-8", text, strlen(text));
}

static void
http_reply_json(struct evhttp_request *req, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

    if (text == NULL) {
        http_reply_text(req, 500, "out of memory\n");
    } else {
        http_reply(req, 200, "application/json", text, strlen(text));
        free(text);
    }
    json_decref(j);
}

/* ---- /metrics ------------------------------------------------------------ */

enum m_kind { M_COUNTER, M_GAUGE };

/* One plain counter or gauge read from a struct at an offset. */
struct m_row {
    const char *name;
    enum m_kind kind;
    size_t off;
    const char *help;
};

#define PXS(field) offsetof(struct proxy_stats, field)
static const struct m_row m_proxy_rows[] = {
    {"vspc_hypervisor_connections_accepted_total", M_COUNTER, PXS(hv_accepted),
     "Hypervisor connections accepted."},
    {"vspc_hypervisor_connections_closed_total", M_COUNTER, PXS(hv_closed),
     "Hypervisor connections closed."},
    {"vspc_hypervisor_connections_identified_total", M_COUNTER,
     PXS(hv_identified), "Hypervisor connections that named their VM."},
    {"vspc_hypervisor_connections_refused_total", M_COUNTER, PXS(hv_refused),
     "Hypervisor connections refused (WONT-PROXY, bad UUID)."},
    {"vspc_hypervisor_connections_denied_total", M_COUNTER, PXS(hv_denied),
     "Hypervisor connections refused by the --allow list."},
    {"vspc_proxy_protocol_errors_total", M_COUNTER, PXS(hv_pp_errors),
     "Connections closed for a missing or bad PROXY protocol header."},
    {"vspc_tls_handshakes_total", M_COUNTER, PXS(hv_tls_accepted),
     "telnets:// TLS handshakes completed."},
    {"vspc_tls_handshake_failures_total", M_COUNTER, PXS(hv_tls_failures),
     "telnets:// TLS handshakes that failed."},
    {"vspc_protocol_errors_total", M_COUNTER, PXS(proto_errors),
     "Hypervisor protocol errors."},
    {"vspc_unknown_suboptions_total", M_COUNTER, PXS(unknown_suboptions),
     "Option-232 subnegotiations of an unknown kind."},
    {"vspc_vm_bytes_received_total", M_COUNTER, PXS(bytes_from_vms),
     "Console bytes received from VMs."},
    {"vspc_vm_bytes_sent_total", M_COUNTER, PXS(bytes_to_vms),
     "Operator bytes sent to VMs."},
    {"vspc_vmotion_begins_total", M_COUNTER, PXS(vmotion_begin),
     "vMotion BEGINs answered with GOAHEAD."},
    {"vspc_vmotion_peers_rejected_total", M_COUNTER, PXS(peer_rejected),
     "vMotion PEERs rejected (wrong secret or sequence)."},
    {"vspc_operators_accepted_total", M_COUNTER, PXS(ops_accepted),
     "Operator connections accepted."},
    {"vspc_operators_dropped_slow_total", M_COUNTER, PXS(ops_dropped_slow),
     "Slow operators disconnected."},
    {"vspc_operator_gaps_total", M_COUNTER, PXS(ops_gaps),
     "Slow operators caught up from the scrollback with a gap."},
    {"vspc_operator_gap_bytes_total", M_COUNTER, PXS(ops_gap_bytes),
     "Console bytes those slow operators missed."},
    {"vspc_operator_input_refused_bytes_total", M_COUNTER,
     PXS(ops_input_refused), "Input bytes refused from read-only operators."},
    {"vspc_readers_stalled_total", M_COUNTER, PXS(strm.readers_stalled),
     "Readers (operators, console logs) cut loose after the stall timeout."},
    {"vspc_readers_rejoined_total", M_COUNTER, PXS(strm.readers_rejoined),
     "Readers cut loose that caught up and pace the VM again."},
    {"vspc_console_paced_total", M_COUNTER, PXS(strm.paced),
     "Times a console stopped reading its hypervisor for a full reader."},
    {"vspc_log_reader_gaps_total", M_COUNTER, PXS(log_gaps),
     "Console log readers caught up after a stall, missing bytes."},
    {"vspc_log_reader_gap_bytes_total", M_COUNTER, PXS(log_gap_bytes),
     "Console bytes those log readers missed (marked in the log)."},
    {"vspc_hypervisor_pre_ident_paused_total", M_COUNTER, PXS(pre_paused),
     "Unidentified connections paused for holding too much data."},
};
#undef PXS

#define VLS(field) offsetof(struct vmlog_stats, field)
static const struct m_row m_vmlog_rows[] = {
    {"vspc_console_log_bytes_queued_total", M_COUNTER, VLS(bytes_queued),
     "Console log bytes queued toward the writer thread."},
    {"vspc_console_log_bytes_written_total", M_COUNTER, VLS(bytes_written),
     "Console log bytes written to files."},
    {"vspc_console_log_bytes_dropped_total", M_COUNTER, VLS(bytes_dropped),
     "Console log bytes dropped (queue full or write error)."},
    {"vspc_console_log_write_errors_total", M_COUNTER, VLS(write_errors),
     "Failed console log open, write or rename calls."},
    {"vspc_console_log_rotations_total", M_COUNTER, VLS(rotations),
     "Console log files rotated."},
    {"vspc_console_log_reopens_total", M_COUNTER, VLS(reopens),
     "Console log reopens (SIGHUP)."},
    {"vspc_console_log_queue_bytes", M_GAUGE, VLS(queue_bytes),
     "Console log bytes waiting for the writer thread."},
};
#undef VLS

static void
m_family(struct evbuffer *b, const char *name, enum m_kind kind,
         const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                        kind == M_COUNTER ? "counter" : "gauge");
}

static void
m_rows(struct evbuffer *b, const struct m_row *rows, size_t n, const void *s)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v;

        memcpy(&v, (const char *)s + rows[i].off, sizeof(v));
        m_family(b, rows[i].name, rows[i].kind, rows[i].help);
        evbuffer_add_printf(b, "%s %llu\n", rows[i].name,
                            (unsigned long long)v);
    }
}

/* A label value made of [a-z0-9_] from a human string ("IAC SE outside a
 * subnegotiation" -> "iac_se_outside_a_subnegotiation"). */
static void
m_slug(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    bool sep = false;

    for (; *s && o + 1 < cap; s++) {
        char ch = *s;

        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            if (sep && o > 0 && o + 2 < cap)
                out[o++] = '_';
            out[o++] = ch;
            sep = false;
        } else {
            sep = true;
        }
    }
    out[o] = '\0';
}

/* Microseconds as exact decimal seconds: 500 -> "0.0005", 1000000 -> "1". */
static void
m_seconds(char *out, size_t cap, uint64_t us)
{
    size_t n;

    snprintf(out, cap, "%llu.%06llu", (unsigned long long)(us / 1000000),
             (unsigned long long)(us % 1000000));
    n = strlen(out);
    while (n > 0 && out[n - 1] == '0')
        out[--n] = '\0';
    if (n > 0 && out[n - 1] == '.')
        out[--n] = '\0';
}

static void
m_goahead_histogram(struct http *h, struct evbuffer *b)
{
    const struct vmo_latency *l = &h->px->goahead;
    const char *name = "vspc_vmotion_goahead_seconds";
    uint64_t cum = 0;
    char le[32];

    evbuffer_add_printf(b,
                        "# HELP %s Time from vMotion BEGIN to our GOAHEAD "
                        "(ESXi gives up at 5 s).\n# TYPE %s histogram\n",
                        name, name);
    for (size_t i = 0; i < VMO_LAT_BUCKETS; i++) {
        cum += l->buckets[i];
        m_seconds(le, sizeof(le), vmo_latency_bounds_us[i]);
        evbuffer_add_printf(b, "%s_bucket{le=\"%s\"} %llu\n", name, le,
                            (unsigned long long)cum);
    }
    evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
                        (unsigned long long)l->count);
    m_seconds(le, sizeof(le), l->sum_us);
    evbuffer_add_printf(b, "%s_sum %s\n%s_count %llu\n", name, le[0] ? le : "0",
                        name, (unsigned long long)l->count);
    m_seconds(le, sizeof(le), l->max_us);
    m_family(b, "vspc_vmotion_goahead_max_seconds", M_GAUGE,
             "Longest BEGIN to GOAHEAD time since start.");
    evbuffer_add_printf(b, "vspc_vmotion_goahead_max_seconds %s\n",
                        le[0] ? le : "0");
}

static void
http_metrics(struct http *h, struct evbuffer *b)
{
    struct proxy *px = h->px;
    const struct proxy_stats *st = &px->stats;
    uint64_t by_state[CON_ST__COUNT] = {0};
    uint64_t n_ops = 0, n_sess = 0;
    struct console *c;
    struct session *s;
    struct oper *op;
    char kind[64];

    for (c = con_first(px->consoles); c; c = con_next(c))
        by_state[con_state(c)]++;
    TAILQ_FOREACH (op, &px->operators, link)
        n_ops++;
    TAILQ_FOREACH (s, &px->sessions, link)
        n_sess++;

    m_family(b, "vspc_build_info", M_GAUGE, "Version and node of this proxy.");
    evbuffer_add_printf(b, "vspc_build_info{version=\"%s\",node=\"",
                        VSPC_VERSION);
    for (const char *p = px->cfg.node_id; *p; p++) {
        if (*p == '\\' || *p == '"')
            evbuffer_add_printf(b, "\\%c", *p);
        else if (*p == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, p, 1);
    }
    evbuffer_add_printf(b, "\"} 1\n");

    m_family(b, "vspc_consoles", M_GAUGE, "Consoles known, by state.");
    for (int i = 0; i < CON_ST__COUNT; i++)
        evbuffer_add_printf(b, "vspc_consoles{state=\"%s\"} %llu\n",
                            con_state_str((enum con_state)i),
                            (unsigned long long)by_state[i]);
    m_family(b, "vspc_operators", M_GAUGE,
             "Operator connections open (command mode or attached).");
    evbuffer_add_printf(b, "vspc_operators %llu\n", (unsigned long long)n_ops);
    m_family(b, "vspc_hypervisor_connections", M_GAUGE,
             "Hypervisor connections open.");
    evbuffer_add_printf(b, "vspc_hypervisor_connections %llu\n",
                        (unsigned long long)n_sess);
    {
        uint64_t paced_now = 0;
        char secs[32];

        for (c = con_first(px->consoles); c; c = con_next(c))
            paced_now += strm_paced(&c->out) ? 1 : 0;
        m_family(b, "vspc_consoles_paced", M_GAUGE,
                 "Consoles not reading their hypervisor now: a live reader "
                 "is full.");
        evbuffer_add_printf(b, "vspc_consoles_paced %llu\n",
                            (unsigned long long)paced_now);
        m_seconds(secs, sizeof(secs), st->strm.paced_us);
        m_family(b, "vspc_console_paced_seconds_total", M_COUNTER,
                 "Time consoles spent paced (finished pauses).");
        evbuffer_add_printf(b, "vspc_console_paced_seconds_total %s\n",
                            secs[0] ? secs : "0");
    }
    if (px->clu) {
        struct clu_stats cs;

        clu_stats(px->clu, &cs);
        m_family(b, "vspc_cluster_state", M_GAUGE,
                 "This node's membership: 1 for its state (coordcli.h).");
        evbuffer_add_printf(b, "vspc_cluster_state{state=\"%s\"} 1\n",
                            clu_state_str(cs.state));
        const struct {
            const char *name, *help;
            enum m_kind type;
            unsigned long long v;
        } rows[] = {
            {"vspc_coordinator_away",
             "1 while the coordinator does not answer (the replica serves).",
             M_GAUGE, cs.away ? 1 : 0},
            {"vspc_cluster_consoles",
             "Consoles in this node's replica of the directory.", M_GAUGE,
             cs.consoles},
            {"vspc_cluster_nodes", "Nodes in this node's replica.", M_GAUGE,
             cs.nodes},
            {"vspc_cluster_fenced_total",
             "Consoles this node let go: a newer owner elsewhere.", M_COUNTER,
             cs.fenced},
            {"vspc_peer_links_up", "Peer links to other nodes that are up.",
             M_GAUGE, cs.links_up},
            {"vspc_peer_protocol_errors_total",
             "Peer connections closed for a bad frame or a rule broken.",
             M_COUNTER, cs.peer_errors},
            {"vspc_peer_remote_readers",
             "Other nodes' readers of this node's consoles (operators, logs).",
             M_GAUGE, cs.remote_readers},
            {"vspc_peer_remote_attachments",
             "This node's operators attached to other nodes' consoles.",
             M_GAUGE, cs.remote_attachments},
        };

        for (size_t i = 0; i < VSPC_ARRAY_LEN(rows); i++) {
            m_family(b, rows[i].name, rows[i].type, rows[i].help);
            evbuffer_add_printf(b, "%s %llu\n", rows[i].name, rows[i].v);
        }
    }
    m_family(b, "vspc_draining", M_GAUGE,
             "1 while the node is drained (operator port `drain`).");
    evbuffer_add_printf(b, "vspc_draining %d\n", px->draining ? 1 : 0);

    m_rows(b, m_proxy_rows, VSPC_ARRAY_LEN(m_proxy_rows), st);

    m_family(b, "vspc_vmotions_total", M_COUNTER, "vMotions by outcome.");
    evbuffer_add_printf(b,
                        "vspc_vmotions_total{outcome=\"complete\"} %llu\n"
                        "vspc_vmotions_total{outcome=\"abort\"} %llu\n"
                        "vspc_vmotions_total{outcome=\"expired\"} %llu\n"
                        "vspc_vmotions_total{outcome=\"notnow\"} %llu\n",
                        (unsigned long long)st->vmotion_complete,
                        (unsigned long long)st->vmotion_abort,
                        (unsigned long long)st->vmotion_expired,
                        (unsigned long long)st->vmotion_notnow);
    m_goahead_histogram(h, b);
    m_family(b, "vspc_vmotion_audit_records", M_GAUGE,
             "vMotion audit records kept in memory (/api/v1/vmotions).");
    evbuffer_add_printf(b, "vspc_vmotion_audit_records %zu\n",
                        aud_count(px->audit));

    m_family(b, "vspc_telnet_errors_total", M_COUNTER,
             "Telnet parse errors on hypervisor connections, by kind.");
    for (int i = TN_ERR_NONE + 1; i < TN_ERR__COUNT; i++) {
        m_slug(kind, sizeof(kind), tn_err_str((enum tn_err)i));
        evbuffer_add_printf(b, "vspc_telnet_errors_total{kind=\"%s\"} %llu\n",
                            kind, (unsigned long long)st->tn_errors[i]);
    }

    if (px->vmlog) {
        struct vmlog_stats ls;

        vmlog_get_stats(px->vmlog, &ls);
        m_rows(b, m_vmlog_rows, VSPC_ARRAY_LEN(m_vmlog_rows), &ls);
    }

    m_family(b, "vspc_http_requests_total", M_COUNTER,
             "HTTP requests received.");
    evbuffer_add_printf(b, "vspc_http_requests_total %llu\n",
                        (unsigned long long)h->requests);
    m_family(b, "vspc_http_log_streams", M_GAUGE,
             "Console log downloads in progress (follow or not).");
    evbuffer_add_printf(b, "vspc_http_log_streams %u\n", h->n_logs);
}

static void
http_get_metrics(struct http *h, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();

    if (b == NULL) {
        http_reply_text(req, 500, "out of memory\n");
        return;
    }
    http_metrics(h, b);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control",
                      "no-store");
    evhttp_send_reply(req, 200, NULL, b);
    evbuffer_free(b);
}

/* ---- /api/v1/consoles ---------------------------------------------------- */

static void
http_get_consoles(struct http *h, struct evhttp_request *req)
{
    json_t *arr = json_array();
    struct console *c;

    for (c = con_first(h->px->consoles); c && arr; c = con_next(c)) {
        json_t *o;

        if (clu_shadowed(h->px->clu, c))
            continue; /* listed as the newer owner's */
        o = con_to_json(c);
        clu_json_local(h->px->clu, o, c);
        if (json_array_append_new(arr, o) == -1) {
            json_decref(arr);
            arr = NULL;
        }
    }
    clu_json_remotes(h->px->clu, arr);
    http_reply_json(req, arr);
}

/* ---- /readyz, /api/v1/vmotions ------------------------------------------ */

/* Ready for new work: the hypervisor port listens and no drain. A load
 * balancer takes a 503 node out of rotation. */
static void
http_get_readyz(struct http *h, struct evhttp_request *req)
{
    const char *why = node_not_ready(h->px);
    char text[64];

    if (why == NULL) {
        http_reply_text(req, 200, "ready\n");
        return;
    }
    snprintf(text, sizeof(text), "%s\n", why);
    http_reply_text(req, 503, text);
}

/* ?console=<id> (exact console id) and ?limit=N (1..). 400 on a bad
 * query. */
static void
http_get_vmotions(struct http *h, struct evhttp_request *req, const char *query)
{
    struct evkeyvalq params;
    const char *con = NULL, *lim;
    unsigned long long limit = 0;
    bool bad = false;

    TAILQ_INIT(&params);
    if (query && evhttp_parse_query_str(query, &params) != 0) {
        evhttp_clear_headers(&params);
        http_reply_text(req, 400, "bad query\n");
        return;
    }
    con = evhttp_find_header(&params, "console");
    if ((lim = evhttp_find_header(&params, "limit")) != NULL) {
        char *end = NULL;

        if (lim[0] >= '0' && lim[0] <= '9')
            limit = strtoull(lim, &end, 10);
        bad = limit == 0 || end == NULL || *end != '\0';
    }
    if (limit > HTTP_VMOTIONS_MAX) /* more than any ring holds */
        limit = HTTP_VMOTIONS_MAX;
    if (bad || (con && con[0] == '\0'))
        http_reply_text(req, 400,
                        "bad query (console=<id>, limit=<1 or more>)\n");
    else
        http_reply_json(req, aud_to_json(h->px->audit, con, (size_t)limit));
    evhttp_clear_headers(&params);
}

/* ---- /api/v1/consoles/<id>/log --------------------------------------------
 */

static void hl_timer_cb(evutil_socket_t fd, short what, void *arg);

static void
hl_free(struct http_log *st)
{
    if (st->http) {
        TAILQ_REMOVE(&st->http->logs, st, link);
        st->http->n_logs--;
        if (st->follow)
            st->http->n_follow--;
    }
    if (st->timer)
        event_free(st->timer);
    free(st);
}

/* The client side is gone (req already NULL): free unless a read is still
 * to call back (then the callback frees). */
static void
hl_release(struct http_log *st)
{
    if (!st->read_pending)
        hl_free(st);
}

/* libevent is closing the connection (client gone, write error or
 * timeout, or evhttp_free). */
static void
hl_close_cb(struct evhttp_connection *evcon, void *arg)
{
    struct http_log *st = arg;

    if (st->req == NULL)
        return;
    /* After an I/O error libevent detaches an unfinished request from its
     * connection and leaves it to us; otherwise it frees it itself right
     * after this callback. */
    if (evhttp_request_get_connection(st->req) == NULL)
        evhttp_request_free(st->req);
    st->req = NULL;
    if (st->timer)
        evtimer_del(st->timer);
    hl_release(st);
}

/*
 * libevent reads a connection while it writes a reply, to notice a close,
 * with the server's timeout: an idle follow stream (a quiet console) would
 * be cut after HTTP_TIMEOUT_S. Off while following (the write timeout
 * still bounds a client that stops reading), back on when the reply ends
 * and the connection may carry another request.
 */
static void
hl_set_read_timeout(struct http_log *st, bool on)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(st->req);
    struct bufferevent *bev;
    struct timeval tv = {.tv_sec = HTTP_TIMEOUT_S};

    if (evcon == NULL ||
        (bev = evhttp_connection_get_bufferevent(evcon)) == NULL)
        return;
    bufferevent_set_timeouts(bev, on ? &tv : NULL, &tv);
}

/* Our side is done: end the reply (or send code if nothing was sent yet). */
static void
hl_finish(struct http_log *st, int code, const char *text)
{
    struct evhttp_request *req = st->req;

    if (req) {
        if (st->follow && st->started)
            hl_set_read_timeout(st, true);
        st->req = NULL;
        evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL,
                                      NULL);
        if (st->started)
            evhttp_send_reply_end(req);
        else
            http_reply_text(req, code ? code : 500,
                            text ? text : "console log unavailable\n");
    }
    if (st->timer)
        evtimer_del(st->timer);
    hl_release(st);
}

static void
hl_arm(struct http_log *st, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000,
                         .tv_usec = (suseconds_t)(ms % 1000) * 1000};

    evtimer_add(st->timer, &tv);
}

static size_t
hl_unsent(struct http_log *st)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(st->req);
    struct bufferevent *bev;

    if (evcon == NULL ||
        (bev = evhttp_connection_get_bufferevent(evcon)) == NULL)
        return 0;
    return evbuffer_get_length(bufferevent_get_output(bev));
}

/*
 * While a reply is being written libevent keeps reading the connection
 * only to notice a close, into a buffer without a limit: a follow client
 * that keeps sending would grow it for as long as the stream lasts.
 */
static bool
hl_client_floods(struct http_log *st)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(st->req);
    struct bufferevent *bev;

    if (evcon == NULL ||
        (bev = evhttp_connection_get_bufferevent(evcon)) == NULL)
        return false;
    return evbuffer_get_length(bufferevent_get_input(bev)) > HTTP_HEADERS_MAX;
}

static void
hl_drop(struct http_log *st)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(st->req);

    st->req = NULL;
    if (evcon) {
        evhttp_connection_set_closecb(evcon, NULL, NULL);
        evhttp_connection_free(evcon); /* frees the request too */
    }
    log_debug("console=%s http log client sends while following: dropped",
              st->con_id);
    hl_release(st);
}

static void
hl_read_cb(void *arg, const uint8_t *p, size_t n, uint64_t file_size, int err)
{
    struct http_log *st = arg;
    struct evbuffer *b;

    st->read_pending = false;
    if (st->req == NULL) {
        hl_free(st);
        return;
    }
    if (err) {
        if (!st->started)
            hl_finish(st, err == ENOENT ? 404 : 503,
                      err == ENOENT ? "no log for this console\n"
                                    : "console log unavailable\n");
        else if (st->follow && err == ENOENT) /* mid-rotation */
            hl_arm(st, HTTP_FOLLOW_POLL_MS);
        else
            hl_finish(st, 0, NULL);
        return;
    }
    st->retries = 0;
    if (file_size < st->offset) {
        /* Rotated or truncated: follow goes on with the new file. */
        if (!st->follow) {
            hl_finish(st, 0, NULL);
            return;
        }
        st->offset = 0;
        hl_arm(st, 0);
        return;
    }
    if (!st->started) {
        struct evkeyvalq *hd = evhttp_request_get_output_headers(st->req);

        evhttp_add_header(hd, "Content-Type", "text/plain");
        evhttp_add_header(hd, "X-Content-Type-Options", "nosniff");
        evhttp_add_header(hd, "Cache-Control", "no-store");
        evhttp_send_reply_start(st->req, 200, "OK");
        st->started = true;
        st->end = file_size;
        if (st->follow)
            hl_set_read_timeout(st, false);
    }
    if (n > 0 && (b = evbuffer_new()) != NULL) {
        evbuffer_add(b, p, n);
        evhttp_send_reply_chunk(st->req, b);
        evbuffer_free(b);
    }
    st->offset += n;
    if (!st->follow && (n == 0 || st->offset >= st->end)) {
        hl_finish(st, 0, NULL);
        return;
    }
    if (n == HTTP_LOG_CHUNK || st->offset < file_size)
        hl_arm(st, hl_unsent(st) > HTTP_LOG_OUT_HIGH ? HTTP_BACKOFF_MS : 0);
    else
        hl_arm(st, HTTP_FOLLOW_POLL_MS);
}

static void
hl_read(struct http_log *st)
{
    struct proxy *px = st->http ? st->http->px : NULL;

    if (px == NULL || px->vmlog == NULL) {
        hl_finish(st, 404, "console logs are off\n");
        return;
    }
    if (vmlog_read(px->vmlog, st->con_id, st->offset, HTTP_LOG_CHUNK,
                   hl_read_cb, st) == 0) {
        st->read_pending = true;
        return;
    }
    if (++st->retries > HTTP_RETRIES_MAX) {
        hl_finish(st, 503, "console log busy\n");
        return;
    }
    hl_arm(st, HTTP_BACKOFF_MS);
}

static void
hl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_log *st = arg;

    if (st->req == NULL) { /* not reached: the timer stops with req */
        hl_release(st);
        return;
    }
    if (st->started && hl_client_floods(st)) {
        hl_drop(st);
        return;
    }
    if (hl_unsent(st) > HTTP_LOG_OUT_HIGH) {
        hl_arm(st, HTTP_BACKOFF_MS); /* the write timeout bounds this */
        return;
    }
    hl_read(st);
}

static bool
http_query_flag(const char *query, const char *key)
{
    struct evkeyvalq params;
    const char *v;
    bool on = false;

    if (query == NULL)
        return false;
    TAILQ_INIT(&params);
    if (evhttp_parse_query_str(query, &params) == 0 &&
        (v = evhttp_find_header(&params, key)) != NULL)
        on = strcmp(v, "1") == 0 || strcmp(v, "true") == 0 ||
             strcmp(v, "yes") == 0;
    evhttp_clear_headers(&params);
    return on;
}

static void
http_get_log(struct http *h, struct evhttp_request *req, const char *id,
             const char *query)
{
    struct http_log *st;
    struct evhttp_connection *evcon;
    bool follow = http_query_flag(query, "follow");

    if (h->px->vmlog == NULL) {
        http_reply_text(req, 404, "console logs are off\n");
        return;
    }
    if (con_find(h->px->consoles, id) == NULL) {
        http_reply_text(req, 404, "no such console\n");
        return;
    }
    if (h->n_logs >= HTTP_LOGS_MAX ||
        (follow && h->n_follow >= HTTP_FOLLOW_MAX)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
                          "5");
        http_reply_text(req, 503, "too many log streams\n");
        return;
    }
    if ((st = calloc(1, sizeof(*st))) == NULL ||
        (st->timer = evtimer_new(h->px->base, hl_timer_cb, st)) == NULL) {
        free(st);
        http_reply_text(req, 500, "out of memory\n");
        return;
    }
    snprintf(st->con_id, sizeof(st->con_id), "%s", id);
    st->http = h;
    st->req = req;
    st->follow = follow;
    TAILQ_INSERT_TAIL(&h->logs, st, link);
    h->n_logs++;
    if (follow)
        h->n_follow++;
    evcon = evhttp_request_get_connection(req);
    evhttp_connection_set_closecb(evcon, hl_close_cb, st);
    /* Until the reply starts, the connection's read callback is still
     * libevent's request parser, which aborts the process ("illegal
     * connection state") if bytes arrive now: read nothing until then
     * (libevent 2.1; evhttp_send_reply_start turns reading back on). */
    bufferevent_disable(evhttp_connection_get_bufferevent(evcon), EV_READ);
    hl_read(st);
}

/* ---- dispatch ------------------------------------------------------------ */

static void
http_api(struct http *h, struct evhttp_request *req, const char *rest,
         const char *query)
{
    char id[VMX_CONSOLE_ID_MAX + 1];
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    struct console *c;

    if (len == 0 || len >= sizeof(id)) {
        http_reply_text(req, 404, "no such console\n");
        return;
    }
    memcpy(id, rest, len);
    id[len] = '\0';
    if (slash) {
        if (strcmp(slash, "/log") == 0)
            http_get_log(h, req, id, query);
        else
            http_reply_text(req, 404, "not found\n");
        return;
    }
    if ((c = con_find(h->px->consoles, id)) == NULL) {
        http_reply_text(req, 404, "no such console\n");
        return;
    }
    http_reply_json(req, con_to_json(c));
}

static void
http_gen_cb(struct evhttp_request *req, void *arg)
{
    struct http *h = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    size_t plen = strlen(HTTP_API_PREFIX);

    h->requests++;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          "GET");
        http_reply_text(req, 405, "method not allowed\n");
        return;
    }
    if (path == NULL || path[0] == '\0') {
        http_reply_text(req, 404, "not found\n");
        return;
    }
    if (strcmp(path, "/metrics") == 0)
        http_get_metrics(h, req);
    else if (strcmp(path, "/healthz") == 0)
        http_reply_text(req, 200, "ok\n");
    else if (strcmp(path, "/readyz") == 0)
        http_get_readyz(h, req);
    else if (strcmp(path, HTTP_VMOTIONS) == 0)
        http_get_vmotions(h, req, query);
    else if (strcmp(path, HTTP_API_PREFIX) == 0)
        http_get_consoles(h, req);
    else if (strncmp(path, HTTP_API_PREFIX "/", plen + 1) == 0)
        http_api(h, req, path + plen + 1, query);
    else
        http_reply_text(req, 404, "not found\n");
}

/* ---- life ---------------------------------------------------------------- */

struct http *
http_new(struct proxy *px, const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct evconnlistener *lev;
    struct http *h;

    /* Numeric only (addr_parse): evhttp_bind_socket() would run
     * getaddrinfo, and this daemon resolves nothing. */
    if (addr_parse(addr, &ss, &sslen) == -1) {
        log_errorx("http: bad listen address \"%s\" (numeric ADDR:PORT)", addr);
        return NULL;
    }
    if ((h = calloc(1, sizeof(*h))) == NULL)
        return NULL;
    h->px = px;
    TAILQ_INIT(&h->logs);
    if ((h->evh = evhttp_new(px->base)) == NULL)
        goto fail;
    evhttp_set_gencb(h->evh, http_gen_cb, h);
    /* Every method reaches http_gen_cb, which answers 405 for all but GET
     * (libevent would answer 501 for some). */
    evhttp_set_allowed_methods(
        h->evh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                    EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_timeout(h->evh, HTTP_TIMEOUT_S);
    evhttp_set_max_headers_size(h->evh, HTTP_HEADERS_MAX);
    evhttp_set_max_body_size(h->evh, HTTP_BODY_MAX);
    lev = evconnlistener_new_bind(px->base, NULL, NULL,
                                  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                      LEV_OPT_CLOSE_ON_EXEC,
                                  64, (struct sockaddr *)&ss, (int)sslen);
    if (lev == NULL) {
        log_warn("http: cannot listen on %s", addr);
        goto fail;
    }
    if (evhttp_bind_listener(h->evh, lev) == NULL) {
        evconnlistener_free(lev);
        log_errorx("http: cannot listen on %s", addr);
        goto fail;
    }
    log_info("http: listening on %s", addr);
    return h;
fail:
    if (h->evh)
        evhttp_free(h->evh);
    free(h);
    return NULL;
}

void
http_free(struct http **httpp)
{
    struct http *h = httpp ? *httpp : NULL;
    struct http_log *st;

    if (h == NULL)
        return;
    *httpp = NULL;
    /* Closes every connection: each log request's closecb runs and frees
     * its state unless a read is pending. */
    evhttp_free(h->evh);
    while ((st = TAILQ_FIRST(&h->logs)) != NULL) {
        TAILQ_REMOVE(&h->logs, st, link);
        st->http = NULL; /* orphaned: the pending read callback frees it */
        st->req = NULL;
        if (st->timer) /* the base may be gone before that callback */
            event_free(st->timer);
        st->timer = NULL;
        hl_release(st);
    }
    free(h);
}
