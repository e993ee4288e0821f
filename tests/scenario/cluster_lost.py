#!/usr/bin/env python3
"""cluster_lost.py: what dies with a node is counted exactly (ctest
cluster_lost). A coordinator and two nodes (--stall-timeout 60: a slow
reader paces its VM and is never cut loose here). One host streams a
console flat out on n1 (vspc-hvsim --text: fixed-length numbered lines);
an operator attached through n2 reads nothing, so n1 paces the VM and
holds what n2 has not taken. Once n1's intake stands still (the VM
paused), n1 is killed with SIGKILL. Then the operator reads: every line
up to some offset R, in order, then the notice that the link went down,
naming N bytes of output lost. N must equal what n1 had taken from the VM
(its vspc_vm_bytes_received_total, W) minus R, and n2's
vspc_peer_output_lost_bytes_total must say the same: every byte is
accounted for (R + N = W).

usage: cluster_lost.py BUILD_DIR BASE_PORT   (ports BASE..BASE+12)
"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, Operator, run  # noqa: E402

C = Cluster(sys.argv[1], int(sys.argv[2]), "cluster_lost", n_nodes=2)
LINE = 72  # tests/hvsim/textpat.h TEXT_LINE_LEN
UUID = "0123456789abcdeffedcba9800440000"
NOTICE = re.compile(rb"\r\n\[vspc [A-Z0-9]+: the link to node n1 went down; (\d+) "
                    rb"bytes of output it held for you are lost")


def on_term(signum, frame):
    C.fail("signal %d" % signum)


def main():
    signal.signal(signal.SIGTERM, on_term)
    C.start_coordinator()
    for n in C.nodes:
        C.start_node(n, ["--stall-timeout", "60"])
    C.wait_for("peer link", lambda: all(
        C.metric(n, "vspc_peer_links_up") == 1 for n in C.nodes), 15)
    C.hvsim("vm", "n1", ["--consoles", "1", "--text", "--rate", "0",
                         "--duration", "60", "--uuid-base", UUID])
    C.wait_for("the console listed on n2", lambda: [
        c for c in C.consoles("n2") if c["id"] == UUID and
        c.get("node") == "n1"], 15)
    o = Operator(C.oper["n2"])
    line = o.attach(UUID)
    if not line.startswith("ok attached"):
        C.fail("attach through n2: %s" % line)
    # The operator reads nothing from here on: n1 paces the VM.
    last = [None, time.monotonic()]

    def still():
        w = C.metric("n1", "vspc_vm_bytes_received_total")
        if w != last[0]:
            last[0], last[1] = w, time.monotonic()
        return w and time.monotonic() - last[1] >= 1.0
    C.wait_for("n1's intake standing still (the VM paced)", still, 30)
    w = int(last[0])
    time.sleep(0.6)  # n1 tells where its stream ends every 200 ms
    C.node_procs["n1"].kill()
    C.node_procs["n1"].wait()
    try:
        data = o.read_until(b"bytes of output it held for you are lost", 30)
    except OSError as e:
        C.fail("no loss notice: %s" % e)
    m = NOTICE.search(data)
    if not m:
        C.fail("notice not found in %r" % data[-300:])
    before = data[:m.start()]
    lines = list(re.finditer(rb"\[vm-00000 (\d{8})\] ", before))
    if not lines:
        C.fail("no console line before the notice: %r" % before[-300:])
    k = int(lines[-1].group(1))
    r = k * LINE + (len(before) - lines[-1].start())
    # Every line the operator got is whole and in order, but the first.
    nums = [int(x.group(1)) for x in lines]
    if nums != list(range(nums[0], nums[0] + len(nums))):
        C.fail("lines out of order or missing before the notice")
    n = int(m.group(1))
    counted = C.metric("n2", "vspc_peer_output_lost_bytes_total")
    print("%s: n1 took W=%d bytes from the VM; the operator on n2 received "
          "up to R=%d; lost N=%d (notice), %d (metric)"
          % (C.name, w, r, n, counted))
    if n != w - r or counted != n:
        C.fail("lost bytes: notice %d, metric %d, want W - R = %d"
               % (n, counted, w - r))
    if n == 0:
        C.fail("n1 held nothing unsent: the test proved nothing")
    o.close()
    C.stop_all()
    print("%s: PASS (R + N = W: every byte n1 had taken is accounted for)"
          % C.name)


if __name__ == "__main__":
    run(C, main)
