#!/bin/sh
# As PMM 3's entrypoint.sh does (after pmm-managed-init): supervisord in the foreground, as PID 1.
set -e
exec supervisord -n -c /etc/supervisord.conf
