"""clusterlib.py: what the cluster scenarios share (cluster_dir.py,
cluster_attach.py): starting and stopping the real daemons as processes
on 127.0.0.1, bounded waits, the HTTP API, metrics, and an operator-port
client that speaks just enough telnet.

Only processes a scenario started are signalled; every wait is bounded.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


class Cluster:
    """A coordinator and nodes n1..nN; node k uses ports BASE+4k..BASE+4k+3
    (VM, operator, HTTP, peer) and the coordinator BASE (and BASE+1)."""

    def __init__(self, build, base, name, n_nodes=3):
        self.build, self.base, self.name = build, base, name
        self.coord_bin = build + "/coordinator/vspc-coordinator"
        self.proxy_bin = build + "/vspc-proxy"
        self.hvsim_bin = build + "/vspc-hvsim"
        self.procs = []
        self.logdir = tempfile.mkdtemp(prefix=name + ".")
        self.coord_ep = "tcp://127.0.0.1:%d" % base
        self.coord_eps = [self.coord_ep]  # a pair: both, in the order given
        self.store_args = None  # instead of --coordinator (--etcd ...)
        self.nodes = ["n%d" % (i + 1) for i in range(n_nodes)]
        self.vm = {n: base + 4 + i * 4 for i, n in enumerate(self.nodes)}
        self.oper = {n: self.vm[n] + 1 for n in self.nodes}
        self.http_port = {n: self.vm[n] + 2 for n in self.nodes}
        self.peer = {n: self.vm[n] + 3 for n in self.nodes}
        self.node_procs = {}

    def start(self, name, argv):
        log = open(os.path.join(self.logdir, name + ".log"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((name, p))
        return p

    @staticmethod
    def stop(p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self):
        for _, p in self.procs:
            self.stop(p)

    def fail(self, msg):
        print("%s: FAIL: %s" % (self.name, msg))
        self.stop_all()
        for name, _ in self.procs:
            path = os.path.join(self.logdir, name + ".log")
            with open(path, errors="replace") as f:
                lines = f.readlines()
            print("---- %s (last 15 lines) ----" % name)
            sys.stdout.write("".join(lines[-15:]))
        sys.exit(1)

    def wait_for(self, what, cond, timeout=10.0):
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
        self.fail("%s: not within %.0f s (last: %r)" % (what, timeout, last))

    def start_coordinator(self):
        return self.start("coordinator", [self.coord_bin, "--bind",
                                          self.coord_ep,
                                          "--heartbeat-timeout", "3"])

    def start_node(self, n, extra=()):
        i = self.nodes.index(n)
        p = self.start(n, [self.proxy_bin, "--node-id", n, "--node-index",
                           str(i + 1),
                           "--vm-listen", "127.0.0.1:%d" % self.vm[n],
                           "--operator-listen", "127.0.0.1:%d" % self.oper[n],
                           "--http-listen",
                           "127.0.0.1:%d" % self.http_port[n],
                           "--peer-listen", "127.0.0.1:%d" % self.peer[n]] +
                          (self.store_args if self.store_args is not None
                           else [x for ep in self.coord_eps
                                 for x in ("--coordinator", ep)]) +
                          list(extra))
        self.node_procs[n] = p
        return p

    def http(self, node, path):
        url = "http://127.0.0.1:%d%s" % (self.http_port[node], path)
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().decode()

    def consoles(self, node):
        return json.loads(self.http(node, "/api/v1/consoles"))

    def owners(self):
        """console id -> owner as every node lists them; None if the nodes
        differ. A node listing a console twice fails the scenario."""
        views = {}
        for n in self.nodes:
            v = {}
            for c in self.consoles(n):
                if c["id"] in v:
                    self.fail("%s lists console %s twice" % (n, c["id"]))
                v[c["id"]] = c.get("node")
            views[n] = v
        first = views[self.nodes[0]]
        return first if all(v == first for v in views.values()) else None

    def metric(self, node, name):
        for line in self.http(node, "/metrics").splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def hvsim(self, name, node, args):
        return self.start(name, [self.hvsim_bin, "run", "--proxy",
                                 "127.0.0.1:%d" % self.vm[node],
                                 "--log-level", "error"] + list(args))


class Etcd:
    """An etcd v3 cluster of n members on loopback, started as processes of
    the cluster's (member i: client port base+i, peer port base+n+i, data
    in the cluster's log directory, so a member killed can be restarted on
    its data)."""

    def __init__(self, cluster, base, n=3):
        self.C, self.n = cluster, n
        self.bin = shutil.which("etcd")
        self.ctl = shutil.which("etcdctl")
        self.names = ["etcd%d" % i for i in range(n)]
        self.urls = ["http://127.0.0.1:%d" % (base + i) for i in range(n)]
        self.peers = ["http://127.0.0.1:%d" % (base + n + i)
                      for i in range(n)]
        self.procs = {}
        self.starts = [0] * n

    def start(self, i):
        self.starts[i] += 1
        ic = ",".join("%s=%s" % (a, b) for a, b in zip(self.names,
                                                        self.peers))
        p = self.C.start("%s.%d" % (self.names[i], self.starts[i]), [
            self.bin, "--name", self.names[i], "--data-dir",
            os.path.join(self.C.logdir, self.names[i] + ".data"),
            "--listen-client-urls", self.urls[i], "--advertise-client-urls",
            self.urls[i], "--listen-peer-urls", self.peers[i],
            "--initial-advertise-peer-urls", self.peers[i],
            "--initial-cluster", ic, "--initial-cluster-token", self.C.name,
            "--initial-cluster-state", "new", "--heartbeat-interval", "100",
            "--election-timeout", "1000", "--log-level", "warn"])
        self.procs[i] = p
        return p

    def healthy(self, i):
        try:
            with urllib.request.urlopen(self.urls[i] + "/health",
                                        timeout=2) as r:
                return json.loads(r.read().decode()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def start_all(self):
        for i in range(self.n):
            self.start(i)
        self.C.wait_for("etcd healthy", lambda: all(
            self.healthy(i) for i in range(self.n)), 30)

    def get_prefix(self, prefix):
        """key -> value under prefix, read with etcdctl from a healthy
        member (the store's truth)."""
        for url in self.urls:
            r = subprocess.run([self.ctl, "--endpoints", url, "get",
                                "--prefix", prefix], capture_output=True,
                               text=True, timeout=10)
            if r.returncode == 0:
                lines = r.stdout.splitlines()
                return dict(zip(lines[0::2], lines[1::2]))
        self.C.fail("etcdctl get %s: no member answered" % prefix)


def run(cluster, main):
    """Run a scenario's main(); any surprise stops what it started."""
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:
        cluster.fail("exception %r" % (e,))


def uuid(a, b):
    """A VC UUID (32 hex digits) from two small numbers."""
    return "0123456789abcdeffedcba98%04d%04d" % (a, b)


class Operator:
    """An operator-port client: plain telnet (WONT 233), IAC undone."""

    def __init__(self, port, timeout=5.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.sendall(b"\xff\xfc\xe9")  # WONT 233: not VMware's client
        self.buf = b""
        self.raw = b""
        banner = self.read_until(b"vspc> ")
        # "... notices on this session read [vspc MARK: ...]"
        m = re.search(rb"read \[vspc ([A-Z0-9]+): \.\.\.\]", banner)
        if not m:
            raise OSError("no notice marker in the banner: %r" % banner)
        self.mark = m.group(1)

    def notice(self, text=b""):
        """The head of this session's notice with text: b"[vspc MARK: ..."."""
        return b"[vspc " + self.mark + b": " + text

    def _feed(self, data):
        """Telnet: IAC IAC is 0xFF; commands and subnegotiations go."""
        self.raw += data
        out = bytearray()
        i, r = 0, self.raw
        while i < len(r):
            if r[i] != 0xFF:
                out.append(r[i])
                i += 1
                continue
            if i + 1 >= len(r):
                break
            c = r[i + 1]
            if c == 0xFF:
                out.append(0xFF)
                i += 2
            elif c in (0xFB, 0xFC, 0xFD, 0xFE):
                if i + 2 >= len(r):
                    break
                i += 3
            elif c == 0xFA:
                end = r.find(b"\xff\xf0", i + 2)
                if end < 0:
                    break
                i = end + 2
            else:
                i += 2
        self.raw = r[i:]
        self.buf += bytes(out)

    def read_until(self, token, timeout=10.0):
        deadline = time.monotonic() + timeout
        while token not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OSError("no %r within %.0f s (got %r)" %
                              (token, timeout, self.buf[-200:]))
            self.s.settimeout(left)
            data = self.s.recv(65536)
            if not data:
                raise OSError("closed before %r (got %r)" %
                              (token, self.buf[-200:]))
            self._feed(data)
        k = self.buf.index(token) + len(token)
        head, self.buf = self.buf[:k], self.buf[k:]
        return head

    def read_idle(self, idle=0.5, limit=1 << 22):
        """Everything that arrives until nothing has come for `idle` s."""
        while len(self.buf) < limit:
            self.s.settimeout(idle)
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            self._feed(data)
        out, self.buf = self.buf, b""
        return out

    def read_for(self, secs):
        """Everything that arrives within secs (for a console that keeps
        printing, where read_idle would wait for it to stop)."""
        deadline = time.monotonic() + secs
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.s.settimeout(left)
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            self._feed(data)
        out, self.buf = self.buf, b""
        return out

    def send(self, data):
        self.s.sendall(data)

    def attach(self, key, mode=""):
        """attach; returns the reply line ("ok attached ..." or "error")."""
        self.send(("attach %s %s\r\n" % (key, mode)).encode())
        while True:
            line = self.read_until(b"\r\n").strip()
            if line.startswith(b"vspc> "):
                line = line[6:]
            if line.startswith(b"ok ") or line.startswith(b"error"):
                return line.decode(errors="replace")

    def close(self):
        self.s.close()


class Relay:
    """A TCP relay on 127.0.0.1:port to target that can be cut and healed."""

    def __init__(self, port, target):
        self.port, self.target = port, target
        self.lock = threading.Lock()
        self.socks = []
        self.lsock = None
        self.up = False

    def _pump(self, a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass

    def _accept(self, lsock):
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            try:
                t = socket.create_connection(("127.0.0.1", self.target), 2)
            except OSError:
                c.close()
                continue
            with self.lock:
                if not self.up:
                    c.close()
                    t.close()
                    return
                self.socks += [c, t]
            for x, y in ((c, t), (t, c)):
                threading.Thread(target=self._pump, args=(x, y),
                                 daemon=True).start()

    def heal(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(8)
        with self.lock:
            self.lsock, self.up = s, True
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def cut(self):
        with self.lock:
            self.up = False
            socks, self.socks = self.socks, []
            ls, self.lsock = self.lsock, None
        for s in socks + ([ls] if ls else []):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


# ---- a fake hypervisor (ctl_admin, remote_break) ---------------------------

IAC, DONT, DO, WONT, WILL, SB, SE, BRK = 255, 254, 253, 252, 251, 250, 240, 243
EXT = 232


class FakeHV(threading.Thread):
    """One VM's serial port: identifies itself, keeps what it receives
    (data, and how many IAC BRK)."""

    def __init__(self, uuid, name, port, service=b"Svspc"):
        super().__init__(daemon=True)
        self.uuid, self.name = uuid, name
        self.service = service if isinstance(service, bytes) else service.encode()
        self.data = bytearray()
        self.brk = 0
        self.lock = threading.Lock()
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.s.settimeout(None)
        self.s.sendall(bytes([IAC, WILL, EXT]))
        self.start()

    def sb(self, sub, payload=b""):
        p = bytes([sub]) + payload
        self.s.sendall(bytes([IAC, SB, EXT]) + p.replace(b"\xff", b"\xff\xff")
                       + bytes([IAC, SE]))

    def on_sb(self, opt, p):
        if opt != EXT or not p:
            return
        if p[0] == 0x51:  # GET-VM-VC-UUID
            h = self.uuid
            text = " ".join(h[i:i + 2] for i in range(0, 16, 2)) + "-" + \
                " ".join(h[i:i + 2] for i in range(16, 32, 2))
            self.sb(0x50, text.encode())
        elif p[0] == 0x53:  # GET-VM-NAME
            self.sb(0x52, self.name.encode())

    def on_neg(self, verb, opt):
        if verb == DO and opt == EXT:
            self.sb(0x00, bytes([0, 1, 2, 3, 0x28, 0x29, 0x2B, 0x2C, 0x2D,
                                 0x2E, 0x30, 0x46, 0x47, 0x49, 0x50, 0x51,
                                 0x52, 0x53]))
            self.sb(0x46, self.service)  # DO-PROXY
        elif verb == DO and opt in (0, 3):
            self.s.sendall(bytes([IAC, WILL, opt]))
        elif verb == WILL and opt in (0, 3):
            self.s.sendall(bytes([IAC, DO, opt]))
        elif verb == DO and opt != EXT:
            self.s.sendall(bytes([IAC, WONT, opt]))
        elif verb == WILL:
            self.s.sendall(bytes([IAC, DONT, opt]))

    def run(self):
        st, verb, sbopt, sbuf = "data", 0, 0, bytearray()
        while True:
            try:
                chunk = self.s.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            for b in chunk:
                if st == "data":
                    if b == IAC:
                        st = "iac"
                    else:
                        with self.lock:
                            self.data.append(b)
                elif st == "iac":
                    if b == IAC:
                        with self.lock:
                            self.data.append(b)
                        st = "data"
                    elif b in (DO, DONT, WILL, WONT):
                        verb, st = b, "opt"
                    elif b == SB:
                        st, sbuf = "sbopt", bytearray()
                    else:
                        if b == BRK:
                            with self.lock:
                                self.brk += 1
                        st = "data"
                elif st == "opt":
                    self.on_neg(verb, b)
                    st = "data"
                elif st == "sbopt":
                    sbopt, st = b, "sb"
                elif st == "sb":
                    if b == IAC:
                        st = "sbiac"
                    else:
                        sbuf.append(b)
                elif st == "sbiac":
                    if b == SE:
                        self.on_sb(sbopt, bytes(sbuf))
                        st = "data"
                    else:
                        sbuf.append(b)
                        st = "sb"

    def take(self):
        with self.lock:
            d, self.data = bytes(self.data), bytearray()
            return d

    def wait_brk(self, n, secs=5.0):
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            with self.lock:
                if self.brk >= n:
                    return True
            time.sleep(0.02)
        return False

    def wait_data(self, want, secs=5.0):
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            with self.lock:
                if want in self.data:
                    return True
            time.sleep(0.02)
        return False

    def say(self, text):
        self.s.sendall(text)
