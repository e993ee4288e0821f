/*
 * config.c: vspc-coordinator's option table and its endpoint type; the
 * common engine (common/opttab.c) does the rest. See config.h.
 */
#include "vspc/compat.h"
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define F(field) OPT_FIELD(struct coord_cfg, field)

const struct opt_def ccfg_opts[] = {
    {"bind", CCFG_ENDPOINT, F(bind), 0, 0, "tcp://127.0.0.1:13380",
     "tcp://ADDR:PORT (numeric IPv4, [IPv6] or *; PORT to 65533: the next "
     "two ports are the update stream and the HA peer)",
     0},
    {"heartbeat-timeout", OPT_SECS, F(heartbeat_timeout), 0, 3600, "3",
     "a positive number of seconds up to 3600", 0},
    {"max-nodes", OPT_UINT, F(max_nodes), 1, 256, "256", "1 to 256", 0},
    {"max-consoles-per-node", OPT_UINT, F(max_per_node), 1, 10000000, "100000",
     "1 to 10000000", 0},
    {"max-consoles", OPT_UINT, F(max_consoles), 1, 100000000, "1000000",
     "1 to 100000000", 0},
    {"curve-key", OPT_PATH, F(curve_key), 0, 0, NULL,
     "a file with the pair's CURVE secret key (vspcctl keygen)", 0},
    {"curve-clients", OPT_PATH, F(curve_clients), 0, 0, NULL,
     "a file of node public keys (Z85, one per line) admitted", 0},
    {"user", OPT_PATH, F(user), 0, 0, NULL,
     "a user name (become it once the ports are bound; needs root)", 0},
    {"log-level", OPT_LEVEL, F(log_level), 0, 0, "info",
     "error, warn, info or debug", 0},
    {"peer", CCFG_ENDPOINT, F(peer), 0, 0, NULL,
     "the other coordinator of the pair's --bind, tcp://ADDR:PORT", 0},
    {"primary", OPT_BOOL, F(primary), 0, 0, "no", "yes or no", 0},
    {"backup", OPT_BOOL, F(backup), 0, 0, "no", "yes or no", 0},
    {"ha-bind", CCFG_ENDPOINT, F(ha_bind), 0, 0, NULL,
     "tcp://ADDR:PORT (default: --bind's port + 2)", 0},
    {"ha-peer", CCFG_ENDPOINT, F(ha_peer), 0, 0, NULL,
     "tcp://ADDR:PORT (default: --peer's port + 2)", 0},
};
const size_t ccfg_n_opts = VSPC_ARRAY_LEN(ccfg_opts);

_Static_assert(VSPC_ARRAY_LEN(ccfg_opts) <= OPT_MAX_OPTS, "OPT_MAX_OPTS");

/* tcp://HOST:PORT with HOST numeric IPv4, [IPv6] or *, PORT 1 to max. */
static int
s_endpoint(const char *s, double max_port)
{
    char host[64];
    const char *h, *colon, *p;
    unsigned long port = 0;
    size_t hl;
    struct in6_addr a6;
    struct in_addr a4;

    if (strncmp(s, "tcp://", 6) != 0)
        return -1;
    h = s + 6;
    if ((colon = strrchr(h, ':')) == NULL || colon == h)
        return -1;
    hl = (size_t)(colon - h);
    if (colon[1] == '\0' || strlen(colon + 1) > 5)
        return -1;
    for (p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port < 1 || (double)port > max_port)
        return -1;
    if (hl == 1 && h[0] == '*')
        return 0;
    if (h[0] == '[') {
        if (hl < 3 || h[hl - 1] != ']' || hl - 2 >= sizeof(host))
            return -1;
        memcpy(host, h + 1, hl - 2);
        host[hl - 2] = '\0';
        return inet_pton(AF_INET6, host, &a6) == 1 ? 0 : -1;
    }
    if (hl >= sizeof(host))
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    return inet_pton(AF_INET, host, &a4) == 1 ? 0 : -1;
}

/* A custom type's value into its field (the engine's parse hook). */
static int
ccfg_parse(void *cfg, const struct opt_def *o, const char *v, char *err,
           size_t cap)
{
    char *field = (char *)cfg + o->off;

    if (o->type == CCFG_ENDPOINT && strlen(v) < o->size &&
        s_endpoint(v, 65533) == 0) {
        snprintf(field, o->size, "%s", v);
        return 0;
    }
    return opt_bad(o, v, err, cap);
}

const struct opt_table ccfg_table = {
    .section = "coordinator",
    .opts = ccfg_opts,
    .n_opts = VSPC_ARRAY_LEN(ccfg_opts),
    .parse = ccfg_parse,
};

const char *
ccfg_check(const struct coord_cfg *cfg)
{
    if (cfg->peer[0] && cfg->primary == cfg->backup)
        return "--peer: say which one this is, --primary or --backup";
    if (!cfg->peer[0] &&
        (cfg->primary || cfg->backup || cfg->ha_bind[0] || cfg->ha_peer[0]))
        return "--primary, --backup, --ha-bind and --ha-peer need --peer";
    if (cfg->peer[0] && strcmp(cfg->peer, cfg->bind) == 0)
        return "--peer: the other coordinator's endpoint, not our --bind";
    return NULL;
}

void
ccfg_defaults(struct coord_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    opt_defaults(&ccfg_table, cfg);
}

void
ccfg_loader_init(struct opt_loader *ld, struct coord_cfg *cfg)
{
    ccfg_defaults(cfg);
    opt_loader_init(ld, &ccfg_table, cfg);
}
