//! The fold: per-bucket and per-account knowledge built from typed S3 events, and the exposure
//! transition each event causes (docs/DESIGN.md §5). Pure and deterministic: no clock, no I/O, no
//! randomness; the same events in the same order always give the same outcomes.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::core::acl::Acl;
use crate::core::change::Change;
use crate::core::exposure::{
    self, AccessPointView, BlockConfig, BlockFlags, BucketView, Exposure, Ownership,
};
use crate::core::policy::PolicyFindings;
use crate::core::record::S3Event;

mod settle;
pub use settle::{Closed, Settlement};

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

fn stamped<T>(value: T, at: i64) -> Option<Stamped<T>> {
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
    fn set(&mut self, flags: BlockFlags, at: i64) {
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

    fn is_newer_than(&self, t: i64) -> bool {
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
    /// Objects whose ACL an event set, by key.
    pub objects: BTreeMap<String, Stamped<Acl>>,
    pub access_points: BTreeMap<String, AccessPointState>,
    /// Set when the bucket was deleted: its state is forgotten, but older events stay stale.
    pub deleted_at: Option<i64>,
}

impl BucketState {
    fn new(account: &str, region: &str) -> BucketState {
        BucketState {
            account: account.to_owned(),
            region: region.to_owned(),
            ..BucketState::default()
        }
    }

    /// A bucket as S3 creates it since April 2023: every block flag on, ACLs disabled, private.
    fn created(
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
                _ => {
                    self.objects.insert(k.clone(), o.clone());
                }
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

/// Event ids seen within a window of event time. Duplicates from CloudTrail and from the
/// stream's at-least-once delivery arrive close together, so a window (7 days by default, the
/// live dedup TTL) keeps memory bounded by the event rate rather than by the length of history.
#[derive(Debug, Clone, Default)]
struct SeenIds {
    ids: HashMap<u128, i64>,
    order: VecDeque<(i64, u128)>,
    newest: i64,
    window_ms: i64,
}

impl SeenIds {
    fn digest(id: &str) -> u128 {
        let mut a = std::hash::DefaultHasher::new();
        (0u8, id).hash(&mut a);
        let mut b = std::hash::DefaultHasher::new();
        (1u8, id).hash(&mut b);
        (u128::from(a.finish()) << 64) | u128::from(b.finish())
    }

    /// Records `id`; false when it was already seen.
    fn insert(&mut self, id: &str, at: i64) -> bool {
        let d = SeenIds::digest(id);
        if self.ids.contains_key(&d) {
            return false;
        }
        self.ids.insert(d, at);
        self.order.push_back((at, d));
        self.newest = self.newest.max(at);
        let horizon = self.newest.saturating_sub(self.window_ms);
        while let Some(&(t, old)) = self.order.front() {
            if t >= horizon {
                break;
            }
            self.order.pop_front();
            self.ids.remove(&old);
        }
        true
    }
}

/// The fold's whole state in a serialisable, ordered form: what a store persists and a restart
/// restores (the event-id window included, so duplicates across a restart are still caught).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldSnapshot {
    pub buckets: BTreeMap<String, BucketState>,
    pub accounts: BTreeMap<String, AccountState>,
    /// (event time ms, hex digest of the event id) in arrival order.
    pub seen: Vec<(i64, String)>,
    pub dedup_window_ms: i64,
}

pub const DEFAULT_DEDUP_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

/// The whole fold: every bucket and account seen so far.
#[derive(Debug, Clone)]
pub struct Fold {
    buckets: HashMap<String, BucketState>,
    accounts: HashMap<String, AccountState>,
    seen: SeenIds,
    /// Off in live mode, where the fleet-wide dedup table decides (and a batch that is retried
    /// after a failed write must be applied again, not skipped as already seen).
    dedup: bool,
}

impl Default for Fold {
    fn default() -> Self {
        Fold::new(DEFAULT_DEDUP_WINDOW_MS)
    }
}

fn view_of<'a>(
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

fn ap_views(b: &BucketState) -> Vec<AccessPointView<'_>> {
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
struct Snapshot {
    bucket: Exposure,
    objects: BTreeMap<String, Exposure>,
}

fn snapshot(b: &BucketState, account: Option<&AccountState>) -> Snapshot {
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
    let account = AccountState {
        block: BlockState {
            flags: account_block,
            at: None,
            live: true,
        },
        ..AccountState::default()
    };
    let aps = ap_views(b);
    exposure::bucket_exposure(&view_of(b, Some(&account), &aps))
}

/// An object's exposure under a full bucket state.
pub fn object_exposure_of(
    b: &BucketState,
    object_acl: &Acl,
    account_block: BlockFlags,
) -> Exposure {
    let account = AccountState {
        block: BlockState {
            flags: account_block,
            at: None,
            live: true,
        },
        ..AccountState::default()
    };
    let aps = ap_views(b);
    exposure::object_exposure(Some(object_acl), &view_of(b, Some(&account), &aps))
}

fn with_note(e: &Exposure, note: Option<Note>) -> Option<Note> {
    note.or(if e.assumed { Some(Note::Assumed) } else { None })
}

impl Fold {
    pub fn new(dedup_window_ms: i64) -> Fold {
        Fold {
            buckets: HashMap::new(),
            accounts: HashMap::new(),
            seen: SeenIds {
                window_ms: dedup_window_ms,
                ..SeenIds::default()
            },
            dedup: true,
        }
    }

    /// Leaves duplicate detection to the caller (live mode's dedup table).
    pub fn without_dedup(mut self) -> Fold {
        self.dedup = false;
        self
    }

    pub fn snapshot(&self) -> FoldSnapshot {
        FoldSnapshot {
            buckets: self
                .buckets
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            accounts: self
                .accounts
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            seen: self
                .seen
                .order
                .iter()
                .map(|(t, d)| (*t, format!("{d:032x}")))
                .collect(),
            dedup_window_ms: self.seen.window_ms,
        }
    }

    pub fn restore(snapshot: FoldSnapshot) -> Fold {
        let mut fold = Fold::new(snapshot.dedup_window_ms);
        fold.buckets = snapshot.buckets.into_iter().collect();
        fold.accounts = snapshot.accounts.into_iter().collect();
        for (t, hex) in snapshot.seen {
            if let Ok(d) = u128::from_str_radix(&hex, 16) {
                fold.seen.ids.insert(d, t);
                fold.seen.order.push_back((t, d));
                fold.seen.newest = fold.seen.newest.max(t);
            }
        }
        fold
    }

    pub fn bucket(&self, name: &str) -> Option<&BucketState> {
        self.buckets.get(name).filter(|b| b.deleted_at.is_none())
    }

    pub fn account(&self, id: &str) -> Option<&AccountState> {
        self.accounts.get(id)
    }

    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Installs state loaded from a store (live mode), replacing what the fold had.
    pub fn load_bucket(&mut self, name: &str, state: BucketState) {
        self.accounts
            .entry(state.account.clone())
            .or_default()
            .buckets
            .insert(name.to_owned());
        self.buckets.insert(name.to_owned(), state);
    }

    /// Installs an account's state loaded from a store, keeping this fold's bucket membership.
    pub fn load_account(&mut self, id: &str, state: AccountState) {
        let entry = self.accounts.entry(id.to_owned()).or_default();
        entry.block.merge_from(&state.block);
        entry.buckets.extend(state.buckets);
        entry.access_points.extend(state.access_points);
    }

    pub fn bucket_state(&self, name: &str) -> Option<&BucketState> {
        self.buckets.get(name)
    }

    /// Current exposure of a known bucket, for lines that change nothing.
    pub fn bucket_exposure(&self, name: &str) -> Option<Exposure> {
        let b = self.bucket(name)?;
        let aps = ap_views(b);
        Some(exposure::bucket_exposure(&view_of(
            b,
            self.accounts.get(&b.account),
            &aps,
        )))
    }

    fn object_exposure(&self, bucket: &str, key: &str) -> Option<Exposure> {
        let b = self.bucket(bucket)?;
        let aps = ap_views(b);
        let view = view_of(b, self.accounts.get(&b.account), &aps);
        Some(exposure::object_exposure(
            b.objects.get(key).map(|o| &o.value),
            &view,
        ))
    }

    /// Applies one event and returns its outcome: one per affected bucket (account-level events
    /// re-evaluate every known bucket of the account), plus one per object whose exposure the
    /// event changed. Never empty.
    pub fn apply(&mut self, ev: &S3Event) -> Vec<Outcome> {
        let mut out = self.apply_inner(ev);
        for o in &mut out {
            if matches!(o.note, None | Some(Note::Assumed))
                && !o.exposure.public
                && self.masked_unconfirmed(o)
            {
                o.note = Some(Note::Masked);
            }
        }
        out
    }

    /// Whether a public grant in `o` is neutralised only by a protection that no live read
    /// confirmed. The neutralised findings name their protection (`…:ignored-by:<label>`,
    /// `…:restricted-by:<label>`, docs/REASONS.md); each label is one component of the state.
    fn masked_unconfirmed(&self, o: &Outcome) -> bool {
        let Some(b) = o.bucket.as_deref().and_then(|n| self.buckets.get(n)) else {
            return false;
        };
        let account = self.accounts.get(&b.account);
        o.exposure.reasons.iter().any(|r| {
            let Some((finding, label)) = r
                .split_once(":ignored-by:")
                .or_else(|| r.split_once(":restricted-by:"))
            else {
                return false;
            };
            let confirmed = match label {
                "BucketOwnerEnforced" => b.ownership.as_ref().is_some_and(|s| s.live),
                l if l.ends_with("@bucket") => b.block.live,
                l if l.ends_with("@account") => account.is_some_and(|a| a.block.live),
                l if l.ends_with("@access-point") => finding
                    .strip_prefix("access-point:")
                    .and_then(|f| f.split_once(':'))
                    .and_then(|(ap, _)| b.access_points.get(ap))
                    .is_some_and(|ap| ap.block.live),
                // A protection this fold does not know how to trace: verify.
                _ => false,
            };
            !confirmed
        })
    }

    /// The line(s) for an event the caller already knows is a duplicate.
    pub fn duplicate(&self, ev: &S3Event) -> Vec<Outcome> {
        self.unchanged(ev, Note::Duplicate)
    }

    fn apply_inner(&mut self, ev: &S3Event) -> Vec<Outcome> {
        let duplicate = self.dedup
            && ev
                .event_id
                .as_deref()
                .is_some_and(|id| !self.seen.insert(id, ev.time_ms));
        if duplicate {
            return self.unchanged(ev, Note::Duplicate);
        }
        let Some(change) = &ev.change else {
            return self.unchanged(ev, Note::FailedCall);
        };
        match change {
            Change::AccountBlock(cfg) => self.apply_account_block(ev, Some(*cfg)),
            Change::DeleteAccountBlock => self.apply_account_block(ev, None),
            Change::AccessPointPolicy { name, .. }
            | Change::DeleteAccessPointPolicy { name }
            | Change::DeleteAccessPoint { name }
                if ev.bucket.is_none() =>
            {
                match self
                    .accounts
                    .get(&ev.account)
                    .and_then(|a| a.access_points.get(name))
                    .cloned()
                {
                    Some(bucket) => self.apply_bucket(ev, &bucket, change),
                    None => vec![self.orphan_access_point(ev, change)],
                }
            }
            _ => match ev.bucket.clone() {
                Some(bucket) => self.apply_bucket(ev, &bucket, change),
                None => self.unchanged(ev, Note::FailedCall),
            },
        }
    }

    /// Lines for an event that changes nothing (duplicate, failed call).
    fn unchanged(&self, ev: &S3Event, note: Note) -> Vec<Outcome> {
        let exposure = match (&ev.bucket, &ev.key) {
            (Some(b), Some(k)) => self.object_exposure(b, k),
            (Some(b), None) => self.bucket_exposure(b),
            _ => None,
        }
        .unwrap_or_else(not_public);
        vec![Outcome {
            bucket: ev.bucket.clone(),
            key: ev.key.clone(),
            exposure,
            transition: Transition::Unchanged,
            note: Some(note),
        }]
    }

    fn orphan_access_point(&self, ev: &S3Event, change: &Change) -> Outcome {
        // The access point's bucket is unknown (its CreateAccessPoint predates the history), so
        // judge the access point on its own under the account's block.
        let (name, policy) = match change {
            Change::AccessPointPolicy { name, policy } => (name.as_str(), Some(policy.clone())),
            Change::DeleteAccessPointPolicy { name } | Change::DeleteAccessPoint { name } => {
                (name.as_str(), Some(PolicyFindings::default()))
            }
            _ => unreachable!("only access-point changes are orphans"),
        };
        let aps = [AccessPointView {
            name,
            policy: policy.as_ref(),
            block: BlockFlags::UNKNOWN,
            vpc_origin: None,
        }];
        let private = Acl::PRIVATE;
        let none = PolicyFindings::default();
        let view = BucketView {
            acl: Some(&private),
            policy: Some(&none),
            ownership: None,
            bucket_block: BlockFlags::UNKNOWN,
            account_block: self
                .accounts
                .get(&ev.account)
                .map(|a| a.block.flags)
                .unwrap_or(BlockFlags::UNKNOWN),
            access_points: &aps,
        };
        let exposure = exposure::bucket_exposure(&view);
        let transition = Transition::between(false, exposure.public);
        Outcome {
            bucket: None,
            key: None,
            note: with_note(&exposure, None),
            exposure,
            transition,
        }
    }

    fn apply_account_block(&mut self, ev: &S3Event, cfg: Option<BlockConfig>) -> Vec<Outcome> {
        let account = self.accounts.entry(ev.account.clone()).or_default();
        if account.block.is_newer_than(ev.time_ms) {
            let buckets: Vec<String> = account.buckets.iter().cloned().collect();
            return self.per_bucket_unchanged(&buckets, Note::Stale);
        }
        let buckets: Vec<String> = account
            .buckets
            .iter()
            .filter(|b| self.buckets.get(*b).is_some_and(|s| s.deleted_at.is_none()))
            .cloned()
            .collect();
        let before: Vec<Snapshot> = buckets
            .iter()
            .map(|b| snapshot(&self.buckets[b], self.accounts.get(&ev.account)))
            .collect();
        let flags = BlockFlags::known(cfg.unwrap_or(BlockConfig::ALL_OFF));
        self.accounts
            .get_mut(&ev.account)
            .expect("inserted above")
            .block
            .set(flags, ev.time_ms);
        if buckets.is_empty() {
            return vec![Outcome {
                bucket: None,
                key: None,
                exposure: not_public(),
                transition: Transition::Unchanged,
                note: None,
            }];
        }
        let mut out = Vec::new();
        for (name, before) in buckets.iter().zip(before) {
            let after = snapshot(&self.buckets[name], self.accounts.get(&ev.account));
            diff(name, before, after, None, &mut out);
        }
        out
    }

    fn per_bucket_unchanged(&self, buckets: &[String], note: Note) -> Vec<Outcome> {
        let mut out: Vec<Outcome> = buckets
            .iter()
            .filter_map(|b| {
                Some(Outcome {
                    bucket: Some(b.clone()),
                    key: None,
                    exposure: self.bucket_exposure(b)?,
                    transition: Transition::Unchanged,
                    note: Some(note),
                })
            })
            .collect();
        if out.is_empty() {
            out.push(Outcome {
                bucket: None,
                key: None,
                exposure: not_public(),
                transition: Transition::Unchanged,
                note: Some(note),
            });
        }
        out
    }

    fn apply_bucket(&mut self, ev: &S3Event, name: &str, change: &Change) -> Vec<Outcome> {
        let t = ev.time_ms;
        let is_create = matches!(change, Change::CreateBucket { .. });
        let replaces_all = is_create || matches!(change, Change::DeleteBucket);
        if let Some(b) = self.buckets.get(name) {
            if b.deleted_at.is_some_and(|d| d > t)
                || (replaces_all && b.deleted_at.is_none() && bucket_created_after(b, t))
            {
                return self.unchanged_stale(ev, name);
            }
        }
        if !is_create
            && self
                .buckets
                .get(name)
                .is_some_and(|b| b.deleted_at.is_some())
        {
            // An event after the deletion for a bucket we have not seen re-created: the name was
            // reused, state starts unknown again.
            self.buckets.remove(name);
        }
        let state = self
            .buckets
            .entry(name.to_owned())
            .or_insert_with(|| BucketState::new(&ev.account, &ev.region));
        self.accounts
            .entry(state.account.clone())
            .or_default()
            .buckets
            .insert(name.to_owned());
        let account_id = state.account.clone();
        let before = snapshot(&self.buckets[name], self.accounts.get(&account_id));
        let object_before = ev
            .key
            .as_ref()
            .map(|k| self.object_exposure(name, k).unwrap_or_else(not_public));

        let applied = self.mutate(ev, name, &account_id, change);
        if !applied {
            return self.unchanged_stale(ev, name);
        }

        if matches!(change, Change::DeleteBucket) {
            let mut out = Vec::new();
            let gone = Snapshot {
                bucket: not_public(),
                objects: BTreeMap::new(),
            };
            diff(name, before, gone, None, &mut out);
            return out;
        }
        let after = snapshot(&self.buckets[name], self.accounts.get(&account_id));
        let mut out = Vec::new();
        if let (Some(key), Some(obefore)) = (&ev.key, object_before) {
            let oafter = self.object_exposure(name, key).unwrap_or_else(not_public);
            out.push(Outcome {
                bucket: Some(name.to_owned()),
                key: Some(key.clone()),
                transition: Transition::between(obefore.public, oafter.public),
                note: with_note(&oafter, None),
                exposure: oafter,
            });
            // The object line speaks for its own key; other lines only if the bucket changed.
            let mut rest = Vec::new();
            diff(name, before, after, Some(key), &mut rest);
            out.extend(
                rest.into_iter()
                    .filter(|o| o.key.is_some() || o.transition != Transition::Unchanged),
            );
            return out;
        }
        diff(name, before, after, None, &mut out);
        out
    }

    fn unchanged_stale(&self, ev: &S3Event, name: &str) -> Vec<Outcome> {
        let exposure = match &ev.key {
            Some(k) => self.object_exposure(name, k),
            None => self.bucket_exposure(name),
        }
        .unwrap_or_else(not_public);
        vec![Outcome {
            bucket: Some(name.to_owned()),
            key: ev.key.clone(),
            exposure,
            transition: Transition::Unchanged,
            note: Some(Note::Stale),
        }]
    }

    /// Applies `change` to the bucket's state; false when the event is stale for its component.
    fn mutate(&mut self, ev: &S3Event, name: &str, account_id: &str, change: &Change) -> bool {
        let t = ev.time_ms;
        let account = self.accounts.entry(account_id.to_owned()).or_default();
        let b = self
            .buckets
            .get_mut(name)
            .expect("bucket inserted by caller");
        fn fresh<T>(c: &Option<Stamped<T>>, t: i64) -> bool {
            c.as_ref().is_none_or(|s| s.at <= t)
        }
        match change {
            Change::CreateBucket { acl, ownership } => {
                let objects = std::mem::take(&mut b.objects);
                *b = BucketState::created(account_id, &ev.region, t, *acl, *ownership);
                drop(objects);
                if acl.is_some_and(|a| a.is_public()) {
                    prove_public_acl_allowed(b, account, t);
                }
            }
            Change::DeleteBucket => {
                *b = BucketState {
                    deleted_at: Some(t),
                    ..BucketState::new(account_id, &b.region)
                };
                account.buckets.remove(name);
                account.access_points.retain(|_, bucket| bucket != name);
            }
            Change::BucketAcl(acl) => {
                if !fresh(&b.acl, t) {
                    return false;
                }
                b.acl = stamped(*acl, t);
                if acl.is_public() {
                    prove_public_acl_allowed(b, account, t);
                }
            }
            Change::BucketPolicy(p) => {
                if !fresh(&b.policy, t) {
                    return false;
                }
                if p.is_public() {
                    prove_public_policy_allowed(&mut b.block, t);
                    prove_public_policy_allowed(&mut account.block, t);
                }
                b.policy = stamped(p.clone(), t);
            }
            Change::DeleteBucketPolicy => {
                if !fresh(&b.policy, t) {
                    return false;
                }
                b.policy = stamped(PolicyFindings::default(), t);
            }
            Change::BucketBlock(cfg) => {
                if b.block.is_newer_than(t) {
                    return false;
                }
                b.block.set(BlockFlags::known(*cfg), t);
            }
            Change::DeleteBucketBlock => {
                if b.block.is_newer_than(t) {
                    return false;
                }
                b.block.set(BlockFlags::known(BlockConfig::ALL_OFF), t);
            }
            Change::Ownership(o) => {
                if !fresh(&b.ownership, t) {
                    return false;
                }
                b.ownership = stamped(*o, t);
            }
            Change::DeleteOwnership => {
                if !fresh(&b.ownership, t) {
                    return false;
                }
                // Without ownership controls S3 behaves as ObjectWriter: stored ACLs apply again.
                b.ownership = stamped(Ownership::ObjectWriter, t);
            }
            Change::ObjectAcl(acl) => {
                let Some(key) = &ev.key else { return false };
                if b.objects.get(key).is_some_and(|o| o.at > t) {
                    return false;
                }
                b.objects.insert(
                    key.clone(),
                    Stamped {
                        value: *acl,
                        at: t,
                        live: false,
                    },
                );
                if acl.is_public() {
                    prove_public_acl_allowed(b, account, t);
                }
            }
            Change::Tags(tags) => {
                if b.tags.as_ref().is_some_and(|s| s.at > t) {
                    return false;
                }
                b.tags = Some(TagState::new(tags.clone(), t, ev.actor_arn.clone()));
            }
            Change::DeleteTags => {
                if b.tags.as_ref().is_some_and(|s| s.at > t) {
                    return false;
                }
                b.tags = Some(TagState::new(Vec::new(), t, ev.actor_arn.clone()));
            }
            Change::Website(on) => {
                if !fresh(&b.website, t) {
                    return false;
                }
                b.website = stamped(*on, t);
            }
            Change::CreateAccessPoint {
                name: ap,
                block,
                vpc_origin,
            } => {
                account.access_points.insert(ap.clone(), name.to_owned());
                let entry = b.access_points.entry(ap.clone()).or_default();
                if entry.block.is_newer_than(t) {
                    return false;
                }
                *entry = AccessPointState {
                    policy: stamped(PolicyFindings::default(), t),
                    block: BlockState {
                        flags: BlockFlags::known(*block),
                        at: Some(t),
                        live: false,
                    },
                    vpc_origin: Some(*vpc_origin),
                };
            }
            Change::DeleteAccessPoint { name: ap } => {
                if b.access_points
                    .get(ap)
                    .is_some_and(|a| a.block.is_newer_than(t))
                {
                    return false;
                }
                b.access_points.remove(ap);
                account.access_points.remove(ap);
            }
            Change::AccessPointPolicy { name: ap, policy } => {
                let entry = b.access_points.entry(ap.clone()).or_default();
                if !fresh(&entry.policy, t) {
                    return false;
                }
                if policy.is_public() {
                    prove_public_policy_allowed(&mut entry.block, t);
                }
                entry.policy = stamped(policy.clone(), t);
            }
            Change::DeleteAccessPointPolicy { name: ap } => {
                let entry = b.access_points.entry(ap.clone()).or_default();
                if !fresh(&entry.policy, t) {
                    return false;
                }
                entry.policy = stamped(PolicyFindings::default(), t);
            }
            Change::AccountBlock(_) | Change::DeleteAccountBlock => {
                unreachable!("handled by apply_account_block")
            }
        }
        true
    }
}

fn bucket_created_after(b: &BucketState, t: i64) -> bool {
    // CreateBucket stamps every component at once; an older CreateBucket than the newest known
    // component is stale.
    [
        b.acl.as_ref().map(|s| s.at),
        b.policy.as_ref().map(|s| s.at),
        b.ownership.as_ref().map(|s| s.at),
        b.block.at,
    ]
    .into_iter()
    .flatten()
    .any(|at| at > t)
}

/// A successful call that set a public ACL proves that, at that moment, BlockPublicAcls was off
/// at both levels and the bucket's ACLs were enabled (BucketOwnerEnforced rejects such calls). If
/// we believed otherwise we missed a change, and the other flags set by the same missed change are
/// unknown again.
fn prove_public_acl_allowed(b: &mut BucketState, account: &mut AccountState, t: i64) {
    for block in [&mut b.block, &mut account.block] {
        if block.flags.block_public_acls == Some(true) {
            block.flags = BlockFlags {
                block_public_acls: Some(false),
                ..BlockFlags::UNKNOWN
            };
        } else {
            block.flags.block_public_acls = Some(false);
        }
    }
    if b.ownership
        .as_ref()
        .is_some_and(|o| o.value == Ownership::BucketOwnerEnforced)
    {
        b.ownership = stamped(Ownership::ObjectWriter, t);
    }
}

/// Likewise, a successful public policy proves BlockPublicPolicy was off.
fn prove_public_policy_allowed(block: &mut BlockState, _t: i64) {
    if block.flags.block_public_policy == Some(true) {
        block.flags = BlockFlags {
            block_public_policy: Some(false),
            ..BlockFlags::UNKNOWN
        };
    } else {
        block.flags.block_public_policy = Some(false);
    }
}

fn not_public() -> Exposure {
    Exposure {
        public: false,
        reasons: Vec::new(),
        assumed: false,
    }
}

/// Lines for one bucket: always the bucket itself, then each object whose exposure changed
/// (except `skip_key`, which the caller reports on its own).
fn diff(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::record::EventName;

    fn ev(id: &str, t: i64, name: EventName, key: Option<&str>, change: Change) -> S3Event {
        S3Event {
            event_id: Some(id.to_owned()),
            event_time: crate::core::time::format_millis(t),
            time_ms: t,
            event_name: name,
            account: "111122223333".into(),
            region: "us-east-1".into(),
            bucket: Some("b1".into()),
            key: key.map(str::to_owned),
            actor_arn: None,
            source_ip: None,
            user_agent: None,
            error_code: None,
            change: Some(change),
            oddities: Vec::new(),
        }
    }

    fn public_acl() -> Change {
        Change::BucketAcl(Acl::from_canned("public-read").unwrap())
    }

    #[test]
    fn a_remediated_bucket_reopened_is_a_new_transition() {
        let mut f = Fold::new(60_000);
        let opened = [
            ev(
                "1",
                1_000,
                EventName::CreateBucket,
                None,
                Change::CreateBucket {
                    acl: None,
                    ownership: Some(Ownership::ObjectWriter),
                },
            ),
            ev(
                "2",
                2_000,
                EventName::DeleteBucketPublicAccessBlock,
                None,
                Change::DeleteBucketBlock,
            ),
            ev("3", 3_000, EventName::PutBucketAcl, None, public_acl()),
        ];
        let last = opened.iter().map(|e| f.apply(e)).last().unwrap();
        assert_eq!(last[0].transition, Transition::BecamePublic);
        f.settle(&Settlement {
            closed: Some(Closed::Bucket),
            ..Settlement::of("b1", 4_000)
        });
        assert!(!f.bucket_exposure("b1").unwrap().public);
        // An event from before the remediation does not undo it…
        let late = f.apply(&ev(
            "4",
            3_500,
            EventName::DeleteBucketPublicAccessBlock,
            None,
            Change::DeleteBucketBlock,
        ));
        assert_eq!(late[0].transition, Transition::Unchanged);
        assert!(!f.bucket_exposure("b1").unwrap().public);
        // …one from after it re-opens the bucket and is a transition again.
        let reopened = f.apply(&ev(
            "5",
            5_000,
            EventName::DeleteBucketPublicAccessBlock,
            None,
            Change::DeleteBucketBlock,
        ));
        assert_eq!(reopened[0].transition, Transition::BecamePublic);
    }

    #[test]
    fn a_private_object_after_remediation_can_become_public_again() {
        let mut f = Fold::new(60_000);
        f.apply(&ev(
            "1",
            1_000,
            EventName::CreateBucket,
            None,
            Change::CreateBucket {
                acl: None,
                ownership: Some(Ownership::ObjectWriter),
            },
        ));
        f.apply(&ev(
            "2",
            2_000,
            EventName::DeleteBucketPublicAccessBlock,
            None,
            Change::DeleteBucketBlock,
        ));
        let put = Change::ObjectAcl(Acl::from_canned("public-read").unwrap());
        let first = f.apply(&ev(
            "3",
            3_000,
            EventName::PutObjectAcl,
            Some("k"),
            put.clone(),
        ));
        assert!(first
            .iter()
            .any(|o| o.transition == Transition::BecamePublic));
        f.settle(&Settlement {
            closed: Some(Closed::Object("k".into())),
            ..Settlement::of("b1", 4_000)
        });
        let again = f.apply(&ev("4", 5_000, EventName::PutObjectAcl, Some("k"), put));
        assert!(again
            .iter()
            .any(|o| o.transition == Transition::BecamePublic));
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_tag_set_remembers_who_set_it() {
        let mut f = Fold::default();
        f.apply(&ev(
            "c",
            1_000,
            EventName::CreateBucket,
            None,
            Change::CreateBucket {
                acl: None,
                ownership: None,
            },
        ));
        let mut put = ev(
            "t",
            2_000,
            EventName::PutBucketTagging,
            None,
            Change::Tags(tags(&[("k", "v")])),
        );
        put.actor_arn = Some("arn:aws:iam::111122223333:user/alice".into());
        f.apply(&put);
        let b = f.bucket("b1").unwrap();
        assert_eq!(b.tags(), tags(&[("k", "v")]).as_slice());
        assert_eq!(
            b.tags_set_by(),
            Some("arn:aws:iam::111122223333:user/alice")
        );
        let mut del = ev(
            "d",
            3_000,
            EventName::DeleteBucketTagging,
            None,
            Change::DeleteTags,
        );
        del.actor_arn = Some("arn:aws:iam::111122223333:user/bob".into());
        f.apply(&del);
        assert_eq!(
            f.bucket("b1").unwrap().tags_set_by(),
            Some("arn:aws:iam::111122223333:user/bob")
        );
    }

    #[test]
    fn a_live_read_of_the_same_tags_keeps_the_setter_and_of_other_tags_forgets_it() {
        let alice = "arn:aws:iam::111122223333:user/alice";
        let seen = BucketState {
            tags: Some(TagState::new(
                tags(&[("a", "1"), ("b", "2")]),
                10,
                Some(alice.into()),
            )),
            ..BucketState::default()
        };
        // Newer, same set in another order, no setter: the setter stays, whichever side merges.
        let same = BucketState {
            tags: Some(TagState::new(tags(&[("b", "2"), ("a", "1")]), 20, None)),
            ..BucketState::default()
        };
        let mut x = seen.clone();
        x.merge_from(&same);
        assert_eq!(
            (x.tags.as_ref().unwrap().at, x.tags_set_by()),
            (20, Some(alice))
        );
        let mut y = same.clone();
        y.merge_from(&seen);
        assert_eq!(
            (y.tags.as_ref().unwrap().at, y.tags_set_by()),
            (20, Some(alice))
        );
        assert_eq!(
            seen.setter_of(&tags(&[("b", "2"), ("a", "1")])),
            Some(alice)
        );
        // A different set read later: nobody the fleet saw set it.
        let other = BucketState {
            tags: Some(TagState::new(tags(&[("a", "1")]), 20, None)),
            ..BucketState::default()
        };
        let mut z = seen.clone();
        z.merge_from(&other);
        assert_eq!(z.tags_set_by(), None);
        assert_eq!(seen.setter_of(&tags(&[("a", "1")])), None);
    }

    #[test]
    fn a_tag_state_persisted_without_a_setter_still_loads() {
        // The shape written before setters were recorded.
        let old = r#"{"value":[["bucketwarden:allow-public","true"]],"at":5}"#;
        let t: TagState = serde_json::from_str(old).unwrap();
        assert_eq!(
            t,
            TagState::new(tags(&[("bucketwarden:allow-public", "true")]), 5, None)
        );
        // And a state without a setter writes the same shape back.
        assert_eq!(serde_json::to_string(&t).unwrap(), old);
    }

    fn masked_acl_fold() -> (Fold, Vec<Outcome>) {
        use crate::core::exposure::BlockConfig;
        let mut f = Fold::default();
        let create = Change::CreateBucket {
            acl: None,
            ownership: Some(Ownership::ObjectWriter),
        };
        f.apply(&ev("c", 1_000, EventName::CreateBucket, None, create));
        let forged = BlockConfig {
            block_public_acls: false,
            ignore_public_acls: true,
            block_public_policy: false,
            restrict_public_buckets: true,
        };
        f.apply(&ev(
            "p",
            2_000,
            EventName::PutBucketPublicAccessBlock,
            None,
            Change::BucketBlock(forged),
        ));
        let out = f.apply(&ev("a", 3_000, EventName::PutBucketAcl, None, public_acl()));
        (f, out)
    }

    #[test]
    fn a_grant_masked_by_a_protection_learned_from_an_event_is_noted_masked() {
        let (_, out) = masked_acl_fold();
        assert_eq!(out.len(), 1);
        assert!(!out[0].exposure.public);
        assert_eq!(out[0].note, Some(Note::Masked));
        assert_eq!(
            out[0].exposure.reasons,
            vec!["acl:AllUsers:READ:ignored-by:IgnorePublicAcls@bucket"]
        );
    }

    #[test]
    fn a_grant_masked_by_a_protection_a_live_read_confirmed_is_not() {
        use crate::core::exposure::BlockConfig;
        let (mut f, _) = masked_acl_fold();
        // S3 says IgnorePublicAcls really is on (newer than the events).
        let live = BucketState {
            block: BlockState::live(
                BlockFlags::known(BlockConfig {
                    block_public_acls: false,
                    ignore_public_acls: true,
                    block_public_policy: false,
                    restrict_public_buckets: true,
                }),
                3_500,
            ),
            ..BucketState::default()
        };
        f.settle(&Settlement {
            bucket_state: Some(live),
            ..Settlement::of("b1", 3_500)
        });
        let out = f.apply(&ev(
            "a2",
            4_000,
            EventName::PutBucketAcl,
            None,
            public_acl(),
        ));
        assert!(!out[0].exposure.public);
        assert_eq!(out[0].note, None);
        // An event changing the block again makes it unconfirmed again.
        let again = BlockConfig {
            block_public_acls: false,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        };
        let out = f.apply(&ev(
            "p2",
            5_000,
            EventName::PutBucketPublicAccessBlock,
            None,
            Change::BucketBlock(again),
        ));
        assert_eq!(out[0].note, Some(Note::Masked));
    }

    #[test]
    fn provenance_persisted_before_it_was_recorded_reads_as_learned_from_events() {
        let old = r#"{"flags":{"block_public_acls":true,"ignore_public_acls":true,"block_public_policy":true,"restrict_public_buckets":true},"at":5}"#;
        let b: BlockState = serde_json::from_str(old).unwrap();
        assert!(!b.live);
        let s: Stamped<bool> = serde_json::from_str(r#"{"value":true,"at":5}"#).unwrap();
        assert!(!s.live);
    }
}
