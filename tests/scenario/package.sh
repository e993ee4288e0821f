#!/usr/bin/env bash
# package.sh BUILD_DIR VERSION: the Debian package end to end (ctest
# package). Builds the package target, then on this machine:
#   1. the .debs: vspc holds the daemons in /usr/sbin, vspcctl, the units,
#      the conffiles, manual pages, completion, and not vspc-hvsim, which
#      is in vspc-tools; Depends computed (libevent, adduser);
#   2. dpkg -i: every file in place, the system user vspc, /var/log/vspc
#      its own, the manual pages readable with the generated option lists,
#      the installed configuration checks (-t), the completion loads,
#      systemd-analyze verify passes on the installed units;
#   3. the installed vspc-proxy, started from /etc/vspc/vspc-proxy.ini (test
#      ports 26600-26603 on the command line) as root with --user vspc,
#      runs as vspc, takes a console from the build's vspc-hvsim, logs it in
#      /var/log/vspc; the installed vspcctl lists it and attaches to it;
#      stopped by its PID;
#   4. dpkg --purge: every file gone, no enablement left behind.
# The trap purges the package and removes the user (if this run made it)
# even when a step fails, so the machine is left as it was found. One run
# at a time per machine (a lock; dpkg's database is machine-wide). Skipped
# (77) when not root, without dpkg-deb/dpkg-shlibdeps (deploy/deps.sh
# --test), or when a vspc package is already on the machine (not ours to
# remove).
set -u
build=$(cd "$1" && pwd) version=$2
skip() { echo "package: SKIP ($*)"; exit 77; }
[ "$(id -u)" = 0 ] || skip "not root"
for c in dpkg dpkg-deb dpkg-shlibdeps flock; do
    command -v "$c" >/dev/null || skip "no $c (deploy/deps.sh --test)"
done

exec 9>/run/lock/vspc-package-test.lock 2>/dev/null ||
    exec 9>/tmp/vspc-package-test.lock
flock -w 240 9 || { echo "package: FAIL: another run holds the lock"; exit 1; }
if dpkg-query -W -f='${Status}' vspc 2>/dev/null | grep -qv '^unknown ok not-installed'; then
    skip "a vspc package is installed (or its configuration left): not touching it"
fi
user_existed=
getent passwd vspc >/dev/null && user_existed=1
group_existed=
getent group vspc >/dev/null && group_existed=1

dir=$(mktemp -d "${TMPDIR:-/tmp}/vspc-package.XXXXXX")
pids=()
installed=
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ -n "$installed" ]; then
        DEBIAN_FRONTEND=noninteractive dpkg --purge vspc >/dev/null 2>&1
    fi
    [ -z "$user_existed" ] && getent passwd vspc >/dev/null && userdel vspc
    [ -z "$group_existed" ] && getent group vspc >/dev/null && groupdel vspc
    rm -rf "$dir"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
