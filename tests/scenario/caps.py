#!/usr/bin/env python3
"""caps.py: a node's caps (ctest caps). One node, started with
--max-consoles 3 --max-operators 3 --operator-idle-timeout 1 and a limit
of 64 file descriptors.

 1. --max-consoles: three consoles connect; a fourth VM is refused (its
    connection closed, one log line, vspc_consoles_refused_cap_total) while
    the three go on. Once they are disconnected, a new VM is taken: the
    oldest idle console lets go early (vspc_consoles_expired_early_total).
 2. --max-operators: with three operators connected a fourth gets one line
    and is closed (vspc_operators_refused_cap_total); the three still work.
 3. --operator-idle-timeout: an operator silent at the prompt is told and
    closed (vspc_operators_idle_closed_total); one attached is not.
 3b. --max-unidentified-bytes 200000: four connections that send serial
    data and never identify: once they hold 200000 bytes together the
    next one holding data pauses (vspc_unidentified_held_bytes stays
    near the cap); a real VM still connects meanwhile; the idle timeout
    (3 s here) lets the bytes go.
 4. Out of descriptors: 80 idle connections to the hypervisor port exhaust
    them; the node pauses accepting (vspc_accept_paused_total) instead of
    spinning: under half a CPU-second over 3 s, at most 2 "cannot accept"
    lines; an attached operator keeps its console; once the connections
    close, a new VM connects.

 5. --max-unidentified-per-source 3 (a second node): three idle
    connections from 127.0.0.1 stay, the next two are closed at once
    (vspc_hypervisor_refused_per_source_total 2); when one of the three
    goes, a new one is taken.

usage: caps.py BUILD_DIR BASE_PORT   (ports BASE+1..BASE+7)
"""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, Operator, run  # noqa: E402

C = Cluster(sys.argv[1], int(sys.argv[2]), "caps", n_nodes=1)
C.store_args = []  # alone
N = "n1"
A = "0123456789abcdeffedcba9800550000"
B = "0123456789abcdeffedcba9800560000"
D = "0123456789abcdeffedcba9800570000"


def log():
    with open(os.path.join(C.logdir, "n1.log"), errors="replace") as f:
        return f.read()


def connected():
    return len([c for c in C.consoles(N) if c["state"] == "connected"])


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def on_term(signum, frame):
    C.fail("signal %d" % signum)


