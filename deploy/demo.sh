#!/usr/bin/env bash
# demo.sh [--ports BASE]: install what is needed, build, and run a local
# cluster on the embedded defaults: a vspc-coordinator pair (primary
# tcp://127.0.0.1:13380, backup tcp://127.0.0.1:13480; each also uses the
# next two ports) and three vspc-proxy nodes (node 1 on the default ports:
# hypervisors 13370, operators 127.0.0.1:13371, HTTP 13372, peer link
# 13390; nodes 2 and 3 on 13470-13472/13490 and 13570-13572/13590), with
# simulated ESXi hosts streaming a few VM consoles into each node, moving
# each with vMotion every 10 s to the next node (node1 -> node2 -> node3 ->
# node1 ...): its output continues on the new node at the next byte. Any
# console can be watched from any node. Ctrl-C (or SIGTERM to this
# script) stops all.
#   --ports BASE           move every port off the defaults, keeping the
#                          layout: node i on BASE+100*(i-1) (+1 operators,
#                          +2 HTTP, +20 peer link), the coordinators on
#                          BASE+10 and BASE+110 (+1, +2). Default 13370.
#   VSPC_DEMO_PORTS=BASE   the same (--ports wins)
#   VSPC_DEMO_CONSOLES=N   consoles per node (default 2)
#   VSPC_DEMO_SECONDS=S    stop by itself after S seconds (default: never)
#   BUILD_DIR=dir          build directory (default build/); logs in
#                          dir/demo/
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit "$1"
}
base=${VSPC_DEMO_PORTS:-13370}
while [ $# -gt 0 ]; do
    case $1 in
    --ports) [ $# -ge 2 ] || usage 2; base=$2; shift 2 ;;
    --ports=*) base=${1#--ports=}; shift ;;
    -h | --help) usage 0 ;;
    *) echo "demo: unknown argument $1" >&2; usage 2 ;;
    esac
done
# The highest port used is BASE+222 (node 3's peer link).
if ! [[ $base =~ ^[0-9]+$ ]] || [ "$base" -lt 1024 ] || [ "$base" -gt 65313 ]; then
    echo "demo: --ports $base: a number from 1024 to 65313" >&2
    exit 2
fi
n=${VSPC_DEMO_CONSOLES:-2}
secs=${VSPC_DEMO_SECONDS:-0}
build=${BUILD_DIR:-build}

bash deploy/deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

# The ports: node i's hypervisor port, the other ports of each daemon.
node_port() { echo $((base + 100 * ($1 - 1))); }
coord1=$((base + 10))  # 13380 (+1 directory updates, +2 HA link)
coord2=$((base + 110)) # 13480
ports=()
for i in 1 2 3; do
    p=$(node_port "$i")
    ports+=("$p" $((p + 1)) $((p + 2)) $((p + 20)))
