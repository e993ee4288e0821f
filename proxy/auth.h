/*
 * auth.h: auth_*, who an operator is and what it may do (issue 10).
 *
 * Identity is a user name from the users file (users.h), or "" for an
 * anonymous operator, which --operator-anonymous allows (by default on
 * loopback only). A user proves who it is with a password or with a
 * client certificate whose subject CN is its name (tls.h). Rights come
 * from the ACL file (acl.h), looked up by name at every use, so that no
 * pointer into the files outlives them. Without --acl everyone may do
 * everything (the behaviour of a node without users).
 *
 * Passwords are checked on one worker thread, never on the loop: the
 * hashes are slow on purpose. At most AUTH_QUEUE_MAX checks wait; beyond,
 * a login is answered "busy". Failed logins are limited per source
 * address (--login-failures per minute, a token bucket), each failure is
 * answered only after AUTH_FAIL_DELAY_MS, and logged (one line per
 * failure, at most one per second and source kind, the rest counted). An
 * unknown user costs the same time as a known one.
 *
 * Ownership: struct auth belongs to struct proxy (px->auth), made at start
 * (the files read there, never on the loop) and freed at exit. A struct
 * auth_login belongs to the caller until done is called or it cancels it
 * (auth_login_cancel: done is then never called); done runs on the loop,
 * never from inside auth_login.
 */
#ifndef VSPC_AUTH_H
#define VSPC_AUTH_H

#include "vspc/compat.h"

#include <sys/socket.h>

#include "acl.h"

#define AUTH_QUEUE_MAX 32
#define AUTH_FAIL_DELAY_MS 1000
#define AUTH_SOURCES_MAX 65536 /* sources whose failures are remembered */

struct proxy;
struct auth;
struct auth_login;

enum auth_result {
    AUTH_OK = 0,
    AUTH_BAD,    /* unknown user or wrong password (never said which) */
    AUTH_LOCKED, /* too many failures from this source: try later */
    AUTH_BUSY,   /* too many logins being checked */
    AUTH_ERROR,  /* the check itself failed (logged) */
};

struct auth_stats {
    uint64_t ok;       /* logins by password */
    uint64_t cert_ok;  /* logins by client certificate */
    uint64_t failed;   /* wrong passwords, unknown users */
    uint64_t locked;   /* refused: the source failed too often */
    uint64_t busy;     /* refused: the queue was full */
    uint64_t cert_bad; /* client certificates refused */
    uint64_t denied;   /* requests refused by the ACL */
};

/* SIGHUP (reload.c read the files on its thread): these users and rules
 * from now on (NULL: none; taken over). Logins being checked use what was
 * in force when they started. */
struct usr_db;
void auth_install(struct auth *a, struct usr_db *users, struct acl *acl);

/* Reads --users and --acl (at start). NULL with the reason in err. */
struct auth *auth_new(struct proxy *px, char *err, size_t errcap);
void auth_free(struct auth **a);
const struct auth_stats *auth_stats(const struct auth *a);
void auth_count_denied(struct auth *a);

/* May a client at sa skip the login (--operator-anonymous)? */
bool auth_anonymous_ok(const struct auth *a, const struct sockaddr *sa);
/* 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104? */
bool auth_is_loopback(const struct sockaddr *sa);
/* Is there a users file (else nobody can log in)? */
bool auth_has_users(const struct auth *a);
/* Rights of user ("" anonymous) on a console. */
enum acl_right auth_right(const struct auth *a, const char *user,
                          const char *console_id, const char *vm_name);
/* Does user hold the admin role (drain, undrain)? */
bool auth_admin(const struct auth *a, const char *user);
/* A verified client certificate's CN: 0, it logs in as that user; -1, it
 * may not (unknown user, disabled), the reason in why (logged here). */
int auth_cert_login(struct auth *a, const char *cn, const char *src, char *why,
                    size_t whycap);

/* A client certificate that did not verify (or auth_cert_login refused):
 * counted and logged. */
void auth_cert_refused(struct auth *a, const char *src, const char *why);

typedef void (*auth_done_fn)(void *arg, enum auth_result r);
/*
 * Check user's password (pw, pwlen bytes; copied, wiped after use) for
 * a client at src ("host:port"; the rate limit counts the host). done
 * reports the result later on the loop. NULL only if out of memory.
 */
struct auth_login *auth_login(struct auth *a, const char *src, const char *user,
                              const char *pw, size_t pwlen, auth_done_fn done,
                              void *arg);
void auth_login_cancel(struct auth_login *l);

/* "127.0.0.1" of "127.0.0.1:5000", "::1" of "[::1]:5000". */
void auth_host_of(const char *addr, char *out, size_t cap);

#endif /* VSPC_AUTH_H */