def main():
    signal.signal(signal.SIGTERM, on_term)
    p = C.start(N, ["bash", "-c", 'ulimit -n 64 && exec "$0" "$@"',
                    C.proxy_bin, "--node-id", N, "--vm-listen",
                    "127.0.0.1:%d" % C.vm[N], "--operator-listen",
                    "127.0.0.1:%d" % C.oper[N], "--http-listen",
                    "127.0.0.1:%d" % C.http_port[N], "--max-consoles", "3",
                    "--max-operators", "3", "--operator-idle-timeout", "1",
                    "--max-unidentified-bytes", "200000",
                    "--idle-timeout", "3"])
    C.wait_for("the node up", lambda: C.consoles(N) == [], 10)
    # 1. --max-consoles
    three = C.hvsim("three", N, ["--consoles", "3", "--connect-only",
                                 "--duration", "600", "--uuid-base", A])
    C.wait_for("three consoles", lambda: connected() == 3, 10)
    fourth = C.hvsim("fourth", N, ["--consoles", "1", "--connect-only",
                                   "--duration", "600", "--uuid-base", B])
    C.wait_for("the fourth refused", lambda: C.metric(
        N, "vspc_consoles_refused_cap_total") == 1, 10)
    fourth.wait(timeout=10)
    if connected() != 3 or "refused: this node holds --max-consoles (3)" \
            not in log():
        C.fail("after the refusal: %d connected; log line missing"
               % connected())
    C.stop(three)
    C.wait_for("the three disconnected", lambda: connected() == 0, 10)
    late = C.hvsim("late", N, ["--consoles", "1", "--connect-only",
                               "--duration", "600", "--uuid-base", D])
    C.wait_for("a new console taken, an idle one let go", lambda: (
        connected() == 1 and
        C.metric(N, "vspc_consoles_expired_early_total") == 1 and
        len(C.consoles(N)) == 3), 10)
    print("%s: --max-consoles 3: the 4th refused while 3 were live; an idle "
          "one went early for a new one" % C.name)
    # 2. --max-operators (the three stay busy: no idle close here)
    ops = [Operator(C.oper[N]) for _ in range(3)]
    s = socket.create_connection(("127.0.0.1", C.oper[N]), timeout=5)
    got = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        got += d
    s.close()
    if b"too many operator connections (--max-operators)" not in got:
        C.fail("4th operator: %r" % got)
    if C.metric(N, "vspc_operators_refused_cap_total") != 1:
        C.fail("vspc_operators_refused_cap_total != 1")
    line = ops[0].attach(D)
    if not line.startswith("ok attached"):
        C.fail("an operator within the cap: %s" % line)
    print("%s: --max-operators 3: the 4th told and closed" % C.name)
    # 3. idle at the prompt: ops[1] and ops[2] go, ops[0] (attached) stays
    for o in ops[1:]:
        try:
            o.read_until(b"vspc: idle for 1 s: closing", 5)
        except OSError as e:
            C.fail("idle operator not closed: %s" % e)
    time.sleep(1.5)
    ops[0].send(b"\x05c.")  # detach: the session still answers
    ops[0].read_until(b"vspc> ", 5)
    if C.metric(N, "vspc_operators_idle_closed_total") != 2:
        C.fail("vspc_operators_idle_closed_total != 2")
    line = ops[0].attach(D)
    if not line.startswith("ok attached"):
        C.fail("re-attach: %s" % line)
    print("%s: idle operators at the prompt closed; the attached one kept"
          % C.name)
    # 3b. memory held before identification, all connections together
    junk = []
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", C.vm[N]), timeout=5)
        s.settimeout(0.2)
        try:
            for _ in range(10):
                s.send(b"x" * 10000)  # 100000 bytes each, if taken
        except OSError:
            pass
        junk.append(s)
    C.wait_for("the all-connections cap paused one", lambda: C.metric(
        N, "vspc_hypervisor_pre_ident_all_paused_total") >= 1, 10)
    held = C.metric(N, "vspc_unidentified_held_bytes")
    if held > 200000 + 100000:
        C.fail("unidentified connections hold %d bytes (cap 200000)" % held)
    extra = C.hvsim("extra", N, ["--consoles", "1", "--connect-only",
                                 "--duration", "600", "--uuid-base", B])
    C.wait_for("a real VM connects while the cap holds", lambda: [
        c for c in C.consoles(N) if c["id"] == B and
        c["state"] == "connected"], 10)
    C.stop(extra)
    for s in junk:
        s.close()
    # (paused connections read nothing, so their close shows at the idle
    # timeout, 3 s here)
    C.wait_for("the held bytes let go", lambda: C.metric(
        N, "vspc_unidentified_held_bytes") == 0, 15)
    print("%s: unidentified connections held %d bytes at most (cap 200000); "
          "a VM still connected" % (C.name, held))
    # 4. out of descriptors
    before_lines = log().count("cannot accept")
    socks = []
    for _ in range(80):
        try:
            socks.append(socket.create_connection(("127.0.0.1", C.vm[N]),
                                                  timeout=2))
        except OSError:
            break
    # (no HTTP now: it needs descriptors too)
    C.wait_for("the listener paused", lambda: log().count(
        "cannot accept") > before_lines, 10)
    c0 = cpu_s(p.pid)
    time.sleep(3)
    used = cpu_s(p.pid) - c0
    lines = log().count("cannot accept") - before_lines
    ops[0].send(b"\x05c.")
    ops[0].read_until(b"vspc> ", 5)  # still serving its operator
    if used > 0.5 or lines > 2:
        C.fail("out of descriptors: %.2f CPU-s in 3 s, %d log lines"
               % (used, lines))
    for s in socks:
        s.close()
    C.stop(late)
    again = C.hvsim("again", N, ["--consoles", "1", "--connect-only",
                                 "--duration", "600", "--uuid-base", A])
    C.wait_for("a VM connects once descriptors are back",
               lambda: connected() == 1, 15)
    print("%s: out of descriptors: paused %d times, %.2f CPU-s in 3 s, %d "
          "log lines; recovered" % (C.name, C.metric(
              N, "vspc_accept_paused_total"), used, lines))
    C.stop(again)
    for o in ops[:1]:
        o.close()
    # 5. unidentified connections per source
    base = int(sys.argv[2])
    C.start("n2", [C.proxy_bin, "--node-id", "n2", "--vm-listen",
                   "127.0.0.1:%d" % (base + 1), "--operator-listen",
                   "127.0.0.1:%d" % (base + 2), "--http-listen",
                   "127.0.0.1:%d" % (base + 3),
                   "--max-unidentified-per-source", "3"])
    C.http_port["n2"] = base + 3
    C.wait_for("n2 up", lambda: C.consoles("n2") == [], 10)

    def dial():
        s = socket.create_connection(("127.0.0.1", base + 1), timeout=5)
        s.settimeout(1.0)
        return s

    def closed(s):
        try:
            return s.recv(1) == b""
        except socket.timeout:
            return False
        except OSError:
            return True
    held = [dial() for _ in range(3)]
    time.sleep(0.3)
    extra = [dial() for _ in range(2)]
    if not all(closed(s) for s in extra):
        C.fail("connections beyond 3 from one source were not closed")
    if any(closed(s) for s in held[:1]):
        C.fail("one of the first three was closed")
    if C.metric("n2", "vspc_hypervisor_refused_per_source_total") != 2:
        C.fail("vspc_hypervisor_refused_per_source_total != 2")
    held[0].close()
    time.sleep(0.3)
    again = dial()
    if closed(again):
        C.fail("a new connection after one of the three went was refused")
    for s in held[1:] + [again]:
        s.close()
    print("%s: --max-unidentified-per-source 3: the 4th and 5th closed, "
          "room again once one went" % C.name)
    C.stop_all()
    print("%s: PASS" % C.name)


if __name__ == "__main__":
    run(C, main)
