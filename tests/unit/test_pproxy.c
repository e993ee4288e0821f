/*
 * test_pproxy.c: Check suite for the PROXY protocol parser
 * (proxy/pproxy.c): v1 TCP4/TCP6/UNKNOWN, v2 with TLVs, LOCAL, every
 * split position, bytes after the header left alone, malformed and
 * oversize headers. Also the source allow-list matcher (proxy/edge.c).
 */
#include "vspc/compat.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "pproxy.h"

#define TRAIL "\x16\x03\x01TLS" /* what follows the header */
#define NTRAIL 6

static const uint8_t v2sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                  0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* Builds a v2 header: sig, ver_cmd, fam, len, body. */
static size_t
v2(uint8_t *out, uint8_t vc, uint8_t fam, const uint8_t *body, size_t n)
{
    memcpy(out, v2sig, 12);
    out[12] = vc;
    out[13] = fam;
    out[14] = (uint8_t)(n >> 8);
    out[15] = (uint8_t)n;
    if (body)
        memcpy(out + 16, body, n);
    else
        memset(out + 16, 0, n);
    return 16 + n;
}

/*
 * Feeds hdr (hlen bytes) followed by TRAIL split at every position into two
 * chunks and one byte at a time; the result must be the same each time,
 * and the parser must stop exactly at the header's end. Returns the
 * status; *pp is the last parser (whole-buffer feed).
 */
static enum pp_status
feed_all_ways(struct pp *pp, const uint8_t *hdr, size_t hlen)
{
    uint8_t *buf = malloc(hlen + NTRAIL);
    enum pp_status want, st;
    size_t used, tot;
    struct pp *q = malloc(sizeof(*q));

    ck_assert_ptr_nonnull(buf);
    ck_assert_ptr_nonnull(q);
    memcpy(buf, hdr, hlen);
    memcpy(buf + hlen, TRAIL, NTRAIL);
    pp_init(pp);
    want = pp_feed(pp, buf, hlen + NTRAIL, &used);
    if (want == PP_DONE) {
        ck_assert_uint_eq(used, hlen);
        ck_assert_uint_eq(pp_info(pp)->hdr_len, hlen);
    }
    for (size_t cut = 0; cut <= hlen + NTRAIL; cut++) {
        pp_init(q);
        st = pp_feed(q, buf, cut, &used);
        tot = used;
        if (st == PP_MORE) {
            ck_assert_uint_eq(used, cut);
            st = pp_feed(q, buf + cut, hlen + NTRAIL - cut, &used);
            tot += used;
        }
        ck_assert_int_eq(st, want);
        if (st == PP_DONE) {
            ck_assert_uint_eq(tot, hlen);
            ck_assert_mem_eq(&q->info.src, &pp->info.src, sizeof(pp->info.src));
            ck_assert_int_eq(q->info.has_addr, pp->info.has_addr);
        }
    }
    pp_init(q);
    tot = 0;
    st = PP_MORE;
    for (size_t i = 0; i < hlen + NTRAIL && st == PP_MORE; i++) {
        /* Like the proxy: never offer more than pp_want() bytes. */
        ck_assert_uint_gt(pp_want(q), 0);
        st = pp_feed(q, buf + i, 1, &used);
        ck_assert_uint_eq(used, 1);
        tot += used;
    }
    ck_assert_int_eq(st, want);
    if (st == PP_DONE) {
        ck_assert_uint_eq(tot, hlen);
        ck_assert_uint_eq(pp_want(q), 0);
        /* Done is sticky and takes nothing more. */
        ck_assert_int_eq(pp_feed(q, buf, 3, &used), PP_DONE);
        ck_assert_uint_eq(used, 0);
    }
    free(q);
    free(buf);
    return want;
}

static void
assert_addr(const struct sockaddr_storage *ss, int af, const char *ip,
            unsigned port)
{
    char txt[INET6_ADDRSTRLEN];

    ck_assert_int_eq(ss->ss_family, af);
    if (af == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

        inet_ntop(AF_INET, &s->sin_addr, txt, sizeof(txt));
        ck_assert_uint_eq(ntohs(s->sin_port), port);
    } else {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;

        inet_ntop(AF_INET6, &s->sin6_addr, txt, sizeof(txt));
        ck_assert_uint_eq(ntohs(s->sin6_port), port);
    }
    ck_assert_str_eq(txt, ip);
}

