/*
 * test_telnet.c: Check suite for the telnet codec (proxy/telnet.c).
 *
 * Most tests compare the recorder's event log (tn_recorder.h) byte for
 * byte: against a log built by hand, or against the unsplit run of the same
 * input when the input is cut into pieces.
 */
#include "vspc/compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "telnet.h"
#include "tn_recorder.h"

#define FF 0xff

/* One of everything: data with FF FF, the four verbs (accepted, refused,
 * unsolicited), SB with FF FF and a lone F0 inside, NOP, BRK, GA, an empty
 * payload, an empty SB, SE outside SB, option 255, a trailing FF FF. */
static const uint8_t mixed[] = {
    'a', 'b',  FF,   FF,   'c',                            /* data */
    FF,  0xfb, 0x00,                                       /* WILL BINARY */
    FF,  0xfd, 0x03,                                       /* DO SGA */
    FF,  0xfc, 0x01,                                       /* WONT ECHO */
    FF,  0xfe, 0x05,                                       /* DONT STATUS */
    FF,  0xfb, 0x25,                                       /* WILL AUTH */
    FF,  0xfd, 0xe8,                                       /* DO 232 */
    FF,  0xfa, 0xe8, 0x01, FF,   FF, 0xf0, 0x02, FF, 0xf0, /* SB 232 */
    FF,  0xf1,                                             /* NOP */
    'd', 0x00, 0x11,                                       /* data */
    FF,  0xf3,                                             /* BRK */
    FF,  0xfa, 0x18, FF,   0xf0,           /* SB 24, no payload */
    FF,  0xfa, FF,   0xf0,                 /* empty SB */
    FF,  0xf0,                             /* SE outside */
    FF,  FF,   FF,   FF,                   /* data FF FF */
    FF,  0xfa, FF,   FF,   0x01, FF, 0xf0, /* SB opt 255 */
    FF,  0xf9,                             /* GA */
    FF,  0xfb, 0x00,                       /* WILL BINARY again */
    FF,  0xfc, 0x00,                       /* WONT BINARY */
    'x', 'y',  'z',  FF,   FF,             /* data */
};

static const char mixed_log[] = "D 61 62 ff 63\n"
                                "N WILL 00\n"
                                "W ff fd 00\n"
                                "O R 00 +\n"
                                "N DO 03\n"
                                "W ff fb 03\n"
                                "O L 03 +\n"
                                "N WONT 01\n"
                                "N DONT 05\n"
                                "N WILL 25\n"
                                "W ff fe 25\n"
                                "N DO e8\n"
                                "W ff fc e8\n"
                                "S e8: 01 ff f0 02\n"
                                "C f1\n"
                                "D 64 00 11\n"
                                "C f3\n"
                                "S 18:\n"
                                "E SB_EMPTY\n"
                                "E SE_OUTSIDE\n"
                                "D ff ff\n"
                                "S ff: 01\n"
                                "C f9\n"
                                "N WILL 00\n"
                                "N WONT 00\n"
                                "W ff fe 00\n"
                                "O R 00 -\n"
                                "D 78 79 7a ff\n";

/* Run p[0..n) cut at the given points; returns the recorder. */
static struct rec *
run_cuts(const uint8_t *p, size_t n, const size_t *cuts, size_t ncuts,
         unsigned stop_mask)
{
    struct rec *r = rec_new();
    size_t from = 0;

    r->stop_mask = stop_mask;
    for (size_t c = 0; c <= ncuts; c++) {
        size_t to = c < ncuts ? cuts[c] : n;

        ck_assert_uint_eq(rec_feed(r, p + from, to - from), to - from);
        from = to;
    }
    return r;
}

