#!/usr/bin/env python3
"""op_auth.py: operator authentication and per-console ACLs (ctest
op_auth). A coordinator and two nodes; both read the same users file and
ACL file:

    admin      @admins
    @ops       rw    *
    alice      rw    id:<console A>
    bob        ro    name:web-*
    anonymous  ro    name:web-*
    *          none  *

Users: alice (PBKDF2-SHA256), bob (scrypt), carol (client certificate
only; groups ops, admins), dave (disabled). Console A ("db-1") and
console B ("web-1") are VMs on n1. n1 lets nobody in without a login
(--operator-anonymous none) and has a TLS operator port with a client CA;
n2 keeps the default (anonymous from loopback).

 1. carol's client certificate on n1's TLS port: logged in without a
    password; sees both consoles, attaches rw, may force write, may drain.
 2. An expired certificate and one from another CA: told why, closed.
 3. alice by password over TLS: sees only A; B is "no such console";
    drain is refused (not an admin); A attaches rw.
 4. bob by password on the plain port: sees only B; attaching rw gives a
    read-only spectator; force write is refused in-band.
 5. Wrong password, unknown user, disabled user, a certificate-only user
    with a password: all "Login incorrect" alike; three per connection.
 6. Brute force: past --login-failures 5 a minute, even the right
    password is refused ("too many failed logins"), and counted.
 7. Option 233 on n1 without a login: refused with a line; on n2
    (anonymous, the ACL's anonymous rule): the port list has only B, A
    cannot be connected, B connects read-only.
 8. n2, anonymous on loopback: `list` has only B (a console of n1: the node
    the operator is on enforces), attach A is "no such console", drain
    refused.
 9. Metrics count logins, failures, refusals and ACL denials.
10. HTTP (n1 HTTPS): Basic users see what the ACL shows them; /metrics
    needs the admin role; the probes are open; anonymous on n2.
11. SIGHUP reads the ACL again (bob gets rw); a broken file is refused
    and the rules in force stay.

usage: op_auth.py BUILD_DIR BASE_PORT   (ports BASE..BASE+12)
"""
import base64
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, Operator, run  # noqa: E402

C = Cluster(sys.argv[1], int(sys.argv[2]), "op_auth", n_nodes=2)
TLS_PORT = C.base + 12
A = "0123456789abcdeffedcba9800590000"
B = "0123456789abcdeffedcba9800600000"
BULK = "0123456789abcdeffedcba9800610000"
D = C.logdir


def sh(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd=D)


