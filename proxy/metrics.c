/* metrics.c: see metrics.h. */
#include "vspc/compat.h"
#include "metrics.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <event2/buffer.h>

#include "audit.h"
#include "auth.h"
#include "reload.h"
#include "cluster.h"
#include "console.h"
#include "node.h"
#include "operator.h"
#include "session.h"
#include "vmlog.h"
#include "vmotion.h"

/* ---- /metrics ------------------------------------------------------------ */

enum m_kind { M_COUNTER, M_GAUGE };

/* One plain counter or gauge read from a struct at an offset. */
struct m_row {
    const char *name;
    enum m_kind kind;
    size_t off;
    const char *help;
};

#define PXS(field) offsetof(struct proxy_stats, field)
static const struct m_row m_proxy_rows[] = {
    {"vspc_hypervisor_connections_accepted_total", M_COUNTER, PXS(hv_accepted),
     "Hypervisor connections accepted."},
    {"vspc_hypervisor_connections_closed_total", M_COUNTER, PXS(hv_closed),
     "Hypervisor connections closed."},
    {"vspc_hypervisor_connections_identified_total", M_COUNTER,
     PXS(hv_identified), "Hypervisor connections that named their VM."},
    {"vspc_hypervisor_connections_refused_total", M_COUNTER, PXS(hv_refused),
     "Hypervisor connections refused (WONT-PROXY, bad UUID)."},
    {"vspc_hypervisor_connections_denied_total", M_COUNTER, PXS(hv_denied),
     "Hypervisor connections refused by the --allow list."},
    {"vspc_takeovers_other_host_total", M_COUNTER, PXS(takeovers_other_host),
     "Live console connections replaced by one from a different host "
     "outside a vMotion."},
    {"vspc_takeovers_refused_total", M_COUNTER, PXS(takeovers_refused),
     "Connections that claimed a live console and were refused "
     "(--takeover refuse)."},
    {"vspc_proxy_protocol_errors_total", M_COUNTER, PXS(hv_pp_errors),
     "Connections closed for a missing or bad PROXY protocol header."},
    {"vspc_tls_handshakes_total", M_COUNTER, PXS(hv_tls_accepted),
     "telnets:// TLS handshakes completed."},
    {"vspc_tls_handshake_failures_total", M_COUNTER, PXS(hv_tls_failures),
     "telnets:// TLS handshakes that failed."},
    {"vspc_protocol_errors_total", M_COUNTER, PXS(proto_errors),
     "Hypervisor protocol errors."},
    {"vspc_unknown_suboptions_total", M_COUNTER, PXS(unknown_suboptions),
     "Option-232 subnegotiations of an unknown kind."},
    {"vspc_vm_bytes_received_total", M_COUNTER, PXS(bytes_from_vms),
     "Console bytes received from VMs."},
    {"vspc_vm_bytes_sent_total", M_COUNTER, PXS(bytes_to_vms),
     "Operator bytes sent to VMs."},
    {"vspc_vmotion_begins_total", M_COUNTER, PXS(vmotion_begin),
     "vMotion BEGINs answered with GOAHEAD."},
    {"vspc_vmotion_peers_rejected_total", M_COUNTER, PXS(peer_rejected),
     "vMotion PEERs rejected (wrong secret or sequence)."},
    {"vspc_operators_refused_cap_total", M_COUNTER, PXS(ops_refused_cap),
     "Operator connections refused: --max-operators reached."},
    {"vspc_operators_idle_closed_total", M_COUNTER, PXS(ops_idle_closed),
     "Operator connections closed idle at the prompt "
     "(--operator-idle-timeout)."},
    {"vspc_consoles_refused_cap_total", M_COUNTER, PXS(consoles_refused_cap),
     "New consoles refused: --max-consoles reached, none idle."},
    {"vspc_consoles_expired_early_total", M_COUNTER,
     PXS(consoles_expired_early),
     "Disconnected consoles let go early to make room (--max-consoles)."},
    {"vspc_accept_paused_total", M_COUNTER, PXS(accept_paused),
     "Times a listener paused: out of file descriptors (or memory)."},
    {"vspc_operators_accepted_total", M_COUNTER, PXS(ops_accepted),
     "Operator connections accepted."},
    {"vspc_operators_dropped_slow_total", M_COUNTER, PXS(ops_dropped_slow),
     "Slow operators disconnected."},
    {"vspc_operator_gaps_total", M_COUNTER, PXS(ops_gaps),
     "Slow operators caught up from the scrollback with a gap."},
    {"vspc_operator_gap_bytes_total", M_COUNTER, PXS(ops_gap_bytes),
     "Console bytes those slow operators missed."},
    {"vspc_operators_move_drained_total", M_COUNTER, PXS(ops_move_drained),
     "Operators that read the rest of a console here before following it "
     "to its new node."},
    {"vspc_operators_move_cut_total", M_COUNTER, PXS(ops_move_cut),
     "Operators that followed a console before reading the rest here."},
    {"vspc_operators_move_cut_bytes_total", M_COUNTER, PXS(ops_move_cut_bytes),
     "Console bytes those operators did not read here."},
    {"vspc_drain_closed_total", M_COUNTER, PXS(drain_closed),
     "Hypervisor connections let go by drain --close-after."},
    {"vspc_agent_checks_total", M_COUNTER, PXS(agent_checks),
     "Load-balancer agent checks answered (--agent-listen)."},
    {"vspc_operator_input_refused_bytes_total", M_COUNTER,
     PXS(ops_input_refused), "Input bytes refused from read-only operators."},
    {"vspc_readers_stalled_total", M_COUNTER, PXS(strm.readers_stalled),
     "Readers (operators, console logs) cut loose after the stall timeout."},
    {"vspc_readers_rejoined_total", M_COUNTER, PXS(strm.readers_rejoined),
     "Readers cut loose that caught up and pace the VM again."},
    {"vspc_console_paced_total", M_COUNTER, PXS(strm.paced),
     "Times a console stopped reading its hypervisor for a full reader."},
    {"vspc_log_reader_gaps_total", M_COUNTER, PXS(log_gaps),
     "Console log readers caught up after a stall, missing bytes."},
    {"vspc_log_reader_gap_bytes_total", M_COUNTER, PXS(log_gap_bytes),
     "Console bytes those log readers missed (marked in the log)."},
    {"vspc_hypervisor_refused_per_source_total", M_COUNTER,
     PXS(hv_refused_per_source),
     "Hypervisor connections refused: their address had "
     "--max-unidentified-per-source connections not identified yet."},
    {"vspc_hypervisor_pre_ident_all_paused_total", M_COUNTER,
     PXS(pre_paused_total),
     "Unidentified connections paused because all of them together held "
     "--max-unidentified-bytes."},
    {"vspc_hypervisor_pre_ident_paused_total", M_COUNTER, PXS(pre_paused),
     "Unidentified connections paused for holding too much data."},
};
#undef PXS

