/*
 * telnet.c: tn_*, the I/O-free telnet codec (see telnet.h).
 *
 * Parsing is a byte-level state machine (enum tn_pstate) with two fast
 * paths: in TN_ST_DATA a run of data is found with memchr() and handed over
 * in place, and in TN_ST_SB the payload up to the next IAC is copied with
 * one memcpy(). Only IAC sequences are walked byte by byte.
 *
 * State transitions (byte b read in state -> new state):
 *   DATA       FF -> IAC; anything else stays in DATA (delivered as data)
 *   IAC        FF -> DATA (one literal 0xFF); FB..FE -> VERB; FA -> SB_OPT;
 *              F0 -> DATA (TN_ERR_SE_OUTSIDE); other -> DATA (command cb)
 *   VERB       any -> DATA (negotiation cb, then RFC 1143)
 *   SB_OPT     FF -> SB_OPT_IAC; other -> SB (b is the option)
 *   SB_OPT_IAC F0 -> DATA (TN_ERR_SB_EMPTY); FF -> SB (option 255);
 *              other -> ERROR (TN_ERR_SB_BAD_IAC)
 *   SB         FF -> SB_IAC; other -> SB (payload), or ERROR on overflow
 *   SB_IAC     FF -> SB (one 0xFF payload byte, or ERROR on overflow);
 *              F0 -> DATA (subneg cb); other -> ERROR (TN_ERR_SB_BAD_IAC)
 *   ERROR      nothing is read any more
 *
 * Negotiation follows RFC 1143 (the "Q method"): per option and per side a
 * state NO / YES / WANTNO / WANTYES and a queue bit (EMPTY / OPPOSITE).
 * Every reply is tied to a state change, so two Q-method peers cannot loop,
 * and a peer repeating itself gets no answer once the state is settled.
 */
#include "vspc/compat.h"

#include <string.h>

#include "telnet.h"

/* Size of the stack buffer used to escape outgoing data and SBs. */
#define TN_WBUF 1024

/* ------------------------------------------------------------------ */
/* Names and errors                                                    */

const char *
tn_err_str(enum tn_err err)
{
    switch (err) {
    case TN_ERR_NONE:
        return "no error";
    case TN_ERR_SB_OVERFLOW:
        return "subnegotiation too long";
    case TN_ERR_SB_EMPTY:
        return "empty subnegotiation (no option)";
    case TN_ERR_SB_BAD_IAC:
        return "IAC followed by a command inside a subnegotiation";
    case TN_ERR_SE_OUTSIDE:
        return "IAC SE outside a subnegotiation";
    case TN_ERR__COUNT:
        break;
    }
    return "unknown telnet error";
}

bool
tn_err_is_fatal(enum tn_err err)
{
    return err == TN_ERR_SB_OVERFLOW || err == TN_ERR_SB_BAD_IAC;
}

const char *
tn_verb_str(uint8_t verb)
{
    static const char *const names[16] = {
        "SE", "NOP", "DM", "BRK",  "IP",   "AO", "AYT",  "EC",
        "EL", "GA",  "SB", "WILL", "WONT", "DO", "DONT", "IAC",
    };
    if (verb < TN_SE)
        return "???";
    return names[verb - TN_SE];
}

const char *
tn_opt_str(uint8_t opt)
{
    switch (opt) {
    case TN_OPT_BINARY:
        return "BINARY";
    case TN_OPT_ECHO:
        return "ECHO";
    case TN_OPT_SGA:
        return "SGA";
    case 5:
        return "STATUS";
    case 6:
        return "TIMING-MARK";
    case 24:
        return "TTYPE";
    case 31:
        return "NAWS";
    case 32:
        return "TSPEED";
    case 33:
        return "LFLOW";
    case 34:
        return "LINEMODE";
    case 35:
        return "XDISPLOC";
    case 36:
        return "ENVIRON";
    case TN_OPT_AUTH:
        return "AUTHENTICATION";
    case 38:
        return "ENCRYPT";
    case 39:
        return "NEW-ENVIRON";
    case TN_OPT_COMPORT:
        return "COM-PORT-OPTION";
    case TN_OPT_VMWARE:
        return "VMWARE-EXT";
    case TN_OPT_VSPC_ADMIN:
        return "VSPC-ADMIN";
    case 255:
        return "EXOPL";
    default:
        return NULL;
    }
}

