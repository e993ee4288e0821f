/*
 * metrics.h: met_*, the node's Prometheus text exposition (/metrics).
 * Reads the node's counters and the state of its consoles, sessions,
 * operators, log writer and cluster membership; the HTTP server (http.c)
 * serves it. Loop thread only.
 */
#ifndef VSPC_METRICS_H
#define VSPC_METRICS_H

#include "vspc/compat.h"

#include <event2/buffer.h>

#include "proxy.h"

/* Append every metric family of px to b; the HTTP server's own counters
 * (requests served, log downloads in progress) come in as arguments. */
void met_render(struct proxy *px, uint64_t http_requests, unsigned http_logs,
                struct evbuffer *b);

#endif /* VSPC_METRICS_H */
