#!/usr/bin/env python3
"""Live consumer benchmark (issue: bucketwarden run). Against moto on 127.0.0.1: a 4-shard stream,
2 workers, a mixed load of irrelevant records (other services, S3 reads, skipped within
microseconds) and real public transitions (buckets made public in moto's S3, then their
PutBucketAcl event put on the stream). Prints records/s consumed per worker, CPU seconds per
million records (net of the fleet's idle cost and of each worker's start-up), and latency from
the record's arrival to the remediation applied (p50, p99) at a steady 2 transitions/s and in a
burst of 20/s.

usage: bench_live.py ENDPOINT BINARY [IRRELEVANT=100000] [PUBLIC=100]
       PUBLIC is the burst's size; the steady phase has half as many.
       BENCH_PERF=FILE also profiles the workers while they drain (perf record; BENCH_PERF_ARGS adds options).
       BENCH_FLEET='max_records = 10000' sets [fleet] options (';' between several).
"""
import json, os, signal, statistics, subprocess, sys, tempfile, time, uuid, urllib.request

import botocore.session

endpoint, binary = sys.argv[1], sys.argv[2]
irrelevant = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
public = int(sys.argv[4]) if len(sys.argv) > 4 else 100
ACCOUNT = "123456789012"
prefix = "bench%d" % os.getpid()
names = dict(stream=f"{prefix}-events", lease_table=f"{prefix}-leases", dedup_table=f"{prefix}-dedup", state_table=f"{prefix}-state",
             incident_table=f"{prefix}-incidents", dead_letter_table=f"{prefix}-dead", alert_topic=f"{prefix}-alerts")
env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1",
           AWS_EC2_METADATA_DISABLED="true", BUCKETWARDEN_LOG="warn")
s = botocore.session.get_session()
kw = dict(region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench")
kinesis, s3, ddb = s.create_client("kinesis", **kw), s.create_client("s3", **kw), s.create_client("dynamodb", **kw)

tmp = tempfile.mkdtemp(prefix="bucketwarden-bench-")
cfg = os.path.join(tmp, "bench.toml")
with open(cfg, "w") as f:
    f.write("[names]\n" + "".join(f'{k} = "{v}"\n' for k, v in names.items()))
    # BENCH_FLEET='max_records = 10000': [fleet] settings to compare against the defaults.
    if os.environ.get("BENCH_FLEET"):
        f.write("[fleet]\n" + os.environ["BENCH_FLEET"].replace(";", "\n") + "\n")
subprocess.run([binary, "init", "--config", cfg, "--shards", "4"], env=env, check=True, stdout=subprocess.DEVNULL)


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def event(detail):
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "AWS API Call via CloudTrail", "source": "aws.s3",
            "account": ACCOUNT, "time": now(), "region": "us-east-1", "resources": [], "detail": detail}


def noise(i):
    if i % 3 == 0:
        d = {"eventVersion": "1.09", "eventTime": now(), "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
             "awsRegion": "us-east-1", "requestParameters": {"bucketName": f"data-{i % 500}", "key": f"k/{i}.parquet"},
             "eventID": str(uuid.uuid4()), "recipientAccountId": ACCOUNT, "eventCategory": "Data"}
    else:
        d = {"eventVersion": "1.08", "eventTime": now(), "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances",
             "awsRegion": "us-east-1", "requestParameters": {"instancesSet": {}}, "eventID": str(uuid.uuid4()),
             "recipientAccountId": ACCOUNT, "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s{i}"}}
    return json.dumps(event(d)).encode()


def put_records(entries):
    for i in range(0, len(entries), 500):
        batch = entries[i:i + 500]
        while batch:
            r = kinesis.put_records(StreamName=names["stream"], Records=batch)
            batch = [e for e, res in zip(batch, r["Records"]) if "ErrorCode" in res]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ready(port):
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200
    except Exception:
        return False


# Start-up is a one-off cost per process (credential chain, clients, lease table scan, first
# lease round), not a per-record one: measured on a stream of its own with nothing on it, from
# exec until /readyz says ready, so it can be taken out of the per-record figure.
empty = {k: f"{v}-startup" for k, v in names.items()}
empty_cfg = os.path.join(tmp, "startup.toml")
with open(empty_cfg, "w") as f:
    f.write("[names]\n" + "".join(f'{k} = "{v}"\n' for k, v in empty.items()))
