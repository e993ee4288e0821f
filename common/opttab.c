/*
 * opttab.c: the option table engine: one parser per generic type, the
 * loader (defaults, INI file through libinih, command line) and the
 * daemons' getopt_long glue. See vspc/opttab.h.
 */
#include "vspc/compat.h"
#include "vspc/opttab.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <ini.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vspc/addr.h"
#include "vspc/log.h"

const struct opt_def *
opt_find(const struct opt_table *tab, const char *name)
{
    for (size_t i = 0; i < tab->n_opts; i++)
        if (strcmp(tab->opts[i].name, name) == 0)
            return &tab->opts[i];
    return NULL;
}

/* ---- one parser per type ------------------------------------------------ */

static int
parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "1"};
    static const char *const no[] = {"no", "false", "0"};

    for (size_t i = 0; i < VSPC_ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static int
parse_uint(const char *s, double min, double max, unsigned long long *out)
{
    char *end;
    unsigned long long v;

    unsigned long long mul = 1;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    /* Size suffixes, binary: 64k, 16M, 1G (also KiB, MiB, GiB). */
    if (*end && strchr("kKmMgG", *end)) {
        mul = (*end == 'k' || *end == 'K')   ? 1024ULL
              : (*end == 'm' || *end == 'M') ? 1024ULL * 1024
                                             : 1024ULL * 1024 * 1024;
        end++;
        if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0)
            end += strlen(end);
    }
    if (*end != '\0' || errno != 0 || v > ULLONG_MAX / mul)
        return -1;
    v *= mul;
    if ((double)v < min || (double)v > max)
        return -1;
    *out = v;
    return 0;
}

int
opt_bad(const struct opt_def *o, const char *value, char *err, size_t cap)
{
    snprintf(err, cap, "bad value \"%s\": want %s", value ? value : "",
             o->want);
    return -1;
}

int
opt_parse(const struct opt_table *tab, void *cfg, const struct opt_def *o,
          const char *value, char *err, size_t cap)
{
    char *field = (char *)cfg + o->off;
    struct sockaddr_storage ss;
    socklen_t sslen;
    unsigned long long u;
    char *end;
    double d;
    bool b;
    int lvl;

    if (value == NULL && o->type != OPT_BOOL) {
        snprintf(err, cap, "needs a value: %s", o->want);
        return -1;
    }
    if (o->type >= OPT_CUSTOM) {
        if (tab->parse == NULL)
            return opt_bad(o, value, err, cap);
        return tab->parse(cfg, o, value, err, cap);
    }
    switch ((enum opt_type)o->type) {
    case OPT_ADDR_OFF:
        if (strcmp(value, "none") == 0) {
            field[0] = '\0';
            return 0;
        }
        /* FALLTHROUGH */
    case OPT_ADDR:
        if (strlen(value) >= o->size || addr_parse(value, &ss, &sslen) != 0)
            break;
        snprintf(field, o->size, "%s", value);
        return 0;
    case OPT_NAME:
        if (value[0] == '\0' || strlen(value) >= o->size)
            break;
        snprintf(field, o->size, "%s", value);
        return 0;
    case OPT_PATH: {
        char **slot = (char **)(void *)field;
        char *p;

        if (value[0] == '\0')
            break;
        if ((p = strdup(value)) == NULL) {
            snprintf(err, cap, "out of memory");
            return -1;
        }
        free(*slot);
        *slot = p;
        return 0;
    }
    case OPT_BOOL:
        if (value == NULL)
            b = true;
        else if (parse_bool(value, &b) != 0)
            break;
        *(bool *)(void *)field = b;
        return 0;
    case OPT_SECS:
        errno = 0;
        d = strtod(value, &end);
        if (*end != '\0' || end == value || errno != 0 || !(d > o->min) ||
            !(d <= o->max))
            break;
        *(double *)(void *)field = d;
        return 0;
    case OPT_UINT:
        if (parse_uint(value, o->min, o->max, &u) != 0)
            break;
        if (o->size == sizeof(uint8_t))
            *(uint8_t *)(void *)field = (uint8_t)u;
        else if (o->size == sizeof(unsigned))
            *(unsigned *)(void *)field = (unsigned)u;
        else
            *(size_t *)(void *)field = (size_t)u;
        return 0;
    case OPT_LEVEL:
        if ((lvl = log_level_parse(value)) < 0)
            break;
        *(int *)(void *)field = lvl;
        return 0;
    case OPT_CUSTOM:
    case OPT_CUSTOM_LIST:
        break;
    }
    return opt_bad(o, value, err, cap);
}

