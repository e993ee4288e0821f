/* tls.c: see tls.h. The one module that uses OpenSSL's SSL_* API. */
#include "vspc/compat.h"
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "vspc/log.h"

/* TLS 1.2: forward secrecy and AEAD only. TLS 1.3: OpenSSL's defaults. */
#define TLS12_CIPHERS                                                          \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"               \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"               \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

struct tls_ctx {
    SSL_CTX *ssl;
    char thumbprint[20 * 3];
    char subject[256];
};

/* The OpenSSL error queue as one line (drained). */
static void
tls_queue_str(char *out, size_t cap)
{
    unsigned long e;
    size_t len = 0;

    /* One sentence: the first error is the cause (the rest are the
     * layers that passed it up); a system error is its errno's text. */
    out[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        const char *r;

        if (len > 0)
            continue;
        if (ERR_GET_LIB(e) == ERR_LIB_SYS)
            len = (size_t)snprintf(out, cap, "cannot read it: %s",
                                   strerror(ERR_GET_REASON(e)));
        else if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
                 ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
            len = (size_t)snprintf(out, cap,
                                   "not a PEM file (no -----BEGIN line)");
        else if ((r = ERR_reason_error_string(e)) != NULL)
            len = (size_t)snprintf(out, cap, "%s", r);
        else
            len = (size_t)snprintf(out, cap, "OpenSSL error %lx", e);
    }
    if (out[0] == '\0')
        snprintf(out, cap, "unknown error");
}

static void
tls_fill_identity(struct tls_ctx *t)
{
    X509 *cert = SSL_CTX_get0_certificate(t->ssl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    t->thumbprint[0] = '\0';
    t->subject[0] = '\0';
    if (cert == NULL)
        return;
    if (X509_digest(cert, EVP_sha1(), md, &mdlen) == 1) {
        for (unsigned int i = 0; i < mdlen && i < 20; i++)
            snprintf(t->thumbprint + (i ? 3 * i - 1 : 0),
                     sizeof(t->thumbprint) - (i ? 3 * i - 1 : 0), "%s%02X",
                     i ? ":" : "", md[i]);
    }
    X509_NAME_oneline(X509_get_subject_name(cert), t->subject,
                      (int)sizeof(t->subject));
}

/* What every context of ours sets: no session cache, no tickets (no
 * resumption), and how libevent writes. */
static void
tls_ctx_modes(SSL_CTX *ssl)
{
    SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ssl, 0);
    /* libevent writes from its evbuffer chunks: they move between
     * retries. No SSL_MODE_ENABLE_PARTIAL_WRITE: libevent 2.1's do_write
     * goes on to the next chunk after a partial SSL_write and drains
     * bytes it never sent (fixed in 2.2, fc568ff0): a chunk over one
     * record (16 KiB) corrupts the stream. Without it a chunk is written
     * whole or retried whole. */
    SSL_CTX_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

/* The certificate chain and its key, checked against each other; errors
 * name the options. 0, or -1 with err. */
static int
tls_load_pair(SSL_CTX *ssl, const char *cert_file, const char *key_file,
              const char *cert_opt, const char *key_opt, char *err,
              size_t errcap)
{
    char why[512];

    if (SSL_CTX_use_certificate_chain_file(ssl, cert_file) != 1) {
        tls_queue_str(why, sizeof(why));
        snprintf(err, errcap, "%s %s: %s", cert_opt, cert_file, why);
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(ssl, key_file, SSL_FILETYPE_PEM) != 1) {
        tls_queue_str(why, sizeof(why));
        snprintf(err, errcap, "%s %s: %s", key_opt, key_file, why);
        return -1;
    }
    if (SSL_CTX_check_private_key(ssl) != 1) {
        tls_queue_str(why, sizeof(why));
        snprintf(err, errcap, "%s %s does not match %s %s: %s", key_opt,
                 key_file, cert_opt, cert_file, why);
        return -1;
    }
    return 0;
}

struct tls_ctx *
tls_server_new(const char *cert_file, const char *key_file, char *err,
               size_t errcap)
{
    return tls_server_new_named(cert_file, key_file, "--tls-cert", "--tls-key",
                                err, errcap);
}

struct tls_ctx *
tls_server_new_named(const char *cert_file, const char *key_file,
                     const char *cert_opt, const char *key_opt, char *err,
                     size_t errcap)
{
    struct tls_ctx *t = calloc(1, sizeof(*t));
    char why[512];

    if (t == NULL) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    ERR_clear_error();
    t->ssl = SSL_CTX_new(TLS_server_method());
    if (t->ssl == NULL)
        goto fail_ssl;
    if (SSL_CTX_set_min_proto_version(t->ssl, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(t->ssl, TLS12_CIPHERS) != 1)
        goto fail_ssl;
    SSL_CTX_set_options(t->ssl, SSL_OP_NO_RENEGOTIATION |
                                    SSL_OP_NO_COMPRESSION |
                                    SSL_OP_CIPHER_SERVER_PREFERENCE |
                                    SSL_OP_IGNORE_UNEXPECTED_EOF);
    tls_ctx_modes(t->ssl);
    if (tls_load_pair(t->ssl, cert_file, key_file, cert_opt, key_opt, err,
                      errcap) != 0)
        goto fail;
    tls_fill_identity(t);
    return t;
fail_ssl:
    tls_queue_str(why, sizeof(why));
    snprintf(err, errcap, "TLS setup: %s", why);
fail:
    tls_ctx_free(&t);
    return NULL;
}

void
tls_ctx_free(struct tls_ctx **ctx)
{
    if (*ctx == NULL)
        return;
    SSL_CTX_free((*ctx)->ssl);
    free(*ctx);
    *ctx = NULL;
}

/* Keeps the handshake going whatever the client's certificate: the verdict
 * is read afterwards (tls_peer_identity), so the operator is told in
 * words instead of seeing a handshake alert. */
static int
tls_verify_later(int ok, X509_STORE_CTX *x)
{
    (void)ok;
    (void)x;
    return 1;
}

int
tls_ctx_client_ca(struct tls_ctx *ctx, const char *ca_file, char *err,
                  size_t errcap)
{
    STACK_OF(X509_NAME) * names;
    char why[512];

    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(ctx->ssl, ca_file, NULL) != 1) {
        tls_queue_str(why, sizeof(why));
        snprintf(err, errcap, "%s: %s", ca_file, why);
        return -1;
    }
    /* The CAs named in the CertificateRequest, so clients pick a match. */
    if ((names = SSL_load_client_CA_file(ca_file)) != NULL)
        SSL_CTX_set_client_CA_list(ctx->ssl, names);
    SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER, tls_verify_later);
    SSL_CTX_set_verify_depth(ctx->ssl, 4);
    ERR_clear_error();
    return 0;
}

