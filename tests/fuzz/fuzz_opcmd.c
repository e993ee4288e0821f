/*
 * fuzz_opcmd.c: the operator port's command parser (proxy/opcmd.c) on
 * hostile lines. Oracles: every string it returns lies inside the line;
 * a command it accepts, written back in canonical form, parses to the
 * same command (kind, key, lock request, raw, escape, --json,
 * --close-after).
 */
#include "fuzz.h"

#include <stdio.h>
#include <string.h>

#include "opcmd.h"

/* The text command's word for a lock request, or NULL. */
static const char *
mode_word(enum con_lock_req r)
{
    switch (r) {
    case CON_LOCK_READONLY_OK:
        return "rw";
    case CON_LOCK_READONLY:
        return "ro";
    case CON_LOCK_TAKE_WRITE:
        return "excl";
    default:
        return NULL;
    }
}

static void
inside(const char *p, const char *buf, size_t n, const char *what)
{
    if (p && (p < buf || p > buf + n || strlen(p) > n))
        fuzz_fail("%s points outside the line", what);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char line[4096], canon[4200], esc[16];
    struct opc a, b;

    if (size >= sizeof(line))
        return 0;
    memcpy(line, data, size);
    line[size] = '\0';
    opc_parse(line, &a);
    inside(a.key, line, size, "key");
    inside(a.bad, line, size, "bad");
    switch (a.kind) {
    case OPC_LIST:
        snprintf(canon, sizeof(canon), "list%s", a.json ? " --json" : "");
        break;
    case OPC_ATTACH:
        if (a.key == NULL || mode_word(a.req) == NULL)
            fuzz_fail("attach without a key or with a strange mode");
        if (a.esc < -1 || a.esc > 31)
            fuzz_fail("attach with escape %d", a.esc);
        if (a.esc == 0)
            snprintf(esc, sizeof(esc), " escape=none");
        else if (a.esc > 0)
            snprintf(esc, sizeof(esc), " escape=^%c", a.esc + '@');
        else
            esc[0] = '\0';
        snprintf(canon, sizeof(canon), "attach %s %s%s%s", a.key,
                 mode_word(a.req), a.raw ? " raw" : "", esc);
        break;
    case OPC_WHO:
        if (a.key == NULL || a.key[0] == '-')
            fuzz_fail("who without a key");
        snprintf(canon, sizeof(canon), "who %s%s", a.key,
                 a.json ? " --json" : "");
        break;
    case OPC_DRAIN:
        if (a.close_after > 0)
            snprintf(canon, sizeof(canon), "drain --close-after %.17g",
                     a.close_after);
        else
            snprintf(canon, sizeof(canon), "drain");
        break;
    case OPC_DRAIN_STATUS:
        snprintf(canon, sizeof(canon), "drain status");
        break;
    case OPC_UNDRAIN:
        snprintf(canon, sizeof(canon), "undrain");
        break;
    case OPC_HELP:
        snprintf(canon, sizeof(canon), "help");
        break;
    case OPC_QUIT:
        snprintf(canon, sizeof(canon), "quit");
        break;
    case OPC_LOGIN:
        snprintf(canon, sizeof(canon), "login%s%s", a.key ? " " : "",
                 a.key ? a.key : "");
        break;
    default:
        return 0; /* empty and errors: nothing to write back */
    }
    opc_parse(canon, &b);
    if (a.kind != b.kind || a.json != b.json || a.raw != b.raw ||
        a.req != b.req || a.esc != b.esc || a.close_after != b.close_after ||
        (a.key && (b.key == NULL || strcmp(a.key, b.key) != 0)))
        fuzz_fail("\"%s\" does not parse back to the same command", canon);
    return 0;
}