static struct pp *
new_pp(void)
{
    struct pp *pp = malloc(sizeof(*pp));

    ck_assert_ptr_nonnull(pp);
    return pp;
}

#define S(x) (const uint8_t *)(x), (sizeof(x) - 1)

/* ---- v1 ------------------------------------------------------------------ */

START_TEST(test_v1_tcp4)
{
    struct pp *pp = new_pp();

    ck_assert_int_eq(feed_all_ways(pp, S("PROXY TCP4 192.0.2.10 10.0.0.1 "
                                         "56324 13370\r\n")),
                     PP_DONE);
    ck_assert_int_eq(pp_info(pp)->version, 1);
    ck_assert(pp_info(pp)->has_addr);
    assert_addr(&pp_info(pp)->src, AF_INET, "192.0.2.10", 56324);
    assert_addr(&pp_info(pp)->dst, AF_INET, "10.0.0.1", 13370);
    free(pp);
}
END_TEST

START_TEST(test_v1_tcp6)
{
    struct pp *pp = new_pp();

    ck_assert_int_eq(feed_all_ways(pp, S("PROXY TCP6 2001:db8::7 ::1 "
                                         "0 65535\r\n")),
                     PP_DONE);
    assert_addr(&pp_info(pp)->src, AF_INET6, "2001:db8::7", 0);
    assert_addr(&pp_info(pp)->dst, AF_INET6, "::1", 65535);
    free(pp);
}
END_TEST

START_TEST(test_v1_unknown)
{
    struct pp *pp = new_pp();

    ck_assert_int_eq(feed_all_ways(pp, S("PROXY UNKNOWN\r\n")), PP_DONE);
    ck_assert(!pp_info(pp)->has_addr);
    ck_assert_int_eq(
        feed_all_ways(pp, S("PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 1 2\r\n")),
        PP_DONE);
    ck_assert(!pp_info(pp)->has_addr);
    free(pp);
}
END_TEST

START_TEST(test_v1_longest)
{
    /* The spec's worst case is exactly 107 bytes; TCP6 at its longest. */
    static const char u[] =
        "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 "
        "65535\r\n";
    static const char l[] =
        "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 "
        "65535\r\n";
    struct pp *pp = new_pp();

    ck_assert_uint_eq(sizeof(u) - 1, PP_V1_MAX);
    ck_assert_int_eq(feed_all_ways(pp, S(u)), PP_DONE);
    ck_assert_int_eq(feed_all_ways(pp, S(l)), PP_DONE);
    assert_addr(&pp_info(pp)->src, AF_INET6,
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
    free(pp);
}
END_TEST

START_TEST(test_v1_malformed)
{
    static const char *const bad[] = {
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",       /* no CR */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",       /* missing port */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",   /* extra field */
        "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",    /* double space */
        "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",    /* leading zero */
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", /* port range */
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
        "PROXY TCP4 ::1 ::1 1 2\r\n", /* family mismatch */
        "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
        "PROXY \r\n",
        "PROXY UNKNOWNX\r\n",
        "PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n",
        "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "GET / HTTP/1.0\r\n",
        "\xff\xfb\x25", /* a telnet host without a header */
    };
    struct pp *pp = new_pp();

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t used;

        pp_init(pp);
        ck_assert_msg(pp_feed(pp, (const uint8_t *)bad[i], strlen(bad[i]),
                              &used) == PP_ERROR,
                      "accepted: %s", bad[i]);
        ck_assert_uint_le(used, strlen(bad[i]));
        ck_assert_str_ne(pp_error(pp), "no error");
        ck_assert_int_eq(
            feed_all_ways(pp, (const uint8_t *)bad[i], strlen(bad[i])),
            PP_ERROR);
    }
    free(pp);
}
END_TEST

START_TEST(test_v1_oversize)
{
    char l[200];
    size_t used;
    struct pp *pp = new_pp();

    memset(l, 'x', sizeof(l));
    memcpy(l, "PROXY UNKNOWN ", 14);
    pp_init(pp);
    ck_assert_int_eq(pp_feed(pp, (const uint8_t *)l, sizeof(l), &used),
                     PP_ERROR);
    /* Stops at the 108th byte: bounded. */
    ck_assert_uint_eq(used, PP_V1_MAX + 1);
    /* An UNKNOWN line of exactly 107 bytes is fine. */
    memcpy(l + PP_V1_MAX - 2, "\r\n", 2);
    ck_assert_int_eq(feed_all_ways(pp, (const uint8_t *)l, PP_V1_MAX), PP_DONE);
    free(pp);
}
END_TEST

