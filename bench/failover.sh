#!/usr/bin/env bash
# Failover benchmark: how long PMM's leader health check has no leader when the leader's node stops.
#
# Starts an H2 TCP server (the shared store) and three pmm-ha nodes as separate JVMs on 127.0.0.31-33, then
# repeats two scenarios RUNS times each (interleaved):
#   crash     kill -9 of the leader's JVM
#   graceful  SIGTERM of the leader's JVM (the node leaves the cluster and hands its singleton over)
# For each run bench/prober.py polls every node's GET /v1/server/leaderHealthCheck every 10 ms, sends the signal
# itself (same clock as the answers) and records how long until another node answers 200, the longest time no
# node answered 200, and for the graceful case when the old leader stopped answering 200 and when it exited.
# After each run the stopped node is restarted and the next run waits until every node is ready, lists all three
# members alive and exactly one node is leader, plus SETTLE seconds.
# Prints a min/median/max table (command and machine on top) and writes it to bench/results/failover-loopback.md.
#
# Usage: [RUNS=5] [SCENARIOS="crash graceful"] bench/failover.sh
# Other knobs: SETTLE (s, 5), HEALTHY_TIMEOUT (s, 180), FAILOVER_TIMEOUT (s, 60), EXIT_TIMEOUT (s, 30),
# STOP_TIMEOUT (s, 20), PROBE_INTERVAL (s, 0.01), BENCH_IPS ("127.0.0.31 127.0.0.32 127.0.0.33"),
# BENCH_H2_PORT (9292), BENCH_HTTP_PORT (8080), BENCH_JAVA_OPTS (each node's JVM flags, -Xmx256m),
# BENCH_JAR (runtime/target/pmm-ha.jar, relative to the checkout or absolute; built with Maven when missing),
# KEEP_WORK=1 keeps the temp dir with the logs. PMM_HA_* variables in the environment reach the nodes.
#
# Every process is started by this script and stopped by its PID (TERM, then KILL after STOP_TIMEOUT) on normal
# exit, on error and on Ctrl-C; nothing else is signalled.
set -euo pipefail
# The command as run, for the report: the knobs above that were set, and any PMM_* variable from the environment
# (the nodes inherit those, e.g. PMM_HA_SBR_STABLE_AFTER, so they can change the figures).
COMMAND=""
for v in RUNS SCENARIOS SETTLE HEALTHY_TIMEOUT FAILOVER_TIMEOUT EXIT_TIMEOUT STOP_TIMEOUT PROBE_INTERVAL BENCH_IPS \
  BENCH_H2_PORT BENCH_HTTP_PORT BENCH_JAR BENCH_JAVA_OPTS KEEP_WORK $(compgen -e | grep '^PMM_' || true); do
  if [ -n "${!v+x}" ]; then COMMAND="$COMMAND$v=$(printf '%q' "${!v}") "; fi
done
COMMAND="$COMMAND$(printf '%q ' "$0" "$@")"
COMMAND="${COMMAND% }"
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=${RUNS:-5}
SCENARIOS=${SCENARIOS:-crash graceful}
SETTLE=${SETTLE:-5}
HEALTHY_TIMEOUT=${HEALTHY_TIMEOUT:-180}
FAILOVER_TIMEOUT=${FAILOVER_TIMEOUT:-60}
EXIT_TIMEOUT=${EXIT_TIMEOUT:-30}
STOP_TIMEOUT=${STOP_TIMEOUT:-20}
PROBE_INTERVAL=${PROBE_INTERVAL:-0.01}
JAVA_OPTS=${BENCH_JAVA_OPTS:--Xmx256m}   # JVM flags of each node (word-split on purpose)
read -r -a IPS <<< "${BENCH_IPS:-127.0.0.31 127.0.0.32 127.0.0.33}"
H2_PORT=${BENCH_H2_PORT:-9292}
HTTP_PORT=${BENCH_HTTP_PORT:-8080}
JAR_SRC=${BENCH_JAR:-runtime/target/pmm-ha.jar}
PROBER=(python3 "$ROOT/bench/prober.py")
RESULTS_MD=$ROOT/bench/results/failover-loopback.md

die() { echo "failover.sh: error: $*" >&2; exit 1; }

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"
[ "${#IPS[@]}" = 3 ] || die "BENCH_IPS must list three addresses, got '${IPS[*]}'"
for sc in $SCENARIOS; do
  case $sc in crash | graceful) ;; *) die "SCENARIOS: unknown scenario '$sc' (crash, graceful)" ;; esac
done

if [ ! -f "$JAR_SRC" ]; then
  [ -z "${BENCH_JAR:-}" ] || die "BENCH_JAR=$BENCH_JAR does not exist"
  echo "Building pmm-ha (mvn -q -B -DskipTests package)..."
  mvn -q -B -DskipTests package
  [ -f "$JAR_SRC" ] || die "the build did not produce $JAR_SRC"
