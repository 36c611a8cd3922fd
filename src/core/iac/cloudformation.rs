//! CloudFormation templates, JSON or YAML (so CDK's synthesized output too): `AWS::S3::Bucket`,
//! `AWS::S3::BucketPolicy` and `AWS::S3::AccessPoint` read into [`Declared`], with the intrinsic
//! functions the template alone decides resolved (`Ref` to a parameter's default, `Fn::Sub`,
//! `Fn::Join`, and the YAML short forms) and everything else an unknown value. A pseudo parameter
//! (`AWS::AccountId`) or another AWS resource's `Ref`/`Fn::GetAtt` is a fixed identifier (an id,
//! a name or an ARN CloudFormation assigns, never a wildcard); a custom resource's output, an
//! import or a parameter without a default is unknown. It reads; it does not judge.

use serde_json::{Map, Value};

use crate::core::exposure::{BlockConfig, Ownership};
use crate::core::iac::resource::{canned_acl, Bucket, Declared, Item, Origin, Problem, Setting};
use crate::core::iac::unknown::{self, unknown_leaf, Val};

/// A template, told by its keys: `Resources` whose entries have a `Type`.
pub fn is_template(v: &Value) -> bool {
    v.get("AWSTemplateFormatVersion").is_some()
        || v.get("Resources")
            .and_then(Value::as_object)
            .is_some_and(|r| {
                !r.is_empty()
                    && r.values()
                        .all(|x| x.get("Type").is_some_and(Value::is_string))
            })
}

/// A YAML template as JSON, the short forms (`!Ref x`, `!Sub s`, `!GetAtt a.b`) as their long
/// forms. Errors carry the line and column.
pub fn from_yaml(text: &str) -> Result<Value, (String, Option<(usize, usize)>)> {
    let y: serde_norway::Value = serde_norway::from_str(text).map_err(|e| {
        let at = e.location().map(|l| (l.line(), l.column()));
        (e.to_string(), at)
    })?;
    Ok(to_json(y))
}

