#!/usr/bin/env bash
# privdrop.sh BUILD_DIR: least privilege (ctest privdrop). Started as root
# with --user nobody, vspc-proxy and vspc-coordinator bind their ports
# first, then run as nobody (every uid and gid of the process, no
# supplementary groups), and the node still serves: a console connects and
# is listed; a node registers with the coordinator. A user that does not
# exist is refused at start with a clear line. Skipped (77) when not root.
# Ports 25740-25747.
set -u
build=$1
[ "$(id -u)" = 0 ] || { echo "privdrop: SKIP (not root)"; exit 77; }
id nobody >/dev/null 2>&1 || { echo "privdrop: SKIP (no user nobody)"; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/privdrop.XXXXXX")
pids=()
fail() {
    echo "privdrop: FAIL: $*"
    for f in "$dir"/*.log; do echo "---- $f"; tail -n 8 "$f"; done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    exit 1
}
uid=$(id -u nobody) gid=$(id -g nobody)
"$build/coordinator/vspc-coordinator" --bind tcp://127.0.0.1:25740 \
    --user nobody 2>"$dir/coord.log" &
pids+=($!)
"$build/vspc-proxy" --node-id n1 --node-index 1 --vm-listen 127.0.0.1:25743 \
    --operator-listen 127.0.0.1:25744 --http-listen 127.0.0.1:25745 \
    --peer-listen 127.0.0.1:25746 --coordinator tcp://127.0.0.1:25740 \
    --user nobody 2>"$dir/node.log" &
node=$!
pids+=("$node")
for _ in $(seq 1 100); do
    grep -q "running as nobody" "$dir/node.log" && break
    sleep 0.05
done
for p in "${pids[@]}"; do
    st=/proc/$p/status
    [ -r "$st" ] || fail "process $p is gone"
    read -r _ r e s f < <(grep '^Uid:' "$st")
    [ "$r $e $s $f" = "$uid $uid $uid $uid" ] || fail "process $p uids: $r $e $s $f"
    read -r _ r e s f < <(grep '^Gid:' "$st")
    [ "$r $e $s $f" = "$gid $gid $gid $gid" ] || fail "process $p gids: $r $e $s $f"
    groups=$(sed -n 's/^Groups:[[:space:]]*//p' "$st")
    [ -z "${groups// /}" ] || fail "process $p keeps groups: $groups"
done
"$build/vspc-hvsim" run --proxy 127.0.0.1:25743 --consoles 2 --connect-only \
    --duration 600 --log-level error --uuid-base 0123456789abcdeffedcba9800580000 \
    >"$dir/hosts.log" 2>&1 &
pids+=($!)
ok=
for _ in $(seq 1 100); do
    n=$(curl -s http://127.0.0.1:25745/metrics | sed -n 's/^vspc_consoles{state="connected"} \([0-9]*\).*/\1/p')
    reg=$(curl -s http://127.0.0.1:25745/api/v1/cluster | grep -c '"state":"active"')
    [ "${n:-0}" = 2 ] && [ "$reg" = 1 ] && { ok=1; break; }
    sleep 0.1
done
[ -n "$ok" ] || fail "as nobody: consoles ${n:-?} connected, registered: ${reg:-?}"
if "$build/vspc-proxy" --vm-listen 127.0.0.1:25747 --operator-listen 127.0.0.1:25748 \
    --http-listen none --user no-such-user-vspc 2>"$dir/bad.log"; then
    fail "an unknown --user started"
fi
grep -q -- "--user no-such-user-vspc: no such user" "$dir/bad.log" || fail "no clear line for an unknown user"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
wait 2>/dev/null
echo "privdrop: PASS (coordinator and node run as nobody (uid $uid, gid $gid, no groups) after binding; the node serves)"
rm -rf "$dir"