static int tls_cert_cn(X509 *cert, char *out, size_t cap);

int
tls_peer_identity(struct bufferevent *bev, char *cn, size_t cncap, char *why,
                  size_t whycap)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    X509 *peer;
    long vr;

    cn[0] = '\0';
    why[0] = '\0';
    if (ssl == NULL || (peer = SSL_get0_peer_certificate(ssl)) == NULL)
        return 0;
    if ((vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
        snprintf(why, whycap, "%s", X509_verify_cert_error_string(vr));
        return -1;
    }
    if (tls_cert_cn(peer, cn, cncap) != 0) {
        snprintf(why, whycap, "the certificate has no usable subject CN");
        return -1;
    }
    for (size_t i = 0; cn[i]; i++)
        if ((unsigned char)cn[i] < 0x21 || (unsigned char)cn[i] > 0x7e) {
            snprintf(why, whycap,
                     "the certificate's subject CN is not "
                     "printable ASCII without spaces");
            cn[0] = '\0';
            return -1;
        }
    return 1;
}

const char *
tls_ctx_thumbprint(const struct tls_ctx *ctx)
{
    return ctx->thumbprint;
}

const char *
tls_ctx_subject(const struct tls_ctx *ctx)
{
    return ctx->subject;
}

struct bufferevent *
tls_accept_bev(struct tls_ctx *ctx, struct event_base *base, int fd,
               int options, char *why, size_t whycap)
{
    SSL *ssl;
    struct bufferevent *bev;

    ERR_clear_error();
    if ((ssl = SSL_new(ctx->ssl)) == NULL) {
        unsigned long e = ERR_get_error();

        snprintf(why, whycap, "SSL_new failed: %s",
                 e ? ERR_reason_error_string(e) : "no reason given");
        ERR_clear_error();
        evutil_closesocket(fd);
        return NULL;
    }
    /* On failure libevent frees the SSL (CLOSE_ON_FREE) but cannot reach
     * the fd through it (libevent#1774): close it here. */
    bev =
        bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                       options | BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        snprintf(why, whycap,
                 "the TLS bufferevent could not be made "
                 "(out of memory or descriptors)");
        ERR_clear_error();
        evutil_closesocket(fd);
        return NULL;
    }
    /* OpenSSL 3 already maps a missing close_notify to EOF
     * (SSL_OP_IGNORE_UNEXPECTED_EOF); this covers the SYSCALL path. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

void
tls_describe(struct bufferevent *bev, char *out, size_t cap)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);

    if (ssl == NULL) {
        snprintf(out, cap, "-");
        return;
    }
    snprintf(out, cap, "%s %s", SSL_get_version(ssl),
             SSL_get_cipher_name(ssl) ? SSL_get_cipher_name(ssl) : "?");
}

void
tls_error_str(struct bufferevent *bev, char *out, size_t cap)
{
    unsigned long e;
    size_t len = 0;
    int serr = EVUTIL_SOCKET_ERROR();

    out[0] = '\0';
    while ((e = bufferevent_get_openssl_error(bev)) != 0) {
        char one[256];

        /* libevent also records SSL_get_error() codes (small numbers)
         * among the packed OpenSSL errors: only the latter say why. */
        if (e < 256)
            continue;
        ERR_error_string_n(e, one, sizeof(one));
        if (len < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s%s",
                                    len ? "; " : "", one);
    }
    ERR_clear_error();
    if (out[0] == '\0')
        snprintf(out, cap, "%s",
                 serr ? evutil_socket_error_to_string(serr)
                      : "connection closed");
}

