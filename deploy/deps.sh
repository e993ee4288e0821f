#!/usr/bin/env bash
# deps.sh [--test]: install what building (and with --test, testing and
# benchmarking) vspc needs, from Debian 12's archive. Idempotent: apt-get
# runs only when a package is missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git
      libevent-dev libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
      libssl-dev check libsubunit-dev libjansson-dev libsystemd-dev
      libinih-dev
      telnet procps iproute2)
if [ "${1:-}" = "--test" ]; then
    # python3: the pty test of vspcctl; prometheus: promtool checks
    # /metrics, and the alert rules and their unit tests in
    # deploy/prometheus (ctest promtool); clang-format: the format check;
    # openssl: throwaway certificates for the telnets tests; curl: the
    # benchmarks read /metrics; haproxy: the HA recipe's test (deploy/ha);
    # etcd-server, etcd-client:
    # the etcd ownership store's fault test (etcd and etcdctl, started by
    # the test on its own ports; a systemd machine also starts Debian's
    # etcd service on 2379, which no test uses).
    # keepalived: the VIP variant's test (deploy/ha/up-vip.sh, in network
    # namespaces the test makes).
    # clang-14, libclang-rt-14-dev: the libFuzzer runs (tests/fuzz/run.sh);
    # systemd: systemd-analyze rates the units' sandbox (ctest units).
    pkgs+=(python3 prometheus clang-format openssl curl haproxy etcd-server
           etcd-client keepalived clang-14 libclang-rt-14-dev systemd)
    # dpkg-dev: the Debian package's Depends (dpkg-shlibdeps, CPack);
    # man-db, adduser: ctest package reads the installed manual pages and
    # installs the package (its postinst makes the user vspc).
    pkgs+=(dpkg-dev man-db adduser)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
