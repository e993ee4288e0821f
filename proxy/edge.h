/*
 * edge.h: edge_*, the accept path of the hypervisor listeners (plain
 * telnet and telnets://), before a session exists:
 *
 *   1. the source allow-list (--allow) on the socket's peer address;
 *   2. with --proxy-protocol, the PROXY v1/v2 header (pproxy.h), read with
 *      MSG_PEEK and consumed exactly, so the TLS ClientHello or the telnet
 *      stream after it stays in the socket; the header's source address is
 *      checked against the allow-list too and becomes the session's peer;
 *   3. the session (sess_new_ex), over TLS when the listener is telnets.
 *
 * A connection waiting for its header is bounded (the header is at most
 * PP_V2_MAX bytes) and times out after EDGE_PP_SECS (or --idle-timeout if
 * shorter). Refusals close the connection at once with a log line and are
 * counted (proxy_stats.hv_denied, hv_pp_errors).
 *
 * Ownership: waiting connections are kept in px->edge_waits (one list per
 * node, no process-wide state); edge_fini() closes them (before
 * proxy_fini frees the base).
 */
#ifndef VSPC_EDGE_H
#define VSPC_EDGE_H

#include "vspc/compat.h"

#include <sys/socket.h>

#include "proxy.h"

#define EDGE_PP_SECS 10

/* "192.0.2.0/24", "10.1.2.3" (/32), "2001:db8::/32", "::1" (/128). 0 or
 * -1. Host bits beyond the prefix are cleared. */
int edge_cidr_parse(const char *s, struct proxy_cidr *out);
/* true when there is no allow-list or sa matches an entry (IPv4-mapped
 * IPv6 addresses match IPv4 entries). */
bool edge_allowed(const struct proxy_cidr *allow, size_t n,
                  const struct sockaddr *sa);

/* A hypervisor connection accepted on fd (tls: on the telnets listener). */
void edge_accept(struct proxy *px, int fd, const struct sockaddr *sa, bool tls);
/* Close every connection still waiting for its PROXY header. */
void edge_fini(struct proxy *px);

#endif /* VSPC_EDGE_H */
