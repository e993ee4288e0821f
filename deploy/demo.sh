#!/usr/bin/env bash
# demo.sh: install what is needed, build, and run a local vspc node on its
# embedded defaults (hypervisors on 0.0.0.0:13370, operators on
# 127.0.0.1:13371) with simulated ESXi hosts streaming a few VM consoles
# that move with vMotion every 10 s. Ctrl-C stops everything.
#   VSPC_DEMO_CONSOLES=N   how many consoles (default 3)
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
./build/vspc-proxy --node-id demo 2> >(tee build/demo/proxy.log >&2) &
pids+=($!)
for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/13370) 2>/dev/null && break
    sleep 0.05
done

n=${VSPC_DEMO_CONSOLES:-3}
secs=${VSPC_DEMO_SECONDS:-0}
./build/vspc-hvsim run --proxy 127.0.0.1:13370 --consoles "$n" --text \
    --rate 72 --vmotions 100000 --vmotion-interval 10000 \
    --duration "$secs" >build/demo/hvsim.out 2>&1 &
pids+=($!)

cat <<MSG

  vspc demo: one node, $n simulated VMs (vm-00000 ... ) printing a line a second;
  each moves to another host with vMotion every 10 s: watch the line numbers stay consecutive.

  Attach from another terminal:
      telnet 127.0.0.1 13371
      vspc> list
      vspc> attach vm-00000          (type: the VM echoes nothing, its input is counted)
  Leave telnet with Ctrl-] then 'quit'. Logs: build/demo/. Ctrl-C here stops the demo.

MSG
if [ "$secs" -gt 0 ]; then
    sleep "$secs"
else
    wait "${pids[1]}" || true
fi