/* ------------------------------------------------------------------ */
/* Setup and queries                                                   */

void
tn_policy_allow(struct tn_policy *p, uint8_t opt, bool local, bool remote)
{
    uint8_t bit = (uint8_t)(1u << (opt & 7));

    if (local)
        p->local[opt >> 3] |= bit;
    else
        p->local[opt >> 3] &= (uint8_t)~bit;
    if (remote)
        p->remote[opt >> 3] |= bit;
    else
        p->remote[opt >> 3] &= (uint8_t)~bit;
}

void
tn_init(struct tn *tn, const struct tn_policy *policy,
        const struct tn_handlers *h, void *arg)
{
    memset(tn, 0, offsetof(struct tn, sb)); /* sb[] needs no clearing */
    tn->h = h;
    tn->arg = arg;
    tn->policy = policy;
    tn->pstate = TN_ST_DATA;
}

void
tn_stop(struct tn *tn)
{
    tn->stop = true;
}

bool
tn_failed(const struct tn *tn)
{
    return tn->pstate == TN_ST_ERROR;
}

bool
tn_in_command(const struct tn *tn)
{
    return tn->pstate != TN_ST_DATA && tn->pstate != TN_ST_ERROR;
}

/* ------------------------------------------------------------------ */
/* RFC 1143                                                            */

/* q[] layout: us in bits 0-1 + usq bit 2, him in bits 3-4 + himq bit 5. */
#define Q_SHIFT(local) ((local) ? 0u : 3u)
#define Q_OPPOSITE 4u

static unsigned
s_q_state(const struct tn *tn, uint8_t opt, bool local)
{
    return (tn->q[opt] >> Q_SHIFT(local)) & 3u;
}

static bool
s_q_opposite(const struct tn *tn, uint8_t opt, bool local)
{
    return ((tn->q[opt] >> Q_SHIFT(local)) & Q_OPPOSITE) != 0;
}

static void
s_q_set(struct tn *tn, uint8_t opt, bool local, unsigned st, bool opposite)
{
    unsigned sh = Q_SHIFT(local);
    unsigned v = st | (opposite ? Q_OPPOSITE : 0u);

    tn->q[opt] = (uint8_t)((tn->q[opt] & ~(7u << sh)) | (v << sh));
}

bool
tn_local_enabled(const struct tn *tn, uint8_t opt)
{
    return s_q_state(tn, opt, true) == TN_Q_YES;
}

bool
tn_remote_enabled(const struct tn *tn, uint8_t opt)
{
    return s_q_state(tn, opt, false) == TN_Q_YES;
}

static bool
s_policy_allows(const struct tn *tn, uint8_t opt, bool local)
{
    const uint8_t *bits;

    if (tn->policy == NULL)
        return false;
    bits = local ? tn->policy->local : tn->policy->remote;
    return (bits[opt >> 3] >> (opt & 7)) & 1u;
}

static void
s_send_verb(struct tn *tn, uint8_t verb, uint8_t opt)
{
    uint8_t b[3] = {TN_IAC, verb, opt};

    tn->h->output(tn->arg, b, sizeof(b));
}

/* Fire the option callback if the enabled state moved away from was. */
static void
s_q_notify(struct tn *tn, uint8_t opt, bool local, bool was)
{
    bool now = s_q_state(tn, opt, local) == TN_Q_YES;

    if (now != was && tn->h->option != NULL)
        tn->h->option(tn->arg, opt, local, now);
}

/*
 * The peer sent an enable (WILL about him, DO about us) or a disable
 * (WONT / DONT). RFC 1143 section 7, "upon receipt of WILL/WONT"; the
 * DO/DONT half is the same with us/usq and WILL/WONT swapped.
 */
