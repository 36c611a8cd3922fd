#!/usr/bin/env bash
# Burst benchmark (issue #18): bucketwarden (one release worker) against a naive boto3 consumer,
# side by side on one moto, bare and through a loopback latency proxy that counts requests.
# usage: scripts/bench-burst.sh [bench_burst.py options: --buckets N --objects N --steady N --delay MS
#                               --cases buckets-bare,buckets-delay,objects-delay,steady-delay
#                               --bw-remediation 'objects = "bucket-block"']
#        BUCKETWARDEN_BIN=target/debug/bucketwarden scripts/bench-burst.sh …  (no release build)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/venv.sh
# BUCKETWARDEN_BIN: a binary already built (e.g. target/debug/bucketwarden, to count requests,
# which do not depend on speed); by default the release binary is built and used.
bin="${BUCKETWARDEN_BIN:-}"
if [ -z "$bin" ]; then
  echo "==> building release binary"
  bin=$(./scripts/cargo-bin.sh bucketwarden --release --quiet --bin bucketwarden)
fi
echo "==> bucketwarden binary: $bin"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pidfile=".run/moto-burst-$$.pid"
endpoint=$(./scripts/moto.sh "$port" "$pidfile")
trap 'kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"' EXIT
.venv/bin/python scripts/bench_burst.py "$endpoint" "$bin" "$@"
