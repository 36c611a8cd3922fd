//! What the fold knows about one bucket and one account: stamped components and their
//! newer-wins merge rules. Pure data and merging; it must not decide exposure or apply events.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::core::acl::Acl;
use crate::core::exposure::{BlockConfig, BlockFlags, Ownership};
use crate::core::policy::PolicyFindings;

/// A component's value and the `eventTime` (ms) of the change that set it, so that an older event
/// arriving later does not overwrite it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped<T> {
    pub value: T,
    pub at: i64,
    /// Confirmed by a live read of S3 (or written by bucketwarden itself), not only learned from
    /// an event: an event on the stream can be forged, S3's answer cannot. Absent in states
    /// persisted before it was recorded (serde default: learned from events).
    #[serde(default, skip_serializing_if = "is_false")]
    pub live: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

pub(super) fn stamped<T>(value: T, at: i64) -> Option<Stamped<T>> {
    Some(Stamped {
        value,
        at,
        live: false,
    })
}

/// The bucket's tag set, when it was set and who set it: the `PutBucketTagging` caller's ARN, or
/// `None` when the set came from a live read, a creation, a deletion or a state persisted before
/// setters were recorded (serde default). Exemptions by tag may require a known setter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagState {
    pub value: Vec<(String, String)>,
    pub at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
}

impl TagState {
    pub fn new(value: Vec<(String, String)>, at: i64, set_by: Option<String>) -> TagState {
        TagState { value, at, set_by }
    }

    /// Keeps the newer of the two (this one on a tie). A newer copy without a setter that shows
    /// the same tags as the older one (a live read confirming what an event set) takes the older
    /// one's setter: the read says nothing about who set them, and a different set would have
    /// come with its own event. Order-independent, like the other components.
    fn merge_from(&mut self, other: &TagState) {
        let (newer, older) = if other.at > self.at {
            (other.clone(), &*self)
        } else {
            (self.clone(), other)
        };
        let set_by = match newer.set_by {
            None if same_tags(&newer.value, &older.value) => older.set_by.clone(),
            s => s,
        };
        *self = TagState { set_by, ..newer };
    }
}

/// Tag sets are sets: order does not matter.
fn same_tags(a: &[(String, String)], b: &[(String, String)]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// The block flags of one level; `at` is when a Put/Delete last set all four.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BlockState {
    pub flags: BlockFlags,
    pub at: Option<i64>,
    /// Confirmed by a live read or written by bucketwarden (see [`Stamped::live`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub live: bool,
}

impl BlockState {
    /// Flags learned from an event.
    pub(super) fn set(&mut self, flags: BlockFlags, at: i64) {
        self.flags = flags;
        self.at = Some(at);
        self.live = false;
    }

    /// Flags S3 reported (a live read), or that bucketwarden's own remediation wrote.
    pub fn live(flags: BlockFlags, at: i64) -> BlockState {
        BlockState {
            flags,
            at: Some(at),
            live: true,
        }
    }

    pub fn merge_from(&mut self, other: &BlockState) {
        match (self.at, other.at) {
            (_, None) => {}
            (None, Some(_)) => *self = *other,
            (Some(a), Some(b)) if b > a => *self = *other,
            _ => {}
        }
    }

    pub(super) fn is_newer_than(&self, t: i64) -> bool {
        self.at.is_some_and(|at| at > t)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccessPointState {
    pub policy: Option<Stamped<PolicyFindings>>,
    pub block: BlockState,
    /// Network origin VPC (None = unknown: created before the history, or state saved before
    /// the origin was kept). Fixed at creation, like the block.
    #[serde(default)]
    pub vpc_origin: Option<bool>,
}

/// Everything known about one bucket. `None` means unknown (docs/DESIGN.md §5).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BucketState {
    pub account: String,
    pub region: String,
    pub acl: Option<Stamped<Acl>>,
    pub policy: Option<Stamped<PolicyFindings>>,
    pub ownership: Option<Stamped<Ownership>>,
    pub block: BlockState,
    pub tags: Option<TagState>,
    pub website: Option<Stamped<bool>>,
    /// Objects whose ACL an event set public, by key. Only a public grant can expose an object;
    /// an object set private (`private`, `bucket-owner-full-control`, …) is removed, so the map
    /// is bounded by the bucket's public objects, not by its writes (issue #26).
    pub objects: BTreeMap<String, Stamped<Acl>>,
    pub access_points: BTreeMap<String, AccessPointState>,
    /// Set when the bucket was deleted: its state is forgotten, but older events stay stale.
    pub deleted_at: Option<i64>,
}

impl BucketState {
    pub(super) fn new(account: &str, region: &str) -> BucketState {
        BucketState {
            account: account.to_owned(),
            region: region.to_owned(),
            ..BucketState::default()
        }
    }

