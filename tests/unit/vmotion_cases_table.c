/*
 * vmotion_cases_table.c: part 1 of the vMotion suite (test_vmotion.c is
 * the runner; vmotion_cases.h): the transition table
 * vmo_table[state][event] checked cell by cell against the rules of
 * PROTOCOL.md section 5, and the names vmo_*_str() gives.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdio.h>

#include "vmotion.h"
#include "vmotion_cases.h"

/* ---- part 1: the table ----------------------------------------------------
 */

/* The expected table, one cell a line: "STATE EVENT NEXT ACTION", in the
 * names vmo_*_str() gives (so the names are checked too). */
static const char *const want[] = {
    "IDLE BEGIN GOAHEAD GOAHEAD",
    "IDLE PEER_VALID IDLE NONE",
    "IDLE COMPLETE_PEER IDLE NONE",
    "IDLE COMPLETE_OTHER IDLE NONE",
    "IDLE ABORT_SOURCE IDLE NONE",
    "IDLE ABORT_OTHER IDLE NONE",
    "IDLE SOURCE_GONE IDLE NONE",
    "IDLE PEER_GONE IDLE NONE",
    "IDLE TIMEOUT IDLE NONE",
    "IDLE SOURCE_DRAINED IDLE NONE",
    "GOAHEAD BEGIN GOAHEAD NOTNOW",
    "GOAHEAD PEER_VALID PEER_OK PEER_OK",
    "GOAHEAD COMPLETE_PEER GOAHEAD NONE",
    "GOAHEAD COMPLETE_OTHER GOAHEAD NONE",
    "GOAHEAD ABORT_SOURCE IDLE ABORT",
    "GOAHEAD ABORT_OTHER GOAHEAD NONE",
    "GOAHEAD SOURCE_GONE GOAHEAD SOURCE_GONE",
    "GOAHEAD PEER_GONE GOAHEAD NONE",
    "GOAHEAD TIMEOUT IDLE EXPIRE",
    "GOAHEAD SOURCE_DRAINED GOAHEAD NONE",
    "PEER_OK BEGIN PEER_OK NOTNOW",
    "PEER_OK PEER_VALID PEER_OK NONE",
    "PEER_OK COMPLETE_PEER HANDOVER SWITCH",
    "PEER_OK COMPLETE_OTHER PEER_OK NONE",
    "PEER_OK ABORT_SOURCE IDLE ABORT",
    "PEER_OK ABORT_OTHER PEER_OK NONE",
    "PEER_OK SOURCE_GONE PEER_OK SOURCE_GONE",
    "PEER_OK PEER_GONE GOAHEAD PEER_LOST",
    "PEER_OK TIMEOUT IDLE EXPIRE",
    "PEER_OK SOURCE_DRAINED PEER_OK NONE",
    "HANDOVER BEGIN HANDOVER NOTNOW",
    "HANDOVER PEER_VALID HANDOVER NONE",
    "HANDOVER COMPLETE_PEER HANDOVER NONE",
    "HANDOVER COMPLETE_OTHER HANDOVER NONE",
    "HANDOVER ABORT_SOURCE HANDOVER NONE",
    "HANDOVER ABORT_OTHER HANDOVER NONE",
    "HANDOVER SOURCE_GONE IDLE HANDOVER",
    "HANDOVER PEER_GONE IDLE DEST_LOST",
    "HANDOVER TIMEOUT IDLE HANDOVER",
    "HANDOVER SOURCE_DRAINED IDLE HANDOVER",
};

START_TEST(table_every_cell)
{
    ck_assert_uint_eq(VSPC_ARRAY_LEN(want), VMO_ST__COUNT * VMO_EV__COUNT);
    for (int st = 0; st < VMO_ST__COUNT; st++) {
        for (int ev = 0; ev < VMO_EV__COUNT; ev++) {
            struct vmo_step got = vmo_table[st][ev];
            char cell[128];

            snprintf(cell, sizeof(cell), "%s %s %s %s", vmo_state_str(st),
                     vmo_event_str(ev), vmo_state_str(got.next),
                     vmo_action_str(got.action));
            ck_assert_str_eq(cell, want[st * VMO_EV__COUNT + ev]);
        }
    }
}
END_TEST

