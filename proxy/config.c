/*
 * config.c: vspc-proxy's option table, its one parser per type, and the
 * INI reader (libinih). See config.h.
 */
#include "vspc/compat.h"
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vspc/log.h"
#include "edge.h"

#define F(field)                                                               \
    offsetof(struct proxy_cfg, field), sizeof(((struct proxy_cfg *)0)->field)
#define GIB ((double)(1u << 30))

/* One row per option: name, type, field, bounds, default, valid values. */
const struct cfg_opt cfg_opts[] = {
    {"vm-listen", CFG_ADDR, F(vm_listen), 0, 0, "0.0.0.0:13370",
     "ADDR:PORT (numeric IPv4, or [IPv6])"},
    {"tls-listen", CFG_ADDR_OFF, F(tls_listen), 0, 0, "none",
     "ADDR:PORT or none"},
    {"tls-cert", CFG_PATH, F(tls_cert), 0, 0, NULL, "a file name"},
    {"tls-key", CFG_PATH, F(tls_key), 0, 0, NULL, "a file name"},
    {"proxy-protocol", CFG_BOOL, F(proxy_protocol), 0, 0, "no",
     "yes, no, true, false, 1 or 0"},
    {"allow", CFG_CIDR, F(allow), 0, PROXY_MAX_ALLOW, NULL,
     "an IPv4 or IPv6 address or prefix (192.0.2.0/24, 2001:db8::/32)"},
    {"operator-listen", CFG_ADDR, F(operator_listen), 0, 0, "127.0.0.1:13371",
     "ADDR:PORT (numeric IPv4, or [IPv6])"},
    {"service-uri", CFG_URI, F(service_uris), 0, PROXY_MAX_SERVICE_URIS, NULL,
     "a Port URI without a query"},
    {"node-id", CFG_NAME, F(node_id), 0, 0, "node1", "1 to 63 characters"},
    {"node-index", CFG_UINT, F(node_index), 0, 255, "0", "0 to 255"},
    {"vmotion-timeout", CFG_SECS, F(vmotion_timeout), 0, 1e7, "30",
     "a positive number of seconds"},
    {"refuse-vmotion", CFG_BOOL, F(refuse_vmotion), 0, 0, "no",
     "yes, no, true, false, 1 or 0"},
    {"idle-timeout", CFG_SECS, F(idle_timeout), 0, 1e7, "60",
     "a positive number of seconds"},
    {"console-expire", CFG_SECS, F(console_expire), 0, 1e7, "86400",
     "a positive number of seconds"},
    {"scrollback", CFG_UINT, F(scrollback), 0, GIB, "65536",
     "0 to 1073741824 (1 GiB)"},
    {"escape-char", CFG_ESCAPE, F(escape_char), 0, 0, "^E",
     "^X (a control character) or none"},
    {"slow-reader", CFG_SLOW, F(slow_reader), 0, 0, "pace",
     "pace, catchup or disconnect"},
    {"stall-timeout", CFG_SECS, F(stall_timeout), 0, 1e6, "1",
     "a positive number of seconds"},
    {"operator-queue", CFG_UINT, F(op_queue_max), 4096, GIB, "262144",
     "4096 to 1073741824 (1 GiB)"},
    {"http-listen", CFG_ADDR_OFF, F(http_listen), 0, 0, "127.0.0.1:13372",
     "ADDR:PORT or none"},
    {"log-dir", CFG_PATH, F(log_dir), 0, 0, NULL, "a directory"},
    {"log-timestamps", CFG_BOOL, F(log_timestamps), 0, 0, "no",
     "yes, no, true, false, 1 or 0"},
    {"log-rotate-bytes", CFG_UINT, F(log_rotate_bytes), 0, 1024 * GIB,
     "16777216", "a size in bytes up to 1 TiB (0 = never)"},
    {"log-keep", CFG_UINT, F(log_keep), 1, 1000, "5", "1 to 1000"},
    {"audit-records", CFG_UINT, F(audit_max), 0, 1000000, "1024",
     "0 to 1000000"},
    {"log-level", CFG_LEVEL, F(log_level), 0, 0, "info",
     "error, warn, info or debug"},
    {"coordinator", CFG_ZMQ, F(coordinators), 0, PROXY_MAX_COORDINATORS, NULL,
     "tcp://HOST:PORT (numeric), at most twice (the HA pair)"},
    {"peer-listen", CFG_ADDR, F(peer_listen), 0, 0, "0.0.0.0:13390",
     "ADDR:PORT (numeric IPv4, or [IPv6])"},
    {"peer-advertise", CFG_ADDR_OFF, F(peer_advertise), 0, 0, "none",
     "ADDR:PORT the other nodes dial, or none (peer-listen's)"},
};
const size_t cfg_n_opts = VSPC_ARRAY_LEN(cfg_opts);

