#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then lint, typecheck,
# build and every test. In CI (CI=true) a missing dependency fails the run; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure.sh
source scripts/lib/node-tests.sh

ensure_node
ensure_npm_deps
# Real etcd for the contract suite and the fault-injection test (a failure in CI when missing).
ensure_etcd || { [ "${CI:-}" = true ] && exit 1; echo "etcd tests will be skipped"; }
# Debian's Chromium for the dashboard tests (playwright-core drives it; no browser download).
apt_install chromium chromium || { [ "${CI:-}" = true ] && exit 1; echo "browser tests will be skipped"; }
# openssl makes the certificates of the TLS tests (HTTPS, etcd with TLS and auth).
apt_install openssl openssl || exit 1
# promtool (Debian's prometheus) checks and unit-tests the alert rules in deploy/prometheus.
apt_install prometheus promtool || { [ "${CI:-}" = true ] && exit 1; echo "the alert rule tests will be skipped"; }
# HAProxy runs deploy/haproxy/haproxy.cfg in front of two instances in the load-balancer test.
apt_install haproxy haproxy || { [ "${CI:-}" = true ] && exit 1; echo "the load-balancer test will be skipped"; }
# nginx runs deploy/nginx/seqd.conf.template in the same load-balancer test.
apt_install nginx-light nginx || { [ "${CI:-}" = true ] && exit 1; echo "the nginx load-balancer test will be skipped"; }
# PostgreSQL 15: the PostgreSQL store's contract suite runs on a throw-away cluster.
ensure_postgres || { [ "${CI:-}" = true ] && exit 1; echo "the PostgreSQL tests will be skipped"; }
# PgBouncer (Debian's, 1.18) in front of it: the same contract suite through a pooler.
apt_install pgbouncer pgbouncer || { [ "${CI:-}" = true ] && exit 1; echo "the tests through PgBouncer will be skipped"; }
# libfaketime gives the seqd instances of the fault test skewed clocks across a new year.
apt_install faketime faketime || { [ "${CI:-}" = true ] && exit 1; echo "the HA fault test will be skipped"; }

echo "== lint"
npx --no-install eslint .
echo "== typecheck"
npx --no-install tsc -p tsconfig.json --noEmit
echo "== build"
npx --no-install tsc -p tsconfig.build.json

echo "== tests"
export NO_COLOR=1
mapfile -t files < <(find test -name '*.test.ts' | sort)
run_node_tests "${files[@]}"

# A short run of the benchmark keeps it working; its figures are not checked (no timing asserts).
echo "== bench smoke (1 s per scenario)"
node --import tsx bench/run.ts --smoke
