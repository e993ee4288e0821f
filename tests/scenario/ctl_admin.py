#!/usr/bin/env python3
"""ctl_admin.py: vspcctl administers (ctest ctl_admin). One node with a
users file and an ACL:

    admin      @admins
    alice      rw    *          (alice is in admins)
    bob        ro    name:web-*
    anonymous  rw    *
    *          none  *

Three fake hypervisors (Python, speaking just enough telnet and option
232, counting the IAC BRK they receive): web-1, db-1 and another db-1
whose ids share a prefix with the first db-1.

 1. HTTP name resolution: /api/v1/consoles/<key> (and /log) by id, VM
    name, unique id prefix; an ambiguous prefix or name is 409; unknown
    404; bob sees web-1 and not db-1 (404).
 2. `who`: on the operator port (text and --json) and with vspcctl (HTTP
    and, with --operator alone, the operator port): address, user, mode
    (rw, ro, excl), raw; rights (bob: `error no such console`).
 3. Break: ^Ecl reaches the hypervisor as IAC BRK (a raw operator and
    vspcctl too); a read-only right and a spectator are refused in-band.
 4. vspcctl console --excl (a second --excl is refused), --raw (escapes
    are data), -e ^B (^B c l breaks, ^E passes as data), -e none.
 5. --json outputs parse (list, who, status, drain --status, drain,
    undrain); drain needs the admin role and the right node.
 6. Transports: `--operator nonsense list`, an unreachable operator port
    or HTTP API, status/log with only --operator, console/drain with only
    --http: exit 1 with a message; `--operator X list` uses the port.

usage: ctl_admin.py BUILD_DIR BASE_PORT   (ports BASE..BASE+2)
"""
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import FakeHV as _FakeHV, Operator  # noqa: E402

BUILD, BASE = sys.argv[1], int(sys.argv[2])
VM, OP, HTTP = BASE, BASE + 1, BASE + 2
CTL = os.path.join(BUILD, "vspcctl")
D = tempfile.mkdtemp(prefix="ctl_admin.")
WEB = "0123456789abcdeffedcba9800710001"
DB1 = "0123456789abcdeffedcba9800720001"
DB2 = "0123456789abcdeffedcba9800720002"
procs = []
fails = 0


def fail(what):
    global fails
    fails += 1
    print("FAIL: " + what, flush=True)


def expect(cond, what, detail=""):
    if cond:
        print("ok: " + what, flush=True)
    else:
        fail(what + (": " + detail if detail else ""))


# ---- helpers ----------------------------------------------------------------

def FakeHV(uuid, name):
    return _FakeHV(uuid, name, VM, "Sctl_admin")


def b64(b):
    return base64.b64encode(b).decode().rstrip("=")


def make_files():
    salt = b"0123456789abcdef"
    pa = hashlib.pbkdf2_hmac("sha256", b"alice-pw", salt, 1000)
    pb = hashlib.pbkdf2_hmac("sha256", b"bob-pw", salt, 1000)
    users = ("alice:$pbkdf2-sha256$i=1000$%s$%s:admins\n"
             "bob:$pbkdf2-sha256$i=1000$%s$%s:\n" %
             (b64(salt), b64(pa), b64(salt), b64(pb)))
    acl = ("admin      @admins\n"
           "alice      rw    *\n"
           "bob        ro    name:web-*\n"
           "anonymous  rw    *\n"
           "*          none  *\n")
    for name, text in (("users", users), ("acl", acl), ("alice.pw",
                                                        "alice-pw\n"),
                       ("bob.pw", "bob-pw\n")):
        path = os.path.join(D, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)


ALICE = ["--user", "alice", "--password-file", os.path.join(D, "alice.pw")]
BOB = ["--user", "bob", "--password-file", os.path.join(D, "bob.pw")]
OPA = ["--operator", "127.0.0.1:%d" % OP]
HTA = ["--http", "127.0.0.1:%d" % HTTP]
# Defaults from the environment: not "named" (a named transport is used).
ENV = dict(os.environ, VSPC_OPERATOR="127.0.0.1:%d" % OP,
           VSPC_HTTP="127.0.0.1:%d" % HTTP)


