#!/usr/bin/env python3
"""Authoring tool for the golden replay scenarios.

Each scenario is written here as realistic CloudTrail records plus the transcript lines expected
for them, worked out by hand from docs/DESIGN.md §4/§5 and docs/REASONS.md (never produced by running
bucketwarden). Running this script (re)writes the static files the golden test reads:
replay-fixtures/NN-name/{events.json|events.json.gz|events.jsonl, expected.transcript,
config.toml, args, README.md}. Edit a scenario here, re-run, and review the diff.
"""
import copy
import gzip
import json
import os
import shutil
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ACCT = "111122223333"
NS = uuid.UUID("6f1c1d4e-7a43-4c1b-9a53-6a0f7a6d0b00")


def eid(tag):
    return str(uuid.uuid5(NS, tag))


def t(sec):
    """Event times: 2024-05-01T12:MM:SSZ."""
    return "2024-05-01T%02d:%02d:%02dZ" % (12 + sec // 3600, (sec // 60) % 60, sec % 60)


def identity(account=ACCT, user="alice"):
    return {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLE" + user.upper(),
        "arn": "arn:aws:iam::%s:user/%s" % (account, user),
        "accountId": account,
        "accessKeyId": "AKIAEXAMPLE" + user.upper()[:5],
        "userName": user,
    }


def rec(name, sec, params, *, bucket=None, key=None, tag=None, source="s3.amazonaws.com", account=ACCT,
        error=None, message=None, data=False, user="alice", region="us-east-1", drop_id=False):
    """One CloudTrail record as AWS writes it for an S3 (or S3 Control) call."""
    r = {
        "eventVersion": "1.09" if data else "1.08",
        "userIdentity": identity(account, user),
        "eventTime": t(sec),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "198.51.100.%d" % (10 + sec % 200),
        "userAgent": "[aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/s3api.%s]" % name.lower(),
        "requestParameters": params,
        "responseElements": None,
        "additionalEventData": {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 0,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": "EXAMPLEid2K1bS0hkS3Bxd0RyU2FaZ2FqWk5yN0JvRnh3PT0=",
            "bytesTransferredOut": 0,
        },
        "requestID": ("REQ%013d" % (sec * 7919))[:16],
        "eventID": eid(tag or "%s-%s-%d" % (name, bucket or account, sec)),
        "readOnly": False,
        "resources": [],
        "eventType": "AwsApiCall",
        "managementEvent": not data,
        "recipientAccountId": account,
        "eventCategory": "Data" if data else "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": ("%s.s3.%s.amazonaws.com" % (bucket, region)) if bucket else "s3-control.%s.amazonaws.com" % region,
        },
    }
    if bucket:
        r["resources"].append({"accountId": account, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::%s" % bucket})
    if key:
        r["resources"].insert(0, {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::%s/%s" % (bucket, key)})
    if source == "s3-control.amazonaws.com":
        del r["additionalEventData"]
        r["resources"] = []
    if error is not None:
        r["errorCode"] = error
        if error:
            r["errorMessage"] = message or "Access Denied"
    if drop_id:
        del r["eventID"]
    return r


def host(b):
    return "%s.s3.us-east-1.amazonaws.com" % b


# -- typed builders for the watched calls, in the shapes CloudTrail records ----------------------

def create_bucket(b, sec, ownership=None, acl=None, **kw):
    p = {"bucketName": b, "Host": "s3.us-east-1.amazonaws.com"}
    if ownership:
        p["x-amz-object-ownership"] = ownership
    if acl:
        p["x-amz-acl"] = acl
    return rec("CreateBucket", sec, p, bucket=b, **kw)


def delete_bucket(b, sec, **kw):
    return rec("DeleteBucket", sec, {"bucketName": b, "Host": host(b)}, bucket=b, **kw)


def put_acl(b, sec, canned=None, grants=None, body=None, marker=[""], **kw):
    p = {"bucketName": b, "Host": host(b), "acl": marker}
    if canned is not None:
        p["x-amz-acl"] = canned
    for h, v in (grants or {}).items():
        p[h] = v
    if body is not None:
        p["AccessControlPolicy"] = body
    return rec("PutBucketAcl", sec, p, bucket=b, **kw)


def acl_body(*grants):
    gs = []
    for kind, who, perm in grants:
        if kind == "group":
            gs.append({"Grantee": {"xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/" + who,
                                   "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance"}, "Permission": perm})
        else:
            gs.append({"Grantee": {"xsi:type": "CanonicalUser", "ID": who,
                                   "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance"}, "Permission": perm})
    return {"AccessControlList": {"Grant": gs[0] if len(gs) == 1 else gs},
            "Owner": {"ID": OWNER}, "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}


OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def stmt(sid, principal, condition=None, effect="Allow", action="s3:GetObject", resource="arn:aws:s3:::*/*", notprincipal=False):
    s = {"Effect": effect, ("NotPrincipal" if notprincipal else "Principal"): principal, "Action": action, "Resource": resource}
    if sid:
        s = {"Sid": sid, **s}
    if condition:
        s["Condition"] = condition
    return s


def put_policy(b, sec, doc, as_string=False, **kw):
    return rec("PutBucketPolicy", sec, {"bucketName": b, "Host": host(b), "policy": [""],
                                         "bucketPolicy": json.dumps(doc) if as_string else doc}, bucket=b, **kw)


def delete_policy(b, sec, **kw):
    return rec("DeleteBucketPolicy", sec, {"bucketName": b, "Host": host(b), "policy": [""]}, bucket=b, **kw)


def pab_cfg(bpa=False, ipa=False, bpp=False, rpb=False):
    return {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "BlockPublicAcls": bpa, "IgnorePublicAcls": ipa,
            "BlockPublicPolicy": bpp, "RestrictPublicBuckets": rpb}


def put_pab(b, sec, **flags):
    return rec("PutBucketPublicAccessBlock", sec, {"publicAccessBlock": "", "bucketName": b, "Host": host(b),
                                                   "PublicAccessBlockConfiguration": pab_cfg(**flags)}, bucket=b)


def delete_pab(b, sec, **kw):
    return rec("DeleteBucketPublicAccessBlock", sec, {"publicAccessBlock": "", "bucketName": b, "Host": host(b)}, bucket=b, **kw)


def put_account_pab(account, sec, source="s3-control.amazonaws.com", **flags):
    return rec("PutAccountPublicAccessBlock", sec, {"accountId": account, "PublicAccessBlockConfiguration": pab_cfg(**flags)},
               source=source, account=account, tag="acct-put-%s-%d" % (account, sec))


def delete_account_pab(account, sec, source="s3-control.amazonaws.com", **kw):
    return rec("DeleteAccountPublicAccessBlock", sec, {"accountId": account}, source=source, account=account,
               tag="acct-del-%s-%d" % (account, sec), **kw)


def put_ownership(b, sec, value, **kw):
    return rec("PutBucketOwnershipControls", sec, {"bucketName": b, "Host": host(b), "ownershipControls": "",
                                                   "OwnershipControls": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                                                                         "Rule": {"ObjectOwnership": value}}}, bucket=b, **kw)


def delete_ownership(b, sec, **kw):
    return rec("DeleteBucketOwnershipControls", sec, {"bucketName": b, "Host": host(b), "ownershipControls": ""}, bucket=b, **kw)


def put_object_acl(b, key, sec, canned=None, grants=None, **kw):
    p = {"bucketName": b, "Host": host(b), "key": key, "acl": ""}
    if canned:
        p["x-amz-acl"] = canned
    for h, v in (grants or {}).items():
        p[h] = v
    return rec("PutObjectAcl", sec, p, bucket=b, key=key, data=True, **kw)


def object_write(name, b, key, sec, headers=None, **kw):
    p = {"bucketName": b, "Host": host(b), "key": key}
    if name == "CreateMultipartUpload":
        p["uploads"] = ""
    if name == "CopyObject":
        p["x-amz-copy-source"] = "%s/staging/%s" % (b, key)
    p.update(headers or {})
    return rec(name, sec, p, bucket=b, key=key, data=True, **kw)


def put_tagging(b, sec, tags, **kw):
    tagl = [{"Key": k, "Value": v} for k, v in tags]
    return rec("PutBucketTagging", sec, {"bucketName": b, "Host": host(b), "tagging": "",
                                         "Tagging": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                                                     "TagSet": {"Tag": tagl[0] if len(tagl) == 1 else tagl}}}, bucket=b, **kw)


def delete_tagging(b, sec, **kw):
    return rec("DeleteBucketTagging", sec, {"bucketName": b, "Host": host(b), "tagging": ""}, bucket=b, **kw)


def website(b, sec, on=True):
    if on:
        return rec("PutBucketWebsite", sec, {"bucketName": b, "Host": host(b), "website": "",
                                             "WebsiteConfiguration": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                                                                      "IndexDocument": {"Suffix": "index.html"}}}, bucket=b)
    return rec("DeleteBucketWebsite", sec, {"bucketName": b, "Host": host(b), "website": ""}, bucket=b)


def create_access_point(account, name, b, sec, **flags):
    return rec("CreateAccessPoint", sec, {"name": name, "accountId": account,
                                          "CreateAccessPointRequest": {"xmlns": "http://awss3control.amazonaws.com/doc/2018-08-20/",
                                                                       "Bucket": b,
                                                                       "PublicAccessBlockConfiguration": pab_cfg(**flags)}},
               source="s3-control.amazonaws.com", account=account, tag="ap-create-%s-%d" % (name, sec))


def put_access_point_policy(account, name, sec, doc):
    return rec("PutAccessPointPolicy", sec, {"name": name, "accountId": account,
                                             "PutAccessPointPolicyRequest": {"xmlns": "http://awss3control.amazonaws.com/doc/2018-08-20/",
                                                                             "Policy": json.dumps(doc)}},
               source="s3-control.amazonaws.com", account=account, tag="ap-policy-%s-%d" % (name, sec))


def delete_access_point_policy(account, name, sec):
    return rec("DeleteAccessPointPolicy", sec, {"name": name, "accountId": account},
               source="s3-control.amazonaws.com", account=account, tag="ap-delpolicy-%s-%d" % (name, sec))


def noise(service, name, sec, params=None, account=ACCT):
    r = rec(name, sec, params, source=service, account=account, tag="noise-%s-%s-%d" % (service, name, sec))
    del r["additionalEventData"]
    r["readOnly"] = True
    r["resources"] = []
    return r


def s3_read(name, b, sec, key=None):
    p = {"bucketName": b, "Host": host(b)}
    if key:
        p["key"] = key
    r = rec(name, sec, p, bucket=b, key=key, data=True)
    r["readOnly"] = True
    return r


def eventbridge(r, detail_type="AWS API Call via CloudTrail"):
    return {"version": "0", "id": str(uuid.uuid5(NS, "eb-" + r.get("eventID") or r.get("eventTime", "x"))), "detail-type": detail_type,
            "source": "aws.s3" if r["eventSource"].startswith("s3") else "aws." + r["eventSource"].split(".")[0],
            "account": r["recipientAccountId"], "time": r.get("eventTime", "2024-05-01T12:00:00Z"), "region": r["awsRegion"], "resources": [], "detail": r}


# -- expected lines ------------------------------------------------------------------------------

def L(r, bucket="same", key=None, exposure="not_public", transition="unchanged", action="none", reasons=(), note=None,
      warnings=None):
    if bucket == "same":
        bucket = (r.get("requestParameters") or {}).get("bucketName")
    line = {"event_id": r.get("eventID"), "event_time": r["eventTime"], "event_name": r["eventName"],
            "account": r["recipientAccountId"], "region": r["awsRegion"], "bucket": bucket, "key": key,
            "exposure": exposure, "transition": transition, "action": action, "reasons": list(reasons), "note": note}
    if warnings:
        line["warnings"] = list(warnings)
    return line


def PUB(r, reasons, transition="became_public", action="remediate", note="assumed", **kw):
    return L(r, exposure="public", transition=transition, action=action if transition == "became_public" else "none",
             reasons=reasons, note=note, **kw)


SCENARIOS = []


def scenario(name, about, records, expected, form="log", config=None, args=None):
    SCENARIOS.append((name, about, records, expected, form, config, args))


def write_all():
    for entry in sorted(os.listdir(HERE)):
        d = os.path.join(HERE, entry)
        if os.path.isdir(d) and entry[:2].isdigit():
            shutil.rmtree(d)
    for name, about, records, expected, form, config, args in SCENARIOS:
        d = os.path.join(HERE, name)
        os.makedirs(d)
        if form == "log":
            with open(os.path.join(d, "events.json"), "w") as f:
                json.dump({"Records": records}, f, separators=(",", ":"))
        elif form == "gz":
            with gzip.open(os.path.join(d, "events.json.gz"), "wt") as f:
                json.dump({"Records": records}, f, separators=(",", ":"))
        elif form == "jsonl":
            with open(os.path.join(d, "events.jsonl"), "w") as f:
                for r in records:
                    f.write((r if isinstance(r, str) else json.dumps(r, separators=(",", ":"))) + "\n")
        elif form == "array":
            with open(os.path.join(d, "events.json"), "w") as f:
                json.dump(records, f, indent=2)
        with open(os.path.join(d, "expected.transcript"), "w") as f:
            for line in expected:
                f.write(json.dumps(line, separators=(",", ":")) + "\n")
        if config:
            with open(os.path.join(d, "config.toml"), "w") as f:
                f.write(config)
        if args:
            with open(os.path.join(d, "args"), "w") as f:
                f.write(args + "\n")
        with open(os.path.join(d, "README.md"), "w") as f:
            f.write("# %s\n\n%s\n" % (name, about.strip()))


# ================================================================================================
# The scenarios. Account block is unknown unless a scenario sets it, so a public ACL on a bucket
# whose own block is known off is public "assuming IgnorePublicAcls is off at the account".
# ================================================================================================

A_ACL = "assumed:IgnorePublicAcls-off@account"
A_POL = "assumed:RestrictPublicBuckets-off@account"

# 01 -------------------------------------------------------------------------------------------
b = "f01-data"
r = [create_bucket(b, 0)]
scenario("01-create-bucket-defaults",
         "CreateBucket without headers gets the post-April-2023 defaults (docs/DESIGN.md §3): every block flag on, "
         "BucketOwnerEnforced, private ACL, no policy. Everything about the bucket is known, so nothing is assumed.",
         r, [L(r[0])])

# 02 -------------------------------------------------------------------------------------------
b = "f02-site"
r = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 1), put_acl(b, 2, canned=["public-read"])]
scenario("02-tutorial-public-acl",
         "The tutorial path to a public bucket: ACLs enabled at creation (ObjectWriter), the bucket's block deleted, "
         "then `put-bucket-acl --acl public-read` (canned ACL as a one-element array, `\"acl\":[\"\"]` marker). "
         "AllUsers READ is public (S3 User Guide, \"The meaning of public\"); the account block was never seen, so it is assumed off.",
         r, [L(r[0]), L(r[1]), PUB(r[2], ["acl:AllUsers:READ", A_ACL])])