START_TEST(test_names)
{
    for (int e = 0; e < TN_ERR__COUNT; e++)
        ck_assert_ptr_nonnull(tn_err_str((enum tn_err)e));
    ck_assert(tn_err_is_fatal(TN_ERR_SB_OVERFLOW));
    ck_assert(tn_err_is_fatal(TN_ERR_SB_BAD_IAC));
    ck_assert(!tn_err_is_fatal(TN_ERR_SB_EMPTY));
    ck_assert(!tn_err_is_fatal(TN_ERR_SE_OUTSIDE));
    ck_assert(!tn_err_is_fatal(TN_ERR_NONE));
    ck_assert_str_eq(tn_verb_str(TN_WILL), "WILL");
    ck_assert_str_eq(tn_verb_str(TN_DONT), "DONT");
    ck_assert_str_eq(tn_verb_str(TN_SE), "SE");
    ck_assert_str_eq(tn_verb_str(TN_IAC), "IAC");
    ck_assert_str_eq(tn_verb_str(0x41), "???");
    ck_assert_str_eq(tn_opt_str(TN_OPT_BINARY), "BINARY");
    ck_assert_str_eq(tn_opt_str(TN_OPT_SGA), "SGA");
    ck_assert_str_eq(tn_opt_str(TN_OPT_VMWARE), "VMWARE-EXT");
    ck_assert_str_eq(tn_opt_str(TN_OPT_COMPORT), "COM-PORT-OPTION");
    ck_assert_ptr_null(tn_opt_str(200));
}
END_TEST

START_TEST(test_mixed_unsplit)
{
    struct rec *r = run_cuts(mixed, sizeof(mixed), NULL, 0, 0);

    ck_assert_str_eq(r->log, mixed_log);
    ck_assert(!tn_in_command(&r->tn));
    ck_assert(!tn_failed(&r->tn));
    ck_assert(tn_local_enabled(&r->tn, TN_OPT_SGA));
    ck_assert(!tn_remote_enabled(&r->tn, TN_OPT_BINARY));
    rec_free(r);
}
END_TEST

/* Every cut into two feeds, every pair of cuts into three feeds. */
START_TEST(test_mixed_every_split)
{
    size_t n = sizeof(mixed);

    for (size_t a = 0; a <= n; a++) {
        struct rec *r = run_cuts(mixed, n, &a, 1, 0);

        ck_assert_msg(strcmp(r->log, mixed_log) == 0, "cut %zu:\n%s", a,
                      r->log);
        rec_free(r);
        for (size_t b = a; b <= n; b++) {
            size_t cuts[2] = {a, b};

            r = run_cuts(mixed, n, cuts, 2, 0);
            ck_assert_msg(strcmp(r->log, mixed_log) == 0, "cuts %zu %zu", a, b);
            rec_free(r);
        }
    }
}
END_TEST

START_TEST(test_mixed_bytewise)
{
    size_t cuts[sizeof(mixed)];
    struct rec *r;

    for (size_t i = 0; i < sizeof(mixed); i++)
        cuts[i] = i;
    r = run_cuts(mixed, sizeof(mixed), cuts, sizeof(mixed), 0);
    ck_assert_str_eq(r->log, mixed_log);
    rec_free(r);
    /* Byte by byte and stopping at every event. */
    r = run_cuts(mixed, sizeof(mixed), cuts, sizeof(mixed), REC_STOP_ALL);
    ck_assert_str_eq(r->log, mixed_log);
    rec_free(r);
}
END_TEST

/* tn_stop at every event, combined with every cut: same events, and the
 * data bytes are neither lost nor repeated. */
START_TEST(test_stop_every_event_every_split)
{
    struct rec *ref = run_cuts(mixed, sizeof(mixed), NULL, 0, 0);

    for (size_t a = 0; a <= sizeof(mixed); a++) {
        struct rec *r = run_cuts(mixed, sizeof(mixed), &a, 1, REC_STOP_ALL);

        ck_assert_str_eq(r->log, mixed_log);
        ck_assert_uint_eq(r->datalen, ref->datalen);
        ck_assert_mem_eq(r->data, ref->data, ref->datalen);
        rec_free(r);
    }
    rec_free(ref);
}
END_TEST

