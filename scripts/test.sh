#!/usr/bin/env bash
# Runs every check CI runs, from a clean clone: formatting, lints, unit, property, golden-replay,
# live integration tests (against moto's server on 127.0.0.1), observability tests (a real
# Prometheus), and the quick start end to end. Installs what it needs (a project-local Python venv;
# Debian's prometheus package if missing). Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Python venv with the pinned moto server (scripts/venv.sh)"
./scripts/venv.sh

step "Prometheus and promtool (Debian's prometheus package) for the observability tests"
if ! command -v promtool > /dev/null || ! command -v prometheus > /dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q --no-install-recommends prometheus \
    || { $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends prometheus; }
fi
promtool --version | head -1

step "moto server on 127.0.0.1"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pidfile=".run/moto-test-$$.pid"
endpoint=$(./scripts/moto.sh "$port" "$pidfile")
moved_target=""
cleanup() {
  if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
  # The build directory moved aside for the second quick start comes back however the run ends.
  if [ -n "$moved_target" ] && [ -d "$moved_target" ] && [ ! -e target ]; then mv "$moved_target" target; fi
}
trap cleanup EXIT
export BUCKETWARDEN_TEST_ENDPOINT="$endpoint"
echo "moto at $endpoint"

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test (unit, property, golden replay, live integration)"
cargo test --locked --lib --bins --tests --examples -- --test-threads 4
cargo test --locked --doc

step "benches build and run once in test mode (figures come from scripts/bench-*.sh, not here)"
cargo test --locked --benches

step "quick start end to end: scripts/demo.sh on its own moto server and ports"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
BUCKETWARDEN_DEMO_MOTO_PORT=$(free_port) BUCKETWARDEN_DEMO_TRAIL_PORT=$(free_port) \
  BUCKETWARDEN_DEMO_METRICS_PORTS="$(free_port) $(free_port)" ./scripts/demo.sh

step "quick start with a second account: scripts/demo.sh --two-accounts, the build directory elsewhere"
# Run with cargo's build directory moved away from target/ (as for a developer whose
# CARGO_TARGET_DIR points elsewhere): the scripts must ask cargo where the binary is, never
# assume target/debug. Moving it costs no rebuild. Already elsewhere: run as it is.
demo_env=()
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ -d target ]; then
  moved_target=.run/target-elsewhere
  rm -rf "$moved_target"
  mv target "$moved_target"
  demo_env=(CARGO_TARGET_DIR="$PWD/$moved_target")
fi
env "${demo_env[@]}" BUCKETWARDEN_DEMO_MOTO_PORT=$(free_port) BUCKETWARDEN_DEMO_TRAIL_PORT=$(free_port) \
  BUCKETWARDEN_DEMO_METRICS_PORTS="$(free_port) $(free_port)" ./scripts/demo.sh --two-accounts
if [ -n "$moved_target" ]; then mv "$moved_target" target; moved_target=""; fi

step "all checks passed"