# 03 -------------------------------------------------------------------------------------------
b = "f03-grants"
r = [create_bucket(b, 0, ownership="BucketOwnerPreferred"), put_pab(b, 1),
     put_acl(b, 2, grants={"x-amz-grant-read": "id=\"%s\", uri=\"http://acs.amazonaws.com/groups/global/AuthenticatedUsers\"" % OWNER,
                           "x-amz-grant-full-control": "id=\"%s\"" % OWNER}),
     put_acl(b, 3, grants={"x-amz-grant-write": ["uri=\"http://acs.amazonaws.com/groups/s3/LogDelivery\""],
                           "x-amz-grant-read-acp": "uri=\"http://acs.amazonaws.com/groups/s3/LogDelivery\""})]
r[2]["requestParameters"]["host"] = [host(b)]
del r[2]["requestParameters"]["Host"]
scenario("03-header-grants",
         "ACLs set with x-amz-grant-* headers: a comma-separated list giving AuthenticatedUsers READ (public: any AWS account "
         "holder), then grants to the LogDelivery group only (not public). The bucket's block is put with all four flags false. "
         "Also the older `host` array quirk.",
         r, [L(r[0]), L(r[1]), PUB(r[2], ["acl:AuthenticatedUsers:READ", A_ACL]),
             L(r[3], transition="became_not_public")])

