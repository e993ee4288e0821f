/*
 * opttab.h: opt_*, a daemon's options as one table, loaded from defaults,
 * an INI file (libinih) and the command line (getopt_long).
 *
 * Every option is a row (struct opt_def): its name (the long option and
 * the INI key, the same string), type, field, bounds and default. The
 * command line and the INI file (one [section]) both go through
 * opt_parse(), so each option is parsed and validated in one place. Order:
 * defaults, then the file, then the command line (the last source wins;
 * a repeatable option given by a later source replaces the earlier
 * source's list). The table's validate hook then checks the options
 * against each other. Errors are collected, one line each, prefixed
 * "FILE:LINE: " or "--name: ", and the caller refuses to start.
 *
 * The generic types are below; a daemon's own types (numbered from
 * OPT_CUSTOM, or from OPT_CUSTOM_LIST for repeatable ones) go through the
 * table's parse hook, and a repeatable one's list is emptied by its clear
 * hook, so this module knows no daemon type.
 *
 * Ownership: an OPT_PATH field is a malloc'd copy owned by the config
 * once a loader works on it (it must then be NULL or such a copy; PATH
 * rows have no default); opt_free() frees them and clears the repeatable
 * lists. A loader owns its error text and file name; opt_loader_fini()
 * frees them, not the config.
 */
#ifndef VSPC_OPTTAB_H
#define VSPC_OPTTAB_H

#include "vspc/compat.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The generic types. */
enum opt_type {
    OPT_ADDR,         /* char[]: ADDR:PORT (vspc/addr.h) */
    OPT_ADDR_OFF,     /* char[]: ADDR:PORT, or none (stored as "") */
    OPT_NAME,         /* char[]: 1 to size-1 characters */
    OPT_PATH,         /* const char *: a non-empty owned copy */
    OPT_BOOL,         /* bool: yes/no/true/false/1/0 (a bare flag = yes) */
    OPT_SECS,         /* double: seconds, > min and <= max */
    OPT_UINT,         /* uint8_t, unsigned or size_t (by size): min to max */
    OPT_LEVEL,        /* int: error, warn, info, debug (vspc/log.h) */
    OPT_CUSTOM = 100, /* this and above: the table's parse hook */
    OPT_CUSTOM_LIST = 200, /* this and above: repeatable, each value adds
                            * to a list the clear hook empties */
};

/* offsetof and sizeof a field of config struct T, for a row. */
#define OPT_FIELD(T, field) offsetof(T, field), sizeof(((T *)0)->field)

struct opt_def {
    const char *name; /* long option without dashes = INI key */
    int type;         /* enum opt_type, or the table's own >= OPT_CUSTOM */
    size_t off;       /* offsetof(config struct, field) */
    size_t size;      /* sizeof the field */
    double min, max;  /* numbers: bounds (repeatable: max = most entries) */
    const char *def;  /* the default, as it would be written (NULL = unset) */
    const char *want; /* what a valid value looks like, for errors */
    unsigned flags;   /* OPT_F_* */
};

/* opt_def.flags */
#define OPT_F_RELOAD 1u /* SIGHUP applies a new value to the running daemon */

#define OPT_MAX_OPTS 80

struct opt_loader;

/* One daemon's options. */
struct opt_table {
    const char *section; /* the INI file's one section ("proxy") */
    const struct opt_def *opts;
    size_t n_opts; /* at most OPT_MAX_OPTS */
    /* Parse value (never NULL) into a custom-typed field of cfg. Returns
     * 0, or -1 with the message in err (opt_bad() writes the usual one). */
    int (*parse)(void *cfg, const struct opt_def *o, const char *value,
                 char *err, size_t cap);
    /* Empty the list of repeatable o (freeing what cfg owns in it). */
    void (*clear)(void *cfg, const struct opt_def *o);
    /* Cross-option checks and derived values, after every source; records
     * errors with opt_error() (and opt_where()). NULL: none. */
    void (*validate)(struct opt_loader *ld);
};

/* One load: defaults, then sources, then opt_validate. */
struct opt_loader {
    const struct opt_table *tab;
    void *cfg;
    int source;                 /* 0 = defaults, bumped per source */
    bool cmdline;               /* the command line is being applied */
    int set_by[OPT_MAX_OPTS];   /* the source that last set each option */
    int set_line[OPT_MAX_OPTS]; /* its line (0 = command line) */
    const char *set_file;       /* the file's name (for validate's errors) */
    char *file;                 /* owned copy of the file's name */
    unsigned n_errors;
    char *errors; /* "where: message\n" lines (malloc'd) */
    size_t errors_len;
};

