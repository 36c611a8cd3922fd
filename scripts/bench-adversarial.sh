#!/usr/bin/env bash
# Adversarial-input benchmark (reliability issue #6, item 2): wall time and peak RSS of
# `bucketwarden replay` on each input of scripts/gen_adversarial.py (1 and 10 MiB records and
# garbage lines, 100,000-deep nesting, unbalanced brackets, invalid UTF-8, 10,000-statement
# policies, 10,000-grant ACLs, unusual names, broken gzip), against a normal small file.
# Correctness is asserted by tests/adversarial.rs; this prints figures and flags any input that
# takes longer than LIMIT seconds (a bug to fix), exiting 1 if one does.
#
# usage: scripts/bench-adversarial.sh [LIMIT=10]
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT=${1:-10}

echo "==> building release binary"
BIN=$(./scripts/cargo-bin.sh bucketwarden --release --locked --quiet --bin bucketwarden)

DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
echo "==> generating inputs in $DIR"
python3 scripts/gen_adversarial.py "$DIR"

python3 - "$DIR" "$LIMIT" "$BIN" <<'PY'
import json, os, re, shutil, subprocess, sys, time

d, limit = sys.argv[1], float(sys.argv[2])
binary = os.path.abspath(sys.argv[3])
gnu_time = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None

def run(path):
    """Wall seconds, peak RSS in KiB, exit code, stderr, transcript line count."""
    cmd = [binary, "replay", "--no-progress", path]
    out = os.path.join(d, "transcript.out")
    if gnu_time:
        t0 = time.perf_counter()
        with open(out, "wb") as o:
            p = subprocess.run([gnu_time, "-v"] + cmd, stdout=o, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
        err = p.stderr.decode(errors="replace")
        rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1))
        code = p.returncode
    else:
        # The resource module's per-child usage: wait4 reports this child's own peak RSS.
        t0 = time.perf_counter()
        with open(out, "wb") as o:
            p = subprocess.Popen(cmd, stdout=o, stderr=subprocess.PIPE)
            err = p.stderr.read().decode(errors="replace")
            _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        rss, code = usage.ru_maxrss, os.waitstatus_to_exitcode(status)
    with open(out, "rb") as o:
        lines = sum(1 for _ in o)
    return wall, rss, code, err, lines

index = json.load(open(os.path.join(d, "index.json")))
print(f"peak RSS and time via {'/usr/bin/time -v' if gnu_time else 'wait4 (python resource usage)'}")
print(f"{'input':32} {'size':>9} {'wall s':>7} {'x base':>7} {'RSS MB':>7} {'x base':>7} {'lines':>6} {'malformed':>9}  what")
base = None
slow = []
for item in index:
    path = os.path.join(d, item["file"])
    wall, rss, code, err, lines = run(path)
    if code != 0:
        sys.exit(f"{item['file']}: exit {code}\n{err[-3000:]}")
    m = re.search(r"malformed\s+([\d,]+)", err)
    malformed = m.group(1) if m else "?"
    if base is None:
        base = (wall, rss)
    if wall > limit:
        slow.append(item["file"])
    size = item["bytes"]
    size_s = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 1024:.0f} KiB"
    print(f"{item['file']:32} {size_s:>9} {wall:7.3f} {wall / base[0]:7.1f} {rss / 1024:7.1f} {rss / base[1]:7.1f} {lines:6} {malformed:>9}  {item['what']}")
if slow:
    sys.exit(f"over {limit} s: {', '.join(slow)}")
PY
