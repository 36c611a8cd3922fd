//! The translation of what a deploy declares ([`Declared`]) into the calls the deploy would make,
//! as the fold's own [`Change`]s, folded by the same [`Fold`] the stream uses. Owns the order of
//! those calls and the calls S3 would refuse (a public policy under BlockPublicPolicy, a public ACL
//! under BlockPublicAcls or with ACLs disabled): a refused call changes nothing, as in the fold,
//! and is reported. It does not judge exposure (the fold and `core::exposure` do).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::core::acl::Acl;
use crate::core::change::Change;
use crate::core::exposure::{BlockConfig, BlockFlags, Exposure, Ownership};
use crate::core::fold::{self, Fold};
use crate::core::iac::resource::{Declared, Item, Origin, Setting};
use crate::core::iac::unknown::{self, Case, Val};
use crate::core::policy;
use crate::core::record::{EventName, S3Event};

/// The policy a wholly unknown policy is judged as in the worst case: anyone, anything. Its
/// findings read `policy:(unknown):…`, beside the `unknown:` reason naming the value.
fn open_policy() -> Value {
    serde_json::json!({"Statement": [{"Sid": "(unknown)", "Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]})
}

/// Where the deploy runs: the account (for the account's block and per-account exemptions) and
/// what is known of the account's block before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    /// `None`: unknown, which the fold assumes off and names (`assumed:…@account`).
    pub block: Option<BlockConfig>,
}

/// A call S3 would refuse, and why: `deploy-fails:<address>:<protection>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub origin: Origin,
    pub reason: String,
}

/// The state after the deploy's calls, for one end of the unknowns.
pub struct Folded {
    pub fold: Fold,
    /// Per bucket key.
    pub refused: BTreeMap<String, Vec<Refused>>,
    /// Per bucket key, per object key: the object's exposure.
    pub objects: BTreeMap<String, BTreeMap<String, Exposure>>,
}

struct Run<'a> {
    fold: Fold,
    account: &'a str,
    t: i64,
    case: Case,
    refused: BTreeMap<String, Vec<Refused>>,
}

impl Run<'_> {
    fn apply(&mut self, name: EventName, bucket: Option<&str>, key: Option<&str>, change: Change) {
        self.t += 1000;
        let ev = S3Event {
            event_id: None,
            event_time: String::new(),
            time_ms: self.t,
            event_name: name,
            account: self.account.to_owned(),
            region: "check".to_owned(),
            bucket: bucket.map(str::to_owned),
            key: key.map(str::to_owned),
            actor_arn: None,
            source_ip: None,
            user_agent: None,
            error_code: None,
            change: Some(change),
            oddities: Vec::new(),
        };
        self.fold.apply(&ev);
    }

    fn refuse(&mut self, bucket: &str, item: &Item, protection: &str) {
        self.refused
            .entry(bucket.to_owned())
            .or_default()
            .push(Refused {
                origin: item.origin.clone(),
                reason: format!("deploy-fails:{}:{protection}", item.origin.address),
            });
    }

    fn flags(&self, bucket: &str) -> (BlockFlags, BlockFlags, Option<Ownership>) {
        let b = self.fold.bucket(bucket);
        let account = self
            .fold
            .account(self.account)
            .map(|a| a.block.flags)
            .unwrap_or(BlockFlags::UNKNOWN);
        (
            b.map(|b| b.block.flags).unwrap_or(BlockFlags::UNKNOWN),
            account,
            b.and_then(|b| b.ownership.as_ref().map(|o| o.value)),
        )
    }

    /// Why S3 would refuse a public ACL on this bucket now, if it would. AWS: "PUT Bucket acl and
    /// PUT Object acl calls fail if the specified access control list (ACL) is public"
    /// (BlockPublicAcls); with ACLs disabled (BucketOwnerEnforced) a request that sets any other
    /// ACL than the bucket owner's full control fails with AccessControlListNotSupported.
    fn acl_refusal(&self, bucket: &str) -> Option<&'static str> {
        let (b, a, ownership) = self.flags(bucket);
        if ownership == Some(Ownership::BucketOwnerEnforced) {
            Some("BucketOwnerEnforced")
        } else if b.block_public_acls == Some(true) {
            Some("BlockPublicAcls@bucket")
        } else if a.block_public_acls == Some(true) {
            Some("BlockPublicAcls@account")
        } else {
            None
        }
    }

    /// AWS: "PUT Bucket policy calls fail if the specified bucket policy allows public access"
    /// (BlockPublicPolicy, at the bucket or the account).
    fn policy_refusal(&self, bucket: &str) -> Option<&'static str> {
        let (b, a, _) = self.flags(bucket);
        if b.block_public_policy == Some(true) {
            Some("BlockPublicPolicy@bucket")
        } else if a.block_public_policy == Some(true) {
            Some("BlockPublicPolicy@account")
        } else {
            None
        }
    }

    fn block(&self, v: &Val<BlockConfig>) -> BlockConfig {
        match (v, self.case) {
            (Val::Known(c), _) => *c,
            (Val::Unknown(_), Case::Best) => BlockConfig::ALL_ON,
            (Val::Unknown(_), Case::Worst) => BlockConfig::ALL_OFF,
        }
    }

    fn acl(&self, v: &Val<Acl>) -> Acl {
        match (v, self.case) {
            (Val::Known(a), _) => *a,
            (Val::Unknown(_), Case::Best) => Acl::PRIVATE,
            (Val::Unknown(_), Case::Worst) => {
                Acl::from_canned("public-read-write").expect("a canned ACL")
            }
        }
    }

    /// The document to judge; `None`: in the best case a wholly unknown policy is not set.
    fn policy(&self, v: &Val<Value>) -> Option<Value> {
        match (v, self.case) {
            (Val::Known(doc), case) => Some(unknown::substitute(doc, case)),
            (Val::Unknown(_), Case::Best) => None,
            (Val::Unknown(_), Case::Worst) => Some(open_policy()),
        }
    }

    fn item(&mut self, bucket: &str, item: &Item, objects: &mut BTreeMap<String, Acl>) {
        let b = Some(bucket);
        match &item.setting {
            Setting::Ownership(v) => {
                let o = match (v, self.case) {
                    (Val::Known(o), _) => *o,
                    (Val::Unknown(_), Case::Best) => Ownership::BucketOwnerEnforced,
                    (Val::Unknown(_), Case::Worst) => Ownership::ObjectWriter,
                };
                self.apply(
                    EventName::PutBucketOwnershipControls,
                    b,
                    None,
                    Change::Ownership(o),
                );
            }
            Setting::DeleteOwnership => self.apply(
                EventName::DeleteBucketOwnershipControls,
                b,
                None,
                Change::DeleteOwnership,
            ),
            Setting::Block(v) => {
                let c = self.block(v);
                self.apply(
                    EventName::PutBucketPublicAccessBlock,
                    b,
                    None,
                    Change::BucketBlock(c),
                );
            }
            Setting::DeleteBlock => self.apply(
                EventName::DeleteBucketPublicAccessBlock,
                b,
                None,
                Change::DeleteBucketBlock,
            ),
            Setting::Acl(v) => {
                let acl = self.acl(v);
                match self.acl_refusal(bucket).filter(|_| acl.is_public()) {
                    Some(why) => self.refuse(bucket, item, why),
                    None => self.apply(EventName::PutBucketAcl, b, None, Change::BucketAcl(acl)),
                }
            }
            Setting::Policy(v) => {
                let Some(doc) = self.policy(v) else { return };
                let findings = policy::analyze(&doc);
                match self.policy_refusal(bucket).filter(|_| findings.is_public()) {
                    Some(why) => self.refuse(bucket, item, why),
                    None => self.apply(
                        EventName::PutBucketPolicy,
                        b,
                        None,
                        Change::BucketPolicy(findings),
                    ),
                }
            }
            Setting::DeletePolicy => self.apply(
                EventName::DeleteBucketPolicy,
                b,
                None,
                Change::DeleteBucketPolicy,
            ),
            Setting::AccessPoint {
                name,
                block,
                vpc_origin,
            } => {
                let vpc_origin = match (vpc_origin, self.case) {
                    (Val::Known(v), _) => *v,
                    (Val::Unknown(_), case) => case == Case::Best,
                };
                let block = self.block(block);
                self.apply(
                    EventName::CreateAccessPoint,
                    b,
                    None,
                    Change::CreateAccessPoint {
                        name: name.clone(),
                        block,
                        vpc_origin,
                    },
                );
            }
            Setting::AccessPointPolicy { name, policy: v } => {
                let Some(doc) = self.policy(v) else { return };
                let findings = policy::analyze_access_point(&doc);
                let ap_flags = self
                    .fold
                    .bucket(bucket)
                    .and_then(|s| s.access_points.get(name))
                    .map(|ap| ap.block.flags)
                    .unwrap_or(BlockFlags::UNKNOWN);
                let (_, account, _) = self.flags(bucket);
                let why = if ap_flags.block_public_policy == Some(true) {
                    Some("BlockPublicPolicy@access-point")
                } else if account.block_public_policy == Some(true) {
                    Some("BlockPublicPolicy@account")
                } else {
                    None
                };
                match why.filter(|_| findings.is_public()) {
                    Some(why) => self.refuse(bucket, item, why),
                    None => self.apply(
                        EventName::PutAccessPointPolicy,
                        b,
                        None,
                        Change::AccessPointPolicy {
                            name: name.clone(),
                            policy: findings,
                        },
                    ),
                }
            }
            Setting::ObjectAcl { key, acl } => {
                let acl = self.acl(acl);
                match self.acl_refusal(bucket).filter(|_| acl.is_public()) {
                    Some(why) => self.refuse(bucket, item, why),
                    None => {
                        self.apply(
                            EventName::PutObjectAcl,
                            b,
                            Some(key),
                            Change::ObjectAcl(acl),
                        );
                        objects.insert(key.clone(), acl);
                    }
                }
            }
            Setting::AccountBlock(_) | Setting::DeleteAccountBlock => {}
        }
    }
}

