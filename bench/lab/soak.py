"""The no-false-downs soak (issue #18): the lab's three nodes, HAProxy and PostgreSQL with its client load (100
reads/s and 10 settings writes/s through HAProxy, a 20 ms prober of every node), and processes spinning on a
core at the same time, for a set time with no fault. It counts every unreachable mark, every down, every node exit
and every leadership change; the target is 0 downs and 0 leadership changes.

    bench/soak --minutes 30                       # the defaults of conf/
    bench/soak --minutes 30 --profile fast        # the lab's fast profile
    bench/soak --minutes 30 --env PMM_HA_LEASE_TTL=1s ...
"""
import argparse
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lab as labmod  # noqa: E402
import steps  # noqa: E402
import topology as topo  # noqa: E402

UNREACHABLE = re.compile(r"Marking node(?:\(s\))? as UNREACHABLE")
DOWNED = re.compile(r"MEMBER downed: (\S+)")
CRASH = re.compile(r"CRASH of (\S+):")


def count_logs(logdir, nodes, wall_from, wall_to):
    """Counts in the node logs between two wall-clock times: unreachable marks (each node's own), downs (a member
    seen downed, counted once however many nodes log it: the same name within 10 s is the same down), and which of
    them the crash watch gave; and the lines themselves, for the report."""
    out = {"unreachable": 0, "downs": 0, "crash_downs": 0, "lines": []}
    downed, crashed = [], []
    for node in nodes:
        path = os.path.join(logdir, f"{node}.log")
        if not os.path.exists(path):
            continue
        for t, line in steps.log_lines(path, datetime.date.fromtimestamp(wall_from)):
            if t < wall_from or t > wall_to:
                continue
            if UNREACHABLE.search(line):
                out["unreachable"] += 1
                out["lines"].append(line.strip()[:200])
            d = DOWNED.search(line)
            if d:
                downed.append((t, d.group(1)))
                out["lines"].append(line.strip()[:200])
            c = CRASH.search(line)
            if c:
                crashed.append((t, c.group(1)))
                out["lines"].append(line.strip()[:200])
    out["downs"] = _distinct(downed)
    out["crash_downs"] = _distinct(crashed)
    return out


def pg_sample(lab):
    """What the store has done so far: commits in the nodes' database, updates of the fence row (renewals and
    takes), and the CPU seconds of the PostgreSQL server (the postmaster and every backend), from /proc."""
    row = lab.pg.psql("SELECT d.xact_commit, coalesce((SELECT n_tup_upd FROM pg_stat_user_tables "
                      "WHERE relname = 'pmm_ha_fence'), 0) FROM pg_stat_database d "
                      "WHERE d.datname = current_database()", db="pmm-managed")
    commits, fence = (int(x) for x in row.split("|"))
    return {"t": time.monotonic(), "commits": commits, "fence_updates": fence, "cpu_s": pg_cpu_seconds(lab)}


def pg_cpu_seconds(lab):
    """utime + stime of the postmaster and its children (backends, WAL writer, checkpointer ...)."""
    pm = int(open(os.path.join(lab.pg.data, "postmaster.pid")).readline().strip())
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fields = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid = int(fields[1])
        if int(d) == pm or ppid == pm:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def pg_rates(a, b):
    dt = b["t"] - a["t"]
    return {"commits_per_s": round((b["commits"] - a["commits"]) / dt, 1),
            "fence_updates_per_s": round((b["fence_updates"] - a["fence_updates"]) / dt, 1),
            "pg_cpu_pct": round(100 * (b["cpu_s"] - a["cpu_s"]) / dt, 2)}


def _distinct(events):
    """Events (time, name) counted once per name within 10 s: several nodes log the same down."""
    n, last = 0, {}
    for t, name in sorted(events):
        if name not in last or t - last[name] > 10.0:
            n += 1
        last[name] = t
    return n