/* ---- v2 ------------------------------------------------------------------ */

START_TEST(test_v2_tcp4_tlvs)
{
    uint8_t body[64], hdr[128];
    size_t n = 0, hl, off = 0, len;
    uint8_t type;
    const uint8_t *val;
    struct pp *pp = new_pp();
    static const uint8_t addr[12] = {198, 51, 100,  7,    10,   0,
                                     0,   1,  0xDB, 0xF4, 0x34, 0x3A};

    memcpy(body, addr, 12);
    n = 12;
    memcpy(body + n,
           "\x02\x00\x07"
           "esx-01a",
           10); /* AUTHORITY */
    n += 10;
    memcpy(body + n, "\x04\x00\x00", 3); /* empty NOOP */
    n += 3;
    memcpy(body + n,
           "\x05\x00\x02"
           "\xff\x00",
           5); /* UNIQUE_ID */
    n += 5;
    hl = v2(hdr, 0x21, 0x11, body, n);
    ck_assert_int_eq(feed_all_ways(pp, hdr, hl), PP_DONE);
    ck_assert_int_eq(pp_info(pp)->version, 2);
    ck_assert(pp_info(pp)->has_addr);
    assert_addr(&pp_info(pp)->src, AF_INET, "198.51.100.7", 56308);
    assert_addr(&pp_info(pp)->dst, AF_INET, "10.0.0.1", 13370);
    ck_assert_int_eq(pp_tlv_next(pp_info(pp), &off, &type, &val, &len), 1);
    ck_assert_uint_eq(type, PP2_TYPE_AUTHORITY);
    ck_assert_uint_eq(len, 7);
    ck_assert_mem_eq(val, "esx-01a", 7);
    ck_assert_int_eq(pp_tlv_next(pp_info(pp), &off, &type, &val, &len), 1);
    ck_assert_uint_eq(type, PP2_TYPE_NOOP);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(pp_tlv_next(pp_info(pp), &off, &type, &val, &len), 1);
    ck_assert_uint_eq(type, PP2_TYPE_UNIQUE_ID);
    ck_assert_mem_eq(val, "\xff\x00", 2);
    ck_assert_int_eq(pp_tlv_next(pp_info(pp), &off, &type, &val, &len), 0);
    free(pp);
}
END_TEST

START_TEST(test_v2_tcp6)
{
    uint8_t body[36], hdr[64];
    struct pp *pp = new_pp();
    size_t hl;

    memset(body, 0, sizeof(body));
    inet_pton(AF_INET6, "2001:db8::42", body);
    inet_pton(AF_INET6, "2001:db8::1", body + 16);
    body[32] = 0x12;
    body[33] = 0x34;
    body[34] = 0x34;
    body[35] = 0x3A;
    hl = v2(hdr, 0x21, 0x21, body, sizeof(body));
    ck_assert_int_eq(feed_all_ways(pp, hdr, hl), PP_DONE);
    assert_addr(&pp_info(pp)->src, AF_INET6, "2001:db8::42", 0x1234);
    assert_addr(&pp_info(pp)->dst, AF_INET6, "2001:db8::1", 13370);
    ck_assert_uint_eq(pp_info(pp)->tlv_len, 0);
    free(pp);
}
END_TEST

START_TEST(test_v2_local_unspec)
{
    uint8_t hdr[64], body[12] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2};
    struct pp *pp = new_pp();
    size_t hl;

    /* LOCAL (health check), no addresses. */
    hl = v2(hdr, 0x20, 0x00, NULL, 0);
    ck_assert_int_eq(feed_all_ways(pp, hdr, hl), PP_DONE);
    ck_assert(!pp_info(pp)->has_addr);
    /* LOCAL with TCP4 addresses: ignored. */
    hl = v2(hdr, 0x20, 0x11, body, 12);
    ck_assert_int_eq(feed_all_ways(pp, hdr, hl), PP_DONE);
    ck_assert(!pp_info(pp)->has_addr);
    /* PROXY over UNSPEC: the connection's addresses. */
    hl = v2(hdr, 0x21, 0x00, NULL, 0);
    ck_assert_int_eq(feed_all_ways(pp, hdr, hl), PP_DONE);
    ck_assert(!pp_info(pp)->has_addr);
    free(pp);
}
END_TEST

