/*
 * config.h: vspc-proxy's options as one table (cfg_).
 *
 * Every option is a row of cfg_opts: its name (the long option and the
 * INI key, the same string), type, bounds and default. The command line
 * (main.c, getopt_long) and the INI file (libinih, one [proxy] section)
 * both go through cfg_set(), so each option is parsed and validated in one
 * place. Order: defaults, then the file, then the command line (the last
 * source wins; a repeatable option given by a later source replaces the
 * earlier source's list). cfg_validate() then checks the options against
 * each other. Errors are collected, one line each, prefixed "FILE:LINE: "
 * or "--name: ", and the caller refuses to start.
 *
 * Ownership: strings that outlive parsing (service URIs, log dir, TLS
 * paths) are copies owned by the config; cfg_free() frees them. It does
 * nothing to a config that cfg_loader_init did not set up (tests that
 * point those fields at literals).
 */
#ifndef VSPC_CONFIG_H
#define VSPC_CONFIG_H

#include "vspc/compat.h"

#include <stdio.h>

#include "proxy.h"

enum cfg_type {
    CFG_ADDR,     /* char[]: ADDR:PORT */
    CFG_ADDR_OFF, /* char[]: ADDR:PORT, or none (stored as "") */
    CFG_NAME,     /* char[]: 1 to size-1 characters */
    CFG_PATH,     /* const char *: a non-empty owned copy */
    CFG_BOOL,     /* bool: yes/no/true/false/1/0 (a bare flag = yes) */
    CFG_SECS,     /* double: seconds, > min and <= max */
    CFG_UINT,     /* uint8_t, unsigned or size_t (by size): min to max */
    CFG_URI,      /* service-uri: repeatable, no query */
    CFG_CIDR,     /* allow: repeatable IPv4/IPv6 prefix */
    CFG_ESCAPE,   /* ^X or none */
    CFG_SLOW,     /* pace, catchup or disconnect */
    CFG_LEVEL,    /* error, warn, info, debug */
    CFG_ZMQ,      /* coordinator: repeatable tcp://HOST:PORT */
};

struct cfg_opt {
    const char *name; /* long option without dashes = INI key */
    enum cfg_type type;
    size_t off;       /* offsetof(struct proxy_cfg, field) */
    size_t size;      /* sizeof the field */
    double min, max;  /* numbers: bounds */
    const char *def;  /* the default, as it would be written (NULL = unset) */
    const char *want; /* what a valid value looks like, for errors */
};

extern const struct cfg_opt cfg_opts[];
extern const size_t cfg_n_opts;

#define CFG_MAX_OPTS 40

/* One load: defaults, then sources, then cfg_validate. */
struct cfg_loader {
    struct proxy_cfg *cfg;
    int source;                 /* 0 = defaults, bumped per source */
    bool cmdline;               /* the command line is being applied */
    int set_by[CFG_MAX_OPTS];   /* the source that last set each option */
    int set_line[CFG_MAX_OPTS]; /* its line (0 = command line) */
    const char *set_file;       /* the file's name (for cfg_validate) */
    char *file;                 /* owned copy of the file's name */
    unsigned n_errors;
    char *errors; /* "where: message\n" lines (malloc'd) */
    size_t errors_len;
};

/* Fill cfg with the defaults and make it own its strings. */
void cfg_loader_init(struct cfg_loader *ld, struct proxy_cfg *cfg);
/* Free the error list (not the config). */
void cfg_loader_fini(struct cfg_loader *ld);

/* The row for name, or NULL. */
const struct cfg_opt *cfg_find(const char *name);

/*
 * Set one option from the command line (value NULL: a bare boolean flag).
 * Returns 0, or -1 with an error recorded.
 */
int cfg_set_arg(struct cfg_loader *ld, const char *name, const char *value);

/*
 * Read an INI file: one [proxy] section of "key = value" lines, '#' or ';'
 * comments. Returns 0, or -1 if any error was recorded (all of them are,
 * each with FILE:LINE).
 */
int cfg_load_file(struct cfg_loader *ld, const char *path);

/* Cross-option checks and derived defaults (tls-key from tls-cert, the
 * telnets:// listener). Returns 0 if no error was recorded at all. */
int cfg_validate(struct cfg_loader *ld);

/* The recorded errors ("" if none), one per line. */
const char *cfg_errors(const struct cfg_loader *ld);

/* Apply the table's defaults (proxy_cfg_defaults uses it). */
void cfg_defaults(struct proxy_cfg *cfg);

/* Free what the config owns (see above). */
void cfg_free(struct proxy_cfg *cfg);

#endif /* VSPC_CONFIG_H */
