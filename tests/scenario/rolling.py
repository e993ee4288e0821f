#!/usr/bin/env python3
"""rolling.py: a rolling restart of every node and coordinator in turn
(ctest rolling_restart). A coordinator pair and three nodes; 30 hosts on
each node (vspc-hvsim --connect-only --reconnect: a host whose node goes
away redials the same address with back-off, as ESXi does, and is claimed
again when the node is back).

For each node in turn: an operator attached through each other node to a
console the restarting node holds; the node stopped (SIGTERM) and started
again on the same ports. Its hosts come back to it (the consoles are
claimed with a higher epoch), and the operators on the nodes that stayed
up keep their sessions (each is told where its console went and answers a
detach). The consoles stream numbered lines all along (vspc-hvsim
--text): what each operator received is whole lines in order, and every
break in them comes with vspc's notice of it (no byte lost outside the
counted gaps). Then the passive coordinator and the active one are restarted in
turn: no node loses a console, every node ends registered and in sync.
At the end every node lists the 90 consoles once each, connected.

With `etcd` the directory is in a three-member etcd cluster (--etcd)
instead, and its members are restarted in turn where the coordinators
were (skipped, 77, without etcd).

usage: rolling.py BUILD_DIR BASE_PORT [etcd]
       (ports BASE..BASE+24; etcd: BASE+40..BASE+45 too)
"""
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, Etcd, Operator, run  # noqa: E402

BASE = int(sys.argv[2])
ETCD = len(sys.argv) > 3 and sys.argv[3] == "etcd"
if ETCD and not (shutil.which("etcd") and shutil.which("etcdctl")):
    print("rolling_restart_etcd: SKIP (no etcd: deploy/deps.sh --test)")
    sys.exit(77)
C = Cluster(sys.argv[1], BASE,
            "rolling_restart_etcd" if ETCD else "rolling_restart")
C1 = "tcp://127.0.0.1:%d" % BASE
C2 = "tcp://127.0.0.1:%d" % (BASE + 20)
C.coord_eps = [C1, C2]
E = Etcd(C, BASE + 40) if ETCD else None
if E:
    C.store_args = [x for u in E.urls for x in ("--etcd", u)]
PER = 30


def connected_all():
    """Every node lists 3*PER consoles, each once, connected, same owner."""
    views = []
    for n in C.nodes:
        v = {}
        for c in C.consoles(n):
            if c["id"] in v:
                C.fail("%s lists %s twice" % (n, c["id"]))
            v[c["id"]] = (c.get("node"), c["state"])
        views.append(v)
    v0 = views[0]
    return (len(v0) == 3 * PER and all(v == v0 for v in views) and
            all(s == "connected" for _, s in v0.values()))


LINE = 72  # tests/hvsim/textpat.h TEXT_LINE_LEN
TEXT = re.compile(rb"\[vm-\d+ (\d{8})\] ")
NOTICE = re.compile(rb"\r\n\[vspc [A-Z0-9]+: ([^\r\n]*)\]\r\n")


def check_stream(who, data):
    """What an operator received: whole numbered lines in order; every
    break in them comes with vspc's notice of it (the owner's link went
    down, the output restarted elsewhere): no byte lost outside the
    counted gaps. Returns the number of lines."""
    text, marks, pos = b"", [], 0
    for m in NOTICE.finditer(data):
        text += data[pos:m.start()]
        marks.append((len(text), m.group(1)))
        pos = m.end()
    text += data[pos:]
    lines = [(m.start(), int(m.group(1))) for m in TEXT.finditer(text)]
    if len(lines) < 2:
        C.fail("%s: too few console lines received (%d)" % (who, len(lines)))
    for (p1, k1), (p2, k2) in zip(lines, lines[1:]):
        if k2 == k1 + 1 and p2 - p1 == LINE:
            continue
        told = [t for at, t in marks if p1 < at <= p2 and (
            b"went down" in t or b"restarted" in t or b"now on node" in t)]
        if not told:
            C.fail("%s: line %d then line %d (%d bytes apart) with no "
                   "notice of a gap" % (who, k1, k2, p2 - p1))
    return len(lines)


def on_term(signum, frame):
    C.fail("signal %d" % signum)


def coord(name, extra):
    return C.start(name, [C.coord_bin, "--heartbeat-timeout", "3"] + extra)


