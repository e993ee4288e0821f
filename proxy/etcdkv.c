/*
 * etcdkv.c: the ownership directory's layout in etcd (etcdkv.h).
 */
#include "vspc/compat.h"
#include "etcdkv.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vspc/epoch.h"

static const char *const ekv_dirs[] = {
    [EKV_OTHER] = NULL,     [EKV_CONSOLE] = "consoles/", [EKV_NODE] = "nodes/",
    [EKV_ALIVE] = "alive/", [EKV_INDEX] = "index/",
};

bool
ekv_prefix_ok(const char *prefix)
{
    size_t n = strlen(prefix);

    if (n == 0 || n > EKV_PREFIX_MAX || prefix[n - 1] != '/')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)prefix[i] <= ' ' || (unsigned char)prefix[i] >= 0x7f)
            return false;
    return true;
}

int
ekv_key(char *out, size_t cap, const char *prefix, enum ekv_kind kind,
        const char *name)
{
    int n;

    if (kind == EKV_OTHER)
        return -1;
    n = snprintf(out, cap, "%s%s%s", prefix, ekv_dirs[kind], name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int
ekv_range_end(char *out, size_t cap, const char *prefix)
{
    size_t n = strlen(prefix);

    if (n == 0 || n >= cap)
        return -1;
    memcpy(out, prefix, n + 1);
    out[n - 1]++; /* '/' + 1 = '0': printable prefixes never wrap */
    return 0;
}

enum ekv_kind
ekv_parse_key(const char *prefix, const char *key, size_t klen, char *name,
              size_t cap)
{
    size_t pl = strlen(prefix);

    if (cap)
        name[0] = '\0';
    if (klen < pl || memcmp(key, prefix, pl) != 0)
        return EKV_OTHER;
    for (int k = EKV_CONSOLE; k <= EKV_INDEX; k++) {
        size_t dl = strlen(ekv_dirs[k]);
        size_t nl;

        if (klen - pl <= dl || memcmp(key + pl, ekv_dirs[k], dl) != 0)
            continue;
        nl = klen - pl - dl;
        if (nl >= cap || memchr(key + pl + dl, '\0', nl))
            return EKV_OTHER;
        memcpy(name, key + pl + dl, nl);
        name[nl] = '\0';
        return (enum ekv_kind)k;
    }
    return EKV_OTHER;
}

void
ekv_epoch_str(char out[EKV_EPOCH_DIGITS + 1], uint64_t epoch)
{
    snprintf(out, EKV_EPOCH_DIGITS + 1, "%020" PRIu64, epoch);
}

void
ekv_epoch_above(char out[EKV_EPOCH_DIGITS + 1], uint64_t epoch)
{
    if (epoch == UINT64_MAX)
        memset(out, '9', EKV_EPOCH_DIGITS), out[EKV_EPOCH_DIGITS] = '\0';
    else
        ekv_epoch_str(out, epoch + 1);
}

/* The wire's own rules for an entry (the same the coordinator applies). */
static int
ekv_check_console(const struct wire_console *c, char *err, size_t errlen)
{
    struct wire_msg m;
    uint8_t *buf;
    size_t len;

    memset(&m, 0, sizeof(m));
    m.type = WIRE_ANNOUNCE;
    m.u.announce = *c;
    if (wire_encode(&m, &buf, &len, err, errlen) != WIRE_OK)
        return -1;
    free(buf);
    if (epoch_index(c->epoch) != c->owner_index) {
        snprintf(err, errlen, "epoch's index is not the owner's");
        return -1;
    }
    return 0;
}

static int
ekv_dump(json_t *o, char *out, size_t cap, size_t *len)
{
    size_t n;

    if (o == NULL)
        return -1;
    n = json_dumpb(o, out, cap, JSON_COMPACT);
    json_decref(o);
    if (n == 0 || n >= cap)
        return -1;
    out[n] = '\0';
    *len = n;
    return 0;
}

int
ekv_console_encode(const struct wire_console *c, char *out, size_t cap,
                   size_t *len)
{
    size_t n;

    if (cap < EKV_EPOCH_DIGITS + 2)
        return -1;
    ekv_epoch_str(out, c->epoch);
    out[EKV_EPOCH_DIGITS] = ' ';
    if (ekv_dump(json_pack("{s:s, s:s, s:s, s:s, s:i}", "vm", c->vm_name,
                           "state", c->state, "hv", c->hv_addr, "owner",
                           c->owner, "index", (int)c->owner_index),
                 out + EKV_EPOCH_DIGITS + 1, cap - EKV_EPOCH_DIGITS - 1,
                 &n) != 0)
        return -1;
    *len = EKV_EPOCH_DIGITS + 1 + n;
    return 0;
}

/* A string member of o into out (cap bytes with the NUL); -1 otherwise. */
static int
ekv_str(json_t *o, const char *k, char *out, size_t cap)
{
    json_t *v = json_object_get(o, k);

    if (!json_is_string(v) || json_string_length(v) >= cap ||
        strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static json_t *
ekv_load(const char *v, size_t vlen, char *err, size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb(v, vlen, JSON_REJECT_DUPLICATES, &je);

    if (o == NULL)
        snprintf(err, errlen, "not JSON: %s", je.text);
    else if (!json_is_object(o)) {
        snprintf(err, errlen, "not a JSON object");
        json_decref(o);
        o = NULL;
    }
    return o;
}

int
ekv_console_decode(const char *id, const char *v, size_t vlen,
                   struct wire_console *c, char *err, size_t errlen)
{
    char digits[EKV_EPOCH_DIGITS + 1], *end;
    json_t *o, *ix;
    unsigned long long e;
    int rc = -1;

    memset(c, 0, sizeof(*c));
    if (vlen > EKV_VALUE_MAX || vlen < EKV_EPOCH_DIGITS + 2 ||
        v[EKV_EPOCH_DIGITS] != ' ') {
        snprintf(err, errlen, "not an epoch and an entry");
        return -1;
    }
    memcpy(digits, v, EKV_EPOCH_DIGITS);
    digits[EKV_EPOCH_DIGITS] = '\0';
    for (int i = 0; i < EKV_EPOCH_DIGITS; i++)
        if (digits[i] < '0' || digits[i] > '9') {
            snprintf(err, errlen, "epoch not decimal");
            return -1;
        }
    errno = 0;
    e = strtoull(digits, &end, 10);
    if (errno != 0 || *end != '\0') {
        snprintf(err, errlen, "epoch out of range");
        return -1;
    }
    if ((o = ekv_load(v + EKV_EPOCH_DIGITS + 1, vlen - EKV_EPOCH_DIGITS - 1,
                      err, errlen)) == NULL)
        return -1;
    ix = json_object_get(o, "index");
    if (snprintf(c->id, sizeof(c->id), "%s", id) >= (int)sizeof(c->id) ||
        ekv_str(o, "vm", c->vm_name, sizeof(c->vm_name)) != 0 ||
        ekv_str(o, "state", c->state, sizeof(c->state)) != 0 ||
        ekv_str(o, "hv", c->hv_addr, sizeof(c->hv_addr)) != 0 ||
        ekv_str(o, "owner", c->owner, sizeof(c->owner)) != 0 ||
        !json_is_integer(ix) || json_integer_value(ix) < 0 ||
        json_integer_value(ix) > 255) {
        snprintf(err, errlen, "a field missing, of the wrong type or too long");
        goto out;
    }
    c->epoch = e;
    c->owner_index = (uint8_t)json_integer_value(ix);
    rc = ekv_check_console(c, err, errlen);
out:
    json_decref(o);
    return rc;
}

int
ekv_node_encode(const struct wire_node *n, char *out, size_t cap, size_t *len)
{
    return ekv_dump(json_pack("{s:i, s:s}", "index", (int)n->node_index, "peer",
                              n->peer_addr),
                    out, cap, len);
}

int
ekv_node_decode(const char *node_id, const char *v, size_t vlen,
                struct wire_node *n, char *err, size_t errlen)
{
    json_t *o, *ix;
    int rc = -1;

    memset(n, 0, sizeof(*n));
    if (vlen > EKV_VALUE_MAX) {
        snprintf(err, errlen, "too long");
        return -1;
    }
    if ((o = ekv_load(v, vlen, err, errlen)) == NULL)
        return -1;
    ix = json_object_get(o, "index");
    if (!wire_valid_node_id(node_id) ||
        snprintf(n->node_id, sizeof(n->node_id), "%s", node_id) >=
            (int)sizeof(n->node_id) ||
        ekv_str(o, "peer", n->peer_addr, sizeof(n->peer_addr)) != 0 ||
        !wire_valid_addr(n->peer_addr) || !json_is_integer(ix) ||
        json_integer_value(ix) < 0 || json_integer_value(ix) > 255) {
        snprintf(err, errlen, "not a node entry");
        goto out;
    }
    n->node_index = (uint8_t)json_integer_value(ix);
    rc = 0;
out:
    json_decref(o);
    return rc;
}
