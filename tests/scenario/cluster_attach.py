#!/usr/bin/env python3
"""cluster_attach.py: operators on any node, real processes on 127.0.0.1
(ctest cluster_attach).

A vspc-coordinator and three vspc-proxy nodes. Checked, each bounded:
  1. every node to every console: vspc-hvsim hosts on each node, their
     operators attached on each node (9 pairs), VM output and operator
     input verified byte-exact both ways (flat out);
  2. scrollback: the same console attached on its owner and from the two
     other nodes replays the same bytes from the same offset and epoch;
  3. locks across nodes, arbitrated by the owner: excl on n2, rw on n3
     becomes ro, excl on n1 refused; a read-only operator's input is
     refused with a notice; ^Ecf takes the write lock across nodes, the
     loser is told; ^Ec. detaches;
  4. a stalled remote reader (n2 reads nothing) next to a console
     streaming flat out between the same two nodes: the second verified
     byte-exact, the first cut loose by the stall timeout, memory bounded;
  5. the coordinator stopped and restarted while remote operators type
     and read: verified byte-exact, the directory converges again;
  6. malformed frames on a peer port: the connection closed, a log line,
     the consoles unaffected;
  7. one log per console: n1 and n3 run with --log-dir; the consoles of
     step 5 (owned by n3) are logged on n3 (its own) and on n1 (a remote
     reader): the same bytes in both files, markers aside;
  8. VMware's admin client (option 233) on n2 connects to a console of n1
     by its upper-case id: CONNECTED, then the console's output;
  9. a node restarted: its new console is announced and listed on every
     node, the peer links come back, and it can be attached from n1;
 10. operators follow their console: the same VM connecting to n2 while n1
     holds it (n1 fenced): an operator on n1 and one on n3 keep their
     sessions and continue on n2 with a notice; the owner n1 killed with
     SIGKILL: an operator on n2 is told, keeps its session, and when the
     VM reconnects to n3 it continues there with the new owner's output
     byte-exact (compared with n3's own scrollback).

usage: cluster_attach.py BUILD_DIR BASE_PORT   (ports BASE..BASE+15)
"""
import os
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, Operator, run, uuid  # noqa: E402

C = Cluster(sys.argv[1], int(sys.argv[2]), "cluster_attach")
N = C.nodes
LOGDIR = {n: os.path.join(C.logdir, "logs-" + n) for n in ("n1", "n3")}
MARKER = re.compile(rb"\r\n\[vspc \d{4}-\d\d-\d\dT[0-9:.]+Z [^\r\n]*\]\r\n")


def wait_exit(runs, timeout):
    deadline = time.monotonic() + timeout
    for name, p in runs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except Exception:
            C.fail("%s: still running after %.0f s" % (name, timeout))
        with open(os.path.join(C.logdir, name + ".log"),
                  errors="replace") as f:
            out = f.read()
        if p.returncode != 0 or "result=PASS" not in out:
            C.fail("%s: exit %d: %s" % (name, p.returncode, out[-600:]))


def listed_everywhere(ids):
    for n in N:
        got = {c["id"] for c in C.consoles(n)}
        if not set(ids) <= got:
            return None
    return True


def idle_vm(name, node, cid):
    """One console connected (and listed everywhere), no output."""
    C.hvsim(name, node, ["--consoles", "1", "--uuid-base", cid,
                         "--name-prefix", "idlevm", "--connect-only",
                         "--duration", "60"])
    C.wait_for("%s listed everywhere" % cid, lambda: listed_everywhere([cid]))


def step1():
    runs = []
    for i, owner in enumerate(N):
        for j, opn in enumerate(N):
            name = "x-%s-%s" % (owner, opn)
            runs.append((name, C.hvsim(name, owner, [
                "--operator", "127.0.0.1:%d" % C.oper[opn],
                "--consoles", "2", "--uuid-base", uuid(i + 1, j * 10),
                "--name-prefix", "%s%s-" % (owner, opn),
                "--bytes", "256k", "--rate", "0",
                "--operator-rate", "50000", "--operator-bytes", "32k"])))
    wait_exit(runs, 90)
    print("cluster_attach: 1. 9 node pairs x 2 consoles: both directions "
          "byte-exact")


