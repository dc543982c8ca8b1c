#!/bin/sh
# The official haproxy image's entrypoint: flags first means haproxy; haproxy runs as master-worker in the
# foreground (-W -db), exec'd so that it is PID 1 and gets the stop signal.
set -e
if [ "${1#-}" != "$1" ]; then
  set -- haproxy "$@"
fi
if [ "$1" = haproxy ]; then
  shift
  set -- haproxy -W -db "$@"
fi
exec "$@"
