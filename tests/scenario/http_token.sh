#!/usr/bin/env bash
# http_token.sh BUILD_DIR: the HTTP API behind a bearer token (ctest
# http_token). A node with --http-token-file: every path but /healthz and
# /readyz answers 401 (with WWW-Authenticate) without the token or with a
# wrong one, 200 with it; console logs too; vspcctl sends it with
# --token-file or $VSPC_TOKEN_FILE and fails loudly without; a short token
# file is refused at start. Ports 25770-25772.
set -u
build=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/http_token.XXXXXX")
pid=
fail() {
    echo "http_token: FAIL: $*"
    [ -f "$dir/node.log" ] && tail -n 10 "$dir/node.log"
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    exit 1
}
tok=0123456789abcdef-test-token
echo "$tok" >"$dir/token"
mkdir -p "$dir/logs"
"$build/vspc-proxy" --vm-listen 127.0.0.1:25770 --operator-listen 127.0.0.1:25771 \
    --http-listen 127.0.0.1:25772 --http-token-file "$dir/token" --log-dir "$dir/logs" \
    2>"$dir/node.log" &
pid=$!
for _ in $(seq 1 100); do
    curl -s -o /dev/null http://127.0.0.1:25772/healthz && break
    sleep 0.05
done
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
u=http://127.0.0.1:25772
[ "$(code $u/healthz)" = 200 ] || fail "/healthz needs no token"
[ "$(code $u/readyz)" = 200 ] || fail "/readyz needs no token"
for p in /metrics /api/v1/consoles /api/v1/cluster /api/v1/vmotions; do
    [ "$(code $u$p)" = 401 ] || fail "$p without the token: $(code $u$p)"
    [ "$(code -H "Authorization: Bearer wrong-token-0123456789" $u$p)" = 401 ] ||
        fail "$p with a wrong token"
    [ "$(code -H "Authorization: Bearer $tok" $u$p)" = 200 ] || fail "$p with the token"
done
curl -s -D - -o /dev/null $u/metrics | grep -qi '^WWW-Authenticate: Bearer' ||
    fail "no WWW-Authenticate header"
"$build/vspc-hvsim" run --proxy 127.0.0.1:25770 --consoles 1 --connect-only \
    --duration 600 --log-level error --uuid-base 0123456789abcdeffedcba9800610000 \
    >"$dir/vm.log" 2>&1 &
vm=$!
id=0123456789abcdeffedcba9800610000
for _ in $(seq 1 100); do
    "$build/vspcctl" --http 127.0.0.1:25772 --token-file "$dir/token" list 2>/dev/null |
        grep -q "$id" && break
    sleep 0.05
done
"$build/vspcctl" --http 127.0.0.1:25772 --token-file "$dir/token" list | grep -q "$id" ||
    fail "vspcctl --token-file list"
VSPC_TOKEN_FILE=$dir/token "$build/vspcctl" --http 127.0.0.1:25772 status >/dev/null ||
    fail "vspcctl with VSPC_TOKEN_FILE"
if "$build/vspcctl" --http 127.0.0.1:25772 list >/dev/null 2>"$dir/ctl.err"; then
    fail "vspcctl without the token succeeded"
fi
[ "$(code $u/api/v1/consoles/$id/log)" = 401 ] || fail "a console log without the token"
[ "$(code -H "Authorization: Bearer $tok" $u/api/v1/consoles/$id/log)" = 200 ] ||
    fail "a console log with the token"
grep -q "a bearer token (--http-token-file) or a user is required: 401" "$dir/node.log" || fail "no log line"
kill "$vm" "$pid"
wait 2>/dev/null
pid=
echo short >"$dir/short"
if "$build/vspc-proxy" --vm-listen 127.0.0.1:25770 --operator-listen 127.0.0.1:25771 \
    --http-listen 127.0.0.1:25772 --http-token-file "$dir/short" 2>"$dir/short.log"; then
    fail "a short token started"
fi
grep -q "its first line must be 16 to" "$dir/short.log" || fail "no clear line for a short token"
echo "http_token: PASS (401 without or with a wrong token on every path but the probes; 200 with it; vspcctl --token-file and VSPC_TOKEN_FILE)"
rm -rf "$dir"
