/*
 * main.c: vspc-hvsim command line. Dispatches the subcommands:
 *
 *   vspc-hvsim [run] [options]   the ESXi host simulator (sim.c)
 *   vspc-hvsim scenario ...      PROTOCOL.md section 10 runs (scenario.c)
 *   vspc-hvsim replay ...        VMware's capture replayed (replay.c)
 *
 * The subcommand word becomes argv[0] of the module's main.
 */
#include "vspc/compat.h"

#include "replay.h"
#include "scenario.h"
#include "sim.h"
#include "vspc/log.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_PROXY = 256,
    OPT_OPERATOR,
    OPT_CONSOLES,
    OPT_SEED,
    OPT_UUID_BASE,
    OPT_NAME_PREFIX,
    OPT_SERVICE_URI,
    OPT_PORT_LABEL,
    OPT_RATE,
    OPT_BYTES,
    OPT_DURATION,
    OPT_VMOTIONS,
    OPT_VMO_INTERVAL,
    OPT_VMO_FIRST,
    OPT_VMO_SPREAD,
    OPT_RECONNECT,
    OPT_VMO_DEST,
    OPT_VMO_MODE,
    OPT_ABORT_DELAY,
    OPT_SEQ_LEN,
    OPT_COMPLETE_FIRST,
    OPT_EARLY_KNOWN1,
    OPT_OP_RATE,
    OPT_OP_BYTES,
    OPT_DRAIN_TIMEOUT,
    OPT_CONNECT_ONLY,
    OPT_CONNECT_WINDOW,
    OPT_CONNECT_TIMEOUT,
    OPT_GOAHEAD_TIMEOUT,
    OPT_PEER_TIMEOUT,
    OPT_MAX_NOTNOW,
    OPT_MAX_ERRORS,
    OPT_LOG_LEVEL,
    OPT_WRITE_INTERVAL,
    OPT_NOTNOW_OK,
    OPT_VMO_WINDOW,
    OPT_MAX_LAG,
    OPT_HANDSHAKE_TIMEOUT,
    OPT_PEER_DELAY,
    OPT_FIN_LEAD,
    OPT_TEXT,
};