static void
s_q_recv(struct tn *tn, uint8_t opt, bool local, bool enable)
{
    unsigned st = s_q_state(tn, opt, local);
    bool opp = s_q_opposite(tn, opt, local);
    bool was = st == TN_Q_YES;
    uint8_t yes = local ? TN_WILL : TN_DO;
    uint8_t no = local ? TN_WONT : TN_DONT;

    if (enable) {
        switch (st) {
        case TN_Q_NO:
            if (s_policy_allows(tn, opt, local)) {
                s_q_set(tn, opt, local, TN_Q_YES, false);
                s_send_verb(tn, yes, opt);
            } else {
                s_send_verb(tn, no, opt); /* refusal: state stays NO */
            }
            break;
        case TN_Q_YES:
            break; /* already enabled: a repeat gets no answer */
        case TN_Q_WANTNO:
            /* Peer error, our disable answered by an enable: it will
             * still honour our disable. With a queued re-enable the
             * option simply ends up enabled. */
            s_q_set(tn, opt, local, opp ? TN_Q_YES : TN_Q_NO, false);
            break;
        case TN_Q_WANTYES:
            if (!opp) {
                s_q_set(tn, opt, local, TN_Q_YES, false);
            } else {
                s_q_set(tn, opt, local, TN_Q_WANTNO, false);
                s_send_verb(tn, no, opt);
            }
            break;
        }
    } else {
        switch (st) {
        case TN_Q_NO:
            break; /* unsolicited disable of a disabled option */
        case TN_Q_YES:
            s_q_set(tn, opt, local, TN_Q_NO, false);
            s_send_verb(tn, no, opt);
            break;
        case TN_Q_WANTNO:
            if (!opp) {
                s_q_set(tn, opt, local, TN_Q_NO, false);
            } else {
                s_q_set(tn, opt, local, TN_Q_WANTYES, false);
                s_send_verb(tn, yes, opt);
            }
            break;
        case TN_Q_WANTYES:
            s_q_set(tn, opt, local, TN_Q_NO, false); /* refused */
            break;
        }
    }
    s_q_notify(tn, opt, local, was);
}

/* RFC 1143 section 7, "if we decide to ask him to enable/disable". */
static void
s_q_request(struct tn *tn, uint8_t opt, bool local, bool enable)
{
    unsigned st = s_q_state(tn, opt, local);
    bool opp = s_q_opposite(tn, opt, local);
    bool was = st == TN_Q_YES;

    if (enable) {
        switch (st) {
        case TN_Q_NO:
            s_q_set(tn, opt, local, TN_Q_WANTYES, false);
            s_send_verb(tn, local ? TN_WILL : TN_DO, opt);
            break;
        case TN_Q_YES:
            break;
        case TN_Q_WANTNO:
            if (!opp) /* ask again once the disable is answered */
                s_q_set(tn, opt, local, TN_Q_WANTNO, true);
            break;
        case TN_Q_WANTYES:
            if (opp) /* cancel a queued disable */
                s_q_set(tn, opt, local, TN_Q_WANTYES, false);
            break;
        }
    } else {
        switch (st) {
        case TN_Q_NO:
            break;
        case TN_Q_YES:
            s_q_set(tn, opt, local, TN_Q_WANTNO, false);
            s_send_verb(tn, local ? TN_WONT : TN_DONT, opt);
            break;
        case TN_Q_WANTNO:
            if (opp) /* cancel a queued enable */
                s_q_set(tn, opt, local, TN_Q_WANTNO, false);
            break;
        case TN_Q_WANTYES:
            if (!opp) /* disable once the enable is answered */
                s_q_set(tn, opt, local, TN_Q_WANTYES, true);
            break;
        }
    }
    s_q_notify(tn, opt, local, was);
}

void
tn_request_local(struct tn *tn, uint8_t opt, bool enable)
{
    s_q_request(tn, opt, true, enable);
}

void
tn_request_remote(struct tn *tn, uint8_t opt, bool enable)
{
    s_q_request(tn, opt, false, enable);
}

/* ------------------------------------------------------------------ */
/* Parser                                                              */

static void
s_error(struct tn *tn, enum tn_err err)
{
    if (tn_err_is_fatal(err))
        tn->pstate = TN_ST_ERROR;
    if (tn->h->error != NULL)
        tn->h->error(tn->arg, err);
}

/*
 * TN_ST_DATA. p[start..i) is data already known to be literal (at most
 * the second FF of an FF FF pair); scan on from i. Returns the index of the
 * first byte not consumed.
 */
