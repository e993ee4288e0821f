/*
 * acl.h: acl_, the operators' access rules (`--acl FILE`) parsed and
 * checked. Pure code: no libevent, no sockets (tests/fuzz/fuzz_acl.c
 * feeds the parser hostile files).
 *
 *   # WHO       RIGHTS  CONSOLES
 *   admin       @admins bob      # who has the admin role
 *   @ops        rw      *
 *   @helpdesk   ro      name:web-*
 *   alice       rw      id:4201a3*
 *   anonymous   ro      *
 *   *           none    *
 *
 * A rule is WHO RIGHTS CONSOLES. WHO: a user name, @group, `anonymous`
 * (an operator who did not log in) or `*` (anyone, logged in or not).
 * RIGHTS: rw, ro or none. CONSOLES, the rest of the line trimmed (VM
 * names may hold blanks): `*`, `id:GLOB` (the console id) or `name:GLOB`
 * (the VM's display name), GLOB as fnmatch(3) without flags. The first
 * rule that matches decides; none matching means none.
 *
 * `admin WHO...` lines (user names or @groups) list who has the admin
 * role (drain, undrain, ...). It grants no console rights; the rules do.
 * Because `admin` is this keyword, a rule cannot name a user "admin"
 * (give that user a group); likewise a WHO starting with '@' is always a
 * group, so users whose names start with '@' are reached through groups.
 *
 * A `#` at the start of a line or after a blank starts a comment (write
 * `[#]` in a glob for a literal '#' after a blank); CRLF line ends are
 * accepted. Text without --acl at all is the caller's business (everyone
 * rw and admin).
 *
 * Ownership: acl_parse/acl_load return an acl the caller frees with
 * acl_free; it keeps no pointer into the text or into any users db.
 * Threads: read-only once built.
 */
#ifndef VSPC_ACL_H
#define VSPC_ACL_H

#include "vspc/compat.h"

#include "users.h"

#define ACL_RULES_MAX 10000  /* rules, and admin entries, a file */
#define ACL_LINE_MAX 4096    /* bytes a line, without its line end */
#define ACL_PATTERN_MAX 1024 /* bytes in CONSOLES */
#define ACL_FILE_MAX (16u << 20)

enum acl_right { ACL_NONE = 0, ACL_RO, ACL_RW };

struct acl;

/*
 * Parse text (len bytes; need not be NUL-terminated; a NUL is an error).
 * Returns a new acl, or NULL with "acl file line N: reason" in err.
 */
struct acl *acl_parse(const char *text, size_t len, char *err, size_t errcap);

/*
 * Read path and parse it (startup and reload only: this blocks). Refuses
 * a file that is not regular, larger than ACL_FILE_MAX or writable by
 * others (mode & 0002). err starts with path.
 */
struct acl *acl_load(const char *path, char *err, size_t errcap);

/* Frees *a (NULL is fine) and sets it to NULL. */
void acl_free(struct acl **a);

/* Rules (not admin lines) in a. */
size_t acl_count(const struct acl *a);

/*
 * The rights of user (NULL: anonymous) on the console console_id whose
 * VM is called vm_name ("" or NULL when unknown: then only name: globs
 * that match "" match). ACL_NONE if a is NULL.
 */
enum acl_right acl_check(const struct acl *a, const struct usr_user *user,
                         const char *console_id, const char *vm_name);

/* user (never anonymous) has the admin role. */
bool acl_is_admin(const struct acl *a, const struct usr_user *user);

/* "rw", "ro", "none". */
const char *acl_right_str(enum acl_right r);

#endif /* VSPC_ACL_H */
