/*
 * users.h: usr_, the operators' users file (`--users FILE`) parsed, and
 * password hashes made and checked. Pure code: no libevent, no sockets;
 * OpenSSL for the key derivation (tests/fuzz/fuzz_users.c feeds the
 * parser hostile files).
 *
 *   # name:password-hash:groups
 *   alice:$scrypt$ln=15,r=8,p=1$<salt base64>$<hash base64>:ops,admins
 *   bob:$pbkdf2-sha256$i=600000$<salt base64>$<hash base64>:helpdesk
 *   carol:cert:ops          certificate login only (subject CN = name)
 *   dave:!:                 disabled: no login at all
 *
 * Names and groups: 1..64 of [A-Za-z0-9._@-]; "anonymous" is reserved (the
 * ACL's word for an operator who did not log in). Up to 32 groups a user.
 * A `#` at the start of a line or after a blank starts a comment; blank
 * lines are skipped; CRLF line ends are accepted. Base64 is the standard
 * alphabet, with or without padding, and must be canonical.
 *
 * Ownership: usr_db_parse/usr_db_load return a db the caller frees with
 * usr_db_free; the users and strings it hands out live as long as the db.
 * A struct usr_cred is a plain value with no pointers: copy it out of the
 * db for a worker thread, so that a reload may free the db meanwhile.
 *
 * Threads: a db is read-only once built; usr_cred_verify, usr_verify and
 * usr_verify_dummy are slow on purpose (tens of milliseconds) and belong
 * on a worker thread, never on the event loop.
 */
#ifndef VSPC_USERS_H
#define VSPC_USERS_H

#include "vspc/compat.h"

#define USR_NAME_MAX 64      /* bytes in a user or group name */
#define USR_GROUPS_MAX 32    /* groups a user */
#define USR_USERS_MAX 100000 /* users a file */
#define USR_LINE_MAX 4096    /* bytes a line, without its line end */
#define USR_FILE_MAX (64u << 20)
#define USR_PASSWORD_MAX 1024 /* longer passwords never match */
#define USR_SALT_MIN 8
#define USR_SALT_MAX 64
#define USR_HASH_MIN 16
#define USR_HASH_MAX 64
#define USR_HASH_STR_MAX 320 /* the longest hash string, with its NUL */

struct usr_db;
struct usr_user;

enum usr_kind {
    USR_DISABLED = 0, /* `!`: no login at all */
    USR_CERT,         /* `cert`: client certificate only */
    USR_SCRYPT,       /* $scrypt$ln=L,r=R,p=P$salt$hash */
    USR_PBKDF2,       /* $pbkdf2-sha256$i=I$salt$hash */
};

/* What checking a password takes, by value (no pointers). */
struct usr_cred {
    enum usr_kind kind;
    unsigned ln, r, p; /* scrypt: N = 2^ln */
    unsigned iter;     /* pbkdf2 */
    size_t salt_len, hash_len;
    uint8_t salt[USR_SALT_MAX];
    uint8_t hash[USR_HASH_MAX];
};

/*
 * Parse text (len bytes; need not be NUL-terminated; a NUL is an error).
 * Returns a new db, or NULL with "users file line N: reason" (or "users
 * file: reason" for out of memory) in err.
 */
struct usr_db *usr_db_parse(const char *text, size_t len, char *err,
                            size_t errcap);

/*
 * Read path and parse it (startup and reload only: this blocks). Refuses
 * a file that is not regular, larger than USR_FILE_MAX, or readable or
 * writable by others (mode & 0006, like ssh with its keys). err starts
 * with path. Returns a new db or NULL.
 */
struct usr_db *usr_db_load(const char *path, char *err, size_t errcap);

/* Frees *db (NULL is fine) and sets it to NULL. */
void usr_db_free(struct usr_db **db);

size_t usr_db_count(const struct usr_db *db);
/* The i-th user in name order (i < usr_db_count), else NULL. */
const struct usr_user *usr_db_at(const struct usr_db *db, size_t i);
/* The user called name, or NULL (also for db or name NULL). */
const struct usr_user *usr_find(const struct usr_db *db, const char *name);

const char *usr_name(const struct usr_user *u);
/* The groups as written, comma-separated ("" for none). */
const char *usr_groups(const struct usr_user *u);
bool usr_in_group(const struct usr_user *u, const char *group);
/* The user has a password hash (may log in with a password). */
bool usr_password_ok_kind(const struct usr_user *u);
/* The user may log in with a certificate: `cert` or a password hash. */
bool usr_cert_ok(const struct usr_user *u);
/* 1..64 bytes of [A-Za-z0-9._@-] (a user or group name, a subject CN). */
bool usr_name_ok(const char *s);

/* Copies u's credentials into *out. 0, or -1 if u is NULL. */
int usr_cred_get(const struct usr_user *u, struct usr_cred *out);

/*
 * Checks password against c in constant time (CRYPTO_memcmp). Slow on
 * purpose; thread-safe. Returns 1 ok, 0 wrong (also for `cert`, `!` and
 * passwords longer than USR_PASSWORD_MAX), -1 if OpenSSL failed (reason
 * in err).
 */
int usr_cred_verify(const struct usr_cred *c, const char *password,
                    size_t pwlen, char *err, size_t errcap);
/* usr_cred_verify on u's credentials (u must stay alive meanwhile). */
int usr_verify(const struct usr_user *u, const char *password, size_t pwlen,
               char *err, size_t errcap);
/*
 * Burns the time of a default scrypt verify (ln=15, r=8, p=1) and returns
 * nothing: for unknown users, so that they are not told apart by timing.
 */
void usr_verify_dummy(const char *password, size_t pwlen);

/*
 * Writes c as its users-file hash field ("$scrypt$...", "cert", "!") into
 * out. Returns 0, or -1 if cap is too small (USR_HASH_STR_MAX is enough).
 */
int usr_cred_str(const struct usr_cred *c, char *out, size_t cap);

/*
 * A new hash field for password with a random salt (RAND_bytes): scheme
 * "scrypt" (cost = ln, 10..20, default 15; r=8, p=1) or "pbkdf2-sha256"
 * (cost = iterations, 1000..10000000, default 600000); cost 0 = default.
 * Refuses an empty password or one longer than USR_PASSWORD_MAX. Returns
 * 0, or -1 with a reason in err.
 */
int usr_hash_new(const char *password, size_t pwlen, const char *scheme,
                 unsigned cost, char *out, size_t cap, char *err,
                 size_t errcap);

#endif /* VSPC_USERS_H */
