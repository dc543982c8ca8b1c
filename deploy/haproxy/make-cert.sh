#!/bin/sh
# Makes HAProxy's self-signed certificate the way the PMM HA guide does (Step 7), in one step:
#   openssl req -x509 -nodes -days 365 -newkey rsa:2048 -keyout pmm.key -out pmm.crt
#   cat pmm.crt pmm.key > pmm.pem
# Usage: make-cert.sh [DIR]   (default: ./certs; deploy/haproxy/certs is ignored by git). Writes DIR/pmm.key, DIR/pmm.crt and DIR/pmm.pem, the file
# HAProxy loads (bind *:443 ssl crt /etc/haproxy/certs/pmm.pem).
# An existing pmm.pem is kept, so that a real certificate put there is never overwritten; delete it to renew.
# Environment:
#   PMM_HA_CERT_CN      the certificate's common name (default: pmm-ha)
#   PMM_HA_CERT_DAYS    validity in days (default: 365, as in the guide)
#   PMM_HA_CERT_OWNER   uid:gid to give the files when run as root (compose: 99:99, HAProxy's user in its image)
set -eu

dir="${1:-certs}"
cn="${PMM_HA_CERT_CN:-pmm-ha}"
days="${PMM_HA_CERT_DAYS:-365}"

if ! command -v openssl >/dev/null 2>&1; then
  echo "make-cert: openssl is not installed" >&2
  exit 1
fi
mkdir -p "$dir"
if [ -s "$dir/pmm.pem" ]; then
  echo "make-cert: $dir/pmm.pem exists, kept"
  exit 0
fi

umask 077
openssl req -x509 -nodes -days "$days" -newkey rsa:2048 \
  -keyout "$dir/pmm.key" -out "$dir/pmm.crt" -subj "/CN=$cn" 2>/dev/null
cat "$dir/pmm.crt" "$dir/pmm.key" > "$dir/pmm.pem.tmp"
mv "$dir/pmm.pem.tmp" "$dir/pmm.pem"
chmod 0644 "$dir/pmm.crt"
chmod 0640 "$dir/pmm.key" "$dir/pmm.pem"
if [ -n "${PMM_HA_CERT_OWNER:-}" ] && [ "$(id -u)" = 0 ]; then
  chown "$PMM_HA_CERT_OWNER" "$dir/pmm.key" "$dir/pmm.crt" "$dir/pmm.pem"
fi
echo "make-cert: wrote $dir/pmm.pem (CN=$cn, $days days)"