START_TEST(table_rules)
{
    for (int st = 0; st < VMO_ST__COUNT; st++) {
        for (int ev = 0; ev < VMO_EV__COUNT; ev++) {
            struct vmo_step s = vmo_table[st][ev];

            ck_assert_uint_lt(s.next, VMO_ST__COUNT);
            ck_assert_uint_lt(s.action, VMO_ACT__COUNT);
            /* Events from the wrong connection never change anything. */
            if (ev == VMO_EV_COMPLETE_OTHER || ev == VMO_EV_ABORT_OTHER) {
                ck_assert_uint_eq(s.next, st);
                ck_assert_uint_eq(s.action, VMO_ACT_NONE);
            }
            /* Nothing leaves IDLE except BEGIN, and nothing acts there. */
            if (st == VMO_ST_IDLE && ev != VMO_EV_BEGIN) {
                ck_assert_uint_eq(s.next, VMO_ST_IDLE);
                ck_assert_uint_eq(s.action, VMO_ACT_NONE);
            }
            /* A pending vMotion refuses another BEGIN, state unchanged. */
            if (st != VMO_ST_IDLE && ev == VMO_EV_BEGIN) {
                ck_assert_uint_eq(s.next, st);
                ck_assert_uint_eq(s.action, VMO_ACT_NOTNOW);
            }
            /* Before COMPLETE the timer expires a vMotion; after it, the
             * timer hands over (the source took too long to finish). */
            if (st != VMO_ST_IDLE && ev == VMO_EV_TIMEOUT) {
                ck_assert_uint_eq(s.next, VMO_ST_IDLE);
                ck_assert_uint_eq(s.action, st == VMO_ST_HANDOVER
                                                ? VMO_ACT_HANDOVER
                                                : VMO_ACT_EXPIRE);
            }
            /* ABORT before COMPLETE only: after it the VM runs on the
             * destination. */
            if (st != VMO_ST_IDLE && ev == VMO_EV_ABORT_SOURCE) {
                ck_assert_uint_eq(s.next, st == VMO_ST_HANDOVER
                                              ? VMO_ST_HANDOVER
                                              : VMO_ST_IDLE);
                ck_assert_uint_eq(s.action, st == VMO_ST_HANDOVER
                                                ? VMO_ACT_NONE
                                                : VMO_ACT_ABORT);
            }
            /* The source closing never ends a vMotion by itself, except
             * after COMPLETE, where its end is what the handover waits
             * for. */
            if (ev == VMO_EV_SOURCE_GONE || ev == VMO_EV_SOURCE_DRAINED)
                ck_assert_uint_eq(s.next,
                                  st == VMO_ST_HANDOVER ? VMO_ST_IDLE : st);
            /* Only the handover state hands over. */
            if (s.action == VMO_ACT_HANDOVER || s.action == VMO_ACT_DEST_LOST)
                ck_assert(st == VMO_ST_HANDOVER);
            /* Only COMPLETE on the accepted peer switches ownership. */
            if (s.action == VMO_ACT_SWITCH)
                ck_assert(st == VMO_ST_PEER_OK && ev == VMO_EV_COMPLETE_PEER);
            /* Only a valid PEER while waiting for one is accepted. */
            if (s.action == VMO_ACT_PEER_OK)
                ck_assert(st == VMO_ST_GOAHEAD && ev == VMO_EV_PEER_VALID);
            if (s.action == VMO_ACT_GOAHEAD)
                ck_assert(st == VMO_ST_IDLE && ev == VMO_EV_BEGIN);
        }
    }
}
END_TEST

START_TEST(table_names)
{
    static const char *const st[] = {"IDLE", "GOAHEAD", "PEER_OK", "HANDOVER"};
    static const char *const ev[] = {
        "BEGIN",        "PEER_VALID",    "COMPLETE_PEER", "COMPLETE_OTHER",
        "ABORT_SOURCE", "ABORT_OTHER",   "SOURCE_GONE",   "PEER_GONE",
        "TIMEOUT",      "SOURCE_DRAINED"};
    static const char *const ac[] = {
        "NONE",   "GOAHEAD",     "NOTNOW",    "PEER_OK",  "SWITCH",   "ABORT",
        "EXPIRE", "SOURCE_GONE", "PEER_LOST", "HANDOVER", "DEST_LOST"};

    ck_assert_uint_eq(VSPC_ARRAY_LEN(st), VMO_ST__COUNT);
    ck_assert_uint_eq(VSPC_ARRAY_LEN(ev), VMO_EV__COUNT);
    ck_assert_uint_eq(VSPC_ARRAY_LEN(ac), VMO_ACT__COUNT);
    for (int i = 0; i < VMO_ST__COUNT; i++)
        ck_assert_str_eq(vmo_state_str(i), st[i]);
    for (int i = 0; i < VMO_EV__COUNT; i++)
        ck_assert_str_eq(vmo_event_str(i), ev[i]);
    for (int i = 0; i < VMO_ACT__COUNT; i++)
        ck_assert_str_eq(vmo_action_str(i), ac[i]);
    ck_assert_str_eq(vmo_state_str(VMO_ST__COUNT), "???");
    ck_assert_str_eq(vmo_event_str(VMO_EV__COUNT), "???");
    ck_assert_str_eq(vmo_action_str(VMO_ACT__COUNT), "???");
    ck_assert_str_eq(vmo_state_str((enum vmo_state) - 1), "???");
    ck_assert_str_eq(vmo_event_str((enum vmo_event)200), "???");
    ck_assert_str_eq(vmo_action_str((enum vmo_action) - 5), "???");
}
END_TEST
void
vmotion_cases_table(Suite *s)
{
    TCase *tc = tcase_create("table");

    tcase_add_test(tc, table_every_cell);
    tcase_add_test(tc, table_rules);
    tcase_add_test(tc, table_names);
    suite_add_tcase(s, tc);
}
