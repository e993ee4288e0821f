/*
 * acl.c: the operators' access rules (acl.h).
 *
 * Rules are kept in file order and checked one after the other: files are
 * small (ACL_RULES_MAX) and a check runs once per attach or listing, not
 * per byte.
 */
#include "vspc/compat.h"
#include "acl.h"

#include "textfile.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum acl_who {
    ACL_WHO_USER = 0, /* who: a user name */
    ACL_WHO_GROUP,    /* who: a group name (written @group) */
    ACL_WHO_ANON,     /* anonymous: not logged in */
    ACL_WHO_ANY,      /* `*`: anyone */
};

enum acl_pat {
    ACL_PAT_ANY = 0, /* `*` */
    ACL_PAT_ID,      /* id:GLOB */
    ACL_PAT_NAME,    /* name:GLOB */
};

struct acl_who_ref {
    enum acl_who kind;
    char name[USR_NAME_MAX + 1];
};

struct acl_rule {
    struct acl_who_ref who;
    enum acl_right right;
    enum acl_pat pat;
    char *glob; /* owned; "" for ACL_PAT_ANY */
};

struct acl {
    struct acl_rule *rules; /* file order */
    size_t n, cap;
    struct acl_who_ref *admins;
    size_t na, cap_a;
};

static bool
blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* The next blank-separated word at *s (cut in place), or NULL. */
static char *
word(char **s)
{
    char *w = *s, *e;

    while (blank(*w))
        w++;
    if (*w == '\0')
        return NULL;
    for (e = w; *e && !blank(*e); e++)
        ;
    if (*e)
        *e++ = '\0';
    *s = e;
    return w;
}

/* WHO w into r. NULL, or what is wrong. */
static const char *
parse_who(const char *w, struct acl_who_ref *r)
{
    memset(r, 0, sizeof(*r));
    if (strcmp(w, "*") == 0)
        r->kind = ACL_WHO_ANY;
    else if (strcmp(w, "anonymous") == 0)
        r->kind = ACL_WHO_ANON;
    else if (w[0] == '@') { /* always a group, though names may hold '@' */
        if (!usr_name_ok(w + 1))
            return "(a user name, @group, anonymous or *)";
        r->kind = ACL_WHO_GROUP;
        memcpy(r->name, w + 1, strlen(w + 1) + 1);
    } else if (usr_name_ok(w)) {
        r->kind = ACL_WHO_USER;
        memcpy(r->name, w, strlen(w) + 1);
    } else
        return "(a user name, @group, anonymous or *)";
    return NULL;
}

static int
add_admins(struct acl *a, char *rest, unsigned line, char *err, size_t errcap)
{
    char *w, q[48];
    size_t got = 0;

    while ((w = word(&rest)) != NULL) {
        struct acl_who_ref r;
        const char *why = parse_who(w, &r);

        if (strcmp(w, "rw") == 0 || strcmp(w, "ro") == 0 ||
            strcmp(w, "none") == 0) {
            tf_fail_line(err, errcap, "acl file", line,
                         "\"admin %s ...\": `admin` starts the admin list, so "
                         "no rule can name a user \"admin\" (use a group)",
                         w);
            return -1;
        }
        if (why == NULL && (r.kind == ACL_WHO_ANY || r.kind == ACL_WHO_ANON))
            why = "(the admin role takes user names and @groups, not * or "
                  "anonymous)";
        if (why) {
            tf_fail_line(err, errcap, "acl file", line, "bad admin \"%s\" %s",
                         tf_shown(w, strlen(w), q, sizeof(q)), why);
            return -1;
        }
        if (a->na == ACL_RULES_MAX) {
            tf_fail_line(err, errcap, "acl file", line,
                         "more than %d admin entries", ACL_RULES_MAX);
            return -1;
        }
        if (a->na == a->cap_a) {
            size_t cap = a->cap_a ? a->cap_a * 2 : 8;
            struct acl_who_ref *p = realloc(a->admins, cap * sizeof(*p));

            if (p == NULL) {
                snprintf(err, errcap, "acl file: out of memory");
                return -1;
            }
            a->admins = p;
            a->cap_a = cap;
        }
        a->admins[a->na++] = r;
        got++;
    }
    if (got == 0) {
        tf_fail_line(err, errcap, "acl file", line,
                     "admin wants user names or @groups");
        return -1;
    }
    return 0;
}

/* CONSOLES p into r. NULL, or what is wrong. */
static const char *
parse_pattern(const char *p, struct acl_rule *r)
{
    const char *glob;

    for (const char *c = p; *c; c++)
        if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
            return "control character in CONSOLES";
    if (strlen(p) > ACL_PATTERN_MAX)
        return "CONSOLES longer than 1024 bytes";
    if (strcmp(p, "*") == 0) {
        r->pat = ACL_PAT_ANY;
        glob = "";
    } else if (strncmp(p, "id:", 3) == 0) {
        r->pat = ACL_PAT_ID;
        glob = p + 3;
    } else if (strncmp(p, "name:", 5) == 0) {
        r->pat = ACL_PAT_NAME;
        glob = p + 5;
    } else
        return "bad CONSOLES (use *, id:GLOB or name:GLOB)";
    if (r->pat != ACL_PAT_ANY && *glob == '\0')
        return "empty GLOB after id: or name:";
    if ((r->glob = strdup(glob)) == NULL)
        return "out of memory";
    return NULL;
}

