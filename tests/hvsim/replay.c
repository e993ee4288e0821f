/*
 * replay.c: `vspc-hvsim replay FILE --proxy ADDR --operator ADDR
 * [--split orig|1]`: the host side (h2p) of VMware's capture
 * (/work/shared/data/vmware-capture-host-streams.json) replayed against
 * vspc-proxy, connections interleaved in capture order.
 *
 * No real-time sleeps: before each segment the replay waits (bounded) for
 * the proxy answer the host waited for (WILL 232 after DONT AUTH, the
 * identity after the GETs, data after WILL-PROXY, anything after a BEGIN
 * after its answer, PEER after the GOAHEAD it refers to, COMPLETE after
 * PEER-OK, the source's FIN after the peer's PEER-OK). The capture's
 * secrets were chosen by another vSPC: PEER carries the secret our proxy
 * returned. Every answer is checked as it comes by a model that accepts
 * every protocol-correct answer (GOAHEAD or NOTNOW) and tracks the state it
 * leads to; a peer connection whose vMotion our proxy refused is skipped.
 * An operator attached ro raw must see every serial byte of the capture,
 * in order, exactly once.
 */
#include "vspc/compat.h"

#include "replay.h"
#include "script.h"
#include "sim.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RP_MAXCONN 16
#define RP_MAXVM 16
#define RP_WAIT 5000

struct rp_tok {
    uint8_t kind; /* 'D' data, 'V' verb, 'S' SB, 'C' command */
    uint8_t verb, opt;
    uint8_t p[TN_SB_MAX];
    size_t n;
};

struct rp_seg {
    double t;
    int conn;
    int idx;
    bool fin;
    uint8_t *b;
    size_t n;
};

/* One vMotion as the model sees it. */
struct rp_vm {
    uint8_t seq[VMX_SEQ_MAX];
    size_t nseq;
    int src;
    int answer; /* 0 none, 'G' GOAHEAD, 'N' NOTNOW */
    uint8_t secret[VMX_SECRET_LEN];
    bool dead; /* aborted, replaced, completed */
    int peer;  /* conn that sent PEER, -1 */
};

struct rp_conn {
    const char *id;
    struct scr_conn *c;
    bool opened, skipped, fin_sent;
    size_t checked; /* events already checked */
    bool will_auth, do_proxy, peer, comport, will232;
    bool g_dont_auth, g_do232, g_ks2, g_get_uuid, g_get_name, g_will_proxy;
    bool g_dont_comport, g_peer_ok;
    int begin_out; /* rp_vm index of the unanswered BEGIN, -1 */
    int peer_vm;   /* rp_vm index of our PEER, -1 */
    bool completed;
};

static struct rp_conn rc[RP_MAXCONN];
static int nconn;
static struct rp_vm vms[RP_MAXVM];
static int nvm;
static struct scr_conn *op;
static bool attached;
static char console_id[VMX_UUID_HEX + 1];
static uint8_t *expect;
static size_t nexpect, capexpect;
static uint64_t att_off;
static int failures;
static const char *proxy_addr;
static int split_mode; /* 1: 1-byte segments */

#define RFAIL(...)                                                             \
    do {                                                                       \
        scr_fail(__FILE__, __LINE__, __VA_ARGS__);                             \
        failures++;                                                            \
    } while (0)

/* Splits one segment into tokens; false if a command is cut (the capture
 * never cuts one). */
