/*
 * test_vmcross.c: the destination side of a vMotion across nodes
 * (proxy/vmcross.h), its transition table vxn_table[state][event] checked
 * cell by cell, and the rules the table must keep. The exchanges over real
 * sockets are in tests/scenario/cluster_vmotion.py and cluster_scen.py.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "vmcross.h"

/* "STATE EVENT NEXT ACTION", one cell a line, in the names vxn_*_str()
 * give (so the names are checked too). */
static const char *const want[] = {
    "VALIDATING REPLY_OK ACCEPTED ACCEPT",
    "VALIDATING REPLY_NO END REJECT",
    "VALIDATING COMPLETE VALIDATING NONE",
    "VALIDATING HANDOVER VALIDATING NONE",
    "VALIDATING CANCEL VALIDATING NONE",
    "VALIDATING SESSION_GONE VALIDATING DETACH",
    "VALIDATING LINK_DOWN END REJECT",
    "VALIDATING TIMEOUT VALIDATING NONE",
    "ACCEPTED REPLY_OK ACCEPTED NONE",
    "ACCEPTED REPLY_NO ACCEPTED NONE",
    "ACCEPTED COMPLETE COMPLETING COMPLETE",
    "ACCEPTED HANDOVER ACCEPTED NONE",
    "ACCEPTED CANCEL END DROP",
    "ACCEPTED SESSION_GONE END TELL_GONE",
    "ACCEPTED LINK_DOWN END DROP",
    "ACCEPTED TIMEOUT ACCEPTED NONE",
    "COMPLETING REPLY_OK COMPLETING NONE",
    "COMPLETING REPLY_NO COMPLETING NONE",
    "COMPLETING COMPLETE COMPLETING NONE",
    "COMPLETING HANDOVER END INSTALL",
    "COMPLETING CANCEL END CLAIM",
    "COMPLETING SESSION_GONE COMPLETING DETACH",
    "COMPLETING LINK_DOWN END CLAIM",
    "COMPLETING TIMEOUT END CLAIM",
    "END REPLY_OK END NONE",
    "END REPLY_NO END NONE",
    "END COMPLETE END NONE",
    "END HANDOVER END NONE",
    "END CANCEL END NONE",
    "END SESSION_GONE END NONE",
    "END LINK_DOWN END NONE",
    "END TIMEOUT END NONE",
};

START_TEST(every_cell)
{
    ck_assert_uint_eq(VSPC_ARRAY_LEN(want), IN__COUNT * VE__COUNT);
    for (int st = 0; st < IN__COUNT; st++) {
        for (int ev = 0; ev < VE__COUNT; ev++) {
            struct vxn_step got = vxn_table[st][ev];
            char cell[128];

            snprintf(cell, sizeof(cell), "%s %s %s %s",
                     vxn_state_str((enum vxn_in_state)st),
                     vxn_event_str((enum vxn_in_event)ev),
                     vxn_state_str((enum vxn_in_state)got.next),
                     vxn_action_str((enum vxn_in_action)got.action));
            ck_assert_str_eq(cell, want[st * VE__COUNT + ev]);
        }
    }
}
END_TEST

START_TEST(rules)
{
    for (int st = 0; st < IN__COUNT; st++) {
        for (int ev = 0; ev < VE__COUNT; ev++) {
            struct vxn_step s = vxn_table[st][ev];

            ck_assert_uint_lt(s.next, IN__COUNT);
            ck_assert_uint_lt(s.action, A__COUNT);
            /* PEER-OK only on the owner's yes: a secret nobody verified
             * (no reply, a refusal, the owner's link gone) gets none. */
            if (s.action == A_ACCEPT)
                ck_assert(st == IN_VALIDATING && ev == VE_REPLY_OK);
            /* The console is taken only from a handover after COMPLETE;
             * it is claimed only when the owner is lost after COMPLETE. */
            if (s.action == A_INSTALL)
                ck_assert(st == IN_COMPLETING && ev == VE_HANDOVER);
            if (s.action == A_CLAIM)
                ck_assert(st == IN_COMPLETING);
            /* COMPLETE goes to the owner only after PEER-OK. */
            if (s.action == A_COMPLETE)
                ck_assert(st == IN_ACCEPTED && ev == VE_COMPLETE);
            /* Nothing happens once it ended. */
            if (st == IN_END) {
                ck_assert_uint_eq(s.next, IN_END);
                ck_assert_uint_eq(s.action, A_NONE);
            }
            /* The owner's link lost: never a PEER-OK left standing. */
            if (ev == VE_LINK_DOWN && st != IN_END)
                ck_assert_uint_eq(s.next, IN_END);
        }
    }
}
END_TEST

START_TEST(names)
{
    ck_assert_str_eq(vxn_state_str(IN__COUNT), "???");
    ck_assert_str_eq(vxn_event_str(VE__COUNT), "???");
    ck_assert_str_eq(vxn_action_str(A__COUNT), "???");
    ck_assert_str_eq(vxn_action_str(A_TELL_GONE), "TELL_GONE");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("vmcross");
    TCase *tc = tcase_create("table");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, every_cell);
    tcase_add_test(tc, rules);
    tcase_add_test(tc, names);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
