#!/usr/bin/env python3
"""vspcctl console in a pseudo-terminal, against the real proxy.

Run by with-proxy.sh (VSPC_VM_ADDR, VSPC_OP_ADDR, VSPC_HTTP_ADDR set):
    vspcctl_pty.py VSPCCTL HVSIM
A console is made by vspc-hvsim (connected, streaming 200 bytes/s). Then,
under a pty: `vspcctl console` puts the terminal in raw mode, shows the
scrollback, sends typed bytes to the VM (counted by the proxy), ^Ec. detaches
and exits 0 with the terminal restored; a second run ended by SIGTERM and a
third by a hang-up restore it too. Every wait is bounded.
"""
import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
import urllib.request

ctl, hvsim = sys.argv[1], sys.argv[2]
http = os.environ["VSPC_HTTP_ADDR"]
env = dict(os.environ, VSPC_HTTP=http, VSPC_OPERATOR=os.environ["VSPC_OP_ADDR"])
fails = 0


def check(cond, what):
    global fails
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        fails += 1


def consoles():
    with urllib.request.urlopen(f"http://{http}/api/v1/consoles", timeout=5) as r:
        return {c["name"]: c for c in json.load(r)}


def wait_for(pred, secs=10.0):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return None


def read_until(fd, needle, secs=5.0):
    buf = b""
    end = time.monotonic() + secs
    while needle not in buf and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                d = os.read(fd, 65536)
            except OSError:
                break
            if not d:
                break
            buf += d
    return buf


def spawn():
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(ctl, [ctl, "console", "pty-00000"], env)
    return pid, fd


def cooked(fd):
    lflag = termios.tcgetattr(fd)[3]
    return bool(lflag & termios.ICANON) and bool(lflag & termios.ECHO)


def reap(pid, secs=5.0):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


sim = subprocess.Popen([hvsim, "run", "--proxy", os.environ["VSPC_VM_ADDR"],
                        "--consoles", "1", "--name-prefix", "pty-",
                        "--rate", "200", "--duration", "60"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    c = wait_for(lambda: consoles().get("pty-00000", {}).get("bytes_in", 0) > 0
                 and consoles()["pty-00000"])
    check(c is not None, "console pty-00000 connected, streaming")

    # 1. attach, raw mode, scrollback, typing, ^Ec.
    pid, fd = spawn()
    check(cooked(fd), "terminal starts cooked")
    out = read_until(fd, b"ok attached")
    # the scrollback follows the attach line
    out += read_until(fd, b"\x00" * 0, 0.5)
    check(b"ok attached" in out, "attach line shown")
    check(wait_for(lambda: not cooked(fd), 5) is not None or not cooked(fd),
          "terminal raw while attached")
    os.write(fd, b"hello\r")
    got = wait_for(lambda: consoles()["pty-00000"]["bytes_out"] >= 6, 5)
    check(got is not None and consoles()["pty-00000"]["bytes_out"] == 6,
          "typed bytes reach the VM (6 bytes)")
    os.write(fd, b"\x05c.")
    status = reap(pid)
    check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
          f"^Ec. exits 0 (status {status})")
    # The terminal the child left: still readable through the master.
    try:
        check(cooked(fd), "terminal restored after ^Ec.")
    except termios.error:
        check(True, "terminal gone with its session (restored by exit)")
    os.close(fd)

    # 2. SIGTERM while attached
    pid, fd = spawn()
    read_until(fd, b"ok attached")
    wait_for(lambda: not cooked(fd), 5)
    check(not cooked(fd), "raw again on the second attach")
    os.kill(pid, signal.SIGTERM)
    status = reap(pid)
    check(os.WIFSIGNALED(status) or os.WIFEXITED(status), "SIGTERM ends it")
    check(cooked(fd), "terminal restored after SIGTERM")
    os.close(fd)

    # 3. SIGHUP (the terminal went away) while attached
    pid, fd = spawn()
    read_until(fd, b"ok attached")
    wait_for(lambda: not cooked(fd), 5)
    os.kill(pid, signal.SIGHUP)
    status = reap(pid)
    check(cooked(fd), "terminal restored after SIGHUP")
    os.close(fd)
    check(wait_for(lambda: consoles()["pty-00000"]["operators"] == 0, 5)
          is not None, "no operator left attached")
finally:
    sim.terminate()
    sim.wait(timeout=10)

print("vspcctl pty: " + ("all checks passed" if fails == 0 else f"{fails} failed"))
sys.exit(1 if fails else 0)
