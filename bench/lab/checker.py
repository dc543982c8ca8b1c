"""The checker: what the records of one fault run say about safety and availability.

Definitions (all times from the lab's one monotonic clock):
- A 200 answer of node N is the interval [t_send, t_recv] of its probe: the node decided to answer 200 at some
  instant inside it. Overlap is any instant covered by 200 intervals of two different nodes; overlap_ms is the
  total length of such instants. It errs on the side of reporting (two answers whose intervals merely touch
  count), so 0 ms means the prober never saw two leaders at any instant it could have seen them.
- Epochs never go backwards in answer order: for two 200 answers (client or probe) with epochs e1 < e2, the
  e1 answer must not have been sent after the e2 answer was received (t_send(e1) > t_recv(e2) would prove the
  e1 leader answered after the e2 leader did).
- A no-leader gap (direct) is the time between two consecutive 200 answers of the prober (any node), by t_recv;
  its resolution is the probe period. An HAProxy outage is a run of failed client reads, from the t_send of the
  first failed read to the t_send of the first good read after it.
- Time until HAProxy serves the new leader: from the fault to the t_recv of the first client read answered 200
  with an epoch above the epoch that led when the fault was injected.
- Lost acknowledged writes: keys whose value on some node, once the cluster is healthy again, is older than the
  last write of that key acknowledged with 200 (or is not a value the client ever wrote).
"""
import json


def overlap(records):
    """(total overlap ms, list of (node1, node2, start, end)) over probe 200 intervals of different nodes."""
    iv = sorted((r.t_send, r.t_recv, r.node) for r in records if r.kind == "probe" and r.status == 200)
    active = []
    total = 0.0
    spans = []
    for s, e, node in iv:
        active = [a for a in active if a[1] > s]
        for a_s, a_e, a_node in active:
            if a_node != node:
                o_s, o_e = max(s, a_s), min(e, a_e)
                if o_e > o_s:
                    total += o_e - o_s
                    spans.append((a_node, node, o_s, o_e))
        active.append((s, e, node))
    return total * 1000.0, spans


def epochs_backwards(records):
    """(count, worst ms): answers of an older epoch sent after a newer epoch's answer was received."""
    by_epoch = {}
    for r in records:
        if r.status == 200 and r.epoch > 0 and r.kind in ("read", "probe", "write"):
            lo, hi = by_epoch.get(r.epoch, (float("inf"), float("-inf")))
            by_epoch[r.epoch] = (min(lo, r.t_recv), max(hi, r.t_send))
    count, worst = 0, 0.0
    latest_send = float("-inf")
    for e in sorted(by_epoch):
        first_recv, last_send = by_epoch[e]
        if latest_send > first_recv:
            count += 1
            worst = max(worst, (latest_send - first_recv) * 1000.0)
        latest_send = max(latest_send, last_send)
    return count, worst


def oks_between(records, t0, t1):
    """(time received, node) of every 200 the prober got inside [t0, t1], in order."""
    return sorted((r.t_recv, r.node) for r in records if r.kind == "probe" and r.status == 200 and t0 <= r.t_recv <= t1)


def gap_at(records, t0, t1):
    """Where the longest no-leader gap (the longest time with no 200 from any node to the prober, inside [t0, t1])
    lies: (start, end, node whose 200 came before it or "", node whose 200 ended it or "", {node: {answer: count}}
    of the probes received inside it, where an answer is a status or "none" for no answer)."""
    oks = oks_between(records, t0, t1)
    points = [(t0, "")] + oks + [(t1, "")]
    a, b = max(zip(points, points[1:]), key=lambda p: p[1][0] - p[0][0])
    inside = {}
    for r in records:
        if r.kind == "probe" and a[0] < r.t_recv < b[0]:
            answers = inside.setdefault(r.node, {})
            key = str(r.status) if r.status > 0 else "none"
            answers[key] = answers.get(key, 0) + 1
    return a[0], b[0], a[1], b[1], inside


def change_gap(records, t0, t1):
    """The longest time, inside [t0, t1], between a 200 from one node and the next 200 from another (a start of
    the window counts as a 200 from nobody): the gap the change of leader itself made, which the longest gap
    (gap_at) may exceed when the leader later stalls. Seconds; with no change, the time to the first 200."""
    oks = oks_between(records, t0, t1)
    points = [(t0, "")] + oks
    return max((b[0] - a[0] for a, b in zip(points, points[1:]) if a[1] != b[1]), default=0.0)