_Static_assert(VSPC_ARRAY_LEN(cfg_opts) <= CFG_MAX_OPTS, "CFG_MAX_OPTS");

const struct cfg_opt *
cfg_find(const char *name)
{
    for (size_t i = 0; i < cfg_n_opts; i++)
        if (strcmp(cfg_opts[i].name, name) == 0)
            return &cfg_opts[i];
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

    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0 || (double)v < min || (double)v > max)
        return -1;
    *out = v;
    return 0;
}

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

static char *
owned_copy(const char *s, char *err, size_t cap)
{
    char *p = strdup(s);

    if (p == NULL)
        snprintf(err, cap, "out of memory");
    return p;
}

static void
owned_free(struct proxy_cfg *cfg, const char *p)
{
    if (cfg->owns_strings)
        free((char *)p);
}

/*
 * Parse value into o's field of cfg. Returns 0, or -1 with a message in
 * err. Bounds of repeatable options are checked here too.
 */
static int
opt_parse(struct proxy_cfg *cfg, const struct cfg_opt *o, const char *value,
          char *err, size_t cap)
{
    char *field = (char *)cfg + o->off;
    struct sockaddr_storage ss;
    socklen_t sslen;
    unsigned long long u;
    char *end;
    double d;
    bool b;
    int lvl;

    if (value == NULL && o->type != CFG_BOOL) {
        snprintf(err, cap, "needs a value: %s", o->want);
        return -1;
    }
    switch (o->type) {
    case CFG_ADDR_OFF:
        if (strcmp(value, "none") == 0) {
            field[0] = '\0';
            return 0;
        }
        /* FALLTHROUGH */
    case CFG_ADDR:
        if (strlen(value) >= o->size || addr_parse(value, &ss, &sslen) != 0)
            goto bad;
        snprintf(field, o->size, "%s", value);
        return 0;
    case CFG_NAME:
        if (value[0] == '\0' || strlen(value) >= o->size)
            goto bad;
        snprintf(field, o->size, "%s", value);
        return 0;
    case CFG_PATH: {
        const char **slot = (const char **)(void *)field;
        char *p;

        if (value[0] == '\0')
            goto bad;
        if ((p = owned_copy(value, err, cap)) == NULL)
            return -1;
        owned_free(cfg, *slot);
        *slot = p;
        return 0;
    }
    case CFG_BOOL:
        if (value == NULL)
            b = true;
        else if (parse_bool(value, &b) != 0)
            goto bad;
        *(bool *)(void *)field = b;
        return 0;
    case CFG_SECS:
        errno = 0;
        d = strtod(value, &end);
        if (*end != '\0' || end == value || errno != 0 || !(d > o->min) ||
            !(d <= o->max))
            goto bad;
        *(double *)(void *)field = d;
        return 0;
    case CFG_UINT:
        if (parse_uint(value, o->min, o->max, &u) != 0)
            goto bad;
        if (o->size == sizeof(uint8_t))
            *(uint8_t *)(void *)field = (uint8_t)u;
        else if (o->size == sizeof(unsigned))
            *(unsigned *)(void *)field = (unsigned)u;
        else
            *(size_t *)(void *)field = (size_t)u;
        return 0;
    case CFG_URI: {
        char *p;

        if (value[0] == '\0' || strchr(value, '?'))
            goto bad;
        if (cfg->n_service_uris >= (size_t)o->max) {
            snprintf(err, cap, "at most %d", PROXY_MAX_SERVICE_URIS);
            return -1;
        }
        if ((p = owned_copy(value, err, cap)) == NULL)
            return -1;
        cfg->service_uris[cfg->n_service_uris++] = p;
        return 0;
    }
    case CFG_CIDR:
        if (cfg->n_allow >= (size_t)o->max) {
            snprintf(err, cap, "at most %d", PROXY_MAX_ALLOW);
            return -1;
        }
        if (edge_cidr_parse(value, &cfg->allow[cfg->n_allow]) != 0)
            goto bad;
        cfg->n_allow++;
        return 0;
    case CFG_ESCAPE:
        if (parse_escape(value, (uint8_t *)field) != 0)
            goto bad;
        return 0;
    case CFG_SLOW:
        if (strm_policy_parse(value, &cfg->slow_reader) != 0)
            goto bad;
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
            goto bad;
        snprintf(cfg->coordinators[cfg->n_coordinators++], PROXY_ENDPOINT_MAX,
                 "%s", value);
        return 0;
    }
    case CFG_LEVEL:
        if ((lvl = log_level_parse(value)) < 0)
            goto bad;
        *(int *)(void *)field = lvl;
        return 0;
    }
