#!/usr/bin/env bash
# Starts the HA proof of concept: a local 3-member etcd cluster (started and supervised by seqd)
# and two seqd instances on it: site-1 on port 8080 and site-2 on port 8081, one global series.
# Ctrl+C stops both instances; the last one to leave stops the etcd members.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib/ensure.sh
source scripts/lib/poc.sh

ensure_node
ensure_npm_deps
ensure_etcd
ensure_built

stop() {
  trap - INT TERM
  stop_poc_instances
}
trap stop INT TERM

start_poc_instances ha-poc "$@"

echo
echo "seqd HA POC is up: 3 etcd members (data/etcd-cluster) and two instances"
echo "  site-1: http://localhost:8080/dashboard   API http://localhost:8080/api/v1/sequence/stats"
echo "  site-2: http://localhost:8081/dashboard   API http://localhost:8081/api/v1/sequence/stats"
echo "  failover demo: curl -X POST http://localhost:8080/api/v1/demo/failover"
echo "Press Ctrl+C to stop."
wait
