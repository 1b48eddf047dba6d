# run_node_tests FILE...: node:test over the files one at a time, the report on stdout
# (SEQD_TEST_REPORTER, tap by default). When a test fails, a summary of what failed and why is
# printed last: a long log is often read only at its end, far below the error of a failed hook.
run_node_tests() {
  local tap_log status=0
  tap_log=$(mktemp)
  node --import tsx --test --test-concurrency=1 \
    --test-reporter="${SEQD_TEST_REPORTER:-tap}" --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap_log" "$@" || status=$?
  if [ "$status" != 0 ]; then
    echo "== what failed (from the report above)"
    node --import tsx scripts/tap-failures.ts "$tap_log" || true
  fi
  rm -f "$tap_log"
  return "$status"
}
