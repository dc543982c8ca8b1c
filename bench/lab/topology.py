"""The lab's hosts and services: three network namespaces on a bridge, PostgreSQL and HAProxy on the bridge side,
one pmm-ha node per namespace started through deploy/docker/entrypoint.sh, and the network faults (iptables in a
namespace, delay and loss). Everything is found again by fixed names and PID files, so a crashed earlier run is
cleaned up at the next start; processes are only ever signalled by the PIDs this lab started.
"""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request

# One private /24 of the lab's own; nothing here is routed anywhere else.
SUBNET = "10.199.77"
BRIDGE = "pmmlab0"
BRIDGE_IP = f"{SUBNET}.1"
NODES = {  # name -> (namespace, address, host-side veth)
    "pmm-a": ("pmmlab-a", f"{SUBNET}.11", "pmmlab-a-h"),
    "pmm-b": ("pmmlab-b", f"{SUBNET}.12", "pmmlab-b-h"),
    "pmm-c": ("pmmlab-c", f"{SUBNET}.13", "pmmlab-c-h"),
}
NS_IFACE = "eth0"  # the node's end of its veth, inside its namespace
HTTP_PORT = 8080
PG_PORT = 25432  # the lab's ports stay below the ephemeral range (32768-60999), so no client socket holds one
HAPROXY_PORT = 80
def _pg_bin():
    if os.environ.get("PMM_HA_PG_BIN"):
        return os.environ["PMM_HA_PG_BIN"]
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(re.sub(r"\D", "", p.split("/")[4]) or 0))
    return os.path.dirname(found[-1]) if found else "/usr/lib/postgresql/15/bin"


PG_BIN = _pg_bin()
STATE_DIR = "/tmp/pmm-ha-lab"  # fixed: PID files and PostgreSQL data of the running lab, removed at the end
IMPAIR_QUEUE = 7
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def sh(*cmd, check=True, quiet=False, timeout=60):
    r = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}")
    return r.stdout if not quiet else r.returncode


def ns_exec(ns, *cmd, check=True):
    return sh("ip", "netns", "exec", ns, *cmd, check=check)


