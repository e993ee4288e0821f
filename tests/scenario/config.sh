#!/usr/bin/env bash
# config.sh PROXY_BIN WORKDIR [EXAMPLE_INI]: vspc-proxy's --config /
# --check-config.
#   0. the example file (deploy/vspc-proxy.ini) checks, as shipped and with
#      every key uncommented (but the TLS ones: no certificate here, nor
#      the users and ACL files);
#   1. -t -c good.ini exits 0 and prints "config ok" (listening on nothing);
#   2. -t -c bad.ini exits 1, every error with bad.ini:LINE on stderr;
#   3. a proxy started with -c listens on the file's ports (25800-25802),
#      except where the command line overrides the file (--http-listen
#      25803), and exits 0 on SIGTERM.
set -u
proxy=$1 dir=$2 example=${3:-}
rm -rf -- "$dir" && mkdir -p -- "$dir" || exit 1
cd "$dir" || exit 1
fail() { echo "config.sh: $*" >&2; exit 1; }

cat >good.ini <<'INI'
# vspc-proxy test configuration
[proxy]
vm-listen = 127.0.0.1:25800
operator-listen = 127.0.0.1:25801
http-listen = 127.0.0.1:25802   ; overridden on the command line
service-uri = vSPC.py
service-uri = other.example
node-id = cfgtest
refuse-vmotion = yes
log-level = info
INI
cat >bad.ini <<'INI'
[proxy]
vm-listen = 127.0.0.1:25810
node-index = 256
no-such-key = 1
INI

if [ -n "$example" ]; then
    "$proxy" -t -c "$example" >/dev/null || fail "-t $example failed"
    # (not the TLS keys, nor etcd: it and coordinator exclude each other,
    # nor the CURVE keys: placeholders)
    grep -v '^;tls-' "$example" | grep -v '^;etcd = ' |
        grep -v '^;curve-key\|^;coordinator-key' |
        grep -v '^;operator-tls-listen\|^;operator-cert\|^;operator-key' |
        grep -v '^;operator-ca\|^;http-cert\|^;http-key\|^;peer-tls-\|^;peer-ca' |
        grep -v '^;users\|^;acl\|^;log-dir' |
        sed 's/^;\([a-z]\)/\1/' >example.ini
    "$proxy" -t -c example.ini >/dev/null || fail "-t (uncommented) $example failed"
fi

out=$("$proxy" -t -c good.ini 2>err.txt); rc=$?
[ $rc -eq 0 ] || { cat err.txt >&2; fail "-t good.ini: exit $rc, want 0"; }
[ "$out" = "config ok" ] || fail "-t good.ini printed \"$out\""

"$proxy" --check-config --config bad.ini >out.txt 2>err.txt; rc=$?
[ $rc -eq 1 ] || fail "-t bad.ini: exit $rc, want 1"
grep -q 'bad.ini:3: node-index' err.txt || { cat err.txt >&2; fail "no bad.ini:3 error"; }
grep -q 'bad.ini:4: unknown key "no-such-key"' err.txt ||
    { cat err.txt >&2; fail "no bad.ini:4 error"; }
grep -q 'config ok' out.txt && fail "bad.ini: printed config ok"
# The command line is checked too, after the file.
"$proxy" -t -c good.ini --node-index 300 >/dev/null 2>err.txt && fail "--node-index 300 accepted"
grep -q -- '--node-index: bad value' err.txt || { cat err.txt >&2; fail "no --node-index error"; }
# A bad file refuses to start (without -t) as well.
timeout 10 "$proxy" -c bad.ini >/dev/null 2>err.txt; rc=$?
[ $rc -eq 1 ] || fail "start with bad.ini: exit $rc, want 1"
grep -q 'bad.ini:3:' err.txt || { cat err.txt >&2; fail "start: no bad.ini:3 error"; }

# -t catches what a start would fail on, in one sentence naming the option.
t_err() { # WANT ARGS...: -t must fail with WANT on stderr
    local want=$1; shift
    "$proxy" -t -c good.ini "$@" >/dev/null 2>err.txt && fail "-t $* accepted"
    grep -qF -- "$want" err.txt || { cat err.txt >&2; fail "-t $*: no \"$want\""; }
}
t_err "--log-dir $PWD/no-such-dir: No such file or directory" --log-dir "$PWD/no-such-dir"
t_err "not a directory" --log-dir "$PWD/good.ini"
t_err "two listeners on one port" --http-listen 127.0.0.1:25801
t_err "two listeners on one port" --peer-listen 0.0.0.0:25800
t_err "letters, digits" --node-id "two words"
t_err "--tls-cert $PWD/none.pem: cannot read it: No such file or directory" --tls-cert "$PWD/none.pem"
printf 'not pem\n' >junk.pem
t_err "--tls-cert $PWD/junk.pem: not a PEM file" --tls-cert "$PWD/junk.pem"
t_err 'bad value "lots"' --scrollback lots
# Sizes take k, M and G (binary).
"$proxy" -t -c good.ini --scrollback 128k --operator-queue 1M \
    --log-rotate-bytes 1G >/dev/null 2>err.txt || { cat err.txt >&2; fail "size suffixes refused"; }

"$proxy" -c good.ini --http-listen 127.0.0.1:25803 2>proxy.log &
ppid=$!
ready=0
for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/25800) 2>/dev/null &&
       (exec 3<>/dev/tcp/127.0.0.1/25801) 2>/dev/null &&
       (exec 3<>/dev/tcp/127.0.0.1/25803) 2>/dev/null; then
        ready=1; break
    fi
    kill -0 "$ppid" 2>/dev/null || break
    sleep 0.05
done
st=ok
[ $ready -eq 1 ] || st="not listening on 25800/25801/25803"
if [ "$st" = ok ] && (exec 3<>/dev/tcp/127.0.0.1/25802) 2>/dev/null; then
    st="listening on the file's http-listen 25802 despite the override"
fi
if [ "$st" = ok ] && ! grep -q 'node cfgtest listening' proxy.log; then
    st="no 'node cfgtest listening' log line"
fi
kill -TERM "$ppid" 2>/dev/null
for _ in $(seq 1 200); do kill -0 "$ppid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$ppid" 2>/dev/null && { kill -9 "$ppid"; st="ignored SIGTERM"; }
wait "$ppid"; prc=$?
if [ "$st" != ok ] || [ $prc -ne 0 ]; then
    cat proxy.log >&2
    fail "proxy with -c good.ini: $st, exit $prc"
fi
echo "config.sh: ok"
