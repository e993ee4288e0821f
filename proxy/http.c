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
#include <openssl/crypto.h>

#include "vspc/clock.h"
#include "vspc/log.h"
#include "audit.h"
#include "console.h"
#include "operator.h"
#include "session.h"
#include "cluster.h"
#include "node.h"
#include "vmlog.h"
#include "metrics.h"
#include "auth.h"
#include "httpauth.h"
#include "tls.h"
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
    uint64_t requests;   /* served, any path */
    struct hta *hta;     /* who a request is (httpauth.h) */
    struct tls_ctx *tls; /* HTTPS (--http-cert), else NULL */
};

#define HTTP_TOKEN_MIN 16

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

static void
http_get_metrics(struct http *h, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();

    if (b == NULL) {
        http_reply_text(req, 500, "out of memory\n");
        return;
    }
    met_render(h->px, h->requests, h->n_logs, b);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control",
                      "no-store");
    evhttp_send_reply(req, 200, NULL, b);
    evbuffer_free(b);
}

/* ---- /api/v1/consoles ---------------------------------------------------- */

static void
http_get_consoles(struct http *h, struct evhttp_request *req,
                  const struct hta_who *who)
{
    json_t *arr = json_array();
    struct console *c;

    for (c = con_first(h->px->consoles); c && arr; c = con_next(c)) {
        json_t *o;

        if (clu_shadowed(h->px->clu, c) ||
            hta_right(h->hta, who, c->id, c->name) == ACL_NONE)
            continue; /* listed as the newer owner's, or not its */
        o = con_to_json(c);
        clu_json_local(h->px->clu, o, c);
        if (json_array_append_new(arr, o) == -1) {
            json_decref(arr);
            arr = NULL;
        }
    }
    clu_json_remotes(h->px->clu, arr);
    for (size_t i = arr ? json_array_size(arr) : 0; i-- > 0;) {
        json_t *o = json_array_get(arr, i);
        const char *id = json_string_value(json_object_get(o, "id"));
        const char *name = json_string_value(json_object_get(o, "name"));

        if (hta_right(h->hta, who, id ? id : "", name ? name : "") == ACL_NONE)
            json_array_remove(arr, i);
    }
    http_reply_json(req, arr);
}

/* ---- /api/v1/cluster ---------------------------------------------------- */

/* This node (id, index, ready or why not, draining, consoles it holds)
 * and, in a cluster, the ownership store, the nodes and the consoles
 * without a live owner (clu_json_cluster). */
static void
http_get_cluster(struct http *h, struct evhttp_request *req)
{
    const char *why = node_not_ready(h->px);
    size_t held = 0;
    struct console *c;
    json_t *o;

    for (c = con_first(h->px->consoles); c; c = con_next(c))
        if (c->epoch != 0 && c->moved_node[0] == '\0' &&
            !clu_shadowed(h->px->clu, c))
            held++; /* this node's copy is the console's newest */
    o = json_pack("{s:{s:s, s:i, s:b, s:s?, s:b, s:I}}", "node", "id",
                  h->px->cfg.node_id, "index", (int)h->px->cfg.node_index,
                  "ready", why == NULL, "not_ready", why, "draining",
                  h->px->draining, "consoles", (json_int_t)held);
    if (o && h->px->clu)
        clu_json_cluster(h->px->clu, o);
    else if (o)
        json_object_set_new(o, "store", json_null());
    http_reply_json(req, o);
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

/*
 * /api/v1/consoles/<key>[/log|/operators]: key (percent-decoded) is found
 * as the operator port's attach finds it (ocm_resolve: id, VM name,
 * unique id prefix; another node's console by id or VM name). Unknown or
 * not the caller's: 404; ambiguous: 409.
 */
static void
http_api(struct http *h, struct evhttp_request *req, const char *rest,
         const char *query, const struct hta_who *who)
{
    char seg[3 * (VMX_NAME_MAX + 1)], key[VMX_NAME_MAX + 1], *dec;
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest), dlen = 0;
    struct console *c;
    const char *cid, *name, *err = "no such console";
    int rc;

    if (len == 0 || len >= sizeof(seg)) {
        http_reply_text(req, 404, "no such console\n");
        return;
    }
    memcpy(seg, rest, len);
    seg[len] = '\0';
    dec = evhttp_uridecode(seg, 0, &dlen);
    if (dec == NULL || dlen == 0 || dlen >= sizeof(key) ||
        strlen(dec) != dlen) {
        free(dec);
        http_reply_text(req, 404, "no such console\n");
        return;
    }
    memcpy(key, dec, dlen + 1);
    free(dec);
    rc = ocm_resolve(h->px, key, &c, &cid, &name, &err);
    if (hta_right(h->hta, who, cid, name) == ACL_NONE) {
        /* Said like an unknown console: no hint that it exists. */
        if (h->px->auth && rc == 0)
            auth_count_denied(h->px->auth);
        http_reply_text(req, 404, "no such console\n");
        return;
    }
    if (rc != 0) {
        char text[128];

        snprintf(text, sizeof(text), "%s\n", err);
        http_reply_text(req, strncmp(err, "ambiguous", 9) == 0 ? 409 : 404,
                        text);
        return;
    }
    if (slash && strcmp(slash, "/operators") == 0) {
        http_reply_json(req, ocm_who_json(h->px, cid, name, c));
    } else if (slash && strcmp(slash, "/log") == 0) {
        http_get_log(h, req, cid, query);
    } else if (slash) {
        http_reply_text(req, 404, "not found\n");
    } else if (c == NULL) { /* another node's: ask that node */
        http_reply_text(req, 404, "no such console\n");
    } else {
        http_reply_json(req, con_to_json(c));
    }
}

