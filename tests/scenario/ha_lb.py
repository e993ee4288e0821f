#!/usr/bin/env python3
"""ha_lb.py: the deploy/ha recipe brought up by its script and driven end
to end through HAProxy (ctest ha_lb).

deploy/ha/up.sh starts a coordinator pair, three nodes (--proxy-protocol,
--agent-listen) and HAProxy in front of them. Then:

 1. N_CONS simulated hosts dial the load balancer (vspc-hvsim --reconnect:
    a lost connection is redialed to the same address with back-off, as
    ESXi does); HAProxy spreads them over the nodes (PROXY v2 headers: each
    node sees the hosts' own addresses).
 2. Operators attached through n2 and n3 to consoles n1 holds.
 3. n1 is killed with SIGKILL: HAProxy marks it down, the hosts reconnect
    through it to n2 and n3, which claim the consoles with higher epochs;
    every console is listed, connected, on a survivor; the operators keep
    their sessions and are told where the console went. The time from the
    kill to the last console reclaimed is measured (hvsim's reconnect_ms
    series, and the directory's view) and bounded by RECOVER_BOUND.

Only processes this script started (up.sh, which stops its own, and
vspc-hvsim) are signalled, by PID; every wait is bounded.

With `etcd` the directory is in a three-member etcd cluster this script
starts (BASE+30..BASE+35; up.sh --etcd) instead of a coordinator pair.

usage: ha_lb.py BUILD_DIR BASE_PORT [etcd]  (ports BASE..BASE+404)
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Etcd, Operator  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
BASE = int(sys.argv[2])
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
N_CONS = 100
RECOVER_BOUND = 20.0
DIR = tempfile.mkdtemp(prefix="ha_lb.")
procs = []
ETCD = len(sys.argv) > 3 and sys.argv[3] == "etcd"


class Runner:
    """What clusterlib.Etcd needs of its owner: start, wait, fail."""
    name, logdir = "ha_lb_etcd" if ETCD else "ha_lb", DIR

    def start(self, name, argv):
        p = subprocess.Popen(argv, stdout=open(os.path.join(DIR, name +
                                                            ".log"), "w"),
                             stderr=subprocess.STDOUT)
        procs.insert(0, p)  # stopped last
        return p

    def wait_for(self, what, cond, timeout):
        return wait_for(what, cond, timeout)

    def fail(self, msg):
        fail(msg)


def node_port(k, off=0):
    return BASE + 100 * k + off


def http(k, path):
    url = "http://127.0.0.1:%d%s" % (node_port(k, 2), path)
    with urllib.request.urlopen(url, timeout=3) as r:
        return r.read().decode()


def consoles(k):
    return json.loads(http(k, "/api/v1/consoles"))


def fail(msg):
    print("%s: FAIL: %s (logs: %s)" % (Runner.name, msg, DIR))
    for name in ("n1", "n2", "n3", "haproxy", "coord-primary", "hvsim"):
        path = os.path.join(DIR, name + ".log")
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                lines = f.readlines()
            print("---- %s (last 10 lines) ----" % name)
            sys.stdout.write("".join(lines[-10:]))
    stop_all()
    sys.exit(1)


def stop_all():
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def wait_for(what, cond, timeout):
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


def main():
    store = []
    if ETCD:
        e = Etcd(Runner(), BASE + 30)
        e.start_all()
        store = [x for u in e.urls for x in ("--etcd", u)]
    up = subprocess.Popen(["bash", os.path.join(ROOT, "deploy/ha/up.sh"),
                           "--build", BUILD, "--base", str(BASE),
                           "--nodes", "3", "--dir", DIR] + store,
                          stdout=open(os.path.join(DIR, "up.out"), "w"),
                          stderr=subprocess.STDOUT)
    procs.append(up)
    wait_for("the recipe up", lambda: os.path.exists(
        os.path.join(DIR, "ready")) or up.poll() is not None, 30)
    if up.poll() is not None:
        fail("deploy/ha/up.sh exited %d: %s" % (
            up.returncode, open(os.path.join(DIR, "up.out")).read()))
    pids = dict(line.split() for line in open(os.path.join(DIR, "pids")))
    hv = subprocess.Popen(
        [os.path.join(BUILD, "vspc-hvsim"), "run", "--proxy",
         "127.0.0.1:%d" % BASE, "--consoles", str(N_CONS), "--connect-only",
         "--reconnect", "--duration", "30", "--log-level", "warn"],
        stdout=open(os.path.join(DIR, "hvsim.log"), "w"),
        stderr=subprocess.STDOUT)
    procs.append(hv)

    def spread():
        per = {k: [c for c in consoles(k) if c.get("node") == "n%d" % k
                   and c["state"] == "connected"] for k in (1, 2, 3)}
        return per if sum(len(v) for v in per.values()) == N_CONS else None
    per = wait_for("%d consoles through HAProxy" % N_CONS, spread, 30)
    counts = {k: len(v) for k, v in per.items()}
    if min(counts.values()) == 0:
        fail("HAProxy left a node without consoles: %r" % counts)
    # Operators on n2 and n3, attached to consoles n1 holds.
    ops = []
    for k, c in ((2, per[1][0]), (3, per[1][1])):
        o = Operator(node_port(k, 1))
        line = o.attach(c["id"])
        if not line.startswith("ok attached"):
            fail("attach %s on n%d: %s" % (c["id"], k, line))
        ops.append((k, c["id"], o))
    held = counts[1]
    t0 = time.time()
    os.kill(int(pids["n1"]), signal.SIGKILL)

    def reclaimed():
        got = consoles(2)
        alive = [c for c in got if c.get("node") in ("n2", "n3") and
                 c["state"] == "connected"]
        return len(alive) == N_CONS and consoles(3) and len(
            [c for c in consoles(3) if c.get("node") in ("n2", "n3")]) == \
            N_CONS
    wait_for("every console reclaimed on n2 and n3", reclaimed,
             RECOVER_BOUND + 10)
    took = time.time() - t0
    if took > RECOVER_BOUND:
        fail("recovery took %.1f s (bound %.0f s)" % (took, RECOVER_BOUND))
    for k, cid, o in ops:
        got = o.read_idle(1.0).decode(errors="replace")
        if "console now on node n" not in got:
            fail("operator on n%d attached to %s: no notice of the new owner "
                 "(got %r)" % (k, cid, got[-300:]))
        o.send(b"\x05c.")  # detach: the session is alive and answers
        o.read_until(b"vspc> ", 5)
        o.close()
    os.kill(hv.pid, signal.SIGINT)  # end the hosts: the summary line
    try:
        hv.wait(timeout=30)
    except subprocess.TimeoutExpired:
        fail("vspc-hvsim did not stop")
    out = open(os.path.join(DIR, "hvsim.log")).read()
    m = re.search(r"lost=(\d+) reconnected=(\d+) reconnect_us_p50=(\d+) "
                  r"reconnect_us_p99=(\d+) reconnect_us_max=(\d+)", out)
    if not m or int(m.group(1)) != held or int(m.group(2)) != held:
        fail("hosts: want %d connections lost and redialed: %s"
             % (held, out[-600:]))
    stop_all()
    print("%s: PASS (n1 held %d of %d consoles; killed, every one "
          "reclaimed through HAProxy in %.2f s; hosts' reconnect p50 %.0f ms, "
          "p99 %.0f ms, max %.0f ms; operators on n2, n3 kept their "
          "sessions)" % (Runner.name, held, N_CONS, took, int(m.group(3)) / 1000,
                         int(m.group(4)) / 1000, int(m.group(5)) / 1000))


if __name__ == "__main__":
    if shutil.which("haproxy") is None:
        print("ha_lb: SKIP: haproxy is not installed (deploy/deps.sh --test)")
        sys.exit(77)
    if ETCD and not (shutil.which("etcd") and shutil.which("etcdctl")):
        print("ha_lb: SKIP: etcd is not installed (deploy/deps.sh --test)")
        sys.exit(77)
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:
        fail("exception %r" % (e,))