#define VLS(field) offsetof(struct vmlog_stats, field)
static const struct m_row m_vmlog_rows[] = {
    {"vspc_console_log_bytes_queued_total", M_COUNTER, VLS(bytes_queued),
     "Console log bytes queued toward the writer thread."},
    {"vspc_console_log_bytes_written_total", M_COUNTER, VLS(bytes_written),
     "Console log bytes written to files."},
    {"vspc_console_log_bytes_dropped_total", M_COUNTER, VLS(bytes_dropped),
     "Console log bytes dropped (queue full or write error)."},
    {"vspc_console_log_write_errors_total", M_COUNTER, VLS(write_errors),
     "Failed console log open, write or rename calls."},
    {"vspc_console_log_rotations_total", M_COUNTER, VLS(rotations),
     "Console log files rotated."},
    {"vspc_console_log_reopens_total", M_COUNTER, VLS(reopens),
     "Console log reopens (SIGHUP)."},
    {"vspc_console_log_queue_bytes", M_GAUGE, VLS(queue_bytes),
     "Console log bytes waiting for the writer thread."},
};
#undef VLS

#define AUS(field) offsetof(struct auth_stats, field)
static const struct m_row m_auth_rows[] = {
    {"vspc_operator_logins_total", M_COUNTER, AUS(ok),
     "Operator logins by password."},
    {"vspc_operator_cert_logins_total", M_COUNTER, AUS(cert_ok),
     "Operator logins by client certificate."},
    {"vspc_operator_logins_failed_total", M_COUNTER, AUS(failed),
     "Failed logins: unknown user or wrong password."},
    {"vspc_operator_logins_locked_total", M_COUNTER, AUS(locked),
     "Logins refused: the source failed more than --login-failures times "
     "a minute."},
    {"vspc_operator_logins_busy_total", M_COUNTER, AUS(busy),
     "Logins refused: too many being checked at once."},
    {"vspc_operator_certs_refused_total", M_COUNTER, AUS(cert_bad),
     "Client certificates refused (not verified, or not a user)."},
    {"vspc_acl_denied_total", M_COUNTER, AUS(denied),
     "Requests the ACL refused (attach, force write, drain, HTTP)."},
};
#undef AUS