def make_certs():
    """A CA; the node's certificate; carol's; an expired one; a rogue."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    sh("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
       "-subj", "/CN=vspc test operators CA", "-days", "2")
    sh("openssl", "req", "-new", *ec, "-keyout", "node.key", "-out",
       "node.csr", "-subj", "/CN=127.0.0.1", "-addext",
       "subjectAltName=IP:127.0.0.1")
    with open(os.path.join(D, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for name, cn in (("carol", "carol"),
                     ("old", "carol")):
        sh("openssl", "req", "-new", *ec, "-keyout", name + ".key", "-out",
           name + ".csr", "-subj", "/CN=" + cn)
    for name in ("node", "carol"):
        sh("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem",
           "-CAkey", "ca.key", "-CAcreateserial", "-out", name + ".pem",
           "-days", "2", *(["-extfile", "san.ext"] if name == "node" else []))
    with open(os.path.join(D, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\n"
                "new_certs_dir = .\nserial = ca.srl\ndefault_md = sha256\n"
                "policy = p\n[p]\ncommonName = supplied\n")
    open(os.path.join(D, "index.txt"), "w").close()
    sh("openssl", "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem",
       "-keyfile", "ca.key", "-in", "old.csr", "-out", "old.pem",
       "-startdate", "20200101000000Z", "-enddate", "20200201000000Z",
       "-notext")
    sh("openssl", "req", "-x509", *ec, "-keyout", "rogue.key", "-out",
       "rogue.pem", "-subj", "/CN=carol", "-days", "2")


def b64(b):
    return base64.b64encode(b).decode().rstrip("=")


def make_files():
    salt = b"0123456789abcdef"
    pb = hashlib.pbkdf2_hmac("sha256", b"alice-pw", salt, 1000)
    pe = hashlib.pbkdf2_hmac("sha256", b"erin-pw", salt, 1000)
    sc = hashlib.scrypt(b"bob-pw", salt=salt, n=1 << 10, r=8, p=1,
                        dklen=32)
    users = ("# name:hash:groups\n"
             "alice:$pbkdf2-sha256$i=1000$%s$%s:\n"
             "bob:$scrypt$ln=10,r=8,p=1$%s$%s:helpdesk\n"
             "carol:cert:ops,admins\n"
             "dave:!:ops\n"
             "erin:$pbkdf2-sha256$i=1000$%s$%s:ops,admins\n" %
             (b64(salt), b64(pb), b64(salt), b64(sc), b64(salt), b64(pe)))
    acl = ("admin      @admins\n"
           "@ops       rw    *\n"
           "alice      rw    id:%s\n"
           "bob        ro    name:web-*\n"
           "anonymous  ro    name:web-*\n"
           "*          none  *\n" % A)
    for name, text in (("users", users), ("acl", acl),
                       ("token", TOKEN + "\n")):
        path = os.path.join(D, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)


class Conn(Operator):
    """An operator connection that has not logged in yet."""

    def __init__(self, port, cert=None, tls=False, admin=False):
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        if tls or cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(os.path.join(D, "ca.pem"))
            ctx.check_hostname = False
            if cert:
                ctx.load_cert_chain(os.path.join(D, cert + ".pem"),
                                    os.path.join(D, cert + ".key"))
            raw = ctx.wrap_socket(raw)
        self.s = raw
        self.buf = b""
        self.raw = b""
        if admin:
            self.s.sendall(b"\xff\xfd\xe9")  # DO 233: VMware's client
        else:
            self.s.sendall(b"\xff\xfc\xe9")  # WONT 233

    def login(self, user, pw):
        head = self.read_until(b"login: ")
        m = re.search(rb"read \[vspc ([A-Z0-9]+): \.\.\.\]", head)
        if m:
            self.mark = m.group(1)
        self.send(user.encode() + b"\r\n")
        self.read_until(b"Password: ")
        self.send(pw.encode() + b"\r\n")

    def command(self, line):
        """A command's reply, up to the next prompt."""
        self.send(line.encode() + b"\r\n")
        out = self.read_until(b"vspc> ")
        return out.decode(errors="replace")

    def closed(self, timeout=5.0):
        """Everything until the node closes the connection (or raises)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.s.settimeout(deadline - time.monotonic())
            try:
                data = self.s.recv(65536)
            except (ssl.SSLError, ConnectionResetError):
                data = b""
            if not data:
                out, self.buf = self.buf, b""
                return out.decode(errors="replace")
            self._feed(data)
        raise OSError("not closed within %.0f s (got %r)" %
                      (timeout, self.buf[-200:]))


def expect(cond, what):
    if not cond:
        C.fail(what)
    print("ok: " + what)


def listed(text):
    return sorted(set(re.findall(r"^(?:vspc> )?([0-9a-f]{32}) ", text,
                                 re.M)))


TOKEN = "op-auth-test-token-0123456789"


def http(node, path, user=None, pw=None, token=None):
    """GET path from node (n1: HTTPS): (status, body)."""
    ctx = None
    scheme = "http"
    if node == "n1":
        scheme = "https"
        ctx = ssl.create_default_context(cafile=os.path.join(D, "ca.pem"))
    req = urllib.request.Request("%s://127.0.0.1:%d%s" %
                                 (scheme, C.http_port[node], path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    elif user:
        req.add_header("Authorization", "Basic " + base64.b64encode(
            ("%s:%s" % (user, pw)).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def api_ids(node, user=None, pw=None):
    st, body = http(node, "/api/v1/consoles", user, pw)
    return st, sorted(c["id"] for c in json.loads(body)) if st == 200 else []


def metric(node, name):
    st, body = http(node, "/metrics", token=TOKEN if node == "n1" else None)
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0


def step10():
    """HTTP: the same identities and rights."""
    st, _ = http("n1", "/api/v1/consoles")
    expect(st == 401, "10. n1 HTTPS without credentials: 401")
    expect(api_ids("n1", "alice", "alice-pw") == (200, [A]),
           "10. alice (Basic over HTTPS) lists only A")
    expect(api_ids("n1", "erin", "erin-pw") == (200, [A, B, BULK]),
           "10. erin (@ops) lists all three")
    st, _ = http("n1", "/api/v1/consoles/" + B, "alice", "alice-pw")
    expect(st == 404, "10. B is 404 to alice")
    st, _ = http("n1", "/api/v1/consoles/" + A + "/log", "bob", "bob-pw")
    expect(st == 404, "10. A's log is 404 to bob")
    st, _ = http("n1", "/api/v1/consoles/" + B, "bob", "bob-pw")
    expect(st == 200, "10. B is readable by bob")
    st, _ = http("n1", "/metrics", "alice", "alice-pw")
    expect(st == 403, "10. /metrics needs the admin role: 403 for alice")
    st, _ = http("n1", "/api/v1/vmotions", "erin", "erin-pw")
    expect(st == 200, "10. erin (@admins) reads /api/v1/vmotions")
    st, _ = http("n1", "/healthz")
    expect(st == 200, "10. /healthz is open")
    expect(api_ids("n2") == (200, [B]),
           "10. n2, anonymous from loopback: only B")
    st, _ = http("n2", "/metrics")
    expect(st == 403, "10. n2 anonymous: /metrics 403 (not an admin)")


def replay(c, cid=A, size=61440, slow=False):
    """cid's scrollback after the attach reply: all size bytes of it. slow:
    pause now and then, so the node's socket buffer fills and its TLS
    writes go out in pieces."""
    c.send(b"attach %s ro\r\n" % cid.encode())
    line = c.read_until(b"\r\n", 5).decode()
    deadline = time.monotonic() + 30
    n = 0
    while len(c.buf) < size and time.monotonic() < deadline:
        c.s.settimeout(deadline - time.monotonic())
        c._feed(c.s.recv(65536))
        n += 1
        if slow and n % 16 == 0:
            time.sleep(0.05)
    out, c.buf = c.buf[:size], c.buf[size:]
    return line, out


def step_bulk():
    """4 MiB of scrollback over TLS, read with pauses, equals the plain
    port's byte for byte."""
    t = Conn(TLS_PORT, cert="carol")
    t.read_until(b"vspc> ")
    _, tls_bytes = replay(t, BULK, 4 << 20, slow=True)
    t.close()
    p = Conn(C.oper["n1"])
    p.login("erin", "erin-pw")
    p.read_until(b"vspc> ")
    _, plain_bytes = replay(p, BULK, 4 << 20)
    p.close()
    expect(len(tls_bytes) == 4 << 20 and tls_bytes == plain_bytes,
           "1b. 4 MiB of scrollback over TLS (read with pauses) equals the "
           "plain port's, byte for byte")


