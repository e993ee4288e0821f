/*
 * scen_tls.c: telnets:// (PROTOCOL.md 7.2): a TLS transport for scr_conn
 * (OpenSSL, client side) and scenarios 53 and 54 of section 10.
 *
 * 53: full handshake and vMotion over TLS (source on TLS 1.2, destination
 *     on TLS 1.3), the server certificate pinned by SHA-1 thumbprint; every
 *     byte value both ways; a failed TLS handshake next to live sessions
 *     closes that connection only.
 * 54: TLS records that coalesce (the whole handshake and data in one
 *     record) or split telnet commands (one byte per record); bursts of
 *     full 16 KiB records after which the client goes quiet (the socket
 *     shows nothing more, whatever OpenSSL holds decrypted must still be
 *     processed), before and after identification.
 */
#include "vspc/compat.h"

#include "scen_edge.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "pattern.h"

static const uint8_t seq4[] = {0x53, 0xFF, 0x00, 0x53};

/* ---- transport ----------------------------------------------------------- */

static ssize_t
tio_recv(struct scr_conn *c, void *buf, size_t n)
{
    SSL *ssl = c->io_arg;
    int r;

    ERR_clear_error();
    r = SSL_read(ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0)
        return r;
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        errno = ECONNRESET;
        return -1;
    }
}

static ssize_t
tio_send(struct scr_conn *c, const void *p, size_t n)
{
    SSL *ssl = c->io_arg;
    int r;

    ERR_clear_error();
    /* One SSL_write, one record (up to 16 KiB): callers shape records. */
    r = SSL_write(ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0)
        return r;
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    default:
        errno = EPIPE;
        return -1;
    }
}

static bool
tio_pending(struct scr_conn *c)
{
    return SSL_pending(c->io_arg) > 0;
}

static void
tio_close(struct scr_conn *c)
{
    SSL_free(c->io_arg);
    c->io_arg = NULL;
    c->io = NULL;
}

static const struct scr_io tls_io = {tio_recv, tio_send, tio_pending,
                                     tio_close};

static SSL_CTX *
cli_ctx(bool tls12)
{
    static SSL_CTX *ctx[2];
    SSL_CTX *c = ctx[tls12];

    if (c)
        return c;
    c = SSL_CTX_new(TLS_client_method());
    if (!c)
        return NULL;
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    if (tls12)
        SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* No CA: the certificate is pinned by thumbprint, like ESXi's
     * "#thumbprint=". */
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    ctx[tls12] = c;
    return c;
}

static bool
thumbprint(X509 *x, char out[64])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (!x || X509_digest(x, EVP_sha1(), md, &n) != 1 || n != 20)
        return false;
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 3 * i, 4, "%02X%s", md[i], i + 1 < n ? ":" : "");
    return true;
}

static bool
file_thumbprint(const char *path, char out[64])
{
    FILE *f = fopen(path, "r");
    X509 *x;
    bool ok;

    if (!f)
        return false;
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ok = thumbprint(x, out);
    X509_free(x);
    return ok;
}

static void
tls_err(const char *what, const char *name)
{
    char buf[256];
    unsigned long e = ERR_get_error();

    ERR_error_string_n(e, buf, sizeof(buf));
    scr_fail(__FILE__, __LINE__, "conn %s: %s: %s", name, what,
             e ? buf : "connection closed");
    ERR_clear_error();
}

/* Handshake on c (non-blocking socket), bounded by 3 s. */
static bool
tls_handshake(struct scr_conn *c, SSL *ssl)
{
    int64_t deadline = scr_now_ms() + SCR_T_ANSWER;

    for (;;) {
        int r = SSL_connect(ssl), e, left;
        struct pollfd pfd = {c->fd, 0, 0};

        if (r == 1)
            return true;
        e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ)
            pfd.events = POLLIN;
        else if (e == SSL_ERROR_WANT_WRITE)
            pfd.events = POLLOUT;
        else {
            tls_err("TLS handshake failed", c->name);
            return false;
        }
        left = (int)(deadline - scr_now_ms());
        if (left <= 0) {
            scr_fail(__FILE__, __LINE__, "conn %s: TLS handshake timed out",
                     c->name);
            return false;
        }
        poll(&pfd, 1, left);
    }
}

