#!/usr/bin/env bash
# PMM 3 made highly available by pmm-ha, run for real and checked: deploy/docker/compose.pmm.yaml with the PMM
# stand-in image (scripts/container-engine/pmm): three PMM servers, pmm-ha beside each, PostgreSQL, HAProxy on
# 172.22.0.0/24. PmmComposeIT runs this script; run it by hand the same way:
#
#   eval "$(scripts/container-engine.sh)"     # podman's Docker API and the local images (PMM_SERVER_IMAGE)
#   scripts/pmm-scenario.sh
#
# Checks, in order (a failure prints the containers' logs and exits 1):
#  1. the stack comes up; exactly one pmm-ha answers the leader check, HAProxy serves that node's PMM (nginx
#     answers with its node name) on HTTP and HTTPS, and pmm-agent runs there only;
#  2. `docker kill` of the leader's node (its PMM and its pmm-ha): HAProxy serves another node's PMM and
#     pmm-agent starts there; the killed node, started again, is a follower;
#  3. `docker stop` of the leader's node (pmm-ha first, as compose stops dependants first): the same;
#  4. the leader's pmm-ha container alone killed (`docker kill`), then frozen (`docker pause`): PMM's container
#     goes on, and the guard in it (deploy/pmm/pmm-ha-guard.ini, reading pmm-ha's role file) stops pmm-agent as
#     the lease lapses; pmm-ha, started again or thawed, comes back as a follower;
#  5. the leader's node cut from the network (`docker network disconnect`; pmm-ha shares PMM's namespace, so
#     both are cut, and keep running): the old leader stops its pmm-agent by itself, the new one starts its own;
#  6. the leader partitioned from its two peers, PostgreSQL and HAProxy still reachable: it stops pmm-agent, the
#     majority's new leader starts its own;
#  7. the failover lab's other network faults (bench/lab/faults.py), each held a few seconds and then healed:
#     delay and loss on everything the leader sends (50 ms +- 10 ms, 20 %, 10 s; tc netem, or where the kernel
#     has no netem the lab's NFQUEUE delayer bench/lab/impair.py), one-way drops in a ring (pmm-1 drops what it
#     sends to pmm-2, pmm-2 to pmm-3, pmm-3 to pmm-1; 8 s) and a bridge partition (the leader and one follower
#     drop each other, the third sees both; 8 s). After each, the stack is healthy again (every pmm-ha ready
#     and seeing three members alive, one leader, HAProxy serving its PMM, pmm-agent running there only);
#     the leader may or may not have moved, and the overlap check below covers what happened;
#  8. across the whole run, pmm-agent never ran on two nodes at once, from its own log lines (start, a tick every
#     100 ms, stop; epoch milliseconds): every container reads the same kernel clock, so the margin for clock
#     skew is 0. A run that ends without a stop line ends at the node's kill, or else 200 ms after its last tick.
# Figures are printed as "figure: ..." lines: failover until HAProxy serves the new leader's PMM, and until
# pmm-agent has started there (the cold-start cost of a cold standby); for the faults of 7, whether the leader
# moved, when pmm-agent stopped and started, and the time from the heal to a healthy stack.
#
# Runs as root (nsenter, iptables, tc). It creates and removes only its own containers, network, volumes
# (compose project $PMM_HA_IT_PROJECT, default pmm-ha-pmm-it), and the iptables rules, qdiscs and delayer
# processes of 6 and 7 (in the PMM containers' network namespaces, which pmm-ha shares), also on failure
# (PMM_HA_IT_KEEP=1 keeps the containers; PMM_HA_IT_LOG_DIR=DIR keeps their whole logs on failure). HAProxy is
# published on 127.0.0.1 only (18180/18543); the checks go to the containers' addresses.
set -euo pipefail
# (probes below may fail while a node is down: each one ends in `|| true` so that set -e does not end the run)

