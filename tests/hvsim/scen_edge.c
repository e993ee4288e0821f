/*
 * scen_edge.c: scenarios 301-304, the hypervisor listeners' edges.
 *
 * 301 edge_pp_v1  (--proxy-protocol): TCP4, TCP6 and UNKNOWN headers, one
 *     sent a byte per segment; `list` shows the header's client address;
 *     no header or a malformed one: closed before any telnet answer.
 * 302 edge_pp_v2  (--proxy-protocol): TCP4 with TLVs in the same segment
 *     as the telnet bytes, TCP6, LOCAL (the connection's own address);
 *     oversize and bad-version headers closed.
 * 303 edge_allow  (--allow 127.0.0.2/32 --allow 2001:db8::/32): a source
 *     outside the list is closed at once, an allowed one works.
 * 304 edge_pp_tls (--proxy-protocol --allow 127.0.0.0/8 --allow
 *     192.0.2.0/24, telnets): the header precedes the TLS handshake;
 *     header sources are checked against the allow-list.
 * 305 edge_takeover (--proxy-protocol, 192.0.2.0/24 allowed): a second
 *     connection from another host claims a live console outside a
 *     vMotion: it takes the console (--takeover replace, the default),
 *     the operator is warned in-band naming both hosts, the old one is
 *     closed, the operator's input goes to the newcomer. The same host
 *     reconnecting is not a warning.
 * 306 edge_takeover_refuse (the same with --takeover refuse): the
 *     newcomer is closed, the live connection keeps the console (data
 *     both ways), the operator is told of the refusal.
 */
#include "vspc/compat.h"

#include "scen_edge.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

static const char *const edge_names[] = {
    "edge_pp_v1",  "edge_pp_v2",    "edge_allow",
    "edge_pp_tls", "edge_takeover", "edge_takeover_refuse"};

const char *
edge_name(int n)
{
    if (n < EDGE_FIRST || n > EDGE_LAST)
        return NULL;
    return edge_names[n - EDGE_FIRST];
}

/* `list` shows console id with hv=<want...> (prefix). */
static bool
hv_shows(struct scen *s, const char *id, const char *want)
{
    struct scr_conn *op = scr_op_connect(s->op);
    struct scr_console con;

    if (!op || !scr_op_wait_console(op, id, "connected", SCR_T_ANSWER) ||
        scr_op_find(op, id, &con) != 1)
        return false;
    scr_close(op);
    if (strncmp(con.hv, want, strlen(want)) == 0)
        return true;
    scr_fail(__FILE__, __LINE__, "console %s: list shows hv=%s, want %s", id,
             con.hv, want);
    return false;
}

/* Connect (plain port, or TLS when tls), send the raw header, run the
 * handshake as VM vmno, check data both ways and what `list` shows. */
static bool
vm_behind(struct scen *s, bool tls, const void *hdr, size_t n, unsigned vmno,
          int split, const char *want_hv)
{
    char text[48], norm[VMX_UUID_HEX + 1], name[32];
    struct scr_hs hs = {0};
    struct scr_conn *c, *op;

    snprintf(name, sizeof(name), "vm-%u", vmno);
    if (tls) {
        c = scen_tls_connect(s, name, false, hdr, n);
    } else {
        c = scr_connect(s->vm, name, 3000);
        if (c) {
            c->split = split;
            if (!scr_send(c, hdr, n))
                return false;
            c->split = 0;
        }
    }
    if (!c)
        return false;
    scr_uuid(vmno, text, norm);
    hs.uuid = text;
    hs.name = name;
    if (!scr_handshake(c, &hs) || !hv_shows(s, norm, want_hv))
        return false;
    op = scen_op(s, norm, "rw");
    return op && scen_v2o(c, op, SEED_VM(vmno), 0, 1500) &&
           scen_o2v(op, c, SEED_OP(vmno), 0, 500);
}

/* Sends bytes (maybe a bad header, then a telnet command): the proxy must
 * close without one byte of answer. */
static bool
refused(struct scen *s, bool tls, const void *p, size_t n, const char *what)
{
    static const uint8_t will_auth[] = {0xFF, 0xFB, 0x25};
    struct scr_conn *c = scr_connect(tls ? s->tls : s->vm, what, 3000);

    if (!c)
        return false;
    if (n)
        scr_send_quiet(c, p, n);
    scr_send_quiet(c, will_auth, sizeof(will_auth));
    if (!scr_expect_eof(c, SCR_T_ANSWER))
        return false;
    if (c->nraw != 0) {
        scr_fail(__FILE__, __LINE__,
                 "conn %s: %zu bytes answered before "
                 "the close",
                 what, c->nraw);
        scr_dump(c);
        return false;
    }
    scr_close(c);
    return true;
}

