#!/bin/sh
# Builds the start-up archive of pmm-ha (class data sharing, JDK 17's -XX:ArchiveClassesAtExit): one training
# run of a node (java -jar pmm-ha.jar cds-training: a one-node cluster on 127.0.0.1 that calls every route and
# leaves) whose loaded classes the JVM writes, parsed and verified, into ARCHIVE. entrypoint.sh then starts
# every node with -XX:SharedArchiveFile=ARCHIVE, which maps those classes instead of loading them from the jar:
# about half of a node's start-up CPU (bench/results/startup.md).
#
# The archive belongs to one jar at one path and one JVM build: run this again after the jar is rebuilt or
# moved, with the java that runs the nodes. entrypoint.sh ignores an archive older than the jar, and the JVM
# itself ignores one made by another JVM or for another jar (the node then starts the slow way).
#
# usage: make-cds-archive.sh [JAR [ARCHIVE]]
#   JAR      default $PMM_HA_JAR, else /opt/pmm-ha/pmm-ha.jar (where the image puts it)
#   ARCHIVE  default: JAR with .jsa for .jar (where entrypoint.sh looks for it)
#   JAVA_HOME, as in entrypoint.sh: $JAVA_HOME/bin/java when set, else java from PATH
set -eu

jar="${1:-${PMM_HA_JAR:-/opt/pmm-ha/pmm-ha.jar}}"
archive="${2:-${jar%.jar}.jsa}"
if [ ! -r "$jar" ]; then
  echo "make-cds-archive: cannot read the jar $jar" >&2
  exit 2
fi
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
tmp="$archive.tmp.$$"
trap 'rm -f "$tmp"' EXIT INT TERM

echo "make-cds-archive: training run of $jar (about 10 s)"
# -Xlog: the JVM lists every class it cannot archive (generated accessors, JFR events) as a warning; errors only.
# -Xshare:auto: a JVM without its own base archive still runs the training, and then writes no archive (below).
if ! "$java" -XX:ArchiveClassesAtExit="$tmp" -Xshare:auto -Xlog:disable -Xlog:all=error:stderr -Xmx128m \
    -jar "$jar" cds-training; then
  echo "make-cds-archive: the training run failed; no archive written (nodes start without one)" >&2
  exit 1
fi
if [ ! -s "$tmp" ]; then
  echo "make-cds-archive: the JVM wrote no archive (does $java have its base CDS archive?); nodes start without one" >&2
  exit 1
fi
mv -f "$tmp" "$archive"
echo "make-cds-archive: wrote $archive ($(du -h "$archive" | cut -f1))"
