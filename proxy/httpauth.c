/* httpauth.c: see httpauth.h. */
#include "vspc/compat.h"
#include "httpauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "vspc/clock.h"
#include "vspc/log.h"
#include "vspc/ratelimit.h"
#include "auth.h"
#include "proxy.h"

#define HTA_CRED_MAX 1100 /* user:password, decoded */

struct hta_req;

struct hta {
    struct proxy *px;
    char token[256];
    bool tls;
    uint64_t unauthorized;
    struct rlim unauth_rl;
    TAILQ_HEAD(, hta_req) pending;
};

/* A request whose password is being checked. */
struct hta_req {
    struct hta *h;
    struct evhttp_request *req;
    struct auth_login *login;
    hta_cont_fn cont;
    void *arg;
    struct hta_who who;
    TAILQ_ENTRY(hta_req) link;
};

struct hta *
hta_new(struct proxy *px, const char *token, bool tls)
{
    struct hta *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return NULL;
    h->px = px;
    h->tls = tls;
    snprintf(h->token, sizeof(h->token), "%s", token);
    TAILQ_INIT(&h->pending);
    return h;
}

void
hta_free(struct hta **hp)
{
    struct hta *h = *hp;
    struct hta_req *r;

    if (h == NULL)
        return;
    while ((r = TAILQ_FIRST(&h->pending)) != NULL) {
        TAILQ_REMOVE(&h->pending, r, link);
        auth_login_cancel(r->login);
        free(r);
    }
    OPENSSL_cleanse(h->token, sizeof(h->token));
    free(h);
    *hp = NULL;
}

void
hta_set_token(struct hta *h, const char *token)
{
    OPENSSL_cleanse(h->token, sizeof(h->token));
    snprintf(h->token, sizeof(h->token), "%s", token);
}

uint64_t
hta_unauthorized(const struct hta *h)
{
    return h->unauthorized;
}

/* The client's address: "host:port" (for logs and the login limit). */
static void
hta_peer(struct evhttp_request *req, char *out, size_t cap)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    const char *host = NULL;
    uint16_t port = 0;

    if (evcon)
        evhttp_connection_get_peer(evcon, (char **)&host, &port);
    snprintf(out, cap, strchr(host ? host : "", ':') ? "[%s]:%u" : "%s:%u",
             host ? host : "?", port);
}

static bool
hta_anonymous_ok(const struct hta *h, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    const struct sockaddr *sa =
        evcon ? evhttp_connection_get_addr(evcon) : NULL;

    if (h->px->auth == NULL)
        return true;
    return sa && auth_anonymous_ok(h->px->auth, sa);
}

static void
hta_401(struct hta *h, struct evhttp_request *req, const char *why)
{
    struct evbuffer *b = evbuffer_new();
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    char peer[80], text[160];
    unsigned quiet;

    h->unauthorized++;
    if (rlim_allow(&h->unauth_rl, clock_now(), 10.0, &quiet)) {
        hta_peer(req, peer, sizeof(peer));
        log_warnx("http: %s from %s: %s: 401 (%llu so far)",
                  evhttp_request_get_uri(req), peer, why,
                  (unsigned long long)h->unauthorized);
    }
    evhttp_add_header(out, "WWW-Authenticate", "Basic realm=\"vspc\"");
    evhttp_add_header(out, "WWW-Authenticate", "Bearer realm=\"vspc\"");
    evhttp_add_header(out, "Content-Type", "text/plain; charset=utf-8");
    evhttp_add_header(out, "Cache-Control", "no-store");
    snprintf(text, sizeof(text), "%s\n", why);
    if (b)
        evbuffer_add(b, text, strlen(text));
    evhttp_send_reply(req, 401, NULL, b);
    if (b)
        evbuffer_free(b);
}

/* The request may read again (its connection was paused while the
 * password was checked: libevent's parser must not see bytes now). */
static void
hta_resume(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);

    if (evcon)
        bufferevent_enable(evhttp_connection_get_bufferevent(evcon), EV_READ);
}

static void
hta_login_done(void *arg, enum auth_result res)
{
    struct hta_req *r = arg;
    struct hta *h = r->h;

    TAILQ_REMOVE(&h->pending, r, link);
    hta_resume(r->req);
    if (res == AUTH_OK)
        r->cont(r->arg, r->req, &r->who);
    else
        hta_401(h, r->req,
                res == AUTH_LOCKED ? "too many failed logins: try later"
                : res == AUTH_BUSY ? "too many logins at once: try again"
                                   : "wrong user or password");
    free(r);
}

