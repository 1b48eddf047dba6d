#!/usr/bin/env bash
# npm run bench: installs what it needs on a fresh clone (npm ci; from apt when root: wrk, the
# load generator that leaves the most CPU to the server; etcd-server for the HA rows; PostgreSQL
# and Redis for the alternatives), builds, and runs bench/run.ts with the given flags.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure.sh

ensure_node
ensure_npm_deps
apt_install wrk wrk || echo "without wrk the bench falls back to autocannon (in Node: it takes CPU from the server)"
ensure_etcd || echo "without etcd the HA rows and the naive etcd loop are skipped"
ensure_postgres || echo "without PostgreSQL its rows are skipped"
apt_install redis-server redis-server || echo "without Redis its row is skipped"
npx --no-install tsc -p tsconfig.build.json
node --import tsx bench/run.ts "$@"
