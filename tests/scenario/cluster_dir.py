#!/usr/bin/env python3
"""cluster_dir.py: the cluster directory end to end, real processes on
127.0.0.1 (ctest cluster_directory).

A vspc-coordinator and three vspc-proxy nodes; vspc-hvsim hosts connect
consoles to each node. Checked, each within a bound:
  1. every node's /api/v1/consoles and operator `list` show all consoles
     of the cluster, each with its owner node and epoch;
  2. the coordinator stopped: consoles stay listed on every node (the
     replica serves, vspc_coordinator_away 1); restarted on the same port:
     the nodes re-register and the directory converges again;
  3. fencing: the same console (same VC UUID) connecting to a second node
     while the first holds it ends with one owner, the newer connection
     (a higher epoch); the first node lets its connection go.

usage: cluster_dir.py BUILD_DIR BASE_PORT
Ports BASE..BASE+19. Only processes this script started are signalled.
"""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, run  # noqa: E402

C = Cluster(sys.argv[1], int(sys.argv[2]), "cluster_dir")
HVSIM = C.hvsim_bin
start, stop, fail, wait_for = C.start, C.stop, C.fail, C.wait_for
consoles, metric = C.consoles, C.metric
start_coordinator = C.start_coordinator
NODES, VM, OPER = C.nodes, C.vm, C.oper


def op_list(node):
    """`list` on the node's operator port: the lines after the prompt."""
    s = socket.create_connection(("127.0.0.1", OPER[node]), timeout=3)
    s.sendall(b"\xff\xfc\xe9")  # WONT 233: a plain telnet client
    s.sendall(b"list\r\nquit\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    text = data.decode(errors="replace")
    return [l for l in text.replace("vspc> ", "").split("\r\n")
            if " hv=" in l]


def uuid(node_no, k):
    return "0123456789abcdeffedcba98000%02d%03d" % (node_no, k)


def main():
    coord = start_coordinator()
    for n in NODES:
        C.start_node(n)
    for n in NODES:
        wait_for("node %s HTTP" % n, lambda n=n: consoles(n) == [])
    # Three consoles per node; the hosts stay connected for the whole test.
    hosts = []
    for i, n in enumerate(NODES):
        hosts.append(start("hosts-" + n, [
            HVSIM, "run", "--proxy", "127.0.0.1:%d" % VM[n],
            "--consoles", "3", "--uuid-base", uuid(i + 1, 0),
            "--name-prefix", n + "-vm", "--rate", "20",
            "--duration", "60", "--log-level", "error"]))
    want = {uuid(i + 1, k): n for i, n in enumerate(NODES) for k in range(3)}

    def converged():
        for n in NODES:
            got = {c["id"]: c.get("node") for c in consoles(n)}
            if got != want:
                return None
            if not all(c["epoch"] > 0 for c in consoles(n)):
                return None
        return True

    wait_for("1: every node lists the 9 consoles with their owner",
             converged, 15)
    for n in NODES:
        lines = op_list(n)
        if len(lines) != 9:
            fail("list on %s: %d lines: %r" % (n, len(lines), lines))
        for l in lines:
            cid = l.split()[0]
            if " node=%s " % want[cid] not in l:
                fail("list on %s: %r does not name node %s" % (n, l, want[cid]))
    print("cluster_dir: 1. all 9 consoles listed on every node with owner")

    # 2. Coordinator away, then back.
    stop(coord)
    wait_for("2: nodes notice the coordinator is away",
             lambda: all(metric(n, "vspc_coordinator_away") == 1
                         for n in NODES), 15)
    if not converged():
        fail("2: the replica lost consoles while the coordinator was away")
    coord = start_coordinator()
    wait_for("2: converged after the coordinator restarted",
             lambda: converged() and all(
                 metric(n, "vspc_coordinator_away") == 0 for n in NODES), 20)
    print("cluster_dir: 2. coordinator down: replicas served; restarted: "
          "converged")

    # 3. Fencing: console uuid(1, 0), owned by n1, connects to n2 too.
    cid = uuid(1, 0)
    before = {c["id"]: c for c in consoles("n1")}[cid]["epoch"]
    dup = start("dup-on-n2", [
        HVSIM, "run", "--proxy", "127.0.0.1:%d" % VM["n2"], "--consoles", "1",
        "--uuid-base", cid, "--name-prefix", "n1-vm", "--rate", "20",
        "--duration", "60", "--log-level", "error"])

    def fenced():
        for n in NODES:
            c = {c["id"]: c for c in consoles(n)}.get(cid)
            if c is None or c.get("node") != "n2" or c["epoch"] <= before:
                return None
        local = {c["id"]: c for c in consoles("n1")}[cid]
        return local if metric("n1", "vspc_cluster_fenced_total") == 1 else None

    wait_for("3: one owner (n2, higher epoch) everywhere, n1 fenced", fenced,
             15)
    print("cluster_dir: 3. the same console on a second node: n2 owns it "
          "with a higher epoch, n1 let go")
    stop(dup)
    for h in hosts:
        stop(h)
    C.stop_all()
    print("cluster_dir: PASS")


if __name__ == "__main__":
    run(C, main)