die() {
    echo "FAIL: $*"
    for f in "$dir"/*.log; do [ -f "$f" ] && { echo "---- $f"; tail -n 15 "$f"; }; done
    exit 1
}

# --- 1. the packages ----------------------------------------------------------
cmake --build "$build" --target package >"$dir/cpack.log" 2>&1 ||
    die "cmake --build --target package failed"
arch=$(dpkg --print-architecture)
deb=$build/vspc_${version}_${arch}.deb
tools=$build/vspc-tools_${version}_${arch}.deb
[ -f "$deb" ] || die "no $deb"
[ -f "$tools" ] || die "no $tools"
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$dir/contents"
dpkg-deb -c "$tools" | awk '{ print $6 }' | sed 's|^\./|/|' >"$dir/tools"
files=(/usr/sbin/vspc-proxy /usr/sbin/vspc-coordinator /usr/bin/vspcctl
    /lib/systemd/system/vspc-proxy.service
    /lib/systemd/system/vspc-coordinator.service
    /etc/vspc/vspc-proxy.ini /etc/vspc/vspc-coordinator.ini
    /etc/logrotate.d/vspc
    /usr/share/man/man8/vspc-proxy.8.gz /usr/share/man/man8/vspc-coordinator.8.gz
    /usr/share/man/man1/vspcctl.1.gz /usr/share/man/man5/vspc.ini.5.gz
    /usr/share/bash-completion/completions/vspcctl
    /usr/share/bash-completion/completions/vspc-proxy
    /usr/share/bash-completion/completions/vspc-coordinator
    /usr/share/doc/vspc/README.md)
missing=0
for f in "${files[@]}"; do
    grep -qxF "$f" "$dir/contents" || { fail "vspc.deb lacks $f"; missing=1; }
done
[ $missing = 0 ] && ok "vspc.deb holds the ${#files[@]} files"
grep -q 'vspc-hvsim' "$dir/contents" && fail "vspc.deb holds vspc-hvsim"
grep -qxF /usr/bin/vspc-hvsim "$dir/tools" && ok "vspc-tools.deb holds vspc-hvsim" ||
    fail "vspc-tools.deb lacks /usr/bin/vspc-hvsim"
info=$(dpkg-deb -f "$deb" Package Version Depends)
grep -q '^Package: vspc$' <<<"$info" && grep -q "^Version: $version$" <<<"$info" ||
    fail "control: $info"
grep -q '^Depends:.*libevent.*' <<<"$info" && grep -q '^Depends:.*adduser' <<<"$info" &&
    ok "Depends: $(sed -n 's/^Depends: //p' <<<"$info")" || fail "Depends: $info"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$dir/conffiles" 2>/dev/null
[ "$(sort "$dir/conffiles" | tr '\n' ' ')" = \
    "/etc/logrotate.d/vspc /etc/vspc/vspc-coordinator.ini /etc/vspc/vspc-proxy.ini " ] &&
    ok "conffiles" || fail "conffiles: $(cat "$dir/conffiles")"

# --- 2. installed --------------------------------------------------------------
installed=1
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$dir/dpkg-i.log" 2>&1 ||
    die "dpkg -i failed"
dpkg-query -W -f='${Status}\n' vspc | grep -q 'install ok installed' ||
    die "vspc not installed"
# dpkg may be told to leave the manual out (path-exclude in dpkg.cfg.d).
man_excluded=
grep -qs '^path-exclude=/usr/share/man' /etc/dpkg/dpkg.cfg.d/* && man_excluded=1
missing=0
for f in "${files[@]}"; do
    [[ $f == /usr/share/man/* || $f == /usr/share/doc/* ]] && [ -n "$man_excluded" ] &&
        continue
    [ -e "$f" ] || { fail "installed: no $f"; missing=1; }
done
[ $missing = 0 ] && ok "installed: every file in place"
[ -x /usr/sbin/vspc-proxy ] && [ -x /usr/sbin/vspc-coordinator ] && [ -x /usr/bin/vspcctl ] ||
    die "the binaries are not executable"
getent passwd vspc >/dev/null && getent group vspc >/dev/null && ok "user and group vspc" ||
    fail "no system user vspc"
[ "$(stat -c %U:%G:%a /var/log/vspc 2>/dev/null)" = vspc:vspc:750 ] && ok "/var/log/vspc" ||
    fail "/var/log/vspc: $(stat -c %U:%G:%a /var/log/vspc 2>&1)"
[ "$(stat -c %U:%a /etc/vspc/private/proxy 2>/dev/null)" = root:700 ] &&
    ok "/etc/vspc/private/proxy" || fail "/etc/vspc/private/proxy"
[ "$(/usr/sbin/vspc-proxy -t -c /etc/vspc/vspc-proxy.ini 2>&1)" = "config ok" ] &&
    [ "$(/usr/sbin/vspc-coordinator -t -c /etc/vspc/vspc-coordinator.ini 2>&1)" = "config ok" ] &&
    ok "the installed configuration checks (-t)" || fail "-t on the installed configuration"
if [ -z "$man_excluded" ] && command -v man >/dev/null; then
    manl() { MANWIDTH=100 LC_ALL=C.UTF-8 man -l "$1" 2>/dev/null; }
    out=$(manl /usr/share/man/man8/vspc-proxy.8.gz)
    grep -q -- '--slow-reader pace|catchup|disconnect' <<<"$out" &&
        grep -q 'reloadable with SIGHUP' <<<"$out" && grep -q 'SIGNALS' <<<"$out" &&
        ok "vspc-proxy(8) reads, options from the table" || fail "vspc-proxy(8): $(head -c 300 <<<"$out")"
    manl /usr/share/man/man8/vspc-coordinator.8.gz | grep -q -- '--heartbeat-timeout SECONDS' &&
        ok "vspc-coordinator(8)" || fail "vspc-coordinator(8)"
    manl /usr/share/man/man1/vspcctl.1.gz | grep -q 'password-file' && ok "vspcctl(1)" ||
        fail "vspcctl(1)"
    # Every key of the shipped files is in vspc.ini(5).
    out=$(manl /usr/share/man/man5/vspc.ini.5.gz)
    keys=$(sed -n 's/^;\{0,1\}\([a-z][a-z-]*\) = .*/\1/p' /etc/vspc/vspc-proxy.ini \
        /etc/vspc/vspc-coordinator.ini | sort -u)
    missing=0
    for k in $keys; do
        grep -q "^ *$k = " <<<"$out" || { fail "vspc.ini(5) lacks $k"; missing=1; }
    done
    [ $missing = 0 ] && ok "vspc.ini(5) has the $(wc -w <<<"$keys") keys of the files"
fi
comp=/usr/share/bash-completion/completions/vspcctl
bash -c "source $comp && complete -p vspcctl vspc-proxy vspc-coordinator" >/dev/null 2>&1 &&
    out=$(bash -c "source $comp; COMP_WORDS=(vspc-proxy --slow-reader ''); COMP_CWORD=2
        _vspc_proxy; echo \"\${COMPREPLY[*]}\"") && [ "$out" = "pace catchup disconnect" ] &&
    ok "bash completion" || fail "bash completion: ${out:-does not load}"
if command -v systemd-analyze >/dev/null; then
    units=(/lib/systemd/system/vspc-proxy.service /lib/systemd/system/vspc-coordinator.service)
    if systemd-analyze verify "${units[@]}" >"$dir/verify.log" 2>&1; then
        ok "systemd-analyze verify"
    else
        fail "systemd-analyze verify: $(cat "$dir/verify.log")"
    fi
    for u in "${units[@]}"; do
        s=$(systemd-analyze security --offline=yes "$u" 2>&1 |
            sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
        awk -v s="${s:-9}" 'BEGIN { exit !(s <= 1.2) }' &&
            ok "$(basename "$u"): exposure $s" || fail "$(basename "$u"): exposure ${s:-?}"
    done
else
    echo "(no systemd-analyze: units not verified)"
fi
command -v logrotate >/dev/null &&
    { logrotate -d /etc/logrotate.d/vspc >"$dir/logrotate.log" 2>&1 && ok "logrotate -d" ||
        fail "logrotate -d: $(tail -n 3 "$dir/logrotate.log")"; }

# --- 3. the installed daemon, from the installed configuration ------------------
base=26600
/usr/sbin/vspc-proxy -c /etc/vspc/vspc-proxy.ini --user vspc --node-id pkgtest \
    --vm-listen 127.0.0.1:$base --operator-listen 127.0.0.1:$((base + 1)) \
    --http-listen 127.0.0.1:$((base + 2)) --peer-listen 127.0.0.1:$((base + 3)) \
    2>"$dir/proxy.log" &
proxy=$!
pids+=("$proxy")
for _ in $(seq 1 100); do
    grep -q "running as vspc" "$dir/proxy.log" && break
    kill -0 "$proxy" 2>/dev/null || die "vspc-proxy exited"
    sleep 0.05
done
uid=$(id -u vspc)
read -r _ r e s f < <(grep '^Uid:' "/proc/$proxy/status")
[ "$r $e $s $f" = "$uid $uid $uid $uid" ] && ok "vspc-proxy runs as vspc" ||
    fail "vspc-proxy uids: $r $e $s $f"
export VSPC_OPERATOR=127.0.0.1:$((base + 1)) VSPC_HTTP=127.0.0.1:$((base + 2))
uuid=26600000000000000000000000000000
"$build/vspc-hvsim" run --proxy 127.0.0.1:$base --consoles 1 --rate 6000 \
    --bytes 3000 --name-prefix pkg- --uuid-base "$uuid" >"$dir/hvsim.log" 2>&1 ||
    fail "vspc-hvsim run: $(tail -n 3 "$dir/hvsim.log")"
out=$(/usr/bin/vspcctl list 2>&1)
grep -q "^$uuid  *pkg-00000  *disconnected  *-  *0  *3000 " <<<"$out" &&
    ok "vspcctl list" || fail "vspcctl list: $out"
/usr/bin/vspcctl console pkg-00000 --ro </dev/null >"$dir/console.out" 2>"$dir/console.log"
rc=$?
[ $rc = 0 ] && [ "$(wc -c <"$dir/console.out")" -eq 3000 ] &&
    ok "vspcctl console: 3000 bytes" ||
    fail "vspcctl console: rc=$rc, $(wc -c <"$dir/console.out") bytes"
[ -s "/var/log/vspc/$uuid.log" ] && ok "console log in /var/log/vspc" ||
    fail "no /var/log/vspc/$uuid.log: $(ls -l /var/log/vspc 2>&1)"
kill "$proxy"
for _ in $(seq 1 100); do kill -0 "$proxy" 2>/dev/null || break; sleep 0.05; done
kill -0 "$proxy" 2>/dev/null && fail "vspc-proxy still runs after SIGTERM"
wait "$proxy" 2>/dev/null
pids=()

# --- 4. purged -------------------------------------------------------------------
DEBIAN_FRONTEND=noninteractive dpkg --purge vspc >"$dir/dpkg-purge.log" 2>&1 ||
    die "dpkg --purge failed"
installed=
st=$(dpkg-query -W -f='${Status}' vspc 2>/dev/null)
[ -z "$st" ] || [ "$st" = "unknown ok not-installed" ] || fail "dpkg: vspc is \"$st\""
left=
for f in "${files[@]}" /etc/vspc /var/log/vspc /var/log/private/vspc \
    /etc/systemd/system/multi-user.target.wants/vspc-proxy.service \
    /etc/systemd/system/vspc-proxy.service /etc/systemd/system/vspc-coordinator.service \
    /var/lib/systemd/deb-systemd-helper-enabled/vspc-proxy.service.dsh-also \
    /var/lib/systemd/deb-systemd-helper-masked/vspc-proxy.service; do
    [ -e "$f" ] || [ -L "$f" ] && left="$left $f"
done
[ -z "$left" ] && ok "purged: nothing left" || fail "purged, left:$left"

if [ $fails = 0 ]; then
    echo "package: PASS"
    exit 0
fi
echo "package: $fails failure(s)"
for f in "$dir"/*.log; do [ -s "$f" ] && { echo "---- $f"; tail -n 15 "$f"; }; done
exit 1
