#!/usr/bin/env bash
# Runs podman's container health checks where no systemd schedules them (podman asks systemd for a timer per
# container; without systemd the checks never run and a container stays "starting", so compose's
# `condition: service_healthy` would wait forever). Every second: each running container with a health check
# whose interval has passed gets `podman healthcheck run` (podman itself applies the timeout, retries and start
# period and records the status the Docker API reports). Started and stopped by container-engine.sh.
set -uo pipefail

declare -A interval last
while :; do
  now=$(date +%s)
  declare -A seen=()
  while read -r id status; do
    [ -n "$id" ] || continue
    case "$status" in *"(healthy)"*|*"(unhealthy)"*|*"(starting)"*) ;; *) continue ;; esac
    seen[$id]=1
    if [ -z "${interval[$id]:-}" ]; then
      # Go duration (30s, 1m0s, 500ms) -> whole seconds, at least 1
      d="$(podman inspect --format '{{.Config.Healthcheck.Interval}}' "$id" 2>/dev/null || echo 30s)"
      s=30
      if [[ "$d" =~ ^(([0-9]+)h)?(([0-9]+)m)?(([0-9.]+)s)?$ ]]; then
        sec="${BASH_REMATCH[6]:-0}"; sec="${sec%.*}"
        s=$(( ${BASH_REMATCH[2]:-0} * 3600 + ${BASH_REMATCH[4]:-0} * 60 + ${sec:-0} ))
      elif [[ "$d" =~ ^[0-9]+$ ]]; then
        s=$(( d / 1000000000 ))
      fi
      [ "$s" -ge 1 ] 2>/dev/null || s=1
      interval[$id]=$s
      last[$id]=0
    fi
    if [ $(( now - ${last[$id]} )) -ge "${interval[$id]}" ]; then
      last[$id]=$now
      timeout 60 podman healthcheck run "$id" >/dev/null 2>&1 &
    fi
  done < <(podman ps --no-trunc --format '{{.ID}} {{.Status}}' 2>/dev/null)
  for id in "${!interval[@]}"; do
    [ -n "${seen[$id]:-}" ] || unset "interval[$id]" "last[$id]"
  done
  unset seen
  wait
  sleep 1
done
