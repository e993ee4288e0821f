/*
 * config.c: vspc-proxy's option table, its own types and its cross-option
 * checks; the common engine (common/opttab.c) does the rest. See config.h.
 */
#include "vspc/compat.h"
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vspc/addr.h"
#include "edge.h"
#include "etcd.h"
#include "etcdkv.h"
#include "vspc/zcurve.h"

#define F(field) OPT_FIELD(struct proxy_cfg, field)
#define GIB ((double)(1u << 30))

/* One row per option: name, type, field, bounds, default, valid values. */
const struct opt_def cfg_opts[] = {
    {"vm-listen", OPT_ADDR, F(vm_listen), 0, 0, "0.0.0.0:13370",
     "ADDR:PORT (numeric IPv4, or [IPv6])", 0},
    {"tls-listen", OPT_ADDR_OFF, F(tls_listen), 0, 0, "none",
     "ADDR:PORT or none", 0},
    {"tls-cert", OPT_PATH, F(tls_cert), 0, 0, NULL, "a file name",
     OPT_F_RELOAD},
    {"tls-key", OPT_PATH, F(tls_key), 0, 0, NULL, "a file name", OPT_F_RELOAD},
    {"proxy-protocol", OPT_BOOL, F(proxy_protocol), 0, 0, "no",
     "yes, no, true, false, 1 or 0", 0},
    {
        "allow",
        CFG_CIDR,
        F(allow),
        0,
        PROXY_MAX_ALLOW,
        NULL,
        "an IPv4 or IPv6 address or prefix (192.0.2.0/24, 2001:db8::/32)",
        OPT_F_RELOAD,
    },
    {"takeover", CFG_TAKEOVER, F(takeover_refuse), 0, 0, "replace",
     "replace or refuse (a live console's connection, claimed again)",
     OPT_F_RELOAD},
    {"operator-listen", OPT_ADDR, F(operator_listen), 0, 0, "127.0.0.1:13371",
     "ADDR:PORT (numeric IPv4, or [IPv6])", 0},
    {"service-uri", CFG_URI, F(service_uris), 0, PROXY_MAX_SERVICE_URIS, NULL,
     "a Port URI without a query", 0},
    {"node-id", OPT_NAME, F(node_id), 0, 0, "node1", "1 to 63 characters", 0},
    {"node-index", OPT_UINT, F(node_index), 0, 255, "0", "0 to 255", 0},
    {"vmotion-timeout", OPT_SECS, F(vmotion_timeout), 0, 1e7, "30",
     "a positive number of seconds", OPT_F_RELOAD},
    {"refuse-vmotion", OPT_BOOL, F(refuse_vmotion), 0, 0, "no",
     "yes, no, true, false, 1 or 0", OPT_F_RELOAD},
    {"idle-timeout", OPT_SECS, F(idle_timeout), 0, 1e7, "60",
     "a positive number of seconds", OPT_F_RELOAD},
    {"max-unidentified-bytes", OPT_UINT, F(pre_total_max), 65536, 1024 * GIB,
     "67108864",
     "65536 to 1 TiB (serial data held before identification, all "
     "connections together)",
     OPT_F_RELOAD},
    {"max-unidentified-per-source", OPT_UINT, F(max_unident_per_source), 1,
     1000000, "4096",
     "1 to 1000000 (hypervisor connections from one address not identified "
     "yet)",
     OPT_F_RELOAD},
    {"max-consoles", OPT_UINT, F(max_consoles), 1, 10000000, "100000",
     "1 to 10000000 (consoles this node holds; new ones beyond are refused "
     "once no disconnected one can go)",
     OPT_F_RELOAD},
    {"max-operators", OPT_UINT, F(max_operators), 1, 1000000, "10000",
     "1 to 1000000 (operator connections at once)", OPT_F_RELOAD},
    {"operator-idle-timeout", OPT_SECS, F(op_idle_timeout), 0, 1e7, "900",
     "a positive number of seconds (an operator idle at the prompt)",
     OPT_F_RELOAD},
    {"operator-tls-listen", OPT_ADDR_OFF, F(op_tls_listen), 0, 0, "none",
     "ADDR:PORT or none (0.0.0.0:13373 once operator-cert is given)", 0},
    {"operator-cert", OPT_PATH, F(op_cert), 0, 0, NULL,
     "a PEM certificate (chain) for the operators' TLS port", 0},
    {"operator-key", OPT_PATH, F(op_key), 0, 0, NULL,
     "its PEM private key (default: operator-cert's file)", 0},
    {"operator-ca", OPT_PATH, F(op_ca), 0, 0, NULL,
     "PEM CA certificates for operators' client certificates (their "
     "subject CN names the user)",
     0},
    {"operator-anonymous", CFG_ANON, F(op_anon), 0, 0, "loopback",
     "loopback, any or none (who may use the operator port and the HTTP "
     "API without logging in)",
     OPT_F_RELOAD},
    {"users", OPT_PATH, F(users_file), 0, 0, NULL,
     "a users file (vspcctl passwd writes its lines)", OPT_F_RELOAD},
    {"acl", OPT_PATH, F(acl_file), 0, 0, NULL,
     "a file of per-console rights (without it every operator may do "
     "everything)",
     OPT_F_RELOAD},
    {"login-failures", OPT_UINT, F(login_failures), 1, 1000, "5",
     "1 to 1000 (failed logins one address may make per minute)", OPT_F_RELOAD},
    {"console-expire", OPT_SECS, F(console_expire), 0, 1e7, "86400",
     "a positive number of seconds", OPT_F_RELOAD},
    {"scrollback", OPT_UINT, F(scrollback), 0, GIB, "65536",
     "0 to 1073741824 (1 GiB)", 0},
    {"escape-char", CFG_ESCAPE, F(escape_char), 0, 0, "^E",
     "^X (a control character) or none", OPT_F_RELOAD},
    {"slow-reader", CFG_SLOW, F(slow_reader), 0, 0, "pace",
     "pace, catchup or disconnect", OPT_F_RELOAD},
    {"stall-timeout", OPT_SECS, F(stall_timeout), 0, 1e6, "1",
     "a positive number of seconds", OPT_F_RELOAD},
    {"operator-queue", OPT_UINT, F(op_queue_max), 4096, GIB, "262144",
     "4096 to 1073741824 (1 GiB)", 0},
    {"agent-listen", OPT_ADDR_OFF, F(agent_listen), 0, 0, "none",
     "ADDR:PORT or none", 0},
    {"http-listen", OPT_ADDR_OFF, F(http_listen), 0, 0, "127.0.0.1:13372",
     "ADDR:PORT or none", 0},
    {"http-token-file", OPT_PATH, F(http_token_file), 0, 0, NULL,
     "a file whose first line (16 to 255 characters) every HTTP request "
     "but /healthz and /readyz must bear",
     OPT_F_RELOAD},
    {"http-cert", OPT_PATH, F(http_cert), 0, 0, NULL,
     "a PEM certificate (chain): the HTTP listener speaks HTTPS", 0},
    {"http-key", OPT_PATH, F(http_key), 0, 0, NULL,
     "its PEM private key (default: http-cert's file)", 0},
    {"log-dir", OPT_PATH, F(log_dir), 0, 0, NULL, "a directory", 0},
    {"log-timestamps", OPT_BOOL, F(log_timestamps), 0, 0, "no",
     "yes, no, true, false, 1 or 0", OPT_F_RELOAD},
    {"log-rotate-bytes", OPT_UINT, F(log_rotate_bytes), 0, 1024 * GIB,
     "16777216", "a size in bytes up to 1 TiB (0 = never)", OPT_F_RELOAD},
    {"log-keep", OPT_UINT, F(log_keep), 1, 1000, "5", "1 to 1000",
     OPT_F_RELOAD},
    {"audit-records", OPT_UINT, F(audit_max), 0, 1000000, "1024",
     "0 to 1000000", 0},
    {"user", OPT_PATH, F(user), 0, 0, NULL,
     "a user name (become it once the ports are bound; needs root)", 0},
    {"log-level", OPT_LEVEL, F(log_level), 0, 0, "info",
     "error, warn, info or debug", OPT_F_RELOAD},
    {"coordinator", CFG_ZMQ, F(coordinators), 0, PROXY_MAX_COORDINATORS, NULL,
     "tcp://HOST:PORT (numeric), at most twice (the HA pair)", 0},
    {"curve-key", OPT_PATH, F(curve_key), 0, 0, NULL,
     "a file with this node's CURVE secret key (vspcctl keygen)", 0},
    {"coordinator-key", OPT_NAME, F(coordinator_key), 0, 0, NULL,
     "the coordinators' CURVE public key (40 Z85 characters)", 0},
    {"etcd", CFG_ETCD, F(etcd), 0, PROXY_MAX_ETCD, NULL,
     "http://HOST:PORT (numeric), an etcd member's client URL, up to 5 "
     "times (instead of coordinator)",
     0},
    {"etcd-prefix", OPT_NAME, F(etcd_prefix), 0, 0, "/vspc/",
     "printable, ending in / (the keys the cluster uses in etcd)", 0},
    {"etcd-ttl", OPT_UINT, F(etcd_ttl), 2, 3600, "10",
     "2 to 3600 seconds (the node's etcd lease)", 0},
    {"peer-listen", OPT_ADDR, F(peer_listen), 0, 0, "127.0.0.1:13390",
     "ADDR:PORT (numeric IPv4, or [IPv6])", 0},
    {"peer-advertise", OPT_ADDR_OFF, F(peer_advertise), 0, 0, "none",
     "ADDR:PORT the other nodes dial, or none (peer-listen's)", 0},
    {"peer-tls-cert", OPT_PATH, F(peer_tls_cert), 0, 0, NULL,
     "a PEM certificate (chain) signed by peer-ca, subject CN = node-id "
     "(peer links in TLS)",
     0},
    {"peer-tls-key", OPT_PATH, F(peer_tls_key), 0, 0, NULL,
     "peer-tls-cert's PEM private key", 0},
    {"peer-ca", OPT_PATH, F(peer_ca), 0, 0, NULL,
     "the cluster CA's PEM certificate (the only one peer links trust)", 0},
};
const size_t cfg_n_opts = VSPC_ARRAY_LEN(cfg_opts);

