/*
 * test_acl.c: Check suite for the operators' access rules (proxy/acl.c):
 * first match wins, users, @groups, anonymous and `*`, id: and name:
 * globs (names with blanks, unknown names), admin lines, no match = none,
 * every parse error with its line, CRLF, and acl_load's refusal of files
 * others may write.
 */
#include "vspc/compat.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acl.h"
#include "users.h"

static struct usr_db *db;
static const struct usr_user *alice, *bob, *carol, *eve, *admin_only;

static void
setup(void)
{
    static const char users[] = "alice:cert:ops,admins\n"
                                "bob:cert:helpdesk\n"
                                "carol:cert:\n"
                                "eve:cert:ops\n"
                                "root:!:admins\n";
    char err[256];

    db = usr_db_parse(users, strlen(users), err, sizeof(err));
    ck_assert_msg(db != NULL, "%s", err);
    alice = usr_find(db, "alice");
    bob = usr_find(db, "bob");
    carol = usr_find(db, "carol");
    eve = usr_find(db, "eve");
    admin_only = usr_find(db, "root");
}

static void
teardown(void)
{
    usr_db_free(&db);
}

static struct acl *
parse(const char *text)
{
    char err[256];
    struct acl *a = acl_parse(text, strlen(text), err, sizeof(err));

    ck_assert_msg(a != NULL, "%s", err);
    return a;
}

#define ID_WEB "4201a3f0-0000-0000-0000-000000000001"
#define ID_DB "564d1111-2222-3333-4444-555566667777"

START_TEST(test_first_match)
{
    struct acl *a = parse("# WHO  RIGHTS  CONSOLES\n"
                          "admin  @admins bob   # the admin role\n"
                          "\n"
                          "bob       none  name:web-secret\n"
                          "@helpdesk ro    name:web-*\n"
                          "carol     rw    id:4201a3*\n"
                          "carol     none  *\n"
                          "@ops      rw    *\n"
                          "anonymous ro    name:public*\n"
                          "*         none  *\n"
                          "@ops      ro    *\n");

    ck_assert_uint_eq(acl_count(a), 8);
    /* bob: the earlier none beats the later ro; other web-* are ro. */
    ck_assert_int_eq(acl_check(a, bob, ID_WEB, "web-secret"), ACL_NONE);
    ck_assert_int_eq(acl_check(a, bob, ID_WEB, "web-01"), ACL_RO);
    ck_assert_int_eq(acl_check(a, bob, ID_DB, "db-01"), ACL_NONE);
    /* carol: by id only, then none for the rest. */
    ck_assert_int_eq(acl_check(a, carol, ID_WEB, "anything"), ACL_RW);
    ck_assert_int_eq(acl_check(a, carol, ID_DB, "web-01"), ACL_NONE);
    /* @ops: rw everywhere (the later ro never reached). */
    ck_assert_int_eq(acl_check(a, alice, ID_DB, "db-01"), ACL_RW);
    ck_assert_int_eq(acl_check(a, eve, ID_WEB, ""), ACL_RW);
    /* anonymous: ro on public*, `*` none for the rest. */
    ck_assert_int_eq(acl_check(a, NULL, ID_DB, "public-1"), ACL_RO);
    ck_assert_int_eq(acl_check(a, NULL, ID_DB, "db-01"), ACL_NONE);
    ck_assert_int_eq(acl_check(a, NULL, ID_WEB, NULL), ACL_NONE);
    /* root is an admin with no rule of its own: `*` none. */
    ck_assert_int_eq(acl_check(a, admin_only, ID_WEB, "web-01"), ACL_NONE);
    /* Admins: by group and by name, never anonymous. */
    ck_assert(acl_is_admin(a, alice));
    ck_assert(acl_is_admin(a, bob));
    ck_assert(acl_is_admin(a, admin_only));
    ck_assert(!acl_is_admin(a, carol));
    ck_assert(!acl_is_admin(a, eve));
    ck_assert(!acl_is_admin(a, NULL));
    acl_free(&a);
    ck_assert_ptr_null(a);
    acl_free(&a);
    acl_free(NULL);
}
END_TEST

