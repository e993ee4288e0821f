/* conhold.c: see conhold.h. */
#include "vspc/compat.h"
#include "conhold.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "vspc/log.h"
#include "console.h"

struct chold {
    struct strm_reader rd; /* takes nothing: the stream waits at its offset */
    struct console *c;
    struct event *timer;
    size_t n;
    char keys[CHOLD_KEYS_MAX][CHOLD_KEY_MAX + 1];
};

static struct chold *
chold_of(struct strm_reader *r)
{
    return VSPC_CONTAINER_OF(r, struct chold, rd);
}

static size_t
chold_room(struct strm_reader *r)
{
    (void)r;
    return 0;
}

static void
chold_deliver(struct strm_reader *r, const uint8_t *p, size_t n)
{
    (void)r; /* never: it has no room */
    (void)p;
    (void)n;
}

static void
chold_gap(struct strm_reader *r, uint64_t from, uint64_t to)
{
    (void)r; /* never: it takes nothing, so it asks for nothing */
    (void)from;
    (void)to;
}

static void
chold_event(struct strm_reader *r, const char *text)
{
    (void)r;
    (void)text;
}

static uint64_t
chold_progress(struct strm_reader *r)
{
    (void)r;
    return 0;
}

/* The stall timeout (under the disconnect policy): give up the hold. */
static void
chold_stalled(struct strm_reader *r)
{
    chold_free(chold_of(r)->c);
}

static void
chold_release(struct strm_reader *r)
{
    struct chold *h = chold_of(r);

    h->c->hold = NULL;
    if (h->timer)
        event_free(h->timer);
    free(h);
}

static const struct strm_reader_ops chold_ops = {
    .room = chold_room,
    .deliver = chold_deliver,
    .gap = chold_gap,
    .event = chold_event,
    .progress = chold_progress,
    .stalled = chold_stalled,
    .release = chold_release,
};

static void
chold_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct chold *h = arg;
    struct console *c = h->c;

    (void)fd;
    (void)what;
    log_warnx("console=%s %zu reader(s) that were to follow it here did not "
              "come within %d ms (first: %s): its output runs on without them",
              c->id, h->n, CHOLD_MS, h->keys[0]);
    chold_free(c);
}

void
chold_start(struct console *c, const char (*keys)[CHOLD_KEY_MAX + 1], size_t n,
            const char *self)
{
    struct timeval tv = {CHOLD_MS / 1000, (CHOLD_MS % 1000) * 1000};
    struct chold *h;

    chold_free(c);
    if (n == 0 || (h = calloc(1, sizeof(*h))) == NULL)
        return;
    for (size_t i = 0; i < n && h->n < CHOLD_KEYS_MAX; i++)
        if (keys[i][0] && strcmp(keys[i], self) != 0)
            snprintf(h->keys[h->n++], sizeof(h->keys[0]), "%s", keys[i]);
    if (h->n == 0 ||
        (h->timer = evtimer_new(c->px->base, chold_timer_cb, h)) == NULL) {
        free(h);
        return;
    }
    h->c = c;
    h->rd.ops = &chold_ops;
    snprintf(h->rd.desc, sizeof(h->rd.desc), "hold for %zu follower(s)", h->n);
    strm_reader_add(&c->out, &h->rd, strm_end(&c->out));
    evtimer_add(h->timer, &tv);
    c->hold = h;
    log_debug("console=%s holding its output for %zu follower(s)", c->id, h->n);
}

void
chold_arrived(struct console *c, const char *key)
{
    struct chold *h = c->hold;

    if (h == NULL || key == NULL || key[0] == '\0')
        return;
    for (size_t i = 0; i < h->n; i++) {
        if (strcmp(h->keys[i], key) != 0)
            continue;
        memmove(h->keys[i], h->keys[h->n - 1], sizeof(h->keys[0]));
        if (--h->n == 0)
            chold_free(c);
        return;
    }
}

void
chold_node_gone(struct console *c, const char *node)
{
    struct chold *h = c->hold;
    size_t nl = strlen(node);

    for (size_t i = 0; h && i < h->n;) {
        const char *k = h->keys[i];

        if ((strncmp(k, "log:", 4) == 0 && strcmp(k + 4, node) == 0) ||
            (strncmp(k, node, nl) == 0 && k[nl] == '/')) {
            log_info("console=%s no longer waits for %s (node %s is "
                     "unreachable)",
                     c->id, k, node);
            memmove(h->keys[i], h->keys[h->n - 1], sizeof(h->keys[0]));
            if (--h->n == 0) {
                chold_free(c);
                return;
            }
            continue;
        }
        i++;
    }
}

void
chold_free(struct console *c)
{
    struct chold *h = c->hold;

    if (h == NULL)
        return;
    strm_reader_remove(&h->rd); /* the stream may resume its feeders */
    chold_release(&h->rd);
}