def http(method, url, body=None, timeout=2.0, headers=None):
    """(status, headers, body text); status -1 when there is no answer."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode(errors="replace")
    except Exception:
        return -1, {}, ""


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class Net:
    """Bridge, namespaces, veths; iptables rules and delay/loss inside the namespaces."""

    def __init__(self, log):
        self.log = log
        self.impairers = {}  # node -> Popen of impair.py
        self.has_netem = None

    def check_routes(self):
        routes = sh("ip", "-4", "route")
        for line in routes.splitlines():
            if line.startswith(SUBNET + ".") and BRIDGE not in line:
                raise RuntimeError(f"{SUBNET}.0/24 is already routed on this host ({line}); the lab needs it to itself")

    def remove_leftovers(self):
        """Whatever an earlier run of the lab left (same fixed names): processes in its namespaces, namespaces,
        bridge, veths."""
        existing = sh("ip", "netns", "list").split()
        for name, (ns, _, veth) in NODES.items():
            if ns in existing:
                for pid in sh("ip", "netns", "pids", ns, check=False).split():
                    self.log(f"cleanup: killing leftover process {pid} in namespace {ns}")
                    kill_pid(int(pid), signal.SIGCONT)
                    kill_pid(int(pid))
                sh("ip", "netns", "del", ns, check=False)
            sh("ip", "link", "del", veth, check=False, quiet=True)
        if sh("ip", "link", "show", BRIDGE, check=False, quiet=True) == 0:
            sh("ip", "link", "del", BRIDGE)

    def setup(self):
        self.check_routes()
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{BRIDGE_IP}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        for name, (ns, ip, veth) in NODES.items():
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", veth, "type", "veth", "peer", "name", NS_IFACE, "netns", ns)
            sh("ip", "link", "set", veth, "master", BRIDGE)
            sh("ip", "link", "set", veth, "up")
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", NS_IFACE)
            sh("ip", "-n", ns, "link", "set", NS_IFACE, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        # Bridged frames pass the host's iptables when br_netfilter is on; make sure the lab's own are let through.
        if os.path.exists("/proc/sys/net/bridge/bridge-nf-call-iptables"):
            with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
                if f.read().strip() == "1" and shutil.which("iptables"):
                    rc = sh("iptables", "-C", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT", check=False, quiet=True)
                    if rc != 0:
                        sh("iptables", "-I", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT")
                        self.forward_rule = True

    forward_rule = False

    def teardown(self):
        for node in list(self.impairers):
            self.stop_impair(node)
        for name, (ns, _, veth) in NODES.items():
            sh("ip", "netns", "del", ns, check=False)
            sh("ip", "link", "del", veth, check=False, quiet=True)
        sh("ip", "link", "del", BRIDGE, check=False, quiet=True)
        if self.forward_rule:
            sh("iptables", "-D", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT", check=False, quiet=True)
            self.forward_rule = False

    # --- faults ---

    def drop(self, node, peer, direction="both"):
        """Drops packets between node and peer, inside node's namespace: out (to peer), in (from peer) or both."""
        ns = NODES[node][0]
        pip = NODES[peer][1]
        if direction in ("out", "both"):
            ns_exec(ns, "iptables", "-A", "OUTPUT", "-d", pip, "-j", "DROP")
        if direction in ("in", "both"):
            ns_exec(ns, "iptables", "-A", "INPUT", "-s", pip, "-j", "DROP")

    def drop_store(self, node):
        """Drops the packets between node and PostgreSQL, both ways, inside node's namespace: its link to the
        database broken, everything else up (HAProxy's checks and the peers on the same bridge still pass)."""
        ns = NODES[node][0]
        ns_exec(ns, "iptables", "-A", "OUTPUT", "-d", BRIDGE_IP, "-p", "tcp", "--dport", str(PG_PORT), "-j", "DROP")
        ns_exec(ns, "iptables", "-A", "INPUT", "-s", BRIDGE_IP, "-p", "tcp", "--sport", str(PG_PORT), "-j", "DROP")

    def drop_all(self, node):
        """Everything node's namespace sends or receives dropped, both ways in one iptables transaction, its
        process left running: a machine that lost power or hangs in its kernel, as its peers see it (no RST, no
        FIN, silence)."""
        ns = NODES[node][0]
        rules = f"*filter\n-A INPUT -i {NS_IFACE} -j DROP\n-A OUTPUT -o {NS_IFACE} -j DROP\nCOMMIT\n"
        subprocess.run(["ip", "netns", "exec", ns, "iptables-restore", "--noflush"], input=rules.encode(),
                       check=True)

    def impair(self, node, delay_ms, jitter_ms, loss):
        """Delay and loss on everything node sends (its interface's egress, as netem on it would)."""
        ns = NODES[node][0]
        if self.has_netem is None:
            rc = sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", NS_IFACE, "root", "netem", "delay",
                    f"{delay_ms}ms", f"{jitter_ms}ms", "loss", f"{loss * 100:g}%", check=False, quiet=True)
            self.has_netem = rc == 0
            if self.has_netem:
                return "netem"
            self.log("tc netem is not in this kernel (CONFIG_NET_SCH_NETEM): using an NFQUEUE delayer (impair.py)")
        elif self.has_netem:
            sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", NS_IFACE, "root", "netem", "delay",
               f"{delay_ms}ms", f"{jitter_ms}ms", "loss", f"{loss * 100:g}%")
            return "netem"
        log_path = os.path.join(STATE_DIR, f"impair-{node}.log")
        log = open(log_path, "a")
        start = log.tell()
        p = subprocess.Popen(["ip", "netns", "exec", ns, "python3", os.path.join(HERE, "impair.py"), "--queue",
                              str(IMPAIR_QUEUE), "--delay", str(delay_ms), "--jitter", str(jitter_ms), "--loss",
                              str(loss)], stdout=log, stderr=subprocess.STDOUT)
        self.impairers[node] = p
        write_pid("impair-" + node, p.pid)
        # bound to the queue before packets are sent to it: --queue-bypass lets them through undelayed until then
        # (a fixed 0.3 s was too short for python's start on a loaded machine); impair.py says so once it is bound
        deadline = time.monotonic() + 15
        while True:
            with open(log_path) as f:
                f.seek(start)
                if any(line.startswith("impair: queue") for line in f):
                    break
            if p.poll() is not None or time.monotonic() > deadline:
                with open(log_path) as f:
                    f.seek(start)
                    raise RuntimeError(f"the NFQUEUE delayer on {node} did not bind its queue: {f.read().strip()}")
            time.sleep(0.05)
        ns_exec(ns, "iptables", "-A", "OUTPUT", "-o", NS_IFACE, "-j", "NFQUEUE", "--queue-num", str(IMPAIR_QUEUE),
                "--queue-bypass")
        return "nfqueue"

    def stop_impair(self, node):
        p = self.impairers.pop(node, None)
        if p:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            remove_pid("impair-" + node)

    def heal(self):
        """Removes every fault: iptables rules, qdiscs and delayers in all namespaces."""
        for node, (ns, _, _) in NODES.items():
            ns_exec(ns, "iptables", "-F", check=False)
            if self.has_netem:
                sh("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", NS_IFACE, "root", check=False, quiet=True)
            self.stop_impair(node)