/* Each stop returns right after its event: count the feeds. */
START_TEST(test_stop_counts)
{
    struct rec *r = rec_new();
    size_t done = 0, feeds = 0;

    r->stop_mask = REC_STOP_ALL;
    while (done < sizeof(mixed)) {
        size_t c = tn_feed(&r->tn, mixed + done, sizeof(mixed) - done);

        ck_assert_uint_gt(c, 0);
        done += c;
        feeds++;
    }
    ck_assert_str_eq(r->log, mixed_log);
    /* One feed per event; an option change shares the feed of the
     * negotiation that caused it. Data: "ab" FF | "c" | "d" 00 11 | FF |
     * FF | "xyz" FF. */
    ck_assert_uint_eq(r->n_data, 6);
    ck_assert_uint_eq(r->n_neg, 8);
    ck_assert_uint_eq(feeds,
                      r->n_data + r->n_neg + r->n_sub + r->n_cmd + r->n_err);
    ck_assert_uint_eq(feeds, 6 + 8 + 3 + 3 + 2);
    rec_free(r);
}
END_TEST

START_TEST(test_stop_in_data_mid_run)
{
    static const uint8_t in[] = {'a', 'b', 'c', FF, 0xfb, 0x00, 'd', 'e'};
    struct rec *r = rec_new();

    r->stop_mask = REC_STOP_DATA;
    ck_assert_uint_eq(tn_feed(&r->tn, in, sizeof(in)), 3);
    ck_assert_str_eq(r->log, "D 61 62 63\n");
    ck_assert(!tn_in_command(&r->tn)); /* the FF is not consumed */
    ck_assert_uint_eq(tn_feed(&r->tn, in + 3, 5), 5);
    ck_assert_str_eq(r->log, "D 61 62 63\nN WILL 00\nW ff fd 00\n"
                             "O R 00 +\nD 64 65\n");
    rec_free(r);
}
END_TEST

START_TEST(test_stop_in_data_ff_pair)
{
    static const uint8_t in[] = {'a', 'b', FF, FF, 'c', 'd', FF, FF};
    static const uint8_t want[] = {'a', 'b', FF, 'c', 'd', FF};
    struct rec *r = rec_new();

    r->stop_mask = REC_STOP_DATA;
    /* The run "ab" FF ends at the pair; both FFs are consumed. */
    ck_assert_uint_eq(tn_feed(&r->tn, in, 8), 4);
    ck_assert_uint_eq(r->datalen, 3);
    ck_assert_uint_eq(tn_feed(&r->tn, in + 4, 4), 4);
    ck_assert_uint_eq(r->datalen, sizeof(want));
    ck_assert_mem_eq(r->data, want, sizeof(want));
    ck_assert(!tn_in_command(&r->tn));
    /* A pair split across feeds: the second FF starts the next run. */
    rec_clear(r);
    ck_assert_uint_eq(tn_feed(&r->tn, in, 3), 2); /* "ab", FF not taken */
    ck_assert_uint_eq(tn_feed(&r->tn, in + 2, 1), 1);
    ck_assert(tn_in_command(&r->tn));
    ck_assert_uint_eq(tn_feed(&r->tn, in + 3, 3), 3); /* FF "cd" */
    ck_assert_str_eq(r->log, "D 61 62 ff 63 64\n");
    ck_assert_uint_eq(r->n_data, 2);
    rec_free(r);
}
END_TEST

START_TEST(test_stop_in_negotiation)
{
    static const uint8_t in[] = {FF, 0xfb, 0x00, 'x', FF, 0xf1, 'y'};
    struct rec *r = rec_new();

    r->stop_mask = REC_STOP_NEG | REC_STOP_CMD;
    ck_assert_uint_eq(tn_feed(&r->tn, in, sizeof(in)), 3);
    /* The Q method still answered: the event is complete. */
    ck_assert_str_eq(r->log, "N WILL 00\nW ff fd 00\nO R 00 +\n");
    ck_assert_uint_eq(tn_feed(&r->tn, in + 3, 4), 3);
    ck_assert_uint_eq(tn_feed(&r->tn, in + 6, 1), 1);
    ck_assert_str_eq(r->log,
                     "N WILL 00\nW ff fd 00\nO R 00 +\nD 78\nC f1\nD 79\n");
    rec_free(r);
}
END_TEST

