/*
 * zcurve.h: zc_, ZeroMQ CURVE between the nodes and the coordinators:
 * keys, the socket options, and the ZAP handler that admits only listed
 * client keys (RFC 27). Both daemons link it (common/zcurve.c).
 *
 * A key file holds a CURVE secret key, Z85 (40 characters), on its first
 * line that is not a comment ("# ": Z85 has '#' but no space); `vspcctl
 * keygen FILE` writes one
 * (mode 0600) with the public key in a comment. The coordinator pair
 * shares one key; nodes are given its public key (--coordinator-key) and
 * keys of their own, which the coordinators list (--curve-clients).
 *
 * Loading happens at start (file reads, before the event loop).
 * Ownership: the caller owns what zc_zap_new returns (zc_zap_free).
 */
#ifndef VSPC_ZCURVE_H
#define VSPC_ZCURVE_H

#include "vspc/compat.h"

#include <stddef.h>

struct event_base;

#define ZC_Z85_LEN 40

struct zc_keys {
    bool on;                      /* CURVE configured */
    char secret[ZC_Z85_LEN + 1];  /* this process's */
    char public_[ZC_Z85_LEN + 1]; /* derived from secret */
    char server[ZC_Z85_LEN + 1];  /* the server's public (clients) */
};

/* A Z85 key string: 40 characters of the Z85 alphabet that decode. */
bool zc_key_valid(const char *z85);
/* Read the secret key in file into k (public derived). 0, or -1 + err. */
int zc_load(struct zc_keys *k, const char *file, char *err, size_t errlen);
/* Socket options before bind (server) / connect (client). 0 or -1. */
int zc_server(void *sock, const struct zc_keys *k);
int zc_client(void *sock, const struct zc_keys *k);
/* A new key pair (Z85). 0, or -1 when libzmq has no CURVE. */
int zc_keypair(char public_[ZC_Z85_LEN + 1], char secret[ZC_Z85_LEN + 1]);

/* The ZAP handler on zctx, admitting CURVE clients whose public key is in
 * clients_file (one Z85 key per line, "# " comments) or is extra (NULL for
 * none): refusals are logged (rate-limited) and counted. NULL + err. */
struct zc_zap;
struct zc_zap *zc_zap_new(struct event_base *base, void *zctx,
                          const char *clients_file, const char *extra,
                          char *err, size_t errlen);
void zc_zap_free(struct zc_zap **zp);
/* Handshakes admitted and refused so far. */
void zc_zap_counts(const struct zc_zap *z, unsigned long long *ok,
                   unsigned long long *refused);

#endif /* VSPC_ZCURVE_H */