# 04 -------------------------------------------------------------------------------------------
b = "f04-xml"
r = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 1),
     put_acl(b, 2, body=acl_body(("group", "global/AllUsers", "READ_ACP")), marker=""),
     put_acl(b, 3, body=acl_body(("user", OWNER, "FULL_CONTROL"), ("group", "s3/LogDelivery", "WRITE"), ("group", "s3/LogDelivery", "READ_ACP")))]
scenario("04-acl-xml-body",
         "ACLs set with an AccessControlPolicy body as CloudTrail converts the XML: one Grant is an object (AllUsers READ_ACP: "
         "public, any permission counts), several Grants are an array (owner + LogDelivery only: not public). `\"acl\":\"\"` marker form.",
         r, [L(r[0]), L(r[1]), PUB(r[2], ["acl:AllUsers:READ_ACP", A_ACL]), L(r[3], transition="became_not_public")])

# 05 -------------------------------------------------------------------------------------------
b = "f05-canned"
r = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 1),
     put_acl(b, 2, canned="log-delivery-write"), put_acl(b, 3, canned=["bucket-owner-full-control"]),
     put_acl(b, 4, canned=["authenticated-read"]), put_acl(b, 5, canned=["public-read-write"]), put_acl(b, 6, canned="private")]
scenario("05-canned-acls",
         "Canned ACLs by the S3 documentation: log-delivery-write and bucket-owner-full-control are not public; "
         "authenticated-read (AuthenticatedUsers) and public-read-write (AllUsers READ and WRITE) are; private closes it again.",
         r, [L(r[0]), L(r[1]), L(r[2]), L(r[3]),
             PUB(r[4], ["acl:AuthenticatedUsers:READ", A_ACL]),
             PUB(r[5], ["acl:AllUsers:READ", "acl:AllUsers:WRITE", A_ACL], transition="unchanged"),
             L(r[6], transition="became_not_public")])

# 06 -------------------------------------------------------------------------------------------
b = "f06-ownership"
r = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 1), put_acl(b, 2, canned=["public-read"]),
     put_ownership(b, 3, "BucketOwnerEnforced"), delete_ownership(b, 4)]
scenario("06-ownership-controls",
         "BucketOwnerEnforced disables ACLs, so a stored public ACL stops counting (became_not_public, the finding is shown "
         "as ignored-by:BucketOwnerEnforced); deleting the ownership controls restores ObjectWriter and the stored ACL applies again.",
         r, [L(r[0]), L(r[1]), PUB(r[2], ["acl:AllUsers:READ", A_ACL]),
             L(r[3], transition="became_not_public", reasons=["acl:AllUsers:READ:ignored-by:BucketOwnerEnforced"], note="masked"),
             PUB(r[4], ["acl:AllUsers:READ", A_ACL])])

# 07 -------------------------------------------------------------------------------------------
b = "f07-ignore"
open_pol = policy(stmt("Public", "*"))
r = [create_bucket(b, 0, ownership="ObjectWriter"), put_pab(b, 1, ipa=True), put_acl(b, 2, canned=["public-read"]),
     put_policy(b, 3, open_pol)]
scenario("07-ignore-public-acls-only-covers-acls",
         "IgnorePublicAcls on the bucket makes a public ACL ineffective (not public, shown ignored-by:IgnorePublicAcls@bucket; "
         "note masked, since the protection is known only from an event) "
         "but does nothing to a public policy: Principal \"*\" makes the bucket public (RestrictPublicBuckets is off on the bucket "
         "and assumed off on the account).",
         r, [L(r[0]), L(r[1]), L(r[2], reasons=["acl:AllUsers:READ:ignored-by:IgnorePublicAcls@bucket"], note="masked"),
             PUB(r[3], ["acl:AllUsers:READ:ignored-by:IgnorePublicAcls@bucket", "policy:Public:principal-*", A_POL])])

# 08 -------------------------------------------------------------------------------------------
b = "f08-restrict"
pol = policy(stmt("S1", {"AWS": "*"}))
r = [create_bucket(b, 0), put_pab(b, 1, rpb=True), put_policy(b, 2, pol), put_pab(b, 3)]
scenario("08-restrict-public-buckets",
         "RestrictPublicBuckets makes a public bucket policy ineffective ({\"AWS\":\"*\"} principal, shown restricted-by); "
         "turning the flag off exposes it. BucketOwnerEnforced from CreateBucket is irrelevant to policies.",
         r, [L(r[0]), L(r[1]), L(r[2], reasons=["policy:S1:principal-*:restricted-by:RestrictPublicBuckets@bucket"], note="masked"),
             PUB(r[3], ["policy:S1:principal-*", A_POL])])

# 09 -------------------------------------------------------------------------------------------
b = "f09-fixed"
fixed = policy(
    stmt("Account", {"AWS": "arn:aws:iam::111122223333:root"}, action="s3:*"),
    stmt("Roles", {"AWS": ["444455556666", "arn:aws:iam::444455556666:role/reader"]}),
    stmt("CloudTrail", {"Service": "cloudtrail.amazonaws.com"}, action="s3:PutObject"),
    stmt("OAI", {"CanonicalUser": OWNER}),
)
deny = policy(stmt("DenyInsecure", "*", {"Bool": {"aws:SecureTransport": "false"}}, effect="Deny", action="s3:*"),
              stmt("Account", {"AWS": "arn:aws:iam::111122223333:root"}, action="s3:*"))
r = [create_bucket(b, 0), delete_pab(b, 1), put_policy(b, 2, fixed), put_policy(b, 3, deny, as_string=True)]
scenario("09-policy-fixed-principals",
         "Policies that grant only to fixed principals (an account root, account ids and role ARNs, a service principal, "
         "a canonical user) are not public; a Deny with Principal \"*\" grants nothing. The second policy is recorded as a "
         "string holding JSON (a CloudTrail quirk).",
         r, [L(r[0]), L(r[1]), L(r[2]), L(r[3])])

