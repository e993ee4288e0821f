/* node.c: see node.h. */
#include "vspc/compat.h"
#include "node.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "vspc/addr.h"
#include "vspc/log.h"
#include "console.h"

/* drain --close-after: the consoles still connected here are let go. */
static void
node_drain_close_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proxy *px = arg;
    struct console *c;
    uint64_t n = 0;

    (void)fd;
    (void)what;
    for (c = con_first(px->consoles); c; c = con_next(c)) {
        struct con_hv *hv = c->owner;

        if (hv == NULL)
            continue;
        con_event(c,
                  "node drained: hypervisor %s let go (it reconnects to "
                  "another node)",
                  hv->addr);
        con_owner_gone(c, hv);
        hv->ops->replaced(hv, "node drained");
        n++;
    }
    px->stats.drain_closed += n;
    log_info("node %s drained: %llu hypervisor connection(s) closed so "
             "that their hosts reconnect elsewhere",
             px->cfg.node_id, (unsigned long long)n);
}

bool
node_set_draining(struct proxy *px, bool on, const char *by, double close_after)
{
    struct console *c;

    if (px->drain_close_ev)
        evtimer_del(px->drain_close_ev);
    if (on && close_after > 0) {
        struct timeval tv = {
            (time_t)close_after,
            (suseconds_t)((close_after - (double)(time_t)close_after) * 1e6)};

        if (px->drain_close_ev == NULL)
            px->drain_close_ev = evtimer_new(px->base, node_drain_close_cb, px);
        if (px->drain_close_ev)
            evtimer_add(px->drain_close_ev, &tv);
        log_info("node %s: hypervisors still connected in %.3g s are let "
                 "go",
                 px->cfg.node_id, close_after);
    }
    if (px->draining == on)
        return false;
    px->draining = on;
    log_info("node %s %s (%s): new vMotions into it are %s", px->cfg.node_id,
             on ? "draining" : "no longer draining", by ? by : "-",
             on ? "refused" : "accepted");
    for (c = con_first(px->consoles); c; c = con_next(c))
        con_event(c, "%s", on ? "node draining" : "node no longer draining");
    return true;
}

const char *
node_not_ready(const struct proxy *px)
{
    if (px->draining)
        return "draining";
    if (px->vm_listener == NULL)
        return "not listening";
    return NULL;
}

const char *
node_agent_word(const struct proxy *px)
{
    if (px->vm_listener == NULL)
        return "maint";
    return px->draining ? "drain" : "ready";
}

/* One line to a fresh socket always fits its send buffer: no blocking. */
static void
node_agent_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
                     struct sockaddr *sa, int salen, void *arg)
{
    struct proxy *px = arg;
    char line[16];
    size_t n =
        (size_t)snprintf(line, sizeof(line), "%s\n", node_agent_word(px));

    (void)l;
    (void)sa;
    (void)salen;
    if (send(fd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n)
        log_debug("agent check: reply not sent: %s", strerror(errno));
    px->stats.agent_checks++;
    close(fd);
}

struct evconnlistener *
node_agent_listen(struct proxy *px, const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t len;

    if (addr_parse(addr, &ss, &len) != 0)
        return NULL;
    return evconnlistener_new_bind(px->base, node_agent_accept_cb, px,
                                   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                       LEV_OPT_CLOSE_ON_EXEC,
                                   64, (struct sockaddr *)&ss, (int)len);
}
