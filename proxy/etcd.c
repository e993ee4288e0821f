/*
 * etcd.c: a non-blocking client of etcd v3's JSON gateway (etcd.h).
 */
#include "vspc/compat.h"
#include "etcd.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "vspc/addr.h"
#include "vspc/log.h"

#define ETCD_POOL 4

struct etcd_conn;

struct etcd_req {
    TAILQ_ENTRY(etcd_req) q;
    struct etcd_conn *conn;
    etcd_reply_fn cb;
    void *arg;
    bool dead; /* abandoned: evhttp may still call back once */
};
TAILQ_HEAD(etcd_reqq, etcd_req);

struct etcd_conn {
    TAILQ_ENTRY(etcd_conn) grave; /* dropped, to be freed */
    struct etcd *e;
    struct evhttp_connection *evcon;
    struct etcd_reqq reqs;
    size_t n; /* live requests */
};

struct etcd {
    struct event_base *base;
    char urls[ETCD_MAX_ENDPOINTS][ETCD_URL_MAX];
    char hosts[ETCD_MAX_ENDPOINTS][ETCD_URL_MAX]; /* Host: header */
    char addr[ETCD_MAX_ENDPOINTS][ETCD_URL_MAX];
    uint16_t ports[ETCD_MAX_ENDPOINTS];
    size_t n, cur;
    double timeout;
    struct etcd_conn *pool[ETCD_POOL];
    TAILQ_HEAD(, etcd_conn) graves; /* dropped connections */
    struct event *reap_ev;          /* frees them off evhttp's stack */
    /* The watch. */
    struct etcd_conn *wconn;
    struct evbuffer *wline;
    etcd_watch_fn wfn;
    etcd_watch_end_fn wend;
    void *warg;
};

/* ---- endpoints ------------------------------------------------------------
 */

static int
etcd_split(const char *url, char *host, size_t cap, uint16_t *port)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    const char *hp;
    char *colon;
    unsigned long p;

    if (strncmp(url, "http://", 7) != 0)
        return -1;
    hp = url + 7;
    if (strlen(hp) >= cap || strchr(hp, '/') || addr_parse(hp, &ss, &sl) != 0)
        return -1;
    snprintf(host, cap, "%s", hp);
    if ((colon = strrchr(host, ':')) == NULL)
        return -1;
    *colon = '\0';
    p = strtoul(colon + 1, NULL, 10);
    if (p == 0 || p > 65535)
        return -1;
    *port = (uint16_t)p;
    if (host[0] == '[') { /* evhttp wants the bare IPv6 address */
        size_t l = strlen(host);

        if (l < 3 || host[l - 1] != ']')
            return -1;
        memmove(host, host + 1, l - 2);
        host[l - 2] = '\0';
    }
    return 0;
}

int
etcd_endpoint_check(const char *url, char *err, size_t errlen)
{
    char host[ETCD_URL_MAX];
    uint16_t port;

    if (strlen(url) >= ETCD_URL_MAX ||
        etcd_split(url, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "not http://HOST:PORT with a numeric host (%s)",
                 url);
        return -1;
    }
    return 0;
}

/* ---- connections ----------------------------------------------------------
 */

static struct etcd_conn *
etcd_conn_new(struct etcd *e, double timeout)
{
    struct etcd_conn *c = calloc(1, sizeof(*c));
    struct timeval tv;

    if (c == NULL)
        return NULL;
    c->e = e;
    TAILQ_INIT(&c->reqs);
    c->evcon = evhttp_connection_base_new(e->base, NULL, e->addr[e->cur],
                                          e->ports[e->cur]);
    if (c->evcon == NULL) {
        free(c);
        return NULL;
    }
    tv.tv_sec = (time_t)timeout;
    tv.tv_usec = (suseconds_t)((timeout - (double)tv.tv_sec) * 1e6);
    evhttp_connection_set_timeout_tv(c->evcon, &tv);
    evhttp_connection_set_retries(c->evcon, 0);
    evhttp_connection_set_max_body_size(c->evcon, ETCD_MAX_BODY);
    return c;
}

/* Dropped connections are freed off the loop's stack (evhttp may be
 * inside one of their callbacks), or by etcd_free. */
static void
etcd_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    struct etcd *e = arg;
    struct etcd_conn *c;
    struct etcd_req *r;

    while ((c = TAILQ_FIRST(&e->graves)) != NULL) {
        TAILQ_REMOVE(&e->graves, c, grave);
        evhttp_connection_free(c->evcon); /* frees its requests, no call */
        while ((r = TAILQ_FIRST(&c->reqs)) != NULL) {
            TAILQ_REMOVE(&c->reqs, r, q);
            free(r);
        }
        free(c);
    }
}