# 10 -------------------------------------------------------------------------------------------
b = "f10-wild"
r = [create_bucket(b, 0), delete_pab(b, 1),
     put_policy(b, 2, policy(stmt("Wild", {"AWS": "arn:aws:iam::*:root"}))),
     put_policy(b, 3, policy(stmt("Var", {"AWS": "arn:aws:iam::${aws:PrincipalAccount}:root"}))),
     put_policy(b, 4, policy(stmt(None, {"AWS": "arn:aws:iam::111122223333:user/bob"}, notprincipal=True))),
     delete_policy(b, 5)]
scenario("10-policy-wildcards-variables-notprincipal",
         "Principals are fixed only without wildcards or policy variables: `arn:aws:iam::*:root` and "
         "`${aws:PrincipalAccount}` are public; Allow with NotPrincipal grants to everyone else (public; the statement has no "
         "Sid so it is named #1). Deleting the policy closes the bucket.",
         r, [L(r[0]), L(r[1]), PUB(r[2], ["policy:Wild:principal-wildcard", A_POL]),
             PUB(r[3], ["policy:Var:principal-variable", A_POL], transition="unchanged"),
             PUB(r[4], ["policy:#1:notprincipal", A_POL], transition="unchanged"),
             L(r[5], transition="became_not_public")])

# 11 -------------------------------------------------------------------------------------------
b = "f11-cond"
conds = [
    {"IpAddress": {"aws:SourceIp": "54.240.0.0/8"}},
    {"ArnEquals": {"aws:SourceArn": "arn:aws:cloudfront::111122223333:distribution/EDFDVBD6EXAMPLE"}},
    {"StringEquals": {"aws:SourceVpc": "vpc-1a2b3c4d"}},
    {"StringEquals": {"aws:SourceVpce": ["vpce-1a2b3c4d", "vpce-5e6f7a8b"]}},
    {"StringEquals": {"aws:SourceOwner": "111122223333"}},
    {"StringEquals": {"aws:SourceAccount": "111122223333"}},
    {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
    {"StringEquals": {"aws:PrincipalAccount": ["111122223333"]}},
    {"StringEquals": {"aws:userid": "AIDAEXAMPLEALICE"}},
    {"StringEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}},
    {"ArnLike": {"s3:DataAccessPointArn": "arn:aws:s3:us-east-1:111122223333:accesspoint/f11-ap"}},
    {"StringEquals": {"s3:DataAccessPointAccount": "111122223333"}},
    {"Bool": {"aws:SecureTransport": "true"}, "IpAddress": {"aws:SourceIp": ["172.16.0.0/12", "192.168.0.0/16"]}},
]
r = [create_bucket(b, 0), delete_pab(b, 1)] + [put_policy(b, 2 + i, policy(stmt("S1", "*", c))) for i, c in enumerate(conds)]
scenario("11-policy-restricting-conditions",
         "Principal \"*\" with one fixed restricting condition is not public, for every condition key AWS lists: aws:SourceIp "
         "no broader than /8, aws:SourceArn, aws:SourceVpc, aws:SourceVpce, aws:SourceOwner, aws:SourceAccount, "
         "aws:PrincipalOrgID, aws:PrincipalAccount (not in AWS's list: a decision, docs/REASONS.md), aws:userid, s3:x-amz-server-side-encryption-aws-kms-key-id, "
         "s3:DataAccessPointArn, s3:DataAccessPointAccount; conditions are ANDed, and RFC 1918 ranges broader than /8 are allowed.",
         r, [L(x) for x in r])

# 12 -------------------------------------------------------------------------------------------
b = "f12-open"
seq = [
    {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
    {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}},
    {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}},
    {"IpAddress": {"aws:SourceIp": "172.16.0.0/12"}},
    {"IpAddress": {"aws:SourceIp": "54.0.0.0/7"}},
    {"IpAddress": {"aws:SourceIp": "2001:db8::/32"}},
    {"IpAddress": {"aws:SourceIp": "2001:db8::/31"}},
    {"StringLike": {"aws:userid": "AROAEXAMPLEROLEID:*"}},
    {"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1a2b3c4d"}},
    {"Bool": {"aws:SecureTransport": "true"}},
]
r = [create_bucket(b, 0), delete_pab(b, 1)] + [put_policy(b, 2 + i, policy(stmt("S1", "*", c))) for i, c in enumerate(seq)]
P = ["policy:S1:principal-*", A_POL]
scenario("12-policy-conditions-that-do-not-restrict",
         "Conditions that leave Principal \"*\" public: negated operators (NotIpAddress, StringNotEquals), 0.0.0.0/0, a /7, "
         "an IPv6 /31, aws:userid AROA…:*, …IfExists (true when the key is absent) and Bool. In between, 172.16.0.0/12 (RFC 1918) "
         "and an IPv6 /32 do restrict, so the bucket closes and reopens.",
         r, [L(r[0]), L(r[1]), PUB(r[2], P), PUB(r[3], P, transition="unchanged"), PUB(r[4], P, transition="unchanged"),
             L(r[5], transition="became_not_public"), PUB(r[6], P), L(r[7], transition="became_not_public"), PUB(r[8], P),
             PUB(r[9], P, transition="unchanged"), PUB(r[10], P, transition="unchanged"), PUB(r[11], P, transition="unchanged")])

# 13 -------------------------------------------------------------------------------------------
acct = "222233334444"
a, bb, c = "f13-acl", "f13-policy", "f13-private"
r = [create_bucket(a, 0, ownership="ObjectWriter", account=acct), delete_pab(a, 1, account=acct),
     put_acl(a, 2, canned=["public-read"], account=acct),
     create_bucket(bb, 3, account=acct), delete_pab(bb, 4, account=acct), put_policy(bb, 5, policy(stmt("S1", "*")), account=acct),
     create_bucket(c, 6, account=acct),
     put_account_pab(acct, 7, bpa=True, ipa=True, bpp=True, rpb=True),
     delete_account_pab(acct, 8, source="s3.amazonaws.com")]
scenario("13-account-block-reevaluates-buckets",
         "The account-level block (PutAccountPublicAccessBlock from s3-control, DeleteAccountPublicAccessBlock recorded by s3) "
         "re-evaluates every known bucket of the account: one line per bucket, in name order. Each flag is ORed across account "
         "and bucket, so the account's IgnorePublicAcls/RestrictPublicBuckets close both public buckets and deleting it "
         "reopens them, now with nothing assumed.",
         r, [L(r[0]), L(r[1]), PUB(r[2], ["acl:AllUsers:READ", A_ACL]), L(r[3]), L(r[4]), PUB(r[5], ["policy:S1:principal-*", A_POL]),
             L(r[6]),
             L(r[7], bucket=a, transition="became_not_public", reasons=["acl:AllUsers:READ:ignored-by:IgnorePublicAcls@account"], note="masked"),
             L(r[7], bucket=bb, transition="became_not_public", reasons=["policy:S1:principal-*:restricted-by:RestrictPublicBuckets@account"], note="masked"),
             L(r[7], bucket=c),
             PUB(r[8], ["acl:AllUsers:READ"], bucket=a, note=None),
             PUB(r[8], ["policy:S1:principal-*"], bucket=bb, note=None),
             L(r[8], bucket=c)])

# 14 -------------------------------------------------------------------------------------------
acct = "333344445555"
r = [put_account_pab(acct, 0, bpa=True, ipa=True, bpp=True, rpb=True),
     delete_account_pab(acct, 1, error="AccessDenied", message="User is not authorized to perform: s3:PutAccountPublicAccessBlock")]
scenario("14-account-block-without-known-buckets",
         "An account-level event for an account with no known bucket yields one line with bucket null; a failed one is "
         "marked failed_call.",
         r, [L(r[0], bucket=None), L(r[1], bucket=None, note="failed_call")])

