/*
 * fuzz_telnet.c: the telnet codec (proxy/telnet.c) and the option-232
 * payload parsers (proxy/vmext.c) on hostile bytes. Oracle: the input fed
 * whole and fed in random segments (seeded by its first byte) gives the
 * same events, with data runs joined, and the same bytes written back.
 */
#include "fuzz.h"

#include <string.h>

#include "telnet.h"
#include "vmext.h"

struct rec {
    struct tn tn;
    struct flog ev, out;
    bool in_data; /* the last event was data: a run continues */
};

static void
r_out(void *arg, const uint8_t *p, size_t n)
{
    flog_add(&((struct rec *)arg)->out, p, n);
}

static void
r_tag(struct rec *r, uint8_t tag, const void *p, size_t n)
{
    uint32_t len = (uint32_t)n;

    r->in_data = false;
    flog_add(&r->ev, &tag, 1);
    flog_add(&r->ev, &len, sizeof(len));
    flog_add(&r->ev, p, n);
}

static void
r_data(void *arg, const uint8_t *p, size_t n)
{
    struct rec *r = arg;

    if (!r->in_data) {
        uint8_t tag = 'D';

        flog_add(&r->ev, &tag, 1);
        r->in_data = true;
    }
    flog_add(&r->ev, p, n); /* runs joined: segmentation-independent */
}

static void
r_subneg(void *arg, uint8_t opt, const uint8_t *p, size_t n)
{
    struct rec *r = arg;
    uint8_t b[2] = {opt, 0};

    r_tag(r, 'S', b, 1);
    flog_add(&r->ev, p, n);
    if (opt == 232 && n >= 1) { /* VMware's extension: its parsers */
        char dir, uuid[VMX_UUID_HEX + 1], name[300];
        char label[VMX_LABEL_MAX + 1];
        const uint8_t *uri;
        size_t ul;
        static const char *const allowed[] = {"vSPC.py", "other"};

        if (vmx_parse_do_proxy(p + 1, n - 1, &dir, &uri, &ul) == 0) {
            vmx_service_match(uri, ul, allowed, 2, label);
            vmx_service_match(uri, ul, NULL, 0, label);
        }
        if (vmx_uuid_normalise(p + 1, n - 1, uuid) == 0 &&
            strlen(uuid) != VMX_UUID_HEX)
            fuzz_fail("uuid of %zu digits", strlen(uuid));
        if (vmx_sanitise_name(p + 1, n - 1, name, sizeof(name)) >= sizeof(name))
            fuzz_fail("sanitised name overflows");
        b[1] = (uint8_t)vmx_is_known(p[0]);
        r_tag(r, 'V', b, 2);
    }
}

static void
r_option(void *arg, uint8_t opt, bool local, bool enabled)
{
    uint8_t b[3] = {opt, local, enabled};

    r_tag(arg, 'O', b, 3);
}

static void
r_neg(void *arg, uint8_t verb, uint8_t opt)
{
    uint8_t b[2] = {verb, opt};

    r_tag(arg, 'N', b, 2);
}

static void
r_cmd(void *arg, uint8_t cmd)
{
    r_tag(arg, 'C', &cmd, 1);
}

static void
r_err(void *arg, enum tn_err err)
{
    uint8_t e = (uint8_t)err;

    r_tag(arg, 'E', &e, 1);
}

static const struct tn_handlers r_handlers = {
    .output = r_out,
    .data = r_data,
    .subneg = r_subneg,
    .option = r_option,
    .negotiation = r_neg,
    .command = r_cmd,
    .error = r_err,
};

static void
run(struct rec *r, const struct tn_policy *pol, const uint8_t *p, size_t n,
    uint32_t seed, bool split)
{
    size_t off = 0;

    memset(r, 0, sizeof(*r));
    tn_init(&r->tn, pol, &r_handlers, r);
    tn_request_remote(&r->tn, 232, true);
    while (off < n && !tn_failed(&r->tn)) {
        size_t k = split ? fuzz_seg(&seed, 17) : n - off;

        if (k > n - off)
            k = n - off;
        if (tn_feed(&r->tn, p + off, k) != k && !tn_failed(&r->tn))
            fuzz_fail("tn_feed took less without a stop or an error");
        off += k;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rec a, b;
    struct tn_policy pol;

    if (size < 1)
        return 0;
    memset(&pol, 0, sizeof(pol));
    tn_policy_allow(&pol, 0, true, true);    /* BINARY */
    tn_policy_allow(&pol, 3, true, true);    /* SGA */
    tn_policy_allow(&pol, 232, false, true); /* VMware */
    run(&a, &pol, data + 1, size - 1, data[0], false);
    run(&b, &pol, data + 1, size - 1, data[0], true);
    if (!flog_eq(&a.ev, &b.ev))
        fuzz_fail("events differ: whole %zu bytes of log, split %zu", a.ev.n,
                  b.ev.n);
    if (!flog_eq(&a.out, &b.out))
        fuzz_fail("output differs: whole %zu bytes, split %zu", a.out.n,
                  b.out.n);
    if (tn_failed(&a.tn) != tn_failed(&b.tn))
        fuzz_fail("one failed, the other did not");
    free(a.ev.p);
    free(a.out.p);
    free(b.ev.p);
    free(b.out.p);
    return 0;
}
