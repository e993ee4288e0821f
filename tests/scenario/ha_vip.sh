#!/usr/bin/env bash
# ha_vip.sh BUILD_DIR: the HA recipe's virtual-IP variant end to end (ctest
# ha_vip). deploy/ha/up-vip.sh brings up, in network namespaces it makes,
# two load balancer hosts (HAProxy + keepalived), a coordinator pair and
# three nodes; 30 hosts (vspc-hvsim --reconnect, inside the server
# namespace) dial the VIP. Then HAProxy on the balancer holding the VIP is
# killed with SIGKILL: keepalived's check fails there, the other balancer
# takes the VIP, and every host's redial reaches a node through it: all 30
# consoles lost and reclaimed, none failed, the time from the kill to the
# VIP on the other balancer and to every console back (measured, bounded).
# Skipped (77) without root, network namespaces, haproxy or keepalived.
set -u
build=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "ha_vip: SKIP ($*)"; exit 77; }
[ "$(id -u)" = 0 ] || skip "network namespaces need root"
command -v haproxy >/dev/null || skip "no haproxy"
command -v keepalived >/dev/null || skip "no keepalived (deploy/deps.sh --test)"
probe=vspc-probe-$$
ip netns add "$probe" 2>/dev/null || skip "cannot make a network namespace"
ip netns del "$probe"
dir=$(mktemp -d "${TMPDIR:-/tmp}/ha_vip.XXXXXX")
up=
fail() {
    echo "ha_vip: FAIL: $*"
    for f in "$dir"/*.log "$dir"/*.out; do
        [ -f "$f" ] && { echo "---- $f"; tail -n 12 "$f"; }
    done
    [ -n "$up" ] && kill "$up" 2>/dev/null && wait "$up"
    exit 1
}
bash "$root/deploy/ha/up-vip.sh" --build "$build" --dir "$dir" >"$dir/up.out" 2>&1 &
up=$!
for _ in $(seq 1 300); do [ -f "$dir/ready" ] && break; kill -0 "$up" 2>/dev/null || break; sleep 0.1; done
[ -f "$dir/ready" ] || fail "up-vip.sh did not come up"
# shellcheck disable=SC1091
. "$dir/ns"
holds() { ip -n "$1" -4 addr show dev eth0 | grep -q "inet $VIP/"; }
holds "$LB1" && ! holds "$LB2" || fail "LB1 should hold the VIP, and only it"
connected() { # consoles connected on all nodes (inside SRV)
    local n=0 k c
    for k in 1 2 3; do
        c=$(ip netns exec "$SRV" curl -s "http://127.0.0.1:$((14002 + 100 * k))/metrics" |
            sed -n 's/^vspc_consoles{state="connected"} \([0-9]*\).*/\1/p')
        n=$((n + ${c:-0}))
    done
    echo "$n"
}
VSPC_NETNS=$SRV ip netns exec "$SRV" "$build/vspc-hvsim" run --proxy "$VIP:$PORT" \
    --consoles 30 --connect-only --reconnect --duration 14 --log-level error \
    >"$dir/hosts.out" 2>&1 &
hosts=$!
for _ in $(seq 1 100); do [ "$(connected)" = 30 ] && break; sleep 0.1; done
[ "$(connected)" = 30 ] || fail "30 hosts through the VIP: $(connected) connected"
t0=$(date +%s%N)
kill -KILL "$(awk '$1 == "haproxy1" { print $2 }' "$dir/pids")"
moved=
for _ in $(seq 1 150); do
    if holds "$LB2" && ! holds "$LB1"; then moved=$(( ($(date +%s%N) - t0) / 1000000 )); break; fi
    sleep 0.05
done
[ -n "$moved" ] || fail "the VIP did not move to LB2 within 7.5 s"
wait "$hosts"
rc=$?
line=$(grep '^hvsim: result=' "$dir/hosts.out")
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<" $line"; }
[ "$rc" = 0 ] && [ "$(field ready)" = 30 ] && [ "$(field failed)" = 0 ] ||
    fail "hosts: exit $rc: $line"
[ "$(field lost)" = 30 ] && [ "$(field reconnected)" = 30 ] ||
    fail "every host should lose its connection with HAProxy and redial: lost $(field lost), reconnected $(field reconnected)"
[ "$moved" -le 6000 ] || fail "the VIP took $moved ms to move (bound 6000)"
p99=$(( $(field reconnect_us_p99) / 1000 ))
[ "$p99" -le 10000 ] || fail "reclaim p99 $p99 ms (bound 10000)"
kill "$up" 2>/dev/null
wait "$up"
ip netns list | grep -q "$SRV" && fail "the namespaces were not deleted"
echo "ha_vip: PASS (HAProxy on LB1 killed: the VIP on LB2 after $moved ms; all 30 hosts reclaimed through it, per-console reclaim p50 $(( $(field reconnect_us_p50) / 1000 )) ms, p99 $p99 ms)"
rm -rf "$dir"
