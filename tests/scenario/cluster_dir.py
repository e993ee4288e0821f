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
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BUILD, BASE = sys.argv[1], int(sys.argv[2])
COORD = BUILD + "/coordinator/vspc-coordinator"
PROXY = BUILD + "/vspc-proxy"
HVSIM = BUILD + "/vspc-hvsim"
procs = []
logdir = tempfile.mkdtemp(prefix="cluster_dir.")


def start(name, argv):
    log = open(os.path.join(logdir, name + ".log"), "w")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    procs.append((name, p))
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def fail(msg):
    print("cluster_dir: FAIL: " + msg)
    for name, p in procs:
        stop(p)
    for name, _ in procs:
        path = os.path.join(logdir, name + ".log")
        with open(path, errors="replace") as f:
            lines = f.readlines()
        print("---- %s (last 15 lines) ----" % name)
        sys.stdout.write("".join(lines[-15:]))
    sys.exit(1)


def wait_for(what, cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if last:
                return last
        except (OSError, ValueError) as e:
            last = e
        time.sleep(0.1)
    fail("%s: not within %.0f s (last: %r)" % (what, timeout, last))


def http(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                timeout=2) as r:
        return r.read().decode()


def consoles(node):
    return json.loads(http(HTTP[node], "/api/v1/consoles"))


def metric(node, name):
    for line in http(HTTP[node], "/metrics").splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


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


COORD_EP = "tcp://127.0.0.1:%d" % BASE
NODES = ["n1", "n2", "n3"]
VM = {n: BASE + 4 + i * 4 for i, n in enumerate(NODES)}
OPER = {n: VM[n] + 1 for n in NODES}
HTTP = {n: VM[n] + 2 for n in NODES}
PEER = {n: VM[n] + 3 for n in NODES}


def uuid(node_no, k):
    return "0123456789abcdeffedcba98000%02d%03d" % (node_no, k)


def start_coordinator():
    return start("coordinator", [COORD, "--bind", COORD_EP,
                                 "--heartbeat-timeout", "3"])


def main():
    coord = start_coordinator()
    for i, n in enumerate(NODES):
        start(n, [PROXY, "--node-id", n, "--node-index", str(i + 1),
                  "--vm-listen", "127.0.0.1:%d" % VM[n],
                  "--operator-listen", "127.0.0.1:%d" % OPER[n],
                  "--http-listen", "127.0.0.1:%d" % HTTP[n],
                  "--peer-listen", "127.0.0.1:%d" % PEER[n],
                  "--coordinator", COORD_EP])
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
    for name, p in procs:
        stop(p)
    print("cluster_dir: PASS")


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:  # any surprise: stop what we started
        fail("exception %r" % (e,))
