#!/usr/bin/env bash
# Bounded-state benchmark (issue #26): the events of BUCKETS buckets through one worker's fold and
# state layers, in-process, today's unbounded fold (baseline) beside the bounded working set, each
# in its own process so that each peak RSS is its own; then the item sizes of a bucket with
# 100,000 public objects. What stands in for what is written at the top of
# benches/state_memory.rs (the state table is an on-disk slot file; no Kinesis, dedup or S3).
#
# usage: scripts/bench-state.sh [BUCKETS=1000000] [WORKING_SET=50000]
#   PROFILE=dev measures the test profile instead of release (only when a release build is out
#   of reach; events/s are then not comparable with other pages, peak RSS still is).
set -euo pipefail
cd "$(dirname "$0")/.."
BUCKETS=${1:-1000000}
WORKING_SET=${2:-50000}
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
  BIN=$(cargo bench --bench state_memory --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))/\1/p' | tail -1)
else
  BIN=$(cargo test --bench state_memory --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))/\1/p' | tail -1)
fi
echo "==> $BIN ($PROFILE), $BUCKETS buckets x ${PASSES:-3} events, working set $WORKING_SET"
"$BIN" unbounded "$BUCKETS" "$WORKING_SET" "${PASSES:-3}"
"$BIN" bounded "$BUCKETS" "$WORKING_SET" "${PASSES:-3}"
"$BIN" items