static bool
opt_repeatable(const struct opt_def *o)
{
    return o->type >= OPT_CUSTOM_LIST;
}

void
opt_defaults(const struct opt_table *tab, void *cfg)
{
    char err[256];

    for (size_t i = 0; i < tab->n_opts; i++) {
        const struct opt_def *o = &tab->opts[i];

        if (o->def == NULL)
            continue;
        /* The tables' defaults are tested (test_config.c). */
        if (o->type == OPT_PATH)
            fatalx("config table: %s: a path has no default", o->name);
        if (opt_parse(tab, cfg, o, o->def, err, sizeof(err)) != 0)
            fatalx("config table: %s: %s", o->name, err);
    }
}

void
opt_free(const struct opt_table *tab, void *cfg)
{
    for (size_t i = 0; i < tab->n_opts; i++) {
        const struct opt_def *o = &tab->opts[i];

        if (o->type == OPT_PATH) {
            char **slot = (char **)(void *)((char *)cfg + o->off);

            free(*slot);
            *slot = NULL;
        } else if (opt_repeatable(o) && tab->clear) {
            tab->clear(cfg, o);
        }
    }
}

/* ---- the loader ---------------------------------------------------------- */

void
opt_error(struct opt_loader *ld, const char *file, int line, const char *fmt,
          ...)
{
    char msg[512], where[300];
    va_list ap;
    size_t n;
    char *p;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (file && line > 0)
        snprintf(where, sizeof(where), "%s:%d: ", file, line);
    else if (file)
        snprintf(where, sizeof(where), "%s: ", file);
    else
        where[0] = '\0';
    n = strlen(where) + strlen(msg) + 1;
    ld->n_errors++;
    if ((p = realloc(ld->errors, ld->errors_len + n + 1)) == NULL)
        return; /* counted, not kept */
    ld->errors = p;
    snprintf(p + ld->errors_len, n + 1, "%s%s\n", where, msg);
    ld->errors_len += n;
}

void
opt_loader_init(struct opt_loader *ld, const struct opt_table *tab, void *cfg)
{
    if (tab->n_opts > OPT_MAX_OPTS)
        fatalx("config table: %zu options (at most %d)", tab->n_opts,
               OPT_MAX_OPTS);
    memset(ld, 0, sizeof(*ld));
    ld->tab = tab;
    ld->cfg = cfg;
}

void
opt_loader_fini(struct opt_loader *ld)
{
    free(ld->errors);
    free(ld->file);
    ld->errors = ld->file = NULL;
    ld->set_file = NULL;
    ld->errors_len = 0;
}

const char *
opt_errors(const struct opt_loader *ld)
{
    return ld->errors ? ld->errors : "";
}

/* Set o from the current source; file NULL = the command line. */
static int
loader_set(struct opt_loader *ld, const struct opt_def *o, const char *value,
           const char *file, int line)
{
    size_t i = (size_t)(o - ld->tab->opts);
    char err[512];

    if (file && ld->set_by[i] == ld->source && !opt_repeatable(o)) {
        opt_error(ld, file, line, "%s: given twice (first on line %d)", o->name,
                  ld->set_line[i]);
        return -1;
    }
    if (opt_repeatable(o) && ld->set_by[i] != ld->source && ld->tab->clear)
        ld->tab->clear(ld->cfg, o);
    ld->set_by[i] = ld->source;
    ld->set_line[i] = line;
    if (opt_parse(ld->tab, ld->cfg, o, value, err, sizeof(err)) != 0) {
        if (file)
            opt_error(ld, file, line, "%s: %s", o->name, err);
        else
            opt_error(ld, NULL, 0, "--%s: %s", o->name, err);
        return -1;
    }
    return 0;
}

int
opt_set_arg(struct opt_loader *ld, const char *name, const char *value)
{
    const struct opt_def *o = opt_find(ld->tab, name);

    if (!ld->cmdline) {
        ld->cmdline = true;
        ld->source++;
    }
    if (o == NULL) {
        opt_error(ld, NULL, 0, "--%s: unknown option", name);
        return -1;
    }
    return loader_set(ld, o, value, NULL, 0);
}

/* libinih reads through this, so the handler knows the line number. */
struct ini_rd {
    struct opt_loader *ld;
    FILE *f;
    int line;
    bool in_section; /* the current section is the table's */
};

static bool
blank_or_comment(const char *s)
{
    return s[0] == '\0' || s[0] == '\n' || s[0] == '\r' || s[0] == '#' ||
           s[0] == ';';
}

