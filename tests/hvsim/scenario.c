/*
 * scenario.c: `vspc-hvsim scenario N --proxy ADDR --operator ADDR`, the
 * conformance scenarios of PROTOCOL.md section 10 against a running
 * vspc-proxy. Exit 0 pass, 1 fail, 77 not applicable to one plain node.
 *
 * This file: the command line, the shared helpers (scenario.h) and the
 * dispatch. Scenarios 1-25 are in scen_telnet.c, 26-48 in scen_vmotion.c,
 * 49-50 (two nodes of a cluster) in scen_cluster.c, 51-56 in scen_misc.c; the
 * client library in script.c and scen_roles.c.
 */
#include "vspc/compat.h"

#include "scenario.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"
#include "scen_edge.h"
#include "scen_ops.h"
#include "scen_pace.h"

/* The address of the last source a BEGIN went out on: with --peer-proxy,
 * a destination host dials the other node. */
static const char *scen_src_addr;

static struct scr_conn *
scen_vm_at(const char *addr, const char *name, struct scr_hs *hs)
{
    struct scr_conn *c = scr_connect(addr, name, 3000);

    if (!c)
        return NULL;
    if (!scr_handshake(c, hs)) {
        scr_close(c);
        return NULL;
    }
    return c;
}

struct scr_conn *
scen_vm_hs(struct scen *s, const char *name, struct scr_hs *hs)
{
    return scen_vm_at(s->vm, name, hs);
}

const char *
scen_dest_addr(const struct scen *s)
{
    if (!s->peer_vm)
        return s->vm;
    if (scen_src_addr && strcmp(scen_src_addr, s->peer_vm) == 0)
        return s->vm;
    return s->peer_vm;
}

struct scr_conn *
scen_vm(struct scen *s, unsigned vmno, const char *label,
        char id[VMX_CONSOLE_ID_MAX + 1])
{
    char text[48], norm[VMX_UUID_HEX + 1], uri[64], name[32], cname[48];
    struct scr_hs hs = {0};

    scr_uuid(vmno, text, norm);
    snprintf(uri, sizeof(uri), "vSPC.py%s%s", label ? "?port=" : "",
             label ? label : "");
    snprintf(name, sizeof(name), "vm-%u", vmno);
    snprintf(cname, sizeof(cname), "vm%u%s%s", vmno, label ? "." : "",
             label ? label : "");
    if (id)
        snprintf(id, VMX_CONSOLE_ID_MAX + 1, "%s%s%s", norm, label ? "." : "",
                 label ? label : "");
    hs.uuid = text;
    hs.name = name;
    hs.uri = uri;
    return scen_vm_hs(s, cname, &hs);
}

struct scr_conn *
scen_op(struct scen *s, const char *id, const char *mode)
{
    uint64_t off = 1;
    struct scr_conn *op = scr_op_open_attached(s->op, id, mode, &off);

    if (op && off != 0) {
        scr_fail(__FILE__, __LINE__,
                 "attach %s: offset=%llu, expected 0 (short stream, 64 KiB "
                 "scrollback)",
                 id, (unsigned long long)off);
        return NULL;
    }
    return op;
}

bool
scen_begin(struct scr_conn *src, const uint8_t *seq, size_t nseq,
           uint8_t secret[VMX_SECRET_LEN])
{
    int64_t t0 = scr_now_ms();
    const uint8_t *p;
    size_t n;

    scen_src_addr = src->addr;
    if (!scr_send_vmx(src, VMX_VMOTION_BEGIN, seq, nseq))
        return false;
    p = scr_expect_vmx(src, VMX_VMOTION_GOAHEAD, &n, 5000);
    if (!p)
        return false;
    if (n != nseq + VMX_SECRET_LEN || memcmp(p, seq, nseq) != 0) {
        scr_fail(__FILE__, __LINE__,
                 "conn %s: GOAHEAD payload must be the %zu-byte sequence "
                 "followed by an %d-byte secret",
                 src->name, nseq, VMX_SECRET_LEN);
        fprintf(stderr, "  sequence (%zu): ", nseq);
        scr_hex(stderr, seq, nseq, 256);
        fprintf(stderr, "\n  received (%zu): ", n);
        scr_hex(stderr, p, n, 300);
        fputc('\n', stderr);
        return false;
    }
    if (scr_now_ms() - t0 >= 5000) {
        scr_fail(__FILE__, __LINE__, "GOAHEAD after %lld ms (limit 5000)",
                 (long long)(scr_now_ms() - t0));
        return false;
    }
    memcpy(secret, p + nseq, VMX_SECRET_LEN);
    return true;
}