static bool
tokenize(const uint8_t *b, size_t n, struct rp_tok *t, size_t max, size_t *nt)
{
    size_t i = 0, k = 0;

    while (i < n && k < max) {
        struct rp_tok *x = &t[k++];

        x->kind = x->verb = x->opt = 0;
        x->n = 0;
        if (b[i] != TN_IAC || (i + 1 < n && b[i + 1] == TN_IAC)) {
            x->kind = 'D';
            while (i < n && x->n < sizeof(x->p)) {
                if (b[i] == TN_IAC) {
                    if (i + 1 >= n || b[i + 1] != TN_IAC)
                        break;
                    i++;
                }
                x->p[x->n++] = b[i++];
            }
            continue;
        }
        if (i + 1 >= n)
            return false;
        if (b[i + 1] >= TN_WILL && b[i + 1] <= TN_DONT) {
            if (i + 2 >= n)
                return false;
            x->kind = 'V';
            x->verb = b[i + 1];
            x->opt = b[i + 2];
            i += 3;
        } else if (b[i + 1] == TN_SB) {
            if (i + 2 >= n)
                return false;
            x->kind = 'S';
            x->opt = b[i + 2];
            for (i += 3;; i++) {
                if (i >= n)
                    return false;
                if (b[i] == TN_IAC) {
                    if (i + 1 >= n)
                        return false;
                    if (b[i + 1] == TN_SE) {
                        i += 2;
                        break;
                    }
                    i++;
                }
                if (x->n < sizeof(x->p))
                    x->p[x->n++] = b[i];
            }
        } else {
            x->kind = 'C';
            x->verb = b[i + 1];
            i += 2;
        }
    }
    *nt = k;
    return i == n;
}

static void
expect_add(const uint8_t *p, size_t n)
{
    if (nexpect + n > capexpect) {
        capexpect = (nexpect + n) * 2 + 256;
        expect = realloc(expect, capexpect);
        if (!expect)
            exit(2);
    }
    memcpy(expect + nexpect, p, n);
    nexpect += n;
}

static int
vm_find(const uint8_t *p, size_t n, bool prefix)
{
    for (int i = nvm - 1; i >= 0; i--)
        if ((prefix ? vms[i].nseq <= n : vms[i].nseq == n) &&
            memcmp(vms[i].seq, p, vms[i].nseq) == 0)
            return i;
    return -1;
}

static void
print_seq(const char *what, const uint8_t *p, size_t n)
{
    printf("%s", what);
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
}

/* ---- the checker: every event the proxy sends ------------------------ */

static void
check_sb(int ci, const struct scr_ev *e)
{
    struct rp_conn *r = &rc[ci];
    const uint8_t *p = e->p + 1;
    size_t n = e->n - 1;
    uint8_t sub = e->p[0];
    int v;

    switch (sub) {
    case VMX_KNOWN_SUBOPTIONS_2:
        if (!scr_check_ks2(p, n))
            failures++;
        r->g_ks2 = true;
        break;
    case VMX_GET_VM_VC_UUID:
    case VMX_GET_VM_NAME:
        if (n)
            RFAIL("%s: GET with a payload", r->id);
        if (!r->do_proxy && !r->peer)
            RFAIL("%s: GET before DO-PROXY or PEER", r->id);
        if (sub == VMX_GET_VM_VC_UUID)
            r->g_get_uuid = true;
        else
            r->g_get_name = true;
        break;
    case VMX_WILL_PROXY:
        if (!r->do_proxy || n)
            RFAIL("%s: WILL-PROXY without DO-PROXY or with a payload", r->id);
        r->g_will_proxy = true;
        break;
    case VMX_VMOTION_GOAHEAD:
    case VMX_VMOTION_NOTNOW:
        v = r->begin_out;
        if (v < 0) {
            RFAIL("%s: %s without a BEGIN", r->id, vmx_sub_str(sub));
            break;
        }
        r->begin_out = -1;
        if (sub == VMX_VMOTION_NOTNOW) {
            if (n != vms[v].nseq || memcmp(p, vms[v].seq, n) != 0)
                RFAIL("%s: NOTNOW payload is not the sequence", r->id);
            vms[v].answer = 'N';
            vms[v].dead = true;
            print_seq("  model: BEGIN ", vms[v].seq, vms[v].nseq);
            printf(" -> NOTNOW\n");
            break;
        }
        if (n != vms[v].nseq + VMX_SECRET_LEN ||
            memcmp(p, vms[v].seq, vms[v].nseq) != 0) {
            RFAIL("%s: GOAHEAD payload is not seq || 8-byte secret", r->id);
            break;
        }
        for (int i = 0; i < nvm; i++) {
            if (i != v && vms[i].answer == 'G' && !vms[i].dead) {
                print_seq("  model: GOAHEAD replaced pending ", vms[i].seq,
                          vms[i].nseq);
                printf("\n");
                vms[i].dead = true;
            }
        }
        vms[v].answer = 'G';
        memcpy(vms[v].secret, p + vms[v].nseq, VMX_SECRET_LEN);
        print_seq("  model: BEGIN ", vms[v].seq, vms[v].nseq);
        print_seq(" -> GOAHEAD secret ", vms[v].secret, VMX_SECRET_LEN);
        printf("\n");
        break;
    case VMX_VMOTION_PEER_OK:
        v = r->peer_vm;
        if (v < 0 || vms[v].dead || vms[v].answer != 'G') {
            RFAIL("%s: PEER-OK for a PEER that must be rejected", r->id);
            break;
        }
        if (n != vms[v].nseq || memcmp(p, vms[v].seq, n) != 0)
            RFAIL("%s: PEER-OK payload is not exactly the sequence", r->id);
        if (r->g_peer_ok)
            RFAIL("%s: PEER-OK twice", r->id);
        r->g_peer_ok = true;
        break;
    case VMX_UNKNOWN_SUBOPTION_RCVD_2:
        RFAIL("%s: UNKNOWN-SUBOPTION-RCVD-2 %u for a known code", r->id,
              n ? p[0] : 0);
        break;
    default:
        RFAIL("%s: unexpected suboption %u from the proxy", r->id, sub);
        break;
    }
}