static char *
ini_read_line(char *str, int num, void *stream)
{
    struct ini_rd *rd = stream;
    const char *fn = rd->ld->set_file, *sect = rd->ld->tab->section;
    size_t n, skip, sl = strlen(sect);
    int c;

    if (fgets(str, num, rd->f) == NULL)
        return NULL;
    rd->line++;
    n = strlen(str);
    if (n > 0 && str[n - 1] != '\n' && !feof(rd->f)) {
        while ((c = fgetc(rd->f)) != EOF && c != '\n')
            ;
        opt_error(rd->ld, fn, rd->line, "line longer than %d characters",
                  num - 3);
        str[0] = '\0';
        return str;
    }
    /* No continuation lines: leading blanks are dropped, so an indented
     * key is a key, not the previous key's next value. */
    skip = strspn(str, " \t");
    memmove(str, str + skip, n - skip + 1);
    if (blank_or_comment(str))
        return str;
    if (str[0] == '[') {
        const char *rb = strchr(str, ']');

        if (rb == NULL) {
            opt_error(rd->ld, fn, rd->line, "syntax error: no ']'");
            str[0] = '\0';
            return str;
        }
        rd->in_section =
            (size_t)(rb - str) == sl + 1 && strncmp(str + 1, sect, sl) == 0;
        if (!rd->in_section)
            opt_error(rd->ld, fn, rd->line, "unknown section %.*s (only [%s])",
                      (int)(rb - str + 1), str, sect);
        return str;
    }
    if (strpbrk(str, "=:") == NULL) {
        opt_error(rd->ld, fn, rd->line, "syntax error: want key = value");
        str[0] = '\0';
    }
    return str;
}

static int
ini_handler_cb(void *user, const char *section, const char *name,
               const char *value)
{
    struct ini_rd *rd = user;
    const struct opt_def *o;

    if (section[0] == '\0') {
        opt_error(rd->ld, rd->ld->set_file, rd->line,
                  "%s: keys belong in a [%s] section", name,
                  rd->ld->tab->section);
        return 1;
    }
    if (!rd->in_section)
        return 1; /* the unknown section was reported once */
    if ((o = opt_find(rd->ld->tab, name)) == NULL) {
        opt_error(rd->ld, rd->ld->set_file, rd->line, "unknown key \"%s\"",
                  name);
        return 1;
    }
    loader_set(rd->ld, o, value, rd->ld->set_file, rd->line);
    return 1;
}

