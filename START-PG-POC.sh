#!/usr/bin/env bash
# Starts the PostgreSQL proof of concept: a local PostgreSQL 15 server (data in data/postgres,
# port 5433, made on first start) and two seqd instances on it: site-1 on port 8080 and site-2 on
# 8081, one global series. Ctrl+C stops both instances, then the server.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib/ensure.sh
source scripts/lib/poc.sh

ensure_node
ensure_npm_deps
ensure_postgres
ensure_built

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PGDATA=$PWD/data/postgres
PGRUN=$PWD/data/postgres-run
PGPORT=5433
# PostgreSQL refuses to run as root: as root, the server runs as Debian's postgres user (from /,
# as it may not enter this directory).
as_pg() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
mkdir -p data
if [ "$(id -u)" = 0 ] && ! (cd / && runuser -u postgres -- test -x "$PWD/data"); then
  # A checkout the postgres user cannot reach (under /root, say): the cluster lives in that
  # user's home, one per checkout, and data/postgres points to it.
  home=$(getent passwd postgres | cut -d: -f6)
  place="$home/seqd-pg-poc-$(printf '%s' "$PWD" | md5sum | cut -c1-12)"
  mkdir -p "$place/cluster" "$place/run"
  chown postgres:postgres "$place" "$place/cluster" "$place/run"
  chmod 700 "$place/cluster"
  [ -L data/postgres ] || [ -e data/postgres ] || ln -s "$place/cluster" data/postgres
  [ -L data/postgres-run ] || [ -e data/postgres-run ] || ln -s "$place/run" data/postgres-run
  PGDATA=$place/cluster
  PGRUN=$place/run
  echo "== the postgres user cannot enter $PWD: the PostgreSQL cluster is in $PGDATA (data/postgres points there)"
fi
mkdir -p "$PGRUN"
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PGRUN"; fi
if [ ! -f "$PGDATA/PG_VERSION" ]; then
  echo "== creating the PostgreSQL cluster in data/postgres"
  mkdir -p "$PGDATA"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PGDATA"; fi
  as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale C >/dev/null
fi
echo "== starting PostgreSQL on port $PGPORT"
as_pg "$PG_BIN/pg_ctl" start -w -D "$PGDATA" -l "$PGRUN/postgres.log" \
  -o "-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$PGRUN -c fsync=on -c synchronous_commit=on" >/dev/null
as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'seqd'" | grep -q 1 ||
  as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres seqd

stopped=false
stop() {
  trap - INT TERM
  $stopped && return 0
  stopped=true
  stop_poc_instances
  echo "stopping PostgreSQL"
  as_pg "$PG_BIN/pg_ctl" stop -w -m fast -D "$PGDATA" >/dev/null || true
}
trap stop INT TERM

start_poc_instances pg-poc "$@"

echo
echo "seqd PostgreSQL POC is up: PostgreSQL 15 on port $PGPORT (data/postgres) and two instances"
echo "  site-1: http://localhost:8080/dashboard   API http://localhost:8080/api/v1/sequence/stats"
echo "  site-2: http://localhost:8081/dashboard   API http://localhost:8081/api/v1/sequence/stats"
echo "Press Ctrl+C to stop."
wait
stop