/* No rule matching is none; an empty acl gives nothing to anyone. */
START_TEST(test_no_match)
{
    struct acl *a = parse("alice rw id:x*\n");

    ck_assert_int_eq(acl_check(a, alice, "y", "x"), ACL_NONE);
    ck_assert_int_eq(acl_check(a, alice, "x1", "y"), ACL_RW);
    ck_assert_int_eq(acl_check(a, bob, "x1", "y"), ACL_NONE);
    ck_assert_int_eq(acl_check(a, NULL, "x1", "y"), ACL_NONE);
    ck_assert(!acl_is_admin(a, alice));
    acl_free(&a);
    a = parse("# nothing\n\n");
    ck_assert_uint_eq(acl_count(a), 0);
    ck_assert_int_eq(acl_check(a, alice, "x", "y"), ACL_NONE);
    ck_assert(!acl_is_admin(a, alice));
    acl_free(&a);
    ck_assert_int_eq(acl_check(NULL, alice, "x", "y"), ACL_NONE);
    ck_assert(!acl_is_admin(NULL, alice));
}
END_TEST

/* `*` is anyone, logged in or not; anonymous only the latter. */
START_TEST(test_star_and_anonymous)
{
    struct acl *a = parse("anonymous rw id:a*\n"
                          "*  ro  *\n");

    ck_assert_int_eq(acl_check(a, NULL, "abc", ""), ACL_RW);
    ck_assert_int_eq(acl_check(a, alice, "abc", ""), ACL_RO);
    ck_assert_int_eq(acl_check(a, NULL, "xyz", ""), ACL_RO);
    ck_assert_int_eq(acl_check(a, carol, "xyz", ""), ACL_RO);
    acl_free(&a);
}
END_TEST

/* name: patterns take blanks, globs; an unknown name is "". */
START_TEST(test_name_globs)
{
    struct acl *a = parse("@ops rw name:My VM [0-9]*  \n"
                          "@ops ro name:?*\n"
                          "@ops rw name:*\n"
                          "bob ro name:tab\there\n"
                          "bob rw name:a [#]1\n"
                          "bob ro name:caf\xc3\xa9\n");

    ck_assert_int_eq(acl_check(a, eve, "i", "My VM 01"), ACL_RW);
    ck_assert_int_eq(acl_check(a, eve, "i", "My VM x"), ACL_RO);
    ck_assert_int_eq(acl_check(a, eve, "i", "MyVM 01"), ACL_RO);
    /* "" is not ?*, but it is *. */
    ck_assert_int_eq(acl_check(a, eve, "i", ""), ACL_RW);
    ck_assert_int_eq(acl_check(a, eve, "i", NULL), ACL_RW);
    ck_assert_int_eq(acl_check(a, bob, "i", "tab\there"), ACL_RO);
    ck_assert_int_eq(acl_check(a, bob, "i", "a #1"), ACL_RW);
    ck_assert_int_eq(acl_check(a, bob, "i", "caf\xc3\xa9"), ACL_RO);
    ck_assert_int_eq(acl_check(a, bob, "i", "cafe"), ACL_NONE);
    acl_free(&a);
    /* A comment after a blank ends the pattern. */
    a = parse("bob rw name:a #1\n");
    ck_assert_int_eq(acl_check(a, bob, "i", "a"), ACL_RW);
    ck_assert_int_eq(acl_check(a, bob, "i", "a #1"), ACL_NONE);
    acl_free(&a);
    a = parse("bob rw name:a#1\n");
    ck_assert_int_eq(acl_check(a, bob, "i", "a#1"), ACL_RW);
    acl_free(&a);
}
END_TEST

/* id: globs match the console id only, name: the VM name only. */
START_TEST(test_id_globs)
{
    struct acl *a = parse("alice ro id:4201a3?\?-*\n"
                          "alice rw id:[45]6*\n"
                          "alice rw name:" ID_DB "\n");

    ck_assert_int_eq(acl_check(a, alice, ID_WEB, "x"), ACL_RO);
    ck_assert_int_eq(acl_check(a, alice, ID_DB, "x"), ACL_RW);
    ck_assert_int_eq(acl_check(a, alice, "4201a3-0", "x"), ACL_NONE);
    ck_assert_int_eq(acl_check(a, alice, "zz", "4201a3f0-0"), ACL_NONE);
    ck_assert_int_eq(acl_check(a, alice, "zz", ID_DB), ACL_RW);
    ck_assert_int_eq(acl_check(a, alice, NULL, "x"), ACL_NONE);
    acl_free(&a);
}
END_TEST

