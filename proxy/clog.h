/*
 * clog.h: clog_*, the console log as a reader of every console's stream.
 *
 * Each console gets one log reader (attached when the console is
 * created) that hands its output and event markers, in stream order, to
 * the log writer (vmlog.h). The writer's queue is the reader's queue: when
 * it is full (a slow disk) the reader paces the console like any other
 * live reader, and after the stall timeout it is cut loose; the bytes it
 * then misses are marked in the console's file ("N bytes not logged
 * (queue full)") when it catches up. Under --slow-reader disconnect the
 * log is never disconnected: it is cut loose the same way.
 *
 * Ownership: clog_new hooks into px->consoles and is freed by clog_free
 * (before vmlog_free and con_registry_free): it offers the writer what
 * each console still owes it, then unlinks and frees every log reader. A
 * console freed earlier frees its own log reader (strm release).
 */
#ifndef VSPC_CLOG_H
#define VSPC_CLOG_H

#include "vspc/compat.h"

#include "proxy.h"

struct clog;

/* px->vmlog and px->consoles must exist. NULL on ENOMEM. */
struct clog *clog_new(struct proxy *px);
void clog_free(struct clog **clp);

#endif /* VSPC_CLOG_H */
