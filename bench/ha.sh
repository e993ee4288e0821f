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
for k in 1 2 3; do
    p=$((base + 100 * k))
    "$proxy" --node-id "n$k" --node-index "$k" --vm-listen "127.0.0.1:$p" \
        --operator-listen "127.0.0.1:$((p + 1))" --http-listen "127.0.0.1:$((p + 2))" \
        --peer-listen "127.0.0.1:$((p + 4))" --coordinator "$c1" --coordinator "$c2" \
        2>"$work/n$k.log" &
    pids+=($!)
    wait_port $((p + 2))
done
for _ in $(seq 1 300); do
    [ "$(metric_at $((base + 102)) vspc_peer_links_up)" = 2 ] && break
    sleep 0.05
done
storm() { # label uuid-base -> summary line
    "$hvsim" run --proxy "127.0.0.1:$((base + 100))" --operator "127.0.0.1:$((base + 201))" \
        --consoles 30 --uuid-base "$2" --rate 2000 --operator-rate 200 \
        --vmotions 1000000 --vmotion-interval 300 --vmotion-spread --duration "$STORM_S" \
        --vmotion-dest "127.0.0.1:$((base + 100))" --vmotion-dest "127.0.0.1:$((base + 200))" \
        --vmotion-dest "127.0.0.1:$((base + 300))" --log-level error >"$work/storm.$1" 2>&1 || true
    grep '^hvsim: result=' "$work/storm.$1" || fail "coord_failover $1: no summary"
}
rate() { awk -v o="$(field "$1" vmotions_ok)" -v f="$(field "$1" vmotions_failed)" \
    'BEGIN { printf "%.2f", ((o + f) > 0 ? 100 * o / (o + f) : 0) }'; }
calm=$(storm calm 0123456789abcdeffedcba9800800000)
( sleep "$(awk -v s="$STORM_S" 'BEGIN { print s / 3 }')"; kill -KILL "$c1pid" ) &
killer=$!
fo=$(storm failover 0123456789abcdeffedcba9800900000)
wait "$killer" 2>/dev/null || true
for l in "$calm" "$fo"; do # a failed vMotion is reported; a lost byte fails
    [ "$(field "$l" ready)" = 30 ] && [ "$(field "$l" failed)" = 0 ] ||
        fail "coord_failover: consoles did not all run: $l"
    [ "$(field "$l" vm_bytes_sent)" = "$(field "$l" vm_bytes_verified_by_operators)" ] &&
        [ "$(field "$l" op_bytes_sent)" = "$(field "$l" op_bytes_verified_by_vms)" ] ||
        fail "coord_failover: bytes lost: $l"
done
report "ha_coord_failover: seconds=$STORM_S consoles=30 nodes=3" \
    "calm_ok=$(field "$calm" vmotions_ok) calm_failed=$(field "$calm" vmotions_failed) calm_success_pct=$(rate "$calm")" \
    "failover_ok=$(field "$fo" vmotions_ok) failover_failed=$(field "$fo" vmotions_failed) failover_success_pct=$(rate "$fo")" \
    "ratio_failover_over_calm=$(ratio "$(rate "$fo")" "$(rate "$calm")")"
