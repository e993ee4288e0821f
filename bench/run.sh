#!/usr/bin/env bash
# bench/run.sh [BUILD_DIR]: the single-node benchmarks of bench/README.md.
#
#   1. BEGIN->GOAHEAD latency with 1,000 consoles connected and streaming,
#      against a baseline of one idle console measured in the same run
#      (host-observed, from vspc-hvsim, and node-internal, from the
#      proxy's vMotion audit lines).
#   2. RSS of one node holding 10,000 identified, idle consoles, against
#      the same node's RSS with none (measured in the same run).
#
# Goals (bench/README.md), not test thresholds: GOAHEAD p99 < 1 ms at
# 1,000 streaming consoles; 10,000 idle consoles in < 200 MB RSS. The script
# prints the numbers and the ratios, writes them to $BUILD_DIR/bench.txt,
# and fails only if a run itself failed (lost bytes, missing consoles).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
proxy=$build/vspc-proxy
hvsim=$build/vspc-hvsim
out=$build/bench.txt
base=25000
: >"$out"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

report() { echo "$*" | tee -a "$out"; }

start_proxy() { # port log
    "$proxy" --vm-listen "127.0.0.1:$1" --operator-listen "127.0.0.1:$(($1 + 1))" \
        --node-id bench --log-level info --http-listen none 2>"$2" &
    pids+=($!)
    ppid=$!
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench: proxy did not start" >&2
    exit 1
}

stop_proxy() {
    kill -TERM "$ppid" 2>/dev/null || true
    wait "$ppid" 2>/dev/null || true
}

field() { # summary-line key
    sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<<"$1"
}

# p50 p99 max of the proxy's begin_goahead_us audit fields, in a log.
node_pcts() {
    grep -o 'begin_goahead_us=[0-9]*' "$1" | cut -d= -f2 | sort -n |
        awk '{v[NR]=$1} END {if (NR==0) {print "0 0 0"; exit}
             i50=int(NR*0.50); if (i50<1) i50=1; i99=int(NR*0.99); if (i99<1) i99=1;
             print v[i50], v[i99], v[NR]}'
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# 1. GOAHEAD latency ----------------------------------------------------------
goahead_run() { # consoles rate label
    local log line
    log=$(mktemp)
    start_proxy "$base" "$log"
    line=$("$hvsim" run --proxy "127.0.0.1:$base" --consoles "$1" --rate "$2" \
        --vmotions 5 --vmotion-interval 400 --drain-timeout 30 | tail -n 1)
    stop_proxy
    if [ "$(field "$line" result)" != PASS ]; then
        echo "bench: run failed: $line" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
    read -r n50 n99 nmax < <(node_pcts "$log")
    report "goahead $3: consoles=$1 rate=$2B/s vmotions=$(field "$line" vmotions_ok)" \
        "host_p50_us=$(field "$line" goahead_us_p50) host_p99_us=$(field "$line" goahead_us_p99)" \
        "host_max_us=$(field "$line" goahead_us_max) node_p50_us=$n50 node_p99_us=$n99 node_max_us=$nmax"
    rm -f "$log"
    last_host_p99=$(field "$line" goahead_us_p99)
    last_node_p99=$n99
}

goahead_run 1 0 baseline
b_host=$last_host_p99 b_node=$last_node_p99
base=$((base + 10))
goahead_run 1000 200 loaded
report "goahead ratio loaded/baseline: host_p99=$(awk -v a="$last_host_p99" -v b="$b_host" 'BEGIN{printf "%.2f", (b>0)?a/b:0}')" \
    "node_p99=$(awk -v a="$last_node_p99" -v b="$b_node" 'BEGIN{printf "%.2f", (b>0)?a/b:0}')" \
    "goal: host p99 < 1000 us -> $([ "$last_host_p99" -lt 1000 ] && echo met || echo NOT met)"

# 2. Memory of 10,000 idle consoles ----------------------------------------------
base=$((base + 10))
log=$(mktemp)
start_proxy "$base" "$log"
rss0=$(rss_kb "$ppid")
n=${VSPC_BENCH_CONSOLES:-10000}
"$hvsim" run --proxy "127.0.0.1:$base" --consoles "$n" --connect-only \
    --duration 8 >"$build/bench-idle.out" &
hv=$!
pids+=($hv)
have=0
for _ in $(seq 1 240); do
    have=$(grep -c 'connected from' "$log" || true)
    [ "$have" -ge "$n" ] && break
    sleep 0.25
done
sleep 1
rss1=$(rss_kb "$ppid")
wait "$hv" || true
stop_proxy
rm -f "$log"
report "memory: consoles=$have/$n rss_empty_kb=$rss0 rss_loaded_kb=$rss1" \
    "per_console_bytes=$(((rss1 - rss0) * 1024 / (have > 0 ? have : 1)))" \
    "goal: < 200 MB -> $([ "$rss1" -lt 204800 ] && echo met || echo NOT met)"
[ "$have" -ge "$n" ] || { echo "bench: only $have of $n consoles identified" >&2; exit 1; }