START_TEST(test_stop_in_sb_and_error)
{
    static const uint8_t in[] = {FF,   0xfa, 0x18, 0x01, FF,   0xf0, FF,
                                 0xf0, FF,   0xfa, FF,   0xf0, 'z'};
    struct rec *r = rec_new();

    r->stop_mask = REC_STOP_SUB | REC_STOP_ERR;
    ck_assert_uint_eq(tn_feed(&r->tn, in, sizeof(in)), 6);
    ck_assert_uint_eq(tn_feed(&r->tn, in + 6, 7), 2);
    ck_assert_uint_eq(tn_feed(&r->tn, in + 8, 5), 4);
    ck_assert_uint_eq(tn_feed(&r->tn, in + 12, 1), 1);
    ck_assert_str_eq(r->log, "S 18: 01\nE SE_OUTSIDE\nE SB_EMPTY\nD 7a\n");
    rec_free(r);
}
END_TEST

START_TEST(test_stop_outside_callback)
{
    static const uint8_t in[] = {'a', FF, 0xf1, 'b'};
    struct rec *r = rec_new();

    tn_stop(&r->tn); /* no effect: cleared when tn_feed starts */
    ck_assert_uint_eq(tn_feed(&r->tn, in, sizeof(in)), sizeof(in));
    ck_assert_str_eq(r->log, "D 61\nC f1\nD 62\n");
    rec_free(r);
}
END_TEST

/* Stop after the first callback of long data with escaped FFs: every
 * chunk boundary moves, no byte is lost or doubled. */
START_TEST(test_stop_long_data)
{
    uint8_t in[3000], want[2000];
    size_t n = 0, w = 0;
    struct rec *r = rec_new();

    for (size_t i = 0; i < sizeof(want); i++) {
        want[w++] = (uint8_t)(i * 7);
        in[n++] = (uint8_t)(i * 7);
        if ((uint8_t)(i * 7) == FF)
            in[n++] = FF;
    }
    r->stop_mask = REC_STOP_DATA;
    ck_assert_uint_eq(rec_feed(r, in, n), n);
    ck_assert_uint_eq(r->datalen, w);
    ck_assert_mem_eq(r->data, want, w);
    rec_free(r);
}
END_TEST

START_TEST(test_fast_path_runs)
{
    static uint8_t big[65536];
    static const uint8_t in[] = {'a', 'b', FF, FF, 'c', 'd', FF, FF, 'e'};
    struct rec *r = rec_new();

    memset(big, 'x', sizeof(big));
    ck_assert_uint_eq(tn_feed(&r->tn, big, sizeof(big)), sizeof(big));
    ck_assert_uint_eq(r->n_data, 1); /* one callback for the whole run */
    ck_assert_uint_eq(r->datalen, sizeof(big));
    rec_clear(r);
    ck_assert_uint_eq(tn_feed(&r->tn, in, sizeof(in)), sizeof(in));
    ck_assert_uint_eq(r->n_data, 3); /* one per escaped FF + 1 */
    ck_assert_str_eq(r->log, "D 61 62 ff 63 64 ff 65\n");
    rec_free(r);
}
END_TEST

START_TEST(test_all_bytes_in)
{
    uint8_t in[512], want[256];
    size_t n = 0;

    for (int i = 0; i < 256; i++) {
        want[i] = (uint8_t)i;
        in[n++] = (uint8_t)i;
        if (i == FF)
            in[n++] = FF;
    }
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        struct rec *r = rec_new();

        if (bytewise)
            for (size_t i = 0; i < n; i++)
                ck_assert_uint_eq(tn_feed(&r->tn, in + i, 1), 1);
        else
            ck_assert_uint_eq(tn_feed(&r->tn, in, n), n);
        ck_assert_uint_eq(r->datalen, 256);
        ck_assert_mem_eq(r->data, want, 256);
        ck_assert_uint_eq(r->n_err + r->n_cmd + r->n_neg + r->n_sub, 0);
        ck_assert_uint_eq(r->outlen, 0);
        rec_free(r);
    }
}
END_TEST

