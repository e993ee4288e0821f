/* node.c: see node.h. */
#include "vspc/compat.h"
#include "node.h"

#include "vspc/log.h"
#include "console.h"

bool
node_set_draining(struct proxy *px, bool on, const char *by)
{
    struct console *c;

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
