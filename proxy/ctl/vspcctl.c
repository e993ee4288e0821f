/*
 * vspcctl.c: the command line for operators and administrators.
 *
 *   vspcctl [--operator [tls://]ADDR:PORT] [--http [https://]ADDR:PORT]
 *           [--ca FILE] [--cert FILE [--key FILE]]
 *           [--user NAME [--password-file FILE]] COMMAND ...
 *     list [--json]            consoles (HTTP /api/v1/consoles)
 *     who <key> [--json]       operators attached (HTTP .../operators)
 *     console <key> [--ro|--excl] [--raw] [-e ^X|none]
 *                              attach through the operator port
 *     log <key> [--follow]     a console's log (HTTP), like tail -f
 *     status [--json]          the node and its cluster (/api/v1/cluster)
 *     drain NODE [--close-after S], undrain NODE, drain --status [NODE]
 *                              [--json]   (the operator port)
 *     passwd [--scheme S] [--cost N] NAME [GROUPS]   a users-file line
 *
 * <key> is a console id, a VM name or a unique id prefix (the node finds
 * it, as the operator port's attach does). Defaults: operator port
 * 127.0.0.1:13371, HTTP 127.0.0.1:13372, or $VSPC_OPERATOR / $VSPC_HTTP.
 *
 * Transports: list, who, log and status read the HTTP API; console and
 * drain use the operator port. A transport named on the command line is
 * the one used: with --operator and no --http, list and who ask the
 * operator port (`list --json`, `who <key> --json`) and log and status
 * fail (they need --http); with --http and no --operator, console and
 * drain fail. Never a silent fallback to the other one.
 *
 * Logging in: tls:// and https:// verify the server (--ca, else the
 * system's CAs) and offer --cert as a client certificate, which logs in
 * by itself on the operator port. --user logs in with a password (the
 * first line of --password-file, else asked on the terminal): on the
 * operator port when it asks, and over HTTP as Basic on every request
 * (unless a --token-file token is given; never in clear beyond loopback).
 * Each option has an environment twin: $VSPC_CA, $VSPC_CERT, $VSPC_KEY,
 * $VSPC_USER, $VSPC_PASSWORD_FILE.
 */
#include "vspc/compat.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "ctl.h"

static const char *opt_operator = CTL_DEFAULT_OPERATOR;
static const char *opt_http = CTL_DEFAULT_HTTP;
/* --operator / --http given on the command line (not the environment). */
static bool op_named, http_named;
/* Logging in: files and names (ctl_tls.c, ctl_login.c). */
static const char *opt_ca, *opt_cert, *opt_key, *opt_user, *opt_pw_file;

enum {
    OPT_CA = 256,
    OPT_CERT,
    OPT_KEY,
    OPT_USER,
    OPT_PW_FILE,
};