fi

# fd 3 keeps the real stderr: a trap can run inside "{ wait ...; } 2>/dev/null" (see prober()), and its messages
# must still be seen.
exec 3>&2
WORK=$(mktemp -d /tmp/pmm-ha-failover.XXXXXX)
H2_PID=""
PROBER_PID=""
NODE_PID=("" "" "")   # index 0..2 -> PID of the running JVM of node bench-(index+1), "" when not running
NOTES=()              # anomalies seen by this script (a node not exiting on SIGTERM, ...), go into the report

# ------------------------------------------------------------------------------------------------ stop everything

pid_alive() { [ -n "$1" ] && [ "$1" -gt 1 ] && kill -0 "$1" 2>/dev/null; }

# TERM the given PIDs, wait up to STOP_TIMEOUT for them to exit, KILL what is left, reap them.
stop_pids() {
  local pid i alive
  for pid in "$@"; do if pid_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi; done
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    alive=0
    for pid in "$@"; do if pid_alive "$pid"; then alive=1; fi; done
    if [ "$alive" = 0 ]; then break; fi
    sleep 0.1
  done
  for pid in "$@"; do
    if pid_alive "$pid"; then
      echo "failover.sh: pid $pid did not exit within ${STOP_TIMEOUT} s of SIGTERM; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for pid in "$@"; do if [ -n "$pid" ]; then { wait "$pid"; } 2>/dev/null || true; fi; done
}