static const struct option main_opts[] = {
    {"proxy", required_argument, NULL, OPT_PROXY},
    {"operator", required_argument, NULL, OPT_OPERATOR},
    {"consoles", required_argument, NULL, OPT_CONSOLES},
    {"seed", required_argument, NULL, OPT_SEED},
    {"uuid-base", required_argument, NULL, OPT_UUID_BASE},
    {"name-prefix", required_argument, NULL, OPT_NAME_PREFIX},
    {"service-uri", required_argument, NULL, OPT_SERVICE_URI},
    {"port-label", required_argument, NULL, OPT_PORT_LABEL},
    {"rate", required_argument, NULL, OPT_RATE},
    {"bytes", required_argument, NULL, OPT_BYTES},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"vmotions", required_argument, NULL, OPT_VMOTIONS},
    {"vmotion-interval", required_argument, NULL, OPT_VMO_INTERVAL},
    {"vmotion-first", required_argument, NULL, OPT_VMO_FIRST},
    {"vmotion-spread", no_argument, NULL, OPT_VMO_SPREAD},
    {"reconnect", no_argument, NULL, OPT_RECONNECT},
    {"vmotion-dest", required_argument, NULL, OPT_VMO_DEST},
    {"vmotion-mode", required_argument, NULL, OPT_VMO_MODE},
    {"abort-delay", required_argument, NULL, OPT_ABORT_DELAY},
    {"seq-len", required_argument, NULL, OPT_SEQ_LEN},
    {"complete-first", no_argument, NULL, OPT_COMPLETE_FIRST},
    {"early-known1", no_argument, NULL, OPT_EARLY_KNOWN1},
    {"operator-rate", required_argument, NULL, OPT_OP_RATE},
    {"operator-bytes", required_argument, NULL, OPT_OP_BYTES},
    {"drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT},
    {"connect-only", no_argument, NULL, OPT_CONNECT_ONLY},
    {"connect-window", required_argument, NULL, OPT_CONNECT_WINDOW},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"goahead-timeout", required_argument, NULL, OPT_GOAHEAD_TIMEOUT},
    {"peer-timeout", required_argument, NULL, OPT_PEER_TIMEOUT},
    {"max-notnow", required_argument, NULL, OPT_MAX_NOTNOW},
    {"max-errors-shown", required_argument, NULL, OPT_MAX_ERRORS},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"write-interval", required_argument, NULL, OPT_WRITE_INTERVAL},
    {"notnow-ok", no_argument, NULL, OPT_NOTNOW_OK},
    {"vmotion-window", required_argument, NULL, OPT_VMO_WINDOW},
    {"max-lag", required_argument, NULL, OPT_MAX_LAG},
    {"handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT},
    {"peer-delay", required_argument, NULL, OPT_PEER_DELAY},
    {"fin-lead", required_argument, NULL, OPT_FIN_LEAD},
    {"text", no_argument, NULL, OPT_TEXT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void
main_usage(FILE *f)
{
    fputs(
        "usage: vspc-hvsim [run] [options]     simulate ESXi hosts\n"
        "       vspc-hvsim scenario ...        PROTOCOL.md section 10 runs\n"
        "       vspc-hvsim replay ...          replay VMware's capture\n"
        "\n"
        "run options (sizes accept k/M/G suffixes, times are numbers):\n"
        "  --proxy ADDR:PORT        proxy hypervisor port "
        "(127.0.0.1:13370)\n"
        "  --operator ADDR:PORT     attach one operator per console there;\n"
        "                           repeat (up to 4) for one operator per\n"
        "                           console through each (e.g. the operator\n"
        "                           ports of several cluster nodes): each\n"
        "                           verifies the VM output; their input is\n"
        "                           tagged per operator and the VM checks\n"
        "                           each operator's bytes separately\n"
        "  --consoles N             simulated serial ports (1)\n"
        "  --seed S                 pattern seed (1); console k streams\n"
        "                           seed_vm(S,k), operators type "
        "seed_op(S,k)\n"
        "                           (several operators: seed_op_n(S,k,j),\n"
        "                           tagged, see seed.h and pattern.h)\n"
        "  --uuid-base UUID         VC UUID of console 0, console k adds k\n"
        "                           (01 23 45 67 89 ab cd ef-fe dc ba 98 00 "
        "00 00 00)\n"
        "  --name-prefix STR        VM names STR00000... (vm-)\n"
        "  --service-uri STR        DO-PROXY service URI (vSPC.py)\n"
        "  --port-label X           append ?port=X (console id <uuid>.X)\n"
        "  --rate B                 VM output bytes/s per console, 0 = flat "
        "out (1000)\n"
        "  --bytes N                VM output bytes per console, 0 = "
        "unlimited (0)\n"
        "  --duration SECS          run time after all consoles are ready;\n"
        "                           0 = until --bytes/--vmotions are done "
        "(0)\n"
        "  --text                   readable fixed-length log lines instead "
        "of the\n"
        "                           binary pattern (the demo; no "
        "--operator)\n"
        "  --max-lag N              VM output stops while its operator "
        "lags by N\n"
        "                           bytes; 0 = no cap (0: the proxy paces\n"
        "                           the VM to its readers; set it under the\n"
        "                           proxy's reader queue for --slow-reader\n"
        "                           catchup, which skips instead)\n"
        "  --vmotions K             vMotions per console, in sequence (0)\n"
        "  --vmotion-interval MS    pause before each vMotion (200)\n"
        "  --vmotion-first MS       pause before a console's first vMotion\n"
        "                           (--vmotion-interval)\n"
        "  --vmotion-spread         console k's first vMotion after\n"
        "                           interval*(k+1)/consoles: an even rate\n"
        "                           of consoles/interval vMotions, not one\n"
        "                           burst per interval\n"
        "  --vmotion-dest ADDR:PORT destination hosts dial this (--proxy);\n"
        "                           repeat (up to 8): each vMotion of a\n"
        "                           console goes to the next one in the list\n"
        "                           that is not where it is now (node1 ->\n"
        "                           node2 -> node3 -> node1 ...)\n"
        "  --vmotion-mode M         ok | abort | mixed (ok)\n"
        "  --vmotion-window N       vMotions in flight at once, all "
        "consoles (1000)\n"
        "  --abort-delay MS         GOAHEAD -> ABORT in abort mode (20)\n"
        "  --peer-delay MS          GOAHEAD -> destination connects (0;\n"
        "                           the capture shows about 1000)\n"
        "  --fin-lead MS            source FIN -> COMPLETE (0)\n"
        "  --seq-len L              vMotion sequence length 1..200 (4)\n"
        "  --complete-first         COMPLETE before the source FIN\n"
        "                           (default: FIN first, as in the capture)\n"
        "  --early-known1           KNOWN-SUBOPTIONS-1 before the proxy's -2\n"
        "  --operator-rate B        operator typing bytes/s, 0 = none (0)\n"
        "  --operator-bytes N       stop typing after N bytes, 0 = at the end\n"
        "  --drain-timeout SECS     wait for verification at the end (15)\n"
        "  --connect-only           identify the consoles, then stay idle\n"
        "  --reconnect              a console whose connection is lost "
        "dials --proxy\n"
        "                           again, as ESXi does (back-off 100 ms "
        "doubling to\n"
        "                           2 s); reports reconnect_ms_p50/p99/max "
        "(loss to\n"
        "                           identified again)\n"
        "  --connect-window N       consoles connecting at once (256)\n"
        "  --connect-timeout SECS   all consoles ready within (60)\n"
        "  --handshake-timeout SECS one connection's handshake (15)\n"
        "  --goahead-timeout MS     the host's vmotionLimit (5000)\n"
        "  --peer-timeout MS        destination waits PEER-OK (10000)\n"
        "  --max-notnow N           NOTNOWs in a row before giving up (100)\n"
        "  --notnow-ok              giving up after NOTNOWs is not an error\n"
        "                           (a proxy run with --refuse-vmotion)\n"
        "  --write-interval MS      least time between two writes of a\n"
        "                           rate-limited stream; 0 = auto: 10 ms up\n"
        "                           to 100 consoles, consoles/10 ms beyond\n"
        "  --max-errors-shown N     errors printed, the rest counted (50)\n"
        "  --log-level LEVEL        error|warn|info|debug (warn)\n"
        "  -h, --help\n"
        "\n"
        "Exit 0 when there were no errors and every byte was verified in\n"
        "both directions; the summary line goes to stdout.\n",
        f);
}

static int
main_bad(const char *opt, const char *val, const char *why)
{
    fprintf(stderr, "vspc-hvsim: --%s %s: %s\n", opt, val, why);
    return -1;
}

/* Unsigned integer with an optional k/M/G (1024-based) suffix. */
static int
main_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi,
         uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;

    errno = 0;
    if (*s == '-')
        return main_bad(opt, s, "not a non-negative number");
    v = strtoull(s, &end, 0);
    if (errno != 0 || end == s)
        return main_bad(opt, s, "not a number");
    if (*end == 'k' || *end == 'K')
        mul = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1024 * 1024, end++;
    else if (*end == 'g' || *end == 'G')
        mul = 1024 * 1024 * 1024, end++;
    if (*end != 0)
        return main_bad(opt, s, "trailing characters");
    if (v > UINT64_MAX / mul)
        return main_bad(opt, s, "too large");
    v *= mul;
    if (v < lo || v > hi) {
        char why[96];

        snprintf(why, sizeof(why), "out of range %" PRIu64 "..%" PRIu64, lo,
                 hi);
        return main_bad(opt, s, why);
    }
    *out = v;
    return 0;
}

static int
main_uint(const char *opt, const char *s, unsigned lo, unsigned hi,
          unsigned *out)
{
    uint64_t v;

    if (main_u64(opt, s, lo, hi, &v) == -1)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* Seconds (fractions allowed) to milliseconds. */
static int
main_secs(const char *opt, const char *s, uint64_t max_s, uint64_t *ms)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != 0 || !isfinite(v) || v < 0 ||
        v > (double)max_s)
        return main_bad(opt, s, "not a valid number of seconds");
    *ms = (uint64_t)(v * 1000.0 + 0.5);
    return 0;
}