static void VSPC_NORETURN
usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: vspcctl [--operator [tls://]ADDR:PORT] "
            "[--http [https://]ADDR:PORT]\n"
            "               [--ca FILE] [--cert FILE [--key FILE]]\n"
            "               [--user NAME [--password-file FILE]] COMMAND ...\n"
            "\n"
            "  list [--json]             consoles on the node\n"
            "  who <key> [--json]        operators attached to a console "
            "through this node\n"
            "  console <key> [--ro|--excl] [--raw] [-e ^X|none]\n"
            "                            attach to a console (^Ec. detaches, "
            "^Ec? helps,\n"
            "                            ^Ecl sends a break); -e: the escape "
            "character\n"
            "  log <key> [--follow]      print a console's log, then follow "
            "it\n"
            "  status [--json]           the node, the coordinators, the "
            "nodes, consoles\n"
            "                            without a live owner\n"
            "  drain NODE [--close-after SECONDS] [--json]\n"
            "                            drain node NODE (the one at "
            "--operator) for an\n"
            "                            upgrade; after SECONDS its "
            "hypervisors are let go\n"
            "  undrain NODE [--json]     end it\n"
            "  drain --status [NODE] [--json]   draining or not\n"
            "  keygen [FILE]             a CURVE key pair for the cluster "
            "links: the secret\n"
            "                            into FILE (0600), the public key "
            "printed\n"
            "  passwd [--scheme scrypt|pbkdf2-sha256] [--cost N] NAME "
            "[GROUPS]\n"
            "                            a users-file line for NAME (the "
            "password from the\n"
            "                            terminal, twice, or one line of "
            "stdin)\n"
            "\n"
            "<key>: console id, VM name or unique id prefix.\n"
            "list, who, log, status use --http; console, drain use "
            "--operator. With\n"
            "--operator alone list and who use the operator port, log and "
            "status fail;\n"
            "with --http alone console and drain fail.\n"
            "  --operator [tls://]ADDR:PORT\n"
            "                            operator port (default %s,\n"
            "                            or $VSPC_OPERATOR)\n"
            "  --http [https://]ADDR:PORT\n"
            "                            HTTP API (default %s, or $VSPC_HTTP)\n"
            "  --token-file FILE         the HTTP API's bearer token (or "
            "$VSPC_TOKEN_FILE)\n"
            "  --ca FILE                 CA certificates (PEM) for tls:// and "
            "https://\n"
            "                            servers (default: the system's; "
            "$VSPC_CA)\n"
            "  --cert FILE, --key FILE   a client certificate and its key "
            "(default: in the\n"
            "                            cert file) for tls:// and https:// "
            "($VSPC_CERT,\n"
            "                            $VSPC_KEY)\n"
            "  --user NAME               log in as NAME when asked (operator "
            "port), and HTTP\n"
            "                            Basic on every request ($VSPC_USER)\n"
            "  --password-file FILE      NAME's password on its first line "
            "(default: asked on\n"
            "                            the terminal; $VSPC_PASSWORD_FILE)\n"
            "  --help, --version\n",
            CTL_DEFAULT_OPERATOR, CTL_DEFAULT_HTTP);
    exit(status);
}

/* ---- HTTP helpers ---------------------------------------------------------
 */

/* GET path from --http into *body (ctl_http_get_body). */
static int
get_mem(const char *path, char **body)
{
    return ctl_http_get_body(opt_http, path, body);
}

/* The consoles as a JSON array (from the operator port's `list --json`
 * if via_op), or NULL with a message. */
static json_t *
fetch_consoles(bool via_op)
{
    char *body;
    json_error_t jerr;
    json_t *arr = NULL;
    int status;

    if (via_op) {
        arr = ctl_op_json(opt_operator, "list --json");
        if (arr && !json_is_array(arr)) {
            ctl_warnx("%s: bad console list: not an array", opt_operator);
            json_decref(arr);
            arr = NULL;
        }
        return arr;
    }
    status = get_mem("/api/v1/consoles", &body);

    if (status == -1) {
        /* ctl_http_get said why */
    } else if (status != 200) {
        ctl_warnx("%s: HTTP %d: %s", opt_http, status, body);
    } else if ((arr = json_loads(body, 0, &jerr)) == NULL ||
               !json_is_array(arr)) {
        ctl_warnx("%s: bad console list: %s", opt_http,
                  arr ? "not an array" : jerr.text);
        json_decref(arr);
        arr = NULL;
    }
    free(body);
    return arr;
}

static const char *
jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "";
}

static unsigned long long
jnum(const json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));

    return v > 0 ? (unsigned long long)v : 0;
}

/* ---- status ---------------------------------------------------------------
 */

/* The node, the ownership store, the nodes and the consoles without a
 * live owner, as /api/v1/cluster tells them. */