START_TEST(test_all_bytes_out)
{
    uint8_t in[256], want[257];
    struct rec *r = rec_new(), *peer = rec_new();

    for (int i = 0; i < 256; i++)
        in[i] = want[i] = (uint8_t)i;
    want[256] = FF;
    tn_send_data(&r->tn, in, 256);
    ck_assert_uint_eq(r->outlen, 257); /* 0x00..0xfe, then FF FF */
    ck_assert_mem_eq(r->out, want, 257);
    ck_assert_uint_eq(r->n_out, 1);
    ck_assert_uint_eq(tn_feed(&peer->tn, r->out, r->outlen), r->outlen);
    ck_assert_uint_eq(peer->datalen, 256);
    ck_assert_mem_eq(peer->data, in, 256);
    /* No FF: passed through in one call. */
    rec_clear(r);
    tn_send_data(&r->tn, in, 255);
    ck_assert_uint_eq(r->n_out, 1);
    ck_assert_uint_eq(r->outlen, 255);
    ck_assert_mem_eq(r->out, in, 255);
    tn_send_data(&r->tn, in, 0);
    ck_assert_uint_eq(r->n_out, 1);
    rec_free(r);
    rec_free(peer);
}
END_TEST

/* Larger than the stack buffer: chunked, still byte-exact. */
START_TEST(test_send_data_chunked)
{
    static uint8_t in[100000];
    uint32_t x = 12345;
    size_t nff = 0;
    struct rec *r = rec_new(), *peer = rec_new();

    for (size_t i = 0; i < sizeof(in); i++) {
        x = x * 1103515245u + 12345u;
        in[i] = (i % 3 == 0) ? FF : (uint8_t)(x >> 16);
        nff += in[i] == FF;
    }
    tn_send_data(&r->tn, in, sizeof(in));
    ck_assert_uint_eq(r->outlen, sizeof(in) + nff);
    ck_assert_uint_gt(r->n_out, 1);
    for (size_t i = 0, o = 0; i < sizeof(in); i++) {
        ck_assert_uint_eq(r->out[o++], in[i]);
        if (in[i] == FF)
            ck_assert_uint_eq(r->out[o++], FF);
    }
    ck_assert_uint_eq(tn_feed(&peer->tn, r->out, r->outlen), r->outlen);
    ck_assert_uint_eq(peer->datalen, sizeof(in));
    ck_assert_mem_eq(peer->data, in, sizeof(in));
    rec_free(r);
    rec_free(peer);
}
END_TEST

START_TEST(test_escape)
{
    static const uint8_t in[] = {0x00, FF, 0x11, FF, FF, 0xf0};
    static const uint8_t want[] = {0x00, FF, FF, 0x11, FF, FF, FF, FF, 0xf0};
    uint8_t out[2 * sizeof(in)];

    ck_assert_uint_eq(tn_escape(out, in, sizeof(in)), sizeof(want));
    ck_assert_mem_eq(out, want, sizeof(want));
    ck_assert_uint_eq(tn_escape(out, in, 0), 0);
}
END_TEST

START_TEST(test_send_sb)
{
    static const uint8_t pl[] = {0x01, FF, 0xf0, 0x00};
    static const uint8_t want[] = {FF, 0xfa, 0xe8, 0x01, FF,
                                   FF, 0xf0, 0x00, FF,   0xf0};
    static const uint8_t want_empty[] = {FF, 0xfa, 0x18, FF, 0xf0};
    static const uint8_t want_255[] = {FF, 0xfa, FF, FF, 0x07, FF, 0xf0};
    static const uint8_t seven = 7;
    struct rec *r = rec_new();

    tn_send_sb(&r->tn, TN_OPT_VMWARE, pl, sizeof(pl));
    ck_assert_uint_eq(r->n_out, 1);
    ck_assert_uint_eq(r->outlen, sizeof(want));
    ck_assert_mem_eq(r->out, want, sizeof(want));
    rec_clear(r);
    tn_send_sb(&r->tn, 0x18, NULL, 0);
    ck_assert_uint_eq(r->outlen, sizeof(want_empty));
    ck_assert_mem_eq(r->out, want_empty, sizeof(want_empty));
    rec_clear(r);
    tn_send_sb(&r->tn, 255, &seven, 1);
    ck_assert_uint_eq(r->outlen, sizeof(want_255));
    ck_assert_mem_eq(r->out, want_255, sizeof(want_255));
    /* ... and our parser reads it back as option 255. */
    rec_clear(r);
    tn_feed(&r->tn, want_255, sizeof(want_255));
    ck_assert_str_eq(r->log, "S ff: 07\n");
    rec_free(r);
}
END_TEST

