//! Terraform plans as `terraform show -json` writes them (the documented "JSON Output Format":
//! `resource_changes` with `change.after` / `after_unknown`, `configuration`): the S3 resources
//! of the AWS provider read into [`Declared`], joined to their bucket by name, or through the
//! configuration's references when the name is not known yet, as Terraform joins them.
//! An attribute the plan cannot know is unknown only if the configuration sets it: the AWS
//! provider (v4 and later) lists the deprecated `acl`/`policy` of `aws_s3_bucket` as computed,
//! unknown in every plan that creates a bucket (shared DESIGN §11). It reads; it does not judge.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::core::acl::Acl;
use crate::core::exposure::{BlockConfig, Ownership};
use crate::core::iac::document;
use crate::core::iac::resource::{
    canned_acl, line_of, Bucket, Declared, Item, Origin, Problem, Setting,
};
use crate::core::iac::unknown::Val;

/// A plan, told by its keys.
pub fn is_plan(v: &Value) -> bool {
    v.get("resource_changes").is_some()
        || (v.get("format_version").is_some() && v.get("planned_values").is_some())
}

/// One resource of the plan: its address, type and the values it will have.
struct Res<'a> {
    address: String,
    /// Its address in the configuration: module path and `type.name`, without instance keys.
    config_address: String,
    kind: &'a str,
    /// Deleted by this plan (only `delete` among its actions).
    deleted: bool,
    created: bool,
    values: &'a Value,
    unknown: &'a Value,
    expressions: Option<&'a Map<String, Value>>,
    line: Option<usize>,
}

impl<'a> Res<'a> {
    fn origin(&self) -> Origin {
        Origin {
            address: self.address.clone(),
            line: self.line,
        }
    }

    fn is_unknown(&self, attr: &str) -> bool {
        self.unknown.get(attr).is_some_and(any_true)
    }

    fn configured(&self, attr: &str) -> bool {
        self.expressions.is_some_and(|e| e.contains_key(attr))
    }

    /// An attribute: known, unknown (`<address>.<attr>`), or absent.
    fn get(&self, attr: &str) -> Option<Val<&'a Value>> {
        if self.is_unknown(attr) {
            return Some(Val::Unknown(format!("{}.{attr}", self.address)));
        }
        match self.values.get(attr) {
            None | Some(Value::Null) => None,
            Some(v) => Some(Val::Known(v)),
        }
    }

    /// An attribute the configuration may leave to the provider: unknown counts only if set.
    fn get_configured(&self, attr: &str) -> Option<Val<&'a Value>> {
        match self.get(attr)? {
            Val::Unknown(_) if !self.configured(attr) => None,
            v => Some(v),
        }
    }

    fn str(&self, attr: &str) -> Option<&'a str> {
        self.values.get(attr).and_then(Value::as_str)
    }

    /// The configuration addresses this attribute's expression refers to.
    fn references(&self, attr: &str) -> Vec<&'a str> {
        self.expressions
            .and_then(|e| e.get(attr))
            .and_then(|x| x.get("references"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
}

fn any_true(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Array(a) => a.iter().any(any_true),
        Value::Object(o) => o.values().any(any_true),
        _ => false,
    }
}

/// `module.a["x"].aws_s3_bucket.b[0]` → `module.a.aws_s3_bucket.b`.
fn strip_keys(address: &str) -> String {
    let mut out = String::with_capacity(address.len());
    let mut depth = 0usize;
    let mut quoted = false;
    for c in address.chars() {
        match c {
            '"' if depth > 0 => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn config_expressions<'a>(
    module: &'a Value,
    prefix: &str,
    out: &mut HashMap<String, &'a Map<String, Value>>,
) {
    for r in module
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(a), Some(e)) = (
            r.get("address").and_then(Value::as_str),
            r.get("expressions").and_then(Value::as_object),
        ) {
            out.insert(format!("{prefix}{a}"), e);
        }
    }
    for (name, call) in module
        .get("module_calls")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(m) = call.get("module") {
            config_expressions(m, &format!("{prefix}module.{name}."), out);
        }
    }
}

