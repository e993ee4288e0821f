/*
 * users.c: the operators' users file and password hashes (users.h).
 *
 * The file is read once into an array of users sorted by name (bsearch
 * for lookups). Every field is checked against fixed bounds before it is
 * stored, so that a cost parameter can never ask OpenSSL for more memory
 * or time than the bounds below allow.
 */
#include "vspc/compat.h"
#include "users.h"

#include "textfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* Cost bounds (also for usr_hash_new). */
#define USR_SCRYPT_LN_MIN 10
#define USR_SCRYPT_LN_MAX 20
#define USR_SCRYPT_R_MAX 32
#define USR_SCRYPT_P_MAX 16
#define USR_SCRYPT_MEM_MAX (256ull << 20) /* N * r * 128 */
#define USR_PBKDF2_ITER_MIN 1000
#define USR_PBKDF2_ITER_MAX 10000000
/* What usr_hash_new makes. */
#define USR_SCRYPT_LN_DEFAULT 15
#define USR_PBKDF2_ITER_DEFAULT 600000
#define USR_NEW_SALT 16
#define USR_NEW_HASH 32

struct usr_user {
    char name[USR_NAME_MAX + 1];
    char *groups; /* owned; comma-separated, "" for none */
    unsigned line;
    struct usr_cred cred;
};

struct usr_db {
    struct usr_user *users; /* sorted by name, then line */
    size_t n, cap;
};

/* ---- small helpers --------------------------------------------------------
 */

static bool
name_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '@' ||
           ch == '-';
}

/* n bytes at s are a name. */
static bool
name_ok_n(const char *s, size_t n)
{
    if (n == 0 || n > USR_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char((unsigned char)s[i]))
            return false;
    return true;
}

bool
usr_name_ok(const char *s)
{
    return s && name_ok_n(s, strnlen(s, USR_NAME_MAX + 1));
}

/* The OpenSSL error queue's first reason into err (and the queue cleared). */
static void
ssl_fail(char *err, size_t errcap, const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();

    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    else
        snprintf(buf, sizeof(buf), "no reason given");
    ERR_clear_error();
    if (errcap)
        snprintf(err, errcap, "%s failed: %s", what, buf);
}

/* ---- base64 (standard alphabet, canonical, padding optional) -------------
 */

static const char b64_abc[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_val(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/*
 * Decodes n bytes at s into out (at most cap bytes). Returns the decoded
 * length; -1 for bad base64 (alphabet, padding, stray bits); -2 if it
 * would not fit in cap.
 */
static long
b64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    size_t pad = 0, len, k = 0;
    uint32_t acc = 0;
    unsigned bits = 0;

    while (n > 0 && s[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }
    if (n % 4 == 1 || (pad && pad != 4 - n % 4))
        return -1;
    len = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
    if (len > cap)
        return -2;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val((unsigned char)s[i]);

        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* not canonical: bits left over must be zero */
        return -1;
    return (long)k;
}

/* Encodes n bytes, no padding. out needs 4 * ceil(n / 3) + 1 bytes. */
static void
b64_encode(const uint8_t *p, size_t n, char *out)
{
    size_t i, k = 0;

    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

        out[k++] = b64_abc[v >> 18];
        out[k++] = b64_abc[(v >> 12) & 63];
        out[k++] = b64_abc[(v >> 6) & 63];
        out[k++] = b64_abc[v & 63];
    }
    if (n - i == 1) {
        out[k++] = b64_abc[p[i] >> 2];
        out[k++] = b64_abc[(p[i] & 3) << 4];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];

        out[k++] = b64_abc[v >> 10];
        out[k++] = b64_abc[(v >> 4) & 63];
        out[k++] = b64_abc[(v & 15) << 2];
    }
    out[k] = '\0';
}

/* ---- the hash field -------------------------------------------------------
 */

/* "key=<decimal>" at *p, value in [lo, hi]; *p moves past it. */
static bool
param(const char **p, const char *key, unsigned lo, unsigned hi, unsigned *out)
{
    size_t kl = strlen(key);
    const char *s = *p;
    uint64_t v = 0;

    if (strncmp(s, key, kl) != 0 || s[kl] != '=')
        return false;
    s += kl + 1;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (uint64_t)(*s++ - '0');
        if (v > hi)
            return false;
    }
    if (v < lo)
        return false;
    *out = (unsigned)v;
    *p = s;
    return true;
}