/* A big SB of FFs, sent in pieces: several output calls, exact bytes, and
 * a round trip through the parser. */
START_TEST(test_send_sbv_large)
{
    static uint8_t a[400], b[500];
    struct tn_buf v[3] = {{a, sizeof(a)}, {NULL, 0}, {b, sizeof(b)}};
    struct rec *r = rec_new(), *peer = rec_new();
    size_t want = 3 + 2 * sizeof(a) + sizeof(b) + 2;

    memset(a, FF, sizeof(a));
    memset(b, 0x41, sizeof(b));
    b[499] = FF;
    want++;
    tn_send_sbv(&r->tn, 0x2c, v, 3);
    ck_assert_uint_gt(r->n_out, 1);
    ck_assert_uint_eq(r->outlen, want);
    ck_assert_uint_eq(r->out[0], FF);
    ck_assert_uint_eq(r->out[1], 0xfa);
    ck_assert_uint_eq(r->out[2], 0x2c);
    for (size_t i = 3; i < 3 + 2 * sizeof(a); i++)
        ck_assert_uint_eq(r->out[i], FF);
    ck_assert_uint_eq(r->out[want - 4], FF);
    ck_assert_uint_eq(r->out[want - 3], FF);
    ck_assert_uint_eq(r->out[want - 2], FF);
    ck_assert_uint_eq(r->out[want - 1], 0xf0);
    ck_assert_uint_eq(tn_feed(&peer->tn, r->out, r->outlen), r->outlen);
    ck_assert_uint_eq(peer->n_sub, 1);
    ck_assert_uint_eq(peer->n_err, 0);
    rec_free(r);
    rec_free(peer);
}
END_TEST

START_TEST(test_send_cmd_and_raw_verb)
{
    struct rec *r = rec_new();

    tn_send_cmd(&r->tn, TN_NOP);
    tn_send_cmd(&r->tn, TN_BRK);
    tn_send_raw_verb(&r->tn, TN_WILL, TN_OPT_VMWARE);
    tn_send_raw_verb(&r->tn, TN_DO, 0x25);
    ck_assert_str_eq(r->log, "W ff f1 ff f3 ff fb e8 ff fd 25\n");
    /* Raw verbs bypass RFC 1143: no state changed. */
    ck_assert(!tn_local_enabled(&r->tn, TN_OPT_VMWARE));
    ck_assert_uint_eq(r->tn.q[TN_OPT_VMWARE], 0);
    ck_assert_uint_eq(r->tn.q[0x25], 0);
    rec_free(r);
}
END_TEST

START_TEST(test_commands)
{
    static const uint8_t in[] = {FF, 0xf1, FF, 0xf2, FF, 0xf3, FF, 0xf4,
                                 FF, 0xf5, FF, 0xf6, FF, 0xf7, FF, 0xf8,
                                 FF, 0xf9, FF, 0x41, FF, 0x00};
    struct rec *r = rec_new();

    ck_assert_uint_eq(rec_feed(r, in, sizeof(in)), sizeof(in));
    ck_assert_str_eq(r->log, "C f1\nC f2\nC f3\nC f4\nC f5\nC f6\nC f7\n"
                             "C f8\nC f9\nC 41\nC 00\n");
    ck_assert_uint_eq(r->datalen, 0);
    rec_free(r);
}
END_TEST

START_TEST(test_sb_payload_rules)
{
    /* lone F0 is payload; FF FF is one FF; option F0 is an option */
    static const uint8_t in[] = {FF,   0xfa, 0x2c, 0xf0, FF, FF,
                                 0xf0, 0x00, FF,   0xf0, FF, 0xfa,
                                 0xf0, 0x01, FF,   0xf0, 'q'};
    struct rec *r = rec_new();

    ck_assert_uint_eq(rec_feed(r, in, sizeof(in)), sizeof(in));
    ck_assert_str_eq(r->log, "S 2c: f0 ff f0 00\nS f0: 01\nD 71\n");
    rec_free(r);
}
END_TEST