static int
main_addr(const char *opt, const char *s, struct sockaddr_in *out)
{
    char err[160];

    if (sim_parse_addr(s, out, err, sizeof(err)) == -1)
        return main_bad(opt, s, err);
    return 0;
}

static int
main_label(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 32)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return -1;
    }
    return 0;
}

static int
main_opt(struct sim_cfg *cfg, int ch, const char *arg, bool *dest_set,
         int *log_level)
{
    const char *name = "";
    uint64_t v;

    for (const struct option *o = main_opts; o->name; o++)
        if (o->val == ch)
            name = o->name;
    switch (ch) {
    case OPT_PROXY:
        return main_addr(name, arg, &cfg->proxy);
    case OPT_OPERATOR:
        if (cfg->n_ops >= SIM_OPS_MAX)
            return main_bad(name, arg, "given more than 4 times");
        cfg->have_operator = true;
        return main_addr(name, arg, &cfg->op_addr[cfg->n_ops++]);
    case OPT_CONSOLES:
        return main_uint(name, arg, 1, 1000000, &cfg->consoles);
    case OPT_SEED:
        return main_u64(name, arg, 0, UINT64_MAX, &cfg->seed);
    case OPT_UUID_BASE:
        if (sim_parse_uuid(arg, cfg->uuid_base) == -1)
            return main_bad(name, arg, "expected 32 hex digits");
        return 0;
    case OPT_NAME_PREFIX:
        if (strlen(arg) > 64)
            return main_bad(name, arg, "longer than 64 bytes");
        cfg->name_prefix = arg;
        return 0;
    case OPT_SERVICE_URI:
        if (strlen(arg) > 100)
            return main_bad(name, arg, "longer than 100 bytes");
        cfg->service_uri = arg;
        return 0;
    case OPT_PORT_LABEL:
        if (main_label(arg) == -1)
            return main_bad(name, arg, "1..32 of [A-Za-z0-9_-]");
        cfg->port_label = arg;
        return 0;
    case OPT_RATE:
        return main_u64(name, arg, 0, 1ULL << 32, &cfg->rate);
    case OPT_BYTES:
        return main_u64(name, arg, 0, UINT64_MAX / 2, &cfg->bytes);
    case OPT_DURATION:
        return main_secs(name, arg, 86400 * 365, &cfg->duration_ms);
    case OPT_VMOTIONS:
        return main_uint(name, arg, 0, 10000000, &cfg->vmotions);
    case OPT_VMO_INTERVAL:
        return main_uint(name, arg, 0, 3600000, &cfg->vmo_interval_ms);
    case OPT_VMO_SPREAD:
        cfg->vmo_spread = true;
        return 0;
    case OPT_RECONNECT:
        cfg->reconnect = true;
        return 0;
    case OPT_VMO_FIRST:
        cfg->vmo_first_set = true;
        return main_uint(name, arg, 0, 3600000, &cfg->vmo_first_ms);
    case OPT_VMO_DEST:
        if (!*dest_set)
            cfg->n_vmo_dest = 0;
        *dest_set = true;
        if (cfg->n_vmo_dest >= SIM_VMO_DEST_MAX)
            return main_bad(name, arg, "given more than 8 times");
        return main_addr(name, arg, &cfg->vmo_dest[cfg->n_vmo_dest++]);
    case OPT_VMO_MODE:
        if (strcmp(arg, "ok") == 0)
            cfg->vmo_mode = SIM_VMO_OK;
        else if (strcmp(arg, "abort") == 0)
            cfg->vmo_mode = SIM_VMO_ABORT;
        else if (strcmp(arg, "mixed") == 0)
            cfg->vmo_mode = SIM_VMO_MIXED;
        else
            return main_bad(name, arg, "expected ok, abort or mixed");
        return 0;
    case OPT_ABORT_DELAY:
        return main_uint(name, arg, 0, 60000, &cfg->abort_delay_ms);
    case OPT_SEQ_LEN:
        return main_uint(name, arg, 1, 200, &cfg->seq_len);
    case OPT_COMPLETE_FIRST:
        cfg->complete_first = true;
        return 0;
    case OPT_EARLY_KNOWN1:
        cfg->early_known1 = true;
        return 0;
    case OPT_OP_RATE:
        return main_u64(name, arg, 0, 1ULL << 32, &cfg->op_rate);
    case OPT_OP_BYTES:
        return main_u64(name, arg, 0, UINT64_MAX / 2, &cfg->op_bytes);
    case OPT_DRAIN_TIMEOUT:
        if (main_secs(name, arg, 3600, &v) == -1)
            return -1;
        cfg->drain_timeout_ms = (unsigned)v;
        return 0;
    case OPT_CONNECT_ONLY:
        cfg->connect_only = true;
        return 0;
    case OPT_TEXT:
        cfg->text = true;
        return 0;
    case OPT_CONNECT_WINDOW:
        return main_uint(name, arg, 1, 100000, &cfg->connect_window);
    case OPT_CONNECT_TIMEOUT:
        if (main_secs(name, arg, 3600, &v) == -1)
            return -1;
        cfg->connect_timeout_ms = (unsigned)v;
        return 0;
    case OPT_GOAHEAD_TIMEOUT:
        return main_uint(name, arg, 1, 600000, &cfg->goahead_timeout_ms);
    case OPT_PEER_TIMEOUT:
        return main_uint(name, arg, 1, 600000, &cfg->peer_timeout_ms);
    case OPT_MAX_NOTNOW:
        return main_uint(name, arg, 0, 1000000, &cfg->max_notnow);
    case OPT_PEER_DELAY:
        return main_uint(name, arg, 0, 600000, &cfg->peer_delay_ms);
    case OPT_FIN_LEAD:
        return main_uint(name, arg, 0, 600000, &cfg->fin_lead_ms);
    case OPT_HANDSHAKE_TIMEOUT:
        if (main_secs(name, arg, 3600, &v) == -1)
            return -1;
        cfg->handshake_timeout_ms = v > 0 ? (unsigned)v : 1;
        return 0;
    case OPT_MAX_LAG:
        return main_u64(name, arg, 0, UINT64_MAX / 2, &cfg->max_lag);
    case OPT_VMO_WINDOW:
        return main_uint(name, arg, 1, 1000000, &cfg->vmo_window);
    case OPT_NOTNOW_OK:
        cfg->notnow_ok = true;
        return 0;
    case OPT_WRITE_INTERVAL:
        return main_uint(name, arg, 0, 10000, &cfg->write_interval_ms);
    case OPT_MAX_ERRORS:
        return main_uint(name, arg, 0, 1000000, &cfg->error_print_max);
    case OPT_LOG_LEVEL:
        *log_level = log_level_parse(arg);
        if (*log_level < 0)
            return main_bad(name, arg, "expected error|warn|info|debug");
        return 0;
    default:
        return -1;
    }
}

