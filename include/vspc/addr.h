/*
 * addr.h: addr_*, numeric socket addresses as the daemons write them in
 * their options and logs ("192.0.2.1:13370", "[2001:db8::1]:13370"). No
 * DNS: names are never resolved (nothing may block the event loop).
 */
#ifndef VSPC_ADDR_H
#define VSPC_ADDR_H

#include "vspc/compat.h"

#include <stddef.h>
#include <sys/socket.h>

/* Parse "ADDR:PORT" (IPv4 dotted quad or [IPv6]). Returns 0 or -1. */
int addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/* "a.b.c.d:port" or "[v6]:port" of a socket address ("?" otherwise). */
void addr_str(const struct sockaddr *sa, char *out, size_t cap);
/* Would binding both fail? The same port, and the same address or either
 * a wildcard of the same family (0.0.0.0, ::; :: also covers IPv4 unless
 * the socket is IPv6-only, which ours are not told to be). */
bool addr_same_port_clash(const struct sockaddr_storage *a,
                          const struct sockaddr_storage *b);

#endif /* VSPC_ADDR_H */
