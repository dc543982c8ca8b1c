#!/usr/bin/env bash
# A Docker-compatible container engine on a Debian machine without Docker (podman serving the Docker API), and
# the images the project's Docker files need when no image registry can be reached. Run as root:
#
#   eval "$(scripts/container-engine.sh)"     # then `docker ...` and `docker-compose ...` use the engine
#   scripts/container-engine.sh stop          # stops the API service and the health-check ticker it started, and
#                                             # conmon monitors left behind for containers that no longer exist
#
# Idempotent: each step checks first and says what it does (on stderr); stdout is only the `export` lines:
#   DOCKER_HOST                     the engine's Docker API socket
#   MAVEN_IMAGE, JRE_IMAGE          build args of deploy/docker/Dockerfile (compose.yaml passes them on)
#   POSTGRES_IMAGE, HAPROXY_IMAGE   the images compose.yaml runs for PostgreSQL and HAProxy
#   PMM_SERVER_IMAGE                a stand-in for percona/pmm-server:3 (compose.pmm.yaml)
#
# Steps:
#  1. installs podman, runc, docker-compose, debootstrap when missing (apt-get), and podman-docker (a `docker`
#     command) when there is no docker command;
#  2. writes /etc/containers/containers.conf: runtime runc (crun refuses this kernel's hybrid cgroups) and
#     default ulimits at or below the current hard limits (podman's own defaults cannot be set here);
#  3. starts `podman system service` on $PMM_HA_ENGINE_DIR/podman.sock (PID in podman.pid), or reuses it;
#     without systemd podman cannot schedule HEALTHCHECKs, so a ticker (healthcheck-ticker.sh, PID in
#     ticker.pid) runs `podman healthcheck run` at each container's interval, as systemd's timers would;
#  4. builds the images once: a Debian bookworm base (debootstrap minbase, imported), the JDK 17 + Maven build
#     image (with the host's CA certificates), the JRE 17 image, and stand-ins for postgres, haproxy and
#     PMM Server 3 (scripts/container-engine/*/Dockerfile). An image is rebuilt only when its inputs changed.
#
# Environment: PMM_HA_ENGINE_DIR (default /run/pmm-ha-engine), DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
dir="${PMM_HA_ENGINE_DIR:-/run/pmm-ha-engine}"
sock="$dir/podman.sock"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
prefix=localhost/pmm-ha-engine
base_image="$prefix/debian:bookworm"
build_image="$prefix/maven:3-jdk17"
jre_image="$prefix/jre:17"
postgres_image="$prefix/postgres:15"
haproxy_image="$prefix/haproxy:2.6"
pmm_image="$prefix/pmm-server:3-standin"
conf=/etc/containers/containers.conf
marker="# written by pmm-ha scripts/container-engine.sh"

say() { echo "container-engine: $*" >&2; }
die() { echo "container-engine: $*" >&2; exit 1; }

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_service() {
  for f in ticker podman; do
    if alive "$dir/$f.pid"; then
      say "stopping $f (PID $(cat "$dir/$f.pid"))"
      kill "$(cat "$dir/$f.pid")"
    fi
    rm -f "$dir/$f.pid"
  done
  reap_conmons
}

# conmon monitors that podman left behind for containers that no longer exist (the health checks' exec sessions
# of containers removed meanwhile keep theirs): each one names its container (-c ID) and its storage directory
# (-b DIR/overlay-containers/ID/...); one whose container directory is gone monitors nothing, and is stopped by PID
reap_conmons() {
  local pid args bundle n=0
  for pid in $(pgrep -x conmon || true); do
    args="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || continue
    bundle="$(sed -n 's/.* -b \([^ ]*\/overlay-containers\/[0-9a-f]*\)\/.*/\1/p' <<<"$args")"
    [ -n "$bundle" ] && [ ! -d "$bundle" ] || continue
    kill "$pid" 2>/dev/null && n=$((n + 1))
  done
  [ "$n" = 0 ] || say "stopped $n conmon monitors of containers that no longer exist"
}