/* Each bad file gives "acl file line N: <what>". */
START_TEST(test_parse_errors)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"alice\n", "line 1: expected WHO RIGHTS CONSOLES"},
        {"# c\nalice rw\n", "line 2: expected WHO RIGHTS CONSOLES"},
        {"alice rw   # comment\n", "line 1: expected WHO RIGHTS CONSOLES"},
        {"alice rw *\nbad/name rw *\n", "line 2: bad WHO \"bad/name\" (a user"},
        {"@ rw *\n", "line 1: bad WHO \"@\""},
        {"@a/b rw *\n", "line 1: bad WHO \"@a/b\""},
        {"alice RW *\n", "line 1: bad RIGHTS \"RW\" (rw, ro or none)"},
        {"alice write *\n", "bad RIGHTS \"write\""},
        {"alice rw web-*\n",
         "line 1: bad CONSOLES (use *, id:GLOB or name:GLOB): \"web-*\""},
        {"alice rw **\n", "bad CONSOLES (use *, id:GLOB or name:GLOB)"},
        {"alice rw ID:x\n", "bad CONSOLES (use *, id:GLOB or name:GLOB)"},
        {"alice rw id:\n", "line 1: empty GLOB after id: or name:"},
        {"alice rw name:   \n", "line 1: empty GLOB after id: or name:"},
        {"alice rw name:\x01x\n", "line 1: control character in CONSOLES"},
        {"alice rw name:x\x7f\n", "control character in CONSOLES"},
        {"admin\n", "line 1: admin wants user names or @groups"},
        {"admin # none\n", "line 1: admin wants user names or @groups"},
        {"admin alice *\n",
         "line 1: bad admin \"*\" (the admin role takes user names and "
         "@groups, not * or anonymous)"},
        {"admin anonymous\n", "bad admin \"anonymous\""},
        {"admin al:ice\n", "bad admin \"al:ice\" (a user name"},
        {"admin rw *\n", "line 1: \"admin rw ...\": `admin` starts the admin "
                         "list, so no rule can name a user \"admin\""},
        {"admin ro name:x\n", "\"admin ro ...\""},
        {"a rw *\n\n\nb rw *\0\n", "line 4: NUL byte"},
    };
    char err[256];

    for (size_t i = 0; i < VSPC_ARRAY_LEN(cases); i++) {
        size_t len = strlen(cases[i].text);
        struct acl *a;

        if (strstr(cases[i].want, "NUL"))
            len += 2;
        a = acl_parse(cases[i].text, len, err, sizeof(err));
        ck_assert_msg(a == NULL, "case %zu parsed", i);
        ck_assert_msg(strncmp(err, "acl file line ", 14) == 0 &&
                          strstr(err, cases[i].want) != NULL,
                      "case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
    }
}
END_TEST

