#!/usr/bin/env bash
# deploy/ha/up-vip.sh: the HA recipe's virtual-IP variant brought up on one
# machine, in network namespaces it creates (root needed): two load
# balancer "hosts" (namespaces LB1 and LB2), each running HAProxy
# (deploy/ha/haproxy.cfg.in) and keepalived (deploy/ha/keepalived.conf.in)
# that holds the virtual IP on the live one, and a server namespace with a
# bridge joining the three (10.213.0.0/24: servers .1, LB1 .2, LB2 .3, VIP
# .100), a coordinator pair and N vspc-proxy nodes (--proxy-protocol,
# --agent-listen). Hypervisors (vspc-hvsim, run with `ip netns exec SRV`)
# dial the VIP, port 13370. Runs in the foreground until Ctrl-C or
# SIGTERM, then stops what it started, by PID, and deletes the namespaces.
#
#   bash deploy/ha/up-vip.sh [--build DIR] [--nodes N] [--dir DIR]
#
# DIR (default a new temporary directory) gets the configurations, every
# log, `pids` ("name pid" lines), `ns` (SRV=, LB1=, LB2=, VIP= lines, to
# source) and `ready` once every node is registered, both HAProxies listen
# and LB1 holds the VIP. Inside SRV: node k's hypervisor port is
# 10.213.0.1:14000+100k, operators 127.0.0.1:14001+100k, HTTP
# 127.0.0.1:14002+100k. Needs haproxy, keepalived and iproute2.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build nodes=3 dir=
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "up-vip.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for c in haproxy keepalived ip; do
    command -v "$c" >/dev/null || { echo "up-vip.sh: $c is not installed (deploy/deps.sh --test)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "up-vip.sh: network namespaces need root" >&2; exit 1; }
[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/vspc-vip.XXXXXX")
mkdir -p "$dir"
rm -f "$dir/ready" "$dir/pids" "$dir/ns"
tag=$$ net=10.213.0 port=13370
SRV=vspc-srv-$tag LB1=vspc-lb1-$tag LB2=vspc-lb2-$tag VIP=$net.100
pids=() made=()
stop() {
    trap - INT TERM EXIT
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for n in "${made[@]}"; do ip netns del "$n" 2>/dev/null || true; done
}
trap stop INT TERM EXIT
start() { # name namespace command...
    local name=$1 ns=$2
    shift 2
    ip netns exec "$ns" "$@" >"$dir/$name.log" 2>&1 &
    pids+=($!)
    echo "$name $!" >>"$dir/pids"
}
in_srv() { ip netns exec "$SRV" "$@"; }
wait_srv_port() { # port
    local i
    for i in $(seq 1 200); do
        in_srv bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "up-vip.sh: nothing listens on $SRV 127.0.0.1:$1 (see $dir)" >&2
    exit 1
}

# The namespaces: SRV holds the bridge; each LB joins it with a veth.
for n in "$SRV" "$LB1" "$LB2"; do
    ip netns add "$n"
    made+=("$n")
    ip -n "$n" link set lo up
done
ip -n "$SRV" link add br0 type bridge
ip -n "$SRV" addr add "$net.1/24" dev br0
ip -n "$SRV" link set br0 up
k=2
for n in "$LB1" "$LB2"; do
    ip link add "vv$tag$k" type veth peer name "vb$tag$k"
    ip link set "vv$tag$k" netns "$n"
    ip link set "vb$tag$k" netns "$SRV"
    ip -n "$SRV" link set "vb$tag$k" master br0 up
    ip -n "$n" link set "vv$tag$k" name eth0
    ip -n "$n" addr add "$net.$k/24" dev eth0
    ip -n "$n" link set eth0 up
    k=$((k + 1))
done
printf 'SRV=%s\nLB1=%s\nLB2=%s\nVIP=%s\nPORT=%s\n' "$SRV" "$LB1" "$LB2" "$VIP" "$port" >"$dir/ns"

# The servers.
c1=tcp://127.0.0.1:13380 c2=tcp://127.0.0.1:13480
start coord-primary "$SRV" "$build/coordinator/vspc-coordinator" --bind "$c1" --primary --peer "$c2"
start coord-backup "$SRV" "$build/coordinator/vspc-coordinator" --bind "$c2" --backup --peer "$c1"
servers=
for k in $(seq 1 "$nodes"); do
    p=$((14000 + 100 * k))
    start "n$k" "$SRV" "$build/vspc-proxy" --node-id "n$k" --node-index "$k" \
        --vm-listen "$net.1:$p" --operator-listen "127.0.0.1:$((p + 1))" \
        --http-listen "127.0.0.1:$((p + 2))" --agent-listen "$net.1:$((p + 3))" \
        --peer-listen "127.0.0.1:$((p + 4))" --proxy-protocol --allow "$net.0/24" \
        --coordinator "$c1" --coordinator "$c2"
    servers+="    server n$k $net.1:$p agent-port $((p + 3))"$'\n'
done
for k in $(seq 1 "$nodes"); do wait_srv_port $((14000 + 100 * k + 2)); done

# The balancers: HAProxy on every address of its host (the VIP when held,
# loopback for keepalived's check), keepalived moving the VIP.
k=1
for n in "$LB1" "$LB2"; do
    while IFS= read -r line; do
        case $line in
        @SERVERS@) printf '%s' "$servers" ;;
        *) printf '%s\n' "${line//@LB_BIND@/:$port}" ;;
        esac
    done <"$root/deploy/ha/haproxy.cfg.in" >"$dir/haproxy$k.cfg"
    haproxy -c -q -f "$dir/haproxy$k.cfg"
    start "haproxy$k" "$n" haproxy -db -f "$dir/haproxy$k.cfg"
    [ $k = 1 ] && state=MASTER prio=150 || state=BACKUP prio=100
    sed -e "s|@IFACE@|eth0|" -e "s|@VIP@|$VIP/24|" -e "s|@STATE@|$state|" \
        -e "s|@PRIORITY@|$prio|" \
        -e "s|@CHECK@|/usr/bin/timeout 1 /bin/bash -c 'exec 3<>/dev/tcp/127.0.0.1/$port'|" \
        "$root/deploy/ha/keepalived.conf.in" >"$dir/keepalived$k.conf"
    start "keepalived$k" "$n" keepalived -n -l -P -f "$dir/keepalived$k.conf" \
        -p "$dir/keepalived$k.pid" -r "$dir/keepalived$k.vrrp.pid"
    k=$((k + 1))
done
for i in $(seq 1 200); do
    ip -n "$LB1" -4 addr show dev eth0 | grep -q "inet $VIP/" && break
    sleep 0.1
done
ip -n "$LB1" -4 addr show dev eth0 | grep -q "inet $VIP/" ||
    { echo "up-vip.sh: LB1 did not take the VIP (see $dir/keepalived1.log)" >&2; exit 1; }
touch "$dir/ready"
cat <<EOT
vspc HA recipe, VIP variant, up (logs in $dir):
  hypervisors -> VIP $VIP:$port (keepalived: LB1 $net.2 or LB2 $net.3, HAProxy)
              -> nodes n1..n$nodes ($net.1:14100 ...), in namespace $SRV
  try: ip netns exec $SRV $build/vspc-hvsim run --proxy $VIP:$port --consoles 3 --reconnect
  operators: ip netns exec $SRV telnet 127.0.0.1 14101
Ctrl-C stops it.
EOT
wait