static void
m_family(struct evbuffer *b, const char *name, enum m_kind kind,
         const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                        kind == M_COUNTER ? "counter" : "gauge");
}

static void
m_rows(struct evbuffer *b, const struct m_row *rows, size_t n, const void *s)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v;

        memcpy(&v, (const char *)s + rows[i].off, sizeof(v));
        m_family(b, rows[i].name, rows[i].kind, rows[i].help);
        evbuffer_add_printf(b, "%s %llu\n", rows[i].name,
                            (unsigned long long)v);
    }
}

/* A label value made of [a-z0-9_] from a human string ("IAC SE outside a
 * subnegotiation" -> "iac_se_outside_a_subnegotiation"). */
static void
m_slug(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    bool sep = false;

    for (; *s && o + 1 < cap; s++) {
        char ch = *s;

        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            if (sep && o > 0 && o + 2 < cap)
                out[o++] = '_';
            out[o++] = ch;
            sep = false;
        } else {
            sep = true;
        }
    }
    out[o] = '\0';
}

/* Microseconds as exact decimal seconds: 500 -> "0.0005", 1000000 -> "1". */
static void
m_seconds(char *out, size_t cap, uint64_t us)
{
    size_t n;

    snprintf(out, cap, "%llu.%06llu", (unsigned long long)(us / 1000000),
             (unsigned long long)(us % 1000000));
    n = strlen(out);
    while (n > 0 && out[n - 1] == '0')
        out[--n] = '\0';
    if (n > 0 && out[n - 1] == '.')
        out[--n] = '\0';
}

static void
m_goahead_histogram(struct proxy *px, struct evbuffer *b)
{
    const struct vmo_latency *l = &px->goahead;
    const char *name = "vspc_vmotion_goahead_seconds";
    uint64_t cum = 0;
    char le[32];

    evbuffer_add_printf(b,
                        "# HELP %s Time from vMotion BEGIN to our GOAHEAD "
                        "(ESXi gives up at 5 s).\n# TYPE %s histogram\n",
                        name, name);
    for (size_t i = 0; i < VMO_LAT_BUCKETS; i++) {
        cum += l->buckets[i];
        m_seconds(le, sizeof(le), vmo_latency_bounds_us[i]);
        evbuffer_add_printf(b, "%s_bucket{le=\"%s\"} %llu\n", name, le,
                            (unsigned long long)cum);
    }
    evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
                        (unsigned long long)l->count);
    m_seconds(le, sizeof(le), l->sum_us);
    evbuffer_add_printf(b, "%s_sum %s\n%s_count %llu\n", name, le[0] ? le : "0",
                        name, (unsigned long long)l->count);
    m_seconds(le, sizeof(le), l->max_us);
    m_family(b, "vspc_vmotion_goahead_max_seconds", M_GAUGE,
             "Longest BEGIN to GOAHEAD time since start.");
    evbuffer_add_printf(b, "vspc_vmotion_goahead_max_seconds %s\n",
                        le[0] ? le : "0");
}

void
met_render(struct proxy *px, uint64_t http_requests, unsigned http_logs,
           struct evbuffer *b)
{
    const struct proxy_stats *st = &px->stats;
    uint64_t by_state[CON_ST__COUNT] = {0};
    uint64_t n_ops = 0, n_sess = 0, moved = 0;
    struct console *c;
    struct session *s;
    struct oper *op;
    char kind[64];

    for (c = con_first(px->consoles); c; c = con_next(c))
        if (c->moved_node[0] || clu_shadowed(px->clu, c))
            moved++; /* another node holds it now: not "disconnected" */
        else
            by_state[con_state(c)]++;
    TAILQ_FOREACH (op, &px->operators, link)
        n_ops++;
    TAILQ_FOREACH (s, &px->sessions, link)
        n_sess++;

    m_family(b, "vspc_build_info", M_GAUGE, "Version and node of this proxy.");
    evbuffer_add_printf(b, "vspc_build_info{version=\"%s\",node=\"",
                        VSPC_VERSION);
    for (const char *p = px->cfg.node_id; *p; p++) {
        if (*p == '\\' || *p == '"')
            evbuffer_add_printf(b, "\\%c", *p);
        else if (*p == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, p, 1);
    }
    evbuffer_add_printf(b, "\"} 1\n");