static void
check_conn(int ci)
{
    struct rp_conn *r = &rc[ci];
    struct scr_conn *c = r->c;

    for (; r->checked < c->nev; r->checked++) {
        struct scr_ev *e = &c->ev[r->checked];

        e->used = true;
        switch (e->kind) {
        case SCR_EV_NEG:
            if (e->opt == TN_OPT_AUTH) {
                if (e->verb != TN_DONT)
                    RFAIL("%s: %s AUTH, expected DONT AUTH", r->id,
                          tn_verb_str(e->verb));
                r->g_dont_auth = true;
            } else if (e->opt == TN_OPT_VMWARE) {
                if (e->verb == TN_DO)
                    r->g_do232 = true;
                else if (e->verb != TN_WILL)
                    RFAIL("%s: %s 232", r->id, tn_verb_str(e->verb));
            } else if (e->opt == TN_OPT_COMPORT) {
                if (e->verb != TN_DONT)
                    RFAIL("%s: %s COM-PORT, expected DONT", r->id,
                          tn_verb_str(e->verb));
                r->g_dont_comport = true;
            }
            break;
        case SCR_EV_SB:
            if (e->opt != TN_OPT_VMWARE || e->n == 0)
                RFAIL("%s: SB for option %u", r->id, e->opt);
            else
                check_sb(ci, e);
            break;
        case SCR_EV_DATA:
            RFAIL("%s: %zu data bytes sent toward the host", r->id, e->n);
            break;
        case SCR_EV_ERR:
            RFAIL("%s: telnet error in the proxy's stream: %s", r->id,
                  tn_err_str((enum tn_err)e->verb));
            break;
        default:
            break;
        }
    }
}

static void
pump_all(int ms)
{
    struct scr_conn *cs[RP_MAXCONN + 1];
    size_t k = 0;

    for (int i = 0; i < nconn; i++)
        if (rc[i].c && !rc[i].c->eof)
            cs[k++] = rc[i].c;
    if (op)
        cs[k++] = op;
    scr_pump_many(cs, k, ms);
    for (int i = 0; i < nconn; i++)
        if (rc[i].c)
            check_conn(i);
}

