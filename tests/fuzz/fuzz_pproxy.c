/*
 * fuzz_pproxy.c: the PROXY protocol v1/v2 parser (proxy/pproxy.c) on
 * hostile bytes. Oracle: fed whole and fed in random segments (seeded by
 * the first input byte) it ends in the same status, takes the same number
 * of bytes, and reports the same header (version, addresses, TLVs, length).
 */
#include "fuzz.h"

#include <string.h>

#include "pproxy.h"

static enum pp_status
feed(struct pp *pp, const uint8_t *p, size_t n, uint32_t seed, bool split,
     size_t *taken)
{
    enum pp_status st = PP_MORE;
    size_t off = 0;

    pp_init(pp);
    *taken = 0;
    while (off < n) {
        size_t k = split ? fuzz_seg(&seed, 9) : n - off, used = 0;

        if (k > n - off)
            k = n - off;
        st = pp_feed(pp, p + off, k, &used);
        if (used > k)
            fuzz_fail("pp_feed took %zu of %zu", used, k);
        *taken += used;
        off += k;
        if (st != PP_MORE)
            break;
    }
    return st;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pp a, b;
    enum pp_status sa, sb;
    size_t ta, tb;

    if (size < 1)
        return 0;
    sa = feed(&a, data + 1, size - 1, data[0], false, &ta);
    sb = feed(&b, data + 1, size - 1, data[0], true, &tb);
    if (sa != sb)
        fuzz_fail("status %d whole, %d split", (int)sa, (int)sb);
    if (sa == PP_DONE) {
        const struct pp_info *x = pp_info(&a), *y = pp_info(&b);
        size_t off = 0, len;
        uint8_t type;
        const uint8_t *val;

        if (ta != tb || x->hdr_len != y->hdr_len || ta != x->hdr_len)
            fuzz_fail("taken %zu / %zu, header %zu / %zu", ta, tb, x->hdr_len,
                      y->hdr_len);
        if (x->version != y->version || x->has_addr != y->has_addr ||
            (x->has_addr && (memcmp(&x->src, &y->src, sizeof(x->src)) != 0 ||
                             memcmp(&x->dst, &y->dst, sizeof(x->dst)) != 0)))
            fuzz_fail("headers differ");
        if (x->tlv_len != y->tlv_len ||
            (x->tlv_len && memcmp(x->tlv, y->tlv, x->tlv_len) != 0))
            fuzz_fail("TLVs differ");
        while (pp_tlv_next(x, &off, &type, &val, &len) == 1)
            if (val + len > x->tlv + x->tlv_len)
                fuzz_fail("a TLV runs past the area");
    } else if (sa == PP_ERROR && pp_error(&a) == NULL) {
        fuzz_fail("an error without a reason");
    }
    return 0;
}