static bool
scrypt_cost_ok(unsigned ln, unsigned r, unsigned p)
{
    return ln >= USR_SCRYPT_LN_MIN && ln <= USR_SCRYPT_LN_MAX && r >= 1 &&
           r <= USR_SCRYPT_R_MAX && p >= 1 && p <= USR_SCRYPT_P_MAX &&
           ((uint64_t)1 << ln) * r * 128 <= USR_SCRYPT_MEM_MAX;
}

/* "salt$hash" at s (NUL-terminated) into c. NULL, or what is wrong. */
static const char *
salt_hash(const char *s, struct usr_cred *c)
{
    const char *d = strchr(s, '$');
    long n;

    if (d == NULL || strchr(d + 1, '$'))
        return "expected ...$SALT$HASH after the parameters";
    n = b64_decode(s, (size_t)(d - s), c->salt, sizeof(c->salt));
    if (n == -1)
        return "the salt is not canonical base64";
    if (n < USR_SALT_MIN)
        return "the salt must be 8..64 bytes";
    c->salt_len = (size_t)n;
    n = b64_decode(d + 1, strlen(d + 1), c->hash, sizeof(c->hash));
    if (n == -1)
        return "the hash is not canonical base64";
    if (n < USR_HASH_MIN)
        return "the hash must be 16..64 bytes";
    c->hash_len = (size_t)n;
    return NULL;
}

/* The hash field s (NUL-terminated) into c. NULL, or what is wrong. */
static const char *
parse_hash(const char *s, struct usr_cred *c)
{
    const char *p;

    memset(c, 0, sizeof(*c));
    if (strcmp(s, "cert") == 0) {
        c->kind = USR_CERT;
        return NULL;
    }
    if (strcmp(s, "!") == 0) {
        c->kind = USR_DISABLED;
        return NULL;
    }
    if (strncmp(s, "$scrypt$", 8) == 0) {
        p = s + 8;
        c->kind = USR_SCRYPT;
        if (!param(&p, "ln", USR_SCRYPT_LN_MIN, USR_SCRYPT_LN_MAX, &c->ln) ||
            *p++ != ',' || !param(&p, "r", 1, USR_SCRYPT_R_MAX, &c->r) ||
            *p++ != ',' || !param(&p, "p", 1, USR_SCRYPT_P_MAX, &c->p) ||
            *p++ != '$')
            return "scrypt wants ln=10..20,r=1..32,p=1..16";
        if (!scrypt_cost_ok(c->ln, c->r, c->p))
            return "scrypt memory 2^ln * r * 128 over 256 MiB";
        return salt_hash(p, c);
    }
    if (strncmp(s, "$pbkdf2-sha256$", 15) == 0) {
        p = s + 15;
        c->kind = USR_PBKDF2;
        if (!param(&p, "i", USR_PBKDF2_ITER_MIN, USR_PBKDF2_ITER_MAX,
                   &c->iter) ||
            *p++ != '$')
            return "pbkdf2-sha256 wants i=1000..10000000";
        return salt_hash(p, c);
    }
    return "unknown password hash (use $scrypt$..., $pbkdf2-sha256$..., "
           "cert or !)";
}

