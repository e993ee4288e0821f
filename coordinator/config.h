/*
 * config.h: vspc-coordinator's options as one table (ccfg_).
 *
 * Every option is a row of ccfg_opts: name (the long option and the INI
 * key, the same string), type, bounds and default. The command line and
 * the INI file (libinih, one [coordinator] section) both go through one
 * parser per type. Order: defaults, then the file, then the command line
 * (the command line wins). Errors are collected, one line each, prefixed
 * "FILE:LINE: key: " or "--key: ", and the caller refuses to start (or,
 * with -t, prints them).
 *
 * The shape is the proxy's (proxy/config.c); the two tables move to one
 * common/ module when the proxy's housekeeping is split out (issue 7).
 *
 * Ownership: struct coord_cfg holds no pointers. A ccfg_loader owns its
 * error text; ccfg_loader_fini frees it.
 */
#ifndef VSPC_COORD_CONFIG_H
#define VSPC_COORD_CONFIG_H

#include "vspc/compat.h"

#define CCFG_ENDPOINT_MAX 255

struct coord_cfg {
    char bind[CCFG_ENDPOINT_MAX + 1]; /* tcp://ADDR:PORT: requests */
    double heartbeat_timeout;         /* seconds */
    unsigned max_nodes;
    size_t max_per_node;
    size_t max_consoles;
    int log_level;
};

enum ccfg_type {
    CCFG_ENDPOINT, /* char[]: tcp://ADDR:PORT, ADDR IPv4, [IPv6] or a star */
    CCFG_SECS,     /* double: > min, <= max */
    CCFG_UINT,     /* unsigned or size_t (by size): min to max */
    CCFG_LEVEL,    /* int: error, warn, info, debug */
};

struct ccfg_opt {
    const char *name;
    enum ccfg_type type;
    size_t off, size;
    double min, max;
    const char *def;
    const char *want;
};

extern const struct ccfg_opt ccfg_opts[];
extern const size_t ccfg_n_opts;
#define CCFG_MAX_OPTS 16

struct ccfg_loader {
    struct coord_cfg *cfg;
    int source;                  /* 0 defaults, 1 file, 2 command line */
    int set_by[CCFG_MAX_OPTS];   /* source that set each option */
    int set_line[CCFG_MAX_OPTS]; /* its line in the file */
    const char *file;            /* kept by pointer (argv) */
    bool in_section;             /* INI reader: inside [coordinator] */
    int line;                    /* INI reader: current line */
    void *fp;                    /* INI reader: the FILE */
    unsigned n_errors;
    char *errors; /* "where: message\n" lines, malloc'd */
    size_t errors_len;
};

/* Defaults into cfg; the loader starts empty. */
void ccfg_loader_init(struct ccfg_loader *ld, struct coord_cfg *cfg);
void ccfg_loader_fini(struct ccfg_loader *ld);
/* Table defaults only (also used by ccfg_loader_init). */
void ccfg_defaults(struct coord_cfg *cfg);

/* Command line: value NULL is an error for every current option. Returns
 * 0 or -1 (error recorded). */
int ccfg_set_arg(struct ccfg_loader *ld, const char *name, const char *value);
/* INI file; every error recorded with FILE:LINE. 0 or -1. */
int ccfg_load_file(struct ccfg_loader *ld, const char *path);
/* Cross-option checks; 0 if no error was recorded at all. */
int ccfg_validate(struct ccfg_loader *ld);
/* The recorded errors, "" if none. */
const char *ccfg_errors(const struct ccfg_loader *ld);

#endif /* VSPC_COORD_CONFIG_H */