# 15 -------------------------------------------------------------------------------------------
b = "f15-failed"
r = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 1),
     put_acl(b, 2, canned=["public-read"], error="AccessDenied", message="Access Denied"),
     rec("PutBucketPolicy", 3, {"bucketName": b, "Host": host(b), "policy": [""], "bucketPolicy": "{not json"}, bucket=b,
         error="MalformedPolicy", message="Policies must be valid JSON and the first byte must be '{'"),
     put_acl(b, 4, canned=["public-read"], error="")]
scenario("15-failed-calls",
         "Calls with an errorCode change nothing (note failed_call), even when their parameters would make the bucket public or "
         "cannot be parsed; `\"errorCode\": \"\"` means success.",
         r, [L(r[0]), L(r[1]), L(r[2], note="failed_call"), L(r[3], note="failed_call"), PUB(r[4], ["acl:AllUsers:READ", A_ACL])])

# 16 -------------------------------------------------------------------------------------------
b = "f16-dupes"
pub = put_acl(b, 2, canned=["public-read"], tag="f16-public")
r = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 1), pub, copy.deepcopy(pub), put_acl(b, 4, canned=["private"]),
     copy.deepcopy(pub)]
scenario("16-duplicate-event-ids",
         "The same eventID delivered twice is applied once: the repeat is marked duplicate and shows the current exposure; "
         "after the bucket is made private the old public event arriving again changes nothing.",
         r, [L(r[0]), L(r[1]), PUB(r[2], ["acl:AllUsers:READ", A_ACL]),
             L(r[3], exposure="public", reasons=["acl:AllUsers:READ", A_ACL], note="duplicate"),
             L(r[4], transition="became_not_public"), L(r[5], note="duplicate")])

# 17 -------------------------------------------------------------------------------------------
b = "f17-stale"
r = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 10), put_acl(b, 20, canned=["private"]),
     put_acl(b, 15, canned=["public-read"]), put_pab(b, 5, bpa=True, ipa=True, bpp=True, rpb=True), put_acl(b, 30, canned=["public-read"])]
scenario("17-stale-events",
         "Events are applied in stream order, but one whose eventTime is older than the last applied change of the same "
         "component does not overwrite it: a public-read from 12:00:15 arriving after a private ACL from 12:00:20 is stale, and "
         "so is a block from 12:00:05 arriving after the block was deleted at 12:00:10. A newer public-read then applies.",
         r, [L(r[0]), L(r[1]), L(r[2]), L(r[3], note="stale"), L(r[4], note="stale"), PUB(r[5], ["acl:AllUsers:READ", A_ACL])])

# 18 -------------------------------------------------------------------------------------------
b = "f18-legacy"
r = [put_acl(b, 0, canned=["public-read"]), put_tagging(b, 1, [("team", "web")])]
MID = ["acl:AllUsers:READ", "assumed:ownership-acls-enabled", A_ACL, "assumed:IgnorePublicAcls-off@bucket", "assumed:policy-absent"]
scenario("18-mid-history-public-acl",
         "A replay that starts mid-history: the first event for the bucket sets public-read. Its ownership and block flags are "
         "unknown and assumed off (a successful public-read also proves BlockPublicAcls off), its policy unknown and assumed "
         "absent; each assumption is named and the note is `assumed`.",
         r, [PUB(r[0], MID), PUB(r[1], MID, transition="unchanged")])

# 19 -------------------------------------------------------------------------------------------
b = "f19-unknown"
r = [delete_pab(b, 0), put_pab(b, 1, bpa=True, ipa=True, bpp=True, rpb=True)]
scenario("19-mid-history-unknown-grants",
         "A bucket first seen when its block is deleted: its ACL and policy are unknown and assumed absent, so it is judged "
         "not public on those assumptions (the live consumer settles them by reading S3). Once the block is fully on, the "
         "unknown grants no longer matter and nothing is assumed.",
         r, [L(r[0], reasons=["assumed:acl-no-public-grants", "assumed:policy-absent"], note="assumed"), L(r[1])])

# 20 -------------------------------------------------------------------------------------------
b = "f20-objects"
k = "reports/2024/q1.csv"
r = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 1), put_object_acl(b, k, 2, canned="public-read"),
     put_object_acl(b, k, 3, canned="private")]
scenario("20-object-acl",
         "PutObjectAcl (a data event) makes one object public: the line names the key; the bucket itself is unchanged so it "
         "gets no line. Resetting the object's ACL to private closes it.",
         r, [L(r[0]), L(r[1]), PUB(r[2], ["acl:AllUsers:READ", A_ACL], key=k), L(r[3], key=k, transition="became_not_public")])

# 21 -------------------------------------------------------------------------------------------
b = "f21-writes"
r = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 1),
     object_write("PutObject", b, "plain.txt", 2),
     object_write("PutObject", b, "a.txt", 3, {"x-amz-acl": "public-read"}),
     object_write("CopyObject", b, "b.txt", 4, {"x-amz-grant-read": "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""}),
     object_write("CreateMultipartUpload", b, "c.bin", 5, {"x-amz-acl": ["authenticated-read"]}),
     object_write("PutObject", b, "d.txt", 6, {"x-amz-acl": "bucket-owner-full-control"}),
     put_pab(b, 7, bpa=True, ipa=True, bpp=True, rpb=True)]
scenario("21-object-writes-with-acls",
         "PutObject, CopyObject and CreateMultipartUpload matter only when they carry an ACL (a PutObject without one is "
         "skipped, not a line). Turning the bucket's block fully on neutralises every public object ACL: the bucket line, then "
         "one line per object whose exposure changed, in key order.",
         r, [L(r[0]), L(r[1]),
             PUB(r[3], ["acl:AllUsers:READ", A_ACL], key="a.txt"),
             PUB(r[4], ["acl:AllUsers:READ", A_ACL], key="b.txt"),
             PUB(r[5], ["acl:AuthenticatedUsers:READ", A_ACL], key="c.bin"),
             L(r[6], key="d.txt"),
             L(r[7]),
             L(r[7], key="a.txt", transition="became_not_public", reasons=["acl:AllUsers:READ:ignored-by:IgnorePublicAcls@bucket"], note="masked"),
             L(r[7], key="b.txt", transition="became_not_public", reasons=["acl:AllUsers:READ:ignored-by:IgnorePublicAcls@bucket"], note="masked"),
             L(r[7], key="c.bin", transition="became_not_public", reasons=["acl:AuthenticatedUsers:READ:ignored-by:IgnorePublicAcls@bucket"], note="masked")])

# 22 -------------------------------------------------------------------------------------------
b = "f22-reexposed"
k = "img/logo.png"
r = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 1), put_object_acl(b, k, 2, canned="public-read"),
     put_pab(b, 3, ipa=True), delete_pab(b, 4)]
scenario("22-object-reexposed-by-bucket-block",
         "An object's public ACL counts only under its bucket's ACL conditions: IgnorePublicAcls on the bucket hides it "
         "(object line became_not_public), deleting the block exposes it again — a bucket-level event that makes an object "
         "public is remediated like any other.",
         r, [L(r[0]), L(r[1]), PUB(r[2], ["acl:AllUsers:READ", A_ACL], key=k),
             L(r[3]), L(r[3], key=k, transition="became_not_public", reasons=["acl:AllUsers:READ:ignored-by:IgnorePublicAcls@bucket"], note="masked"),
             L(r[4]), PUB(r[4], ["acl:AllUsers:READ", A_ACL], key=k)])

