//! Values a deploy input may not know yet: a whole value unknown ([`Val::Unknown`]), or unknown
//! leaves inside a known document (a policy whose principal is another resource's output). Owns
//! the two substitutions the check judges with — the most protective and the most permissive
//! value — so that "unknown" is never assumed safe; it does not judge exposure.

use serde_json::Value;

/// A value a deploy input sets: known, or unknown with what it is (`aws_s3_bucket_policy.p.policy`,
/// `BucketPolicy.PolicyDocument: Ref Principal (no default)`), said in the finding.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<T> {
    Known(T),
    Unknown(String),
}

impl<T> Val<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Val::Known(t) => Some(t),
            Val::Unknown(_) => None,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Val<U> {
        match self {
            Val::Known(t) => Val::Known(f(t)),
            Val::Unknown(w) => Val::Unknown(w),
        }
    }
}

/// Which end of the unknown values a judgement takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Every unknown value as protective as it could be: public even so means public for sure.
    Best,
    /// Every unknown value as permissive as it could be: not public even so means not public.
    Worst,
}

/// An unknown leaf inside a document, kept where it stands: `"\u{0}unknown:<what>"`.
const MARK: &str = "\u{0}unknown:";

pub fn unknown_leaf(what: &str) -> Value {
    Value::String(format!("{MARK}{what}"))
}

/// What the unknown leaves of `doc` are, in document order.
pub fn unknown_leaves(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(doc, &mut |s| {
        if let Some(w) = s.strip_prefix(MARK) {
            if !out.iter().any(|o| o == w) {
                out.push(w.to_owned());
            }
        }
    });
    out
}

fn walk(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        Value::Object(o) => o.values().for_each(|x| walk(x, f)),
        _ => {}
    }
}

/// The document with each unknown leaf replaced: by `*` in the worst case (a wildcard is what
/// makes a principal or a condition value not fixed), by a fixed value in the best case.
pub fn substitute(doc: &Value, case: Case) -> Value {
    match doc {
        Value::String(s) if s.starts_with(MARK) => Value::String(match case {
            Case::Worst => "*".to_owned(),
            Case::Best => "unknown-fixed-value".to_owned(),
        }),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, case)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), substitute(v, case)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A string with unknown parts (`arn:aws:s3:::${Bucket}/*`) reads as one unknown leaf.
pub fn is_unknown_leaf(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.starts_with(MARK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_are_named_and_substituted_at_both_ends() {
        let doc = json!({"Statement": [{"Principal": {"AWS": unknown_leaf("Ref RoleArn")}, "Resource": "*"}]});
        assert_eq!(unknown_leaves(&doc), vec!["Ref RoleArn".to_string()]);
        assert_eq!(
            substitute(&doc, Case::Worst)["Statement"][0]["Principal"]["AWS"],
            "*"
        );
        assert_eq!(
            substitute(&doc, Case::Best)["Statement"][0]["Principal"]["AWS"],
            "unknown-fixed-value"
        );
    }
}
