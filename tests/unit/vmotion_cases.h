/*
 * vmotion_cases.h: the case files of the vMotion suite (vmotion_cases_*.c,
 * compiled into the test_vmotion runner by tests/CMakeLists.txt; the runner
 * is test_vmotion.c). Each defines one function that adds its TCase(s) to
 * the suite.
 */
#ifndef VSPC_TESTS_VMOTION_CASES_H
#define VSPC_TESTS_VMOTION_CASES_H

#include <check.h>

/* vmotion_cases_table.c: TCase "table" (vmo_table cell by cell, the rules
 * it must follow, the names). No proxy, no fixture. */
void vmotion_cases_table(Suite *s);

#endif /* VSPC_TESTS_VMOTION_CASES_H */