static int
main_run(int argc, char **argv)
{
    struct sim_cfg cfg;
    bool dest_set = false;
    int log_level = LOG_LVL_WARN;
    int ch;

    sim_cfg_defaults(&cfg);
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", main_opts, NULL)) != -1) {
        if (ch == 'h') {
            main_usage(stdout);
            return 0;
        }
        if (ch == '?' || ch == ':') {
            main_usage(stderr);
            return 2;
        }
        if (main_opt(&cfg, ch, optarg, &dest_set, &log_level) == -1)
            return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "vspc-hvsim: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!dest_set) {
        cfg.vmo_dest[0] = cfg.proxy;
        cfg.n_vmo_dest = 1;
    }
    if (cfg.connect_only && cfg.vmotions > 0) {
        fprintf(stderr, "vspc-hvsim: --connect-only excludes --vmotions\n");
        return 2;
    }
    if (!cfg.connect_only && cfg.duration_ms == 0 && cfg.bytes == 0 &&
        cfg.vmotions == 0) {
        fprintf(stderr, "vspc-hvsim: give --duration, --bytes or "
                        "--vmotions (or --connect-only), else the run never "
                        "ends\n");
        return 2;
    }
    if (cfg.text && cfg.have_operator) {
        fprintf(stderr, "vspc-hvsim: --text streams are not verified by "
                        "operators: drop --operator\n");
        return 2;
    }
    if (cfg.op_rate > 0 && !cfg.have_operator) {
        fprintf(stderr, "vspc-hvsim: --operator-rate needs --operator\n");
        return 2;
    }
    log_init("vspc-hvsim", log_level);
    return sim_run(&cfg);
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "scenario") == 0)
        return scen_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "replay") == 0)
        return replay_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "help") == 0) {
        main_usage(stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return main_run(argc - 1, argv + 1);
    if (argc >= 2 && argv[1][0] != '-') {
        fprintf(stderr, "vspc-hvsim: unknown subcommand '%s'\n", argv[1]);
        main_usage(stderr);
        return 2;
    }
    return main_run(argc, argv);
}
