#!/usr/bin/env python3
"""peer_tls.py: the peer link in TLS with a cluster CA, real processes on
127.0.0.1 (ctest peer_tls).

Certificates made here with openssl(1) (EC P-256, 2 days): a cluster CA,
node certificates for n1 and n2 (CN = node id), a rogue CA with a
certificate for n3, and a cluster-CA certificate with CN n2 for node n4.
A vspc-coordinator, then, each bounded:
  1. n1 and n2 with --peer-tls-cert/--peer-tls-key/--peer-ca: the link
     comes up; n1's peer port speaks TLS 1.3 and shows the cluster
     certificate of n1 to a client with n2's certificate;
  2. VMs on n1 with operators on n2, and on n2 with operators on n1:
     VM output and operator input byte-exact both ways over the TLS link,
     flat out; a console's 64 KiB scrollback replayed through n2 equal to
     n1's own; no peer connection closed for a bad frame; then a console
     bounced between n1 and n2 by vMotion (validation and handover frames
     over TLS), both operators exact;
  3. n3, its certificate signed by a rogue CA: n1 and n2 log the failed
     handshakes (address, OpenSSL's reason) and no link comes up; an
     operator attaching through n3 to a console of n1 gets an error, not
     the bytes (the same console attached through n2 gets them);
  4. n4, a valid cluster certificate whose CN (n2) is not its --node-id:
     n4 warns at startup, n1 and n2 refuse it (log line), no link; an
     operator through n4 gets an error;
  5. a client without a certificate, and one with the rogue certificate,
     are refused by n1's acceptor; the options go three together
     (--check-config fails with one of them);
  6. n1 and n2 still linked, bytes still exact.

usage: peer_tls.py BUILD_DIR BASE_PORT   (ports BASE..BASE+19)
"""
import os
import re
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, Operator, run, uuid  # noqa: E402

C = Cluster(sys.argv[1], int(sys.argv[2]), "peer_tls", n_nodes=4)
N = C.nodes
CERTS = os.path.join(C.logdir, "certs")
EXT = ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
       "extendedKeyUsage=serverAuth,clientAuth\n")


def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), capture_output=True,
                       text=True, timeout=30)
    if r.returncode != 0:
        C.fail("openssl %s: %s" % (" ".join(args), r.stderr[-800:]))


def make_ca(name):
    key, pem = (os.path.join(CERTS, name + x) for x in (".key", ".pem"))
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", pem,
            "-days", "2", "-subj", "/CN=vspc test " + name, "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext",
            "keyUsage=critical,keyCertSign,cRLSign")
    return pem, key


def make_cert(name, cn, ca):
    """name.pem (signed by ca), name.key; subject CN cn."""
    key, csr, pem = (os.path.join(CERTS, name + x)
                     for x in (".key", ".csr", ".pem"))
    ext = os.path.join(CERTS, "node.ext")
    with open(ext, "w") as f:
        f.write(EXT)
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
            "-subj", "/CN=" + cn)
    openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
            "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", pem)
    return pem, key


def tls_args(cert, ca):
    return ["--peer-tls-cert", cert[0], "--peer-tls-key", cert[1],
            "--peer-ca", ca[0]]


def node_log(n):
    with open(os.path.join(C.logdir, n + ".log"), errors="replace") as f:
        return f.read()


def links(n):
    return C.metric(n, "vspc_peer_links_up")


def summary(name):
    with open(os.path.join(C.logdir, name + ".log"), errors="replace") as f:
        out = f.read()
    for line in out.splitlines():
        if line.startswith("hvsim: result="):
            return dict(kv.split("=", 1) for kv in line.split()[1:]), out
    return None, out