struct scr_conn *
scen_tls_connect(struct scen *s, const char *name, bool tls12, const void *pre,
                 size_t npre)
{
    struct scr_conn *c = scr_connect(s->tls, name, 3000);
    SSL_CTX *ctx = cli_ctx(tls12);
    char want[64], got[64];
    X509 *peer;
    SSL *ssl;

    if (!c)
        return NULL;
    if (!ctx || !(ssl = SSL_new(ctx))) {
        tls_err("SSL_new", name);
        return NULL;
    }
    SSL_set_fd(ssl, c->fd);
    if (npre && !scr_send(c, pre, npre)) {
        SSL_free(ssl);
        return NULL;
    }
    if (!tls_handshake(c, ssl)) {
        SSL_free(ssl);
        return NULL;
    }
    c->io = &tls_io;
    c->io_arg = ssl;
    if (tls12 && SSL_version(ssl) != TLS1_2_VERSION) {
        scr_fail(__FILE__, __LINE__, "conn %s: negotiated %s, want TLSv1.2",
                 name, SSL_get_version(ssl));
        return NULL;
    }
    /* The pin: the thumbprint the client sees equals the configured
     * certificate's. */
    peer = SSL_get1_peer_certificate(ssl);
    if (!thumbprint(peer, got) || !file_thumbprint(s->tls_cert, want) ||
        strcmp(got, want) != 0) {
        scr_fail(__FILE__, __LINE__,
                 "conn %s: server certificate thumbprint %s, pinned %s (%s)",
                 name, peer ? got : "(none)", want, s->tls_cert);
        X509_free(peer);
        return NULL;
    }
    X509_free(peer);
    printf("  %s: %s %s, thumbprint %s\n", name, SSL_get_version(ssl),
           SSL_get_cipher_name(ssl), got);
    return c;
}

/* ---- helpers ------------------------------------------------------------- */

static struct scr_conn *
tls_vm(struct scen *s, unsigned vmno, const char *cname, bool tls12,
       char id[VMX_CONSOLE_ID_MAX + 1])
{
    char text[48], norm[VMX_UUID_HEX + 1], name[32];
    struct scr_hs hs = {0};
    struct scr_conn *c = scen_tls_connect(s, cname, tls12, NULL, 0);

    if (!c)
        return NULL;
    scr_uuid(vmno, text, norm);
    snprintf(name, sizeof(name), "vm-%u", vmno);
    snprintf(id, VMX_CONSOLE_ID_MAX + 1, "%s", norm);
    hs.uuid = text;
    hs.name = name;
    return scr_handshake(c, &hs) ? c : NULL;
}

/* Every byte value, both ways, byte-exact. */
static bool
all_bytes(struct scr_conn *vm, struct scr_conn *op)
{
    uint8_t b[512];

    for (int i = 0; i < 512; i++)
        b[i] = (uint8_t)(i < 256 ? i : 511 - i);
    return scr_send_data(vm, b, sizeof(b)) &&
           scr_expect_data(op, b, sizeof(b), SCR_T_ANSWER) &&
           scr_send_data(op, b, sizeof(b)) &&
           scr_expect_data(vm, b, sizeof(b), SCR_T_ANSWER);
}

static bool
hv_is(struct scen *s, const char *id, const char *state, const char *hv_prefix)
{
    struct scr_conn *op = scr_op_connect(s->op);
    struct scr_console con;

    if (!op || !scr_op_wait_console(op, id, state, SCR_T_ANSWER) ||
        scr_op_find(op, id, &con) != 1)
        return false;
    scr_close(op);
    if (strncmp(con.hv, hv_prefix, strlen(hv_prefix)) == 0)
        return true;
    scr_fail(__FILE__, __LINE__, "console %s: list shows hv=%s, want %s...", id,
             con.hv, hv_prefix);
    return false;
}

/* Connections the TLS listener must refuse, each alone. */
static int
bad_handshakes(struct scen *s)
{
    static const char http[] = "GET / HTTP/1.0\r\n\r\n";
    /* A host's first negotiation, in clear: WILL AUTH, DO/WILL BINARY,
     * DO/WILL SGA (TLS needs 5 bytes to see a record header). */
    static const uint8_t telnet[] = {0xFF, 0xFB, 0x25, 0xFF, 0xFD,
                                     0x00, 0xFF, 0xFB, 0x00, 0xFF,
                                     0xFD, 0x03, 0xFF, 0xFB, 0x03};
    struct scr_conn *c;

    c = scr_connect(s->tls, "plain-http", 3000);
    TRY(c);
    TRY(scr_send(c, http, sizeof(http) - 1));
    TRY(scr_expect_eof(c, SCR_T_ANSWER));
    scr_close(c);
    c = scr_connect(s->tls, "plain-telnet", 3000);
    TRY(c);
    TRY(scr_send(c, telnet, sizeof(telnet)));
    TRY(scr_expect_eof(c, SCR_T_ANSWER));
    scr_close(c);
    return SCEN_PASS;
}

