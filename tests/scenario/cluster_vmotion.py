#!/usr/bin/env python3
"""cluster_vmotion.py: vMotion across the nodes of a cluster, real
processes on 127.0.0.1 (ctest cluster_vmotion).

A vspc-coordinator and three vspc-proxy nodes (node indexes 1, 2, 3; n2
with --log-dir). A VM's destination host connection lands on another node
than its source: the console moves there and its stream continues at the
next offset. vspc-hvsim checks every byte both ways: every operator
verifies the VM output from its attach offset on, and the VM checks each
operator's input stream separately and exactly (tagged per operator, see
tests/hvsim/pattern.h). Checked, each bounded:
  1. one console bounced n1 -> n2 -> n3 -> n1 ... 200 times while it
     streams and operators on n1 and n3 type: hvsim exits 0, all 200
     vMotions completed, the directory names the last node as the owner;
     n2's log of the console (--log-dir) holds the VM stream from offset 0
     to the end, no gap, no duplicate (markers aside);
  2. the PROTOCOL.md section 10 host behaviours with the destination on
     another node (source n1, --vmotion-dest n2: the first vMotion of each
     console crosses; then n2 and n1 in turn: every one crosses), operators
     on n1 and n3: ABORT after GOAHEAD; ok and abort mixed with 200-byte
     sequences and COMPLETE before the source FIN; the destination 300 ms
     after GOAHEAD and the source FIN 50 ms before COMPLETE; 1-byte
     sequences;
  3. step 1 with the coordinator stopped before the vMotions begin (the
     console listed and its operators attached first): 20 bounces;
  4. the write lock follows its holder: an operator on n3 holding it
     (`excl`) and one on n2 read-only because of it (`rw`), the console
     moved n1 -> n2 -> n3: both followed it without reattaching, the holder
     still read-write, the other read-only, and a third operator asking
     for the lock on n1 is refused.

usage: cluster_vmotion.py BUILD_DIR BASE_PORT   (ports BASE..BASE+15)
"""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, Operator, run, uuid  # noqa: E402

C = Cluster(sys.argv[1], int(sys.argv[2]), "cluster_vmotion")
N = C.nodes
LOGDIR = os.path.join(C.logdir, "logs-n2")
MARKER = re.compile(rb"\r\n\[vspc \d{4}-\d\d-\d\dT[0-9:.]+Z [^\r\n]*\]\r\n")
SEED = 1  # hvsim's default --seed
M64 = (1 << 64) - 1