def wait_pass(runs, timeout):
    """Every hvsim exits 0 with result=PASS; its first error fails."""
    deadline = time.monotonic() + timeout
    for name, p in runs:
        while p.poll() is None:
            if "hvsim: error:" in summary(name)[1]:
                C.fail("%s: %s" % (name, summary(name)[1][-1500:]))
            if time.monotonic() > deadline:
                C.fail("%s: still running after %.0f s" % (name, timeout))
            time.sleep(0.2)
        s, out = summary(name)
        if p.returncode != 0 or s is None or s.get("result") != "PASS":
            C.fail("%s: exit %d: %s" % (name, p.returncode, out[-1500:]))
    return [summary(name)[0] for name, _ in runs]


def listed(node, cid):
    return cid in {c["id"] for c in C.consoles(node)}


def pair(name, vm_node, op_node, cid, size, consoles=1):
    return (name, C.hvsim(name, vm_node, [
        "--operator", "127.0.0.1:%d" % C.oper[op_node], "--consoles",
        str(consoles),
        "--uuid-base", cid, "--name-prefix", name + "-", "--bytes", size,
        "--rate", "0", "--operator-rate", "100000", "--operator-bytes",
        "64k"]))


def step1(ca, n2cert):
    C.wait_for("1: n1 and n2 linked", lambda: links("n1") == 1 and
               links("n2") == 1, 15)
    for n in ("n1", "n2"):
        if "peer links in TLS 1.3" not in node_log(n):
            C.fail("1: %s does not say its peer links are TLS" % n)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(ca[0])
    ctx.load_cert_chain(n2cert[0], n2cert[1])
    with socket.create_connection(("127.0.0.1", C.peer["n1"]), 5) as s:
        with ctx.wrap_socket(s) as t:
            cn = dict(x[0] for x in t.getpeercert()["subject"]).get(
                "commonName")
            if t.version() != "TLSv1.3" or cn != "n1":
                C.fail("1: n1's peer port: %s, CN %r" % (t.version(), cn))
    print("peer_tls: 1. n1 <-> n2 up in TLS; n1's peer port: TLSv1.3, "
          "the cluster certificate of n1")


def clean_link():
    """No peer connection of n1 or n2 was ever closed for a bad frame: a
    stream broken under TLS would heal by resubscribing, so byte-exact
    operators alone would not show it."""
    for n in ("n1", "n2"):
        e = C.metric(n, "vspc_peer_protocol_errors_total")
        if e != 0:
            C.fail("%s: %s peer protocol errors" % (n, e))


def scrollback():
    """A console of n1 with 256 KiB written, its host gone: its 64 KiB of
    scrollback replayed through n2 (large Data frames, more than a TLS
    record each) equal to the owner's own replay."""
    cid = uuid(5, 1)
    wait_pass([("scroll", C.hvsim("scroll", "n1", [
        "--consoles", "1", "--uuid-base", cid, "--name-prefix", "scroll",
        "--bytes", "256k", "--rate", "0"]))], 30)
    C.wait_for("2: scrollback console listed on n2", lambda: listed("n2", cid))
    got = {}
    for n in ("n1", "n2"):
        o = Operator(C.oper[n])
        r = o.attach(cid, "ro raw")
        if not r.startswith("ok attached %s ro offset=" % cid):
            C.fail("2: attach on %s: %r" % (n, r))
        got[n] = (r.split()[4:], o.read_idle(1.0))
        o.close()
    if len(got["n1"][1]) != 65536 or got["n2"] != got["n1"]:
        C.fail("2: scrollback through n2: %r %d bytes, the owner's %r %d "
               "bytes (same: %s)" % (got["n2"][0], len(got["n2"][1]),
                                     got["n1"][0], len(got["n1"][1]),
                                     got["n2"][1] == got["n1"][1]))


