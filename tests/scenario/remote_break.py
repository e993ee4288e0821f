#!/usr/bin/env python3
"""remote_break.py: ^Ecl on a console another node holds (ctest
remote_break). A coordinator and two nodes; a fake hypervisor (counting
the IAC BRK it receives) on n1; operators on n2.

 1. An operator on n2 attached rw: ^Ecl travels the peer link (a Control
    BREAK) and reaches the hypervisor as one IAC BRK, after the bytes it
    typed before; the operators are told in-band.
 2. A spectator on n2: refused in-band by the owner; no break is sent.

usage: remote_break.py BUILD_DIR BASE_PORT   (ports BASE..BASE+11)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterlib import Cluster, FakeHV, Operator, run  # noqa: E402

C = Cluster(sys.argv[1], int(sys.argv[2]), "remote_break", n_nodes=2)
CID = "0123456789abcdeffedcba9800800000"


def expect(cond, what):
    if not cond:
        C.fail(what)
    print("ok: " + what)


def main():
    C.start_coordinator()
    for n in C.nodes:
        C.start_node(n)
    for n in C.nodes:
        C.wait_for(n + " up", lambda: C.http(n, "/healthz"))
    hv = FakeHV(CID, "brk-1", C.vm["n1"])
    C.wait_for("the console on n2's list", lambda: CID in {
        c["id"] for c in C.consoles("n2")})
    a = Operator(C.oper["n2"])
    r = a.attach("brk-1", "rw")
    expect(r.startswith("ok attached %s rw" % CID), "1. n2 attaches rw: " + r)
    a.send(b"before\x05cl")
    expect(hv.wait_brk(1), "1. ^Ecl on n2 reaches the hypervisor on n1")
    expect(hv.wait_data(b"before") and hv.take() == b"before",
           "1. the bytes typed before it arrived first, once")
    a.read_until(b"sent a break]")
    print("ok: 1. the operator is told in-band")

    s = Operator(C.oper["n2"])
    r = s.attach(CID, "ro")
    expect(r.startswith("ok attached %s ro" % CID), "2. a spectator: " + r)
    s.send(b"\x05cl")
    s.read_until(b"break: you are read-only")
    expect(not hv.wait_brk(2, 0.5), "2. its break is refused, none sent")
    C.stop_all()
    print("remote_break: all checks passed")


run(C, main)
