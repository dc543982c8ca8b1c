# Shared by scripts/docker-scenario.sh and scripts/pmm-scenario.sh (sourced, not run): the compose wrapper, the
# names of a run's own containers, clean-up at exit, failure reports and wait loops.
#
# The sourcing script sets, before it calls anything here:
#   root, project, env_file, compose_file  the checkout, the compose project, its .env and its compose file
#   tmp                                    its temporary directory (removed at exit)
#   scenario_tag                           the prefix of its log lines ("scenario[TAG]")
#   names                                  "labels" (compose's project and service labels, the default) or
#                                          "prefix" (containers, volumes and networks named "$project-...")
# and may set log_tail (lines of each container's log a failure prints, default 150), log_skip (an extended
# regular expression of log lines a failure leaves out) and log_dir (a directory where a failure also writes each
# container's whole log, as CONTAINER.log; PMM_HA_IT_LOG_DIR sets it too). A function on_cleanup, if defined,
# runs first at exit (for example to remove fault rules).
# shellcheck shell=bash

log() { echo "scenario[$scenario_tag] $(date +%T) $*"; }
figure() { echo "figure: $*"; }
now() { date +%s.%N; }
now_ms() { date +%s%3N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose -p "$project" --env-file "$env_file" -f "$compose_file" "$@"
  else
    # docker-compose 1.x predates the top-level `name:` (it is only the default project name; -p sets it):
    # the same file without that line, paths resolved from the file's own directory
    [ -f "$tmp/compose.yaml" ] || grep -v '^name:' "$compose_file" >"$tmp/compose.yaml"
    docker-compose -p "$project" --env-file "$env_file" --project-directory "$(dirname "$compose_file")" \
      -f "$tmp/compose.yaml" "$@"
  fi
}

# container name of a service
cname() {
  if [ "${names:-labels}" = prefix ]; then
    echo "$project-$1"
  else
    docker ps -a --filter "label=com.docker.compose.project=$project" \
      --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -1
  fi
}

# the ids of this run's containers (running or not), networks and volumes
own_containers() {
  if [ "${names:-labels}" = prefix ]; then
    docker ps -aq --filter "name=^$project-"
  else
    docker ps -aq --filter "label=com.docker.compose.project=$project"
  fi
}
own_networks() {
  if [ "${names:-labels}" = prefix ]; then
    docker network ls --format '{{.Name}}' | grep "^$project-" || true
  else
    docker network ls -q --filter "label=com.docker.compose.project=$project"
  fi
}
own_volumes() {
  if [ "${names:-labels}" = prefix ]; then
    docker volume ls --format '{{.Name}}' | grep "^$project-" || true
  else
    docker volume ls -q --filter "label=com.docker.compose.project=$project"
  fi
}
network() { own_networks | head -1; }

# subnet_holders CIDR: what on this host already uses addresses of CIDR, a line each: interface addresses and
# the engine's networks (podman refuses a new network whose subnet meets either: "subnet ... is already used on
# the host or by another config")
subnet_holders() {
  { ip -o addr show 2>/dev/null | awk '{ print "host interface " $2 ": " $4 }'
    for n in $(docker network ls -q 2>/dev/null); do
      docker network inspect -f 'network {{.Name}}: {{range .IPAM.Config}}{{.Subnet}} {{end}}' "$n" 2>/dev/null || true
    done
  } | python3 -c '
import ipaddress, re, sys
want = ipaddress.ip_network(sys.argv[1])
for line in sys.stdin:
    for cidr in re.findall(r"\b\d+\.\d+\.\d+\.\d+/\d+", line):
        if ipaddress.ip_network(cidr, strict=False).overlaps(want):
            print(line.strip())
            break
' "$1"
}

# await_subnet_free CIDR SECONDS: waits until nothing on the host uses CIDR (an engine still tearing down an
# earlier network's bridge), saying what holds it; fails naming the holders after SECONDS
await_subnet_free() {
  local cidr="$1" limit="$2" t0 holders said=0
  t0=$(now)
  while holders="$(subnet_holders "$cidr")" && [ -n "$holders" ]; do
    if [ "$said" = 0 ]; then
      log "waiting for $cidr to be free; it is used by: $(tr '\n' ';' <<<"$holders")"
      said=1
    fi
    [ "$(secs "$t0" "$(now)" | cut -d. -f1)" -lt "$limit" ] \
      || fail "$cidr is still in use after $limit s, by: $(tr '\n' ';' <<<"$holders") (this scenario needs it to itself)"
    sleep 1
  done
  [ "$said" = 0 ] || log "$cidr free after $(secs "$t0" "$(now)") s"
}

restart_count() { docker inspect -f '{{.RestartCount}}' "$(cname "$1")"; }

