"""Load and observation: a client through HAProxy and a prober that asks every node directly.

Every record carries times from one clock, time.monotonic() of this process (the fault injector's clock too):
t_send is taken just before the request is written, t_recv just after the answer was read. Whatever the server
did, it did at some instant inside [t_send, t_recv].
"""
import http.client
import json
import threading
import time
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

from topology import BRIDGE_IP, HAPROXY_PORT, HTTP_PORT

# kind: "read" (client, leader-only GET through HAProxy), "write" (client, settings PUT through HAProxy),
#       "probe" (prober, POST /v1/leaderHealthCheck straight to a node)
# node: the node probed (probes) or "" (client: HAProxy picks); epoch: X-PMM-HA-Epoch or 0
Record = namedtuple("Record", "kind node t_send t_recv status epoch key seq")

WRITE_KEYS = 40  # the client rewrites lab.w0 .. lab.w39: the settings map stays small however long the lab runs


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.records = []

    def add(self, r):
        with self.lock:
            self.records.append(r)

    def window(self, t0, t1):
        """Records sent in [t0, t1), in send order."""
        with self.lock:
            out = [r for r in self.records if t0 <= r.t_send < t1]
        out.sort(key=lambda r: r.t_send)
        return out

    def prune(self, before):
        with self.lock:
            self.records = [r for r in self.records if r.t_send >= before]


