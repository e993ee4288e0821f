#!/usr/bin/env bash
# bench/cluster.sh [BUILD_DIR] [--quick]: the cluster benchmarks of
# bench/README.md, each a ratio against a baseline measured in the same run.
#
#   cross-node    one console flat out, every byte checked by the consumer:
#                 the producer (bench pump src, an ESXi handshake) on node 1,
#                 the consumer (pump sink, a raw operator) on node 2, against
#                 the same transfer with the consumer on node 1 (the same-node
#                 path) and through a plain TCP relay (bench pump relay).
#   convergence   N consoles over three nodes (hvsim --connect-only); the
#                 coordinator is stopped and restarted: the time until every
#                 node lists all N again, against the time the first
#                 convergence took (nodes joining a fresh coordinator).
#   vmotion       50 vMotions/s for a minute (10 s with --quick), every
#                 byte verified: BEGIN->GOAHEAD, PEER->PEER-OK and the switch
#                 gap (p50/p99) with every destination on another node of
#                 three, against the same with the destination on the owner.
#   migration     one console flat out with an operator typing, migrating
#                 among three nodes every 100 ms: throughput against the same
#                 console not migrating; bytes lost (must be 0).
# --quick: smaller (CI). Only 127.0.0.0/8; every loop bounded; only
# processes this script started are signalled, by PID.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
me=bench-cluster
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_args 22 "$@"
proxy=$build/vspc-proxy
hvsim=$build/vspc-hvsim
coord=$build/coordinator/vspc-coordinator
pump=$build/bench/vspc-bench-pump
[ -x "$pump" ] || pump=$build/vspc-bench-pump
out=$build/bench.txt
work=$(mktemp -d "${TMPDIR:-/tmp}/vspc-bench-cluster.XXXXXX")
# Below the ephemeral range (32768-), spread by PID.
base=$((28000 + ($$ % 100) * 40))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$quick" = 1 ]; then TP_BYTES=256M N_CONS=1500; else TP_BYTES=1G N_CONS=10000; fi

bench_track
now_ms() { date +%s%3N; }
metric() { metric_at $(($1 + 2)) "$2"; } # node-port name

cport=$base
start_coord() {
    "$coord" --bind "tcp://127.0.0.1:$cport" --heartbeat-timeout 3 2>>"$work/coord.log" &
    coord_pid=$!
    pids+=("$coord_pid")
}
declare -A node
start_node() { # index
    local p=$((base + 10 * $1))
    "$proxy" --node-id "n$1" --node-index "$1" --vm-listen "127.0.0.1:$p" \
        --operator-listen "127.0.0.1:$((p + 1))" --http-listen "127.0.0.1:$((p + 2))" \
        --peer-listen "127.0.0.1:$((p + 3))" --coordinator "tcp://127.0.0.1:$cport" \
        2>"$work/n$1.log" &
    pids+=($!)
    node[$1]=$p
    wait_port "$((p + 2))"
}
start_coord
for i in 1 2 3; do start_node "$i"; done
for _ in $(seq 1 200); do
    [ "$(metric "${node[1]}" vspc_peer_links_up)" = 2 ] && break
    sleep 0.05
done

# 1. Cross-node throughput --------------------------------------------------------
tp() { # label src-port sink-port uuid -> MBps
    local shm=$work/shm.$4 sp
    rm -f "$shm"
    timeout 120 "$pump" src "$2" "$TP_BYTES" "$shm" "$4" >"$work/src.$1" &
    sp=$!
    pids+=("$sp")
    for _ in $(seq 1 200); do # the console in the sink node's directory
        curl -s --max-time 2 "http://127.0.0.1:$(($3 + 1))/api/v1/consoles" | grep -q "$4" && break
        sleep 0.05
    done
    timeout 120 "$pump" sink "$3" "$TP_BYTES" "$shm" "$4" >"$work/sink.$1" ||
        { tail -n 5 "$work"/n*.log >&2; fail "$1: sink failed"; }
    wait "$sp" || fail "$1: src failed"
    field "$(cat "$work/sink.$1")" MBps
}
relay_port=$((base + 35))
"$pump" relay "$relay_port" "$((relay_port + 1))" &
pids+=($!)
wait_port "$relay_port"
shm=$work/shm.relay
"$pump" sink "$((relay_port + 1))" "$TP_BYTES" "$shm" >"$work/sink.relay" &
sk=$!
timeout 120 "$pump" src "$relay_port" "$TP_BYTES" "$shm" >"$work/src.relay" || fail "relay: src"
wait "$sk" || fail "relay: sink"
relay=$(field "$(cat "$work/sink.relay")" MBps)
same=$(tp same "${node[1]}" "$((node[1] + 1))" 00112233445566778899aabbccdd0a01)
cross=$(tp cross "${node[1]}" "$((node[2] + 1))" 00112233445566778899aabbccdd0a02)
report "cluster_throughput: bytes=$(numfmt --from=iec "$TP_BYTES") relay_MBps=$relay" \
    "same_node_MBps=$same cross_node_MBps=$cross" \
    "ratio_cross_over_same=$(ratio "$cross" "$same") ratio_cross_over_relay=$(ratio "$cross" "$relay")"