static int
add_rule(struct acl *a, char *who, char *rest, unsigned line, char *err,
         size_t errcap)
{
    struct acl_rule r;
    const char *why;
    char *rights = word(&rest), q[48];

    memset(&r, 0, sizeof(r));
    while (blank(*rest))
        rest++;
    if (rights == NULL || *rest == '\0') {
        tf_fail_line(err, errcap, "acl file", line,
                     "expected WHO RIGHTS CONSOLES (or admin WHO...)");
        return -1;
    }
    if ((why = parse_who(who, &r.who)) != NULL) {
        tf_fail_line(err, errcap, "acl file", line, "bad WHO \"%s\" %s",
                     tf_shown(who, strlen(who), q, sizeof(q)), why);
        return -1;
    }
    if (strcmp(rights, "rw") == 0)
        r.right = ACL_RW;
    else if (strcmp(rights, "ro") == 0)
        r.right = ACL_RO;
    else if (strcmp(rights, "none") == 0)
        r.right = ACL_NONE;
    else {
        tf_fail_line(err, errcap, "acl file", line,
                     "bad RIGHTS \"%s\" (rw, ro or none)",
                     tf_shown(rights, strlen(rights), q, sizeof(q)));
        return -1;
    }
    if ((why = parse_pattern(rest, &r)) != NULL) {
        tf_fail_line(err, errcap, "acl file", line, "%s: \"%s\"", why,
                     tf_shown(rest, strlen(rest), q, sizeof(q)));
        return -1;
    }
    if (a->n == ACL_RULES_MAX) {
        free(r.glob);
        tf_fail_line(err, errcap, "acl file", line, "more than %d rules",
                     ACL_RULES_MAX);
        return -1;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        struct acl_rule *p = realloc(a->rules, cap * sizeof(*p));

        if (p == NULL) {
            free(r.glob);
            snprintf(err, errcap, "acl file: out of memory");
            return -1;
        }
        a->rules = p;
        a->cap = cap;
    }
    a->rules[a->n++] = r;
    return 0;
}

struct acl *
acl_parse(const char *text, size_t len, char *err, size_t errcap)
{
    struct acl *a = calloc(1, sizeof(*a));
    char buf[ACL_LINE_MAX + 1];
    unsigned line = 0;
    size_t pos = 0;

    if (errcap)
        err[0] = '\0';
    if (a == NULL) {
        snprintf(err, errcap, "acl file: out of memory");
        return NULL;
    }
    while (pos < len) {
        const char *p = text + pos, *nl = memchr(p, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - p) : len - pos;
        char *s, *first;
        int rc;

        pos += l + (nl != NULL);
        line++;
        if (memchr(p, '\0', l)) {
            tf_fail_line(err, errcap, "acl file", line, "NUL byte");
            goto fail;
        }
        if (l > 0 && p[l - 1] == '\r')
            l--;
        if (l > ACL_LINE_MAX) {
            tf_fail_line(err, errcap, "acl file", line,
                         "line longer than %d bytes", ACL_LINE_MAX);
            goto fail;
        }
        memcpy(buf, p, l);
        buf[l] = '\0';
        s = tf_strip_line(buf);
        if ((first = word(&s)) == NULL)
            continue;
        if (strcmp(first, "admin") == 0)
            rc = add_admins(a, s, line, err, errcap);
        else
            rc = add_rule(a, first, s, line, err, errcap);
        if (rc != 0)
            goto fail;
    }
    return a;
fail:
    acl_free(&a);
    return NULL;
}

struct acl *
acl_load(const char *path, char *err, size_t errcap)
{
    char *text, msg[512];
    size_t len;
    struct acl *a;

    if (tf_read_file(path, ACL_FILE_MAX, 0002, &text, &len, err, errcap))
        return NULL;
    a = acl_parse(text, len, msg, sizeof(msg));
    free(text);
    if (a == NULL)
        snprintf(err, errcap, "%s: %s", path, msg);
    return a;
}

void
acl_free(struct acl **a)
{
    if (a == NULL || *a == NULL)
        return;
    for (size_t i = 0; i < (*a)->n; i++)
        free((*a)->rules[i].glob);
    free((*a)->rules);
    free((*a)->admins);
    free(*a);
    *a = NULL;
}

size_t
acl_count(const struct acl *a)
{
    return a ? a->n : 0;
}

static bool
who_matches(const struct acl_who_ref *w, const struct usr_user *user)
{
    switch (w->kind) {
    case ACL_WHO_ANY:
        return true;
    case ACL_WHO_ANON:
        return user == NULL;
    case ACL_WHO_GROUP:
        return user && usr_in_group(user, w->name);
    default:
        return user && strcmp(usr_name(user), w->name) == 0;
    }
}

enum acl_right
acl_check(const struct acl *a, const struct usr_user *user,
          const char *console_id, const char *vm_name)
{
    if (a == NULL)
        return ACL_NONE;
    for (size_t i = 0; i < a->n; i++) {
        const struct acl_rule *r = &a->rules[i];

        if (!who_matches(&r->who, user))
            continue;
        if (r->pat == ACL_PAT_ANY ||
            (r->pat == ACL_PAT_ID &&
             fnmatch(r->glob, console_id ? console_id : "", 0) == 0) ||
            (r->pat == ACL_PAT_NAME &&
             fnmatch(r->glob, vm_name ? vm_name : "", 0) == 0))
            return r->right;
    }
    return ACL_NONE;
}

bool
acl_is_admin(const struct acl *a, const struct usr_user *user)
{
    if (a == NULL || user == NULL)
        return false;
    for (size_t i = 0; i < a->na; i++)
        if (who_matches(&a->admins[i], user))
            return true;
    return false;
}

const char *
acl_right_str(enum acl_right r)
{
    switch (r) {
    case ACL_RW:
        return "rw";
    case ACL_RO:
        return "ro";
    default:
        return "none";
    }
}
