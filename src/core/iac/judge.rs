//! The verdict on each bucket and object a deploy touches: the deploy's calls folded at both ends
//! of the unknown values (`translate`), the exposure read from the fold, and the action asked of
//! the one decider (exemptions by name and tag, per account included). Public at the best end is
//! public; public only at the worst end is "unknown", never safe, and names what was unknown.
//! It must not judge "public" itself.

use serde::Serialize;

use crate::core::decision::{Decider, Rule, Situation, Source, Trigger};
use crate::core::fold::Transition;
use crate::core::iac::resource::{Bucket, Declared, Item, Origin, Setting};
use crate::core::iac::translate::{self, Account, Folded, Refused};
use crate::core::iac::unknown::{self, Case, Val};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Public whatever the unknown values turn out to be.
    Public,
    /// Public unless an unknown value turns out protective: never assumed safe.
    Unknown,
    /// Not public, but a call the deploy makes would be refused by S3: the deploy fails.
    DeployFails,
    NotPublic,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Public => "public",
            Verdict::Unknown => "unknown",
            Verdict::DeployFails => "deploy-fails",
            Verdict::NotPublic => "not-public",
        }
    }
}

/// One bucket's or object's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The resource the verdict rests on (the grant's, else the bucket's), and its line.
    pub address: String,
    pub line: Option<usize>,
    /// Every resource of the input that sets something on this bucket.
    pub resources: Vec<String>,
    /// The bucket's name, when the input knows it.
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub verdict: Verdict,
    /// AWS reasons (docs/REASONS.md), then `unknown:<what>` (verdict unknown), and
    /// `deploy-fails:<address>:<protection>` / `deploy-fails-if-public:<address>:<protection>`.
    pub reasons: Vec<String>,
    pub exempt: bool,
    /// The decider's rule for a deploy that would make it public (`remediate`, `exempt_by_name`, …).
    pub rule: Rule,
    /// Public or unknown, and not exempt: the check fails on it.
    pub fails: bool,
}

/// Judges everything one input declares.
pub fn judge(declared: &Declared, account: &Account, decider: &Decider) -> Vec<Finding> {
    let best = translate::fold(declared, account, Case::Best);
    let worst = translate::fold(declared, account, Case::Worst);
    let mut out = Vec::new();
    for bucket in &declared.buckets {
        let items: Vec<&Item> = declared
            .items
            .iter()
            .filter(|i| i.bucket.as_deref() == Some(bucket.key.as_str()))
            .collect();
        let unknowns: Vec<String> = items.iter().flat_map(|i| unknowns_of(i)).collect();
        let b = best.fold.bucket_exposure(&bucket.key).unwrap_or_default();
        let w = worst.fold.bucket_exposure(&bucket.key).unwrap_or_default();
        out.push(finding(
            bucket,
            &items,
            None,
            (b.public, b.reasons),
            (w.public, w.reasons),
            &unknowns,
            refusals(&best, &worst, &bucket.key, None),
            account,
            decider,
            &best,
        ));
        let objects: std::collections::BTreeSet<String> = items
            .iter()
            .filter_map(|i| match &i.setting {
                Setting::ObjectAcl { key, .. } => Some(key.clone()),
                _ => None,
            })
            .collect();
        for key in objects {
            let get = |f: &Folded| {
                f.objects
                    .get(&bucket.key)
                    .and_then(|m| m.get(&key))
                    .map(|e| (e.public, e.reasons.clone()))
                    .unwrap_or((false, Vec::new()))
            };
            let object_items: Vec<&Item> = items
                .iter()
                .copied()
                .filter(|i| matches!(&i.setting, Setting::ObjectAcl { key: k, .. } if *k == key))
                .collect();
            out.push(finding(
                bucket,
                &object_items,
                Some(&key),
                get(&best),
                get(&worst),
                &unknowns,
                refusals(&best, &worst, &bucket.key, Some(&object_items)),
                account,
                decider,
                &best,
            ));
        }
    }
    out
}

