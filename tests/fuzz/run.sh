#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] [--merge]: build the libFuzzer targets with
# clang under ASan+UBSan (build-fuzz/, VSPC_FUZZ=ON) and run each for
# SECONDS (default 30) from its committed corpus (tests/fuzz/corpus/NAME),
# new inputs going to a scratch directory. A crash or a broken oracle
# fails the run and leaves the input in build-fuzz/crashes/NAME/: add it
# to the corpus (it becomes a ctest regression case: fuzz_NAME). --merge
# folds what the run found into the committed corpus (minimised).
# Needs clang-14 and libclang-rt-14-dev (deploy/deps.sh --test).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-30}
merge=${2:-}
targets=(telnet pproxy wire etcdkv opcmd users acl)
cc=$(command -v clang || command -v clang-14 || true)
[ -n "$cc" ] || { echo "run.sh: clang is not installed (deploy/deps.sh --test)" >&2; exit 1; }
b=$root/build-fuzz
mkdir -p "$b"
cmake -S "$root" -B "$b" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DVSPC_SANITIZE=ON -DVSPC_FUZZ=ON >"$b/cmake.log" 2>&1 ||
    { cat "$b/cmake.log" >&2; exit 1; }
cmake --build "$b" -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >"$b/build.log" 2>&1 ||
    { tail -n 30 "$b/build.log" >&2; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
rc=0
for t in "${targets[@]}"; do
    scratch=$b/new/$t crashes=$b/crashes/$t
    rm -rf "$scratch" && mkdir -p "$scratch" "$crashes"
    if "$b/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 -artifact_prefix="$crashes/" \
        "$scratch" "$root/tests/fuzz/corpus/$t" >"$b/$t.log" 2>&1; then
        echo "fuzz $t: ${secs} s, $(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$b/$t.log" | awk '{print $2}') runs, no crash"
    else
        rc=1
        echo "fuzz $t: FAILED (input in $crashes/):"
        grep -E "ERROR|fuzz oracle|SUMMARY" "$b/$t.log" | head -n 5
    fi
    if [ "$merge" = --merge ]; then
        "$b/tests/fuzz/fuzz_$t" -merge=1 -max_len=4096 "$root/tests/fuzz/corpus/$t" "$scratch" \
            >"$b/$t.merge.log" 2>&1
    fi
done
exit $rc