bad:
    snprintf(err, cap, "bad value \"%s\": want %s", value ? value : "",
             o->want);
    return -1;
}

/* A repeatable option's list, emptied when a later source names it. */
static void
opt_clear_list(struct proxy_cfg *cfg, const struct cfg_opt *o)
{
    if (o->type == CFG_URI) {
        for (size_t i = 0; i < cfg->n_service_uris; i++) {
            owned_free(cfg, cfg->service_uris[i]);
            cfg->service_uris[i] = NULL;
        }
        cfg->n_service_uris = 0;
    } else if (o->type == CFG_CIDR) {
        cfg->n_allow = 0;
    } else if (o->type == CFG_ZMQ) {
        cfg->n_coordinators = 0;
    }
}

static bool
opt_repeatable(const struct cfg_opt *o)
{
    return o->type == CFG_URI || o->type == CFG_CIDR || o->type == CFG_ZMQ;
}

void
cfg_defaults(struct proxy_cfg *cfg)
{
    char err[256];

    for (size_t i = 0; i < cfg_n_opts; i++) {
        if (cfg_opts[i].def == NULL)
            continue;
        /* The table's defaults are tested (test_config.c). */
        if (opt_parse(cfg, &cfg_opts[i], cfg_opts[i].def, err, sizeof(err)))
            fatalx("config table: %s: %s", cfg_opts[i].name, err);
    }
}

void
cfg_free(struct proxy_cfg *cfg)
{
    if (!cfg->owns_strings)
        return;
    opt_clear_list(cfg, cfg_find("service-uri"));
    /* tls_key is never tls_cert's pointer: cfg_validate copies it. */
    free((char *)cfg->tls_cert);
    free((char *)cfg->tls_key);
    free((char *)cfg->log_dir);
    cfg->tls_cert = cfg->tls_key = cfg->log_dir = NULL;
}

/* ---- the loader ---------------------------------------------------------- */

