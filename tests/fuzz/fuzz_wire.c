/*
 * fuzz_wire.c: every protobuf decoder: the coordinator protocol
 * (proto/wire.c) and the peer link (proto/peerwire.c), on hostile bytes
 * (the first input byte picks the decoder). Oracle: whatever decodes
 * encodes again, and that encoding decodes to the same encoding (the
 * codecs agree on every message they accept).
 */
#include "fuzz.h"

#include <string.h>

#include "peerwire.h"
#include "wire.h"

static void
wire_case(const uint8_t *p, size_t n)
{
    static struct wire_msg m, m2;
    uint8_t *e1 = NULL, *e2 = NULL;
    size_t l1, l2;
    char err[256];

    if (wire_decode(p, n, &m, err, sizeof(err)) != WIRE_OK)
        return;
    if (wire_encode(&m, &e1, &l1, err, sizeof(err)) != WIRE_OK)
        fuzz_fail("wire: decoded but does not encode: %s", err);
    if (wire_decode(e1, l1, &m2, err, sizeof(err)) != WIRE_OK)
        fuzz_fail("wire: its own encoding does not decode: %s", err);
    if (wire_encode(&m2, &e2, &l2, err, sizeof(err)) != WIRE_OK || l1 != l2 ||
        memcmp(e1, e2, l1) != 0)
        fuzz_fail("wire: encoding not stable");
    free(e1);
    free(e2);
}

static void
pw_case(const uint8_t *p, size_t n)
{
    static struct pw_frame f, f2;
    static uint8_t e1[PW_MAX_FRAME], e2[PW_MAX_FRAME];
    size_t l1, l2;
    char err[256];

    if (pw_decode(p, n, &f, err, sizeof(err)) != PW_OK)
        return;
    if (pw_encode(&f, e1, sizeof(e1), &l1, err, sizeof(err)) != PW_OK)
        fuzz_fail("peerwire: decoded but does not encode: %s", err);
    if (pw_decode(e1, l1, &f2, err, sizeof(err)) != PW_OK)
        fuzz_fail("peerwire: its own encoding does not decode: %s", err);
    if (pw_encode(&f2, e2, sizeof(e2), &l2, err, sizeof(err)) != PW_OK ||
        l1 != l2 || memcmp(e1, e2, l1) != 0)
        fuzz_fail("peerwire: encoding not stable");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        pw_case(data + 1, size - 1);
    else
        wire_case(data + 1, size - 1);
    return 0;
}