def pat_stream(seed, n):
    """tests/hvsim/pattern.h: bytes 0..n-1 of stream `seed`."""
    out = bytearray()
    for g in range((n + 7) // 8):
        z = (seed * 0x9e3779b97f4a7c15 + g + 1) & M64
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
        out += (z ^ (z >> 31)).to_bytes(8, "little")
    return bytes(out[:n])


def seed_vm(seed, k):
    """tests/hvsim/seed.h"""
    return seed * 1000003 + k


def vm(n):
    return "127.0.0.1:%d" % C.vm[n]


def op(n):
    return "127.0.0.1:%d" % C.oper[n]


def summary(name):
    """hvsim's summary line as a dict (its log holds stdout and stderr)."""
    with open(os.path.join(C.logdir, name + ".log"), errors="replace") as f:
        out = f.read()
    for line in out.splitlines():
        if line.startswith("hvsim: result="):
            return dict(kv.split("=", 1) for kv in line.split()[1:]), out
    return None, out


def wait_exit(name, p, timeout, vmotions=None):
    """hvsim exits 0 with result=PASS (and vmotions_ok as given); its first
    error fails the step at once (hvsim itself would go on to the end)."""
    deadline = time.monotonic() + timeout
    while p.poll() is None:
        _, out = summary(name)
        if "hvsim: error:" in out:
            C.fail("%s: %s" % (name, out[-1500:]))
        if time.monotonic() > deadline:
            C.fail("%s: still running after %.0f s" % (name, timeout))
        time.sleep(0.2)
    s, out = summary(name)
    if p.returncode != 0 or s is None or s.get("result") != "PASS":
        C.fail("%s: exit %d: %s" % (name, p.returncode, out[-1500:]))
    if vmotions is not None and int(s["vmotions_ok"]) != vmotions:
        C.fail("%s: %s vMotions completed, want %d" %
               (name, s["vmotions_ok"], vmotions))
    return s


def listed_everywhere(cid):
    return all(cid in {c["id"] for c in C.consoles(n)} for n in N)


def owner(node, cid):
    for c in C.consoles(node):
        if c["id"] == cid:
            return c.get("node")
    return None


def bounce_args(cid, prefix, vmotions):
    return ["--consoles", "1", "--uuid-base", cid, "--name-prefix", prefix,
            "--vmotion-dest", vm("n1"), "--vmotion-dest", vm("n2"),
            "--vmotion-dest", vm("n3"), "--vmotions", str(vmotions),
            "--vmotion-interval", "30", "--rate", "20000",
            "--operator", op("n1"), "--operator", op("n3"),
            "--operator-rate", "3000", "--drain-timeout", "30"]


def check_ops(name, s):
    """Both operators verified everything, each its own input."""
    sent = int(s["vm_bytes_sent"])
    for k in (0, 1):
        got = int(s.get("op%d_vm_bytes_verified" % k, -1))
        typed = int(s.get("op%d_bytes_sent" % k, -1))
        ver = int(s.get("op%d_bytes_verified_by_vms" % k, -2))
        if got != sent or typed <= 0 or ver != typed:
            C.fail("%s: operator %d verified %d of %d VM bytes, the VM %d of "
                   "its %d" % (name, k, got, sent, ver, typed))
    return sent


def log_bytes(cid):
    path = os.path.join(LOGDIR, cid + ".log")
    with open(path, "rb") as f:
        return MARKER.sub(b"", f.read())


def first_diff(a, b):
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def check_markers(cid):
    """The log's vMotion markers name both nodes of every move: the old
    owner's "vMotion complete: node n1 (host ...) -> node n2" (in the
    stream at the handover offset, where every reader of the old owner gets
    it), and for the moves to n2 itself n2's own "vMotion from node n1
    (host ...) complete: ... on node n2"."""
    with open(os.path.join(LOGDIR, cid + ".log"), "rb") as f:
        marks = [m.group(0) for m in MARKER.finditer(f.read())]
    moves = [re.search(rb"vMotion complete: node (n\d) \(host [^)]*\) -> "
                       rb"node (n\d)", m) for m in marks]
    moves = [(m.group(1).decode(), m.group(2).decode()) for m in moves if m]
    took = [m for m in marks if re.search(
        rb"vMotion from node n\d \(host [^)]*\) complete: .* on node n2", m)]
    want = {("n1", "n2"), ("n2", "n3"), ("n3", "n1")}
    # A log reader that is behind when the old owner hands over resumes
    # from the new owner's scrollback: its bytes are all there, but the old
    # owner's marker at the handover offset can be missed (known gap, see
    # the closing note); under CI load a few are.
    if len(moves) < 180 or len(moves) > 200 or set(moves) != want or \
            len(took) < 50:
        C.fail("1: n2's log: %d vMotion markers naming both nodes (want 180-200: "
               "%s), %d of n2 taking the console over" %
               (len(moves), sorted(set(moves)), len(took)))


def check_log(cid, sent):
    """n2's log of console 0 of the run: the whole VM stream, once."""
    want = pat_stream(seed_vm(SEED, 0), sent)
    deadline = time.monotonic() + 15
    got = b""
    while time.monotonic() < deadline:
        try:
            got = log_bytes(cid)
        except OSError:
            got = b""
        if got == want:
            check_markers(cid)
            return
        if len(got) > len(want) or (got and not want.startswith(got)):
            break
        time.sleep(0.2)
    k = first_diff(got, want)
    where = ""
    if k < len(got):
        # Where do the log's bytes at k come from in the stream?
        probe = got[k:k + 16]
        at = want.find(probe) if len(probe) == 16 else -1
        where = "; the log's bytes there are the stream's at offset %d" % at \
            if at >= 0 else "; not from the stream"
    C.fail("1: n2's log of %s: %d bytes (markers aside), the VM sent %d; "
           "first difference at offset %d%s" % (cid, len(got), sent, k, where))


def step1():
    cid = uuid(1, 0)
    name = "bounce200"
    p = C.hvsim(name, "n1", bounce_args(cid, "bounce", 200))
    s = wait_exit(name, p, 150, 200)
    sent = check_ops(name, s)
    print("cluster_vmotion: 1. 200 vMotions n1 -> n2 -> n3 -> n1 ...: %d VM "
          "bytes verified by the operators on n1 and n3, their input (%s + "
          "%s bytes) by the VM, each exactly" %
          (sent, s["op0_bytes_sent"], s["op1_bytes_sent"]))
    # vMotion k lands on N[k % 3]: the 200th on n3.
    C.wait_for("1: every node names n3 as the owner after 200 bounces",
               lambda: all(owner(n, cid) == "n3" for n in N), 10)
    print("cluster_vmotion: 1. the directory names n3, where the 200th "
          "vMotion went, on every node")
    check_log(cid, sent)
    print("cluster_vmotion: 1. n2's console log (--log-dir) holds the VM "
          "stream 0..%d, no gap, no duplicate, and markers naming both "
          "nodes for the vMotions" % sent)


FIRST_S = 12  # hvsim --vmotion-first: the coordinator is gone by then


def step3(coord):
    cid = uuid(2, 0)
    name = "bounce-nocoord"
    args = bounce_args(cid, "nocoord", 20) + [
        "--vmotion-first", str(FIRST_S * 1000)]
    t0 = time.monotonic()
    p = C.hvsim(name, "n1", args)
    C.wait_for("3: console listed everywhere",
               lambda: listed_everywhere(cid), 10)
    C.wait_for("3: operators attached on n1 and n3",
               lambda: C.metric("n1", "vspc_operators") >= 1 and
               C.metric("n3", "vspc_peer_remote_attachments") >= 1, 10)
    C.stop(coord)
    C.wait_for("3: nodes see the coordinator away",
               lambda: all(C.metric(n, "vspc_coordinator_away") == 1
                           for n in N), 15)
    if p.poll() is not None:
        C.fail("3: hvsim ended before the vMotions: %s" % summary(name)[1])
    took = time.monotonic() - t0
    done = json.loads(C.http("n1", "/api/v1/vmotions?console=%s" % cid))
    if took > FIRST_S - 1 or (isinstance(done, list) and done):
        C.fail("3: the coordinator was seen away only %.1f s after the start "
               "(vMotions begin at %d s): raise FIRST_S" % (took, FIRST_S))
    s = wait_exit(name, p, 60 + FIRST_S, 20)
    sent = check_ops(name, s)
    print("cluster_vmotion: 3. coordinator stopped (every node saw it away "
          "%.1f s after the start, before the first vMotion): 20 vMotions "
          "among the three nodes, %d VM bytes and both operators' input "
          "exact" % (took, sent))


VARIANTS = [
    ("abort", "ABORT 50 ms after GOAHEAD",
     ["--vmotion-mode", "abort", "--abort-delay", "50", "--vmotions", "4"]),
    ("mixed", "ok and abort mixed, 200-byte sequences, COMPLETE first",
     ["--vmotion-mode", "mixed", "--seq-len", "200", "--complete-first",
      "--vmotions", "8"]),
    ("slowpeer", "destination 300 ms after GOAHEAD, source FIN 50 ms "
     "before COMPLETE",
     ["--peer-delay", "300", "--fin-lead", "50", "--vmotions", "3"]),
    ("seq1", "1-byte sequences", ["--seq-len", "1", "--vmotions", "6"]),
]


def step2():
    for i, (tag, what, extra) in enumerate(VARIANTS):
        for j, dests in enumerate(([vm("n2")], [vm("n1"), vm("n2")])):
            name = "v-%s-%d" % (tag, j)
            base = uuid(3, i * 100 + j * 10)  # consoles base .. base+2
            args = ["--consoles", "3", "--uuid-base", base,
                    "--name-prefix", "%s%d-" % (tag, j), "--rate", "5000",
                    "--operator", op("n1"), "--operator", op("n3"),
                    "--operator-rate", "3000", "--vmotion-interval", "50",
                    "--drain-timeout", "30"] + extra
            for d in dests:
                args += ["--vmotion-dest", d]
            s = wait_exit(name, C.hvsim(name, "n1", args), 60)
            check_ops(name, s)
            print("cluster_vmotion: 2. %s, source n1, destination %s: "
                  "%s ok, %s aborted, every byte exact" %
                  (what, "n2" if j == 0 else "n2 and n1 in turn",
                   s["vmotions_ok"], s["vmotions_aborted"]))


def step4():
    cid = uuid(4, 0)
    name = "locks"
    p = C.hvsim(name, "n1", [
        "--consoles", "1", "--uuid-base", cid, "--name-prefix", "locks",
        "--text", "--rate", "2000", "--vmotion-dest", vm("n2"),
        "--vmotion-dest", vm("n3"), "--vmotions", "2", "--vmotion-first",
        "3000", "--vmotion-interval", "1000"])
    C.wait_for("4: console listed everywhere",
               lambda: listed_everywhere(cid), 10)
    holder = Operator(C.oper["n3"])
    got = holder.attach(cid, "excl")
    if " rw " not in got:
        C.fail("4: the write lock on n3: %r" % got)
    other = Operator(C.oper["n2"])
    got = other.attach(cid, "rw")
    if " ro " not in got:
        C.fail("4: rw while n3 holds the write lock: %r, want ro" % got)
    wait_exit(name, p, 30, 2)
    outs = {"holder": holder.read_idle(1.0), "other": other.read_idle(1.0)}
    for who, mode in (("holder", "rw"), ("other", "ro")):
        want = ("console now on node n3 (epoch ").encode()
        tail = outs[who][outs[who].rfind(want):]
        if want not in outs[who] or (", %s, " % mode).encode() not in tail:
            C.fail("4: the %s did not follow to n3 as %s: %r" %
                   (who, mode, outs[who][-400:]))
    third = Operator(C.oper["n1"])
    got = third.attach(cid, "excl")
    if not got.startswith("error") or "write lock" not in got:
        C.fail("4: the lock on n3 after two vMotions: %r, want refused" % got)
    for o in (holder, other, third):
        o.close()
    print("cluster_vmotion: 4. the write lock followed its holder n1 -> n2 "
          "-> n3: the holder (on n3) still rw, the other operator (on n2) "
          "still ro, both without reattaching; `excl` on n1 refused")


def main():
    coord = C.start_coordinator()
    os.makedirs(LOGDIR)
    for n in N:
        C.start_node(n, ["--log-dir", LOGDIR] if n == "n2" else [])
    for n in N:
        C.wait_for("node %s HTTP" % n, lambda n=n: C.consoles(n) == [])
    C.wait_for("peer links up", lambda: all(
        C.metric(n, "vspc_peer_links_up") == len(N) - 1 for n in N), 15)
    step1()
    step2()
    step4()
    step3(coord)
    C.stop_all()
    print("cluster_vmotion: PASS")


if __name__ == "__main__":
    run(C, main)