def step2():
    cid = uuid(1, 10)  # owned by n1, 256 KiB written, host gone
    C.wait_for("2: console listed everywhere", lambda: listed_everywhere([cid]))
    got = {}
    for n in N:
        o = Operator(C.oper[n])
        reply = o.attach(cid, "ro raw")
        if not reply.startswith("ok attached %s ro offset=" % cid):
            C.fail("2: attach on %s: %r" % (n, reply))
        got[n] = (reply.split()[4:], o.read_idle(1.0))
        o.close()
    ref = got["n1"]
    if len(ref[1]) != 65536:
        C.fail("2: the owner replayed %d bytes, want 65536" % len(ref[1]))
    for n in N[1:]:
        if got[n] != ref:
            C.fail("2: %s replayed %r %d bytes, owner %r %d bytes (same: %s)"
                   % (n, got[n][0], len(got[n][1]), ref[0], len(ref[1]),
                      got[n][1] == ref[1]))
    print("cluster_attach: 2. scrollback from every node: the owner's 65536 "
          "bytes, offset and epoch")


def step3():
    cid = uuid(9, 1)
    idle_vm("lockvm", "n1", cid)
    a, b, c = Operator(C.oper["n2"]), Operator(C.oper["n3"]), \
        Operator(C.oper["n1"])
    r = a.attach(cid, "excl")
    if not r.startswith("ok attached %s rw " % cid):
        C.fail("3: excl from n2: %r" % r)
    r = b.attach(cid, "rw")
    if not r.startswith("ok attached %s ro " % cid):
        C.fail("3: rw from n3 while n2 holds the write lock: %r" % r)
    r = c.attach(cid, "excl")
    if not r.startswith("error another operator holds the write lock"):
        C.fail("3: excl on the owner while n2 holds it: %r" % r)
    a.read_until(b"attached (ro)")  # the notice of b's attach, on n2
    b.send(b"hello")
    b.read_until(b"read-only: your input is discarded")
    b.send(b"\x05cf")
    b.read_until(b"you have write access")
    a.read_until(b"your write access was taken over: now read-only")
    a.send(b"\x05c.")
    a.read_until(a.notice(b"detached]"))
    b.read_until(b"detached")  # a's detach, told to b
    for o in (a, b, c):
        o.close()
    print("cluster_attach: 3. locks across nodes: excl, rw->ro, refusal, "
          "read-only notice, ^Ecf, ^Ec.")