/* "Basic <b64 of user:password>": start the check. */
static void
hta_basic(struct hta *h, struct evhttp_request *req, const char *b64,
          hta_cont_fn cont, void *arg)
{
    unsigned char cred[HTA_CRED_MAX + 4];
    size_t n = strlen(b64), len;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    const struct sockaddr *sa =
        evcon ? evhttp_connection_get_addr(evcon) : NULL;
    struct hta_req *r;
    char peer[80], *colon;
    int dn;

    if (h->px->auth == NULL || !auth_has_users(h->px->auth)) {
        hta_401(h, req, "no users are configured (--users)");
        return;
    }
    if (!h->tls && !(sa && auth_is_loopback(sa))) {
        /* Only loopback sees a password in clear. */
        hta_401(h, req, "Basic authentication needs HTTPS (--http-cert)");
        return;
    }
    if (n == 0 || n % 4 != 0 || n / 4 * 3 > HTA_CRED_MAX ||
        (dn = EVP_DecodeBlock(cred, (const unsigned char *)b64, (int)n)) < 0) {
        hta_401(h, req, "malformed Basic credentials");
        return;
    }
    len = (size_t)dn - (b64[n - 1] == '=') - (b64[n - 2] == '=');
    cred[len] = '\0';
    if ((colon = memchr(cred, ':', len)) == NULL ||
        memchr(cred, '\0', len) != NULL ||
        (size_t)((unsigned char *)colon - cred) >= sizeof(r->who.user)) {
        OPENSSL_cleanse(cred, sizeof(cred));
        hta_401(h, req, "malformed Basic credentials");
        return;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        OPENSSL_cleanse(cred, sizeof(cred));
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    *colon = '\0';
    memcpy(r->who.user, cred, (size_t)(colon - (char *)cred) + 1);
    r->h = h;
    r->req = req;
    r->cont = cont;
    r->arg = arg;
    hta_peer(req, peer, sizeof(peer));
    r->login =
        auth_login(h->px->auth, peer, r->who.user, colon + 1,
                   len - (size_t)(colon + 1 - (char *)cred), hta_login_done, r);
    OPENSSL_cleanse(cred, sizeof(cred));
    if (r->login == NULL) {
        free(r);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    TAILQ_INSERT_TAIL(&h->pending, r, link);
    /* Until the reply, libevent's request parser must read nothing (it
     * aborts on bytes in this state; http.c's log stream does the same). */
    if (evcon)
        bufferevent_disable(evhttp_connection_get_bufferevent(evcon), EV_READ);
}

void
hta_identify(struct hta *h, struct evhttp_request *req, hta_cont_fn cont,
             void *arg)
{
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(req),
                                       "Authorization");
    struct hta_who who = {.full = false};
    size_t tl = strlen(h->token);

    if (a && strncmp(a, "Bearer ", 7) == 0) {
        if (tl && strlen(a + 7) == tl &&
            CRYPTO_memcmp(a + 7, h->token, tl) == 0) {
            who.full = true;
            cont(arg, req, &who);
        } else {
            hta_401(h, req, "wrong bearer token (--http-token-file)");
        }
        return;
    }
    if (a && strncmp(a, "Basic ", 6) == 0) {
        hta_basic(h, req, a + 6, cont, arg);
        return;
    }
    if (a) {
        hta_401(h, req, "unknown Authorization scheme (Basic or Bearer)");
        return;
    }
    if (tl == 0 && hta_anonymous_ok(h, req)) {
        cont(arg, req, &who);
        return;
    }
    hta_401(h, req,
            tl ? "a bearer token (--http-token-file) or a user is required"
               : "a user is required (--operator-anonymous)");
}

enum acl_right
hta_right(const struct hta *h, const struct hta_who *who,
          const char *console_id, const char *vm_name)
{
    if (who->full || h->px->auth == NULL)
        return ACL_RW;
    return auth_right(h->px->auth, who->user, console_id, vm_name);
}

bool
hta_admin(const struct hta *h, const struct hta_who *who)
{
    if (who->full || h->px->auth == NULL)
        return true;
    if (auth_admin(h->px->auth, who->user))
        return true;
    auth_count_denied(h->px->auth);
    return false;
}