/* The row for name, or NULL. */
const struct opt_def *opt_find(const struct opt_table *tab, const char *name);

/* Apply every row's default to cfg (a bad default is fatal). */
void opt_defaults(const struct opt_table *tab, void *cfg);

/*
 * Parse value (NULL: a bare flag, only for OPT_BOOL) into o's field of
 * cfg. Returns 0, or -1 with a message in err.
 */
int opt_parse(const struct opt_table *tab, void *cfg, const struct opt_def *o,
              const char *value, char *err, size_t cap);

/* err = "bad value \"VALUE\": want WANT"; returns -1. For parse hooks. */
int opt_bad(const struct opt_def *o, const char *value, char *err, size_t cap);

/* Free cfg's OPT_PATH strings (NULL them) and clear its repeatable lists. */
void opt_free(const struct opt_table *tab, void *cfg);

/* Start a load of cfg, which already holds its defaults. */
void opt_loader_init(struct opt_loader *ld, const struct opt_table *tab,
                     void *cfg);
/* Free the error list and file name (not the config). */
void opt_loader_fini(struct opt_loader *ld);

/*
 * Set one option from the command line (value NULL: a bare boolean flag).
 * Returns 0, or -1 with an error recorded.
 */
int opt_set_arg(struct opt_loader *ld, const char *name, const char *value);

/*
 * Read an INI file: one [section] of "key = value" lines, '#' or ';'
 * comments. Returns 0, or -1 if any error was recorded (all of them are,
 * each with FILE:LINE).
 */
int opt_load_file(struct opt_loader *ld, const char *path);

/* The table's validate hook. Returns 0 if no error was recorded at all. */
int opt_validate(struct opt_loader *ld);

/* The recorded errors ("" if none), one per line. */
const char *opt_errors(const struct opt_loader *ld);

/* Record "FILE:LINE: message", "FILE: message" (line 0) or "message"
 * (file NULL). */
void opt_error(struct opt_loader *ld, const char *file, int line,
               const char *fmt, ...) VSPC_PRINTF(4, 5);

/* Where o was last set: its file and line, or NULL and 0 (the command
 * line or the default). */
void opt_where(const struct opt_loader *ld, const struct opt_def *o,
               const char **file, int *line);

/* Whether any source (not the defaults) set o. */
bool opt_given(const struct opt_loader *ld, const struct opt_def *o);

/*
 * A daemon's command line: the table's options (--NAME VALUE; a boolean
 * takes an optional =VALUE), -c/--config FILE, -t/--check-config, --help
 * (usage to stdout, exit 0), --version ("PROG VERSION", exit 0); anything
 * else: usage to stderr, exit 2. ld (opt_loader_init'd on a config with
 * its defaults) then loads the file, the options in their order, and
 * validates. On errors: each printed ("PROG: ..." to stderr with -t, else
 * logged), the config freed (opt_free), exit 1 with -t, else fatal.
 * Otherwise returns with ld finished (opt_loader_fini) and a valid
 * config: true if -t was given.
 */
bool opt_cmdline(struct opt_loader *ld, const char *prog,
                 void (*usage)(FILE *f), int argc, char **argv);

/*
 * What the command line named, kept for a reload (SIGHUP): the file and
 * the options given, in order. Points into argv, which lives as long as
 * the process. opt_cmdline fills opt_started; opt_reload loads the same
 * sources again into ld (opt_loader_init'd on a config with its
 * defaults) and validates: 0, or -1 with the errors in ld. Safe on
 * another thread (no getopt, no global state).
 */
struct opt_sources {
    const char *file; /* -c FILE, or NULL */
    size_t n;
    const char **names, **values; /* n each (a value may be NULL) */
};
extern struct opt_sources opt_started;
/* For --help: the options whose rows say OPT_F_RELOAD, wrapped (nothing
 * if none). */
void opt_usage_reloadable(FILE *f, const struct opt_table *tab);
int opt_reload(struct opt_loader *ld, const struct opt_sources *src);
/* The same field of two configs of tab: equal? (lists: same entries) */
bool opt_same(const struct opt_def *o, const void *a, const void *b);

#endif /* VSPC_OPTTAB_H */
