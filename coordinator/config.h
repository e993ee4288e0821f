/*
 * config.h: vspc-coordinator's options as one table (ccfg_).
 *
 * Every option is a row of ccfg_opts, loaded by the common option engine
 * (vspc/opttab.h: defaults, then the INI file's [coordinator] section,
 * then the command line, which wins; errors "FILE:LINE: key: ..." or
 * "--key: ..."). This file adds the coordinator's own type, the bind
 * endpoint. Nothing crosses options yet: the bind port's room for +1 and
 * +2 is checked by its own parser.
 *
 * Ownership: struct coord_cfg holds no pointers. The loader owns its
 * error text; ccfg_loader_fini (opt_loader_fini) frees it.
 */
#ifndef VSPC_COORD_CONFIG_H
#define VSPC_COORD_CONFIG_H

#include "vspc/compat.h"

#include "vspc/opttab.h"

#define CCFG_ENDPOINT_MAX 255

struct coord_cfg {
    char bind[CCFG_ENDPOINT_MAX + 1]; /* tcp://ADDR:PORT: requests */
    double heartbeat_timeout;         /* seconds */
    unsigned max_nodes;
    size_t max_per_node;
    size_t max_consoles;
    int log_level;
    const char *user;          /* become it once bound (NULL: stay) */
    const char *curve_key;     /* CURVE secret key file (NULL: no CURVE) */
    const char *curve_clients; /* the node keys admitted */
    /* A Binary Star pair (bstar.h): the other coordinator's bind endpoint
     * ("" alone), which one this is, and the HA ports if not the
     * defaults (each bind's port + 2). */
    char peer[CCFG_ENDPOINT_MAX + 1];
    bool primary, backup;
    char ha_bind[CCFG_ENDPOINT_MAX + 1];
    char ha_peer[CCFG_ENDPOINT_MAX + 1];
};

/* The options that cross each other (the pair's); NULL or a message. */
const char *ccfg_check(const struct coord_cfg *cfg);

/* The coordinator's own type (the generic ones: vspc/opttab.h). */
enum ccfg_type {
    CCFG_ENDPOINT = OPT_CUSTOM, /* char[]: tcp://ADDR:PORT, ADDR IPv4,
                                 * [IPv6] or a star, PORT to 65533 */
};

extern const struct opt_def ccfg_opts[];
extern const size_t ccfg_n_opts;
extern const struct opt_table ccfg_table;

/* Table defaults only (also used by ccfg_loader_init). */
void ccfg_defaults(struct coord_cfg *cfg);
/* Defaults into cfg, and ld started on ccfg_table. */
void ccfg_loader_init(struct opt_loader *ld, struct coord_cfg *cfg);

/* The engine's loader calls, by the names the tests use. */
static inline void
ccfg_loader_fini(struct opt_loader *ld)
{
    opt_loader_fini(ld);
}

static inline int
ccfg_set_arg(struct opt_loader *ld, const char *name, const char *value)
{
    return opt_set_arg(ld, name, value);
}

static inline const char *
ccfg_errors(const struct opt_loader *ld)
{
    return opt_errors(ld);
}

#endif /* VSPC_COORD_CONFIG_H */