/* ---- 53 ------------------------------------------------------------------ */

static int
s_telnets(struct scen *s)
{
    char id[VMX_CONSOLE_ID_MAX + 1];
    uint8_t secret[VMX_SECRET_LEN];
    struct scr_conn *a, *b, *op;
    struct scr_hs hs = {0};
    char text[48], norm[VMX_UUID_HEX + 1];

    a = tls_vm(s, 53, "src-tls12", true, id);
    TRY(a);
    TRY(hv_is(s, id, "connected", "127.0.0.1:"));
    op = scen_op(s, id, "rw");
    TRY(op);
    TRY(all_bytes(a, op));
    TRY(scen_v2o(a, op, SEED_VM(53), 0, 3000));
    TRY(scen_o2v(op, a, SEED_OP(53), 0, 2000));
    /* vMotion: the destination host also speaks TLS (1.3 here). */
    TRY(scen_begin(a, seq4, sizeof(seq4), secret));
    b = scen_tls_connect(s, "dst-tls13", false, NULL, 0);
    TRY(b);
    scr_uuid(53, text, norm);
    hs.uuid = text;
    hs.name = "vm-53";
    hs.seq = seq4;
    hs.nseq = sizeof(seq4);
    hs.secret = secret;
    hs.nsecret = sizeof(secret);
    hs.expect_peer_ok = true;
    TRY(scr_handshake(b, &hs));
    TRY(scr_send_vmx(b, VMX_VMOTION_COMPLETE, seq4, sizeof(seq4)));
    TRY(scr_expect_eof(a, SCR_T_ANSWER));
    scr_close(a);
    /* A broken TLS client meanwhile affects nobody else. */
    TRY(bad_handshakes(s) == SCEN_PASS);
    TRY(scen_v2o(b, op, SEED_VM(53), 3000, 5000));
    TRY(scen_o2v(op, b, SEED_OP(53), 2000, 4000));
    TRY(all_bytes(b, op));
    TRY(scr_no_data(op, 100));
    TRY(scr_no_data(b, 0));
    TRY(hv_is(s, id, "connected", "127.0.0.1:"));
    return SCEN_PASS;
}

/* ---- 54 ------------------------------------------------------------------ */

/* The host's whole handshake plus ndata pattern bytes, as one buffer. */
static size_t
hs_bytes(uint8_t *b, size_t cap, const char *uuid, uint64_t seed, size_t ndata)
{
    static const uint8_t ks1[] = {0, 1, 2, 3, 40, 41, 42, 43, 44, 45, 46, 47};
    uint8_t *d = malloc(ndata ? ndata : 1);
    size_t len = 0;

    if (!d)
        exit(2);
    len = scr_put_hello(b, len, cap, ks1, sizeof(ks1), uuid, "vm-54");
    pat_fill(seed, 0, d, ndata);
    len = scr_put_data(b, len, cap, d, ndata);
    free(d);
    return len;
}

static bool
hs_answers(struct scr_conn *c)
{
    return scr_expect_neg(c, TN_DONT, TN_OPT_AUTH, SCR_T_ANSWER) &&
           scr_expect_neg(c, TN_DO, TN_OPT_VMWARE, SCR_T_ANSWER) &&
           scr_expect_vmx(c, VMX_KNOWN_SUBOPTIONS_2, NULL, SCR_T_ANSWER) &&
           scr_expect_vmx_exact(c, VMX_WILL_PROXY, "", 0, SCR_T_ANSWER);
}

/* n pattern bytes as records of `rec` plaintext bytes each (the last
 * shorter), all written before anything is read back. */
static bool
send_records(struct scr_conn *c, uint64_t seed, uint64_t off, size_t n,
             size_t rec)
{
    uint8_t *d = malloc(n), *w = malloc(2 * n + 1);
    size_t len, pos = 0;
    bool ok = true;

    if (!d || !w)
        exit(2);
    pat_fill(seed, off, d, n);
    len = scr_put_data(w, 0, 2 * n + 1, d, n);
    while (ok && pos < len) {
        size_t k = len - pos < rec ? len - pos : rec;

        ok = scr_send(c, w + pos, k);
        pos += k;
    }
    free(d);
    free(w);
    return ok;
}

