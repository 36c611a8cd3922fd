#!/usr/bin/env python3
"""Burst benchmark (issue #18): bucketwarden against a naive consumer, side by side, in one run on
the same moto. The naive consumer is the obvious design: one boto3 handler per event, one event
after another (dedup claim, the bucket's reads, block, tag, publish). Every consumer call goes
through a loopback latency proxy (scripts/latency_proxy.py) that counts requests by service and
can add a fixed delay per direction; "bare" cases go to moto directly.

Cases (each with fresh streams, tables and buckets; one bucketwarden worker, one naive consumer):
  buckets-bare   N public buckets as a backlog, straight to moto
  buckets-delay  the same through the proxy at DELAY ms per direction (default 10: 20 ms/RT)
  objects-delay  N public objects in ONE bucket (PutObjectAcl events), through the proxy
  steady-delay   public buckets arriving at 2/s, record -> remediation p50/p99, through the proxy
Requests per remediated event are counted at the proxy in the delay cases.

usage: bench_burst.py ENDPOINT BINARY [--buckets N] [--objects N] [--steady N] [--delay MS]
                      [--cases a,b,...] [--bw-remediation 'objects = "bucket-block"']
"""
import argparse, json, os, signal, statistics, subprocess, sys, tempfile, time, urllib.request, uuid

import botocore.session
from botocore.config import Config as BotoConfig

ap = argparse.ArgumentParser()
ap.add_argument("endpoint")
ap.add_argument("binary")
ap.add_argument("--buckets", type=int, default=100)
ap.add_argument("--objects", type=int, default=100)
ap.add_argument("--steady", type=int, default=20)
ap.add_argument("--delay", type=float, default=10.0)
ap.add_argument("--cases", default="buckets-bare,buckets-delay,objects-delay,steady-delay")
ap.add_argument("--bw-remediation", default="", help="extra [remediation] lines for bucketwarden (';' between)")
ap.add_argument("--who", default="bucketwarden,naive", help="which consumers to run")
ap.add_argument("--naive-consumer", help=argparse.SUPPRESS)  # internal: run the naive consumer
args = ap.parse_args()

ACCOUNT = "123456789012"
CREDS = dict(aws_access_key_id="bench", aws_secret_access_key="bench")