    /// A bucket as S3 creates it since April 2023: every block flag on, ACLs disabled, private.
    pub(super) fn created(
        account: &str,
        region: &str,
        at: i64,
        acl: Option<Acl>,
        ownership: Option<Ownership>,
    ) -> BucketState {
        BucketState {
            acl: stamped(acl.unwrap_or(Acl::PRIVATE), at),
            policy: stamped(PolicyFindings::default(), at),
            ownership: stamped(ownership.unwrap_or(Ownership::BucketOwnerEnforced), at),
            block: BlockState {
                flags: BlockFlags::known(BlockConfig::ALL_ON),
                at: Some(at),
                live: false,
            },
            tags: Some(TagState::new(Vec::new(), at, None)),
            website: stamped(false, at),
            ..BucketState::new(account, region)
        }
    }

    /// When every exposure component was last set (event or live read): the oldest of their
    /// stamps; `None` while any is unknown. Reconciliation re-reads buckets older than its interval.
    pub fn confirmed_at(&self) -> Option<i64> {
        [
            self.acl.as_ref().map(|s| s.at),
            self.policy.as_ref().map(|s| s.at),
            self.ownership.as_ref().map(|s| s.at),
            self.block.at,
        ]
        .into_iter()
        .try_fold(i64::MAX, |min, at| at.map(|a| min.min(a)))
    }

    /// Merges another copy of this bucket's state (e.g. one a different worker wrote) keeping,
    /// per component, the newer change: the state is a set of last-writer-wins registers keyed by
    /// event time, so merging is order-independent.
    pub fn merge_from(&mut self, other: &BucketState) {
        fn newer<T: Clone>(mine: &mut Option<Stamped<T>>, theirs: &Option<Stamped<T>>) {
            if let Some(t) = theirs {
                if mine.as_ref().is_none_or(|m| t.at > m.at) {
                    *mine = Some(t.clone());
                }
            }
        }
        newer(&mut self.acl, &other.acl);
        newer(&mut self.policy, &other.policy);
        newer(&mut self.ownership, &other.ownership);
        match (&mut self.tags, &other.tags) {
            (Some(mine), Some(theirs)) => mine.merge_from(theirs),
            (mine @ None, Some(theirs)) => *mine = Some(theirs.clone()),
            (_, None) => {}
        }
        newer(&mut self.website, &other.website);
        self.block.merge_from(&other.block);
        for (k, o) in &other.objects {
            match self.objects.get(k) {
                Some(m) if m.at >= o.at => {}
                // A newer private ACL (in a state saved before private objects were dropped)
                // removes the object.
                Some(_) if !o.value.is_public() => {
                    self.objects.remove(k);
                }
                _ if o.value.is_public() => {
                    self.objects.insert(k.clone(), o.clone());
                }
                _ => {}
            }
        }
        for (name, ap) in &other.access_points {
            let mine = self.access_points.entry(name.clone()).or_default();
            newer(&mut mine.policy, &ap.policy);
            mine.block.merge_from(&ap.block);
            mine.vpc_origin = mine.vpc_origin.or(ap.vpc_origin);
        }
        self.deleted_at = match (self.deleted_at, other.deleted_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    pub fn tags(&self) -> &[(String, String)] {
        self.tags
            .as_ref()
            .map(|t| t.value.as_slice())
            .unwrap_or(&[])
    }

    /// Who set the tag set, when the fleet saw the `PutBucketTagging`.
    pub fn tags_set_by(&self) -> Option<&str> {
        self.tags.as_ref().and_then(|t| t.set_by.as_deref())
    }

    /// Who set `live_tags` (a tag set just read from S3), when this state knows the same set
    /// and its setter.
    pub fn setter_of(&self, live_tags: &[(String, String)]) -> Option<&str> {
        self.tags
            .as_ref()
            .filter(|t| same_tags(&t.value, live_tags))
            .and_then(|t| t.set_by.as_deref())
    }
}

/// What is known about one account: its block and which buckets and access points it has.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccountState {
    pub block: BlockState,
    pub buckets: BTreeSet<String>,
    /// Access point name to bucket, learned from CreateAccessPoint.
    pub access_points: BTreeMap<String, String>,
}
