/*
 * scen_roles.c: the two roles of script.h: a hypervisor (the handshake of
 * PROTOCOL.md 4.1 / 4.2) and an operator (banner, list, attach).
 */
#include "vspc/compat.h"

#include "script.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hypervisor ------------------------------------------------------------
 */

/* The host's KNOWN-SUBOPTIONS-1 from the capture. */
static const uint8_t ks1[] = {0,  1,  2,  3,  40, 41, 43, 44, 45, 46, 48,
                              70, 71, 73, 80, 81, 84, 85, 86, 87, 82, 83};

/* Codes PROTOCOL.md 3.2 assigns. */
static bool
scr_code_assigned(uint8_t c)
{
    static const uint8_t t[] = {0,  1,  2,  3,  40, 41, 43, 44, 45, 46, 48,
                                70, 71, 73, 80, 81, 82, 83, 84, 85, 86, 87};

    for (size_t i = 0; i < sizeof(t); i++)
        if (t[i] == c)
            return true;
    return false;
}

bool
scr_check_ks2(const uint8_t *p, size_t n)
{
    static const uint8_t need[] = {0,  1,  2,  3,  40, 41, 43, 44, 45,
                                   46, 48, 70, 71, 73, 80, 81, 82, 83};
    bool ok = true;

    for (size_t i = 0; i < sizeof(need); i++) {
        if (!memchr(p, need[i], n)) {
            scr_fail(__FILE__, __LINE__,
                     "KNOWN-SUBOPTIONS-2 lacks code %u (0x%02X)", need[i],
                     need[i]);
            ok = false;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!scr_code_assigned(p[i])) {
            scr_fail(__FILE__, __LINE__,
                     "KNOWN-SUBOPTIONS-2 lists unassigned code %u", p[i]);
            ok = false;
        }
    }
    if (!ok) {
        fprintf(stderr, "  KNOWN-SUBOPTIONS-2 payload: ");
        scr_hex(stderr, p, n, 64);
        fputc('\n', stderr);
    }
    return ok;
}

