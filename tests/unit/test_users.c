/*
 * test_users.c: Check suite for the operators' users file and password
 * hashes (proxy/users.c): a valid file with every kind of user, every
 * parse error with its line, name/group/cost/salt/hash bounds, base64
 * with and without padding, known-answer vectors for scrypt and
 * PBKDF2-SHA256 (computed with python3's hashlib), the round trip of
 * usr_hash_new for both schemes, and usr_db_load's refusal of files
 * others may read.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "users.h"

/*
 * hashlib.scrypt(b'correct horse', salt=b'vspc-test-salt-1', n=1024, r=8,
 * p=1, dklen=32) and hashlib.pbkdf2_hmac('sha256', b'hunter2',
 * b'NaCl-and-pepper!', 1000, 32), base64 (the second one padded).
 */
#define KAT_SCRYPT                                                             \
    "$scrypt$ln=10,r=8,p=1$dnNwYy10ZXN0LXNhbHQtMQ$"                            \
    "G2wYqq4kozI5qpjgZ5T3LxSHZlGf6H3Gtws+Pap8Ng8"
#define KAT_PBKDF2                                                             \
    "$pbkdf2-sha256$i=1000$TmFDbC1hbmQtcGVwcGVyIQ==$"                          \
    "ENvuEOeqgog6iALlc7+LGHkP46vNTR4AJ0cr/u+ACCo="
/* 16-byte salt, 32-byte hash (unpadded base64) for the bounds tables. */
#define SALT16 "c2FsdHNhbHRzYWx0c2FsdA"
#define HASH32 "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"

static const char good_file[] =
    "# name:password-hash:groups\n"
    "\n"
    "alice:" KAT_SCRYPT ":ops,admins\n"
    "  bob:" KAT_PBKDF2 ":helpdesk   # trailing comment\r\n"
    "carol:cert:ops\n"
    "\t# indented comment\n"
    "dave:!:\n"
    "x.y_z@example-1:cert:a.b,c_d,e@f,g-h";

static struct usr_db *
parse(const char *text, char *err, size_t cap)
{
    return usr_db_parse(text, strlen(text), err, cap);
}

START_TEST(test_good_file)
{
    char err[256];
    struct usr_db *db = parse(good_file, err, sizeof(err));
    const struct usr_user *a, *b, *c, *d;
    struct usr_cred cr;

    ck_assert_msg(db != NULL, "%s", err);
    ck_assert_uint_eq(usr_db_count(db), 5);
    /* Name order. */
    ck_assert_str_eq(usr_name(usr_db_at(db, 0)), "alice");
    ck_assert_str_eq(usr_name(usr_db_at(db, 4)), "x.y_z@example-1");
    ck_assert_ptr_null(usr_db_at(db, 5));
    a = usr_find(db, "alice");
    b = usr_find(db, "bob");
    c = usr_find(db, "carol");
    d = usr_find(db, "dave");
    ck_assert(a && b && c && d);
    ck_assert_ptr_eq(usr_find(db, "x.y_z@example-1"), usr_db_at(db, 4));
    ck_assert_ptr_null(usr_find(db, "eve"));
    ck_assert_ptr_null(usr_find(db, "Alice"));
    ck_assert_ptr_null(usr_find(db, NULL));
    ck_assert_ptr_null(usr_find(NULL, "alice"));
    ck_assert_str_eq(usr_groups(a), "ops,admins");
    ck_assert_str_eq(usr_groups(d), "");
    ck_assert(usr_in_group(a, "ops") && usr_in_group(a, "admins"));
    ck_assert(!usr_in_group(a, "op") && !usr_in_group(a, "ops,admins"));
    ck_assert(!usr_in_group(a, "") && !usr_in_group(a, NULL));
    ck_assert(!usr_in_group(d, "ops"));
    ck_assert(usr_in_group(usr_db_at(db, 4), "g-h"));
    /* Kinds. */
    ck_assert(usr_password_ok_kind(a) && usr_password_ok_kind(b));
    ck_assert(!usr_password_ok_kind(c) && !usr_password_ok_kind(d));
    ck_assert(usr_cert_ok(a) && usr_cert_ok(b) && usr_cert_ok(c));
    ck_assert(!usr_cert_ok(d));
    ck_assert_int_eq(usr_cred_get(a, &cr), 0);
    ck_assert_int_eq(cr.kind, USR_SCRYPT);
    ck_assert_uint_eq(cr.ln, 10);
    ck_assert_uint_eq(cr.r, 8);
    ck_assert_uint_eq(cr.p, 1);
    ck_assert_uint_eq(cr.salt_len, 16);
    ck_assert_mem_eq(cr.salt, "vspc-test-salt-1", 16);
    ck_assert_uint_eq(cr.hash_len, 32);
    ck_assert_int_eq(usr_cred_get(b, &cr), 0);
    ck_assert_int_eq(cr.kind, USR_PBKDF2);
    ck_assert_uint_eq(cr.iter, 1000);
    ck_assert_int_eq(usr_cred_get(NULL, &cr), -1);
    usr_db_free(&db);
    ck_assert_ptr_null(db);
    usr_db_free(&db);
    usr_db_free(NULL);
    /* Empty and comment-only files are fine. */
    db = parse("", err, sizeof(err));
    ck_assert_ptr_nonnull(db);
    ck_assert_uint_eq(usr_db_count(db), 0);
    ck_assert_ptr_null(usr_find(db, "alice"));
    usr_db_free(&db);
    db = parse("# nobody\n\n   \n", err, sizeof(err));
    ck_assert_ptr_nonnull(db);
    usr_db_free(&db);
}
END_TEST

