# Shared by the START-*-POC.sh scripts: build when the sources are newer, start the two seqd
# instances of a POC (site-1 on 8080, site-2 on 8081), stop them. Source after ensure.sh.

ensure_built() {
  if [ ! -f dist/cli.js ] || [ -n "$(find src config package.json -newer dist/cli.js -print -quit)" ]; then
    echo "== building"
    npm run --silent build
  fi
}

poc_pids=()

# Stops the instances started by start_poc_instances (SIGTERM, then waits for them).
stop_poc_instances() {
  echo "stopping seqd instances"
  for p in "${poc_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait
}

# Waits until seqd on port $1 (data/$2) answers /ready.
wait_ready() {
  for _ in $(seq 1 150); do
    if node -e "fetch('http://127.0.0.1:$1/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then return 0; fi
    sleep 0.2
  done
  echo "seqd on port $1 did not become ready; see data/$2/logs/sequential-number-poc.log" >&2
  return 1
}

# start_poc_instances PROFILE [serve options…]: site-1 on 8080, then site-2 on 8081, each ready.
start_poc_instances() {
  local profile=$1
  shift
  SEQ_NODE_ID=site-1 node dist/cli.js serve --profile "$profile" --port 8080 --data-dir data/site-1 "$@" &
  poc_pids+=($!)
  wait_ready 8080 site-1
  SEQ_NODE_ID=site-2 node dist/cli.js serve --profile "$profile" --port 8081 --data-dir data/site-2 "$@" &
  poc_pids+=($!)
  wait_ready 8081 site-2
}
