/* addr.c: see include/vspc/addr.h. */
#include "vspc/compat.h"
#include "vspc/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon;
    char *end;
    long port;

    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');

        if (rb == NULL || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
            return -1;
        memcpy(host, s + 1, (size_t)(rb - s - 1));
        host[rb - s - 1] = '\0';
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
            return -1;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '\0' || port < 0 || port > 65535)
        return -1;
    if (s[0] != '[') {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;

        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
            return -1;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return -1;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*sin6);
    }
    return 0;
}

void
addr_str(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(out, cap, "%s:%u", host, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(out, cap, "[%s]:%u", host, ntohs(sin6->sin6_port));
    } else {
        snprintf(out, cap, "?");
    }
}

bool
addr_same_port_clash(const struct sockaddr_storage *a,
                     const struct sockaddr_storage *b)
{
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)a,
                             *b4 = (const struct sockaddr_in *)b;
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a,
                              *b6 = (const struct sockaddr_in6 *)b;
    uint16_t pa = a->ss_family == AF_INET ? a4->sin_port : a6->sin6_port;
    uint16_t pb = b->ss_family == AF_INET ? b4->sin_port : b6->sin6_port;
    bool wa = a->ss_family == AF_INET ? a4->sin_addr.s_addr == INADDR_ANY
                                      : IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr);
    bool wb = b->ss_family == AF_INET ? b4->sin_addr.s_addr == INADDR_ANY
                                      : IN6_IS_ADDR_UNSPECIFIED(&b6->sin6_addr);

    if (pa != pb)
        return false;
    if (a->ss_family != b->ss_family) /* :: binds IPv4 too */
        return (a->ss_family == AF_INET6 && wa) ||
               (b->ss_family == AF_INET6 && wb);
    if (wa || wb)
        return true;
    return a->ss_family == AF_INET
               ? a4->sin_addr.s_addr == b4->sin_addr.s_addr
               : memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) == 0;
}
