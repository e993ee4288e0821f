/*
 * tn_recorder.h: an event recorder for the telnet codec, shared by the
 * codec suites (header-only: the unit glob builds each test_*.c alone).
 *
 * Every callback appends one line to a text log, so two runs can be
 * compared byte for byte and a failure prints both logs:
 *   D 41 ff 00        data (adjacent data callbacks are merged)
 *   W ff fd 00        output (adjacent output calls are merged)
 *   N WILL 25         raw negotiation received
 *   O L 00 +          option enabled (+) / disabled (-), L = us, R = peer
 *   S e8: 01 02       subnegotiation, option then payload
 *   C f1              other command
 *   E SB_EMPTY        error
 * Raw output bytes and callback counts are kept as well.
 */
#ifndef VSPC_TESTS_TN_RECORDER_H
#define VSPC_TESTS_TN_RECORDER_H

#include "vspc/compat.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telnet.h"

enum {
    REC_STOP_DATA = 1 << 0,
    REC_STOP_NEG = 1 << 1,
    REC_STOP_OPT = 1 << 2,
    REC_STOP_SUB = 1 << 3,
    REC_STOP_CMD = 1 << 4,
    REC_STOP_ERR = 1 << 5,
    REC_STOP_ALL = (1 << 6) - 1,
};

struct rec {
    struct tn tn;
    struct tn_policy pol;
    char *log;
    size_t len, cap;
    char last; /* 'D' or 'W' when the last line may be extended */
    uint8_t *out;
    size_t outlen, outcap;
    uint8_t *data;
    size_t datalen, datacap;
    unsigned n_data, n_out, n_sub, n_neg, n_opt, n_cmd, n_err;
    unsigned stop_mask;
    size_t stop_after_data; /* with REC_STOP_DATA: stop only after this */
};

static inline void
rec_grow(void **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    while (*cap < need)
        *cap = *cap ? *cap * 2 : 256;
    *buf = realloc(*buf, *cap);
    ck_assert_ptr_nonnull(*buf);
}