static int
cmd_status(bool as_json)
{
    char *body;
    json_error_t jerr;
    json_t *o, *node, *store, *a, *e;
    int status = get_mem("/api/v1/cluster", &body);
    size_t i;

    if (status != 200) {
        if (status != -1)
            ctl_warnx("%s: HTTP %d: %s", opt_http, status, body);
        free(body);
        return 1;
    }
    if (as_json) {
        fputs(body, stdout);
        putchar('\n');
        free(body);
        return 0;
    }
    o = json_loads(body, 0, &jerr);
    free(body);
    if (!json_is_object(o)) {
        ctl_warnx("%s: bad reply: %s", opt_http,
                  o ? "not an object" : jerr.text);
        json_decref(o);
        return 1;
    }
    node = json_object_get(o, "node");
    printf("node %s (index %llu): %s%s, %llu consoles held\n", jstr(node, "id"),
           jnum(node, "index"),
           json_is_true(json_object_get(node, "ready")) ? "ready"
                                                        : "not ready: ",
           json_is_true(json_object_get(node, "ready"))
               ? (json_is_true(json_object_get(node, "draining")) ? ", draining"
                                                                  : "")
               : jstr(node, "not_ready"),
           jnum(node, "consoles"));
    store = json_object_get(o, "store");
    if (!json_is_object(store)) {
        printf("not in a cluster\n");
        json_decref(o);
        return 0;
    }
    printf("%s %s: %s%s, term %llu; %s%s; switched %llu times, "
           "registered %llu times\n",
           jstr(store, "kind"), jstr(store, "server"), jstr(store, "state"),
           json_is_true(json_object_get(store, "away")) ? " (away)" : "",
           jnum(store, "term"), jstr(store, "other")[0] ? "other " : "alone",
           jstr(store, "other"), jnum(store, "switches"),
           jnum(store, "registrations"));
    a = json_object_get(o, "nodes");
    printf("nodes: %zu\n", json_array_size(a));
    json_array_foreach(a, i, e)
    {
        printf("  %-20s index %-3llu %-5s peer %-24s %llu consoles\n",
               jstr(e, "id"), jnum(e, "index"),
               json_is_true(json_object_get(e, "alive")) ? "alive" : "dead",
               jstr(e, "peer"), jnum(e, "consoles"));
    }
    a = json_object_get(o, "orphans");
    printf("consoles without a live owner: %zu\n", json_array_size(a));
    json_array_foreach(a, i, e)
    {
        printf("  %s %s (last owner %s)\n", jstr(e, "id"), jstr(e, "name"),
               jstr(e, "owner"));
    }
    json_decref(o);
    return 0;
}

/* ---- list -----------------------------------------------------------------
 */

