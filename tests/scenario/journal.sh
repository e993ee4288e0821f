#!/usr/bin/env bash
# journal.sh BUILD_DIR: logs for journald (ctest journal). With stderr
# being the stream JOURNAL_STREAM names (sd-daemon's convention), both
# daemons write "<N>message" lines (N: 3 error, 4 warning, 6 info, 7
# debug) without a timestamp of their own; when JOURNAL_STREAM names
# another stream they write their plain timestamped lines. Ports
# 25775-25779.
set -u
build=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/journal.XXXXXX")
fail() { echo "journal: FAIL: $*"; for f in "$dir"/*.log; do echo "--- $f"; head -n 5 "$f"; done; exit 1; }
run() { # log-file JOURNAL_STREAM-value command...
    local f=$1 js=$2
    shift 2
    (
        exec 2>"$f"
        [ "$js" = self ] && js=$(stat -c '%d:%i' "$f")
        JOURNAL_STREAM=$js timeout 1 "$@"
    )
}
run "$dir/node.log" self "$build/vspc-proxy" --vm-listen 127.0.0.1:25775 \
    --operator-listen 127.0.0.1:25776 --http-listen none
run "$dir/coord.log" self "$build/coordinator/vspc-coordinator" --bind tcp://127.0.0.1:25777
run "$dir/plain.log" 1:1 "$build/vspc-proxy" --vm-listen 127.0.0.1:25775 \
    --operator-listen 127.0.0.1:25776 --http-listen none
for f in node coord; do
    [ -s "$dir/$f.log" ] || fail "$f wrote nothing"
    grep -qv '^<[3467]>' "$dir/$f.log" && fail "$f: a line without a priority prefix"
    grep -q '^<[3467]>[0-9]\{4\}-' "$dir/$f.log" && fail "$f: a timestamp of its own"
done
grep -q '^<4>hypervisor side: no --allow given' "$dir/node.log" || fail "the warning is not <4>"
grep -q '^<6>node node1 listening' "$dir/node.log" || fail "info is not <6>"
grep -q '^[0-9]\{4\}-[0-9-]*T[0-9:.]*Z vspc-proxy WARN ' "$dir/plain.log" ||
    fail "another JOURNAL_STREAM: not the plain format"
echo "journal: PASS (priority prefixes and no timestamp on the journal, plain lines elsewhere)"
rm -rf "$dir"
