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
#                 -XX:MaxRAMPercentage=75.0   heap = 75% of the container's memory limit (the JVM reads the
#                                             cgroup limit); the rest is metaspace, threads and direct buffers
#                 -XX:+ExitOnOutOfMemoryError  exit on OOM so that the supervisor restarts a clean process
#                                             instead of a half-working leader
#   JAVA_HOME   when set, $JAVA_HOME/bin/java is used; otherwise java from PATH
#   PMM_HA_*, PMM_TEST_HA_*, PMM_POSTGRES_*: read by the node itself (see README.md)
# Arguments are passed to the jar (default in the image: `node`).
set -eu

jar="${PMM_HA_JAR:-/opt/pmm-ha/pmm-ha.jar}"
if [ ! -r "$jar" ]; then
  echo "pmm-ha entrypoint: cannot read the jar $jar (set PMM_HA_JAR to the path of pmm-ha.jar)" >&2
  exit 2
fi
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"

# Word splitting of JAVA_OPTS is intended; globbing is not.
set -f
# shellcheck disable=SC2086
exec "$java" ${JAVA_OPTS:--XX:MaxRAMPercentage=75.0 -XX:+ExitOnOutOfMemoryError} -jar "$jar" "$@"
