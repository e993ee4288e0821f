#!/usr/bin/env python3
"""cluster_flat.py: migration at full throughput (ctest cluster_migrate_flat).

A coordinator and three nodes on 127.0.0.1. One console streams flat out
(vspc-hvsim --rate 0) while operators attached through n1 and n3 type into
it, and it migrates n1 -> n2 -> n3 -> n1 ... 24 times, 100 ms apart (vMotion
across nodes each time; the run ends after the last). vspc-hvsim checks every byte both ways,
per operator, and fails on any loss, duplicate or reordering (a gap notice
is a foreign byte). Then every node must report that no operator followed
the console before it had read what the old owner had
(vspc_operators_move_cut_total 0) and the new owners' holds for the
followers never timed out (no "did not come" in the logs).

usage: cluster_flat.py BUILD_DIR BASE_PORT   (ports BASE..BASE+15)
"""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, run  # noqa: E402

C = Cluster(sys.argv[1], int(sys.argv[2]), "cluster_migrate_flat")
VMOTIONS = 24


def addr(port):
    return "127.0.0.1:%d" % port


def on_term(signum, frame):
    C.fail("signal %d" % signum)


def main():
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    C.start_coordinator()
    for n in C.nodes:
        C.start_node(n)
    for n in C.nodes:
        C.wait_for("node %s HTTP" % n, lambda n=n: C.consoles(n) is not None)
    C.wait_for("peer links up", lambda: all(
        C.metric(n, "vspc_peer_links_up") == 2 for n in C.nodes), 15)
    n1, n2, n3 = C.nodes
    argv = [C.hvsim_bin, "run", "--proxy", addr(C.vm[n1]),
            "--operator", addr(C.oper[n1]), "--operator", addr(C.oper[n3]),
            "--consoles", "1", "--uuid-base", "0123456789abcdeffedcba9800500000",
            "--rate", "0", "--operator-rate", "20000",
            "--vmotions", str(VMOTIONS), "--vmotion-interval", "100",
            "--drain-timeout", "60",
            "--log-level", "error"]
    for n in C.nodes:
        argv += ["--vmotion-dest", addr(C.vm[n])]
    p = C.start("hvsim", argv)
    try:
        rc = p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        C.fail("vspc-hvsim still running after 120 s")
    with open(os.path.join(C.logdir, "hvsim.log"), errors="replace") as f:
        out = f.read()
    sys.stdout.write(out[-4000:])
    if rc != 0:
        C.fail("vspc-hvsim: exit %d (a byte lost, doubled or reordered)" % rc)
    m = re.search(r"vmotions_ok=(\d+)", out)
    if not m or int(m.group(1)) != VMOTIONS:
        C.fail("vMotions done: %s, want %d" % (m.group(1) if m else "none",
                                                VMOTIONS))
    for n in C.nodes:
        cut = C.metric(n, "vspc_operators_move_cut_total")
        if cut != 0:
            C.fail("%s: vspc_operators_move_cut_total %r (operators that "
                   "followed before reading the rest)" % (n, cut))
        with open(os.path.join(C.logdir, n + ".log"), errors="replace") as f:
            for line in f:
                if "did not come" in line or "bytes not read" in line:
                    C.fail("%s: %s" % (n, line.strip()))
    drained = sum(C.metric(n, "vspc_operators_move_drained_total")
                  for n in C.nodes)
    C.stop_all()
    print("%s: PASS (%s vMotions at full throughput, %d operators read the "
          "rest before following)" % (C.name, m.group(1), drained))


if __name__ == "__main__":
    run(C, main)
