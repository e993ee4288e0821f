/*
 * ctl_drain.c: `vspcctl drain NODE [--close-after SECONDS]` and `vspcctl
 * undrain NODE`: the operator port's drain command, sent to the node at
 * --operator once --http confirms that node is NODE (a drain meant for
 * another node never lands on this one).
 */
#include "vspc/compat.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "ctl.h"

/* The node id the HTTP API at addr names, into out; 0 or -1. */
static int
node_id_at(const char *addr, char *out, size_t cap)
{
    char *body;
    json_error_t jerr;
    json_t *o;
    const char *id;
    int status = ctl_http_get_body(addr, "/api/v1/cluster", &body);

    if (status != 200) {
        if (status != -1)
            ctl_warnx("%s: HTTP %d", addr, status);
        free(body);
        return -1;
    }
    o = json_loads(body, 0, &jerr);
    free(body);
    id = json_string_value(json_object_get(json_object_get(o, "node"), "id"));
    if (id == NULL) {
        ctl_warnx("%s: no node id in /api/v1/cluster", addr);
        json_decref(o);
        return -1;
    }
    snprintf(out, cap, "%s", id);
    json_decref(o);
    return 0;
}

/* Send line on the operator port at addr; print the "ok ..."/"error ..."
 * answer. Telnet negotiation bytes are skipped. Returns the exit status. */
static int
op_command(const char *addr, const char *line)
{
    char buf[2048], text[2048];
    size_t tn = 0;
    int64_t deadline = ctl_now_ms() + CTL_IO_TIMEOUT_MS;
    int fd = ctl_connect(addr, CTL_CONNECT_TIMEOUT_MS);

    if (fd == -1)
        return 1;
    if (ctl_write_all(fd, line, strlen(line), CTL_IO_TIMEOUT_MS) == -1) {
        ctl_warnx("%s: %s", addr, strerror(errno));
        close(fd);
        return 1;
    }
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int left = (int)(deadline - ctl_now_ms());
        char *ok, *err, *eol;
        ssize_t r;

        if (left <= 0 || poll(&p, 1, left) <= 0 ||
            (r = read(fd, buf, sizeof(buf))) <= 0)
            break;
        for (ssize_t i = 0; i < r && tn + 1 < sizeof(text); i++)
            if ((unsigned char)buf[i] < 0x80 && buf[i] != '\0')
                text[tn++] = buf[i];
        text[tn] = '\0';
        /* The answer follows the prompt ("vspc> ") or a line's start. */
        if ((ok = strstr(text, "> ok ")) == NULL)
            ok = strstr(text, "\nok ");
        if ((err = strstr(text, "> error ")) == NULL)
            err = strstr(text, "\nerror ");
        if ((ok || err) && (eol = strchr(ok ? ok : err, '\r')) != NULL) {
            char *at = strchr(ok ? ok : err, ok ? 'o' : 'e');

            *eol = '\0';
            printf("%s\n", at);
            close(fd);
            return ok ? 0 : 1;
        }
    }
    ctl_warnx("%s: no answer to the drain command", addr);
    close(fd);
    return 1;
}

int
ctl_drain(const char *op_addr, const char *http_addr, const char *node, bool on,
          const char *close_after)
{
    char id[128], line[160];
    char *end = NULL;

    if (close_after &&
        (strtod(close_after, &end) <= 0 || end == close_after || *end)) {
        ctl_warnx("--close-after: a positive number of seconds, not \"%s\"",
                  close_after);
        return 2;
    }
    if (node_id_at(http_addr, id, sizeof(id)) != 0)
        return 1;
    if (strcmp(id, node) != 0) {
        ctl_warnx("the node at %s is %s, not %s: point --operator and --http "
                  "at %s",
                  http_addr, id, node, node);
        return 1;
    }
    if (on && close_after)
        snprintf(line, sizeof(line), "drain --close-after %s\r\n", close_after);
    else
        snprintf(line, sizeof(line), "%s\r\n", on ? "drain" : "undrain");
    return op_command(op_addr, line);
}