static void VSPC_PRINTF(4, 5) add_error(struct cfg_loader *ld, const char *file,
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
cfg_loader_init(struct cfg_loader *ld, struct proxy_cfg *cfg)
{
    memset(ld, 0, sizeof(*ld));
    ld->cfg = cfg;
    proxy_cfg_defaults(cfg);
    cfg->owns_strings = true;
}

void
cfg_loader_fini(struct cfg_loader *ld)
{
    free(ld->errors);
    free(ld->file);
    ld->errors = ld->file = NULL;
    ld->set_file = NULL;
    ld->errors_len = 0;
}

const char *
cfg_errors(const struct cfg_loader *ld)
{
    return ld->errors ? ld->errors : "";
}

/* Set o from the current source; file NULL = the command line. */
static int
loader_set(struct cfg_loader *ld, const struct cfg_opt *o, const char *value,
           const char *file, int line)
{
    size_t i = (size_t)(o - cfg_opts);
    char err[512];

    if (file && ld->set_by[i] == ld->source && !opt_repeatable(o)) {
        add_error(ld, file, line, "%s: given twice (first on line %d)", o->name,
                  ld->set_line[i]);
        return -1;
    }
    if (opt_repeatable(o) && ld->set_by[i] != ld->source)
        opt_clear_list(ld->cfg, o);
    ld->set_by[i] = ld->source;
    ld->set_line[i] = line;
    if (opt_parse(ld->cfg, o, value, err, sizeof(err)) != 0) {
        if (file)
            add_error(ld, file, line, "%s: %s", o->name, err);
        else
            add_error(ld, NULL, 0, "--%s: %s", o->name, err);
        return -1;
    }
    return 0;
}

int
cfg_set_arg(struct cfg_loader *ld, const char *name, const char *value)
{
    const struct cfg_opt *o = cfg_find(name);

    if (!ld->cmdline) {
        ld->cmdline = true;
        ld->source++;
    }
    if (o == NULL) {
        add_error(ld, NULL, 0, "--%s: unknown option", name);
        return -1;
    }
    return loader_set(ld, o, value, NULL, 0);
}

/* libinih reads through this, so the handler knows the line number. */
struct ini_rd {
    struct cfg_loader *ld;
    FILE *f;
    int line;
    bool in_proxy; /* the current section is [proxy] */
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
    const char *fn = rd->ld->set_file;
    size_t n, skip;
    int c;

    if (fgets(str, num, rd->f) == NULL)
        return NULL;
    rd->line++;
    n = strlen(str);
    if (n > 0 && str[n - 1] != '\n' && !feof(rd->f)) {
        while ((c = fgetc(rd->f)) != EOF && c != '\n')
            ;
        add_error(rd->ld, fn, rd->line, "line longer than %d characters",
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
            add_error(rd->ld, fn, rd->line, "syntax error: no ']'");
            str[0] = '\0';
            return str;
        }
        rd->in_proxy =
            (size_t)(rb - str) == 6 && strncmp(str, "[proxy]", 7) == 0;
        if (!rd->in_proxy)
            add_error(rd->ld, fn, rd->line,
                      "unknown section %.*s (only [proxy])",
                      (int)(rb - str + 1), str);
        return str;
    }
    if (strpbrk(str, "=:") == NULL) {
        add_error(rd->ld, fn, rd->line, "syntax error: want key = value");
        str[0] = '\0';
    }
    return str;
}

static int
ini_handler_cb(void *user, const char *section, const char *name,
               const char *value)
{
    struct ini_rd *rd = user;
    const struct cfg_opt *o;

    if (section[0] == '\0') {
        add_error(rd->ld, rd->ld->set_file, rd->line,
                  "%s: keys belong in a [proxy] section", name);
        return 1;
    }
    if (!rd->in_proxy)
        return 1; /* the unknown section was reported once */
    if ((o = cfg_find(name)) == NULL) {
        add_error(rd->ld, rd->ld->set_file, rd->line, "unknown key \"%s\"",
                  name);
        return 1;
    }
    loader_set(rd->ld, o, value, rd->ld->set_file, rd->line);
    return 1;
}

int
cfg_load_file(struct cfg_loader *ld, const char *path)
{
    struct ini_rd rd = {.ld = ld};
    unsigned before = ld->n_errors;
    int rc;

    free(ld->file);
    ld->file = strdup(path);
    ld->set_file = ld->file ? ld->file : "config";
    ld->source++;
    if ((rd.f = fopen(path, "r")) == NULL) {
        add_error(ld, path, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    rc = ini_parse_stream(ini_read_line, &rd, ini_handler_cb, &rd);
    if (ferror(rd.f))
        add_error(ld, path, 0, "read error");
    fclose(rd.f);
    if (rc > 0 && ld->n_errors == before)
        add_error(ld, path, rc, "syntax error");
    else if (rc < 0)
        add_error(ld, path, 0, "cannot parse (out of memory?)");
    return ld->n_errors == before ? 0 : -1;
}

/* "FILE:LINE: " or "--name: " for option o. */
static void
where_set(const struct cfg_loader *ld, const struct cfg_opt *o,
          const char **file, int *line)
{
    size_t i = (size_t)(o - cfg_opts);

    *file = ld->set_line[i] > 0 ? ld->set_file : NULL;
    *line = ld->set_line[i];
}

int
cfg_validate(struct cfg_loader *ld)
{
    struct proxy_cfg *cfg = ld->cfg;
    const struct cfg_opt *o;
    const char *file;
    int line;

    if (cfg->tls_key && !cfg->tls_cert) {
        where_set(ld, (o = cfg_find("tls-key")), &file, &line);
        add_error(ld, file, line, "%stls-key needs tls-cert", file ? "" : "--");
    }
    if (cfg->tls_cert && !cfg->tls_key) {
        /* One PEM file with both. */
        if ((cfg->tls_key = strdup(cfg->tls_cert)) == NULL)
            add_error(ld, NULL, 0, "out of memory");
    }
    o = cfg_find("tls-listen");
    if (cfg->tls_listen[0] && !cfg->tls_cert) {
        where_set(ld, o, &file, &line);
        add_error(ld, file, line, "%stls-listen needs tls-cert (and tls-key)",
                  file ? "" : "--");
    }
    if (cfg->tls_cert && ld->set_by[o - cfg_opts] == 0)
        snprintf(cfg->tls_listen, sizeof(cfg->tls_listen), "0.0.0.0:13369");
    return ld->n_errors == 0 ? 0 : -1;
}
