/* proxy.c: configuration defaults, addresses, the reap event. */
#include "vspc/compat.h"
#include "proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/thread.h>
#include <openssl/rand.h>

#include "vspc/log.h"
#include "audit.h"
#include "config.h"
#include "clog.h"
#include "cluster.h"
#include "console.h"
#include "http.h"
#include "auth.h"
#include "reload.h"
#include "operator.h"
#include "vmlog.h"
#include "session.h"

void
proxy_cfg_defaults(struct proxy_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg_defaults(cfg); /* every option: config.c's table */
    cfg->pre_ident_max = 64 * 1024;
    cfg->held_max = 64 * 1024;
}

void
proxy_schedule_reap(struct proxy *px)
{
    if (px->reap_ev)
        event_active(px->reap_ev, EV_TIMEOUT, 0);
}

static void
reap_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proxy *px = arg;
    struct session *s;
    struct oper *op;

    while ((s = TAILQ_FIRST(&px->reap_sessions)) != NULL) {
        TAILQ_REMOVE(&px->reap_sessions, s, link);
        sess_free(s);
    }
    while ((op = TAILQ_FIRST(&px->reap_operators)) != NULL) {
        TAILQ_REMOVE(&px->reap_operators, op, link);
        op_free(op);
    }
}

static void
policies(struct proxy *px)
{
    /* Hypervisors: BINARY and SGA both ways, the VMware extension from
     * the host. Everything else (AUTH, ECHO, COM-PORT, ...) is refused. */
    tn_policy_allow(&px->hv_policy, TN_OPT_BINARY, true, true);
    tn_policy_allow(&px->hv_policy, TN_OPT_SGA, true, true);
    tn_policy_allow(&px->hv_policy, TN_OPT_VMWARE, false, true);
    /* Operators: character mode (we echo in command mode), binary. */
    tn_policy_allow(&px->op_policy, TN_OPT_BINARY, true, true);
    tn_policy_allow(&px->op_policy, TN_OPT_SGA, true, true);
    tn_policy_allow(&px->op_policy, TN_OPT_ECHO, true, false);
    tn_policy_allow(&px->op_policy, TN_OPT_VSPC_ADMIN, true, false);
}

void
proxy_fini(struct proxy *px)
{
    struct session *s;
    struct oper *op;

    while ((op = TAILQ_FIRST(&px->operators)) != NULL)
        op_close(op, "shutdown");
    while ((s = TAILQ_FIRST(&px->sessions)) != NULL)
        sess_close(s, "shutdown");
    reap_cb(-1, 0, px);
    sess_srcs_free(px);
    /* The log writer flushes; outstanding reads get ECANCELED (the HTTP
     * side still exists to receive them), then HTTP goes. */
    clu_free(&px->clu);
    clog_free(&px->clog);
    vmlog_free(&px->vmlog);
    http_free(&px->http);
    auth_free(&px->auth); /* after every operator and HTTP request */
    rld_fini(px);
    con_registry_free(&px->consoles);
    aud_free(&px->audit);
    event_free(px->reap_ev);
    px->reap_ev = NULL;
    event_base_free(px->base);
    px->base = NULL;
    free(px->rbuf);
    px->rbuf = NULL;
}

int
proxy_init(struct proxy *px)
{
    static bool threads_on;

    /* The console log writer thread hands results back through the base:
     * libevent's locking must be on before the base exists. */
    if (!threads_on) {
        if (evthread_use_pthreads() != 0)
            return -1;
        threads_on = true;
    }
    TAILQ_INIT(&px->sessions);
    LIST_INIT(&px->edge_waits);
    TAILQ_INIT(&px->reap_sessions);
    TAILQ_INIT(&px->operators);
    TAILQ_INIT(&px->reap_operators);
    policies(px);
    /* Seed OpenSSL's generator now: its first use costs about a
     * millisecond, which must not land on the first vMotion's GOAHEAD. */
    {
        uint8_t warm[8];

        if (RAND_bytes(warm, sizeof(warm)) != 1)
            return -1;
    }
    px->strm_cfg.policy = px->cfg.slow_reader;
    px->strm_cfg.stall_timeout = px->cfg.stall_timeout;
    px->strm_cfg.scrollback = px->cfg.scrollback;
    if ((px->rbuf = malloc(PROXY_RBUF_SIZE)) == NULL)
        return -1;
    if ((px->base = event_base_new()) == NULL)
        return -1;
    if ((px->consoles = con_registry_new(px)) == NULL)
        return -1;
    if ((px->audit = aud_new(px->cfg.audit_max)) == NULL)
        return -1;
    px->reap_ev = event_new(px->base, -1, 0, reap_cb, px);
    return px->reap_ev ? 0 : -1;
}