# 2. Directory convergence after a coordinator restart -----------------------------
per=$(((N_CONS + 2) / 3))
want=$((per * 3 + 2)) # and the two throughput consoles, still listed
converged() { # every node synced with the coordinator and lists $want
    for i in 1 2 3; do
        [ "$(metric "${node[$i]}" vspc_cluster_consoles)" = "$want" ] &&
            [ "$(metric "${node[$i]}" vspc_coordinator_away)" = 0 ] &&
            [ "$(metric "${node[$i]}" 'vspc_cluster_state{state="active"}')" = 1 ] ||
            return 1
    done
}
wait_converged() { # label -> ms
    local t0=$1 i
    for i in $(seq 1 1200); do
        converged && { echo $(($(now_ms) - t0)); return 0; }
        sleep 0.05
    done
    fail "$2: not converged within 60 s"
}
t0=$(now_ms)
for i in 1 2 3; do
    "$hvsim" run --proxy "127.0.0.1:${node[$i]}" --consoles "$per" --connect-only \
        --uuid-base "0123456789abcdeffedcba98000${i}0000" --duration 600 \
        --connect-timeout 120 --log-level error >"$work/hosts$i.out" 2>&1 &
    pids+=($!)
done
first=$(wait_converged "$t0" "first")
kill -TERM "$coord_pid"
wait "$coord_pid" 2>/dev/null || true
for _ in $(seq 1 200); do
    [ "$(metric "${node[1]}" vspc_coordinator_away)" = 1 ] && break
    sleep 0.05
done
t0=$(now_ms)
start_coord
again=$(wait_converged "$t0" "after the restart")
report "cluster_convergence: consoles=$want nodes=3 first_ms=$first" \
    "after_coordinator_restart_ms=$again ratio_restart_over_first=$(ratio "$again" "$first")"

# 3. vMotion latency at 50 vMotions/s: one node against three -------------------
# VMO_CONS consoles streaming (1,000 B/s each, an operator on node 2 typing
# 100 B/s into each, every byte verified both ways by vspc-hvsim), each
# migrating every VMO_IVL ms, first ones spread evenly: VMO_CONS / VMO_IVL
# = 50 vMotions/s for VMO_S seconds. Baseline: every destination host dials
# the owner (same-node vMotions on node 1). Measured: destinations dial the
# next of nodes 1, 2, 3 that is not the owner (every vMotion crosses nodes).
# Host-observed (vspc-hvsim): BEGIN->GOAHEAD, PEER->PEER-OK, and the switch
# gap (COMPLETE sent -> the operator reads the VM's first byte written on the
# destination).
vmo_run() { # label uuid-base dest-index... -> the summary line
    local label=$1 ub=$2 i args=()
    shift 2
    for i in "$@"; do args+=(--vmotion-dest "127.0.0.1:${node[$i]}"); done
    timeout $((VMO_S + 120)) "$hvsim" run --proxy "127.0.0.1:${node[1]}" \
        --operator "127.0.0.1:$((node[2] + 1))" --consoles "$VMO_CONS" \
        --uuid-base "$ub" --rate 1000 --operator-rate 100 --vmotions 1000000 \
        --vmotion-interval "$VMO_IVL" --vmotion-spread --duration "$VMO_S" \
        "${args[@]}" --connect-timeout 60 --log-level error >"$work/vmo.$label" 2>&1 ||
        { tail -n 5 "$work/vmo.$label" "$work"/n*.log >&2; fail "vmotion $label: hvsim failed"; }
    grep '^hvsim: result=PASS' "$work/vmo.$label" || fail "vmotion $label: no PASS"
}
vmo_report() { # label line
    local l=$2
    report "vmotion_$1: vmotions_ok=$(field "$l" vmotions_ok)" \
        "per_s=$(awk -v n="$(field "$l" vmotions_ok)" -v s="$(field "$l" run_s)" 'BEGIN { printf "%.1f", n / s }')" \
        "failed=$(field "$l" vmotions_failed) errors=$(field "$l" errors)" \
        "goahead_us_p50=$(field "$l" goahead_us_p50) goahead_us_p99=$(field "$l" goahead_us_p99)" \
        "peerok_us_p50=$(field "$l" peerok_us_p50) peerok_us_p99=$(field "$l" peerok_us_p99)" \
        "gap_us_p50=$(field "$l" gap_us_p50) gap_us_p99=$(field "$l" gap_us_p99) gap_us_max=$(field "$l" gap_us_max)" \
        "vm_bytes=$(field "$l" vm_bytes_verified_by_operators) op_bytes=$(field "$l" op_bytes_verified_by_vms)"
}
if [ "$quick" = 1 ]; then VMO_S=10 VMO_CONS=50 VMO_IVL=1000; else VMO_S=60 VMO_CONS=150 VMO_IVL=3000; fi
vsame=$(vmo_run same 0123456789abcdeffedcba9800100000 1)
vcross=$(vmo_run cross 0123456789abcdeffedcba9800200000 1 2 3)
vmo_report same_node "$vsame"
vmo_report cross_node "$vcross"
report "vmotion_ratio: goahead_p99=$(ratio "$(field "$vcross" goahead_us_p99)" "$(field "$vsame" goahead_us_p99)")" \
    "peerok_p99=$(ratio "$(field "$vcross" peerok_us_p99)" "$(field "$vsame" peerok_us_p99)")" \
    "gap_p99=$(ratio "$(field "$vcross" gap_us_p99)" "$(field "$vsame" gap_us_p99)")"

