#!/usr/bin/env bash
# Checkov beside `bucketwarden check` on the same corpus (tests/check-corpus/cases.json): per tool,
# the cases it gets right, its false positives and misses, and the time per file. Never part of CI.
#
# A case's truth is whether something would be public (verdict public or unknown) — the expected
# verdicts of cases.json, each resting on a quoted AWS sentence. Checkov "says public" when one of
# its exposure checks fails: CKV_AWS_20 / CKV_AWS_57 (public READ / WRITE ACL), CKV_AWS_70 (any
# principal), CKV_AWS_375 (global view ACL), CKV2_AWS_43 (authenticated users). Its hygiene checks
# (CKV_AWS_53..56, CKV2_AWS_6, CKV_AWS_392: a block flag not set) judge configuration style, not
# exposure; they are counted on their own line. Checkov has no input for a bare policy, ACL or block
# document: those cases count as misses or as right when nothing is public.
#
# The machine is shared and noisy: each file is run by one tool then the other, alternately, and
# the report gives medians and the ratio.
#
# Usage: scripts/bench-check.sh [ROUNDS]   (default 3; needs the Python registry once, for Checkov)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
VENV=.run/checkov-venv
if [ ! -x "$VENV/bin/checkov" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q checkov
fi
BIN=target/release/bucketwarden
[ -x "$BIN" ] || BIN=target/debug/bucketwarden
[ -x "$BIN" ] || cargo test --test check --no-run >/dev/null
[ -x "$BIN" ] || BIN=target/debug/bucketwarden
echo "checkov $("$VENV/bin/checkov" --version), $BIN ($("$BIN" --version)), $ROUNDS rounds"
python3 - "$BIN" "$VENV/bin/checkov" "$ROUNDS" <<'PY'
import json, subprocess, sys, time, statistics, os
bw, checkov, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
corpus = "tests/check-corpus"
cases = json.load(open(f"{corpus}/cases.json"))
EXPOSURE = {"CKV_AWS_20", "CKV_AWS_57", "CKV_AWS_70", "CKV_AWS_375", "CKV2_AWS_43"}
HYGIENE = {"CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56", "CKV2_AWS_6", "CKV_AWS_392"}

def run_bw(path):
    t = time.perf_counter()
    p = subprocess.run([bw, "check", "--format", "json", path], capture_output=True, text=True)
    dt = time.perf_counter() - t
    return p.returncode == 4, dt

def run_checkov(path):
    fw = "terraform_plan" if "/terraform/" in path else "cloudformation" if "/cloudformation/" in path else None
    if fw is None:
        return None, None, 0.0
    t = time.perf_counter()
    p = subprocess.run([checkov, "-f", path, "--framework", fw, "-o", "json", "--quiet", "--compact",
                        "--skip-download"], capture_output=True, text=True,
                       env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"})
    dt = time.perf_counter() - t
    # Checkov exits 0 (passed) or 1 (a check failed); anything else, or no report, is an error,
    # counted and shown, never read as "not public".
    try:
        out = json.loads(p.stdout) if p.returncode in (0, 1) else None
    except json.JSONDecodeError:
        out = None
    if out is None:
        ERRORS.append((path, p.returncode, p.stderr.strip().splitlines()[-1:]))
        return None, None, dt
    reports = out if isinstance(out, list) else [out]
    failed = {c["check_id"] for r in reports for c in r.get("results", {}).get("failed_checks", [])}
    return bool(failed & EXPOSURE), bool(failed & (EXPOSURE | HYGIENE)), dt

ERRORS = []
rows = []
times = {"bucketwarden": [], "checkov": []}
for c in cases:
    path = f"{corpus}/{c['file']}"
    truth = any(v in ("public", "unknown") for v in c["expect"].values())
    bw_said = ck_said = ck_any = None
    for i in range(rounds):
        order = [0, 1] if i % 2 == 0 else [1, 0]
        for which in order:
            if which == 0:
                bw_said, dt = run_bw(path)
                times["bucketwarden"].append(dt)
            else:
                ck_said, ck_any, dt = run_checkov(path)
                if dt:
                    times["checkov"].append(dt)
    rows.append((c["file"], truth, bw_said, ck_said, ck_any, c.get("note", "")))

def score(idx):
    right = fp = miss = 0
    for r in rows:
        said = bool(r[idx])
        if said == r[1]:
            right += 1
        elif said:
            fp += 1
        else:
            miss += 1
    return right, fp, miss

print(f"\n{'case':52} {'truth':7} {'bw':7} {'checkov':8} {'+hygiene':8} note")
for f, t, b, k, ka, note in rows:
    s = lambda x: "n/a" if x is None else ("PUBLIC" if x else "-")
    print(f"{f:52} {s(t):7} {s(b):7} {s(k):8} {s(ka):8} {note}")
n = len(rows)
for name, idx in (("bucketwarden", 2), ("checkov (exposure checks)", 3), ("checkov (+ hygiene checks)", 4)):
    right, fp, miss = score(idx)
    print(f"{name:28} right {right}/{n}, false positives {fp}, misses {miss}")
mb = statistics.median(times["bucketwarden"]) * 1000
mc = statistics.median(times["checkov"]) * 1000
if ERRORS:
    print(f"checkov errors ({len(ERRORS)} runs, shown as n/a):", *ERRORS[:5], sep="\n  ")
print(f"time per file (median of {len(times['bucketwarden'])} / {len(times['checkov'])} runs, process start included): "
      f"bucketwarden {mb:.1f} ms, checkov {mc:.0f} ms, ratio {mc / mb:.0f}x")
PY
