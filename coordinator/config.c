/*
 * config.c: vspc-coordinator's option table, a parser per type and the INI
 * reader (libinih). See config.h.
 */
#include "vspc/compat.h"
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vspc/log.h"

#define F(field)                                                               \
    offsetof(struct coord_cfg, field), sizeof(((struct coord_cfg *)0)->field)

const struct ccfg_opt ccfg_opts[] = {
    {"bind", CCFG_ENDPOINT, F(bind), 0, 0, "tcp://127.0.0.1:13380",
     "tcp://ADDR:PORT (numeric IPv4, [IPv6] or *; PORT to 65533: the next "
     "two ports are the update stream and the HA peer)"},
    {"heartbeat-timeout", CCFG_SECS, F(heartbeat_timeout), 0, 3600, "3",
     "a positive number of seconds up to 3600"},
    {"max-nodes", CCFG_UINT, F(max_nodes), 1, 256, "256", "1 to 256"},
    {"max-consoles-per-node", CCFG_UINT, F(max_per_node), 1, 10000000, "100000",
     "1 to 10000000"},
    {"max-consoles", CCFG_UINT, F(max_consoles), 1, 100000000, "1000000",
     "1 to 100000000"},
    {"log-level", CCFG_LEVEL, F(log_level), 0, 0, "info",
     "error, warn, info or debug"},
};
const size_t ccfg_n_opts = VSPC_ARRAY_LEN(ccfg_opts);

_Static_assert(VSPC_ARRAY_LEN(ccfg_opts) <= CCFG_MAX_OPTS, "CCFG_MAX_OPTS");

static const struct ccfg_opt *
s_find(const char *name)
{
    for (size_t i = 0; i < ccfg_n_opts; i++)
        if (strcmp(ccfg_opts[i].name, name) == 0)
            return &ccfg_opts[i];
    return NULL;
}

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

static int
s_parse(struct coord_cfg *cfg, const struct ccfg_opt *o, const char *v)
{
    char *field = (char *)cfg + o->off, *end;
    unsigned long long u;
    double d;
    int lvl;

    if (v == NULL)
        return -1;
    switch (o->type) {
    case CCFG_ENDPOINT:
        if (strlen(v) >= o->size || s_endpoint(v, 65533) != 0)
            return -1;
        snprintf(field, o->size, "%s", v);
        return 0;
    case CCFG_SECS:
        errno = 0;
        d = strtod(v, &end);
        if (end == v || *end != '\0' || errno != 0 || !(d > o->min) ||
            !(d <= o->max))
            return -1;
        *(double *)(void *)field = d;
        return 0;
    case CCFG_UINT:
        if (v[0] < '0' || v[0] > '9')
            return -1;
        errno = 0;
        u = strtoull(v, &end, 10);
        if (*end != '\0' || errno != 0 || (double)u < o->min ||
            (double)u > o->max)
            return -1;
        if (o->size == sizeof(unsigned))
            *(unsigned *)(void *)field = (unsigned)u;
        else
            *(size_t *)(void *)field = (size_t)u;
        return 0;
    case CCFG_LEVEL:
        if ((lvl = log_level_parse(v)) < 0)
            return -1;
        *(int *)(void *)field = lvl;
        return 0;
    }
    return -1;
}

void
ccfg_defaults(struct coord_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < ccfg_n_opts; i++)
        if (s_parse(cfg, &ccfg_opts[i], ccfg_opts[i].def) != 0)
            fatalx("config table: %s: bad default", ccfg_opts[i].name);
}

static void VSPC_PRINTF(4, 5) s_error(struct ccfg_loader *ld, const char *file,
                                      int line, const char *fmt, ...)
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
ccfg_loader_init(struct ccfg_loader *ld, struct coord_cfg *cfg)
{
    memset(ld, 0, sizeof(*ld));
    ld->cfg = cfg;
    ccfg_defaults(cfg);
}

void
ccfg_loader_fini(struct ccfg_loader *ld)
{
    free(ld->errors);
    ld->errors = NULL;
    ld->errors_len = 0;
}

const char *
ccfg_errors(const struct ccfg_loader *ld)
{
    return ld->errors ? ld->errors : "";
}