fn module_prefix(config_address: &str) -> &str {
    // Everything up to the last `module.<name>.`.
    let mut end = 0;
    let mut rest = config_address;
    while let Some(r) = rest.strip_prefix("module.") {
        match r.find('.') {
            Some(i) => {
                end += "module.".len() + i + 1;
                rest = &r[i + 1..];
            }
            None => break,
        }
    }
    &config_address[..end]
}

const WATCHED: [&str; 10] = [
    "aws_s3_bucket",
    "aws_s3_bucket_policy",
    "aws_s3_bucket_acl",
    "aws_s3_bucket_public_access_block",
    "aws_s3_account_public_access_block",
    "aws_s3_bucket_ownership_controls",
    "aws_s3_access_point",
    "aws_s3control_access_point_policy",
    "aws_s3_object",
    "aws_s3_bucket_object",
];

fn resources<'a>(plan: &'a Value, text: &str) -> Vec<Res<'a>> {
    let mut exprs = HashMap::new();
    if let Some(root) = plan.get("configuration").and_then(|c| c.get("root_module")) {
        config_expressions(root, "", &mut exprs);
    }
    static NULL: Value = Value::Null;
    let line = |address: &str| {
        line_of(text, &format!("\"address\": \"{address}\""))
            .or_else(|| line_of(text, &format!("\"address\":\"{address}\"")))
    };
    let mut out = Vec::new();
    if let Some(changes) = plan.get("resource_changes") {
        let Some(changes) = changes.as_array() else {
            return out;
        };
        for rc in changes {
            let (Some(address), Some(kind)) = (
                rc.get("address").and_then(Value::as_str),
                rc.get("type").and_then(Value::as_str),
            ) else {
                continue;
            };
            if rc.get("mode").and_then(Value::as_str) == Some("data") || !WATCHED.contains(&kind) {
                continue;
            }
            let change = rc.get("change").unwrap_or(&NULL);
            let actions: Vec<&str> = change
                .get("actions")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let deleted = actions == ["delete"];
            let values = if deleted {
                change.get("before")
            } else {
                change.get("after")
            }
            .unwrap_or(&NULL);
            let config_address = strip_keys(address);
            out.push(Res {
                line: line(address),
                expressions: exprs.get(&config_address).copied(),
                config_address,
                address: address.to_owned(),
                kind,
                deleted,
                created: actions.contains(&"create"),
                values,
                unknown: if deleted {
                    &NULL
                } else {
                    change.get("after_unknown").unwrap_or(&NULL)
                },
            });
        }
        return out;
    }
    // No changes listed (a plan of an older format): the planned values, all to be created.
    fn walk<'a>(m: &'a Value, out: &mut Vec<&'a Value>) {
        out.extend(
            m.get("resources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
        for c in m
            .get("child_modules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(c, out);
        }
    }
    let mut planned = Vec::new();
    if let Some(root) = plan
        .get("planned_values")
        .and_then(|p| p.get("root_module"))
    {
        walk(root, &mut planned);
    }
    for r in planned {
        let (Some(address), Some(kind)) = (
            r.get("address").and_then(Value::as_str),
            r.get("type").and_then(Value::as_str),
        ) else {
            continue;
        };
        if r.get("mode").and_then(Value::as_str) == Some("data") || !WATCHED.contains(&kind) {
            continue;
        }
        let config_address = strip_keys(address);
        out.push(Res {
            line: line(address),
            expressions: exprs.get(&config_address).copied(),
            config_address,
            address: address.to_owned(),
            kind,
            deleted: false,
            created: true,
            values: r.get("values").unwrap_or(&NULL),
            unknown: &NULL,
        });
    }
    out
}

fn block_of(v: &Value) -> BlockConfig {
    let f = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    BlockConfig {
        block_public_acls: f("block_public_acls"),
        ignore_public_acls: f("ignore_public_acls"),
        block_public_policy: f("block_public_policy"),
        restrict_public_buckets: f("restrict_public_buckets"),
    }
}

fn first(v: &Value) -> Option<&Value> {
    match v {
        Value::Array(a) => a.first(),
        Value::Object(_) => Some(v),
        _ => None,
    }
}

