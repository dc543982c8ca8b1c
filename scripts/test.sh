#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine of this kind (Debian, Java 17, Maven): installs what the tests
# need and is missing (PostgreSQL server binaries: the tests start their own throwaway server; HAProxy;
# Chromium; promtool; as root, iptables, python3, iproute2, patroni and etcd-server for the failover lab), then
# builds and runs unit tests, in-JVM cluster tests and real-process tests (the short failover lab among them) with
# one `mvn verify`. As root it also sets up a container engine (scripts/container-engine.sh) so that ComposeIT runs
# the Docker topology.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# (also with PMM_HA_TEST_PG_URL: the replicated-store tests start a primary and a standby of their own)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "${PMM_HA_PG_BIN:-}" ]; then
  need_apt+=(postgresql)
fi
# haproxy: generated configs are checked with `haproxy -c`; chromium: the status page is loaded in a real browser
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# prometheus: its promtool checks and unit-tests the alert rules (deploy/prometheus)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
# The failover lab (FailoverLabIT, bench/failover-lab) runs as root only (network namespaces, iptables) and skips
# otherwise; as root it needs HAProxy, iptables and python3, and for its store failover (--store patroni) Patroni
# and etcd.
if [ "$(id -u)" = 0 ]; then
  command -v iptables >/dev/null 2>&1 || need_apt+=(iptables)
  command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
  command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
  command -v patroni >/dev/null 2>&1 || need_apt+=(patroni)
  command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "Missing packages: ${need_apt[*]} (install them, or run as root so this script can)" >&2
    exit 1
  fi
  echo "Installing ${need_apt[*]}..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  # Debian starts a cluster on install; the tests use their own, so stop the packaged one if it runs.
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    for c in $(pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}'); do pg_ctlcluster "${c%/*}" "${c#*/}" stop || true; done
  fi
  # Likewise the Prometheus server (and its recommended node exporter) that the prometheus package may start:
  # only promtool is used.
  if [[ " ${need_apt[*]} " == *" prometheus "* ]]; then
    for s in prometheus prometheus-node-exporter; do
      [ -x "/etc/init.d/$s" ] && "/etc/init.d/$s" stop >/dev/null 2>&1 || true
    done
  fi
  # And the etcd server that etcd-server may start: the lab runs its own, on its own port.
  if [[ " ${need_apt[*]} " == *" etcd-server "* ]] && [ -x /etc/init.d/etcd ]; then
    /etc/init.d/etcd stop >/dev/null 2>&1 || true
  fi
fi

# ComposeIT and PmmComposeIT (deploy module) run the Docker topologies for real (PmmComposeIT: PMM 3 stand-ins
# with pmm-ha beside each, about 3 min). Where no engine is reachable, as root on Debian,
# container-engine.sh sets podman up as a Docker API with local base images (first run: about 6 min; after
# that, seconds) and prints DOCKER_HOST and the image variables, which the test then inherits.
# PMM_HA_TEST_CONTAINERS=off skips them (each says so).
if [ "${PMM_HA_TEST_CONTAINERS:-on}" != off ] && [ "$(id -u)" = 0 ] && ! docker info >/dev/null 2>&1 \
    && command -v apt-get >/dev/null 2>&1; then
  echo "Setting up the container engine for ComposeIT (scripts/container-engine.sh)..."
  engine_start=$SECONDS
  engine_env="$(./scripts/container-engine.sh)"
  eval "$engine_env"
  # its API service and health-check ticker were started here, so they stop here, also on failure or interrupt
  # (its images stay: the next run sets it up in seconds)
  trap './scripts/container-engine.sh stop || true' EXIT
  echo "Container engine ready in $((SECONDS - engine_start)) s: $DOCKER_HOST"
fi

mvn -B -ntp verify "$@"
