/*
 * opauth.c: opa_*, the operator port's login and rights (operator.h,
 * auth.h).
 *
 * A session starts (opa_start) in one of three ways: a verified client
 * certificate on the TLS port logs in as the user its CN names; a client
 * that --operator-anonymous lets in is anonymous; anyone else gets
 * "login: " and "Password: " (no echo), checked on auth.c's worker while
 * the operator's input waits (reading paused, the rest of the last read
 * stashed). Three wrong answers, a source over --login-failures or a
 * certificate that does not verify end the connection with a line that
 * says why. Only a logged-in or anonymous operator is offered VMware's
 * option 233 (its client cannot log in).
 *
 *   state          event               next
 *   LOGIN(name)    line ""             LOGIN(name)
 *   LOGIN(name)    line NAME           LOGIN(password)
 *   LOGIN(pass)    line                VERIFYING
 *   VERIFYING      AUTH_OK             COMMAND
 *   VERIFYING      AUTH_BAD, tries<3   LOGIN(name)
 *   VERIFYING      AUTH_BUSY           LOGIN(name)
 *   VERIFYING      other               closed
 */
#include "vspc/compat.h"

#include <string.h>
#include <openssl/crypto.h>

#include "auth.h"
#include "operator.h"
#include "tls.h"
#include "vspc/log.h"

#define OPA_TRIES 3

/* The session may begin: command mode and, for those who may, 233. */
static void
opa_admitted(struct oper *op)
{
    op->authed = true;
    op->state = OP_ST_COMMAND;
}

bool
opa_start(struct oper *op)
{
    struct auth *a = op->px->auth;
    char cn[72], why[256];
    int rc;

    if (a == NULL) {
        opa_admitted(op);
        return true;
    }
    if (op->tls) {
        rc = tls_peer_identity(op->bev, cn, sizeof(cn), why, sizeof(why));
        if (rc < 0) {
            auth_cert_refused(a, op->addr, why);
            op_printf(op, "vspc: your client certificate was refused: %s\r\n",
                      why);
            op_close_flush(op, "client certificate refused");
            return false;
        }
        if (rc > 0) {
            if (auth_cert_login(a, cn, op->addr, why, sizeof(why)) != 0) {
                op_printf(op,
                          "vspc: your client certificate was refused: %s\r\n",
                          why);
                op_close_flush(op, "client certificate refused");
                return false;
            }
            snprintf(op->user, sizeof(op->user), "%s", cn);
            opa_admitted(op);
            return true;
        }
    }
    if (auth_anonymous_ok(a, (const struct sockaddr *)&op->sa)) {
        opa_admitted(op);
        return true;
    }
    if (!auth_has_users(a)) {
        log_warnx("operator %s refused: a login is needed from there "
                  "(--operator-anonymous) and no users are configured "
                  "(--users)",
                  op->addr);
        op_puts(op, "vspc: a login is needed and no users are configured: "
                    "ask the administrator\r\n");
        op_close_flush(op, "no users to log in as");
        return false;
    }
    op->state = OP_ST_LOGIN;
    return true;
}

bool
opa_login_cmd(struct oper *op, const char *name)
{
    if (op->px->auth == NULL || !auth_has_users(op->px->auth)) {
        op_puts(op, "error no users are configured (--users)\r\n");
        return false;
    }
    op->state = OP_ST_LOGIN;
    op->login_tries = 0;
    op->typing_pw = name != NULL;
    if (name)
        snprintf(op->login_user, sizeof(op->login_user), "%s", name);
    opa_prompt(op);
    return true;
}

void
opa_prompt(struct oper *op)
{
    op_puts(op, op->typing_pw ? "Password: " : "login: ");
}

static void
opa_done(void *arg, enum auth_result r)
{
    struct oper *op = arg;

    op->login = NULL;
    if (op->state != OP_ST_VERIFYING)
        return;
    switch (r) {
    case AUTH_OK:
        snprintf(op->user, sizeof(op->user), "%s", op->login_user);
        opa_admitted(op);
        op_idle_arm(op); /* the prompt's idle timeout, not the login's */
        op_printf(op, "logged in as %s\r\n", op->user);
        op_prompt(op);
        op_unstash(op);
        return;
    case AUTH_BAD:
    case AUTH_BUSY:
        if (r == AUTH_BUSY)
            op_puts(op, "vspc: too many logins at once: try again\r\n");
        else
            op_puts(op, "Login incorrect\r\n");
        if (r == AUTH_BAD && ++op->login_tries >= OPA_TRIES) {
            op_close_flush(op, "login failed");
            return;
        }
        op->state = OP_ST_LOGIN;
        op_prompt(op);
        op_unstash(op);
        return;
    case AUTH_LOCKED:
        op_puts(op, "vspc: too many failed logins from your address: try "
                    "later\r\n");
        op_close_flush(op, "too many failed logins");
        return;
    case AUTH_ERROR:
        op_puts(op, "vspc: the login could not be checked: ask the "
                    "administrator (the log says why)\r\n");
        op_close_flush(op, "login check failed");
        return;
    }
}

bool
opa_line(struct oper *op, char *line, size_t len)
{
    if (!op->typing_pw) {
        if (len == 0) {
            opa_prompt(op);
            return false;
        }
        snprintf(op->login_user, sizeof(op->login_user), "%.*s", (int)len,
                 line);
        op->typing_pw = true;
        opa_prompt(op);
        return false;
    }
    op->typing_pw = false;
    op->login = auth_login(op->px->auth, op->addr, op->login_user, line, len,
                           opa_done, op);
    OPENSSL_cleanse(line, len);
    if (op->login == NULL) {
        op_close(op, "out of memory");
        return true;
    }
    /* Input waits for the verdict (stashed, reading paused). */
    op->state = OP_ST_VERIFYING;
    op_set_input_blocked(op, true);
    return true;
}

void
opa_cancel(struct oper *op)
{
    auth_login_cancel(op->login);
    op->login = NULL;
}

enum acl_right
opa_right(struct oper *op, const char *console_id, const char *vm_name)
{
    if (op->px->auth == NULL)
        return ACL_RW;
    return auth_right(op->px->auth, op->user, console_id, vm_name);
}

bool
opa_admin(struct oper *op, const char *what)
{
    if (op->px->auth == NULL || auth_admin(op->px->auth, op->user))
        return true;
    auth_count_denied(op->px->auth);
    log_warnx("operator %s (%s): %s refused: not an admin (--acl)", op->addr,
              op->user[0] ? op->user : "anonymous", what);
    return false;
}

/* The ACL refused op something: counted and logged. */
void
opa_denied(struct oper *op, const char *what, const char *console_id)
{
    if (op->px->auth)
        auth_count_denied(op->px->auth);
    log_warnx("console=%s operator %s (%s): %s denied (--acl)", console_id,
              op->addr, op->user[0] ? op->user : "anonymous", what);
}

/* May op see the console at all? */
bool
opa_sees(struct oper *op, const char *id, const char *name)
{
    return opa_right(op, id, name) != ACL_NONE;
}
