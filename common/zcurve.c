/*
 * zcurve.c: ZeroMQ CURVE keys, socket options and the ZAP handler
 * (vspc/zcurve.h).
 */
#include "vspc/compat.h"
#include "vspc/zcurve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "vspc/clock.h"
#include "vspc/log.h"
#include "vspc/ratelimit.h"
#include "vspc/zev.h"

#define ZC_MAX_CLIENTS 4096

bool
zc_key_valid(const char *z85)
{
    uint8_t bin[32];

    return z85 && strlen(z85) == ZC_Z85_LEN && zmq_z85_decode(bin, z85) != NULL;
}

/* The first line of f that is not empty or a comment, trimmed. */
static int
zc_read_line(FILE *f, char *out, size_t cap)
{
    char line[256];

    while (fgets(line, sizeof(line), f)) {
        char *p = line, *e;

        while (*p == ' ' || *p == '\t')
            p++;
        e = p + strlen(p);
        while (e > p && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' ||
                         e[-1] == '\t'))
            *--e = '\0';
        /* "# " starts a comment: Z85 has '#' but no space. */
        if (*p == '\0' || (p[0] == '#' && (p[1] == ' ' || p[1] == '\0')))
            continue;
        snprintf(out, cap, "%s", p);
        return 0;
    }
    return -1;
}

int
zc_load(struct zc_keys *k, const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "r");
    char line[256];

    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", file, strerror(errno));
        return -1;
    }
    if (zc_read_line(f, line, sizeof(line)) != 0 || !zc_key_valid(line)) {
        fclose(f);
        snprintf(err, errlen,
                 "%s: no CURVE secret key (40 Z85 characters; vspcctl keygen "
                 "makes one)",
                 file);
        return -1;
    }
    fclose(f);
    memcpy(k->secret, line, ZC_Z85_LEN + 1);
    if (zmq_curve_public(k->public_, k->secret) != 0) {
        snprintf(err, errlen, "%s: this libzmq has no CURVE", file);
        return -1;
    }
    k->on = true;
    return 0;
}

int
zc_server(void *sock, const struct zc_keys *k)
{
    int one = 1;

    if (!k->on)
        return 0;
    return zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) == 0 &&
                   zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->secret,
                                  ZC_Z85_LEN) == 0
               ? 0
               : -1;
}

int
zc_client(void *sock, const struct zc_keys *k)
{
    if (!k->on)
        return 0;
    return zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, k->server, ZC_Z85_LEN) ==
                       0 &&
                   zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, k->public_,
                                  ZC_Z85_LEN) == 0 &&
                   zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->secret,
                                  ZC_Z85_LEN) == 0
               ? 0
               : -1;
}

int
zc_keypair(char public_[ZC_Z85_LEN + 1], char secret[ZC_Z85_LEN + 1])
{
    if (!zmq_has("curve"))
        return -1;
    return zmq_curve_keypair(public_, secret) == 0 ? 0 : -1;
}

/* ---- the ZAP handler (RFC 27) --------------------------------------- */

struct zc_zap {
    struct zev *rep;
    uint8_t (*keys)[32];
    size_t n;
    unsigned long long ok, refused;
    struct rlim rl; /* the refusal line */
};

static bool
zc_listed(const struct zc_zap *z, const void *key, size_t n)
{
    if (n != 32)
        return false;
    for (size_t i = 0; i < z->n; i++)
        if (memcmp(z->keys[i], key, 32) == 0)
            return true;
    return false;
}

static void
zc_zap_msg(struct zev *ze, const struct zev_msg *m, void *arg)
{
    struct zc_zap *z = arg;
    bool ok;
    struct zev_frame r[6];
    char z85[ZC_Z85_LEN + 1] = "?";
    double now = clock_now();
    unsigned quiet;

    /* version, request id, domain, address, identity, mechanism, key */
    if (m->n < 6)
        return; /* not a ZAP request: no answer can be framed */
    ok = m->n == 7 && m->f[5].size == 5 &&
         memcmp(m->f[5].data, "CURVE", 5) == 0 &&
         zc_listed(z, m->f[6].data, m->f[6].size);
    r[0] = (struct zev_frame){"1.0", 3};
    r[1] = m->f[1];
    r[2] = ok ? (struct zev_frame){"200", 3} : (struct zev_frame){"400", 3};
    r[3] = ok ? (struct zev_frame){"OK", 2}
              : (struct zev_frame){"key not listed", 14};
    r[4] = (struct zev_frame){"", 0};
    r[5] = (struct zev_frame){"", 0};
    if (ok) {
        z->ok++;
    } else {
        z->refused++;
        if (m->n == 7 && m->f[6].size == 32)
            zmq_z85_encode(z85, m->f[6].data, 32);
        if (rlim_allow(&z->rl, now, 10.0, &quiet))
            log_warnx("curve: refused a connection from %.*s: key %s is not "
                      "in --curve-clients (%u more refused since the last "
                      "line)",
                      (int)m->f[3].size, (const char *)m->f[3].data, z85,
                      quiet);
    }
    zev_send(ze, r, 6);
}

static int
zc_add_key(struct zc_zap *z, const char *z85, char *err, size_t errlen)
{
    if (!zc_key_valid(z85)) {
        snprintf(err, errlen, "not a Z85 public key: %.60s", z85);
        return -1;
    }
    if (z->n >= ZC_MAX_CLIENTS) {
        snprintf(err, errlen, "more than %d client keys", ZC_MAX_CLIENTS);
        return -1;
    }
    zmq_z85_decode(z->keys[z->n++], z85);
    return 0;
}

struct zc_zap *
zc_zap_new(struct event_base *base, void *zctx, const char *clients_file,
           const char *extra, char *err, size_t errlen)
{
    struct zc_zap *z = calloc(1, sizeof(*z));
    FILE *f = NULL;
    char line[256];
    void *sock;

    if (z == NULL || (z->keys = calloc(ZC_MAX_CLIENTS, 32)) == NULL) {
        free(z);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (clients_file && (f = fopen(clients_file, "r")) == NULL) {
        snprintf(err, errlen, "%s: %s", clients_file, strerror(errno));
        goto fail;
    }
    while (f && zc_read_line(f, line, sizeof(line)) == 0)
        if (zc_add_key(z, line, err, errlen) != 0)
            goto fail;
    if (f)
        fclose(f);
    f = NULL;
    if (extra && zc_add_key(z, extra, err, errlen) != 0)
        goto fail;
    if ((sock = zmq_socket(zctx, ZMQ_REP)) == NULL ||
        zmq_bind(sock, "inproc://zeromq.zap.01") != 0) {
        snprintf(err, errlen, "ZAP handler: %s", zmq_strerror(errno));
        if (sock)
            zmq_close(sock);
        goto fail;
    }
    if ((z->rep = zev_new(base, sock, zc_zap_msg, z)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return z;
fail:
    if (f)
        fclose(f);
    free(z->keys);
    free(z);
    return NULL;
}

void
zc_zap_free(struct zc_zap **zp)
{
    if (*zp == NULL)
        return;
    zev_free(&(*zp)->rep);
    free((*zp)->keys);
    free(*zp);
    *zp = NULL;
}

void
zc_zap_counts(const struct zc_zap *z, unsigned long long *ok,
              unsigned long long *refused)
{
    *ok = z ? z->ok : 0;
    *refused = z ? z->refused : 0;
}
