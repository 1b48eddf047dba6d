#!/usr/bin/env bash
# npm run bench: installs what it needs on a fresh clone (npm ci; etcd-server from apt when
# root, for the HA rows), builds, and runs bench/run.ts with the given flags.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure.sh

ensure_node
ensure_npm_deps
ensure_etcd || echo "without etcd the HA rows and the naive etcd loop are skipped"
npx --no-install tsc -p tsconfig.build.json
node --import tsx bench/run.ts "$@"
