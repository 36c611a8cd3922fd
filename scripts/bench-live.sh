#!/usr/bin/env bash
# Live consumer benchmark against moto on 127.0.0.1 (4 shards, 2 workers): records/s per worker,
# CPU seconds per million irrelevant records, arrival-to-remediation latency p50/p99.
# usage: scripts/bench-live.sh [IRRELEVANT=100000] [PUBLIC=100]   (PUBLIC: burst size; steady phase: half)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/venv.sh
echo "==> building release binary"
bin=$(./scripts/cargo-bin.sh bucketwarden --release --quiet --bin bucketwarden)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pidfile=".run/moto-bench-$$.pid"
endpoint=$(./scripts/moto.sh "$port" "$pidfile")
trap 'kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"' EXIT
.venv/bin/python scripts/bench_live.py "$endpoint" "$bin" "${1:-100000}" "${2:-100}"
