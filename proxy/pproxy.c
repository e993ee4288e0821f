/* pproxy.c: see pproxy.h. */
#include "vspc/compat.h"
#include "pproxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

enum { ST_DETECT = 0, ST_V1, ST_V2, ST_DONE, ST_ERR };

static const uint8_t pp_v1_sig[6] = {'P', 'R', 'O', 'X', 'Y', ' '};
static const uint8_t pp_v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                      0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

void
pp_init(struct pp *pp)
{
    memset(pp, 0, sizeof(*pp));
    pp->st = ST_DETECT;
}

const char *
pp_error(const struct pp *pp)
{
    return pp->err ? pp->err : "no error";
}

const struct pp_info *
pp_info(const struct pp *pp)
{
    return pp->st == ST_DONE ? &pp->info : NULL;
}

size_t
pp_want(const struct pp *pp)
{
    size_t total;

    switch (pp->st) {
    case ST_DETECT:
        return PP_V1_MAX;
    case ST_V1:
        return PP_V1_MAX - pp->n;
    case ST_V2:
        if (pp->n < PP_V2_HDR)
            return PP_V2_HDR - pp->n;
        total = PP_V2_HDR + ((size_t)pp->buf[14] << 8 | pp->buf[15]);
        return total - pp->n;
    default:
        return 0;
    }
}

static enum pp_status
pp_fail(struct pp *pp, const char *why)
{
    pp->st = ST_ERR;
    pp->err = why;
    return PP_ERROR;
}

/* ---- v1 ------------------------------------------------------------------ */

/* A decimal port: 1-5 digits, no leading zero, at most 65535. */
static int
pp_v1_port(const char *s, size_t n, uint16_t *out)
{
    unsigned long v = 0;

    if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

static int
pp_v1_addr(int af, const char *s, size_t n, uint16_t port,
           struct sockaddr_storage *ss)
{
    char tmp[INET6_ADDRSTRLEN + 1];

    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (af == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;

        if (inet_pton(AF_INET, tmp, &sin->sin_addr) != 1)
            return -1;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

        if (inet_pton(AF_INET6, tmp, &sin6->sin6_addr) != 1)
            return -1;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
    }
    return 0;
}

/* buf holds "PROXY ...\r\n" (n bytes, the LF last). */
static enum pp_status
pp_v1_parse(struct pp *pp)
{
    const char *line = (const char *)pp->buf + sizeof(pp_v1_sig);
    size_t len, nf = 0, start = 0;
    const char *f[5];
    size_t fl[5];
    uint16_t sport, dport;
    int af;

    if (pp->n < sizeof(pp_v1_sig) + 2 || pp->buf[pp->n - 2] != '\r')
        return pp_fail(pp, "v1 line does not end with CRLF");
    len = pp->n - sizeof(pp_v1_sig) - 2;
    for (size_t i = 0; i < len; i++)
        if (line[i] == '\r' || line[i] == '\0')
            return pp_fail(pp, "v1 line holds a control byte");
    if (len >= 7 && memcmp(line, "UNKNOWN", 7) == 0 &&
        (len == 7 || line[7] == ' ')) {
        /* The rest is ignored; the connection's addresses apply. */
        pp->info.has_addr = false;
        return PP_DONE;
    }
    /* PROTO SRC DST SPORT DPORT, single spaces. */
    for (size_t i = 0; i <= len; i++) {
        if (i < len && line[i] != ' ')
            continue;
        if (nf == 5 || i == start)
            return pp_fail(pp, "v1 line: wrong fields");
        f[nf] = line + start;
        fl[nf++] = i - start;
        start = i + 1;
    }
    if (nf != 5)
        return pp_fail(pp, "v1 line: wrong fields");
    if (fl[0] == 4 && memcmp(f[0], "TCP4", 4) == 0)
        af = AF_INET;
    else if (fl[0] == 4 && memcmp(f[0], "TCP6", 4) == 0)
        af = AF_INET6;
    else
        return pp_fail(pp, "v1 line: protocol is not TCP4, TCP6, UNKNOWN");
    if (pp_v1_port(f[3], fl[3], &sport) != 0 ||
        pp_v1_port(f[4], fl[4], &dport) != 0)
        return pp_fail(pp, "v1 line: bad port");
    if (pp_v1_addr(af, f[1], fl[1], sport, &pp->info.src) != 0 ||
        pp_v1_addr(af, f[2], fl[2], dport, &pp->info.dst) != 0)
        return pp_fail(pp, "v1 line: bad address");
    pp->info.has_addr = true;
    return PP_DONE;
}

/* ---- v2 ------------------------------------------------------------------ */

/* Bytes of the address block for a family byte; -1 if not a stream. */
static int
pp_v2_addr_len(uint8_t fam)
{
    switch (fam) {
    case 0x00:
        return 0; /* UNSPEC */
    case 0x11:
        return 12; /* TCP over IPv4 */
    case 0x21:
        return 36; /* TCP over IPv6 */
    case 0x31:
        return 216; /* unix stream */
    default:
        return -1;
    }
}

/* The 16-byte fixed part is in: check it before taking the rest. */
static enum pp_status
pp_v2_check_fixed(struct pp *pp)
{
    uint8_t ver = pp->buf[12] >> 4, cmd = pp->buf[12] & 0x0F;
    size_t len = (size_t)pp->buf[14] << 8 | pp->buf[15];
    int alen = pp_v2_addr_len(pp->buf[13]);

    if (ver != 2)
        return pp_fail(pp, "v2: version is not 2");
    if (cmd > 1)
        return pp_fail(pp, "v2: command is neither LOCAL nor PROXY");
    if (PP_V2_HDR + len > PP_V2_MAX)
        return pp_fail(pp, "v2: header too long");
    if (cmd == 1 && alen < 0)
        return pp_fail(pp, "v2: not a stream protocol");
    if (cmd == 1 && len < (size_t)alen)
        return pp_fail(pp, "v2: address block truncated");
    return PP_MORE;
}

static int
pp_v2_tlvs_ok(const uint8_t *p, size_t n)
{
    size_t off = 0;

    while (off < n) {
        size_t l;

        if (n - off < 3)
            return -1;
        l = (size_t)p[off + 1] << 8 | p[off + 2];
        if (l > n - off - 3)
            return -1;
        off += 3 + l;
    }
    return 0;
}

static enum pp_status
pp_v2_finish(struct pp *pp)
{
    size_t len = pp->n - PP_V2_HDR;
    uint8_t cmd = pp->buf[12] & 0x0F, fam = pp->buf[13];
    int alen = pp_v2_addr_len(fam);
    const uint8_t *a = pp->buf + PP_V2_HDR;

    if (alen < 0 || (size_t)alen > len) {
        /* LOCAL with an odd family: the whole block is ignored. */
        pp->info.tlv = a + len;
        pp->info.tlv_len = 0;
        pp->info.has_addr = false;
        return PP_DONE;
    }
    pp->info.tlv = a + alen;
    pp->info.tlv_len = len - (size_t)alen;
    if (pp_v2_tlvs_ok(pp->info.tlv, pp->info.tlv_len) != 0)
        return pp_fail(pp, "v2: malformed TLV");
    pp->info.has_addr = false;
    if (cmd != 1)
        return PP_DONE; /* LOCAL: health check, real addresses */
    if (fam == 0x11) {
        struct sockaddr_in *s = (struct sockaddr_in *)&pp->info.src;
        struct sockaddr_in *d = (struct sockaddr_in *)&pp->info.dst;

        s->sin_family = d->sin_family = AF_INET;
        memcpy(&s->sin_addr, a, 4);
        memcpy(&d->sin_addr, a + 4, 4);
        memcpy(&s->sin_port, a + 8, 2);
        memcpy(&d->sin_port, a + 10, 2);
        pp->info.has_addr = true;
    } else if (fam == 0x21) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&pp->info.src;
        struct sockaddr_in6 *d = (struct sockaddr_in6 *)&pp->info.dst;

        s->sin6_family = d->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, a, 16);
        memcpy(&d->sin6_addr, a + 16, 16);
        memcpy(&s->sin6_port, a + 32, 2);
        memcpy(&d->sin6_port, a + 34, 2);
        pp->info.has_addr = true;
    }
    return PP_DONE;
}