/* Attach the operator as soon as the console is listed. */
static void
try_attach(void)
{
    char id[VMX_CONSOLE_ID_MAX + 1];
    bool any = false;

    for (int i = 0; i < nconn; i++)
        any |= rc[i].g_will_proxy || rc[i].g_peer_ok;
    if (attached || !any || !console_id[0])
        return;
    if (scr_op_find(op, console_id, NULL) != 1)
        return;
    if (!scr_op_attach(op, console_id, "ro", true, id, &att_off, false)) {
        failures++;
        return;
    }
    attached = true;
    printf("  operator attached to %s, offset=%llu\n", id,
           (unsigned long long)att_off);
}

typedef bool (*rp_cond)(int ci, int arg);

static bool
wait_for(int ci, rp_cond fn, int arg, const char *what)
{
    int64_t deadline = scr_now_ms() + RP_WAIT;

    for (;;) {
        check_conn(ci);
        if (fn(ci, arg))
            return true;
        if (scr_now_ms() >= deadline || rc[ci].c->eof)
            break;
        pump_all(5);
    }
    RFAIL("%s: waited %d ms for %s%s", rc[ci].id, RP_WAIT, what,
          rc[ci].c->eof ? " (connection closed by the proxy)" : "");
    scr_dump(rc[ci].c);
    return false;
}

static bool
c_auth(int ci, int a)
{
    return (!rc[ci].will_auth || rc[ci].g_dont_auth) && rc[ci].g_do232;
}
static bool
c_ks2(int ci, int a)
{
    return rc[ci].g_ks2;
}
static bool
c_get_uuid(int ci, int a)
{
    return rc[ci].g_get_uuid;
}
static bool
c_get_name(int ci, int a)
{
    return rc[ci].g_get_name;
}
static bool
c_will_proxy(int ci, int a)
{
    return rc[ci].g_will_proxy;
}
static bool
c_peer_ok(int ci, int a)
{
    return rc[ci].g_peer_ok;
}
static bool
c_answered(int ci, int a)
{
    return rc[ci].begin_out < 0;
}
static bool
c_comport(int ci, int a)
{
    return rc[ci].g_dont_comport;
}

/* ---- sending --------------------------------------------------------------
 */

/* Whether a peer connection can happen: its PEER's vMotion got GOAHEAD. */
static bool
peer_possible(int ci, const struct rp_seg *segs, int nsegs)
{
    struct rp_tok t[32];
    size_t nt;
    int v;

    for (int i = 0; i < nsegs; i++) {
        if (segs[i].conn != ci || segs[i].fin ||
            !tokenize(segs[i].b, segs[i].n, t, 32, &nt))
            continue;
        for (size_t k = 0; k < nt; k++) {
            if (t[k].kind != 'S' || t[k].opt != TN_OPT_VMWARE ||
                t[k].p[0] != VMX_VMOTION_PEER)
                continue;
            v = vm_find(t[k].p + 1, t[k].n - 1, true);
            if (v < 0) {
                printf("  skipped: peer connection %s presents a vMotion "
                       "that was never begun (its BEGIN was on a skipped "
                       "connection)\n",
                       rc[ci].id);
                return false;
            }
            if (vms[v].answer == 0 &&
                !wait_for(vms[v].src, c_answered, 0, "the answer to BEGIN"))
                return false;
            if (vms[v].answer != 'G' || vms[v].dead) {
                print_seq("  skipped: the vMotion of sequence ", vms[v].seq,
                          vms[v].nseq);
                printf(" was refused or cancelled by our proxy, so peer "
                       "connection %s cannot happen\n",
                       rc[ci].id);
                return false;
            }
            return true;
        }
    }
    return true;
}