# 23 -------------------------------------------------------------------------------------------
b, o = "f23-tagged", "f23-untagged"
r = [create_bucket(b, 0, ownership="ObjectWriter"), put_tagging(b, 1, [("bucketwarden:allow-public", "true")]),
     delete_pab(b, 2), put_acl(b, 3, canned=["public-read"]),
     create_bucket(o, 4, ownership="ObjectWriter"), put_tagging(o, 5, [("bucketwarden:allow-public", "false"), ("team", "data")]),
     delete_pab(o, 6), put_acl(o, 7, canned=["public-read"]),
     delete_tagging(b, 8), put_acl(b, 9, canned=["private"]), put_acl(b, 10, canned=["public-read"])]
scenario("23-exemption-by-tag",
         "Exemptions from the config file: a bucket carrying the tag bucketwarden:allow-public=true (from PutBucketTagging, "
         "one Tag as an object) is alerted, not remediated; the same key with another value does not exempt. Once the tag is "
         "deleted the bucket is remediated again.",
         r, [L(r[0]), L(r[1]), L(r[2]), PUB(r[3], ["acl:AllUsers:READ", A_ACL], action="alert"),
             L(r[4]), L(r[5]), L(r[6]), PUB(r[7], ["acl:AllUsers:READ", A_ACL]),
             PUB(r[8], ["acl:AllUsers:READ", A_ACL], transition="unchanged"), L(r[9], transition="became_not_public"),
             PUB(r[10], ["acl:AllUsers:READ", A_ACL])],
         config='[exemptions]\ntags = { "bucketwarden:allow-public" = "true" }\n')

# 24 -------------------------------------------------------------------------------------------
b, o = "f24-public-site-www", "f24-public-sitex"
r = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 1), put_acl(b, 2, canned=["public-read"]),
     create_bucket(o, 3, ownership="ObjectWriter"), delete_pab(o, 4), put_acl(o, 5, canned=["public-read"])]
scenario("24-exemption-by-name-glob",
         "Exemption by a glob on the bucket name: `f24-public-site-*` matches f24-public-site-www (alert) but not "
         "f24-public-sitex (remediate).",
         r, [L(r[0]), L(r[1]), PUB(r[2], ["acl:AllUsers:READ", A_ACL], action="alert"),
             L(r[3]), L(r[4]), PUB(r[5], ["acl:AllUsers:READ", A_ACL])],
         config='[exemptions]\nbuckets = ["f24-public-site-*"]\n')

# 25 -------------------------------------------------------------------------------------------
b = "f25-dry"
r = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 1), put_acl(b, 2, canned=["public-read"])]
scenario("25-dry-run-flag", "With `--dry-run` a transition to public is alerted, never remediated.",
         r, [L(r[0]), L(r[1]), PUB(r[2], ["acl:AllUsers:READ", A_ACL], action="alert")], args="--dry-run")

# 26 -------------------------------------------------------------------------------------------
b = "f26-dryconf"
r = [create_bucket(b, 0), delete_pab(b, 1), put_policy(b, 2, policy(stmt("Read", "*")))]
scenario("26-dry-run-config", "`[remediation] mode = \"dry-run\"` in the config file has the same effect as --dry-run.",
         r, [L(r[0]), L(r[1]), PUB(r[2], ["policy:Read:principal-*", A_POL], action="alert")],
         config='[remediation]\nmode = "dry-run"\n')

# 27 -------------------------------------------------------------------------------------------
acct = "444455556666"
b = "f27-data"
ap_pol = policy(stmt("S1", "*", resource="arn:aws:s3:us-east-1:444455556666:accesspoint/f27-ap/object/*"))
r = [create_bucket(b, 0, account=acct), delete_pab(b, 1, account=acct), create_access_point(acct, "f27-ap", b, 2),
     put_access_point_policy(acct, "f27-ap", 3, ap_pol), delete_access_point_policy(acct, "f27-ap", 4),
     put_access_point_policy(acct, "f27-legacy-ap", 5, ap_pol),
     create_access_point(acct, "f27-vpc-ap", b, 6), put_access_point_policy(acct, "f27-vpc-ap", 7, ap_pol)]
r[2]["requestParameters"]["CreateAccessPointRequest"]["Bucket"] = b
r[6]["requestParameters"]["CreateAccessPointRequest"]["Bucket"] = b
r[6]["requestParameters"]["CreateAccessPointRequest"]["VpcConfiguration"] = {"VpcId": "vpc-1a2b3c4d"}
scenario("27-access-points",
         "Access points (s3-control): CreateAccessPoint ties the access point to its bucket; PutAccessPointPolicy names only the "
         "access point, and a public access-point policy exposes the bucket through it (same policy rules; RestrictPublicBuckets "
         "ORed across account, bucket and access point). An access point whose creation predates the history has no known "
         "bucket: its line has bucket null and everything about it is assumed, its network origin (Internet) included. "
         "An access point created with a VpcConfiguration has a VPC network origin and \"is always considered non-public, "
         "regardless of the contents of its access point policy\" (S3 User Guide): its public policy is shown restricted-by "
         "NetworkOrigin-VPC, and the line is marked masked: the network origin is known only from an event, so the live "
         "worker verifies it against S3 (docs/SECURITY.md).",
         r, [L(r[0]), L(r[1]), L(r[2], bucket=b),
             PUB(r[3], ["access-point:f27-ap:policy:S1:principal-*", A_POL], bucket=b),
             L(r[4], bucket=b, transition="became_not_public"),
             PUB(r[5], ["access-point:f27-legacy-ap:policy:S1:principal-*", A_POL, "assumed:RestrictPublicBuckets-off@bucket",
                        "assumed:RestrictPublicBuckets-off@access-point:f27-legacy-ap",
                        "assumed:NetworkOrigin-Internet@access-point:f27-legacy-ap"], bucket=None),
             L(r[6], bucket=b),
             L(r[7], bucket=b, reasons=["access-point:f27-vpc-ap:policy:S1:principal-*:restricted-by:NetworkOrigin-VPC@access-point"], note="masked")])

# 28 -------------------------------------------------------------------------------------------
b = "f28-site"
r = [create_bucket(b, 0), website(b, 1), website(b, 2, on=False)]
scenario("28-website-events", "PutBucketWebsite / DeleteBucketWebsite are recorded for context and change no exposure by themselves.",
         r, [L(r[0]), L(r[1]), L(r[2])])

# 29 -------------------------------------------------------------------------------------------
b = "f29-gone"
r = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 1), put_acl(b, 2, canned=["public-read"]),
     delete_bucket(b, 10), put_policy(b, 5, policy(stmt("S1", "*"))), create_bucket(b, 20)]
scenario("29-delete-bucket",
         "DeleteBucket forgets the bucket's state (it is no longer public); an older event for it arriving afterwards is "
         "stale; a new CreateBucket with the same name starts from the defaults.",
         r, [L(r[0]), L(r[1]), PUB(r[2], ["acl:AllUsers:READ", A_ACL]), L(r[3], transition="became_not_public"),
             L(r[4], note="stale"), L(r[5])])

# 30 -------------------------------------------------------------------------------------------
b = "f30-noise"
watched = put_acl(b, 9, canned=["public-read"])
svc_event = {"version": "0", "id": str(uuid.uuid5(NS, "svc")), "detail-type": "AWS Service Event via CloudTrail",
             "source": "aws.s3", "account": ACCT, "time": t(1), "region": "us-east-1", "resources": [],
             "detail": {"eventVersion": "1.08", "eventTime": t(1), "eventSource": "s3.amazonaws.com", "eventName": "PutBucketLifecycle",
                        "awsRegion": "us-east-1", "eventType": "AwsServiceEvent", "recipientAccountId": ACCT, "eventID": eid("svc-detail")}}
