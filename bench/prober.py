#!/usr/bin/env python3
"""Probing and reporting half of bench/failover.sh (Python 3 standard library only).

Subcommands:
  wait-healthy  wait until every node is ready, lists all nodes as alive, and exactly one node is leader
  measure       find the leader, send it a signal, and time how long until another node answers as leader
  amend         add key=value figures (exit code, rejoin time) to a run's JSON file
  report        print the min/median/max table of all runs and write it as markdown

How `measure` times a failover: one thread per node sends GET /v1/server/leaderHealthCheck over a keep-alive
connection every --interval seconds (short timeout, reconnect on any error) and records, for each answer, the
monotonic time the request was sent, the time the answer arrived, and the HTTP status (0 for no answer). The same
process sends the signal (os.kill), so the signal and the answers share one clock. Figures, all from that record:
  failover       signal -> arrival of the first 200 from a node other than the old leader
  gap            longest time between two consecutive 200s from any node (arrival times), around the failover:
                 the time during which no node was seen answering as leader
  old_last_200   signal -> arrival of the old leader's last 200 (negative after kill -9: it answered just before)
  old_exit       signal -> the old leader's process is gone (from /proc; the shell reaps it)
  overlap        how long the old leader was still seen answering 200 after the new leader was (send time of the
                 old leader's last 200 minus arrival of the new leader's first 200; 0 when they never overlap)
The resolution of every figure is about one poll interval plus one loopback round trip.
"""

import argparse
import glob
import http.client
import json
import os
import signal
import statistics
import sys
import threading
import time

CHECK_PATH = "/v1/server/leaderHealthCheck"


def die(msg):
    print(f"prober: error: {msg}", file=sys.stderr)
    sys.exit(1)


def get(ip, port, path, timeout=1.0):
    """One GET on a fresh connection: (status, parsed JSON body or None); (0, None) when there is no answer."""
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        try:
            return resp.status, json.loads(body) if body else None
        except ValueError:
            return resp.status, None
    except (OSError, http.client.HTTPException):
        return 0, None
    finally:
        conn.close()


def process_gone(pid):
    """True once the process is gone or a zombie (exited, not yet reaped by the shell that started it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True


class Poller(threading.Thread):
    """Polls one node's leader health check every `interval` seconds; samples are (sent, arrived, status)."""

    def __init__(self, ip, port, interval, timeout):
        super().__init__(daemon=True)
        self.ip, self.port, self.interval, self.timeout = ip, port, interval, timeout
        self.samples = []  # list.append is atomic in CPython; readers take a copy with list(...)
        self.stop = threading.Event()

    def run(self):
        conn = None
        next_at = time.monotonic()
        while not self.stop.is_set():
            if conn is None:
                conn = http.client.HTTPConnection(self.ip, self.port, timeout=self.timeout)
            sent = time.monotonic()
            try:
                conn.request("GET", CHECK_PATH)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = None
            self.samples.append((sent, time.monotonic(), status))
            # fixed schedule: one request per interval, or back to back when a request took longer than that
            next_at = max(next_at + self.interval, time.monotonic())
            self.stop.wait(next_at - time.monotonic())
        if conn is not None:
            conn.close()


def parse_nodes(specs):
    """--node IP=PID (repeated) -> [(ip, pid)]"""
    nodes = []
    for s in specs:
        ip, _, pid = s.partition("=")
        if not ip or not pid.isdigit():
            die(f"--node wants IP=PID, got {s!r}")
        nodes.append((ip, int(pid)))
    return nodes


# ---------------------------------------------------------------------------------------------------- wait-healthy

def cmd_wait_healthy(a):
    """Ready on all, every node's /v1/ha/nodes lists all nodes alive, exactly one leader: or a clear error."""
    nodes = parse_nodes(a.node)
    ips = [ip for ip, _ in nodes]
    start = time.monotonic()
    deadline = start + a.timeout
    problems = ["not checked yet"]
    while time.monotonic() < deadline:
        for ip, pid in nodes:
            if process_gone(pid):
                die(f"node {ip} (pid {pid}) exited while waiting for a healthy cluster; see its log")
        problems = []
        leaders = []
        for ip in ips:
            status, body = get(ip, a.port, "/v1/readyz")
            if status != 200:
                problems.append(f"{ip} readyz={status or 'no answer'} {json.dumps(body) if body else ''}".strip())
            status, body = get(ip, a.port, "/v1/ha/nodes")
            members = (body or {}).get("nodes") or []
            alive = sorted(n.get("node_name", "?") for n in members if n.get("status") == "alive")
            if status != 200 or len(alive) != len(ips) or len(members) != len(ips):
                seen = ", ".join(f"{n.get('node_name')}:{n.get('status')}" for n in members) or "none"
                problems.append(f"{ip} sees members [{seen}]")
            if get(ip, a.port, CHECK_PATH)[0] == 200:
                leaders.append(ip)
        if len(leaders) != 1:
            problems.append(f"leader check 200 on {len(leaders)} nodes {leaders}, want exactly 1")
        if not problems:
            elapsed = time.monotonic() - start
            if a.record:
                amend(a.record, {a.record_key: round(elapsed, 3)})
            print(f"cluster healthy after {elapsed:.1f} s (leader {leaders[0]})")
            return
        time.sleep(0.25)
    die(f"cluster not healthy within {a.timeout:g} s ({a.what}); last check: " + "; ".join(problems))


