#!/usr/bin/env python3
"""Writes the check corpus: Terraform plans in the documented `terraform show -json` format
("JSON Output Format": format_version, planned_values, resource_changes with change.actions /
before / after / after_unknown, configuration with expressions and references), CloudFormation
templates, bare documents, and cases.json with every case's expected verdicts and the AWS sentence
they rest on. Terraform and its AWS provider cannot be downloaded here: the plans are written by
this script from the documented format, shaped as provider v5 writes them (aws_s3_bucket's
deprecated acl/policy/grant computed, so unknown in every create). Run: python3 make.py"""
import json, os

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = []

AWS_NEW_BUCKET = ("S3 User Guide, Blocking public access: \"new buckets ... have S3 Block Public Access "
                  "settings enabled by default\"; Object Ownership: \"Bucket owner enforced (default) - ACLs are disabled\"")
AWS_ACL = ("S3 User Guide, The meaning of public: \"Amazon S3 considers a bucket or object ACL public if it grants "
           "any permissions to members of the predefined AllUsers or AuthenticatedUsers groups.\"")
AWS_POLICY = ("S3 User Guide, The meaning of public: \"To be considered non-public, a bucket policy must grant access "
              "only to fixed values (values that don't contain a wildcard or an AWS Identity and Access Management "
              "Policy Variable) for one or more of the following ...\"")
AWS_COND = ("S3 User Guide, The meaning of public: \"You can make these policies non-public by including any of the "
            "condition keys listed previously, using a fixed value.\" (aws:SourceVpce, aws:PrincipalOrgID ...)")
AWS_BPP = ("S3 User Guide, Block public access settings: BlockPublicPolicy - \"PUT Bucket policy calls fail if the "
           "specified bucket policy allows public access.\"")
AWS_BPA = ("S3 User Guide, Block public access settings: BlockPublicAcls - \"PUT Bucket acl and PUT Object acl calls "
           "fail if the specified access control list (ACL) is public.\"")
AWS_BOE = ("S3 User Guide, Object Ownership: \"When the bucket owner enforced setting is applied ... Requests to set "
           "ACLs or update ACLs fail and return the AccessControlListNotSupported error code.\"")
AWS_RPB = ("S3 User Guide, Block public access settings: RestrictPublicBuckets - \"Setting this option to TRUE restricts "
           "access to an access point or bucket with a public policy to only AWS service principals and authorized "
           "users within the bucket owner's account and access point owner's account.\"")
AWS_AP_VPC = ("S3 User Guide, The meaning of public: \"An access point that has a VPC network origin is always considered "
              "non-public, regardless of the contents of its access point policy.\"")
AWS_FED = ("S3 User Guide, The meaning of public, first example of a public policy: "
           "{\"Principal\": {\"Federated\": \"graph.facebook.com\"}, \"Action\": \"s3:PutObject\", \"Effect\": \"Allow\"}")
AWS_UNKNOWN = ("bucketwarden's rule, from the issue: an unknown value is never assumed safe; "
               "S3 \"begins by assuming that the policy is public\"")


def write(path, doc, text=None):
    full = os.path.join(HERE, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text if text is not None else json.dumps(doc, indent=2) + "\n")


def case(path, expect, aws, note="", args=None):
    CASES.append({"file": path, "expect": expect, "aws": aws, "note": note, **({"args": args} if args else {})})


# ---- Terraform -------------------------------------------------------------------------------

def bucket(name, rname="b", actions=("create",), tags=None, inline=None):
    after = {"bucket": name, "force_destroy": False, "tags": tags, "timeouts": None}
    unknown = {"acl": True, "policy": True, "grant": True, "arn": True, "id": True,
               "bucket_domain_name": True, "region": True, "tags_all": True, "versioning": True,
               "object_lock_enabled": True, "hosted_zone_id": True}
    exprs = {"bucket": {"constant_value": name}}
    for k, v in (inline or {}).items():
        after[k] = v
        unknown.pop(k, None)
        exprs[k] = {"constant_value": v}
    if tags:
        after["tags_all"] = tags
        unknown.pop("tags_all")
        exprs["tags"] = {"constant_value": tags}
    if "create" not in actions:
        unknown = {}
        after["acl"] = None
        after["policy"] = ""
        after["arn"] = "arn:aws:s3:::" + name
        after["id"] = name
    return dict(type="aws_s3_bucket", name=rname, after=after, unknown=unknown, exprs=exprs,
                actions=list(actions))


