#!/usr/bin/env bash
# Live CPU per irrelevant record, two builds side by side (issue #18: <= 2.5 CPU-s per million).
# usage: scripts/bench-live-compare.sh BASELINE_BINARY [CANDIDATE_BINARY=the release build, built here] [RUNS=2] [IRRELEVANT=200000]
#
# Runs scripts/bench_live.py's backlog phase only (no public transitions) against one moto, the
# two binaries alternately, RUNS times each, and prints each run's CPU-s per million irrelevant
# records net of the fleet's idle cost and start-up, then the medians and their ratio. CPU-s
# (user + system from /proc) is far less sensitive to a busy machine than wall time; the
# alternation spreads whatever load there is over both. Build the baseline from an older commit
# in a separate worktree (`git worktree add ../old COMMIT`, `cargo build --release --bin
# bucketwarden` there).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: $0 BASELINE_BINARY [CANDIDATE_BINARY] [RUNS] [IRRELEVANT]}
cand=${2:-}
[ -n "$cand" ] || cand=$(./scripts/cargo-bin.sh bucketwarden --release --quiet --bin bucketwarden)
runs=${3:-2}
n=${4:-200000}
./scripts/venv.sh
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pidfile=".run/moto-bench-$$.pid"
endpoint=$(./scripts/moto.sh "$port" "$pidfile")
trap 'kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"' EXIT
declare -A figures
for r in $(seq 1 "$runs"); do
  for which in baseline candidate; do
    bin=$base; [ "$which" = candidate ] && bin=$cand
    line=$(.venv/bin/python scripts/bench_live.py "$endpoint" "$bin" "$n" 0 | grep '^net of idle, start-up')
    fig=$(echo "$line" | sed -E 's/.*= ([0-9.]+) CPU-s per million.*/\1/')
    echo "run $r $which $fig CPU-s per million irrelevant records ($bin)"
    figures[$which]="${figures[$which]:-} $fig"
  done
done
python3 - "${figures[baseline]}" "${figures[candidate]}" <<'PY'
import statistics, sys
b, c = ([float(x) for x in a.split()] for a in sys.argv[1:3])
mb, mc = statistics.median(b), statistics.median(c)
print(f"baseline  median {mb:.2f} CPU-s per million ({', '.join(f'{x:.2f}' for x in b)})")
print(f"candidate median {mc:.2f} CPU-s per million ({', '.join(f'{x:.2f}' for x in c)})")
print(f"candidate / baseline {mc / mb:.2f}x   (issue #18 target: <= 2.5 CPU-s per million)")
PY
