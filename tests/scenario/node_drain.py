#!/usr/bin/env python3
"""node_drain.py: draining a node for an upgrade as a load balancer sees it
(ctest node_drain). A coordinator and two nodes with --agent-listen.

 1. The agent port answers "ready"; 20 consoles connect to n1.
 2. `vspcctl drain n2` pointed at n1 is refused (wrong node), nothing
    changes; `vspcctl drain n1 --close-after 1`: the agent port answers
    "drain", /readyz 503, the consoles stay connected for the grace period,
    then every hypervisor connection of n1 is let go
    (vspc_drain_closed_total 20); `vspcctl status` shows it draining.
 3. `vspcctl undrain n1`: "ready" again.

usage: node_drain.py BUILD_DIR BASE_PORT   (ports BASE..BASE+11, agent
ports BASE+12, BASE+13)
"""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, run  # noqa: E402

BASE = int(sys.argv[2])
C = Cluster(sys.argv[1], BASE, "node_drain", n_nodes=2)
AGENT = {"n1": BASE + 12, "n2": BASE + 13}
N = 20


def agent(n):
    with socket.create_connection(("127.0.0.1", AGENT[n]), 2) as s:
        s.settimeout(2)
        data = b""
        while True:
            d = s.recv(100)
            if not d:
                break
            data += d
    return data.decode()


def readyz(n):
    try:
        C.http(n, "/readyz")
        return 200
    except urllib.error.HTTPError as e:
        return e.code


def ctl(*args):
    p = subprocess.run([os.path.join(C.build, "vspcctl"), "--operator",
                        "127.0.0.1:%d" % C.oper["n1"], "--http",
                        "127.0.0.1:%d" % C.http_port["n1"]] + list(args),
                       capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout + p.stderr


def on_term(signum, frame):
    C.fail("signal %d" % signum)


def main():
    signal.signal(signal.SIGTERM, on_term)
    C.start_coordinator()
    for n in C.nodes:
        C.start_node(n, ["--agent-listen", "127.0.0.1:%d" % AGENT[n]])
    for n in C.nodes:
        C.wait_for("node %s HTTP" % n, lambda n=n: C.consoles(n) is not None)
    if agent("n1") != "ready\n" or agent("n2") != "ready\n":
        C.fail("agent check before the drain: %r %r" % (agent("n1"),
                                                        agent("n2")))
    C.start("hosts", [C.hvsim_bin, "run", "--proxy",
                      "127.0.0.1:%d" % C.vm["n1"], "--consoles", str(N),
                      "--connect-only", "--duration", "600",
                      "--log-level", "error"])
    C.wait_for("%d consoles connected to n1" % N, lambda: C.metric(
        "n1", 'vspc_consoles{state="connected"}') == N, 15)
    rc, out = ctl("drain", "n2")
    if rc == 0 or "is n1, not n2" not in out or agent("n1") != "ready\n":
        C.fail("drain of n2 sent to n1: exit %d: %s" % (rc, out))
    t0 = time.time()
    rc, out = ctl("drain", "n1", "--close-after", "1")
    if rc != 0 or "ok draining" not in out:
        C.fail("vspcctl drain n1: exit %d: %s" % (rc, out))
    if agent("n1") != "drain\n" or readyz("n1") != 503:
        C.fail("draining: agent %r, /readyz %d" % (agent("n1"),
                                                   readyz("n1")))
    if agent("n2") != "ready\n":
        C.fail("n2's agent says %r" % agent("n2"))
    rc, out = ctl("status")
    if rc != 0 or "not ready: draining" not in out:
        C.fail("vspcctl status while draining: %s" % out)
    if time.time() - t0 < 0.9 and C.metric(
            "n1", 'vspc_consoles{state="connected"}') != N:
        C.fail("consoles let go before --close-after")
    C.wait_for("every hypervisor let go after --close-after", lambda:
               C.metric("n1", "vspc_drain_closed_total") == N and
               not C.metric("n1", 'vspc_consoles{state="connected"}'), 10)
    rc, out = ctl("undrain", "n1")
    if rc != 0 or "ok not draining" not in out or agent("n1") != "ready\n" \
            or readyz("n1") != 200:
        C.fail("undrain: exit %d: %s; agent %r" % (rc, out, agent("n1")))
    if C.metric("n1", "vspc_agent_checks_total") < 4:
        C.fail("agent checks not counted")
    C.stop_all()
    print("%s: PASS (agent ready -> drain -> ready, %d hypervisors let go "
          "after --close-after 1)" % (C.name, N))


if __name__ == "__main__":
    run(C, main)