/* A v2 header: PROXY over fam, addresses (alen bytes), then TLVs. */
static size_t
v2(uint8_t *out, uint8_t vc, uint8_t fam, const uint8_t *body, size_t n)
{
    static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

    memcpy(out, sig, 12);
    out[12] = vc;
    out[13] = fam;
    out[14] = (uint8_t)(n >> 8);
    out[15] = (uint8_t)n;
    if (n)
        memcpy(out + 16, body, n);
    return 16 + n;
}

static size_t
v2_tcp4(uint8_t *out, const char *src, unsigned sport, bool tlvs)
{
    uint8_t body[64];
    size_t n = 12;

    inet_pton(AF_INET, src, body);
    inet_pton(AF_INET, "127.0.0.1", body + 4);
    body[8] = (uint8_t)(sport >> 8);
    body[9] = (uint8_t)sport;
    body[10] = 0x34;
    body[11] = 0x3A;
    if (tlvs) {
        memcpy(body + n,
               "\x02\x00\x07"
               "esx-01a",
               10);
        n += 10;
        memcpy(body + n,
               "\x04\x00\x03"
               "\x00\xff\x00",
               6);
        n += 6;
    }
    return v2(out, 0x21, 0x11, body, n);
}

#define S(x) (x), (sizeof(x) - 1)

static int
s_pp_v1(struct scen *s)
{
    TRY(vm_behind(s, false,
                  S("PROXY TCP4 192.0.2.77 127.0.0.1 41234 13370\r\n"), 3011, 0,
                  "192.0.2.77:41234"));
    TRY(vm_behind(s, false, S("PROXY TCP6 2001:db8::77 ::1 41235 13370\r\n"),
                  3012, 0, "[2001:db8::77]:41235"));
    TRY(vm_behind(s, false, S("PROXY UNKNOWN\r\n"), 3013, 0, "127.0.0.1:"));
    /* The header a byte per TCP segment. */
    TRY(vm_behind(s, false,
                  S("PROXY TCP4 198.51.100.1 127.0.0.1 65535 13370\r\n"), 3014,
                  1, "198.51.100.1:65535"));
    TRY(refused(s, false, NULL, 0, "no-header"));
    TRY(refused(s, false, S("PROXY TCP4 1.2.3.4\r\n"), "short-v1"));
    TRY(refused(s, false, S("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"),
                "leading-zero"));
    TRY(refused(s, false, S("GET / HTTP/1.1\r\n"), "http"));
    return SCEN_PASS;
}

static int
s_pp_v2(struct scen *s)
{
    uint8_t b[256], body[36];
    size_t n;

    /* Header and the host's first telnet bytes in one segment. */
    n = v2_tcp4(b, "198.51.100.7", 56308, true);
    TRY(vm_behind(s, false, b, n, 3021, 0, "198.51.100.7:56308"));
    memset(body, 0, sizeof(body));
    inet_pton(AF_INET6, "2001:db8::42", body);
    inet_pton(AF_INET6, "::1", body + 16);
    body[32] = 0x12;
    body[33] = 0x34;
    n = v2(b, 0x21, 0x21, body, sizeof(body));
    TRY(vm_behind(s, false, b, n, 3022, 2, "[2001:db8::42]:4660"));
    /* LOCAL: the connection's own address. */
    n = v2(b, 0x20, 0x00, NULL, 0);
    TRY(vm_behind(s, false, b, n, 3023, 0, "127.0.0.1:"));
    /* Oversize announced length; version 1; UDP. */
    n = v2(b, 0x21, 0x11, body, 12);
    b[14] = 0xFF;
    b[15] = 0xFF;
    TRY(refused(s, false, b, 16, "v2-oversize"));
    n = v2(b, 0x11, 0x11, body, 12);
    TRY(refused(s, false, b, n, "v2-version"));
    n = v2(b, 0x21, 0x12, body, 12);
    TRY(refused(s, false, b, n, "v2-udp"));
    return SCEN_PASS;
}

static int
s_allow(struct scen *s)
{
    /* Our default source, 127.0.0.1, is not on the list. */
    TRY(refused(s, false, NULL, 0, "from-127.0.0.1"));
    scr_set_source("127.0.0.2");
    TRY(vm_behind(s, false, NULL, 0, 3031, 0, "127.0.0.2:"));
    scr_set_source(NULL);
    TRY(refused(s, false, NULL, 0, "again-from-127.0.0.1"));
    return SCEN_PASS;
}

static int
s_pp_tls(struct scen *s)
{
    uint8_t b[256];
    size_t n;

    if (!s->tls || !s->tls_cert) {
        printf("not applicable: needs --tls ADDR and --tls-cert FILE\n");
        return SCEN_NA;
    }
    n = v2_tcp4(b, "192.0.2.9", 4242, true);
    TRY(vm_behind(s, true, b, n, 3041, 0, "192.0.2.9:4242"));
    TRY(vm_behind(s, true, S("PROXY TCP4 192.0.2.10 127.0.0.1 4243 13369\r\n"),
                  3042, 0, "192.0.2.10:4243"));
    /* The plain port too. */
    TRY(vm_behind(s, false, S("PROXY TCP4 192.0.2.11 127.0.0.1 4244 13370\r\n"),
                  3043, 0, "192.0.2.11:4244"));
    /* Header sources outside the list; TLS without a header. */
    n = v2_tcp4(b, "198.51.100.9", 4245, false);
    TRY(refused(s, true, b, n, "tls-denied-source"));
    TRY(refused(s, false,
                S("PROXY TCP4 198.51.100.10 127.0.0.1 4246 13370\r\n"),
                "denied-source"));
    TRY(refused(s, true, S("\x16\x03\x01\x00\x05hello"), "tls-no-header"));
    return SCEN_PASS;
}