def step1():
    c = Conn(TLS_PORT, cert="carol")
    head = c.read_until(b"vspc> ").decode(errors="replace")
    expect("logged in as carol (client certificate)" in head,
           "1. carol's certificate logs her in without a password")
    expect(listed(c.command("list")) == [A, B, BULK],
           "1. carol (@ops) sees all three")
    line, tls_bytes = replay(c)
    expect(line.startswith("ok attached %s ro" % A), "1. attach: " +
           line.strip())
    p = Conn(C.oper["n1"])
    p.login("erin", "erin-pw")
    p.read_until(b"vspc> ")
    _, plain_bytes = replay(p)
    p.close()
    expect(len(tls_bytes) == 61440 and tls_bytes == plain_bytes,
           "1. A's 60 KiB scrollback over TLS equals the plain port's, "
           "byte for byte")
    c.send(b"\x05c.")
    c.read_until(b"detached]")
    c.read_until(b"vspc> ")
    c.send(b"attach %s\r\n" % A.encode())
    line = c.read_until(b"\r\n", 5).decode()
    expect(line.startswith("ok attached %s rw" % A), "1. attach rw: " +
           line.strip())
    c.send(b"\x05cf")
    c.send(b"\x05c.")
    c.read_until(b"detached]")
    c.read_until(b"vspc> ")
    expect("ok not draining" in c.command("drain status"),
           "1. carol (@admins) may use drain")
    c.close()


