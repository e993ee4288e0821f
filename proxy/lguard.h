/*
 * lguard.h: lg_, listeners that survive running out of descriptors. When
 * accept() fails with EMFILE, ENFILE, ENOBUFS or ENOMEM, libevent's
 * listener would try again at once, forever (a busy loop and a log line
 * per try). A guarded listener pauses instead, for a back-off that
 * doubles from 50 ms to 2 s while the failures go on (reset once a pause
 * ends without one), logs one line per 10 s with the count, and counts
 * every pause (vspc_accept_paused_total). Other accept errors (a
 * connection reset before it was taken) are logged, rate-limited, and
 * the listener goes on.
 *
 * Ownership: the proxy owns the guards (lg_free_all at shutdown); a
 * guard does not own its listener.
 */
#ifndef VSPC_LGUARD_H
#define VSPC_LGUARD_H

#include "vspc/compat.h"

#include <event2/listener.h>

#include "proxy.h"

/* Guard l (what: "--vm-listen", for the log). 0, or -1 (no memory: l is
 * left with libevent's behaviour). */
int lg_guard(struct proxy *px, struct evconnlistener *l, const char *what);
/* The listeners' error callback (set by lg_guard; arg is the proxy). */
void lg_error_cb(struct evconnlistener *l, void *arg);
void lg_free_all(struct proxy *px);

#endif /* VSPC_LGUARD_H */
