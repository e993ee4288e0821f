/*
 * lguard.c: listeners that pause when descriptors run out (lguard.h).
 */
#include "vspc/compat.h"
#include "lguard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vspc/clock.h"
#include "vspc/log.h"

#define LG_BACKOFF_MIN 0.05
#define LG_BACKOFF_MAX 2.0
#define LG_LOG_EVERY 10.0

struct lguard {
    struct proxy *px;
    struct evconnlistener *l;
    struct event *ev;
    const char *what;
    double backoff;
    bool failed_again; /* an accept failed since the last pause began */
    struct rlim pause_rl, err_rl; /* their log lines */
};

static struct lguard *
lg_find(struct proxy *px, struct evconnlistener *l)
{
    for (size_t i = 0; i < px->n_guards; i++)
        if (px->guards[i]->l == l)
            return px->guards[i];
    return NULL;
}

static void
lg_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lguard *g = arg;

    if (!g->failed_again)
        g->backoff = LG_BACKOFF_MIN; /* the last pause was enough */
    g->failed_again = false;
    evconnlistener_enable(g->l);
}

void
lg_error_cb(struct evconnlistener *l, void *arg)
{
    struct proxy *px = arg;
    struct lguard *g = lg_find(px, l);
    int err = EVUTIL_SOCKET_ERROR();
    double now = clock_now();
    struct timeval tv;
    unsigned quiet;

    if (g == NULL) {
        log_warnx("accept failed: %s", evutil_socket_error_to_string(err));
        return;
    }
    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
        if (rlim_allow(&g->err_rl, now, LG_LOG_EVERY, &quiet))
            log_warnx("%s: accept failed: %s", g->what,
                      evutil_socket_error_to_string(err));
        return;
    }
    px->stats.accept_paused++;
    evconnlistener_disable(l);
    g->failed_again = true;
    tv.tv_sec = (time_t)g->backoff;
    tv.tv_usec = (suseconds_t)((g->backoff - (double)tv.tv_sec) * 1e6);
    evtimer_add(g->ev, &tv);
    if (rlim_allow(&g->pause_rl, now, LG_LOG_EVERY, &quiet))
        log_warnx("%s: cannot accept: %s; not accepting for %.0f ms at a "
                  "time until it passes (%u pauses since the last line)",
                  g->what, evutil_socket_error_to_string(err),
                  g->backoff * 1000, quiet);
    g->backoff =
        g->backoff * 2 > LG_BACKOFF_MAX ? LG_BACKOFF_MAX : g->backoff * 2;
}

int
lg_guard(struct proxy *px, struct evconnlistener *l, const char *what)
{
    struct lguard *g;

    evconnlistener_set_error_cb(l, lg_error_cb);
    if (px->n_guards >= PROXY_MAX_GUARDS || (g = calloc(1, sizeof(*g))) == NULL)
        return -1;
    if ((g->ev = evtimer_new(px->base, lg_resume_cb, g)) == NULL) {
        free(g);
        return -1;
    }
    g->px = px;
    g->l = l;
    g->what = what;
    g->backoff = LG_BACKOFF_MIN;
    px->guards[px->n_guards++] = g;
    return 0;
}

void
lg_free_all(struct proxy *px)
{
    for (size_t i = 0; i < px->n_guards; i++) {
        event_free(px->guards[i]->ev);
        free(px->guards[i]);
    }
    px->n_guards = 0;
}
