#!/usr/bin/env python3
"""coord_ha.py: the coordinator pair (Binary Star) under faults (ctest
coord_ha). A primary and a backup, their HA ports joined through a TCP
relay this script runs (so it can cut them apart), three nodes given both
coordinators.

 1. Start: the primary is active, the backup passive; every node
    registers with the primary.
 2. The HA link cut (the relay drops every connection and stops
    accepting), the nodes still reaching both: for 3 heartbeat timeouts
    the backup stays passive (no node asked it: no failover from a lost
    heartbeat alone), no node turns away from the primary, and every node
    lists every console once, with its one owner. Healed: still one active.
 3. A storm of vMotions across the three nodes (30 consoles, each moving
    every 300 ms, operators on n2 typing) while the active coordinator is
    killed with SIGKILL: vspc-hvsim verifies every byte both ways and that
    no vMotion failed; the backup becomes active, every node turns to it,
    re-announces and is in sync again within FAILOVER_BOUND seconds
    (measured and printed), and every node lists all 30 consoles.

Only processes this script started are signalled, by PID; every wait is
bounded.

usage: coord_ha.py BUILD_DIR BASE_PORT   (ports BASE..BASE+24)
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, Relay, run  # noqa: E402

BASE = int(sys.argv[2])
C = Cluster(sys.argv[1], BASE, "coord_ha")
C1 = "tcp://127.0.0.1:%d" % BASE        # primary (its HA port BASE+2)
C2 = "tcp://127.0.0.1:%d" % (BASE + 20)  # backup (its HA port BASE+22)
R1, R2 = BASE + 23, BASE + 24  # relays: R1 -> primary's HA, R2 -> backup's
C.coord_eps = [C1, C2]
FAILOVER_BOUND = 15.0
N_CONS = 30


def coord_log(name):
    with open(os.path.join(C.logdir, name + ".log"), errors="replace") as f:
        return f.read()


def state_changes(name):
    return re.findall(r"bstar: (.*?) -> (\w+) \((.*?)\), term (\d+)",
                      coord_log(name))


def metric_all(name):
    return [C.metric(n, name) for n in C.nodes]


def on_term(signum, frame):
    C.fail("signal %d" % signum)


def main():
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    r1, r2 = Relay(R1, BASE + 2), Relay(R2, BASE + 22)
    r1.heal()
    r2.heal()
    common = ["--heartbeat-timeout", "3"]
    p1 = C.start("primary", [C.coord_bin, "--bind", C1, "--primary", "--peer",
                             C2, "--ha-peer", "tcp://127.0.0.1:%d" % R2] +
                 common)
    C.start("backup", [C.coord_bin, "--bind", C2, "--backup", "--peer", C1,
                       "--ha-peer", "tcp://127.0.0.1:%d" % R1] + common)
    for n in C.nodes:
        C.start_node(n)
    C.wait_for("peer links up", lambda: all(
        m == 2 for m in metric_all("vspc_peer_links_up")), 15)
    # 1. primary active, backup passive, nodes on the primary
    C.wait_for("primary active, backup passive", lambda: (
        ("primary (starting)", "active") in
        [(a, b) for a, b, _, _ in state_changes("primary")] and
        ("backup (starting)", "passive") in
        [(a, b) for a, b, _, _ in state_changes("backup")]), 10)
    if any(m != 0 for m in metric_all("vspc_coordinator_switches_total")):
        C.fail("a node turned away from the active primary")
    a = lambda p: "127.0.0.1:%d" % p  # noqa: E731
    hosts = C.start("hosts", [C.hvsim_bin, "run", "--proxy", a(C.vm["n1"]),
                              "--consoles", str(N_CONS), "--connect-only",
                              "--duration", "600", "--uuid-base",
                              "0123456789abcdeffedcba9800600000",
                              "--log-level", "error"])
    C.wait_for("%d consoles listed alike on every node" % N_CONS,
               lambda: (C.owners() or {}) and len(C.owners()) == N_CONS, 15)
    # 2. the HA link cut: no failover without a node's vote
    r1.cut()
    r2.cut()
    t_cut = time.time()
    time.sleep(9)
    if [c for c in state_changes("backup") if c[1] == "active"]:
        C.fail("the backup became active on a lost heartbeat alone: %r"
               % state_changes("backup"))
    if any(m != 0 for m in metric_all("vspc_coordinator_switches_total")):
        C.fail("a node turned away from the primary during the cut")
    o = C.owners()
    if not o or len(o) != N_CONS or set(o.values()) != {"n1"}:
        C.fail("during the cut: consoles not listed once each with one "
               "owner (%r)" % (o,))
    r1.heal()
    r2.heal()
    time.sleep(2.5)
    ch = state_changes("primary") + state_changes("backup")
    if [c for c in ch if c[1] == "active"] != [
            c for c in state_changes("primary") if c[1] == "active"]:
        C.fail("after the heal: %r" % ch)
    print("%s: HA link cut for %.1f s: the backup stayed passive, no node "
          "moved, every console listed once" % (C.name, time.time() - t_cut))
    C.stop(hosts)
    # 3. kill -9 the active coordinator during a vMotion storm
    storm = C.start("storm", [
        C.hvsim_bin, "run", "--proxy", a(C.vm["n1"]),
        "--operator", a(C.oper["n2"]), "--consoles", str(N_CONS),
        "--uuid-base", "0123456789abcdeffedcba9800700000",
        "--rate", "2000", "--operator-rate", "200", "--vmotions", "1000000",
        "--vmotion-interval", "300", "--vmotion-spread", "--duration", "14",
        "--vmotion-dest", a(C.vm["n1"]), "--vmotion-dest", a(C.vm["n2"]),
        "--vmotion-dest", a(C.vm["n3"]), "--log-level", "error"])
    time.sleep(4)
    regs = metric_all("vspc_coordinator_registrations_total")
    t0 = time.time()
    p1.kill()
    p1.wait()
    C.wait_for("the backup active", lambda: [
        c for c in state_changes("backup") if c[1] == "active"], 20)
    C.wait_for("every node registered with the backup and in sync", lambda: all(
        C.metric(n, "vspc_coordinator_switches_total") >= 1 and
        C.metric(n, "vspc_coordinator_registrations_total") > r and
        C.metric(n, "vspc_coordinator_away") == 0 and
        C.metric(n, 'vspc_cluster_state{state="active"}') == 1
        for n, r in zip(C.nodes, regs)), FAILOVER_BOUND + 5)
    took = time.time() - t0
    try:
        rc = storm.wait(timeout=120)
    except subprocess.TimeoutExpired:
        C.fail("the vMotion storm did not end")
    out = open(os.path.join(C.logdir, "storm.log"), errors="replace").read()
    sys.stdout.write(out[-1500:])
    m = re.search(r"vmotions_ok=(\d+).*vmotions_failed=(\d+)", out)
    if rc != 0 or not m or int(m.group(2)) != 0:
        C.fail("vMotion storm across the failover: exit %d" % rc)
    C.wait_for("every node lists the %d storm consoles alike" % N_CONS,
               lambda: (C.owners() or {}) and len(
                   [k for k in C.owners() if k.startswith(
                       "0123456789abcdeffedcba98007")]) == N_CONS, 15)
    if took > FAILOVER_BOUND:
        C.fail("failover took %.1f s (bound %.0f s)" % (took, FAILOVER_BOUND))
    # What vspcctl status shows now: the backup active, a higher term.
    ctl = os.path.join(C.build, "vspcctl")
    st = subprocess.run([ctl, "--http", "127.0.0.1:%d" % C.http_port["n3"],
                         "status"], capture_output=True, text=True,
                        timeout=20)
    sys.stdout.write(st.stdout)
    want = "coordinator %s: active, term " % C2
    if st.returncode != 0 or want not in st.stdout or \
            "other %s" % C1 not in st.stdout or \
            "consoles without a live owner: 0" not in st.stdout:
        C.fail("vspcctl status: exit %d, want \"%s...\" in:\n%s%s"
               % (st.returncode, want, st.stdout, st.stderr))
    term = int(re.search(r"active, term (\d+)", st.stdout).group(1))
    if term < 2:
        C.fail("the backup's term is %d after a failover (want >= 2)" % term)
    C.stop_all()
    r1.cut()
    r2.cut()
    print("%s: PASS (failover: every node on the backup and in sync %.2f s "
          "after the primary's SIGKILL; %s vMotions, none failed, every byte "
          "verified)" % (C.name, took, m.group(1)))


if __name__ == "__main__":
    run(C, main)
