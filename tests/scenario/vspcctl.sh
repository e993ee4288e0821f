#!/usr/bin/env bash
# vspcctl.sh VSPCCTL PROXY HVSIM WITH_PROXY BASE
#
# vspcctl against the real vspc-proxy (started by with-proxy.sh with HTTP
# on BASE+2 and console logs in a temporary directory) and consoles made
# by vspc-hvsim: `list` (table and --json), `log` (whole file, exact
# bytes; unknown console; --follow), `console` with stdin not a tty
# (scrollback, read-only), usage errors and an unreachable daemon.
# The pseudo-terminal test of `console` lives elsewhere.
set -u

if [ "${1:-}" != "--inner" ]; then
    ctl=$1 proxy=$2 hvsim=$3 withproxy=$4 base=$5
    logdir=$(mktemp -d "${TMPDIR:-/tmp}/vspcctl-test.XXXXXX")
    bash "$withproxy" "$proxy" "$base" \
        --http-listen "127.0.0.1:$((base + 2))" --log-dir "$logdir" -- \
        bash "$0" --inner "$ctl" "$hvsim" "$logdir" "$base"
    rc=$?
    rm -rf "$logdir"
    exit $rc
fi

shift
ctl=$1 hvsim=$2 logdir=$3 base=$4
export VSPC_HTTP="127.0.0.1:$((base + 2))"
export VSPC_OPERATOR="$VSPC_OP_ADDR"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vspcctl-out.XXXXXX")
live_pid=
cleanup() {
    [ -n "$live_pid" ] && kill "$live_pid" 2>/dev/null && wait "$live_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT

fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

uuid_done=11111111111111111111111111110000
uuid_live=22222222222222222222222222220000
id0=$uuid_done
id1=${uuid_done%0}1

# --- no consoles yet ---------------------------------------------------------
out=$("$ctl" list) || fail "list on an empty node exits $?"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] &&
    printf '%s\n' "$out" | grep -q '^ID  *NAME  *STATE  *HYPERVISOR  *OPS  *IN  *OUT$' &&
    ok "empty list: header only" || fail "empty list: $out"
[ "$("$ctl" list --json | tr -d ' \n')" = "[]" ] && ok "empty list --json" ||
    fail "empty list --json"

# --- two consoles that streamed 3000 bytes each and left ---------------------
"$hvsim" run --proxy "$VSPC_VM_ADDR" --consoles 2 --rate 6000 --bytes 3000 \
    --name-prefix ctl- --uuid-base "$uuid_done" >"$tmp/hv.out" 2>&1 ||
    { fail "hvsim run"; cat "$tmp/hv.out" >&2; }
# and one that stays connected
"$hvsim" run --proxy "$VSPC_VM_ADDR" --consoles 1 --connect-only \
    --name-prefix live- --uuid-base "$uuid_live" --duration 60 \
    >"$tmp/live.out" 2>&1 &
live_pid=$!
for _ in $(seq 1 100); do
    "$ctl" list 2>/dev/null | grep -q "^$uuid_live  *live-00000  *connected " && break
    sleep 0.05
done

out=$("$ctl" list) || fail "list exits $?"
printf '%s\n' "$out"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 4 ] && ok "list: header + 3 rows" ||
    fail "list: expected 4 lines"
printf '%s\n' "$out" |
    grep -q "^$id0  *ctl-00000  *disconnected  *-  *0  *3000  *0$" &&
    ok "list: finished console row" || fail "list: row of $id0"
printf '%s\n' "$out" |
    grep -q "^$id1  *ctl-00001  *disconnected  *-  *0  *3000  *0$" &&
    ok "list: second console row" || fail "list: row of $id1"
printf '%s\n' "$out" |
    grep -Eq "^$uuid_live  *live-00000  *connected  *127\.0\.0\.1:[0-9]+  *0  *0  *0$" &&
    ok "list: connected console row" || fail "list: row of $uuid_live"

