# bench/lib.sh: what bench/run.sh, cluster.sh and ha.sh share (sourced, not
# run). The caller sets `me` (its name in messages) and `out` (the report
# file) before using say/fail/report, and `work` before bench_track.

# bench_args HELP_LAST_LINE ARGS...: sets `build` (absolute) and `quick`;
# -h prints the caller's header comment (lines 2..HELP_LAST_LINE).
bench_args() {
    local help=$1 a
    shift
    build= quick=0
    for a in "$@"; do
        case $a in
        --quick) quick=1 ;;
        -h | --help) sed -n "2,${help}p" "$0"; exit 0 ;;
        *) build=$a ;;
        esac
    done
    build=$(cd "${build:-$root/build}" && pwd)
}

say() { echo "$me: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
report() { echo "$*" | tee -a "$out"; }
# field LINE KEY: the value of KEY=value in a summary line.
field() { sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<<" $1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

# Wait (bounded: 10 s) until 127.0.0.1:$1 accepts a connection.
wait_port() {
    local i
    for i in $(seq 1 400); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.025
    done
    fail "nothing listens on 127.0.0.1:$1"
}

# bench_track: from here on every PID added to `pids` is signalled (only
# those, by PID) and $work removed when the script exits, however it ends.
bench_cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
bench_track() {
    pids=()
    trap bench_cleanup EXIT
}

# metric_at HTTP_PORT NAME: a node's /metrics value (-1 if absent).
metric_at() {
    curl -s --max-time 5 "http://127.0.0.1:$1/metrics" |
        awk -v m="$2" '$1 == m { print $2; f = 1 } END { if (!f) print -1 }'
}