int
usr_cred_str(const struct usr_cred *c, char *out, size_t cap)
{
    char salt[4 * (USR_SALT_MAX + 2) / 3 + 1];
    char hash[4 * (USR_HASH_MAX + 2) / 3 + 1];
    int n;

    if (c == NULL || c->salt_len > USR_SALT_MAX || c->hash_len > USR_HASH_MAX)
        return -1;
    b64_encode(c->salt, c->salt_len, salt);
    b64_encode(c->hash, c->hash_len, hash);
    switch (c->kind) {
    case USR_CERT:
        n = snprintf(out, cap, "cert");
        break;
    case USR_SCRYPT:
        n = snprintf(out, cap, "$scrypt$ln=%u,r=%u,p=%u$%s$%s", c->ln, c->r,
                     c->p, salt, hash);
        break;
    case USR_PBKDF2:
        n = snprintf(out, cap, "$pbkdf2-sha256$i=%u$%s$%s", c->iter, salt,
                     hash);
        break;
    default:
        n = snprintf(out, cap, "!");
        break;
    }
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* ---- the file -------------------------------------------------------------
 */

/* One line (NUL-terminated, comment cut, trimmed, not empty) into u. */
static int
parse_line(char *s, unsigned line, struct usr_user *u, char *err, size_t errcap)
{
    char *c1 = strchr(s, ':'), *c2, *g, *hash;
    const char *why;
    char q[48];
    size_t ng = 0;

    c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c2 == NULL) {
        tf_fail_line(err, errcap, "users file", line,
                     "expected NAME:HASH:GROUPS");
        return -1;
    }
    if (strchr(c2 + 1, ':')) {
        tf_fail_line(err, errcap, "users file", line,
                     "too many ':' (expected NAME:HASH:GROUPS)");
        return -1;
    }
    *c1 = *c2 = '\0';
    if (!name_ok_n(s, strlen(s))) {
        tf_fail_line(err, errcap, "users file", line,
                     "bad user name \"%s\" (1..64 of A-Za-z0-9._@-)",
                     tf_shown(s, strlen(s), q, sizeof(q)));
        return -1;
    }
    if (strcmp(s, "anonymous") == 0) {
        tf_fail_line(err, errcap, "users file", line,
                     "the user name \"anonymous\" is reserved (the ACL's "
                     "unauthenticated operator)");
        return -1;
    }
    hash = c1 + 1;
    if ((why = parse_hash(hash, &u->cred)) != NULL) {
        tf_fail_line(err, errcap, "users file", line, "user %s: %s", s, why);
        return -1;
    }
    for (g = c2 + 1; *g;) {
        size_t gl = strcspn(g, ",");

        if (!name_ok_n(g, gl)) {
            tf_fail_line(err, errcap, "users file", line,
                         "user %s: bad group \"%s\" (1..64 of A-Za-z0-9._@-, "
                         "comma-separated)",
                         s, tf_shown(g, gl, q, sizeof(q)));
            return -1;
        }
        if (++ng > USR_GROUPS_MAX) {
            tf_fail_line(err, errcap, "users file", line,
                         "user %s: more than %d groups", s, USR_GROUPS_MAX);
            return -1;
        }
        g += gl;
        if (*g == ',' && *++g == '\0') {
            tf_fail_line(err, errcap, "users file", line,
                         "user %s: empty group after ','", s);
            return -1;
        }
    }
    memcpy(u->name, s, strlen(s) + 1);
    u->line = line;
    if ((u->groups = strdup(c2 + 1)) == NULL) {
        snprintf(err, errcap, "users file: out of memory");
        return -1;
    }
    return 0;
}

static int
user_cmp(const void *a, const void *b)
{
    const struct usr_user *x = a, *y = b;
    int d = strcmp(x->name, y->name);

    if (d)
        return d;
    return x->line < y->line ? -1 : x->line > y->line;
}

struct usr_db *
usr_db_parse(const char *text, size_t len, char *err, size_t errcap)
{
    struct usr_db *db = calloc(1, sizeof(*db));
    char buf[USR_LINE_MAX + 1];
    unsigned line = 0, dup_line = 0, dup_first = 0;
    size_t pos = 0;

    if (errcap)
        err[0] = '\0';
    if (db == NULL) {
        snprintf(err, errcap, "users file: out of memory");
        return NULL;
    }
    while (pos < len) {
        const char *p = text + pos, *nl = memchr(p, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - p) : len - pos;
        char *s;

        pos += l + (nl != NULL);
        line++;
        if (memchr(p, '\0', l)) {
            tf_fail_line(err, errcap, "users file", line, "NUL byte");
            goto fail;
        }
        if (l > 0 && p[l - 1] == '\r')
            l--;
        if (l > USR_LINE_MAX) {
            tf_fail_line(err, errcap, "users file", line,
                         "line longer than %d bytes", USR_LINE_MAX);
            goto fail;
        }
        memcpy(buf, p, l);
        buf[l] = '\0';
        s = tf_strip_line(buf);
        if (*s == '\0')
            continue;
        if (db->n == USR_USERS_MAX) {
            tf_fail_line(err, errcap, "users file", line, "more than %d users",
                         USR_USERS_MAX);
            goto fail;
        }
        if (db->n == db->cap) {
            size_t cap = db->cap ? db->cap * 2 : 16;
            struct usr_user *u = realloc(db->users, cap * sizeof(*u));

            if (u == NULL) {
                snprintf(err, errcap, "users file: out of memory");
                goto fail;
            }
            db->users = u;
            db->cap = cap;
        }
        memset(&db->users[db->n], 0, sizeof(db->users[0]));
        if (parse_line(s, line, &db->users[db->n], err, errcap) != 0)
            goto fail;
        db->n++;
    }
    if (db->n > 1)
        qsort(db->users, db->n, sizeof(db->users[0]), user_cmp);
    /* Duplicates: report the earliest line that repeats a name. */
    for (size_t i = 1; i < db->n; i++)
        if (strcmp(db->users[i - 1].name, db->users[i].name) == 0 &&
            (dup_line == 0 || db->users[i].line < dup_line)) {
            dup_line = db->users[i].line;
            dup_first = db->users[i - 1].line;
        }
    if (dup_line) {
        size_t i;

        for (i = 0; db->users[i].line != dup_line; i++)
            ;
        tf_fail_line(err, errcap, "users file", dup_line,
                     "duplicate user \"%s\" (also on line %u)",
                     db->users[i].name, dup_first);
        goto fail;
    }
    return db;
fail:
    usr_db_free(&db);
    return NULL;
}

