#!/usr/bin/env bash
# run-all.sh: install dependencies, build, run every test (ctest).
#   VSPC_SANITIZE=1  build with ASan+UBSan (in build-asan/)
#   BUILD_DIR=dir    build directory (default build/ or build-asan/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash deploy/deps.sh --test
san=${VSPC_SANITIZE:-0}
if [ "$san" = 1 ]; then
    dir=${BUILD_DIR:-build-asan}
    opts=(-DVSPC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
else
    dir=${BUILD_DIR:-build}
    opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
fi
cmake -S . -B "$dir" "${opts[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
cd "$dir"
ctest --output-on-failure -j2 --timeout 300 "$@"
