#!/usr/bin/env bash
# deploy/ha/up.sh: the HA recipe (deploy/ha/) brought up on one machine, on
# loopback: a coordinator pair (primary and backup), N vspc-proxy nodes
# with --proxy-protocol and --agent-listen, and HAProxy in TCP mode in
# front of their hypervisor ports (deploy/ha/haproxy.cfg.in). Runs in the
# foreground until Ctrl-C or SIGTERM, then stops everything it started, by
# PID.
#
#   bash deploy/ha/up.sh [--build DIR] [--base PORT] [--nodes N] [--dir DIR]
#                        [--etcd http://HOST:PORT ...]
#
# Ports (BASE default 14000): BASE the load balancer (point ESXi's Port URI,
# or vspc-hvsim --proxy, at it); BASE+10 the primary coordinator, BASE+20
# the backup (each uses the next two ports too); node k (1..N): BASE+100*k
# hypervisors, +1 operators, +2 HTTP, +3 agent check, +4 peer link. DIR
# (default a new temporary directory) gets haproxy.cfg, every log, `pids`
# ("name pid" lines) and `ready` once every node is registered and HAProxy
# listens. With --etcd the nodes keep the directory in that etcd cluster
# (its members, running already) and no coordinator is started. Needs
# haproxy (Debian: apt-get install haproxy) and a build.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build base=14000 nodes=3 dir= etcd=()
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --etcd) etcd+=(--etcd "$2"); shift 2 ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "up.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
command -v haproxy >/dev/null || { echo "up.sh: haproxy is not installed (apt-get install haproxy)" >&2; exit 1; }
for b in "$build/vspc-proxy" "$build/coordinator/vspc-coordinator"; do
    [ -x "$b" ] || { echo "up.sh: $b missing: build first (README)" >&2; exit 1; }
done
[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/vspc-ha.XXXXXX")
mkdir -p "$dir"
rm -f "$dir/ready" "$dir/pids"
pids=()
stop() {
    trap - INT TERM EXIT
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT
start() { # name command...
    local name=$1
    shift
    "$@" >"$dir/$name.log" 2>&1 &
    pids+=($!)
    echo "$name $!" >>"$dir/pids"
}
wait_port() { # port
    local i
    for i in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "up.sh: nothing listens on 127.0.0.1:$1 (see $dir)" >&2
    exit 1
}
c1=tcp://127.0.0.1:$((base + 10)) c2=tcp://127.0.0.1:$((base + 20))
store=(--coordinator "$c1" --coordinator "$c2")
if [ ${#etcd[@]} -gt 0 ]; then
    store=("${etcd[@]}")
else
    start coord-primary "$build/coordinator/vspc-coordinator" --bind "$c1" --primary --peer "$c2"
    start coord-backup "$build/coordinator/vspc-coordinator" --bind "$c2" --backup --peer "$c1"
fi
servers=
for k in $(seq 1 "$nodes"); do
    p=$((base + 100 * k))
    start "n$k" "$build/vspc-proxy" --node-id "n$k" --node-index "$k" \
        --vm-listen "127.0.0.1:$p" --operator-listen "127.0.0.1:$((p + 1))" \
        --http-listen "127.0.0.1:$((p + 2))" --agent-listen "127.0.0.1:$((p + 3))" \
        --peer-listen "127.0.0.1:$((p + 4))" --proxy-protocol "${store[@]}"
    servers+="    server n$k 127.0.0.1:$p agent-port $((p + 3))"$'\n'
done
while IFS= read -r line; do
    case $line in
    @SERVERS@) printf '%s' "$servers" ;;
    *) printf '%s\n' "${line//@LB_BIND@/127.0.0.1:$base}" ;;
    esac
done <"$root/deploy/ha/haproxy.cfg.in" >"$dir/haproxy.cfg"
haproxy -c -q -f "$dir/haproxy.cfg"
start haproxy haproxy -db -f "$dir/haproxy.cfg"
for k in $(seq 1 "$nodes"); do wait_port $((base + 100 * k + 2)); done
wait_port "$base"
touch "$dir/ready"
cat <<MSG
vspc HA recipe up (state, logs: $dir):
  hypervisors -> HAProxy 127.0.0.1:$base -> nodes n1..n$nodes (127.0.0.1:$((base + 100)) ...)
  coordinators: $c1 (primary), $c2 (backup)
  operators: telnet 127.0.0.1:$((base + 101)) (any node's operator port)
  status: $build/vspcctl --http 127.0.0.1:$((base + 102)) status
Ctrl-C stops everything.
MSG
wait
