/*
 * tls.h: tls_*, the hypervisor side's implicit TLS (telnets://,
 * PROTOCOL.md 7.2). The only module that touches OpenSSL's SSL_* API: the
 * rest of the proxy sees a struct tls_ctx and bufferevents.
 *
 * A TLS connection is a libevent OpenSSL socket bufferevent
 * (BUFFEREVENT_SSL_ACCEPTING), so the session code above it is the same as
 * for plain telnet; the handshake ends with BEV_EVENT_CONNECTED.
 *
 * Settings: TLS 1.2 and 1.3 only, TLS 1.2 limited to ECDHE with AES-GCM or
 * ChaCha20, no renegotiation, no compression, no session tickets; a peer
 * closing without close_notify is a plain EOF (ESXi and telnet peers close
 * dirtily).
 *
 * Ownership: the context is made at startup (certificate and key read from
 * disk there, never on the loop) and freed at exit; every SSL made from it
 * holds a reference, so it may be freed while connections live.
 */
#ifndef VSPC_TLS_H
#define VSPC_TLS_H

#include "vspc/compat.h"

#include <stddef.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

struct tls_ctx;

/* Loads a PEM certificate chain and its PEM private key. NULL on failure
 * (the reason is in err). */
struct tls_ctx *tls_server_new(const char *cert_file, const char *key_file,
                               char *err, size_t errcap);
/* The same, its errors naming the options cert_opt and key_opt. */
struct tls_ctx *tls_server_new_named(const char *cert_file,
                                     const char *key_file, const char *cert_opt,
                                     const char *key_opt, char *err,
                                     size_t errcap);
void tls_ctx_free(struct tls_ctx **ctx);
/*
 * Ask every client for a certificate and verify it against the PEM CA
 * bundle ca_file (at startup). The handshake completes whatever the client
 * sends; tls_peer_identity then gives the verdict, so the caller can tell
 * the client in words. 0, or -1 with the reason in err.
 */
int tls_ctx_client_ca(struct tls_ctx *ctx, const char *ca_file, char *err,
                      size_t errcap);
/* After the handshake: 1, a certificate verified against the client CA, its
 * subject CN (printable ASCII) in cn; 0, no certificate; -1, one that did
 * not verify (expired, unknown CA, no CN...), the reason in why. */
int tls_peer_identity(struct bufferevent *bev, char *cn, size_t cncap,
                      char *why, size_t whycap);
/* The certificate's SHA-1 thumbprint, "AA:BB:...", as an ESXi Port URI
 * pins it (telnets://host:port#thumbprint=...). */
const char *tls_ctx_thumbprint(const struct tls_ctx *ctx);
/* The certificate's subject, one line. */
const char *tls_ctx_subject(const struct tls_ctx *ctx);

/* A server-side TLS bufferevent on fd (options: BEV_OPT_CLOSE_ON_FREE is
 * added). NULL on failure, fd closed, the reason in why. */
struct bufferevent *tls_accept_bev(struct tls_ctx *ctx, struct event_base *base,
                                   int fd, int options, char *why,
                                   size_t whycap);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" once the handshake is done. */
void tls_describe(struct bufferevent *bev, char *out, size_t cap);
/* The OpenSSL errors libevent recorded on bev (drained), or what the
 * socket error was. For logs. */
void tls_error_str(struct bufferevent *bev, char *out, size_t cap);
/*
 * Decrypted bytes that OpenSSL holds (SSL_pending) and libevent has not
 * moved to the input buffer yet go there now. No socket I/O. Returns the
 * number of bytes moved. libevent 2.1 drains them itself after each read,
 * but a socket-based SSL bufferevent re-enabled for reading only waits for
 * the socket: bytes left inside OpenSSL would sit there (PROTOCOL.md 7.2).
 */
size_t tls_move_pending(struct bufferevent *bev);
/* Best-effort close_notify before the bufferevent is freed. */
void tls_close_notify(struct bufferevent *bev);

/*
 * ---- the peer link (peerlink.h): mutual TLS 1.3 under a cluster CA ----
 *
 * Every node has a certificate signed by the cluster's CA whose subject CN
 * is its node id. One context serves both ends of a link: the acceptor
 * requires and verifies the dialer's certificate, the dialer verifies the
 * acceptor's, both against that CA only (not the system's trust store);
 * TLS 1.3 only, no resumption. Whether the CN is the node the peer says
 * it is, is the caller's check (tls_peer_cn, once the hello is in).
 */

/* Loads this node's PEM chain and key and the CA (all at startup) and
 * checks that the chain verifies against the CA. NULL on failure (the
 * reason, naming the --peer-* option, in err). Accept with tls_accept_bev,
 * dial with tls_connect_bev. */
struct tls_ctx *tls_mutual_new(const char *cert_file, const char *key_file,
                               const char *ca_file, char *err, size_t errcap);
/* The subject CN of ctx's own certificate: 0, or -1 (none usable). */
int tls_ctx_cn(const struct tls_ctx *ctx, char *out, size_t cap);
/* A client-side TLS bufferevent (BUFFEREVENT_SSL_CONNECTING; options:
 * BEV_OPT_CLOSE_ON_FREE is added) on fd, or on fd -1 to be given its
 * socket by bufferevent_socket_connect. The handshake ends with
 * BEV_EVENT_CONNECTED. NULL on failure (fd, if any, closed; the reason in
 * why). */
struct bufferevent *tls_connect_bev(struct tls_ctx *ctx,
                                    struct event_base *base, int fd,
                                    int options, char *why, size_t whycap);
/* The subject CN of the peer's certificate, verified in the handshake
 * (control characters as '?'): 0, or -1 (no handshake done, no verified
 * certificate, no single CN, cap too small). */
int tls_peer_cn(struct bufferevent *bev, char *out, size_t cap);
/* tls_error_str, plus the certificate verdict when that failed; returns
 * the number of OpenSSL reasons found (0: out is a socket error or
 * "connection closed", not a TLS failure). */
int tls_failure_str(struct bufferevent *bev, char *out, size_t cap);
/* tls_move_pending, at most max bytes (OpenSSL keeps the rest: call again
 * before waiting for the socket). No socket I/O. */
size_t tls_read_pending(struct bufferevent *bev, size_t max);

#endif /* VSPC_TLS_H */