def rss_kb(p):
    with open("/proc/%d/status" % p.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def step4():
    stalled_id, live_id = uuid(7, 1), uuid(7, 2)
    before = C.metric("n1", "vspc_readers_stalled_total")
    C.hvsim("stalled-vm", "n1", ["--consoles", "1", "--uuid-base", stalled_id,
                                 "--name-prefix", "stalledvm", "--rate", "0",
                                 "--duration", "8"])
    C.wait_for("4: console listed everywhere",
               lambda: listed_everywhere([stalled_id]))
    s = Operator(C.oper["n2"])
    r = s.attach(stalled_id, "ro raw")
    if not r.startswith("ok attached"):
        C.fail("4: attach: %r" % r)
    # s reads nothing from now on.
    live = ("live-pair", C.hvsim("live-pair", "n1", [
        "--operator", "127.0.0.1:%d" % C.oper["n2"], "--consoles", "1",
        "--uuid-base", live_id, "--name-prefix", "livevm",
        "--bytes", "16M", "--rate", "0"]))
    wait_exit([live], 60)
    C.wait_for("4: the stalled remote reader cut loose on n1",
               lambda: C.metric("n1", "vspc_readers_stalled_total") > before,
               10)
    # ASan's shadow memory and quarantine make RSS meaningless there.
    limit = (1024 if "ASAN_OPTIONS" in os.environ else 150) * 1024
    for n in ("n1", "n2"):
        kb = rss_kb(C.node_procs[n])
        if kb > limit:
            C.fail("4: %s RSS %d KiB with a stalled remote reader" % (n, kb))
    s.close()
    print("cluster_attach: 4. stalled remote reader: cut loose; the other "
          "console on the same link byte-exact; memory bounded")


def step5(coord):
    ids = [uuid(5, k) for k in range(2)]
    run = ("coord-away", C.hvsim("coord-away", "n3", [
        "--operator", "127.0.0.1:%d" % C.oper["n1"], "--consoles", "2",
        "--uuid-base", ids[0], "--name-prefix", "awayvm",
        "--rate", "20000", "--duration", "6", "--operator-rate", "2000"]))
    C.wait_for("5: consoles listed everywhere", lambda: listed_everywhere(ids))
    C.stop(coord)
    C.wait_for("5: nodes see the coordinator away",
               lambda: all(C.metric(n, "vspc_coordinator_away") == 1
                           for n in N), 15)
    # 6, meanwhile: malformed frames on n1's peer port.
    for junk in (struct.pack(">I", 0xFFFFFFF0), struct.pack(">I", 5) +
                 b"\x08\x01\xa2\x06\x00", b"\x00\x00\x00\x03abc"):
        k = socket.create_connection(("127.0.0.1", C.peer["n1"]), timeout=5)
        k.sendall(junk)
        try:
            closed = k.recv(100) == b""
        except socket.timeout:
            closed = False
        k.close()
        if not closed:
            C.fail("6: n1 kept a peer connection that sent %r" % junk)
    coord = C.start_coordinator()
    wait_exit([run], 40)
    C.wait_for("5: converged after the coordinator restart",
               lambda: listed_everywhere(ids) and all(
                   C.metric(n, "vspc_coordinator_away") == 0 for n in N), 20)
    with open(os.path.join(C.logdir, "n1.log"), errors="replace") as f:
        if "peer" not in f.read():
            C.fail("6: no log line about the bad peer connections")
    print("cluster_attach: 5. coordinator away and back: remote operators "
          "byte-exact, converged")
    print("cluster_attach: 6. malformed peer frames: connections closed, "
          "consoles unaffected")
    step7(ids)
    return coord


def log_bytes(node, cid):
    path = os.path.join(LOGDIR[node], cid + ".log")
    with open(path, "rb") as f:
        return MARKER.sub(b"", f.read())


def step7(ids):
    for cid in ids:
        def same():
            a, b = log_bytes("n3", cid), log_bytes("n1", cid)
            return len(a) > 100000 and a == b
        C.wait_for("7: %s logged alike on n3 (owner) and n1 (remote)" % cid,
                   same, 10)
    print("cluster_attach: 7. one log per console: the owner's and a remote "
          "node's log hold the same bytes")


def step8():
    cid = uuid(9, 1)  # step 3's console on n1, still connected
    k = socket.create_connection(("127.0.0.1", C.oper["n2"]), timeout=5)
    k.sendall(b"\xff\xfd\xe9")  # DO 233: the admin client
    k.sendall(b"\xff\xfa\xe9\x20\x01" + cid.upper().encode() + b"\xff\xf0")
    got, deadline = b"", time.monotonic() + 10
    while b"\xff\xfa\xe9\x21\xff\xf0" not in got:
        if time.monotonic() > deadline:
            C.fail("8: no CONNECTED from n2 (got %r)" % got[-200:])
        k.settimeout(max(0.1, deadline - time.monotonic()))
        data = k.recv(4096)
        if not data:
            C.fail("8: n2 closed the admin connection (got %r)" % got)
        got += data
    k.close()
    print("cluster_attach: 8. option 233 across nodes: CONNECTED")


def step9():
    C.stop(C.node_procs["n2"])
    C.wait_for("9: n1 sees the link to n2 go",
               lambda: C.metric("n1", "vspc_peer_links_up") == 1, 10)
    C.start_node("n2")
    C.wait_for("9: n2 HTTP", lambda: C.consoles("n2") is not None)
    cid = uuid(9, 2)
    C.hvsim("restart-vm", "n2", ["--consoles", "1", "--uuid-base", cid,
                                 "--name-prefix", "restartvm",
                                 "--connect-only", "--duration", "60"])

    def back():
        for n in N:
            got = {c["id"]: c.get("node") for c in C.consoles(n)}
            if got.get(cid) != "n2" or \
                    C.metric(n, "vspc_peer_links_up") != len(N) - 1:
                return None
        return True
    C.wait_for("9: n2 restarted: announced, listed, links up", back, 20)
    o = Operator(C.oper["n1"])
    r = o.attach(cid, "ro raw")
    if not r.startswith("ok attached %s ro " % cid):
        C.fail("9: attach from n1 to the restarted n2: %r" % r)
    o.close()
    print("cluster_attach: 9. a node restarted: re-announced, converged, "
          "reachable")


NOTICE = re.compile(rb"\r\n\[vspc [A-Z0-9]+: [^\r\n]*\]\r\n")


def step10():
    moved = uuid(8, 1)
    idle_vm("moved-vm1", "n1", moved)
    local, remote = Operator(C.oper["n1"]), Operator(C.oper["n3"])
    for o in (local, remote):
        r = o.attach(moved, "ro")
        if not r.startswith("ok attached %s ro " % moved):
            C.fail("10: attach: %r" % r)
    idle_vm("moved-vm2", "n2", moved)  # the same VM on n2: n1 is fenced
    for name, o in (("n1 (local)", local), ("n3 (remote)", remote)):
        try:
            o.read_until(b"console moved to node n2")
            o.read_until(b"console now on node n2")
        except OSError as e:
            C.fail("10: the operator on %s did not follow: %s" % (name, e))
        o.close()
    print("cluster_attach: 10a. fenced: operators on the old owner and on a "
          "third node follow the console to its new owner")

    crash = uuid(8, 2)
    idle_vm("crash-vm1", "n1", crash)
    o = Operator(C.oper["n2"])
    r = o.attach(crash, "ro")
    if not r.startswith("ok attached %s ro " % crash):
        C.fail("10: attach: %r" % r)
    C.node_procs["n1"].kill()
    C.node_procs["n1"].wait()
    o.read_until(b"waiting for the console's next owner")
    # ESXi retries; behind a load balancer it reaches a survivor.
    C.hvsim("crash-vm3", "n3", ["--consoles", "1", "--uuid-base", crash,
                                "--name-prefix", "crashvm", "--bytes", "20000",
                                "--rate", "20000"])
    o.read_until(b"console now on node n3")
    o.read_until(b"]\r\n")  # the rest of that notice
    got = NOTICE.sub(b"", o.read_idle(2.0))
    ref = Operator(C.oper["n3"])
    if not ref.attach(crash, "ro").startswith("ok attached"):
        C.fail("10: attach on n3")
    want = NOTICE.sub(b"", ref.read_idle(1.0))
    if len(want) != 20000 or got != want:
        k = next((i for i in range(min(len(got), len(want)))
                  if got[i] != want[i]), min(len(got), len(want)))
        C.fail("10: after the crash the operator on n2 got %d bytes, n3's "
               "scrollback %d; first difference at %d: %r / %r"
               % (len(got), len(want), k, got[max(0, k - 20):k + 60],
                  want[max(0, k - 20):k + 60]))
    o.close()
    ref.close()
    print("cluster_attach: 10b. owner killed: the operator on n2 kept its "
          "session and continued on n3 byte-exact")


def main():
    coord = C.start_coordinator()
    for n in N:
        extra = []
        if n in LOGDIR:
            os.makedirs(LOGDIR[n])
            extra = ["--log-dir", LOGDIR[n]]
        C.start_node(n, extra)
    for n in N:
        C.wait_for("node %s HTTP" % n, lambda n=n: C.consoles(n) == [])
    C.wait_for("peer links up", lambda: all(
        C.metric(n, "vspc_peer_links_up") == len(N) - 1 for n in N), 15)
    step1()
    step2()
    step3()
    step4()
    step5(coord)
    step8()
    step9()
    step10()
    C.stop_all()
    print("cluster_attach: PASS")


if __name__ == "__main__":
    run(C, main)