subprocess.run([binary, "init", "--config", empty_cfg, "--shards", "2"], env=env, check=True, stdout=subprocess.DEVNULL)
startup_port = 19464 + (os.getpid() % 200) * 2 + 400
probe = subprocess.Popen([binary, "run", "--config", empty_cfg, "--worker-id", "bench-startup", "--metrics-addr", f"127.0.0.1:{startup_port}"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
t_probe = time.time()
while not ready(startup_port) and time.time() - t_probe < 60:
    time.sleep(0.05)
startup_cpu = cpu_seconds(probe.pid)
startup_wall = time.time() - t_probe
probe.send_signal(signal.SIGTERM)
probe.wait(timeout=60)

print(f"==> loading {irrelevant:,} irrelevant records", flush=True)
t0 = time.time()
put_records([{"Data": noise(i), "PartitionKey": f"pk-{i % 64}"} for i in range(irrelevant)])
print(f"    put in {time.time() - t0:.1f} s", flush=True)

# Two phases of public transitions: `steady` at 2 per second, a rate moto serves without a queue
# (so the figure is bucketwarden's own latency), then `burst` at 20 per second, which needs
# about 20 emulator requests each and so more than moto's ~176 requests/s.
PHASES = [("steady", public // 2, 0.5), ("burst", public, 0.05)]
buckets = [f"{prefix}-{name}-{i:04d}" for name, n, _ in PHASES for i in range(n)]
for b in buckets:
    s3.create_bucket(Bucket=b, ObjectOwnership="ObjectWriter")
    s3.delete_public_access_block(Bucket=b)
    s3.put_bucket_acl(Bucket=b, ACL="public-read")

metrics_ports = [19464 + (os.getpid() % 200) * 2 + i for i in range(2)]
workers, cpu0 = [], []
start = time.time()
for i, port in enumerate(metrics_ports):
    w = subprocess.Popen([binary, "run", "--config", cfg, "--worker-id", f"bench-w{i}", "--metrics-addr", f"127.0.0.1:{port}"],
                         env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, f"w{i}.log"), "w"))
    workers.append(w)


def received(port):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except Exception:
        return 0
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith("bucketwarden_records_received_total"))


# BENCH_PERF=FILE: profile both workers while they drain the backlog (perf record, flat profile: release builds keep no frame pointers).
profiler = None
if os.environ.get("BENCH_PERF"):
    # BENCH_PERF_ARGS adds perf record options, e.g. "--call-graph dwarf" to see who calls memmove.
    profiler = subprocess.Popen(["perf", "record", "-F", "999", *os.environ.get("BENCH_PERF_ARGS", "").split(), "-o", os.environ["BENCH_PERF"],
                                 "-p", ",".join(str(w.pid) for w in workers)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

print("==> 2 workers draining the backlog", flush=True)
while sum(received(p) for p in metrics_ports) < irrelevant:
    time.sleep(0.5)
    if time.time() - start > 1800:
        sys.exit("backlog not drained in 30 minutes")
drain = time.time() - start
per_worker = [received(p) for p in metrics_ports]
cpu_drain = sum(cpu_seconds(w.pid) for w in workers)
if profiler:
    profiler.send_signal(signal.SIGINT)
    profiler.wait(timeout=60)

def transition(b):
    d = {"eventVersion": "1.09", "eventTime": now(), "eventSource": "s3.amazonaws.com", "eventName": "PutBucketAcl", "awsRegion": "us-east-1",
         "requestParameters": {"bucketName": b, "acl": [""], "x-amz-acl": ["public-read"]}, "eventID": str(uuid.uuid4()),
         "recipientAccountId": ACCOUNT, "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/bench"}}
    return json.dumps(event(d)).encode()


def remediated_at():
    out = {}
    for page in ddb.get_paginator("scan").paginate(TableName=names["incident_table"]):
        for it in page["Items"]:
            if "remediatedAt" in it:
                ts = it["remediatedAt"]["S"]
                out[it["bucket"]["S"]] = time.mktime(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone + float("0." + ts[20:23])
    return out


results = {}
for phase, n, interval in PHASES:
    mine = [b for b in buckets if b.startswith(f"{prefix}-{phase}-")]
    print(f"==> {phase}: {n} public transitions, one every {interval * 1000:.0f} ms, while the fleet is caught up", flush=True)
    put_at = {}
    for b in mine:
        put_at[b] = time.time()
        kinesis.put_record(StreamName=names["stream"], Data=transition(b), PartitionKey=b)
        time.sleep(interval)
    deadline = time.time() + 120
    lat = {}
    while len(lat) < n and time.time() < deadline:
        lat = {b: t - put_at[b] for b, t in remediated_at().items() if b in put_at}
        time.sleep(0.5)
    results[phase] = (interval, sorted(lat.values()), n)
    time.sleep(2)

# The fleet's idle cost (lease renewals, polling empty shards, metrics upkeep), to separate the
# per-record cost from what any running worker spends anyway.
idle_window = 10.0
idle0 = sum(cpu_seconds(w.pid) for w in workers)
time.sleep(idle_window)
idle_rate = (sum(cpu_seconds(w.pid) for w in workers) - idle0) / idle_window
for w in workers:
    w.send_signal(signal.SIGTERM)
for w in workers:
    w.wait(timeout=60)

q = lambda lats, p: lats[min(len(lats) - 1, int(p * len(lats)))] if lats else float("nan")
print(f"records consumed      {irrelevant:,} irrelevant in {drain:.1f} s by 2 workers: "
      + ", ".join(f"{n:,.0f} ({n / drain:,.0f}/s)" for n in per_worker))
net = max(0.0, cpu_drain - idle_rate * drain)
net_startup = max(0.0, net - 2 * startup_cpu)
print(f"consumer CPU          {cpu_drain:.2f} CPU-s for the backlog, start-up included = {cpu_drain / irrelevant * 1e6:.2f} CPU-s per million irrelevant records")
print(f"idle fleet            {idle_rate:.3f} CPU-s/s for 2 workers (renewals, empty polls)")
print(f"start-up              {startup_cpu:.3f} CPU-s per worker ({startup_wall:.2f} s from exec to ready, empty stream)")
print(f"net of idle           {net:.2f} CPU-s = {net / irrelevant * 1e6:.2f} CPU-s per million irrelevant records")
print(f"net of idle, start-up {net_startup:.2f} CPU-s = {net_startup / irrelevant * 1e6:.2f} CPU-s per million irrelevant records (target < 5)")
for phase, (interval, lats, n) in results.items():
    print(f"{phase:<6} {1 / interval:4.0f}/s     remediated {len(lats)}/{n}; arrival->remediated p50 {q(lats, 0.5) * 1000:.0f} ms, "
          f"p99 {q(lats, 0.99) * 1000:.0f} ms, max {max(lats) * 1000 if lats else float('nan'):.0f} ms (target p99 < 1500 ms)")
print(f"logs                  {tmp}")