static bool
send_seg(const struct rp_seg *sg, const struct rp_seg *segs, int nsegs)
{
    struct rp_conn *r = &rc[sg->conn];
    static struct rp_tok t[64];
    static uint8_t out[8192];
    size_t nt, len = 0;

    if (!r->opened) {
        r->opened = true;
        r->begin_out = r->peer_vm = -1;
        if (!peer_possible(sg->conn, segs, nsegs)) {
            r->skipped = true;
            return true;
        }
        r->c = scr_connect(proxy_addr, r->id, 3000);
        if (!r->c)
            return false;
        r->c->split = split_mode;
        printf("  %s: connected\n", r->id);
    }
    if (r->skipped)
        return true;
    if (r->begin_out >= 0 &&
        !wait_for(sg->conn, c_answered, 0, "the answer to VMOTION-BEGIN"))
        return false;
    if (sg->fin) {
        for (int v = 0; v < nvm; v++)
            if (vms[v].src == sg->conn && vms[v].peer >= 0 && !vms[v].dead &&
                !wait_for(vms[v].peer, c_peer_ok, 0, "PEER-OK"))
                return false;
        scr_shut_wr(r->c);
        r->fin_sent = true;
        printf("  %s: FIN\n", r->id);
        return true;
    }
    if (!tokenize(sg->b, sg->n, t, 64, &nt)) {
        RFAIL("%s: capture segment cuts a command (unsupported)", r->id);
        return false;
    }
    for (size_t k = 0; k < nt; k++) {
        struct rp_tok *x = &t[k];
        uint8_t sub = x->n ? x->p[0] : 0;
        int v;

        if (x->kind == 'V') {
            if (x->verb == TN_WILL && x->opt == TN_OPT_VMWARE &&
                !wait_for(sg->conn, c_auth, 0, "DONT AUTH and DO 232"))
                return false;
            if (x->verb == TN_WILL && x->opt == TN_OPT_AUTH)
                r->will_auth = true;
            if (x->verb == TN_WILL && x->opt == TN_OPT_COMPORT)
                r->comport = true;
            if (x->verb == TN_WILL && x->opt == TN_OPT_VMWARE)
                r->will232 = true;
            len = scr_put_verb(out, len, sizeof(out), x->verb, x->opt);
            continue;
        }
        if (x->kind == 'D') {
            if (r->do_proxy &&
                !wait_for(sg->conn, c_will_proxy, 0, "WILL-PROXY"))
                return false;
            expect_add(x->p, x->n);
            len = scr_put_data(out, len, sizeof(out), x->p, x->n);
            continue;
        }
        if (x->kind != 'S' || x->opt != TN_OPT_VMWARE || x->n == 0) {
            RFAIL("%s: unexpected token in the capture", r->id);
            return false;
        }
        switch (sub) {
        case VMX_KNOWN_SUBOPTIONS_1:
            if (!wait_for(sg->conn, c_ks2, 0, "KNOWN-SUBOPTIONS-2"))
                return false;
            break;
        case VMX_DO_PROXY:
            r->do_proxy = true;
            break;
        case VMX_VM_VC_UUID:
            if (!wait_for(sg->conn, c_get_uuid, 0, "GET-VM-VC-UUID"))
                return false;
            if (!console_id[0] &&
                vmx_uuid_normalise(x->p + 1, x->n - 1, console_id) != 0) {
                RFAIL("capture UUID does not normalise");
                return false;
            }
            break;
        case VMX_VM_NAME:
            if (!wait_for(sg->conn, c_get_name, 0, "GET-VM-NAME"))
                return false;
            break;
        case VMX_VMOTION_BEGIN:
            if (nvm >= RP_MAXVM || x->n - 1 > VMX_SEQ_MAX)
                return false;
            v = nvm++;
            memset(&vms[v], 0, sizeof(vms[v]));
            memcpy(vms[v].seq, x->p + 1, x->n - 1);
            vms[v].nseq = x->n - 1;
            vms[v].src = sg->conn;
            vms[v].peer = -1;
            r->begin_out = v;
            break;
        case VMX_VMOTION_PEER:
            v = vm_find(x->p + 1, x->n - 1, true);
            if (v < 0 || vms[v].answer != 'G')
                return false;
            /* Our proxy's secret, not the capture's. */
            memcpy(x->p + 1 + vms[v].nseq, vms[v].secret, VMX_SECRET_LEN);
            x->n = 1 + vms[v].nseq + VMX_SECRET_LEN;
            r->peer = true;
            r->peer_vm = v;
            vms[v].peer = sg->conn;
            break;
        case VMX_VMOTION_COMPLETE:
            if (!wait_for(sg->conn, c_peer_ok, 0, "PEER-OK"))
                return false;
            v = r->peer_vm;
            vms[v].dead = true;
            r->completed = true;
            break;
        case VMX_VMOTION_ABORT:
            for (v = 0; v < nvm; v++)
                if (vms[v].src == sg->conn && vms[v].answer == 'G' &&
                    !vms[v].dead) {
                    print_seq("  model: ABORT cancels ", vms[v].seq,
                              vms[v].nseq);
                    printf("\n");
                    vms[v].dead = true;
                }
            break;
        default:
            break;
        }
        len = scr_put_vmx(out, len, sizeof(out), sub, x->p + 1, x->n - 1);
    }
    if (len > sizeof(out))
        return false;
    return scr_send(r->c, out, len);
}