def sub(rtype, rname, values, bucket_ref="b", unknown=None, actions=("create",), bucket_known=None):
    after = dict(values)
    unk = dict(unknown or {})
    exprs = {k: {"constant_value": v} for k, v in values.items()}
    if bucket_ref is not None:
        if bucket_known:
            after["bucket"] = bucket_known
            exprs["bucket"] = {"constant_value": bucket_known}
        else:
            # A reference to the bucket's id, unknown until the bucket exists.
            after["bucket"] = None
            unk["bucket"] = True
            exprs["bucket"] = {"references": [f"aws_s3_bucket.{bucket_ref}.id", f"aws_s3_bucket.{bucket_ref}"]}
    for k in unk:
        if k != "bucket":
            after.pop(k, None)
            exprs[k] = {"references": ["data.external.policy.result"]}
    return dict(type=rtype, name=rname, after=after, unknown=unk, exprs=exprs, actions=list(actions))


def pab(rname="b", flags=(False, False, False, False), **kw):
    keys = ["block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets"]
    return sub("aws_s3_bucket_public_access_block", rname, dict(zip(keys, flags)), **kw)


def owner(rname="b", value="ObjectWriter", **kw):
    r = sub("aws_s3_bucket_ownership_controls", rname, {}, **kw)
    r["after"]["rule"] = [{"object_ownership": value}]
    r["exprs"]["rule"] = [{"object_ownership": {"constant_value": value}}]
    return r


def acl(rname="b", canned="public-read", **kw):
    return sub("aws_s3_bucket_acl", rname, {"acl": canned, "access_control_policy": []}, **kw)


def policy(doc, rname="b", **kw):
    return sub("aws_s3_bucket_policy", rname, {"policy": json.dumps(doc)}, **kw)


def plan(resources):
    changes, planned, config = [], [], []
    for r in resources:
        address = f"{r['type']}.{r['name']}"
        before = r.get("before")
        if r["actions"] == ["delete"]:
            before, after = r["after"], None
        elif r["actions"] != ["create"]:
            before = before if before is not None else r["after"]
            after = r["after"]
        else:
            after = r["after"]
        changes.append({
            "address": address, "mode": "managed", "type": r["type"], "name": r["name"],
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "change": {"actions": r["actions"], "before": before, "after": after,
                       "after_unknown": r["unknown"] if after is not None else {},
                       "before_sensitive": False if before is None else {},
                       "after_sensitive": {} if after is not None else False},
        })
        if after is not None:
            planned.append({"address": address, "mode": "managed", "type": r["type"], "name": r["name"],
                            "provider_name": "registry.terraform.io/hashicorp/aws", "schema_version": 0,
                            "values": after, "sensitive_values": {}})
            config.append({"address": address, "mode": "managed", "type": r["type"], "name": r["name"],
                           "provider_config_key": "aws", "expressions": r["exprs"], "schema_version": 0})
    return {"format_version": "1.2", "terraform_version": "1.9.8",
            "planned_values": {"root_module": {"resources": planned}},
            "resource_changes": changes,
            "configuration": {"provider_config": {"aws": {"name": "aws", "full_name": "registry.terraform.io/hashicorp/aws"}},
                              "root_module": {"resources": config}},
            "timestamp": "2026-12-08T00:00:00Z", "applyable": True, "complete": True, "errored": False}