void
usr_db_free(struct usr_db **db)
{
    if (db == NULL || *db == NULL)
        return;
    for (size_t i = 0; i < (*db)->n; i++) {
        free((*db)->users[i].groups);
        OPENSSL_cleanse(&(*db)->users[i].cred, sizeof((*db)->users[i].cred));
    }
    free((*db)->users);
    free(*db);
    *db = NULL;
}

struct usr_db *
usr_db_load(const char *path, char *err, size_t errcap)
{
    char *text, msg[512];
    size_t len;
    struct usr_db *db;

    if (tf_read_file(path, USR_FILE_MAX, 0006, &text, &len, err, errcap))
        return NULL;
    db = usr_db_parse(text, len, msg, sizeof(msg));
    OPENSSL_cleanse(text, len);
    free(text);
    if (db == NULL)
        snprintf(err, errcap, "%s: %s", path, msg);
    return db;
}

/* ---- lookups --------------------------------------------------------------
 */

size_t
usr_db_count(const struct usr_db *db)
{
    return db ? db->n : 0;
}

const struct usr_user *
usr_db_at(const struct usr_db *db, size_t i)
{
    return db && i < db->n ? &db->users[i] : NULL;
}

static int
find_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct usr_user *)elem)->name);
}

const struct usr_user *
usr_find(const struct usr_db *db, const char *name)
{
    if (db == NULL || db->n == 0 || !usr_name_ok(name))
        return NULL;
    return bsearch(name, db->users, db->n, sizeof(db->users[0]), find_cmp);
}

const char *
usr_name(const struct usr_user *u)
{
    return u ? u->name : "";
}

const char *
usr_groups(const struct usr_user *u)
{
    return u ? u->groups : "";
}

bool
usr_in_group(const struct usr_user *u, const char *group)
{
    size_t gl;

    if (u == NULL || group == NULL || (gl = strlen(group)) == 0)
        return false;
    for (const char *g = u->groups; *g;) {
        size_t l = strcspn(g, ",");

        if (l == gl && memcmp(g, group, l) == 0)
            return true;
        g += l;
        if (*g == ',')
            g++;
    }
    return false;
}

bool
usr_password_ok_kind(const struct usr_user *u)
{
    return u && (u->cred.kind == USR_SCRYPT || u->cred.kind == USR_PBKDF2);
}

bool
usr_cert_ok(const struct usr_user *u)
{
    return u && u->cred.kind != USR_DISABLED;
}

int
usr_cred_get(const struct usr_user *u, struct usr_cred *out)
{
    if (u == NULL)
        return -1;
    *out = u->cred;
    return 0;
}

/* ---- key derivation -------------------------------------------------------
 */

/* c's key for password into key (c->hash_len bytes). 0, or -1 with err. */
static int
derive(const struct usr_cred *c, const char *pw, size_t pwlen, uint8_t *key,
       char *err, size_t errcap)
{
    if (c->kind == USR_SCRYPT) {
        uint64_t n = (uint64_t)1 << c->ln;
        /* What OpenSSL's scrypt allocates: B (p * 128 r), V (128 r (N+2)). */
        uint64_t mem = 128ull * c->r * c->p + 128ull * c->r * (n + 2);

        if (EVP_PBE_scrypt(pw, pwlen, c->salt, c->salt_len, n, c->r, c->p, mem,
                           key, c->hash_len) != 1) {
            ssl_fail(err, errcap, "scrypt");
            return -1;
        }
        return 0;
    }
    if (PKCS5_PBKDF2_HMAC(pw, (int)pwlen, c->salt, (int)c->salt_len,
                          (int)c->iter, EVP_sha256(), (int)c->hash_len,
                          key) != 1) {
        ssl_fail(err, errcap, "PBKDF2");
        return -1;
    }
    return 0;
}

