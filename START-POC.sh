#!/usr/bin/env bash
# Starts the seqd proof of concept (profile "poc": one node, embedded durable store).
# First run: installs the npm dependencies and builds (a few minutes). Extra arguments go to
# `seqd serve`, e.g. ./START-POC.sh --port 9090
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib/ensure.sh

ensure_node
ensure_npm_deps
if [ ! -f dist/cli.js ] || [ -n "$(find src config package.json -newer dist/cli.js -print -quit)" ]; then
  echo "== building"
  npm run --silent build
fi

port=${SEQ_PORT:-8080}
echo
echo "seqd POC starting. When it is up:"
echo "  Dashboard: http://localhost:${port}/dashboard"
echo "  API:       http://localhost:${port}/api/v1/sequence/stats"
echo "  Logs:      ${SEQ_DATA_DIR:-./data}/logs/sequential-number-poc.log"
echo "Press Ctrl+C to stop."
echo
exec node dist/cli.js serve --profile "${SEQ_PROFILE:-poc}" "$@"
