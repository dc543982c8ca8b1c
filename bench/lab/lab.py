#!/usr/bin/env python3
"""pmm-ha failover lab: three nodes in network namespaces behind a real HAProxy, on a real PostgreSQL, under a
steady client load, with faults injected and healed while a prober and a checker watch. See bench/README.md.

    bench/failover-lab                         # every fault 5 times, both HAProxy configs -> bench/results/
    bench/failover-lab --runs 1 --configs pmm-ha-recommended --json out.json   # the short lab (the IT's)

Needs root (namespaces, iptables); without it, says so and exits 0 (skipped).
Exit code: 0 when every run was safe (no overlap, no epoch going backwards, no lost acknowledged write, healthy
within --heal-timeout after each heal), 1 otherwise, 2 on a setup error.
"""
import argparse
import datetime
import fcntl
import json
import os
import re
import shutil
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checker  # noqa: E402
import steps  # noqa: E402
import topology as topo  # noqa: E402
from faults import FAULTS, SINGLE_STORE_FAULTS, STORE_FAULTS  # noqa: E402
from traffic import Client, Prober, Recorder  # noqa: E402

CONFIGS = ["pmm-ha-recommended", "haproxy"]
# faults whose runs the report breaks into steps (a leader lost without warning)
STEP_FAULTS = ("kill9-leader", "machine-loss-leader", "isolate-leader", "sigterm-leader")
ALL_FAULTS = {**FAULTS, **STORE_FAULTS}

# --profile fast: the settings bench/results/failover.md was measured with (the lab branch's defaults then).
FAST_ENV = {
    "PMM_HA_FAILURE_DETECTOR_INTERVAL": "100ms", "PMM_HA_FAILURE_DETECTOR_PAUSE": "400ms",
    "PMM_HA_SBR_STABLE_AFTER": "300ms", "PMM_HA_DOWN_REMOVAL_MARGIN": "100ms",
    "PMM_HA_LEASE_TTL": "1s", "PMM_HA_LEASE_RENEW_INTERVAL": "200ms", "PMM_HA_LEASE_SAFETY_MARGIN": "300ms",
}
# ... and what has no variable, as system properties (they override application.conf)
FAST_JAVA_PROPS = (
    "-Dpekko.cluster.downing-provider-class=dev.pmmha.runtime.cluster.QuickSplitBrainResolverProvider "
    "-Dpekko.cluster.gossip-interval=100ms -Dpekko.cluster.leader-actions-interval=100ms "
    "-Dpekko.cluster.unreachable-nodes-reaper-interval=100ms -Dpekko.cluster.failure-detector.min-std-deviation=50ms"
)