[ "$(id -u)" = 0 ] || die "run as root (podman runs containers as root here; rootless needs subuids this machine kind lacks)"

if [ "${1:-}" = stop ]; then
  stop_service
  exit 0
elif [ $# -gt 0 ]; then
  die "unknown argument '$1' (no argument: set up; 'stop': stop the API service)"
fi

# 1. packages
missing=()
for p in podman runc docker-compose debootstrap ca-certificates curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# the docker command: Docker's CLI if there is one (it talks to the API service below), else podman's emulation
command -v docker >/dev/null 2>&1 || missing+=(podman-docker)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  say "packages present: podman runc docker-compose debootstrap"
fi

# 2. engine configuration
nofile="$(ulimit -Hn)"; nproc="$(ulimit -Hu)"
[ "$nofile" = unlimited ] || [ "$nofile" -gt 20000 ] && nofile=20000
[ "$nproc" = unlimited ] || [ "$nproc" -gt 4096 ] && nproc=4096
want="$marker
[containers]
default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]

[engine]
runtime = \"runc\""
conf_changed=0
if [ -f "$conf" ] && ! grep -qF "$marker" "$conf"; then
  grep -q '^runtime *= *"runc"' "$conf" && grep -q '^default_ulimits' "$conf" \
    || die "$conf exists and was not written by this script; it needs runtime = \"runc\" in [engine] and default_ulimits (at most the hard limits, e.g. nofile=$nofile:$nofile) in [containers]"
  say "$conf (not ours) already sets runc and default_ulimits; kept"
elif [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  say "writing $conf (runtime runc, default_ulimits nofile=$nofile nproc=$nproc)"
  mkdir -p "$(dirname "$conf")"
  printf '%s\n' "$want" >"$conf"
  conf_changed=1
else
  say "$conf up to date"
fi

# 3. the Docker API service and the health-check ticker
mkdir -p "$dir"
# detached COMMAND...: a long-lived service in its own session, without the caller's open files beyond 0-2: a
# caller run as `flock LOCK scripts/container-engine.sh` would otherwise leave the lock held by the service for
# as long as it lives
detached() {
  local fd
  for fd in /proc/self/fd/*; do
    fd="${fd##*/}"
    [ "$fd" -le 2 ] || eval "exec $fd>&-" 2>/dev/null || true
  done
  exec setsid "$@"
}
ping() { curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; }
if alive "$dir/podman.pid" && [ "$conf_changed" = 1 ]; then
  say "configuration changed: restarting the API service"
  stop_service
fi
if alive "$dir/podman.pid" && ping; then
  say "API service running (PID $(cat "$dir/podman.pid")) on $sock"
else
  rm -f "$sock"
  say "starting podman system service on $sock (log $dir/podman.log)"
  # from /: conmon needs the service's working directory, and a caller's (a CI clone) may be deleted while the
  # service lives on ("Failed to get working directory", every container start refused)
  (cd / && detached podman system service --time=0 "unix://$sock") >"$dir/podman.log" 2>&1 </dev/null &
  echo $! >"$dir/podman.pid"
  for _ in $(seq 100); do ping && break; sleep 0.1; done
  ping || die "the API service did not answer on $sock (see $dir/podman.log)"
fi
# Bridges netavark made for networks that no longer exist (a run killed during its teardown, a network removed
# while the service was down) keep their subnet on the host, and a new network with that subnet is refused
# ("subnet 172.22.0.0/24 is already used on the host"): remove those, and only those (a podmanN bridge that no
# network names and nothing is attached to).
claimed="$(for n in $(podman network ls --format '{{.Name}}' 2>/dev/null); do
  podman network inspect "$n" --format '{{.NetworkInterface}}' 2>/dev/null; done)"
for br in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | grep -E '^podman[0-9]+$' || true); do
  if ! grep -qx "$br" <<<"$claimed" && [ -z "$(ls "/sys/class/net/$br/brif" 2>/dev/null)" ]; then
    say "removing the bridge $br: no network names it and nothing is attached (a leftover)"
    ip link del "$br" || true
  fi