/* Set o from the current source (file NULL = command line). */
static int
s_set(struct ccfg_loader *ld, const struct ccfg_opt *o, const char *v,
      const char *file, int line)
{
    size_t i = (size_t)(o - ccfg_opts);

    if (file && ld->set_by[i] == ld->source) {
        s_error(ld, file, line, "%s: given twice (first on line %d)", o->name,
                ld->set_line[i]);
        return -1;
    }
    ld->set_by[i] = ld->source;
    ld->set_line[i] = line;
    if (s_parse(ld->cfg, o, v) != 0) {
        if (file)
            s_error(ld, file, line, "%s: bad value \"%s\": want %s", o->name,
                    v ? v : "", o->want);
        else
            s_error(ld, NULL, 0, "--%s: bad value \"%s\": want %s", o->name,
                    v ? v : "", o->want);
        return -1;
    }
    return 0;
}

int
ccfg_set_arg(struct ccfg_loader *ld, const char *name, const char *value)
{
    const struct ccfg_opt *o = s_find(name);

    ld->source = 2;
    if (o == NULL) {
        s_error(ld, NULL, 0, "--%s: unknown option", name);
        return -1;
    }
    return s_set(ld, o, value, NULL, 0);
}

static char *
s_read_line(char *str, int num, void *stream)
{
    struct ccfg_loader *ld = stream;
    FILE *f = ld->fp;
    size_t n, skip;
    int c;

    if (fgets(str, num, f) == NULL)
        return NULL;
    ld->line++;
    n = strlen(str);
    if (n > 0 && str[n - 1] != '\n' && !feof(f)) {
        while ((c = fgetc(f)) != EOF && c != '\n')
            ;
        s_error(ld, ld->file, ld->line, "line longer than %d characters",
                num - 3);
        str[0] = '\0';
        return str;
    }
    /* No continuation lines: an indented key is a key. */
    skip = strspn(str, " \t");
    memmove(str, str + skip, n - skip + 1);
    if (str[0] == '\0' || str[0] == '\n' || str[0] == '\r' || str[0] == '#' ||
        str[0] == ';')
        return str;
    if (str[0] == '[') {
        const char *rb = strchr(str, ']');

        if (rb == NULL) {
            s_error(ld, ld->file, ld->line, "syntax error: no ']'");
            str[0] = '\0';
            return str;
        }
        ld->in_section =
            (size_t)(rb - str) == 12 && strncmp(str, "[coordinator]", 13) == 0;
        if (!ld->in_section)
            s_error(ld, ld->file, ld->line,
                    "unknown section %.*s (only [coordinator])",
                    (int)(rb - str + 1), str);
        return str;
    }
    if (strpbrk(str, "=:") == NULL) {
        s_error(ld, ld->file, ld->line, "syntax error: want key = value");
        str[0] = '\0';
    }
    return str;
}

static int
s_ini_cb(void *user, const char *section, const char *name, const char *value)
{
    struct ccfg_loader *ld = user;
    const struct ccfg_opt *o;

    if (section[0] == '\0') {
        s_error(ld, ld->file, ld->line,
                "%s: keys belong in a [coordinator] section", name);
        return 1;
    }
    if (!ld->in_section)
        return 1; /* the section was reported once */
    if ((o = s_find(name)) == NULL) {
        s_error(ld, ld->file, ld->line, "unknown key \"%s\"", name);
        return 1;
    }
    s_set(ld, o, value, ld->file, ld->line);
    return 1;
}

int
ccfg_load_file(struct ccfg_loader *ld, const char *path)
{
    unsigned before = ld->n_errors;
    int rc;

    ld->file = path;
    ld->source = 1;
    ld->line = 0;
    if ((ld->fp = fopen(path, "r")) == NULL) {
        s_error(ld, path, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    rc = ini_parse_stream(s_read_line, ld, s_ini_cb, ld);
    if (ferror((FILE *)ld->fp))
        s_error(ld, path, 0, "read error");
    fclose(ld->fp);
    ld->fp = NULL;
    if (rc > 0 && ld->n_errors == before)
        s_error(ld, path, rc, "syntax error");
    else if (rc < 0)
        s_error(ld, path, 0, "cannot parse (out of memory?)");
    return ld->n_errors == before ? 0 : -1;
}

int
ccfg_validate(struct ccfg_loader *ld)
{
    /* Nothing crosses options yet: the bind port's room for +1 and +2 is
     * checked by its own parser. Kept so main.c's flow stays the proxy's. */
    return ld->n_errors == 0 ? 0 : -1;
}
