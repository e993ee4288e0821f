/*
 * vmlog_cases.h: what the console log suite (test_vmlog.c, the runner)
 * shares with its case files (vmlog_cases_*.c, compiled into the
 * test_vmlog runner by tests/CMakeLists.txt).
 *
 * The environment and file helpers are defined in test_vmlog.c; each case
 * file defines one function that adds its TCase(s) to the suite.
 */
#ifndef VSPC_TESTS_VMLOG_CASES_H
#define VSPC_TESTS_VMLOG_CASES_H

#include "vspc/compat.h"

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "vmlog.h"

#define ID "4c1f00000000000000000000000a9a0d.com2"
#define TLEN 24 /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */

/* One test's world: a fresh mkdtemp directory and event base. */
struct env {
    char dir[64];
    struct event_base *base;
    struct event *tick; /* keeps the loop waiting (done_ev is not added) */
    struct vmlog *log;
};

/* ---- test_vmlog.c ------------------------------------------------------ */

void env_init(struct env *e);
/* vmlog_new into e->log (asserted non-NULL). */
struct vmlog *env_log(struct env *e, bool stamps, size_t rotate, unsigned keep,
                      size_t qmax);
/* Barrier: every record queued so far is written (and counted). */
void env_sync(struct env *e);
/* Frees e->log, the base, and removes the directory. */
void env_fini(struct env *e);
/* Whole file, NUL-terminated; NULL if missing. */
uint8_t *slurp(const char *dir, const char *name, size_t *len);
bool file_exists(const char *dir, const char *name);
/* p starts with a "YYYY-MM-DDTHH:MM:SS.mmmZ" (TLEN bytes). */
bool is_time(const uint8_t *p);
/* xorshift32 step. */
uint32_t xs32(uint32_t *s);

/* ---- case files --------------------------------------------------------- */

/* vmlog_cases_rotate.c: TCase "rotation" (size rotation, keep, reopen). */
void vmlog_cases_rotate(Suite *s);

#endif /* VSPC_TESTS_VMLOG_CASES_H */