START_TEST(test_err_sb_empty)
{
    static const uint8_t in[] = {FF, 0xfa, FF, 0xf0, 'A', FF, 0xfb, 0x00};
    struct rec *r = rec_new();

    ck_assert_uint_eq(rec_feed(r, in, sizeof(in)), sizeof(in));
    ck_assert_str_eq(r->log,
                     "E SB_EMPTY\nD 41\nN WILL 00\nW ff fd 00\nO R 00 +\n");
    ck_assert(!tn_failed(&r->tn));
    ck_assert_uint_eq(r->n_sub, 0);
    rec_free(r);
}
END_TEST

START_TEST(test_err_se_outside)
{
    static const uint8_t in[] = {'a', FF, 0xf0, 'b', 0xf0};
    struct rec *r = rec_new();

    ck_assert_uint_eq(rec_feed(r, in, sizeof(in)), sizeof(in));
    ck_assert_str_eq(r->log, "D 61\nE SE_OUTSIDE\nD 62 f0\n");
    ck_assert(!tn_failed(&r->tn));
    rec_free(r);
}
END_TEST

/* A fatal error at position err_at: nothing after it is parsed, whatever
 * the segmentation, and the count consumed ends at the offending byte. */
static void
check_fatal(const uint8_t *in, size_t n, size_t err_at, const char *log)
{
    for (size_t a = 0; a <= n; a++) {
        struct rec *r = rec_new();
        size_t c1 = tn_feed(&r->tn, in, a);
        size_t c2 = tn_feed(&r->tn, in + a, n - a);

        ck_assert(tn_failed(&r->tn));
        ck_assert(!tn_in_command(&r->tn));
        if (a <= err_at) {
            ck_assert_uint_eq(c1, a);
            ck_assert_uint_eq(c2, err_at + 1 - a);
        } else {
            ck_assert_uint_eq(c1, err_at + 1);
            ck_assert_uint_eq(c2, 0);
        }
        ck_assert_msg(strcmp(r->log, log) == 0, "cut %zu: %s", a, r->log);
        ck_assert_uint_eq(tn_feed(&r->tn, in, n), 0); /* stays failed */
        rec_free(r);
    }
}

START_TEST(test_err_sb_bad_iac)
{
    static const uint8_t in1[] = {'a',  FF,  0xfa, 0x18, 0x01, FF,
                                  0x41, 'b', FF,   0xfb, 0x00};
    static const uint8_t in2[] = {FF, 0xfa, FF, 0xfb, 0x00, 'b'};
    static const uint8_t in3[] = {FF, 0xfa, 0x18, FF, 0xfa, FF, 0xf0};

    check_fatal(in1, sizeof(in1), 6, "D 61\nE SB_BAD_IAC\n");
    check_fatal(in2, sizeof(in2), 3, "E SB_BAD_IAC\n");
    check_fatal(in3, sizeof(in3), 4, "E SB_BAD_IAC\n");
}
END_TEST

START_TEST(test_err_sb_overflow)
{
    static uint8_t in[TN_SB_MAX + 16];
    size_t n = 0;
    struct rec *r = rec_new();

    /* Exactly TN_SB_MAX bytes of payload is fine. */
    in[n++] = FF;
    in[n++] = 0xfa;
    in[n++] = 0x2c;
    memset(in + n, 'p', TN_SB_MAX);
    n += TN_SB_MAX;
    in[n++] = FF;
    in[n++] = 0xf0;
    ck_assert_uint_eq(rec_feed(r, in, n), n);
    ck_assert_uint_eq(r->n_sub, 1);
    ck_assert_uint_eq(r->n_err, 0);
    rec_free(r);
    /* One more byte (plain): fatal at that byte. */
    in[3 + TN_SB_MAX] = 'p';
    in[4 + TN_SB_MAX] = 'X';
    check_fatal(in, 5 + TN_SB_MAX, 3 + TN_SB_MAX, "E SB_OVERFLOW\n");
    /* One more byte, written FF FF: fatal at the second FF. */
    in[3 + TN_SB_MAX] = FF;
    in[4 + TN_SB_MAX] = FF;
    in[5 + TN_SB_MAX] = 'X';
    check_fatal(in, 6 + TN_SB_MAX, 4 + TN_SB_MAX, "E SB_OVERFLOW\n");
}
END_TEST