_Static_assert(VSPC_ARRAY_LEN(cfg_opts) <= OPT_MAX_OPTS, "OPT_MAX_OPTS");

/* ---- the proxy's own types ------------------------------------------------
 */

static int
parse_escape(const char *s, uint8_t *out)
{
    if (strcmp(s, "none") == 0)
        *out = 0;
    else if (s[0] == '^' && s[1] >= '@' && s[1] <= '_' && s[2] == '\0')
        *out = (uint8_t)(s[1] - '@');
    else if (s[0] == '^' && s[1] >= 'a' && s[1] <= 'z' && s[2] == '\0')
        *out = (uint8_t)(s[1] - 'a' + 1);
    else
        return -1;
    return 0;
}

/* A custom type's value into its field of cfg (the engine's parse hook). */
static int
cfg_parse(void *vcfg, const struct opt_def *o, const char *value, char *err,
          size_t cap)
{
    struct proxy_cfg *cfg = vcfg;
    char *field = (char *)cfg + o->off;

    switch ((enum cfg_type)o->type) {
    case CFG_URI: {
        char *p;

        if (value[0] == '\0' || strchr(value, '?'))
            break;
        if (cfg->n_service_uris >= (size_t)o->max) {
            snprintf(err, cap, "at most %d", PROXY_MAX_SERVICE_URIS);
            return -1;
        }
        if ((p = strdup(value)) == NULL) {
            snprintf(err, cap, "out of memory");
            return -1;
        }
        cfg->service_uris[cfg->n_service_uris++] = p;
        return 0;
    }
    case CFG_CIDR:
        if (cfg->n_allow >= (size_t)o->max) {
            snprintf(err, cap, "at most %d", PROXY_MAX_ALLOW);
            return -1;
        }
        if (edge_cidr_parse(value, &cfg->allow[cfg->n_allow]) != 0)
            break;
        cfg->n_allow++;
        return 0;
    case CFG_ESCAPE:
        if (parse_escape(value, (uint8_t *)field) != 0)
            break;
        return 0;
    case CFG_SLOW:
        if (strm_policy_parse(value, &cfg->slow_reader) != 0)
            break;
        return 0;
    case CFG_TAKEOVER:
        if (strcmp(value, "replace") != 0 && strcmp(value, "refuse") != 0)
            break;
        cfg->takeover_refuse = strcmp(value, "refuse") == 0;
        return 0;
    case CFG_ANON:
        if (strcmp(value, "loopback") == 0)
            cfg->op_anon = PROXY_ANON_LOOPBACK;
        else if (strcmp(value, "any") == 0)
            cfg->op_anon = PROXY_ANON_ANY;
        else if (strcmp(value, "none") == 0)
            cfg->op_anon = PROXY_ANON_NONE;
        else
            break;
        return 0;
    case CFG_ZMQ: {
        struct sockaddr_storage zs;
        socklen_t zl;

        if (cfg->n_coordinators >= (size_t)o->max) {
            snprintf(err, cap, "at most %d", PROXY_MAX_COORDINATORS);
            return -1;
        }
        if (strncmp(value, "tcp://", 6) != 0 ||
            strlen(value) >= PROXY_ENDPOINT_MAX ||
            addr_parse(value + 6, &zs, &zl) != 0)
            break;
        snprintf(cfg->coordinators[cfg->n_coordinators++], PROXY_ENDPOINT_MAX,
                 "%s", value);
        return 0;
    }
    case CFG_ETCD: {
        char why[160];

        if (cfg->n_etcd >= (size_t)o->max) {
            snprintf(err, cap, "at most %d", PROXY_MAX_ETCD);
            return -1;
        }
        if (etcd_endpoint_check(value, why, sizeof(why)) != 0)
            break;
        snprintf(cfg->etcd[cfg->n_etcd++], PROXY_ENDPOINT_MAX, "%s", value);
        return 0;
    }
    }
    return opt_bad(o, value, err, cap);
}