def step2():
    runs = [pair("x12", "n1", "n2", uuid(1, 1), "8M", consoles=4),
            pair("x21", "n2", "n1", uuid(2, 1), "2M")]
    wait_pass(runs, 90)
    scrollback()
    clean_link()
    cid = uuid(3, 1)
    name = "bounce"
    p = C.hvsim(name, "n1", [
        "--consoles", "1", "--uuid-base", cid, "--name-prefix", "bounce-",
        "--vmotion-dest", "127.0.0.1:%d" % C.vm["n2"], "--vmotion-dest",
        "127.0.0.1:%d" % C.vm["n1"], "--vmotions", "10",
        "--vmotion-interval", "100", "--rate", "20000",
        "--operator", "127.0.0.1:%d" % C.oper["n1"],
        "--operator", "127.0.0.1:%d" % C.oper["n2"],
        "--operator-rate", "3000", "--drain-timeout", "30"])
    s = wait_pass([(name, p)], 90)[0]
    sent = int(s["vm_bytes_sent"])
    for k in (0, 1):
        got = int(s.get("op%d_vm_bytes_verified" % k, -1))
        typed = int(s.get("op%d_bytes_sent" % k, -1))
        ver = int(s.get("op%d_bytes_verified_by_vms" % k, -2))
        if got != sent or typed <= 0 or ver != typed or \
                int(s["vmotions_ok"]) != 10:
            C.fail("2: bounce: operator %d verified %d of %d VM bytes, the "
                   "VM %d of its %d; %s vMotions" %
                   (k, got, sent, ver, typed, s["vmotions_ok"]))
    clean_link()
    print("peer_tls: 2. 4 x 8 MiB n1 -> n2 and 2 MiB n2 -> n1 flat out "
          "(operators typing): byte-exact; 64 KiB of scrollback through n2 "
          "as on n1; no bad frame; 10 vMotions n1 <-> n2, %d bytes exact at "
          "both operators" % sent)


def live_console():
    """A console of n1 that prints (slowly) for the rest of the run."""
    cid = uuid(4, 1)
    C.hvsim("livevm", "n1", ["--consoles", "1", "--uuid-base", cid,
                             "--name-prefix", "livevm", "--text", "--rate",
                             "200", "--duration", "120"])
    C.wait_for("console listed on n2", lambda: listed("n2", cid), 10)
    return cid


def refused_through(node, cid, what):
    """An operator on node attaching to cid gets an error and no bytes;
    through n2 the console streams."""
    C.wait_for("%s: %s lists the console" % (what, node),
               lambda: listed(node, cid), 10)
    o = Operator(C.oper[node])
    r = o.attach(cid, "ro")
    rest = o.read_idle(1.0)
    o.close()
    if not r.startswith("error"):
        C.fail("%s: attach through %s: %r" % (what, node, r))
    if rest.replace(b"vspc> ", b"").strip():
        C.fail("%s: %s sent %r after the error" % (what, node, rest[:200]))
    o = Operator(C.oper["n2"])
    ok = o.attach(cid, "ro")
    got = o.read_for(1.5)
    o.close()
    if not ok.startswith("ok attached") or len(got) == 0:
        C.fail("%s: through n2: %r, %d bytes" % (what, ok, len(got)))
    return r


def isolated(node, what):
    """node has no link, n1 and n2 still one each (each other)."""
    time.sleep(3)  # several redials each way
    got = {n: links(n) for n in ("n1", "n2", node)}
    if got != {"n1": 1, "n2": 1, node: 0}:
        C.fail("%s: links up %r, want n1 1, n2 1, %s 0" % (what, got, node))


def step3(rogue_ca, rogue_cert, cid):
    C.start_node("n3", tls_args(rogue_cert, rogue_ca))
    pat = re.compile(r"TLS handshake with [^\n]*failed: [^\n]*"
                     r"(certificate|alert)")
    for n in ("n1", "n2"):
        C.wait_for("3: %s logs a failed TLS handshake" % n,
                   lambda: pat.search(node_log(n)), 10)
    isolated("n3", "3")
    r = refused_through("n3", cid, "3")
    line = pat.search(node_log("n1")).group(0)
    for n in ("n1", "n2"):
        if not C.metric(n, "vspc_peer_tls_failures_total"):
            C.fail("3: %s did not count the failed handshake" % n)
    print("peer_tls: 3. rogue-CA node n3: no link; n1 logged %r; an "
          "operator through n3: %r" % (line[:160], r))
    C.stop(C.node_procs["n3"])


