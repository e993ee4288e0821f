/*
 * opadmin.c: adm_*, VMware's admin option 233 on the operator port
 * (PROTOCOL.md 8.2; the vmware/vspc admin client): the port list and
 * connecting to a console with a lock mode. The client gets no banner, no
 * prompt and no escapes (operator.h); it is offered only to an operator
 * that needs no login, and sees only the consoles its rights show
 * (opauth.c).
 */
#include "vspc/compat.h"

#include <ctype.h>
#include <string.h>
#include <event2/buffer.h>

#include "vspc/log.h"
#include "cluster.h"
#include "operator.h"

/* A one-byte option-233 subnegotiation. */
void
adm_send(struct oper *op, uint8_t sub)
{
    tn_send_sb(&op->tn, TN_OPT_VSPC_ADMIN, &sub, 1);
}

/* One console in the port list (the first byte of b is the subcommand). */
struct adm_list {
    struct oper *op;
    struct evbuffer *b;
};

static void
adm_port_remote(const struct clu_remote *r, void *arg)
{
    struct adm_list *al = arg;
    struct evbuffer *b = al->b;

    if (!opa_sees(al->op, r->id, r->name))
        return;
    if (evbuffer_get_length(b) > 1)
        evbuffer_add(b, "", 1);
    evbuffer_add(b, r->id, strlen(r->id));
    evbuffer_add(b, "", 1);
    evbuffer_add(b, r->name, strlen(r->name));
    evbuffer_add(b, "", 1);
}

static void
adm_port_list(struct oper *op)
{
    struct evbuffer *b = evbuffer_new();
    struct console *c;
    uint8_t sub = ADM_VM_PORT_LIST;

    if (b == NULL)
        return;
    struct adm_list al = {op, b};

    evbuffer_add(b, &sub, 1);
    for (c = con_first(op->px->consoles); c; c = con_next(c)) {
        struct clu_remote r = {.id = c->id, .name = c->name};

        /* id NUL name NUL uri, entries joined by NUL (no URI here). */
        adm_port_remote(&r, &al);
    }
    if (op->px->clu)
        clu_foreach_remote(op->px->clu, adm_port_remote, &al);
    tn_send_sb(&op->tn, TN_OPT_VSPC_ADMIN, evbuffer_pullup(b, -1),
               evbuffer_get_length(b));
    evbuffer_free(b);
}

static void
adm_set_connection(struct oper *op, const uint8_t *p, size_t n)
{
    char key[VMX_CONSOLE_ID_MAX + VMX_NAME_MAX + 2];
    enum con_lock_req req;
    const char *err = "bad request";
    struct console *c;

    op_detach(op, "admin client disconnected");
    op->state = OP_ST_COMMAND;
    if (n == 0) {
        adm_send(op, ADM_VM_PORT_DISCONNECTED);
        return;
    }
    if (n >= 2 && n - 1 < sizeof(key) && con_lock_from_byte(p[0], &req) == 0) {
        memcpy(key, p + 1, n - 1);
        key[n - 1] = '\0';
        /* vmware/vspc shows ids in upper case; ours are lower case. Only
         * if the exact key is unknown here and in the cluster: a VM name
         * keeps its capitals (ProdVM). */
        c = con_lookup(op->px->consoles, key, &err);
        if (c == NULL && !clu_knows(op->px->clu, key))
            for (char *k = key; *k && k - key < VMX_UUID_HEX; k++)
                *k = (char)tolower((unsigned char)*k);
        if (op_attach_key(op, key, req, true, &err))
            return;
    }
    log_info("operator %s (option 233): connect refused: %s", op->addr, err);
    adm_send(op, ADM_VM_PORT_DISCONNECTED);
}

void
adm_request(struct oper *op, const uint8_t *p, size_t n)
{
    if (p[0] == ADM_GET_VM_PORT_LIST && n == 1)
        adm_port_list(op);
    else if (p[0] == ADM_VM_PORT_SET_CONNECTION)
        adm_set_connection(op, p + 1, n - 1);
    else
        log_warnx("operator %s: bad option-233 request %u (%zu bytes)",
                  op->addr, p[0], n);
}