size_t
tls_move_pending(struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t moved = 0;

    if (ssl == NULL || !SSL_is_init_finished(ssl))
        return 0;
    /* SSL_pending counts plaintext of the record already decrypted:
     * reading it never touches the socket. At most one record (16 KiB). */
    while (SSL_pending(ssl) > 0) {
        uint8_t buf[16384];
        int r = SSL_read(ssl, buf, (int)sizeof(buf));

        if (r <= 0) {
            ERR_clear_error();
            break;
        }
        evbuffer_add(in, buf, (size_t)r);
        moved += (size_t)r;
    }
    return moved;
}

void
tls_close_notify(struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);

    if (ssl == NULL || !SSL_is_init_finished(ssl))
        return;
    /* Non-blocking socket: one attempt, whatever the outcome. */
    (void)SSL_shutdown(ssl);
    ERR_clear_error();
}

/* ---- the peer link: mutual TLS 1.3 under a cluster CA -------------------- */

/* cert's one subject CN into out, control characters as '?': 0, or -1
 * (none, several, empty, not a string, or cap - 1 bytes or longer). */
static int
tls_cert_cn(X509 *cert, char *out, size_t cap)
{
    X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
    int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    unsigned char *u = NULL;
    int n;

    out[0] = '\0';
    if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
        return -1;
    n = ASN1_STRING_to_UTF8(
        &u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    if (n <= 0 || (size_t)n >= cap) {
        OPENSSL_free(u);
        return -1;
    }
    for (int k = 0; k < n; k++)
        out[k] = u[k] < 0x20 || u[k] == 0x7f ? '?' : (char)u[k];
    out[n] = '\0';
    OPENSSL_free(u);
    return 0;
}

/* Does the context's own certificate chain to its trusted CA? A node whose
 * certificate another CA signed would be refused by every peer: better
 * said at startup. 0, or -1 with the reason. */
static int
tls_verify_own(SSL_CTX *ssl, char *why, size_t cap)
{
    X509_STORE_CTX *x = X509_STORE_CTX_new();
    STACK_OF(X509) *chain = NULL;
    int ok;

    if (x == NULL) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    SSL_CTX_get0_chain_certs(ssl, &chain);
    ok = X509_STORE_CTX_init(x, SSL_CTX_get_cert_store(ssl),
                             SSL_CTX_get0_certificate(ssl), chain) == 1 &&
         X509_verify_cert(x) == 1;
    if (!ok)
        snprintf(why, cap, "%s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
    X509_STORE_CTX_free(x);
    ERR_clear_error();
    return ok ? 0 : -1;
}

struct tls_ctx *
tls_mutual_new(const char *cert_file, const char *key_file, const char *ca_file,
               char *err, size_t errcap)
{
    struct tls_ctx *t = calloc(1, sizeof(*t));
    STACK_OF(X509_NAME) * names;
    char why[512];

    if (t == NULL) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    ERR_clear_error();
    /* One context for both ends: TLS_method, and each SSL made from it is
     * set to connect or accept by its bufferevent. */
    if ((t->ssl = SSL_CTX_new(TLS_method())) == NULL ||
        SSL_CTX_set_min_proto_version(t->ssl, TLS1_3_VERSION) != 1) {
        tls_queue_str(why, sizeof(why));
        snprintf(err, errcap, "peer TLS setup: %s", why);
        goto fail;
    }
    /* No resumption (a resumed session skips the certificates). */
    SSL_CTX_set_options(t->ssl, SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET |
                                    SSL_OP_IGNORE_UNEXPECTED_EOF);
    tls_ctx_modes(t->ssl);
    if (tls_load_pair(t->ssl, cert_file, key_file, "--peer-tls-cert",
                      "--peer-tls-key", err, errcap) != 0)
        goto fail;
    /* Only the cluster CA: never the system's trust store. */
    if (SSL_CTX_load_verify_locations(t->ssl, ca_file, NULL) != 1) {
        tls_queue_str(why, sizeof(why));
        snprintf(err, errcap, "--peer-ca %s: %s", ca_file, why);
        goto fail;
    }
    if (tls_verify_own(t->ssl, why, sizeof(why)) != 0) {
        snprintf(err, errcap,
                 "--peer-tls-cert %s does not verify against "
                 "--peer-ca %s: %s",
                 cert_file, ca_file, why);
        goto fail;
    }
    if ((names = SSL_load_client_CA_file(ca_file)) != NULL)
        SSL_CTX_set_client_CA_list(t->ssl, names);
    /* Both ways: an acceptor requires the dialer's certificate, a dialer
     * verifies the acceptor's; a failure ends the handshake. */
    SSL_CTX_set_verify(t->ssl,
                       SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    ERR_clear_error();
    tls_fill_identity(t);
    return t;
fail:
    tls_ctx_free(&t);
    return NULL;
}

int
tls_ctx_cn(const struct tls_ctx *ctx, char *out, size_t cap)
{
    return tls_cert_cn(SSL_CTX_get0_certificate(ctx->ssl), out, cap);
}

struct bufferevent *
tls_connect_bev(struct tls_ctx *ctx, struct event_base *base, int fd,
                int options, char *why, size_t whycap)
{
    SSL *ssl;
    struct bufferevent *bev = NULL;

    ERR_clear_error();
    if ((ssl = SSL_new(ctx->ssl)) == NULL) {
        unsigned long e = ERR_get_error();

        snprintf(why, whycap, "SSL_new failed: %s",
                 e ? ERR_reason_error_string(e) : "no reason given");
    } else if ((bev = bufferevent_openssl_socket_new(
                    base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
                    options | BEV_OPT_CLOSE_ON_FREE)) == NULL) {
        /* libevent freed the SSL (CLOSE_ON_FREE). */
        snprintf(why, whycap,
                 "the TLS bufferevent could not be made "
                 "(out of memory or descriptors)");
    }
    ERR_clear_error();
    if (bev == NULL && fd >= 0)
        evutil_closesocket(fd);
    return bev;
}

int
tls_peer_cn(struct bufferevent *bev, char *out, size_t cap)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    X509 *peer;

    out[0] = '\0';
    /* X509_V_OK also when no certificate came: ask for it. */
    if (ssl == NULL || !SSL_is_init_finished(ssl) ||
        SSL_get_verify_result(ssl) != X509_V_OK ||
        (peer = SSL_get0_peer_certificate(ssl)) == NULL)
        return -1;
    return tls_cert_cn(peer, out, cap);
}

int
tls_failure_str(struct bufferevent *bev, char *out, size_t cap)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    unsigned long e;
    size_t len = 0;
    int n = 0, serr = EVUTIL_SOCKET_ERROR();
    long vr;

    out[0] = '\0';
    while ((e = bufferevent_get_openssl_error(bev)) != 0) {
        char one[256];

        if (e < 256) /* an SSL_get_error() code, not a reason */
            continue;
        n++;
        ERR_error_string_n(e, one, sizeof(one));
        if (len < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s%s",
                                    len ? "; " : "", one);
    }
    ERR_clear_error();
    /* What was wrong with the certificate, when that was it. */
    if (n && ssl && (vr = SSL_get_verify_result(ssl)) != X509_V_OK && len < cap)
        snprintf(out + len, cap - len, " (%s)",
                 X509_verify_cert_error_string(vr));
    if (n == 0)
        snprintf(out, cap, "%s",
                 serr ? evutil_socket_error_to_string(serr)
                      : "connection closed");
    return n;
}

size_t
tls_read_pending(struct bufferevent *bev, size_t max)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t moved = 0;

    if (ssl == NULL || !SSL_is_init_finished(ssl))
        return 0;
    while (moved < max && SSL_pending(ssl) > 0) {
        size_t want = (size_t)SSL_pending(ssl);
        struct evbuffer_iovec v;
        int r;

        want = want < max - moved ? want : max - moved;
        if (evbuffer_reserve_space(in, (ev_ssize_t)want, &v, 1) != 1)
            break;
        v.iov_len = v.iov_len < want ? v.iov_len : want;
        if ((r = SSL_read(ssl, v.iov_base, (int)v.iov_len)) <= 0) {
            evbuffer_commit_space(in, &v, 0);
            ERR_clear_error();
            break;
        }
        v.iov_len = (size_t)r;
        evbuffer_commit_space(in, &v, 1);
        moved += (size_t)r;
    }
    return moved;
}
