#!/usr/bin/env python3
"""reload.py: SIGHUP re-reads the configuration without dropping anything
(ctest reload). One node started with -c FILE; a VM streams into it; an
operator is attached; a telnets:// listener serves certificate A.

 1. The file changes: max-operators 50 -> 1, escape-char ^E -> ^], a new
    --allow entry (reloadable), vm-listen (not reloadable), tls-cert and
    tls-key -> certificate B. SIGHUP: each change is logged as applied or
    kept; the operator stays attached and keeps receiving the console;
    the VM stays connected; a new operator is refused (the cap is 1 now);
    the attached operator's escape is ^] at once; a new TLS handshake
    presents certificate B; vspc_reloads_total{result="ok"} 1.
 2. A file with an error: SIGHUP changes nothing (the cap stays 1, the
    log names the line), vspc_reloads_total{result="failed"} 1.

usage: reload.py BUILD_DIR BASE_PORT   (ports BASE..BASE+5)
"""
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, Operator, run  # noqa: E402

C = Cluster(sys.argv[1], int(sys.argv[2]), "reload", n_nodes=1)
B0 = C.base
VM, OPS, HTTP, PEER, TLS, VM2 = (B0 + i for i in range(6))
C.http_port["n1"] = HTTP
C.vm["n1"] = VM
D = C.logdir
CID = "0123456789abcdeffedcba9800700000"


def expect(cond, what):
    if not cond:
        C.fail(what)
    print("ok: " + what)


def node_log():
    with open(os.path.join(D, "n1.log"), errors="replace") as f:
        return f.read()


def cert(name):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    os.path.join(D, name + ".key"), "-out",
                    os.path.join(D, name + ".pem"), "-subj", "/CN=" + name,
                    "-days", "2"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    der = ssl.PEM_cert_to_DER_cert(open(os.path.join(D, name + ".pem")).read())
    return hashlib.sha1(der).hexdigest()


def write_ini(vm_port, max_ops, esc, cert_name, extra=""):
    with open(os.path.join(D, "node.ini"), "w") as f:
        f.write("[proxy]\n"
                "vm-listen = 127.0.0.1:%d\n"
                "operator-listen = 127.0.0.1:%d\n"
                "http-listen = 127.0.0.1:%d\n"
                "peer-listen = 127.0.0.1:%d\n"
                "tls-listen = 127.0.0.1:%d\n"
                "tls-cert = %s\n"
                "tls-key = %s\n"
                "allow = 127.0.0.0/8\n"
                "max-operators = %d\n"
                "escape-char = %s\n"
                "log-dir = %s\n"
                "node-id = n1\n%s" %
                (vm_port, OPS, HTTP, PEER, TLS,
                 os.path.join(D, cert_name + ".pem"),
                 os.path.join(D, cert_name + ".key"), max_ops, esc,
                 os.path.join(D, "logs"), extra))


def served_thumbprint():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", TLS), timeout=5) as s:
        with ctx.wrap_socket(s) as t:
            return hashlib.sha1(t.getpeercert(binary_form=True)).hexdigest()


def reloads(result):
    for line in C.http("n1", "/metrics").splitlines():
        if line.startswith('vspc_reloads_total{result="%s"} ' % result):
            return int(line.split()[1])
    return None


def sighup_and_wait(count_ok, count_failed):
    C.procs[0][1].send_signal(signal.SIGHUP)
    C.wait_for("the reload", lambda: reloads("ok") == count_ok and
               reloads("failed") == count_failed)


def main():
    fp_a, fp_b = cert("certA"), cert("certB")
    os.mkdir(os.path.join(D, "logs"))
    write_ini(VM, 50, "^E", "certA")
    C.start("n1", [C.proxy_bin, "-c", os.path.join(D, "node.ini")])
    C.wait_for("n1 up", lambda: C.http("n1", "/healthz"))
    expect(served_thumbprint() == fp_a, "0. telnets:// serves certificate A")
    C.hvsim("vm", "n1", ["--consoles", "1", "--uuid-base", CID, "--text",
                         "--rate", "200", "--duration", "60"])
    C.wait_for("the VM connected", lambda: [
        c for c in C.consoles("n1") if c["state"] == "connected"])
    op = Operator(OPS)
    op.send(b"attach %s\r\n" % CID.encode())
    op.read_until(b"ok attached")
    op.read_until(b"\n")

    write_ini(VM2, 1, "^]", "certB",
              "allow = 10.20.0.0/16\nlog-timestamps = yes\n")
    sighup_and_wait(1, 0)
    log = node_log()
    for opt in ("max-operators", "escape-char", "allow", "tls-cert",
                "tls-key", "log-timestamps"):
        expect("SIGHUP: %s changed: applied" % opt in log,
               "1. %s applied" % opt)
    expect("SIGHUP: vm-listen changed: it cannot change while running" in
           log, "1. vm-listen reported as kept until a restart")
    got = op.read_for(0.5)
    expect(len(got) > 0, "1. the attached operator still receives the "
           "console (%d bytes in 0.5 s)" % len(got))
    st = [c["state"] for c in C.consoles("n1") if c["id"] == CID]
    expect(st == ["connected"], "1. the VM is still connected")
    s = socket.create_connection(("127.0.0.1", OPS), timeout=5)
    data = b""
    while b"\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    expect(b"too many operator connections" in data,
           "1. a second operator is refused: max-operators is 1 now")
    op.send(b"\x1dc?")
    op.read_until(b"escapes: ^]c. detach")
    print("ok: 1. the attached operator's escape is ^] at once")
    expect(served_thumbprint() == fp_b,
           "1. a new telnets:// handshake presents certificate B")
    path = os.path.join(D, "logs", CID + ".log")

    def stamped_tail():
        with open(path, errors="replace") as f:
            lines = f.read().split("\n")[:-1]
        return len(lines) > 2 and all(x.startswith("[") for x in lines[-2:])
    C.wait_for("stamped console log lines", stamped_tail)
    print("ok: 1. the console log's new lines carry timestamps "
          "(log-timestamps applied by the writer)")
    with socket.create_connection(("127.0.0.1", VM), timeout=2):
        pass
    print("ok: 1. the hypervisor port stays where it was")

    write_ini(VM, 7, "^E", "certA", "max-consoles = lots\n")
    sighup_and_wait(1, 1)
    log = node_log()
    expect("max-consoles" in log and "nothing changed" in log,
           "2. a file with an error: logged, nothing changed")
    s = socket.create_connection(("127.0.0.1", OPS), timeout=5)
    data = s.recv(4096)
    s.close()
    expect(b"too many operator connections" in data,
           "2. max-operators is still 1")
    expect(served_thumbprint() == fp_b, "2. still certificate B")
    expect('console=%s vm="vm-00000" operator' % CID in node_log(),
           "3. console log lines carry the VM name once known")
    op.close()
    C.stop_all()
    print("reload: all checks passed")


run(C, main)
