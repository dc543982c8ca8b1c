#!/usr/bin/env bash
# The Docker topology, run for real and checked: PostgreSQL, three pmm-ha nodes and HAProxy on the compose
# network 172.20.0.0/24, built from this checkout. ComposeIT runs this script; run it by hand the same way:
#
#   eval "$(scripts/container-engine.sh)"     # where there is no Docker engine (podman + local stand-ins)
#   scripts/docker-scenario.sh compose        # deploy/docker/compose.yaml with deploy/docker/.env.example
#   scripts/docker-scenario.sh manual         # deploy/README.md's `docker network create` / `docker run` steps
#
# Checks, in order (a failure prints the failing container's log and exits 1; a missed time bound or exit code
# (4's 5 s, 6) is reported at once and the run goes on, then fails at the end):
#  1. the stack comes up (compose: `up -d --build`), every container with a health check becomes healthy;
#  2. exactly one leader: one node answers the leader check, and HAProxy serves it on HTTP and on HTTPS;
#  3. a settings write through HAProxy reads back on every node;
#  4. `docker kill` of the leader: HAProxy serves a new leader within 5 s, and the killed node, started again,
#     is a follower; a crash of a node's JVM (kill -9 from the host): `restart: always` brings it back as a
#     follower (Docker disables the restart policy on `docker kill` itself);
#  5. `docker stop` of the leader while a client sends 50 requests/s through HAProxy: 0 failed requests;
#  6. stopping the stack (compose: `down`): every node exits 0 within 10 s (Docker's default stop timeout);
#  7. up again: the setting is still there and the epoch goes on from where it was.
# Figures (build, up -> first 200, failovers, exit codes and times) are printed as "figure: ..." lines.
#
# It creates and removes only its own containers, network and volumes: compose project $PMM_HA_IT_PROJECT
# (default pmm-ha-it), or in manual mode containers/volumes/network named with that prefix. They are removed at
# the end, also on failure (PMM_HA_IT_KEEP=1 keeps them for a look; PMM_HA_IT_LOG_DIR=DIR keeps their whole logs
# on failure). The pmm-ha image is kept (a warm rebuild is then quick). HAProxy's ports are published on
# 127.0.0.1 only (18080/18443 unless HAPROXY_HTTP_PORT / HAPROXY_HTTPS_PORT say otherwise); the checks go to the
# containers' own addresses on 172.20.0.0/24.
#
# Environment: DOCKER_HOST and POSTGRES_IMAGE, HAPROXY_IMAGE, MAVEN_IMAGE, JRE_IMAGE as container-engine.sh
# prints them (unset: Docker's defaults and the official images); HAPROXY_CONFIG (default: .env.example's).
set -euo pipefail

mode="${1:-compose}"
case "$mode" in compose|manual) ;; *) echo "usage: $0 [compose|manual]" >&2; exit 2 ;; esac
root="$(cd "$(dirname "$0")/.." && pwd)"
project="${PMM_HA_IT_PROJECT:-pmm-ha-it}"
env_file="$root/deploy/docker/.env.example"
compose_file="$root/deploy/docker/compose.yaml"
tmp="$(mktemp -d /tmp/pmm-ha-scenario.XXXXXX)"
scenario_tag="$mode"
names=labels
[ "$mode" = compose ] || names=prefix
export HAPROXY_HTTP_PORT="${HAPROXY_HTTP_PORT:-127.0.0.1:18080}"
export HAPROXY_HTTPS_PORT="${HAPROXY_HTTPS_PORT:-127.0.0.1:18443}"
haproxy_ip=172.20.0.10
declare -A node_ip=([pmm-server-active]=172.20.0.5 [pmm-server-passive]=172.20.0.6 [pmm-server-passive-2]=172.20.0.7)
nodes=(pmm-server-active pmm-server-passive pmm-server-passive-2)
tag="$(sed -n 's/^PMM_HA_TAG=//p' "$env_file")"
image="pmm-ha:$tag"

