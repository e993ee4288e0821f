/* auth.c: see auth.h. */
#include "vspc/compat.h"
#include "auth.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "vspc/clock.h"
#include "vspc/log.h"
#include "vspc/ratelimit.h"
#include "vspc/strmap.h"
#include "proxy.h"
#include "users.h"

#define AUTH_PW_MAX 256

enum login_st {
    L_QUEUED = 0, /* on the worker's queue or being checked */
    L_DELAY,      /* checked (or refused); answered when delay_ev fires */
};

struct auth_login {
    TAILQ_ENTRY(auth_login) link;
    struct auth *a;
    enum login_st st;
    bool cancelled; /* under a->mu while queued */
    bool have_cred; /* else the worker burns a dummy check */
    int verdict;    /* the worker's: 1 ok, 0 wrong, -1 error */
    enum auth_result result;
    struct usr_cred cred;
    char user[72];
    char host[64];
    char pw[AUTH_PW_MAX];
    size_t pwlen;
    char err[160];
    struct event *delay_ev;
    auth_done_fn done;
    void *arg;
};

TAILQ_HEAD(login_q, auth_login);

/* Failed logins of one source host: a token bucket of --login-failures
 * per minute. */
struct auth_src {
    struct smap_node node;
    double tokens;
    double last;
    char host[64];
};

struct auth {
    struct proxy *px;
    struct usr_db *users; /* NULL without --users */
    struct acl *acl;      /* NULL without --acl */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct login_q todo; /* under mu */
    struct login_q done; /* under mu */
    bool stop;           /* under mu */
    size_t queued;       /* loop thread: logins in todo or being checked */
    struct event *done_ev;
    struct smap srcs;
    struct rlim fail_rl, lock_rl;
    struct auth_stats st;
};

/* ---- the worker thread ---------------------------------------------------
 */