int
opt_load_file(struct opt_loader *ld, const char *path)
{
    struct ini_rd rd = {.ld = ld};
    unsigned before = ld->n_errors;
    int rc;

    free(ld->file);
    ld->file = strdup(path);
    ld->set_file = ld->file ? ld->file : "config";
    ld->source++;
    if ((rd.f = fopen(path, "r")) == NULL) {
        opt_error(ld, path, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    rc = ini_parse_stream(ini_read_line, &rd, ini_handler_cb, &rd);
    if (ferror(rd.f))
        opt_error(ld, path, 0, "read error");
    fclose(rd.f);
    if (rc > 0 && ld->n_errors == before)
        opt_error(ld, path, rc, "syntax error");
    else if (rc < 0)
        opt_error(ld, path, 0, "cannot parse (out of memory?)");
    return ld->n_errors == before ? 0 : -1;
}

void
opt_where(const struct opt_loader *ld, const struct opt_def *o,
          const char **file, int *line)
{
    size_t i = (size_t)(o - ld->tab->opts);

    *file = ld->set_line[i] > 0 ? ld->set_file : NULL;
    *line = ld->set_line[i];
}

bool
opt_given(const struct opt_loader *ld, const struct opt_def *o)
{
    return ld->set_by[o - ld->tab->opts] != 0;
}

int
opt_validate(struct opt_loader *ld)
{
    if (ld->tab->validate)
        ld->tab->validate(ld);
    return ld->n_errors == 0 ? 0 : -1;
}

/* ---- the command line ---------------------------------------------------- */

enum { O_HELP = 900, O_VERSION, O_TABLE = 1000 };

struct opt_sources opt_started;

void
opt_usage_reloadable(FILE *f, const struct opt_table *tab)
{
    size_t col = 0;

    for (size_t i = 0; i < tab->n_opts; i++) {
        size_t len = strlen(tab->opts[i].name) + 3;

        if (!(tab->opts[i].flags & OPT_F_RELOAD))
            continue;
        if (col == 0) {
            fputs("\nSIGHUP applies these while running (the others need a "
                  "restart):\n ",
                  f);
            col = 1;
        }
        if (col + len > 78) {
            fputs("\n ", f);
            col = 1;
        }
        fprintf(f, " --%s", tab->opts[i].name);
        col += len;
    }
    if (col)
        fputc('\n', f);
}

int
opt_reload(struct opt_loader *ld, const struct opt_sources *src)
{
    if (src->file)
        opt_load_file(ld, src->file);
    for (size_t i = 0; i < src->n; i++)
        opt_set_arg(ld, src->names[i], src->values[i]);
    return opt_validate(ld);
}

bool
opt_same(const struct opt_def *o, const void *a, const void *b)
{
    const char *fa = (const char *)a + o->off, *fb = (const char *)b + o->off;

    if (o->type == OPT_PATH) {
        const char *pa, *pb;

        memcpy(&pa, fa, sizeof(pa));
        memcpy(&pb, fb, sizeof(pb));
        return pa == pb || (pa && pb && strcmp(pa, pb) == 0);
    }
    return memcmp(fa, fb, o->size) == 0;
}

/* getopt_long's array: the table's rows (a boolean's value optional),
 * then -c, -t, --help and --version. opts holds OPT_MAX_OPTS + 5. */
static void
longopts(const struct opt_table *tab, struct option *opts)
{
    size_t n = 0;

    for (size_t i = 0; i < tab->n_opts; i++)
        opts[n++] =
            (struct option){tab->opts[i].name,
                            tab->opts[i].type == OPT_BOOL ? optional_argument
                                                          : required_argument,
                            NULL, O_TABLE + (int)i};
    opts[n++] = (struct option){"config", required_argument, NULL, 'c'};
    opts[n++] = (struct option){"check-config", no_argument, NULL, 't'};
    opts[n++] = (struct option){"help", no_argument, NULL, O_HELP};
    opts[n++] = (struct option){"version", no_argument, NULL, O_VERSION};
    opts[n] = (struct option){NULL, 0, NULL, 0};
}

bool
opt_cmdline(struct opt_loader *ld, const char *prog, void (*usage)(FILE *f),
            int argc, char **argv)
{
    const struct opt_table *tab = ld->tab;
    struct option opts[OPT_MAX_OPTS + 5];
    struct {
        size_t opt; /* index in the table */
        const char *value;
    } * given;
    const char *file = NULL, *p;
    bool check = false;
    size_t ngiven = 0;
    int ch;

    longopts(tab, opts);
    if ((given = calloc((size_t)argc + 1, sizeof(*given))) == NULL)
        fatalx("out of memory");
    while ((ch = getopt_long(argc, argv, "c:t", opts, NULL)) != -1) {
        if (ch >= O_TABLE && (size_t)(ch - O_TABLE) < tab->n_opts) {
            given[ngiven].opt = (size_t)(ch - O_TABLE);
            given[ngiven++].value = optarg;
            continue;
        }
        switch (ch) {
        case 'c':
            file = optarg;
            break;
        case 't':
            check = true;
            break;
        case O_HELP:
            usage(stdout);
            free(given);
            exit(0);
        case O_VERSION:
            printf("%s %s\n", prog, VSPC_VERSION);
            free(given);
            exit(0);
        default:
            usage(stderr);
            free(given);
            exit(2);
        }
    }
    if (optind < argc) {
        usage(stderr);
        free(given);
        exit(2);
    }
    opt_started.file = file;
    opt_started.names = calloc(ngiven + 1, sizeof(*opt_started.names));
    opt_started.values = calloc(ngiven + 1, sizeof(*opt_started.values));
    if (opt_started.names == NULL || opt_started.values == NULL)
        fatalx("out of memory");
    for (size_t i = 0; i < ngiven; i++) {
        opt_started.names[i] = tab->opts[given[i].opt].name;
        opt_started.values[i] = given[i].value;
    }
    opt_started.n = ngiven;
    free(given);
    opt_reload(ld, &opt_started);
    if (ld->n_errors) {
        /* One line per error: "FILE:LINE: key: ..." or "--key: ...". */
        for (p = opt_errors(ld); *p;) {
            size_t len = strcspn(p, "\n");

            if (check)
                fprintf(stderr, "%s: %.*s\n", prog, (int)len, p);
            else
                log_errorx("config: %.*s", (int)len, p);
            p += len + (p[len] == '\n');
        }
        opt_loader_fini(ld);
        opt_free(tab, ld->cfg);
        if (check)
            exit(1);
        fatalx("refusing to start: configuration errors");
    }
    opt_loader_fini(ld);
    return check;
}
