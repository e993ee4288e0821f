#!/bin/sh
# ctl_passwd.sh VSPCCTL: `vspcctl passwd` with the password on stdin (not
# a terminal). The line has the users-file shape NAME:$scrypt$...:GROUPS,
# a second run salts differently, pbkdf2-sha256 works, python3's hashlib
# (when it has scrypt) agrees with the hash, and bad input is refused.
set -u
ctl=$1
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

b64='[A-Za-z0-9+/]'
re="^alice:\\\$scrypt\\\$ln=10,r=8,p=1\\\$$b64\{22\}\\\$$b64\{43\}:ops\$"
one=$(printf 'pa ss:word\n' | "$ctl" passwd --cost 10 alice ops) ||
    fail "passwd exits $?"
two=$(printf 'pa ss:word\n' | "$ctl" passwd --cost 10 alice ops) ||
    fail "passwd exits $?"
printf '%s\n' "$one" | grep -q "$re" && ok "line shape: $one" ||
    fail "line shape: $one"
printf '%s\n' "$two" | grep -q "$re" || fail "line shape: $two"
salt1=$(printf '%s' "$one" | cut -d'$' -f4)
salt2=$(printf '%s' "$two" | cut -d'$' -f4)
[ -n "$salt1" ] && [ "$salt1" != "$salt2" ] && ok "fresh salt each run" ||
    fail "same salt twice: $salt1"

# Independent check of the scrypt hash (skipped without hashlib.scrypt).
if command -v python3 >/dev/null 2>&1; then
    if python3 - "$one" <<'PY'; then ok "python3 hashlib agrees"; else fail "python3 hashlib disagrees"; fi
import base64, hashlib, sys
line = sys.argv[1]
name, h, groups = line.split(":")
_, scheme, params, salt, key = h.split("$")
if not hasattr(hashlib, "scrypt"):
    sys.exit(0)
p = dict(kv.split("=") for kv in params.split(","))
d = lambda s: base64.b64decode(s + "=" * (-len(s) % 4))
k = hashlib.scrypt(b"pa ss:word", salt=d(salt), n=1 << int(p["ln"]),
                   r=int(p["r"]), p=int(p["p"]), dklen=len(d(key)))
sys.exit(0 if k == d(key) else 1)
PY
fi

out=$(printf 'x\n' | "$ctl" passwd --scheme pbkdf2-sha256 --cost 1000 bob) ||
    fail "pbkdf2 exits $?"
printf '%s\n' "$out" |
    grep -q "^bob:\\\$pbkdf2-sha256\\\$i=1000\\\$$b64\{22\}\\\$$b64\{43\}:\$" &&
    ok "pbkdf2-sha256, no groups: $out" || fail "pbkdf2 line: $out"

# Refusals: usage (2) and an empty password (1); nothing on stdout.
check_rc() {
    want=$1 what=$2 input=$3
    shift 3
    out=$(printf "$input" | "$ctl" passwd "$@" 2>/dev/null)
    rc=$?
    [ "$rc" -eq "$want" ] && [ -z "$out" ] && ok "$what: exit $rc" ||
        fail "$what: exit $rc, output \"$out\""
}
check_rc 2 "bad name" 'pw\n' --cost 10 'bad name'
check_rc 2 "reserved name" 'pw\n' --cost 10 anonymous
check_rc 2 "bad groups" 'pw\n' --cost 10 alice 'ops,'
check_rc 2 "bad scheme" 'pw\n' --scheme md5 alice
check_rc 2 "bad cost" 'pw\n' --cost x alice
check_rc 2 "no name" 'pw\n' --cost 10
check_rc 2 "too many operands" 'pw\n' --cost 10 a b c
check_rc 1 "cost out of range" 'pw\n' --cost 9 alice
check_rc 1 "empty password" '\n' --cost 10 alice
check_rc 1 "no input" '' --cost 10 alice

[ "$fails" -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "all ok"
