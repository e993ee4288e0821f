/*
 * privdrop.h: priv_, dropping root once the ports are bound (both
 * daemons' --user). Called at start, before the event loop runs (the
 * user database lookup may block).
 */
#ifndef VSPC_PRIVDROP_H
#define VSPC_PRIVDROP_H

#include "vspc/compat.h"

#include <stddef.h>

/* Become user (its uid, its primary gid, no supplementary groups); check
 * that root cannot be regained. 0, or -1 with a reason in err. user NULL
 * or "": nothing to do (0). */
int priv_drop(const char *user, char *err, size_t errlen);

#endif /* VSPC_PRIVDROP_H */