def ctl(*args, stdin=b"", timeout=20):
    """vspcctl without a terminal: (rc, stdout, stderr)."""
    p = subprocess.run([CTL] + list(args), input=stdin, capture_output=True,
                       timeout=timeout, start_new_session=True, env=ENV)
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


def http(path, user=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (HTTP, path))
    if user:
        tok = base64.b64encode(("%s:%s-pw" % (user, user)).encode()).decode()
        req.add_header("Authorization", "Basic " + tok)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def wait_for(what, cond, secs=10.0):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            if cond():
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    fail("timed out waiting for " + what)
    return False


def login(o, user):
    o.send(("login %s\r\n" % user).encode())
    o.read_until(b"Password: ")
    o.send(("%s-pw\r\n" % user).encode())
    out = o.read_until(b"vspc> ")
    if b"logged in as " + user.encode() not in out:
        raise OSError("login %s: %r" % (user, out))


def command(o, line):
    o.send(line.encode() + b"\r\n")
    return o.read_until(b"vspc> ").decode(errors="replace")


def who_json(o, key):
    out = command(o, "who %s --json" % key)
    m = re.search(r"^(\{.*\})\r$", out, re.M)
    return json.loads(m.group(1)) if m else out


# ---- the scenario -------------------------------------------------------------

def part_http_names():
    st, body = http("/api/v1/consoles/web-1")
    expect(st == 200 and json.loads(body)["id"] == WEB,
           "HTTP console by VM name", "%d %s" % (st, body))
    st, body = http("/api/v1/consoles/" + WEB[:26] + "71")
    expect(st == 200 and json.loads(body)["id"] == WEB,
           "HTTP console by unique id prefix", "%d %s" % (st, body))
    st, body = http("/api/v1/consoles/" + WEB)
    expect(st == 200, "HTTP console by id")
    st, body = http("/api/v1/consoles/" + DB1[:28])
    expect(st == 409 and "ambiguous prefix" in body,
           "HTTP ambiguous prefix: 409", "%d %s" % (st, body))
    st, body = http("/api/v1/consoles/db-1")
    expect(st == 409 and "ambiguous VM name" in body,
           "HTTP ambiguous VM name: 409", "%d %s" % (st, body))
    st, body = http("/api/v1/consoles/nosuch")
    expect(st == 404 and "no such console" in body, "HTTP unknown: 404")
    wait_for("web-1's log", lambda: "web-1 login: " in http(
        "/api/v1/consoles/web-1/log")[1])
    st, body = http("/api/v1/consoles/%s/log" % WEB[:28])
    expect(st == 200 and "web-1 login: " in body, "HTTP log by VM name and "
           "by prefix", "%d %s" % (st, body))
    st, body = http("/api/v1/consoles/web-1/operators")
    expect(st == 200 and json.loads(body)["console"] == WEB,
           "HTTP operators by VM name", "%d %s" % (st, body))
    st, body = http("/api/v1/consoles/" + DB1, user="bob")
    expect(st == 404, "bob: db-1 by id is 404 (no right)")
    st, body = http("/api/v1/consoles/" + DB1 + "/operators", user="bob")
    expect(st == 404, "bob: db-1's operators are 404")
    st, body = http("/api/v1/consoles/web-1/operators", user="bob")
    expect(st == 200, "bob: web-1's operators", "%d %s" % (st, body))
    st, body = http("/api/v1/consoles/web%2D1")
    expect(st == 200, "HTTP key percent-decoded", "%d %s" % (st, body))


