#!/usr/bin/env python3
"""Live bench across accounts (issue #19): the same public transitions decided by a live fleet on
moto, once all in the fleet's own account and once spread over ACCOUNTS member accounts (moto
runs an assumed role's calls in the role's account, so each member's buckets live apart), side by
side in one run. Every request of the workers passes a loopback proxy (scripts/latency_proxy.py,
no delay by default) that counts them by service and operation.

Prints, per case: events remediated, requests per event net of the fleet's idle polling (all
services, and S3, DynamoDB, STS apart), AssumeRole calls (must be at most one per member per
credential lifetime in each worker — workers never share credentials — and a run is far shorter
than the session), and latency from the record's put
on the stream to the remediation applied (incident remediatedAt), p50 and p99; then the ratios.

usage: bench_accounts.py ENDPOINT BINARY [EVENTS=100] [ACCOUNTS=20]
       BENCH_RATE=2       transitions per second put on the stream (steady, below moto's ceiling)
       BENCH_WORKERS=2    workers in the fleet (4 shards)
       BENCH_DELAY_MS=0   per-direction delay at the proxy (e.g. 10 to look like a region)
"""
import json, os, signal, socket, subprocess, sys, tempfile, time, urllib.request, uuid

import botocore.session

endpoint, binary = sys.argv[1], sys.argv[2]
events = int(sys.argv[3]) if len(sys.argv) > 3 else 100
n_accounts = int(sys.argv[4]) if len(sys.argv) > 4 else 20
rate = float(os.environ.get("BENCH_RATE", "2"))
n_workers = int(os.environ.get("BENCH_WORKERS", "2"))
delay_ms = os.environ.get("BENCH_DELAY_MS", "0")
OWN = "123456789012"
pid = os.getpid()
MEMBERS = ["%06d%06d" % (pid % 1_000_000, 500 + i) for i in range(n_accounts)]
here = os.path.dirname(os.path.abspath(__file__))
tmp = tempfile.mkdtemp(prefix="bucketwarden-bench-accounts-")

