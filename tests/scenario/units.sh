#!/usr/bin/env bash
# units.sh: the systemd units' hardening (ctest units). systemd-analyze
# security (offline: no running systemd needed) rates both units; each must
# stay at or below the exposure stated in deploy/ (1.2, "OK"), so a change
# that weakens the sandbox fails here. Skipped (77) without systemd-analyze
# (Debian: systemd).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
bound=1.2
command -v systemd-analyze >/dev/null || { echo "units: SKIP (no systemd-analyze)"; exit 77; }
rc=0
for u in vspc-proxy vspc-coordinator; do
    out=$(systemd-analyze security --offline=yes "$root/deploy/$u.service" 2>&1)
    score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' <<<"$out")
    if [ -z "$score" ]; then
        echo "units: FAIL: no exposure level for $u:"
        echo "$out" | tail -n 5
        rc=1
    elif awk -v s="$score" -v b="$bound" 'BEGIN { exit !(s > b) }'; then
        echo "units: FAIL: $u exposure $score > $bound; what is open:"
        grep "✗" <<<"$out" | head -n 20
        rc=1
    else
        echo "units: $u exposure $score (bound $bound)"
    fi
done
[ $rc = 0 ] && echo "units: PASS"
exit $rc