def main():
    signal.signal(signal.SIGTERM, on_term)
    pair = {
        "primary": ["--bind", C1, "--primary", "--peer", C2],
        "backup": ["--bind", C2, "--backup", "--peer", C1],
    }
    if E:
        E.start_all()
    else:
        cp = {k: coord(k, v) for k, v in pair.items()}
    for n in C.nodes:
        C.start_node(n)
    C.wait_for("peer links", lambda: all(
        C.metric(n, "vspc_peer_links_up") == 2 for n in C.nodes), 15)
    for i, n in enumerate(C.nodes):
        C.start("hosts-%s" % n, [
            C.hvsim_bin, "run", "--proxy", "127.0.0.1:%d" % C.vm[n],
            "--consoles", str(PER), "--text", "--rate", "200", "--reconnect",
            "--duration", "600", "--log-level", "warn", "--uuid-base",
            "0123456789abcdeffedcba98%04d0000" % (i + 1)])
    C.wait_for("%d consoles connected, listed alike" % (3 * PER),
               connected_all, 20)
    for n in C.nodes:
        mine = [c["id"] for c in C.consoles(n) if c.get("node") == n]
        ops = []
        for m in C.nodes:
            if m == n:
                continue
            o = Operator(C.oper[m])
            line = o.attach(mine[0])
            if not line.startswith("ok attached"):
                C.fail("attach %s through %s: %s" % (mine[0], m, line))
            ops.append((m, o))
        C.stop(C.node_procs[n])
        C.start_node(n)
        C.wait_for("%s back, its hosts reclaimed" % n, connected_all, 30)
        for m, o in ops:
            try:
                got = o.read_until(("console now on node %s" % n).encode(),
                                   15)
            except OSError as e:
                C.fail("operator through %s: no notice that %s's console "
                       "came back to it: %s" % (m, n, e))
            time.sleep(1.0)  # the console streams on from its new owner
            o.send(b"\x05c.")
            got += o.read_until(b"vspc> ", 5)  # answers: not broken
            nl = check_stream("operator through %s on %s" % (m, mine[0]), got)
            o.close()
        print("%s: %s restarted; its %d consoles reclaimed; operators "
              "through %s kept their sessions (%d lines read by the last, "
              "every break announced)"
              % (C.name, n, len(mine), ", ".join(m for m, _ in ops), nl))
    if E:
        for i in range(E.n):  # every member in turn, the nodes' first too
            C.stop(E.procs[i])
            E.start(i)
            C.wait_for("etcd member %d back" % i, lambda: E.healthy(i), 20)
            C.wait_for("every node in sync after member %d's restart" % i,
                       lambda: all(
                           C.metric(n, "vspc_coordinator_away") == 0 and
                           C.metric(n, 'vspc_cluster_state{state="active"}')
                           == 1 for n in C.nodes) and connected_all(), 30)
        if not all(C.metric(n, "vspc_coordinator_switches_total") >= 1
                   for n in C.nodes):
            C.fail("a node never turned away from the member it used, "
                   "which was restarted")
        # The directory still takes news: one more console, seen by all.
        C.start("late", [C.hvsim_bin, "run", "--proxy",
                         "127.0.0.1:%d" % C.vm["n2"], "--consoles", "1",
                         "--connect-only", "--duration", "600",
                         "--log-level", "warn", "--uuid-base",
                         "0123456789abcdeffedcba9800990000"])
        late = "0123456789abcdeffedcba9800990000"
        C.wait_for("a console connected after the restarts, listed by "
                   "every node with its owner", lambda: all(
                       [c.get("node") for c in C.consoles(n)
                        if c["id"] == late] == ["n2"] for n in C.nodes), 15)
        C.stop_all()
        print("%s: PASS (every node and every etcd member restarted in "
              "turn; %d consoles connected and listed alike at every step)"
              % (C.name, 3 * PER))
        return
    regs = {n: C.metric(n, "vspc_coordinator_registrations_total")
            for n in C.nodes}
    for name in ("backup", "primary"):  # the passive first
        C.stop(cp[name])
        time.sleep(4)  # the active one's silence is noticed: failover
        cp[name] = coord(name, pair[name])
        C.wait_for("every node registered and in sync after the %s's "
                   "restart" % name, lambda: all(
                       C.metric(n, "vspc_coordinator_away") == 0 and
                       C.metric(n, 'vspc_cluster_state{state="active"}') == 1
                       for n in C.nodes) and connected_all(), 30)
    if not all(C.metric(n, "vspc_coordinator_registrations_total") > regs[n]
               for n in C.nodes):
        C.fail("a node never registered again after the coordinators' "
               "restarts")
    C.stop_all()
    print("%s: PASS (every node and both coordinators restarted in turn; "
          "%d consoles connected and listed alike at every step)"
          % (C.name, 3 * PER))


if __name__ == "__main__":
    run(C, main)
