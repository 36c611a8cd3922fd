#!/usr/bin/env python3
"""Writes the adversarial replay inputs of scripts/bench-adversarial.sh into a directory.

usage: scripts/gen_adversarial.py DIR

Each file holds good CloudTrail records before and after the adversarial part (the same shapes
as tests/adversarial.rs), so a run that loses its neighbours shows in the transcript line count.
Deterministic: no randomness, the same bytes on every run.
"""
import gzip
import json
import os
import sys

ACCOUNT = "111122223333"
ALICE = "arn:aws:iam::111122223333:user/alice"
DEEP = 100_000
MIB = 1 << 20


def event(name, eid, second, params, actor=ALICE, **extra):
    ev = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": actor, "accountId": ACCOUNT},
        "eventTime": f"2024-05-01T12:{second // 60:02}:{second % 60:02}Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.1",
        "userAgent": "[aws-cli/2.15.30]",
        "requestParameters": params,
        "eventID": eid,
        "recipientAccountId": ACCOUNT,
    }
    ev.update(extra)
    return ev


def open_bucket(bucket, second):
    return [
        event("CreateBucket", f"{bucket}-create", second,
              {"bucketName": bucket, "x-amz-object-ownership": "ObjectWriter"}),
        event("DeleteBucketPublicAccessBlock", f"{bucket}-unblock", second + 1,
              {"bucketName": bucket, "publicAccessBlock": ""}),
    ]


def public_read(bucket, eid, second, **extra):
    return event("PutBucketAcl", eid, second,
                 {"bucketName": bucket, "x-amz-acl": ["public-read"]}, **extra)


def jl(values):
    return b"".join(json.dumps(v, separators=(",", ":")).encode() + b"\n" for v in values)


def before():
    return jl(open_bucket("before", 1) + [public_read("before", "before-public", 3)])


def after():
    return jl(open_bucket("after", 50) + [public_read("after", "after-public", 52)])


def sandwich(bad):
    if not bad.endswith(b"\n"):
        bad += b"\n"
    return before() + bad + after()


def policy_event(statements):
    doc = {"Version": "2012-10-17", "Statement": statements}
    return jl(open_bucket("big-policy", 10) + [event(
        "PutBucketPolicy", "big-policy", 15,
        {"bucketName": "big-policy", "policy": [""], "bucketPolicy": doc})])


def fixed(i):
    return {"Sid": f"Fixed{i}", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{100_000_000_000 + i:012}:root"},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::big-policy/*"}


