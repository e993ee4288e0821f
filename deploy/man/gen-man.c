/*
 * gen-man.c: the manual pages' option lists and the bash completion,
 * printed from the daemons' option tables so that they cannot drift.
 *
 *   vspc-gen-man VERSION TEMPLATE OUT
 *
 * copies TEMPLATE (a page or script written by hand, deploy/man/ *.in) to
 * OUT, replacing these markers wherever they appear:
 *
 *   @VERSION@         VERSION
 *   @OPTIONS:T@       roff: one .TP entry per option of table T (proxy or
 *                     coordinator) as a command-line option, "--name VALUE"
 *   @KEYS:T@          the same as INI keys, "name = VALUE" (vspc.ini(5))
 *   @WORDS:T@         bash: every "--name", space-separated
 *   @PATHS:T@         bash: the options that take a file, "--a|--b"
 *   @ARGS:T@          bash: the other options that take a value
 *   @CHOICES:T@       bash: a case arm per option whose valid values are a
 *                     list of words ("pace, catchup or disconnect")
 *
 * An entry says what a valid value looks like (the row's "want" text, the
 * same the daemon prints for a bad value), the default, whether the option
 * repeats, and "(reloadable with SIGHUP)" for OPT_F_RELOAD rows. Exit 0,
 * or 1 with a message on stderr.
 */
#include "vspc/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vspc/opttab.h"

/* The daemons' tables (proxy/config.c, coordinator/config.c); their
 * headers share the name config.h, so they are declared here. */
extern const struct opt_table cfg_table;
extern const struct opt_table ccfg_table;

#define MAX_CHOICES 8
#define CHOICE_LEN 32

static const struct opt_table *
table_named(const char *name, size_t len)
{
    if (len == 5 && strncmp(name, "proxy", len) == 0)
        return &cfg_table;
    if (len == 11 && strncmp(name, "coordinator", len) == 0)
        return &ccfg_table;
    return NULL;
}

/* s for roff: backslashes and dashes escaped, a leading control character
 * defused. */
static void
roff(FILE *f, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", f);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", f);
        else if (*s == '-')
            fputs("\\-", f);
        else
            fputc(*s, f);
    }
}

/*
 * The words a valid value is one of, when the want text is only that:
 * "a, b or c", optionally followed by " (a remark)". Returns how many (0:
 * not such a list).
 */
static size_t
choices(const struct opt_def *o, char out[MAX_CHOICES][CHOICE_LEN])
{
    const char *s = o->want;
    size_t n = 0;

    if (o->type == OPT_BOOL || o->type >= OPT_CUSTOM_LIST)
        return 0;
    while (*s) {
        size_t len = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789");

        if (len == 0 || len >= CHOICE_LEN || n == MAX_CHOICES)
            return 0;
        memcpy(out[n], s, len);
        out[n++][len] = '\0';
        s += len;
        if (strncmp(s, ", ", 2) == 0)
            s += 2;
        else if (strncmp(s, " or ", 4) == 0)
            s += 4;
        else if (*s == '\0' || strncmp(s, " (", 2) == 0)
            break;
        else
            return 0;
    }
    return n >= 2 ? n : 0;
}

/* What the value looks like, in a synopsis. */
static void
metavar(FILE *f, const struct opt_def *o)
{
    char c[MAX_CHOICES][CHOICE_LEN];
    size_t n = choices(o, c);

    if (n > 0) {
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s\\fI%s\\fR", i ? "|" : "", c[i]);
        return;
    }
    switch (o->type) {
    case OPT_ADDR:
        fputs("\\fIADDR:PORT\\fR", f);
        break;
    case OPT_ADDR_OFF:
        fputs("\\fIADDR:PORT\\fR|\\fInone\\fR", f);
        break;
    case OPT_NAME:
        fputs("\\fINAME\\fR", f);
        break;
    case OPT_PATH:
        fputs(strstr(o->want, "user name")   ? "\\fIUSER\\fR"
              : strstr(o->want, "directory") ? "\\fIDIR\\fR"
                                             : "\\fIFILE\\fR",
              f);
        break;
    case OPT_SECS:
        fputs("\\fISECONDS\\fR", f);
        break;
    case OPT_UINT:
        fputs("\\fIN\\fR", f);
        break;
    case OPT_LEVEL:
        fputs("\\fILEVEL\\fR", f);
        break;
    default:
        fputs("\\fIVALUE\\fR", f);
        break;
    }
}

/* One .TP entry per row: as "--name VALUE" (ini false) or "name = VALUE". */
static void
option_list(FILE *f, const struct opt_table *t, bool ini)
{
    for (size_t i = 0; i < t->n_opts; i++) {
        const struct opt_def *o = &t->opts[i];

        fputs(".TP\n\\fB", f);
        if (!ini)
            fputs("\\-\\-", f);
        roff(f, o->name);
        if (o->type == OPT_BOOL) {
            fputs(ini ? " =\\fR \\fIyes\\fR|\\fIno\\fR\n"
                      : "\\fR[\\fB=\\fR\\fIyes\\fR|\\fIno\\fR]\n",
                  f);
        } else {
            fputs(ini ? " =\\fR " : "\\fR ", f);
            metavar(f, o);
            fputc('\n', f);
        }
        fputs("Value: ", f);
        roff(f, o->want);
        fputs(".\n", f);
        if (o->def) {
            fputs("Default: \\fB", f);
            roff(f, o->def);
            fputs("\\fR.\n", f);
        }
        if (o->type >= OPT_CUSTOM_LIST)
            fprintf(f,
                    "Repeatable (at most %.0f); a list given on the command "
                    "line replaces the file's.\n",
                    o->max);
        if (o->flags & OPT_F_RELOAD)
            fputs("(reloadable with SIGHUP)\n", f);
    }
}