/// The order a deploy's calls are judged in, per bucket: ownership, then the block, then what
/// grants (ACL, policy, access points, objects). Terraform and CloudFormation may run independent
/// resources in any order; protections first is the order in which a protection the input sets
/// counts, and a grant it would refuse is reported as a failing deploy.
fn phase(s: &Setting) -> u8 {
    match s {
        Setting::AccountBlock(_) | Setting::DeleteAccountBlock => 0,
        Setting::Ownership(_) | Setting::DeleteOwnership => 1,
        Setting::Block(_) | Setting::DeleteBlock => 2,
        Setting::Acl(_) => 3,
        Setting::Policy(_) | Setting::DeletePolicy => 4,
        Setting::AccessPoint { .. } => 5,
        Setting::AccessPointPolicy { .. } => 6,
        Setting::ObjectAcl { .. } => 7,
    }
}

/// Folds the deploy's calls for one end of the unknowns.
pub fn fold(declared: &Declared, account: &Account, case: Case) -> Folded {
    let mut run = Run {
        fold: Fold::default().without_dedup(),
        account: &account.id,
        t: 0,
        case,
        refused: BTreeMap::new(),
    };
    if let Some(cfg) = account.block {
        run.apply(
            EventName::PutAccountPublicAccessBlock,
            None,
            None,
            Change::AccountBlock(cfg),
        );
    }
    for item in &declared.items {
        match &item.setting {
            Setting::AccountBlock(v) => {
                let cfg = run.block(v);
                run.apply(
                    EventName::PutAccountPublicAccessBlock,
                    None,
                    None,
                    Change::AccountBlock(cfg),
                );
            }
            Setting::DeleteAccountBlock => run.apply(
                EventName::DeleteAccountPublicAccessBlock,
                None,
                None,
                Change::DeleteAccountBlock,
            ),
            _ => {}
        }
    }
    let mut objects = BTreeMap::new();
    for bucket in &declared.buckets {
        let key = bucket.key.as_str();
        if bucket.created {
            run.apply(
                EventName::CreateBucket,
                Some(key),
                None,
                Change::CreateBucket {
                    acl: None,
                    ownership: None,
                },
            );
        }
        if !bucket.tags.is_empty() {
            run.apply(
                EventName::PutBucketTagging,
                Some(key),
                None,
                Change::Tags(bucket.tags.clone()),
            );
        }
        let mut items: Vec<&Item> = declared
            .items
            .iter()
            .filter(|i| i.bucket.as_deref() == Some(key))
            .collect();
        items.sort_by_key(|i| phase(&i.setting));
        let mut acls = BTreeMap::new();
        for item in items {
            run.item(key, item, &mut acls);
        }
        if !acls.is_empty() {
            let account_flags = run
                .fold
                .account(&account.id)
                .map(|a| a.block.flags)
                .unwrap_or(BlockFlags::UNKNOWN);
            let per_object = run
                .fold
                .bucket(key)
                .map(|b| {
                    acls.iter()
                        .map(|(k, acl)| {
                            (k.clone(), fold::object_exposure_of(b, acl, account_flags))
                        })
                        .collect()
                })
                .unwrap_or_default();
            objects.insert(key.to_owned(), per_object);
        }
    }
    Folded {
        fold: run.fold,
        refused: run.refused,
        objects,
    }
}
