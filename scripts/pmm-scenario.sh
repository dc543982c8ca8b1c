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
#  6. the leader partitioned from its two peers, PostgreSQL and HAProxy still reachable (iptables rules in its
#     network namespace, added with nsenter and removed after, also on failure): it stops pmm-agent, the majority's
#     new leader starts its own;
#  7. across the whole run, pmm-agent never ran on two nodes at once, from its own log lines (start, a tick every
#     100 ms, stop; epoch milliseconds): every container reads the same kernel clock, so the margin for clock
#     skew is 0. A run that ends without a stop line ends at the node's kill, or else 200 ms after its last tick.
# Figures are printed as "figure: ..." lines: failover until HAProxy serves the new leader's PMM, and until
# pmm-agent has started there (the cold-start cost of a cold standby).
#
# Runs as root (nsenter, iptables). It creates and removes only its own containers, network, volumes (compose
# project $PMM_HA_IT_PROJECT, default pmm-ha-pmm-it) and iptables rules (in one container's network namespace),
# also on failure (PMM_HA_IT_KEEP=1 keeps the containers). HAProxy is published on 127.0.0.1 only
# (18180/18543); the checks go to the containers' addresses.
set -euo pipefail
# (probes below may fail while a node is down: each one ends in `|| true` so that set -e does not end the run)

root="$(cd "$(dirname "$0")/.." && pwd)"
project="${PMM_HA_IT_PROJECT:-pmm-ha-pmm-it}"
env_file="$root/deploy/docker/.env.example"
tmp="$(mktemp -d /tmp/pmm-ha-pmm-scenario.XXXXXX)"
export HAPROXY_HTTP_PORT="${HAPROXY_HTTP_PORT:-127.0.0.1:18180}"
export HAPROXY_HTTPS_PORT="${HAPROXY_HTTPS_PORT:-127.0.0.1:18543}"
export PMM_HA_MEM_LIMIT="${PMM_HA_MEM_LIMIT:-384m}"
# the stand-in's supervisord stops in a second; PMM's real grace period (5 m) would only slow a failed run's cleanup
export PMM_STOP_GRACE_PERIOD=30s
haproxy_ip=172.22.0.10
nodes=(1 2 3)
declare -A kill_ms=()

log() { echo "scenario[pmm] $(date +%T) $*"; }
figure() { echo "figure: $*"; }
now_ms() { date +%s%3N; }

compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose -p "$project" --env-file "$env_file" -f "$root/deploy/docker/compose.pmm.yaml" "$@"
  else
    # docker-compose 1.x predates the top-level `name:`
    [ -f "$tmp/compose.yaml" ] || grep -v '^name:' "$root/deploy/docker/compose.pmm.yaml" >"$tmp/compose.yaml"
    docker-compose -p "$project" --env-file "$env_file" --project-directory "$root/deploy/docker" \
      -f "$tmp/compose.yaml" "$@"
  fi
}

cname() {
  docker ps -a --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -1
}
own_containers() { docker ps -aq --filter "label=com.docker.compose.project=$project"; }
network() { docker network ls -q --filter "label=com.docker.compose.project=$project" | head -1; }