done
ports+=("$coord1" $((coord1 + 1)) $((coord1 + 2)) "$coord2" $((coord2 + 1)) $((coord2 + 2)))
busy=()
for p in "${ports[@]}"; do
    if [ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then busy+=("$p"); fi
done
if [ ${#busy[@]} -gt 0 ]; then
    echo "demo: port(s) ${busy[*]} already in use (another demo?); stop it, or move" \
        "the demo with --ports BASE (e.g. --ports $((base == 27700 ? 28700 : 27700)))" >&2
    exit 1
fi

pids=()
cleanup() {
    trap - INT TERM EXIT
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

mkdir -p "$build/demo"
# listens PID PORT: PID itself has a listening TCP socket on PORT (not just
# anything on that port).
listens() {
    ss -Hltnp "sport = :$2" 2>/dev/null | grep -q "pid=$1,"
}
# healthz PORT: GET /healthz on 127.0.0.1:PORT answers 200.
healthz() {
    local r
    r=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
        printf "GET /healthz HTTP/1.0\r\n\r\n" >&3 && head -c 16 <&3' _ "$1" \
        2>/dev/null) || return 1
    [[ $r == HTTP/1.?" 200"* ]]
}
# ready NAME PID LOG PORT [HTTP-PORT]: wait (10 s at most) until the daemon
# we started, PID, listens on PORT (and on HTTP-PORT, where /healthz
# answers 200); stop the demo if it exits or never gets there.
ready() {
    local name=$1 pid=$2 log=$3 port=$4 http=${5:-}
    for _ in $(seq 1 200); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "demo: $name (pid $pid) exited; the end of $log:" >&2
            tail -n 5 "$log" >&2
            exit 1
        fi
        if listens "$pid" "$port" &&
            { [ -z "$http" ] || { listens "$pid" "$http" && healthz "$http"; }; }; then
            return 0
        fi
        sleep 0.05
    done
    echo "demo: $name (pid $pid) not listening on $port${http:+ and $http} after 10 s;" \
        "the end of $log:" >&2
    tail -n 5 "$log" >&2
    exit 1
}

# A coordinator pair (Binary Star): the primary on BASE+10, the backup on
# BASE+110; kill the primary and the nodes turn to the backup.
"$build/coordinator/vspc-coordinator" --bind "tcp://127.0.0.1:$coord1" --primary \
    --peer "tcp://127.0.0.1:$coord2" 2>"$build/demo/coordinator.log" &
pids+=($!)
ready coordinator $! "$build/demo/coordinator.log" "$coord1"
"$build/coordinator/vspc-coordinator" --bind "tcp://127.0.0.1:$coord2" --backup \
    --peer "tcp://127.0.0.1:$coord1" 2>"$build/demo/coordinator-backup.log" &
pids+=($!)
ready coordinator-backup $! "$build/demo/coordinator-backup.log" "$coord2"
for i in 1 2 3; do
    vm=$(node_port "$i") # 13370, 13470, 13570
    # Each vMotion's destination host dials the next node's hypervisor port:
    # node i -> i+1 -> i+2 -> i ...
    dests=()
    for j in 1 2 3; do
        dests+=(--vmotion-dest "127.0.0.1:$(node_port $(((i + j - 1) % 3 + 1)))")
    done
    "$build/vspc-proxy" --node-id "node$i" --node-index "$i" \
        --vm-listen "0.0.0.0:$vm" --operator-listen "127.0.0.1:$((vm + 1))" \
        --http-listen "127.0.0.1:$((vm + 2))" \
        --peer-listen "127.0.0.1:$((vm + 20))" \
        --coordinator "tcp://127.0.0.1:$coord1" --coordinator "tcp://127.0.0.1:$coord2" \
        2>"$build/demo/node$i.log" &
    pids+=($!)
    ready "node$i" $! "$build/demo/node$i.log" "$vm" $((vm + 2))
    "$build/vspc-hvsim" run --proxy "127.0.0.1:$vm" --consoles "$n" --text \
        --uuid-base "0123456789abcdeffedcba98000${i}0000" \
        --name-prefix "node$i-vm" --rate 72 --vmotions 100000 \
        --vmotion-interval 10000 "${dests[@]}" --duration "$secs" \
        >"$build/demo/hosts$i.out" 2>&1 &
    pids+=($!)
done

op1=$(($(node_port 1) + 1))
op2=$(($(node_port 2) + 1))
op3=$(($(node_port 3) + 1))
cat <<MSG

  vspc demo: a coordinator pair and three nodes; $n simulated VMs per node (node1-vm00000,
  node2-vm00000, ...) printing a line a second, each moving with vMotion every 10 s to
  the next node (node1 -> node2 -> node3 -> node1 ...; list shows node= its owner);
  attached anywhere, watch the line numbers stay consecutive while it changes nodes.

  Attach to any console from any node (operator ports $op1, $op2, $op3):
      telnet 127.0.0.1 $op1
      vspc> list                      (every console of the cluster, node= its owner)
      vspc> attach node3-vm00000      (owned by node3, watched from node1)
  Type: the VM echoes nothing, its input is counted. ^Ec. detaches; leave telnet with
  Ctrl-] then 'quit'. Or: $build/vspcctl --operator 127.0.0.1:$op1 --http 127.0.0.1:$((op1 + 1)) list
  Logs: $build/demo/. Ctrl-C here (or kill $$) stops the demo.

MSG
if [ "$secs" -gt 0 ]; then
    sleep "$secs" & # in the background: a signal's trap runs at once
    pids+=($!)
    wait $! || true
else
    wait "${pids[2]}" || true
fi
