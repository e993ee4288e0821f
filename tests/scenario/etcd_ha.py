#!/usr/bin/env python3
"""etcd_ha.py: the etcd ownership store under faults (ctest etcd_ha). A
three-member etcd cluster on loopback, three nodes given all three members
(--etcd, in the same order: they all start on member 0).

 1. Start: every node registers (lease, node index, entries), syncs and
    watches; a fourth node asking for an index a live node holds is
    refused. 30 consoles connected through n1 are listed alike on every
    node and in etcd itself.
 2. kill -9 of the member n1 talks to (at first every node does), during
    a storm of vMotions across the three nodes (30 consoles moving every
    300 ms, operators on n2 typing); restarted on its data 3 s later.
    vspc-hvsim verifies every byte both ways and that no vMotion failed;
    every node that used it turns to another member, and every node is in
    sync again within SWITCH_BOUND seconds (measured).
 3. The same with the member n1 now uses stopped (SIGSTOP: it answers
    nothing, to nodes or to its peers) for 5 s, then resumed.
After each: every node lists every console once with the same owner, and
that is what etcd holds (no console owned twice, the directory converged).

Skipped (77) without etcd and etcdctl (Debian: etcd-server, etcd-client).
Only processes this script started are signalled, by PID; every wait is
bounded.

usage: etcd_ha.py BUILD_DIR BASE_PORT   (ports BASE..BASE+29)
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, Etcd, run  # noqa: E402

if not shutil.which("etcd") or not shutil.which("etcdctl"):
    print("etcd_ha: SKIP (no etcd or etcdctl: apt-get install etcd-server "
          "etcd-client)")
    sys.exit(77)

BASE = int(sys.argv[2])
C = Cluster(sys.argv[1], BASE + 10, "etcd_ha")  # nodes BASE+14..BASE+25
E = Etcd(C, BASE)                               # BASE..BASE+5
C.store_args = [x for u in E.urls for x in ("--etcd", u)]
SWITCH_BOUND = 10.0
N_CONS = 30
a = lambda p: "127.0.0.1:%d" % p  # noqa: E731


def in_etcd():
    """console id -> owner, as etcd holds them."""
    out = {}
    for k, v in E.get_prefix("/vspc/consoles/").items():
        out[k[len("/vspc/consoles/"):]] = json.loads(v[21:])["owner"]
    return out


def converged(prefix):
    o = C.owners()
    if not o:
        return False
    mine = {k: v for k, v in o.items() if k.startswith(prefix)}
    if len(mine) != N_CONS:
        return False
    truth = {k: v for k, v in in_etcd().items() if k.startswith(prefix)}
    return mine == truth


def server(n):
    return json.loads(C.http(n, "/api/v1/cluster"))["store"]["server"]


def in_sync(n, switches, moved_from):
    """n in sync; if it used the faulty member (moved_from), on another."""
    return ((moved_from is None or (
        C.metric(n, "vspc_coordinator_switches_total") > switches and
        server(n) != moved_from)) and
            C.metric(n, "vspc_coordinator_away") == 0 and
            C.metric(n, 'vspc_cluster_state{state="active"}') == 1)


def storm(name, uuid_base, k, fault, undo, undo_after):
    """A vMotion storm with fault() on member k run 4 s in and undo()
    undo_after s later; the time from the fault to every node in sync
    again, those that used member k on another one."""
    p = C.start(name, [
        C.hvsim_bin, "run", "--proxy", a(C.vm["n1"]),
        "--operator", a(C.oper["n2"]), "--consoles", str(N_CONS),
        "--uuid-base", uuid_base, "--rate", "2000", "--operator-rate", "200",
        "--vmotions", "1000000", "--vmotion-interval", "300",
        "--vmotion-spread", "--duration", "14",
        "--vmotion-dest", a(C.vm["n1"]), "--vmotion-dest", a(C.vm["n2"]),
        "--vmotion-dest", a(C.vm["n3"]), "--log-level", "error"])
    time.sleep(4)
    sw = [C.metric(n, "vspc_coordinator_switches_total") for n in C.nodes]
    users = [E.urls[k] if server(n) == E.urls[k] else None for n in C.nodes]
    if not any(users):
        C.fail("%s: no node uses member %d: the fault would test nothing"
               % (name, k))
    t0 = time.time()
    fault()
    later = threading.Timer(undo_after, undo)
    later.start()
    C.wait_for("every node in sync, those on member %d on another" % k,
               lambda: all(in_sync(n, s, u) for n, s, u in zip(
                   C.nodes, sw, users)), SWITCH_BOUND + 10)
    took = time.time() - t0
    later.join()
    try:
        rc = p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        C.fail("the vMotion storm %s did not end" % name)
    out = open(os.path.join(C.logdir, name + ".log"), errors="replace").read()
    sys.stdout.write(out[-800:])
    m = re.search(r"vmotions_ok=(\d+).*vmotions_failed=(\d+)", out)
    if rc != 0 or not m or int(m.group(2)) != 0 or int(m.group(1)) == 0:
        C.fail("vMotion storm %s: exit %d" % (name, rc))
    C.wait_for("%s: every node lists the %d consoles alike, as etcd holds "
               "them" % (name, N_CONS),
               lambda: converged(uuid_base[:27]), 20)
    if took > SWITCH_BOUND:
        C.fail("%s: the nodes took %.1f s to be in sync on another member "
               "(bound %.0f s)" % (name, took, SWITCH_BOUND))
    return took, int(m.group(1))


def on_term(signum, frame):
    C.fail("signal %d" % signum)


def main():
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    E.start_all()
    for n in C.nodes:
        C.start_node(n)
    C.wait_for("peer links up", lambda: all(
        C.metric(n, "vspc_peer_links_up") == 2 for n in C.nodes), 15)
    # 1. a duplicate index is refused while its holder lives
    dup = C.start("dup", [C.proxy_bin, "--node-id", "n4", "--node-index", "1",
                          "--vm-listen", a(BASE + 26), "--operator-listen",
                          a(BASE + 27), "--http-listen", a(BASE + 28),
                          "--peer-listen", a(BASE + 29)] + C.store_args)
    C.wait_for("n4 refused (index 1 is n1's)", lambda: "node index 1 is held "
               "by live node n1" in open(os.path.join(C.logdir, "dup.log"),
                                         errors="replace").read(), 10)
    C.stop(dup)
    hosts = C.start("hosts", [C.hvsim_bin, "run", "--proxy", a(C.vm["n1"]),
                              "--consoles", str(N_CONS), "--connect-only",
                              "--duration", "600", "--uuid-base",
                              "0123456789abcdeffedcba9800600000",
                              "--log-level", "error"])
    C.wait_for("%d consoles on n1, listed alike and in etcd" % N_CONS,
               lambda: converged("0123456789abcdeffedcba98006"), 15)
    C.stop(hosts)
    print("%s: 3 nodes registered, n4 refused index 1, %d consoles listed "
          "alike and in etcd" % (C.name, N_CONS))

    # 2. kill -9 the member n1 uses (all start on member 0); restart it
    k0 = E.urls.index(server("n1"))

    def kill0():
        E.procs[k0].kill()
        E.procs[k0].wait()
    t_kill, n_kill = storm("storm-kill", "0123456789abcdeffedcba9800700000",
                           k0, kill0, lambda: E.start(k0), 3)
    C.wait_for("member %d healthy again" % k0, lambda: E.healthy(k0), 20)

    # 3. stop the member n1 uses now (SIGSTOP), resume it 5 s later
    k = E.urls.index(server("n1"))
    t_stop, n_stop = storm(
        "storm-stop", "0123456789abcdeffedcba9800800000", k,
        lambda: E.procs[k].send_signal(signal.SIGSTOP),
        lambda: E.procs[k].send_signal(signal.SIGCONT), 5)
    C.wait_for("member %d healthy again" % k, lambda: E.healthy(k), 20)
    st = subprocess.run([os.path.join(C.build, "vspcctl"), "--http",
                         a(C.http_port["n3"]), "status"],
                        capture_output=True, text=True, timeout=20)
    sys.stdout.write(st.stdout)
    if st.returncode != 0 or "etcd http://127.0.0.1:" not in st.stdout:
        C.fail("vspcctl status: exit %d:\n%s%s" % (st.returncode, st.stdout,
                                                   st.stderr))
    C.stop_all()
    print("%s: PASS (member killed: every node on another member and in "
          "sync %.2f s after; member stopped: %.2f s; %d + %d vMotions, none "
          "failed, every byte verified)" % (C.name, t_kill, t_stop, n_kill,
                                            n_stop))


if __name__ == "__main__":
    run(C, main)
