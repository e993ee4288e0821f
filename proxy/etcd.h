/*
 * etcd.h: etcd_, a small non-blocking client of etcd v3's JSON gateway
 * (POST /v3/kv/range, /v3/kv/txn, /v3/lease/grant, /v3/lease/keepalive,
 * /v3/watch) over libevent's HTTP client, for the etcd ownership store
 * (own_etcd.c). Bodies are jansson values; keys and values travel base64
 * (etcd_b64, etcd_unb64).
 *
 * Endpoints: a list of http://HOST:PORT (numeric: no DNS on the loop);
 * calls go to the current one over a few pooled connections (HTTP/1.1
 * has one request in flight per connection); etcd_switch moves to the
 * next and abandons everything in flight there. Every call's callback
 * runs exactly once: with the reply, with an error, or (switch, free)
 * abandoned. One watch at a time, on a connection of its own: its
 * stream is split on newlines, each message handed over as it arrives.
 *
 * Bounds: a reply body is at most ETCD_MAX_BODY, a watch message at most
 * ETCD_MAX_LINE; beyond either the call fails / the watch ends.
 *
 * Ownership: the caller owns the client (etcd_free, not from one of its
 * callbacks). Bodies given to etcd_call are stolen; replies and watch
 * messages are valid during the callback only.
 */
#ifndef VSPC_ETCD_H
#define VSPC_ETCD_H

#include "vspc/compat.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

#define ETCD_MAX_ENDPOINTS 5
#define ETCD_URL_MAX 128
#define ETCD_MAX_BODY (64u << 20)
#define ETCD_MAX_LINE (16u << 20)

enum etcd_err_kind {
    ETCD_E_TRANSPORT, /* no answer: refused, reset, timeout, bad reply */
    ETCD_E_SERVER,    /* etcd answered an error (code: gRPC's) */
    ETCD_E_ABANDONED, /* etcd_switch or etcd_free: nothing to do */
};

struct etcd_err {
    enum etcd_err_kind kind;
    int code; /* gRPC status code of a server error, else 0 */
    const char *msg;
};

/* gRPC codes the store acts on. */
#define ETCD_GRPC_NOT_FOUND 5
#define ETCD_GRPC_UNAVAILABLE 14

/* err NULL: reply is the JSON body. */
typedef void (*etcd_reply_fn)(void *arg, json_t *reply,
                              const struct etcd_err *err);
/* One watch message (the "result" object). */
typedef void (*etcd_watch_fn)(void *arg, json_t *result);
/* The watch ended (stream closed, error, too long a message). */
typedef void (*etcd_watch_end_fn)(void *arg, const char *why);

struct etcd_config {
    const char *const *endpoints;
    size_t n_endpoints;
    double timeout; /* seconds, per call */
};

/* Endpoint syntax: http://NUMERIC-HOST:PORT. 0, or -1 with err. */
int etcd_endpoint_check(const char *url, char *err, size_t errlen);

struct etcd;
struct etcd *etcd_new(struct event_base *base, const struct etcd_config *cfg,
                      char *err, size_t errlen);
void etcd_free(struct etcd **ep);

/* POST body (stolen) to path. 0, or -1 (out of memory: cb not called). */
int etcd_call(struct etcd *e, const char *path, json_t *body, etcd_reply_fn cb,
              void *arg);
/* Move to the next endpoint: calls in flight are abandoned, the watch is
 * stopped (its end callback not called). */
void etcd_switch(struct etcd *e);
const char *etcd_endpoint(const struct etcd *e);
const char *etcd_next_endpoint(const struct etcd *e); /* "" if one only */
size_t etcd_in_flight(const struct etcd *e);

/* Start the watch (create_request, stolen); a running one is stopped. */
int etcd_watch(struct etcd *e, json_t *create_request, etcd_watch_fn fn,
               etcd_watch_end_fn end, void *arg);
void etcd_watch_stop(struct etcd *e);
bool etcd_watching(const struct etcd *e);

/* base64 of n bytes as a JSON string (NULL: out of memory). */
json_t *etcd_b64(const void *p, size_t n);
/* A JSON base64 string's bytes into out (NUL-terminated; *n without it);
 * -1 if v is no such string or it does not fit. */
int etcd_unb64(const json_t *v, char *out, size_t cap, size_t *n);
/* A JSON int64 (etcd sends them as strings) or 0. */
int64_t etcd_int(const json_t *v);

#endif /* VSPC_ETCD_H */