/* Known answers: the file's hashes against the passwords. */
START_TEST(test_known_answers)
{
    char err[256];
    struct usr_db *db = parse(good_file, err, sizeof(err));
    const struct usr_user *a = usr_find(db, "alice"), *b = usr_find(db, "bob");

    ck_assert_int_eq(usr_verify(a, "correct horse", 13, err, sizeof(err)), 1);
    ck_assert_int_eq(usr_verify(a, "correct horsf", 13, err, sizeof(err)), 0);
    ck_assert_int_eq(usr_verify(a, "correct hors", 12, err, sizeof(err)), 0);
    ck_assert_int_eq(usr_verify(b, "hunter2", 7, err, sizeof(err)), 1);
    ck_assert_int_eq(usr_verify(b, "hunter3", 7, err, sizeof(err)), 0);
    ck_assert_int_eq(usr_verify(b, "", 0, err, sizeof(err)), 0);
    ck_assert_int_eq(usr_verify(b, NULL, 0, err, sizeof(err)), 0);
    /* cert and ! never take a password. */
    ck_assert_int_eq(
        usr_verify(usr_find(db, "carol"), "x", 1, err, sizeof(err)), 0);
    ck_assert_int_eq(usr_verify(usr_find(db, "dave"), "", 0, err, sizeof(err)),
                     0);
    ck_assert_int_eq(usr_verify(NULL, "x", 1, err, sizeof(err)), 0);
    usr_db_free(&db);
}
END_TEST

