/*
 * opcmd.h: opc_, the operator port's command line parsed, I/O-free (the
 * operator session, operator.c, acts on the result; the fuzz target
 * tests/fuzz/fuzz_opcmd.c feeds it hostile lines).
 *
 *   list [--json]
 *   attach <console> [rw|ro|excl] [raw] [escape=^X|escape=none]
 *   who <console> [--json]
 *   drain [status | --close-after SECONDS]     (0 < SECONDS <= 86400)
 *   undrain
 *   help | ?        quit | exit
 *
 * Ownership: opc_parse cuts the line in place; the strings in the result
 * point into it.
 */
#ifndef VSPC_OPCMD_H
#define VSPC_OPCMD_H

#include "vspc/compat.h"

#include "console.h"

enum opc_kind {
    OPC_EMPTY = 0,
    OPC_LIST,
    OPC_ATTACH,
    OPC_DRAIN, /* close_after: 0 none */
    OPC_DRAIN_STATUS,
    OPC_UNDRAIN,
    OPC_HELP,
    OPC_QUIT,
    OPC_LOGIN, /* key: the user name, or NULL (asked) */
    OPC_WHO,   /* key, json */
    /* errors */
    OPC_UNKNOWN,       /* bad: the command */
    OPC_ATTACH_OPTION, /* bad: the option */
    OPC_ATTACH_USAGE,
    OPC_DRAIN_USAGE,
    OPC_UNDRAIN_USAGE,
    OPC_LOGIN_USAGE,
    OPC_WHO_USAGE,
};

struct opc {
    enum opc_kind kind;
    bool json;             /* list --json, who --json */
    const char *key;       /* attach, who */
    enum con_lock_req req; /* attach: rw (default), ro, excl */
    bool raw;              /* attach ... raw */
    int esc;               /* attach ... escape=: -1 not given (the node's
                              --escape-char), 0 none, 1..31 ^A..^_ */
    double close_after;    /* drain --close-after */
    const char *bad;       /* the offending word (errors) */
};

/* Parse the NUL-terminated line (cut in place). Never fails: errors are
 * kinds. */
void opc_parse(char *line, struct opc *out);

#endif /* VSPC_OPCMD_H */
