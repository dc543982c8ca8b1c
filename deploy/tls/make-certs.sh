#!/bin/sh
# Makes a CA and one certificate per node for pmm-ha's mutual TLS (cluster transport and HTTPS):
#   deploy/tls/make-certs.sh [--shared-subject] OUT_DIR NODE[=IP] [NODE[=IP] ...]
# writes OUT_DIR/ca.crt, OUT_DIR/ca.key and OUT_DIR/NODE.crt, OUT_DIR/NODE.key for each node. Point each node at
# its files: PMM_HA_TLS_CERT=NODE.crt PMM_HA_TLS_KEY=NODE.key PMM_HA_TLS_CA=ca.crt.
# By default each certificate is a per-node one, as a PKI or cert-manager issues them: CN=NODE with the SANs
# DNS:NODE and IP:IP. A node accepts a peer whose certificate, signed by the CA, names the address it dialled, so
# give each node the IP (or DNS name) it advertises (PMM_HA_ADVERTISE_ADDRESS). With --shared-subject every
# certificate carries CN=pmm-ha and DNS:pmm-ha as well (Pekko's rotating-keys convention: a peer is accepted when
# it shares this node's subject name, whatever its address).
set -eu
shared=
if [ "${1:-}" = "--shared-subject" ]; then
  shared=1
  shift
fi
if [ $# -lt 2 ]; then
  echo "usage: $0 [--shared-subject] OUT_DIR NODE[=IP] [NODE[=IP] ...]" >&2
  exit 2
fi
out=$1
shift
command -v openssl >/dev/null 2>&1 || { echo "$0: openssl is required" >&2; exit 2; }
mkdir -p "$out"
umask 077
if [ ! -f "$out/ca.key" ]; then
  # a random suffix tells this CA from another one made by this script (in pmm-ha's TLS refusals)
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=pmm-ha CA $(openssl rand -hex 4)" \
    -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
fi
for spec in "$@"; do
  node=${spec%%=*}
  ip=
  [ "$spec" != "$node" ] && ip=${spec#*=}
  case $node in
    ''|*/*|-*) echo "$0: bad node name '$node' (expected NODE[=IP])" >&2; exit 2 ;;
  esac
  if [ -n "$shared" ]; then
    cn=pmm-ha
    san="DNS:pmm-ha,DNS:$node"
  else
    cn=$node
    san="DNS:$node"
  fi
  [ -n "$ip" ] && san="$san,IP:$ip"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$out/$node.key" -out "$out/$node.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" > "$out/$node.ext"
  openssl x509 -req -in "$out/$node.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial -days 825 \
    -extfile "$out/$node.ext" -out "$out/$node.crt" 2>/dev/null
  rm -f "$out/$node.csr" "$out/$node.ext"
  echo "$out/$node.crt (CN=$cn, $san)"
done
chmod 644 "$out"/*.crt
