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
void tls_ctx_free(struct tls_ctx **ctx);
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

#endif /* VSPC_TLS_H */
