#!/usr/bin/env bash
# demo.sh: install what is needed, build, and run a local cluster on the
# embedded defaults: a vspc-coordinator pair (primary tcp://127.0.0.1:13380,
# backup tcp://127.0.0.1:13480) and three
# vspc-proxy nodes (node 1 on the default ports: hypervisors 13370,
# operators 127.0.0.1:13371, HTTP 13372, peer link 13390; nodes 2 and 3 on
# 13470-13472/13490 and 13570-13572/13590), with simulated ESXi hosts
# streaming a few VM consoles into each node, moving each with vMotion
# every 10 s to the next node (node1 -> node2 -> node3 -> node1 ...): its
# output continues on the new node at the next byte. Any console can be
# watched from any node. Ctrl-C stops all.
#   VSPC_DEMO_CONSOLES=N   consoles per node (default 2)
#   VSPC_DEMO_SECONDS=S    stop by itself after S seconds (default: never)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash deploy/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

pids=()
cleanup() {
    trap - INT TERM EXIT
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

mkdir -p build/demo
wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
}
# A coordinator pair (Binary Star): the primary on 13380, the backup on
# 13480; kill the primary and the nodes turn to the backup.
./build/coordinator/vspc-coordinator --bind tcp://127.0.0.1:13380 --primary \
    --peer tcp://127.0.0.1:13480 2>build/demo/coordinator.log &
pids+=($!)
./build/coordinator/vspc-coordinator --bind tcp://127.0.0.1:13480 --backup \
    --peer tcp://127.0.0.1:13380 2>build/demo/coordinator-backup.log &
pids+=($!)
n=${VSPC_DEMO_CONSOLES:-2}
secs=${VSPC_DEMO_SECONDS:-0}
for i in 1 2 3; do
    base=$((13270 + 100 * i)) # 13370, 13470, 13570
    # Each vMotion's destination host dials the next node's hypervisor port:
    # node i -> i+1 -> i+2 -> i ...
    dests=()
    for j in 1 2 3; do
        dests+=(--vmotion-dest "127.0.0.1:$((13270 + 100 * ((i + j - 1) % 3 + 1)))")
    done
    ./build/vspc-proxy --node-id "node$i" --node-index "$i" \
        --vm-listen "0.0.0.0:$base" --operator-listen "127.0.0.1:$((base + 1))" \
        --http-listen "127.0.0.1:$((base + 2))" \
        --peer-listen "127.0.0.1:$((base + 20))" \
        --coordinator tcp://127.0.0.1:13380 --coordinator tcp://127.0.0.1:13480 \
        2>"build/demo/node$i.log" &
    pids+=($!)
    wait_port "$base"
    ./build/vspc-hvsim run --proxy "127.0.0.1:$base" --consoles "$n" --text \
        --uuid-base "0123456789abcdeffedcba98000${i}0000" \
        --name-prefix "node$i-vm" --rate 72 --vmotions 100000 \
        --vmotion-interval 10000 "${dests[@]}" --duration "$secs" \
        >"build/demo/hosts$i.out" 2>&1 &
    pids+=($!)
done

cat <<MSG

  vspc demo: a coordinator pair and three nodes; $n simulated VMs per node (node1-vm00000,
  node2-vm00000, ...) printing a line a second, each moving with vMotion every 10 s to
  the next node (node1 -> node2 -> node3 -> node1 ...; list shows node= its owner);
  attached anywhere, watch the line numbers stay consecutive while it changes nodes.

  Attach to any console from any node (operator ports 13371, 13471, 13571):
      telnet 127.0.0.1 13371
      vspc> list                      (every console of the cluster, node= its owner)
      vspc> attach node3-vm00000      (owned by node3, watched from node1)
  Type: the VM echoes nothing, its input is counted. ^Ec. detaches; leave telnet with
  Ctrl-] then 'quit'. Logs: build/demo/. Ctrl-C here stops the demo.

MSG
if [ "$secs" -gt 0 ]; then
    sleep "$secs"
else
    wait "${pids[2]}" || true
fi
