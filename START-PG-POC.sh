#!/usr/bin/env bash
# Starts the PostgreSQL proof of concept: a local PostgreSQL 15 server (data in data/postgres,
# port 5433, made on first start) and two seqd instances on it: site-1 on port 8080 and site-2 on
# 8081, one global series. Ctrl+C stops both instances, then the server.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib/ensure.sh

ensure_node
ensure_npm_deps
ensure_postgres
if [ ! -f dist/cli.js ] || [ -n "$(find src config package.json -newer dist/cli.js -print -quit)" ]; then
  echo "== building"
  npm run --silent build
fi

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PGDATA=$PWD/data/postgres
PGRUN=$PWD/data/postgres-run
PGPORT=5433
# PostgreSQL refuses to run as root: as root, the server runs as Debian's postgres user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -p data "$PGRUN"
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

pids=()
stopped=false
stop() {
  trap - INT TERM
  $stopped && return 0
  stopped=true
  echo "stopping seqd instances, then PostgreSQL"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait
  as_pg "$PG_BIN/pg_ctl" stop -w -m fast -D "$PGDATA" >/dev/null || true
}
trap stop INT TERM

wait_ready() {
  for _ in $(seq 1 150); do
    if node -e "fetch('http://127.0.0.1:$1/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then return 0; fi
    sleep 0.2
  done
  echo "seqd on port $1 did not become ready; see data/$2/logs/sequential-number-poc.log" >&2
  return 1
}

SEQ_NODE_ID=site-1 node dist/cli.js serve --profile pg-poc --port 8080 --data-dir data/site-1 "$@" &
pids+=($!)
wait_ready 8080 site-1
SEQ_NODE_ID=site-2 node dist/cli.js serve --profile pg-poc --port 8081 --data-dir data/site-2 "$@" &
pids+=($!)
wait_ready 8081 site-2

echo
echo "seqd PostgreSQL POC is up: PostgreSQL 15 on port $PGPORT (data/postgres) and two instances"
echo "  site-1: http://localhost:8080/dashboard   API http://localhost:8080/api/v1/sequence/stats"
echo "  site-2: http://localhost:8081/dashboard   API http://localhost:8081/api/v1/sequence/stats"
echo "Press Ctrl+C to stop."
wait
stop