# shellcheck source=lib/scenario.sh
. "$root/scripts/lib/scenario.sh"

# --- the two ways of running the topology ---------------------------------------------------------------------

# the variables of .env.example, as the guide's Step 1 exports them; as with compose, the environment wins
load_env() {
  local k v
  while IFS='=' read -r k v; do
    [ -n "${!k:-}" ] || export "$k=$v"
  done < <(grep -E '^[A-Z_]+=' "$env_file")
  HAPROXY_CONFIG="${HAPROXY_CONFIG_OVERRIDE:-$HAPROXY_CONFIG}"
}

# deploy/README.md, "The guide's manual steps with pmm-ha", with the names prefixed by the project
manual_up() {
  load_env
  local net="$project-pmm-network"
  await_subnet_free 172.20.0.0/24 60
  docker network create "$net" --subnet 172.20.0.0/24 >/dev/null
  docker volume inspect "$project-pg_data" >/dev/null 2>&1 || docker volume create "$project-pg_data" >/dev/null
  docker run -d --name "$(cname postgres)" --network "$net" --ip 172.20.0.4 --restart always \
    -e POSTGRES_PASSWORD="$PG_SUPERUSER_PASSWORD" -e PG_USERNAME -e PG_PASSWORD -e GF_USERNAME -e GF_PASSWORD \
    -v "$root/deploy/docker/postgres/init-pmm-ha.sh:/docker-entrypoint-initdb.d/init-pmm-ha.sh:ro" \
    -v "$project-pg_data:/var/lib/postgresql/data" \
    --health-cmd 'pg_isready -h 127.0.0.1 -p 5432 -U postgres' --health-interval 2s \
    "${POSTGRES_IMAGE:-postgres:17}" postgres -c shared_preload_libraries=pg_stat_statements >/dev/null
  wait_healthy "$(cname postgres)"
  local n
  for n in "pmm-server-active 172.20.0.5 1" "pmm-server-passive 172.20.0.6 0" "pmm-server-passive-2 172.20.0.7 0"; do
    set -- $n
    docker run -d --name "$(cname "$1")" --hostname "$1" --network "$net" --ip "$2" \
      --restart always --stop-timeout 30 --memory 768m \
      -e PMM_TEST_HA_ENABLE=1 -e PMM_TEST_HA_BOOTSTRAP="$3" -e PMM_TEST_HA_NODE_ID="$1" \
      -e PMM_TEST_HA_ADVERTISE_ADDRESS="$2" \
      -e PMM_TEST_HA_GOSSIP_PORT=9096 -e PMM_TEST_HA_RAFT_PORT=9097 -e PMM_TEST_HA_GRAFANA_GOSSIP_PORT=9094 \
      -e PMM_TEST_HA_PEERS=172.20.0.5,172.20.0.6,172.20.0.7 \
      -e PMM_POSTGRES_ADDR=172.20.0.4:5432 -e PMM_POSTGRES_USERNAME="$PG_USERNAME" \
      -e PMM_POSTGRES_DBPASSWORD="$PG_PASSWORD" -e PMM_HA_HTTP_PORT=8080 \
      "$image" >/dev/null
  done
  mkdir -p "$tmp/certs"
  PMM_HA_CERT_OWNER=99:99 "$root/deploy/haproxy/make-cert.sh" "$tmp/certs" >/dev/null 2>&1
  docker run -d --name "$(cname haproxy)" --network "$net" --ip "$haproxy_ip" --restart always \
    -p "$HAPROXY_HTTP_PORT:80" -p "$HAPROXY_HTTPS_PORT:443" --sysctl net.ipv4.ip_unprivileged_port_start=0 \
    -v "$root/deploy/haproxy/$HAPROXY_CONFIG:/usr/local/etc/haproxy/haproxy.cfg:ro" \
    -v "$root/deploy/haproxy/pmm-ha-wait-for-leader.lua:/usr/local/etc/haproxy/pmm-ha-wait-for-leader.lua:ro" \
    -v "$tmp/certs:/etc/haproxy/certs:ro" "${HAPROXY_IMAGE:-haproxy:3.0-alpine}" >/dev/null
}

