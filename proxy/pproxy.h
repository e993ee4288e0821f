/*
 * pproxy.h: pp_*, an I/O-free, allocation-free parser for the PROXY
 * protocol header (HAProxy doc/proxy-protocol.txt, versions 1 and 2) that
 * a load balancer puts in front of a TCP stream.
 *
 * Bytes go in with pp_feed(); the parser takes bytes only up to the end of
 * the header and says how many it took, so the caller can read the socket
 * with MSG_PEEK and then consume exactly the header (the TLS ClientHello or
 * the telnet stream that follows stays in the socket). Memory is bounded:
 * a v1 line is at most PP_V1_MAX bytes, a v2 header at most PP_V2_MAX;
 * anything longer or malformed is an error (there is no guessing: a
 * listener that expects a header gets one or closes the connection).
 *
 * Ownership: struct pp is embedded by its user; pointers into it (TLVs)
 * are valid while it lives and is not fed again.
 */
#ifndef VSPC_PPROXY_H
#define VSPC_PPROXY_H

#include "vspc/compat.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* v1: "PROXY TCP4 ... \r\n", 107 bytes at most (the spec's bound). */
#define PP_V1_MAX 107
/* v2: 16-byte fixed part + addresses + TLVs. The spec allows up to
 * 16 + 65535; we bound it (haproxy's own TLVs fit easily). */
#define PP_V2_HDR 16
#define PP_V2_MAX (PP_V2_HDR + 2048)

enum pp_status {
    PP_ERROR = -1, /* malformed; pp_error() says why */
    PP_MORE = 0,   /* need more bytes */
    PP_DONE = 1,   /* header complete; pp_info() */
};

/* v2 TLV types (doc/proxy-protocol.txt 2.2.x). */
enum {
    PP2_TYPE_ALPN = 0x01,
    PP2_TYPE_AUTHORITY = 0x02,
    PP2_TYPE_CRC32C = 0x03,
    PP2_TYPE_NOOP = 0x04,
    PP2_TYPE_UNIQUE_ID = 0x05,
    PP2_TYPE_SSL = 0x20,
    PP2_TYPE_NETNS = 0x30,
};

struct pp_info {
    int version; /* 1 or 2 */
    /* false: LOCAL (v2), UNKNOWN (v1), or an address family without IP
     * addresses (v2 UNSPEC, unix): use the connection's own addresses. */
    bool has_addr;
    struct sockaddr_storage src; /* the client, when has_addr */
    struct sockaddr_storage dst; /* the address it connected to */
    const uint8_t *tlv;          /* v2: the TLV area (may be empty) */
    size_t tlv_len;
    size_t hdr_len; /* bytes of the whole header */
};

struct pp {
    uint8_t buf[PP_V2_MAX];
    size_t n;
    int st; /* internal state */
    const char *err;
    struct pp_info info;
};

void pp_init(struct pp *pp);
/*
 * Feed n bytes. *used receives how many were taken (all of them while the
 * header is incomplete; up to the header's end when it completes; the
 * offending byte included on error). After PP_DONE or PP_ERROR every call
 * returns the same status and takes nothing.
 */
enum pp_status pp_feed(struct pp *pp, const uint8_t *p, size_t n, size_t *used);
/* Largest number of bytes worth peeking now (a v2 header's exact rest once
 * its length is known; otherwise the most a header can still need). */
size_t pp_want(const struct pp *pp);
/* After PP_ERROR: a short static reason. */
const char *pp_error(const struct pp *pp);
/* After PP_DONE. */
const struct pp_info *pp_info(const struct pp *pp);
/*
 * Iterate the v2 TLVs: start with *off = 0; returns 1 with type/value/len
 * filled, 0 at the end. (The TLV area was validated by pp_feed.)
 */
int pp_tlv_next(const struct pp_info *in, size_t *off, uint8_t *type,
                const uint8_t **val, size_t *len);

#endif /* VSPC_PPROXY_H */