session = botocore.session.get_session()
kw = dict(region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench")
kinesis, s3, ddb, sts = (session.create_client(s, **kw) for s in ("kinesis", "s3", "dynamodb", "sts"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


upstream_port = int(endpoint.rsplit(":", 1)[1].split("/")[0])
proxy_port = free_port()
proxy = subprocess.Popen([sys.executable, os.path.join(here, "latency_proxy.py"), str(proxy_port), str(upstream_port), delay_ms],
                         stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "proxy.log"), "w"), text=True)
assert proxy.stdout.readline().strip() == "ready", "latency proxy did not start"
proxy_url = f"http://127.0.0.1:{proxy_port}"


def proxy_get(path):
    return json.loads(urllib.request.urlopen(proxy_url + path, timeout=10).read())


env = dict(os.environ, AWS_ENDPOINT_URL=proxy_url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
           AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", BUCKETWARDEN_LOG="warn")
init_env = dict(env, AWS_ENDPOINT_URL=endpoint)


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def transition(bucket, account):
    d = {"eventVersion": "1.09", "eventTime": now(), "eventSource": "s3.amazonaws.com", "eventName": "PutBucketAcl",
         "awsRegion": "us-east-1", "requestParameters": {"bucketName": bucket, "acl": [""], "x-amz-acl": ["public-read"]},
         "eventID": str(uuid.uuid4()), "recipientAccountId": account,
         "userIdentity": {"type": "IAMUser", "accountId": account, "arn": f"arn:aws:iam::{account}:user/bench"}}
    return json.dumps({"version": "0", "id": str(uuid.uuid4()), "detail-type": "AWS API Call via CloudTrail", "source": "aws.s3",
                       "account": account, "time": now(), "region": "us-east-1", "resources": [], "detail": d}).encode()


def s3_in(account):
    """S3 acting in `account`: the default credentials for the own one, an assumed role's for a member."""
    if account == OWN:
        return s3
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/bench-setup", RoleSessionName="setup")["Credentials"]
    return session.create_client("s3", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id=c["AccessKeyId"],
                                 aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])


def ready(port):
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200
    except Exception:
        return False


def remediated_at(table):
    out = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for it in page["Items"]:
            if "remediatedAt" in it:
                ts = it["remediatedAt"]["S"]
                out[it["bucket"]["S"]] = (time.mktime(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
                                          + float("0." + ts[20:23]), it.get("account", {}).get("S"))
    return out


def metric(port, series):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except Exception:
        return float("nan")
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(series + " "))


def flat(counts):
    return {(svc, op): n for svc, ops in counts.items() for op, n in ops.items()}


def run_case(name, accounts):
    prefix = f"bacc{pid}-{name}"
    names = dict(stream=f"{prefix}-events", lease_table=f"{prefix}-leases", dedup_table=f"{prefix}-dedup",
                 state_table=f"{prefix}-state", incident_table=f"{prefix}-incidents", dead_letter_table=f"{prefix}-dead",
                 alert_topic=f"{prefix}-alerts")
    cfg = os.path.join(tmp, f"{name}.toml")
    members = [a for a in accounts if a != OWN]
    with open(cfg, "w") as f:
        f.write("[names]\n" + "".join(f'{k} = "{v}"\n' for k, v in names.items()))
        # Reconciliation off: this measures the stream's path only.
        f.write("[reconcile]\ninterval_ms = 0\n")
        if members:
            f.write("[accounts]\nallowed = [" + ", ".join(f'"{a}"' for a in members) + "]\n")
    subprocess.run([binary, "init", "--config", cfg, "--shards", "4"], env=init_env, check=True, stdout=subprocess.DEVNULL)

    # The same buckets, public in moto's S3, the i-th in accounts[i % len(accounts)].
    plan = [(f"{prefix}-{i:04d}", accounts[i % len(accounts)]) for i in range(events)]
    clients = {a: s3_in(a) for a in accounts}
    for b, a in plan:
        c = clients[a]
        c.create_bucket(Bucket=b, ObjectOwnership="ObjectWriter")
        c.delete_public_access_block(Bucket=b)
        c.put_bucket_acl(Bucket=b, ACL="public-read")

    ports = [free_port() for _ in range(n_workers)]
    workers = [subprocess.Popen([binary, "run", "--config", cfg, "--worker-id", f"{name}-w{i}", "--metrics-addr", f"127.0.0.1:{p}"],
                                env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, f"{name}-w{i}.log"), "w"))
               for i, p in enumerate(ports)]
    t = time.time()
    while not all(ready(p) for p in ports):
        if time.time() - t > 120:
            sys.exit(f"{name}: workers not ready in 120 s (logs in {tmp})")
        time.sleep(0.2)
    # Leases balanced (each worker holds its share) before measuring: a shard changing hands
    # mid-run would be measured as latency.
    t = time.time()
    while [metric(p, "bucketwarden_leases_held") for p in ports] != [4 // n_workers] * n_workers:
        if time.time() - t > 120:
            sys.exit(f"{name}: leases not balanced in 120 s (logs in {tmp})")
        time.sleep(0.5)
    time.sleep(2)

    # The fleet's idle traffic (lease renewals, polling empty shards), to take out of the per-event figure.
    proxy_get("/__proxy/reset")
    idle_window = 10.0
    time.sleep(idle_window)
    idle = flat(proxy_get("/__proxy/counts"))

    proxy_get("/__proxy/reset")
    print(f"==> {name}: {events} public transitions over {len(accounts)} account(s), {rate:g}/s, {n_workers} workers", flush=True)
    t0 = time.time()
    put_at = {}
    for b, a in plan:
        put_at[b] = time.time()
        kinesis.put_record(StreamName=names["stream"], Data=transition(b, a), PartitionKey=b)
        time.sleep(1.0 / rate)
    deadline = time.time() + 180
    done = {}
    while len(done) < events and time.time() < deadline:
        done = {b: v for b, v in remediated_at(names["incident_table"]).items() if b in put_at}
        time.sleep(0.5)
    elapsed = time.time() - t0
    counts = flat(proxy_get("/__proxy/counts"))
    # Each worker holds its own credentials (never shared through a table): the bound is one
    # AssumeRole per member per worker per session.
    per_worker = [metric(p, 'bucketwarden_assume_role_total{outcome="ok"}') for p in ports]
    for w in workers:
        w.send_signal(signal.SIGTERM)
    for w in workers:
        w.wait(timeout=60)

    wrong_account = [b for b, (_, acct) in done.items() if acct != dict(plan)[b]]
    lats = sorted(at - put_at[b] for b, (at, _) in done.items())
    net = {}
    for k in set(counts) | set(idle):
        net[k] = max(0.0, counts.get(k, 0) - idle.get(k, 0) * elapsed / idle_window)
    per = lambda pred: sum(v for k, v in net.items() if pred(k)) / max(1, len(done))
    q = lambda p: lats[min(len(lats) - 1, int(p * len(lats)))] * 1000 if lats else float("nan")
    return {
        "accounts": len(accounts),
        "remediated": len(done),
        "wrong_account": len(wrong_account),
        "req_all": per(lambda k: True),
        "req_s3": per(lambda k: k[0] == "s3"),
        "req_ddb": per(lambda k: k[0] == "dynamodb"),
        "req_kinesis": per(lambda k: k[0] == "kinesis"),
        "req_sts": per(lambda k: k[0] == "sts"),
        "assume_role": counts.get(("sts", "AssumeRole"), 0),
        "assume_max_worker": max(per_worker) if per_worker else 0,
        "p50": q(0.5),
        "p99": q(0.99),
        "max": lats[-1] * 1000 if lats else float("nan"),
        "elapsed": elapsed,
    }


try:
    one = run_case("one", [OWN])
    many = run_case("many", MEMBERS)
finally:
    proxy.send_signal(signal.SIGTERM)
    proxy.wait(timeout=10)

ratio = lambda a, b: f"{b / a:.2f}x" if a else "-"
rows = [
    ("accounts", "accounts", "{:.0f}", False),
    ("events remediated", "remediated", "{:.0f}", False),
    ("incident in the wrong account", "wrong_account", "{:.0f}", False),
    ("requests per event (net of idle)", "req_all", "{:.2f}", True),
    ("  S3", "req_s3", "{:.2f}", True),
    ("  DynamoDB", "req_ddb", "{:.2f}", True),
    ("  Kinesis", "req_kinesis", "{:.2f}", True),
    ("  STS", "req_sts", "{:.2f}", True),
    ("AssumeRole calls (whole fleet)", "assume_role", "{:.0f}", False),
    ("AssumeRole calls (busiest worker)", "assume_max_worker", "{:.0f}", False),
    ("put -> remediated p50 (ms)", "p50", "{:.0f}", True),
    ("put -> remediated p99 (ms)", "p99", "{:.0f}", True),
    ("put -> remediated max (ms)", "max", "{:.0f}", True),
]
print()
print(f"{'':34} {'1 account':>12} {str(n_accounts) + ' accounts':>12} {'ratio':>8}")
for label, key, fmt, with_ratio in rows:
    a, b = one[key], many[key]
    print(f"{label:34} {fmt.format(a):>12} {fmt.format(b):>12} {ratio(a, b) if with_ratio else '':>8}")
ok = many["assume_max_worker"] <= n_accounts and many["assume_role"] <= n_workers * n_accounts and one["assume_role"] == 0
print(f"\nAssumeRole amortised (<= one per member per worker per session, none for the own account): {'yes' if ok else 'NO'}")
print(f"binary {binary}; {n_workers} workers, 4 shards, {rate:g} transitions/s, proxy delay {delay_ms} ms; logs {tmp}")
sys.exit(0 if ok and one["remediated"] == events and many["remediated"] == events and not many["wrong_account"] else 1)