static void
http_forbidden(struct evhttp_request *req)
{
    http_reply_text(req, 403, "forbidden: this needs the admin role (--acl)\n");
}

/* The request, once we know who sent it (httpauth.h). */
static void
http_route(void *arg, struct evhttp_request *req, const struct hta_who *who)
{
    struct http *h = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    size_t plen = strlen(HTTP_API_PREFIX);

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
    if (strcmp(path, "/metrics") == 0 || strcmp(path, HTTP_VMOTIONS) == 0 ||
        strcmp(path, "/api/v1/cluster") == 0) {
        if (!hta_admin(h->hta, who))
            http_forbidden(req);
        else if (strcmp(path, "/metrics") == 0)
            http_get_metrics(h, req);
        else if (strcmp(path, HTTP_VMOTIONS) == 0)
            http_get_vmotions(h, req, query);
        else
            http_get_cluster(h, req);
    } else if (strcmp(path, HTTP_API_PREFIX) == 0) {
        http_get_consoles(h, req, who);
    } else if (strncmp(path, HTTP_API_PREFIX "/", plen + 1) == 0) {
        http_api(h, req, path + plen + 1, query, who);
    } else {
        http_reply_text(req, 404, "not found\n");
    }
}

static void
http_gen_cb(struct evhttp_request *req, void *arg)
{
    struct http *h = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

    h->requests++;
    /* The probes are open: load balancers carry no credentials. */
    if (path && evhttp_request_get_command(req) == EVHTTP_REQ_GET &&
        strcmp(path, "/healthz") == 0)
        http_reply_text(req, 200, "ok\n");
    else if (path && evhttp_request_get_command(req) == EVHTTP_REQ_GET &&
             strcmp(path, "/readyz") == 0)
        http_get_readyz(h, req);
    else
        hta_identify(h->hta, req, http_route, h);
}

/* ---- life ---------------------------------------------------------------- */

/* The token: the file's first line, printable, no spaces. At start, and
 * on the reload thread. */
int
http_read_token(const char *file, char *out, size_t cap)
{
    FILE *f = fopen(file, "r");
    size_t n;

    if (f == NULL) {
        log_errorx("http: --http-token-file %s: %s", file, strerror(errno));
        return -1;
    }
    if (fgets(out, (int)cap, f) == NULL)
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    n = strlen(out);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] <= ' ' || (unsigned char)out[i] >= 0x7f)
            n = 0;
    if (n < HTTP_TOKEN_MIN || n >= cap - 1) {
        log_errorx("http: --http-token-file %s: its first line must be %d to "
                   "%zu printable characters without spaces",
                   file, HTTP_TOKEN_MIN, cap - 2);
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* evhttp's bufferevent for a new HTTPS connection (its fd set later). */
static struct bufferevent *
http_tls_bev(struct event_base *base, void *arg)
{
    struct http *h = arg;
    char why[256];
    struct bufferevent *bev =
        tls_accept_bev(h->tls, base, -1, 0, why, sizeof(why));

    if (bev == NULL)
        log_warnx("http: %s", why);
    return bev;
}

struct http *
http_new(struct proxy *px, const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct evconnlistener *lev;
    struct http *h;
    char token[256] = "";

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
    if (px->cfg.http_token_file &&
        http_read_token(px->cfg.http_token_file, token, sizeof(token)) != 0)
        goto fail;
    if (px->cfg.http_cert) {
        char err[1024];

        h->tls =
            tls_server_new_named(px->cfg.http_cert, px->cfg.http_key,
                                 "--http-cert", "--http-key", err, sizeof(err));
        if (h->tls == NULL) {
            log_errorx("http: %s", err);
            goto fail;
        }
    }
    h->hta = hta_new(px, token, h->tls != NULL);
    OPENSSL_cleanse(token, sizeof(token));
    if (h->hta == NULL)
        goto fail;
    if ((h->evh = evhttp_new(px->base)) == NULL)
        goto fail;
    evhttp_set_gencb(h->evh, http_gen_cb, h);
    if (h->tls)
        evhttp_set_bevcb(h->evh, http_tls_bev, h);
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
    log_info("http: listening on %s%s", addr, h->tls ? " (HTTPS)" : "");
    return h;
fail:
    if (h->evh)
        evhttp_free(h->evh);
    hta_free(&h->hta);
    tls_ctx_free(&h->tls);
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
    hta_free(&h->hta);
    tls_ctx_free(&h->tls);
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

void
http_set_token(struct http *h, const char *token)
{
    hta_set_token(h->hta, token);
}