fn to_json(y: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match y {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::from_str(&n.to_string()).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(s) => Value::Array(s.into_iter().map(to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let k = match k {
                        Y::String(s) => s,
                        other => serde_norway::to_string(&other)
                            .unwrap_or_default()
                            .trim()
                            .to_owned(),
                    };
                    (k, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let key = match name {
                "Ref" | "Condition" => name.to_owned(),
                other => format!("Fn::{other}"),
            };
            let mut m = Map::new();
            m.insert(key, to_json(t.value));
            Value::Object(m)
        }
    }
}

struct Template<'a> {
    parameters: Option<&'a Map<String, Value>>,
    resources: &'a Map<String, Value>,
}

const PSEUDO: [&str; 8] = [
    "AWS::AccountId",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
    "AWS::NotificationARNs",
    "AWS::NoValue",
];

impl Template<'_> {
    fn resource_type(&self, id: &str) -> Option<&str> {
        self.resources.get(id)?.get("Type")?.as_str()
    }

    /// What `Ref name` (or `${name}` in a `Fn::Sub`) stands for.
    fn reference(&self, name: &str) -> Value {
        if let Some(p) = self.parameters.and_then(|p| p.get(name)) {
            return match p.get("Default") {
                Some(Value::String(s)) => Value::String(s.clone()),
                Some(Value::Number(n)) => Value::String(n.to_string()),
                Some(Value::Bool(b)) => Value::String(b.to_string()),
                _ => unknown_leaf(&format!("Ref {name} (a parameter without a default)")),
            };
        }
        if name == "AWS::NoValue" {
            return Value::Null;
        }
        if PSEUDO.contains(&name) {
            return Value::String(format!("{{{name}}}"));
        }
        self.attribute(name, None)
    }

    fn attribute(&self, id: &str, attr: Option<&str>) -> Value {
        let what = match attr {
            Some(a) => format!("{id}.{a}"),
            None => id.to_owned(),
        };
        match self.resource_type(id) {
            Some(t) if t.starts_with("AWS::") => Value::String(format!("{{{what}}}")),
            Some(_) => unknown_leaf(&format!("{what} (a custom resource's output)")),
            None => unknown_leaf(&format!("{what} (not in the template)")),
        }
    }

    /// The value with every intrinsic function resolved or replaced by an unknown leaf.
    fn resolve(&self, v: &Value) -> Value {
        match v {
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.resolve(x))
                    .filter(|x| !x.is_null())
                    .collect(),
            ),
            Value::Object(o) if o.len() == 1 => {
                let (k, arg) = o.iter().next().expect("one entry");
                match k.as_str() {
                    "Ref" => match arg.as_str() {
                        Some(name) => self.reference(name),
                        None => unknown_leaf("Ref of a non-string"),
                    },
                    "Fn::GetAtt" => {
                        let parts: Vec<String> = match arg {
                            Value::String(s) => s.splitn(2, '.').map(str::to_owned).collect(),
                            Value::Array(a) => a
                                .iter()
                                .map(|x| x.as_str().unwrap_or("?").to_owned())
                                .collect(),
                            _ => Vec::new(),
                        };
                        match parts.as_slice() {
                            [id, attr] => self.attribute(id, Some(attr)),
                            _ => unknown_leaf("Fn::GetAtt"),
                        }
                    }
                    "Fn::Sub" => self.sub(arg),
                    "Fn::Join" => self.join(arg),
                    f if f.starts_with("Fn::") || f == "Condition" => {
                        unknown_leaf(&format!("{f} (not decided by the template alone)"))
                    }
                    _ => Value::Object(
                        o.iter()
                            .map(|(k, v)| (k.clone(), self.resolve(v)))
                            .collect(),
                    ),
                }
            }
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v)))
                    .filter(|(_, v)| !v.is_null())
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn sub(&self, arg: &Value) -> Value {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), None),
            Value::Array(a) => match (a.first().and_then(Value::as_str), a.get(1)) {
                (Some(s), vars) => (s, vars.and_then(Value::as_object)),
                _ => return unknown_leaf("Fn::Sub"),
            },
            _ => return unknown_leaf("Fn::Sub"),
        };
        let mut out = String::new();
        let mut rest = text;
        let mut unknown = Vec::new();
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[i..]);
                rest = "";
                break;
            };
            let name = &after[..end];
            rest = &after[end + 1..];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
                continue;
            }
            let value = match vars.and_then(|v| v.get(name)) {
                Some(v) => self.resolve(v),
                None => match name.split_once('.') {
                    Some((id, attr)) => self.attribute(id, Some(attr)),
                    None => self.reference(name),
                },
            };
            match value.as_str() {
                Some(s) if unknown::is_unknown_leaf(&value) => unknown.push(s.to_owned()),
                Some(s) => out.push_str(s),
                None => unknown.push(format!("${{{name}}}")),
            }
        }
        out.push_str(rest);
        match unknown.first() {
            None => Value::String(out),
            Some(_) => unknown_leaf(&format!(
                "Fn::Sub {text:?}: {}",
                unknown::unknown_leaves(&Value::Array(
                    unknown.into_iter().map(Value::String).collect()
                ))
                .join(", ")
            )),
        }
    }

    fn join(&self, arg: &Value) -> Value {
        let (Some(delim), Some(items)) = (
            arg.get(0).and_then(Value::as_str),
            arg.get(1).map(|i| self.resolve(i)),
        ) else {
            return unknown_leaf("Fn::Join");
        };
        let Some(items) = items.as_array() else {
            return unknown_leaf("Fn::Join of a list the template does not decide");
        };
        let mut parts = Vec::new();
        for item in items {
            match item.as_str() {
                Some(_) if unknown::is_unknown_leaf(item) => {
                    return unknown_leaf(&format!(
                        "Fn::Join: {}",
                        unknown::unknown_leaves(item).join(", ")
                    ))
                }
                Some(s) => parts.push(s.to_owned()),
                None => return unknown_leaf("Fn::Join of a non-string"),
            }
        }
        Value::String(parts.join(delim))
    }
}

/// A resolved value as a whole: known, or unknown naming what was.
fn whole(v: Value, what: impl FnOnce() -> String) -> Val<Value> {
    match unknown::unknown_leaves(&v).first() {
        Some(u) if unknown::is_unknown_leaf(&v) => Val::Unknown(format!("{}: {u}", what())),
        _ => Val::Known(v),
    }
}

fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn block(t: &Template, v: Option<&Value>, what: &str, default: BlockConfig) -> Val<BlockConfig> {
    let Some(v) = v else {
        return Val::Known(default);
    };
    let v = t.resolve(v);
    if !v.is_object() {
        return Val::Unknown(format!("{what}: not a configuration ({v})"));
    }
    let mut c = BlockConfig::ALL_OFF;
    for (name, slot) in [
        ("BlockPublicAcls", &mut c.block_public_acls),
        ("IgnorePublicAcls", &mut c.ignore_public_acls),
        ("BlockPublicPolicy", &mut c.block_public_policy),
        ("RestrictPublicBuckets", &mut c.restrict_public_buckets),
    ] {
        match v.get(name) {
            None | Some(Value::Null) => {}
            Some(x) => match flag(x) {
                Some(b) => *slot = b,
                None => {
                    let u = unknown::unknown_leaves(x).join(", ");
                    return Val::Unknown(format!("{what}.{name}: {u}"));
                }
            },
        }
    }
    Val::Known(c)
}

