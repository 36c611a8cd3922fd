//! Leases (docs/DESIGN.md §7): the KCL-compatible lease record, expiry judged by watching `leaseCounter`
//! with a monotonic clock, and the pure balancing plan (expired first, then steal one at a time
//! from the most loaded worker). Owns no I/O: the table lives in `lease_table`, time is passed in.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// Where a shard consumer resumes, as KCL writes it in `checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Checkpoint {
    TrimHorizon,
    Latest,
    ShardEnd,
    Sequence(String),
}

impl Checkpoint {
    pub fn parse(s: &str) -> Checkpoint {
        match s {
            "TRIM_HORIZON" => Checkpoint::TrimHorizon,
            "LATEST" => Checkpoint::Latest,
            "SHARD_END" => Checkpoint::ShardEnd,
            seq => Checkpoint::Sequence(seq.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Checkpoint::TrimHorizon => "TRIM_HORIZON",
            Checkpoint::Latest => "LATEST",
            Checkpoint::ShardEnd => "SHARD_END",
            Checkpoint::Sequence(s) => s,
        }
    }
}

/// One row of the lease table (attribute names as KCL's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// `leaseKey`: the shard id.
    pub key: String,
    /// `leaseOwner`; `None` when released or never taken.
    pub owner: Option<String>,
    /// `leaseCounter`: bumped by every take, renew, checkpoint and release.
    pub counter: u64,
    pub checkpoint: Checkpoint,
    pub checkpoint_sub: u64,
    pub owner_switches: u64,
    /// `parentShardId`: one parent after a split, two after a merge.
    pub parents: Vec<String>,
    pub children: Vec<String>,
    pub starting_hash: Option<String>,
    pub ending_hash: Option<String>,
    pub pending_checkpoint: Option<String>,
}

impl Lease {
    pub fn new(key: &str, parents: Vec<String>, initial: Checkpoint) -> Lease {
        Lease {
            key: key.to_owned(),
            owner: None,
            counter: 0,
            checkpoint: initial,
            checkpoint_sub: 0,
            owner_switches: 0,
            parents,
            children: Vec::new(),
            starting_hash: None,
            ending_hash: None,
            pending_checkpoint: None,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.checkpoint == Checkpoint::ShardEnd
    }
}

/// Watches every lease's counter: a lease whose counter has not moved for the failover time,
/// measured on this process's monotonic clock, is expired. Wall clocks of different machines are
/// never compared.
#[derive(Debug, Default)]
pub struct ExpiryTracker {
    last: HashMap<String, (u64, Instant)>,
}

impl ExpiryTracker {
    pub fn observe(&mut self, leases: &[Lease], now: Instant) {
        let keys: HashSet<&str> = leases.iter().map(|l| l.key.as_str()).collect();
        self.last.retain(|k, _| keys.contains(k.as_str()));
        for l in leases {
            match self.last.get_mut(&l.key) {
                Some((counter, since)) if *counter == l.counter => {
                    let _ = since;
                }
                _ => {
                    self.last.insert(l.key.clone(), (l.counter, now));
                }
            }
        }
    }

    pub fn is_expired(&self, key: &str, failover: Duration, now: Instant) -> bool {
        self.last
            .get(key)
            .is_some_and(|(_, since)| now.saturating_duration_since(*since) >= failover)
    }
}

/// A shard may be worked on only when every parent has been read to its end, so per-key order
/// holds across splits and merges. A parent with a lease is done at SHARD_END. A parent without
/// one is done only when ListShards no longer lists it (`listed`: the shard ids of the last
/// listing, `None` before the first): past the stream's retention it is gone with its records,
/// but while it is listed its lease is merely not created yet (discovery creates it), and taking
/// the child then would read keys' later events before their earlier ones on the parent.
pub fn parents_done(
    lease: &Lease,
    by_key: &HashMap<&str, &Lease>,
    listed: Option<&HashSet<String>>,
) -> bool {
    lease.parents.iter().all(|p| match by_key.get(p.as_str()) {
        Some(pl) => pl.is_finished(),
        None => listed.is_some_and(|shards| !shards.contains(p)),
    })
}

/// What the taker should do this round.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Leases to take because they are unowned or expired.
    pub take: Vec<String>,
    /// At most one lease to steal from the most loaded worker.
    pub steal: Option<String>,
    /// The per-worker target this plan aims at.
    pub target: usize,
}