done
# Likewise netavark's address book: a container removed uncleanly (its run killed) keeps its fixed address
# booked, and the next compose up with that `ipv4_address` is refused ("IPAM error: requested ip address
# 172.22.0.11 is already allocated to container ID ..."). With no container at all, every booking is stale.
ipam=/run/containers/networks/ipam.db
if [ -f "$ipam" ] && [ -z "$(podman ps -aq 2>/dev/null)" ]; then
  rm -f "$ipam"
fi
if [ -d /run/systemd/system ]; then
  say "systemd runs podman's health checks"
elif alive "$dir/ticker.pid"; then
  say "health-check ticker running (PID $(cat "$dir/ticker.pid"))"
else
  say "no systemd: starting the health-check ticker (log $dir/ticker.log)"
  (detached "$here/container-engine/healthcheck-ticker.sh") >"$dir/ticker.log" 2>&1 </dev/null &
  echo $! >"$dir/ticker.pid"
fi

# 4. images
label=pmm-ha.engine.inputs
current_inputs() { podman image inspect --format "{{index .Labels \"$label\"}}" "$1" 2>/dev/null || true; }

if podman image exists "$base_image"; then
  say "$base_image present"
else
  t0=$SECONDS
  root="$(mktemp -d /var/tmp/pmm-ha-debootstrap.XXXXXX)"
  trap 'rm -rf "$root"' EXIT
  say "building $base_image: debootstrap --variant=minbase bookworm from $mirror (about a minute)"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$dir/debootstrap.log" 2>&1 \
    || die "debootstrap failed (see $dir/debootstrap.log)"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$base_image" >/dev/null
  rm -rf "$root"
  trap - EXIT
  say "$base_image built in $((SECONDS - t0)) s"
fi
base_id="$(podman image inspect --format '{{.Id}}' "$base_image")"

# build NAME DIR [extra context setup]: rebuilt when the Dockerfile's folder, the base or the CA certs change
build() {
  local name="$1" src="$here/container-engine/$2" ctx inputs
  ctx="$(mktemp -d /var/tmp/pmm-ha-image.XXXXXX)"
  cp -a "$src/." "$ctx/"
  if [ "$2" = build ]; then
    mkdir -p "$ctx/ca"
    # the host's extra CA certificates (a TLS-intercepting proxy's, for example)
    find /usr/local/share/ca-certificates -name '*.crt' -exec cp {} "$ctx/ca/" \; 2>/dev/null || true
  fi
  inputs="$( (echo "$base_id"; cd "$ctx" && find . -type f | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -c1-16)"
  if [ "$(current_inputs "$name")" = "$inputs" ]; then
    say "$name present"
  else
    local t0=$SECONDS
    say "building $name from scripts/container-engine/$2 (log $dir/build-$2.log)"
    podman build --format docker --build-arg "BASE=$base_image" --label "$label=$inputs" -t "$name" "$ctx" \
      >"$dir/build-$2.log" 2>&1 || { rm -rf "$ctx"; die "building $name failed (see $dir/build-$2.log)"; }
    say "$name built in $((SECONDS - t0)) s"
  fi
  rm -rf "$ctx"
}
# in parallel: each is mostly apt downloading and unpacking on the same base
pids=()
for spec in "$build_image build" "$jre_image jre" "$postgres_image postgres" "$haproxy_image haproxy" "$pmm_image pmm"; do
  # shellcheck disable=SC2086
  build $spec &
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || die "an image build failed (messages above)"

say "ready; use it with: eval \"\$($0)\""
cat <<EOF
export DOCKER_HOST=unix://$sock
export MAVEN_IMAGE=$build_image
export JRE_IMAGE=$jre_image
export POSTGRES_IMAGE=$postgres_image
export HAPROXY_IMAGE=$haproxy_image
export PMM_SERVER_IMAGE=$pmm_image
EOF
