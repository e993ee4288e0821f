#!/usr/bin/env bash
# ctl_auth.sh VSPCCTL PROXY HVSIM WITH_PROXY BASE   (ports BASE..BASE+3)
#
# vspcctl logging in (ctest ctl_auth). A CA, the node's certificate (CN
# and subjectAltName 127.0.0.1), carol's client certificate, and a second
# CA nobody trusts; a users file with alice (a PBKDF2 password from
# `vspcctl passwd`) and carol (certificate only). The node lets nobody in
# without a login (--operator-anonymous none, --login-failures 3) and has
# a plain operator port (BASE+1), a TLS one with a client CA (BASE+3) and
# HTTP on BASE+2 (HTTPS when vspc-proxy knows --http-cert). One VM from
# vspc-hvsim streams text. Checked:
#   - console by --password-file on the plain port and over tls://, by
#     $VSPC_USER/$VSPC_PASSWORD_FILE/$VSPC_CA, and by carol's certificate
#     (no password): console bytes arrive
#   - a wrong password: exit 1, "login incorrect"
#   - a login asked for with no --user and no terminal: exit 1, says why
#   - --ca of another CA, and a host name the certificate does not name:
#     exit 1, the verification error
#   - drain / undrain over tls:// as alice (no --acl: everyone may)
#   - HTTPS + Basic: list as alice; a wrong password is refused (401); Basic
#     in clear to a non-loopback address is refused before sending
#   - past --login-failures, the lock-out line: exit 1 (last: it locks
#     127.0.0.1 out)
# Every vspcctl runs without a controlling terminal (setsid), so that
# nothing can wait on a prompt.
set -u

if [ "${1:-}" != "--inner" ]; then
    ctl=$1 proxy=$2 hvsim=$3 withproxy=$4 base=$5
    dir=$(mktemp -d "${TMPDIR:-/tmp}/ctl-auth.XXXXXX")
    trap 'rm -rf "$dir"' EXIT
    (
        cd "$dir" || exit 1
        ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
        openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem \
            -subj "/CN=vspc ctl_auth CA" -days 2 &&
            openssl req -x509 "${ec[@]}" -keyout other.key -out other.pem \
                -subj "/CN=some other CA" -days 2 &&
            openssl req -new "${ec[@]}" -keyout node.key -out node.csr \
                -subj "/CN=127.0.0.1" &&
            printf 'subjectAltName=IP:127.0.0.1\n' >san.ext &&
            openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key \
                -CAcreateserial -out node.pem -days 2 -extfile san.ext &&
            openssl req -new "${ec[@]}" -keyout carol.key -out carol.csr \
                -subj "/CN=carol" &&
            openssl x509 -req -in carol.csr -CA ca.pem -CAkey ca.key \
                -CAcreateserial -out carol.pem -days 2
    ) >"$dir/openssl.out" 2>&1 || {
        echo "FAIL: openssl could not make the certificates" >&2
        cat "$dir/openssl.out" >&2
        exit 1
    }
    umask 077
    printf 'alice-pw\n' >"$dir/alice.pw"
    printf 'wrong-pw\n' >"$dir/wrong.pw"
    { printf 'alice-pw\n' |
        "$ctl" passwd --scheme pbkdf2-sha256 --cost 1000 alice ops &&
        printf 'carol:cert:ops\n'; } >"$dir/users" || {
        echo "FAIL: vspcctl passwd" >&2
        exit 1
    }
    chmod 600 "$dir/users"
    https_opts=()
    if "$proxy" --help 2>&1 | grep -q -- '--http-cert'; then
        https_opts=(--http-cert "$dir/node.pem" --http-key "$dir/node.key")
    fi
    bash "$withproxy" "$proxy" "$base" --operator-anonymous none \
        --users "$dir/users" --login-failures 3 \
        --operator-tls-listen "127.0.0.1:$((base + 3))" \
        --operator-cert "$dir/node.pem" --operator-key "$dir/node.key" \
        --operator-ca "$dir/ca.pem" "${https_opts[@]}" -- \
        bash "$0" --inner "$ctl" "$hvsim" "$dir" "$base" "${#https_opts[@]}"
    exit $?