/* Each bad file gives "users file line N: <what>". */
START_TEST(test_parse_errors)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"alice\n", "line 1: expected NAME:HASH:GROUPS"},
        {"alice:cert\n", "line 1: expected NAME:HASH:GROUPS"},
        {"# c\n\nalice:cert:ops:x\n", "line 3: too many ':'"},
        {"a:cert:\nbad name:cert:\n", "line 2: bad user name \"bad name\""},
        {":cert:\n", "line 1: bad user name \"\""},
        {"a/b:cert:\n", "line 1: bad user name"},
        {"anonymous:cert:\n",
         "line 1: the user name \"anonymous\" is reserved"},
        {"a:cert:\nb:!:\na:!:\n",
         "line 3: duplicate user \"a\" (also on line 1)"},
        {"b:cert:\nb:cert:\na:cert:\na:cert:\n",
         "line 2: duplicate user \"b\" (also on line 1)"},
        {"a:md5:\n", "line 1: user a: unknown password hash"},
        {"a::\n", "line 1: user a: unknown password hash"},
        {"a:Cert:\n", "line 1: user a: unknown password hash"},
        {"a:$scrypt$ln=9,r=8,p=1$" SALT16 "$" HASH32 ":\n", "scrypt wants"},
        {"a:$scrypt$ln=21,r=1,p=1$" SALT16 "$" HASH32 ":\n", "scrypt wants"},
        {"a:$scrypt$ln=10,r=0,p=1$" SALT16 "$" HASH32 ":\n", "scrypt wants"},
        {"a:$scrypt$ln=10,r=33,p=1$" SALT16 "$" HASH32 ":\n", "scrypt wants"},
        {"a:$scrypt$ln=10,r=8,p=17$" SALT16 "$" HASH32 ":\n", "scrypt wants"},
        {"a:$scrypt$ln=10,r=8,p=0$" SALT16 "$" HASH32 ":\n", "scrypt wants"},
        {"a:$scrypt$r=8,ln=10,p=1$" SALT16 "$" HASH32 ":\n", "scrypt wants"},
        {"a:$scrypt$ln=10,r=8$" SALT16 "$" HASH32 ":\n", "scrypt wants"},
        {"a:$scrypt$ln=10,r=8,p=1,x=1$" SALT16 "$" HASH32 ":\n",
         "scrypt wants"},
        {"a:$scrypt$ln=99999999999999999999,r=8,p=1$" SALT16 "$" HASH32 ":\n",
         "scrypt wants"},
        {"a:$scrypt$ln=20,r=3,p=1$" SALT16 "$" HASH32 ":\n",
         "line 1: user a: scrypt memory 2^ln * r * 128 over 256 MiB"},
        {"a:$pbkdf2-sha256$i=999$" SALT16 "$" HASH32 ":\n",
         "line 1: user a: pbkdf2-sha256 wants i=1000..10000000"},
        {"a:$pbkdf2-sha256$i=10000001$" SALT16 "$" HASH32 ":\n",
         "pbkdf2-sha256 wants"},
        {"a:$pbkdf2-sha256$i=-1000$" SALT16 "$" HASH32 ":\n",
         "pbkdf2-sha256 wants"},
        {"a:$pbkdf2-sha256$" SALT16 "$" HASH32 ":\n", "pbkdf2-sha256 wants"},
        {"a:$pbkdf2-sha256$i=1000$" SALT16 ":\n", "expected ...$SALT$HASH"},
        {"a:$pbkdf2-sha256$i=1000$" SALT16 "$" HASH32 "$x:\n",
         "expected ...$SALT$HASH"},
        /* 7-byte and 65-byte salts, 15-byte and 65-byte hashes. */
        {"a:$pbkdf2-sha256$i=1000$c2FsdHNhbA$" HASH32 ":\n",
         "the salt must be 8..64 bytes"},
        {"a:$pbkdf2-sha256$i=1000$"
         "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
         "QUFBQUFBQUFBQUFBQUFBQUFBQUE$" HASH32 ":\n",
         "the salt must be 8..64 bytes"},
        {"a:$pbkdf2-sha256$i=1000$" SALT16 "$aGFzaGhhc2hoYXNoaGFz:\n",
         "the hash must be 16..64 bytes"},
        {"a:$pbkdf2-sha256$i=1000$" SALT16
         "$QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
         "QUFBQUFBQUFBQUFBQUFBQUFBQUE:\n",
         "the hash must be 16..64 bytes"},
        {"a:$pbkdf2-sha256$i=1000$c2FsdH*hbHRzYWx0c2FsdA$" HASH32 ":\n",
         "the salt is not canonical base64"},
        /* Stray bits in the last character, bad padding. */
        {"a:$pbkdf2-sha256$i=1000$c2FsdHNhbHRzYWx0c2FsdB$" HASH32 ":\n",
         "the salt is not canonical base64"},
        {"a:$pbkdf2-sha256$i=1000$c2FsdHNhbHRzYWx0c2FsdA=$" HASH32 ":\n",
         "the salt is not canonical base64"},
        {"a:$pbkdf2-sha256$i=1000$c2FsdHNhbHRzYWx0c2FsdA===$" HASH32 ":\n",
         "the salt is not canonical base64"},
        {"a:$pbkdf2-sha256$i=1000$" SALT16
         "$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2h:\n",
         "the hash is not canonical base64"},
        {"a:cert:ops,\n", "line 1: user a: empty group after ','"},
        {"a:cert:,ops\n", "line 1: user a: bad group \"\""},
        {"a:cert:ops,,x\n", "bad group \"\""},
        {"a:cert:o p\n", "line 1: user a: bad group \"o p\""},
        {"a:cert:ops#x\n", "bad group \"ops#x\""},
        {"a:cert:\nb:cert:\x01\n", "line 2: user b: bad group \"?\""},
        {"a:cert:\n\nb:cert:\0\n", "line 3: NUL byte"},
    };
    char err[256];

    for (size_t i = 0; i < VSPC_ARRAY_LEN(cases); i++) {
        /* The NUL case: its length goes up to its final newline. */
        size_t len = strlen(cases[i].text);
        struct usr_db *db;

        if (strstr(cases[i].want, "NUL"))
            len += 2;
        db = usr_db_parse(cases[i].text, len, err, sizeof(err));
        ck_assert_msg(db == NULL, "case %zu parsed", i);
        ck_assert_msg(strncmp(err, "users file line ", 16) == 0 &&
                          strstr(err, cases[i].want) != NULL,
                      "case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
    }
    /* A tiny err buffer is cut, never overrun; errcap 0 is allowed. */
    ck_assert_ptr_null(usr_db_parse("x\n", 2, err, 5));
    ck_assert_str_eq(err, "user");
    ck_assert_ptr_null(usr_db_parse("x\n", 2, NULL, 0));
}
END_TEST

