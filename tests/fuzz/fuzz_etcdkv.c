/*
 * fuzz_etcdkv.c: the etcd store's decoders (proxy/etcdkv.c: console and
 * node entries, keys) on hostile values. Oracle: what decodes encodes
 * again to bytes that decode to the same entry.
 */
#include "fuzz.h"

#include <string.h>

#include "etcdkv.h"

#define ID "0123456789abcdeffedcba9876543210"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wire_console c, c2;
    struct wire_node nd, nd2;
    char v[EKV_VALUE_MAX], err[160], name[WIRE_CONSOLE_ID_MAX + 1];
    size_t n;

    if (ekv_console_decode(ID, (const char *)data, size, &c, err,
                           sizeof(err)) == 0) {
        if (ekv_console_encode(&c, v, sizeof(v), &n) != 0 ||
            ekv_console_decode(ID, v, n, &c2, err, sizeof(err)) != 0 ||
            memcmp(&c, &c2, sizeof(c)) != 0)
            fuzz_fail("console entry: no stable round trip");
    }
    if (ekv_node_decode("n1", (const char *)data, size, &nd, err,
                        sizeof(err)) == 0) {
        if (ekv_node_encode(&nd, v, sizeof(v), &n) != 0 ||
            ekv_node_decode("n1", v, n, &nd2, err, sizeof(err)) != 0 ||
            memcmp(&nd, &nd2, sizeof(nd)) != 0)
            fuzz_fail("node entry: no stable round trip");
    }
    ekv_parse_key("/vspc/", (const char *)data, size, name, sizeof(name));
    return 0;
}