/* A repeatable option's list, emptied when a later source names it (the
 * engine's clear hook). */
static void
cfg_clear_list(void *vcfg, const struct opt_def *o)
{
    struct proxy_cfg *cfg = vcfg;

    if (o->type == CFG_URI) {
        for (size_t i = 0; i < cfg->n_service_uris; i++) {
            if (cfg->owns_strings)
                free((char *)cfg->service_uris[i]);
            cfg->service_uris[i] = NULL;
        }
        cfg->n_service_uris = 0;
    } else if (o->type == CFG_CIDR) {
        cfg->n_allow = 0;
    } else if (o->type == CFG_ZMQ) {
        cfg->n_coordinators = 0;
    } else if (o->type == CFG_ETCD) {
        cfg->n_etcd = 0;
    }
}

/* The operators' TLS port: key defaults to the certificate's file, the
 * port to 0.0.0.0:13373; a CA or a port without a certificate is an
 * error. */
static void
cfg_check_operator_tls(struct opt_loader *ld)
{
    struct proxy_cfg *cfg = ld->cfg;
    const struct opt_def *o = cfg_find("operator-tls-listen");
    const char *file;
    int line;

    if (cfg->op_cert && !cfg->op_key &&
        (cfg->op_key = strdup(cfg->op_cert)) == NULL)
        opt_error(ld, NULL, 0, "out of memory");
    if (!cfg->op_cert && (cfg->op_key || cfg->op_ca || cfg->op_tls_listen[0])) {
        const char *n = cfg->op_key  ? "operator-key"
                        : cfg->op_ca ? "operator-ca"
                                     : "operator-tls-listen";

        opt_where(ld, cfg_find(n), &file, &line);
        opt_error(ld, file, line, "%s%s needs operator-cert", file ? "" : "--",
                  n);
    }
    if (cfg->http_cert && !cfg->http_key &&
        (cfg->http_key = strdup(cfg->http_cert)) == NULL)
        opt_error(ld, NULL, 0, "out of memory");
    if (cfg->http_key && !cfg->http_cert) {
        opt_where(ld, cfg_find("http-key"), &file, &line);
        opt_error(ld, file, line, "%shttp-key needs http-cert",
                  file ? "" : "--");
    }
    if (cfg->op_cert && !opt_given(ld, o))
        snprintf(cfg->op_tls_listen, sizeof(cfg->op_tls_listen),
                 "0.0.0.0:13373");
}

