"""The faults. Each one is injected on the running, loaded cluster and then healed; it returns when it has healed.

A fault function gets the lab and the run (a dict it fills): run["t_fault"] when the fault starts,
run["t_heal"] when healing starts, run["t_leader_fault"] when the leader is hit (if not at t_fault), and what it
did in run["notes"]. Roles are taken at injection time: "the leader" is the node that answers 200 then.
"""
import json
import random
import signal
import time

from topology import http


def _others(lab, leader):
    return [n for n in lab.nodes if n != leader]


def _stop_leader_until_heal(lab, run, sig):
    """Signal the leader (held down: the supervisor does not restart it), wait for HAProxy to serve a new leader,
    then start it again as the heal."""
    leader = run["leader"]
    run["t_fault"] = time.monotonic()
    lab.nodes[leader].signal(sig, hold=True)
    if sig != signal.SIGKILL and not lab.nodes[leader].wait_exit(20):
        run["notes"].append(f"{leader} still running 20 s after SIGTERM")
    lab.wait_new_leader_served(run, timeout=20)
    time.sleep(1.0)
    run["t_heal"] = time.monotonic()
    lab.nodes[leader].start()


def kill9_leader(lab, run):
    _stop_leader_until_heal(lab, run, signal.SIGKILL)


def sigterm_leader(lab, run):
    _stop_leader_until_heal(lab, run, signal.SIGTERM)


def sigstop_leader(lab, run):
    leader = run["leader"]
    run["t_fault"] = time.monotonic()
    lab.nodes[leader].signal(signal.SIGSTOP)
    time.sleep(10.0)
    run["t_heal"] = time.monotonic()
    lab.nodes[leader].signal(signal.SIGCONT)


def _cut_leader_until_served(lab, run, cut, timeout, settle):
    """Cuts the leader off (cut(leader)), waits for HAProxy to serve a new leader, lets it settle, then heals."""
    run["t_fault"] = time.monotonic()
    cut(run["leader"])
    lab.wait_new_leader_served(run, timeout=timeout)
    time.sleep(settle)
    run["t_heal"] = time.monotonic()
    lab.net.heal()


def isolate_leader(lab, run):
    def cut(leader):
        for peer in _others(lab, leader):
            lab.net.drop(leader, peer)

    _cut_leader_until_served(lab, run, cut, timeout=10, settle=4.0)


def machine_loss_leader(lab, run):
    """The leader's machine gone silent: all its traffic dropped both ways at once, its process left running.
    Healed after the checks; it finds itself downed and restarts into the cluster."""
    _cut_leader_until_served(lab, run, lab.net.drop_all, timeout=15, settle=4.0)


def isolate_follower(lab, run):
    follower = _others(lab, run["leader"])[0]
    run["notes"].append(f"isolated {follower}")
    run["t_fault"] = time.monotonic()
    for peer in _others(lab, follower):
        lab.net.drop(follower, peer)
    time.sleep(8.0)
    run["t_heal"] = time.monotonic()
    lab.net.heal()


def bridge_partition(lab, run):
    """The leader and one follower cut from each other; the other follower sees both (the "bridge")."""
    leader = run["leader"]
    cut, bridge = _others(lab, leader)
    run["notes"].append(f"{leader} x {cut}, {bridge} sees both")
    run["t_fault"] = time.monotonic()
    lab.net.drop(leader, cut)
    lab.net.drop(cut, leader)
    time.sleep(8.0)
    run["t_heal"] = time.monotonic()
    lab.net.heal()


def ring_drops(lab, run):
    """One-way drops in a ring: a drops what it sends to b, b to c, c to a."""
    names = sorted(lab.nodes)
    run["t_fault"] = time.monotonic()
    for i, n in enumerate(names):
        lab.net.drop(n, names[(i + 1) % len(names)], direction="out")
    time.sleep(8.0)
    run["t_heal"] = time.monotonic()
    lab.net.heal()


def netem_leader(lab, run):
    """50 ms +- 10 ms delay and 20 % loss on everything the leader sends."""
    leader = run["leader"]
    run["t_fault"] = time.monotonic()
    how = lab.net.impair(leader, 50, 10, 0.2)
    run["notes"].append(f"{how} on {leader}")
    time.sleep(12.0)
    run["t_heal"] = time.monotonic()
    lab.net.heal()


def postgres_stop(lab, run):
    run["t_fault"] = time.monotonic()
    lab.pg.stop("immediate")
    time.sleep(20.0)
    run["t_heal"] = time.monotonic()
    lab.pg.start()


def rolling_restart(lab, run):
    """SIGTERM, start again, wait until healthy: the followers first, the leader last (one hand-over)."""
    leader = run["leader"]
    order = _others(lab, leader) + [leader]
    run["t_fault"] = time.monotonic()
    for n in order:
        if n == leader:
            run["t_leader_fault"] = time.monotonic()
        lab.nodes[n].signal(signal.SIGTERM, hold=True)
        if not lab.nodes[n].wait_exit(20):
            run["notes"].append(f"{n} still running 20 s after SIGTERM")
        lab.nodes[n].start()
        if n != leader:
            ok, why = lab.wait_healthy(60)
            if not ok:
                run["notes"].append(f"not healthy 60 s after restarting {n}: {why}")
    run["t_heal"] = time.monotonic()