/* The bounds themselves are accepted. */
START_TEST(test_bounds_ok)
{
    static const char *const ok[] = {
        "a:$scrypt$ln=10,r=1,p=16$" SALT16 "$" HASH32 ":\n",
        "a:$scrypt$ln=20,r=2,p=1$" SALT16 "$" HASH32 ":\n", /* 256 MiB */
        "a:$scrypt$ln=15,r=32,p=1$" SALT16 "$" HASH32 ":\n",
        "a:$pbkdf2-sha256$i=10000000$" SALT16 "$" HASH32 ":\n",
        /* 8-byte salt, 16-byte hash; 64 and 64; padded forms. */
        "a:$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA:\n",
        "a:$pbkdf2-sha256$i=1000$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==:\n",
        "a:$pbkdf2-sha256$i=1000$"
        "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
        "QUFBQUFBQUFBQUFBQUFBQUFBQQ$" HASH32 ":\n",
    };
    char err[256], line[8192], *p;
    struct usr_db *db;

    for (size_t i = 0; i < VSPC_ARRAY_LEN(ok); i++) {
        db = parse(ok[i], err, sizeof(err));
        ck_assert_msg(db != NULL, "case %zu: %s", i, err);
        usr_db_free(&db);
    }
    /* A 64-byte name and 32 groups of 64 bytes; one more of each fails. */
    p = line;
    memset(p, 'n', 64);
    p += 64;
    p += sprintf(p, ":cert:");
    for (int g = 0; g < 32; g++) {
        memset(p, 'a' + (g % 26), 64);
        p += 64;
        *p++ = g < 31 ? ',' : '\n';
    }
    *p = '\0';
    db = parse(line, err, sizeof(err));
    ck_assert_msg(db != NULL, "%s", err);
    ck_assert(usr_in_group(usr_db_at(db, 0),
                           "ffffffffffffffffffffffffffffffff"
                           "ffffffffffffffffffffffffffffffff"));
    usr_db_free(&db);
    p[-1] = ',';
    strcpy(p, "z\n");
    ck_assert_ptr_null(parse(line, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "line 1: user "));
    ck_assert_ptr_nonnull(strstr(err, "more than 32 groups"));
    memset(line, 'n', 65);
    strcpy(line + 65, ":cert:\n");
    ck_assert_ptr_null(parse(line, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "line 1: bad user name"));
    strcpy(line, "a:cert:");
    memset(line + 7, 'g', 65);
    strcpy(line + 72, "\n");
    ck_assert_ptr_null(parse(line, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "bad group"));
}
END_TEST