/* Abandon every request of c (callbacks told) and free c soon. */
static void
etcd_conn_drop(struct etcd_conn *c, bool tell)
{
    struct etcd_req *r;
    const struct etcd_err ab = {ETCD_E_ABANDONED, 0, "abandoned"};
    struct timeval zero = {0, 0};

    TAILQ_FOREACH (r, &c->reqs, q) {
        if (r->dead)
            continue;
        r->dead = true;
        c->n--;
        if (tell && r->cb)
            r->cb(r->arg, NULL, &ab);
    }
    TAILQ_INSERT_TAIL(&c->e->graves, c, grave);
    evtimer_add(c->e->reap_ev, &zero);
}

/* ---- calls -----------------------------------------------------------------
 */

static void
etcd_fail(struct etcd_req *r, enum etcd_err_kind kind, int code,
          const char *msg)
{
    struct etcd_err er = {kind, code, msg};

    r->cb(r->arg, NULL, &er);
}

static void
etcd_done_cb(struct evhttp_request *hr, void *arg)
{
    struct etcd_req *r = arg;
    struct etcd_conn *c = r->conn;
    struct evbuffer *in;
    json_t *body = NULL;
    json_error_t je;
    int status;
    char msg[256];

    TAILQ_REMOVE(&c->reqs, r, q);
    if (r->dead) {
        free(r);
        return;
    }
    c->n--;
    status = hr ? evhttp_request_get_response_code(hr) : 0;
    if (status == 0) {
        etcd_fail(r, ETCD_E_TRANSPORT, 0,
                  "no answer (refused, reset or "
                  "timed out)");
        goto out;
    }
    in = evhttp_request_get_input_buffer(hr);
    body = json_loadb((const char *)evbuffer_pullup(in, -1),
                      evbuffer_get_length(in), 0, &je);
    if (status == 200 && json_is_object(body)) {
        r->cb(r->arg, body, NULL);
    } else if (json_is_object(body) &&
               json_is_string(json_object_get(body, "error"))) {
        snprintf(msg, sizeof(msg), "%s",
                 json_string_value(json_object_get(body, "error")));
        etcd_fail(r, ETCD_E_SERVER,
                  (int)json_integer_value(json_object_get(body, "code")), msg);
    } else {
        snprintf(msg, sizeof(msg), "HTTP %d with %s", status,
                 body ? "an unexpected body" : "no JSON");
        etcd_fail(r, status >= 500 ? ETCD_E_TRANSPORT : ETCD_E_SERVER, 0, msg);
    }
out:
    json_decref(body);
    free(r);
}

