#!/bin/sh
# Starts one pmm-ha node. The image's ENTRYPOINT, and the way the failover lab starts a node outside a
# container (PMM_HA_JAR=runtime/target/pmm-ha.jar deploy/docker/entrypoint.sh): one script, two users.
#
# `exec` replaces this shell with the JVM, so the JVM is the process that receives SIGTERM (PID 1 in a
# container): `docker stop` and a Kubernetes pod deletion start the node's graceful leave and leader hand-over.
# A shell that stayed as the parent would swallow the signal and the node would be killed at the end of the
# grace period instead.
#
# Environment:
#   PMM_HA_JAR  the pmm-ha jar (default /opt/pmm-ha/pmm-ha.jar, where the image puts it)
#   JAVA_OPTS   JVM options, split on spaces (default below). Replace them all or keep the defaults:
#                 -XX:+UseSerialGC            one-thread collector: a node's live heap is tens of MB, where
#                                             G1's own structures alone take 35-40 MB (NMT); pauses of a few ms
#                 -XX:TieredStopAtLevel=1     C1 compiler only: about a third less start-up CPU (three nodes
#                                             starting on two cores get a leader in 7 s instead of 9) and a
#                                             smaller code cache; leader checks on the API port top out near
#                                             25k/s instead of 50k/s, far above any prober's rate; the probe
#                                             port (PMM_HA_PROBE_PORT) serves 64-70k/s with C1
#                                             (bench/results/health.md)
#                 -XX:MaxRAMPercentage=75.0   heap at most 75% of the container's memory limit (the JVM reads
#                                             the cgroup limit); SerialGC grows it only as far as it is used
#                 -XX:+ExitOnOutOfMemoryError  exit on OOM so that the supervisor restarts a clean process
#                                             instead of a half-working leader
#                 -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30  keep the heap within 10-30% free after a
#                                             collection (defaults 40-70%): under probe load the leader's heap
#                                             grew for nothing; 4-7 MiB less RSS per node, the leader under
#                                             wrk 199 MiB instead of 206, throughput unchanged (bench/perf memory)
#   MALLOC_ARENA_MAX  glibc malloc arenas (default 2): the JVM's own native allocations are few, and the
#               default (8 per CPU) lets each thread that mallocs grow an arena of its own; 1-4 MiB less RSS
#               per node in bench/perf memory
#   JAVA_HOME   when set, $JAVA_HOME/bin/java is used; otherwise java from PATH
#   PMM_HA_CDS_ARCHIVE  the start-up archive made by make-cds-archive.sh (default: the jar's path with .jsa;
#               the image has one). When it exists and is newer than the jar, the JVM maps the classes it
#               holds instead of loading them (-XX:SharedArchiveFile): about half the start-up CPU. `off`: never.
#   PMM_HA_*, PMM_TEST_HA_*, PMM_POSTGRES_*: read by the node itself (see README.md)
# Arguments are passed to the jar (default in the image: `node`).
set -eu

jar="${PMM_HA_JAR:-/opt/pmm-ha/pmm-ha.jar}"
if [ ! -r "$jar" ]; then
  echo "pmm-ha entrypoint: cannot read the jar $jar (set PMM_HA_JAR to the path of pmm-ha.jar)" >&2
  exit 2
fi
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"

cds="${PMM_HA_CDS_ARCHIVE:-${jar%.jar}.jsa}"
cds_opts=""
if [ "$cds" != off ] && [ -r "$cds" ]; then
  if [ "$cds" -nt "$jar" ]; then
    # -Xshare:auto: an archive that this JVM cannot use (another JVM build) is skipped, the node starts anyway
    cds_opts="-XX:SharedArchiveFile=$cds -Xshare:auto"
  else
    echo "pmm-ha entrypoint: the start-up archive $cds is older than $jar and is not used (make it again with" \
      "deploy/docker/make-cds-archive.sh)" >&2
  fi
fi

export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"

# Word splitting of JAVA_OPTS is intended; globbing is not.
set -f
# shellcheck disable=SC2086
exec "$java" $cds_opts ${JAVA_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:MaxRAMPercentage=75.0 -XX:+ExitOnOutOfMemoryError -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30} -jar "$jar" "$@"