/* ---- loading ------------------------------------------------------------- */

static int
seg_cmp(const void *a, const void *b)
{
    const struct rp_seg *x = a, *y = b;

    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->conn != y->conn)
        return x->conn - y->conn;
    return x->idx - y->idx;
}

static int
load(const char *file, struct rp_seg **out, json_t **root)
{
    json_error_t jerr;
    json_t *conns, *cj, *ej;
    size_t i, j;
    int n = 0, cap = 256;
    struct rp_seg *segs = malloc(sizeof(*segs) * (size_t)cap);

    *root = json_load_file(file, 0, &jerr);
    if (!*root || !segs) {
        fprintf(stderr, "replay: %s: %s (line %d)\n", file, jerr.text,
                jerr.line);
        return -1;
    }
    conns = json_object_get(*root, "connections");
    json_array_foreach(conns, i, cj)
    {
        if (nconn >= RP_MAXCONN)
            return -1;
        rc[nconn].id = json_string_value(json_object_get(cj, "id"));
        json_array_foreach(json_object_get(cj, "events"), j, ej)
        {
            const char *dir = json_string_value(json_object_get(ej, "dir"));
            const char *kind = json_string_value(json_object_get(ej, "kind"));
            const char *hex = json_string_value(json_object_get(ej, "hex"));
            struct rp_seg *s;

            if (!dir || strcmp(dir, "h2p") != 0 || !kind)
                continue;
            if (n == cap) {
                cap *= 2;
                segs = realloc(segs, sizeof(*segs) * (size_t)cap);
                if (!segs)
                    exit(2);
            }
            s = &segs[n++];
            memset(s, 0, sizeof(*s));
            s->t = json_real_value(json_object_get(ej, "t"));
            s->conn = nconn;
            s->idx = (int)j;
            s->fin = strcmp(kind, "fin") == 0;
            if (!s->fin && hex) {
                s->n = strlen(hex) / 2;
                s->b = malloc(s->n ? s->n : 1);
                if (!s->b)
                    exit(2);
                for (size_t k = 0; k < s->n; k++)
                    s->b[k] = (uint8_t)(sim_hexval(hex[2 * k]) * 16 +
                                        sim_hexval(hex[2 * k + 1]));
            }
        }
        nconn++;
    }
    qsort(segs, (size_t)n, sizeof(*segs), seg_cmp);
    *out = segs;
    return n;
}

/* ---- final checks ----------------------------------------------------------
 */

