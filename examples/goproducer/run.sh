#!/usr/bin/env bash
# Runs the example producer as CI does (`make example`): against REDIS_URL, with a worker and the
# CPH simulator from BIN_DIR, in a queue and results stream of its own whose keys it deletes
# afterwards (with redis-cli, when it is installed). Usage: run.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: run.sh BIN_DIR}
: "${REDIS_URL:?set REDIS_URL to the Redis to run on}"
id="goproducer-$$-$RANDOM"
queue="example-$id" stream="example:$id:results" project=0b1c000000000000000000000example
dir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if command -v redis-cli >/dev/null 2>&1; then
    # asynq's keys of the queue, and of any queue the worker derives from its name
    for pattern in "{$stream}*" "rate:{$stream}*" "$stream" "asynq:{$queue*"; do
      redis-cli -u "$REDIS_URL" --scan --pattern "$pattern" | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null
    done
    redis-cli -u "$REDIS_URL" smembers asynq:queues | grep "^$queue" | xargs -r redis-cli -u "$REDIS_URL" srem asynq:queues >/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

"$bin/cphsim" --addr 127.0.0.1:0 >"$dir/cphsim.out" 2>"$dir/cphsim.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$dir/cphsim.out" ] && break; sleep 0.1; done
sim_url=$(head -n1 "$dir/cphsim.out")
[ -n "$sim_url" ] || { echo "run.sh: the simulator did not start"; cat "$dir/cphsim.log"; exit 1; }

PURCHASE_QUEUE=$queue RESULTS_STREAM=$stream CPH_ENDPOINT=$sim_url CPH_TOKEN=example-token CPH_PROJECT_ID=$project \
  "$bin/worker" --http-addr 127.0.0.1:0 2>"$dir/worker.log" &
pids+=($!)

if ! PURCHASE_QUEUE=$queue RESULTS_STREAM=$stream CPH_PROJECT_ID=$project "$bin/goproducer" -wait 2m; then
  echo "run.sh: the example producer failed; the worker's log:"; cat "$dir/worker.log"
  exit 1
fi
