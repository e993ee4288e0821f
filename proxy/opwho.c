/*
 * opwho.c: who is attached to a console (the operator port's `who`, the
 * HTTP API's /api/v1/consoles/<key>/operators), the console lookup both
 * share with the HTTP API (ocm_resolve), and the break escape (^Ecl).
 *
 * `who` shows the operators whose sessions are on THIS node, wherever the
 * console is held (an operator of this node attached to another node's
 * console is listed here; their mode is then the one it attached with).
 * For a console this node holds, the operators attached through other
 * nodes are only counted (remote_operators): each node knows its own.
 */
#include "vspc/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "vspc/log.h"
#include "cluster.h"
#include "operator.h"

int
ocm_resolve(struct proxy *px, const char *key, struct console **cp,
            const char **id, const char **name, const char **err)
{
    struct console *c = con_lookup(px->consoles, key, err);

    *cp = c;
    *id = c ? c->id : key;
    *name = c ? c->name : "";
    if (c)
        return 0;
    if (!clu_knows(px->clu, key))
        return -1;
    clu_names(px->clu, key, id, name);
    return 0;
}

/* rw, ro or excl: what o may do now (a console of this node), or what it
 * attached with (another node's). */
static const char *
ocm_mode(const struct oper *o)
{
    const struct console *c = o->con;

    if (c == NULL) {
        if (o->att_mode == OP_MODE_RO)
            return "ro";
        return o->req == CON_LOCK_TAKE_WRITE ? "excl" : "rw";
    }
    if (c->excl_writer == o->co.id || c->excl_all == o->co.id)
        return "excl";
    return con_op_can_write(c, &o->co) ? "rw" : "ro";
}

json_t *
ocm_who_json(struct proxy *px, const char *id, const char *name,
             const struct console *c)
{
    json_t *arr = json_array(), *o;
    struct oper *op;
    unsigned here = 0;

    if (arr == NULL)
        return NULL;
    TAILQ_FOREACH (op, &px->operators, link) {
        char since[32];
        struct tm tm;

        if (op->state != OP_ST_ATTACHED || strcmp(op->att_id, id) != 0)
            continue;
        if (c && op->con == c)
            here++;
        if (gmtime_r(&op->attached_at, &tm) == NULL ||
            strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
            snprintf(since, sizeof(since), "-");
        json_array_append_new(
            arr,
            json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:I}", "addr", op->addr,
                      "user", op->user[0] ? op->user : "anonymous", "mode",
                      ocm_mode(op), "raw", op->raw, "tls", op->tls, "since",
                      since, "since_unix", (json_int_t)op->attached_at));
    }
    o = json_pack("{s:s, s:s, s:s, s:o}", "console", id, "name", name, "node",
                  px->cfg.node_id, "operators", arr);
    if (o == NULL)
        return NULL;
    /* The console's other readers are operators of other nodes. */
    if (c && !clu_shadowed(px->clu, c) && c->n_ops >= here)
        json_object_set_new(o, "remote_operators",
                            json_integer((json_int_t)(c->n_ops - here)));
    else
        json_object_set_new(o, "remote_operators", json_null());
    return o;
}

void
ocm_who(struct oper *op, const struct opc *cmd)
{
    struct console *c;
    const char *id, *name, *err = "no such console";
    int rc = ocm_resolve(op->px, cmd->key, &c, &id, &name, &err);
    json_t *o, *a, *e;
    size_t i;

    if (opa_right(op, id, name) == ACL_NONE) {
        /* Said like an unknown console: no hint that it exists. */
        if (rc == 0)
            opa_denied(op, "who", id);
        op_puts(op, "error no such console\r\n");
        return;
    }
    if (rc != 0) {
        op_printf(op, "error %s\r\n", err);
        return;
    }
    if ((o = ocm_who_json(op->px, id, name, c)) == NULL) {
        op_puts(op, "error out of memory\r\n");
        return;
    }
    if (cmd->json) {
        char *text = json_dumps(o, JSON_COMPACT);

        if (text) {
            op_puts(op, text);
            op_puts(op, "\r\n");
            free(text);
        }
        json_decref(o);
        return;
    }
    a = json_object_get(o, "operators");
    e = json_object_get(o, "remote_operators");
    op_printf(op, "console=%s node=%s operators=%zu remote=%s%lld\r\n", id,
              op->px->cfg.node_id, json_array_size(a), e ? "" : "-",
              e ? (long long)json_integer_value(e) : 0LL);
    json_array_foreach(a, i, e)
    {
        op_printf(op, "%s user=%s mode=%s raw=%s since=%s\r\n",
                  json_string_value(json_object_get(e, "addr")),
                  json_string_value(json_object_get(e, "user")),
                  json_string_value(json_object_get(e, "mode")),
                  json_is_true(json_object_get(e, "raw")) ? "yes" : "no",
                  json_string_value(json_object_get(e, "since")));
    }
    json_decref(o);
}

/* ---- ^Ecl: a serial BREAK ------------------------------------------------ */

void
ocm_break(struct oper *op)
{
    struct console *c = op->con;

    if (op->ro_right) {
        opa_denied(op, "break", c ? c->id : op->att_id);
        op_notice(op, "break needs read-write access");
        return;
    }
    if (c == NULL) {
        /* Another node holds it: the owner checks the lock and sends it
         * after the input that went before (opremote.c, rreader.c). */
        if (op->tgt)
            op->tgt->escape(op, 'l');
        return;
    }
    if (!con_op_can_write(c, &op->co)) {
        op_notice(op, "break: you are read-only (escape f forces write "
                      "access)");
        return;
    }
    /* Only when input would go straight to the hypervisor: a break must
     * not overtake input held for a vMotion or a reconnect. */
    if (c->vmo || op->co.moving || hin_len(&c->held) > 0 || c->owner == NULL) {
        op_notice(op, "break not sent: no hypervisor connection now (or a "
                      "vMotion is under way)");
        return;
    }
    c->owner->ops->brk(c->owner);
    log_info("console=%s operator %s sent a break", c->id, op->addr);
    con_event(c, "operator %s sent a break", op->co.name);
}
