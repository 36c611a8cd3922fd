//! What acting learned flowing back into the fold: one [`Settlement`] type, applied in one place
//! ([`Fold::settle`]), whoever learned it (the worker's act, a resumed incident, reconciliation).
//! Pure; it only merges by the same newer-wins stamps as the fold itself.

use super::{BlockState, BucketState, Fold};
use crate::core::exposure::{BlockConfig, BlockFlags};

/// A target known closed (remediated by bucketwarden, or by an earlier attempt of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    Bucket,
    Object(String),
}

/// What acting learned about a bucket, flowing back into the fold through [`Fold::settle`]:
/// its live state, its account's live block, a target closed; stamped at `at` (the triggering
/// event's time: CloudTrail times have second precision, and a re-opening in the same second
/// must not look stale).
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub bucket: String,
    pub bucket_state: Option<BucketState>,
    /// (account, its block as read live).
    pub account_block: Option<(String, BlockFlags)>,
    pub closed: Option<Closed>,
    pub at: i64,
}

impl Settlement {
    /// Nothing learned yet about `bucket`.
    pub fn of(bucket: &str, at: i64) -> Settlement {
        Settlement {
            bucket: bucket.to_owned(),
            bucket_state: None,
            account_block: None,
            closed: None,
            at,
        }
    }
}

impl Fold {
    /// Takes in what acting learned — a live read, a target closed — in one place, whoever
    /// learned it (the worker's act, a resumed incident, reconciliation).
    pub fn settle(&mut self, s: &Settlement) {
        if let Some(live) = &s.bucket_state {
            if let Some(b) = self.buckets.get_mut(&s.bucket) {
                b.merge_from(live);
            }
        }
        if let Some((account, flags)) = &s.account_block {
            let entry = self.accounts.entry(account.clone()).or_default();
            entry.block.merge_from(&BlockState::live(*flags, s.at));
        }
        match &s.closed {
            None => {}
            Some(Closed::Bucket) => self.note_bucket_locked(&s.bucket, s.at),
            Some(Closed::Object(key)) => self.note_object_private(&s.bucket, key, s.at),
        }
    }

    /// Records a remediation applied at `at` (the bucket's block turned fully on), so that a
    /// later event re-opening the bucket is judged against the locked-down state even when no
    /// CloudTrail event for the remediation itself arrives (or arrives later).
    fn note_bucket_locked(&mut self, name: &str, at: i64) {
        if let Some(b) = self.buckets.get_mut(name) {
            if !b.block.is_newer_than(at) {
                // Written by bucketwarden itself: as good as a live read.
                b.block = BlockState::live(BlockFlags::known(BlockConfig::ALL_ON), at);
            }
        }
    }

    /// Records that an object's ACL was reset to private at `at`: like a private ACL from an
    /// event, it removes the object (the fold keeps public objects only).
    fn note_object_private(&mut self, bucket: &str, key: &str, at: i64) {
        if let Some(b) = self.buckets.get_mut(bucket) {
            if b.objects.get(key).is_some_and(|o| o.at <= at) {
                b.objects.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settlement_takes_a_newer_account_block_and_never_an_older_one() {
        let mut f = Fold::new(60_000);
        let on = BlockFlags::known(BlockConfig::ALL_ON);
        let off = BlockFlags::known(BlockConfig::ALL_OFF);
        let block = |f: &Fold| f.account("111122223333").unwrap().block;
        f.settle(&Settlement {
            account_block: Some(("111122223333".into(), on)),
            ..Settlement::of("b1", 2_000)
        });
        assert_eq!(block(&f).flags, on);
        assert_eq!(block(&f).at, Some(2_000));
        f.settle(&Settlement {
            account_block: Some(("111122223333".into(), off)),
            ..Settlement::of("b1", 1_000)
        });
        assert_eq!(
            block(&f).flags,
            on,
            "an older read must not undo a newer one"
        );
        f.settle(&Settlement {
            account_block: Some(("111122223333".into(), off)),
            ..Settlement::of("b1", 3_000)
        });
        assert_eq!(block(&f).flags, off);
        // A settlement about a bucket the fold does not know creates nothing.
        f.settle(&Settlement {
            closed: Some(Closed::Bucket),
            ..Settlement::of("unknown", 4_000)
        });
        assert!(f.bucket_state("unknown").is_none());
    }
}
