/*
 * httpauth.h: hta_*, who an HTTP request is (http.c) and what it may see.
 *
 * In the order tried:
 *   Authorization: Bearer <token>   the --http-token-file token: every
 *                                   right (Prometheus, automation); a
 *                                   wrong one is a 401
 *   Authorization: Basic <b64>      a user of --users with its password,
 *                                   checked on auth.c's worker (the
 *                                   request waits); only over HTTPS
 *                                   (--http-cert) or from loopback, so a
 *                                   password never crosses a network in
 *                                   clear
 *   nothing                         anonymous, where --operator-anonymous
 *                                   allows the client and no token is
 *                                   configured (a token makes the API
 *                                   require credentials)
 * Anything else: 401 with WWW-Authenticate (Basic and Bearer), counted,
 * one log line at most every 10 s.
 *
 * Rights (auth.h): /metrics, /api/v1/vmotions and /api/v1/cluster need
 * the admin role; /api/v1/consoles lists only consoles the identity may
 * read; a console and its log need ro or rw (else 404, like an unknown
 * console). /healthz and /readyz are open (load balancers).
 *
 * Ownership: struct hta belongs to struct http (hta_new/hta_free). A
 * request being checked is the module's until cont is called; hta_free
 * drops those still waiting (their clients get no reply: shutdown).
 */
#ifndef VSPC_HTTPAUTH_H
#define VSPC_HTTPAUTH_H

#include "vspc/compat.h"

#include <event2/http.h>

#include "acl.h"

struct proxy;
struct hta;

struct hta_who {
    char user[72]; /* "" anonymous (or the token) */
    bool full;     /* the bearer token: every right */
};

typedef void (*hta_cont_fn)(void *arg, struct evhttp_request *req,
                            const struct hta_who *who);

/* token: "" for none (--http-token-file's contents otherwise); tls: the
 * listener is HTTPS. NULL if out of memory. */
struct hta *hta_new(struct proxy *px, const char *token, bool tls);
void hta_free(struct hta **h);
/* The bearer token from now on ("": none). */
void hta_set_token(struct hta *h, const char *token);
/* 401s answered so far. */
uint64_t hta_unauthorized(const struct hta *h);

/* Works out who req is: cont(arg, req, who) now or later on the loop, or
 * a 401 reply (cont never called). */
void hta_identify(struct hta *h, struct evhttp_request *req, hta_cont_fn cont,
                  void *arg);

/* who's rights on a console; does who hold the admin role? */
enum acl_right hta_right(const struct hta *h, const struct hta_who *who,
                         const char *console_id, const char *vm_name);
bool hta_admin(const struct hta *h, const struct hta_who *who);

#endif /* VSPC_HTTPAUTH_H */