# --------------------------------------------------------------------------------------------------------- measure

def cmd_measure(a):
    nodes = parse_nodes(a.node)
    sig = getattr(signal, "SIG" + a.signal)
    pollers = {ip: Poller(ip, a.port, a.interval, a.http_timeout) for ip, _ in nodes}
    for p in pollers.values():
        p.start()
    try:
        result = measure(a, nodes, sig, pollers)
    finally:
        for p in pollers.values():
            p.stop.set()
        for p in pollers.values():
            p.join(2)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    with open(a.victim_file, "w") as f:
        f.write(result["old_leader"] + "\n")
    figs = ", ".join(f"{k} {result[k]:.3f} s" for k in ("failover", "gap", "old_last_200", "old_exit", "overlap")
                     if result.get(k) is not None)
    print(f"{result['scenario']} run {result['run']}: SIG{a.signal} to {result['old_leader']} -> "
          f"{result['new_leader']} leads; {figs}")


def measure(a, nodes, sig, pollers):
    pid_of = dict(nodes)

    # 1. A stable leader: for --stable seconds, every node answered, exactly one always with 200, others never.
    deadline = time.monotonic() + a.leader_timeout
    leader = None
    while leader is None:
        if time.monotonic() > deadline:
            die(f"no single stable leader within {a.leader_timeout:g} s before the signal (leader check: "
                + ", ".join(f"{ip}={[s for _, _, s in p.samples[-3:]]}" for ip, p in pollers.items()) + ")")
        time.sleep(0.1)
        since = time.monotonic() - a.stable
        window = {ip: [s for sent, _, s in list(p.samples) if sent >= since] for ip, p in pollers.items()}
        if any(not w or 0 in w for w in window.values()):
            continue
        always = [ip for ip, w in window.items() if all(s == 200 for s in w)]
        never = [ip for ip, w in window.items() if all(s != 200 for s in w)]
        if len(always) == 1 and len(never) == len(nodes) - 1:
            leader = always[0]
    _, before = get(leader, a.port, "/v1/ha/leader")
    before = before or {}

    # 2. The signal, on the same clock as the samples.
    t_sig = time.monotonic()
    try:
        os.kill(pid_of[leader], sig)
    except ProcessLookupError:
        die(f"the leader {leader} (pid {pid_of[leader]}) is already gone; see its log")

    # 3. Until another node answers 200, then keep polling --after seconds more (to see a flap or an overlap)
    #    and until the old leader's process is gone (bounded by --exit-timeout).
    first_new = None  # (arrived, sent, ip)
    t_exit = None
    fail_deadline = t_sig + a.failover_timeout
    exit_deadline = t_sig + a.exit_timeout
    while True:
        now = time.monotonic()
        if t_exit is None and process_gone(pid_of[leader]):
            t_exit = now
        if first_new is None:
            for ip, p in pollers.items():
                if ip == leader:
                    continue
                for sent, arrived, status in list(p.samples):
                    if status == 200 and sent >= t_sig and (first_new is None or arrived < first_new[0]):
                        first_new = (arrived, sent, ip)
            if first_new is None and now > fail_deadline:
                die(f"no other node answered 200 within {a.failover_timeout:g} s after SIG{a.signal} to leader "
                    f"{leader} (pid {pid_of[leader]}); last answers: "
                    + ", ".join(f"{ip}={[s for _, _, s in p.samples[-3:]]}" for ip, p in pollers.items()))
        if first_new is not None and now >= first_new[0] + a.after and (t_exit is not None or now > exit_deadline):
            break
        time.sleep(0.005)

    samples = {ip: list(p.samples) for ip, p in pollers.items()}
    new_leader = first_new[2]
    _, after = get(new_leader, a.port, "/v1/ha/leader")
    after = after or {}

    # Longest time with no 200 from any node, from 1 s before the signal to the end of polling.
    oks = sorted(arrived for s in samples.values() for _, arrived, st in s if st == 200 and arrived >= t_sig - 1)
    gap = max((b - a_ for a_, b in zip(oks, oks[1:])), default=None)

    old_200 = [(sent, arrived) for sent, arrived, st in samples[leader] if st == 200]
    old_last_200 = old_200[-1][1] - t_sig if old_200 else None
    overlap = max(0.0, old_200[-1][0] - first_new[0]) if old_200 else 0.0
    # After the new leader answered 200: did it ever stop, or did a third node also answer 200?
    new_flaps = sum(1 for sent, _, st in samples[new_leader] if sent > first_new[0] and st != 200)
    others_200 = sorted({ip for ip, s in samples.items() if ip not in (leader, new_leader)
                         for sent, _, st in s if st == 200 and sent > t_sig})
    intervals = [b[0] - a_[0] for s in samples.values() for a_, b in zip(s, s[1:])]
    return {
        "scenario": a.scenario,
        "run": a.run,
        "signal": "SIG" + a.signal,
        "old_leader": leader,
        "new_leader": new_leader,
        "epoch_before": before.get("epoch"),
        "leader_id_before": before.get("node_id"),
        "epoch_after": after.get("epoch"),
        "leader_id_after": after.get("node_id"),
        "failover": round(first_new[0] - t_sig, 4),
        "gap": round(gap, 4) if gap is not None else None,
        "old_last_200": round(old_last_200, 4) if old_last_200 is not None else None,
        "old_exit": round(t_exit - t_sig, 4) if t_exit is not None else None,
        "overlap": round(overlap, 4),
        "new_leader_non200_after_first_200": new_flaps,
        "other_nodes_answering_200": others_200,
        "probes": sum(len(s) for s in samples.values()),
        "median_probe_interval_ms": round(statistics.median(intervals) * 1000, 1) if intervals else None,
    }