/// A policy attribute: a JSON string (judged as S3 would receive it) or unknown.
fn policy_val(v: Val<&Value>) -> Val<Value> {
    v.map(|p| match p.as_str().map(serde_json::from_str::<Value>) {
        Some(Ok(doc)) => doc,
        _ => p.clone(),
    })
}

/// `acl` (canned) or `access_control_policy` of `aws_s3_bucket_acl`.
fn acl_val(r: &Res, problems: &mut Vec<Problem>) -> Option<Val<Acl>> {
    if let Some(v) = r.get("acl") {
        return match v {
            Val::Unknown(w) => Some(Val::Unknown(w)),
            Val::Known(v) => match v.as_str().and_then(canned_acl) {
                Some(acl) => Some(Val::Known(acl)),
                None => {
                    // Reported, and judged as unknown: never assumed safe.
                    let message = format!("acl {v} is not a canned ACL S3 knows");
                    problems.push(Problem {
                        origin: r.origin(),
                        message: message.clone(),
                    });
                    Some(Val::Unknown(format!("{}.acl: {message}", r.address)))
                }
            },
        };
    }
    match r.get("access_control_policy")? {
        Val::Unknown(w) => Some(Val::Unknown(w)),
        Val::Known(acp) => {
            let acp = first(acp)?;
            let grants = acp
                .get("grant")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|g| {
                    let grantee = first(g.get("grantee")?)?;
                    Some((
                        grantee.get("uri").and_then(Value::as_str).unwrap_or(""),
                        g.get("permission").and_then(Value::as_str).unwrap_or(""),
                    ))
                });
            Some(Val::Known(document::acl_from_grants(grants)))
        }
    }
}

fn block_val(r: &Res) -> Val<BlockConfig> {
    let flags = [
        "block_public_acls",
        "ignore_public_acls",
        "block_public_policy",
        "restrict_public_buckets",
    ];
    match flags.iter().find(|f| r.is_unknown(f)) {
        Some(f) => Val::Unknown(format!("{}.{f}", r.address)),
        None => Val::Known(block_of(r.values)),
    }
}