    m_family(b, "vspc_consoles", M_GAUGE,
             "Consoles known, by state; moved: copies of consoles another "
             "node holds now (kept for their scrollback until they expire).");
    for (int i = 0; i < CON_ST__COUNT; i++)
        evbuffer_add_printf(b, "vspc_consoles{state=\"%s\"} %llu\n",
                            con_state_str((enum con_state)i),
                            (unsigned long long)by_state[i]);
    evbuffer_add_printf(b, "vspc_consoles{state=\"moved\"} %llu\n",
                        (unsigned long long)moved);
    m_family(b, "vspc_operators", M_GAUGE,
             "Operator connections open (command mode or attached).");
    evbuffer_add_printf(b, "vspc_operators %llu\n", (unsigned long long)n_ops);
    m_family(b, "vspc_unidentified_held_bytes", M_GAUGE,
             "Serial data held before identification, all connections.");
    evbuffer_add_printf(b, "vspc_unidentified_held_bytes %zu\n", px->pre_held);
    m_family(b, "vspc_hypervisor_connections", M_GAUGE,
             "Hypervisor connections open.");
    evbuffer_add_printf(b, "vspc_hypervisor_connections %llu\n",
                        (unsigned long long)n_sess);
    {
        uint64_t paced_now = 0;
        char secs[32];

        for (c = con_first(px->consoles); c; c = con_next(c))
            paced_now += strm_paced(&c->out) ? 1 : 0;
        m_family(b, "vspc_consoles_paced", M_GAUGE,
                 "Consoles not reading their hypervisor now: a live reader "
                 "is full.");
        evbuffer_add_printf(b, "vspc_consoles_paced %llu\n",
                            (unsigned long long)paced_now);
        m_seconds(secs, sizeof(secs), st->strm.paced_us);
        m_family(b, "vspc_console_paced_seconds_total", M_COUNTER,
                 "Time consoles spent paced (finished pauses).");
        evbuffer_add_printf(b, "vspc_console_paced_seconds_total %s\n",
                            secs[0] ? secs : "0");
    }
    if (px->clu) {
        struct clu_stats cs;

        clu_stats(px->clu, &cs);
        m_family(b, "vspc_cluster_state", M_GAUGE,
                 "This node's membership: 1 for its state (ownstore.h).");
        evbuffer_add_printf(b, "vspc_cluster_state{state=\"%s\"} 1\n",
                            clu_state_str(cs.state));
        const struct {
            const char *name, *help;
            enum m_kind type;
            unsigned long long v;
        } rows[] = {
            {"vspc_coordinator_away",
             "1 while the coordinator does not answer (the replica serves).",
             M_GAUGE, cs.away ? 1 : 0},
            {"vspc_cluster_consoles",
             "Consoles in this node's replica of the directory.", M_GAUGE,
             cs.consoles},
            {"vspc_cluster_nodes", "Nodes in this node's replica.", M_GAUGE,
             cs.nodes},
            {"vspc_coordinator_switches_total",
             "Times this node turned to the other coordinator of the pair "
             "(NotActive, or silence).",
             M_COUNTER, cs.store_switches},
            {"vspc_coordinator_registrations_total",
             "Registrations with a coordinator (each re-announces every "
             "console this node holds).",
             M_COUNTER, cs.registrations},
            {"vspc_cluster_fenced_total",
             "Consoles this node let go: a newer owner elsewhere.", M_COUNTER,
             cs.fenced},
            {"vspc_peer_links_up", "Peer links to other nodes that are up.",
             M_GAUGE, cs.links_up},
            {"vspc_peer_protocol_errors_total",
             "Peer connections closed for a bad frame or a rule broken.",
             M_COUNTER, cs.peer_errors},
            {"vspc_peer_tls_failures_total",
             "Peer link TLS handshakes that failed (certificate not from "
             "the cluster CA, expired, no certificate...).",
             M_COUNTER, cs.peer_tls_failures},
            {"vspc_peer_tls_wrong_cn_total",
             "Peer links closed: the certificate's CN was not the node id "
             "the hello claimed.",
             M_COUNTER, cs.peer_tls_wrong_cn},
            {"vspc_peer_remote_readers",
             "Other nodes' readers of this node's consoles (operators, logs).",
             M_GAUGE, cs.remote_readers},
            {"vspc_peer_remote_attachments",
             "This node's operators attached to other nodes' consoles.",
             M_GAUGE, cs.remote_attachments},
            {"vspc_vmotion_handed_over_total",
             "Consoles this node handed to another node (vMotion COMPLETE "
             "there).",
             M_COUNTER, cs.vmo_handed_over},
            {"vspc_vmotion_taken_over_total",
             "Consoles this node took over from another node by vMotion.",
             M_COUNTER, cs.vmo_taken_over},
            {"vspc_vmotion_peers_forwarded_total",
             "PEERs received here for another node's vMotion, sent to it.",
             M_COUNTER, cs.vmo_peers_forwarded},
            {"vspc_vmotion_peers_no_owner_total",
             "PEERs for a node this node has no link to: never answered.",
             M_COUNTER, cs.vmo_peers_no_owner},
            {"vspc_vmotion_claimed_total",
             "Destinations whose owner node was lost after COMPLETE: the "
             "console was claimed here.",
             M_COUNTER, cs.vmo_claimed},
            {"vspc_vmotion_handover_held_bytes_total",
             "Held operator input carried by handovers, both ways.", M_COUNTER,
             cs.vmo_held_bytes},
            {"vspc_peer_input_lost_bytes_total",
             "Operator input sent to an owner node whose link went down "
             "before it confirmed it (died with that node).",
             M_COUNTER, cs.input_lost},
            {"vspc_peer_output_lost_bytes_total",
             "Console output an owner node whose link went down had taken "
             "from the VM and not sent to this node's operators (as of its "
             "last Tip): died with that node.",
             M_COUNTER, cs.output_lost},
            {"vspc_peer_stream_restarts_total",
             "Consoles whose new owner's stream began before an operator's "
             "offset (output that died with the old owner).",
             M_COUNTER, cs.stream_restarts},
        };

        for (size_t i = 0; i < VSPC_ARRAY_LEN(rows); i++) {
            m_family(b, rows[i].name, rows[i].type, rows[i].help);
            evbuffer_add_printf(b, "%s %llu\n", rows[i].name, rows[i].v);
        }
    }
    m_family(b, "vspc_draining", M_GAUGE,
             "1 while the node is drained (operator port `drain`).");
    evbuffer_add_printf(b, "vspc_draining %d\n", px->draining ? 1 : 0);