fi

shift
ctl=$1 hvsim=$2 dir=$3 base=$4 https=$5
uuid=0123456789abcdeffedcba9800650000
plain="127.0.0.1:$((base + 1))"
tls="tls://127.0.0.1:$((base + 3))"
if [ "$https" -gt 0 ]; then
    http="https://127.0.0.1:$((base + 2))"
else
    http="127.0.0.1:$((base + 2))"
fi
unset VSPC_OPERATOR VSPC_HTTP VSPC_TOKEN_FILE VSPC_CA VSPC_CERT VSPC_KEY \
    VSPC_USER VSPC_PASSWORD_FILE
vm_pid=
cleanup() {
    [ -n "$vm_pid" ] && kill "$vm_pid" 2>/dev/null && wait "$vm_pid"
}
trap cleanup EXIT

fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# vspcctl without a controlling terminal, stdin /dev/null; out, err, rc.
nt=()
command -v setsid >/dev/null && nt=(setsid -w)
run() {
    "${nt[@]}" "$ctl" "$@" </dev/null >"$dir/out" 2>"$dir/err"
    rc=$?
}
show() { sed 's/^/    /' "$dir/err" >&2; }
# The console's scrollback and a little live output, by text lines.
got_console() {
    [ $rc -eq 0 ] && grep -q "^ok attached $uuid ro" "$dir/err" &&
        grep -Eq '\[vm-00000 [0-9]{8}\] ' "$dir/out"
}

"$hvsim" run --proxy "127.0.0.1:$base" --consoles 1 --uuid-base "$uuid" \
    --text --rate 50 --duration 60 >"$dir/vm.out" 2>&1 &
vm_pid=$!
# The console must exist and have said something before we attach.
alice=(--user alice --password-file "$dir/alice.pw" --ca "$dir/ca.pem")
for _ in $(seq 1 100); do
    run --http "$http" "${alice[@]}" list
    grep -Eq "^$uuid  *vm-00000  *connected .* [1-9][0-9]*  *[0-9]+$" \
        "$dir/out" && break
    sleep 0.1
done
[ $rc -eq 0 ] && grep -q "^$uuid " "$dir/out" &&
    ok "list over ${http%%://*} as alice (Basic)" ||
    { fail "list as alice: rc=$rc"; show; }

# --- passwords ---------------------------------------------------------------
run --operator "$plain" "${alice[@]}" console "$uuid" --ro
got_console && ok "console by password, plain port" ||
    { fail "console by password, plain: rc=$rc"; show; }

run --operator "$tls" "${alice[@]}" console "$uuid" --ro
got_console && ok "console by password over tls://" ||
    { fail "console by password over tls://: rc=$rc"; show; }

VSPC_USER=alice VSPC_PASSWORD_FILE="$dir/alice.pw" VSPC_CA="$dir/ca.pem" \
    VSPC_OPERATOR="$tls" run console "$uuid" --ro
got_console && ok "console by \$VSPC_USER, \$VSPC_PASSWORD_FILE, \$VSPC_CA" ||
    { fail "console by environment: rc=$rc"; show; }

# --- a client certificate ------------------------------------------------------
run --operator "$tls" --ca "$dir/ca.pem" --cert "$dir/carol.pem" \
    --key "$dir/carol.key" console "$uuid" --ro
got_console && ok "console by carol's certificate, no password" ||
    { fail "console by certificate: rc=$rc"; show; }

# --- refusals ------------------------------------------------------------------
run --operator "$tls" --user alice --password-file "$dir/wrong.pw" \
    --ca "$dir/ca.pem" console "$uuid" --ro
[ $rc -eq 1 ] && grep -q "login incorrect" "$dir/err" &&
    ok "wrong password: exit 1, login incorrect" ||
    { fail "wrong password: rc=$rc"; show; }

