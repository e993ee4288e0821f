#!/usr/bin/env bash
# console_deps.sh LIB: the console core (console.c, stream.c, ring.c) must
# reference no session, operator or log-writer symbol: those plug in through
# struct con_hv, struct con_op and struct strm_reader (console.h,
# stream.h), so a remote owner or reader is a new implementation, not an
# `if (remote)` in the core. Fails listing the offending references.
set -euo pipefail
lib=$1
core="console.c.o stream.c.o ring.c.o"
bad=$(nm -A -u "$lib" 2>/dev/null | awk -v core="$core" '
    { split($1, p, ":"); member = p[2]; sym = $NF }
    index(" " core " ", " " member " ") && sym ~ /^(sess|op|vmlog|clog|http)_/ {
        print member ": " sym
    }')
n=$(nm -A "$lib" | awk -F: '{print $2}' | sort -u | grep -c -E '^(console|stream|ring)\.c\.o$' || true)
if [ "$n" -ne 3 ]; then
    echo "console_deps: expected console.c.o, stream.c.o and ring.c.o in $lib (found $n)" >&2
    exit 1
fi
if [ -n "$bad" ]; then
    echo "console_deps: the console core references modules it must not:" >&2
    echo "$bad" >&2
    exit 1
fi
echo "console_deps: console.c, stream.c, ring.c reference no sess_/op_/vmlog_/clog_/http_ symbol"
