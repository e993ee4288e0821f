#!/usr/bin/env bash
# with-proxy.sh PROXY_BIN BASE_PORT [proxy options...] -- COMMAND [ARGS...]
#
# Starts the real vspc-proxy on 127.0.0.1:BASE_PORT (hypervisors),
# 127.0.0.1:BASE_PORT+1 (operators) and BASE_PORT+2 (HTTP, unless the
# options name --http-listen), waits until both ports accept, runs COMMAND
# with VSPC_VM_ADDR / VSPC_OP_ADDR / VSPC_HTTP_ADDR / VSPC_PROXY_PID /
# VSPC_PROXY_LOG set, then stops the proxy with SIGTERM (by its PID) and fails if the
# command failed, the proxy died early, or the proxy did not exit 0 (a
# sanitizer report makes it exit non-zero). Bounded: the proxy is killed
# after 10 s if SIGTERM does not end it.
set -u
proxy=$1 base=$2
shift 2
popts=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do popts+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift

log=$(mktemp "${TMPDIR:-/tmp}/vspc-proxy-log.XXXXXX")
export VSPC_VM_ADDR="127.0.0.1:$base"
export VSPC_OP_ADDR="127.0.0.1:$((base + 1))"
export VSPC_PROXY_LOG="$log"
export VSPC_HTTP_ADDR="127.0.0.1:$((base + 2))"
case " ${popts[*]} " in
*" --http-listen "*) ;;
*) popts+=(--http-listen "$VSPC_HTTP_ADDR") ;;
esac
"$proxy" --vm-listen "$VSPC_VM_ADDR" --operator-listen "$VSPC_OP_ADDR" \
    --node-id test "${popts[@]}" 2>"$log" &
ppid=$!
export VSPC_PROXY_PID=$ppid

ready=0
for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$base") 2>/dev/null &&
       (exec 3<>"/dev/tcp/127.0.0.1/$((base + 1))") 2>/dev/null; then
        ready=1; break
    fi
    kill -0 "$ppid" 2>/dev/null || break
    sleep 0.05
done
if [ $ready -ne 1 ]; then
    echo "with-proxy: proxy did not start listening on $base" >&2
    cat "$log" >&2; kill -9 "$ppid" 2>/dev/null; rm -f "$log"; exit 1
fi

"$@"
rc=$?

alive=1
kill -0 "$ppid" 2>/dev/null || alive=0
kill -TERM "$ppid" 2>/dev/null
for _ in $(seq 1 200); do kill -0 "$ppid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$ppid" 2>/dev/null; then
    echo "with-proxy: proxy ignored SIGTERM, killing" >&2
    kill -9 "$ppid" 2>/dev/null; alive=0
fi
wait "$ppid"; prc=$?

fail=0
[ $rc -ne 0 ] && { echo "with-proxy: command failed (rc=$rc)" >&2; fail=1; }
[ $alive -ne 1 ] && { echo "with-proxy: proxy died during the test" >&2; fail=1; }
[ $prc -ne 0 ] && { echo "with-proxy: proxy exited with $prc" >&2; fail=1; }
if [ $fail -ne 0 ] || [ -n "${VSPC_SHOW_LOG:-}" ]; then
    echo "---- proxy log (last 80 lines) ----" >&2; tail -n 80 "$log" >&2
fi
rm -f "$log"
exit $fail