r = [eventbridge(noise("ec2.amazonaws.com", "DescribeInstances", 0, {"instancesSet": {}, "filterSet": {}})),
     svc_event,
     eventbridge(noise("iam.amazonaws.com", "GetRole", 2, {"roleName": "app"})),
     eventbridge(noise("sts.amazonaws.com", "AssumeRole", 3, {"roleArn": "arn:aws:iam::111122223333:role/app", "roleSessionName": "s"})),
     eventbridge(s3_read("GetObject", b, 4, key="index.html")),
     eventbridge(s3_read("ListObjects", b, 5)),
     eventbridge(noise("kms.amazonaws.com", "Decrypt", 6, None)),
     eventbridge(watched)]
scenario("30-noise-from-other-services",
         "EventBridge events as JSON Lines: EC2, IAM, STS and KMS calls, S3 reads (GetObject, ListObjects) and an "
         "\"AWS Service Event via CloudTrail\" are skipped and counted, not reported; only the watched S3 call yields a line.",
         r, [PUB(watched, MID)], form="jsonl")

# 31 -------------------------------------------------------------------------------------------
b = "f31-malformed"
c0 = create_bucket(b, 0, ownership="ObjectWriter")
no_time = put_acl(b, 2, canned=["public-read"])
del no_time["eventTime"]
ok = delete_pab(b, 3)
no_time_at_all = eventbridge(no_time)
del no_time_at_all["time"]
r = [json.dumps(eventbridge(c0), separators=(",", ":")),
     json.dumps(eventbridge(put_acl(b, 1, canned=["public-read"])))[:180],
     json.dumps(no_time_at_all, separators=(",", ":")),
     "this line is not JSON at all",
     json.dumps(eventbridge(ok), separators=(",", ":"))]
scenario("31-malformed-input",
         "Bad input never stops a replay: a truncated line, a record without any time (no eventTime, and its EventBridge "
         "envelope has no `time` to fall back on) and a line that is not JSON are "
         "reported with file and position and counted as malformed; the valid events around them are processed.",
         r, [L(c0), L(ok)], form="jsonl")

# 32 -------------------------------------------------------------------------------------------
b = "f32-gzip"
p32 = put_policy(b, 0, policy(stmt("S1", {"AWS": "*"})), as_string=True)
r = [p32, put_acl(b, 1, canned="public-read")]
r[1]["requestParameters"]["host"] = [host(b)]
del r[1]["requestParameters"]["Host"]
P32 = ["policy:S1:principal-*", "assumed:acl-no-public-grants", A_POL, "assumed:RestrictPublicBuckets-off@bucket"]
P32b = ["acl:AllUsers:READ", "policy:S1:principal-*", "assumed:ownership-acls-enabled", A_ACL, "assumed:IgnorePublicAcls-off@bucket",
        A_POL, "assumed:RestrictPublicBuckets-off@bucket"]
scenario("32-gzip-log-file",
         "A gzip-compressed CloudTrail log file (`.json.gz`, as S3 delivers them), mid-history: a policy given as a string with "
         "{\"AWS\":\"*\"}, then a canned ACL as a plain string with the older `host` array.",
         r, [PUB(r[0], P32), PUB(r[1], P32b, transition="unchanged")], form="gz")

# 33 -------------------------------------------------------------------------------------------
b = "f33-array"
r33 = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 1, error=""),
       put_acl(b, 2, body=acl_body(("user", OWNER, "FULL_CONTROL"), ("group", "global/AllUsers", "WRITE"),
                                   ("group", "global/AuthenticatedUsers", "FULL_CONTROL")))]
scenario("33-eventbridge-json-array",
         "A JSON array of EventBridge events (pretty-printed). An AccessControlPolicy with several grants, two of them public, "
         "gives one reason per public grant, AllUsers first.",
         [eventbridge(x) for x in r33],
         [L(r33[0]), L(r33[1]), PUB(r33[2], ["acl:AllUsers:WRITE", "acl:AuthenticatedUsers:FULL_CONTROL", A_ACL])], form="array")

# 34 -------------------------------------------------------------------------------------------
b = "f34-noid"
n1 = create_bucket(b, 0, ownership="ObjectWriter", drop_id=True)
n2 = delete_pab(b, 1, drop_id=True)
nolist = noise("s3.amazonaws.com", "ListBuckets", 2, None)
nonull = noise("sts.amazonaws.com", "GetCallerIdentity", 3, None)
del nonull["requestParameters"]
n3 = put_acl(b, 4, canned=["public-read"], drop_id=True)
r = [n1, n2, nolist, nonull, n3, copy.deepcopy(n3)]
scenario("34-missing-event-ids-and-null-parameters",
         "Records without eventID are processed (event_id null) but cannot be deduplicated, so a repeat is applied again "
         "(unchanged). requestParameters null or missing on unwatched calls is fine.",
         r, [L(n1), L(n2), PUB(n3, ["acl:AllUsers:READ", A_ACL]), PUB(n3, ["acl:AllUsers:READ", A_ACL], transition="unchanged")])

# 35 -------------------------------------------------------------------------------------------
b = "f35-created-public"
r = [create_bucket(b, 0, ownership="ObjectWriter", acl="public-read")]
scenario("35-create-bucket-public-acl",
         "CreateBucket honours x-amz-object-ownership and x-amz-acl. The default block would have BlockPublicAcls on, which "
         "makes such a call fail; a successful one therefore proves the block was off, so the bucket's other flags are unknown "
         "and assumed off, and the bucket is public.",
         r, [PUB(r[0], ["acl:AllUsers:READ", A_ACL, "assumed:IgnorePublicAcls-off@bucket"])])

# 36 -------------------------------------------------------------------------------------------
ADMIN = "arn:aws:iam::111122223333:role/platform-admin"


def as_role(r, role="platform-admin", session="jane"):
    """The record as made by a session of an IAM role (CloudTrail's AssumedRole identity)."""
    r["userIdentity"] = {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLEADMIN:" + session,
        "arn": "arn:aws:sts::%s:assumed-role/%s/%s" % (ACCT, role, session),
        "accountId": ACCT,
        "accessKeyId": "ASIAEXAMPLEADMIN",
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEADMIN",
                                             "arn": "arn:aws:iam::%s:role/%s" % (ACCT, role),
                                             "accountId": ACCT, "userName": role},
                           "attributes": {"creationDate": t(0), "mfaAuthenticated": "true"}},
    }
    return r


ALICE = "arn:aws:iam::111122223333:user/alice"
UNAUTH = ["exemption:unauthorised-tag", "exemption:tag-set-by:" + ALICE]
b, o = "f36-admin-tagged", "f36-self-tagged"
r = [create_bucket(b, 0, ownership="ObjectWriter"),
     as_role(put_tagging(b, 1, [("bucketwarden:allow-public", "true")])),
     delete_pab(b, 2), put_acl(b, 3, canned=["public-read"]),
     create_bucket(o, 4, ownership="ObjectWriter"), put_tagging(o, 5, [("bucketwarden:allow-public", "true")]),
     delete_pab(o, 6), put_acl(o, 7, canned=["public-read"]),
     put_tagging(b, 8, [("bucketwarden:allow-public", "true"), ("team", "web")]),
     put_acl(b, 9, canned=["private"]), put_acl(b, 10, canned=["public-read"])]
