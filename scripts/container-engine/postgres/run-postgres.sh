#!/bin/bash
# The official postgres image's entrypoint contract, as far as compose.yaml uses it:
# - as root: owns the data directory and the socket directory to postgres, then runs itself again as postgres;
# - data directory empty: initdb with superuser POSTGRES_USER (default postgres) and POSTGRES_PASSWORD, password
#   (scram-sha-256) for TCP from anywhere, trust on the local socket; a temporary server on the socket only
#   runs /docker-entrypoint-initdb.d/*.sh (executed if executable, else sourced) and *.sql; then stopped;
# - finally exec's the command (`postgres ...`), which becomes PID 1.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  chmod 2777 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "postgres entrypoint: the database is uninitialised and POSTGRES_PASSWORD is not set (set it to the superuser's password)" >&2
    exit 1
  fi
  export POSTGRES_USER="${POSTGRES_USER:-postgres}" POSTGRES_DB="${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") -D "$PGDATA" \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  # the temporary server listens on the socket only, so clients (and pg_isready over TCP) see no server yet
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >/dev/null
  export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
      -c "CREATE DATABASE \"$POSTGRES_DB\""
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then echo "postgres entrypoint: running $f"; "$f"
        else echo "postgres entrypoint: sourcing $f"; . "$f"; fi ;;
      *.sql)
        echo "postgres entrypoint: running $f"
        psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$f" ;;
      */\*) ;;
      *) echo "postgres entrypoint: ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "postgres entrypoint: initialisation done; starting the server"
fi

exec "$@"