/* VM vmno's connection from src:port (a PROXY v1 header), identified
 * (refused: the proxy is expected to close it instead of WILL-PROXY). */
static struct scr_conn *
vm_from(struct scen *s, unsigned vmno, const char *src, unsigned port,
        bool refused)
{
    char hdr[96], text[48], norm[VMX_UUID_HEX + 1], name[48];
    struct scr_hs hs = {0};
    struct scr_conn *c;

    snprintf(name, sizeof(name), "vm-%u@%s", vmno, src);
    snprintf(hdr, sizeof(hdr), "PROXY TCP4 %s 127.0.0.1 %u 13370\r\n", src,
             port);
    if ((c = scr_connect(s->vm, name, 3000)) == NULL ||
        !scr_send(c, hdr, strlen(hdr)))
        return NULL;
    scr_uuid(vmno, text, norm);
    hs.uuid = text;
    hs.name = name;
    hs.no_wait_proxy = refused;
    hs.no_comport = refused;
    return scr_handshake(c, &hs) ? c : NULL;
}

/* The operator's stream shows text; what follows it is read from there. */
static bool
op_sees(struct scr_conn *op, const char *text)
{
    long at = scen_wait_text(op, op->rd, text, SCR_T_ANSWER);

    if (at < 0)
        return false;
    op->rd = (size_t)at;
    return true;
}

static int
s_takeover(struct scen *s, bool refuse)
{
    const unsigned vm = refuse ? 3061 : 3051;
    char text[48], norm[VMX_UUID_HEX + 1], want[200];
    struct scr_conn *a, *b, *op, *obs;
    uint64_t off;

    scr_uuid(vm, text, norm);
    TRY((a = vm_from(s, vm, "192.0.2.21", 5001, false)) != NULL);
    /* op (raw) checks the bytes; obs (not raw) sees the notices. */
    TRY((op = scen_op(s, norm, "rw")) != NULL);
    TRY((obs = scr_op_connect(s->op)) != NULL);
    TRY(scr_op_attach(obs, norm, "ro", false, NULL, &off, false));
    TRY(scen_v2o(a, op, SEED_VM(vm), 0, 700));
    TRY((b = vm_from(s, vm, "192.0.2.22", 5002, refuse)) != NULL);
    if (refuse) {
        snprintf(want, sizeof(want),
                 "a connection from 192.0.2.22:5002 claimed this console and "
                 "was refused: 192.0.2.21:5001 keeps it]\r\n");
        TRY(op_sees(obs, want));
        TRY(scr_expect_eof(b, SCR_T_ANSWER));
        TRY(scen_v2o(a, op, SEED_VM(vm), 700, 700));
        TRY(scen_o2v(op, a, SEED_OP(vm), 0, 300));
        return SCEN_PASS;
    }
    snprintf(want, sizeof(want),
             "WARNING: this console's connection from 192.0.2.21:5001 was "
             "replaced by one from a DIFFERENT host, 192.0.2.22:5002 (not a "
             "vMotion)]\r\n");
    TRY(op_sees(obs, want));
    TRY(op_sees(obs, "hypervisor 192.0.2.22:5002 connected]\r\n"));
    TRY(scr_expect_eof(a, SCR_T_ANSWER));
    TRY(scen_v2o(b, op, SEED_VM(vm), 0, 700));
    TRY(scen_o2v(op, b, SEED_OP(vm), 0, 300));
    /* The same host again (its port changed): replaced, no warning. */
    TRY((a = vm_from(s, vm, "192.0.2.22", 5003, false)) != NULL);
    TRY(op_sees(obs, "hypervisor 192.0.2.22:5003 connected]\r\n"));
    if (memmem(obs->data, obs->ndata, "DIFFERENT host, 192.0.2.22:5003", 31)) {
        scr_fail(__FILE__, __LINE__, "a reconnect from the same host warned");
        return SCEN_FAIL;
    }
    TRY(scr_expect_eof(b, SCR_T_ANSWER));
    return SCEN_PASS;
}

int
scen_edge(struct scen *s)
{
    switch (s->n) {
    case 301:
        return s_pp_v1(s);
    case 302:
        return s_pp_v2(s);
    case 303:
        return s_allow(s);
    case 304:
        return s_pp_tls(s);
    case 305:
        return s_takeover(s, false);
    case 306:
        return s_takeover(s, true);
    }
    return SCEN_FAIL;
}
