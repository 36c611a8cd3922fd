#!/usr/bin/env bash
# Builds with cargo and prints the path of the executables it made, as cargo reports them: never
# a guessed `target/debug/...`, which is wrong for anyone whose CARGO_TARGET_DIR (or
# `build.target-dir`) points elsewhere.
# usage: scripts/cargo-bin.sh NAME [CARGO BUILD ARGS...]
#   NAME: the bin or example target whose executable to print (e.g. bucketwarden, gen_trail).
#   e.g.  bw=$(scripts/cargo-bin.sh bucketwarden --release --bin bucketwarden)
# Cargo's own messages go to stderr; only the path goes to stdout. Exits 1 if cargo built no
# executable of that name.
set -euo pipefail
name=${1:?usage: $0 NAME [CARGO BUILD ARGS...]}
shift
cargo build --message-format=json-render-diagnostics "$@" | python3 -c '
import json, sys
name, found = sys.argv[1], None
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    t = m.get("target") or {}
    if (m.get("reason") == "compiler-artifact" and m.get("executable") and t.get("name") == name
            and not (m.get("profile") or {}).get("test") and set(t.get("kind", [])) & {"bin", "example"}):
        found = m["executable"]
if not found:
    sys.exit(f"cargo built no executable named {name}")
print(found)
' "$name"