class Conn(threading.local):
    """A keep-alive HTTP connection per thread, opened again after any failure."""

    def __init__(self, host, port, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.c = None

    def request(self, method, path, body=None, headers=None):
        """(status, epoch, body bytes); status -1 on a connection error or timeout."""
        if self.c is None:
            self.c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.c.request(method, path, body=body, headers=headers or {})
            r = self.c.getresponse()
            data = r.read()
            epoch = int(r.getheader("X-PMM-HA-Epoch") or 0)
            if r.getheader("Connection", "").lower() == "close":
                self.c.close()
                self.c = None
            return r.status, epoch, data
        except (OSError, http.client.HTTPException, ValueError):
            try:
                self.c.close()
            finally:
                self.c = None
            return -1, 0, b""


class Ticker(threading.Thread):
    """Calls fn every period seconds on a fixed schedule (late ticks are not made up in a burst)."""

    def __init__(self, period, fn, name):
        super().__init__(daemon=True, name=name)
        self.period, self.fn = period, fn
        self.stopped = threading.Event()

    def run(self):
        nxt = time.monotonic()
        while not self.stopped.is_set():
            self.fn()
            nxt += self.period
            delay = nxt - time.monotonic()
            if delay > 0:
                self.stopped.wait(delay)
            else:
                nxt = time.monotonic()

    def stop(self):
        self.stopped.set()


class Client:
    """Leader-only traffic through HAProxy at a steady rate, never waiting for one answer to send the next:
    reads of GET /v1/server/leaderHealthCheck (200 and X-PMM-HA-Epoch only from the leader) at read_rate per
    second, and settings writes PUT /v1/ha/settings/lab.wN at write_rate per second, each key written by one
    request at a time so that the last acknowledged value of a key is well defined."""

    def __init__(self, rec, read_rate=100, write_rate=10, timeout=10.0, run_id="lab"):
        self.rec = rec
        self.timeout = timeout
        self.run_id = run_id
        self.pool = ThreadPoolExecutor(max_workers=256, thread_name_prefix="client")
        self.conn = Conn(BRIDGE_IP, HAPROXY_PORT, timeout)
        self.seq = 0
        self.max_epoch = 0  # highest epoch a read through HAProxy was answered 200 with
        self.busy = set()
        self.lock = threading.Lock()
        self.acked = {}  # key -> (seq, version) of the last acknowledged write
        self.attempted = {}  # key -> set of seqs sent
        self.readers = Ticker(1.0 / read_rate, lambda: self.pool.submit(self.read), "client-reads")
        self.writers = Ticker(1.0 / write_rate, self.next_write, "client-writes")

    def start(self):
        self.readers.start()
        self.writers.start()

    def stop(self):
        self.readers.stop()
        self.writers.stop()
        self.pool.shutdown(wait=True)

    def read(self):
        t0 = time.monotonic()
        st, epoch, _ = self.conn.request("GET", "/v1/server/leaderHealthCheck")
        if st == 200 and epoch > self.max_epoch:
            self.max_epoch = epoch
        self.rec.add(Record("read", "", t0, time.monotonic(), st, epoch, "", 0))

    def next_write(self):
        with self.lock:
            self.seq += 1
            seq = self.seq
            key = f"lab.w{seq % WRITE_KEYS}"
            if key in self.busy:
                return
            self.busy.add(key)
            self.attempted.setdefault(key, set()).add(seq)
        self.pool.submit(self.write, key, seq)

    def write(self, key, seq):
        body = json.dumps({"seq": seq, "run": self.run_id}).encode()
        t0 = time.monotonic()
        st, epoch, data = self.conn.request("PUT", f"/v1/ha/settings/{key}", body,
                                            {"Content-Type": "application/json"})
        t1 = time.monotonic()
        with self.lock:
            self.busy.discard(key)
            if st == 200:
                version = json.loads(data).get("version", 0)
                prev = self.acked.get(key)
                if prev is None or prev[0] < seq:
                    self.acked[key] = (seq, version)
        self.rec.add(Record("write", "", t0, t1, st, epoch, key, seq))

    def snapshot(self):
        with self.lock:
            return dict(self.acked), {k: set(v) for k, v in self.attempted.items()}


class Prober:
    """Asks every node's leader health check directly (POST /v1/leaderHealthCheck, as HAProxy does) every period
    seconds, one thread per node, so that a node that hangs delays only its own probes.

    The probing threads run in a process of their own (prober_main), at real-time priority where the lab may set
    it (it runs as root): the prober is the instrument. In the lab's own process its threads shared the GIL with
    the client's, and on this 2-core host they stalled for 40 to 150 ms several times a run, every node's at once
    (bench/README.md, session 31). Records come back through a pipe and carry the machine's monotonic clock, which
    both processes read. realtime=False leaves the prober process at normal priority."""

    def __init__(self, rec, nodes, period=0.02, timeout=1.0, port=HTTP_PORT, realtime=True):
        self.rec = rec
        self.nodes, self.period, self.timeout, self.port, self.realtime = dict(nodes), period, timeout, port, realtime
        self.latest = {}  # node -> Record
        self.proc = None
        self.reader = None
        self.priority = "not started"

    def start(self):
        import multiprocessing
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        self.stop_event = ctx.Event()
        self.proc = ctx.Process(target=prober_main, name="lab-prober", daemon=True,
                                args=(child, self.stop_event, self.nodes, self.port, self.period, self.timeout,
                                      self.realtime))
        self.proc.start()
        child.close()
        self.priority = parent.recv()  # the child's first message: the priority it runs at
        self.reader = threading.Thread(target=self._read, args=(parent,), daemon=True, name="prober-reader")
        self.reader.start()

    def _read(self, conn):
        while True:
            try:
                t = conn.recv()
            except (EOFError, OSError):
                return
            r = Record("probe", t[0], t[1], t[2], t[3], t[4], "", 0)
            self.rec.add(r)
            self.latest[r.node] = r

    def stop(self):
        if self.proc:
            self.stop_event.set()
            self.proc.join(5)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5)
        if self.reader:
            self.reader.join(5)

    def leader(self):
        """(node, epoch) of the node whose latest probe answered 200, if exactly one did."""
        ok = [(n, r.epoch) for n, r in self.latest.items() if r.status == 200]
        return ok[0] if len(ok) == 1 else (None, 0)

    def max_epoch(self):
        return max((r.epoch for r in self.latest.values()), default=0)


def prober_main(conn, stop_event, nodes, port, period, timeout, realtime):
    """The prober process: a Ticker per node, each answer sent to the lab as (node, t_send, t_recv, status,
    epoch). Its first message says which priority it runs at."""
    import os
    priority = "normal"
    if realtime:
        try:
            # on Linux this sets the calling thread, and the threads started below inherit it
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
            priority = "real-time (SCHED_FIFO 10)"
        except (OSError, AttributeError) as e:
            priority = f"normal (real-time refused: {e})"
    conn.send(priority)
    lock = threading.Lock()

    def probe_fn(name, c):
        def probe():
            t0 = time.monotonic()
            st, epoch, _ = c.request("POST", "/v1/leaderHealthCheck")
            t1 = time.monotonic()
            with lock:
                conn.send((name, t0, t1, st, epoch))
        return probe

    tickers = [Ticker(period, probe_fn(name, Conn(ip, port, timeout)), f"probe-{name}") for name, ip in nodes.items()]
    for t in tickers:
        t.start()
    stop_event.wait()
    for t in tickers:
        t.stop()
    for t in tickers:
        t.join(timeout + 1)
    conn.close()
