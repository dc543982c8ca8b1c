#!/bin/sh
# Makes a CA and one certificate per node for pmm-ha's mutual TLS (cluster transport and HTTPS):
#   deploy/tls/make-certs.sh OUT_DIR NODE[=IP] [NODE[=IP] ...]
# writes OUT_DIR/ca.crt, OUT_DIR/ca.key and OUT_DIR/NODE.crt, OUT_DIR/NODE.key for each node. Point each node at
# its files: PMM_HA_TLS_CERT=NODE.crt PMM_HA_TLS_KEY=NODE.key PMM_HA_TLS_CA=ca.crt.
# Every certificate carries the subject CN=pmm-ha: Pekko's rotating-keys TLS accepts a peer only when it is
# signed by the CA *and* shares a subject name with this node, so a certificate from the same CA issued for
# something else is refused too. The SANs (DNS:NODE, IP) serve HTTPS clients that verify host names.
set -eu
if [ $# -lt 2 ]; then
  echo "usage: $0 OUT_DIR NODE[=IP] [NODE[=IP] ...]" >&2
  exit 2
fi
out=$1
shift
command -v openssl >/dev/null 2>&1 || { echo "$0: openssl is required" >&2; exit 2; }
mkdir -p "$out"
umask 077
if [ ! -f "$out/ca.key" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=pmm-ha CA" \
    -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
fi
for spec in "$@"; do
  node=${spec%%=*}
  ip=
  [ "$spec" != "$node" ] && ip=${spec#*=}
  san="DNS:pmm-ha,DNS:$node"
  [ -n "$ip" ] && san="$san,IP:$ip"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=pmm-ha" -keyout "$out/$node.key" -out "$out/$node.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" > "$out/$node.ext"
  openssl x509 -req -in "$out/$node.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial -days 825 \
    -extfile "$out/$node.ext" -out "$out/$node.crt" 2>/dev/null
  rm -f "$out/$node.csr" "$out/$node.ext"
  echo "$out/$node.crt ($san)"
done
chmod 644 "$out"/*.crt