/* Lines up to 4096 bytes (without CR LF), then an error. */
START_TEST(test_line_length)
{
    char *text = malloc(8192), err[256];
    struct usr_db *db;

    ck_assert_ptr_nonnull(text);
    memcpy(text, "# x\na:cert:", 11);
    memset(text + 11, ' ', 4096 - 7);
    memcpy(text + 4 + 4096, "\r\n", 2);
    db = usr_db_parse(text, 4 + 4096 + 2, err, sizeof(err));
    ck_assert_msg(db != NULL, "%s", err);
    usr_db_free(&db);
    text[4 + 4096] = ' ';
    text[4 + 4096 + 1] = '\n';
    db = usr_db_parse(text, 4 + 4096 + 2, err, sizeof(err));
    ck_assert_ptr_null(db);
    ck_assert_str_eq(err, "users file line 2: line longer than 4096 bytes");
    free(text);
}
END_TEST

/* 100000 users parse; one more is refused at its line. */
START_TEST(test_max_users)
{
    size_t cap = (USR_USERS_MAX + 1) * 16, n = 0;
    char *text = malloc(cap), err[256];
    struct usr_db *db;

    ck_assert_ptr_nonnull(text);
    for (int i = 0; i < USR_USERS_MAX; i++)
        n += (size_t)sprintf(text + n, "u%d:cert:\n", i);
    db = usr_db_parse(text, n, err, sizeof(err));
    ck_assert_msg(db != NULL, "%s", err);
    ck_assert_uint_eq(usr_db_count(db), USR_USERS_MAX);
    ck_assert_ptr_nonnull(usr_find(db, "u99999"));
    ck_assert_ptr_nonnull(usr_find(db, "u0"));
    ck_assert_ptr_null(usr_find(db, "u100000"));
    usr_db_free(&db);
    n += (size_t)sprintf(text + n, "u%d:cert:\n", USR_USERS_MAX);
    ck_assert_ptr_null(usr_db_parse(text, n, err, sizeof(err)));
    ck_assert_str_eq(err, "users file line 100001: more than 100000 users");
    free(text);
}
END_TEST