scenario("36-exemption-tag-setters",
         "`[exemptions] tag_setters` names who may exempt a bucket by tag (a role ARN matches its sessions). The tag set by a "
         "session of role platform-admin exempts f36-admin-tagged (alert); the same tag set by alice on f36-self-tagged is "
         "ignored: remediate, with reasons exemption:unauthorised-tag and exemption:tag-set-by:<alice>. When alice re-tags "
         "the admin's bucket (keeping the exempting tag), the tag set is now alice's, so the next exposure is remediated too.",
         r, [L(r[0]), L(r[1]), L(r[2]), PUB(r[3], ["acl:AllUsers:READ", A_ACL], action="alert"),
             L(r[4]), L(r[5]), L(r[6]), PUB(r[7], ["acl:AllUsers:READ", A_ACL] + UNAUTH),
             PUB(r[8], ["acl:AllUsers:READ", A_ACL], transition="unchanged"), L(r[9], transition="became_not_public"),
             PUB(r[10], ["acl:AllUsers:READ", A_ACL] + UNAUTH)],
         config='[exemptions]\ntags = { "bucketwarden:allow-public" = "true" }\ntag_setters = ["%s"]\n' % ADMIN)

# 37 -------------------------------------------------------------------------------------------
b = "f37-masked"
r = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 1),
     put_pab(b, 2, ipa=True, rpb=True),  # forged: put on the stream, never made to S3
     put_acl(b, 3, canned=["public-read"])]
scenario("37-forged-protection-masks-a-public-acl",
         "A forged protective record: PutBucketPublicAccessBlock with IgnorePublicAcls and RestrictPublicBuckets on "
         "(BlockPublicAcls off, so a public ACL is still accepted), dated just before a real public PutBucketAcl. The fold "
         "judges the ACL ignored (not public, action none), but the protection was learned only from an event, so the line "
         "carries note masked: the live worker verifies it against S3 as it does assumed lines (docs/SECURITY.md).",
         r, [L(r[0]), L(r[1]), L(r[2]),
             L(r[3], reasons=["acl:AllUsers:READ:ignored-by:IgnorePublicAcls@bucket"], note="masked")])

# 38 -------------------------------------------------------------------------------------------
b = "f38-odd-fields"
c36 = create_bucket(b, 0, ownership="ObjectWriter")
d36 = delete_pab(b, 1)
d36["userAgent"] = 7
d36["requestID"] = 12345
d36["readOnly"] = "false"
d36["userIdentity"]["arn"] = {"not": "a string"}
a36 = put_acl(b, 2, canned=["public-read"])
p36 = put_acl(b, 3, canned=["private"])
e36 = [eventbridge(copy.deepcopy(x)) for x in (c36, d36, a36, p36)]
for e in (e36[0], e36[2]):
    e["account"] = int(ACCT)  # as in other CloudTrail tools' public fixtures
del e36[3]["detail"]["eventTime"]
e36[3]["time"] = t(4)
l36 = L(p36, transition="became_not_public", warnings=["eventTime:missing"])
l36["event_time"] = t(4)
scenario("38-eventbridge-odd-field-types",
         "A field the decision does not need never sinks a record: EventBridge events whose `account` is a JSON number "
         "(as in other CloudTrail tools' public fixtures) are decided, the PutBucketAcl inside included (the account comes "
         "from the detail's recipientAccountId); a userAgent, requestID, readOnly or userIdentity.arn of the wrong type is "
         "dropped; a detail without eventTime takes the envelope's `time`. Each oddity is a warning: the line's `warnings` "
         "(field:problem) and a `warning:` line with the record's position in the replay report, never a malformed record.",
         [json.dumps(e, separators=(",", ":")) for e in e36],
         [L(c36, warnings=["envelope.account:number"]),
          L(d36, warnings=["userIdentity.arn:object", "userAgent:number", "requestID:number", "readOnly:string"]),
          PUB(a36, ["acl:AllUsers:READ", A_ACL], warnings=["envelope.account:number"]),
          l36], form="jsonl")

# 39 -------------------------------------------------------------------------------------------
b, m, g = "f39-cdn-www", "f39-media-www", "f39-team-site"
r = [create_bucket(b, 0, ownership="ObjectWriter"), delete_pab(b, 1), put_acl(b, 2, canned=["public-read"]),
     create_bucket(m, 3, ownership="ObjectWriter"), delete_pab(m, 4), put_acl(m, 5, canned=["public-read"]),
     create_bucket(g, 6, ownership="ObjectWriter"), put_tagging(g, 7, [("team:public", "yes")]),
     delete_pab(g, 8), put_acl(g, 9, canned=["public-read"])]
scenario("39-exemption-per-account",
         "`[exemptions.accounts.\"<id>\"]` exempts the buckets of that account only (the bucket owner's account is the "
         "record's recipientAccountId). Account %s's own glob `f39-cdn-*` exempts f39-cdn-www (alert) and its own tag "
         "team:public=yes exempts f39-team-site (alert); the glob `f39-media-*` belongs to another account (121212121212), "
         "so f39-media-www in %s is remediated." % (ACCT, ACCT),
         r, [L(r[0]), L(r[1]), PUB(r[2], ["acl:AllUsers:READ", A_ACL], action="alert"),
             L(r[3]), L(r[4]), PUB(r[5], ["acl:AllUsers:READ", A_ACL]),
             L(r[6]), L(r[7]), L(r[8]), PUB(r[9], ["acl:AllUsers:READ", A_ACL], action="alert")],
         config='[exemptions.accounts."%s"]\nbuckets = ["f39-cdn-*"]\ntags = { "team:public" = "yes" }\n\n'
                '[exemptions.accounts."121212121212"]\nbuckets = ["f39-media-*"]\n' % ACCT)

# 40 -------------------------------------------------------------------------------------------
# Two accounts of their own: the whole directory is also replayed as one history.
b, first, other = "f40-reused-name", "555566667777", "666677778888"
# The first account ignores public ACLs and restricts public policies, but blocks neither: a
# public PutBucketAcl or PutBucketPolicy succeeds and proves nothing that contradicts it.
r = [put_account_pab(first, 0, ipa=True, rpb=True),
     create_bucket(b, 1, account=first),
     delete_bucket(b, 2, account=first),
     create_bucket(b, 3, ownership="ObjectWriter", account=other),
     delete_pab(b, 4, account=other),
     put_policy(b, 5, policy(stmt("S1", "*")), account=other),
     put_acl(b, 6, canned=["public-read"], account=other),
     delete_account_pab(first, 7, source="s3.amazonaws.com")]
scenario("40-bucket-name-reused-by-another-account",
         "A bucket name deleted by account %s and created again by account %s belongs to its creator: AWS, \"another AWS "
         "account can use the same general purpose bucket name for a new bucket\", and S3 checks \"the bucket owner's "
         "account\" block. The first account's block (IgnorePublicAcls and RestrictPublicBuckets on) no longer masks the "
         "new owner's public policy and ACL: public, with only the new owner's unknown RestrictPublicBuckets and "
         "IgnorePublicAcls assumed (before, the first account's flags restricted the policy and ignored the ACL: "
         "not public, masked); the first account's later DeleteAccountPublicAccessBlock has no known bucket left."
         % (first, other),
         r, [L(r[0], bucket=None), L(r[1]), L(r[2]), L(r[3]), L(r[4]),
             PUB(r[5], ["policy:S1:principal-*", A_POL]),
             PUB(r[6], ["acl:AllUsers:READ", "policy:S1:principal-*", A_ACL, A_POL], transition="unchanged"),
             L(r[7], bucket=None)])

if __name__ == "__main__":
    write_all()
    print("wrote %d scenarios" % len(SCENARIOS))
