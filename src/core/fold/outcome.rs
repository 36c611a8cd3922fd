//! What one event did: the [`Outcome`] lines, their [`Transition`] and [`Note`], and the exposure a
//! bucket state gives under AWS's rules (via `core::exposure`). Reads state; it must not change it.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::state::{AccountState, BlockState, BucketState};
use crate::core::acl::Acl;
use crate::core::exposure::{self, AccessPointView, BlockFlags, BucketView, Exposure};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    BecamePublic,
    BecameNotPublic,
    Unchanged,
}

impl Transition {
    pub fn between(before: bool, after: bool) -> Transition {
        match (before, after) {
            (false, true) => Transition::BecamePublic,
            (true, false) => Transition::BecameNotPublic,
            _ => Transition::Unchanged,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transition::BecamePublic => "became_public",
            Transition::BecameNotPublic => "became_not_public",
            Transition::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Note {
    FailedCall,
    Duplicate,
    Stale,
    Assumed,
    /// Not public only because of a protection the fold learned from events and no live read
    /// confirmed (a forged protective event could hide a real public grant): live mode verifies.
    Masked,
}

impl Note {
    pub fn as_str(self) -> &'static str {
        match self {
            Note::FailedCall => "failed_call",
            Note::Duplicate => "duplicate",
            Note::Stale => "stale",
            Note::Assumed => "assumed",
            Note::Masked => "masked",
        }
    }
}

/// The effect of one event on one bucket or object.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub exposure: Exposure,
    pub transition: Transition,
    pub note: Option<Note>,
}

pub(super) fn view_of<'a>(
    b: &'a BucketState,
    account: Option<&AccountState>,
    aps: &'a [AccessPointView<'a>],
) -> BucketView<'a> {
    BucketView {
        acl: b.acl.as_ref().map(|s| &s.value),
        policy: b.policy.as_ref().map(|s| &s.value),
        ownership: b.ownership.as_ref().map(|s| s.value),
        bucket_block: b.block.flags,
        account_block: account
            .map(|a| a.block.flags)
            .unwrap_or(BlockFlags::UNKNOWN),
        access_points: aps,
    }
}

pub(super) fn ap_views(b: &BucketState) -> Vec<AccessPointView<'_>> {
    b.access_points
        .iter()
        .map(|(name, ap)| AccessPointView {
            name: name.as_str(),
            policy: ap.policy.as_ref().map(|s| &s.value),
            block: ap.block.flags,
            vpc_origin: ap.vpc_origin,
        })
        .collect()
}

/// A snapshot of what one bucket exposes: the bucket itself and each object with a public ACL.
pub(super) struct Snapshot {
    pub(super) bucket: Exposure,
    pub(super) objects: BTreeMap<String, Exposure>,
}

pub(super) fn snapshot(b: &BucketState, account: Option<&AccountState>) -> Snapshot {
    let aps = ap_views(b);
    let view = view_of(b, account, &aps);
    let objects = b
        .objects
        .iter()
        .filter(|(_, o)| o.value.is_public())
        .map(|(k, o)| (k.clone(), exposure::object_exposure(Some(&o.value), &view)))
        .collect();
    Snapshot {
        bucket: exposure::bucket_exposure(&view),
        objects,
    }
}

/// A bucket's exposure from a full state, outside any fold (used to judge a live S3 read with
/// exactly the rules the fold uses).
pub fn exposure_of(b: &BucketState, account_block: BlockFlags) -> Exposure {
    let account = live_account(account_block);
    let aps = ap_views(b);
    exposure::bucket_exposure(&view_of(b, Some(&account), &aps))
}

/// An account known only by its block as read live (no stamp: it is judged, not merged).
fn live_account(account_block: BlockFlags) -> AccountState {
    AccountState {
        block: BlockState {
            flags: account_block,
            at: None,
            live: true,
        },
        ..AccountState::default()
    }
}

/// An object's exposure under a full bucket state.
pub fn object_exposure_of(
    b: &BucketState,
    object_acl: &Acl,
    account_block: BlockFlags,
) -> Exposure {
    let account = live_account(account_block);
    let aps = ap_views(b);
    exposure::object_exposure(Some(object_acl), &view_of(b, Some(&account), &aps))
}

pub(super) fn with_note(e: &Exposure, note: Option<Note>) -> Option<Note> {
    note.or(if e.assumed { Some(Note::Assumed) } else { None })
}

pub(super) fn not_public() -> Exposure {
    Exposure {
        public: false,
        reasons: Vec::new(),
        assumed: false,
    }
}

/// Lines for one bucket: always the bucket itself, then each object whose exposure changed
/// (except `skip_key`, which the caller reports on its own).
pub(super) fn diff(
    name: &str,
    before: Snapshot,
    after: Snapshot,
    skip_key: Option<&String>,
    out: &mut Vec<Outcome>,
) {
    let transition = Transition::between(before.bucket.public, after.bucket.public);
    out.push(Outcome {
        bucket: Some(name.to_owned()),
        key: None,
        transition,
        note: with_note(&after.bucket, None),
        exposure: after.bucket,
    });
    let keys: BTreeSet<&String> = before.objects.keys().chain(after.objects.keys()).collect();
    for key in keys {
        if Some(key) == skip_key {
            continue;
        }
        let was = before.objects.get(key).is_some_and(|e| e.public);
        let now = after.objects.get(key);
        let is = now.is_some_and(|e| e.public);
        if was != is {
            let exposure = now.cloned().unwrap_or_else(not_public);
            out.push(Outcome {
                bucket: Some(name.to_owned()),
                key: Some(key.clone()),
                transition: Transition::between(was, is),
                note: with_note(&exposure, None),
                exposure,
            });
        }
    }
}