def write_pid(name, pid):
    os.makedirs(os.path.join(STATE_DIR, "pids"), exist_ok=True)
    with open(os.path.join(STATE_DIR, "pids", name), "w") as f:
        f.write(str(pid))


def remove_pid(name):
    try:
        os.remove(os.path.join(STATE_DIR, "pids", name))
    except FileNotFoundError:
        pass


def kill_recorded_pids(log):
    """Processes of a crashed earlier run that live outside the namespaces (HAProxy), by their recorded PIDs."""
    d = os.path.join(STATE_DIR, "pids")
    if not os.path.isdir(d):
        return
    for name in os.listdir(d):
        try:
            pid = int(open(os.path.join(d, name)).read().strip())
        except (ValueError, OSError):
            continue
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            cmdline = ""
        if (any(b in cmdline for b in ("haproxy", "patroni", "etcd")) and STATE_DIR in cmdline) or "impair.py" in cmdline:
            log(f"cleanup: killing leftover {name} (PID {pid})")
            kill_pid(pid)
        os.remove(os.path.join(d, name))


class Postgres:
    """PostgreSQL on the bridge address, data in STATE_DIR/pg, run as the postgres user when root."""

    def __init__(self, log):
        self.log = log
        self.dir = os.path.join(STATE_DIR, "pg")
        self.data = os.path.join(self.dir, "data")
        self.as_postgres = os.geteuid() == 0

    def cmd(self, *args):
        base = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        return base + list(args)

    def remove_leftover(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.log("cleanup: stopping a leftover lab PostgreSQL")
            subprocess.run(self.cmd(f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)

    def init(self):
        os.makedirs(self.dir, exist_ok=True)
        if self.as_postgres:
            sh("chown", "postgres:postgres", self.dir)
        subprocess.run(self.cmd(f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                                "--no-sync"), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        with open(os.path.join(self.data, "pg_hba.conf"), "a") as f:
            f.write(f"host all all {SUBNET}.0/24 trust\n")
        self.start()
        self.psql("CREATE ROLE \"pmm-managed\" LOGIN PASSWORD 'pmm-managed'")
        self.psql("CREATE DATABASE \"pmm-managed\" OWNER \"pmm-managed\"")

    def start(self):
        # fsync off: the lab never crashes the kernel, only the server, so the page cache keeps every commit;
        # synchronous_commit stays on, so an acknowledged commit is in the WAL before the client hears of it.
        opts = (f"-p {PG_PORT} -c listen_addresses={BRIDGE_IP} -k {self.dir} -c fsync=off -c full_page_writes=off "
                "-c max_connections=100")
        subprocess.run(self.cmd(f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "server.log"),
                                "-o", opts, "-w", "-t", "60", "start"), check=True, stdout=subprocess.DEVNULL)

    def stop(self, mode="immediate"):
        subprocess.run(self.cmd(f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"), check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def psql(self, sql, db="postgres"):
        return sh(*self.cmd(f"{PG_BIN}/psql", "-h", self.dir, "-p", str(PG_PORT), "-U", "postgres", "-d", db,
                            "-v", "ON_ERROR_STOP=1", "-Atqc", sql))

    def teardown(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PatroniStore:
    """The replicated store: one etcd member and two Patroni-managed PostgreSQL servers on the bridge address
    (distinct ports, data in STATE_DIR/patroni/), synchronous replication (Patroni's synchronous_mode), Patroni
    and PostgreSQL as the postgres user when root. The nodes get both servers in PMM_POSTGRES_ADDR.

    Patroni's timing is its own defaults (ttl 30 s, loop_wait 10 s, retry_timeout 10 s): the failover time an
    operator who installs Patroni gets, the anchor the lab's pg-failover fault measures pmm-ha against."""

    MEMBERS = {"pg1": (25433, 28008), "pg2": (25434, 28009)}  # name -> (PostgreSQL port, REST API port)
    ETCD_PORT = 22379
    ETCD_PEER_PORT = 22380
    SCOPE = "pmmlab"
    TTL, LOOP_WAIT, RETRY_TIMEOUT = 30, 10, 10

    def __init__(self, log, logdir):
        self.log = log
        self.logdir = logdir
        self.dir = os.path.join(STATE_DIR, "patroni")
        self.as_postgres = os.geteuid() == 0
        self.procs = {}  # "etcd", "pg1", "pg2" -> Popen

    @property
    def addr(self):
        return ",".join(f"{BRIDGE_IP}:{pg}" for pg, _ in self.MEMBERS.values())

    @property
    def ports(self):
        return [pg for pg, _ in self.MEMBERS.values()]

    def data(self, member):
        return os.path.join(self.dir, member, "data")

    def rest(self, member, path):
        return f"http://{BRIDGE_IP}:{self.MEMBERS[member][1]}{path}"

    def config(self, member):
        pg, api = self.MEMBERS[member]
        home = os.path.join(self.dir, member)
        hba = [f"local all all trust", f"host all all {SUBNET}.0/24 trust", f"host replication all {SUBNET}.0/24 trust"]
        # JSON is YAML: no YAML library needed to write it
        return {
            "scope": self.SCOPE, "name": member,
            "log": {"level": "INFO"},
            "restapi": {"listen": f"{BRIDGE_IP}:{api}", "connect_address": f"{BRIDGE_IP}:{api}"},
            "etcd3": {"hosts": [f"{BRIDGE_IP}:{self.ETCD_PORT}"]},
            "bootstrap": {
                "dcs": {
                    "ttl": self.TTL, "loop_wait": self.LOOP_WAIT, "retry_timeout": self.RETRY_TIMEOUT,
                    "maximum_lag_on_failover": 1048576,
                    "synchronous_mode": True, "synchronous_mode_strict": False,
                    "postgresql": {
                        "use_pg_rewind": True,
                        # fsync off as in the single store: the lab kills processes, never the kernel, so the page
                        # cache keeps every commit; synchronous_commit on, so a commit waits for the standby.
                        "parameters": {"synchronous_commit": "on", "wal_log_hints": "on", "max_connections": 100,
                                       "fsync": "off", "max_wal_senders": 5, "max_replication_slots": 5},
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"auth": "trust"}],
            },
            "postgresql": {
                "listen": f"{BRIDGE_IP}:{pg}", "connect_address": f"{BRIDGE_IP}:{pg}",
                "data_dir": self.data(member), "bin_dir": PG_BIN, "pgpass": os.path.join(home, "pgpass"),
                "authentication": {"superuser": {"username": "postgres", "password": "postgres"},
                                   "replication": {"username": "replicator", "password": "replicator"}},
                "parameters": {"unix_socket_directories": home},
                # a new standby's pg_basebackup asks for an immediate checkpoint, not a spread one (90 s here)
                "basebackup": [{"checkpoint": "fast"}],
                "pg_hba": hba,
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
        }

    def remove_leftover(self):
        """PostgreSQL servers a crashed earlier run left (its Patroni and etcd were killed by their PID files)."""
        for member in self.MEMBERS:
            if os.path.exists(os.path.join(self.data(member), "postmaster.pid")):
                self.log(f"cleanup: stopping a leftover lab PostgreSQL {member}")
                self.kill_postgres(member)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _popen(self, name, cmd, as_postgres):
        out = open(os.path.join(self.logdir, f"{name}.log"), "a")
        kw = {"user": "postgres", "group": "postgres", "extra_groups": []} if as_postgres else {}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "HOME": os.path.join(self.dir, name) if name in self.MEMBERS else self.dir}
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True, **kw)
        out.close()
        self.procs[name] = p
        write_pid(name if name == "etcd" else f"patroni-{name}", p.pid)
        return p

    def init(self):
        os.makedirs(self.dir, exist_ok=True)
        etcd_dir = os.path.join(self.dir, "etcd")
        self._popen("etcd", ["etcd", "--name", "lab", "--data-dir", etcd_dir,
                             "--listen-client-urls", f"http://{BRIDGE_IP}:{self.ETCD_PORT}",
                             "--advertise-client-urls", f"http://{BRIDGE_IP}:{self.ETCD_PORT}",
                             "--listen-peer-urls", f"http://127.0.0.1:{self.ETCD_PEER_PORT}",
                             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.ETCD_PEER_PORT}",
                             "--initial-cluster", f"lab=http://127.0.0.1:{self.ETCD_PEER_PORT}"], False)
        deadline = time.time() + 30
        while http("GET", f"http://{BRIDGE_IP}:{self.ETCD_PORT}/health", timeout=1)[0] != 200:
            if time.time() > deadline or self.procs["etcd"].poll() is not None:
                raise RuntimeError("etcd did not start; see " + os.path.join(self.logdir, "etcd.log"))
            time.sleep(0.2)
        for member in self.MEMBERS:
            home = os.path.join(self.dir, member)
            os.makedirs(home, exist_ok=True)
            with open(os.path.join(home, "patroni.yml"), "w") as f:
                json.dump(self.config(member), f, indent=1)
            if self.as_postgres:
                sh("chown", "-R", "postgres:postgres", home)
        first, second = list(self.MEMBERS)
        self.start(first)
        primary = self.wait_primary(120)
        self.psql(primary, "CREATE ROLE \"pmm-managed\" LOGIN PASSWORD 'pmm-managed'")
        self.psql(primary, "CREATE DATABASE \"pmm-managed\" OWNER \"pmm-managed\"")
        self.start(second)
        ok, why = self.wait_replicated(180)
        if not ok:
            raise RuntimeError(f"Patroni: no synchronous standby within 180 s: {why}")
        return primary

    def start(self, member):
        p = self.procs.get(member)
        if p and p.poll() is None:
            return
        self._popen(member, ["patroni", os.path.join(self.dir, member, "patroni.yml")], self.as_postgres)

    def postmaster_pid(self, member):
        try:
            return int(open(os.path.join(self.data(member), "postmaster.pid")).readline().strip())
        except (OSError, ValueError):
            return None

    def kill_postgres(self, member):
        """SIGKILL to the member's postmaster and every child of it (its backends, WAL sender, checkpointer ...),
        found by their parent PID: what a crash of its machine leaves of it."""
        pid = self.postmaster_pid(member)
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, TypeError):
            return []
        if self.data(member) not in cmdline:  # a stale PID file whose PID now belongs to another process
            return []
        pids = [pid] + children(pid)
        for p in pids:
            kill_pid(p)
        return pids

    def crash(self, member):
        """The member's machine dies: its Patroni and its PostgreSQL killed with SIGKILL, so that no local restart
        brings the primary back and the other Patroni must fail over."""
        p = self.procs.get(member)
        if p and p.poll() is None:
            kill_pid(p.pid)
            p.wait()
        return self.kill_postgres(member)

    def role(self, member, timeout=1.0):
        """200 from GET /primary: this member is the running primary holding the leader key."""
        return http("GET", self.rest(member, "/primary"), timeout=timeout)[0]

    def primary(self):
        found = [m for m in self.MEMBERS if self.role(m) == 200]
        return found[0] if len(found) == 1 else None

    def log_tail(self, name, lines=15):
        """The last lines of a member's (or etcd's) log, for an error message CI prints in full."""
        try:
            with open(os.path.join(self.logdir, f"{name}.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError as e:
            return f"(no log: {e})"

    def wait_primary(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.primary()
            if m:
                return m
            running = [n for n, p in self.procs.items() if p.poll() is None]
            if not any(n in running for n in self.MEMBERS):
                raise RuntimeError(f"Patroni: every member exited before a primary was elected; last lines of "
                                   f"pg1.log:\n{self.log_tail('pg1')}")
            time.sleep(0.5)
        raise RuntimeError(f"Patroni: no primary within {timeout} s; last lines of pg1.log:\n{self.log_tail('pg1')}"
                           f"\netcd.log:\n{self.log_tail('etcd', 5)}")

    def cluster(self):
        for m in self.MEMBERS:
            st, _, body = http("GET", self.rest(m, "/cluster"), timeout=2)
            if st == 200:
                return json.loads(body)
        return None

    def wait_replicated(self, timeout):
        """(ok, why): one leader and the other member its synchronous standby, running, no lag."""
        deadline = time.time() + timeout
        why = ""
        while time.time() < deadline:
            c = self.cluster()
            if c:
                roles = {x["name"]: (x.get("role"), x.get("state"), x.get("lag", 0)) for x in c.get("members", [])}
                why = str(roles)
                if (sorted(r for r, _, _ in roles.values()) == ["leader", "sync_standby"]
                        and all(s in ("running", "streaming") for _, s, _ in roles.values())
                        and all(lag in (0, None, "") for r, _, lag in roles.values() if r != "leader")):
                    return True, why
            time.sleep(0.5)
        return False, why

    def psql(self, member, sql, db="postgres"):
        pg = self.MEMBERS[member][0]
        base = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        return sh(*base, f"{PG_BIN}/psql", "-h", os.path.join(self.dir, member), "-p", str(pg), "-U", "postgres",
                  "-d", db, "-v", "ON_ERROR_STOP=1", "-Atqc", sql)

    def teardown(self):
        for name in list(self.MEMBERS) + ["etcd"]:
            p = self.procs.pop(name, None)
            if p and p.poll() is None:
                kill_pid(p.pid)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            remove_pid(name if name == "etcd" else f"patroni-{name}")
            if name in self.MEMBERS:
                self.kill_postgres(name)
        shutil.rmtree(self.dir, ignore_errors=True)


def children(pid):
    """PIDs whose parent is pid (one level: PostgreSQL's processes are all the postmaster's children)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def haproxy_config(name):
    """The repo's deploy/haproxy/<name>.cfg with only the lab's addresses put in: the compose addresses of the three
    nodes become the namespaces', the HTTP frontend binds the bridge address, files mounted next to the config in
    the container (/usr/local/etc/haproxy/) are read from deploy/haproxy/, and the HTTPS frontend and backend
    (which need a certificate the lab has no use for) are left out. Everything else is used as written."""
    path = name if name.endswith(".cfg") else os.path.join(REPO, "deploy", "haproxy", name + ".cfg")
    src = open(path if os.path.isabs(path) else os.path.join(REPO, path)).read()
    src = src.replace("/usr/local/etc/haproxy/", os.path.join(REPO, "deploy", "haproxy") + "/")
    for old, node in (("172.20.0.5", "pmm-a"), ("172.20.0.6", "pmm-b"), ("172.20.0.7", "pmm-c")):
        src = src.replace(old, NODES[node][1])
    sections = re.split(r"(?m)^(?=\S)", src)
    out = []
    for s in sections:
        head = s.split("\n", 1)[0].strip()
        if head.startswith("frontend https_front") or head.startswith("backend https_back"):
            continue
        if head.startswith("global"):
            s = re.sub(r"(?m)^\s*daemon\s*$\n?", "", s)
        s = s.replace("bind *:80", f"bind {BRIDGE_IP}:{HAPROXY_PORT}")
        out.append(s)
    cfg = "".join(out)
    if f"bind {BRIDGE_IP}:{HAPROXY_PORT}" not in cfg or "backend http_back" not in cfg:
        raise RuntimeError(f"deploy/haproxy/{name}.cfg: no 'bind *:80' frontend or no http_back backend to use")
    return cfg


class HAProxy:
    def __init__(self, log, logdir):
        self.log = log
        self.logdir = logdir
        self.proc = None
        self.config = None

    def start(self, name):
        self.stop()
        self.config = name
        path = os.path.join(STATE_DIR, f"haproxy-{os.path.basename(name).removesuffix('.cfg')}.cfg")
        with open(path, "w") as f:
            f.write(haproxy_config(name))
        sh("haproxy", "-c", "-q", "-f", path)
        out = open(os.path.join(self.logdir, f"haproxy-{os.path.basename(name).removesuffix('.cfg')}.log"), "a")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", path], stdout=out, stderr=subprocess.STDOUT)
        write_pid("haproxy", self.proc.pid)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection((BRIDGE_IP, HAPROXY_PORT), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("HAProxy did not start; see " + out.name)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            remove_pid("haproxy")


class Node:
    """One pmm-ha node in its namespace, started by the image's entrypoint. A supervisor thread restarts it when it
    exits on its own (as Docker's restart policy or Kubernetes would: codes 3 to 5 mean "restart me"), unless the
    lab holds it down (kill -9 or SIGTERM as a fault, until the heal)."""

    RESTART_DELAY = 0.5

    def __init__(self, name, jar, env, logdir, events):
        self.name = name
        self.ns, self.ip, _ = NODES[name]
        self.jar = jar
        self.env = env
        self.logfile = os.path.join(logdir, f"{name}.log")
        self.events = events  # list of (monotonic time, text)
        self.proc = None
        self.held = False
        self.closed = False
        self.starts = 0
        self.lock = threading.Lock()
        self.exited = threading.Condition(self.lock)
        self.exits = []  # (time, code)

    def url(self, path):
        return f"http://{self.ip}:{HTTP_PORT}{path}"

    def start(self):
        with self.lock:
            self.held = False
            if self.proc and self.proc.poll() is None:
                return
            self._spawn()

    def _spawn(self):
        self.starts += 1
        with open(self.logfile, "a") as f:
            f.write(f"=== lab: start {self.starts}\n")
        out = open(self.logfile, "a")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PMM_HA_JAR": self.jar, **self.env}
        # `ip netns exec` and the entrypoint both exec: the PID we hold is the JVM's.
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, os.path.join(REPO, "deploy", "docker", "entrypoint.sh")],
                                     stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        out.close()
        self.events.append((time.monotonic(), f"{self.name} started (PID {self.proc.pid})"))
        threading.Thread(target=self._watch, args=(self.proc,), daemon=True, name=f"watch-{self.name}").start()

    def _watch(self, proc):
        code = proc.wait()
        now = time.monotonic()
        with self.lock:
            self.exits.append((now, code))
            self.events.append((now, f"{self.name} exited with {code}"))
            self.exited.notify_all()
            if self.closed or self.held or proc is not self.proc:
                return
        time.sleep(self.RESTART_DELAY)
        with self.lock:
            if not (self.closed or self.held) and proc is self.proc:
                self.events.append((time.monotonic(), f"{self.name} restarted by the supervisor"))
                self._spawn()

    def signal(self, sig, hold=False):
        with self.lock:
            if hold:
                self.held = True
            if self.proc and self.proc.poll() is None:
                os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout):
        with self.lock:
            deadline = time.monotonic() + timeout
            while self.proc and self.proc.poll() is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.exited.wait(left)
            return True

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def close(self):
        with self.lock:
            self.closed = True
            p = self.proc
        if p and p.poll() is None:
            kill_pid(p.pid, signal.SIGCONT)
            kill_pid(p.pid, signal.SIGKILL)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass


def node_env(name, extra):
    _, ip, _ = NODES[name]
    env = {
        "PMM_HA_ENABLE": "1",
        "PMM_HA_NODE_ID": name,
        "PMM_HA_ADVERTISE_ADDRESS": ip,
        "PMM_HA_BIND_ADDRESS": ip,
        "PMM_HA_PEERS": ",".join(v[1] for v in NODES.values()),
        "PMM_HA_HTTP_PORT": str(HTTP_PORT),
        "PMM_POSTGRES_ADDR": f"{BRIDGE_IP}:{PG_PORT}",
        "PMM_POSTGRES_USERNAME": "pmm-managed",
        "PMM_POSTGRES_DBPASSWORD": "pmm-managed",
        "PMM_POSTGRES_DBNAME": "pmm-managed",
        # Small heaps: three JVMs, PostgreSQL and HAProxy share the machine.
        "JAVA_OPTS": "-Xms96m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError",
    }
    env.update(extra)
    return env


def healthy(nodes, timeout=1.0):
    """(ok, why): every node ready and seeing three alive members, exactly one leader, HAProxy serving it."""
    leaders = []
    for n in nodes.values():
        st, _, _ = http("GET", n.url("/v1/readyz"), timeout=timeout)
        if st != 200:
            return False, f"{n.name} not ready ({st})"
        st, _, body = http("GET", n.url("/v1/ha/nodes"), timeout=timeout)
        if st != 200:
            return False, f"{n.name} /v1/ha/nodes {st}"
        alive = [x for x in json.loads(body).get("nodes", []) if x.get("status") == "alive"]
        if len(alive) != len(nodes):
            return False, f"{n.name} sees {len(alive)} alive members"
        st, h, _ = http("POST", n.url("/v1/leaderHealthCheck"), timeout=timeout)
        if st == 200:
            leaders.append(n.name)
    if len(leaders) != 1:
        return False, f"leaders: {leaders}"
    st, _, _ = http("GET", f"http://{BRIDGE_IP}:{HAPROXY_PORT}/v1/server/leaderHealthCheck", timeout=timeout)
    if st != 200:
        return False, f"HAProxy answers {st}"
    return True, leaders[0]