# ----------------------------------------------------------------------------------------------- amend and report

def amend(path, values):
    with open(path) as f:
        run = json.load(f)
    run.update(values)
    with open(path, "w") as f:
        json.dump(run, f, indent=1)


def cmd_amend(a):
    values = {}
    for kv in a.values:
        k, _, v = kv.partition("=")
        try:
            values[k] = json.loads(v)
        except ValueError:
            values[k] = v
    amend(a.file, values)


SCENARIOS = {"crash": "kill -9 of the leader (crash)", "graceful": "SIGTERM of the leader (graceful leave)"}
FIGURES = {
    "crash": [("failover", "signal -> first 200 from another node"),
              ("gap", "longest time no node answered 200")],
    "graceful": [("failover", "signal -> first 200 from another node"),
                 ("gap", "longest time no node answered 200"),
                 ("old_last_200", "signal -> old leader's last 200"),
                 ("old_exit", "signal -> old leader's process exited"),
                 ("overlap", "old and new leader both answering 200")],
}
ALWAYS = [("rejoin", "restart of the stopped node -> all alive and ready")]


def fmt(v):
    return "-" if v is None else f"{v:.2f} s".replace("-0.00", "0.00")


def cmd_report(a):
    runs = []
    for path in sorted(glob.glob(os.path.join(a.runs, "*.json"))):
        with open(path) as f:
            runs.append(json.load(f))
    if not runs:
        die(f"no runs in {a.runs}")
    runs.sort(key=lambda r: (list(SCENARIOS).index(r["scenario"]), r["run"]))

    lines = [f"Command: `{a.command}`", f"Machine: {a.machine}", f"Build: {a.build}",
             f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}", f"Load: {a.load}", ""]
    lines += ["| scenario | figure | runs | min | median | max |", "|---|---|---|---|---|---|"]
    for sc, title in SCENARIOS.items():
        these = [r for r in runs if r["scenario"] == sc]
        if not these:
            continue
        for key, label in FIGURES[sc] + ALWAYS:
            vals = [r[key] for r in these if r.get(key) is not None]
            if not vals:
                continue
            lines.append(f"| {title} | {label} | {len(vals)} | {fmt(min(vals))} | "
                         f"{fmt(statistics.median(vals))} | {fmt(max(vals))} |")

    lines += ["", "Per run:", "",
              "| scenario | run | old leader -> new | epoch | failover | gap | old last 200 | old exit | exit code "
              "| rejoin |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['scenario']} | {r['run']} | {r.get('leader_id_before') or r['old_leader']} -> "
                     f"{r.get('leader_id_after') or r['new_leader']} | {r.get('epoch_before')} -> "
                     f"{r.get('epoch_after')} | {fmt(r.get('failover'))} | {fmt(r.get('gap'))} | "
                     f"{fmt(r.get('old_last_200'))} | {fmt(r.get('old_exit'))} | {r.get('exit_code', '-')} | "
                     f"{fmt(r.get('rejoin'))} |")

    notes = list(a.note or [])
    for r in runs:
        tag = f"{r['scenario']} run {r['run']}"
        if r.get("epoch_before") is not None and r.get("epoch_after") is not None \
                and r["epoch_after"] <= r["epoch_before"]:
            notes.append(f"{tag}: the epoch did not grow ({r['epoch_before']} -> {r['epoch_after']})")
        if r.get("overlap"):
            notes.append(f"{tag}: old and new leader both answered 200 for {r['overlap']:.3f} s")
        if r.get("new_leader_non200_after_first_200"):
            notes.append(f"{tag}: the new leader answered non-200 {r['new_leader_non200_after_first_200']} "
                         "times after its first 200")
        if r.get("other_nodes_answering_200"):
            notes.append(f"{tag}: a third node also answered 200: {r['other_nodes_answering_200']}")
    codes = sorted({r.get("exit_code") for r in runs if r["scenario"] == "graceful" and r.get("exit_code")})
    if codes:
        notes.append(f"graceful: the stopped node exited with code {', '.join(map(str, codes))} after SIGTERM, "
                     "where pmm-ha's Main documents 0 after a graceful stop")
    if notes:
        lines += ["", "Anomalies:", ""] + [f"- {n}" for n in notes]

    intervals = [r["median_probe_interval_ms"] for r in runs if r.get("median_probe_interval_ms")]
    lines += ["", "How: a prober thread per node polls GET /v1/server/leaderHealthCheck directly "
              f"(median interval {statistics.median(intervals):.1f} ms) and sends the signal itself, so both share "
              "one monotonic clock; times are arrival times of the answers. Failover: signal -> first 200 from "
              "another node. Gap: longest time between consecutive 200s from any node. Old exit: signal -> the "
              "old leader's process is gone. Exit code: of the stopped node (137 = killed by SIGKILL). Rejoin: "
              "restart of the stopped node -> every node ready and listing all three alive, one leader. "
              "Between runs the cluster settles for a few seconds."]

    text = "\n".join(lines)
    print(text)
    if a.markdown:
        os.makedirs(os.path.dirname(a.markdown) or ".", exist_ok=True)
        with open(a.markdown, "w") as f:
            f.write("# pmm-ha failover benchmark\n\n" + text + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    w = sub.add_parser("wait-healthy")
    w.add_argument("--node", action="append", required=True, help="IP=PID, once per node")
    w.add_argument("--port", type=int, default=8080)
    w.add_argument("--timeout", type=float, default=180)
    w.add_argument("--what", default="waiting for the cluster", help="what the wait was for, for the error")
    w.add_argument("--record", help="run JSON file to add the elapsed time to")
    w.add_argument("--record-key", default="rejoin")
    w.set_defaults(fn=cmd_wait_healthy)

    m = sub.add_parser("measure")
    m.add_argument("--node", action="append", required=True, help="IP=PID, once per node")
    m.add_argument("--port", type=int, default=8080)
    m.add_argument("--signal", choices=["KILL", "TERM"], required=True)
    m.add_argument("--scenario", required=True, choices=list(SCENARIOS))
    m.add_argument("--run", type=int, required=True)
    m.add_argument("--interval", type=float, default=0.01, help="seconds between probes of one node")
    m.add_argument("--http-timeout", type=float, default=0.25)
    m.add_argument("--stable", type=float, default=1.0, help="seconds of one steady leader before the signal")
    m.add_argument("--leader-timeout", type=float, default=30)
    m.add_argument("--failover-timeout", type=float, default=60)
    m.add_argument("--exit-timeout", type=float, default=30)
    m.add_argument("--after", type=float, default=1.5, help="seconds to keep polling after the new leader")
    m.add_argument("--out", required=True)
    m.add_argument("--victim-file", required=True, help="file to write the old leader's IP to")
    m.set_defaults(fn=cmd_measure)

    am = sub.add_parser("amend")
    am.add_argument("file")
    am.add_argument("values", nargs="+", help="key=value (value parsed as JSON when it is)")
    am.set_defaults(fn=cmd_amend)

    r = sub.add_parser("report")
    r.add_argument("--runs", required=True, help="directory of run JSON files")
    r.add_argument("--command", required=True)
    r.add_argument("--machine", required=True)
    r.add_argument("--build", default="-")
    r.add_argument("--load", default="-")
    r.add_argument("--note", action="append")
    r.add_argument("--markdown")
    r.set_defaults(fn=cmd_report)

    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