def acl_event(public):
    grants = [{"Grantee": {"xsi:type": "CanonicalUser", "ID": f"{i:064x}"},
               "Permission": "FULL_CONTROL"} for i in range(10_000)]
    if public:
        grants.append({"Grantee": {"xsi:type": "Group",
                                   "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                       "Permission": "READ"})
    return jl(open_bucket("big-acl", 10) + [event(
        "PutBucketAcl", "big-acl", 15,
        {"bucketName": "big-acl", "acl": [""],
         "AccessControlPolicy": {"AccessControlList": {"Grant": grants},
                                 "Owner": {"ID": "0" * 64}}})])


def deep_params(nested):
    ev = public_read("deep", "deep-params", 20)
    ev["requestParameters"]["x"] = "PLACEHOLDER"
    return json.dumps(ev, separators=(",", ":")).replace('"PLACEHOLDER"', nested).encode()


def inputs():
    """(name, bytes, what it is) for every input, baseline first."""
    normal = []
    for b in range(25):
        normal += open_bucket(f"normal-{b}", 2 * b) + [public_read(f"normal-{b}", f"n-{b}", 2 * b + 1)]
    yield "baseline-normal-100", sandwich(jl(normal)), "100 ordinary records (baseline)"
    for mib in (1, 10):
        pad = public_read("huge", f"huge-{mib}", 20,
                          additionalEventData={"pad": "x" * (mib * MIB)})
        yield f"record-{mib}mib", sandwich(jl(open_bucket("huge", 10) + [pad])), \
            f"a valid PutBucketAcl of {mib} MiB"
        yield f"garbage-{mib}mib", sandwich(b"g" * (mib * MIB)), f"a {mib} MiB garbage line"
        yield f"unterminated-{mib}mib", sandwich(b'{"eventSource":"s3.amazonaws.com","x":"' + b"u" * (mib * MIB)), \
            f"a {mib} MiB string that never ends on its line"
    yield "record-over-limit-17mib", sandwich(jl([public_read("big", "big", 20, additionalEventData={"pad": "x" * (17 * MIB)})])), \
        "a 17 MiB record (over the 16 MiB limit)"
    yield "deep-array-100k", sandwich(deep_params("[" * DEEP + "]" * DEEP)), \
        "100,000 nested arrays in requestParameters"
    yield "deep-object-100k", sandwich(deep_params('{"a":' * DEEP + "1" + "}" * DEEP)), \
        "100,000 nested objects in requestParameters"
    ignored = public_read("deep", "deep-ignored", 21)
    text = json.dumps(ignored, separators=(",", ":"))
    yield "deep-ignored-field-100k", sandwich(jl(open_bucket("deep", 18)) + ('{"deep":' + "[" * DEEP + "]" * DEEP + "," + text[1:]).encode()), \
        "100,000 nested arrays in a field nobody reads"
    yield "unbalanced-brackets-100k", sandwich(b"[" * DEEP), "100,000 `[` that never close"
    yield "garbage-lines-100k", sandwich(b"not json\n" * 100_000), "100,000 garbage lines"
    bad_utf8 = public_read("b\xff", "bad-utf8", 30)
    raw = json.dumps(bad_utf8, separators=(",", ":")).encode().replace(b"b\\u00ff", b"b\xff\xfe\xc3")
    yield "non-utf8", sandwich(raw + b"\n" + bytes([0xFF, 0xFE, 0x00, 0x80]) * 1000), \
        "invalid UTF-8 inside a record and between records"
    yield "policy-10000-public-last", sandwich(policy_event(
        [fixed(i) for i in range(10_000)] + [{"Sid": "OpenAtTheEnd", "Effect": "Allow", "Principal": "*",
                                              "Action": "s3:GetObject", "Resource": "*"}])), \
        "PutBucketPolicy, 10,000 statements, the last public"
    yield "policy-10000-private", sandwich(policy_event([fixed(i) for i in range(10_000)])), \
        "PutBucketPolicy, 10,000 fixed-principal statements"
    yield "policy-10000-all-public", sandwich(policy_event(
        [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}] * 10_000)), \
        "PutBucketPolicy, 10,000 public statements (10,000 reasons)"
    yield "acl-10000-grants-public-last", sandwich(acl_event(True)), \
        "PutBucketAcl, 10,000 grants, AllUsers last"
    yield "acl-10000-grants-private", sandwich(acl_event(False)), "PutBucketAcl, 10,000 account grants"
    names = []
    for i, (b, k) in enumerate([("bücket-名前-🪣", "ünï/名前.txt"), ("with spaces %20", "a key %2F%%"),
                                ('quo"te\\', 'q"uo\'te\\s'), ("ctl\u0001\n", "ctl\u0000\u001b[31m"),
                                ("long", "k" * 1_000_000)]):
        names += open_bucket(b, 60 + 5 * i) + [event("PutObjectAcl", f"obj-{i}", 62 + 5 * i,
                                                     {"bucketName": b, "key": k, "x-amz-acl": "public-read"})]
    yield "unusual-names", sandwich(jl(names)), "unicode, spaces, %, quotes, control chars, a 1 MB key"
    gz = gzip.compress(sandwich(b"g" * MIB), mtime=0)
    yield "gzip-garbage-1mib.json.gz", gz, "gzip of a file with a 1 MiB garbage line"
    yield "gzip-truncated.json.gz", gz[: len(gz) // 2], "a gzip stream cut in half"


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    index = []
    for name, data, what in inputs():
        fname = name if name.endswith(".gz") else name + ".jsonl"
        with open(os.path.join(out, fname), "wb") as f:
            f.write(data)
        index.append({"file": fname, "bytes": len(data), "what": what})
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, indent=1)


if __name__ == "__main__":
    main()
