/*
 * ctl_drain.c: `vspcctl drain NODE [--close-after SECONDS]` and `vspcctl
 * undrain NODE`: the operator port's drain command, sent to the node at
 * --operator once --http confirms that node is NODE (a drain meant for
 * another node never lands on this one). Both may need a login (--user;
 * ctl_op.c, ctl_net.c).
 */
#include "vspc/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "ctl.h"

/* The node id the HTTP API at addr names, into out; 0 or -1. */
static int
node_id_at(const char *addr, char *out, size_t cap)
{
    char *body;
    json_error_t jerr;
    json_t *o;
    const char *id;
    int status = ctl_http_get_body(addr, "/api/v1/cluster", &body);

    if (status != 200) {
        if (status != -1)
            ctl_warnx("%s: HTTP %d", addr, status);
        free(body);
        return -1;
    }
    o = json_loads(body, 0, &jerr);
    free(body);
    id = json_string_value(json_object_get(json_object_get(o, "node"), "id"));
    if (id == NULL) {
        ctl_warnx("%s: no node id in /api/v1/cluster", addr);
        json_decref(o);
        return -1;
    }
    snprintf(out, cap, "%s", id);
    json_decref(o);
    return 0;
}

/* Send line on the operator port at addr (logged in if asked); print the
 * "ok ..."/"error ..." answer. Returns the exit status. */
static int
op_command(const char *addr, const char *line)
{
    struct ctl_op *op = malloc(sizeof(*op));
    char reply[CTL_OP_TEXT_MAX + 1];
    int64_t deadline;
    int rc = 1;

    if (op == NULL || ctl_op_open(op, addr) == -1) {
        free(op);
        return 1;
    }
    deadline = ctl_now_ms() + CTL_IO_TIMEOUT_MS;
    if (ctl_op_send(op, line, strlen(line)) == 0) {
        while (ctl_op_line(op, deadline, "answer to the drain command", reply,
                           sizeof(reply)) == 0) {
            if (strncmp(reply, "ok ", 3) == 0 ||
                strncmp(reply, "error ", 6) == 0) {
                printf("%s\n", reply);
                rc = reply[0] == 'o' ? 0 : 1;
                goto out;
            }
        }
    }
    ctl_warnx("%s: %s", addr, op->err);
out:
    ctl_op_close(op);
    free(op);
    return rc;
}

int
ctl_drain(const char *op_addr, const char *http_addr, const char *node, bool on,
          const char *close_after)
{
    char id[128], line[160];
    char *end = NULL;

    if (close_after &&
        (strtod(close_after, &end) <= 0 || end == close_after || *end)) {
        ctl_warnx("--close-after: a positive number of seconds, not \"%s\"",
                  close_after);
        return 2;
    }
    if (node_id_at(http_addr, id, sizeof(id)) != 0)
        return 1;
    if (strcmp(id, node) != 0) {
        ctl_warnx("the node at %s is %s, not %s: point --operator and --http "
                  "at %s",
                  http_addr, id, node, node);
        return 1;
    }
    if (on && close_after)
        snprintf(line, sizeof(line), "drain --close-after %s\r\n", close_after);
    else
        snprintf(line, sizeof(line), "%s\r\n", on ? "drain" : "undrain");
    return op_command(op_addr, line);
}