def part_who_and_break(hv_web):
    a = Operator(OP)
    r = a.attach("web-1", "rw")
    expect(r.startswith("ok attached " + WEB + " rw"), "anonymous attaches rw",
           r)
    s = Operator(OP)
    r = s.attach(WEB[:28], "ro")
    expect(r.startswith("ok attached " + WEB + " ro"),
           "a spectator attaches by prefix", r)
    b = Operator(OP)
    login(b, "bob")
    q = Operator(OP)

    j = who_json(q, "web-1")
    ops = j.get("operators", []) if isinstance(j, dict) else []
    modes = sorted(o["mode"] for o in ops)
    expect(isinstance(j, dict) and j["console"] == WEB and modes == ["ro", "rw"]
           and all(o["user"] == "anonymous" and o["raw"] is False
                   for o in ops) and j["remote_operators"] == 0 and
           j["node"] == "test", "who --json on the operator port", repr(j))
    out = command(q, "who web-1")
    expect(re.search(r"^console=%s node=test operators=2 remote=0\r$" % WEB,
                     out, re.M) and
           len(re.findall(r"^127\.0\.0\.1:\d+ user=anonymous mode=r[ow] "
                          r"raw=no since=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\r$",
                          out, re.M)) == 2, "who (text)", out)
    out = command(b, "who " + DB1)
    expect("error no such console" in out, "bob: who db-1 is no such console",
           out)
    out = command(b, "who web-1")
    expect("operators=2" in out, "bob: who web-1", out)
    out = command(q, "who " + DB1[:28])
    expect("error ambiguous prefix" in out, "who: ambiguous prefix", out)
    out = command(q, "who")
    expect("error usage: who <console> [--json]" in out, "who: usage", out)

    # Break: the anonymous rw operator.
    a.send(b"\x05cl")
    expect(hv_web.wait_brk(1), "^Ecl: IAC BRK reaches the hypervisor")
    got = a.read_until(b"sent a break]")
    expect(a.notice(b"operator ") in got, "the break is told in-band",
           repr(got))
    # A spectator: refused in-band.
    s.read_until(b"sent a break]")
    s.send(b"\x05cl")
    got = s.read_until(b"]\r\n")
    expect(b"break: you are read-only" in got and not hv_web.wait_brk(2, 0.5),
           "a spectator's break is refused", repr(got))
    # bob: a read-only right.
    r = b.attach("web-1", "rw")
    expect(" ro " in r, "bob attaches read-only whatever he asks", r)
    b.read_idle(0.3)
    b.send(b"\x05cl")
    got = b.read_until(b"]\r\n")
    expect(b"break needs read-write access" in got and
           not hv_web.wait_brk(2, 0.5), "bob's break is refused", repr(got))

    # vspcctl who over HTTP (default) and over the operator port.
    rc, out, err = ctl("who", "web-1", "--json")
    j = json.loads(out) if rc == 0 else {}
    expect(rc == 0 and len(j.get("operators", [])) == 3 and
           sorted(o["user"] for o in j["operators"]) ==
           ["anonymous", "anonymous", "bob"],
           "vspcctl who --json (HTTP)", out + err)
    rc, out2, err = ctl(*OPA, "who", WEB[:28], "--json")
    j2 = json.loads(out2) if rc == 0 else {}
    expect(rc == 0 and j2.get("operators") == j.get("operators"),
           "vspcctl --operator who --json: the same", out2 + err)
    rc, out, err = ctl("who", "web-1")
    expect(rc == 0 and "3 operators on node test, 0 through other nodes" in out
           and re.search(r"^ADDRESS +USER +MODE +RAW +SINCE$", out, re.M) and
           re.search(r" bob +ro +no ", out), "vspcctl who (table)", out + err)
    rc, out, err = ctl(*BOB, "who", DB1)
    expect(rc == 1 and "404" in err, "vspcctl who as bob: db-1 is 404",
           out + err)
    rc, out, err = ctl(*BOB, *OPA, "who", DB1)
    expect(rc == 1 and "no such console" in err,
           "vspcctl --operator who as bob: no such console", out + err)
    for o in (a, s, b, q):
        o.close()


def wait_ops(key, n):
    return wait_for("%d operators on %s" % (n, key), lambda: json.loads(
        http("/api/v1/consoles/%s" % key)[1])["operators"] == n)


