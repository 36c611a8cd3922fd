#!/usr/bin/env bash
# Scan benchmark against moto on 127.0.0.1: `bucketwarden scan` over 500, 1,000 and 2,000 buckets
# (a public ACL on every tenth); prints buckets/s, the requests in flight, and the time ratio per
# doubling (linear growth means ~2.0x).
# usage: scripts/bench-scan.sh [CONCURRENCY=16] [SIZES="500 1000 2000"] [PROFILE=release]
set -euo pipefail
cd "$(dirname "$0")/.."
concurrency=${1:-16}
sizes=${2:-500 1000 2000}
profile=${3:-release}
./scripts/venv.sh
if [ "$profile" = release ]; then
  echo "==> building release binary"
  bin=$(./scripts/cargo-bin.sh bucketwarden --release --quiet --bin bucketwarden)
else
  bin=$(./scripts/cargo-bin.sh bucketwarden --quiet --bin bucketwarden)
  profile=debug
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pidfile=".run/moto-bench-scan-$$.pid"
endpoint=$(./scripts/moto.sh "$port" "$pidfile")
trap 'kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"' EXIT
export AWS_ENDPOINT_URL=$endpoint AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true BUCKETWARDEN_LOG=warn
.venv/bin/python - "$endpoint" "$bin" "$concurrency" $sizes <<'PY'
import json, subprocess, sys, time
import botocore.session

endpoint, binary, concurrency, sizes = sys.argv[1], sys.argv[2], sys.argv[3], [int(x) for x in sys.argv[4:]]
s3 = botocore.session.get_session().create_client("s3", region_name="us-east-1", endpoint_url=endpoint,
                                                  aws_access_key_id="testing", aws_secret_access_key="testing")
made, prev = 0, None
print(f"{'buckets':>8} {'seconds':>8} {'buckets/s':>10} {'in flight':>10} {'exposed':>8} {'ratio':>6}")
for n in sizes:
    t0 = time.time()
    while made < n:
        b = f"bench-scan-{made:05d}"
        s3.create_bucket(Bucket=b, ObjectOwnership="ObjectWriter")
        if made % 10 == 0:
            s3.delete_public_access_block(Bucket=b)
            s3.put_bucket_acl(Bucket=b, ACL="public-read")
        made += 1
    p = subprocess.run([binary, "scan", "--format", "json", "--no-progress", "--concurrency", concurrency],
                       capture_output=True, text=True)
    if p.returncode not in (0, 4):
        sys.exit(f"scan failed ({p.returncode}): {p.stderr[-2000:]}")
    s = json.loads(p.stdout)["summary"]
    ratio = f"{s['seconds'] / prev:.2f}x" if prev else "-"
    prev = s["seconds"]
    print(f"{s['buckets']:>8} {s['seconds']:>8.2f} {s['buckets_per_second']:>10.0f} {s['max_requests_in_flight']:>10} {s['exposed']:>8} {ratio:>6}", flush=True)
PY
