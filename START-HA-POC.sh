#!/usr/bin/env bash
# Starts the HA proof of concept: a local 3-member etcd cluster (started and supervised by seqd)
# and two seqd instances on it: site-1 on port 8080 and site-2 on port 8081, one global series.
# Ctrl+C stops both instances; the last one to leave stops the etcd members.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib/ensure.sh

ensure_node
ensure_npm_deps
ensure_etcd
if [ ! -f dist/cli.js ] || [ -n "$(find src config package.json -newer dist/cli.js -print -quit)" ]; then
  echo "== building"
  npm run --silent build
fi

pids=()
stop() {
  trap - INT TERM
  echo "stopping seqd instances"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait
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

SEQ_NODE_ID=site-1 node dist/cli.js serve --profile ha-poc --port 8080 --data-dir data/site-1 "$@" &
pids+=($!)
wait_ready 8080 site-1
SEQ_NODE_ID=site-2 node dist/cli.js serve --profile ha-poc --port 8081 --data-dir data/site-2 "$@" &
pids+=($!)
wait_ready 8081 site-2

echo
echo "seqd HA POC is up: 3 etcd members (data/etcd-cluster) and two instances"
echo "  site-1: http://localhost:8080/dashboard   API http://localhost:8080/api/v1/sequence/stats"
echo "  site-2: http://localhost:8081/dashboard   API http://localhost:8081/api/v1/sequence/stats"
echo "  failover demo: curl -X POST http://localhost:8080/api/v1/demo/failover"
echo "Press Ctrl+C to stop."
wait