static size_t
s_data(struct tn *tn, const uint8_t *p, size_t n, size_t start, size_t i)
{
    for (;;) {
        const uint8_t *ff = i < n ? memchr(p + i, TN_IAC, n - i) : NULL;
        size_t k = ff != NULL ? (size_t)(ff - p) : n;

        if (ff != NULL && k + 1 < n && p[k + 1] == TN_IAC) {
            /* FF FF in this buffer: the first FF ends the run as the
             * literal, the second is dropped. */
            tn->h->data(tn->arg, p + start, k + 1 - start);
            i = start = k + 2;
            if (tn->stop)
                return i;
            continue;
        }
        if (k > start)
            tn->h->data(tn->arg, p + start, k - start);
        if (ff == NULL)
            return n;
        if (tn->stop)
            return k; /* the FF is read by the next tn_feed() */
        tn->pstate = TN_ST_IAC;
        return k + 1;
    }
}

/* TN_ST_SB: copy payload up to the next IAC. Returns the new index. */
static size_t
s_sb_run(struct tn *tn, const uint8_t *p, size_t n, size_t i)
{
    const uint8_t *ff = memchr(p + i, TN_IAC, n - i);
    size_t k = ff != NULL ? (size_t)(ff - p) : n;
    size_t room = TN_SB_MAX - tn->sb_len;

    if (k - i > room) {
        memcpy(tn->sb + tn->sb_len, p + i, room);
        tn->sb_len = TN_SB_MAX;
        tn->sb_overflow = true;
        s_error(tn, TN_ERR_SB_OVERFLOW);
        return i + room + 1; /* the byte that did not fit is consumed */
    }
    memcpy(tn->sb + tn->sb_len, p + i, k - i);
    tn->sb_len = (uint16_t)(tn->sb_len + (k - i));
    if (ff == NULL)
        return n;
    tn->pstate = TN_ST_SB_IAC;
    return k + 1;
}

/* FF <b> outside SB, b != FF. */
static void
s_command(struct tn *tn, uint8_t b)
{
    tn->pstate = TN_ST_DATA;
    switch (b) {
    case TN_WILL:
    case TN_WONT:
    case TN_DO:
    case TN_DONT:
        tn->verb = b;
        tn->pstate = TN_ST_VERB;
        break;
    case TN_SB:
        tn->sb_len = 0;
        tn->sb_overflow = false;
        tn->pstate = TN_ST_SB_OPT;
        break;
    case TN_SE:
        s_error(tn, TN_ERR_SE_OUTSIDE);
        break;
    default:
        if (tn->h->command != NULL)
            tn->h->command(tn->arg, b);
        break;
    }
}

static void
s_verb(struct tn *tn, uint8_t verb, uint8_t opt)
{
    bool local = verb == TN_DO || verb == TN_DONT;
    bool enable = verb == TN_WILL || verb == TN_DO;

    if (tn->h->negotiation != NULL)
        tn->h->negotiation(tn->arg, verb, opt);
    s_q_recv(tn, opt, local, enable);
}

static void
s_sb_start(struct tn *tn, uint8_t opt)
{
    tn->sb_opt = opt;
    tn->sb_len = 0;
    tn->pstate = TN_ST_SB;
}

static void
s_sb_byte(struct tn *tn, uint8_t b)
{
    if (tn->sb_len >= TN_SB_MAX) {
        tn->sb_overflow = true;
        s_error(tn, TN_ERR_SB_OVERFLOW);
        return;
    }
    tn->sb[tn->sb_len++] = b;
    tn->pstate = TN_ST_SB;
}

static void
s_sb_end(struct tn *tn)
{
    tn->pstate = TN_ST_DATA;
    if (tn->h->subneg != NULL)
        tn->h->subneg(tn->arg, tn->sb_opt, tn->sb, tn->sb_len);
}