/* usr_hash_new, parsed back, verifies the password and nothing else. */
static void
round_trip(const char *scheme, unsigned cost, const char *prefix)
{
    char hash[USR_HASH_STR_MAX], hash2[USR_HASH_STR_MAX], err[256];
    char line[USR_HASH_STR_MAX + 32], back[USR_HASH_STR_MAX];
    static const char pw[] = "s3cret pass\xc3\xa9";
    struct usr_db *db;
    struct usr_cred c, bad;

    ck_assert_msg(usr_hash_new(pw, strlen(pw), scheme, cost, hash, sizeof(hash),
                               err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_msg(strncmp(hash, prefix, strlen(prefix)) == 0, "%s", hash);
    ck_assert_int_eq(usr_hash_new(pw, strlen(pw), scheme, cost, hash2,
                                  sizeof(hash2), err, sizeof(err)),
                     0);
    ck_assert_str_ne(hash, hash2); /* a fresh salt each time */
    snprintf(line, sizeof(line), "u:%s:g\n", hash);
    db = parse(line, err, sizeof(err));
    ck_assert_msg(db != NULL, "%s: %s", line, err);
    ck_assert_int_eq(usr_cred_get(usr_find(db, "u"), &c), 0);
    ck_assert_uint_eq(c.salt_len, 16);
    ck_assert_uint_eq(c.hash_len, 32);
    ck_assert_int_eq(usr_cred_str(&c, back, sizeof(back)), 0);
    ck_assert_str_eq(back, hash);
    ck_assert_int_eq(usr_cred_str(&c, back, strlen(hash)), -1);
    usr_db_free(&db); /* the copy outlives the db */
    ck_assert_int_eq(usr_cred_verify(&c, pw, strlen(pw), err, sizeof(err)), 1);
    ck_assert_int_eq(usr_cred_verify(&c, pw, strlen(pw) - 1, err, sizeof(err)),
                     0);
    ck_assert_int_eq(usr_cred_verify(&c, "S3cret pass\xc3\xa9", strlen(pw), err,
                                     sizeof(err)),
                     0);
    bad = c;
    bad.hash[31] ^= 0x01;
    ck_assert_int_eq(usr_cred_verify(&bad, pw, strlen(pw), err, sizeof(err)),
                     0);
    bad = c;
    bad.salt[0] ^= 0x80;
    ck_assert_int_eq(usr_cred_verify(&bad, pw, strlen(pw), err, sizeof(err)),
                     0);
    bad = c;
    bad.hash_len = 65; /* out of bounds: refused, not read past */
    ck_assert_int_eq(usr_cred_verify(&bad, pw, strlen(pw), err, sizeof(err)),
                     -1);
    ck_assert_str_eq(err, "credentials out of bounds");
}

START_TEST(test_round_trip_scrypt)
{
    round_trip("scrypt", 10, "$scrypt$ln=10,r=8,p=1$");
    round_trip(NULL, 11, "$scrypt$ln=11,r=8,p=1$");
}
END_TEST

START_TEST(test_round_trip_pbkdf2)
{
    round_trip("pbkdf2-sha256", 1000, "$pbkdf2-sha256$i=1000$");
}
END_TEST

/* A password over USR_PASSWORD_MAX never matches, even if its start does. */
START_TEST(test_long_password)
{
    char *pw = malloc(USR_PASSWORD_MAX + 1), hash[USR_HASH_STR_MAX];
    char err[256], line[USR_HASH_STR_MAX + 8];
    struct usr_db *db;
    struct usr_cred c;

    ck_assert_ptr_nonnull(pw);
    memset(pw, 'p', USR_PASSWORD_MAX + 1);
    ck_assert_int_eq(usr_hash_new(pw, USR_PASSWORD_MAX, "pbkdf2-sha256", 1000,
                                  hash, sizeof(hash), err, sizeof(err)),
                     0);
    snprintf(line, sizeof(line), "u:%s:", hash);
    db = parse(line, err, sizeof(err));
    ck_assert_ptr_nonnull(db);
    usr_cred_get(usr_find(db, "u"), &c);
    usr_db_free(&db);
    ck_assert_int_eq(
        usr_cred_verify(&c, pw, USR_PASSWORD_MAX, err, sizeof(err)), 1);
    ck_assert_int_eq(
        usr_cred_verify(&c, pw, USR_PASSWORD_MAX + 1, err, sizeof(err)), 0);
    ck_assert_int_eq(usr_hash_new(pw, USR_PASSWORD_MAX + 1, "scrypt", 10, hash,
                                  sizeof(hash), err, sizeof(err)),
                     -1);
    ck_assert_str_eq(err, "password longer than 1024 bytes");
    free(pw);
}
END_TEST

START_TEST(test_hash_new_errors)
{
    char hash[USR_HASH_STR_MAX], err[256];

    ck_assert_int_eq(
        usr_hash_new("", 0, "scrypt", 10, hash, sizeof(hash), err, sizeof(err)),
        -1);
    ck_assert_str_eq(err, "empty password");
    ck_assert_int_eq(
        usr_hash_new("pw", 2, "md5", 0, hash, sizeof(hash), err, sizeof(err)),
        -1);
    ck_assert_ptr_nonnull(strstr(err, "unknown scheme \"md5\""));
    ck_assert_int_eq(usr_hash_new("pw", 2, "scrypt", 9, hash, sizeof(hash), err,
                                  sizeof(err)),
                     -1);
    ck_assert_str_eq(err, "scrypt cost (ln) must be 10..20");
    ck_assert_int_eq(usr_hash_new("pw", 2, "scrypt", 21, hash, sizeof(hash),
                                  err, sizeof(err)),
                     -1);
    ck_assert_int_eq(usr_hash_new("pw", 2, "pbkdf2-sha256", 999, hash,
                                  sizeof(hash), err, sizeof(err)),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, "1000..10000000"));
    ck_assert_int_eq(
        usr_hash_new("pw", 2, "scrypt", 10, hash, 20, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "no room"));
}
END_TEST

/* The dummy costs about what a default scrypt verify does, and says
 * nothing. A default-cost hash: usr_hash_new with cost 0. */
START_TEST(test_dummy_and_default)
{
    char hash[USR_HASH_STR_MAX], err[256];

    usr_verify_dummy("whatever", 8);
    usr_verify_dummy(NULL, 0);
    ck_assert_int_eq(usr_hash_new("pw", 2, "scrypt", 0, hash, sizeof(hash), err,
                                  sizeof(err)),
                     0);
    ck_assert_msg(strncmp(hash, "$scrypt$ln=15,r=8,p=1$", 22) == 0, "%s", hash);
}
END_TEST

static char tmp_path[64];

static void
write_tmp(const char *text, mode_t mode)
{
    int fd;

    snprintf(tmp_path, sizeof(tmp_path), "/tmp/vspc-test-users-XXXXXX");
    fd = mkstemp(tmp_path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    ck_assert_int_eq(chmod(tmp_path, mode), 0);
}

START_TEST(test_load)
{
    char err[512];
    struct usr_db *db;

    write_tmp(good_file, 0600);
    db = usr_db_load(tmp_path, err, sizeof(err));
    ck_assert_msg(db != NULL, "%s", err);
    ck_assert_uint_eq(usr_db_count(db), 5);
    usr_db_free(&db);
    /* Group-readable is fine; others may not read nor write. */
    ck_assert_int_eq(chmod(tmp_path, 0640), 0);
    db = usr_db_load(tmp_path, err, sizeof(err));
    ck_assert_ptr_nonnull(db);
    usr_db_free(&db);
    ck_assert_int_eq(chmod(tmp_path, 0644), 0);
    ck_assert_ptr_null(usr_db_load(tmp_path, err, sizeof(err)));
    ck_assert_msg(strncmp(err, tmp_path, strlen(tmp_path)) == 0 &&
                      strstr(err, "mode 0644 lets other users read it") &&
                      strstr(err, "chmod o-rw"),
                  "%s", err);
    ck_assert_int_eq(chmod(tmp_path, 0602), 0);
    ck_assert_ptr_null(usr_db_load(tmp_path, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "mode 0602 lets other users write it"));
    unlink(tmp_path);
    /* A parse error names the file. */
    write_tmp("a:cert:\nb:nope:\n", 0600);
    ck_assert_ptr_null(usr_db_load(tmp_path, err, sizeof(err)));
    ck_assert_msg(strncmp(err, tmp_path, strlen(tmp_path)) == 0 &&
                      strstr(err, ": users file line 2: user b: unknown"),
                  "%s", err);
    unlink(tmp_path);
    ck_assert_ptr_null(usr_db_load(tmp_path, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "No such file"));
    ck_assert_ptr_null(usr_db_load("/tmp", err, sizeof(err)));
    ck_assert_str_eq(err, "/tmp: not a regular file");
}
END_TEST

START_TEST(test_name_ok)
{
    ck_assert(usr_name_ok("a"));
    ck_assert(usr_name_ok("A.b_c@d-e9"));
    ck_assert(!usr_name_ok(""));
    ck_assert(!usr_name_ok(NULL));
    ck_assert(!usr_name_ok("a b"));
    ck_assert(!usr_name_ok("a:b"));
    ck_assert(!usr_name_ok("\xc3\xa9"));
    ck_assert(usr_name_ok("0123456789012345678901234567890123456789"
                          "012345678901234567890123"));
    ck_assert(!usr_name_ok("0123456789012345678901234567890123456789"
                           "0123456789012345678901234"));
}
END_TEST

static Suite *
users_suite(void)
{
    Suite *s = suite_create("users");
    TCase *tc = tcase_create("parse");

    tcase_add_test(tc, test_good_file);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_bounds_ok);
    tcase_add_test(tc, test_line_length);
    tcase_add_test(tc, test_max_users);
    tcase_add_test(tc, test_name_ok);
    tcase_add_test(tc, test_load);
    suite_add_tcase(s, tc);
    tc = tcase_create("hash");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_known_answers);
    tcase_add_test(tc, test_round_trip_scrypt);
    tcase_add_test(tc, test_round_trip_pbkdf2);
    tcase_add_test(tc, test_long_password);
    tcase_add_test(tc, test_hash_new_errors);
    tcase_add_test(tc, test_dummy_and_default);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(users_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