/* Two listeners on one port of one address (or of the wildcard): the
 * second bind would fail at start. */
static void
cfg_check_listeners(struct opt_loader *ld)
{
    struct proxy_cfg *cfg = ld->cfg;
    const struct {
        const char *opt;
        const char *addr;
    } l[] = {
        {"vm-listen", cfg->vm_listen},
        {"tls-listen", cfg->tls_listen},
        {"operator-listen", cfg->operator_listen},
        {"operator-tls-listen", cfg->op_tls_listen},
        {"http-listen", cfg->http_listen},
        {"agent-listen", cfg->agent_listen},
        {"peer-listen", cfg->peer_listen},
    };
    struct sockaddr_storage ss[VSPC_ARRAY_LEN(l)];
    socklen_t sl;
    bool ok[VSPC_ARRAY_LEN(l)];

    for (size_t i = 0; i < VSPC_ARRAY_LEN(l); i++)
        ok[i] = l[i].addr[0] && addr_parse(l[i].addr, &ss[i], &sl) == 0;
    for (size_t i = 0; i < VSPC_ARRAY_LEN(l); i++)
        for (size_t j = i + 1; j < VSPC_ARRAY_LEN(l); j++) {
            const char *file;
            int line;

            if (!ok[i] || !ok[j] || !addr_same_port_clash(&ss[i], &ss[j]))
                continue;
            opt_where(ld, cfg_find(l[j].opt), &file, &line);
            opt_error(ld, file, line,
                      "%s%s %s and %s%s %s: two listeners on one port",
                      file ? "" : "--", l[i].opt, l[i].addr, file ? "" : "--",
                      l[j].opt, l[j].addr);
        }
}

