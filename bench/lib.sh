# bench/lib.sh: what bench/run.sh and bench/cluster.sh share (sourced, not
# run). The caller sets `me` (its name in messages) and `out` (the report
# file) before using say/fail/report.

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