START_TEST(test_v2_malformed)
{
    uint8_t hdr[64], body[16] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2, 4, 0, 5};
    struct pp *pp = new_pp();
    size_t hl;

    hl = v2(hdr, 0x11, 0x11, body, 12); /* version 1 */
    ck_assert_int_eq(feed_all_ways(pp, hdr, hl), PP_ERROR);
    hl = v2(hdr, 0x22, 0x11, body, 12); /* command 2 */
    ck_assert_int_eq(feed_all_ways(pp, hdr, hl), PP_ERROR);
    hl = v2(hdr, 0x21, 0x12, body, 12); /* UDP */
    ck_assert_int_eq(feed_all_ways(pp, hdr, hl), PP_ERROR);
    hl = v2(hdr, 0x21, 0x41, body, 12); /* unknown family */
    ck_assert_int_eq(feed_all_ways(pp, hdr, hl), PP_ERROR);
    hl = v2(hdr, 0x21, 0x11, body, 11); /* addresses truncated */
    ck_assert_int_eq(feed_all_ways(pp, hdr, hl), PP_ERROR);
    hl = v2(hdr, 0x21, 0x21, body, 16);
    ck_assert_int_eq(feed_all_ways(pp, hdr, hl), PP_ERROR);
    hl = v2(hdr, 0x21, 0x11, body, 14); /* TLV header cut */
    ck_assert_int_eq(feed_all_ways(pp, hdr, hl), PP_ERROR);
    hl = v2(hdr, 0x21, 0x11, body, 15); /* TLV length overruns */
    ck_assert_int_eq(feed_all_ways(pp, hdr, hl), PP_ERROR);
    /* Signature damaged at every position. */
    for (size_t i = 0; i < 12; i++) {
        hl = v2(hdr, 0x21, 0x11, body, 12);
        hdr[i] ^= 0x40;
        ck_assert_int_eq(feed_all_ways(pp, hdr, hl), PP_ERROR);
    }
    free(pp);
}
END_TEST

START_TEST(test_v2_oversize)
{
    uint8_t hdr[16];
    size_t used, hl;
    struct pp *pp = new_pp();
    uint8_t *big = calloc(1, PP_V2_MAX + 16);

    ck_assert_ptr_nonnull(big);
    /* Announced length past the bound: refused at byte 16, before the
     * body is buffered. */
    memcpy(hdr, v2sig, 12);
    hdr[12] = 0x21;
    hdr[13] = 0x11;
    hdr[14] = 0xFF;
    hdr[15] = 0xFF;
    pp_init(pp);
    ck_assert_int_eq(pp_feed(pp, hdr, 16, &used), PP_ERROR);
    ck_assert_uint_eq(used, 16);
    /* Exactly at the bound (a NOOP TLV fills it): accepted. */
    hl = v2(big, 0x21, 0x11, NULL, PP_V2_MAX - 16);
    big[16 + 12] = PP2_TYPE_NOOP;
    big[16 + 13] = (uint8_t)((PP_V2_MAX - 16 - 15) >> 8);
    big[16 + 14] = (uint8_t)(PP_V2_MAX - 16 - 15);
    pp_init(pp);
    ck_assert_int_eq(pp_feed(pp, big, hl, &used), PP_DONE);
    ck_assert_uint_eq(used, PP_V2_MAX);
    /* One more byte: refused. */
    big[14] = (uint8_t)((PP_V2_MAX - 15) >> 8);
    big[15] = (uint8_t)(PP_V2_MAX - 15);
    pp_init(pp);
    ck_assert_int_eq(pp_feed(pp, big, PP_V2_MAX + 1, &used), PP_ERROR);
    free(big);
    free(pp);
}
END_TEST