struct scr_conn *
scen_peer(struct scen *s, unsigned vmno, const uint8_t *seq, size_t nseq,
          const uint8_t *secret, size_t nsecret, bool expect_ok)
{
    char text[48], norm[VMX_UUID_HEX + 1], name[32];
    struct scr_hs hs = {0};
    static unsigned k;

    scr_uuid(vmno, text, norm);
    snprintf(name, sizeof(name), "peer%u.%u", vmno, ++k);
    hs.uuid = text;
    hs.name = "vm-peer";
    hs.seq = seq;
    hs.nseq = nseq;
    hs.secret = secret;
    hs.nsecret = nsecret;
    hs.expect_peer_ok = expect_ok;
    hs.no_comport = !expect_ok;
    return scen_vm_at(scen_dest_addr(s), name, &hs);
}

bool
scen_vmotion(struct scen *s, unsigned vmno, struct scr_conn **src,
             const uint8_t *seq, size_t nseq)
{
    uint8_t secret[VMX_SECRET_LEN];
    struct scr_conn *dst;

    if (!scen_begin(*src, seq, nseq, secret))
        return false;
    dst = scen_peer(s, vmno, seq, nseq, secret, sizeof(secret), true);
    if (!dst || !scr_send_vmx(dst, VMX_VMOTION_COMPLETE, seq, nseq))
        return false;
    /* The proxy closes the source once the peer completed. */
    if (!scr_expect_eof(*src, SCR_T_ANSWER))
        return false;
    scr_close(*src);
    *src = dst;
    return true;
}

bool
scen_v2o(struct scr_conn *vm, struct scr_conn *op, uint64_t seed, uint64_t off,
         size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    bool ok;

    if (!b)
        exit(2);
    pat_fill(seed, off, b, n);
    ok = scr_send_data(vm, b, n) &&
         scr_expect_pattern(op, seed, off, n, SCR_T_ANSWER);
    free(b);
    return ok;
}

bool
scen_o2v(struct scr_conn *op, struct scr_conn *vm, uint64_t seed, uint64_t off,
         size_t n)
{
    return scen_v2o(op, vm, seed, off, n);
}

/* Waits for text in c's data stream from offset `from` on; the offset just
 * past it, or -1 (printed). */
long
scen_wait_text(struct scr_conn *c, size_t from, const char *text,
               int timeout_ms)
{
    int64_t deadline = scr_now_ms() + timeout_ms;
    size_t tl = strlen(text);

    for (;;) {
        const uint8_t *p = NULL;

        if (c->ndata > from)
            p = memmem(c->data + from, c->ndata - from, text, tl);
        if (p)
            return (long)(p - c->data + tl);
        if (scr_now_ms() >= deadline || c->eof)
            break;
        scr_pump(c, (int)(deadline - scr_now_ms()));
    }
    scr_fail(__FILE__, __LINE__, "conn %s: no \"%s\" within %d ms%s", c->name,
             text, timeout_ms, c->eof ? " (closed)" : "");
    scr_dump(c);
    return -1;
}

bool
scen_console_state(struct scen *s, const char *id, const char *state,
                   int timeout_ms)
{
    struct scr_conn *op = scr_op_connect(s->op);
    bool ok;

    if (!op)
        return false;
    ok = scr_op_wait_console(op, id, state, timeout_ms);
    scr_close(op);
    return ok;
}

int
scen_count_consoles(struct scr_conn *op)
{
    static struct scr_console arr[64];

    return scr_op_list(op, arr, 64);
}