run --operator "$plain" console "$uuid" --ro
[ $rc -eq 1 ] && grep -q "asks for a login and there is no terminal" \
    "$dir/err" && ok "a login asked for, no --user, no terminal: exit 1" ||
    { fail "no --user: rc=$rc"; show; }

run --operator "$tls" --user alice --password-file "$dir/alice.pw" \
    --ca "$dir/other.pem" console "$uuid" --ro
[ $rc -eq 1 ] && grep -q "certificate did not verify" "$dir/err" &&
    ok "another CA: exit 1, $(sed 's/.*verify: //' "$dir/err")" ||
    { fail "wrong --ca: rc=$rc"; show; }

run --operator "tls://localhost:$((base + 3))" "${alice[@]}" \
    console "$uuid" --ro
[ $rc -eq 1 ] && grep -q "did not verify: .*mismatch" "$dir/err" &&
    ok "a host name the certificate lacks: exit 1" ||
    { fail "host name check: rc=$rc"; show; }

# --- drain over tls:// ------------------------------------------------------------
run --operator "$tls" --http "$http" "${alice[@]}" drain test
[ $rc -eq 0 ] && grep -q "^ok draining" "$dir/out" &&
    ok "drain over tls:// as alice" || { fail "drain: rc=$rc"; show; }
run --operator "$tls" --http "$http" "${alice[@]}" undrain test
[ $rc -eq 0 ] && grep -q "^ok not draining" "$dir/out" &&
    ok "undrain over tls:// as alice" || { fail "undrain: rc=$rc"; show; }

# --- HTTP ---------------------------------------------------------------------------
run --http "$http" --user alice --password-file "$dir/wrong.pw" \
    --ca "$dir/ca.pem" list
[ $rc -eq 1 ] && grep -q "401" "$dir/err" &&
    ok "list with a wrong password: exit 1 (401)" ||
    { fail "list, wrong password: rc=$rc"; show; }
# Basic in clear beyond loopback: refused before a byte is sent (a
# listener on this host's first non-loopback address, if it has one).
ip=$(hostname -I 2>/dev/null | awk '{print $1}')
if [ -n "$ip" ] && [ "${ip#127.}" = "$ip" ] && command -v python3 >/dev/null; then
    python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(4)
s.settimeout(15)
c, _ = s.accept()
c.settimeout(2)
try:
    data = c.recv(100)
except OSError:
    data = b""
print("received %d bytes" % len(data))
' "$ip" "$((base + 19))" >"$dir/py.out" 2>&1 &
    py=$!
    sleep 0.3
    hp="$ip:$((base + 19))"
    case $ip in *:*) hp="[$ip]:$((base + 19))" ;; esac
    run --http "http://$hp" --user alice --password-file "$dir/alice.pw" list
    wait $py
    [ $rc -eq 1 ] && grep -q "will not send a password in clear" "$dir/err" &&
        grep -q "received 0 bytes" "$dir/py.out" &&
        ok "Basic in clear to $ip refused, nothing sent" ||
        { fail "Basic beyond loopback: rc=$rc $(cat "$dir/py.out")"; show; }
else
    echo "skip: no non-loopback address for the clear-text Basic check"
fi

# --- lock-out (last: 127.0.0.1 stays locked out for a minute) ----------------------
locked=0
for _ in 1 2 3 4 5; do
    run --operator "$plain" --user alice --password-file "$dir/wrong.pw" \
        console "$uuid" --ro
    if grep -q "too many failed logins" "$dir/err"; then
        locked=1
        break
    fi
done
[ $locked -eq 1 ] && [ $rc -eq 1 ] && ok "lock-out: $(cat "$dir/err")" ||
    { fail "lock-out: rc=$rc"; show; }

[ $fails -eq 0 ] && echo "ctl_auth: all passed" && exit 0
echo "ctl_auth: $fails failed" >&2
exit 1