/// Balances by lease count over the leases that can be worked on now.
pub fn plan(
    leases: &[Lease],
    me: &str,
    expired: &dyn Fn(&Lease) -> bool,
    listed: Option<&HashSet<String>>,
) -> Plan {
    let by_key: HashMap<&str, &Lease> = leases.iter().map(|l| (l.key.as_str(), l)).collect();
    let active: Vec<&Lease> = leases
        .iter()
        .filter(|l| !l.is_finished() && parents_done(l, &by_key, listed))
        .collect();
    if active.is_empty() {
        return Plan::default();
    }
    fn live_owner<'l>(l: &'l Lease, expired: &dyn Fn(&Lease) -> bool) -> Option<&'l str> {
        if expired(l) {
            None
        } else {
            l.owner.as_deref()
        }
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    counts.insert(me, 0);
    for l in &active {
        if let Some(o) = live_owner(l, expired) {
            *counts.entry(o).or_default() += 1;
        }
    }
    let workers = counts.len();
    let target = active.len().div_ceil(workers);
    let mine = counts[me];
    if mine >= target {
        return Plan {
            target,
            ..Plan::default()
        };
    }
    let needed = target - mine;
    let mut available: Vec<&Lease> = active
        .iter()
        .copied()
        .filter(|l| live_owner(l, expired).is_none())
        .collect();
    available.sort_by(|a, b| a.key.cmp(&b.key));
    let take: Vec<String> = available
        .iter()
        .take(needed)
        .map(|l| l.key.clone())
        .collect();
    let mut steal = None;
    if take.len() < needed {
        // Steal one at a time so the fleet converges without thrashing.
        let most = counts
            .iter()
            .filter(|(o, _)| **o != me)
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)));
        if let Some((owner, &count)) = most {
            let still_needed = needed - take.len();
            if count > target || (count == target && still_needed > 1) {
                steal = active
                    .iter()
                    .filter(|l| live_owner(l, expired) == Some(*owner))
                    .map(|l| l.key.clone())
                    .min();
            }
        }
    }
    Plan {
        take,
        steal,
        target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(key: &str, owner: Option<&str>) -> Lease {
        Lease {
            owner: owner.map(str::to_owned),
            ..Lease::new(key, vec![], Checkpoint::TrimHorizon)
        }
    }

    fn never(_: &Lease) -> bool {
        false
    }

    #[test]
    fn a_lone_worker_takes_everything() {
        let leases: Vec<Lease> = (0..4).map(|i| lease(&format!("s{i}"), None)).collect();
        let p = plan(&leases, "a", &never, None);
        assert_eq!(p.take, vec!["s0", "s1", "s2", "s3"]);
        assert_eq!(p.steal, None);
    }

    #[test]
    fn a_second_worker_steals_one_at_a_time() {
        let leases: Vec<Lease> = (0..4).map(|i| lease(&format!("s{i}"), Some("a"))).collect();
        let p = plan(&leases, "b", &never, None);
        assert_eq!(p.target, 2);
        assert!(p.take.is_empty());
        assert_eq!(p.steal.as_deref(), Some("s0"));
    }

    #[test]
    fn expired_leases_are_taken_before_stealing() {
        let mut leases: Vec<Lease> = (0..4).map(|i| lease(&format!("s{i}"), Some("a"))).collect();
        leases[3].owner = Some("dead".into());
        leases[2].owner = Some("dead".into());
        let p = plan(
            &leases,
            "b",
            &|l: &Lease| l.owner.as_deref() == Some("dead"),
            None,
        );
        assert_eq!(p.take, vec!["s2", "s3"]);
        assert_eq!(p.steal, None);
    }

    #[test]
    fn balanced_fleet_does_nothing() {
        let leases = vec![
            lease("s0", Some("a")),
            lease("s1", Some("b")),
            lease("s2", Some("a")),
            lease("s3", Some("b")),
        ];
        assert_eq!(
            plan(&leases, "a", &never, None),
            Plan {
                target: 2,
                ..Plan::default()
            }
        );
        assert_eq!(
            plan(&leases, "b", &never, None),
            Plan {
                target: 2,
                ..Plan::default()
            }
        );
    }

    #[test]
    fn three_workers_over_four_shards_converge() {
        // a holds 3, b holds 1, c has none: target 2, c steals one from a.
        let leases = vec![
            lease("s0", Some("a")),
            lease("s1", Some("a")),
            lease("s2", Some("a")),
            lease("s3", Some("b")),
        ];
        let p = plan(&leases, "c", &never, None);
        assert_eq!(p.target, 2);
        assert_eq!(p.steal.as_deref(), Some("s0"));
    }

    #[test]
    fn children_wait_for_every_parent() {
        let mut p1 = lease("p1", Some("a"));
        let mut p2 = lease("p2", Some("a"));
        let child = Lease {
            parents: vec!["p1".into(), "p2".into()],
            ..lease("c", None)
        };
        p1.checkpoint = Checkpoint::ShardEnd;
        let leases = vec![p1.clone(), p2.clone(), child.clone()];
        assert!(!plan(&leases, "b", &never, None)
            .take
            .contains(&"c".to_string()));
        p2.checkpoint = Checkpoint::ShardEnd;
        let leases = vec![p1, p2, child];
        assert_eq!(plan(&leases, "b", &never, None).take, vec!["c"]);
    }

    #[test]
    fn a_parent_without_a_lease_is_done_only_when_no_longer_listed() {
        let child = Lease {
            parents: vec!["p".into()],
            ..lease("c", None)
        };
        let leases = vec![child.clone()];
        let by_key: HashMap<&str, &Lease> = leases.iter().map(|l| (l.key.as_str(), l)).collect();
        let still: HashSet<String> = ["p".to_string(), "c".to_string()].into();
        let gone: HashSet<String> = ["c".to_string()].into();
        // Not listed yet: nothing is known of the parent.
        assert!(!parents_done(&child, &by_key, None));
        // Listed but without a lease (discovery has not created it yet): not done.
        assert!(!parents_done(&child, &by_key, Some(&still)));
        assert!(plan(&leases, "a", &never, Some(&still)).take.is_empty());
        // No longer listed (past the retention period): done.
        assert!(parents_done(&child, &by_key, Some(&gone)));
        assert_eq!(plan(&leases, "a", &never, Some(&gone)).take, vec!["c"]);
    }

    #[test]
    fn expiry_is_judged_by_an_unchanged_counter() {
        let t0 = Instant::now();
        let mut tr = ExpiryTracker::default();
        let mut l = lease("s0", Some("a"));
        tr.observe(std::slice::from_ref(&l), t0);
        let fo = Duration::from_secs(10);
        assert!(!tr.is_expired("s0", fo, t0 + Duration::from_secs(9)));
        assert!(tr.is_expired("s0", fo, t0 + Duration::from_secs(10)));
        l.counter += 1;
        tr.observe(std::slice::from_ref(&l), t0 + Duration::from_secs(11));
        assert!(!tr.is_expired("s0", fo, t0 + Duration::from_secs(20)));
        assert!(tr.is_expired("s0", fo, t0 + Duration::from_secs(21)));
    }

    #[test]
    fn checkpoint_round_trips() {
        for s in [
            "TRIM_HORIZON",
            "LATEST",
            "SHARD_END",
            "49590338271490256608559692538361571095921575989136588898",
        ] {
            assert_eq!(Checkpoint::parse(s).as_str(), s);
        }
    }
}