void
scr_uuid(unsigned n, char text[48], char norm[VMX_UUID_HEX + 1])
{
    uint8_t b[16] = {0x42, 0x0f, 0x5c, 0x11, 0x9a, 0x7e, 0x4d, 0x00,
                     0xbe, 0xef, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    size_t k = 0;

    b[12] = (uint8_t)(n >> 24);
    b[13] = (uint8_t)(n >> 16);
    b[14] = (uint8_t)(n >> 8);
    b[15] = (uint8_t)n;
    for (int i = 0; i < 16; i++) {
        k += (size_t)snprintf(text + k, 48 - k, "%s%02x",
                              i == 0 ? "" : (i == 8 ? "-" : " "), b[i]);
        snprintf(norm + 2 * i, 3, "%02x", b[i]);
    }
}

/* Answers the offers the proxy made so far (as the capture host does). */
static size_t
scr_answer_offers(struct scr_conn *c, uint8_t *buf, size_t len, size_t cap)
{
    static const struct {
        uint8_t got, answer, opt;
    } t[] = {
        {TN_WILL, TN_DO, TN_OPT_BINARY},
        {TN_DO, TN_WILL, TN_OPT_BINARY},
        {TN_WILL, TN_DO, TN_OPT_SGA},
        {TN_DO, TN_WILL, TN_OPT_SGA},
    };

    for (size_t i = 0; i < VSPC_ARRAY_LEN(t); i++)
        if (scr_wait_neg(c, t[i].got, t[i].opt, 0))
            len = scr_put_verb(buf, len, cap, t[i].answer, t[i].opt);
    return len;
}

static size_t
scr_put_ident(const struct scr_hs *hs, uint8_t *buf, size_t len, size_t cap)
{
    len = scr_put_vmx(buf, len, cap, VMX_KNOWN_SUBOPTIONS_1, ks1, sizeof(ks1));
    if (hs->seq) {
        uint8_t pl[600];
        size_t n = 0;

        n = scr_put(pl, n, sizeof(pl), hs->seq, hs->nseq);
        n = scr_put(pl, n, sizeof(pl), hs->secret, hs->nsecret);
        len = scr_put_vmx(buf, len, cap, VMX_VMOTION_PEER, pl, n);
        if (!hs->no_comport)
            len = scr_put_verb(buf, len, cap, TN_WILL, TN_OPT_COMPORT);
    } else {
        uint8_t pl[600];
        const char *uri = hs->uri ? hs->uri : "vSPC.py";
        size_t n = 0;

        pl[n++] = (uint8_t)(hs->dir ? hs->dir : 'S');
        n = scr_put(pl, n, sizeof(pl), uri, strlen(uri));
        len = scr_put_vmx(buf, len, cap, VMX_DO_PROXY, pl, n);
    }
    return len;
}

static bool
scr_hs_telnet(struct scr_conn *c, const struct scr_hs *hs)
{
    uint8_t buf[2048];
    size_t len = 0, n;
    const uint8_t *p;

    len = scr_put_verb(buf, 0, sizeof(buf), TN_WILL, TN_OPT_AUTH);
    if (!scr_send(c, buf, len))
        return false;
    if (!scr_expect_neg(c, TN_DONT, TN_OPT_AUTH, SCR_T_ANSWER) ||
        !scr_expect_neg(c, TN_DO, TN_OPT_VMWARE, SCR_T_ANSWER))
        return false;
    len = scr_answer_offers(c, buf, 0, sizeof(buf));
    len = scr_put_verb(buf, len, sizeof(buf), TN_WILL, TN_OPT_VMWARE);
    if (hs && hs->ks1_first)
        len = scr_put_ident(hs, buf, len, sizeof(buf));
    if (!scr_send(c, buf, len))
        return false;
    p = scr_expect_vmx(c, VMX_KNOWN_SUBOPTIONS_2, &n, SCR_T_ANSWER);
    return p && scr_check_ks2(p, n);
}

bool
scr_negotiate(struct scr_conn *c)
{
    return scr_hs_telnet(c, NULL);
}

bool
scr_handshake(struct scr_conn *c, const struct scr_hs *hs)
{
    uint8_t buf[2048];
    size_t len;
    const char *name = hs->name ? hs->name : "vm-sim";
    size_t nlen = hs->name_len ? hs->name_len : strlen(name);

    if (!scr_hs_telnet(c, hs))
        return false;
    if (!hs->ks1_first) {
        len = scr_put_ident(hs, buf, 0, sizeof(buf));
        if (!scr_send(c, buf, len))
            return false;
    }
    if (!scr_expect_vmx_exact(c, VMX_GET_VM_VC_UUID, "", 0, SCR_T_ANSWER) ||
        !scr_expect_vmx_exact(c, VMX_GET_VM_NAME, "", 0, SCR_T_ANSWER))
        return false;
    if (hs->uuid &&
        !scr_send_vmx(c, VMX_VM_VC_UUID, hs->uuid, strlen(hs->uuid)))
        return false;
    if (hs->seq) {
        if (hs->expect_peer_ok &&
            !scr_expect_vmx_exact(c, VMX_VMOTION_PEER_OK, hs->seq, hs->nseq,
                                  SCR_T_ANSWER))
            return false;
    } else if (!hs->no_wait_proxy) {
        if (!scr_expect_vmx_exact(c, VMX_WILL_PROXY, "", 0, SCR_T_ANSWER))
            return false;
    }
    if (!scr_send_vmx(c, VMX_VM_NAME, name, nlen))
        return false;
    if (hs->no_comport)
        return true;
    if (!hs->seq && !scr_send_verb(c, TN_WILL, TN_OPT_COMPORT))
        return false;
    return scr_expect_neg(c, TN_DONT, TN_OPT_COMPORT, SCR_T_ANSWER);
}

/* ---- operator
 * ---------------------------------------------------------------- */

static bool
scr_ends_with_prompt(const struct scr_conn *op)
{
    size_t n = op->ndata - op->rd;
    const uint8_t *p = op->data + op->rd;

    if (n < 6 || memcmp(p + n - 6, "vspc> ", 6) != 0)
        return false;
    return n == 6 || p[n - 7] == '\n';
}

static bool
scr_wait_prompt(struct scr_conn *op, int timeout_ms)
{
    int64_t deadline = scr_now_ms() + timeout_ms;

    while (!scr_ends_with_prompt(op)) {
        int left = (int)(deadline - scr_now_ms());

        if (left <= 0 || op->eof)
            return false;
        scr_pump(op, left);
    }
    return true;
}

struct scr_conn *
scr_op_connect(const char *addr)
{
    struct scr_conn *op = scr_connect(addr, "operator", 3000);

    if (!op)
        return NULL;
    op->auto_answer = true;
    tn_policy_allow(&op->pol, TN_OPT_BINARY, true, true);
    tn_policy_allow(&op->pol, TN_OPT_SGA, true, true);
    if (!scr_wait_prompt(op, SCR_T_ANSWER)) {
        scr_fail(__FILE__, __LINE__,
                 "operator: no banner and prompt \"vspc> \" within %d ms",
                 SCR_T_ANSWER);
        scr_dump(op);
        scr_close(op);
        return NULL;
    }
    { /* "...notices on this session read [vspc MARK: ...]" */
        const uint8_t *m = memmem(op->data, op->ndata, "read [vspc ", 11);
        size_t k = 0;

        if (m == NULL) {
            scr_fail(__FILE__, __LINE__,
                     "operator: no notice marker in the "
                     "banner");
            scr_dump(op);
            scr_close(op);
            return NULL;
        }
        m += 11;
        while (m + k < op->data + op->ndata && m[k] != ':' &&
               k + 1 < sizeof(op->mark)) {
            op->mark[k] = (char)m[k];
            k++;
        }
        op->mark[k] = '\0';
    }
    op->rd = op->ndata;
    return op;
}

bool
scr_op_cmd(struct scr_conn *op, const char *cmd, char *out, size_t cap,
           int timeout_ms)
{
    size_t n, cl = strlen(cmd);
    const char *p;

    op->rd = op->ndata;
    if (!scr_send_data(op, cmd, cl) || !scr_send_data(op, "\r\n", 2))
        return false;
    if (!scr_wait_prompt(op, timeout_ms)) {
        scr_fail(__FILE__, __LINE__,
                 "operator: no reply + prompt to \"%s\" within %d ms", cmd,
                 timeout_ms);
        scr_dump(op);
        return false;
    }
    p = (const char *)op->data + op->rd;
    n = op->ndata - op->rd - 6;
    /* An echo of the command line, if the server echoes. */
    if (n >= cl && memcmp(p, cmd, cl) == 0 &&
        (n == cl || p[cl] == '\r' || p[cl] == '\n')) {
        p += cl;
        n -= cl;
        while (n && (*p == '\r' || *p == '\n' || *p == 0)) {
            p++;
            n--;
        }
    }
    if (n >= cap)
        n = cap - 1;
    /* A NUL in a reply would end the string: show it as 0x01 so that the
     * control-character checks catch it. */
    for (size_t i = 0; i < n; i++)
        out[i] = p[i] ? p[i] : 0x01;
    out[n] = 0;
    op->rd = op->ndata;
    return true;
}

static bool
scr_parse_console(const char *line, size_t len, struct scr_console *c)
{
    char tmp[2048];
    const char *name;
    char *save = NULL, *tok;

    memset(c, 0, sizeof(*c));
    if (len >= sizeof(tmp))
        len = sizeof(tmp) - 1;
    memcpy(tmp, line, len);
    tmp[len] = 0;
    name = strstr(tmp, " name=");
    if (name) {
        c->name_len = strlen(name + 6);
        if (c->name_len >= sizeof(c->name))
            c->name_len = sizeof(c->name) - 1;
        memcpy(c->name, name + 6, c->name_len);
        tmp[name - tmp] = 0;
    }
    tok = strtok_r(tmp, " ", &save);
    if (!tok)
        return false;
    snprintf(c->id, sizeof(c->id), "%s", tok);
    tok = strtok_r(NULL, " ", &save);
    if (!tok)
        return false;
    snprintf(c->state, sizeof(c->state), "%s", tok);
    while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
        if (strncmp(tok, "hv=", 3) == 0)
            snprintf(c->hv, sizeof(c->hv), "%s", tok + 3);
        else if (strncmp(tok, "ops=", 4) == 0)
            c->ops = (unsigned)strtoul(tok + 4, NULL, 10);
        else if (strncmp(tok, "in=", 3) == 0)
            c->in = strtoull(tok + 3, NULL, 10);
        else if (strncmp(tok, "out=", 4) == 0)
            c->out = strtoull(tok + 4, NULL, 10);
    }
    return true;
}