# 4. Migration under full throughput ---------------------------------------------
# One console streaming flat out (vspc-hvsim --rate 0, every byte verified by
# a raw operator on node 1 that types 20,000 B/s back, verified by the VM),
# for MIG_S seconds. Baseline: the same console on node 1, no vMotion.
# Measured: the same while it migrates every 100 ms among nodes 1, 2, 3.
# Reported: VM -> operator MB/s both ways and bytes lost (sent - verified,
# both directions; a loss fails the run, as hvsim's verification does).
mig_run() { # label uuid-base vmotions dest-index... -> the summary line
    local label=$1 ub=$2 n=$3 i args=()
    shift 3
    for i in "$@"; do args+=(--vmotion-dest "127.0.0.1:${node[$i]}"); done
    timeout $((MIG_S + 120)) "$hvsim" run --proxy "127.0.0.1:${node[1]}" \
        --operator "127.0.0.1:$((node[1] + 1))" --consoles 1 --uuid-base "$ub" \
        --rate 0 --operator-rate 20000 --vmotions "$n" --vmotion-interval 100 \
        --duration "$MIG_S" --drain-timeout 60 ${args[@]+"${args[@]}"} \
        --log-level error >"$work/mig.$label" 2>&1 ||
        { tail -n 5 "$work/mig.$label" "$work"/n*.log >&2; fail "migration $label: hvsim failed (bytes lost?)"; }
    grep '^hvsim: result=PASS' "$work/mig.$label" || fail "migration $label: no PASS"
}
mig_mbps() { awk -v b="$(field "$1" vm_bytes_verified_by_operators)" -v s="$(field "$1" run_s)" 'BEGIN { printf "%.1f", b / s / 1e6 }'; }
mig_lost() { # sent - verified, both directions
    echo $(($(field "$1" vm_bytes_sent) - $(field "$1" vm_bytes_verified_by_operators) +
        $(field "$1" op_bytes_sent) - $(field "$1" op_bytes_verified_by_vms)))
}
if [ "$quick" = 1 ]; then MIG_S=5; else MIG_S=20; fi
mstill=$(mig_run still 0123456789abcdeffedcba9800300000 0)
mmove=$(mig_run moving 0123456789abcdeffedcba9800400000 1000000 1 2 3)
report "migration_full_throughput: seconds=$MIG_S interval_ms=100" \
    "still_MBps=$(mig_mbps "$mstill") moving_MBps=$(mig_mbps "$mmove")" \
    "ratio_moving_over_still=$(ratio "$(mig_mbps "$mmove")" "$(mig_mbps "$mstill")")" \
    "vmotions_ok=$(field "$mmove" vmotions_ok) vmotions_failed=$(field "$mmove" vmotions_failed)" \
    "gap_us_p50=$(field "$mmove" gap_us_p50) gap_us_p99=$(field "$mmove" gap_us_p99)" \
    "bytes_lost=$(($(mig_lost "$mstill") + $(mig_lost "$mmove")))" \
    "vm_bytes=$(field "$mmove" vm_bytes_verified_by_operators) op_bytes=$(field "$mmove" op_bytes_verified_by_vms)"
