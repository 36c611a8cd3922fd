#!/usr/bin/env bash
# Starts moto's standalone server on 127.0.0.1:PORT in the background unless one already answers
# there; prints its URL. usage: scripts/moto.sh [PORT] [PIDFILE]
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-5000}
pidfile=${2:-.run/moto.pid}
url="http://127.0.0.1:${port}"
if curl -fsS -o /dev/null "$url/moto-api/" 2>/dev/null; then
  echo "$url"
  exit 0
fi
mkdir -p "$(dirname "$pidfile")" .run
# scripts/moto_server.py: moto with DynamoDB requests one at a time (see the file for why).
.venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p "$port" > .run/moto-"$port".log 2>&1 &
echo $! > "$pidfile"
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null "$url/moto-api/" 2>/dev/null; then
    echo "$url"
    exit 0
  fi
  sleep 0.2
done
echo "moto did not start on $url; see .run/moto-${port}.log" >&2
exit 1