/// The 1-based line where a logical id is declared.
fn line_of_id(text: &str, id: &str) -> Option<usize> {
    let start = text.find("Resources").unwrap_or(0);
    let body = &text[start..];
    let at = [format!("\"{id}\""), format!("\n  {id}:"), format!(" {id}:")]
        .iter()
        .filter_map(|n| {
            body.find(n.as_str())
                .map(|i| i + usize::from(n.starts_with('\n')))
        })
        .min()?;
    Some(text[..start + at].bytes().filter(|b| *b == b'\n').count() + 1)
}

/// Reads a template.
pub fn parse(v: &Value, text: &str) -> Declared {
    let mut d = Declared::default();
    let Some(resources) = v.get("Resources").and_then(Value::as_object) else {
        return d;
    };
    let t = Template {
        parameters: v.get("Parameters").and_then(Value::as_object),
        resources,
    };
    let origin = |id: &str| Origin {
        address: id.to_owned(),
        line: line_of_id(text, id),
    };
    let kind = |r: &Value| r.get("Type").and_then(Value::as_str).map(str::to_owned);
    static NULL: Value = Value::Null;
    let props = |r: &'_ Value| -> Value { r.get("Properties").cloned().unwrap_or(NULL.clone()) };
    // Buckets first: the policies and access points join to them.
    for (id, r) in resources {
        if kind(r).as_deref() != Some("AWS::S3::Bucket") {
            continue;
        }
        let p = props(r);
        let name = p
            .get("BucketName")
            .map(|n| t.resolve(n))
            .filter(|n| !unknown::is_unknown_leaf(n))
            .and_then(|n| n.as_str().map(str::to_owned))
            // A pseudo parameter's placeholder (`{AWS::AccountId}`): the name is not known.
            .filter(|n| !n.contains('{'));
        let tags = p
            .get("Tags")
            .map(|x| t.resolve(x))
            .and_then(|x| x.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|tag| {
                Some((
                    tag.get("Key")?.as_str()?.to_owned(),
                    tag.get("Value")?.as_str()?.to_owned(),
                ))
            })
            .collect();
        d.buckets.push(Bucket {
            key: id.clone(),
            name,
            created: true,
            tags,
            origin: origin(id),
        });
        let item = |setting| Item {
            bucket: Some(id.clone()),
            setting,
            origin: origin(id),
        };
        if let Some(o) = p.get("OwnershipControls") {
            let rule = t.resolve(o);
            let rule = rule
                .get("Rules")
                .and_then(|r| r.get(0))
                .and_then(|r| r.get("ObjectOwnership"));
            match rule {
                Some(x) if unknown::is_unknown_leaf(x) => {
                    d.items.push(item(Setting::Ownership(Val::Unknown(format!(
                        "{id}.OwnershipControls: {}",
                        unknown::unknown_leaves(x).join(", ")
                    )))))
                }
                Some(x) => match x.as_str().and_then(Ownership::parse) {
                    Some(o) => d.items.push(item(Setting::Ownership(Val::Known(o)))),
                    None => {
                        // Reported, and judged as unknown: never assumed safe.
                        let message =
                            format!("OwnershipControls ObjectOwnership {x} is not one S3 knows");
                        d.items.push(item(Setting::Ownership(Val::Unknown(format!(
                            "{id}.OwnershipControls: {message}"
                        )))));
                        d.problems.push(Problem {
                            origin: origin(id),
                            message,
                        });
                    }
                },
                None => {}
            }
        }
        if let Some(b) = p.get("PublicAccessBlockConfiguration") {
            let what = format!("{id}.PublicAccessBlockConfiguration");
            d.items.push(item(Setting::Block(block(
                &t,
                Some(b),
                &what,
                BlockConfig::ALL_OFF,
            ))));
        }
        if let Some(a) = p.get("AccessControl") {
            match whole(t.resolve(a), || format!("{id}.AccessControl")) {
                Val::Unknown(w) => d.items.push(item(Setting::Acl(Val::Unknown(w)))),
                Val::Known(x) => match x.as_str().and_then(canned_acl) {
                    Some(acl) => d.items.push(item(Setting::Acl(Val::Known(acl)))),
                    None => {
                        let message = format!("AccessControl {x} is not a canned ACL S3 knows");
                        d.items.push(item(Setting::Acl(Val::Unknown(format!(
                            "{id}.AccessControl: {message}"
                        )))));
                        d.problems.push(Problem {
                            origin: origin(id),
                            message,
                        });
                    }
                },
            }
        }
    }
    for (id, r) in resources {
        let k = kind(r);
        let (is_policy, is_ap) = match k.as_deref() {
            Some("AWS::S3::BucketPolicy") => (true, false),
            Some("AWS::S3::AccessPoint") => (false, true),
            _ => continue,
        };
        let p = props(r);
        let Some(bucket) = bucket_ref(&t, p.get("Bucket"), &mut d, origin(id)) else {
            d.problems.push(Problem {
                origin: origin(id),
                message: "no Bucket".into(),
            });
            continue;
        };
        let item = |setting| Item {
            bucket: Some(bucket.clone()),
            setting,
            origin: origin(id),
        };
        if is_policy {
            let Some(doc) = p.get("PolicyDocument") else {
                d.problems.push(Problem {
                    origin: origin(id),
                    message: "no PolicyDocument".into(),
                });
                continue;
            };
            let doc = policy_doc(&t, doc, &format!("{id}.PolicyDocument"));
            d.items.push(item(Setting::Policy(doc)));
        }
        if is_ap {
            let name = p
                .get("Name")
                .map(|n| t.resolve(n))
                .and_then(|n| {
                    n.as_str()
                        .filter(|_| !unknown::is_unknown_leaf(&n))
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| id.clone());
            let block = block(
                &t,
                p.get("PublicAccessBlockConfiguration"),
                &format!("{id}.PublicAccessBlockConfiguration"),
                BlockConfig::ALL_ON,
            );
            let vpc = match p.get("VpcConfiguration").map(|v| t.resolve(v)) {
                None | Some(Value::Null) => Val::Known(false),
                Some(_) => Val::Known(true),
            };
            d.items.push(item(Setting::AccessPoint {
                name: name.clone(),
                block,
                vpc_origin: vpc,
            }));
            if let Some(doc) = p.get("Policy") {
                let doc = policy_doc(&t, doc, &format!("{id}.Policy"));
                d.items
                    .push(item(Setting::AccessPointPolicy { name, policy: doc }));
            }
        }
    }
    d
}

fn policy_doc(t: &Template, doc: &Value, what: &str) -> Val<Value> {
    let doc = match doc {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| doc.clone()),
        other => other.clone(),
    };
    whole(t.resolve(&doc), || what.to_owned())
}

