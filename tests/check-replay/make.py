#!/usr/bin/env python3
"""Writes one CloudFormation template per golden replay scenario whose history ends in a state a
template can declare: the bucket settings are written here by hand from the scenario's README;
the last policy document is copied from the scenario's events.json (so template and history
cannot drift). tests/check_replay.rs compares `check` on each template with `replay` on the
scenario. Run: python3 make.py"""
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


def bucket(name, acl=None, ownership=None, block=None):
    props = {"BucketName": name}
    if acl:
        props["AccessControl"] = acl
    if ownership:
        props["OwnershipControls"] = {"Rules": [{"ObjectOwnership": ownership}]}
    if block is not None:
        props["PublicAccessBlockConfiguration"] = block
    return {"Type": "AWS::S3::Bucket", "Properties": props}


def template(scenario, buckets):
    resources = {}
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