json=$("$ctl" list --json) || fail "list --json exits $?"
for want in "\"id\": \"$id0\"" '"name": "ctl-00001"' '"state": "connected"' \
    '"bytes_in": 3000' '"offset": 3000' '"operators": 0' '"hypervisor": "-"'; do
    printf '%s\n' "$json" | grep -qF "$want" || fail "list --json lacks $want"
done
if command -v python3 >/dev/null; then
    printf '%s' "$json" | python3 -c '
import json, sys
a = json.load(sys.stdin)
assert isinstance(a, list) and len(a) == 3, a
for o in a:
    assert set(o) == {"id", "name", "state", "hypervisor", "operators",
                      "bytes_in", "bytes_out", "offset"}, o
' && ok "list --json: 3 objects, exact keys" || fail "list --json shape"
fi

# --- log ----------------------------------------------------------------------
for _ in $(seq 1 100); do # the writer thread may still be busy
    [ -s "$logdir/$id0.log" ] && break
    sleep 0.05
done
"$ctl" log "$id0" >"$tmp/log0" || fail "log exits $?"
cmp -s "$tmp/log0" "$logdir/$id0.log" && ok "log: the file, byte for byte" ||
    fail "log differs from $logdir/$id0.log"
"$ctl" log ctl-00001 >"$tmp/log1" || fail "log by name exits $?"
cmp -s "$tmp/log1" "$logdir/$id1.log" && ok "log by VM name" ||
    fail "log by name differs"
"$ctl" log 111111111111111111111111111100 >/dev/null 2>"$tmp/err" &&
    fail "ambiguous prefix accepted" || ok "log: ambiguous prefix refused"
"$ctl" log nosuchconsole >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "no such console" "$tmp/err" &&
    ok "log: unknown console" || fail "log: unknown console"
timeout 1 "$ctl" log "$id0" --follow >"$tmp/follow"
[ $? -eq 124 ] && cmp -s "$tmp/follow" "$logdir/$id0.log" &&
    ok "log --follow: the file, then waits" || fail "log --follow"

# --- console with stdin not a tty: scrollback, read-only -----------------------
"$ctl" console ctl-00000 --ro </dev/null >"$tmp/con" 2>"$tmp/conerr"
rc=$?
[ $rc -eq 0 ] && grep -q "^ok attached $id0 ro offset=0" "$tmp/conerr" &&
    ok "console --ro: attached" || fail "console --ro: rc=$rc $(cat "$tmp/conerr")"
[ "$(wc -c <"$tmp/con")" -eq 3000 ] && ok "console: 3000 bytes of scrollback" ||
    fail "console: $(wc -c <"$tmp/con") bytes of scrollback"
# The log holds the same bytes, between its event marker lines.
if command -v python3 >/dev/null; then
    python3 -c '
import sys
log = open(sys.argv[1], "rb").read()
con = open(sys.argv[2], "rb").read()
sys.exit(0 if len(con) == 3000 and con in log else 1)
' "$tmp/log0" "$tmp/con" && ok "console bytes are in the log" ||
        fail "console bytes are not in the log"
fi
"$ctl" console nosuch </dev/null >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "no such console" "$tmp/err" &&
    ok "console: unknown console" || fail "console: unknown console"

# --- usage and errors ------------------------------------------------------------
"$ctl" >/dev/null 2>&1
[ $? -eq 2 ] && ok "no command: 2" || fail "no command"
"$ctl" frobnicate >/dev/null 2>&1
[ $? -eq 2 ] && ok "unknown command: 2" || fail "unknown command"
"$ctl" console >/dev/null 2>&1
[ $? -eq 2 ] && ok "console without key: 2" || fail "console without key"
"$ctl" console 'a b' >/dev/null 2>&1
[ $? -eq 2 ] && ok "key with a space: 2" || fail "key with a space"
"$ctl" --http 127.0.0.1:1 list >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "cannot connect" "$tmp/err" &&
    ok "unreachable HTTP: 1" || fail "unreachable HTTP"
"$ctl" --help | grep -q "^usage: vspcctl" && ok "--help" || fail "--help"

[ $fails -eq 0 ] && echo "vspcctl: all checks passed" && exit 0
echo "vspcctl: $fails check(s) failed" >&2
exit 1
