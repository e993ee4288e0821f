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

    out[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        char one[256];

        ERR_error_string_n(e, one, sizeof(one));
        if (len < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s%s",
                                    len ? "; " : "", one);
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

struct tls_ctx *
tls_server_new(const char *cert_file, const char *key_file, char *err,
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
    SSL_CTX_set_session_cache_mode(t->ssl, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(t->ssl, 0);
    /* libevent writes from its evbuffer chunks: they move between
     * retries. */
    SSL_CTX_set_mode(t->ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                 SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (SSL_CTX_use_certificate_chain_file(t->ssl, cert_file) != 1) {
        tls_queue_str(why, sizeof(why));
        snprintf(err, errcap, "--tls-cert %s: %s", cert_file, why);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(t->ssl, key_file, SSL_FILETYPE_PEM) != 1) {
        tls_queue_str(why, sizeof(why));
        snprintf(err, errcap, "--tls-key %s: %s", key_file, why);
        goto fail;
    }
    if (SSL_CTX_check_private_key(t->ssl) != 1) {
        tls_queue_str(why, sizeof(why));
        snprintf(err, errcap, "--tls-key %s does not match --tls-cert %s: %s",
                 key_file, cert_file, why);
        goto fail;
    }
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
