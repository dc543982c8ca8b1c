#!/usr/bin/env bash
# Quick start: builds pmm-ha if needed and runs a three-node cluster on loopback (127.0.0.11-13) on the
# embedded store (one H2 server shared by the three nodes). Prints each node's URLs and the leader, then follows
# leadership changes. Ctrl-C stops every process it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
JAR=runtime/target/pmm-ha.jar
RUN_DIR=${PMM_HA_LOCAL_DIR:-$(mktemp -d /tmp/pmm-ha-local.XXXXXX)}
H2_PORT=${PMM_HA_LOCAL_H2_PORT:-9092}
HTTP_PORT=${PMM_HA_HTTP_PORT:-8080}
IPS=(127.0.0.11 127.0.0.12 127.0.0.13)
PIDS=()
declare -A NODE_PIDS=()

if [ ! -f "$JAR" ] || [ -n "$(find runtime/src http/src persistence/src application.conf conf -newer "$JAR" -type f 2>/dev/null | head -1)" ]; then
  echo "Building pmm-ha (mvn -DskipTests package)..."
  mvn -q -B -DskipTests package
fi
# The start-up archive, as in the image (deploy/docker/make-cds-archive.sh); entrypoint.sh uses it when it is
# newer than the jar. Without it the nodes start too, just slower.
if [ ! runtime/target/pmm-ha.jsa -nt "$JAR" ]; then
  deploy/docker/make-cds-archive.sh "$JAR" runtime/target/pmm-ha.jsa > /dev/null 2>&1 \
    || echo "(no start-up archive: deploy/docker/make-cds-archive.sh failed; the nodes start without it)"
fi

stop_all() {
  trap - INT TERM EXIT
  echo
  echo "Stopping..."
  # Only the PIDs this script started; a PID is always > 0 here (kill 0 would signal the whole group).
  for pid in "${PIDS[@]}"; do if [ "$pid" -gt 1 ]; then kill -TERM "$pid" 2>/dev/null || true; fi; done
  for _ in $(seq 1 200); do
    alive=0
    for pid in "${PIDS[@]}"; do if kill -0 "$pid" 2>/dev/null; then alive=1; fi; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do if [ "$pid" -gt 1 ]; then kill -KILL "$pid" 2>/dev/null || true; fi; done
  echo "Stopped. Logs are in $RUN_DIR"
}
# Ctrl-C / SIGTERM: stop everything and exit (a bare handler would return into the watch loop below)
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

echo "Run directory: $RUN_DIR"
java -cp "$JAR" org.h2.tools.Server -tcp -tcpPort "$H2_PORT" -ifNotExists -baseDir "$RUN_DIR/h2" \
  > "$RUN_DIR/h2.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/"$H2_PORT") 2>/dev/null && break; sleep 0.2; done

PEERS=$(IFS=,; echo "${IPS[*]}")
for i in 0 1 2; do
  ip=${IPS[$i]}
  PMM_HA_ENABLE=1 PMM_HA_NODE_ID="pmm-ha-$((i + 1))" PMM_HA_ADVERTISE_ADDRESS="$ip" PMM_HA_BIND_ADDRESS="$ip" \
    PMM_HA_PEERS="$PEERS" PMM_HA_HTTP_PORT="$HTTP_PORT" \
    PMM_HA_STORE_URL="jdbc:h2:tcp://127.0.0.1:$H2_PORT/pmm-ha" \
    PMM_HA_JAR="$JAR" JAVA_OPTS="${PMM_HA_JAVA_OPTS:--Xmx256m}" deploy/docker/entrypoint.sh \
    > "$RUN_DIR/node-$((i + 1)).log" 2>&1 &
  PIDS+=($!)
  NODE_PIDS[$((i + 1))]=$!
done

echo "Nodes:"
for i in 0 1 2; do
  ip=${IPS[$i]}
  echo "  pmm-ha-$((i + 1)) (pid ${NODE_PIDS[$((i + 1))]}): http://$ip:$HTTP_PORT/v1/leaderHealthCheck" \
    " http://$ip:$HTTP_PORT/v1/ha/nodes  log $RUN_DIR/node-$((i + 1)).log"
done

leader_now() {
  for i in 0 1 2; do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' -m 1 "http://${IPS[$i]}:$HTTP_PORT/v1/leaderHealthCheck")" = 200 ]; then
      curl -s -m 1 "http://${IPS[$i]}:$HTTP_PORT/v1/ha/leader"
      return
    fi
  done
  echo "none"
}

echo "Waiting for a leader (Ctrl-C stops everything)..."
last=""
while true; do
  for i in 1 2 3; do
    pid=${NODE_PIDS[$i]:-}
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      echo "$(date +%T) pmm-ha-$i (pid $pid) exited; see $RUN_DIR/node-$i.log"
      NODE_PIDS[$i]=""
    fi
  done
  now=$(leader_now)
  if [ "$now" != "$last" ]; then
    echo "$(date +%T) leader: $now"
    last=$now
  fi
  sleep 1
done