def main():
    p = argparse.ArgumentParser(description="pmm-ha soak: no fault, client load and a CPU spinner; counts downs")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--spinners", type=int, default=1, help="processes spinning on a core each (default 1)")
    p.add_argument("--config", default="pmm-ha-recommended", help="HAProxy config of deploy/haproxy/")
    p.add_argument("--jar", default=os.path.join(topo.REPO, "runtime", "target", "pmm-ha.jar"))
    p.add_argument("--logdir", default=os.path.join(topo.REPO, "bench", "results", "tmp", "soak"))
    p.add_argument("--env", action="append", default=[], help="extra node variable KEY=VALUE (repeatable)")
    p.add_argument("--profile", choices=["default", "fast"], default="default")
    p.add_argument("--rate", type=int, default=100)
    p.add_argument("--write-rate", type=int, default=10)
    p.add_argument("--md", help="write the result here (Markdown)")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("soak SKIPPED: it needs root (network namespaces, iptables)")
        return 0
    if not os.path.exists(args.jar):
        print(f"soak: missing {args.jar} (mvn -DskipTests package)", file=sys.stderr)
        return 2
    args.heal_timeout = 60.0
    lock = labmod.machine_lock("soak")  # noqa: F841 (held until the process ends)

    def on_term(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_term)
    lab = labmod.Lab(args)
    spinners = []
    result = None
    rc = 0
    try:
        lab.setup(args.config)
        _, epoch0 = lab.current_leader()
        exits0 = sum(1 for _, text in list(lab.events) if "exited" in text)
        for _ in range(args.spinners):
            spinners.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        lab.log(f"soak: {args.minutes:g} min, {args.spinners} spinner(s) (PIDs "
                f"{', '.join(str(s.pid) for s in spinners)}), leader epoch {epoch0}")
        wall0 = time.time()
        pg0 = pg_sample(lab)
        t_end = time.monotonic() + args.minutes * 60
        next_report = time.monotonic() + 60
        while time.monotonic() < t_end:
            time.sleep(1.0)
            if time.monotonic() >= next_report:
                next_report += 60
                c = count_logs(args.logdir, lab.nodes, wall0, time.time())
                lab.log(f"soak: {(time.monotonic() - (t_end - args.minutes * 60)) / 60:.0f} min: unreachable marks "
                        f"{c['unreachable']}, downs {c['downs']}, highest epoch seen "
                        f"{lab.client.max_epoch}")
        wall1 = time.time()
        pg = pg_rates(pg0, pg_sample(lab))
        for s in spinners:
            s.terminate()
        ok, why = lab.wait_healthy(60)
        _, epoch1 = lab.current_leader()
        exits = sum(1 for _, text in list(lab.events) if "exited" in text) - exits0
        c = count_logs(args.logdir, lab.nodes, wall0, wall1)
        acked, lost, unread = lab.check_writes()
        result = {
            "date": datetime.date.today().isoformat(), "minutes": args.minutes, "spinners": args.spinners,
            "profile": args.profile, "env": args.env, "config": args.config,
            "unreachable_marks": c["unreachable"], "downs": c["downs"],
            "crash_watch_downs": c["crash_downs"], "node_exits": exits, "leadership_changes": epoch1 - epoch0,
            "acked_writes": len(acked), "lost_writes": len(lost), "healthy_at_end": ok,
            "machine": f"{os.cpu_count()} cores", "lines": c["lines"][:50], **pg,
        }
        for k in ("unreachable_marks", "downs", "node_exits", "leadership_changes", "lost_writes",
                  "commits_per_s", "fence_updates_per_s", "pg_cpu_pct"):
            print(f"figure: {k} {result[k]}")
        if result["downs"] or result["leadership_changes"] or result["lost_writes"]:
            rc = 1
    except KeyboardInterrupt:
        rc = 2
    finally:
        for s in spinners:
            if s.poll() is None:
                s.kill()
            s.wait()
        lab.teardown()
    if result and args.md:
        cmd = "bench/soak " + " ".join(sys.argv[1:])
        with open(args.md, "w") as f:
            f.write(f"# Soak: no fault, client load, {args.spinners} CPU spinner(s)\n\n"
                    f"Command: `{cmd}` on {result['date']} ({result['machine']}; profile {args.profile}"
                    + (f", {' '.join(args.env)}" if args.env else "") + ").\n\n"
                    "| minutes | unreachable marks (suspicions) | downs | of which by the crash watch | node exits "
                    "| leadership changes | settings keys checked (latest acknowledged value each) | lost |\n|---|---|---|---|---|---|---|---|\n"
                    f"| {args.minutes:g} | {result['unreachable_marks']} | {result['downs']} | "
                    f"{result['crash_watch_downs']} | {result['node_exits']} | {result['leadership_changes']} | "
                    f"{result['acked_writes']} | {result['lost_writes']} |\n\n"
                    "What the store did meanwhile (PostgreSQL's own counters, its processes' CPU from /proc; the "
                    "client load writes too):\n\n| commits/s | fence row updates/s | PostgreSQL CPU (% of one "
                    "core) |\n|---|---|---|\n"
                    f"| {result['commits_per_s']} | {result['fence_updates_per_s']} | {result['pg_cpu_pct']} |\n\n"
                    + ("Lines counted:\n\n```\n" + "\n".join(result["lines"]) + "\n```\n" if result["lines"] else ""))
        print(f"soak: report {args.md}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
