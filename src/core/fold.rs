//! The fold: per-bucket and per-account knowledge built from typed S3 events, and the exposure
//! transition each event causes (docs/DESIGN.md §5). Pure and deterministic: no clock, no I/O, no
//! randomness; the same events in the same order always give the same outcomes.

use std::collections::{BTreeMap, HashMap, VecDeque};
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

mod outcome;
mod state;
#[cfg(test)]
mod tests;
mod working_set;

pub use outcome::{exposure_of, object_exposure_of, Note, Outcome, Transition};
pub use state::{AccessPointState, AccountState, BlockState, BucketState, Stamped, TagState};
pub use working_set::WorkingSet;

use outcome::{ap_views, diff, not_public, snapshot, view_of, with_note, Snapshot};
use state::stamped;

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

    /// Forgets a bucket whose state is saved (the worker's working set evicted it): its state
    /// and its membership of its account. It is loaded again from the store before its next
    /// event; an account-level event re-reads the account's buckets from the store.
    pub fn evict_bucket(&mut self, name: &str) {
        if let Some(b) = self.buckets.remove(name) {
            if let Some(a) = self.accounts.get_mut(&b.account) {
                a.buckets.remove(name);
            }
        }
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

    /// An object's exposure in a known bucket, given its ACL.
    fn object_exposure_with(&self, bucket: &str, acl: &Acl) -> Option<Exposure> {
        let b = self.bucket(bucket)?;
        let aps = ap_views(b);
        let view = view_of(b, self.accounts.get(&b.account), &aps);
        Some(exposure::object_exposure(Some(acl), &view))
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
            // Only the buckets the account still owns: a membership loaded from the store may
            // be older than the name's re-creation by another account (`take_ownership`).
            .filter(|b| {
                self.buckets
                    .get(*b)
                    .is_some_and(|s| s.deleted_at.is_none() && s.account == ev.account)
            })
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

    /// A CreateBucket names the bucket's owner: the creator. When another account held the name
    /// before (deleted in the history or not: names are global, so a CreateBucket by another
    /// account proves the old bucket is gone), the name leaves that account, whose account-level
    /// block applied to it only while it owned it. AWS: "If you delete a bucket in the shared
    /// global namespace, be aware that another AWS account can use the same general purpose
    /// bucket name for a new bucket", and S3 checks "the PublicAccessBlock configuration for both
    /// the bucket … and the bucket owner's account" (GetPublicAccessBlock).
    fn take_ownership(&mut self, name: &str, creator: &str) {
        let Some(b) = self.buckets.get_mut(name) else {
            return;
        };
        if b.account == creator {
            return;
        }
        let previous = std::mem::replace(&mut b.account, creator.to_owned());
        if let Some(old) = self.accounts.get_mut(&previous) {
            old.buckets.remove(name);
            old.access_points.retain(|_, bucket| bucket != name);
        }
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
        if is_create {
            self.take_ownership(name, &ev.account);
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
            // The ACL this event set, known even when a private one was not kept.
            let oafter = match change {
                Change::ObjectAcl(acl) => self.object_exposure_with(name, acl),
                _ => self.object_exposure(name, key),
            }
            .unwrap_or_else(not_public);
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
                if acl.is_public() {
                    b.objects.insert(
                        key.clone(),
                        Stamped {
                            value: *acl,
                            at: t,
                            live: false,
                        },
                    );
                    prove_public_acl_allowed(b, account, t);
                } else {
                    // A private object cannot decide anything (only public grants expose an
                    // object): it is forgotten, so the map holds public objects only. Its stamp
                    // goes with it: an older public event for the key arriving later is applied
                    // (errs towards public; verification reads the object's ACL before acting).
                    b.objects.remove(key);
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
        prove_off(block, |f| &mut f.block_public_acls);
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
    prove_off(block, |f| &mut f.block_public_policy);
}

/// Sets one block flag off, as a successful call proved it; if it was believed on, a change was
/// missed, and the flags that change set with it are unknown again.
fn prove_off(block: &mut BlockState, flag: fn(&mut BlockFlags) -> &mut Option<bool>) {
    if *flag(&mut block.flags) == Some(true) {
        block.flags = BlockFlags::UNKNOWN;
    }
    *flag(&mut block.flags) = Some(false);
}
