/*
 * etcdkv.h: ekv_, how the ownership directory is laid out in etcd (keys
 * and values), pure functions the etcd store (own_etcd.c) and the unit
 * tests share. Under a prefix (default "/vspc/"):
 *
 *   PREFIX consoles/ID  "EEEEEEEEEEEEEEEEEEEE {json}"  no lease: a console
 *                       stays listed with a dead owner, as with the
 *                       coordinator. E...: the epoch, 20 decimal digits,
 *                       so etcd's byte-wise VALUE compare orders epochs
 *                       (the ownership transaction compares on it).
 *   PREFIX nodes/ID     {"index":N,"peer":"host:port"}   no lease
 *   PREFIX alive/ID     the node's incarnation           the node's lease
 *   PREFIX index/N      the node id holding index N      the node's lease
 *
 * Everything read back is untrusted: decoders check every field and
 * length and answer -1 on anything else.
 */
#ifndef VSPC_ETCDKV_H
#define VSPC_ETCDKV_H

#include "vspc/compat.h"

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define EKV_PREFIX_MAX 64
#define EKV_KEY_MAX (EKV_PREFIX_MAX + 16 + WIRE_CONSOLE_ID_MAX)
#define EKV_VALUE_MAX 2048
#define EKV_EPOCH_DIGITS 20

enum ekv_kind {
    EKV_OTHER = 0, /* under the prefix, not ours: ignored */
    EKV_CONSOLE,
    EKV_NODE,
    EKV_ALIVE,
    EKV_INDEX,
};

/* A prefix is 1 to EKV_PREFIX_MAX printable characters ending in '/'. */
bool ekv_prefix_ok(const char *prefix);

/* PREFIX kind-dir/name into out; -1 if it does not fit. */
int ekv_key(char *out, size_t cap, const char *prefix, enum ekv_kind kind,
            const char *name);
/* The end of the prefix's range (the prefix with its last byte + 1). */
int ekv_range_end(char *out, size_t cap, const char *prefix);
/* Which kind key (klen bytes) is, its name into name (NUL-terminated). */
enum ekv_kind ekv_parse_key(const char *prefix, const char *key, size_t klen,
                            char *name, size_t cap);

/* The epoch as the value's first EKV_EPOCH_DIGITS characters ("%020"). */
void ekv_epoch_str(char out[EKV_EPOCH_DIGITS + 1], uint64_t epoch);
/* The value bound a compare uses to mean "stored epoch <= epoch":
 * stored < ekv_epoch_str(epoch + 1), saturating. */
void ekv_epoch_above(char out[EKV_EPOCH_DIGITS + 1], uint64_t epoch);

/* A console's value (length into *len); -1 if it does not fit. */
int ekv_console_encode(const struct wire_console *c, char *out, size_t cap,
                       size_t *len);
/* id: the key's name. 0, or -1 with a reason in err. */
int ekv_console_decode(const char *id, const char *v, size_t vlen,
                       struct wire_console *c, char *err, size_t errlen);

int ekv_node_encode(const struct wire_node *n, char *out, size_t cap,
                    size_t *len);
/* alive is not in the value (the alive/ key says it): set false. */
int ekv_node_decode(const char *node_id, const char *v, size_t vlen,
                    struct wire_node *n, char *err, size_t errlen);

#endif /* VSPC_ETCDKV_H */
