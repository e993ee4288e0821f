/*
 * fuzz_users.c: the users file parser (proxy/users.c) on hostile files.
 * No password is ever hashed here (too slow): parse, lookups and
 * usr_cred_get only. Oracles: an error says "users file ..."; every user
 * is found by its own name, in strictly increasing name order, with
 * credentials inside the parser's bounds and kinds that agree with
 * usr_password_ok_kind/usr_cert_ok; the db written back as a file parses
 * to the same db; the same text with CRLF line ends parses to the same db
 * or the same error.
 */
#include "fuzz.h"

#include <string.h>

#include "users.h"

#define FUZZ_USERS_MAX_INPUT 65536

/* db written back as a users file into l. */
static void
serialise(const struct usr_db *db, struct flog *l)
{
    char hash[USR_HASH_STR_MAX];

    for (size_t i = 0; i < usr_db_count(db); i++) {
        const struct usr_user *u = usr_db_at(db, i);
        struct usr_cred c;

        if (usr_cred_get(u, &c) != 0 ||
            usr_cred_str(&c, hash, sizeof(hash)) != 0)
            fuzz_fail("user %zu: no credentials to write back", i);
        flog_add(l, usr_name(u), strlen(usr_name(u)));
        flog_add(l, ":", 1);
        flog_add(l, hash, strlen(hash));
        flog_add(l, ":", 1);
        flog_add(l, usr_groups(u), strlen(usr_groups(u)));
        flog_add(l, "\n", 1);
    }
}

static void
check_user(const struct usr_db *db, size_t i)
{
    const struct usr_user *u = usr_db_at(db, i), *prev;
    const char *g = usr_groups(u);
    struct usr_cred c;
    bool pw;

    if (u == NULL || usr_find(db, usr_name(u)) != u)
        fuzz_fail("user %zu is not found by its name", i);
    if (!usr_name_ok(usr_name(u)))
        fuzz_fail("user %zu has a bad name", i);
    prev = i ? usr_db_at(db, i - 1) : NULL;
    if (prev && strcmp(usr_name(prev), usr_name(u)) >= 0)
        fuzz_fail("users %zu and %zu out of order or duplicate", i - 1, i);
    if (usr_cred_get(u, &c) != 0)
        fuzz_fail("usr_cred_get failed");
    pw = c.kind == USR_SCRYPT || c.kind == USR_PBKDF2;
    if (pw != usr_password_ok_kind(u) ||
        (c.kind != USR_DISABLED) != usr_cert_ok(u))
        fuzz_fail("user %s: kind %d disagrees", usr_name(u), (int)c.kind);
    if (pw && (c.salt_len < USR_SALT_MIN || c.salt_len > USR_SALT_MAX ||
               c.hash_len < USR_HASH_MIN || c.hash_len > USR_HASH_MAX))
        fuzz_fail("user %s: salt or hash length out of bounds", usr_name(u));
    if (c.kind == USR_SCRYPT &&
        (c.ln < 10 || c.ln > 20 || c.r < 1 || c.r > 32 || c.p < 1 || c.p > 16 ||
         ((uint64_t)1 << c.ln) * c.r * 128 > (256u << 20)))
        fuzz_fail("user %s: scrypt cost out of bounds", usr_name(u));
    if (c.kind == USR_PBKDF2 && (c.iter < 1000 || c.iter > 10000000))
        fuzz_fail("user %s: pbkdf2 cost out of bounds", usr_name(u));
    /* Every group listed is a group of the user. */
    while (*g) {
        char name[USR_NAME_MAX + 1];
        size_t n = strcspn(g, ",");

        if (n == 0 || n > USR_NAME_MAX)
            fuzz_fail("user %s: bad group list \"%s\"", usr_name(u),
                      usr_groups(u));
        memcpy(name, g, n);
        name[n] = '\0';
        if (!usr_in_group(u, name))
            fuzz_fail("user %s: not in its group %s", usr_name(u), name);
        g += n + (g[n] == ',');
    }
}

/* Parses text; the result written back into l, or the error. */
static struct usr_db *
parse_into(const char *text, size_t n, struct flog *l)
{
    char err[256];
    struct usr_db *db = usr_db_parse(text, n, err, sizeof(err));

    if (db == NULL) {
        if (strnlen(err, sizeof(err)) == sizeof(err) ||
            strncmp(err, "users file", 10) != 0)
            fuzz_fail("bad error message \"%.256s\"", err);
        flog_add(l, "E", 1);
        flog_add(l, err, strlen(err));
    } else
        serialise(db, l);
    return db;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct flog a = {0}, b = {0}, c = {0};
    struct usr_db *db, *db2;
    static const char *const probes[] = {"",     "alice", "anonymous",
                                         "cert", "a:b",   "x y"};

    if (size > FUZZ_USERS_MAX_INPUT)
        return 0;
    db = parse_into((const char *)data, size, &a);
    for (size_t i = 0; i < VSPC_ARRAY_LEN(probes); i++) {
        const struct usr_user *u = usr_find(db, probes[i]);

        if (u && strcmp(usr_name(u), probes[i]) != 0)
            fuzz_fail("usr_find(%s) found %s", probes[i], usr_name(u));
    }
    for (size_t i = 0; i < usr_db_count(db); i++)
        check_user(db, i);
    if (db) {
        /* Written back, it parses to itself. */
        db2 = parse_into((const char *)a.p, a.n, &b);
        if (db2 == NULL || !flog_eq(&a, &b))
            fuzz_fail("the db written back does not parse to itself");
        usr_db_free(&db2);
    }
    /* CRLF line ends: the same db or error (inputs without CR only). */
    if (size == 0 || memchr(data, '\r', size) == NULL) {
        struct flog crlf = {0};

        for (size_t i = 0; i < size; i++) {
            if (data[i] == '\n')
                flog_add(&crlf, "\r", 1);
            flog_add(&crlf, &data[i], 1);
        }
        db2 = parse_into((const char *)crlf.p, crlf.n, &c);
        if (!flog_eq(&a, &c))
            fuzz_fail("CRLF line ends change the result");
        usr_db_free(&db2);
        free(crlf.p);
    }
    usr_db_free(&db);
    free(a.p);
    free(b.p);
    free(c.p);
    return 0;
}