/* ---- feeding ------------------------------------------------------------- */

static enum pp_status
pp_done(struct pp *pp, enum pp_status st)
{
    if (st == PP_DONE) {
        pp->st = ST_DONE;
        pp->info.hdr_len = pp->n;
    }
    return st;
}

enum pp_status
pp_feed(struct pp *pp, const uint8_t *p, size_t n, size_t *used)
{
    size_t i = 0;
    enum pp_status st = PP_MORE;

    *used = 0;
    if (pp->st == ST_DONE)
        return PP_DONE;
    if (pp->st == ST_ERR)
        return PP_ERROR;
    while (i < n && st == PP_MORE) {
        uint8_t c = p[i];

        if (pp->st == ST_DETECT) {
            if (c == pp_v1_sig[0]) {
                pp->st = ST_V1;
                pp->info.version = 1;
            } else if (c == pp_v2_sig[0]) {
                pp->st = ST_V2;
                pp->info.version = 2;
            } else {
                i++;
                st = pp_fail(pp, "no PROXY protocol header");
                break;
            }
        }
        if (pp->st == ST_V1) {
            i++;
            if (pp->n < sizeof(pp_v1_sig) && c != pp_v1_sig[pp->n])
                st = pp_fail(pp, "v1: bad signature");
            else if (pp->n >= PP_V1_MAX)
                st = pp_fail(pp, "v1: line longer than 107 bytes");
            else if ((pp->buf[pp->n++] = c) == '\n')
                st = pp_done(pp, pp_v1_parse(pp));
            continue;
        }
        if (pp->n < sizeof(pp_v2_sig)) {
            i++;
            if (c != pp_v2_sig[pp->n])
                st = pp_fail(pp, "v2: bad signature");
            else
                pp->buf[pp->n++] = c;
            continue;
        }
        if (pp->n < PP_V2_HDR) {
            pp->buf[pp->n++] = c;
            i++;
            if (pp->n == PP_V2_HDR)
                st = pp_v2_check_fixed(pp);
        } else {
            size_t k = pp_want(pp);

            if (k > n - i)
                k = n - i;
            memcpy(pp->buf + pp->n, p + i, k);
            pp->n += k;
            i += k;
        }
        if (st == PP_MORE && pp->n >= PP_V2_HDR && pp_want(pp) == 0)
            st = pp_done(pp, pp_v2_finish(pp));
    }
    *used = i;
    return st;
}

int
pp_tlv_next(const struct pp_info *in, size_t *off, uint8_t *type,
            const uint8_t **val, size_t *len)
{
    size_t l;

    if (in->version != 2 || *off + 3 > in->tlv_len)
        return 0;
    l = (size_t)in->tlv[*off + 1] << 8 | in->tlv[*off + 2];
    if (l > in->tlv_len - *off - 3)
        return 0;
    *type = in->tlv[*off];
    *val = in->tlv + *off + 3;
    *len = l;
    *off += 3 + l;
    return 1;
}
