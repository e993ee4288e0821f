/*
 * http.h: http_*, the node's HTTP side with libevent's evhttp
 * (127.0.0.1:13372 by default).
 *
 *   GET /metrics                   Prometheus text format 0.0.4
 *   GET /healthz                   "ok\n" while the loop runs
 *   GET /readyz                    200 "ready\n" while the hypervisor port
 *                                  listens and the node is not drained,
 *                                  else 503 "draining\n" / "not
 *                                  listening\n"
 *   GET /api/v1/vmotions           JSON array of the vMotion audit
 *                                  records (audit.h), newest first;
 *                                  ?console=<id> one console's only,
 *                                  ?limit=N the N newest (400 if bad)
 *   GET /api/v1/consoles           JSON array, one object per console
 *   GET /api/v1/consoles/<id>      one console, 404 if none
 *   GET /api/v1/consoles/<id>/log  the console's current log file
 *                                  (?follow=1: then stays open and
 *                                  streams what is appended, chunked,
 *                                  like tail -f: vmlog_read from the last
 *                                  offset on a short timer; a rotation
 *                                  (file shorter than the offset) starts
 *                                  over at 0 of the new file)
 *
 * Reads of log files happen on the vmlog writer thread (vmlog_read), never
 * on the loop. Ownership: http_new returns an object the caller frees with
 * http_free (which closes every open request).
 */
#ifndef VSPC_HTTP_H
#define VSPC_HTTP_H

#include "vspc/compat.h"

#include "proxy.h"

/* Listen on addr ("ADDR:PORT"). Returns NULL with a log line on error. */
struct http *http_new(struct proxy *px, const char *addr);
void http_free(struct http **httpp);
/* --http-token-file's token (the first line, 16 to cap - 2 printable
 * characters without spaces) into out: 0, or -1 with a log line. Reads
 * the file: never on the loop but at start. */
int http_read_token(const char *file, char *out, size_t cap);
/* The token requests must bear from now on ("" none). */
void http_set_token(struct http *h, const char *token);

#endif /* VSPC_HTTP_H */
