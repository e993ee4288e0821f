/* reload.c: see reload.h. */
#include "vspc/compat.h"
#include "reload.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "vspc/log.h"
#include "acl.h"
#include "auth.h"
#include "config.h"
#include "http.h"
#include "proxy.h"
#include "tls.h"
#include "users.h"
#include "vmlog.h"

/* What the thread read: all of it valid, or errors. */
struct rld_result {
    struct proxy_cfg *cfg; /* owns its strings */
    char *errors;          /* NULL: valid; else one error per line */
    struct tls_ctx *tls;   /* telnets://, if configured */
    struct usr_db *users;
    struct acl *acl;
    char token[256];
};

struct rld {
    struct proxy *px;
    pthread_t thread;
    bool running; /* a thread is out (joined in rld_done_cb) */
    bool again;   /* SIGHUP while running */
    struct event *done_ev;
    struct rld_result res; /* the thread's, until done_ev */
    uint64_t ok, failed;
};

/* ---- the thread ------------------------------------------------------------
 */

static void
rld_error(struct rld_result *r, const char *msg)
{
    size_t have = r->errors ? strlen(r->errors) : 0, add = strlen(msg) + 2;
    char *e = realloc(r->errors, have + add);

    if (e == NULL)
        return;
    snprintf(e + have, add, "%s\n", msg);
    r->errors = e;
}

static void *
rld_main(void *arg)
{
    struct rld *rl = arg;
    struct rld_result *r = &rl->res;
    struct opt_loader ld;
    char err[1024];

    memset(r, 0, sizeof(*r));
    if ((r->cfg = calloc(1, sizeof(*r->cfg))) == NULL) {
        rld_error(r, "out of memory");
        goto out;
    }
    cfg_loader_init(&ld, r->cfg);
    if (opt_reload(&ld, &opt_started) != 0)
        rld_error(r, opt_errors(&ld));
    cfg_loader_fini(&ld);
    if (r->errors)
        goto out;
    if (r->cfg->tls_cert &&
        (r->tls = tls_server_new(r->cfg->tls_cert, r->cfg->tls_key, err,
                                 sizeof(err))) == NULL)
        rld_error(r, err);
    if (r->cfg->users_file &&
        (r->users = usr_db_load(r->cfg->users_file, err, sizeof(err))) == NULL)
        rld_error(r, err);
    if (r->cfg->acl_file &&
        (r->acl = acl_load(r->cfg->acl_file, err, sizeof(err))) == NULL)
        rld_error(r, err);
    if (r->cfg->http_token_file &&
        http_read_token(r->cfg->http_token_file, r->token, sizeof(r->token)) !=
            0)
        rld_error(r, "--http-token-file: see the line above");
out:
    event_active(rl->done_ev, EV_READ, 1);
    return NULL;
}

/* ---- applying, on the loop --------------------------------------------------
 */

/* The same value in both configs? Lists by their entries. */
static bool
rld_same(const struct opt_def *o, const struct proxy_cfg *a,
         const struct proxy_cfg *b)
{
    switch (o->type) {
    case CFG_URI:
        if (a->n_service_uris != b->n_service_uris)
            return false;
        for (size_t i = 0; i < a->n_service_uris; i++)
            if (strcmp(a->service_uris[i], b->service_uris[i]) != 0)
                return false;
        return true;
    case CFG_CIDR:
        return a->n_allow == b->n_allow &&
               memcmp(a->allow, b->allow, a->n_allow * sizeof(a->allow[0])) ==
                   0;
    case CFG_ZMQ:
        return a->n_coordinators == b->n_coordinators &&
               memcmp(a->coordinators, b->coordinators,
                      sizeof(a->coordinators)) == 0;
    case CFG_ETCD:
        return a->n_etcd == b->n_etcd &&
               memcmp(a->etcd, b->etcd, sizeof(a->etcd)) == 0;
    default:
        return opt_same(o, a, b);
    }
}

/* Take row o's value from n into px->cfg. PATH strings swap owners: the
 * old one goes with n (freed with it). */
static void
rld_take(struct proxy *px, const struct opt_def *o, struct proxy_cfg *n)
{
    char *to = (char *)&px->cfg + o->off, *from = (char *)n + o->off;
    char tmp[sizeof(px->cfg)];

    if (o->type == CFG_CIDR) {
        memcpy(px->cfg.allow, n->allow, sizeof(n->allow));
        px->cfg.n_allow = n->n_allow;
        px->cfg.allow_defaulted = n->allow_defaulted;
        return;
    }
    memcpy(tmp, to, o->size);
    memcpy(to, from, o->size);
    memcpy(from, tmp, o->size);
}

