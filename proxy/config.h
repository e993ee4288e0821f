/*
 * config.h: vspc-proxy's options as one table (cfg_).
 *
 * Every option is a row of cfg_opts, loaded by the common option engine
 * (vspc/opttab.h: defaults, then the INI file's [proxy] section, then the
 * command line; errors "FILE:LINE: key: ..." or "--key: ..."). This file
 * adds the proxy's own types (service URIs, the allow-list, the escape
 * character, the slow-reader policy, coordinator endpoints) and the
 * cross-option checks (cfg_validate).
 *
 * Ownership: strings that outlive parsing (service URIs, log dir, TLS
 * paths) are copies owned by the config once cfg_loader_init set it up
 * (owns_strings); cfg_free() frees them. It does nothing to a config that
 * cfg_loader_init did not set up (tests that point those fields at
 * literals). The loader owns its errors: cfg_loader_fini frees them.
 */
#ifndef VSPC_CONFIG_H
#define VSPC_CONFIG_H

#include "vspc/compat.h"

#include <stdio.h>

#include "vspc/opttab.h"
#include "proxy.h"

/* The proxy's own types (the generic ones: vspc/opttab.h). */
enum cfg_type {
    CFG_ESCAPE = OPT_CUSTOM,   /* ^X or none */
    CFG_SLOW,                  /* pace, catchup or disconnect */
    CFG_TAKEOVER,              /* replace or refuse */
    CFG_ANON,                  /* loopback, any or none */
    CFG_URI = OPT_CUSTOM_LIST, /* service-uri: repeatable, no query */
    CFG_CIDR,                  /* allow: repeatable IPv4/IPv6 prefix */
    CFG_ZMQ,                   /* coordinator: repeatable tcp://HOST:PORT */
    CFG_ETCD,                  /* etcd: repeatable http://HOST:PORT */
};

extern const struct opt_def cfg_opts[];
extern const size_t cfg_n_opts;
extern const struct opt_table cfg_table;

/* Fill cfg with the defaults, make it own its strings, and start ld on
 * cfg_table. */
void cfg_loader_init(struct opt_loader *ld, struct proxy_cfg *cfg);

/* Cross-option checks and derived defaults (tls-key from tls-cert, the
 * telnets:// listener). Returns 0 if no error was recorded at all. */
int cfg_validate(struct opt_loader *ld);

/* Apply the table's defaults (proxy_cfg_defaults uses it). */
void cfg_defaults(struct proxy_cfg *cfg);

/* Free what the config owns (see above). */
void cfg_free(struct proxy_cfg *cfg);

/* The row for name, or NULL. */
static inline const struct opt_def *
cfg_find(const char *name)
{
    return opt_find(&cfg_table, name);
}

/* The engine's loader calls, by the names the tests use. */
static inline void
cfg_loader_fini(struct opt_loader *ld)
{
    opt_loader_fini(ld);
}

static inline int
cfg_set_arg(struct opt_loader *ld, const char *name, const char *value)
{
    return opt_set_arg(ld, name, value);
}

static inline int
cfg_load_file(struct opt_loader *ld, const char *path)
{
    return opt_load_file(ld, path);
}

static inline const char *
cfg_errors(const struct opt_loader *ld)
{
    return opt_errors(ld);
}

#endif /* VSPC_CONFIG_H */
