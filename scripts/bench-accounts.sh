#!/usr/bin/env bash
# Live bench across accounts (issue #19): the same public transitions in one account and spread
# over 20 member accounts (AssumeRole on moto), side by side in one run: requests per event
# (counted at a loopback proxy), put-to-remediation latency p50/p99, AssumeRole calls.
# usage: scripts/bench-accounts.sh [EVENTS=100] [ACCOUNTS=20]
#   BUCKETWARDEN_BIN  the binary to measure (default: target/release/bucketwarden, built here;
#                     e.g. target/debug/bucketwarden for a quick run, labelled debug)
#   BENCH_RATE, BENCH_WORKERS, BENCH_DELAY_MS: see scripts/bench_accounts.py
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/venv.sh
bin=${BUCKETWARDEN_BIN:-}
if [ -z "$bin" ]; then
  echo "==> building release binary"
  bin=$(./scripts/cargo-bin.sh bucketwarden --release --quiet --bin bucketwarden)
fi
[ -x "$bin" ] || { echo "no executable at $bin" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p .run
pidfile=".run/moto-bench-accounts-$$.pid"
endpoint=$(./scripts/moto.sh "$port" "$pidfile")
trap 'kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"' EXIT
.venv/bin/python scripts/bench_accounts.py "$endpoint" "$bin" "${1:-100}" "${2:-20}"