def step2():
    for cert, why in (("old", "certificate has expired"),
                      ("rogue", "self-signed certificate")):
        c = Conn(TLS_PORT, cert=cert)
        out = c.closed()
        expect("your client certificate was refused: " + why in out,
               "2. %s certificate: told (%s) and closed" % (cert, why))


def step3():
    c = Conn(TLS_PORT, tls=True)
    c.login("alice", "alice-pw")
    head = c.read_until(b"vspc> ").decode(errors="replace")
    expect("logged in as alice" in head, "3. alice logs in by password")
    expect(listed(c.command("list")) == [A], "3. alice sees only A")
    expect("error no such console" in c.command("attach " + B),
           "3. B is no such console to alice")
    expect("error permission denied" in c.command("drain"),
           "3. drain refused: alice is not an admin")
    c.send(b"attach %s\r\n" % A.encode())
    line = c.read_until(b"\r\n", 5).decode()
    expect(line.startswith("ok attached %s rw" % A), "3. alice attaches A rw")
    c.close()


def step4():
    c = Conn(C.oper["n1"])
    c.login("bob", "bob-pw")
    c.read_until(b"logged in as bob")
    c.read_until(b"vspc> ")
    expect(listed(c.command("list")) == [B], "4. bob sees only B")
    js = c.command("list --json")
    expect(('"%s"' % A) not in js and ('"%s"' % B) in js,
           "4. bob's list --json has B, not A")
    c.send(b"attach %s rw\r\n" % B.encode())
    line = c.read_until(b"\r\n", 5).decode()
    expect(("ok attached %s ro" % B) in line,
           "4. bob's rw attach of B is read-only: " + line.strip())
    c.send(b"\x05cf")
    c.read_until(c.notice(b"force write needs read-write access]"))
    print("ok: 4. bob's force write refused in-band")
    c.close()


def step5_6():
    before = metric("n1", "vspc_operator_logins_failed_total")
    c = Conn(C.oper["n1"])
    for user, pw in (("alice", "wrong"), ("mallory", "x"), ("dave", "x")):
        c.login(user, pw)
        c.read_until(b"Login incorrect\r\n")
    out = c.closed()
    expect("login:" not in out, "5. three failures end the connection")
    st, body = http("n1", "/api/v1/consoles", "alice", "nope")
    expect(st == 401 and "wrong user or password" in body,
           "5. HTTP Basic with a wrong password: 401")
    c = Conn(C.oper["n1"])
    c.login("carol", "anything")
    c.read_until(b"Login incorrect\r\n")
    print("ok: 5. wrong password, unknown, disabled, certificate-only: "
          "Login incorrect alike")
    c.login("alice", "alice-pw")
    out = c.closed()
    expect("too many failed logins from your address" in out,
           "6. past --login-failures even the right password is refused")
    st, body = http("n1", "/api/v1/consoles", "erin", "erin-pw")
    expect(st == 401 and "too many failed logins" in body,
           "6. ... on the HTTP API too (one limit per source)")
    st, _ = http("n1", "/api/v1/consoles", token=TOKEN)
    expect(st == 200, "6. the bearer token still works")
    expect(metric("n1", "vspc_operator_logins_failed_total") - before == 5,
           "6. five failures counted")
    expect(metric("n1", "vspc_operator_logins_locked_total") >= 1,
           "6. the lock-out counted")


def admin_sb(c, payload):
    c.s.sendall(b"\xff\xfa\xe9" + payload + b"\xff\xf0")


