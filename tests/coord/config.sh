#!/usr/bin/env bash
# config.sh COORDINATOR COORDSIM DIR PORT
#
# vspc-coordinator's -c FILE / -t: a good INI file passes the check, a bad
# one gets every error, one line each, FILE:LINE first, and exit 1; the
# command line overrides the file; then a coordinator started from the
# file (on 127.0.0.1:PORT) serves two fake nodes and stops cleanly on
# SIGTERM (sent to the PID started here).
set -u
coord=$1 sim=$2 dir=$3 port=$4
rm -rf "$dir"
mkdir -p "$dir"
fail() { echo "config.sh: FAIL: $*" >&2; exit 1; }

cat >"$dir/good.ini" <<INI
# vspc-coordinator
[coordinator]
bind = tcp://127.0.0.1:$port
  heartbeat-timeout = 2
max-nodes = 8
max-consoles-per-node = 5000
max-consoles = 20000
; comment
log-level = info
INI
out=$("$coord" -t -c "$dir/good.ini" 2>&1)
rc=$?
[ $rc -eq 0 ] && [ "$out" = "config ok" ] || fail "good.ini: rc=$rc: $out"

cat >"$dir/bad.ini" <<'INI'
[coordinator]
bind = tcp://example.com:1
heartbeat-timeout = 0
max-nodes = 300
bind = tcp://127.0.0.1:1
nonsense = 1
[proxy]
vm-listen = 0.0.0.0:13370
INI
want="vspc-coordinator: $dir/bad.ini:2: bind: bad value \"tcp://example.com:1\": want tcp://ADDR:PORT (numeric IPv4, [IPv6] or *; PORT to 65533: the next two ports are the update stream and the HA peer)
vspc-coordinator: $dir/bad.ini:3: heartbeat-timeout: bad value \"0\": want a positive number of seconds up to 3600
vspc-coordinator: $dir/bad.ini:4: max-nodes: bad value \"300\": want 1 to 256
vspc-coordinator: $dir/bad.ini:5: bind: given twice (first on line 2)
vspc-coordinator: $dir/bad.ini:6: unknown key \"nonsense\"
vspc-coordinator: $dir/bad.ini:7: unknown section [proxy] (only [coordinator])"
out=$("$coord" -t -c "$dir/bad.ini" 2>&1)
rc=$?
[ $rc -eq 1 ] || fail "bad.ini: rc=$rc"
[ "$out" = "$want" ] || fail "bad.ini: got:
$out
want:
$want"

# The command line wins over the file, and is checked the same way.
out=$("$coord" -t -c "$dir/good.ini" --max-nodes 0 2>&1)
[ $? -eq 1 ] && [ "$out" = 'vspc-coordinator: --max-nodes: bad value "0": want 1 to 256' ] ||
    fail "command line: $out"
out=$("$coord" -t -c "$dir/missing.ini" 2>&1)
case "$out" in
*"missing.ini: cannot open: No such file or directory"*) ;;
*) fail "missing file: $out" ;;
esac
# Without -t, errors refuse the start.
"$coord" -c "$dir/bad.ini" 2>"$dir/refused.log"
[ $? -eq 1 ] && grep -q "refusing to start: configuration errors" "$dir/refused.log" ||
    fail "bad config did not refuse to start"

# Started from the file: serves, then stops on SIGTERM with exit 0.
"$coord" -c "$dir/good.ini" 2>"$dir/coord.log" &
cpid=$!
"$sim" --port "$port" --scenario converge --nodes 2 --consoles 50 >"$dir/sim.log" 2>&1
src=$?
kill -TERM "$cpid" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$cpid" 2>/dev/null; then kill -9 "$cpid"; fail "coordinator ignored SIGTERM"; fi
wait "$cpid"
crc=$?
[ $src -eq 0 ] || { cat "$dir/sim.log" "$dir/coord.log" >&2; fail "coordsim failed"; }
[ $crc -eq 0 ] || { cat "$dir/coord.log" >&2; fail "coordinator exited $crc"; }
grep -q "requests on tcp://127.0.0.1:$port, updates on tcp://127.0.0.1:$((port + 1)) (tcp://127.0.0.1:$((port + 2)) reserved for the HA peer); heartbeat timeout 2 s; limits: 8 nodes, 5000 consoles per node, 20000 in all" "$dir/coord.log" ||
    { cat "$dir/coord.log" >&2; fail "startup line"; }
grep -q "directory: 2 nodes, 90 consoles" "$dir/coord.log" ||
    { cat "$dir/coord.log" >&2; fail "final counts"; }
echo "config.sh: ok"