START_TEST(test_want_peek)
{
    /* Peek-then-consume as the proxy does: never offered more than
     * pp_want(), the parser consumes exactly the header. */
    uint8_t hdr[64], stream[128];
    static const uint8_t addr[12] = {10, 1, 2, 3, 10, 0, 0, 1, 0, 80, 0, 81};
    size_t hl = v2(hdr, 0x21, 0x11, addr, 12), pos = 0, used;
    struct pp *pp = new_pp();
    enum pp_status st = PP_MORE;

    memcpy(stream, hdr, hl);
    memset(stream + hl, 0x16, sizeof(stream) - hl);
    pp_init(pp);
    ck_assert_uint_eq(pp_want(pp), PP_V1_MAX);
    while (st == PP_MORE) {
        size_t k = pp_want(pp);

        if (k > 5)
            k = 5; /* a slow sender */
        st = pp_feed(pp, stream + pos, k, &used);
        pos += used;
    }
    ck_assert_int_eq(st, PP_DONE);
    ck_assert_uint_eq(pos, hl);
    free(pp);
}
END_TEST

/* ---- allow-list (edge.c) ------------------------------------------------ */

static bool
allowed(const struct proxy_cidr *l, size_t n, const char *ip)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

        s6->sin6_family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

        s4->sin_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
    }
    return edge_allowed(l, n, (struct sockaddr *)&ss);
}

START_TEST(test_allow_list)
{
    static const char *const good[] = {"10.20.0.0/16",  "192.0.2.7",
                                       "2001:db8::/32", "::1",
                                       "0.0.0.0/0",     "198.51.100.255/25"};
    static const char *const bad[] = {
        "",         "/8",      "10.0.0.0/33",  "10.0.0.0/",  "10.0.0.0/-1",
        "10.0.0/8", "::1/129", "host.example", "10.0.0.0/8x"};
    struct proxy_cidr l[8];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(edge_cidr_parse(bad[i], &l[0]) != 0, "accepted %s",
                      bad[i]);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_int_eq(edge_cidr_parse(good[i], &l[i]), 0);
    /* No list: anyone. */
    ck_assert(allowed(l, 0, "203.0.113.1"));
    /* 10.20/16, 192.0.2.7/32, 2001:db8::/32, ::1 */
    ck_assert(allowed(l, 4, "10.20.255.1"));
    ck_assert(!allowed(l, 4, "10.21.0.1"));
    ck_assert(allowed(l, 4, "192.0.2.7"));
    ck_assert(!allowed(l, 4, "192.0.2.8"));
    ck_assert(allowed(l, 4, "2001:db8:ffff::1"));
    ck_assert(!allowed(l, 4, "2001:db9::1"));
    ck_assert(allowed(l, 4, "::1"));
    ck_assert(!allowed(l, 4, "::2"));
    /* IPv4-mapped IPv6 (a dual-stack listener) matches IPv4 entries. */
    ck_assert(allowed(l, 4, "::ffff:10.20.1.2"));
    ck_assert(!allowed(l, 4, "::ffff:10.21.1.2"));
    /* /25 with host bits set: cleared; 0/0 matches every IPv4. */
    ck_assert(allowed(&l[5], 1, "198.51.100.200"));
    ck_assert(!allowed(&l[5], 1, "198.51.100.127"));
    ck_assert(allowed(&l[4], 1, "203.0.113.9"));
    ck_assert(!allowed(&l[4], 1, "2001:db8::1"));
}
END_TEST

static Suite *
pproxy_suite(void)
{
    Suite *s = suite_create("pproxy");
    TCase *tc = tcase_create("v1");

    tcase_add_test(tc, test_v1_tcp4);
    tcase_add_test(tc, test_v1_tcp6);
    tcase_add_test(tc, test_v1_unknown);
    tcase_add_test(tc, test_v1_longest);
    tcase_add_test(tc, test_v1_malformed);
    tcase_add_test(tc, test_v1_oversize);
    suite_add_tcase(s, tc);
    tc = tcase_create("v2");
    tcase_add_test(tc, test_v2_tcp4_tlvs);
    tcase_add_test(tc, test_v2_tcp6);
    tcase_add_test(tc, test_v2_local_unspec);
    tcase_add_test(tc, test_v2_malformed);
    tcase_add_test(tc, test_v2_oversize);
    tcase_add_test(tc, test_want_peek);
    suite_add_tcase(s, tc);
    tc = tcase_create("allow");
    tcase_add_test(tc, test_allow_list);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(pproxy_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