def part_console(hv_web, hv_db):
    wait_ops("web-1", 0)
    base_brk = hv_web.brk
    # vspcctl: ^Ecl through vspcctl (the attach says escape=^E).
    hv_web.take()
    rc, out, err = ctl("console", "web-1", stdin=b"hello\x05cl")
    expect(rc == 0 and hv_web.wait_brk(base_brk + 1) and
           hv_web.wait_data(b"hello"), "vspcctl console: ^Ecl breaks",
           err)
    # -e ^B: ^B c l breaks; ^E c l is data.
    hv_web.take()
    rc, out, err = ctl("console", "web-1", "-e", "^B",
                       stdin=b"x\x05cly\x02cl")
    expect(rc == 0 and hv_web.wait_brk(base_brk + 2) and
           hv_web.wait_data(b"x\x05cly"), "-e ^B: ^Bcl breaks, ^Ecl is data",
           "%r %r" % (err, hv_web.data))
    # -e ^B: ^B c . detaches (the rest never goes).
    hv_web.take()
    rc, out, err = ctl("console", "web-1", "-e", "^B",
                       stdin=b"before\x02c.after")
    time.sleep(0.3)
    got = hv_web.take()
    expect(rc == 0 and "detached" in err and b"before" in got and
           b"after" not in got, "-e ^B: ^Bc. detaches", "%r %r" % (err, got))
    # --raw: the proxy takes no escapes: ^E c l is data.
    rc, out, err = ctl("console", "web-1", "--raw", stdin=b"r\x05clr")
    expect(rc == 0 and hv_web.wait_data(b"r\x05clr") and
           hv_web.brk == base_brk + 2, "--raw: ^Ecl is data",
           "%r %r" % (err, hv_web.data))
    # -e none: everything is data, even ^Ec.
    rc, out, err = ctl("console", "web-1", "-e", "none",
                       stdin=b"n\x05c.n")
    expect(rc == 0 and hv_web.wait_data(b"n\x05c.n"), "-e none: ^Ec. is data",
           "%r %r" % (err, hv_web.data))
    rc, out, err = ctl("console", "web-1", "-e", "^?")
    expect(rc == 2, "-e ^?: bad usage", err)
    # --excl: held while a second --excl is refused; who says excl.
    p = subprocess.Popen([CTL, *ALICE, "console", DB2, "--excl"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True,
                         env=ENV)
    procs.append(p)
    wait_ops(DB2, 1)
    j = json.loads(ctl("who", DB2, "--json")[1])
    expect([(o["user"], o["mode"]) for o in j["operators"]] ==
           [("alice", "excl")], "--excl: who says alice excl", repr(j))
    rc, out, err = ctl("console", DB2, "--excl")
    expect(rc == 1 and "write lock" in err, "a second --excl is refused",
           err)
    hv_db.take()
    p.stdin.write(b"excl-input")
    p.stdin.close()
    p.wait(timeout=10)
    expect(p.returncode == 0 and hv_db.wait_data(b"excl-input"),
           "--excl: its input reaches the VM")
    rc, out, err = ctl("console", "web-1", "--ro", "--excl")
    expect(rc == 2, "--ro with --excl: bad usage")


def part_json_and_drain():
    rc, out, err = ctl("list", "--json")
    ids = sorted(o["id"] for o in json.loads(out)) if rc == 0 else []
    expect(ids == sorted([WEB, DB1, DB2]), "list --json parses", out + err)
    rc, out, err = ctl(*OPA, "list", "--json")
    ids2 = sorted(o["id"] for o in json.loads(out)) if rc == 0 else []
    expect(ids2 == ids, "--operator list --json: the operator port's list",
           out + err)
    rc, out, err = ctl(*OPA, *BOB, "list")
    expect(rc == 0 and WEB in out and DB1 not in out,
           "--operator list as bob: only web-1", out + err)
    rc, out, err = ctl(*ALICE, "status", "--json")
    expect(rc == 0 and json.loads(out)["node"]["id"] == "test",
           "status --json parses", out + err)
    rc, out, err = ctl("drain", "test")
    expect(rc == 1 and "permission denied" in err,
           "drain as anonymous: refused, exit 1", out + err)
    rc, out, err = ctl(*ALICE, "drain", "other")
    expect(rc == 1 and "is test, not other" in err, "drain of another node",
           out + err)
    rc, out, err = ctl(*ALICE, "drain", "test", "--json")
    expect(rc == 0 and json.loads(out) == {"node": "test", "draining": True,
                                           "changed": True},
           "drain --json", out + err)
    rc, out, err = ctl(*ALICE, "drain", "--status", "--json")
    expect(rc == 0 and json.loads(out)["draining"] is True,
           "drain --status --json", out + err)
    rc, out, err = ctl(*ALICE, "undrain", "test", "--json")
    expect(rc == 0 and json.loads(out) == {"node": "test", "draining": False,
                                           "changed": True},
           "undrain --json", out + err)
    rc, out, err = ctl(*ALICE, "drain", "--status", "test")
    expect(rc == 0 and out.strip() == "ok not draining", "drain --status",
           out + err)


def part_transports():
    rc, out, err = ctl("--operator", "nonsense", "list")
    expect(rc == 1 and err.strip() and not out,
           "--operator nonsense list: exit 1", err)
    rc, out, err = ctl("--operator", "127.0.0.1:1", "list")
    expect(rc == 1 and "cannot connect" in err,
           "unreachable operator port: exit 1", err)
    rc, out, err = ctl("--operator", "127.0.0.1:1", "who", "web-1")
    expect(rc == 1 and "cannot connect" in err,
           "who on an unreachable operator port: exit 1", err)
    rc, out, err = ctl("--http", "127.0.0.1:1", "who", "web-1")
    expect(rc == 1 and "cannot connect" in err,
           "who on an unreachable HTTP API: exit 1", err)
    rc, out, err = ctl(*OPA, "status")
    expect(rc == 1 and "--http" in err, "status with only --operator: exit 1",
           err)
    rc, out, err = ctl(*OPA, "log", "web-1")
    expect(rc == 1 and "--http" in err, "log with only --operator: exit 1",
           err)
    rc, out, err = ctl(*HTA, "console", "web-1")
    expect(rc == 1 and "--operator" in err,
           "console with only --http: exit 1", err)
    rc, out, err = ctl(*HTA, "drain", "test")
    expect(rc == 1 and "--operator" in err, "drain with only --http: exit 1",
           err)
    rc, out, err = ctl("--operator", "tls://127.0.0.1:%d" % OP, "who",
                       "web-1")
    expect(rc == 1 and err.strip(), "tls:// to a plain port: exit 1", err)


def main():
    make_files()
    log = open(os.path.join(D, "proxy.log"), "w")
    p = subprocess.Popen([os.path.join(BUILD, "vspc-proxy"),
                          "--vm-listen", "127.0.0.1:%d" % VM,
                          "--operator-listen", "127.0.0.1:%d" % OP,
                          "--http-listen", "127.0.0.1:%d" % HTTP,
                          "--node-id", "test", "--log-dir", D,
                          "--users", os.path.join(D, "users"),
                          "--acl", os.path.join(D, "acl"),
                          "--login-failures", "1000"],
                         stdout=log, stderr=log)
    procs.append(p)
    wait_for("the proxy's ports", lambda: socket.create_connection(
        ("127.0.0.1", OP), timeout=1).close() is None and
        http("/healthz")[0] == 200)
    hv_web = FakeHV(WEB, "web-1")
    hv_db = FakeHV(DB1, "db-1")
    hv_db2 = FakeHV(DB2, "db-1")
    wait_for("three consoles connected", lambda: sum(
        1 for o in json.loads(http("/api/v1/consoles")[1])
        if o["state"] == "connected") == 3)
    hv_web.say(b"web-1 login: ")
    part_http_names()
    part_who_and_break(hv_web)
    part_console(hv_web, hv_db2)
    part_json_and_drain()
    part_transports()
    del hv_db


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    shutil.rmtree(D, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(1))
    try:
        main()
    except Exception as e:  # noqa: BLE001
        fail("exception %r" % (e,))
    proxy_rc = None
    if procs:
        procs[0].send_signal(signal.SIGTERM)
        try:
            proxy_rc = procs[0].wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    if proxy_rc not in (0, None) or (procs and proxy_rc is None):
        fail("the proxy exited %r" % (proxy_rc,))
        sys.stdout.write(open(os.path.join(D, "proxy.log")).read()[-4000:])
    cleanup()
    print("ctl_admin: %s" % ("PASS" if fails == 0 else "%d FAILED" % fails))
    sys.exit(0 if fails == 0 else 1)
