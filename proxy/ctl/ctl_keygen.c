/*
 * ctl_keygen.c: `vspcctl keygen [FILE]`, a CURVE key pair for the cluster
 * links (vspc/zcurve.h): the secret into FILE (created, mode 0600, never
 * overwritten) with the public key in a comment, the public key on stdout;
 * without FILE both on stdout.
 */
#include "vspc/compat.h"
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

int
ctl_keygen(const char *file)
{
    char pub[41], sec[41], text[200];
    int fd, n;

    if (!zmq_has("curve") || zmq_curve_keypair(pub, sec) != 0) {
        ctl_warnx("this libzmq has no CURVE support");
        return 1;
    }
    if (file == NULL) {
        printf("public %s\nsecret %s\n", pub, sec);
        return 0;
    }
    n = snprintf(text, sizeof(text),
                 "# vspc CURVE secret key (vspcctl keygen); public key: %s\n"
                 "%s\n",
                 pub, sec);
    if ((fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        ctl_warnx("%s: %s", file, strerror(errno));
        return 1;
    }
    if (write(fd, text, (size_t)n) != n || close(fd) != 0) {
        ctl_warnx("%s: %s", file, strerror(errno));
        unlink(file);
        return 1;
    }
    printf("public %s\n", pub);
    return 0;
}