def gap_description(at, t_fault):
    """One line on where the longest gap lies (gap_at's answer), times in seconds after the fault."""
    start, end, before, after, inside = at
    answers = "; ".join(f"{n}: " + ", ".join(f"{k} x{v}" for k, v in sorted(a.items())) for n, a in sorted(inside.items()))
    return (f"from {start - t_fault:.3f} s (last 200: {before or 'none'}) to {end - t_fault:.3f} s (next 200: "
            f"{after or 'none'}); probes answered inside: {answers or 'none'}")


def outages(records):
    """HAProxy outages from client reads, in send order: list of (start, end, failed count), where start is the
    send time of the first failed read of a run and end the send time of the first good read after it (reads
    are sent every 10 ms, so that is the resolution)."""
    reads = sorted((r for r in records if r.kind == "read"), key=lambda r: r.t_send)
    out = []
    run = None
    for r in reads:
        if r.status == 200:
            if run is not None:
                out.append((run[0], r.t_send, run[1]))
                run = None
        else:
            if run is None:
                run = [r.t_send, 0]
            run[1] += 1
    if run is not None:
        out.append((run[0], reads[-1].t_recv, run[1]))
    return out


def first_new_leader(records, t_fault, old_epoch):
    """t_recv of the first client read after t_fault answered 200 with an epoch above old_epoch, or None."""
    best = None
    for r in records:
        if r.kind == "read" and r.status == 200 and r.epoch > old_epoch and r.t_send >= t_fault - 0.05:
            if best is None or r.t_recv < best:
                best = r.t_recv
    return best


def lost_writes(acked, attempted, node_settings):
    """Acknowledged writes not visible on some node: list of (node, key, acked seq, seen seq or None)."""
    lost = []
    for node, settings in node_settings.items():
        for key, (seq, _version) in acked.items():
            entry = settings.get(key)
            seen = None
            if entry is not None:
                value = entry.get("value")
                if isinstance(value, str):
                    value = json.loads(value)
                seen = value.get("seq") if isinstance(value, dict) else None
            if seen is None or seen < seq or seen not in attempted.get(key, ()):
                lost.append((node, key, seq, seen))
    return lost


def summarize(records, t_fault, t_heal, t_end, old_epoch, t_leader_fault=None):
    """The figures of one fault run from its records (all sent within the run's window)."""
    reads = [r for r in records if r.kind == "read"]
    writes = [r for r in records if r.kind == "write"]
    ov_ms, spans = overlap(records)
    gap = gap_at(records, t_fault, t_end)
    back, back_ms = epochs_backwards(records)
    new = first_new_leader(records, t_leader_fault or t_fault, old_epoch)
    outs = outages(records)
    lat = sorted((r.t_recv - r.t_send) * 1000.0 for r in reads)
    epochs = sorted({r.epoch for r in records if r.status == 200 and r.epoch > 0})
    return {
        "failover_s": None if new is None else round(new - (t_leader_fault or t_fault), 3),
        "reads": len(reads),
        "failed_reads": sum(1 for r in reads if r.status != 200),
        "writes": len(writes),
        "failed_writes": sum(1 for r in writes if r.status != 200),
        "overlap_ms": round(ov_ms, 3),
        "overlap_spans": [(a, b, round(s - t_fault, 3), round(e - t_fault, 3)) for a, b, s, e in spans[:10]],
        "epoch_backwards": back,
        "epoch_backwards_ms": round(back_ms, 3),
        "max_gap_ms": round((gap[1] - gap[0]) * 1000.0, 1),
        "max_gap_at": gap_description(gap, t_fault),
        "change_gap_ms": round(change_gap(records, t_fault, t_end) * 1000.0, 1),
        "haproxy_outage_ms": round(max(((e - s) for s, e, _ in outs), default=0.0) * 1000.0, 1),
        "haproxy_outage_total_ms": round(sum((e - s) for s, e, _ in outs) * 1000.0, 1),
        "read_latency_p99_ms": round(lat[int(len(lat) * 0.99)] if lat else 0.0, 1),
        "read_latency_max_ms": round(lat[-1] if lat else 0.0, 1),
        "epochs": epochs,
    }