int
scr_op_list(struct scr_conn *op, struct scr_console *arr, int max)
{
    static char out[1 << 20];
    char *p, *nl;
    int k = 0;

    if (!scr_op_cmd(op, "list", out, sizeof(out), SCR_T_ANSWER))
        return -1;
    for (p = out; *p; p = nl) {
        size_t len;

        nl = strchr(p, '\n');
        len = nl ? (size_t)(nl - p) : strlen(p);
        nl = nl ? nl + 1 : p + len;
        while (len >= 6 && strncmp(p, "vspc> ", 6) == 0) {
            p += 6;
            len -= 6;
        }
        while (len && (p[len - 1] == '\r' || p[len - 1] == 0))
            len--;
        if (!len)
            continue;
        if (k < max && !scr_parse_console(p, len, &arr[k])) {
            scr_fail(__FILE__, __LINE__, "operator: bad list line: %.*s",
                     (int)len, p);
            return -1;
        }
        k++;
    }
    return k;
}

int
scr_op_find(struct scr_conn *op, const char *id, struct scr_console *out)
{
    static struct scr_console arr[4096];
    int n = scr_op_list(op, arr, 4096);

    if (n < 0)
        return -1;
    for (int i = 0; i < n && i < 4096; i++) {
        if (strcmp(arr[i].id, id) == 0) {
            if (out)
                *out = arr[i];
            return 1;
        }
    }
    return 0;
}

