//! Access control lists: which grants make a bucket or object public (docs/DESIGN.md §4, ACL rule).
//! Owns parsing of canned ACLs, `x-amz-grant-*` headers and `AccessControlPolicy` bodies as
//! CloudTrail records them. Knows nothing of buckets, blocks or ownership.

use serde_json::Value;

use crate::core::quote::Quoted;

/// One ACL permission, as S3 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Permission::Read,
        Permission::Write,
        Permission::ReadAcp,
        Permission::WriteAcp,
        Permission::FullControl,
    ];

    fn bit(self) -> u8 {
        match self {
            Permission::Read => 1,
            Permission::Write => 2,
            Permission::ReadAcp => 4,
            Permission::WriteAcp => 8,
            Permission::FullControl => 16,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
            Permission::FullControl => "FULL_CONTROL",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// The public groups of S3 (the only grantees that matter for exposure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PublicGroup {
    AllUsers,
    AuthenticatedUsers,
}

impl PublicGroup {
    /// Recognises a group URI (`http://acs.amazonaws.com/groups/global/AllUsers`; scheme and case
    /// vary in captures). `…/groups/s3/LogDelivery` and every other URI is not public.
    pub fn from_uri(uri: &str) -> Option<PublicGroup> {
        let u = uri.trim().trim_matches('"').to_ascii_lowercase();
        let path = u.split_once("://").map(|(_, rest)| rest).unwrap_or(&u);
        match path.trim_end_matches('/') {
            "acs.amazonaws.com/groups/global/allusers" => Some(PublicGroup::AllUsers),
            "acs.amazonaws.com/groups/global/authenticatedusers" => {
                Some(PublicGroup::AuthenticatedUsers)
            }
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PublicGroup::AllUsers => "AllUsers",
            PublicGroup::AuthenticatedUsers => "AuthenticatedUsers",
        }
    }
}

/// An ACL reduced to what exposure needs: the permissions granted to each public group.
/// Grants to accounts, canonical users, e-mail addresses and `LogDelivery` are not public and
/// are not kept. Compact (two bytes) because every object with an ACL event keeps one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct Acl {
    pub all_users: u8,
    pub authenticated_users: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AclError {
    /// Messages quote a value through `quote::Quoted`: a value can be 240 KB (issue #26).
    #[error("unknown canned ACL {}", Quoted(.0))]
    UnknownCanned(String),
    #[error("malformed grant header {}: {}", Quoted(.header), Quoted(.value))]
    BadGrantHeader { header: String, value: String },
    #[error("malformed AccessControlPolicy: {0}")]
    BadBody(String),
}

/// The canned-ACL request header.
pub const CANNED_HEADER: &str = "x-amz-acl";

/// The grant request headers and the permission each grants.
pub const GRANT_HEADERS: [(&str, Permission); 5] = [
    ("x-amz-grant-read", Permission::Read),
    ("x-amz-grant-write", Permission::Write),
    ("x-amz-grant-read-acp", Permission::ReadAcp),
    ("x-amz-grant-write-acp", Permission::WriteAcp),
    ("x-amz-grant-full-control", Permission::FullControl),
];

/// A header or field value that CloudTrail may record as a string or a list of strings.
fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

impl Acl {
    pub const PRIVATE: Acl = Acl {
        all_users: 0,
        authenticated_users: 0,
    };

    pub fn grant(&mut self, group: PublicGroup, p: Permission) {
        match group {
            PublicGroup::AllUsers => self.all_users |= p.bit(),
            PublicGroup::AuthenticatedUsers => self.authenticated_users |= p.bit(),
        }
    }

    fn union(self, other: Acl) -> Acl {
        Acl {
            all_users: self.all_users | other.all_users,
            authenticated_users: self.authenticated_users | other.authenticated_users,
        }
    }

    /// The canned ACLs of the S3 documentation ("Canned ACL").
    pub fn from_canned(name: &str) -> Result<Acl, AclError> {
        let mut acl = Acl::PRIVATE;
        match name.trim() {
            "private"
            | "aws-exec-read"
            | "bucket-owner-read"
            | "bucket-owner-full-control"
            | "log-delivery-write" => {}
            "public-read" => acl.grant(PublicGroup::AllUsers, Permission::Read),
            "public-read-write" => {
                acl.grant(PublicGroup::AllUsers, Permission::Read);
                acl.grant(PublicGroup::AllUsers, Permission::Write);
            }
            "authenticated-read" => acl.grant(PublicGroup::AuthenticatedUsers, Permission::Read),
            other => return Err(AclError::UnknownCanned(other.to_owned())),
        }
        Ok(acl)
    }

    /// Parses `uri="http://acs.amazonaws.com/groups/global/AllUsers", id="…"` (a grant header).
    fn from_grant_header(header: &str, value: &str, p: Permission) -> Result<Acl, AclError> {
        let mut acl = Acl::PRIVATE;
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let Some((kind, grantee)) = item.split_once('=') else {
                return Err(AclError::BadGrantHeader {
                    header: header.to_owned(),
                    value: value.to_owned(),
                });
            };
            if kind.trim().eq_ignore_ascii_case("uri") {
                if let Some(g) = PublicGroup::from_uri(grantee) {
                    acl.grant(g, p);
                }
            }
        }
        Ok(acl)
    }

    /// Reads an `AccessControlPolicy` body as CloudTrail converts the XML: `Grant` is an object
    /// when there is one grant and an array when several.
    fn from_body(body: &Value) -> Result<Acl, AclError> {
        let mut acl = Acl::PRIVATE;
        let list = match body.get("AccessControlList") {
            None | Some(Value::Null) => return Ok(acl),
            Some(Value::String(s)) if s.is_empty() => return Ok(acl),
            Some(v @ Value::Object(_)) => v,
            Some(other) => {
                return Err(AclError::BadBody(format!(
                    "AccessControlList is {}",
                    Quoted(&other.to_string())
                )))
            }
        };
        let grants: Vec<&Value> = match list.get("Grant") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.iter().collect(),
            Some(g @ Value::Object(_)) => vec![g],
            Some(other) => {
                return Err(AclError::BadBody(format!(
                    "Grant is {}",
                    Quoted(&other.to_string())
                )))
            }
        };
        for g in grants {
            let Some(grantee) = g.get("Grantee") else {
                continue;
            };
            let uri = grantee
                .get("URI")
                .or_else(|| grantee.get("uri"))
                .or_else(|| grantee.get("Uri"))
                .and_then(Value::as_str);
            let Some(group) = uri.and_then(PublicGroup::from_uri) else {
                continue;
            };
            let perm = g
                .get("Permission")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let p = Permission::parse(perm)
                .ok_or_else(|| AclError::BadBody(format!("unknown permission {}", Quoted(perm))))?;
            acl.grant(group, p);
        }
        Ok(acl)
    }

    /// The ACL a request sets, from a CloudTrail `requestParameters` object; `Ok(None)` when the
    /// request carries no ACL at all. Several sources are united (S3 rejects such requests, so
    /// this only matters for odd captures, and the union is the cautious reading).
    pub fn from_request(params: &Value) -> Result<Option<Acl>, AclError> {
        let mut found = false;
        let mut acl = Acl::PRIVATE;
        if let Some(v) = params.get(CANNED_HEADER) {
            for name in strings(v) {
                found = true;
                acl = acl.union(Acl::from_canned(name)?);
            }
        }
        for (header, p) in GRANT_HEADERS {
            if let Some(v) = params.get(header) {
                for value in strings(v) {
                    found = true;
                    acl = acl.union(Acl::from_grant_header(header, value, p)?);
                }
            }
        }
        if let Some(body) = params.get("AccessControlPolicy") {
            if body.is_object() {
                found = true;
                acl = acl.union(Acl::from_body(body)?);
            }
        }
        Ok(found.then_some(acl))
    }

    pub fn is_public(&self) -> bool {
        self.all_users != 0 || self.authenticated_users != 0
    }

    /// One reason per public grant, in a fixed order: `acl:AllUsers:READ`, …
    pub fn findings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (group, bits) in [
            (PublicGroup::AllUsers, self.all_users),
            (PublicGroup::AuthenticatedUsers, self.authenticated_users),
        ] {
            for p in Permission::ALL {
                if bits & p.bit() != 0 {
                    out.push(format!("acl:{}:{}", group.as_str(), p.as_str()));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // S3 User Guide, "Access control list (ACL) overview" → "Canned ACL".
    #[test]
    fn canned_acls_by_the_documentation() {
        for public in ["public-read", "public-read-write", "authenticated-read"] {
            assert!(Acl::from_canned(public).unwrap().is_public(), "{public}");
        }
        for private in [
            "private",
            "aws-exec-read",
            "bucket-owner-read",
            "bucket-owner-full-control",
            "log-delivery-write",
        ] {
            assert!(!Acl::from_canned(private).unwrap().is_public(), "{private}");
        }
        assert_eq!(
            Acl::from_canned("public-read-write").unwrap().findings(),
            vec!["acl:AllUsers:READ", "acl:AllUsers:WRITE"]
        );
        assert_eq!(
            Acl::from_canned("authenticated-read").unwrap().findings(),
            vec!["acl:AuthenticatedUsers:READ"]
        );
        assert!(matches!(
            Acl::from_canned("public"),
            Err(AclError::UnknownCanned(_))
        ));
    }

    #[test]
    fn canned_header_as_string_or_array() {
        let a = Acl::from_request(&json!({"x-amz-acl": ["public-read"]}))
            .unwrap()
            .unwrap();
        let b = Acl::from_request(&json!({"x-amz-acl": "public-read"}))
            .unwrap()
            .unwrap();
        assert_eq!(a, b);
        assert!(a.is_public());
        assert_eq!(
            Acl::from_request(&json!({"bucketName": "b", "acl": [""]})).unwrap(),
            None
        );
    }

    // "Grantee values": uri for predefined groups, id for canonical users, emailAddress.
    #[test]
    fn grant_headers() {
        let p = json!({"x-amz-grant-read": "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\", id=\"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be\""});
        assert_eq!(
            Acl::from_request(&p).unwrap().unwrap().findings(),
            vec!["acl:AllUsers:READ"]
        );
        let p = json!({"x-amz-grant-full-control": ["uri=http://acs.amazonaws.com/groups/global/AuthenticatedUsers"]});
        assert_eq!(
            Acl::from_request(&p).unwrap().unwrap().findings(),
            vec!["acl:AuthenticatedUsers:FULL_CONTROL"]
        );
        let p = json!({"x-amz-grant-write": "uri=\"http://acs.amazonaws.com/groups/s3/LogDelivery\"", "x-amz-grant-read-acp": "emailAddress=\"a@example.com\""});
        assert!(
            !Acl::from_request(&p).unwrap().unwrap().is_public(),
            "LogDelivery and e-mail grantees are not public"
        );
        assert!(Acl::from_request(&json!({"x-amz-grant-read": "AllUsers"})).is_err());
    }

    #[test]
    fn xml_body_single_and_many_grants() {
        let one = json!({"AccessControlPolicy": {"AccessControlList": {"Grant": {"Grantee": {"xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers", "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance"}, "Permission": "READ_ACP"}}, "Owner": {"ID": "abc"}, "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}});
        assert_eq!(
            Acl::from_request(&one).unwrap().unwrap().findings(),
            vec!["acl:AllUsers:READ_ACP"]
        );
        let many = json!({"AccessControlPolicy": {"AccessControlList": {"Grant": [
            {"Grantee": {"xsi:type": "CanonicalUser", "ID": "abc"}, "Permission": "FULL_CONTROL"},
            {"Grantee": {"xsi:type": "Group", "URI": "https://acs.amazonaws.com/groups/global/authenticatedusers"}, "Permission": "WRITE"},
            {"Grantee": {"xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/s3/LogDelivery"}, "Permission": "WRITE"}
        ]}}});
        assert_eq!(
            Acl::from_request(&many).unwrap().unwrap().findings(),
            vec!["acl:AuthenticatedUsers:WRITE"]
        );
        let owner_only = json!({"AccessControlPolicy": {"AccessControlList": {"Grant": {"Grantee": {"xsi:type": "CanonicalUser", "ID": "abc"}, "Permission": "FULL_CONTROL"}}}});
        assert_eq!(Acl::from_request(&owner_only).unwrap(), Some(Acl::PRIVATE));
        let empty =
            json!({"AccessControlPolicy": {"AccessControlList": "", "Owner": {"ID": "abc"}}});
        assert_eq!(Acl::from_request(&empty).unwrap(), Some(Acl::PRIVATE));
        let bad = json!({"AccessControlPolicy": {"AccessControlList": {"Grant": {"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "EVERYTHING"}}}});
        assert!(Acl::from_request(&bad).is_err());
    }
}