static struct evhttp_request *
etcd_request(struct etcd *e, json_t *body,
             void (*cb)(struct evhttp_request *, void *), void *arg)
{
    struct evhttp_request *hr;
    char *text;
    char host[ETCD_URL_MAX + 8];

    if ((text = json_dumps(body, JSON_COMPACT)) == NULL)
        return NULL;
    if ((hr = evhttp_request_new(cb, arg)) == NULL) {
        free(text);
        return NULL;
    }
    snprintf(host, sizeof(host), "%s", e->hosts[e->cur]);
    evhttp_add_header(evhttp_request_get_output_headers(hr), "Host", host);
    evhttp_add_header(evhttp_request_get_output_headers(hr), "Content-Type",
                      "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(hr), text, strlen(text));
    free(text);
    return hr;
}

int
etcd_call(struct etcd *e, const char *path, json_t *body, etcd_reply_fn cb,
          void *arg)
{
    struct etcd_conn *c = NULL;
    struct etcd_req *r;
    struct evhttp_request *hr;
    size_t i;

    for (i = 0; i < ETCD_POOL; i++) {
        if (e->pool[i] == NULL &&
            (e->pool[i] = etcd_conn_new(e, e->timeout)) == NULL)
            continue;
        if (c == NULL || e->pool[i]->n < c->n)
            c = e->pool[i];
    }
    if (c == NULL || (r = calloc(1, sizeof(*r))) == NULL) {
        json_decref(body);
        return -1;
    }
    r->conn = c;
    r->cb = cb;
    r->arg = arg;
    hr = etcd_request(e, body, etcd_done_cb, r);
    json_decref(body);
    if (hr == NULL) {
        free(r);
        return -1;
    }
    TAILQ_INSERT_TAIL(&c->reqs, r, q);
    c->n++;
    if (evhttp_make_request(c->evcon, hr, EVHTTP_REQ_POST, path) != 0) {
        /* evhttp freed hr without calling back. */
        TAILQ_REMOVE(&c->reqs, r, q);
        c->n--;
        free(r);
        return -1;
    }
    return 0;
}

size_t
etcd_in_flight(const struct etcd *e)
{
    size_t n = 0;

    for (size_t i = 0; i < ETCD_POOL; i++)
        n += e->pool[i] ? e->pool[i]->n : 0;
    return n;
}

/* ---- the watch -------------------------------------------------------------
 */

static void
etcd_watch_end(struct etcd *e, const char *why)
{
    etcd_watch_end_fn end = e->wend;
    void *arg = e->warg;

    etcd_watch_stop(e);
    if (end)
        end(arg, why);
}

static void
etcd_watch_chunk_cb(struct evhttp_request *hr, void *arg)
{
    struct etcd_req *r = arg;
    struct etcd *e = r->conn->e;
    struct evbuffer *in = evhttp_request_get_input_buffer(hr);
    char *line;
    size_t n;

    if (r->dead)
        return;
    evbuffer_add_buffer(e->wline, in);
    while ((line = evbuffer_readln(e->wline, &n, EVBUFFER_EOL_LF)) != NULL) {
        json_error_t je;
        json_t *m = json_loadb(line, n, 0, &je);
        json_t *res = json_object_get(m, "result");

        free(line);
        if (!json_is_object(res)) {
            char why[200];

            snprintf(why, sizeof(why), "a watch message without a result%s%s",
                     json_is_string(json_object_get(m, "error")) ? ": " : "",
                     json_is_string(json_object_get(m, "error"))
                         ? json_string_value(json_object_get(m, "error"))
                         : "");
            json_decref(m);
            etcd_watch_end(e, why);
            return;
        }
        e->wfn(e->warg, res);
        json_decref(m);
        if (e->wconn == NULL || e->wconn != r->conn || r->dead)
            return; /* stopped from the callback */
    }
    if (evbuffer_get_length(e->wline) > ETCD_MAX_LINE)
        etcd_watch_end(e, "a watch message over the size limit");
}

static void
etcd_watch_done_cb(struct evhttp_request *hr, void *arg)
{
    struct etcd_req *r = arg;
    struct etcd_conn *c = r->conn;

    TAILQ_REMOVE(&c->reqs, r, q);
    if (r->dead) {
        free(r);
        return;
    }
    c->n--;
    r->dead = true;
    TAILQ_INSERT_TAIL(&c->reqs, r, q); /* freed with c */
    etcd_watch_end(c->e, hr && evhttp_request_get_response_code(hr) == 200
                             ? "the stream ended"
                             : "the stream failed");
}

int
etcd_watch(struct etcd *e, json_t *create_request, etcd_watch_fn fn,
           etcd_watch_end_fn end, void *arg)
{
    struct etcd_req *r;
    struct evhttp_request *hr;
    json_t *body = json_pack("{s:o}", "create_request", create_request);

    etcd_watch_stop(e);
    if (body == NULL)
        return -1;
    /* A long poll: no read timeout (the store's keepalives notice a dead
     * endpoint and switch, which ends the watch). */
    if ((e->wconn = etcd_conn_new(e, 365 * 86400.0)) == NULL ||
        (r = calloc(1, sizeof(*r))) == NULL) {
        json_decref(body);
        if (e->wconn)
            etcd_conn_drop(e->wconn, false);
        e->wconn = NULL;
        return -1;
    }
    evhttp_connection_set_max_body_size(e->wconn->evcon, EV_SIZE_MAX);
    r->conn = e->wconn;
    hr = etcd_request(e, body, etcd_watch_done_cb, r);
    json_decref(body);
    if (hr == NULL) {
        free(r);
        etcd_conn_drop(e->wconn, false);
        e->wconn = NULL;
        return -1;
    }
    evhttp_request_set_chunked_cb(hr, etcd_watch_chunk_cb);
    TAILQ_INSERT_TAIL(&e->wconn->reqs, r, q);
    e->wconn->n++;
    e->wfn = fn;
    e->wend = end;
    e->warg = arg;
    evbuffer_drain(e->wline, evbuffer_get_length(e->wline));
    if (evhttp_make_request(e->wconn->evcon, hr, EVHTTP_REQ_POST,
                            "/v3/watch") != 0) {
        TAILQ_REMOVE(&e->wconn->reqs, r, q);
        free(r);
        e->wconn->n--;
        etcd_watch_stop(e);
        return -1;
    }
    return 0;
}

void
etcd_watch_stop(struct etcd *e)
{
    if (e->wconn)
        etcd_conn_drop(e->wconn, false);
    e->wconn = NULL;
    e->wfn = NULL;
    e->wend = NULL;
    e->warg = NULL;
}

bool
etcd_watching(const struct etcd *e)
{
    return e->wconn != NULL;
}

/* ---- endpoints: switch, names -------------------------------------------- */

void
etcd_switch(struct etcd *e)
{
    struct etcd_conn *old[ETCD_POOL];

    etcd_watch_stop(e);
    memcpy(old, e->pool, sizeof(old));
    memset(e->pool, 0, sizeof(e->pool));
    e->cur = (e->cur + 1) % e->n;
    /* New calls from the callbacks below go to the new endpoint. */
    for (size_t i = 0; i < ETCD_POOL; i++)
        if (old[i])
            etcd_conn_drop(old[i], true);
}

const char *
etcd_endpoint(const struct etcd *e)
{
    return e->urls[e->cur];
}

const char *
etcd_next_endpoint(const struct etcd *e)
{
    return e->n > 1 ? e->urls[(e->cur + 1) % e->n] : "";
}

struct etcd *
etcd_new(struct event_base *base, const struct etcd_config *cfg, char *err,
         size_t errlen)
{
    struct etcd *e;

    if (cfg->n_endpoints == 0 || cfg->n_endpoints > ETCD_MAX_ENDPOINTS) {
        snprintf(err, errlen, "1 to %d etcd endpoints", ETCD_MAX_ENDPOINTS);
        return NULL;
    }
    if ((e = calloc(1, sizeof(*e))) == NULL ||
        (e->wline = evbuffer_new()) == NULL ||
        (e->reap_ev = evtimer_new(base, etcd_reap_cb, e)) == NULL) {
        if (e && e->wline)
            evbuffer_free(e->wline);
        free(e);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->base = base;
    TAILQ_INIT(&e->graves);
    e->timeout = cfg->timeout > 0 ? cfg->timeout : 2.0;
    for (size_t i = 0; i < cfg->n_endpoints; i++) {
        if (etcd_endpoint_check(cfg->endpoints[i], err, errlen) != 0) {
            evbuffer_free(e->wline);
            event_free(e->reap_ev);
            free(e);
            return NULL;
        }
        snprintf(e->urls[i], ETCD_URL_MAX, "%s", cfg->endpoints[i]);
        snprintf(e->hosts[i], ETCD_URL_MAX, "%s", cfg->endpoints[i] + 7);
        etcd_split(cfg->endpoints[i], e->addr[i], ETCD_URL_MAX, &e->ports[i]);
    }
    e->n = cfg->n_endpoints;
    return e;
}

void
etcd_free(struct etcd **ep)
{
    struct etcd *e = *ep;

    if (e == NULL)
        return;
    etcd_watch_stop(e);
    for (size_t i = 0; i < ETCD_POOL; i++)
        if (e->pool[i]) {
            etcd_conn_drop(e->pool[i], true);
            e->pool[i] = NULL;
        }
    etcd_reap_cb(-1, 0, e);
    event_free(e->reap_ev);
    evbuffer_free(e->wline);
    free(e);
    *ep = NULL;
}

/* ---- base64, numbers --------------------------------------------------- */

json_t *
etcd_b64(const void *p, size_t n)
{
    size_t cap = 4 * ((n + 2) / 3) + 1;
    char *out = malloc(cap);
    json_t *s;

    if (out == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    s = json_string(out);
    free(out);
    return s;
}

int
etcd_unb64(const json_t *v, char *out, size_t cap, size_t *n)
{
    const char *s;
    size_t l, pad = 0;
    unsigned char *tmp;
    int got;

    if (v == NULL) { /* etcd leaves an empty value out */
        if (cap == 0)
            return -1;
        out[0] = '\0';
        *n = 0;
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    s = json_string_value(v);
    l = json_string_length(v);
    if (l % 4 != 0 || l / 4 * 3 >= cap + 2)
        return -1;
    if (l >= 1 && s[l - 1] == '=')
        pad++;
    if (l >= 2 && s[l - 2] == '=')
        pad++;
    if ((tmp = malloc(l / 4 * 3 + 1)) == NULL)
        return -1;
    got = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)l);
    if (got < 0 || (size_t)got < pad || (size_t)got - pad >= cap) {
        free(tmp);
        return -1;
    }
    *n = (size_t)got - pad;
    memcpy(out, tmp, *n);
    out[*n] = '\0';
    free(tmp);
    return 0;
}

int64_t
etcd_int(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v)) {
        char *end;
        long long x;

        errno = 0;
        x = strtoll(json_string_value(v), &end, 10);
        if (errno == 0 && *end == '\0')
            return x;
    }
    return 0;
}