static void *
auth_worker(void *arg)
{
    struct auth *a = arg;

    pthread_mutex_lock(&a->mu);
    for (;;) {
        struct auth_login *l;
        bool skip;

        while (!a->stop && TAILQ_EMPTY(&a->todo))
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->stop)
            break;
        l = TAILQ_FIRST(&a->todo);
        TAILQ_REMOVE(&a->todo, l, link);
        skip = l->cancelled;
        pthread_mutex_unlock(&a->mu);
        if (skip)
            l->verdict = 0;
        else if (l->have_cred)
            l->verdict = usr_cred_verify(&l->cred, l->pw, l->pwlen, l->err,
                                         sizeof(l->err));
        else {
            usr_verify_dummy(l->pw, l->pwlen);
            l->verdict = 0;
        }
        OPENSSL_cleanse(l->pw, sizeof(l->pw));
        pthread_mutex_lock(&a->mu);
        TAILQ_INSERT_TAIL(&a->done, l, link);
        event_active(a->done_ev, EV_READ, 1);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ---- the loop side -------------------------------------------------------
 */

static void
auth_login_free(struct auth_login *l)
{
    OPENSSL_cleanse(l->pw, sizeof(l->pw));
    OPENSSL_cleanse(&l->cred, sizeof(l->cred));
    if (l->delay_ev)
        event_free(l->delay_ev);
    free(l);
}

static void
auth_src_free(struct smap_node *n, void *arg)
{
    (void)arg;
    free(n);
}

static struct auth_src *
auth_src_get(struct auth *a, const char *host, bool create)
{
    struct smap_node *n = smap_get(&a->srcs, host);
    struct auth_src *s;
    double cap = a->px->cfg.login_failures;

    if (n)
        return (struct auth_src *)n;
    if (!create)
        return NULL;
    if (smap_count(&a->srcs) >= AUTH_SOURCES_MAX) {
        /* A table full of failing sources makes room by forgetting all. */
        log_warnx("auth: %d sources with failed logins: forgetting them",
                  AUTH_SOURCES_MAX);
        smap_foreach(&a->srcs, auth_src_free, NULL);
        smap_fini(&a->srcs);
        if (smap_init(&a->srcs) != 0)
            return NULL;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return NULL;
    snprintf(s->host, sizeof(s->host), "%s", host);
    s->tokens = cap;
    s->last = clock_now();
    if (smap_put(&a->srcs, &s->node, s->host) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* Refills the bucket to now. */
static void
auth_src_refill(struct auth *a, struct auth_src *s)
{
    double now = clock_now(), cap = a->px->cfg.login_failures;

    s->tokens += (now - s->last) * cap / 60.0;
    if (s->tokens > cap)
        s->tokens = cap;
    s->last = now;
}

static void
auth_delay_cb(evutil_socket_t fd, short what, void *arg)
{
    struct auth_login *l = arg;
    auth_done_fn done = l->done;
    void *darg = l->arg;
    enum auth_result r = l->result;

    (void)fd;
    (void)what;
    auth_login_free(l);
    done(darg, r);
}

/* Answer l after ms milliseconds (0: on the next loop pass). */
static void
auth_answer_later(struct auth_login *l, enum auth_result r, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    l->st = L_DELAY;
    l->result = r;
    evtimer_add(l->delay_ev, &tv);
}

static void
auth_failed(struct auth *a, struct auth_login *l)
{
    struct auth_src *s = auth_src_get(a, l->host, true);
    unsigned quiet;

    a->st.failed++;
    if (s) {
        auth_src_refill(a, s);
        s->tokens -= 1.0;
    }
    if (rlim_allow(&a->fail_rl, clock_now(), 1.0, &quiet))
        log_warnx("operator login failed: user \"%s\" from %s (unknown user "
                  "or wrong password; %u more failures since the last line)",
                  l->user, l->host, quiet);
    auth_answer_later(l, AUTH_BAD, AUTH_FAIL_DELAY_MS);
}

void
auth_install(struct auth *a, struct usr_db *users, struct acl *acl)
{
    /* Operators hold names, never pointers into these; the worker checks
     * copies: the old ones go at once. */
    usr_db_free(&a->users);
    acl_free(&a->acl);
    a->users = users;
    a->acl = acl;
}

static void
auth_done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct auth *a = arg;
    struct login_q q = TAILQ_HEAD_INITIALIZER(q);
    struct auth_login *l;

    (void)fd;
    (void)what;
    pthread_mutex_lock(&a->mu);
    TAILQ_CONCAT(&q, &a->done, link);
    pthread_mutex_unlock(&a->mu);
    while ((l = TAILQ_FIRST(&q)) != NULL) {
        TAILQ_REMOVE(&q, l, link);
        a->queued--;
        if (l->cancelled) {
            auth_login_free(l);
        } else if (l->verdict == 1) {
            a->st.ok++;
            log_info("operator login: user \"%s\" from %s (password)", l->user,
                     l->host);
            auth_answer_later(l, AUTH_OK, 0);
        } else if (l->verdict < 0) {
            log_errorx("operator login: user \"%s\" from %s: the password "
                       "check failed: %s",
                       l->user, l->host, l->err);
            auth_answer_later(l, AUTH_ERROR, AUTH_FAIL_DELAY_MS);
        } else {
            auth_failed(a, l);
        }
    }
}

struct auth_login *
auth_login(struct auth *a, const char *src, const char *user, const char *pw,
           size_t pwlen, auth_done_fn done, void *arg)
{
    struct auth_login *l = calloc(1, sizeof(*l));
    const struct usr_user *u;
    struct auth_src *s;
    unsigned quiet;

    if (l == NULL)
        return NULL;
    if ((l->delay_ev = evtimer_new(a->px->base, auth_delay_cb, l)) == NULL) {
        free(l);
        return NULL;
    }
    l->a = a;
    l->done = done;
    l->arg = arg;
    snprintf(l->user, sizeof(l->user), "%s", user);
    auth_host_of(src, l->host, sizeof(l->host));
    if ((s = auth_src_get(a, l->host, false)) != NULL) {
        auth_src_refill(a, s);
        if (s->tokens < 1.0) {
            a->st.locked++;
            if (rlim_allow(&a->lock_rl, clock_now(), 1.0, &quiet))
                log_warnx("operator login refused: %s failed more than %u "
                          "times a minute (--login-failures; %u more "
                          "refused since the last line)",
                          l->host, a->px->cfg.login_failures, quiet);
            auth_answer_later(l, AUTH_LOCKED, AUTH_FAIL_DELAY_MS);
            return l;
        }
    }
    if (a->queued >= AUTH_QUEUE_MAX) {
        a->st.busy++;
        log_warnx("operator login: user \"%s\" from %s: %d logins are being "
                  "checked already: refused",
                  l->user, l->host, AUTH_QUEUE_MAX);
        auth_answer_later(l, AUTH_BUSY, 0);
        return l;
    }
    if (pwlen >= sizeof(l->pw))
        pwlen = sizeof(l->pw) - 1; /* the rest cannot matter: wrong */
    memcpy(l->pw, pw, pwlen);
    l->pwlen = pwlen;
    u = a->users ? usr_find(a->users, user) : NULL;
    /* Only a password user's own check; anyone else (unknown, disabled,
     * certificate only) costs the dummy one: the same time. */
    l->have_cred =
        u && usr_password_ok_kind(u) && usr_cred_get(u, &l->cred) == 0;
    l->st = L_QUEUED;
    a->queued++;
    pthread_mutex_lock(&a->mu);
    TAILQ_INSERT_TAIL(&a->todo, l, link);
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    return l;
}

void
auth_login_cancel(struct auth_login *l)
{
    struct auth *a;

    if (l == NULL)
        return;
    a = l->a;
    if (l->st == L_DELAY) {
        auth_login_free(l);
        return;
    }
    /* With the worker (or on the done queue): freed when it comes back. */
    pthread_mutex_lock(&a->mu);
    l->cancelled = true;
    pthread_mutex_unlock(&a->mu);
}

/* ---- identities and rights -----------------------------------------------
 */

void
auth_host_of(const char *addr, char *out, size_t cap)
{
    const char *end;
    size_t n;

    if (addr[0] == '[' && (end = strchr(addr, ']')) != NULL) {
        addr++;
        n = (size_t)(end - addr);
    } else if ((end = strrchr(addr, ':')) != NULL) {
        n = (size_t)(end - addr);
    } else {
        n = strlen(addr);
    }
    snprintf(out, cap, "%.*s", (int)n, addr);
}

bool
auth_anonymous_ok(const struct auth *a, const struct sockaddr *sa)
{
    switch (a->px->cfg.op_anon) {
    case PROXY_ANON_ANY:
        return true;
    case PROXY_ANON_NONE:
        return false;
    case PROXY_ANON_LOOPBACK:
        break;
    }
    return auth_is_loopback(sa);
}

bool
auth_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

        return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *s6 =
            &((const struct sockaddr_in6 *)sa)->sin6_addr;

        if (IN6_IS_ADDR_LOOPBACK(s6))
            return true;
        return IN6_IS_ADDR_V4MAPPED(s6) && s6->s6_addr[12] == 127;
    }
    return false; /* AF_UNIX and the rest: no */
}

bool
auth_has_users(const struct auth *a)
{
    return a->users != NULL && usr_db_count(a->users) > 0;
}

/* user's entry; NULL for anonymous and for a name no longer there
 * (*gone). */
static const struct usr_user *
auth_user(const struct auth *a, const char *user, bool *gone)
{
    const struct usr_user *u = NULL;

    *gone = false;
    if (user[0] == '\0')
        return NULL;
    if (a->users)
        u = usr_find(a->users, user);
    *gone = u == NULL;
    return u;
}

enum acl_right
auth_right(const struct auth *a, const char *user, const char *console_id,
           const char *vm_name)
{
    bool gone;
    const struct usr_user *u = auth_user(a, user, &gone);

    if (gone)
        return ACL_NONE;
    if (a->acl == NULL)
        return ACL_RW;
    return acl_check(a->acl, u, console_id, vm_name ? vm_name : "");
}

bool
auth_admin(const struct auth *a, const char *user)
{
    bool gone;
    const struct usr_user *u = auth_user(a, user, &gone);

    if (gone)
        return false;
    return a->acl == NULL || acl_is_admin(a->acl, u);
}

int
auth_cert_login(struct auth *a, const char *cn, const char *src, char *why,
                size_t whycap)
{
    const struct usr_user *u = a->users ? usr_find(a->users, cn) : NULL;

    if (u && usr_cert_ok(u)) {
        a->st.cert_ok++;
        log_info("operator login: user \"%s\" from %s (client certificate)", cn,
                 src);
        return 0;
    }
    snprintf(why, whycap,
             u ? "user \"%s\" may not log in"
               : "the certificate's CN \"%s\" is not a user",
             cn);
    auth_cert_refused(a, src, why);
    return -1;
}

void
auth_cert_refused(struct auth *a, const char *src, const char *why)
{
    a->st.cert_bad++;
    log_warnx("operator %s: client certificate refused: %s", src, why);
}

const struct auth_stats *
auth_stats(const struct auth *a)
{
    return &a->st;
}

void
auth_count_denied(struct auth *a)
{
    a->st.denied++;
}

/* ---- life ------------------------------------------------------------------
 */

struct auth *
auth_new(struct proxy *px, char *err, size_t errcap)
{
    struct auth *a = calloc(1, sizeof(*a));
    sigset_t all, old;
    int rc;

    if (a == NULL) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    a->px = px;
    TAILQ_INIT(&a->todo);
    TAILQ_INIT(&a->done);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (smap_init(&a->srcs) != 0 ||
        (a->done_ev = event_new(px->base, -1, 0, auth_done_cb, a)) == NULL) {
        snprintf(err, errcap, "out of memory");
        goto fail;
    }
    if (px->cfg.users_file &&
        (a->users = usr_db_load(px->cfg.users_file, err, errcap)) == NULL)
        goto fail;
    if (px->cfg.acl_file &&
        (a->acl = acl_load(px->cfg.acl_file, err, errcap)) == NULL)
        goto fail;
    /* Signals are the loop's (evsignal): the worker blocks them all. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&a->thread, NULL, auth_worker, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errcap, "cannot start the login thread: %s",
                 strerror(rc));
        goto fail;
    }
    a->thread_started = true;
    return a;
fail:
    auth_free(&a);
    return NULL;
}

void
auth_free(struct auth **ap)
{
    struct auth *a = *ap;
    struct auth_login *l;

    if (a == NULL)
        return;
    if (a->thread_started) {
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
    }
    /* Logins nobody cancelled: their owners are gone (exit). */
    TAILQ_CONCAT(&a->todo, &a->done, link);
    while ((l = TAILQ_FIRST(&a->todo)) != NULL) {
        TAILQ_REMOVE(&a->todo, l, link);
        auth_login_free(l);
    }
    if (a->done_ev)
        event_free(a->done_ev);
    smap_foreach(&a->srcs, auth_src_free, NULL);
    smap_fini(&a->srcs);
    usr_db_free(&a->users);
    acl_free(&a->acl);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
    *ap = NULL;
}