cleanup() {
  local rc=$? f
  trap - EXIT INT TERM
  set +e
  exec 2>&3
  echo "Stopping the processes this script started..." >&2
  # the prober first (it may be about to signal a node), then the nodes, then the store they use
  stop_pids "$PROBER_PID"
  stop_pids "${NODE_PID[@]}"
  stop_pids "$H2_PID"
  # On an error (not on Ctrl-C or SIGTERM) show the end of each log, stack frames left out, before it is removed.
  if [ "$rc" != 0 ] && [ "$rc" != 130 ] && [ "$rc" != 143 ]; then
    for f in "$WORK"/*.log; do
      [ -f "$f" ] || continue
      echo "----- last lines of $(basename "$f")" >&2
      grep -v $'^\tat \|^\t\.\.\. [0-9]* more' "$f" | tail -n 25 >&2
    done
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "Logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "failover.sh: interrupted" >&3; exit 130' INT
trap 'echo "failover.sh: terminated" >&3; exit 143' TERM

# Runs the prober in the background and waits for it, so that Ctrl-C or SIGTERM reaches our trap at once.
prober() {
  local rc=0
  "${PROBER[@]}" "$@" 3>&- &
  PROBER_PID=$!
  # The braces send to /dev/null bash's "Killed ..." notice for a node the prober killed (printed while waiting).
  { wait "$PROBER_PID"; } 2>/dev/null || rc=$?
  PROBER_PID=""
  return "$rc"
}

# -------------------------------------------------------------------------------------------------- start things

port_free() { ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_port HOST PORT PID WHAT: until HOST:PORT accepts connections, at most 30 s, failing if PID exits.
wait_port() {
  local i
  for ((i = 0; i < 300; i++)); do
    if ! port_free "$1" "$2"; then return 0; fi
    pid_alive "$3" || die "$4 (pid $3) exited before listening on $1:$2; see $WORK/$4.log"
    sleep 0.1
  done
  die "$4 did not listen on $1:$2 within 30 s"
}

PEERS=$(IFS=,; echo "${IPS[*]}")

# start_node I: starts node bench-(I+1) on IPS[I]; its log is appended to $WORK/node-(I+1).log.
start_node() {
  local i=$1 log="$WORK/node-$(($1 + 1)).log"
  echo "===== $(date '+%F %T') starting bench-$((i + 1))" >> "$log"
  PMM_HA_ENABLE=1 PMM_HA_NODE_ID="bench-$((i + 1))" \
    PMM_HA_ADVERTISE_ADDRESS="${IPS[$i]}" PMM_HA_BIND_ADDRESS="${IPS[$i]}" PMM_HA_PEERS="$PEERS" \
    PMM_HA_STORE_URL="jdbc:h2:tcp://127.0.0.1:$H2_PORT/pmm-ha" PMM_HA_HTTP_PORT="$HTTP_PORT" \
    java $JAVA_OPTS -jar "$JAR" >> "$log" 2>&1 3>&- &
  NODE_PID[$i]=$!
}

node_args() {
  local i
  for i in 0 1 2; do printf -- '--node\n%s=%s\n' "${IPS[$i]}" "${NODE_PID[$i]}"; done
}

# The jar is copied so that a rebuild of the checkout during the benchmark cannot change or corrupt it.
JAR=$WORK/pmm-ha.jar
cp "$JAR_SRC" "$JAR"
python3 -c 'import sys, zipfile; sys.exit(zipfile.ZipFile(sys.argv[1]).testzip() is not None)' "$JAR" 2>/dev/null \
  || die "$JAR_SRC is not a valid jar (being rebuilt right now?); try again"
BUILD="$(GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown), \
jar $JAR_SRC of $(date -r "$JAR_SRC" '+%F %T'), sha256 $(sha256sum "$JAR" | cut -c1-12)"
MACHINE="nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), \
$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo), $(uname -sr), \
$(java -version 2>&1 | head -1)"

LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
echo "Command: $COMMAND"
echo "Machine: $MACHINE"
echo "Build:   $BUILD"
echo "Work dir: $WORK (logs; removed at exit unless KEEP_WORK=1)"

port_free 127.0.0.1 "$H2_PORT" || die "port $H2_PORT is in use (another H2?); set BENCH_H2_PORT"
for ip in "${IPS[@]}"; do
  port_free "$ip" "$HTTP_PORT" || die "$ip:$HTTP_PORT is in use (a leftover node?); set BENCH_IPS"
done

java -Xmx128m -cp "$JAR" org.h2.tools.Server -tcp -tcpPort "$H2_PORT" -ifNotExists -baseDir "$WORK/h2" \
  > "$WORK/h2.log" 2>&1 3>&- &
H2_PID=$!
wait_port 127.0.0.1 "$H2_PORT" "$H2_PID" h2

for i in 0 1 2; do start_node "$i"; done
mapfile -t NODES < <(node_args)
echo "Started H2 (pid $H2_PID) and nodes bench-1..3 (pids ${NODE_PID[*]}); waiting for the cluster..."
prober wait-healthy "${NODES[@]}" --port "$HTTP_PORT" --timeout "$HEALTHY_TIMEOUT" \
  --what "first start of the three nodes"
sleep "$SETTLE"

# ---------------------------------------------------------------------------------------------------- the runs

# run_once SCENARIO RUN: one measured failover, then restart of the stopped node and wait for a healthy cluster.
run_once() {
  local scenario=$1 run=$2 sig victim_ip victim=-1 pid rc=0 i out="$WORK/runs/$1-$(printf '%03d' "$2").json"
  if [ "$scenario" = crash ]; then sig=KILL; else sig=TERM; fi
  mapfile -t NODES < <(node_args)
  prober measure "${NODES[@]}" --port "$HTTP_PORT" --signal "$sig" --scenario "$scenario" --run "$run" \
    --interval "$PROBE_INTERVAL" --failover-timeout "$FAILOVER_TIMEOUT" --exit-timeout "$EXIT_TIMEOUT" \
    --out "$out" --victim-file "$WORK/victim"
  victim_ip=$(cat "$WORK/victim")
  for i in 0 1 2; do if [ "${IPS[$i]}" = "$victim_ip" ]; then victim=$i; fi; done
  [ "$victim" -ge 0 ] || die "the prober named an unknown leader '$victim_ip'"
  pid=${NODE_PID[$victim]}

  # The stopped node must exit by itself (the prober already waited EXIT_TIMEOUT for it); collect its exit code
  # (137 after kill -9; after SIGTERM pmm-ha's Main documents 0, the report notes any other code).
  if pid_alive "$pid"; then
    NOTES+=("$scenario run $run: bench-$((victim + 1)) (pid $pid) still running ${EXIT_TIMEOUT} s after SIG$sig; killed with SIGKILL")
    echo "WARNING: ${NOTES[-1]}" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  { wait "$pid"; } 2>/dev/null || rc=$?
  NODE_PID[$victim]=""
  prober amend "$out" "exit_code=$rc" "stopped_node=\"bench-$((victim + 1))\""

  # Restart it, and wait until it is back in the cluster (the time goes into the report as "rejoin").
  start_node "$victim"
  mapfile -t NODES < <(node_args)
  prober wait-healthy "${NODES[@]}" --port "$HTTP_PORT" --timeout "$HEALTHY_TIMEOUT" \
    --what "bench-$((victim + 1)) restarted after $scenario run $run" --record "$out" --record-key rejoin
  sleep "$SETTLE"
}

mkdir -p "$WORK/runs"
for ((run = 1; run <= RUNS; run++)); do
  for scenario in $SCENARIOS; do
    run_once "$scenario" "$run"
  done
done

# --------------------------------------------------------------------------------------------------------- report

echo
LOAD="1-min load average $LOAD_START at the start, $(cut -d' ' -f1 /proc/loadavg) at the end, on $(nproc) CPUs \
(other work running at the same time lengthens the figures)"
REPORT_ARGS=(--runs "$WORK/runs" --command "$COMMAND" --machine "$MACHINE" --build "$BUILD" --load "$LOAD"
  --markdown "$RESULTS_MD")
for n in "${NOTES[@]}"; do REPORT_ARGS+=(--note "$n"); done
prober report "${REPORT_ARGS[@]}"
echo
echo "Written to ${RESULTS_MD#"$ROOT"/}"
