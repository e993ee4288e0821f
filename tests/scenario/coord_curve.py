#!/usr/bin/env python3
"""coord_curve.py: CURVE between the nodes and the coordinator (ctest
coord_curve). Keys made with `vspcctl keygen`; the coordinator runs with
--curve-key and --curve-clients listing n1's public key only.

 - n1 (its key listed, the coordinator's public key given) registers and
   is in sync; its console is listed.
 - n2 (a key of its own, not listed) is refused by the coordinator's ZAP
   handler (a log line naming its key, rate-limited): it never registers.
 - n3 (no CURVE at all) cannot talk to it either.

usage: coord_curve.py BUILD_DIR BASE_PORT   (ports BASE..BASE+15)
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, run  # noqa: E402

C = Cluster(sys.argv[1], int(sys.argv[2]), "coord_curve")
CTL = os.path.join(C.build, "vspcctl")


def keygen(name):
    path = os.path.join(C.logdir, name + ".key")
    r = subprocess.run([CTL, "keygen", path], capture_output=True, text=True,
                       timeout=10)
    if r.returncode != 0 or not r.stdout.startswith("public "):
        C.fail("vspcctl keygen %s: %s%s" % (path, r.stdout, r.stderr))
    if oct(os.stat(path).st_mode & 0o777) != "0o600":
        C.fail("%s is not mode 0600" % path)
    return path, r.stdout.split()[1]


def state(n):
    return C.metric(n, 'vspc_cluster_state{state="active"}')


def on_term(signum, frame):
    C.fail("signal %d" % signum)


def main():
    signal.signal(signal.SIGTERM, on_term)
    ckey, cpub = keygen("coordinator")
    k1, p1 = keygen("n1")
    k2, p2 = keygen("n2")
    clients = os.path.join(C.logdir, "clients.txt")
    with open(clients, "w") as f:
        f.write("# the nodes admitted\n%s\n" % p1)
    C.start("coordinator", [C.coord_bin, "--bind", C.coord_ep,
                            "--heartbeat-timeout", "3", "--curve-key", ckey,
                            "--curve-clients", clients])
    C.start_node("n1", ["--curve-key", k1, "--coordinator-key", cpub])
    C.start_node("n2", ["--curve-key", k2, "--coordinator-key", cpub])
    C.start_node("n3")
    C.wait_for("n1 registered and in sync over CURVE",
               lambda: state("n1") == 1, 15)
    C.hvsim("vm", "n1", ["--consoles", "1", "--connect-only", "--duration",
                         "600", "--uuid-base",
                         "0123456789abcdeffedcba9800590000"])
    C.wait_for("n1 lists its console", lambda: len(C.consoles("n1")) == 1, 10)
    time.sleep(3)  # n2 and n3 had every chance
    for n in ("n2", "n3"):
        if state(n) == 1 or C.metric(
                n, "vspc_coordinator_registrations_total") != 0:
            C.fail("%s registered with a CURVE coordinator" % n)
    log = open(os.path.join(C.logdir, "coordinator.log")).read()
    if "curve: refused a connection" not in log or p2 not in log:
        C.fail("the coordinator did not log n2's refused key %s" % p2)
    if "key %s is not" % p1 in log:
        C.fail("n1's listed key was refused")
    C.stop_all()
    print("%s: PASS (n1 listed: registered over CURVE; n2 unlisted: refused "
          "by ZAP, logged; n3 without CURVE: never registered)" % C.name)


if __name__ == "__main__":
    run(C, main)