/* The options against each other (the engine's validate hook). */
static void
cfg_cross_check(struct opt_loader *ld)
{
    struct proxy_cfg *cfg = ld->cfg;
    const struct opt_def *o;
    const char *file;
    int line;

    if (cfg->tls_key && !cfg->tls_cert) {
        opt_where(ld, cfg_find("tls-key"), &file, &line);
        opt_error(ld, file, line, "%stls-key needs tls-cert", file ? "" : "--");
    }
    if (cfg->tls_cert && !cfg->tls_key) {
        /* One PEM file with both. */
        if ((cfg->tls_key = strdup(cfg->tls_cert)) == NULL)
            opt_error(ld, NULL, 0, "out of memory");
    }
    o = cfg_find("tls-listen");
    if (cfg->tls_listen[0] && !cfg->tls_cert) {
        opt_where(ld, o, &file, &line);
        opt_error(ld, file, line, "%stls-listen needs tls-cert (and tls-key)",
                  file ? "" : "--");
    }
    if (cfg->n_allow == 0) {
        /* Hypervisors from loopback only until the administrator names the
         * ESXi hosts' networks: the port hands out consoles to whoever
         * announces a VM's UUID. */
        cfg->allow_defaulted =
            edge_cidr_parse("127.0.0.0/8", &cfg->allow[0]) == 0 &&
            edge_cidr_parse("::1/128", &cfg->allow[1]) == 0;
        cfg->n_allow = cfg->allow_defaulted ? 2 : 0;
    }
    if ((cfg->curve_key != NULL) != (cfg->coordinator_key[0] != '\0') ||
        (cfg->coordinator_key[0] && !zc_key_valid(cfg->coordinator_key))) {
        opt_where(ld, cfg_find("coordinator-key"), &file, &line);
        opt_error(ld, file, line,
                  "%scurve-key and %scoordinator-key go together (the "
                  "latter 40 Z85 characters)",
                  file ? "" : "--", file ? "" : "--");
    }
    if (cfg->n_etcd && cfg->n_coordinators) {
        opt_where(ld, cfg_find("etcd"), &file, &line);
        opt_error(ld, file, line,
                  "%setcd and %scoordinator are two ownership stores: give "
                  "one",
                  file ? "" : "--", file ? "" : "--");
    }
    if (!ekv_prefix_ok(cfg->etcd_prefix)) {
        opt_where(ld, cfg_find("etcd-prefix"), &file, &line);
        opt_error(ld, file, line,
                  "%setcd-prefix: printable, no spaces, ending in /",
                  file ? "" : "--");
    }
    if (cfg->tls_cert && !opt_given(ld, o))
        snprintf(cfg->tls_listen, sizeof(cfg->tls_listen), "0.0.0.0:13369");
    if (!cfg->peer_tls_cert != !cfg->peer_tls_key ||
        !cfg->peer_tls_cert != !cfg->peer_ca) {
        opt_where(ld,
                  cfg_find(cfg->peer_tls_cert  ? "peer-tls-cert"
                           : cfg->peer_tls_key ? "peer-tls-key"
                                               : "peer-ca"),
                  &file, &line);
        opt_error(ld, file, line,
                  "%speer-tls-cert, %speer-tls-key and %speer-ca go together "
                  "(all three or none)",
                  file ? "" : "--", file ? "" : "--", file ? "" : "--");
    }
    cfg_check_operator_tls(ld);
    if (cfg->node_id[strspn(cfg->node_id, "abcdefghijklmnopqrstuvwxyz"
                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789._-")] != '\0') {
        opt_where(ld, cfg_find("node-id"), &file, &line);
        opt_error(ld, file, line,
                  "%snode-id \"%s\": letters, digits, '.', '_' and '-' only "
                  "(it names the node in the cluster, logs and certificates)",
                  file ? "" : "--", cfg->node_id);
    }
    cfg_check_listeners(ld);
}

const struct opt_table cfg_table = {
    .section = "proxy",
    .opts = cfg_opts,
    .n_opts = VSPC_ARRAY_LEN(cfg_opts),
    .parse = cfg_parse,
    .clear = cfg_clear_list,
    .validate = cfg_cross_check,
};

void
cfg_defaults(struct proxy_cfg *cfg)
{
    opt_defaults(&cfg_table, cfg);
}

void
cfg_free(struct proxy_cfg *cfg)
{
    /* tls_key is never tls_cert's pointer: cfg_cross_check copies it. */
    if (cfg->owns_strings)
        opt_free(&cfg_table, cfg);
}

void
cfg_loader_init(struct opt_loader *ld, struct proxy_cfg *cfg)
{
    proxy_cfg_defaults(cfg);
    cfg->owns_strings = true;
    opt_loader_init(ld, &cfg_table, cfg);
}

int
cfg_validate(struct opt_loader *ld)
{
    return opt_validate(ld);
}
