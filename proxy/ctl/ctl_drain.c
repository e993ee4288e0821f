/*
 * ctl_drain.c: `vspcctl drain NODE [--close-after SECONDS]`, `vspcctl
 * undrain NODE` and `vspcctl drain --status [NODE]`: the operator port's
 * drain command, sent to the node at --operator once its banner ("vspc
 * VERSION node NODE-ID ...") says it is NODE, so that a drain meant for
 * another node never lands on this one. Plain or tls://, logged in if
 * asked (ctl_op.c). The answer ("ok draining", "ok already not
 * draining", ...) is printed as is, or with --json as
 * {"node", "draining", "changed"}.
 */
#include "vspc/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "ctl.h"

/* "ok [already ]draining" / "ok [already ]not draining" as JSON. */
static int
print_json(const char *node, const char *answer)
{
    const char *s = answer + 3; /* after "ok " */
    bool changed = strncmp(s, "already ", 8) != 0;
    json_t *o;
    char *text;

    if (!changed)
        s += 8;
    if (strcmp(s, "draining") != 0 && strcmp(s, "not draining") != 0) {
        ctl_warnx("unexpected answer \"%s\"", answer);
        return 1;
    }
    o = json_pack("{s:s, s:b, s:b}", "node", node, "draining", s[0] == 'd',
                  "changed", changed);
    text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
    json_decref(o);
    if (text == NULL)
        return 1;
    printf("%s\n", text);
    free(text);
    return 0;
}

int
ctl_drain(const char *op_addr, const char *what, const char *node,
          const char *close_after, bool as_json)
{
    struct ctl_op *op;
    char line[160], *reply = NULL;
    char *end = NULL;
    int rc = 1;

    if (close_after &&
        (strtod(close_after, &end) <= 0 || end == close_after || *end)) {
        ctl_warnx("--close-after: a positive number of seconds, not \"%s\"",
                  close_after);
        return 2;
    }
    if (strcmp(what, "drain") == 0 && close_after)
        snprintf(line, sizeof(line), "drain --close-after %s", close_after);
    else
        snprintf(line, sizeof(line), "%s",
                 strcmp(what, "status") == 0 ? "drain status" : what);
    if ((op = malloc(sizeof(*op))) == NULL || ctl_op_open(op, op_addr) == -1) {
        free(op);
        return 1;
    }
    if (op->node[0] == '\0') {
        ctl_warnx("%s: its banner names no node", op_addr);
        goto out;
    }
    if (node && strcmp(op->node, node) != 0) {
        ctl_warnx("the node at %s is %s, not %s: point --operator at %s",
                  op_addr, op->node, node, node);
        goto out;
    }
    if (ctl_op_command(op, line, &reply) == -1) {
        ctl_warnx("%s: %s", op_addr, op->err);
        goto out;
    }
    reply[strcspn(reply, "\n")] = '\0';
    if (strncmp(reply, "ok ", 3) != 0) {
        ctl_warnx("%s (%s): %s", op_addr, op->node,
                  strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply);
        goto out;
    }
    if (as_json) {
        rc = print_json(op->node, reply);
    } else {
        printf("%s\n", reply);
        rc = fflush(stdout) == 0 ? 0 : 1;
    }
out:
    free(reply);
    ctl_op_close(op);
    free(op);
    return rc;
}