size_t
tn_feed(struct tn *tn, const uint8_t *p, size_t n)
{
    size_t i = 0;

    tn->stop = false;
    while (i < n && !tn->stop && tn->pstate != TN_ST_ERROR) {
        uint8_t b;

        if (tn->pstate == TN_ST_DATA) {
            i = s_data(tn, p, n, i, i);
            continue;
        }
        if (tn->pstate == TN_ST_SB) {
            i = s_sb_run(tn, p, n, i);
            continue;
        }
        b = p[i++];
        switch (tn->pstate) {
        case TN_ST_IAC:
            if (b == TN_IAC) {
                /* FF | FF split across feeds, or just after a command:
                 * the literal starts the next data run. */
                tn->pstate = TN_ST_DATA;
                i = s_data(tn, p, n, i - 1, i);
            } else {
                s_command(tn, b);
            }
            break;
        case TN_ST_VERB:
            tn->pstate = TN_ST_DATA;
            s_verb(tn, tn->verb, b);
            break;
        case TN_ST_SB_OPT:
            if (b == TN_IAC)
                tn->pstate = TN_ST_SB_OPT_IAC;
            else
                s_sb_start(tn, b);
            break;
        case TN_ST_SB_OPT_IAC:
            if (b == TN_SE) {
                tn->pstate = TN_ST_DATA;
                s_error(tn, TN_ERR_SB_EMPTY);
            } else if (b == TN_IAC) {
                s_sb_start(tn, TN_IAC);
            } else {
                s_error(tn, TN_ERR_SB_BAD_IAC);
            }
            break;
        case TN_ST_SB_IAC:
            if (b == TN_IAC)
                s_sb_byte(tn, TN_IAC);
            else if (b == TN_SE)
                s_sb_end(tn);
            else
                s_error(tn, TN_ERR_SB_BAD_IAC);
            break;
        default: /* DATA and SB are handled above; ERROR ends the loop */
            break;
        }
    }
    return i;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

size_t
tn_escape(uint8_t *dst, const uint8_t *src, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        dst[o++] = src[i];
        if (src[i] == TN_IAC)
            dst[o++] = TN_IAC;
    }
    return o;
}

/* A stack buffer in front of handlers.output. */
struct s_wbuf {
    struct tn *tn;
    size_t len;
    uint8_t b[TN_WBUF];
};

static void
s_w_flush(struct s_wbuf *w)
{
    if (w->len > 0)
        w->tn->h->output(w->tn->arg, w->b, w->len);
    w->len = 0;
}

static void
s_w_raw2(struct s_wbuf *w, uint8_t a, uint8_t b)
{
    if (sizeof(w->b) - w->len < 2)
        s_w_flush(w);
    w->b[w->len++] = a;
    w->b[w->len++] = b;
}

/* Append p[0..n) with every 0xFF doubled, copying runs with memcpy. */
static void
s_w_escaped(struct s_wbuf *w, const uint8_t *p, size_t n)
{
    while (n > 0) {
        const uint8_t *ff = memchr(p, TN_IAC, n);
        size_t run = ff != NULL ? (size_t)(ff - p) : n;

        while (run > 0) {
            size_t room = sizeof(w->b) - w->len;
            size_t c = run < room ? run : room;

            memcpy(w->b + w->len, p, c);
            w->len += c;
            p += c;
            n -= c;
            run -= c;
            if (w->len == sizeof(w->b))
                s_w_flush(w);
        }
        if (ff != NULL) {
            s_w_raw2(w, TN_IAC, TN_IAC);
            p++;
            n--;
        }
    }
}

void
tn_send_data(struct tn *tn, const uint8_t *p, size_t n)
{
    struct s_wbuf w;

    if (n == 0)
        return;
    if (memchr(p, TN_IAC, n) == NULL) {
        tn->h->output(tn->arg, p, n); /* the common case: no copy */
        return;
    }
    w.tn = tn;
    w.len = 0;
    s_w_escaped(&w, p, n);
    s_w_flush(&w);
}

void
tn_send_sbv(struct tn *tn, uint8_t opt, const struct tn_buf *v, size_t cnt)
{
    struct s_wbuf w;

    w.tn = tn;
    w.len = 0;
    s_w_raw2(&w, TN_IAC, TN_SB);
    s_w_escaped(&w, &opt, 1);
    for (size_t i = 0; i < cnt; i++)
        s_w_escaped(&w, v[i].p, v[i].n);
    s_w_raw2(&w, TN_IAC, TN_SE);
    s_w_flush(&w);
}

void
tn_send_sb(struct tn *tn, uint8_t opt, const uint8_t *p, size_t n)
{
    struct tn_buf v = {p, n};

    tn_send_sbv(tn, opt, &v, 1);
}

void
tn_send_cmd(struct tn *tn, uint8_t cmd)
{
    uint8_t b[2] = {TN_IAC, cmd};

    tn->h->output(tn->arg, b, sizeof(b));
}

void
tn_send_raw_verb(struct tn *tn, uint8_t verb, uint8_t opt)
{
    s_send_verb(tn, verb, opt);
}