/// Reads a plan.
pub fn parse(plan: &Value, text: &str) -> Declared {
    let res = resources(plan, text);
    let mut d = Declared::default();
    if plan.get("resource_changes").is_some_and(|c| !c.is_array()) {
        d.problems.push(Problem {
            origin: Origin {
                address: "resource_changes".into(),
                line: line_of(text, "\"resource_changes\""),
            },
            message: "resource_changes is not an array: nothing in the plan was checked".into(),
        });
    }
    // Buckets first: the others join to them.
    let mut by_config: HashMap<String, String> = HashMap::new();
    for r in res
        .iter()
        .filter(|r| r.kind == "aws_s3_bucket" && !r.deleted)
    {
        let name = r
            .get("bucket")
            .and_then(|v| v.known().and_then(|v| v.as_str()).map(str::to_owned));
        let key = name.clone().unwrap_or_else(|| r.address.clone());
        by_config
            .entry(r.config_address.clone())
            .or_insert(key.clone());
        let tags = ["tags_all", "tags"]
            .iter()
            .find_map(|t| r.values.get(*t).and_then(Value::as_object))
            .map(|m| {
                let mut t: Vec<(String, String)> = m
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect();
                t.sort();
                t
            })
            .unwrap_or_default();
        d.buckets.push(Bucket {
            key: key.clone(),
            name,
            created: r.created,
            tags,
            origin: r.origin(),
        });
        // The provider's older inline settings, counted only where the configuration sets them
        // or the plan knows a value.
        match r.get_configured("acl") {
            Some(Val::Unknown(w)) => d.items.push(item(&key, Setting::Acl(Val::Unknown(w)), r)),
            Some(Val::Known(v)) => match v.as_str().and_then(canned_acl) {
                Some(acl) => d.items.push(item(&key, Setting::Acl(Val::Known(acl)), r)),
                None => {
                    let message = format!("acl {v} is not a canned ACL S3 knows");
                    let what = format!("{}.acl: {message}", r.address);
                    d.items
                        .push(item(&key, Setting::Acl(Val::Unknown(what)), r));
                    d.problems.push(Problem {
                        origin: r.origin(),
                        message,
                    });
                }
            },
            None => {}
        }
        if let Some(p) = r
            .get_configured("policy")
            .filter(|p| p.known().is_none_or(|v| v.as_str() != Some("")))
        {
            d.items.push(item(&key, Setting::Policy(policy_val(p)), r));
        }
    }
    // Access points next: their policies join to them.
    let mut access_points: HashMap<String, (String, String)> = HashMap::new();
    for r in res
        .iter()
        .filter(|r| !r.deleted || r.kind != "aws_s3_bucket")
    {
        let setting = match r.kind {
            "aws_s3_bucket" | "aws_s3control_access_point_policy" => continue,
            "aws_s3_bucket_policy" if r.deleted => Setting::DeletePolicy,
            "aws_s3_bucket_policy" => match r.get("policy") {
                Some(p) => Setting::Policy(policy_val(p)),
                None => continue,
            },
            "aws_s3_bucket_acl" if r.deleted => continue,
            "aws_s3_bucket_acl" => match acl_val(r, &mut d.problems) {
                Some(a) => Setting::Acl(a),
                None => continue,
            },
            "aws_s3_bucket_public_access_block" if r.deleted => Setting::DeleteBlock,
            "aws_s3_bucket_public_access_block" => Setting::Block(block_val(r)),
            "aws_s3_account_public_access_block" if r.deleted => Setting::DeleteAccountBlock,
            "aws_s3_account_public_access_block" => Setting::AccountBlock(block_val(r)),
            "aws_s3_bucket_ownership_controls" if r.deleted => Setting::DeleteOwnership,
            "aws_s3_bucket_ownership_controls" => {
                let rule = if r.is_unknown("rule") {
                    Val::Unknown(format!("{}.rule", r.address))
                } else {
                    let o = r
                        .values
                        .get("rule")
                        .and_then(first)
                        .and_then(|x| x.get("object_ownership"))
                        .and_then(Value::as_str)
                        .and_then(Ownership::parse);
                    match o {
                        Some(o) => Val::Known(o),
                        None => {
                            let message = "rule.object_ownership is not one S3 knows";
                            d.problems.push(Problem {
                                origin: r.origin(),
                                message: message.into(),
                            });
                            Val::Unknown(format!("{}.rule: {message}", r.address))
                        }
                    }
                };
                Setting::Ownership(rule)
            }
            "aws_s3_access_point" if r.deleted => continue,
            "aws_s3_access_point" => {
                let name = r.str("name").unwrap_or(&r.address).to_owned();
                let block = if r.is_unknown("public_access_block_configuration") {
                    Val::Unknown(format!("{}.public_access_block_configuration", r.address))
                } else {
                    // Omitted: every flag on, as S3 creates access points.
                    Val::Known(
                        r.values
                            .get("public_access_block_configuration")
                            .and_then(first)
                            .map(block_of)
                            .unwrap_or(BlockConfig::ALL_ON),
                    )
                };
                let vpc = if r.is_unknown("vpc_configuration") {
                    Val::Unknown(format!("{}.vpc_configuration", r.address))
                } else {
                    Val::Known(r.values.get("vpc_configuration").and_then(first).is_some())
                };
                let bucket = bucket_key(r, "bucket", &by_config, &mut d);
                access_points.insert(r.config_address.clone(), (bucket.clone(), name.clone()));
                access_points.insert(format!("name:{name}"), (bucket.clone(), name.clone()));
                d.items.push(item(
                    &bucket,
                    Setting::AccessPoint {
                        name: name.clone(),
                        block,
                        vpc_origin: vpc,
                    },
                    r,
                ));
                if let Some(p) = r.get_configured("policy").filter(|p| {
                    p.known()
                        .is_none_or(|v| !matches!(v.as_str(), Some("") | Some("{}")))
                }) {
                    d.items.push(item(
                        &bucket,
                        Setting::AccessPointPolicy {
                            name,
                            policy: policy_val(p),
                        },
                        r,
                    ));
                }
                continue;
            }
            "aws_s3_object" | "aws_s3_bucket_object" if r.deleted => continue,
            "aws_s3_object" | "aws_s3_bucket_object" => {
                let Some(acl) = acl_val(r, &mut d.problems) else {
                    continue;
                };
                let key = r.str("key").unwrap_or(&r.address).to_owned();
                Setting::ObjectAcl { key, acl }
            }
            _ => continue,
        };
        let bucket = match setting {
            Setting::AccountBlock(_) | Setting::DeleteAccountBlock => None,
            _ => Some(bucket_key(r, "bucket", &by_config, &mut d)),
        };
        d.items.push(Item {
            bucket,
            setting,
            origin: r.origin(),
        });
    }
    for r in res
        .iter()
        .filter(|r| r.kind == "aws_s3control_access_point_policy" && !r.deleted)
    {
        let by_arn = r
            .str("access_point_arn")
            .and_then(|arn| arn.rsplit_once("accesspoint/"))
            .and_then(|(_, n)| access_points.get(&format!("name:{n}")));
        let by_ref = || {
            r.references("access_point_arn")
                .iter()
                .find_map(|reference| {
                    let prefix = module_prefix(&r.config_address);
                    let target = format!("{prefix}{}", strip_suffix(reference));
                    access_points.get(&target)
                })
        };
        let Some((bucket, name)) = by_arn.or_else(by_ref).cloned() else {
            d.problems.push(Problem {
                origin: r.origin(),
                message: "access_point_arn names no access point of this plan".into(),
            });
            continue;
        };
        if let Some(p) = r.get("policy") {
            d.items.push(item(
                &bucket,
                Setting::AccessPointPolicy {
                    name,
                    policy: policy_val(p),
                },
                r,
            ));
        }
    }
    d
}