START_TEST(test_in_command)
{
    static const uint8_t in[] = {FF, 0xfa, 0x18, 0x01, FF, 0xf0};
    struct rec *r = rec_new();

    for (size_t i = 0; i < sizeof(in); i++) {
        ck_assert(tn_in_command(&r->tn) == (i > 0));
        tn_feed(&r->tn, in + i, 1);
    }
    ck_assert(!tn_in_command(&r->tn));
    tn_feed(&r->tn, in, 1);
    ck_assert(tn_in_command(&r->tn)); /* FF */
    tn_feed(&r->tn, (const uint8_t *)"\xfb", 1);
    ck_assert(tn_in_command(&r->tn)); /* FF WILL */
    tn_feed(&r->tn, (const uint8_t *)"\x00", 1);
    ck_assert(!tn_in_command(&r->tn));
    rec_free(r);
}
END_TEST

/* Handlers with only the required callbacks survive every event. */
START_TEST(test_optional_handlers)
{
    static const struct tn_handlers h = {
        .output = rec_cb_output,
        .data = rec_cb_data,
    };
    struct rec *r = rec_new();

    tn_init(&r->tn, &r->pol, &h, r);
    ck_assert_uint_eq(rec_feed(r, mixed, sizeof(mixed)), sizeof(mixed));
    ck_assert_str_eq(r->log, "D 61 62 ff 63\nW ff fd 00 ff fb 03 ff fe 25 "
                             "ff fc e8\nD 64 00 11 ff ff\nW ff fe 00\n"
                             "D 78 79 7a ff\n");
    /* A NULL policy refuses everything. */
    rec_clear(r);
    tn_init(&r->tn, NULL, &h, r);
    tn_feed(&r->tn, (const uint8_t *)"\xff\xfb\x00\xff\xfd\x03", 6);
    ck_assert_str_eq(r->log, "W ff fe 00 ff fc 03\n");
    rec_free(r);
}
END_TEST

#include "telnet_q_cases.h"

static Suite *
telnet_suite(void)
{
    Suite *s = suite_create("telnet");
    TCase *tc = tcase_create("parser");

    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_mixed_unsplit);
    tcase_add_test(tc, test_mixed_every_split);
    tcase_add_test(tc, test_mixed_bytewise);
    tcase_add_test(tc, test_fast_path_runs);
    tcase_add_test(tc, test_all_bytes_in);
    tcase_add_test(tc, test_commands);
    tcase_add_test(tc, test_sb_payload_rules);
    tcase_add_test(tc, test_in_command);
    tcase_add_test(tc, test_optional_handlers);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_err_sb_empty);
    tcase_add_test(tc, test_err_se_outside);
    tcase_add_test(tc, test_err_sb_bad_iac);
    tcase_add_test(tc, test_err_sb_overflow);
    suite_add_tcase(s, tc);

    tc = tcase_create("stop");
    tcase_add_test(tc, test_stop_every_event_every_split);
    tcase_add_test(tc, test_stop_counts);
    tcase_add_test(tc, test_stop_in_data_mid_run);
    tcase_add_test(tc, test_stop_in_data_ff_pair);
    tcase_add_test(tc, test_stop_in_negotiation);
    tcase_add_test(tc, test_stop_in_sb_and_error);
    tcase_add_test(tc, test_stop_outside_callback);
    tcase_add_test(tc, test_stop_long_data);
    suite_add_tcase(s, tc);

    tc = tcase_create("output");
    tcase_add_test(tc, test_all_bytes_out);
    tcase_add_test(tc, test_send_data_chunked);
    tcase_add_test(tc, test_escape);
    tcase_add_test(tc, test_send_sb);
    tcase_add_test(tc, test_send_sbv_large);
    tcase_add_test(tc, test_send_cmd_and_raw_verb);
    suite_add_tcase(s, tc);

    suite_add_tcase(s, telnet_q_tcase());
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(telnet_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
