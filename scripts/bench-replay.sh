#!/usr/bin/env bash
# Replay throughput benchmark (issue: replay within 2x of `gzip -dc`, on one core, peak memory
# under 200 MB growing with buckets, not file size).
#
# usage: scripts/bench-replay.sh [RECORDS=1000000] [BUCKETS=10000] [RUNS=3]
#
# Generates a deterministic (seeded) gzip CloudTrail log shaped like a real account, then times
# `gzip -dc FILE >/dev/null` and `bucketwarden replay FILE >/dev/null`, each pinned to one core,
# best of RUNS, and prints events/s, the ratio and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${1:-1000000}
BUCKETS=${2:-10000}
RUNS=${3:-3}

echo "==> building release binaries"
cargo build --release --quiet --bin bucketwarden --example gen_trail

mkdir -p target/bench
FILE=target/bench/trail-${RECORDS}-${BUCKETS}.json.gz
if [ ! -s "$FILE" ]; then
  echo "==> generating $FILE ($RECORDS records over $BUCKETS buckets, seed 42)"
  target/release/examples/gen_trail "$FILE" "$RECORDS" "$BUCKETS" 42
fi

python3 - "$FILE" "$RECORDS" "$RUNS" <<'PY'
import os, resource, subprocess, sys, time

path, records, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pin = ["taskset", "-c", "0"] if subprocess.run(["which", "taskset"], capture_output=True).returncode == 0 else []

def measure(cmd):
    """Best wall time of `runs` runs and the peak RSS of the largest run, one child at a time."""
    best, peak = float("inf"), 0
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run(pin + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            sys.exit(f"{cmd} failed: {p.stderr.decode()[-2000:]}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, dt)
        peak = max(peak, after.ru_maxrss)  # KiB on Linux; the max over children so far
        last_err = p.stderr.decode()
    return best, peak, last_err

size = os.path.getsize(path)
gz, _, _ = measure(["gzip", "-dc", path])
rp, rss, summary = measure(["target/release/bucketwarden", "replay", "--no-progress", path])
print(f"file            {path} ({size/1e6:.1f} MB gzip, {records:,} records)")
print(f"gzip -dc        {gz:.2f} s")
print(f"replay          {rp:.2f} s  ({records/rp:,.0f} records/s)")
print(f"ratio           {rp/gz:.2f}x gzip -dc   (target <= 2.0x)")
print(f"peak RSS        {rss/1024:.1f} MB   (target < 200 MB)")
print("replay summary (last run):")
print("".join("  " + l + "\n" for l in summary.strip().splitlines()))
PY