def leader_db_cut(lab, run):
    """The leader's link to PostgreSQL cut, everything else up: it steps aside (exits 4, the supervisor restarts
    it) and a node that reaches the store leads."""
    _cut_leader_until_served(lab, run, lab.net.drop_store, timeout=30, settle=1.0)


def _switchover(lab, run, candidate):
    leader = run["leader"]
    body = json.dumps({"candidate": candidate}).encode() if candidate else b""
    run["t_fault"] = time.monotonic()
    st, _, answer = http("POST", lab.nodes[leader].url("/v1/ha/switchover"), body=body, timeout=40,
                         headers={"Content-Type": "application/json"})
    run["notes"].append(f"switchover{' to ' + candidate if candidate else ''} answered {st} {answer.strip()} after "
                        f"{time.monotonic() - run['t_fault']:.2f} s")
    lab.wait_new_leader_served(run, timeout=20)
    time.sleep(1.0)
    run["t_heal"] = time.monotonic()  # the nodes that stepped back exited 0; the supervisor starts them again


def switchover(lab, run):
    _switchover(lab, run, None)


def switchover_to(lab, run):
    """To the last of the followers by name: the members older than it step back first."""
    _switchover(lab, run, sorted(_others(lab, run["leader"]))[-1])


def pg_failover(lab, run):
    """The Patroni primary's machine dies: its Patroni and its PostgreSQL killed with SIGKILL, so that Patroni on
    the synchronous standby, not a local restart, must fail over (once the leader key's ttl runs out). Records
    when the standby answers GET /primary with 200 (polled every 50 ms) as run["t_promoted"]. The heal starts the
    old primary's Patroni again: it rejoins as the synchronous standby (pg_rewind when needed), and the heal
    ends only once it is replicating again."""
    store = lab.patroni
    ok, why = store.wait_replicated(120)
    if not ok:
        raise RuntimeError(f"Patroni not replicated before the fault: {why}")
    primary = store.primary()
    if primary is None:
        raise RuntimeError("Patroni: no single primary before the fault")
    standby = [m for m in store.MEMBERS if m != primary][0]
    # The leader key is refreshed every loop_wait and lives ttl: a crash just after a refresh waits ttl, one just
    # before it ttl - loop_wait. The wait above ends in step with Patroni's loop, so crash at a random phase.
    time.sleep(random.uniform(0, store.LOOP_WAIT))
    run["t_fault"] = time.monotonic()
    pids = store.crash(primary)
    run["notes"].append(f"Patroni primary {primary} crashed (Patroni and {len(pids)} PostgreSQL processes killed)")
    deadline = run["t_fault"] + 120
    while time.monotonic() < deadline:
        if store.role(standby, timeout=0.5) == 200:
            run["t_promoted"] = time.monotonic()
            break
        time.sleep(0.05)
    else:
        run["notes"].append(f"{standby} not promoted within 120 s")
    lab.wait_new_leader_served(run, timeout=60)
    time.sleep(1.0)
    run["t_heal"] = time.monotonic()
    store.start(primary)
    ok, why = store.wait_replicated(120)
    run["store_heal_s"] = round(time.monotonic() - run["t_heal"], 2) if ok else None
    if not ok:
        run["notes"].append(f"{primary} not back as the synchronous standby 120 s after its Patroni started: {why}")


FAULTS = {
    "kill9-leader": ("kill -9 of the leader", kill9_leader),
    "sigterm-leader": ("SIGTERM of the leader", sigterm_leader),
    "sigstop-leader": ("SIGSTOP of the leader 10 s, then SIGCONT", sigstop_leader),
    "isolate-leader": ("leader isolated from both peers", isolate_leader),
    "machine-loss-leader": ("the leader's machine lost: all its traffic dropped, both ways", machine_loss_leader),
    "isolate-follower": ("a follower isolated from both peers", isolate_follower),
    "bridge-partition": ("bridge partition (leader x follower, third sees both)", bridge_partition),
    "ring-drops": ("one-way drops in a ring", ring_drops),
    "netem-leader": ("50 ms +- 10 ms delay, 20 % loss on the leader", netem_leader),
    "postgres-stop": ("PostgreSQL stopped 20 s, then started", postgres_stop),
    "rolling-restart": ("rolling restart of all three nodes", rolling_restart),
    "leader-db-cut": ("the leader's link to PostgreSQL cut: it steps aside", leader_db_cut),
    "switchover": ("switchover (POST /v1/ha/switchover) to the next in line", switchover),
    "switchover-to": ("switchover to a chosen follower", switchover_to),
}
# Faults that need the replicated store (bench/lab/lab.py --store patroni). FailoverLabIT runs each table in a lab
# of its own (FAULTS on the single store, these on Patroni) and compares each with what ran.
STORE_FAULTS = {
    "pg-failover": ("PostgreSQL primary fails over (Patroni; its machine killed)", pg_failover),
}
# Faults that act on the single store (lab.pg) and have no meaning with --store patroni.
SINGLE_STORE_FAULTS = {"postgres-stop", "leader-db-cut"}