static int
s_telnets_buffered(struct scen *s)
{
    char text[48], norm[VMX_UUID_HEX + 1], id[VMX_CONSOLE_ID_MAX + 1];
    size_t cap = 64 * 1024, len;
    uint8_t *b = malloc(cap);
    struct scr_conn *c, *op;
    struct scr_hs hs = {0};

    if (!b)
        exit(2);
    /* (a) Coalesced: handshake, identification and 6000 data bytes in ONE
     * TLS record (and one TCP segment). */
    c = scen_tls_connect(s, "one-record", false, NULL, 0);
    TRY(c);
    scr_uuid(540, text, norm);
    len = hs_bytes(b, cap, text, SEED_VM(540), 6000);
    CHECK(len <= 16384, "the coalesced record is %zu bytes", len);
    TRY(scr_send(c, b, len));
    TRY(hs_answers(c));
    op = scen_op(s, norm, "ro");
    TRY(op);
    TRY(scr_expect_pattern(op, SEED_VM(540), 0, 6000, SCR_T_ANSWER));
    scr_close(op);

    /* (b) Split: one byte per TLS record, so every telnet command (IAC
     * verb opt, IAC SB ... IAC SE, IAC IAC in data) spans records. */
    c = scen_tls_connect(s, "byte-records", true, NULL, 0);
    TRY(c);
    c->split = 1;
    c->split_gap_us = 50;
    scr_uuid(541, text, norm);
    hs.uuid = text;
    hs.name = "vm-541";
    TRY(scr_handshake(c, &hs));
    op = scen_op(s, norm, "rw");
    TRY(op);
    TRY(scen_v2o(c, op, SEED_VM(541), 0, 700));
    TRY(scen_o2v(op, c, SEED_OP(541), 0, 700));
    c->split = 0;
    scr_close(op);

    /* (c) Bursts of full records, then silence from the host: 192 KiB of
     * data (0xFF doubled) in 16 KiB records before the operator reads a
     * byte; then the same mid-stream in odd record sizes. Nothing may wait
     * inside OpenSSL for a readability that never comes. */
    c = tls_vm(s, 542, "burst", false, id);
    TRY(c);
    op = scen_op(s, id, "ro");
    TRY(op);
    TRY(send_records(c, SEED_VM(542), 0, 96 * 1024, 16384));
    TRY(scr_expect_pattern(op, SEED_VM(542), 0, 96 * 1024, 5000));
    TRY(send_records(c, SEED_VM(542), 96 * 1024, 96 * 1024, 16383));
    TRY(scr_expect_pattern(op, SEED_VM(542), 96 * 1024, 96 * 1024, 5000));
    TRY(send_records(c, SEED_VM(542), 192 * 1024, 40000, 4097));
    TRY(scr_expect_pattern(op, SEED_VM(542), 192 * 1024, 40000, 5000));
    TRY(scr_no_data(op, 100));

    /* (d) A burst before identification (held, then delivered). */
    c = scen_tls_connect(s, "pre-ident-burst", false, NULL, 0);
    TRY(c);
    TRY(scr_negotiate(c));
    TRY(send_records(c, SEED_VM(543), 0, 48 * 1024, 16384));
    scr_uuid(543, text, norm);
    len = scr_put_vmx(b, 0, cap, VMX_DO_PROXY, "SvSPC.py", 8);
    len = scr_put_vmx(b, len, cap, VMX_VM_VC_UUID, text, strlen(text));
    TRY(scr_send(c, b, len));
    TRY(scr_expect_vmx_exact(c, VMX_WILL_PROXY, "", 0, SCR_T_ANSWER));
    op = scen_op(s, norm, "ro");
    TRY(op);
    TRY(scr_expect_pattern(op, SEED_VM(543), 0, 48 * 1024, 5000));
    TRY(scr_no_data(op, 100));
    free(b);
    return SCEN_PASS;
}

int
scen_tls(struct scen *s)
{
    if (!s->tls || !s->tls_cert) {
        printf("not applicable: needs --tls ADDR and --tls-cert FILE\n");
        return SCEN_NA;
    }
    if (!scr_addr_ok(s->tls)) {
        fprintf(stderr, "scenario: --tls must be 127.x.x.x:PORT\n");
        return 2;
    }
    return s->n == 53 ? s_telnets(s) : s_telnets_buffered(s);
}
