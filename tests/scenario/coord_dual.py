#!/usr/bin/env python3
"""coord_dual.py: two active coordinators, and how they end (ctest
coord_dual_active).

A primary and a backup whose HA link runs through a relay this script
controls, three nodes n1..n3 given (primary, backup), 30 consoles on n1.

 1. The HA link is cut. A fourth node, n4, given (backup, primary), asks
    the backup: the primary is silent to it, so the vote makes it active
    (term 2) while the primary (term 1) stays active for n1..n3: two
    actives, each with its own nodes. Ownership is unchanged: n1..n3 list
    the 30 consoles as n1's.
 2. The cut heals: both see two actives, log it as an error, and the lower
    term (the primary) yields: it turns passive and drops its directory;
    n1..n3 get NotActive, turn to the backup and re-announce. Every node
    (n4 included) then lists the 30 consoles once each, owned by n1, with
    the epochs they had before (never lower), and the backup is the only
    active one.

usage: coord_dual.py BUILD_DIR BASE_PORT   (ports BASE..BASE+24)
"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, Relay, run  # noqa: E402

BASE = int(sys.argv[2])
C = Cluster(sys.argv[1], BASE, "coord_dual_active", n_nodes=4)
C1 = "tcp://127.0.0.1:%d" % BASE        # primary (HA port BASE+2)
C2 = "tcp://127.0.0.1:%d" % (BASE + 20)  # backup (HA port BASE+22)
R1, R2 = BASE + 23, BASE + 24
N_CONS = 30
FIRST3 = ["n1", "n2", "n3"]


def coord_log(name):
    with open(os.path.join(C.logdir, name + ".log"), errors="replace") as f:
        return f.read()


def became(name, state):
    return [m for m in re.findall(r"bstar: (.*?) -> (\w+) \((.*?)\), term "
                                  r"(\d+)", coord_log(name))
            if m[1] == state]


def view(n):
    """console id -> (owner, epoch) on node n; a console twice fails."""
    v = {}
    for c in C.consoles(n):
        if c["id"] in v:
            C.fail("%s lists console %s twice" % (n, c["id"]))
        v[c["id"]] = (c.get("node"), c.get("epoch"))
    return v


def on_term(signum, frame):
    C.fail("signal %d" % signum)


def main():
    signal.signal(signal.SIGTERM, on_term)
    r1, r2 = Relay(R1, BASE + 2), Relay(R2, BASE + 22)
    r1.heal()
    r2.heal()
    common = ["--heartbeat-timeout", "3"]
    C.start("primary", [C.coord_bin, "--bind", C1, "--primary", "--peer",
                        C2, "--ha-peer", "tcp://127.0.0.1:%d" % R2] + common)
    C.start("backup", [C.coord_bin, "--bind", C2, "--backup", "--peer", C1,
                       "--ha-peer", "tcp://127.0.0.1:%d" % R1] + common)
    C.coord_eps = [C1, C2]
    for n in FIRST3:
        C.start_node(n)
    C.wait_for("primary active, backup passive", lambda: became(
        "primary", "active") and became("backup", "passive"), 10)
    C.start("hosts", [C.hvsim_bin, "run", "--proxy",
                      "127.0.0.1:%d" % C.vm["n1"], "--consoles", str(N_CONS),
                      "--connect-only", "--duration", "600",
                      "--uuid-base", "0123456789abcdeffedcba9800a00000",
                      "--log-level", "error"])

    def settled():
        v = [view(n) for n in FIRST3]
        return v[0] if len(v[0]) == N_CONS and all(
            x == v[0] for x in v) else None
    before = C.wait_for("%d consoles listed alike" % N_CONS, settled, 15)
    # 1. cut; n4 votes for the backup
    r1.cut()
    r2.cut()
    time.sleep(3)
    C.coord_eps = [C2, C1]
    C.start_node("n4")
    C.wait_for("the backup active by n4's vote", lambda: became(
        "backup", "active"), 15)
    C.wait_for("n4 in sync with the backup", lambda: C.metric(
        "n4", 'vspc_cluster_state{state="active"}') == 1, 15)
    if became("primary", "passive"):
        C.fail("the primary yielded before the cut healed")
    if any(view(n) != before for n in FIRST3):
        C.fail("ownership changed during the split")
    t_heal = time.time()
    # 2. heal: the lower term yields
    r1.heal()
    r2.heal()
    C.wait_for("the primary yields", lambda: became("primary", "passive"), 15)
    if "TWO ACTIVE COORDINATORS" not in coord_log("primary"):
        C.fail("the two actives were not logged as an error")
    C.wait_for("n1..n3 on the backup, re-announced; every node alike",
               lambda: all(C.metric(n, "vspc_coordinator_switches_total") >= 1
                           for n in FIRST3) and
               all(view(n) == before for n in C.nodes), 20)
    for n in C.nodes:
        for cid, (owner, epoch) in view(n).items():
            if owner != before[cid][0] or epoch < before[cid][1]:
                C.fail("%s: %s owned by %s at %s after the heal (before: "
                       "%r)" % (n, cid, owner, epoch, before[cid]))
    if became("backup", "passive")[1:]:
        C.fail("the backup yielded too: %r" % became("backup", "passive"))
    took = time.time() - t_heal
    C.stop_all()
    r1.cut()
    r2.cut()
    print("%s: PASS (two actives during the cut, terms %s and %s; after the "
          "heal the primary yielded and every node agreed in %.1f s)"
          % (C.name, became("primary", "active")[0][3],
             became("backup", "active")[0][3], took))


if __name__ == "__main__":
    run(C, main)
