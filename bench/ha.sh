#!/usr/bin/env bash
# bench/ha.sh [BUILD_DIR] [--quick]: the high-availability benchmarks of
# bench/README.md (issue 9), each against a baseline in the same run.
#
#   node_kill     100 hosts (vspc-hvsim --reconnect, as ESXi redials)
#                 through HAProxy onto three nodes (deploy/ha/up.sh); the
#                 node holding a third is killed with SIGKILL: per console,
#                 the time from its connection lost to it identified again
#                 on a survivor (p50/p99/max), against the time the same
#                 hosts took to connect the first time. Needs haproxy
#                 (skipped with a line saying so without it).
#   coord_failover a storm of vMotions across three nodes with a
#                 coordinator pair: the success rate with the active
#                 coordinator killed (SIGKILL) a third of the way in,
#                 against the same storm with no failover.
#   etcd_failover the same storm with the directory in a three-member etcd
#                 cluster (--etcd): the member every node talks to killed
#                 (SIGKILL) a third of the way in, against the same storm
#                 with no fault. Needs etcd (skipped with a line without).
# Every byte verified by vspc-hvsim; a run that loses one fails. Only
# 127.0.0.0/8; bounded loops; only processes this script started are
# signalled, by PID.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
me=bench-ha
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_args 18 "$@"
proxy=$build/vspc-proxy
hvsim=$build/vspc-hvsim
coord=$build/coordinator/vspc-coordinator
out=$build/bench.txt
work=$(mktemp -d "${TMPDIR:-/tmp}/vspc-bench-ha.XXXXXX")
base=$((30000 + ($$ % 4) * 600)) # up.sh uses BASE..BASE+504
if [ "$quick" = 1 ]; then STORM_S=6; else STORM_S=20; fi

bench_track

# 1. Node kill behind HAProxy ------------------------------------------------------
if command -v haproxy >/dev/null; then
    bash "$root/deploy/ha/up.sh" --build "$build" --base "$base" --nodes 3 \
        --dir "$work/ha" >"$work/up.out" 2>&1 &
    up=$!
    pids+=("$up")
    for _ in $(seq 1 300); do [ -f "$work/ha/ready" ] && break; sleep 0.1; done
    [ -f "$work/ha/ready" ] || { cat "$work/up.out" >&2; fail "deploy/ha/up.sh did not come up"; }
    "$hvsim" run --proxy "127.0.0.1:$base" --consoles 100 --connect-only \
        --reconnect --duration 8 --log-level error >"$work/kill.out" 2>&1 &
    hv=$!
    pids+=("$hv")
    for _ in $(seq 1 300); do
        n=0
        for k in 1 2 3; do
            c=$(metric_at $((base + 100 * k + 2)) 'vspc_consoles{state="connected"}')
            n=$((n + ${c%.*}))
        done
        [ "$n" -ge 100 ] && break
        sleep 0.1
    done
    held=$(metric_at $((base + 102)) 'vspc_consoles{state="connected"}')
    kill -KILL "$(awk '$1 == "n1" { print $2 }' "$work/ha/pids")"
    wait "$hv" || { tail -n 5 "$work/kill.out" >&2; fail "node_kill: hvsim failed"; }
    line=$(grep '^hvsim: result=' "$work/kill.out")
    [ "$(field "$line" reconnected)" = "$(field "$line" lost)" ] && [ "$(field "$line" lost)" -gt 0 ] ||
        fail "node_kill: lost $(field "$line" lost), reconnected $(field "$line" reconnected)"
    first_ms=$(awk -v s="$(field "$line" connect_s)" 'BEGIN { printf "%.0f", s * 1000 }')
    p99_ms=$(awk -v u="$(field "$line" reconnect_us_p99)" 'BEGIN { printf "%.1f", u / 1000 }')
    report "ha_node_kill: consoles=100 nodes=3 killed_held=${held%.*} lost=$(field "$line" lost)" \
        "reclaimed=$(field "$line" reconnected)" \
        "reclaim_ms_p50=$(awk -v u="$(field "$line" reconnect_us_p50)" 'BEGIN { printf "%.1f", u / 1000 }')" \
        "reclaim_ms_p99=$p99_ms" \
        "reclaim_ms_max=$(awk -v u="$(field "$line" reconnect_us_max)" 'BEGIN { printf "%.1f", u / 1000 }')" \
        "first_connect_ms=$first_ms ratio_p99_over_first_connect=$(ratio "$p99_ms" "$first_ms")"
    kill -TERM "$up"
    wait "$up" 2>/dev/null || true
else
    report "ha_node_kill: skipped (haproxy is not installed: deploy/deps.sh --test)"
fi

