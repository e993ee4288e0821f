/*
 * privdrop.c: dropping root once the ports are bound (privdrop.h).
 */
#include "vspc/compat.h"
#include "vspc/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
priv_drop(const char *user, char *err, size_t errlen)
{
    struct passwd *pw;

    if (user == NULL || user[0] == '\0')
        return 0;
    errno = 0;
    if ((pw = getpwnam(user)) == NULL) {
        snprintf(err, errlen, "--user %s: no such user%s%s", user,
                 errno ? ": " : "", errno ? strerror(errno) : "");
        return -1;
    }
    if (geteuid() != 0) {
        if (geteuid() == pw->pw_uid)
            return 0; /* already that user (a unit's User=) */
        snprintf(err, errlen, "--user %s: only root can become another user",
                 user);
        return -1;
    }
    if (pw->pw_uid == 0) {
        snprintf(err, errlen, "--user %s: that is root", user);
        return -1;
    }
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        snprintf(err, errlen, "--user %s: cannot become it: %s", user,
                 strerror(errno));
        return -1;
    }
    if (setuid(0) == 0 || geteuid() == 0) {
        snprintf(err, errlen, "--user %s: root could be regained", user);
        return -1;
    }
    return 0;
}