def admin_reply(c, timeout=5.0):
    """The next option-233 subnegotiation's payload."""
    deadline = time.monotonic() + timeout
    while True:
        k = c.raw.find(b"\xff\xfa\xe9")
        if k >= 0:
            e = c.raw.find(b"\xff\xf0", k)
            if e >= 0:
                p = c.raw[k + 3:e].replace(b"\xff\xff", b"\xff")
                c.raw = c.raw[e + 2:]
                return p
        c.s.settimeout(max(0.1, deadline - time.monotonic()))
        if time.monotonic() > deadline:
            raise OSError("no option-233 reply")
        data = c.s.recv(65536)
        if not data:
            raise OSError("closed")
        c.raw += data


def step7():
    c = Conn(C.oper["n1"], admin=True)
    out = c.closed()
    expect("admin client needs anonymous access" in out,
           "7. option 233 without a login on n1: refused with a line")
    c = socket.create_connection(("127.0.0.1", C.oper["n2"]), timeout=5)
    c.sendall(b"\xff\xfd\xe9")
    a = Conn.__new__(Conn)
    a.s, a.buf, a.raw = c, b"", b""
    time.sleep(0.5)
    admin_sb(a, b"\x10")
    lst = admin_reply(a)
    while lst[:1] != b"\x11":
        lst = admin_reply(a)
    ids = [x for x in lst[1:].split(b"\0") if re.match(rb"^[0-9a-f]{32}$", x)]
    expect(ids == [B.encode()], "7. n2's option-233 port list: only B")
    admin_sb(a, b"\x20\x00" + A.encode())
    expect(admin_reply(a) == b"\x22", "7. connecting A: disconnected")
    admin_sb(a, b"\x20\x00" + B.encode())
    expect(admin_reply(a) == b"\x21", "7. connecting B: connected")
    c.close()


def step8():
    o = Operator(C.oper["n2"])
    o.send(b"list\r\n")
    text = o.read_until(b"vspc> ").decode(errors="replace")
    expect(listed(text) == [B], "8. anonymous on n2 sees only B (on n1)")
    expect(o.attach(A) == "error no such console",
           "8. anonymous: A is no such console")
    o.read_until(b"vspc> ")
    o.send(b"drain\r\n")
    expect(b"error permission denied" in o.read_until(b"vspc> "),
           "8. anonymous may not drain")
    line = o.attach(B, "rw")
    expect(line.startswith("ok attached %s ro" % B),
           "8. anonymous attaches B (owned by n1) read-only")
    o.close()


def step9():
    expect(metric("n1", "vspc_operator_cert_logins_total") == 2,
           "9. two certificate logins on n1")
    expect(metric("n1", "vspc_operator_certs_refused_total") == 2,
           "9. two certificates refused")
    expect(metric("n1", "vspc_acl_denied_total") >= 3,
           "9. ACL denials counted")


def node_log(n):
    with open(os.path.join(C.logdir, n + ".log"), errors="replace") as f:
        return f.read()


def step11():
    """SIGHUP reads the files again; a broken one leaves the old in force."""
    path = os.path.join(D, "acl")
    with open(path) as f:
        old = f.read()
    with open(path, "w") as f:
        f.write(old.replace("bob        ro", "bob        rw"))
    C.node_procs["n2"].send_signal(signal.SIGHUP)
    C.wait_for("n2 reloads", lambda: "users and rules read again" in
               node_log("n2"))
    c = Operator(C.oper["n2"])  # anonymous on loopback: `login bob`
    c.send(b"login bob\r\n")
    c.read_until(b"Password: ")
    c.send(b"bob-pw\r\n")
    c.read_until(b"logged in as bob\r\nvspc> ")
    c.send(b"attach %s rw\r\n" % B.encode())
    line = c.read_until(b"\r\n", 5).decode()
    expect(("ok attached %s rw" % B) in line,
           "11. after SIGHUP bob (`login bob` on n2) has rw on B: " +
           line.strip())
    c.close()
    with open(path, "w") as f:
        f.write("bob  maybe  *\n")
    C.node_procs["n2"].send_signal(signal.SIGHUP)
    C.wait_for("n2 refuses the broken file", lambda: "the configuration has "
               "errors: nothing changed" in node_log("n2"))
    c = Operator(C.oper["n2"])
    c.send(b"login\r\n")
    c.read_until(b"login: ")
    c.send(b"bob\r\n")
    c.read_until(b"Password: ")
    c.send(b"bob-pw\r\n")
    c.read_until(b"logged in as bob\r\nvspc> ")
    c.send(b"attach %s rw\r\n" % B.encode())
    line = c.read_until(b"\r\n", 5).decode()
    expect(("ok attached %s rw" % B) in line,
           "11. a broken ACL file on SIGHUP: the rules in force stay")
    c.close()