partitioned=0
cleanup() {
  local rc=$?
  if [ "$partitioned" = 1 ]; then partition -D 2>/dev/null || true; fi
  if [ "${PMM_HA_IT_KEEP:-0}" = 1 ]; then
    log "PMM_HA_IT_KEEP=1: containers of $project kept"
  else
    log "removing the containers, network and volumes of $project"
    local ids
    ids="$(own_containers)"
    [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    for v in $(docker volume ls -q --filter "label=com.docker.compose.project=$project"); do docker volume rm -f "$v" >/dev/null 2>&1 || true; done
    for n in $(docker network ls -q --filter "label=com.docker.compose.project=$project"); do
      docker network rm "$n" >/dev/null 2>&1 || { sleep 1; docker network rm "$n" >/dev/null 2>&1; } || true
    done
  fi
  rm -rf "$tmp"
  exit "$rc"
}

fail() {
  exec 1>&2
  log "FAILED: $1"
  local id c
  for id in $(own_containers); do
    c="$(docker inspect -f '{{.Name}}' "$id" | sed 's#^/##')"
    echo "----- log of $c ($(docker inspect -f '{{.State.Status}} exit {{.State.ExitCode}}' "$c" 2>/dev/null)) -----"
    docker logs --tail 60 "$c" 2>&1 | grep -v 'pmm-agent tick' || true
  done
  exit 1
}

# the node (1, 2, 3) whose pmm-ha answers the leader check on its probe port; "" unless exactly one does
leader() {
  local n out=()
  for n in "${nodes[@]}"; do
    [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' -X POST "http://172.22.0.1$n:8079/v1/leaderHealthCheck" 2>/dev/null || true)" = 200 ] && out+=("$n")
  done
  [ ${#out[@]} -eq 1 ] && echo "${out[0]}" || echo ""
}
# the node whose PMM HAProxy serves on SCHEME (nginx answers "pmm-server pmm-N"), or ""
served() { { curl -sk -m 2 "$1://$haproxy_ip/" 2>/dev/null || true; } | sed -n 's/^pmm-server pmm-\([0-9]\)$/\1/p'; }
agent_state() { { docker exec "$(cname "pmm-$1")" supervisorctl status pmm-agent 2>/dev/null || true; } | awk '{ print $2 }'; }

wait_healthy() {
  local c="$1" deadline=$((SECONDS + ${2:-240})) s
  while :; do
    s="$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}} {{.State.Status}}' "$c" 2>/dev/null || echo missing)"
    case "$s" in "healthy running"|" running") return 0 ;; esac
    [ $SECONDS -lt $deadline ] || fail "$c did not become healthy within ${2:-240} s (state: $s)"
    sleep 1
  done
}

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

# first_agent_start NODE AFTER_MS: epoch ms of the first "pmm-agent start" on NODE after AFTER_MS, or ""
first_agent_start() {
  { docker logs "$(cname "pmm-$1")" 2>/dev/null || true; } | awk -v after="$2" '$1 == "pmm-agent" && $2 == "start" && $3 > after { print $3; exit }'
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
    t_agent="$(first_agent_start "$s" "$t0")"
    [ -n "$t_agent" ] || { [ $SECONDS -lt $deadline ] || fail "$kind: pmm-agent did not start on pmm-$s"; sleep 0.1; }
  done
  figure "$kind of the leader pmm-$old: HAProxy serves pmm-$s's PMM after $(( t_served - t0 )) ms; pmm-agent started there after $(( t_agent - t0 )) ms"
  new_leader="$s"
}

trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -n "$(own_containers)" ]; then
  log "removing leftovers of an earlier run of $project"
  ( trap - EXIT; PMM_HA_IT_KEEP=0; cleanup ) || true
  tmp="$(mktemp -d /tmp/pmm-ha-pmm-scenario.XXXXXX)"
fi
[ -n "${PMM_SERVER_IMAGE:-}" ] || fail "PMM_SERVER_IMAGE is not set: eval \"\$(scripts/container-engine.sh)\" builds the stand-in and sets it"
log "engine: DOCKER_HOST=${DOCKER_HOST:-default}; PMM image $PMM_SERVER_IMAGE"

# 1. build, up, one leader
t0=$SECONDS
compose build pmm-ha-1 >"$tmp/build.log" 2>&1 || { tail -40 "$tmp/build.log"; fail "compose build failed"; }
figure "build of the pmm-ha image: $((SECONDS - t0)) s"
t_up=$(now_ms)
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
  local kind="$1" l="$2" t0 stop_at restarts deadline
  save_agent_logs
  restarts="$(docker inspect -f '{{.RestartCount}}' "$(cname "pmm-ha-$l")")"
  t0=$(now_ms)
  if [ "$kind" = "pmm-ha killed" ]; then
    docker kill "$(cname "pmm-ha-$l")" >/dev/null
  else
    docker pause "$(cname "pmm-ha-$l")" >/dev/null
  fi
  failover "$kind" "$l" "$t0"
  stop_at="$({ docker logs "$(cname "pmm-$l")" 2>/dev/null || true; } | awk -v after="$t0" '$1 == "pmm-agent" && $2 == "stop" && $3 > after { print $3; exit }')"
  [ -n "$stop_at" ] || fail "$kind: pmm-agent still runs in pmm-$l (no stop line after the fault)"
  figure "$kind: the guard in pmm-$l's PMM container stopped pmm-agent $(( stop_at - t0 )) ms after the fault"
  if [ "$kind" = "pmm-ha killed" ]; then
    docker start "$(cname "pmm-ha-$l")" >/dev/null
    wait_healthy "$(cname "pmm-ha-$l")"
  else
    # thawed, it finds itself downed by the others, exits, and restart: always brings it back
    docker unpause "$(cname "pmm-ha-$l")" >/dev/null
    deadline=$((SECONDS + 120))
    until [ "$(docker inspect -f '{{.RestartCount}}' "$(cname "pmm-ha-$l")")" -gt "$restarts" ] \
        && [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://172.22.0.1$l:9762/v1/readyz" || true)" = 200 ]; do
      [ $SECONDS -lt $deadline ] || fail "pmm-ha-$l did not restart and rejoin within 120 s of the thaw"
      sleep 1
    done
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
restarts="$(docker inspect -f '{{.RestartCount}}' "$(cname "pmm-ha-$third")")"
t0=$(now_ms)
docker network disconnect "$net" "$(cname "pmm-$third")"
failover "network cut" "$third" "$t0"
fourth="$new_leader"
deadline=$((SECONDS + 30))
until [ "$(agent_state "$third")" = STOPPED ]; do
  [ $SECONDS -lt $deadline ] || fail "pmm-$third, cut off, still runs pmm-agent ($(agent_state "$third")) 30 s later"
  sleep 0.2
done
stop_cut="$({ docker logs "$(cname "pmm-$third")" 2>/dev/null || true; } | awk -v after="$t0" '$1 == "pmm-agent" && $2 == "stop" && $3 > after { print $3; exit }')"
[ -n "$stop_cut" ] || fail "pmm-$third has no pmm-agent stop line after the cut"
figure "network cut: the cut-off leader pmm-$third stopped pmm-agent $(( stop_cut - t0 )) ms after the cut"
docker network connect --ip "172.22.0.1$third" "$net" "$(cname "pmm-$third")"
# its pmm-ha was downed by the others while cut off: it exits and restart: always brings it back, ready
deadline=$((SECONDS + 120))
until [ "$(docker inspect -f '{{.RestartCount}}' "$(cname "pmm-ha-$third")")" -gt "$restarts" ] \
    && [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://172.22.0.1$third:9762/v1/readyz" || true)" = 200 ]; do
  [ $SECONDS -lt $deadline ] || fail "pmm-ha-$third did not restart and rejoin within 120 s of the reconnect"
  sleep 1
done
[ "$(one_leader 90)" = "$fourth" ] || fail "the cut-off node came back and the leader changed"
log "pmm-$third is back as a follower; pmm-$fourth leads"

# 6. the leader partitioned from its peers, PostgreSQL and HAProxy still reachable (iptables in its network
#    namespace): the majority elects a new leader; the old one must stop pmm-agent before the new one starts its own
old_leader="$fourth"
ns_pid="$(docker inspect -f '{{.State.Pid}}' "$(cname "pmm-$old_leader")")"
restarts="$(docker inspect -f '{{.RestartCount}}' "$(cname "pmm-ha-$old_leader")")"
partition_rules=()
for n in "${nodes[@]}"; do
  [ "$n" = "$old_leader" ] && continue
  partition_rules+=("INPUT -s 172.22.0.1$n -j DROP" "OUTPUT -d 172.22.0.1$n -j DROP")
done
partition() {
  local action="$1" r
  for r in "${partition_rules[@]}"; do
    # shellcheck disable=SC2086
    nsenter -t "$ns_pid" -n iptables "$action" $r || [ "$action" = -D ]
  done
}
partitioned=1
t0=$(now_ms)
partition -A
failover "partition from the peers" "$old_leader" "$t0"
fifth="$new_leader"
stop_part="$({ docker logs "$(cname "pmm-$old_leader")" 2>/dev/null || true; } | awk -v after="$t0" '$1 == "pmm-agent" && $2 == "stop" && $3 > after { print $3; exit }')"
[ -n "$stop_part" ] || fail "pmm-$old_leader, partitioned, still runs pmm-agent"
figure "partition from the peers: the partitioned leader pmm-$old_leader stopped pmm-agent $(( stop_part - t0 )) ms after the partition"
partition -D
partitioned=0
deadline=$((SECONDS + 120))
until [ "$(docker inspect -f '{{.RestartCount}}' "$(cname "pmm-ha-$old_leader")")" -gt "$restarts" ] \
    && [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://172.22.0.1$old_leader:9762/v1/readyz" || true)" = 200 ]; do
  [ $SECONDS -lt $deadline ] || fail "pmm-ha-$old_leader did not restart and rejoin within 120 s of the partition's end"
  sleep 1
done
[ "$(one_leader 90)" = "$fifth" ] || fail "the partitioned node came back and the leader changed"
log "pmm-$old_leader is back as a follower; pmm-$fifth leads"

# 7. never two pmm-agents at once
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