# removes this run's containers, then its volumes and networks
remove_own() {
  local ids n v try
  # no graceful stop needed here: remove first, then let compose remove the rest. A container that restart: always
  # is bringing back just then can outlive one `rm -f` (seen with podman after a passing run): a few tries
  for try in 1 2 3 4 5; do
    ids="$(own_containers)"
    [ -n "$ids" ] || break
    [ "$try" = 1 ] || sleep 1
    # shellcheck disable=SC2086 # ids
    docker rm -f $ids >/dev/null 2>&1 || true
    reap_monitors $ids
  done
  [ "${names:-labels}" = prefix ] || compose down -v --remove-orphans >/dev/null 2>&1 || true
  for v in $(own_volumes); do docker volume rm -f "$v" >/dev/null 2>&1 || true; done
  # the engine may still be tearing the containers' endpoints down: a few tries
  for n in $(own_networks); do
    for _ in 1 2 3 4 5; do
      docker network rm "$n" >/dev/null 2>&1 && break
      sleep 1
    done
  done
}

# reap_monitors ID...: podman's conmon monitors of these removed containers that outlived them (the health
# checks' exec sessions keep one each), stopped by PID; a Docker engine has none, and then this finds nothing
reap_monitors() {
  local pid id args
  [ $# -gt 0 ] || return 0
  for pid in $(pgrep -x conmon || true); do
    args=" $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    for id in "$@"; do
      case "$args" in *" -c $id"*) kill "$pid" 2>/dev/null || true; break ;; esac
    done
  done
}

cleanup() {
  local rc=$?
  if declare -F on_cleanup >/dev/null; then on_cleanup || true; fi
  if [ "${PMM_HA_IT_KEEP:-0}" = 1 ]; then
    log "PMM_HA_IT_KEEP=1: containers of $project kept"
  else
    log "removing the containers, network and volumes of $project"
    remove_own
    local left
    left="$(own_containers)"
    if [ -n "$left" ]; then
      # shellcheck disable=SC2086 # left
      log "FAILED: containers of $project left after cleanup: $(docker inspect -f '{{.Name}} {{.State.Status}}' $left 2>/dev/null | tr '\n' ' ')"
      [ "$rc" != 0 ] || rc=1
    fi
  fi
  rm -rf "$tmp"
  exit "$rc"
}

# scenario_start: removes leftovers of an interrupted run of the same project, and cleans up at exit
scenario_start() {
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  if [ -n "$(own_containers)$(own_networks)" ]; then
    log "removing leftovers of an earlier run of $project"
    remove_own
  fi
}

# fail MESSAGE [CONTAINER...]: the message, the containers' logs (all of this run's when none is named), exit 1
fail() {
  # to stderr: also when called inside $(...), whose stdout is captured
  exec 1>&2
  local msg="$1" c
  shift
  log "FAILED: $msg"
  local list=("$@")
  if [ ${#list[@]} -eq 0 ]; then
    mapfile -t list < <(for id in $(own_containers); do docker inspect -f '{{.Name}}' "$id" | sed 's#^/##'; done)
  fi
  local dir="${log_dir:-${PMM_HA_IT_LOG_DIR:-}}"
  [ -z "$dir" ] || mkdir -p "$dir"
  for c in "${list[@]}"; do
    [ -n "$c" ] || continue
    echo "----- log of $c ($(docker inspect -f '{{.State.Status}} exit {{.State.ExitCode}}' "$c" 2>/dev/null)) -----"
    [ -z "$dir" ] || docker logs -t "$c" >"$dir/$c.log" 2>&1 || true
    if [ -n "${log_skip:-}" ]; then
      { docker logs "$c" 2>&1 || true; } | { grep -Ev "$log_skip" || true; } | tail -n "${log_tail:-150}"
    else
      docker logs --tail "${log_tail:-150}" "$c" 2>&1 || true
    fi
  done
  # again at the end, where a reader of the output's tail (the IT's assertion message) finds it
  log "FAILED: $msg${dir:+ (whole container logs in $dir)}"
  exit 1
}

# code URL [curl args]: the HTTP status, 000 when no answer
code() { curl -s -o /dev/null -m 3 -w '%{http_code}' -k "$@" 2>/dev/null || true; }

# wait_healthy CONTAINER [SECONDS]: until the container runs and, if it has a health check, is healthy
wait_healthy() {
  local c="$1" limit="${2:-${healthy_timeout:-180}}" deadline s
  deadline=$((SECONDS + limit))
  while :; do
    # no health check: no Health (Docker) or an empty status (podman)
    s="$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}} {{.State.Status}}' "$c" 2>/dev/null || echo "missing")"
    case "$s" in "healthy running"|" running") return 0 ;; esac
    [ $SECONDS -lt $deadline ] || fail "$c did not become healthy within $limit s (state: $s)" "$c"
    sleep 1
  done
}

# await SECONDS PAUSE MESSAGE CONTAINERS COMMAND...: runs COMMAND every PAUSE s until it succeeds; fails with
# MESSAGE (and the last answer a COMMAND kept in last_answer) and the logs of CONTAINERS (space-separated names,
# "" for all of this run's) once SECONDS have passed
await() {
  local deadline=$((SECONDS + $1)) pause="$2" msg="$3" containers="$4"
  shift 4
  last_answer=""
  until "$@"; do
    # shellcheck disable=SC2086 # container names have no spaces
    [ $SECONDS -lt $deadline ] || fail "$msg${last_answer:+ (last answer: $last_answer)}" $containers
    sleep "$pause"
  done
}