def stmt(principal="*", condition=None, effect="Allow", key="Principal", sid="Read"):
    s = {"Sid": sid, "Effect": effect, key: principal, "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::corpus-bucket/*"}
    if condition:
        s["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [s]}


OPEN = (False, False, False, False)
ON = (True, True, True, True)
B = "corpus-bucket"


def tf(name, resources, expect, aws, note=""):
    path = f"terraform/{name}.json"
    write(path, plan(resources))
    case(path, expect, aws, note)


tf("bucket-defaults", [bucket(B)], {"aws_s3_bucket.b": "not-public"}, AWS_NEW_BUCKET,
   "acl/policy/grant unknown in after_unknown but not in configuration: computed, not flagged")
tf("public-read-acl", [bucket(B), owner(), pab(flags=OPEN), acl()], {"aws_s3_bucket_acl.b": "public"}, AWS_ACL)
tf("authenticated-read-acl", [bucket(B), owner(), pab(flags=OPEN), acl(canned="authenticated-read")],
   {"aws_s3_bucket_acl.b": "public"}, AWS_ACL, "checkov #596")
tf("log-delivery-write-acl", [bucket(B), owner(), pab(flags=OPEN), acl(canned="log-delivery-write")],
   {"aws_s3_bucket.b": "not-public"}, AWS_ACL, "LogDelivery is not a public group")
tf("public-acl-acls-disabled", [bucket(B), pab(flags=OPEN), acl()], {"aws_s3_bucket_acl.b": "deploy-fails"}, AWS_BOE,
   "no ownership controls: a new bucket is BucketOwnerEnforced")
tf("public-acl-bucket-owner-enforced", [bucket(B), owner(value="BucketOwnerEnforced"), pab(flags=OPEN), acl()],
   {"aws_s3_bucket_acl.b": "deploy-fails"}, AWS_BOE)
tf("public-acl-default-block", [bucket(B), owner(), acl()], {"aws_s3_bucket_acl.b": "deploy-fails"}, AWS_BPA,
   "no public access block resource: a new bucket blocks public ACLs")
tf("policy-public", [bucket(B), pab(flags=OPEN), policy(stmt())], {"aws_s3_bucket_policy.b": "public"}, AWS_POLICY)
tf("policy-public-default-block", [bucket(B), policy(stmt())], {"aws_s3_bucket_policy.b": "deploy-fails"}, AWS_BPP)
tf("policy-source-vpce", [bucket(B), pab(flags=OPEN), policy(stmt(condition={"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}))],
   {"aws_s3_bucket.b": "not-public"}, AWS_COND, "checkov #5934")
tf("policy-principal-org-id", [bucket(B), pab(flags=OPEN), policy(stmt(condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc123def4"}}))],
   {"aws_s3_bucket.b": "not-public"}, AWS_COND, "checkov #5934")
tf("policy-source-vpce-ifexists", [bucket(B), pab(flags=OPEN), policy(stmt(condition={"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1a2b3c4d"}}))],
   {"aws_s3_bucket_policy.b": "public"}, AWS_POLICY, "...IfExists is true when the key is absent (docs/REASONS.md)")
tf("policy-negated-condition", [bucket(B), pab(flags=OPEN), policy(stmt(condition={"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}))],
   {"aws_s3_bucket_policy.b": "public"}, AWS_POLICY, "a negated operator pins no caller")
tf("policy-not-principal", [bucket(B), pab(flags=OPEN), policy(stmt(principal={"AWS": "arn:aws:iam::111122223333:root"}, key="NotPrincipal"))],
   {"aws_s3_bucket_policy.b": "public"}, AWS_POLICY, "Allow with NotPrincipal grants everyone else")
tf("policy-federated", [bucket(B), pab(flags=OPEN), policy(stmt(principal={"Federated": "graph.facebook.com"}))],
   {"aws_s3_bucket_policy.b": "public"}, AWS_FED)
tf("policy-account-principal", [bucket(B), pab(flags=OPEN), policy(stmt(principal={"AWS": "arn:aws:iam::111122223333:role/reader"}))],
   {"aws_s3_bucket.b": "not-public"}, AWS_POLICY)
tf("policy-restrict-public-buckets", [bucket(B), pab(flags=(False, False, False, True)), policy(stmt())],
   {"aws_s3_bucket.b": "not-public"}, AWS_RPB)
tf("account-block-on", [bucket(B), pab(flags=OPEN), policy(stmt()),
                        dict(sub("aws_s3_account_public_access_block", "acct", dict(zip(
                            ["block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets"], ON)), bucket_ref=None))],
   {"aws_s3_bucket_policy.b": "deploy-fails"}, AWS_BPP, "the account's BlockPublicPolicy refuses the bucket policy")
tf("unknown-policy", [bucket(B), pab(flags=OPEN), sub("aws_s3_bucket_policy", "b", {}, unknown={"policy": True})],
   {"aws_s3_bucket_policy.b": "unknown"}, AWS_UNKNOWN, "policy from another resource's output")
tf("unknown-policy-restricted", [bucket(B), pab(flags=(False, False, False, True)), sub("aws_s3_bucket_policy", "b", {}, unknown={"policy": True})],
   {"aws_s3_bucket.b": "not-public"}, AWS_RPB, "whatever the policy, RestrictPublicBuckets neutralises it")
tf("unknown-policy-default-block", [bucket(B), sub("aws_s3_bucket_policy", "b", {}, unknown={"policy": True})],
   {"aws_s3_bucket.b": "not-public"}, AWS_BPP, "a public policy would be refused (deploy-fails-if-public), a fixed one deploys: never public")
tf("existing-bucket-public-policy", [bucket(B, actions=("no-op",)), policy(stmt(), bucket_known=B, actions=("update",))],
   {"aws_s3_bucket_policy.b": "public"}, AWS_POLICY, "an existing bucket's block is not in the plan: unknown, assumed off and said so")
tf("delete-block-exposes-policy", [bucket(B, actions=("no-op",)), policy(stmt(), bucket_known=B, actions=("no-op",)),
                                    pab(flags=ON, bucket_known=B, actions=("delete",))],
   {"aws_s3_bucket_policy.b": "public"}, AWS_RPB, "deleting the bucket's block leaves the public policy in force")
tf("object-public-acl", [bucket(B), owner(), pab(flags=OPEN),
                         sub("aws_s3_object", "o", {"key": "index.html", "acl": "public-read", "source": "index.html"})],
   {"aws_s3_object.o": "public"}, AWS_ACL)
tf("object-private", [bucket(B), sub("aws_s3_object", "o", {"key": "index.html", "acl": "private", "source": "index.html"})],
   {"aws_s3_bucket.b": "not-public"}, AWS_ACL)
tf("inline-acl-v3", [bucket(B, inline={"acl": "public-read"}), owner(), pab(flags=OPEN)],
   {"aws_s3_bucket.b": "public"}, AWS_ACL, "the provider's older inline acl, configured")
tf("inline-policy-v3", [bucket(B, inline={"policy": json.dumps(stmt())}), pab(flags=OPEN)],
   {"aws_s3_bucket.b": "public"}, AWS_POLICY, "the provider's older inline policy, configured")
ap = sub("aws_s3_access_point", "ap", {"name": "corpus-ap", "public_access_block_configuration": [
    {"block_public_acls": False, "ignore_public_acls": False, "block_public_policy": False, "restrict_public_buckets": False}],
    "vpc_configuration": []}, unknown={"arn": True, "policy": True})
ap["exprs"].pop("policy", None); ap["exprs"].pop("arn", None)
app = sub("aws_s3control_access_point_policy", "ap", {"policy": json.dumps(stmt())}, bucket_ref=None, unknown={"access_point_arn": True})
app["exprs"]["access_point_arn"] = {"references": ["aws_s3_access_point.ap.arn", "aws_s3_access_point.ap"]}
app["after"]["policy"] = json.dumps(stmt()); app["exprs"]["policy"] = {"constant_value": json.dumps(stmt())}
tf("access-point-public", [bucket(B), pab(flags=OPEN), ap, app], {"aws_s3control_access_point_policy.ap": "public"}, AWS_POLICY)
apv = json.loads(json.dumps(ap)); apv["after"]["vpc_configuration"] = [{"vpc_id": "vpc-1a2b3c4d"}]
tf("access-point-vpc", [bucket(B), pab(flags=OPEN), apv, app], {"aws_s3_bucket.b": "not-public"}, AWS_AP_VPC)

tf("acl-grant-authenticated-users", [bucket(B), owner(), pab(flags=OPEN),
    dict(sub("aws_s3_bucket_acl", "b", {}), after={"bucket": None, "acl": None, "access_control_policy": [{
        "grant": [{"grantee": [{"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
                                "id": "", "email_address": "", "display_name": ""}], "permission": "READ"}],
        "owner": [{"id": "abc", "display_name": ""}]}]})],
   {"aws_s3_bucket_acl.b": "public"}, AWS_ACL, "explicit grant to AuthenticatedUsers, checkov #596")
tf("tagged-public-policy", [bucket(B, tags={"bucketwarden:allow-public": "true"}), pab(flags=OPEN), policy(stmt())],
   {"aws_s3_bucket_policy.b": "public"}, AWS_POLICY, "exempt only under a config that names the tag (tests/check.rs)")


def in_module(r, module="site", index=None):
    r = dict(r)
    r["module"] = module
    r["index"] = index
    return r


def module_plan(resources, module="site"):
    p = plan(resources)
    for rc in p["resource_changes"]:
        rc["address"] = f"module.{module}.{rc['address']}"
        rc["module_address"] = f"module.{module}"
    for rc in p["planned_values"]["root_module"]["resources"]:
        rc["address"] = f"module.{module}.{rc['address']}"
    p["planned_values"]["root_module"] = {"child_modules": [
        {"address": f"module.{module}", "resources": p["planned_values"]["root_module"]["resources"]}]}
    p["configuration"]["root_module"] = {"module_calls": {module: {
        "source": "./modules/site", "module": {"resources": p["configuration"]["root_module"]["resources"]}}}}
    return p


write("terraform/module-public-policy.json", module_plan([bucket(B), pab(flags=OPEN), policy(stmt())]))
case("terraform/module-public-policy.json", {"module.site.aws_s3_bucket_policy.b": "public"}, AWS_POLICY,
     "resources in a module, joined through the module's own references")

# ---- CloudFormation --------------------------------------------------------------------------

def cfn(name, text, expect, aws, note=""):
    path = f"cloudformation/{name}"
    write(path, None, text)
    case(path, expect, aws, note)


cfn("public-read.yaml", """AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Site:
    Type: AWS::S3::Bucket
    Properties:
      AccessControl: PublicRead
      OwnershipControls:
        Rules:
          - ObjectOwnership: ObjectWriter
      PublicAccessBlockConfiguration:
        BlockPublicAcls: false
        IgnorePublicAcls: false
        BlockPublicPolicy: false
        RestrictPublicBuckets: false
""", {"Site": "public"}, AWS_ACL)
cfn("authenticated-read.yaml", """Resources:
  Shared:
    Type: AWS::S3::Bucket
    Properties:
      AccessControl: AuthenticatedRead
      OwnershipControls:
        Rules:
          - ObjectOwnership: BucketOwnerPreferred
      PublicAccessBlockConfiguration:
        BlockPublicAcls: false
        IgnorePublicAcls: false
""", {"Shared": "public"}, AWS_ACL, "checkov #596")
cfn("public-read-defaults.yaml", """Resources:
  Site:
    Type: AWS::S3::Bucket
    Properties:
      AccessControl: PublicRead
""", {"Site": "deploy-fails"}, AWS_BOE, "ACLs disabled by default on a new bucket")
cfn("policy-public.yaml", """AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Data:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "corpus-${AWS::AccountId}-data"
      PublicAccessBlockConfiguration:
        BlockPublicPolicy: false
        RestrictPublicBuckets: false
  DataPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Data
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: "*"
            Action: s3:GetObject
            Resource: !Sub "arn:${AWS::Partition}:s3:::${Data}/*"
""", {"DataPolicy": "public"}, AWS_POLICY)
cfn("policy-source-vpce.yaml", """Parameters:
  Endpoint:
    Type: String
    Default: vpce-1a2b3c4d
Resources:
  Data:
    Type: AWS::S3::Bucket
    Properties:
      PublicAccessBlockConfiguration:
        BlockPublicPolicy: false
        RestrictPublicBuckets: false
  DataPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Data
      PolicyDocument:
        Statement:
          - Effect: Allow
            Principal: "*"
            Action: s3:GetObject
            Resource: !Join ["", ["arn:aws:s3:::", !Ref Data, "/*"]]
            Condition:
              StringEquals:
                aws:SourceVpce: !Ref Endpoint
""", {"Data": "not-public"}, AWS_COND, "checkov #5934; Ref to a parameter default")
cfn("policy-principal-parameter.yaml", """Parameters:
  Reader:
    Type: String
Resources:
  Data:
    Type: AWS::S3::Bucket
    Properties:
      PublicAccessBlockConfiguration:
        BlockPublicPolicy: false
        RestrictPublicBuckets: false
  DataPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Data
      PolicyDocument:
        Statement:
          - Effect: Allow
            Principal:
              AWS: !Ref Reader
            Action: s3:GetObject
            Resource: !Sub "arn:aws:s3:::${Data}/*"
""", {"DataPolicy": "unknown"}, AWS_UNKNOWN, "a parameter without a default could be *")
cfn("policy-import-value.json", json.dumps({
    "Resources": {
        "Data": {"Type": "AWS::S3::Bucket", "Properties": {"PublicAccessBlockConfiguration": {"BlockPublicPolicy": False, "RestrictPublicBuckets": False}}},
        "DataPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": "Data"},
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Principal": {"AWS": {"Fn::ImportValue": "ReaderRoleArn"}},
                                              "Action": "s3:GetObject", "Resource": {"Fn::Sub": "arn:aws:s3:::${Data}/*"}}]}}}}}, indent=2) + "\n",
    {"DataPolicy": "unknown"}, AWS_UNKNOWN, "another stack's output")
cfn("cdk-synth.template.json", json.dumps({
    "Resources": {
        "SiteBucket397A1860": {"Type": "AWS::S3::Bucket", "Properties": {"Tags": [{"Key": "aws-cdk:auto-delete-objects", "Value": "true"}]},
                               "UpdateReplacePolicy": "Retain", "DeletionPolicy": "Retain", "Metadata": {"aws:cdk:path": "Stack/SiteBucket/Resource"}},
        "SiteBucketPolicy3AC1D0F8": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": "SiteBucket397A1860"},
            "PolicyDocument": {"Statement": [{"Action": ["s3:DeleteObject*", "s3:GetBucket*", "s3:List*"], "Effect": "Allow",
                "Principal": {"AWS": {"Fn::GetAtt": ["CustomS3AutoDeleteObjectsCustomResourceProviderRole3B1BD092", "Arn"]}},
                "Resource": [{"Fn::GetAtt": ["SiteBucket397A1860", "Arn"]},
                             {"Fn::Join": ["", [{"Fn::GetAtt": ["SiteBucket397A1860", "Arn"]}, "/*"]]}]}],
                "Version": "2012-10-17"}}},
        "CustomS3AutoDeleteObjectsCustomResourceProviderRole3B1BD092": {"Type": "AWS::IAM::Role", "Properties": {}}}}, indent=1) + "\n",
    {"SiteBucket397A1860": "not-public"}, AWS_POLICY, "CDK's auto-delete policy: a role of the template is a fixed principal")
cfn("access-point-public.yaml", """Resources:
  Data:
    Type: AWS::S3::Bucket
    Properties:
      PublicAccessBlockConfiguration:
        BlockPublicPolicy: false
        RestrictPublicBuckets: false
  Point:
    Type: AWS::S3::AccessPoint
    Properties:
      Bucket: !Ref Data
      Name: corpus-point
      PublicAccessBlockConfiguration:
        BlockPublicPolicy: false
        RestrictPublicBuckets: false
      Policy:
        Statement:
          - Effect: Allow
            Principal: "*"
            Action: s3:GetObject
            Resource: !Sub "arn:aws:s3:${AWS::Region}:${AWS::AccountId}:accesspoint/corpus-point/object/*"
""", {"Point": "public"}, AWS_POLICY)
cfn("access-point-default-block.yaml", """Resources:
  Data:
    Type: AWS::S3::Bucket
  Point:
    Type: AWS::S3::AccessPoint
    Properties:
      Bucket: !Ref Data
      Policy:
        Statement:
          - Effect: Allow
            Principal: "*"
            Action: s3:GetObject
            Resource: "*"
""", {"Point": "deploy-fails"}, AWS_BPP, "an access point is created with every block flag on")

cfn("conditional-acl.yaml", """Conditions:
  IsProd: !Equals [!Ref "AWS::AccountId", "111122223333"]
Resources:
  Site:
    Type: AWS::S3::Bucket
    Properties:
      AccessControl: !If [IsProd, Private, PublicRead]
      OwnershipControls:
        Rules:
          - ObjectOwnership: ObjectWriter
      PublicAccessBlockConfiguration:
        BlockPublicAcls: false
        IgnorePublicAcls: false
""", {"Site": "unknown"}, AWS_UNKNOWN, "Fn::If on a condition the template alone does not decide")
cfn("bucket-defaults.yaml", """Resources:
  Logs:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: corpus-logs
""", {"Logs": "not-public"}, AWS_NEW_BUCKET)

# ---- Bare documents --------------------------------------------------------------------------
write("documents/policy-public.json", stmt())
case("documents/policy-public.json", {"documents/policy-public.json": "public"}, AWS_POLICY,
     "on a bucket whose block is unknown (assumed off, said so)")
write("documents/policy-org.json", stmt(condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc123def4"}}))
case("documents/policy-org.json", {"documents/policy-org.json": "not-public"}, AWS_COND)
write("documents/acl-authenticated-read.json", {"Owner": {"ID": "abc"}, "Grants": [
    {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}, "Permission": "READ"}]})
case("documents/acl-authenticated-read.json", {"documents/acl-authenticated-read.json": "public"}, AWS_ACL, "checkov #596")
write("documents/block-all-on.json", {"PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                                                                          "BlockPublicPolicy": True, "RestrictPublicBuckets": True}})
case("documents/block-all-on.json", {"documents/block-all-on.json": "not-public"}, AWS_RPB)

with open(os.path.join(HERE, "cases.json"), "w") as f:
    json.dump(CASES, f, indent=2)
    f.write("\n")
print(f"{len(CASES)} cases")