/// What is unknown in one item, as the finding names it.
fn unknowns_of(item: &Item) -> Vec<String> {
    let named = |v: &Val<serde_json::Value>| match v {
        Val::Unknown(w) => vec![w.clone()],
        Val::Known(doc) => unknown::unknown_leaves(doc),
    };
    let mut out = match &item.setting {
        Setting::Acl(Val::Unknown(w))
        | Setting::Block(Val::Unknown(w))
        | Setting::Ownership(Val::Unknown(w))
        | Setting::AccountBlock(Val::Unknown(w))
        | Setting::ObjectAcl {
            acl: Val::Unknown(w),
            ..
        } => vec![w.clone()],
        Setting::Policy(v) | Setting::AccessPointPolicy { policy: v, .. } => named(v),
        Setting::AccessPoint {
            block, vpc_origin, ..
        } => [block.clone().map(|_| ()), vpc_origin.clone().map(|_| ())]
            .into_iter()
            .filter_map(|v| match v {
                Val::Unknown(w) => Some(w),
                Val::Known(()) => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    for u in &mut out {
        *u = format!("unknown:{u}");
    }
    out
}

/// The calls S3 would refuse: `deploy-fails:…` when refused with the unknowns at their protective
/// end (so whatever they turn out to be), `deploy-fails-if-public:…` when only a permissive unknown
/// value (an unknown policy that turns out public) would be refused.
fn refusals(best: &Folded, worst: &Folded, bucket: &str, only: Option<&[&Item]>) -> Vec<String> {
    let keep = |r: &&Refused| only.is_none_or(|items| items.iter().any(|i| i.origin == r.origin));
    let of = |f: &'_ Folded| -> Vec<String> {
        f.refused
            .get(bucket)
            .into_iter()
            .flatten()
            .filter(keep)
            .map(|r| r.reason.clone())
            .collect()
    };
    let mut out = of(best);
    out.dedup();
    for r in of(worst) {
        if !out.contains(&r) {
            let r = r.replacen("deploy-fails:", "deploy-fails-if-public:", 1);
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out
}

/// The resource a public verdict rests on: the one whose grant the first reason names.
fn culprit<'a>(
    bucket: &'a Bucket,
    items: &[&'a Item],
    key: Option<&str>,
    reasons: &[String],
) -> &'a Origin {
    let wants = |s: &Setting, r: &str| match s {
        Setting::Acl(_) | Setting::ObjectAcl { .. } => r.starts_with("acl:"),
        Setting::Policy(_) => r.starts_with("policy:"),
        Setting::AccessPointPolicy { name, .. } => r.starts_with(&format!("access-point:{name}:")),
        _ => false,
    };
    reasons
        .iter()
        .find_map(|r| {
            items
                .iter()
                .find(|i| {
                    wants(&i.setting, r)
                        || r.contains(&format!(":{}:", i.origin.address))
                        || r.ends_with(&format!("unknown:{}", i.origin.address))
                })
                .map(|i| &i.origin)
        })
        .unwrap_or(match (key, items.first()) {
            (Some(_), Some(object)) => &object.origin,
            _ => &bucket.origin,
        })
}

#[allow(clippy::too_many_arguments)]
fn finding(
    bucket: &Bucket,
    items: &[&Item],
    key: Option<&str>,
    best: (bool, Vec<String>),
    worst: (bool, Vec<String>),
    unknowns: &[String],
    refused: Vec<String>,
    account: &Account,
    decider: &Decider,
    state: &Folded,
) -> Finding {
    let (verdict, mut reasons) = if best.0 {
        (Verdict::Public, best.1)
    } else if worst.0 {
        let mut r = worst.1;
        r.extend(unknowns.iter().cloned());
        (Verdict::Unknown, r)
    } else if refused.iter().any(|r| r.starts_with("deploy-fails:")) {
        (Verdict::DeployFails, best.1)
    } else {
        (Verdict::NotPublic, best.1)
    };
    reasons.extend(refused);
    let tags = state
        .fold
        .bucket(&bucket.key)
        .map(|b| b.tags().to_vec())
        .unwrap_or_default();
    let account_id = Some(account.id.as_str()).filter(|a| !a.is_empty());
    let exposed = matches!(verdict, Verdict::Public | Verdict::Unknown);
    let decision = decider.decide(&Situation {
        trigger: Trigger::Event(Transition::between(false, exposed)),
        account: account_id,
        bucket: bucket.name.as_deref(),
        tags: &tags,
        // Who will set the tags is not in a deploy input: with `tag_setters`, a tag counts only
        // once the fleet saw an authorised identity set it.
        tags_set_by: None,
        actor: None,
        // The deploy's calls are judged as the stream judges calls; `source` is carried for logs
        // only and no rule depends on it.
        source: Source::Stream,
    });
    let exempt = decider
        .exemption(account_id, bucket.name.as_deref(), &tags, None)
        .exempt();
    let origin = culprit(bucket, items, key, &reasons);
    let mut resources: Vec<String> = std::iter::once(bucket.origin.address.clone())
        .chain(items.iter().map(|i| i.origin.address.clone()))
        .filter(|a| !a.is_empty())
        .collect();
    resources.dedup();
    Finding {
        address: origin.address.clone(),
        line: origin.line,
        resources,
        bucket: bucket.name.clone(),
        key: key.map(str::to_owned),
        verdict,
        reasons,
        exempt,
        rule: decision.rule,
        fails: exposed && !exempt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::exposure::BlockConfig;
    use crate::core::iac::terraform;
    use serde_json::json;

    fn plan(policy_configured: bool) -> serde_json::Value {
        let mut bucket_exprs = json!({"bucket": {"constant_value": "b1"}});
        if policy_configured {
            bucket_exprs["policy"] = json!({"references": ["data.aws_iam_policy_document.p.json"]});
        }
        json!({
            "format_version": "1.2",
            "resource_changes": [
                {"address": "aws_s3_bucket.b", "mode": "managed", "type": "aws_s3_bucket", "name": "b",
                 "change": {"actions": ["create"], "before": null,
                            "after": {"bucket": "b1"},
                            "after_unknown": {"acl": true, "policy": true, "grant": true, "id": true}}},
                {"address": "aws_s3_bucket_public_access_block.b", "mode": "managed",
                 "type": "aws_s3_bucket_public_access_block", "name": "b",
                 "change": {"actions": ["create"], "before": null,
                            "after": {"bucket": "b1", "block_public_acls": false, "ignore_public_acls": false,
                                      "block_public_policy": false, "restrict_public_buckets": false},
                            "after_unknown": {}}}
            ],
            "configuration": {"root_module": {"resources": [
                {"address": "aws_s3_bucket.b", "expressions": bucket_exprs}
            ]}}
        })
    }

    fn verdicts(
        plan: &serde_json::Value,
        block: Option<BlockConfig>,
    ) -> Vec<(Verdict, Vec<String>)> {
        let declared = terraform::parse(plan, "");
        let account = Account {
            id: String::new(),
            block,
        };
        judge(&declared, &account, &Decider::default())
            .into_iter()
            .map(|f| (f.verdict, f.reasons))
            .collect()
    }

    #[test]
    fn a_computed_attribute_nobody_configured_is_not_unknown() {
        // Shared DESIGN §11: provider v4+ lists aws_s3_bucket's deprecated acl/policy under
        // after_unknown even when nothing sets them; new buckets get S3's defaults.
        let v = verdicts(&plan(false), None);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, Verdict::NotPublic, "{v:?}");
    }

    #[test]
    fn an_unknown_value_the_configuration_sets_is_never_assumed_safe() {
        let v = verdicts(&plan(true), None);
        assert_eq!(v[0].0, Verdict::Unknown, "{v:?}");
        assert!(
            v[0].1
                .contains(&"unknown:aws_s3_bucket.b.policy".to_string()),
            "{v:?}"
        );
        // AWS, RestrictPublicBuckets: "restricts access to an access point or bucket with a public
        // policy to only AWS service principals and authorized users within the bucket owner's
        // account": whatever the policy is, the bucket is not public.
        let restrict = BlockConfig {
            restrict_public_buckets: true,
            ..BlockConfig::ALL_OFF
        };
        assert_eq!(
            verdicts(&plan(true), Some(restrict))[0].0,
            Verdict::NotPublic
        );
        // AWS, BlockPublicPolicy: "PUT Bucket policy calls fail if the specified bucket policy
        // allows public access" — a public one fails, a fixed one deploys: never public.
        let v = verdicts(&plan(true), Some(BlockConfig::ALL_ON));
        assert_eq!(v[0].0, Verdict::NotPublic, "{v:?}");
        assert!(v[0].1[0]
            .starts_with("deploy-fails-if-public:aws_s3_bucket.b:BlockPublicPolicy@account"));
    }
}