static void
rld_apply(struct rld *rl)
{
    struct proxy *px = rl->px;
    struct rld_result *r = &rl->res;
    unsigned applied = 0, kept = 0;

    for (size_t i = 0; i < cfg_n_opts; i++) {
        const struct opt_def *o = &cfg_opts[i];

        if (rld_same(o, &px->cfg, r->cfg))
            continue;
        if (!(o->flags & OPT_F_RELOAD)) {
            log_warnx("SIGHUP: %s changed: it cannot change while running; "
                      "the value in force stays until a restart",
                      o->name);
            kept++;
            continue;
        }
        rld_take(px, o, r->cfg);
        log_info("SIGHUP: %s changed: applied", o->name);
        applied++;
    }
    /* Derived from the options at start: follow them. */
    px->strm_cfg.policy = px->cfg.slow_reader;
    px->strm_cfg.stall_timeout = px->cfg.stall_timeout;
    log_verbosity = px->cfg.log_level;
    if (px->vmlog)
        vmlog_set(px->vmlog, px->cfg.log_timestamps, px->cfg.log_rotate_bytes,
                  px->cfg.log_keep);
    if (r->tls && px->tls) {
        /* New handshakes use it; live connections keep theirs (each SSL
         * holds a reference to its context). */
        tls_ctx_free(&px->tls);
        px->tls = r->tls;
        r->tls = NULL;
        log_info("SIGHUP: telnets:// certificate %s, SHA-1 thumbprint %s",
                 tls_ctx_subject(px->tls), tls_ctx_thumbprint(px->tls));
    } else if (r->tls) {
        log_warnx("SIGHUP: tls-cert: the telnets:// listener was not open "
                  "at start: a restart opens it");
    }
    if (px->auth) {
        auth_install(px->auth, r->users, r->acl);
        r->users = NULL;
        r->acl = NULL;
    }
    if (px->http)
        http_set_token(px->http, r->token);
    log_info("SIGHUP: configuration read again: %u option%s applied, %u "
             "kept until a restart; users and rules read again",
             applied, applied == 1 ? "" : "s", kept);
}

static void
rld_result_free(struct rld_result *r)
{
    if (r->cfg) {
        cfg_free(r->cfg);
        free(r->cfg);
    }
    free(r->errors);
    tls_ctx_free(&r->tls);
    usr_db_free(&r->users);
    acl_free(&r->acl);
    OPENSSL_cleanse(r->token, sizeof(r->token));
    memset(r, 0, sizeof(*r));
}

static void
rld_done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rld *rl = arg;
    struct rld_result *r = &rl->res;

    (void)fd;
    (void)what;
    pthread_join(rl->thread, NULL);
    rl->running = false;
    if (r->errors) {
        for (const char *p = r->errors; *p;) {
            size_t len = strcspn(p, "\n");

            log_errorx("SIGHUP: %.*s", (int)len, p);
            p += len + (p[len] == '\n');
        }
        log_errorx("SIGHUP: the configuration has errors: nothing changed");
        rl->failed++;
    } else {
        rld_apply(rl);
        rl->ok++;
    }
    rld_result_free(r);
    if (rl->again) {
        rl->again = false;
        rld_start(rl->px);
    }
}

void
rld_start(struct proxy *px)
{
    struct rld *rl = px->rld;
    sigset_t all, old;
    int rc;

    if (rl == NULL) {
        if ((rl = calloc(1, sizeof(*rl))) == NULL ||
            (rl->done_ev = event_new(px->base, -1, 0, rld_done_cb, rl)) ==
                NULL) {
            free(rl);
            log_errorx("SIGHUP: out of memory: nothing read");
            return;
        }
        rl->px = px;
        px->rld = rl;
    }
    if (rl->running) {
        rl->again = true;
        return;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&rl->thread, NULL, rld_main, rl);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_errorx("SIGHUP: cannot start the reload thread: %s", strerror(rc));
        return;
    }
    rl->running = true;
}

void
rld_fini(struct proxy *px)
{
    struct rld *rl = px->rld;

    if (rl == NULL)
        return;
    if (rl->running)
        pthread_join(rl->thread, NULL);
    rld_result_free(&rl->res);
    event_free(rl->done_ev);
    free(rl);
    px->rld = NULL;
}

void
rld_counts(const struct proxy *px, uint64_t *ok, uint64_t *failed)
{
    *ok = px->rld ? px->rld->ok : 0;
    *failed = px->rld ? px->rld->failed : 0;
}