/* c is a password hash within the bounds the parser enforces. */
static bool
cred_sane(const struct usr_cred *c)
{
    if (c->salt_len < USR_SALT_MIN || c->salt_len > USR_SALT_MAX ||
        c->hash_len < USR_HASH_MIN || c->hash_len > USR_HASH_MAX)
        return false;
    if (c->kind == USR_SCRYPT)
        return scrypt_cost_ok(c->ln, c->r, c->p);
    return c->kind == USR_PBKDF2 && c->iter >= USR_PBKDF2_ITER_MIN &&
           c->iter <= USR_PBKDF2_ITER_MAX;
}

int
usr_cred_verify(const struct usr_cred *c, const char *password, size_t pwlen,
                char *err, size_t errcap)
{
    uint8_t key[USR_HASH_MAX];
    size_t use = pwlen > USR_PASSWORD_MAX ? USR_PASSWORD_MAX : pwlen;
    int ok;

    if (c == NULL || (c->kind != USR_SCRYPT && c->kind != USR_PBKDF2))
        return 0;
    if (!cred_sane(c)) {
        snprintf(err, errcap, "credentials out of bounds");
        return -1;
    }
    if (password == NULL) {
        password = "";
        use = pwlen = 0;
    }
    /* An over-long password costs the same time and never matches. */
    if (derive(c, password, use, key, err, errcap) != 0)
        return -1;
    ok = CRYPTO_memcmp(key, c->hash, c->hash_len) == 0 &&
         pwlen <= USR_PASSWORD_MAX;
    OPENSSL_cleanse(key, sizeof(key));
    return ok;
}

int
usr_verify(const struct usr_user *u, const char *password, size_t pwlen,
           char *err, size_t errcap)
{
    if (u == NULL)
        return 0;
    return usr_cred_verify(&u->cred, password, pwlen, err, errcap);
}

void
usr_verify_dummy(const char *password, size_t pwlen)
{
    static const struct usr_cred dummy = {
        .kind = USR_SCRYPT,
        .ln = USR_SCRYPT_LN_DEFAULT,
        .r = 8,
        .p = 1,
        .salt_len = USR_NEW_SALT,
        .salt = "vspc dummy salt",
        .hash_len = USR_NEW_HASH,
    };
    char err[8];

    (void)usr_cred_verify(&dummy, password, pwlen, err, sizeof(err));
}

int
usr_hash_new(const char *password, size_t pwlen, const char *scheme,
             unsigned cost, char *out, size_t cap, char *err, size_t errcap)
{
    struct usr_cred c;
    int rc = -1;

    memset(&c, 0, sizeof(c));
    if (password == NULL || pwlen == 0) {
        snprintf(err, errcap, "empty password");
        return -1;
    }
    if (pwlen > USR_PASSWORD_MAX) {
        snprintf(err, errcap, "password longer than %d bytes",
                 USR_PASSWORD_MAX);
        return -1;
    }
    if (scheme == NULL || strcmp(scheme, "scrypt") == 0) {
        c.kind = USR_SCRYPT;
        c.ln = cost ? cost : USR_SCRYPT_LN_DEFAULT;
        c.r = 8;
        c.p = 1;
        if (!scrypt_cost_ok(c.ln, c.r, c.p)) {
            snprintf(err, errcap, "scrypt cost (ln) must be %d..%d",
                     USR_SCRYPT_LN_MIN, USR_SCRYPT_LN_MAX);
            return -1;
        }
    } else if (strcmp(scheme, "pbkdf2-sha256") == 0) {
        c.kind = USR_PBKDF2;
        c.iter = cost ? cost : USR_PBKDF2_ITER_DEFAULT;
        if (c.iter < USR_PBKDF2_ITER_MIN || c.iter > USR_PBKDF2_ITER_MAX) {
            snprintf(err, errcap,
                     "pbkdf2-sha256 cost (iterations) must be "
                     "%d..%d",
                     USR_PBKDF2_ITER_MIN, USR_PBKDF2_ITER_MAX);
            return -1;
        }
    } else {
        snprintf(err, errcap,
                 "unknown scheme \"%.32s\" (scrypt or "
                 "pbkdf2-sha256)",
                 scheme);
        return -1;
    }
    c.salt_len = USR_NEW_SALT;
    c.hash_len = USR_NEW_HASH;
    if (RAND_bytes(c.salt, (int)c.salt_len) != 1) {
        ssl_fail(err, errcap, "RAND_bytes");
        return -1;
    }
    if (derive(&c, password, pwlen, c.hash, err, errcap) != 0)
        goto out;
    if (usr_cred_str(&c, out, cap) != 0) {
        snprintf(err, errcap, "no room for the hash (%zu bytes)", cap);
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(&c, sizeof(c));
    return rc;
}
