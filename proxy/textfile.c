/*
 * textfile.c: what the configuration file parsers share (textfile.h).
 */
#include "vspc/compat.h"
#include "textfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
tf_fail_line(char *err, size_t errcap, const char *what, unsigned line,
             const char *fmt, ...)
{
    va_list ap;
    int n;

    if (errcap == 0)
        return;
    n = snprintf(err, errcap, "%s line %u: ", what, line);
    if (n < 0 || (size_t)n >= errcap)
        return;
    va_start(ap, fmt);
    vsnprintf(err + n, errcap - (size_t)n, fmt, ap);
    va_end(ap);
}

const char *
tf_shown(const char *s, size_t n, char *buf, size_t cap)
{
    size_t i, k = 0;

    for (i = 0; i < n && k + 4 < cap && i < 40; i++) {
        unsigned char ch = (unsigned char)s[i];

        buf[k++] = (ch < 0x20 || ch >= 0x7f) ? '?' : (char)ch;
    }
    if (i < n && k + 4 <= cap) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = '\0';
    return buf;
}

char *
tf_strip_line(char *s)
{
    char *e;

    for (e = s; *e; e++)
        if (*e == '#' && (e == s || e[-1] == ' ' || e[-1] == '\t')) {
            *e = '\0';
            break;
        }
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

int
tf_read_file(const char *path, size_t max, unsigned refuse_mode, char **text,
             size_t *len, char *err, size_t errcap)
{
    struct stat st;
    char *buf = NULL;
    size_t n = 0, cap;
    int fd;

    *text = NULL;
    *len = 0;
    /* O_NONBLOCK: a FIFO in the way must not hang the start. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd == -1) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == -1) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_mode & refuse_mode) {
        snprintf(err, errcap,
                 "%s: mode %04o lets other users %s it; refused (chmod o-rw "
                 "%s)",
                 path, (unsigned)(st.st_mode & 07777),
                 (st.st_mode & refuse_mode & 0004) ? "read" : "write", path);
        goto fail;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(err, errcap, "%s: larger than %zu bytes", path, max);
        goto fail;
    }
    cap = (size_t)st.st_size + 1;
    if ((buf = malloc(cap)) == NULL) {
        snprintf(err, errcap, "%s: out of memory", path);
        goto fail;
    }
    for (;;) {
        ssize_t r;

        if (n + 1 == cap) { /* it grew while we read */
            char *nb;

            if (cap - 1 >= max) {
                snprintf(err, errcap, "%s: larger than %zu bytes", path, max);
                goto fail;
            }
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            if ((nb = realloc(buf, cap)) == NULL) {
                snprintf(err, errcap, "%s: out of memory", path);
                goto fail;
            }
            buf = nb;
        }
        r = read(fd, buf + n, cap - 1 - n);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            snprintf(err, errcap, "%s: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
fail:
    free(buf);
    close(fd);
    return -1;
}
