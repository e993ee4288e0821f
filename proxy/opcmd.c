/*
 * opcmd.c: the operator port's command line (opcmd.h).
 */
#include "vspc/compat.h"
#include "opcmd.h"

#include <stdlib.h>
#include <string.h>

/* "^X" (^@ to ^_, or ^a to ^z) or "none", as --escape-char: 0 (none) to
 * 31, or -1. */
static int
opc_escape(const char *s)
{
    if (strcmp(s, "none") == 0)
        return 0;
    if (s[0] == '^' && s[1] >= '@' && s[1] <= '_' && s[2] == '\0')
        return s[1] - '@';
    if (s[0] == '^' && s[1] >= 'a' && s[1] <= 'z' && s[2] == '\0')
        return s[1] - 'a' + 1;
    return -1;
}

static void
opc_attach(char *args, struct opc *o)
{
    char *save = NULL, *tok;

    o->kind = OPC_ATTACH;
    o->req = CON_LOCK_READONLY_OK;
    for (tok = strtok_r(args, " \t", &save); tok;
         tok = strtok_r(NULL, " \t", &save)) {
        if (o->key == NULL)
            o->key = tok;
        else if (strcmp(tok, "rw") == 0)
            o->req = CON_LOCK_READONLY_OK;
        else if (strcmp(tok, "ro") == 0)
            o->req = CON_LOCK_READONLY;
        else if (strcmp(tok, "excl") == 0)
            o->req = CON_LOCK_TAKE_WRITE;
        else if (strcmp(tok, "raw") == 0)
            o->raw = true;
        else if (strncmp(tok, "escape=", 7) == 0 && opc_escape(tok + 7) >= 0)
            o->esc = opc_escape(tok + 7);
        else {
            o->kind = OPC_ATTACH_OPTION;
            o->bad = tok;
            return;
        }
    }
    if (o->key == NULL)
        o->kind = OPC_ATTACH_USAGE;
}

static void
opc_drain(const char *args, bool on, struct opc *o)
{
    while (*args == ' ' || *args == '\t')
        args++;
    if (on && strcmp(args, "status") == 0) {
        o->kind = OPC_DRAIN_STATUS;
        return;
    }
    if (on && strncmp(args, "--close-after ", 14) == 0) {
        char *end = NULL;
        double v = strtod(args + 14, &end);

        if (end != args + 14 && *end == '\0' && v > 0 && v <= 86400) {
            o->close_after = v;
            args = end;
        }
    }
    if (*args != '\0')
        o->kind = on ? OPC_DRAIN_USAGE : OPC_UNDRAIN_USAGE;
    else
        o->kind = on ? OPC_DRAIN : OPC_UNDRAIN;
}

/* who <console> [--json], in any order. */
static void
opc_who(char *args, struct opc *o)
{
    char *save = NULL, *tok;

    o->kind = OPC_WHO;
    for (tok = strtok_r(args, " \t", &save); tok;
         tok = strtok_r(NULL, " \t", &save)) {
        if (strcmp(tok, "--json") == 0) {
            o->json = true;
        } else if (o->key == NULL && tok[0] != '-') {
            o->key = tok;
        } else {
            o->kind = OPC_WHO_USAGE;
            o->bad = tok;
            return;
        }
    }
    if (o->key == NULL)
        o->kind = OPC_WHO_USAGE;
}

/* login [NAME]: one word at most. */
static void
opc_login(char *rest, struct opc *o)
{
    char *end;

    rest += strspn(rest, " \t");
    o->kind = OPC_LOGIN;
    if (*rest == '\0')
        return;
    end = rest + strcspn(rest, " \t");
    if (end[strspn(end, " \t")] != '\0') {
        o->kind = OPC_LOGIN_USAGE;
        return;
    }
    *end = '\0';
    o->key = rest;
}

void
opc_parse(char *line, struct opc *out)
{
    char *cmd, *rest;

    memset(out, 0, sizeof(*out));
    out->esc = -1;
    while (*line == ' ' || *line == '\t')
        line++;
    cmd = line;
    rest = strpbrk(line, " \t");
    if (rest)
        *rest++ = '\0';
    else
        rest = line + strlen(line);
    if (*cmd == '\0')
        out->kind = OPC_EMPTY;
    else if (strcmp(cmd, "list") == 0) {
        out->kind = OPC_LIST;
        out->json = strstr(rest, "--json") != NULL;
    } else if (strcmp(cmd, "attach") == 0)
        opc_attach(rest, out);
    else if (strcmp(cmd, "drain") == 0 || strcmp(cmd, "undrain") == 0)
        opc_drain(rest, cmd[0] == 'd', out);
    else if (strcmp(cmd, "help") == 0 || strcmp(cmd, "?") == 0)
        out->kind = OPC_HELP;
    else if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "exit") == 0)
        out->kind = OPC_QUIT;
    else if (strcmp(cmd, "login") == 0)
        opc_login(rest, out);
    else if (strcmp(cmd, "who") == 0)
        opc_who(rest, out);
    else {
        out->kind = OPC_UNKNOWN;
        out->bad = cmd;
    }
}
