"""Where the time of one failover goes: the first time each step of Pekko's removal path and of pmm-ha's
take-over appears in the node logs after the fault, as ../shared/FINDINGS.md times it by hand.

The nodes log wall-clock times (HH:mm:ss.SSS, logback's pattern in runtime's logback.xml); the lab keeps
monotonic ones, so the fault's wall-clock time is passed in. Only lines of nodes other than the faulted one count
(the step is what the survivors saw), except where a step names the node it happens on.
"""
import datetime
import os
import re

# (step, pattern): in the order a crash failover passes them, then the steps only a graceful hand-over has
STEPS = [
    ("crash recognised, downed (crash watch)", re.compile(r"CRASH of ")),
    ("the cut-off leader downs itself (crash watch)", re.compile(r"ISOLATED: this node leads")),
    ("silent leader, lease run out or released: downed (crash watch)", re.compile(r"SILENT LEADER ")),
    ("quarantined: TERMINATED", re.compile(r"Marking node as TERMINATED")),
    ("unreachable", re.compile(r"Marking node(?:\(s\))? as UNREACHABLE")),
    ("SBR decision (down)", re.compile(r"SBR took decision")),
    ("removed", re.compile(r"Leader is removing (?:unreachable|confirmed Exiting|downed)? ?node")),
    ("singleton started", re.compile(r"Leader singleton starting on")),
    ("journal recovered", re.compile(r"Leader singleton recovered on")),
    ("waits for the old lease", re.compile(r"LEADER waiting on")),
    ("fence taken, answers 200", re.compile(r"LEADER on \S+: fence (taken|handed over) for epoch")),
    ("fence taken, elected", re.compile(r"LEADER elected")),
    ("hand-over begins: the old leader stops answering 200", re.compile(r"LEADER handing over:")),
    ("services stopped, fence released next", re.compile(r"LEADER released: ")),
    ("fence released, the singleton moves next", re.compile(r"LEADER fence released: ")),
]

# steps logged by the faulted node itself (its process still runs when it is cut off, or hands over)
ON_FAULTED = {"the cut-off leader downs itself (crash watch)", "hand-over begins: the old leader stops answering 200",
              "services stopped, fence released next", "fence released, the singleton moves next"}

LINE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) ")


def log_lines(path, day):
    """(wall-clock time, line) for each timestamped line of a node log written on day."""
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            h, mi, s, ms = (int(g) for g in m.groups())
            t = datetime.datetime.combine(day, datetime.time(h, mi, s, ms * 1000)).timestamp()
            yield t, line.rstrip("\n")


def steps(logdir, nodes, faulted, wall_fault, window_s=30.0):
    """[(seconds after the fault, step, node)] for the first occurrence of each step, within window_s."""
    day = datetime.date.fromtimestamp(wall_fault)
    first = {}
    for node in nodes:
        path = os.path.join(logdir, f"{node}.log")
        if not os.path.exists(path):
            continue
        for t, line in log_lines(path, day):
            if t < wall_fault - 0.001 or t > wall_fault + window_s:
                continue
            for name, pat in STEPS:
                if (node == faulted) != (name in ON_FAULTED):
                    continue
                if pat.search(line) and (name not in first or t < first[name][0]):
                    first[name] = (t, node)
    out = [(round(t - wall_fault, 3), name, node) for name, (t, node) in first.items()]
    return sorted(out)


def table(step_list, served_s):
    """A Markdown table: each step, when it came after the fault and how long after the step before."""
    rows = ["| step | node | after the fault | after the step before |", "|---|---|---|---|"]
    last = 0.0
    for t, name, node in step_list + ([(served_s, "HAProxy serves the new leader", "haproxy")] if served_s else []):
        rows.append(f"| {name} | {node} | {t:.3f} s | {t - last:+.3f} s |")
        last = t
    return "\n".join(rows)