/// `aws_s3_bucket.b.id` → `aws_s3_bucket.b`.
fn strip_suffix(reference: &str) -> &str {
    let parts: Vec<&str> = reference.split('.').collect();
    let skip = parts.iter().take_while(|p| **p == "module").count() * 2;
    let n = (skip + 2).min(parts.len());
    let len: usize = parts[..n].iter().map(|p| p.len() + 1).sum::<usize>() - 1;
    &reference[..len]
}

fn item(bucket: &str, setting: Setting, r: &Res) -> Item {
    Item {
        bucket: Some(bucket.to_owned()),
        setting,
        origin: r.origin(),
    }
}

/// The bucket a resource applies to: by name when the plan knows it, else through the
/// configuration's reference to an `aws_s3_bucket`; a bucket the plan does not manage is added
/// as already existing, its state unknown.
fn bucket_key(
    r: &Res,
    attr: &str,
    by_config: &HashMap<String, String>,
    d: &mut Declared,
) -> String {
    let known = r
        .values
        .get(attr)
        .and_then(Value::as_str)
        .filter(|_| !r.is_unknown(attr));
    let key = match known {
        Some(name) => name.to_owned(),
        None => {
            let prefix = module_prefix(&r.config_address);
            match r.references(attr).iter().find_map(|reference| {
                by_config.get(&format!("{prefix}{}", strip_suffix(reference)))
            }) {
                Some(k) => k.clone(),
                None => format!("{}.{attr}", r.address),
            }
        }
    };
    if !d.buckets.iter().any(|b| b.key == key) {
        d.buckets.push(Bucket {
            key: key.clone(),
            name: known.map(str::to_owned),
            created: false,
            tags: Vec::new(),
            origin: r.origin(),
        });
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_lose_instance_keys() {
        assert_eq!(
            strip_keys("module.a[\"x\"].aws_s3_bucket.b[0]"),
            "module.a.aws_s3_bucket.b"
        );
        assert_eq!(strip_suffix("aws_s3_bucket.b.id"), "aws_s3_bucket.b");
        assert_eq!(strip_suffix("aws_s3_bucket.b"), "aws_s3_bucket.b");
        assert_eq!(
            strip_suffix("module.m.aws_s3_bucket.b.arn"),
            "module.m.aws_s3_bucket.b"
        );
        assert_eq!(module_prefix("module.m.aws_s3_bucket.b"), "module.m.");
        assert_eq!(module_prefix("aws_s3_bucket.b"), "");
    }
}