def clients(endpoint):
    s = botocore.session.get_session()
    cfg = BotoConfig(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"}, max_pool_connections=4)
    kw = dict(region_name="us-east-1", endpoint_url=endpoint, config=cfg, **CREDS)
    return {n: s.create_client(n, **kw) for n in ("kinesis", "s3", "dynamodb", "sns")}


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ---------------------------------------------------------------------------------------------
# The naive consumer (run as its own process so its CPU and GIL are its own).
# ---------------------------------------------------------------------------------------------
def naive_consumer(spec):
    c = clients(spec["endpoint"])
    kinesis, s3, ddb, sns = c["kinesis"], c["s3"], c["dynamodb"], c["sns"]
    stream, expect, out = spec["stream"], spec["expect"], spec["out"]
    shards = [sh["ShardId"] for sh in kinesis.list_shards(StreamName=stream)["Shards"]]
    its = {sh: kinesis.get_shard_iterator(StreamName=stream, ShardId=sh, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
           for sh in shards}
    done = {}
    public_uris = ("http://acs.amazonaws.com/groups/global/AllUsers", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")

    def handle(ev):
        d = ev["detail"]
        b = d["requestParameters"]["bucketName"]
        key = d["requestParameters"].get("key")
        try:  # 1. dedup claim
            ddb.put_item(TableName=spec["dedup"], Item={"eventId": {"S": d["eventID"]}}, ConditionExpression="attribute_not_exists(eventId)")
        except ddb.exceptions.ConditionalCheckFailedException:
            return
        try:  # 2-5. four reads
            blk = s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
        except s3.exceptions.ClientError:
            blk = {}
        if key is None:
            acl = s3.get_bucket_acl(Bucket=b)
            try:
                s3.get_bucket_policy(Bucket=b)
            except s3.exceptions.ClientError:
                pass
            try:
                pol_public = s3.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"]
            except s3.exceptions.ClientError:
                pol_public = False
        else:
            acl = s3.get_object_acl(Bucket=b, Key=key)
            pol_public = False
        acl_public = any(g.get("Grantee", {}).get("URI") in public_uris for g in acl["Grants"]) and not blk.get("IgnorePublicAcls")
        if not (acl_public or pol_public):
            return
        if key is None:  # 6-7. block, tag
            s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
                "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
            s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": [{"Key": "bucketwarden:remediated", "Value": now()}]})
        else:
            s3.put_object_acl(Bucket=b, Key=key, ACL="private")
        done[f"{b}/{key or ''}"] = time.time()
        sns.publish(TopicArn=spec["topic"], Message=json.dumps({"bucket": b, "key": key}))  # 8. publish

    while len(done) < expect:
        got = 0
        for sh in shards:
            r = kinesis.get_records(ShardIterator=its[sh], Limit=10000)
            its[sh] = r["NextShardIterator"]
            for rec in r["Records"]:
                got += 1
                handle(json.loads(rec["Data"]))
        if not got:
            time.sleep(0.25)
    with open(out, "w") as f:
        json.dump(done, f)


if args.naive_consumer:
    naive_consumer(json.loads(args.naive_consumer))
    sys.exit(0)

# ---------------------------------------------------------------------------------------------
# The driver.
# ---------------------------------------------------------------------------------------------
moto = args.endpoint
moto_port = int(moto.rsplit(":", 1)[1])
direct = clients(moto)
kinesis, s3, ddb, sns = direct["kinesis"], direct["s3"], direct["dynamodb"], direct["sns"]
tmp = tempfile.mkdtemp(prefix="bucketwarden-burst-")
root = os.path.dirname(os.path.abspath(__file__))


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


proxy_port = free_port()
proxy = subprocess.Popen([sys.executable, os.path.join(root, "latency_proxy.py"), str(proxy_port), str(moto_port), str(args.delay)],
                         stdout=subprocess.PIPE)
assert proxy.stdout.readline().strip() == b"ready"
proxy_url = f"http://127.0.0.1:{proxy_port}"


def proxy_call(path):
    return json.loads(urllib.request.urlopen(proxy_url + path, timeout=10).read())


def event(detail):
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "AWS API Call via CloudTrail", "source": "aws.s3",
            "account": ACCOUNT, "time": now(), "region": "us-east-1", "resources": [], "detail": detail}


def acl_event(bucket, key=None):
    rp = {"bucketName": bucket, "acl": [""], "x-amz-acl": ["public-read"]}
    if key is not None:
        rp["key"] = key
    d = {"eventVersion": "1.09", "eventTime": now(), "eventSource": "s3.amazonaws.com",
         "eventName": "PutObjectAcl" if key is not None else "PutBucketAcl", "awsRegion": "us-east-1",
         "requestParameters": rp, "eventID": str(uuid.uuid4()), "recipientAccountId": ACCOUNT,
         "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/bench"}}
    return json.dumps(event(d)).encode()


def put_all(stream, entries):
    for i in range(0, len(entries), 500):
        batch = entries[i:i + 500]
        while batch:
            r = kinesis.put_records(StreamName=stream, Records=batch)
            batch = [e for e, res in zip(batch, r["Records"]) if "ErrorCode" in res]


def public_buckets(prefix, n):
    names = [f"{prefix}-{i:04d}" for i in range(n)]
    for b in names:
        s3.create_bucket(Bucket=b, ObjectOwnership="ObjectWriter")
        s3.delete_public_access_block(Bucket=b)
        s3.put_bucket_acl(Bucket=b, ACL="public-read")
    return names


def public_objects(bucket, n):
    s3.create_bucket(Bucket=bucket, ObjectOwnership="ObjectWriter")
    s3.delete_public_access_block(Bucket=bucket)
    keys = [f"k/{i:05d}.txt" for i in range(n)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x", ACL="public-read")
    return keys


def incidents_remediated(table):
    # Only the three attributes read: the poll is the harness's own load on moto, and a full
    # scan's response (every incident field) was a quarter of moto's busy time in the objects case.
    out = {}
    for page in ddb.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression="#b, #k, remediatedAt",
            ExpressionAttributeNames={"#b": "bucket", "#k": "key"}):
        for it in page["Items"]:
            if "remediatedAt" in it:
                ts = it["remediatedAt"]["S"]
                t = time.mktime(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone + float("0." + ts[20:23])
                out[f'{it["bucket"]["S"]}/{it.get("key", {}).get("S", "")}'] = t
    return out


case_no = [0]


def bw_setup(tag):
    case_no[0] += 1
    prefix = f"bw{os.getpid()}c{case_no[0]}{tag}"
    names = dict(stream=f"{prefix}-events", lease_table=f"{prefix}-leases", dedup_table=f"{prefix}-dedup",
                 state_table=f"{prefix}-state", incident_table=f"{prefix}-incidents", dead_letter_table=f"{prefix}-dead",
                 alert_topic=f"{prefix}-alerts")
    cfg = os.path.join(tmp, f"{prefix}.toml")
    with open(cfg, "w") as f:
        f.write("[names]\n" + "".join(f'{k} = "{v}"\n' for k, v in names.items()))
        f.write("[reconcile]\ninterval_ms = 0\n")
        if args.bw_remediation:
            f.write("[remediation]\n" + args.bw_remediation.replace(";", "\n") + "\n")
    env = dict(os.environ, AWS_ENDPOINT_URL=moto, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", BUCKETWARDEN_LOG="warn")
    subprocess.run([args.binary, "init", "--config", cfg, "--shards", "4"], env=env, check=True, stdout=subprocess.DEVNULL)
    return prefix, names, cfg


def block_on(bucket):
    try:
        c = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except s3.exceptions.ClientError:
        return False
    return all(c.get(k) for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"))


def bw_run(cfg, names, endpoint, expect, feed=None, closed_by_block=None):
    """Starts one worker, optionally feeds events while it runs; returns (start, {id: remediated at}).
    closed_by_block=(bucket, ids): every id counts as closed once the bucket's block is fully on
    (objects = "bucket-block": one call closes them all, later events only verify)."""
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", BUCKETWARDEN_LOG="warn")
    port = free_port()
    start = time.time()
    w = subprocess.Popen([args.binary, "run", "--config", cfg, "--worker-id", "burst-w0", "--metrics-addr", f"127.0.0.1:{port}"],
                         env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, f"{names['stream']}.log"), "w"))
    if feed:
        feed()
    done, deadline = {}, time.time() + 600
    while len(done) < expect and time.time() < deadline and w.poll() is None:
        time.sleep(0.05 if closed_by_block else 0.25)
        if closed_by_block and block_on(closed_by_block[0]):
            done = {i: time.time() for i in closed_by_block[1]}
        elif not closed_by_block:
            done = incidents_remediated(names["incident_table"])
    w.send_signal(signal.SIGTERM)
    w.wait(timeout=60)
    return start, done


def naive_setup(tag):
    case_no[0] += 1
    prefix = f"nv{os.getpid()}c{case_no[0]}{tag}"
    stream, dedup = f"{prefix}-events", f"{prefix}-dedup"
    kinesis.create_stream(StreamName=stream, ShardCount=4)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream)
    ddb.create_table(TableName=dedup, KeySchema=[{"AttributeName": "eventId", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "eventId", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    topic = sns.create_topic(Name=f"{prefix}-alerts")["TopicArn"]
    return prefix, dict(stream=stream, dedup=dedup, topic=topic)


def naive_run(spec, endpoint, expect, feed=None):
    out = os.path.join(tmp, f"{spec['stream']}.json")
    spec = dict(spec, endpoint=endpoint, expect=expect, out=out)
    start = time.time()
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), moto, args.binary, "--naive-consumer", json.dumps(spec)])
    if feed:
        feed()
    p.wait(timeout=1800)
    with open(out) as f:
        return start, json.load(f)


def counted(fn):
    proxy_call("/__proxy/reset")
    r = fn()
    return r, proxy_call("/__proxy/counts")


def per_event(counts, n):
    by = {svc: sum(ops.values()) / n for svc, ops in counts.items()}
    return sum(by.values()), by


def fmt_counts(total, by):
    return f"{total:5.1f}  (" + ", ".join(f"{k} {v:.1f}" for k, v in sorted(by.items())) + ")"


results = []


def report(line):
    results.append(line)
    print(line, flush=True)


def backlog(kind, n, delayed):
    """n public buckets (or objects in one bucket) as a backlog; both consumers; rate and requests."""
    endpoint = proxy_url if delayed else moto
    proxy_call(f"/__proxy/delay?ms={args.delay if delayed else 0}")
    rates, reqs = {}, {}
    for who in args.who.split(","):
        if who == "bucketwarden":
            prefix, names, cfg = bw_setup(kind[0])
            stream = names["stream"]
        else:
            prefix, spec = naive_setup(kind[0])
            stream = spec["stream"]
        if kind == "buckets":
            ids = public_buckets(prefix, n)
            put_all(stream, [{"Data": acl_event(b), "PartitionKey": b} for b in ids])
            ids = [f"{b}/" for b in ids]
        else:
            bucket = f"{prefix}-objects"
            keys = public_objects(bucket, n)
            put_all(stream, [{"Data": acl_event(bucket, k), "PartitionKey": bucket} for k in keys])
            ids = [f"{bucket}/{k}" for k in keys]
        if who == "bucketwarden":
            by_block = (bucket, ids) if kind == "objects" and "bucket-block" in args.bw_remediation else None
            (start, done), counts = counted(lambda: bw_run(cfg, names, endpoint, n, closed_by_block=by_block))
        else:
            (start, done), counts = counted(lambda: naive_run(spec, endpoint, n))
        got = [done[i] for i in ids if i in done]
        span = (max(got) - start) if got else float("nan")
        first = (min(got) - start) if got else float("nan")
        # Throughput from the first remediation to the last: start-up (a Python interpreter and
        # boto3 take seconds on this machine) is reported apart.
        rates[who] = (len(got) - 1) / (max(got) - min(got)) if len(got) > 1 and max(got) > min(got) else float("inf") if got else 0.0
        reqs[who] = per_event(counts, max(1, len(got)))
        if who == "bucketwarden" and by_block and got:
            # Closed by one bucket-level call: a rate between near-equal times means nothing.
            print(f"    {who:<12} {len(got)}/{n} closed together by the bucket's block, {first:.2f} s from consumer start "
                  f"(the last {span - first:.2f} s after the first); requests per closed object {fmt_counts(*reqs[who])}", flush=True)
            print("      by operation: " + json.dumps(counts, sort_keys=True), flush=True)
            report(f"{kind:<8} backlog of {n:>4}, bucket-block: every object closed {span:.2f} s after consumer start, "
                   f"{span - first:.2f} s after the first")
            del rates[who]
            continue
        print(f"    {who:<12} {len(got)}/{n} remediated; first at {first:.2f} s, all by {span:.2f} s from consumer start: "
              f"{rates[who]:.1f}/s first to last" + (f"; requests per remediated event {fmt_counts(*reqs[who])}" if delayed else ""), flush=True)
        if delayed:
            print("      by operation: " + json.dumps(counts, sort_keys=True), flush=True)
    where = f"{args.delay:.0f} ms/dir" if delayed else "bare moto"
    if "bucketwarden" not in rates and "naive" not in rates:
        return
    rates.setdefault("naive", float("nan")); rates.setdefault("bucketwarden", float("nan"))
    reqs.setdefault("naive", (float("nan"), {})); reqs.setdefault("bucketwarden", (float("nan"), {}))
    report(f"{kind:<8} backlog of {n:>4}, {where:<10}: bucketwarden {rates['bucketwarden']:6.1f}/s  naive {rates['naive']:6.1f}/s  "
           f"ratio {rates['bucketwarden'] / max(rates['naive'], 1e-9):.2f}x")
    if delayed:
        report(f"{kind:<8} requests per remediated event, at the proxy: bucketwarden {fmt_counts(*reqs['bucketwarden'])}; "
               f"naive {fmt_counts(*reqs['naive'])}; ratio {reqs['bucketwarden'][0] / max(reqs['naive'][0], 1e-9):.2f}x")


def steady(n):
    """n public buckets arriving one every 500 ms through the proxy: record -> remediation."""
    proxy_call(f"/__proxy/delay?ms={args.delay}")
    lats = {}
    for who in args.who.split(","):
        if who == "bucketwarden":
            prefix, names, cfg = bw_setup("s")
            stream = names["stream"]
        else:
            prefix, spec = naive_setup("s")
            stream = spec["stream"]
        ids = public_buckets(prefix, n)
        put_at = {}

        def feed():
            time.sleep(2.0)  # let the consumer start and take its shards
            for b in ids:
                put_at[f"{b}/"] = time.time()
                kinesis.put_record(StreamName=stream, Data=acl_event(b), PartitionKey=b)
                time.sleep(0.5)

        if who == "bucketwarden":
            _, done = bw_run(cfg, names, proxy_url, n, feed)
        else:
            _, done = naive_run(spec, proxy_url, n, feed)
        lats[who] = sorted(done[i] - put_at[i] for i in put_at if i in done)
    lats.setdefault("naive", []); lats.setdefault("bucketwarden", [])
    q = lambda l, p: l[min(len(l) - 1, int(p * len(l)))] * 1000 if l else float("nan")
    b, nv = lats["bucketwarden"], lats["naive"]
    report(f"steady 2/s, {n} buckets, {args.delay:.0f} ms/dir: bucketwarden {len(b)}/{n} p50 {q(b, .5):.0f} ms p99 {q(b, .99):.0f} ms; "
           f"naive {len(nv)}/{n} p50 {q(nv, .5):.0f} ms p99 {q(nv, .99):.0f} ms; p99 ratio {q(b, .99) / max(q(nv, .99), 1e-9):.2f}x")


try:
    for case in args.cases.split(","):
        print(f"==> {case}", flush=True)
        if case == "buckets-bare":
            backlog("buckets", args.buckets, False)
        elif case == "buckets-delay":
            backlog("buckets", args.buckets, True)
        elif case == "objects-delay":
            backlog("objects", args.objects, True)
        elif case == "steady-delay":
            steady(args.steady)
        else:
            sys.exit(f"unknown case {case}")
    print("\n==> summary (one run; the machine is shared, rely on the ratios)")
    for line in results:
        print(line)
    print(f"logs: {tmp}")
finally:
    proxy.send_signal(signal.SIGTERM)
    proxy.wait(timeout=10)
