#!/bin/sh
# The PMM HA guide's init SQL (Step 5), run by the postgres image on its first start (any *.sh in
# /docker-entrypoint-initdb.d), with the users and passwords taken from the environment instead of sed:
#   PG_USERNAME / PG_PASSWORD  PMM's (and pmm-ha's) user; owner of the "pmm-managed" database
#   GF_USERNAME / GF_PASSWORD  Grafana's user; owner of the "grafana" database
# psql quotes them (:"name" as an identifier, :'name' as a literal), so names such as pmm-managed work.
# Added to the guide: the users also get CREATE on their database's public schema, which PostgreSQL 15 and
# later no longer grant to everyone; without it pmm-ha cannot create its journal tables.
# The same script serves the tests (deploy module), against a throwaway server given by PGHOST/PGPORT.
set -eu

: "${PG_USERNAME:?set PG_USERNAME}" "${PG_PASSWORD:?set PG_PASSWORD}"
: "${GF_USERNAME:?set GF_USERNAME}" "${GF_PASSWORD:?set GF_PASSWORD}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v pg_user="$PG_USERNAME" -v pg_password="$PG_PASSWORD" \
  -v gf_user="$GF_USERNAME" -v gf_password="$GF_PASSWORD" <<'SQL'
CREATE DATABASE "pmm-managed";
CREATE USER :"pg_user" WITH ENCRYPTED PASSWORD :'pg_password';
GRANT ALL PRIVILEGES ON DATABASE "pmm-managed" TO :"pg_user";
CREATE DATABASE grafana;
CREATE USER :"gf_user" WITH ENCRYPTED PASSWORD :'gf_password';
GRANT ALL PRIVILEGES ON DATABASE grafana TO :"gf_user";

\c pmm-managed
GRANT ALL ON SCHEMA public TO :"pg_user";
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

\c grafana
GRANT ALL ON SCHEMA public TO :"gf_user";
SQL