/* The bash words: every option (what 'w'), or those with a file
 * argument ('p'), or with another argument ('a'), "|"-separated. */
static void
bash_words(FILE *f, const struct opt_table *t, char what)
{
    bool first = true;

    for (size_t i = 0; i < t->n_opts; i++) {
        const struct opt_def *o = &t->opts[i];
        bool path = o->type == OPT_PATH;

        if ((what == 'p' && !path) ||
            (what == 'a' && (path || o->type == OPT_BOOL)))
            continue;
        fprintf(f, "%s--%s", first ? "" : what == 'w' ? " " : "|", o->name);
        first = false;
    }
}

/* A bash case arm per option whose valid values are a list of words. */
static void
bash_choices(FILE *f, const struct opt_table *t)
{
    for (size_t i = 0; i < t->n_opts; i++) {
        char c[MAX_CHOICES][CHOICE_LEN];
        size_t n = choices(&t->opts[i], c);

        if (n == 0)
            continue;
        fprintf(f, "    --%s) words=\"", t->opts[i].name);
        for (size_t j = 0; j < n; j++)
            fprintf(f, "%s%s", j ? " " : "", c[j]);
        fputs("\" ;;\n", f);
    }
}

/* Whether s (after an '@') has a marker's shape: NAME@ or NAME:table@. */
static bool
marker_shaped(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");

    if (n == 0)
        return false;
    if (s[n] == ':')
        n += 1 + strspn(s + n + 1, "abcdefghijklmnopqrstuvwxyz");
    return s[n] == '@';
}

/*
 * Expand one marker (s points after its '@'); returns the length used up
 * to and including the closing '@', or 0 if s starts no known marker.
 * *block: the expansion is whole lines (it ends in a newline).
 */
static size_t
expand(FILE *f, const char *s, const char *version, bool *block)
{
    static const char *const kinds[] = {"OPTIONS", "KEYS", "WORDS",
                                        "PATHS",   "ARGS", "CHOICES"};
    const char *end = strchr(s, '@');
    const char *colon;
    const struct opt_table *t;

    *block = false;
    if (end == NULL)
        return 0;
    if (strncmp(s, "VERSION@", 8) == 0) {
        fputs(version, f);
        return 8;
    }
    colon = memchr(s, ':', (size_t)(end - s));
    if (colon == NULL ||
        (t = table_named(colon + 1, (size_t)(end - colon - 1))) == NULL)
        return 0;
    for (size_t k = 0; k < VSPC_ARRAY_LEN(kinds); k++) {
        if (strlen(kinds[k]) != (size_t)(colon - s) ||
            strncmp(s, kinds[k], (size_t)(colon - s)) != 0)
            continue;
        *block = k == 0 || k == 1 || k == 5;
        switch (k) {
        case 0:
            option_list(f, t, false);
            break;
        case 1:
            option_list(f, t, true);
            break;
        case 2:
            bash_words(f, t, 'w');
            break;
        case 3:
            bash_words(f, t, 'p');
            break;
        case 4:
            bash_words(f, t, 'a');
            break;
        default:
            bash_choices(f, t);
            break;
        }
        return (size_t)(end - s) + 1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    FILE *in, *out;
    char line[4096];
    int rc = 0;

    if (argc != 4) {
        fprintf(stderr, "usage: vspc-gen-man VERSION TEMPLATE OUT\n");
        return 1;
    }
    if ((in = fopen(argv[2], "r")) == NULL) {
        perror(argv[2]);
        return 1;
    }
    if ((out = fopen(argv[3], "w")) == NULL) {
        perror(argv[3]);
        fclose(in);
        return 1;
    }
    while (rc == 0 && fgets(line, sizeof(line), in)) {
        size_t len = strlen(line);

        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            fprintf(stderr, "%s: a line too long\n", argv[2]);
            rc = 1;
            break;
        }
        for (const char *s = line; *s; s++) {
            size_t used;
            bool block;

            if (*s != '@' || !marker_shaped(s + 1)) {
                fputc(*s, out); /* text, or an '@' of the text (bash) */
            } else if ((used = expand(out, s + 1, argv[1], &block)) > 0) {
                s += used;
                if (block && s[1] == '\n')
                    s++; /* whole lines end in their own newline */
            } else {
                fprintf(stderr, "%s: unknown marker: %s", argv[2], s);
                rc = 1;
                break;
            }
        }
    }
    if (ferror(in) || fclose(out) != 0) {
        perror(argv[3]);
        rc = 1;
    }
    fclose(in);
    if (rc != 0)
        remove(argv[3]);
    return rc;
}
