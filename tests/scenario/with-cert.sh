#!/usr/bin/env bash
# with-cert.sh DIR -- COMMAND [ARGS...]
#
# Makes a throwaway self-signed certificate for the telnets:// tests
# (DIR/cert.pem, DIR/key.pem: EC P-256, CN vspc-test, 2 days) with the
# openssl command line, then runs COMMAND. Nothing is committed: DIR is in
# the build tree and made fresh each run. Exit 77 (skip) without openssl.
set -u
dir=$1
shift
[ "${1:-}" = "--" ] && shift
command -v openssl >/dev/null 2>&1 || { echo "with-cert: no openssl" >&2; exit 77; }
rm -rf "$dir" && mkdir -p "$dir" || exit 1
umask 077
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 2 \
        -subj /CN=vspc-test -addext subjectAltName=IP:127.0.0.1 \
        >"$dir/openssl.log" 2>&1; then
    echo "with-cert: openssl req failed" >&2; cat "$dir/openssl.log" >&2; exit 1
fi
"$@"
rc=$?
rm -rf "$dir"
exit $rc
