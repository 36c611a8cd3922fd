#!/usr/bin/env python3
"""Writes one template per golden replay scenario whose history ends in a state a template can
declare: a CloudFormation template (<scenario>.template.json) where CloudFormation can say it, a
Terraform plan in `terraform show -json`'s format (<scenario>.plan.json, shaped as
tests/check-corpus/make.py shapes its plans) where only Terraform can (object ACLs, ACL grants,
the account's block). The bucket settings are written here by hand from the scenario's README and
events; the last policy document is copied from the scenario's events.json (so template and
history cannot drift). tests/check_replay.rs compares `check` on each file with `replay` on the
scenario; README.md lists the scenarios that cannot be written so, and why. Run: python3 make.py"""
import json, os

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "..", "replay-fixtures")
OPEN = {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": False}


def last_policy(scenario, bucket):
    doc = json.load(open(os.path.join(FIX, scenario, "events.json")))
    recs = doc["Records"] if isinstance(doc, dict) else doc
    policy = None
    for r in recs:
        p = r.get("requestParameters") or {}
        if p.get("bucketName") != bucket:
            continue
        if r["eventName"] == "PutBucketPolicy" and not r.get("errorCode"):
            policy = p["bucketPolicy"]
            if isinstance(policy, str):
                policy = json.loads(policy)
        if r["eventName"] == "DeleteBucketPolicy" and not r.get("errorCode"):
            policy = None
    return policy


def bucket(name, acl=None, ownership=None, block=None, tags=None):
    props = {"BucketName": name}
    if tags:
        props["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    if acl:
        props["AccessControl"] = acl
    if ownership:
        props["OwnershipControls"] = {"Rules": [{"ObjectOwnership": ownership}]}
    if block is not None:
        props["PublicAccessBlockConfiguration"] = block
    return {"Type": "AWS::S3::Bucket", "Properties": props}


def template(scenario, buckets, extra=None):
    resources = dict(extra or {})
    for i, (name, spec) in enumerate(buckets):
        lid = f"Bucket{i}"
        resources[lid] = bucket(name, **spec)
        policy = last_policy(scenario, name)
        if policy is not None:
            resources[f"Bucket{i}Policy"] = {"Type": "AWS::S3::BucketPolicy",
                                              "Properties": {"Bucket": {"Ref": lid}, "PolicyDocument": policy}}
    with open(os.path.join(HERE, f"{scenario}.template.json"), "w") as f:
        json.dump({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}, f, indent=2)
        f.write("\n")


# CreateBucket (ObjectWriter), DeleteBucketPublicAccessBlock, PutBucketAcl public-read.
template("02-tutorial-public-acl", [("f02-site", dict(acl="PublicRead", ownership="ObjectWriter", block=OPEN))])
# … five canned ACLs in turn, the last one private.
template("05-canned-acls", [("f05-canned", dict(acl="Private", ownership="ObjectWriter", block=OPEN))])
# … public-read, BucketOwnerEnforced, then the ownership controls deleted (ObjectWriter again).
template("06-ownership-controls", [("f06-ownership", dict(acl="PublicRead", ownership="ObjectWriter", block=OPEN))])
# CreateBucket, the block without RestrictPublicBuckets at the end, a public policy.
template("08-restrict-public-buckets", [("f08-restrict", dict(block=OPEN))])
# Block deleted; the last of the fixed-principal policies.
template("09-policy-fixed-principals", [("f09-fixed", dict(block=OPEN))])
# Block deleted; the policy deleted at the end.
template("10-policy-wildcards-variables-notprincipal", [("f10-wild", dict(block=OPEN))])
template("11-policy-restricting-conditions", [("f11-cond", dict(block=OPEN))])
template("12-policy-conditions-that-do-not-restrict", [("f12-open", dict(block=OPEN))])
# Two buckets made public the tutorial way; config.toml exempts one by a name glob.
template("24-exemption-by-name-glob", [
    ("f24-public-site-www", dict(acl="PublicRead", ownership="ObjectWriter", block=OPEN)),
    ("f24-public-sitex", dict(acl="PublicRead", ownership="ObjectWriter", block=OPEN))])


# ---- Terraform plans (the shape of tests/check-corpus/make.py's) -------------------------------

def tf(rtype, rname, values, bucket=None):
    """One resource change: created, every value known; `bucket` joins it to its bucket by name."""
    after = dict(values)
    if bucket is not None:
        after["bucket"] = bucket
    return {"type": rtype, "name": rname, "after": after}


def tf_bucket(rname, name):
    return tf("aws_s3_bucket", rname, {"bucket": name, "force_destroy": False, "tags": None})


def tf_block(rname, name, flags):
    keys = ["block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets"]
    return tf("aws_s3_bucket_public_access_block", rname, dict(zip(keys, flags)), bucket=name)


def tf_owner(rname, name, value):
    return tf("aws_s3_bucket_ownership_controls", rname, {"rule": [{"object_ownership": value}]}, bucket=name)


def tf_object(rname, name, key, acl=None):
    values = {"key": key, "source": key}
    if acl is not None:
        values["acl"] = acl
    return tf("aws_s3_object", rname, values, bucket=name)


def plan(scenario, resources):
    changes, planned, config = [], [], []
    for r in resources:
        address = f"{r['type']}.{r['name']}"
        common = {"address": address, "mode": "managed", "type": r["type"], "name": r["name"]}
        changes.append({**common, "provider_name": "registry.terraform.io/hashicorp/aws",
                        "change": {"actions": ["create"], "before": None, "after": r["after"],
                                   "after_unknown": {}, "before_sensitive": False, "after_sensitive": {}}})
        planned.append({**common, "provider_name": "registry.terraform.io/hashicorp/aws", "schema_version": 0,
                        "values": r["after"], "sensitive_values": {}})
        config.append({**common, "provider_config_key": "aws", "schema_version": 0,
                       "expressions": {k: {"constant_value": v} for k, v in r["after"].items()}})
    doc = {"format_version": "1.2", "terraform_version": "1.9.8",
           "planned_values": {"root_module": {"resources": planned}},
           "resource_changes": changes,
           "configuration": {"provider_config": {"aws": {"name": "aws",
                                                         "full_name": "registry.terraform.io/hashicorp/aws"}},
                             "root_module": {"resources": config}},
           "timestamp": "2026-12-08T00:00:00Z", "applyable": True, "complete": True, "errored": False}
    with open(os.path.join(HERE, f"{scenario}.plan.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


OFF = (False, False, False, False)
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"

# CreateBucket with no headers: S3's defaults, as for a bucket a template creates.
template("01-create-bucket-defaults", [("f01-data", {})])
# CreateBucket with x-amz-acl public-read: it succeeded, so the bucket's block was off (replay
# assumes its other flags off; the template declares them off).
template("35-create-bucket-public-acl", [("f35-created-public", dict(acl="PublicRead", ownership="ObjectWriter",
                                                                     block=OPEN))])
# ObjectWriter, a block with IgnorePublicAcls only, public-read, then a public policy.
template("07-ignore-public-acls-only-covers-acls", [("f07-ignore", dict(
    acl="PublicRead", ownership="ObjectWriter", block={**OPEN, "IgnorePublicAcls": True}))])
# BucketOwnerPreferred, block all false; the last ACL (x-amz-grant-* headers): owner FULL_CONTROL,
# LogDelivery WRITE and READ_ACP — exactly the canned log-delivery-write.
template("03-header-grants", [("f03-grants", dict(acl="LogDeliveryWrite", ownership="BucketOwnerPreferred",
                                                  block=OPEN))])
# Two tagged buckets made public; f23-tagged's exempting tag deleted before its last public-read,
# f23-untagged's tags never exempted it. Judged under the scenario's config.toml.
template("23-exemption-by-tag", [
    ("f23-tagged", dict(acl="PublicRead", ownership="ObjectWriter", block=OPEN)),
    ("f23-untagged", dict(acl="PublicRead", ownership="ObjectWriter", block=OPEN,
                          tags={"bucketwarden:allow-public": "false", "team": "data"}))])
# Per-account exemptions (config.toml); the test passes the scenario's account with --account-id.
template("39-exemption-per-account", [
    ("f39-cdn-www", dict(acl="PublicRead", ownership="ObjectWriter", block=OPEN)),
    ("f39-media-www", dict(acl="PublicRead", ownership="ObjectWriter", block=OPEN)),
    ("f39-team-site", dict(acl="PublicRead", ownership="ObjectWriter", block=OPEN, tags={"team:public": "yes"}))])


def access_point_policy(scenario, name):
    doc = json.load(open(os.path.join(FIX, scenario, "events.json")))
    recs = doc["Records"] if isinstance(doc, dict) else doc
    policy = None
    for r in recs:
        p = r.get("requestParameters") or {}
        if p.get("name") != name or r.get("errorCode"):
            continue
        if r["eventName"] == "PutAccessPointPolicy":
            policy = json.loads(p["PutAccessPointPolicyRequest"]["Policy"])
        if r["eventName"] == "DeleteAccessPointPolicy":
            policy = None
    return policy


# f27-data (S3's defaults, block deleted) with f27-ap (block all false, its policy deleted) and
# f27-vpc-ap (VPC origin, a public policy). f27-legacy-ap predates the history: no bucket, so it
# is not in the comparison (see README.md).
AP = {"f27-ap": {}, "f27-vpc-ap": {"VpcConfiguration": {"VpcId": "vpc-0a1b2c3d"}}}
aps = {}
for i, (ap, extra) in enumerate(AP.items()):
    props = {"Bucket": {"Ref": "Bucket0"}, "Name": ap, "PublicAccessBlockConfiguration": OPEN, **extra}
    pol = access_point_policy("27-access-points", ap)
    if pol is not None:
        props["Policy"] = pol
    aps[f"AccessPoint{i}"] = {"Type": "AWS::S3::AccessPoint", "Properties": props}
template("27-access-points", [("f27-data", dict(block=OPEN))], extra=aps)

def records(scenario):
    doc = json.load(open(os.path.join(FIX, scenario, "events.json")))
    recs = doc["Records"] if isinstance(doc, dict) else doc
    return [r.get("detail", r) for r in recs]


def last_acp_grants(scenario, bucket):
    """The last successful PutBucketAcl's AccessControlPolicy body, as aws_s3_bucket_acl's
    access_control_policy (copied, so plan and history cannot drift)."""
    acp = None
    for r in records(scenario):
        p = r.get("requestParameters") or {}
        if p.get("bucketName") == bucket and r["eventName"] == "PutBucketAcl" and not r.get("errorCode"):
            acp = p.get("AccessControlPolicy")
    grants = acp["AccessControlList"]["Grant"]
    grants = grants if isinstance(grants, list) else [grants]
    return [{"owner": [{"id": acp["Owner"]["ID"], "display_name": ""}],
             "grant": [{"permission": g["Permission"],
                        "grantee": [{"type": g["Grantee"]["xsi:type"], "uri": g["Grantee"].get("URI", ""),
                                     "id": g["Grantee"].get("ID", ""), "email_address": "", "display_name": ""}]}
                       for g in grants]}]


def acp_plan(scenario, name):
    plan(scenario, [
        tf_bucket("b", name), tf_owner("b", name, "ObjectWriter"), tf_block("b", name, OFF),
        tf("aws_s3_bucket_acl", "b", {"acl": None, "access_control_policy": last_acp_grants(scenario, name)},
           bucket=name)])


# The last ACL as an XML body (owner FULL_CONTROL, LogDelivery WRITE and READ_ACP): not public.
acp_plan("04-acl-xml-body", "f04-xml")
# An XML body with AllUsers WRITE and AuthenticatedUsers FULL_CONTROL among its grants: public.
acp_plan("33-eventbridge-json-array", "f33-array")
# One object whose ACL was public-read, then private.
plan("20-object-acl", [
    tf_bucket("b", "f20-objects"), tf_owner("b", "f20-objects", "ObjectWriter"), tf_block("b", "f20-objects", OFF),
    tf_object("q1", "f20-objects", "reports/2024/q1.csv", "private")])
# Objects written with ACLs (b.txt's x-amz-grant-read AllUsers as public-read: aws_s3_object takes
# a canned ACL only), then the bucket's block fully on.
plan("21-object-writes-with-acls", [
    tf_bucket("b", "f21-writes"), tf_owner("b", "f21-writes", "ObjectWriter"),
    tf_block("b", "f21-writes", (True, True, True, True)),
    tf_object("plain", "f21-writes", "plain.txt"),
    tf_object("a", "f21-writes", "a.txt", "public-read"),
    tf_object("b", "f21-writes", "b.txt", "public-read"),
    tf_object("c", "f21-writes", "c.bin", "authenticated-read"),
    tf_object("d", "f21-writes", "d.txt", "bucket-owner-full-control")])
# Account 222233334444: its block put and then deleted (known off), one public-ACL bucket, one
# public-policy bucket, one with S3's defaults.
plan("13-account-block-reevaluates-buckets", [
    tf("aws_s3_account_public_access_block", "acct", dict(zip(
        ["block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets", "account_id"],
        [False, False, False, False, "222233334444"]))),
    tf_bucket("acl", "f13-acl"), tf_owner("acl", "f13-acl", "ObjectWriter"), tf_block("acl", "f13-acl", OFF),
    tf("aws_s3_bucket_acl", "acl", {"acl": "public-read"}, bucket="f13-acl"),
    tf_bucket("policy", "f13-policy"), tf_block("policy", "f13-policy", OFF),
    tf("aws_s3_bucket_policy", "policy", {"policy": json.dumps(last_policy("13-account-block-reevaluates-buckets",
                                                                           "f13-policy"))}, bucket="f13-policy"),
    tf_bucket("private", "f13-private")])
# An object's public-read under IgnorePublicAcls, then the bucket's block deleted: exposed again.
plan("22-object-reexposed-by-bucket-block", [
    tf_bucket("b", "f22-reexposed"), tf_owner("b", "f22-reexposed", "ObjectWriter"),
    tf_block("b", "f22-reexposed", OFF), tf_object("logo", "f22-reexposed", "img/logo.png", "public-read")])

# A block with IgnorePublicAcls and RestrictPublicBuckets (BlockPublicAcls off), then public-read:
# ignored. (The scenario is about the record being forged; the state it declares is this.)
template("37-forged-protection-masks-a-public-acl", [("f37-masked", dict(
    acl="PublicRead", ownership="ObjectWriter",
    block={**OPEN, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}))])
# A website configuration put and deleted: at the end the bucket has S3's defaults and no website.
template("28-website-events", [("f28-site", {})])