root="$(cd "$(dirname "$0")/.." && pwd)"
project="${PMM_HA_IT_PROJECT:-pmm-ha-pmm-it}"
env_file="$root/deploy/docker/.env.example"
compose_file="$root/deploy/docker/compose.pmm.yaml"
tmp="$(mktemp -d /tmp/pmm-ha-pmm-scenario.XXXXXX)"
scenario_tag=pmm
names=labels
healthy_timeout=240
log_tail=60
log_skip='pmm-agent tick'
export HAPROXY_HTTP_PORT="${HAPROXY_HTTP_PORT:-127.0.0.1:18180}"
export HAPROXY_HTTPS_PORT="${HAPROXY_HTTPS_PORT:-127.0.0.1:18543}"
export PMM_HA_MEM_LIMIT="${PMM_HA_MEM_LIMIT:-384m}"
# the stand-in's supervisord stops in a second; PMM's real grace period (5 m) would only slow a failed run's cleanup
export PMM_STOP_GRACE_PERIOD=30s
haproxy_ip=172.22.0.10
postgres_ip=172.22.0.4
nodes=(1 2 3)
declare -A kill_ms=()

# shellcheck source=lib/scenario.sh
. "$root/scripts/lib/scenario.sh"

ip_of() { echo "172.22.0.1$1"; }
# the node (1, 2, 3) whose pmm-ha answers the leader check on its probe port; "" unless exactly one does
leader() {
  local n out=()
  for n in "${nodes[@]}"; do
    [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' -X POST "http://$(ip_of "$n"):8079/v1/leaderHealthCheck" 2>/dev/null || true)" = 200 ] && out+=("$n")
  done
  [ ${#out[@]} -eq 1 ] && echo "${out[0]}" || echo ""
}
# the node whose PMM HAProxy serves on SCHEME (nginx answers "pmm-server pmm-N"), or ""
served() { { curl -sk -m 2 "$1://$haproxy_ip/" 2>/dev/null || true; } | sed -n 's/^pmm-server pmm-\([0-9]\)$/\1/p'; }
agent_state() { { docker exec "$(cname "pmm-$1")" supervisorctl status pmm-agent 2>/dev/null || true; } | awk '{ print $2 }'; }
agent_is() { last_answer="$(agent_state "$1")"; [ "$last_answer" = "$2" ]; }
ready() { [ "$(code "http://$(ip_of "$1"):9762/v1/readyz")" = 200 ]; }
# rejoined NODE RESTARTS: pmm-ha-NODE restarted (restart: always, after the others downed it) and is ready
rejoined() { [ "$(restart_count "pmm-ha-$1")" -gt "$2" ] && ready "$1"; }
# every pmm-ha ready and seeing three members alive (a node downed during a fault has exited or says not ready)
all_rejoined() {
  local n alive
  for n in "${nodes[@]}"; do
    ready "$n" || { last_answer="pmm-ha-$n not ready"; return 1; }
    alive="$({ curl -s -m 2 "http://$(ip_of "$n"):9762/v1/ha/nodes" || true; } | grep -o '"status":"alive"' | wc -l)"
    [ "$alive" = 3 ] || { last_answer="pmm-ha-$n sees $alive members alive"; return 1; }
  done
}
restarts_total() { local n t=0; for n in "${nodes[@]}"; do t=$((t + $(restart_count "pmm-ha-$n"))); done; echo "$t"; }

# one_leader: exactly one leader, served by HAProxy on HTTP and HTTPS, the only node where pmm-agent runs
one_leader() {
  local deadline=$((SECONDS + ${1:-90})) l http https states n
  while :; do
    l="$(leader)"; http="$(served http)"; https="$(served https)"; states=""
    for n in "${nodes[@]}"; do states="$states $n:$(agent_state "$n")"; done
    if [ -n "$l" ] && [ "$http" = "$l" ] && [ "$https" = "$l" ] \
        && [ "$(tr ' ' '\n' <<<"$states" | grep -c ':RUNNING$')" = 1 ] && grep -q " $l:RUNNING" <<<"$states"; then
      echo "$l"
      return 0
    fi
    [ $SECONDS -lt $deadline ] || fail "not one leader with pmm-agent: pmm-ha leader '$l', HAProxy http '$http' https '$https', pmm-agent$states"
    sleep 0.5
  done
}

# saves the pmm-agent lines of every PMM container's log so far (a container's log may not survive its removal)
save_agent_logs() {
  local n c
  for n in "${nodes[@]}"; do
    c="$(cname "pmm-$n")"
    [ -n "$c" ] || continue
    docker logs "$c" 2>/dev/null | grep -E '^pmm-agent (start|tick|stop) ' >>"$tmp/agent-$n.log" || true
  done
}

# first_agent NODE start|stop AFTER_MS: epoch ms of the first "pmm-agent start" (or stop) on NODE after AFTER_MS, or ""
first_agent() {
  { docker logs "$(cname "pmm-$1")" 2>/dev/null || true; } | awk -v what="$2" -v after="$3" '$1 == "pmm-agent" && $2 == what && $3 > after { print $3; exit }'
}

# failover KIND OLD T0_MS: waits for HAProxy to serve another node on HTTP and for pmm-agent to start there
failover() {
  local kind="$1" old="$2" t0="$3" deadline=$((SECONDS + 60)) s="" t_served t_agent=""
  while :; do
    s="$(served http)"
    [ -n "$s" ] && [ "$s" != "$old" ] && break
    [ $SECONDS -lt $deadline ] || fail "$kind: HAProxy did not serve another node's PMM within 60 s"
    sleep 0.05
  done
  t_served=$(now_ms)
  while [ -z "$t_agent" ]; do
    t_agent="$(first_agent "$s" start "$t0")"
    [ -n "$t_agent" ] || { [ $SECONDS -lt $deadline ] || fail "$kind: pmm-agent did not start on pmm-$s"; sleep 0.1; }
  done
  figure "$kind of the leader pmm-$old: HAProxy serves pmm-$s's PMM after $(( t_served - t0 )) ms; pmm-agent started there after $(( t_agent - t0 )) ms"
  new_leader="$s"
}

# --- network faults in the PMM containers' network namespaces (pmm-ha shares them), undone by heal -------------
fault_rules=()   # "PID RULE": iptables rules added in the namespace of process PID
qdiscs=()        # "PID DEV": netem qdiscs added
delayers=()      # PIDs of NFQUEUE delayers started here
ns_pid() { docker inspect -f '{{.State.Pid}}' "$(cname "pmm-$1")"; }
# rule NODE RULE...: `iptables -A RULE` in NODE's namespace (recorded first, so that heal removes it in any case)
rule() {
  local pid
  pid="$(ns_pid "$1")"
  shift
  fault_rules+=("$pid $*")
  nsenter -t "$pid" -n iptables -A "$@"
}
# drop NODE PEER in|out|both: NODE drops what it gets from PEER, sends to PEER, or both
drop() {
  [ "$3" = in ] || rule "$1" OUTPUT -d "$(ip_of "$2")" -j DROP
  [ "$3" = out ] || rule "$1" INPUT -s "$(ip_of "$2")" -j DROP
}
# impair NODE: 50 ms +- 10 ms delay and 20 % loss on everything NODE's namespace sends out of its interface, as
# the lab's netem-leader does: tc netem, or the lab's NFQUEUE delayer where the kernel has no netem
impair() {
  local pid dev
  pid="$(ns_pid "$1")"
  dev="$(nsenter -t "$pid" -n ip -o -4 route get "$postgres_ip" | sed -n 's/.* dev \([^ ]*\).*/\1/p')"
  qdiscs+=("$pid $dev")
  if nsenter -t "$pid" -n tc qdisc add dev "$dev" root netem delay 50ms 10ms loss 20% 2>/dev/null; then
    impaired_by="tc netem"
    delayed "$1"
    return
  fi
  unset 'qdiscs[-1]'
  local ilog="$tmp/impair-$1-$(now_ms).log" deadline=$((SECONDS + 15))
  nsenter -t "$pid" -n python3 "$root/bench/lab/impair.py" --queue 7 --delay 50 --jitter 10 --loss 0.2 \
    >"$ilog" 2>&1 &
  delayers+=("$!")
  # bound to the queue before packets go to it: --queue-bypass lets them through undelayed until then (a fixed
  # 0.3 s was too short for python's start on a loaded machine); impair.py says so once it is bound
  until grep -q '^impair: queue' "$ilog"; do
    kill -0 "${delayers[-1]}" 2>/dev/null || fail "the NFQUEUE delayer exited before it bound its queue: $(cat "$ilog")"
    [ $SECONDS -lt $deadline ] || fail "the NFQUEUE delayer did not bind its queue within 15 s: $(cat "$ilog")"
    sleep 0.05
  done
  rule "$1" OUTPUT -o "$dev" -j NFQUEUE --queue-num 7 --queue-bypass
  impaired_by="NFQUEUE delayer (no netem in this kernel)"
  delayed "$1"
}
# delayed NODE: the fault is in effect: HTTP requests to NODE's probe port (a connect and an answer, each delayed
# 50 ms +- 10 ms on the way back) take at least 80 ms
delayed() {
  local i t times=()
  for i in 1 2 3 4 5; do
    t="$(curl -s -o /dev/null -m 5 -w '%{time_total}' -X POST "http://$(ip_of "$1"):8079/v1/leaderHealthCheck" || true)"
    times+=("$(awk -v t="${t:-0}" 'BEGIN { printf "%.0f", t * 1000 }')")
  done
  figure "  the leader check to pmm-$1 under delay and loss: ${times[*]} ms"
  [ "$(printf '%s\n' "${times[@]}" | sort -n | head -1)" -ge 80 ] || fail "pmm-$1's delay is not in effect: ${times[*]} ms"
}
heal() {
  local r p
  for r in "${fault_rules[@]}"; do
    # shellcheck disable=SC2086 # the rule's words
    nsenter -t "${r%% *}" -n iptables -D ${r#* } 2>/dev/null || true
  done
  for r in "${qdiscs[@]}"; do nsenter -t "${r%% *}" -n tc qdisc del dev "${r#* }" root 2>/dev/null || true; done
  for p in "${delayers[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  fault_rules=(); qdiscs=(); delayers=()
}
on_cleanup() { heal; }

# partition_peers L: L drops everything from and to its two peers; PostgreSQL and HAProxy still reachable
partition_peers() { local n; for n in "${nodes[@]}"; do [ "$n" = "$1" ] || drop "$1" "$n" both; done; }
# ring_drops: one-way drops in a ring, pmm-1 drops what it sends to pmm-2, pmm-2 to pmm-3, pmm-3 to pmm-1
ring_drops() { local i; for i in 0 1 2; do drop "${nodes[$i]}" "${nodes[$(( (i + 1) % 3 ))]}" out; done; }
# bridge_partition L: L and the first follower drop each other (in both namespaces); the other one sees both
bridge_partition() {
  local n cut=""
  for n in "${nodes[@]}"; do [ "$n" = "$1" ] || { cut="$n"; break; }; done
  drop "$1" "$cut" both
  drop "$cut" "$1" both
  bridged="pmm-$1 x pmm-$cut"
}

# net_fault NAME HOLD_S APPLY: APPLY LEADER adds the fault, held HOLD_S s, healed; then the stack must be healthy
# again within 120 s. Prints where pmm-agent stopped and started meanwhile, and the time to heal.
net_fault() {
  local name="$1" hold="$2" apply="$3" l t0 t_heal r0 stop start n moved="" t_ok
  l="$(one_leader 60)"
  save_agent_logs
  r0="$(restarts_total)"
  t0=$(now_ms)
  "$apply" "$l"
  sleep "$hold"
  t_heal=$(now_ms)
  heal
  await 120 0.5 "$name: pmm-ha not back within 120 s of the heal" "" all_rejoined
  new_leader="$(one_leader 90)"
  t_ok=$(now_ms)
  stop="$(first_agent "$l" stop "$t0")"
  for n in "${nodes[@]}"; do
    start="$(first_agent "$n" start "$t0")"
    [ -z "$start" ] || moved="$moved, pmm-agent started on pmm-$n after $(( start - t0 )) ms"
  done
  figure "$name (leader pmm-$l, held ${hold} s): pmm-agent on pmm-$l $([ -n "$stop" ] && echo "stopped after $(( stop - t0 )) ms" || echo "ran on")$moved; pmm-$new_leader leads; healthy $(( t_ok - t_heal )) ms after the heal; pmm-ha restarts: $(( $(restarts_total) - r0 ))"
}

scenario_start
[ -n "${PMM_SERVER_IMAGE:-}" ] || fail "PMM_SERVER_IMAGE is not set: eval \"\$(scripts/container-engine.sh)\" builds the stand-in and sets it"
log "engine: DOCKER_HOST=${DOCKER_HOST:-default}; PMM image $PMM_SERVER_IMAGE"

# 1. build, up, one leader
t0=$SECONDS
compose build pmm-ha-1 >"$tmp/build.log" 2>&1 || { tail -40 "$tmp/build.log"; fail "compose build failed"; }
figure "build of the pmm-ha image: $((SECONDS - t0)) s"
t_up=$(now_ms)
await_subnet_free 172.22.0.0/24 60
compose up -d >"$tmp/up.log" 2>&1 || { cat "$tmp/up.log"; fail "compose up failed"; }
for s in postgres pmm-1 pmm-2 pmm-3 pmm-ha-1 pmm-ha-2 pmm-ha-3 haproxy; do wait_healthy "$(cname "$s")"; done
first="$(one_leader 120)"
figure "up -> one leader served by HAProxy with pmm-agent running: $(( $(now_ms) - t_up )) ms"
log "leader pmm-$first: HAProxy serves its PMM on HTTP and HTTPS, pmm-agent runs there only"

# 2. docker kill of the leader's node
save_agent_logs
t0=$(now_ms)
docker kill "$(cname "pmm-ha-$first")" "$(cname "pmm-$first")" >/dev/null
kill_ms[$first]=$(now_ms)
failover "docker kill" "$first" "$t0"
second="$new_leader"
second="$(one_leader 60)"
docker start "$(cname "pmm-$first")" >/dev/null
docker start "$(cname "pmm-ha-$first")" >/dev/null
wait_healthy "$(cname "pmm-ha-$first")"
[ "$(one_leader 60)" = "$second" ] || fail "the killed node came back and the leader changed"
log "pmm-$first is back as a follower; pmm-$second leads"

# 3. docker stop of the leader's node (pmm-ha first: compose stops the dependant first)
save_agent_logs
t0=$(now_ms)
( docker stop "$(cname "pmm-ha-$second")" >/dev/null && docker stop "$(cname "pmm-$second")" >/dev/null ) &
stopper=$!
failover "docker stop" "$second" "$t0"
wait "$stopper" || fail "docker stop of pmm-$second failed"
third="$(one_leader 60)"
save_agent_logs
docker start "$(cname "pmm-$second")" >/dev/null
docker start "$(cname "pmm-ha-$second")" >/dev/null
wait_healthy "$(cname "pmm-ha-$second")"
[ "$(one_leader 60)" = "$third" ] || fail "the stopped node came back and the leader changed"
log "pmm-$second is back as a follower; pmm-$third leads"

# 4. pmm-ha's container alone killed, then frozen, on the leader: PMM's container goes on, and the guard in it
#    (pmm-ha-guard.ini) must stop pmm-agent before the next leader starts its own
sidecar_fault() {
  local kind="$1" l="$2" t0 stop_at restarts
  save_agent_logs
  restarts="$(restart_count "pmm-ha-$l")"
  t0=$(now_ms)
  if [ "$kind" = "pmm-ha killed" ]; then
    docker kill "$(cname "pmm-ha-$l")" >/dev/null
  else
    docker pause "$(cname "pmm-ha-$l")" >/dev/null
  fi
  failover "$kind" "$l" "$t0"
  stop_at="$(first_agent "$l" stop "$t0")"
  [ -n "$stop_at" ] || fail "$kind: pmm-agent still runs in pmm-$l (no stop line after the fault)"
  figure "$kind: the guard in pmm-$l's PMM container stopped pmm-agent $(( stop_at - t0 )) ms after the fault"
  if [ "$kind" = "pmm-ha killed" ]; then
    docker start "$(cname "pmm-ha-$l")" >/dev/null
    wait_healthy "$(cname "pmm-ha-$l")"
  else
    # thawed, it finds itself downed by the others, exits, and restart: always brings it back
    docker unpause "$(cname "pmm-ha-$l")" >/dev/null
    await 120 1 "pmm-ha-$l did not restart and rejoin within 120 s of the thaw" "" rejoined "$l" "$restarts"
  fi
}
sidecar_fault "pmm-ha killed" "$third"
leader4="$new_leader"
[ "$(one_leader 60)" = "$leader4" ] || fail "pmm-ha-$third came back and the leader changed"
log "pmm-ha-$third is back as a follower; pmm-$leader4 leads"
sidecar_fault "pmm-ha frozen" "$leader4"
third="$new_leader"
[ "$(one_leader 60)" = "$third" ] || fail "pmm-ha-$leader4 came back and the leader changed"
log "pmm-ha-$leader4 is back as a follower; pmm-$third leads"

# 5. the leader's node cut from the network: it keeps running and must stop pmm-agent by itself
net="$(network)"
restarts="$(restart_count "pmm-ha-$third")"
t0=$(now_ms)
docker network disconnect "$net" "$(cname "pmm-$third")"
failover "network cut" "$third" "$t0"
fourth="$new_leader"
await 30 0.2 "pmm-$third, cut off, still runs pmm-agent 30 s later" "" agent_is "$third" STOPPED
stop_cut="$(first_agent "$third" stop "$t0")"
[ -n "$stop_cut" ] || fail "pmm-$third has no pmm-agent stop line after the cut"
figure "network cut: the cut-off leader pmm-$third stopped pmm-agent $(( stop_cut - t0 )) ms after the cut"
docker network connect --ip "$(ip_of "$third")" "$net" "$(cname "pmm-$third")"
# its pmm-ha was downed by the others while cut off: it exits and restart: always brings it back, ready
await 120 1 "pmm-ha-$third did not restart and rejoin within 120 s of the reconnect" "" rejoined "$third" "$restarts"
[ "$(one_leader 90)" = "$fourth" ] || fail "the cut-off node came back and the leader changed"
log "pmm-$third is back as a follower; pmm-$fourth leads"

# 6. the leader partitioned from its peers, PostgreSQL and HAProxy still reachable (iptables in its network
#    namespace): the majority elects a new leader; the old one must stop pmm-agent before the new one starts its own
old_leader="$fourth"
restarts="$(restart_count "pmm-ha-$old_leader")"
t0=$(now_ms)
partition_peers "$old_leader"
failover "partition from the peers" "$old_leader" "$t0"
fifth="$new_leader"
stop_part="$(first_agent "$old_leader" stop "$t0")"
[ -n "$stop_part" ] || fail "pmm-$old_leader, partitioned, still runs pmm-agent"
figure "partition from the peers: the partitioned leader pmm-$old_leader stopped pmm-agent $(( stop_part - t0 )) ms after the partition"
heal
await 120 1 "pmm-ha-$old_leader did not restart and rejoin within 120 s of the partition's end" "" \
  rejoined "$old_leader" "$restarts"
[ "$(one_leader 90)" = "$fifth" ] || fail "the partitioned node came back and the leader changed"
log "pmm-$old_leader is back as a follower; pmm-$fifth leads"

# 7. the lab's other network faults: delay and loss on the leader, one-way drops in a ring, a bridge partition;
#    each healed, then the stack must be healthy again (whoever leads); the overlap check (8) covers them
impaired_by=""
net_fault "delay and loss on the leader" 10 impair
log "delay and loss by $impaired_by"
net_fault "one-way drops in a ring" 8 ring_drops
net_fault "bridge partition" 8 bridge_partition
log "bridge partition: $bridged, the third saw both"

# 8. never two pmm-agents at once
save_agent_logs
for n in "${nodes[@]}"; do
  sort -u "$tmp/agent-$n.log" | sort -s -k3,3n | awk -v node="$n" '
    function close_run(end) { if (start) printf "%.0f %.0f %s\n", start, end, node; start = 0 }
    $2 == "start" { if (start) close_run(last + 200); start = $3; last = $3 }
    $2 == "tick"  { last = $3 }
    $2 == "stop"  { close_run($3) }
    END {
      if (start) close_run(last + 200)
    }' >"$tmp/runs-$n"
  # a run cut short by docker kill has no stop line: it ended by the kill
  if [ "${kill_ms[$n]:-0}" != 0 ]; then
    awk -v k="${kill_ms[$n]}" '{ if ($1 < k && $2 > k) $2 = k; print }' "$tmp/runs-$n" >"$tmp/runs-$n.k"
    mv "$tmp/runs-$n.k" "$tmp/runs-$n"
  fi
done
cat "$tmp"/runs-? | sort -k1,1n >"$tmp/runs"
log "pmm-agent runs (start_ms end_ms node):"
sed 's/^/  /' "$tmp/runs"
[ "$(cut -d' ' -f3 "$tmp/runs" | uniq | wc -l)" -ge 7 ] || fail "fewer than seven leaderships' pmm-agent runs in the logs: $(tr '\n' ';' <"$tmp/runs")"
overlap="$(awk 'NR > 1 && $1 <= prev_end && $3 != prev_node { print "pmm-" prev_node " ran until " prev_end " and pmm-" $3 " started at " $1 }
  { if ($2 > prev_end || NR == 1) { prev_end = $2; prev_node = $3 } }' "$tmp/runs")"
[ -z "$overlap" ] || fail "pmm-agent ran on two nodes at once: $overlap"
gap="$(awk 'NR > 1 && $3 != prev_node { g = $1 - prev_end; if (min == "" || g < min) min = g } { prev_end = $2; prev_node = $3 } END { print min }' "$tmp/runs")"
figure "pmm-agent never ran on two nodes at once; the shortest gap between two nodes' runs: $gap ms"
log "PASSED"
