/*
 * scen_drain.c: `vspc-hvsim scenario 201` (ctest admin_drain), the drain of
 * one node (DESIGN.md "Drain") end to end against the real vspc-proxy:
 *
 *   - `drain` on the operator port answers "ok draining";
 *   - an attached (non-raw) operator gets the in-band notice "node
 *     draining", a raw one nothing;
 *   - GET /readyz is 503 "draining", /metrics has vspc_draining 1;
 *   - BEGIN(seq) gets exactly NOTNOW(seq) and no GOAHEAD; the console keeps
 *     carrying bytes both ways; a new hypervisor connection is accepted;
 *   - /api/v1/vmotions shows the NOTNOW with reason "node draining";
 *   - `undrain`: notice "node no longer draining", /readyz 200, and a whole
 *     vMotion (BEGIN -> GOAHEAD, PEER-OK, COMPLETE) works again and is the
 *     newest audit record, outcome "complete".
 *
 * Needs VSPC_HTTP_ADDR (with-proxy.sh sets it).
 */
#include "vspc/compat.h"

#include "scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "scen_ops.h"

static const uint8_t seq_d[] = {0xd1, 0xff, 0x02, 0x01};
static const uint8_t seq_u[] = {0xd2, 0x00, 0xff, 0xff, 0x07};

/* GET /readyz must answer code and exactly text. */
static bool
drain_readyz(int code, const char *text)
{
    int st = 0;
    char *body = ops_http_req("/readyz", &st);
    bool ok = body && st == code && strcmp(body, text) == 0;

    if (body && !ok)
        scr_fail(__FILE__, __LINE__,
                 "GET /readyz: %d \"%s\", expected %d \"%s\"", st, body, code,
                 text);
    free(body);
    return ok;
}

static bool
drain_metric(const char *name, long long want)
{
    char *text = ops_http_get("/metrics");
    long long v = text ? ops_metric(text, name) : -2;

    free(text);
    if (v != want)
        scr_fail(__FILE__, __LINE__, "/metrics %s = %lld, expected %lld", name,
                 v, want);
    return v == want;
}

/* The newest audit record of console id has this outcome (and reason, if
 * not NULL) and this sequence. */
static bool
drain_audit(const char *id, const char *outcome, const char *reason,
            const uint8_t *seq, size_t nseq)
{
    char path[160], hex[64];
    int st = 0;
    char *body;
    json_t *arr, *o;
    const char *got_out, *got_reason, *got_seq;
    bool ok;

    for (size_t i = 0; i < nseq; i++)
        snprintf(hex + 2 * i, 3, "%02x", seq[i]);
    hex[2 * nseq] = 0;
    snprintf(path, sizeof(path), "/api/v1/vmotions?console=%s&limit=1", id);
    if ((body = ops_http_req(path, &st)) == NULL)
        return false;
    arr = json_loads(body, 0, NULL);
    o = json_array_get(arr, 0);
    got_out = json_string_value(json_object_get(o, "outcome"));
    got_reason = json_string_value(json_object_get(o, "reason"));
    got_seq = json_string_value(json_object_get(o, "seq"));
    ok = st == 200 && json_array_size(arr) == 1 && got_out &&
         strcmp(got_out, outcome) == 0 && got_seq &&
         strcmp(got_seq, hex) == 0 &&
         (reason == NULL || (got_reason && strcmp(got_reason, reason) == 0));
    if (!ok)
        scr_fail(__FILE__, __LINE__,
                 "GET %s: %d %s; expected outcome %s seq %s reason %s", path,
                 st, body, outcome, hex, reason ? reason : "(any)");
    json_decref(arr);
    free(body);
    return ok;
}

static int
s_drain(struct scen *s)
{
    char id[VMX_CONSOLE_ID_MAX + 1], id2[VMX_CONSOLE_ID_MAX + 1];
    char line[256];
    struct scr_conn *vm, *vm2, *op, *raw, *adm;
    uint64_t off = 1;

    vm = scen_vm(s, 201, NULL, id);
    TRY(vm);
    op = scr_op_connect(s->op);
    TRY(op);
    TRY(ops_attach(op, id, "rw", "rw", &off));
    raw = scen_op(s, id, "rw");
    TRY(raw);
    TRY(ops_notice_prefix(op, "operator ")); /* raw attached */
    adm = scr_op_connect(s->op);
    TRY(adm);
    TRY(drain_readyz(200, "ready\n"));
    TRY(drain_metric("vspc_draining", 0));

    /* Drain. */
    TRY(ops_reply(adm, "drain", line, sizeof(line)));
    CHECK(strcmp(line, "ok draining") == 0, "drain answered \"%s\"", line);
    TRY(ops_notice(op, "node draining"));
    TRY(scr_no_data(raw, SCR_T_SILENCE)); /* raw: no notices */
    TRY(drain_readyz(503, "draining\n"));
    TRY(drain_metric("vspc_draining", 1));
    TRY(ops_reply(adm, "drain status", line, sizeof(line)));
    CHECK(strcmp(line, "ok draining") == 0, "drain status: \"%s\"", line);

    /* BEGIN gets NOTNOW(seq) exactly, and nothing else. */
    TRY(scr_send_vmx(vm, VMX_VMOTION_BEGIN, seq_d, sizeof(seq_d)));
    TRY(scr_expect_vmx_exact(vm, VMX_VMOTION_NOTNOW, seq_d, sizeof(seq_d),
                             SCR_T_ANSWER));
    TRY(scr_no_vmx(vm, -1, SCR_T_SILENCE));
    TRY(drain_audit(id, "notnow", "node draining", seq_d, sizeof(seq_d)));
    /* The console is untouched; new hypervisors are still accepted. */
    TRY(scen_v2o(vm, op, SEED_VM(201), 0, 600));
    TRY(scr_expect_pattern(raw, SEED_VM(201), 0, 600, SCR_T_ANSWER));
    TRY(scen_o2v(raw, vm, SEED_OP(201), 0, 300));
    vm2 = scen_vm(s, 202, NULL, id2);
    TRY(vm2);
    TRY(scen_console_state(s, id2, "connected", SCR_T_ANSWER));

    /* Undrain: vMotions work again. */
    TRY(ops_reply(adm, "undrain", line, sizeof(line)));
    CHECK(strcmp(line, "ok not draining") == 0, "undrain answered \"%s\"",
          line);
    TRY(ops_notice(op, "node no longer draining"));
    TRY(drain_readyz(200, "ready\n"));
    TRY(drain_metric("vspc_draining", 0));
    TRY(scen_vmotion(s, 201, &vm, seq_u, sizeof(seq_u)));
    TRY(drain_audit(id, "complete", NULL, seq_u, sizeof(seq_u)));
    TRY(scen_v2o(vm, raw, SEED_VM(201), 600, 400));
    return SCEN_PASS;
}

const char *
drain_name(int n)
{
    return n == DRAIN_SCEN ? "drain" : NULL;
}

int
scen_drain(struct scen *s)
{
    return s_drain(s);
}