static inline void VSPC_PRINTF(2, 3)
    rec_logf(struct rec *r, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    rec_grow((void **)&r->log, &r->cap, r->len + (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(r->log + r->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    r->len += (size_t)n;
}

/* A "D"/"W" line with hex bytes, merged with the previous one if same. */
static inline void
rec_hexline(struct rec *r, char type, const uint8_t *p, size_t n)
{
    if (r->last == type) {
        r->len--; /* reopen the previous line: drop its '\n' */
        r->log[r->len] = '\0';
    } else {
        rec_logf(r, "%c", type);
    }
    rec_grow((void **)&r->log, &r->cap, r->len + 3 * n + 2);
    for (size_t i = 0; i < n; i++)
        r->len += (size_t)snprintf(r->log + r->len, 4, " %02x", p[i]);
    rec_logf(r, "\n");
    r->last = type;
}

static inline void
rec_cb_output(void *arg, const uint8_t *p, size_t n)
{
    struct rec *r = arg;

    ck_assert_uint_gt(n, 0);
    r->n_out++;
    rec_grow((void **)&r->out, &r->outcap, r->outlen + n);
    memcpy(r->out + r->outlen, p, n);
    r->outlen += n;
    rec_hexline(r, 'W', p, n);
}

static inline void
rec_cb_data(void *arg, const uint8_t *p, size_t n)
{
    struct rec *r = arg;

    ck_assert_uint_gt(n, 0); /* never an empty run */
    r->n_data++;
    rec_grow((void **)&r->data, &r->datacap, r->datalen + n);
    memcpy(r->data + r->datalen, p, n);
    r->datalen += n;
    rec_hexline(r, 'D', p, n);
    if ((r->stop_mask & REC_STOP_DATA) && r->datalen >= r->stop_after_data)
        tn_stop(&r->tn);
}

static inline void
rec_cb_subneg(void *arg, uint8_t opt, const uint8_t *p, size_t n)
{
    struct rec *r = arg;

    r->n_sub++;
    r->last = 0;
    rec_logf(r, "S %02x:", opt);
    for (size_t i = 0; i < n; i++)
        rec_logf(r, " %02x", p[i]);
    rec_logf(r, "\n");
    if (r->stop_mask & REC_STOP_SUB)
        tn_stop(&r->tn);
}

static inline void
rec_cb_option(void *arg, uint8_t opt, bool local, bool enabled)
{
    struct rec *r = arg;

    r->n_opt++;
    r->last = 0;
    rec_logf(r, "O %c %02x %c\n", local ? 'L' : 'R', opt, enabled ? '+' : '-');
    if (r->stop_mask & REC_STOP_OPT)
        tn_stop(&r->tn);
}

static inline void
rec_cb_negotiation(void *arg, uint8_t verb, uint8_t opt)
{
    struct rec *r = arg;

    r->n_neg++;
    r->last = 0;
    rec_logf(r, "N %s %02x\n", tn_verb_str(verb), opt);
    if (r->stop_mask & REC_STOP_NEG)
        tn_stop(&r->tn);
}

static inline void
rec_cb_command(void *arg, uint8_t cmd)
{
    struct rec *r = arg;

    r->n_cmd++;
    r->last = 0;
    rec_logf(r, "C %02x\n", cmd);
    if (r->stop_mask & REC_STOP_CMD)
        tn_stop(&r->tn);
}

static inline const char *
rec_err_name(enum tn_err e)
{
    switch (e) {
    case TN_ERR_SB_OVERFLOW:
        return "SB_OVERFLOW";
    case TN_ERR_SB_EMPTY:
        return "SB_EMPTY";
    case TN_ERR_SB_BAD_IAC:
        return "SB_BAD_IAC";
    case TN_ERR_SE_OUTSIDE:
        return "SE_OUTSIDE";
    default:
        return "OTHER";
    }
}

static inline void
rec_cb_error(void *arg, enum tn_err err)
{
    struct rec *r = arg;

    r->n_err++;
    r->last = 0;
    rec_logf(r, "E %s\n", rec_err_name(err));
    if (r->stop_mask & REC_STOP_ERR)
        tn_stop(&r->tn);
}

static const struct tn_handlers rec_handlers = {
    .output = rec_cb_output,
    .data = rec_cb_data,
    .subneg = rec_cb_subneg,
    .option = rec_cb_option,
    .negotiation = rec_cb_negotiation,
    .command = rec_cb_command,
    .error = rec_cb_error,
};

/* The policy of a vSPC: BINARY and SGA both ways, ECHO ours, 232 his. */
static inline void
rec_policy_vspc(struct tn_policy *p)
{
    memset(p, 0, sizeof(*p));
    tn_policy_allow(p, TN_OPT_BINARY, true, true);
    tn_policy_allow(p, TN_OPT_SGA, true, true);
    tn_policy_allow(p, TN_OPT_ECHO, true, false);
    tn_policy_allow(p, TN_OPT_VMWARE, false, true);
}

static inline struct rec *
rec_new(void)
{
    struct rec *r = calloc(1, sizeof(*r));

    ck_assert_ptr_nonnull(r);
    rec_policy_vspc(&r->pol);
    tn_init(&r->tn, &r->pol, &rec_handlers, r);
    rec_logf(r, "%s", ""); /* log is never NULL */
    return r;
}

static inline void
rec_free(struct rec *r)
{
    free(r->log);
    free(r->out);
    free(r->data);
    free(r);
}

/* Forget output and log so far (keeps codec state). */
static inline void
rec_clear(struct rec *r)
{
    r->len = 0;
    r->log[0] = '\0';
    r->last = 0;
    r->outlen = 0;
    r->datalen = 0;
    r->n_data = r->n_out = r->n_sub = r->n_neg = r->n_opt = r->n_cmd =
        r->n_err = 0;
}

/*
 * Feed p[0..n) like an event loop would: re-feed the rest after every
 * stop. Each call must make progress. Stops at a fatal error. Returns the
 * number of bytes consumed.
 */
static inline size_t
rec_feed(struct rec *r, const uint8_t *p, size_t n)
{
    size_t done = 0;

    while (done < n && !tn_failed(&r->tn)) {
        size_t c = tn_feed(&r->tn, p + done, n - done);

        ck_assert_uint_le(c, n - done);
        if (c == 0) {
            ck_assert(tn_failed(&r->tn)); /* no progress only when failed */
            break;
        }
        done += c;
    }
    return done;
}

#endif /* VSPC_TESTS_TN_RECORDER_H */