static void
final_checks(void)
{
    for (int i = 0; i < nconn; i++) {
        struct rp_conn *r = &rc[i];

        if (!r->c)
            continue;
        if (r->will_auth)
            wait_for(i, c_auth, 0, "DONT AUTH and DO 232");
        if (r->will232)
            wait_for(i, c_ks2, 0, "KNOWN-SUBOPTIONS-2");
        if (r->do_proxy || r->peer) {
            wait_for(i, c_get_uuid, 0, "GET-VM-VC-UUID");
            wait_for(i, c_get_name, 0, "GET-VM-NAME");
        }
        if (r->do_proxy)
            wait_for(i, c_will_proxy, 0, "WILL-PROXY");
        if (r->comport)
            wait_for(i, c_comport, 0, "DONT COM-PORT");
        if (r->begin_out >= 0)
            wait_for(i, c_answered, 0, "the answer to VMOTION-BEGIN");
        if (r->peer_vm >= 0 && vms[r->peer_vm].answer == 'G' && !r->g_peer_ok)
            wait_for(i, c_peer_ok, 0, "PEER-OK");
        if (r->fin_sent && !scr_wait_eof(r->c, 3000))
            RFAIL("%s: the proxy did not close the connection after our "
                  "FIN",
                  r->id);
        check_conn(i);
    }
}

static void
check_operator(void)
{
    int64_t deadline = scr_now_ms() + 3000;
    size_t want;

    if (!attached) {
        RFAIL("operator never attached: console %s not listed", console_id);
        return;
    }
    if (att_off > nexpect) {
        RFAIL("attach offset %llu beyond the %zu bytes sent",
              (unsigned long long)att_off, nexpect);
        return;
    }
    if (att_off != 0)
        printf("  note: scrollback starts at offset %llu\n",
               (unsigned long long)att_off);
    want = nexpect - (size_t)att_off;
    while (op->ndata - op->rd < want && scr_now_ms() < deadline)
        scr_pump(op, 50);
    scr_settle(op, 200);
    if (!scr_expect_data(op, expect + att_off, want, 0)) {
        failures++;
        return;
    }
    if (!scr_no_data(op, 0)) {
        failures++;
        return;
    }
    printf("  operator received all %zu serial bytes, in order, once\n", want);
}

int
replay_main(int argc, char **argv)
{
    const char *file = NULL, *proxy = NULL, *opaddr = NULL, *split = "orig";
    struct rp_seg *segs;
    json_t *root = NULL;
    int nsegs, skipped = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--proxy") == 0 && i + 1 < argc)
            proxy = argv[++i];
        else if (strcmp(argv[i], "--operator") == 0 && i + 1 < argc)
            opaddr = argv[++i];
        else if (strcmp(argv[i], "--split") == 0 && i + 1 < argc)
            split = argv[++i];
        else if (!file && argv[i][0] != '-')
            file = argv[i];
        else
            file = NULL, i = argc;
    }
    if (!file || !scr_addr_ok(proxy) || !scr_addr_ok(opaddr) ||
        (strcmp(split, "orig") != 0 && strcmp(split, "1") != 0)) {
        fprintf(stderr, "usage: vspc-hvsim replay FILE --proxy 127.x.x.x:PORT "
                        "--operator 127.x.x.x:PORT [--split orig|1]\n");
        return 2;
    }
    proxy_addr = proxy;
    split_mode = strcmp(split, "1") == 0;
    nsegs = load(file, &segs, &root);
    if (nsegs < 0)
        return 2;
    printf("replay %s: %d connections, %d host segments, split %s\n", file,
           nconn, nsegs, split);
    op = scr_op_connect(opaddr);
    if (!op)
        return 1;
    for (int i = 0; i < nsegs && failures == 0; i++) {
        if (!send_seg(&segs[i], segs, nsegs)) {
            failures++;
            break;
        }
        pump_all(0);
        try_attach();
    }
    if (failures == 0) {
        final_checks();
        try_attach();
        check_operator();
    }
    for (int i = 0; i < nconn; i++) {
        skipped += rc[i].skipped;
        if (rc[i].c)
            scr_close(rc[i].c);
    }
    printf("replay: %d of %d connections replayed (%d skipped), %d "
           "vMotions: %s\n",
           nconn - skipped, nconn, skipped, nvm, failures ? "FAIL" : "PASS");
    scr_close_all();
    for (int i = 0; i < nsegs; i++)
        free(segs[i].b);
    free(segs);
    free(expect);
    json_decref(root);
    return failures ? 1 : 0;
}