int
scen_proxy_fds(struct scen *s)
{
    char path[64];
    DIR *d;
    struct dirent *de;
    int n = 0;

    if (s->pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%ld/fd", s->pid);
    d = opendir(path);
    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* ---- dispatch
 * ---------------------------------------------------------------- */

static const char *const scen_names[57] = {
    [1] = "will_auth",
    [2] = "handshake",
    [3] = "ks1_before_ks2",
    [4] = "no_will_232",
    [5] = "wont_232",
    [6] = "bytewise_handshake",
    [7] = "single_segment",
    [8] = "iac_split",
    [9] = "do_proxy_server",
    [10] = "wrong_service_uri",
    [11] = "do_proxy_client",
    [12] = "do_proxy_empty",
    [13] = "unknown_suboption",
    [14] = "unknown_rcvd_1",
    [15] = "truncated_sb",
    [16] = "unterminated_sb",
    [17] = "vm_name_hostile",
    [18] = "uuid_malformed",
    [19] = "empty_sb_se_outside",
    [20] = "bad_iac_in_sb",
    [21] = "all_bytes_to_operator",
    [22] = "all_bytes_to_vm",
    [23] = "data_before_ident",
    [24] = "will_comport",
    [25] = "negotiation_storm",
    [26] = "vmotion_success",
    [27] = "vmotion_seq_lengths",
    [28] = "vmotion_ff_escaping",
    [29] = "source_fin_first",
    [30] = "source_fin_no_peer",
    [31] = "typing_during_vmotion",
    [32] = "data_with_begin",
    [33] = "begin_burst",
    [34] = "peer_wrong_secret",
    [35] = "peer_wrong_seq",
    [36] = "peer_without_begin",
    [37] = "peer_replay",
    [38] = "peer_concurrent",
    [39] = "peer_on_source",
    [40] = "complete_duplicate",
    [41] = "complete_on_source",
    [42] = "complete_without_peer",
    [43] = "abort_after_goahead",
    [44] = "abort_on_peer",
    [45] = "abort_without_begin",
    [46] = "begin_while_pending",
    [47] = "begin_unidentified",
    [48] = "refuse_vmotion",
    [49] = "cluster_peer_other_node",
    [50] = "cluster_owner_crash",
    [51] = "two_ports_vmotion",
    [52] = "reconnect_same_uuid",
    [53] = "telnets",
    [54] = "telnets_buffered",
    [55] = "idle_half_open_peer",
    [56] = "reconnect_storm",
};

static void
scen_usage(void)
{
    fprintf(stderr, "usage: vspc-hvsim scenario N --proxy ADDR:PORT --operator "
                    "ADDR:PORT\n"
                    "       vspc-hvsim scenario list\n"
                    "Runs PROTOCOL.md section 10 scenario N (1-56) against a "
                    "running vspc-proxy.\n"
                    "Exit: 0 pass, 1 fail, 77 not applicable to one node, 2 "
                    "usage.\n"
                    "       vspc-hvsim scenario 101-109 ... [--log-dir DIR]\n"
                    "Runs an operator end-to-end scenario (scen_ops.h).\n"
                    "       vspc-hvsim scenario 110-118 ... [--log-dir DIR]\n"
                    "Runs a flow-control scenario (scen_pace.h).\n"
                    "       vspc-hvsim scenario 201 ... (drain, needs "
                    "VSPC_HTTP_ADDR)\n"
                    "       vspc-hvsim scenario 53|54|301-304 ... [--tls "
                    "ADDR --tls-cert FILE]\n"
                    "Runs a telnets://, PROXY protocol or allow-list "
                    "scenario (scen_edge.h).\n"
                    "       vspc-hvsim scenario 49|50 ... --peer-proxy ADDR "
                    "[--operator2 ADDR] [--owner-pid PID]\n"
                    "Two nodes of a cluster: node A is --proxy/--operator, "
                    "node B --peer-proxy/--operator2;\n"
                    "50 SIGKILLs node A (--owner-pid) right after GOAHEAD "
                    "(scen_cluster.c).\n"
                    "With --peer-proxy, the destination hosts of 26-48 and "
                    "51 dial the node that does not\n"
                    "own the console (vMotion across nodes).\n");
}

int
scen_main(int argc, char **argv)
{
    struct scen s = {0};
    const char *pid, *name, *prefix;
    char *end;
    int rc;

    if (argc >= 2 && strcmp(argv[1], "list") == 0) {
        for (int i = 1; i <= 56; i++)
            printf("%02d %s\n", i, scen_names[i]);
        for (int i = OPS_FIRST; i <= OPS_LAST; i++)
            printf("%d ops_%s\n", i, ops_name(i));
        for (int i = PACE_FIRST; i <= PACE_LAST; i++)
            printf("%d pace_%s\n", i, pace_name(i));
        printf("%d %s\n", DRAIN_SCEN, drain_name(DRAIN_SCEN));
        for (int i = EDGE_FIRST; i <= EDGE_LAST; i++)
            printf("%d %s\n", i, edge_name(i));
        return 0;
    }
    if (argc < 2) {
        scen_usage();
        return 2;
    }
    s.n = (int)strtol(argv[1], &end, 10);
    if (*end || s.n < 1 ||
        (s.n > 56 && !ops_name(s.n) && !pace_name(s.n) && !drain_name(s.n) &&
         !edge_name(s.n))) {
        scen_usage();
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--proxy") == 0 && i + 1 < argc)
            s.vm = argv[++i];
        else if (strcmp(argv[i], "--operator") == 0 && i + 1 < argc)
            s.op = argv[++i];
        else if (strcmp(argv[i], "--log-dir") == 0 && i + 1 < argc)
            s.log_dir = argv[++i];
        else if (strcmp(argv[i], "--tls") == 0 && i + 1 < argc)
            s.tls = argv[++i];
        else if (strcmp(argv[i], "--tls-cert") == 0 && i + 1 < argc)
            s.tls_cert = argv[++i];
        else if (strcmp(argv[i], "--peer-proxy") == 0 && i + 1 < argc)
            s.peer_vm = argv[++i];
        else if (strcmp(argv[i], "--operator2") == 0 && i + 1 < argc)
            s.op2 = argv[++i];
        else if (strcmp(argv[i], "--owner-pid") == 0 && i + 1 < argc) {
            s.owner_pid = strtol(argv[++i], &end, 10);
            if (*end || s.owner_pid <= 1) {
                scen_usage();
                return 2;
            }
        } else {
            scen_usage();
            return 2;
        }
    }
    name = edge_name(s.n)      ? edge_name(s.n)
           : s.n == DRAIN_SCEN ? drain_name(s.n)
           : pace_name(s.n)    ? pace_name(s.n)
           : s.n > 56          ? ops_name(s.n)
                               : scen_names[s.n];
    prefix = ops_name(s.n) ? "ops_" : (pace_name(s.n) ? "pace_" : "");
    printf("scenario %02d %s%s\n", s.n, prefix, name);
    fflush(stdout);
    switch (s.n) {
    case 49:
    case 50:
        if (!s.peer_vm || (s.n == 50 && (!s.op2 || s.owner_pid <= 0))) {
            printf("not applicable: needs a cluster of two proxy nodes "
                   "(--peer-proxy%s)\n",
                   s.n == 50 ? ", --operator2, --owner-pid" : "");
            return SCEN_NA;
        }
        break;
    default:
        if (s.peer_vm && s.n >= 26 && s.n <= 51)
            printf("destination hosts dial the node that does not own the "
                   "console (%s or %s)\n",
                   s.vm, s.peer_vm);
        break;
    }
    if (s.peer_vm && !scr_addr_ok(s.peer_vm)) {
        fprintf(stderr, "scenario: --peer-proxy must be 127.x.x.x:PORT\n");
        return 2;
    }
    if (!scr_addr_ok(s.vm) || !scr_addr_ok(s.op)) {
        fprintf(stderr, "scenario: --proxy and --operator must be "
                        "127.x.x.x:PORT\n");
        return 2;
    }
    pid = getenv("VSPC_PROXY_PID");
    if (pid)
        s.pid = strtol(pid, NULL, 10);
    if (s.n == DRAIN_SCEN)
        rc = scen_drain(&s);
    else if (edge_name(s.n))
        rc = scen_edge(&s);
    else if (s.n == 53 || s.n == 54)
        rc = scen_tls(&s);
    else if (pace_name(s.n))
        rc = scen_pace(&s);
    else if (s.n > 56)
        rc = s.n <= 106 ? scen_ops(&s) : scen_ops2(&s);
    else if (s.n <= 25)
        rc = scen_01_25(&s);
    else if (s.n <= 48)
        rc = scen_26_48(&s);
    else if (s.n <= 50)
        rc = scen_cluster(&s);
    else
        rc = scen_51_56(&s);
    scr_close_all();
    printf("scenario %02d %s%s: %s\n", s.n, prefix, name,
           rc == SCEN_PASS ? "PASS" : (rc == SCEN_NA ? "SKIP" : "FAIL"));
    return rc;
}