# soft MESSAGE [CONTAINER...]: a bound that was missed (a time, an exit code); the run goes on so that every later
# check and figure is still seen, and fails at the end
soft_failures=()
soft() {
  local msg="$1"; shift
  log "FAILED (the run goes on): $msg"
  soft_failures+=("$msg")
  local c
  for c in "$@"; do
    echo "----- log of $c -----"; docker logs --tail 80 "$c" 2>&1 || true
  done
}

# --- HTTP helpers ----------------------------------------------------------------------------------------------

# leader_via SCHEME: node id of the leader HAProxy serves (GET /v1/ha/leader on the node it sends to), or ""
leader_via() {
  local body
  body="$(curl -sk -m 3 -f "$1://$haproxy_ip/v1/ha/leader" 2>/dev/null)" || { echo ""; return; }
  # only a node that answers the leader check is the leader; /v1/ha/leader is that node's view
  [ "$(code "$1://$haproxy_ip/v1/server/leaderHealthCheck")" = 200 ] || { echo ""; return; }
  sed -n 's/.*"node_id":"\([^"]*\)".*/\1/p' <<<"$body"
}
epoch_via() { curl -sk -m 3 -f "http://$haproxy_ip/v1/ha/leader" | sed -n 's/.*"epoch":\([0-9]*\).*/\1/p'; }
# nodes answering the leader check directly, space separated
direct_leaders() {
  local n out=()
  for n in "${nodes[@]}"; do
    [ "$(code -X POST "http://${node_ip[$n]}:8080/v1/leaderHealthCheck")" = 200 ] && out+=("$n")
  done
  echo "${out[*]:-}"
}

ready() { [ "$(code "http://${node_ip[$1]}:8080/v1/readyz")" = 200 ]; }

restarted() { [ "$(restart_count "$1")" -gt "$2" ] && ready "$1"; }

# reads_setting URL VALUE: GET URL answers the setting it.scenario with VALUE
reads_setting() {
  last_answer="$(curl -s -m 3 "$1")"
  grep -qF "\"value\":$2" <<<"$last_answer"
}

# one leader: exactly one node answers the leader check, and HAProxy serves that node on HTTP and HTTPS
check_one_leader() {
  local deadline=$((SECONDS + ${1:-60})) direct http https
  while :; do
    direct="$(direct_leaders)"; http="$(leader_via http)"; https="$(leader_via https)"
    if [ -n "$direct" ] && [ "$direct" = "${direct%% *}" ] && [ "$http" = "$direct" ] && [ "$https" = "$direct" ]; then
      echo "$direct"
      return 0
    fi
    [ $SECONDS -lt $deadline ] || fail "not exactly one leader served by HAProxy: nodes answering the leader check '$direct', HAProxy http '$http', https '$https'" "$(cname haproxy)"
    sleep 0.5
  done
}

# fault_leader kill|stop: `docker kill` (or `docker stop -t 30`) of the leader, then waits (30 s) until HAProxy
# serves another leader; sets t_fault (when the command began), stopped (how long it took) and new (the new leader)
fault_leader() {
  t_fault=$(now)
  if [ "$1" = kill ]; then
    docker kill "$(cname "$leader")" >/dev/null
  else
    docker stop -t 30 "$(cname "$leader")" >/dev/null
  fi
  stopped="$(secs "$t_fault" "$(now)")"
  new=""
  while :; do
    new="$(leader_via http)"
    [ -z "$new" ] || [ "$new" = "$leader" ] || break
    [ "$(secs "$t_fault" "$(now)" | cut -d. -f1)" -lt 30 ] || fail "no new leader through HAProxy within 30 s of docker $1 of $leader" "$(cname haproxy)"
    sleep 0.1
  done
}

# --- the scenario ----------------------------------------------------------------------------------------------

scenario_start

log "engine: DOCKER_HOST=${DOCKER_HOST:-default}; images: postgres ${POSTGRES_IMAGE:-postgres:17}, haproxy ${HAPROXY_IMAGE:-haproxy:3.0-alpine}"
[ -z "${HAPROXY_CONFIG_OVERRIDE:-}" ] || export HAPROXY_CONFIG="$HAPROXY_CONFIG_OVERRIDE"

# 1. build and up
t0=$(now)
if [ "$mode" = compose ]; then
  compose build >"$tmp/build.log" 2>&1 || { tail -40 "$tmp/build.log"; fail "compose build failed"; }
else
  docker build -f "$root/deploy/docker/Dockerfile" -t "$image" \
    ${MAVEN_IMAGE:+--build-arg MAVEN_IMAGE="$MAVEN_IMAGE"} ${JRE_IMAGE:+--build-arg JRE_IMAGE="$JRE_IMAGE"} \
    "$root" >"$tmp/build.log" 2>&1 || { tail -40 "$tmp/build.log"; fail "docker build failed"; }
fi
figure "build of $image: $(secs "$t0" "$(now)") s ($mode: $([ "$mode" = compose ] && echo 'compose build' || echo 'docker build'))"
grep -h 'No answer to\|make-cds-archive:' "$tmp/build.log" | sed 's/^/  build: /' | head -5 || true
figure "image size: $(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }')"

t_up=$(now)
if [ "$mode" = compose ]; then
  await_subnet_free 172.20.0.0/24 60
  compose up -d >"$tmp/up.log" 2>&1 || { cat "$tmp/up.log"; fail "compose up failed"; }
else
  manual_up
fi
while [ "$(code "http://$haproxy_ip/v1/server/leaderHealthCheck")" != 200 ]; do
  [ "$(secs "$t_up" "$(now)" | cut -d. -f1)" -lt 180 ] || fail "no 200 through HAProxy within 180 s of up"
  sleep 0.2
done
figure "up -> first 200 through HAProxy (GET /v1/server/leaderHealthCheck): $(secs "$t_up" "$(now)") s"
for s in postgres "${nodes[@]}" haproxy; do wait_healthy "$(cname "$s")"; done
# and each node Up in the cluster now (a health status is as old as the last check, and a node the cluster
# downed at start restarts)
for n in "${nodes[@]}"; do
  await 180 0.5 "$n is not ready (GET /v1/readyz) within 180 s" "$(cname "$n")" ready "$n"
done
log "1. every container is healthy (postgres, 3 nodes by their HEALTHCHECK; haproxy running)"

# 2. one leader
leader="$(check_one_leader)"
[ "$(code "http://$HAPROXY_HTTP_PORT/v1/server/leaderHealthCheck")" = 200 ] || fail "HAProxy's published port $HAPROXY_HTTP_PORT does not serve the leader"
log "2. exactly one leader, $leader, served by HAProxy on HTTP and HTTPS (and on the published port)"

# 3. settings write through HAProxy, read back on every node
value="{\"run\":\"$(date +%s%N)\"}"
resp="$(curl -s -m 10 -f -X PUT -H 'Content-Type: application/json' -d "$value" "http://$haproxy_ip/v1/ha/settings/it.scenario")" \
  || fail "PUT /v1/ha/settings/it.scenario through HAProxy failed" "$(cname "$leader")"
for n in "${nodes[@]}"; do
  await 10 0.2 "$n does not read back the setting written through HAProxy ($resp)" "$(cname "$n")" \
    reads_setting "http://${node_ip[$n]}:8080/v1/ha/settings/it.scenario" "$value"
done
log "3. setting written through HAProxy ($resp) reads back on every node"

# 4. docker kill of the leader
epoch_before="$(epoch_via)"
fault_leader kill
t_kill="$t_fault"
failover="$(secs "$t_kill" "$(now)")"
figure "docker kill of the leader ($leader) -> HAProxy serves the new leader ($new): $failover s"
# where the time went: the new leader's own log line (container clocks are the host's). It may not be written
# yet: the new leader answers the check as soon as it holds the fence, before its election is journaled, and
# with set -e and pipefail a grep that finds nothing would end the run without a word (CI, 2026-12-03).
elected="$(docker logs "$(cname "$new")" 2>&1 | grep 'LEADER elected' | tail -1 | cut -c1-12 || true)"
[ -z "$elected" ] || figure "  of which: docker kill -> 'LEADER elected' in $new's log: $(secs "$t_kill" "$(date -d "$(date +%F) $elected" +%s.%N)") s"
awk -v f="$failover" 'BEGIN { exit !(f <= 5) }' || soft "4. failover after docker kill took $failover s, more than 5 s" "$(cname "$new")"
# Docker disables a container's restart policy on `docker kill` until it is started again (docker-kill(1)), so
# the killed node is started by hand here, and must come back as a follower
docker start "$(cname "$leader")" >/dev/null
wait_healthy "$(cname "$leader")"
[ "$(code -X POST "http://${node_ip[$leader]}:8080/v1/leaderHealthCheck")" != 200 ] || fail "$leader came back as leader" "$(cname "$leader")"
[ "$(check_one_leader)" = "$new" ] || fail "the leader changed again after $leader came back"
log "4. new leader $new (epoch $epoch_before -> $(epoch_via)); $leader started again and is a follower"
# a crash as the engine sees it (the JVM, PID 1 of the container, killed from outside): restart: always brings
# the node back by itself
crashed="$leader"
restarts="$(restart_count "$crashed")"
kill -KILL "$(docker inspect -f '{{.State.Pid}}' "$(cname "$crashed")")"
await 120 0.5 "$crashed was not restarted by restart: always within 120 s of its JVM's crash" "$(cname "$crashed")" \
  restarted "$crashed" "$restarts"
[ "$(code -X POST "http://${node_ip[$crashed]}:8080/v1/leaderHealthCheck")" != 200 ] || fail "$crashed came back as leader" "$(cname "$crashed")"
[ "$(check_one_leader)" = "$new" ] || fail "the leader changed after $crashed crashed and came back"
log "4. $crashed crashed (kill -9 of its JVM): restart: always brought it back as a follower"
leader="$new"

# 5. docker stop of the leader under 50 requests/s through HAProxy
python3 - "$haproxy_ip" "$tmp/load.out" <<'PY' &
import sys, threading, time, urllib.request
host, out = sys.argv[1], sys.argv[2]
url = "http://%s/v1/server/leaderHealthCheck" % host
results, lock, stop = [], threading.Lock(), time.time() + 25
def one(due):
    t = time.time()
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            ok = r.status == 200
            status = r.status
    except Exception as e:
        ok, status = False, getattr(e, "code", type(e).__name__)
    with lock:
        results.append((due, ok, status, time.time() - t))
threads, due = [], time.time()
while due < stop:
    time.sleep(max(0, due - time.time()))
    th = threading.Thread(target=one, args=(due,)); th.start(); threads.append(th)
    due += 0.02  # 50 requests/s
for th in threads:
    th.join()
failed = [r for r in results if not r[1]]
with open(out, "w") as f:
    f.write("%d %d %.3f %s\n" % (len(results), len(failed), max(r[3] for r in results),
                                 sorted(set(str(r[2]) for r in failed))))
PY
load=$!
sleep 5
fault_leader stop
t_stop="$t_fault"
figure "docker stop of the leader ($leader, exit $(docker inspect -f '{{.State.ExitCode}}' "$(cname "$leader")") after $stopped s) -> HAProxy serves the new leader ($new): $(secs "$t_stop" "$(now)") s after the stop began"
wait "$load" || fail "the load client failed"
read -r sent failed slowest statuses <"$tmp/load.out"
figure "50 requests/s through HAProxy across docker stop of the leader: $sent sent, $failed failed, slowest $slowest s"
# the logs of HAProxy, the stopped leader and the new one (a 503 after the hand-over comes from the new leader)
[ "$failed" = 0 ] || fail "$failed of $sent requests failed through HAProxy across docker stop of the leader ($statuses)" "$(cname haproxy)" "$(cname "$leader")" "$(cname "$new")"
docker start "$(cname "$leader")" >/dev/null
wait_healthy "$(cname "$leader")"
log "5. 0 of $sent requests failed across docker stop of the leader; new leader $new; $leader started again"
leader="$(check_one_leader)"

# 6. stop the whole stack: every node exits 0 within 10 s
epoch_before="$(epoch_via)"
t_down=$(now)
if [ "$mode" = compose ]; then
  compose stop >"$tmp/stop.log" 2>&1 || { cat "$tmp/stop.log"; fail "compose stop failed"; }
else
  docker stop -t 30 $(for s in haproxy "${nodes[@]}" postgres; do cname "$s"; done) >/dev/null
fi
down_ok=1
for n in "${nodes[@]}"; do
  c="$(cname "$n")"
  read -r ec fin < <(docker inspect -f '{{.State.ExitCode}} {{.State.FinishedAt}}' "$c")
  took="$(secs "$t_down" "$(date -d "$fin" +%s.%N)")"
  figure "$([ "$mode" = compose ] && echo 'compose down' || echo 'docker stop of all'): $n exit $ec after $took s"
  if [ "$ec" != 0 ] || ! awk -v f="$took" 'BEGIN { exit !(f <= 10) }'; then
    down_ok=0
    echo "----- log of $c (exit $ec after $took s) -----"; docker logs --tail 60 "$c" 2>&1
  fi
done
if [ "$mode" = compose ]; then
  compose down >"$tmp/down.log" 2>&1 || { cat "$tmp/down.log"; fail "compose down failed"; }
else
  docker rm $(for s in haproxy "${nodes[@]}" postgres; do cname "$s"; done) >/dev/null
  docker network rm "$project-pmm-network" >/dev/null
fi
[ "$down_ok" = 0 ] || log "6. every node exited 0 within 10 s"

# 7. up again: the setting is kept, the epoch goes on
t_up=$(now)
if [ "$mode" = compose ]; then
  await_subnet_free 172.20.0.0/24 60
  compose up -d >"$tmp/up2.log" 2>&1 || { cat "$tmp/up2.log"; fail "second compose up failed"; }
else
  docker volume inspect "$project-pg_data" >/dev/null
  manual_up
fi
leader="$(check_one_leader 180)"
figure "up again -> one leader through HAProxy: $(secs "$t_up" "$(now)") s"
await 15 0.5 "the setting written before down is gone after up (GET through HAProxy)" "$(cname "$leader") $(cname postgres)" \
  reads_setting "http://$haproxy_ip/v1/ha/settings/it.scenario" "$value"
epoch_after="$(epoch_via)"
[ "$epoch_after" -gt "$epoch_before" ] || fail "epoch went from $epoch_before to $epoch_after across down/up" "$(cname "$leader")"
log "7. after up again: setting kept, epoch $epoch_before -> $epoch_after, leader $leader"
[ "$down_ok" = 1 ] || soft "6. not every node exited 0 within 10 s of the stop (figures and logs above)"
[ ${#soft_failures[@]} -eq 0 ] || { log "FAILED: ${#soft_failures[@]} check(s): $(printf '%s; ' "${soft_failures[@]}")"; exit 1; }
log "PASSED"
