/*
 * opcmds.c: ocm_*, the operator port's commands that answer from the
 * node's state: `list` (text and --json, only the consoles the operator
 * may see), `help`, `drain`/`undrain` (the admin role), the replies to
 * lines that do not parse, and the escapes' help. The line editor and the
 * parser are operator.c and opcmd.c; `who` is opwho.c.
 */
#include "vspc/compat.h"

#include <string.h>
#include <jansson.h>

#include "vspc/log.h"
#include "cluster.h"
#include "node.h"
#include "operator.h"

/* A console of another node in `list` (cluster). */
static void
op_list_remote(const struct clu_remote *r, void *arg)
{
    if (!opa_sees(arg, r->id, r->name))
        return;
    op_printf(arg, "%s %s hv=%s ops=- in=- out=- node=%s name=%s\r\n", r->id,
              r->state, r->hv_addr, r->node, r->name);
}

/* The entries of a `list --json` array that op may not see, out. */
static void
op_json_filter(struct oper *op, json_t *arr)
{
    for (size_t i = json_array_size(arr); i-- > 0;) {
        json_t *o = json_array_get(arr, i);
        const char *id = json_string_value(json_object_get(o, "id"));
        const char *name = json_string_value(json_object_get(o, "name"));

        if (!opa_sees(op, id ? id : "", name ? name : ""))
            json_array_remove(arr, i);
    }
}

void
ocm_list(struct oper *op, bool json)
{
    struct console *c;

    if (json) {
        json_t *arr = json_array();
        char *text;

        for (c = con_first(op->px->consoles); c; c = con_next(c)) {
            json_t *o;

            if (clu_shadowed(op->px->clu, c) || !opa_sees(op, c->id, c->name))
                continue; /* listed as the newer owner's, or not its */
            o = con_to_json(c);
            clu_json_local(op->px->clu, o, c);
            json_array_append_new(arr, o);
        }
        clu_json_remotes(op->px->clu, arr);
        op_json_filter(op, arr);
        text = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        if (text) {
            op_puts(op, text);
            op_puts(op, "\r\n");
            free(text);
        }
        return;
    }
    for (c = con_first(op->px->consoles); c; c = con_next(c)) {
        if (clu_shadowed(op->px->clu, c) || !opa_sees(op, c->id, c->name))
            continue; /* listed as the newer owner's, or not its */
        /* In a cluster the line names the owner node (before name=, which
         * is last because it may hold spaces). */
        op_printf(op, "%s %s hv=%s ops=%u in=%llu out=%llu %s%s%sname=%s\r\n",
                  c->id, con_state_str(con_state(c)), c->hv_addr, c->n_ops,
                  (unsigned long long)c->bytes_in,
                  (unsigned long long)c->bytes_out, op->px->clu ? "node=" : "",
                  op->px->clu ? op->px->cfg.node_id : "",
                  op->px->clu ? " " : "", c->name);
    }
    if (op->px->clu)
        clu_foreach_remote(op->px->clu, op_list_remote, op);
}

void
ocm_help(struct oper *op)
{
    char e = (char)(op->px->cfg.escape_char + '@');

    /* Longer than op_printf's buffer. */
    op_puts(op, "commands:\r\n"
                "  list [--json]        the consoles: id, state, hypervisor, "
                "operators,\r\n"
                "                       bytes from/to the VM, VM name\r\n"
                "  attach <console> [rw|ro|excl] [raw] [escape=^X|none]\r\n"
                "                       console: id, VM name or unique id "
                "prefix;\r\n"
                "                       rw shares the console (default), ro "
                "watches,\r\n"
                "                       excl takes the write lock; raw: no "
                "escapes;\r\n"
                "                       escape=: this attachment's escape "
                "character\r\n"
                "  who <console> [--json]   the operators attached to it "
                "through this\r\n"
                "                       node: address, user, mode, raw, since "
                "(and how\r\n"
                "                       many through other nodes)\r\n"
                "  drain [status]       drain the node for an upgrade: "
                "operators are told,\r\n"
                "                       /readyz 503, agent check \"drain\" "
                "(alone: new vMotions\r\n"
                "                       get NOTNOW)\r\n"
                "  drain --close-after S   the same; after S seconds its "
                "hypervisors are let go\r\n"
                "  undrain              end the drain\r\n"
                "  help                 this text\r\n"
                "  login [NAME]         log in as a user of --users (more "
                "rights than\r\n"
                "                       anonymous, where the ACL says so)\r\n"
                "  quit                 leave\r\n");
    if (op->px->cfg.escape_char == 0) {
        op_puts(op, "attached: no escapes (--escape-char none; attach ... "
                    "escape=^X sets one)\r\n");
        return;
    }
    op_printf(op,
              "attached: ^%cc. detach, ^%ccr replay, ^%ccf force write, "
              "^%ccs spectator,\r\n"
              "          ^%ccl send a break, ^%cc? help\r\n",
              e, e, e, e, e, e);
}

void
ocm_escape_help(struct oper *op)
{
    char e = (char)(op_escape_char(op) + '@');

    op_printf(op,
              "\r\n[vspc %s: escapes: ^%cc. detach  ^%ccr replay  ^%ccf "
              "force write  ^%ccs spectator  ^%ccl break  ^%cc? help]\r\n",
              op->mark, e, e, e, e, e, e);
}

void
ocm_usage(struct oper *op, const struct opc *c)
{
    switch (c->kind) {
    case OPC_UNKNOWN:
        op_printf(op, "error unknown command \"%.40s\" (try help)\r\n", c->bad);
        break;
    case OPC_ATTACH_OPTION:
        op_printf(op, "error unknown attach option \"%.32s\"\r\n", c->bad);
        break;
    case OPC_ATTACH_USAGE:
        op_puts(op, "error usage: attach <console> [rw|ro|excl] [raw] "
                    "[escape=^X|none]\r\n");
        break;
    case OPC_DRAIN_USAGE:
        op_puts(op, "error usage: drain [status | --close-after SECONDS]\r\n");
        break;
    case OPC_UNDRAIN_USAGE:
        op_puts(op, "error usage: undrain\r\n");
        break;
    case OPC_LOGIN_USAGE:
        op_puts(op, "error usage: login [NAME]\r\n");
        break;
    case OPC_WHO_USAGE:
        op_puts(op, "error usage: who <console> [--json]\r\n");
        break;
    default:
        break;
    }
}

/* drain [status] / undrain (node_set_draining). */
void
ocm_drain(struct oper *op, const struct opc *c)
{
    struct proxy *px = op->px;
    bool on = c->kind == OPC_DRAIN;

    if (!opa_admin(op, on ? "drain" : "undrain")) {
        op_puts(op, "error permission denied: drain and undrain need the "
                    "admin role\r\n");
        return;
    }
    if (c->kind == OPC_DRAIN_STATUS) {
        op_printf(op, "ok %s\r\n", px->draining ? "draining" : "not draining");
        return;
    }
    if (!node_set_draining(px, on, op->addr, c->close_after))
        op_printf(op, "ok already %s\r\n", on ? "draining" : "not draining");
    else
        op_printf(op, "ok %s\r\n", on ? "draining" : "not draining");
}