# 2. vMotion success across a coordinator failover ------------------------------
c1=tcp://127.0.0.1:$((base + 10)) c2=tcp://127.0.0.1:$((base + 20))
"$coord" --bind "$c1" --primary --peer "$c2" 2>"$work/c1.log" &
c1pid=$!
pids+=("$c1pid")
"$coord" --bind "$c2" --backup --peer "$c1" 2>"$work/c2.log" &
pids+=($!)
nodes() { # port-offset store-options...: three nodes at base+100k+offset
    local off=$1 k p
    shift
    npids=()
    for k in 1 2 3; do
        p=$((base + 100 * k + off))
        "$proxy" --node-id "n$k" --node-index "$k" --vm-listen "127.0.0.1:$p" \
            --operator-listen "127.0.0.1:$((p + 1))" --http-listen "127.0.0.1:$((p + 2))" \
            --peer-listen "127.0.0.1:$((p + 4))" "$@" 2>"$work/n$k.$off.log" &
        pids+=($!)
        npids+=($!)
        wait_port $((p + 2))
    done
    for _ in $(seq 1 300); do
        [ "$(metric_at $((base + 102 + off)) vspc_peer_links_up)" = 2 ] && break
        sleep 0.05
    done
}
nodes 0 --coordinator "$c1" --coordinator "$c2"
storm() { # label uuid-base [port-offset] -> summary line
    local o=${3:-0}
    "$hvsim" run --proxy "127.0.0.1:$((base + 100 + o))" --operator "127.0.0.1:$((base + 201 + o))" \
        --consoles 30 --uuid-base "$2" --rate 2000 --operator-rate 200 \
        --vmotions 1000000 --vmotion-interval 300 --vmotion-spread --duration "$STORM_S" \
        --vmotion-dest "127.0.0.1:$((base + 100 + o))" --vmotion-dest "127.0.0.1:$((base + 200 + o))" \
        --vmotion-dest "127.0.0.1:$((base + 300 + o))" --log-level error >"$work/storm.$1" 2>&1 || true
    grep '^hvsim: result=' "$work/storm.$1" || fail "storm $1: no summary"
}
verified() { # label summary-lines...: a failed vMotion is reported; a lost byte fails
    local what=$1 l
    shift
    for l in "$@"; do
        [ "$(field "$l" ready)" = 30 ] && [ "$(field "$l" failed)" = 0 ] ||
            fail "$what: consoles did not all run: $l"
        [ "$(field "$l" vm_bytes_sent)" = "$(field "$l" vm_bytes_verified_by_operators)" ] &&
            [ "$(field "$l" op_bytes_sent)" = "$(field "$l" op_bytes_verified_by_vms)" ] ||
            fail "$what: bytes lost: $l"
    done
}
rate() { awk -v o="$(field "$1" vmotions_ok)" -v f="$(field "$1" vmotions_failed)" \
    'BEGIN { printf "%.2f", ((o + f) > 0 ? 100 * o / (o + f) : 0) }'; }
calm=$(storm calm 0123456789abcdeffedcba9800800000)
( sleep "$(awk -v s="$STORM_S" 'BEGIN { print s / 3 }')"; kill -KILL "$c1pid" ) &
killer=$!
fo=$(storm failover 0123456789abcdeffedcba9800900000)
wait "$killer" 2>/dev/null || true
verified coord_failover "$calm" "$fo"
report "ha_coord_failover: seconds=$STORM_S consoles=30 nodes=3" \
    "calm_ok=$(field "$calm" vmotions_ok) calm_failed=$(field "$calm" vmotions_failed) calm_success_pct=$(rate "$calm")" \
    "failover_ok=$(field "$fo" vmotions_ok) failover_failed=$(field "$fo" vmotions_failed) failover_success_pct=$(rate "$fo")" \
    "ratio_failover_over_calm=$(ratio "$(rate "$fo")" "$(rate "$calm")")"

# 3. vMotion success across an etcd member's death ------------------------------
if command -v etcd >/dev/null; then
    for p in "${npids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${npids[@]}"; do wait "$p" 2>/dev/null || true; done
    ic="" eps=()
    for i in 0 1 2; do
        ic+="${ic:+,}e$i=http://127.0.0.1:$((base + 33 + i))"
        eps+=(--etcd "http://127.0.0.1:$((base + 30 + i))")
    done
    epids=()
    for i in 0 1 2; do
        etcd --name "e$i" --data-dir "$work/e$i" \
            --listen-client-urls "http://127.0.0.1:$((base + 30 + i))" \
            --advertise-client-urls "http://127.0.0.1:$((base + 30 + i))" \
            --listen-peer-urls "http://127.0.0.1:$((base + 33 + i))" \
            --initial-advertise-peer-urls "http://127.0.0.1:$((base + 33 + i))" \
            --initial-cluster "$ic" --initial-cluster-token "$me.$$" \
            --log-level warn >"$work/e$i.log" 2>&1 &
        pids+=($!)
        epids+=($!)
    done
    for _ in $(seq 1 300); do
        curl -sf "http://127.0.0.1:$((base + 30))/health" 2>/dev/null | grep -q true && break
        sleep 0.1
    done
    nodes 50 "${eps[@]}"
    ecalm=$(storm etcd-calm 0123456789abcdeffedcba9800a00000 50)
    ( sleep "$(awk -v s="$STORM_S" 'BEGIN { print s / 3 }')"; kill -KILL "${epids[0]}" ) &
    killer=$!
    efo=$(storm etcd-kill 0123456789abcdeffedcba9800b00000 50)
    wait "$killer" 2>/dev/null || true
    verified etcd_failover "$ecalm" "$efo"
    report "ha_etcd_failover: seconds=$STORM_S consoles=30 nodes=3 members=3" \
        "calm_ok=$(field "$ecalm" vmotions_ok) calm_failed=$(field "$ecalm" vmotions_failed) calm_success_pct=$(rate "$ecalm")" \
        "member_kill_ok=$(field "$efo" vmotions_ok) member_kill_failed=$(field "$efo" vmotions_failed) member_kill_success_pct=$(rate "$efo")" \
        "ratio_member_kill_over_calm=$(ratio "$(rate "$efo")" "$(rate "$ecalm")")"
else
    report "ha_etcd_failover: skipped (etcd is not installed: deploy/deps.sh --test)"
fi
