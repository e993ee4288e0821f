/* ratelog.c: see vspc/ratelog.h. */
#include "vspc/compat.h"
#include "vspc/ratelog.h"

#include <string.h>

void
rlog_init(struct rlog *rl, double interval)
{
    memset(rl, 0, sizeof(*rl));
    rl->interval = interval;
}

bool
rlog_allow(struct rlog *rl, const void *key, size_t keylen, double now,
           unsigned *suppressed)
{
    struct rlog_slot *s = NULL, *oldest = NULL;

    if (keylen > RLOG_KEY_MAX)
        keylen = RLOG_KEY_MAX;
    for (size_t i = 0; i < RLOG_SLOTS; i++) {
        struct rlog_slot *c = &rl->slots[i];

        if (!c->used) {
            if (oldest == NULL || oldest->used)
                oldest = c;
            continue;
        }
        if (c->keylen == keylen && memcmp(c->key, key, keylen) == 0) {
            s = c;
            break;
        }
        if (oldest == NULL || (oldest->used && c->last < oldest->last))
            oldest = c;
    }
    if (s == NULL) {
        /* New key (or forgotten): allowed; take a free or the oldest slot. */
        s = oldest;
        memcpy(s->key, key, keylen);
        s->keylen = keylen;
        s->used = true;
        s->last = now;
        s->suppressed = 0;
        if (suppressed)
            *suppressed = 0;
        return true;
    }
    if (now - s->last < rl->interval) {
        s->suppressed++;
        return false;
    }
    if (suppressed)
        *suppressed = s->suppressed;
    s->suppressed = 0;
    s->last = now;
    return true;
}
