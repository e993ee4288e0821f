/*
 * compat.h: included first by every translation unit of the project.
 * Feature macros, attribute shorthands and the project-wide version.
 */
#ifndef VSPC_COMPAT_H
#define VSPC_COMPAT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define VSPC_VERSION "0.1.0"

#define VSPC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define VSPC_NORETURN __attribute__((noreturn))
#define VSPC_UNUSED __attribute__((unused))
#define VSPC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* The struct of type `type` whose member `field` ptr points at. */
#define VSPC_CONTAINER_OF(ptr, type, field)                                    \
    ((type *)(void *)((char *)(ptr)-offsetof(type, field)))

#endif /* VSPC_COMPAT_H */
