//! The judgements behind acting in several accounts: whether an account may be acted in, whether
//! cached credentials must be renewed, when a failing account may be tried again, and which cached
//! client to drop. Pure: time is passed in as epoch milliseconds; must not call AWS or read a clock.

use std::collections::HashMap;
use std::hash::Hash;

use crate::config::{is_account_id, Allowed};

/// How the fleet may reach an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// The fleet's own account: its own credentials, no AssumeRole.
    Own,
    /// A member: credentials from AssumeRole into the member's role.
    Member,
    /// Not configured (or not an account id): never an AssumeRole call.
    Refused,
}

/// Whether `account` may be acted in. The fleet's own account always may; an event naming any
/// other account is only trusted as far as the configuration allows, because a forged record
/// must not make the fleet knock on an arbitrary account.
pub fn admit(allowed: &Allowed, own: &str, account: &str) -> Admit {
    if account == own {
        return Admit::Own;
    }
    if !is_account_id(account) {
        return Admit::Refused;
    }
    match allowed {
        Allowed::Own => Admit::Refused,
        Allowed::List(list) if list.iter().any(|a| a == account) => Admit::Member,
        Allowed::List(_) => Admit::Refused,
        Allowed::Organization => Admit::Member,
    }
}

/// Whether credentials expiring at `expires_ms` must be renewed at `now_ms`: when less than
/// `refresh_before_ms` is left (so no call is signed with credentials about to lapse).
pub fn needs_refresh(expires_ms: i64, now_ms: i64, refresh_before_ms: i64) -> bool {
    expires_ms.saturating_sub(now_ms) < refresh_before_ms
}

/// Per-account circuit: closed while AssumeRole works; after a failure, open for a delay that
/// doubles per consecutive failure (capped), so a member whose role is missing or denies is
/// retried with backoff, never in a hot loop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Circuit {
    failures: u32,
    open_until_ms: Option<i64>,
}

impl Circuit {
    /// `Ok` when an attempt may be made at `now_ms`; otherwise the milliseconds left to wait.
    pub fn check(&self, now_ms: i64) -> Result<(), i64> {
        match self.open_until_ms {
            Some(until) if now_ms < until => Err(until - now_ms),
            _ => Ok(()),
        }
    }

    /// A failed attempt at `now_ms`: open for `base_ms · 2^(failures-1)`, at most `max_ms`.
    pub fn record_failure(&mut self, now_ms: i64, base_ms: u64, max_ms: u64) {
        self.failures = self.failures.saturating_add(1);
        let delay = base_ms
            .saturating_mul(1u64 << (self.failures - 1).min(30))
            .min(max_ms);
        self.open_until_ms = Some(now_ms.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX)));
    }

    pub fn record_success(&mut self) {
        *self = Circuit::default();
    }

    /// Consecutive failures so far (0: healthy).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn is_failing(&self) -> bool {
        self.failures > 0
    }
}

/// A map holding at most `cap` entries; inserting beyond drops the least recently used one.
/// Linear eviction: caps here are tens to hundreds of entries, touched rarely.
#[derive(Debug)]
pub struct Lru<K, V> {
    cap: usize,
    tick: u64,
    map: HashMap<K, (u64, V)>,
}

impl<K: Eq + Hash + Clone, V> Lru<K, V> {
    pub fn new(cap: usize) -> Lru<K, V> {
        Lru {
            cap: cap.max(1),
            tick: 0,
            map: HashMap::new(),
        }
    }

    pub fn get(&mut self, key: &K) -> Option<&V> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(key).map(|(t, v)| {
            *t = tick;
            &*v
        })
    }

    /// Inserts `value`, returning the evicted key when the map was full.
    pub fn insert(&mut self, key: K, value: V) -> Option<K> {
        self.tick += 1;
        let mut evicted = None;
        if !self.map.contains_key(&key) && self.map.len() >= self.cap {
            if let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone())
            {
                self.map.remove(&oldest);
                evicted = Some(oldest);
            }
        }
        self.map.insert(key, (self.tick, value));
        evicted
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.map.values().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "999999999999";

    #[test]
    fn only_configured_accounts_are_admitted() {
        let list = Allowed::List(vec!["111111111111".into()]);
        assert_eq!(admit(&list, OWN, OWN), Admit::Own);
        assert_eq!(admit(&list, OWN, "111111111111"), Admit::Member);
        assert_eq!(admit(&list, OWN, "222222222222"), Admit::Refused);
        // Omitted: only the fleet's own.
        assert_eq!(admit(&Allowed::Own, OWN, OWN), Admit::Own);
        assert_eq!(admit(&Allowed::Own, OWN, "111111111111"), Admit::Refused);
        // "organization": any well-formed id; IAM's org condition refuses the rest.
        assert_eq!(
            admit(&Allowed::Organization, OWN, "222222222222"),
            Admit::Member
        );
        // A forged record's junk never becomes a role ARN.
        for junk in ["", "1111", "11111111111x", "111111111111:role/x", "*"] {
            assert_eq!(admit(&Allowed::Organization, OWN, junk), Admit::Refused);
        }
    }

    #[test]
    fn credentials_are_renewed_only_inside_the_margin() {
        let expires = 1_000_000;
        assert!(!needs_refresh(expires, expires - 300_001, 300_000));
        assert!(needs_refresh(expires, expires - 299_999, 300_000));
        assert!(needs_refresh(expires, expires, 300_000));
        assert!(needs_refresh(expires, expires + 5, 0));
        assert!(!needs_refresh(expires, expires - 1, 0));
    }

    #[test]
    fn a_failing_account_backs_off_exponentially_up_to_the_cap() {
        let mut c = Circuit::default();
        assert_eq!(c.check(0), Ok(()));
        c.record_failure(0, 1_000, 10_000);
        assert_eq!(c.check(0), Err(1_000));
        assert_eq!(c.check(999), Err(1));
        assert_eq!(c.check(1_000), Ok(()));
        c.record_failure(1_000, 1_000, 10_000);
        assert_eq!(c.check(1_000), Err(2_000));
        c.record_failure(3_000, 1_000, 10_000);
        assert_eq!(c.check(3_000), Err(4_000));
        for _ in 0..40 {
            c.record_failure(3_000, 1_000, 10_000);
        }
        assert_eq!(c.check(3_000), Err(10_000), "capped, no overflow");
        assert!(c.is_failing());
        c.record_success();
        assert_eq!(c.check(3_000), Ok(()));
        assert_eq!(c.failures(), 0);
    }

    #[test]
    fn the_least_recently_used_entry_is_dropped_at_the_cap() {
        let mut l = Lru::new(2);
        assert_eq!(l.insert("a", 1), None);
        assert_eq!(l.insert("b", 2), None);
        assert_eq!(l.get(&"a"), Some(&1)); // a is now newer than b
        assert_eq!(l.insert("c", 3), Some("b"));
        assert_eq!(l.get(&"b"), None);
        assert_eq!(l.len(), 2);
        // Replacing a present key evicts nothing.
        assert_eq!(l.insert("a", 10), None);
        assert_eq!(l.get(&"a"), Some(&10));
    }
}
