/*
 * ctl_who.c: `vspcctl who <key> [--json]`: who is attached to a console
 * through the node vspcctl talks to (in a cluster each node knows its own
 * operators; those of other nodes are only counted). The HTTP API's
 * /api/v1/consoles/<key>/operators, or the operator port's `who <key>
 * --json` when only --operator was given (vspcctl.c decides); both answer
 * the same JSON, shown as a table or as is.
 */
#include "vspc/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "ctl.h"

json_t *
ctl_op_json(const char *addr, const char *cmd)
{
    struct ctl_op *op = malloc(sizeof(*op));
    char *reply = NULL;
    json_error_t jerr;
    json_t *j = NULL;

    if (op == NULL || ctl_op_open(op, addr) == -1) {
        free(op);
        return NULL;
    }
    if (ctl_op_command(op, cmd, &reply) == -1) {
        ctl_warnx("%s: %s", addr, op->err);
    } else if (strncmp(reply, "error ", 6) == 0) {
        reply[strcspn(reply, "\n")] = '\0';
        ctl_warnx("%s: %s", addr, reply + 6);
    } else if ((j = json_loads(reply, JSON_DISABLE_EOF_CHECK, &jerr)) == NULL) {
        ctl_warnx("%s: bad reply to \"%s\": %s", addr, cmd, jerr.text);
    }
    free(reply);
    ctl_op_close(op);
    free(op);
    return j;
}

static const char *
str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "-";
}

static int
print_table(const json_t *o)
{
    const json_t *a = json_object_get(o, "operators"), *e;
    const json_t *remote = json_object_get(o, "remote_operators");
    int w_addr = 7, w_user = 4;
    size_t i;

    printf("console %s", str(o, "console"));
    if (str(o, "name")[0] && strcmp(str(o, "name"), "-") != 0)
        printf(" (%s)", str(o, "name"));
    printf(": %zu operator%s on node %s", json_array_size(a),
           json_array_size(a) == 1 ? "" : "s", str(o, "node"));
    if (json_is_integer(remote))
        printf(", %lld through other nodes",
               (long long)json_integer_value(remote));
    printf("\n");
    if (json_array_size(a) == 0)
        return fflush(stdout) == 0 ? 0 : 1;
    json_array_foreach(a, i, e)
    {
        int n = (int)strlen(str(e, "addr"));

        w_addr = n > w_addr ? n : w_addr;
        n = (int)strlen(str(e, "user"));
        w_user = n > w_user ? n : w_user;
    }
    printf("%-*s  %-*s  %-4s  %-3s  %s\n", w_addr, "ADDRESS", w_user, "USER",
           "MODE", "RAW", "SINCE");
    json_array_foreach(a, i, e)
    {
        printf("%-*s  %-*s  %-4s  %-3s  %s\n", w_addr, str(e, "addr"), w_user,
               str(e, "user"), str(e, "mode"),
               json_is_true(json_object_get(e, "raw")) ? "yes" : "no",
               str(e, "since"));
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

int
ctl_who(const char *op_addr, const char *http_addr, const char *key,
        bool as_json)
{
    json_t *o = NULL;
    int rc = 1;

    if (op_addr) {
        char cmd[300];

        snprintf(cmd, sizeof(cmd), "who %s --json", key);
        o = ctl_op_json(op_addr, cmd);
    } else {
        char path[1024], ekey[800], *body;
        json_error_t jerr;
        int status;

        if (!ctl_url_escape(key, ekey, sizeof(ekey)))
            return 2;
        snprintf(path, sizeof(path), "/api/v1/consoles/%s/operators", ekey);
        status = ctl_http_get_body(http_addr, path, &body);
        if (status != -1 && status != 200)
            ctl_warnx("%s: HTTP %d for console %s: %.*s", http_addr, status,
                      key, (int)strcspn(body, "\n"), body);
        else if (status == 200 && (o = json_loads(body, 0, &jerr)) == NULL)
            ctl_warnx("%s: bad reply: %s", http_addr, jerr.text);
        free(body);
    }
    if (!json_is_object(o)) {
        if (o)
            ctl_warnx("not a JSON object");
        json_decref(o);
        return 1;
    }
    if (as_json) {
        char *text = json_dumps(o, JSON_INDENT(2));

        if (text) {
            printf("%s\n", text);
            rc = fflush(stdout) == 0 ? 0 : 1;
        }
        free(text);
    } else {
        rc = print_table(o);
    }
    json_decref(o);
    return rc;
}