def check_mode():
    """-t reads the users and ACL files as a start would."""
    bad = os.path.join(D, "bad.acl")
    with open(bad, "w") as f:
        f.write("@ops rw *\nbob maybe *\n")
    r = subprocess.run([C.proxy_bin, "-t", "--users", os.path.join(D, "users"),
                        "--acl", bad], capture_output=True, text=True)
    expect(r.returncode == 1 and "line 2" in r.stderr,
           "0. -t refuses a broken ACL file, naming the line: " +
           r.stderr.strip()[:100])
    os.chmod(os.path.join(D, "users"), 0o644)
    r = subprocess.run([C.proxy_bin, "-t", "--users", os.path.join(D, "users")],
                       capture_output=True, text=True)
    os.chmod(os.path.join(D, "users"), 0o600)
    expect(r.returncode == 1, "0. -t refuses a users file others can read: " +
           r.stderr.strip()[:100])


def main():
    make_certs()
    make_files()
    check_mode()
    common = ["--users", os.path.join(D, "users"), "--acl",
              os.path.join(D, "acl"), "--login-failures", "5"]
    C.start_coordinator()
    C.start_node("n1", common + [
        "--operator-anonymous", "none",
        "--operator-tls-listen", "127.0.0.1:%d" % TLS_PORT,
        "--operator-cert", os.path.join(D, "node.pem"),
        "--operator-key", os.path.join(D, "node.key"),
        "--operator-ca", os.path.join(D, "ca.pem"),
        "--http-cert", os.path.join(D, "node.pem"),
        "--http-key", os.path.join(D, "node.key"),
        "--http-token-file", os.path.join(D, "token"),
        "--scrollback", "8M"])
    C.start_node("n2", common)
    for n in C.nodes:
        C.wait_for(n + " up", lambda: http(n, "/healthz")[0] == 200)
    # A: 60 KiB at once, then quiet (its scrollback replay is compared
    # over TLS and plain telnet); B: a slow trickle.
    C.hvsim("vm-db-", "n1", ["--consoles", "1", "--uuid-base", A,
                             "--name-prefix", "db-", "--text", "--bytes",
                             "60k", "--rate", "0", "--duration", "120"])
    C.hvsim("vm-bulk-", "n1", ["--consoles", "1", "--uuid-base", BULK,
                               "--name-prefix", "bulk-", "--bytes", "4M",
                               "--rate", "0", "--duration", "120"])
    C.hvsim("vm-web-", "n1", ["--consoles", "1", "--uuid-base", B,
                              "--name-prefix", "web-", "--text", "--rate",
                              "20", "--duration", "120"])
    C.wait_for("the consoles listed", lambda: api_ids(
        "n1", "erin", "erin-pw") == (200, [A, B, BULK]) and api_ids(
        "n2") == (200, [B]))
    for cid, size in ((A, 61440), (BULK, 4 << 20)):
        C.wait_for("all of %s in" % cid, lambda: json.loads(http(
            "n1", "/api/v1/consoles/" + cid,
            token=TOKEN)[1])["bytes_in"] == size, 20)
    step10()
    logins = metric("n1", "vspc_operator_logins_total")
    for step in (step_bulk, step1, step2, step3, step4):
        step()
    expect(metric("n1", "vspc_operator_logins_total") == logins + 4,
           "9. four password logins counted (erin twice, alice, bob)")
    for step in (step5_6, step7, step8, step9, step11):
        step()
    C.stop_all()
    print("op_auth: all checks passed")


run(C, main)