def step4(cid):
    if "its subject CN is not this node's id n4" not in node_log("n4"):
        C.fail("4: n4 does not warn that its certificate names another "
               "node")
    pat = re.compile(r"certificate CN 'n2' is not node n4: refused")
    for n in ("n1", "n2"):
        C.wait_for("4: %s refuses n4 (CN n2)" % n,
                   lambda: pat.search(node_log(n)), 10)
    isolated("n4", "4")
    for n in ("n1", "n2"):
        if not C.metric(n, "vspc_peer_tls_wrong_cn_total"):
            C.fail("4: %s did not count the wrong CN" % n)
    r = refused_through("n4", cid, "4")
    print("peer_tls: 4. node n4 with the cluster certificate of CN n2: "
          "refused by n1 and n2, no link; an operator through n4: %r" % r)
    C.stop(C.node_procs["n4"])


def refused_client(ca, cert, what):
    """A TLS client to n1's peer port that n1 must refuse."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(ca[0])
    if cert:
        ctx.load_cert_chain(cert[0], cert[1])
    try:
        with socket.create_connection(("127.0.0.1", C.peer["n1"]), 5) as s:
            with ctx.wrap_socket(s) as t:
                # TLS 1.3: the client's handshake ends before the server
                # checked its certificate; the refusal is the next read.
                t.settimeout(5)
                data = t.recv(16)
                if data:
                    C.fail("5: %s: n1 sent %r" % (what, data))
                return "closed"
    except (ssl.SSLError, ConnectionError) as e:
        return str(e)


def step5(ca, rogue_cert):
    why = [refused_client(ca, None, "no certificate"),
           refused_client(ca, rogue_cert, "rogue certificate")]
    r = subprocess.run([C.proxy_bin, "--check-config", "--peer-tls-cert",
                        os.path.join(CERTS, "n1.pem")], capture_output=True,
                       text=True, timeout=10)
    if r.returncode == 0 or "go together" not in r.stderr + r.stdout:
        C.fail("5: --peer-tls-cert alone: exit %d: %s" %
               (r.returncode, (r.stderr + r.stdout)[-400:]))
    print("peer_tls: 5. n1 refuses a client without a certificate (%s) and "
          "one of the rogue CA (%s); the options go three together" %
          (why[0][:60], why[1][:60]))


def main():
    if subprocess.run(["sh", "-c", "command -v openssl"],
                      capture_output=True).returncode != 0:
        print("peer_tls: no openssl(1): skipped")
        sys.exit(77)
    os.makedirs(CERTS)
    ca = make_ca("ca")
    rogue_ca = make_ca("rogue-ca")
    certs = {n: make_cert(n, n, ca) for n in ("n1", "n2")}
    rogue = make_cert("n3", "n3", rogue_ca)
    n4 = make_cert("n4", "n2", ca)
    C.start_coordinator()
    for n in ("n1", "n2"):
        C.start_node(n, tls_args(certs[n], ca))
    step1(ca, certs["n2"])
    step2()
    cid = live_console()
    step3(rogue_ca, rogue, cid)
    C.start_node("n4", tls_args(n4, ca))
    C.wait_for("4: n4 up", lambda: C.metric("n4", "vspc_peer_links_up")
               is not None, 10)
    step4(cid)
    step5(ca, rogue)
    wait_pass([pair("again", "n2", "n1", uuid(6, 1), "256k")], 60)
    if links("n1") != 1 or links("n2") != 1:
        C.fail("6: n1 and n2 no longer linked")
    clean_link()
    print("peer_tls: 6. n1 <-> n2 still up, 256 KiB exact both ways")
    C.stop_all()
    print("peer_tls: PASS")


run(C, main)
