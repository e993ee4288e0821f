/*
 * fuzz_acl.c: the ACL parser (proxy/acl.c) on hostile files. Oracles: an
 * error says "acl file line N: ..."; a parsed acl answers acl_check for a
 * fixed set of users (and anonymous), console ids and VM names with a
 * valid right, the same answer twice; acl_is_admin never holds for
 * anonymous; the same text with CRLF line ends gives the same answers or
 * the same error.
 */
#include "fuzz.h"

#include <string.h>

#include "acl.h"
#include "users.h"

static const char fuzz_users[] = "alice:cert:ops,admins\n"
                                 "bob:cert:helpdesk\n"
                                 "carol:cert:\n"
                                 "admins:!:admin,x\n"
                                 "x:cert:x\n";
static const char *const ids[] = {"", "4201a3f0-0000-0000", "564d*aa", "[a]"};
static const char *const names[] = {"", "web-01", "My VM #1", NULL};

/* Every answer of a (or its error) into l. */
static void
answers(const struct acl *a, const struct usr_db *db, const char *err,
        struct flog *l)
{
    if (a == NULL) {
        flog_add(l, "E", 1);
        flog_add(l, err, strlen(err));
        return;
    }
    for (size_t u = 0; u <= usr_db_count(db); u++) {
        const struct usr_user *user = usr_db_at(db, u); /* last: NULL */
        uint8_t adm = acl_is_admin(a, user);

        if (user == NULL && adm)
            fuzz_fail("anonymous is an admin");
        flog_add(l, &adm, 1);
        for (size_t i = 0; i < VSPC_ARRAY_LEN(ids); i++)
            for (size_t n = 0; n < VSPC_ARRAY_LEN(names); n++) {
                enum acl_right r = acl_check(a, user, ids[i], names[n]);
                uint8_t b = (uint8_t)r;

                if (r != ACL_NONE && r != ACL_RO && r != ACL_RW)
                    fuzz_fail("acl_check gave %d", (int)r);
                if (acl_check(a, user, ids[i], names[n]) != r)
                    fuzz_fail("acl_check is not deterministic");
                if (acl_right_str(r) == NULL)
                    fuzz_fail("acl_right_str(%d) is NULL", (int)r);
                flog_add(l, &b, 1);
            }
    }
}

static struct acl *
parse(const char *text, size_t n, char *err, size_t cap)
{
    struct acl *a = acl_parse(text, n, err, cap);

    if (a == NULL &&
        (strnlen(err, cap) == cap || strncmp(err, "acl file line ", 14) != 0))
        fuzz_fail("bad error message \"%.256s\"", err);
    return a;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct usr_db *db;
    struct flog x = {0}, y = {0};
    char err[256], err2[256];
    struct acl *a, *b;

    if (db == NULL && (db = usr_db_parse(fuzz_users, strlen(fuzz_users), err,
                                         sizeof(err))) == NULL)
        fuzz_fail("fixed users: %s", err);
    if (size > 8192)
        return 0;
    a = parse((const char *)data, size, err, sizeof(err));
    answers(a, db, err, &x);
    /* CRLF line ends: the same answers (inputs without CR only). */
    if (size == 0 || memchr(data, '\r', size) == NULL) {
        struct flog crlf = {0};

        for (size_t i = 0; i < size; i++) {
            if (data[i] == '\n')
                flog_add(&crlf, "\r", 1);
            flog_add(&crlf, &data[i], 1);
        }
        b = parse((const char *)crlf.p, crlf.n, err2, sizeof(err2));
        answers(b, db, err2, &y);
        if (!flog_eq(&x, &y) || acl_count(a) != acl_count(b))
            fuzz_fail("CRLF line ends change the result");
        acl_free(&b);
        free(crlf.p);
    }
    acl_free(&a);
    free(x.p);
    free(y.p);
    return 0;
}
