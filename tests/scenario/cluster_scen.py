#!/usr/bin/env python3
"""cluster_scen.py: PROTOCOL.md section 10 scenarios 49 and 50, which need
two nodes of a cluster (ctest scenario_49_cluster_peer_other_node,
scenario_50_cluster_owner_crash), and with N = vmotion every vMotion
scenario (26-48, 51) with the destination hosts on the other node (ctest
scenario_vmotion_cluster).

Starts a vspc-coordinator and two vspc-proxy nodes on 127.0.0.1 (n1 =
node A, node index 1; n2 = node B, index 2), waits until each has its peer
link to the other, then runs

  vspc-hvsim scenario N --proxy <n1 vm> --operator <n1 op>
             --peer-proxy <n2 vm> --operator2 <n2 op> [--owner-pid <n1 pid>]

(50 kills n1 with SIGKILL right after GOAHEAD; only the PID this script
started). Afterwards the directory must name n2 as the console's owner.
Everything started here is stopped (by its PID) on every path.

usage: cluster_scen.py BUILD_DIR BASE_PORT N|vmotion   (ports BASE..BASE+11)
"""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, run  # noqa: E402

VMOTION = list(range(26, 48)) + [51]
CROSS_MIN = 20  # the completed vMotions of 26-47 and 51
N = sys.argv[3] if len(sys.argv) > 3 else ""
if N.isdigit():
    N = int(N)
C = Cluster(sys.argv[1], int(sys.argv[2]),
            "scenario_%s" % ("vmotion_cluster" if N == "vmotion" else N),
            n_nodes=2)
HVSIM_TIMEOUT = 40


def addr(port):
    return "127.0.0.1:%d" % port


def console_id(n):
    """tests/hvsim/scen_roles.c scr_uuid(n), normalised."""
    return "420f5c119a7e4d00beef0000" + "%08x" % n


def on_term(signum, frame):
    C.fail("signal %d" % signum)


def run_hvsim(n, a, b, extra=()):
    """vspc-hvsim scenario n, node A = a, node B = b; its exit code."""
    name = "hvsim-%d" % n
    p = C.start(name, [C.hvsim_bin, "scenario", str(n),
                       "--proxy", addr(C.vm[a]),
                       "--operator", addr(C.oper[a]),
                       "--peer-proxy", addr(C.vm[b]),
                       "--operator2", addr(C.oper[b])] + list(extra))
    try:
        rc = p.wait(timeout=HVSIM_TIMEOUT)
    except subprocess.TimeoutExpired:
        C.fail("vspc-hvsim scenario %d: still running after %d s"
               % (n, HVSIM_TIMEOUT))
    with open(os.path.join(C.logdir, name + ".log"), errors="replace") as f:
        sys.stdout.write(f.read())
    return rc


def start_nodes(extra):
    for n in C.nodes:
        C.start_node(n, extra)
    for n in C.nodes:
        C.wait_for("node %s HTTP" % n, lambda n=n: C.consoles(n) is not None)
    C.wait_for("peer links up", lambda: all(
        C.metric(n, "vspc_peer_links_up") == 1 for n in C.nodes), 15)


def vmotion_all(a, b):
    """Every vMotion scenario of section 10 with its destination hosts on
    the node that does not own the console (hvsim --peer-proxy), one after
    the other against the same cluster; each uses its own VM. The nodes run
    with --vmotion-timeout 2 (scenario 30 waits for an expiry; every other
    vMotion completes well within it). Then 48 against nodes restarted with
    --refuse-vmotion."""
    failed = [n for n in VMOTION if run_hvsim(n, a, b) != 0]
    # The destinations really were on the other node: every completed
    # vMotion was handed over by one node and taken over by the other.
    handed = sum(C.metric(n, "vspc_vmotion_handed_over_total")
                 for n in C.nodes)
    taken = sum(C.metric(n, "vspc_vmotion_taken_over_total")
                for n in C.nodes)
    print("%s: %d vMotions handed over across nodes, %d taken over; PEERs "
          "forwarded to the owner: %s" % (C.name, handed, taken, ", ".join(
              "%s %d" % (n, C.metric(n, "vspc_vmotion_peers_forwarded_total"))
              for n in C.nodes)))
    if handed != taken or handed < CROSS_MIN:
        C.fail("handed over %d, taken over %d: expected the same, at least "
               "%d" % (handed, taken, CROSS_MIN))
    for n in C.nodes:
        if C.node_procs[n].poll() is not None:
            C.fail("node %s died during the scenarios" % n)
        C.stop(C.node_procs[n])
    start_nodes(["--refuse-vmotion"])
    if run_hvsim(48, a, b) != 0:
        failed.append(48)
    if failed:
        C.fail("scenarios failed across nodes: %s"
               % ", ".join(str(n) for n in failed))
    C.stop_all()
    print("%s: PASS (%d scenarios, destinations on the other node)"
          % (C.name, len(VMOTION) + 1))


def main():
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    C.start_coordinator()
    a, b = C.nodes
    if N == "vmotion":
        start_nodes(["--vmotion-timeout", "2"])
        vmotion_all(a, b)
        return
    start_nodes([])
    extra = ["--owner-pid", str(C.node_procs[a].pid)] if N == 50 else []
    rc = run_hvsim(N, a, b, extra)
    if rc != 0:
        C.fail("vspc-hvsim scenario %d: exit %d" % (N, rc))
    cid = console_id(N)
    live = [b] if N == 50 else C.nodes

    def owners():
        got = {}
        for n in live:
            got[n] = [c.get("node") for c in C.consoles(n) if c["id"] == cid]
        return got if all(v == [b] for v in got.values()) else None
    C.wait_for("the directory names %s as the owner of %s" % (b, cid),
               owners, 10)
    if N == 50 and C.node_procs[a].poll() is None:
        C.fail("node %s (pid %d) still runs after the scenario killed it"
               % (a, C.node_procs[a].pid))
    if N == 50:
        # The dead node restarted rejoins: it registers again (a new
        # incarnation), its link to n2 comes back, and its replica names
        # n2 as the owner of the console it lost.
        C.start_node(a)
        C.wait_for("%s back: HTTP" % a, lambda: C.consoles(a) is not None)
        C.wait_for("%s back: peer link and directory" % a, lambda: (
            C.metric(a, "vspc_peer_links_up") == 1 and
            C.metric(b, "vspc_peer_links_up") == 1 and
            [c.get("node") for c in C.consoles(a) if c["id"] == cid] == [b]),
            15)
        live = [a, b]
        print("%s: restarted %s rejoined; its directory names %s as the "
              "owner" % (C.name, a, b))
    C.stop_all()
    print("%s: PASS (%s owns %s on %s)" % (C.name, b, cid, ", ".join(live)))


if __name__ == "__main__":
    if N not in (49, 50, "vmotion"):
        print("usage: cluster_scen.py BUILD_DIR BASE_PORT 49|50|vmotion")
        sys.exit(2)
    run(C, main)
