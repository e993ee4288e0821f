/*
 * http_client.h: the proxy and blocking HTTP client shared by the HTTP
 * suites (test_http.c, test_http2.c; compiled into both runners by
 * tests/CMakeLists.txt).
 *
 * One struct proxy (proxy_init) with HTTP on a real evhttp listener on
 * 127.0.0.1 and no other listeners. The client is small and blocking in
 * spirit: one socket, poll() with a deadline. Between polls it runs the
 * proxy's event base without blocking (pump), since server and client share
 * this thread.
 */
#ifndef VSPC_TESTS_HTTP_CLIENT_H
#define VSPC_TESTS_HTTP_CLIENT_H

#include "vspc/compat.h"

#include <stdbool.h>
#include <stddef.h>

#include "proxy.h"

/* The proxy under test (hc_setup makes it, the suite's teardown ends it). */
extern struct proxy px;

/* Monotonic seconds. */
double now_s(void);
/* Runs the proxy's base without blocking. */
void pump(void);
/* Pumps for secs of wall time. */
void pump_for(double secs);

/* A proxy with HTTP on the first free port of port_base..port_base + 99
 * (other builds may run the suite at the same time), starting at a
 * pid-based one; logs as name. */
void hc_setup(const char *name, int port_base);

struct resp {
    int status;
    char *head; /* status line and headers */
    char *body; /* de-chunked, NUL-terminated */
    size_t body_len;
};

void resp_free(struct resp *r);

/* A connected socket to the proxy's HTTP port. */
int cl_connect(void);
/* Writes all of s. */
void cl_send(int fd, const char *s);
/* Read what is there into *buf (grown), pumping the server meanwhile.
 * Returns 1 on data, 0 on EOF, -1 when the deadline passed. */
int cl_read_some(int fd, char **buf, size_t *len, size_t *cap, double deadline);
/*
 * Parse raw (head + body so far) into *r. Returns true when the response
 * is complete (Content-Length reached, last chunk seen, or eof).
 */
bool parse_resp(const char *raw, size_t n, bool eof, struct resp *r);

/* method path -> *r, one request per connection ("Connection: close"). */
void http_req(const char *method, const char *path, struct resp *r);
void get(const char *path, struct resp *r);

#endif /* VSPC_TESTS_HTTP_CLIENT_H */