static int
cmd_list(bool as_json, bool via_op)
{
    static const char *const hdr[] = {"ID",  "NAME", "STATE", "HYPERVISOR",
                                      "OPS", "IN",   "OUT"};
    json_t *arr = fetch_consoles(via_op), *o;
    int w[7];
    size_t i;

    if (arr == NULL)
        return 1;
    if (as_json) {
        char *text = json_dumps(arr, JSON_INDENT(2));

        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(arr);
        return text ? 0 : 1;
    }
    for (int k = 0; k < 7; k++)
        w[k] = (int)strlen(hdr[k]);
    json_array_foreach(arr, i, o)
    {
        char num[32];
        int len;

        len = (int)strlen(jstr(o, "id"));
        w[0] = len > w[0] ? len : w[0];
        len = (int)strlen(jstr(o, "name"));
        w[1] = len > w[1] ? len : w[1];
        len = (int)strlen(jstr(o, "state"));
        w[2] = len > w[2] ? len : w[2];
        len = (int)strlen(jstr(o, "hypervisor"));
        w[3] = len > w[3] ? len : w[3];
        len = snprintf(num, sizeof(num), "%llu", jnum(o, "operators"));
        w[4] = len > w[4] ? len : w[4];
        len = snprintf(num, sizeof(num), "%llu", jnum(o, "bytes_in"));
        w[5] = len > w[5] ? len : w[5];
        len = snprintf(num, sizeof(num), "%llu", jnum(o, "bytes_out"));
        w[6] = len > w[6] ? len : w[6];
    }
    if (w[1] > 40)
        w[1] = 40; /* a long name is cut in the table, not in --json */
    printf("%-*s  %-*s  %-*s  %-*s  %*s  %*s  %*s\n", w[0], hdr[0], w[1],
           hdr[1], w[2], hdr[2], w[3], hdr[3], w[4], hdr[4], w[5], hdr[5], w[6],
           hdr[6]);
    json_array_foreach(arr, i, o)
    {
        printf("%-*s  %-*.*s  %-*s  %-*s  %*llu  %*llu  %*llu\n", w[0],
               jstr(o, "id"), w[1], w[1], jstr(o, "name"), w[2],
               jstr(o, "state"), w[3], jstr(o, "hypervisor"), w[4],
               jnum(o, "operators"), w[5], jnum(o, "bytes_in"), w[6],
               jnum(o, "bytes_out"));
    }
    json_decref(arr);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- log ------------------------------------------------------------------
 */

/* The log to stdout; an error page to stderr. */
static int
stdout_sink(void *arg, int status, const char *p, size_t n)
{
    if (status != 200) {
        fwrite(p, 1, n, stderr);
        return 0;
    }
    if (ctl_write_all(STDOUT_FILENO, p, n, -1) == -1) {
        if (errno != EPIPE)
            ctl_warnx("stdout: %s", strerror(errno));
        *(bool *)arg = true;
        return -1;
    }
    return 0;
}

/* The node finds key (id, VM name, unique id prefix) as attach does. */
static int
cmd_log(const char *key, bool follow)
{
    char path[1024], ekey[800];
    bool out_err = false;
    int status;

    if (!ctl_url_escape(key, ekey, sizeof(ekey)))
        return 2;
    snprintf(path, sizeof(path), "/api/v1/consoles/%s/log%s", ekey,
             follow ? "?follow=1" : "");
    status = ctl_http_get(opt_http, path, follow ? -1 : CTL_IO_TIMEOUT_MS,
                          stdout_sink, &out_err);
    if (status == -1)
        return out_err && errno == EPIPE ? 0 : 1;
    if (status != 200) {
        ctl_warnx("%s: HTTP %d for console %s", opt_http, status, key);
        return 1;
    }
    return 0;
}

/* ---- main -----------------------------------------------------------------
 */

/* The environment's defaults for the login options. */
static void
login_env(void)
{
    static const struct {
        const char *name;
        const char **opt;
    } vars[] = {
        {"VSPC_CA", &opt_ca},
        {"VSPC_CERT", &opt_cert},
        {"VSPC_KEY", &opt_key},
        {"VSPC_USER", &opt_user},
        {"VSPC_PASSWORD_FILE", &opt_pw_file},
    };
    const char *env;

    for (size_t i = 0; i < VSPC_ARRAY_LEN(vars); i++)
        if ((env = getenv(vars[i].name)) != NULL && env[0])
            *vars[i].opt = env;
}

/* One of --ca, --cert, --key, --user, --password-file. */
static void
login_opt(int c, const char *arg)
{
    switch (c) {
    case OPT_CA:
        opt_ca = arg;
        break;
    case OPT_CERT:
        opt_cert = arg;
        break;
    case OPT_KEY:
        opt_key = arg;
        break;
    case OPT_USER:
        opt_user = arg;
        break;
    case OPT_PW_FILE:
        opt_pw_file = arg;
        break;
    }
}

/* Console ids and keys travel in a URL path and an operator command. */
static bool
key_ok(const char *key)
{
    if (key[0] == '\0' || strlen(key) > 255)
        return false;
    for (const char *p = key; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '/' || *p == '?' ||
            *p == '#' || *p == '%')
            return false;
    return true;
}

enum via { VIA_NONE = -1, VIA_HTTP, VIA_OP };

/*
 * The transport cmd takes: HTTP or the operator port (whichever it can
 * use); a transport named on the command line wins, and naming only one
 * the command cannot use is an error (never a silent switch to the
 * other). VIA_NONE after the message.
 */
static enum via
via_for(const char *cmd, bool http_ok, bool op_ok)
{
    if (op_named && !http_named) {
        if (op_ok)
            return VIA_OP;
        ctl_warnx("%s reads the HTTP API: give --http (only --operator was "
                  "given)",
                  cmd);
        return VIA_NONE;
    }
    if (http_named && !op_named && !http_ok) {
        ctl_warnx("%s works on the operator port: give --operator (only "
                  "--http was given)",
                  cmd);
        return VIA_NONE;
    }
    return http_ok ? VIA_HTTP : VIA_OP;
}

/* -e ^X|none, before or after the command. */
static void
escape_opt(const char *arg, struct ctl_attach *att)
{
    if (ctl_parse_escape(arg, &att->esc) != 0) {
        ctl_warnx("-e: ^X (a control character) or none, not \"%s\"", arg);
        usage(2);
    }
    att->esc_given = true;
}

int
main(int argc, char **argv)
{
    static const struct option global_opts[] = {
        {"operator", required_argument, NULL, 'o'},
        {"http", required_argument, NULL, 'H'},
        {"token-file", required_argument, NULL, 'T'},
        {"ca", required_argument, NULL, OPT_CA},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"user", required_argument, NULL, OPT_USER},
        {"password-file", required_argument, NULL, OPT_PW_FILE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    static const struct option cmd_opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"ro", no_argument, NULL, 'r'},
        {"excl", no_argument, NULL, 'x'},
        {"raw", no_argument, NULL, 'R'},
        {"status", no_argument, NULL, 's'},
        {"escape", required_argument, NULL, 'e'},
        {"follow", no_argument, NULL, 'f'},
        {"close-after", required_argument, NULL, 'c'},
        {"operator", required_argument, NULL, 'o'},
        {"http", required_argument, NULL, 'H'},
        {"ca", required_argument, NULL, OPT_CA},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"user", required_argument, NULL, OPT_USER},
        {"password-file", required_argument, NULL, OPT_PW_FILE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool as_json = false, ro = false, excl = false, follow = false;
    bool drain_status = false;
    struct ctl_attach att = {.mode = "rw", .esc = 0x05};
    const char *cmd, *key = NULL, *env, *close_after = NULL;
    const char *token_file = NULL;
    enum via via;
    int c;

    signal(SIGPIPE, SIG_IGN);
    if ((env = getenv("VSPC_OPERATOR")) != NULL && env[0])
        opt_operator = env;
    if ((env = getenv("VSPC_HTTP")) != NULL && env[0])
        opt_http = env;
    if ((env = getenv("VSPC_TOKEN_FILE")) != NULL && env[0])
        token_file = env;
    login_env();
    /* Global options stop at the command ("+"). */
    while ((c = getopt_long(argc, argv, "+he:", global_opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            opt_operator = optarg;
            op_named = true;
            break;
        case 'H':
            opt_http = optarg;
            http_named = true;
            break;
        case 'T':
            token_file = optarg;
            break;
        case 'e':
            escape_opt(optarg, &att);
            break;
        case OPT_CA:
        case OPT_CERT:
        case OPT_KEY:
        case OPT_USER:
        case OPT_PW_FILE:
            login_opt(c, optarg);
            break;
        case 'h':
            usage(0);
        case 'V':
            printf("vspcctl %s\n", VSPC_VERSION);
            return 0;
        default:
            usage(2);
        }
    }
    if (token_file && ctl_load_token(token_file) != 0)
        return 1;
    if (optind >= argc)
        usage(2);
    cmd = argv[optind];
    if (strcmp(cmd, "passwd") == 0) /* its own options */
        return ctl_passwd(argc - optind, argv + optind);
    /* Command options and operands, in any order. */
    argc -= optind;
    argv += optind;
    optind = 0; /* glibc: a full restart, permuting operands again */
    while ((c = getopt_long(argc, argv, "he:", cmd_opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            as_json = true;
            break;
        case 'r':
            ro = true;
            break;
        case 'x':
            excl = true;
            break;
        case 'R':
            att.raw = true;
            break;
        case 's':
            drain_status = true;
            break;
        case 'e':
            escape_opt(optarg, &att);
            break;
        case 'f':
            follow = true;
            break;
        case 'c':
            close_after = optarg;
            break;
        case 'o':
            opt_operator = optarg;
            op_named = true;
            break;
        case 'H':
            opt_http = optarg;
            http_named = true;
            break;
        case OPT_CA:
        case OPT_CERT:
        case OPT_KEY:
        case OPT_USER:
        case OPT_PW_FILE:
            login_opt(c, optarg);
            break;
        case 'h':
            usage(0);
        default:
            usage(2);
        }
    }
    if (opt_key && opt_cert == NULL) {
        ctl_warnx("--key goes with --cert");
        usage(2);
    }
    ctl_tls_setup(opt_ca, opt_cert, opt_key);
    ctl_login_setup(opt_user, opt_pw_file);
    if (optind < argc)
        key = argv[optind++];
    if (optind < argc) {
        ctl_warnx("unexpected argument \"%s\"", argv[optind]);
        usage(2);
    }
    if (key && strcmp(cmd, "keygen") != 0 && strcmp(cmd, "drain") != 0 &&
        strcmp(cmd, "undrain") != 0 && !key_ok(key)) {
        ctl_warnx("bad console key \"%s\"", key);
        return 2;
    }
    if (strcmp(cmd, "console") != 0 &&
        (ro || excl || att.raw || att.esc_given)) {
        ctl_warnx("--ro, --excl, --raw and -e go with console");
        usage(2);
    }
    if ((close_after || drain_status) && strcmp(cmd, "drain") != 0) {
        ctl_warnx("--close-after and --status go with drain");
        usage(2);
    }

    if (strcmp(cmd, "list") == 0 && key == NULL && !follow) {
        if ((via = via_for(cmd, true, true)) == VIA_NONE)
            return 1;
        return cmd_list(as_json, via == VIA_OP);
    }
    if (strcmp(cmd, "who") == 0 && key && !follow) {
        if ((via = via_for(cmd, true, true)) == VIA_NONE)
            return 1;
        return ctl_who(via == VIA_OP ? opt_operator : NULL, opt_http, key,
                       as_json);
    }
    if (strcmp(cmd, "console") == 0 && key && !as_json && !follow &&
        !(ro && excl)) {
        if (via_for(cmd, false, true) == VIA_NONE)
            return 1;
        att.mode = ro ? "ro" : excl ? "excl" : "rw";
        return ctl_console(opt_operator, key, &att);
    }
    if (strcmp(cmd, "log") == 0 && key && !as_json) {
        if (via_for(cmd, true, false) == VIA_NONE)
            return 1;
        return cmd_log(key, follow);
    }
    if ((strcmp(cmd, "drain") == 0 || strcmp(cmd, "undrain") == 0) &&
        (key || drain_status) && !follow && !(drain_status && close_after)) {
        if (via_for(cmd, false, true) == VIA_NONE)
            return 1;
        return ctl_drain(opt_operator, drain_status ? "status" : cmd, key,
                         close_after, as_json);
    }
    if (strcmp(cmd, "status") == 0 && key == NULL && !follow) {
        if (via_for(cmd, true, false) == VIA_NONE)
            return 1;
        return cmd_status(as_json);
    }
    if (strcmp(cmd, "keygen") == 0 && !as_json && !follow)
        return ctl_keygen(key);
    if (strcmp(cmd, "help") == 0)
        usage(0);
    ctl_warnx("bad command line for \"%s\"", cmd);
    usage(2);
}
