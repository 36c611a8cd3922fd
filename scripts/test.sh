#!/usr/bin/env bash
# Runs every check CI runs, from a clean clone: formatting, lints, unit, property, golden and
# integration tests. Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test (unit, property, golden replay, integration)"
cargo test --locked --all-targets -- --test-threads 2
# Doc tests run separately: --all-targets skips them.
cargo test --locked --doc