bool
scr_op_wait_console(struct scr_conn *op, const char *id, const char *state,
                    int timeout_ms)
{
    int64_t deadline = scr_now_ms() + timeout_ms;
    struct scr_console con;
    int r;

    for (;;) {
        r = scr_op_find(op, id, &con);
        if (r < 0)
            return false;
        if (r == 1 && (!state || strcmp(con.state, state) == 0))
            return true;
        if (scr_now_ms() >= deadline)
            break;
        scr_settle(op, 30);
    }
    if (r == 0)
        scr_fail(__FILE__, __LINE__,
                 "operator: console %s not in `list` within %d ms", id,
                 timeout_ms);
    else
        scr_fail(__FILE__, __LINE__,
                 "operator: console %s is %s, expected %s within %d ms", id,
                 con.state, state, timeout_ms);
    return false;
}

long
scr_op_line(struct scr_conn *op, char *line, size_t cap)
{
    const char *p = (const char *)op->data + op->rd;
    const char *eol = memchr(p, '\n', op->ndata - op->rd);
    size_t len;

    if (!eol)
        return -1;
    len = (size_t)(eol - p);
    op->rd = (size_t)((const uint8_t *)eol + 1 - op->data);
    while (len >= 6 && strncmp(p, "vspc> ", 6) == 0) {
        p += 6;
        len -= 6;
    }
    if (len && p[len - 1] == '\r')
        len--;
    memcpy(line, p, len < cap ? len : cap - 1);
    line[len < cap ? len : cap - 1] = 0;
    return (long)len;
}

bool
scr_op_attach(struct scr_conn *op, const char *target, const char *mode,
              bool raw, char *id_out, uint64_t *offset, bool quiet)
{
    char cmd[256], id[VMX_CONSOLE_ID_MAX + 8], md[8];
    int64_t deadline = scr_now_ms() + SCR_T_ANSWER;
    unsigned long long off;

    op->rd = op->ndata;
    snprintf(cmd, sizeof(cmd), "attach %s %s%s\r\n", target, mode,
             raw ? " raw" : "");
    if (!scr_send_data(op, cmd, strlen(cmd)))
        return false;
    for (;;) {
        char line[512];
        long len = scr_op_line(op, line, sizeof(line));

        if (len >= 0) {
            if (len == 0 || strncmp(line, cmd, strlen(target) + 7) == 0)
                continue; /* blank line or an echo */
            if (sscanf(line, "ok attached %72s %7s offset=%llu", id, md,
                       &off) == 3) {
                if (id_out) {
                    id[VMX_CONSOLE_ID_MAX] = 0;
                    memcpy(id_out, id, strlen(id) + 1);
                }
                if (offset)
                    *offset = off;
                if (strcmp(md, mode) != 0) {
                    scr_fail(__FILE__, __LINE__,
                             "operator: asked for %s, got \"%s\"", mode, line);
                    return false;
                }
                return true;
            }
            if (!quiet)
                scr_fail(__FILE__, __LINE__,
                         "operator: \"%.*s\" answered \"%s\"",
                         (int)strlen(cmd) - 2, cmd, line);
            scr_wait_prompt(op, 500);
            op->rd = op->ndata;
            return false;
        }
        if (scr_now_ms() >= deadline || op->eof) {
            scr_fail(__FILE__, __LINE__,
                     "operator: no answer to \"%.*s\" within %d ms",
                     (int)strlen(cmd) - 2, cmd, SCR_T_ANSWER);
            scr_dump(op);
            return false;
        }
        scr_pump(op, (int)(deadline - scr_now_ms()));
    }
}

struct scr_conn *
scr_op_open_attached(const char *addr, const char *id, const char *mode,
                     uint64_t *offset)
{
    struct scr_conn *op = scr_op_connect(addr);
    char got[VMX_CONSOLE_ID_MAX + 1];

    if (!op)
        return NULL;
    if (!scr_op_attach(op, id, mode, true, got, offset, false)) {
        scr_close(op);
        return NULL;
    }
    if (strcmp(got, id) != 0) {
        scr_fail(__FILE__, __LINE__, "operator: attached %s, wanted %s", got,
                 id);
        scr_close(op);
        return NULL;
    }
    return op;
}
