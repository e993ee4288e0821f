/*
 * scen_edge.h: the hypervisor-side edges: telnets:// (scenarios 53 and 54
 * of PROTOCOL.md section 10, scen_tls.c) and the PROXY protocol and the
 * allow-list, takeovers (scenarios 301-306, scen_edge.c).
 */
#ifndef VSPC_HVSIM_SCEN_EDGE_H
#define VSPC_HVSIM_SCEN_EDGE_H

#include "vspc/compat.h"

#include "scenario.h"

#define EDGE_FIRST 301
#define EDGE_LAST 306

/* Scenario 53 or 54 (needs --tls and --tls-cert). */
int scen_tls(struct scen *s);
/* NULL if n is not an edge scenario. */
const char *edge_name(int n);
int scen_edge(struct scen *s);

/*
 * A TLS client connection to s->tls (TLS 1.2 only when tls12 is set, else
 * 1.2 or 1.3): TCP connect, handshake, then the server certificate's SHA-1
 * thumbprint must equal that of s->tls_cert (as an ESXi Port URI
 * "#thumbprint=" pins it). pre/npre: raw bytes sent before the handshake
 * (a PROXY header). NULL on failure (printed).
 */
struct scr_conn *scen_tls_connect(struct scen *s, const char *name, bool tls12,
                                  const void *pre, size_t npre);

#endif