class Lab:
    def __init__(self, args):
        self.args = args
        os.makedirs(args.logdir, exist_ok=True)
        self.logf = open(os.path.join(args.logdir, "lab.log"), "a")
        self.t0 = time.monotonic()
        self.events = []
        self.net = topo.Net(self.log)
        self.pg = topo.Postgres(self.log)
        self.patroni = topo.PatroniStore(self.log, args.logdir)
        self.haproxy = topo.HAProxy(self.log, args.logdir)
        extra = dict(FAST_ENV) if args.profile == "fast" else {}
        extra.update(dict(kv.split("=", 1) for kv in args.env))
        extra.setdefault("PMM_HA_WRITE_TIMEOUT", "3s")
        self.store = getattr(args, "store", "single")  # bench/lab/soak.py's arguments have no --store
        if self.store == "patroni":
            extra["PMM_POSTGRES_ADDR"] = self.patroni.addr
        if args.profile == "fast":
            extra["JAVA_OPTS"] = topo.node_env("pmm-a", {})["JAVA_OPTS"] + " " + FAST_JAVA_PROPS
        self.nodes = {name: topo.Node(name, args.jar, topo.node_env(name, extra), args.logdir, self.events)
                      for name in topo.NODES}
        self.rec = Recorder()
        self.client = None
        self.prober = None
        self.t_window = None

    def log(self, msg):
        line = f"[{time.monotonic() - self.t0:8.2f} {datetime.datetime.now().strftime('%H:%M:%S.%f')[:-3]}] {msg}"
        print(line, flush=True)
        self.logf.write(line + "\n")
        self.logf.flush()

    # --- set-up and tear-down ---

    def cleanup_leftovers(self):
        topo.kill_recorded_pids(self.log)
        self.net.remove_leftovers()
        self.pg.remove_leftover()
        self.patroni.remove_leftover()
        shutil.rmtree(topo.STATE_DIR, ignore_errors=True)
        os.makedirs(topo.STATE_DIR, exist_ok=True)

    def setup(self, config):
        self.log("removing leftovers of earlier runs")
        self.cleanup_leftovers()
        self.log(f"network: bridge {topo.BRIDGE} {topo.BRIDGE_IP}/24, namespaces "
                 + ", ".join(f"{ns} {ip}" for ns, ip, _ in topo.NODES.values()))
        self.net.setup()
        if self.store == "patroni":
            p = self.patroni
            self.log(f"etcd on {topo.BRIDGE_IP}:{p.ETCD_PORT}; Patroni-managed PostgreSQL on {p.addr} (ttl {p.TTL} s, "
                     f"loop_wait {p.LOOP_WAIT} s, retry_timeout {p.RETRY_TIMEOUT} s, synchronous_mode)")
            primary = p.init()
            self.log(f"Patroni: {primary} primary, the other its synchronous standby")
        else:
            self.log(f"PostgreSQL on {topo.BRIDGE_IP}:{topo.PG_PORT}")
            self.pg.init()
        self.haproxy.start(config)
        self.log(f"HAProxy ({config}) on {topo.BRIDGE_IP}:{topo.HAPROXY_PORT}")
        for n in self.nodes.values():
            n.start()
        self.log("nodes started through deploy/docker/entrypoint.sh; waiting for a healthy cluster")
        ok, why = self.wait_healthy(180)
        if not ok:
            raise RuntimeError(f"the cluster did not become healthy within 180 s: {why}")
        self.log(f"cluster healthy, leader {why}")
        self.prober = Prober(self.rec, {n: node.ip for n, node in self.nodes.items()}, period=0.02,
                             port=self.probe_port(config),
                             realtime=getattr(self.args, "prober_priority", "realtime") == "realtime")
        self.client = Client(self.rec, read_rate=self.args.rate, write_rate=self.args.write_rate,
                             run_id=datetime.datetime.now().strftime("%Y%m%dT%H%M%S"))
        self.prober.start()
        self.log(f"prober: its own process, priority {self.prober.priority}")
        self.client.start()
        time.sleep(2.0)
        self.t_window = time.monotonic()

    def probe_port(self, config):
        """The port the direct prober asks: the API port (default), or with --probe-port check the port HAProxy's
        config checks (`check port N`, the nodes' probe port), so that the prober sees what HAProxy's checks see."""
        if getattr(self.args, "probe_port", "api") == "api":  # bench/lab/soak.py's arguments have no --probe-port
            return topo.HTTP_PORT
        ports = set(re.findall(r"\bcheck port (\d+)", topo.haproxy_config(config)))
        if len(ports) != 1:
            raise RuntimeError(f"--probe-port check: HAProxy config {config} checks {sorted(ports) or 'no'} port(s); "
                               "expected exactly one `check port N`")
        return int(ports.pop())

    def teardown(self):
        self.log("tearing down")
        for part in (self.client, self.prober):
            if part:
                try:
                    part.stop()
                except Exception as e:  # keep tearing down
                    self.log(f"stop: {e}")
        for n in self.nodes.values():
            n.close()
        self.haproxy.stop()
        try:
            self.net.heal()
        except Exception:
            pass
        self.pg.teardown()
        self.patroni.teardown()
        self.net.teardown()
        shutil.rmtree(topo.STATE_DIR, ignore_errors=True)

    # --- waiting ---

    def wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        why = ""
        while time.monotonic() < deadline:
            ok, why = topo.healthy(self.nodes, timeout=1.0)
            if ok:
                return True, why
            time.sleep(0.25)
        return False, why

    def wait_new_leader_served(self, run, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.client.max_epoch > run["old_epoch"]:
                return True
            time.sleep(0.02)
        return False

    def current_leader(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader, epoch = self.prober.leader()
            if leader and epoch >= self.prober.max_epoch():
                return leader, epoch
            time.sleep(0.05)
        raise RuntimeError("no single leader seen by the prober")

    def node_settings(self):
        """Each answering node's settings; a node that does not answer 200 (restarting after a false suspicion)
        is left out, not counted as having lost anything."""
        out = {}
        for name, n in self.nodes.items():
            st, _, body = topo.http("GET", n.url("/v1/ha/settings"), timeout=3)
            if st == 200:
                out[name] = json.loads(body).get("settings", {})
        return out

    def dump_probes(self, run, records):
        """The prober's answers of this run, one line each (node, sent and received in s after the fault, status,
        epoch), next to the node logs: what the no-leader gap is made of, probe by probe."""
        name = f"probes-{run['config']}-{run['fault']}-{run['index']}.tsv"
        with open(os.path.join(self.args.logdir, name), "w") as f:
            f.write("node\tsent_s\treceived_s\tstatus\tepoch\n")
            for r in records:
                if r.kind == "probe":
                    f.write(f"{r.node}\t{r.t_send - run['t_fault']:.4f}\t{r.t_recv - run['t_fault']:.4f}\t"
                            f"{r.status}\t{r.epoch}\n")

    def check_writes(self):
        """Every acknowledged write, readable on every node; waits up to 30 s for every node to answer and for the
        copies to catch up. Returns (acked, lost, nodes never read)."""
        acked, _ = self.client.snapshot()
        deadline = time.monotonic() + 30
        while True:
            settings = self.node_settings()
            _, attempted = self.client.snapshot()  # after the reads: every value a node shows was sent by then
            lost = checker.lost_writes(acked, attempted, settings)
            unread = sorted(set(self.nodes) - set(settings))
            if (not lost and not unread) or time.monotonic() > deadline:
                return acked, lost, unread
            time.sleep(0.5)

    def recover(self):
        """After a run that did not heal: start every node that is down and wait again."""
        self.net.heal()
        for n in self.nodes.values():
            n.start()
        return self.wait_healthy(120)

    # --- one fault run ---

    def run_fault(self, fault, config, index):
        name, fn = ALL_FAULTS[fault]
        ok, why = self.wait_healthy(60)
        if not ok:
            self.log(f"not healthy before {fault}: {why}; recovering")
            ok, why = self.recover()
            if not ok:
                raise RuntimeError(f"cluster not healthy before {fault} #{index + 1}: {why}")
        t_start = self.t_window
        time.sleep(1.5)
        leader, epoch = self.current_leader()
        run = {"fault": fault, "config": config, "index": index + 1, "leader": leader, "old_epoch": epoch,
               "notes": []}
        self.log(f"{config} {fault} #{index + 1}: {name}; leader {leader} epoch {epoch}")
        fn(self, run)
        ok, why = self.wait_healthy(self.args.heal_timeout)
        t_ok = time.monotonic()
        run["healthy"] = ok
        run["heal_s"] = round(t_ok - run["t_heal"], 2) if ok else None
        if not ok:
            run["notes"].append(f"not healthy {self.args.heal_timeout} s after the heal: {why}")
            self.log(f"  NOT healthy within {self.args.heal_timeout} s: {why}")
            # a thread dump of every running node (SIGQUIT: the JVM prints it to its log and goes on)
            for n in self.nodes.values():
                if n.alive():
                    n.signal(signal.SIGQUIT)
                    self.log(f"  thread dump of {n.name} (PID {n.proc.pid}) in its log")
        time.sleep(1.0)
        acked, lost, unread = self.check_writes()
        if unread:
            run["notes"].append(f"settings not readable on {', '.join(unread)} (not answering) at the check")
        t_end = time.monotonic()
        records = self.rec.window(t_start, t_end)
        s = checker.summarize(records, run["t_fault"], run["t_heal"], t_end, epoch, run.get("t_leader_fault"))
        self.dump_probes(run, records)
        run.update(s)
        run["acked_writes_total"] = len(acked)
        run["lost_writes"] = len(lost)
        run["lost_examples"] = lost[:5]
        run["events"] = [f"{t - run['t_fault']:+.2f}s {text}" for t, text in self.events if t_start <= t < t_end]
        # the survivors' log lines, step by step (bench/lab/steps.py); the leader hit may be another than run's
        wall_fault = time.time() - (time.monotonic() - run.get("t_leader_fault", run["t_fault"]))
        run["steps"] = steps.steps(self.args.logdir, list(self.nodes), leader, wall_fault)
        run["wall_fault"] = round(wall_fault, 3)
        run["node_exits"] = sum(1 for t, text in list(self.events) if t_start <= t < t_end and "exited" in text)
        if "t_promoted" in run:  # the store's own failover (pg-failover): Patroni's time, and pmm-ha's after it
            run["store_failover_s"] = round(run["t_promoted"] - run["t_fault"], 3)
            run["after_promotion_s"] = (None if s["failover_s"] is None
                                        else round(s["failover_s"] - run["store_failover_s"], 3))
        for k in ("t_fault", "t_heal", "t_leader_fault", "t_promoted"):
            if k in run:
                run[k] = round(run[k] - self.t0, 3)
        self.rec.prune(t_end)
        self.t_window = t_end
        self.log(f"  failover {s['failover_s']} s, failed reads {s['failed_reads']}/{s['reads']}, failed writes "
                 f"{s['failed_writes']}/{s['writes']}, HAProxy outage {s['haproxy_outage_ms']} ms, no-leader gap "
                 f"{s['max_gap_ms']} ms (leader change {s['change_gap_ms']} ms), overlap {s['overlap_ms']} ms, "
                 f"epochs back {s['epoch_backwards']}, lost "
                 f"writes {len(lost)}, heal {run['heal_s']} s, node exits {run['node_exits']}"
                 + (f"; {'; '.join(run['notes'])}" if run["notes"] else ""))
        if "store_failover_s" in run:
            self.log(f"  Patroni promoted the standby {run['store_failover_s']} s after the crash; pmm-ha served "
                     f"through HAProxy {run['after_promotion_s']} s after that; store replicated again "
                     f"{run.get('store_heal_s')} s after the heal")
        return run


def safe(run, heal_timeout):
    return (run["overlap_ms"] == 0 and run["epoch_backwards"] == 0 and run["lost_writes"] == 0
            and run["healthy"] and run["heal_s"] is not None and run["heal_s"] <= heal_timeout)


def fmt_range(values, digits=2):
    v = [x for x in values if x is not None]
    if not v:
        return "-"
    return f"{min(v):.{digits}f} / {statistics.median(v):.{digits}f} / {max(v):.{digits}f}"


def summary_table(results, config):
    rows = ["| fault | runs | until HAProxy serves the new leader, s (min / median / max) | failed client reads "
            "(total; worst run) | failed writes | longest HAProxy outage, ms | longest no-leader gap, ms | overlap, ms "
            "| epochs backwards | lost acked writes | time to heal, s (min / median / max) | node restarts |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for fault, (label, _) in ALL_FAULTS.items():
        rs = [r for r in results if r["config"] == config and r["fault"] == fault]
        if not rs:
            continue
        fo = [r["failover_s"] for r in rs]
        fo_txt = fmt_range(fo)
        missing = sum(1 for x in fo if x is None)
        if missing and missing < len(rs):
            fo_txt += f" ({missing} runs kept their leader)"
        elif missing == len(rs):
            fo_txt = "- (leader kept)"
        heal = [r["heal_s"] for r in rs]
        unhealthy = sum(1 for r in rs if not r["healthy"])
        rows.append(
            f"| {label} | {len(rs)} | {fo_txt} | {sum(r['failed_reads'] for r in rs)}; "
            f"{max(r['failed_reads'] for r in rs)} | {sum(r['failed_writes'] for r in rs)} | "
            f"{max(r['haproxy_outage_ms'] for r in rs):.0f} | {max(r['max_gap_ms'] for r in rs):.0f} | "
            f"{sum(r['overlap_ms'] for r in rs):.0f} | {sum(r['epoch_backwards'] for r in rs)} | "
            f"{sum(r['lost_writes'] for r in rs)} | {fmt_range(heal, 1)}"
            + (f" ({unhealthy} not healed)" if unhealthy else "") + f" | {sum(r['node_exits'] for r in rs)} |")
    return "\n".join(rows)


def store_table(results, config):
    """pg-failover: Patroni's failover (crash -> the standby answers GET /primary 200) beside pmm-ha's (crash ->
    the first read through HAProxy answered 200 with a new epoch, and the same from the promotion)."""
    rs = [r for r in results if r["config"] == config and "store_failover_s" in r]
    if not rs:
        return ""
    rows = ["| fault | runs | Patroni: crash -> standby promoted (GET /primary 200), s | pmm-ha: crash -> HAProxy "
            "serves the leader, s | pmm-ha: promotion -> HAProxy serves the leader, s | old primary replicating "
            "again after its Patroni restarts, s |", "|---|---|---|---|---|---|"]
    for fault, (label, _) in STORE_FAULTS.items():
        fr = [r for r in rs if r["fault"] == fault]
        if fr:
            rows.append(f"| {label} | {len(fr)} | {fmt_range([r['store_failover_s'] for r in fr])} | "
                        f"{fmt_range([r['failover_s'] for r in fr])} | {fmt_range([r['after_promotion_s'] for r in fr])}"
                        f" | {fmt_range([r.get('store_heal_s') for r in fr], 1)} |")
    return "\n".join(rows)


def targets(results):
    rec = [r for r in results if "recommended" in r["config"]]
    if not rec:
        return []

    def of(f):
        return [r for r in rec if r["fault"] == f]

    out = []
    # issue #18's targets, until HAProxy serves the new leader: (fault, median at most, max at most)
    for f, med_max, max_max in (("kill9-leader", 0.8, 1.0), ("machine-loss-leader", 1.5, 2.0),
                                ("isolate-leader", None, 2.0)):
        k = [r["failover_s"] for r in of(f)]
        if not k:
            continue
        kv = [x for x in k if x is not None]
        med = statistics.median(kv) if kv else None
        ok = len(kv) == len(k) and (med_max is None or med <= med_max) and max(kv) <= max_max
        what = (f"median <= {med_max:g} s, " if med_max is not None else "") + f"max <= {max_max:g} s"
        out.append((f"{ALL_FAULTS[f][0]}: {what} until HAProxy serves the new leader", ok,
                    f"median {med:.2f} s, max {max(kv):.2f} s" if kv else "no new leader served"))
    for f in ("sigterm-leader", "rolling-restart"):
        rs = of(f)
        if rs:
            failed = sum(r["failed_reads"] + r["failed_writes"] for r in rs)
            gap = max(r["max_gap_ms"] for r in rs)
            out.append((f"{ALL_FAULTS[f][0]}: zero failed client requests, no-leader gap <= 150 ms",
                        failed == 0 and gap <= 150,
                        f"{failed} failed, longest gap {gap:.0f} ms, longest HAProxy outage "
                        f"{max(r['haproxy_outage_ms'] for r in rs):.0f} ms"))
    ov = sum(r["overlap_ms"] for r in rec)
    lost = sum(r["lost_writes"] for r in rec)
    heal = [r["heal_s"] for r in rec]
    ok = ov == 0 and lost == 0 and all(h is not None and h <= 30 for h in heal)
    out.append(("every fault: overlap 0 ms, zero lost acknowledged writes, healthy within 30 s after healing", ok,
                f"overlap {ov:.0f} ms, lost {lost}, slowest heal "
                + (f"{max(h for h in heal if h is not None):.1f} s" if any(h is not None for h in heal) else "-")
                + ("" if all(h is not None for h in heal) else " (some never healed)")))
    return out


def write_report(path, results, meta):
    probe = meta.get("probe", "the nodes' API port")
    lines = [
        "# Failover lab results",
        "",
        f"Generated by `bench/failover-lab` on {meta['date']} ({meta['runs']} runs of each fault, "
        f"{meta['elapsed_min']:.0f} min). Machine: {meta['machine']}. Node settings: defaults of conf/ "
        + (f"plus {', '.join(meta['env'])}" if meta['env'] else "") + f"; delay/loss by {meta['impair']}.",
        "",
        "Definitions are in bench/lab/checker.py: *until HAProxy serves the new leader* runs from the fault to the "
        "first client read through HAProxy answered 200 with a higher epoch; *no-leader gap* is the longest time "
        f"without a 200 from any node to the direct prober (20 ms period, asking {probe}; a process of its own, "
        f"{meta.get('prober', 'in the lab process')}); *HAProxy outage* is the longest run of "
        "failed client reads (100/s); *overlap* is the time two nodes' 200 answers to the prober may have "
        "coincided ([send, receive] intervals of different nodes intersecting); *time to heal* runs from the heal "
        "to every node ready, seeing three alive members, exactly one leader, and HAProxy serving it.",
        "",
    ]
    if meta.get("store"):
        lines += [f"Store: {meta['store']}.", ""]
    for cfg in meta["configs"]:
        shown = cfg if cfg.endswith(".cfg") else f"deploy/haproxy/{cfg}.cfg"
        lines += [f"## HAProxy: {shown}", "", summary_table(results, cfg), ""]
        st = store_table(results, cfg)
        if st:
            lines += ["### The store's own failover beside pmm-ha's", "", st, ""]
    t = targets(results)
    if t:
        lines += ["## Targets (recommended HAProxy config)", "", "| target | met | measured |", "|---|---|---|"]
        lines += [f"| {a} | {'yes' if ok else 'NO'} | {m} |" for a, ok, m in t]
        lines.append("")
    lines += ["## Runs", "", "| config | fault | # | leader | failover s | failed reads | failed writes | outage ms "
              "| gap ms | overlap ms | lost | heal s | notes |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['config']} | {r['fault']} | {r['index']} | {r['leader']} | {r['failover_s']} | "
                     f"{r['failed_reads']} | {r['failed_writes']} | {r['haproxy_outage_ms']:.0f} | {r['max_gap_ms']:.0f} | "
                     f"{r['overlap_ms']:.0f} | {r['lost_writes']} | {r['heal_s']} | {'; '.join(r['notes'])} |")
    stepped = [r for r in results if r.get("steps") and r["fault"] in STEP_FAULTS]
    if stepped:
        lines += ["## Where the time went", "",
                  "The first line of each step in the surviving nodes' logs (bench/lab/steps.py), in seconds after "
                  "the fault; the node logs' clock and the lab's agree to a few tens of milliseconds, so a step "
                  "can appear just after HAProxy served the new leader (the new leader answers as soon as it holds "
                  "the fence, before its log line).", ""]
        for r in stepped:
            lines += [f"### {r['config']} {r['fault']} #{r['index']} (leader {r['leader']})", "",
                      steps.table([tuple(x) for x in r["steps"]], r["failover_s"]), ""]
            if r.get("max_gap_at"):
                change = (f" The change of leader itself (last 200 of one node to the first of another) took "
                          f"{r['change_gap_ms']:.0f} ms." if "change_gap_ms" in r else "")
                lines += [f"The longest no-leader gap ({r['max_gap_ms']:.0f} ms) lies {r['max_gap_at']}.{change}", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def machine_lock(who):
    """One lab per machine: its names, addresses and ports are fixed (so that a leftover can be found and
    removed). Returns the open lock file, held until it is closed or the process ends."""
    lock = open("/run/lock/pmm-ha-failover-lab.lock" if os.path.isdir("/run/lock") else "/tmp/pmm-ha-failover-lab.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"{who}: another lab runs on this machine; waiting for it to end", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def main():
    p = argparse.ArgumentParser(description="pmm-ha failover lab")
    p.add_argument("--runs", type=int, default=5, help="runs of each fault (default 5)")
    p.add_argument("--configs", default=",".join(CONFIGS), help="HAProxy configs from deploy/haproxy/ (comma list)")
    p.add_argument("--faults", help="comma list of: " + ", ".join(ALL_FAULTS) + " (default: every fault of the "
                   "store: " + ", ".join(FAULTS) + " on the single store; " + ", ".join(STORE_FAULTS) + " on patroni)")
    p.add_argument("--store", choices=["single", "patroni"], default="single",
                   help="one PostgreSQL server (default), or two managed by Patroni on etcd, synchronous "
                        "replication, both in PMM_POSTGRES_ADDR (needs patroni, etcd-server)")
    p.add_argument("--jar", default=os.path.join(topo.REPO, "runtime", "target", "pmm-ha.jar"))
    p.add_argument("--md", help="write the Markdown report here")
    p.add_argument("--json", help="write every run's figures here (JSON)")
    p.add_argument("--logdir", default=os.path.join(topo.REPO, "bench", "results", "tmp", "failover-lab"))
    p.add_argument("--env", action="append", default=[], help="extra node variable KEY=VALUE (repeatable)")
    p.add_argument("--profile", choices=["default", "fast"], default="default",
                   help="node timing: conf/ defaults, or the fast profile bench/results/failover.md was measured with")
    p.add_argument("--probe-port", choices=["api", "check"], default="api",
                   help="where the direct prober (no-leader gap, overlap) asks the leader check: the nodes' API "
                        "port (default), or the port the HAProxy config checks (its `check port`)")
    p.add_argument("--prober-priority", choices=["realtime", "normal"], default="realtime",
                   help="the direct prober's process runs at real-time priority (default: the instrument is not "
                        "starved by the nodes it measures), or at normal priority")
    p.add_argument("--rate", type=int, default=100, help="client reads per second through HAProxy")
    p.add_argument("--write-rate", type=int, default=10, help="client settings writes per second")
    p.add_argument("--heal-timeout", type=float, default=60.0, help="seconds after a heal to be healthy again")
    p.add_argument("--report-from", metavar="JSON", help="only write --md from an earlier run's --json, and exit")
    args = p.parse_args()

    if args.report_from:
        data = json.load(open(args.report_from))
        meta = data.get("meta") or {"date": datetime.date.today().isoformat(), "runs": args.runs, "env": args.env,
                                    "configs": sorted({r["config"] for r in data["results"]}, reverse=True),
                                    "elapsed_min": 0.0, "machine": f"{os.cpu_count()} cores, {os.uname().release}",
                                    "impair": "see the runs' notes"}
        write_report(args.md, data["results"], meta)
        return 0

    if os.geteuid() != 0:
        print("failover lab SKIPPED: it needs root (network namespaces, iptables, PostgreSQL as its own user); "
              "run it as root (CI does)")
        return 0
    missing = [b for b in ("haproxy", "iptables", "ip", "runuser") if not shutil.which(b)]
    if not os.path.exists(os.path.join(topo.PG_BIN, "initdb")):
        missing.append(f"PostgreSQL server ({topo.PG_BIN}/initdb; or set PMM_HA_PG_BIN)")
    if args.store == "patroni":
        missing += [b for b in ("patroni", "etcd") if not shutil.which(b)]
    if not os.path.exists(args.jar):
        missing.append(f"{args.jar} (mvn -DskipTests package)")
    if missing:
        print("failover lab: missing " + ", ".join(missing) + " (scripts/test.sh installs the packages)", file=sys.stderr)
        return 2
    configs = [c for c in args.configs.split(",") if c]
    faults = [f for f in (args.faults or ",".join(STORE_FAULTS if args.store == "patroni" else FAULTS)).split(",") if f]
    for f in faults:
        if f not in ALL_FAULTS:
            print(f"unknown fault {f}; known: {', '.join(ALL_FAULTS)}", file=sys.stderr)
            return 2
        if f in STORE_FAULTS and args.store != "patroni":
            print(f"fault {f} needs --store patroni", file=sys.stderr)
            return 2
        if f in SINGLE_STORE_FAULTS and args.store != "single":
            print(f"fault {f} acts on the single store: not with --store {args.store}", file=sys.stderr)
            return 2

    def on_term(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_term)
    lock = machine_lock("failover lab")  # noqa: F841 (held until the process ends)
    lab = Lab(args)
    results = []
    started = time.monotonic()
    error = None
    try:
        lab.setup(configs[0])
        for ci, cfg in enumerate(configs):
            if ci > 0:
                lab.haproxy.start(cfg)
                lab.log(f"HAProxy restarted with {cfg}")
            for fault in faults:
                for i in range(args.runs):
                    results.append(lab.run_fault(fault, cfg, i))
                    if args.json:
                        with open(args.json, "w") as f:
                            json.dump({"complete": False, "results": results}, f, indent=1)
    except KeyboardInterrupt:
        error = "interrupted"
    except Exception as e:  # report what was measured, then fail
        import traceback
        traceback.print_exc()
        error = f"{type(e).__name__}: {e}"
    finally:
        try:
            lab.teardown()
        except Exception as e:
            print(f"teardown: {e}", file=sys.stderr)
    meta = {
        "date": datetime.date.today().isoformat(), "runs": args.runs, "configs": configs,
        "elapsed_min": (time.monotonic() - started) / 60.0,
        "env": args.env + ([f"{k}={v}" for k, v in FAST_ENV.items()] + [FAST_JAVA_PROPS] if args.profile == "fast" else []),
        "machine": f"{os.cpu_count()} cores, {os.uname().release}",
        "store": (f"Patroni {topo.sh('patroni', '--version', check=False).split()[-1]} on etcd (one member), two "
                  f"PostgreSQL servers, synchronous_mode, ttl {lab.patroni.TTL} s, loop_wait {lab.patroni.LOOP_WAIT} "
                  f"s, retry_timeout {lab.patroni.RETRY_TIMEOUT} s (Patroni's defaults), use_pg_rewind; "
                  f"PMM_POSTGRES_ADDR={lab.patroni.addr}" if args.store == "patroni"
                  else f"one PostgreSQL server ({topo.BRIDGE_IP}:{topo.PG_PORT})"),
        "impair": "tc netem" if lab.net.has_netem else "the NFQUEUE delayer bench/lab/impair.py (no netem in this kernel)",
        "probe": ("the nodes' API port" if args.probe_port == "api"
                  else "the port HAProxy's config checks (`check port`, the nodes' probe port)"),
        "prober": lab.prober.priority if lab.prober else "not started",
    }
    unsafe = [f"{r['config']} {r['fault']} #{r['index']}" for r in results if not safe(r, args.heal_timeout)]
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"complete": error is None, "error": error, "meta": meta, "unsafe": unsafe,
                       "results": results}, f, indent=1)
    if args.md and results:
        write_report(args.md, results, meta)
        lab.log(f"report: {args.md}")
    for a, ok, m in targets(results):
        lab.log(f"target {'met' if ok else 'NOT met'}: {a}: {m}")
    if error:
        lab.log(f"lab ended early: {error}")
        return 2
    if unsafe:
        lab.log("UNSAFE runs: " + ", ".join(unsafe))
        return 1
    lab.log(f"{len(results)} runs, all safe")
    return 0


if __name__ == "__main__":
    sys.exit(main())