/// The bucket a policy or access point names: a `Ref` to a bucket of the template (its key), a
/// name that a template bucket has, or a bucket the template does not manage (added as existing).
fn bucket_ref(t: &Template, v: Option<&Value>, d: &mut Declared, origin: Origin) -> Option<String> {
    let v = v?;
    if let Some(id) = v.get("Ref").and_then(Value::as_str) {
        if t.resource_type(id) == Some("AWS::S3::Bucket") {
            return Some(id.to_owned());
        }
    }
    let resolved = t.resolve(v);
    let (key, name) = match resolved.as_str() {
        Some(s) if !unknown::is_unknown_leaf(&resolved) => {
            match d.buckets.iter().find(|b| b.name.as_deref() == Some(s)) {
                Some(b) => return Some(b.key.clone()),
                None => (s.to_owned(), Some(s.to_owned())),
            }
        }
        _ => (format!("{}.Bucket", origin.address), None),
    };
    if !d.buckets.iter().any(|b| b.key == key) {
        d.buckets.push(Bucket {
            key: key.clone(),
            name,
            created: false,
            tags: Vec::new(),
            origin,
        });
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_short_forms_become_long_forms() {
        let v = from_yaml("A: !Ref B\nC: !GetAtt D.Arn\nE: !Sub 'x-${F}'\n").unwrap();
        assert_eq!(
            v,
            json!({"A": {"Ref": "B"}, "C": {"Fn::GetAtt": "D.Arn"}, "E": {"Fn::Sub": "x-${F}"}})
        );
    }

    #[test]
    fn intrinsics_resolve_where_the_template_decides() {
        let params = json!({"P": {"Type": "String", "Default": "o-abc"}, "Q": {"Type": "String"}});
        let res = json!({"B": {"Type": "AWS::S3::Bucket"}, "C": {"Type": "Custom::Thing"}});
        let t = Template {
            parameters: params.as_object(),
            resources: res.as_object().unwrap(),
        };
        assert_eq!(t.resolve(&json!({"Ref": "P"})), json!("o-abc"));
        assert!(unknown::is_unknown_leaf(&t.resolve(&json!({"Ref": "Q"}))));
        assert_eq!(
            t.resolve(&json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::${B}/*"})),
            json!("arn:{AWS::Partition}:s3:::{B}/*")
        );
        assert_eq!(
            t.resolve(&json!({"Fn::Join": ["-", ["a", {"Ref": "P"}]]})),
            json!("a-o-abc")
        );
        assert!(unknown::is_unknown_leaf(
            &t.resolve(&json!({"Fn::GetAtt": ["C", "Out"]}))
        ));
        assert!(unknown::is_unknown_leaf(
            &t.resolve(&json!({"Fn::ImportValue": "x"}))
        ));
        assert_eq!(
            t.resolve(&json!({"Fn::Sub": "${!Literal}"})),
            json!("${Literal}")
        );
    }
}