    m_rows(b, m_proxy_rows, VSPC_ARRAY_LEN(m_proxy_rows), st);
    if (px->auth)
        m_rows(b, m_auth_rows, VSPC_ARRAY_LEN(m_auth_rows),
               auth_stats(px->auth));
    {
        uint64_t ok, failed;

        rld_counts(px, &ok, &failed);
        m_family(b, "vspc_reloads_total", M_COUNTER,
                 "SIGHUP reloads by result (failed: the configuration had "
                 "errors, nothing changed).");
        evbuffer_add_printf(b,
                            "vspc_reloads_total{result=\"ok\"} %llu\n"
                            "vspc_reloads_total{result=\"failed\"} %llu\n",
                            (unsigned long long)ok, (unsigned long long)failed);
    }

    m_family(b, "vspc_vmotions_total", M_COUNTER, "vMotions by outcome.");
    evbuffer_add_printf(b,
                        "vspc_vmotions_total{outcome=\"complete\"} %llu\n"
                        "vspc_vmotions_total{outcome=\"abort\"} %llu\n"
                        "vspc_vmotions_total{outcome=\"expired\"} %llu\n"
                        "vspc_vmotions_total{outcome=\"notnow\"} %llu\n",
                        (unsigned long long)st->vmotion_complete,
                        (unsigned long long)st->vmotion_abort,
                        (unsigned long long)st->vmotion_expired,
                        (unsigned long long)st->vmotion_notnow);
    m_goahead_histogram(px, b);
    m_family(b, "vspc_vmotion_audit_records", M_GAUGE,
             "vMotion audit records kept in memory (/api/v1/vmotions).");
    evbuffer_add_printf(b, "vspc_vmotion_audit_records %zu\n",
                        aud_count(px->audit));

    m_family(b, "vspc_telnet_errors_total", M_COUNTER,
             "Telnet parse errors on hypervisor connections, by kind.");
    for (int i = TN_ERR_NONE + 1; i < TN_ERR__COUNT; i++) {
        m_slug(kind, sizeof(kind), tn_err_str((enum tn_err)i));
        evbuffer_add_printf(b, "vspc_telnet_errors_total{kind=\"%s\"} %llu\n",
                            kind, (unsigned long long)st->tn_errors[i]);
    }

    if (px->vmlog) {
        struct vmlog_stats ls;

        vmlog_get_stats(px->vmlog, &ls);
        m_rows(b, m_vmlog_rows, VSPC_ARRAY_LEN(m_vmlog_rows), &ls);
    }

    m_family(b, "vspc_http_requests_total", M_COUNTER,
             "HTTP requests received.");
    evbuffer_add_printf(b, "vspc_http_requests_total %llu\n",
                        (unsigned long long)http_requests);
    m_family(b, "vspc_http_log_streams", M_GAUGE,
             "Console log downloads in progress (follow or not).");
    evbuffer_add_printf(b, "vspc_http_log_streams %u\n", http_logs);
}
