/*
 * textfile.h: tf_, what the line-oriented configuration file parsers
 * (users.c, acl.c) share: a bounded, mode-checked file reader, comment
 * stripping, and "<what> line N: reason" error texts. Pure code: no
 * libevent, no sockets.
 *
 * Ownership: tf_read_file hands back a malloc'd buffer the caller frees;
 * tf_strip_line and tf_shown work in buffers the caller owns and keep no
 * pointer. Threads: no state; tf_read_file blocks (startup and reload
 * only).
 */
#ifndef VSPC_TEXTFILE_H
#define VSPC_TEXTFILE_H

#include "vspc/compat.h"

/*
 * "<what> line N: " and the formatted message into err (nothing if errcap
 * is 0; cut to errcap). what: "users file", "acl file", ...
 */
void tf_fail_line(char *err, size_t errcap, const char *what, unsigned line,
                  const char *fmt, ...) VSPC_PRINTF(5, 6);

/*
 * The n bytes at s, cut to 40 bytes (then "..." added) with anything
 * unprintable as '?', for messages: written into buf (cap bytes, cap >= 1)
 * and returned.
 */
const char *tf_shown(const char *s, size_t n, char *buf, size_t cap);

/*
 * Cuts a comment (a '#' at the start of s or after a blank) and trims
 * blanks (' ', '\t') at both ends, in place. Returns the start of what is
 * left (in s).
 */
char *tf_strip_line(char *s);

/*
 * Reads a whole configuration file (blocking): regular, at most max bytes,
 * none of the mode bits in refuse_mode (say so: 0006 for secrets, 0002 for
 * rules). *text is malloc'd (NUL added after *len bytes; the caller frees
 * it). Returns 0, or -1 with "path: reason" in err.
 */
int tf_read_file(const char *path, size_t max, unsigned refuse_mode,
                 char **text, size_t *len, char *err, size_t errcap);

#endif /* VSPC_TEXTFILE_H */
