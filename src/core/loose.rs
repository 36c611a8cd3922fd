//! Lenient readers for record fields: any JSON value is accepted, so a field of the wrong type
//! never fails the whole record (docs/DESIGN.md §2: bad input never loses data). What was wrong is kept
//! for the caller to report as an oddity. Owns only the reading; which fields matter and what
//! replaces a wrong one is `record`'s business.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The JSON type of a value, to say what a field held instead of what it should.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl JsonKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JsonKind::Null => "null",
            JsonKind::Bool => "bool",
            JsonKind::Number => "number",
            JsonKind::String => "string",
            JsonKind::Array => "array",
            JsonKind::Object => "object",
        }
    }
}

/// A field that should hold a string. Strings are borrowed from the input when they can be; any
/// other value is kept as its kind (and, for a whole non-negative number, its value: the one
/// reconstruction `record` makes, of an account id written as a number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loose<'a> {
    Str(Cow<'a, str>),
    Wrong(JsonKind, Option<u64>),
}

impl Loose<'_> {
    /// The trimmed text, `None` when empty or not a string.
    pub fn text(&self) -> Option<&str> {
        match self {
            Loose::Str(s) => Some(s.trim()).filter(|s| !s.is_empty()),
            Loose::Wrong(..) => None,
        }
    }

    /// The kind found when it is not a string.
    pub fn wrong(&self) -> Option<JsonKind> {
        match self {
            Loose::Str(_) => None,
            Loose::Wrong(k, _) => Some(*k),
        }
    }

    /// A whole non-negative number, when that is what the field held.
    pub fn whole_number(&self) -> Option<u64> {
        match self {
            Loose::Wrong(JsonKind::Number, n) => *n,
            _ => None,
        }
    }
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Loose<'de>, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Loose<'de>, E> {
        Ok(Loose::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Loose<'de>, E> {
        Ok(Loose::Str(Cow::Owned(v)))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Loose<'de>, E> {
        Ok(Loose::Wrong(JsonKind::Bool, None))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Loose<'de>, E> {
        Ok(Loose::Wrong(JsonKind::Number, Some(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Loose<'de>, E> {
        Ok(Loose::Wrong(JsonKind::Number, u64::try_from(v).ok()))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Loose<'de>, E> {
        Ok(Loose::Wrong(JsonKind::Number, None))
    }
    fn visit_unit<E>(self) -> Result<Loose<'de>, E> {
        Ok(Loose::Wrong(JsonKind::Null, None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Loose<'de>, A::Error> {
        drain_seq(seq)?;
        Ok(Loose::Wrong(JsonKind::Array, None))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Loose<'de>, A::Error> {
        drain_map(map)?;
        Ok(Loose::Wrong(JsonKind::Object, None))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
}

/// Only the JSON type of a field the decision never reads, so that a wrong one is reported.
/// Reads strings without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe(pub JsonKind);

struct ProbeVisitor;

impl<'de> Visitor<'de> for ProbeVisitor {
    type Value = Probe;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, _: &str) -> Result<Probe, E> {
        Ok(Probe(JsonKind::String))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Probe, E> {
        Ok(Probe(JsonKind::Bool))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Probe, E> {
        Ok(Probe(JsonKind::Number))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Probe, E> {
        Ok(Probe(JsonKind::Number))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Probe, E> {
        Ok(Probe(JsonKind::Number))
    }
    fn visit_unit<E>(self) -> Result<Probe, E> {
        Ok(Probe(JsonKind::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Probe, A::Error> {
        drain_seq(seq)?;
        Ok(Probe(JsonKind::Array))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Probe, A::Error> {
        drain_map(map)?;
        Ok(Probe(JsonKind::Object))
    }
}

impl<'de> Deserialize<'de> for Probe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ProbeVisitor)
    }
}

/// `userIdentity`: the two fields the decision reads (the actor's ARN for self-exemption, the
/// account as a second source), the types of the others, or the kind found when it is not an
/// object at all.
#[derive(Debug, Default)]
pub struct Identity<'a> {
    pub arn: Option<Loose<'a>>,
    pub account_id: Option<Loose<'a>>,
    /// The other string fields AWS documents, with their kinds.
    pub others: [Option<Probe>; 4],
    /// Set when `userIdentity` was not an object.
    pub not_object: Option<JsonKind>,
}

/// The other string fields of `userIdentity`, in `Identity::others` order.
pub const IDENTITY_OTHERS: [&str; 4] = [
    "userIdentity.type",
    "userIdentity.principalId",
    "userIdentity.accessKeyId",
    "userIdentity.userName",
];

#[derive(serde::Deserialize)]
#[serde(field_identifier)]
enum IdentityField {
    #[serde(rename = "arn")]
    Arn,
    #[serde(rename = "accountId")]
    AccountId,
    #[serde(rename = "type")]
    Type,
    #[serde(rename = "principalId")]
    PrincipalId,
    #[serde(rename = "accessKeyId")]
    AccessKeyId,
    #[serde(rename = "userName")]
    UserName,
    #[serde(other)]
    Other,
}

struct IdentityVisitor;

impl<'de> Visitor<'de> for IdentityVisitor {
    type Value = Identity<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Identity<'de>, A::Error> {
        let mut id = Identity::default();
        while let Some(k) = map.next_key::<IdentityField>()? {
            // A repeated key: the last one wins, as for serde_json::Value.
            let other = |i: usize, id: &mut Identity<'de>, p: Option<Probe>| id.others[i] = p;
            match k {
                IdentityField::Arn => id.arn = map.next_value::<Option<Loose<'de>>>()?,
                IdentityField::AccountId => {
                    id.account_id = map.next_value::<Option<Loose<'de>>>()?
                }
                IdentityField::Type => other(0, &mut id, map.next_value()?),
                IdentityField::PrincipalId => other(1, &mut id, map.next_value()?),
                IdentityField::AccessKeyId => other(2, &mut id, map.next_value()?),
                IdentityField::UserName => other(3, &mut id, map.next_value()?),
                IdentityField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(id)
    }
    fn visit_str<E>(self, _: &str) -> Result<Identity<'de>, E> {
        Ok(wrong_identity(JsonKind::String))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Identity<'de>, E> {
        Ok(wrong_identity(JsonKind::Bool))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Identity<'de>, E> {
        Ok(wrong_identity(JsonKind::Number))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Identity<'de>, E> {
        Ok(wrong_identity(JsonKind::Number))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Identity<'de>, E> {
        Ok(wrong_identity(JsonKind::Number))
    }
    fn visit_unit<E>(self) -> Result<Identity<'de>, E> {
        Ok(Identity::default())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Identity<'de>, A::Error> {
        drain_seq(seq)?;
        Ok(wrong_identity(JsonKind::Array))
    }
}

fn wrong_identity<'a>(k: JsonKind) -> Identity<'a> {
    Identity {
        not_object: Some(k),
        ..Identity::default()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Identity<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IdentityVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_borrow_and_other_values_keep_their_kind() {
        let l: Loose = serde_json::from_str(r#""abc""#).unwrap();
        assert!(matches!(l, Loose::Str(Cow::Borrowed("abc"))));
        let l: Loose = serde_json::from_str(r#""a\"b""#).unwrap();
        assert_eq!(l.text(), Some("a\"b"));
        let l: Loose = serde_json::from_str("123456789012").unwrap();
        assert_eq!(l.wrong(), Some(JsonKind::Number));
        assert_eq!(l.whole_number(), Some(123456789012));
        let l: Loose = serde_json::from_str("-1").unwrap();
        assert_eq!(l.whole_number(), None);
        let l: Loose = serde_json::from_str("1.5").unwrap();
        assert_eq!(
            (l.wrong(), l.whole_number()),
            (Some(JsonKind::Number), None)
        );
        for (raw, k) in [
            ("true", JsonKind::Bool),
            (r#"[1,{"a":[]}]"#, JsonKind::Array),
            (r#"{"a":{"b":[1,2]}}"#, JsonKind::Object),
        ] {
            let l: Loose = serde_json::from_str(raw).unwrap();
            assert_eq!(l.wrong(), Some(k), "{raw}");
            let p: Probe = serde_json::from_str(raw).unwrap();
            assert_eq!(p.0, k, "{raw}");
        }
        let l: Option<Loose> = serde_json::from_str("null").unwrap();
        assert_eq!(l, None);
    }

    #[test]
    fn identity_reads_its_two_fields_and_the_types_of_the_rest() {
        let id: Identity = serde_json::from_str(
            r#"{"type":"IAMUser","principalId":7,"arn":"arn:aws:iam::1:user/a","accountId":111122223333,"sessionContext":{"x":[1]},"userName":["a"]}"#,
        )
        .unwrap();
        assert_eq!(
            id.arn.as_ref().and_then(Loose::text),
            Some("arn:aws:iam::1:user/a")
        );
        assert_eq!(
            id.account_id.as_ref().and_then(Loose::whole_number),
            Some(111122223333)
        );
        assert_eq!(id.others[0], Some(Probe(JsonKind::String)));
        assert_eq!(id.others[1], Some(Probe(JsonKind::Number)));
        assert_eq!(id.others[2], None);
        assert_eq!(id.others[3], Some(Probe(JsonKind::Array)));
        assert_eq!(id.not_object, None);
        let id: Identity = serde_json::from_str(r#""root""#).unwrap();
        assert_eq!(id.not_object, Some(JsonKind::String));
    }
}