/* Line 4096, pattern 1024, 10000 rules: at the bound and one over. */
START_TEST(test_bounds)
{
    size_t cap = 20 * (ACL_RULES_MAX + 1) + 8192, n;
    char *text = malloc(cap), err[256];
    struct acl *a;

    ck_assert_ptr_nonnull(text);
    /* A 1024-byte pattern; 1025 is refused. */
    n = (size_t)sprintf(text, "a rw name:");
    memset(text + n, 'x', 1024 - 5);
    strcpy(text + n + 1024 - 5, "\n");
    a = acl_parse(text, strlen(text), err, sizeof(err));
    ck_assert_msg(a != NULL, "%s", err);
    acl_free(&a);
    strcpy(text + n + 1024 - 5, "x\n");
    ck_assert_ptr_null(acl_parse(text, strlen(text), err, sizeof(err)));
    ck_assert_ptr_nonnull(
        strstr(err, "line 1: CONSOLES longer than 1024 bytes"));
    /* A 4096-byte line (blanks after the pattern), CRLF; 4097 is refused. */
    memset(text, ' ', 4096);
    memcpy(text, "a rw *", 6);
    memcpy(text + 4096, "\r\n", 3);
    a = acl_parse(text, strlen(text), err, sizeof(err));
    ck_assert_msg(a != NULL, "%s", err);
    acl_free(&a);
    text[4096] = ' ';
    ck_assert_ptr_null(acl_parse(text, strlen(text), err, sizeof(err)));
    ck_assert_str_eq(err, "acl file line 1: line longer than 4096 bytes");
    /* 10000 rules; one more is refused at its line. */
    n = 0;
    for (int i = 0; i < ACL_RULES_MAX; i++)
        n += (size_t)sprintf(text + n, "u%d ro id:%d\n", i, i);
    a = acl_parse(text, n, err, sizeof(err));
    ck_assert_msg(a != NULL, "%s", err);
    ck_assert_uint_eq(acl_count(a), ACL_RULES_MAX);
    acl_free(&a);
    n += (size_t)sprintf(text + n, "x ro *\n");
    ck_assert_ptr_null(acl_parse(text, n, err, sizeof(err)));
    ck_assert_str_eq(err, "acl file line 10001: more than 10000 rules");
    free(text);
}
END_TEST

/* CRLF line ends: the same acl as LF. */
START_TEST(test_crlf)
{
    struct acl *a = parse("admin bob\r\n@ops rw name:x y\r\n* ro *\r\n");

    ck_assert_int_eq(acl_check(a, eve, "i", "x y"), ACL_RW);
    ck_assert_int_eq(acl_check(a, eve, "i", "x y\r"), ACL_RO);
    ck_assert(acl_is_admin(a, bob));
    acl_free(&a);
}
END_TEST

START_TEST(test_right_str)
{
    ck_assert_str_eq(acl_right_str(ACL_RW), "rw");
    ck_assert_str_eq(acl_right_str(ACL_RO), "ro");
    ck_assert_str_eq(acl_right_str(ACL_NONE), "none");
    ck_assert_str_eq(acl_right_str((enum acl_right)42), "none");
}
END_TEST

START_TEST(test_load)
{
    char path[64], err[512];
    static const char text[] = "@ops rw *\n";
    struct acl *a;
    int fd;

    snprintf(path, sizeof(path), "/tmp/vspc-test-acl-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    ck_assert_int_eq(chmod(path, 0644), 0);
    a = acl_load(path, err, sizeof(err));
    ck_assert_msg(a != NULL, "%s", err);
    ck_assert_int_eq(acl_check(a, alice, "i", "n"), ACL_RW);
    acl_free(&a);
    ck_assert_int_eq(chmod(path, 0666), 0);
    ck_assert_ptr_null(acl_load(path, err, sizeof(err)));
    ck_assert_msg(strncmp(err, path, strlen(path)) == 0 &&
                      strstr(err, "mode 0666 lets other users write it"),
                  "%s", err);
    ck_assert_int_eq(chmod(path, 0600), 0);
    fd = open(path, O_WRONLY | O_APPEND);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "x y z\n", 6), 6);
    close(fd);
    ck_assert_ptr_null(acl_load(path, err, sizeof(err)));
    ck_assert_msg(strncmp(err, path, strlen(path)) == 0 &&
                      strstr(err, ": acl file line 2: bad RIGHTS \"y\""),
                  "%s", err);
    unlink(path);
    ck_assert_ptr_null(acl_load(path, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "No such file"));
}
END_TEST

static Suite *
acl_suite(void)
{
    Suite *s = suite_create("acl");
    TCase *tc = tcase_create("check");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_first_match);
    tcase_add_test(tc, test_no_match);
    tcase_add_test(tc, test_star_and_anonymous);
    tcase_add_test(tc, test_name_globs);
    tcase_add_test(tc, test_id_globs);
    tcase_add_test(tc, test_crlf);
    tcase_add_test(tc, test_load);
    suite_add_tcase(s, tc);
    tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_bounds);
    tcase_add_test(tc, test_right_str);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(acl_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
