//! The judgements behind acting in several accounts: whether an account may be acted in (the
//! configured list, or the organization's accounts as last listed), when that listing is due
//! again and what a failed one leaves, whether cached credentials must be renewed, when a failing
//! account may be tried again, and which cached client to drop. Pure: time is passed in as epoch
//! milliseconds; must not call AWS or read a clock.

use std::collections::{BTreeSet, HashMap};
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
/// must not make the fleet knock on an arbitrary account. Under `"organization"` that is the
/// organization's accounts as last listed (`roster`): nothing is asked of AWS here, and before
/// the first successful listing no member is admitted.
pub fn admit(allowed: &Allowed, roster: &Roster, own: &str, account: &str) -> Admit {
    if account == own {
        return Admit::Own;
    }
    if !is_account_id(account) {
        return Admit::Refused;
    }
    let member = match allowed {
        Allowed::Own => false,
        Allowed::List(list) => list.iter().any(|a| a == account),
        Allowed::Organization => roster.contains(account),
    };
    if member {
        Admit::Member
    } else {
        Admit::Refused
    }
}

/// The members to visit one by one besides `own` (`scan --all-accounts`, reconciliation): the
/// allowed list without `own` and without repeats, in its order; under `"organization"` the
/// listed accounts without `own`, in id order (none before the first successful listing).
pub fn members(allowed: &Allowed, roster: &Roster, own: &str) -> Vec<String> {
    match allowed {
        Allowed::Own => Vec::new(),
        Allowed::List(list) => {
            let mut out: Vec<String> = Vec::new();
            for a in list {
                if a != own && !out.contains(a) {
                    out.push(a.clone());
                }
            }
            out
        }
        Allowed::Organization => roster
            .accounts
            .iter()
            .filter(|a| a.as_str() != own)
            .cloned()
            .collect(),
    }
}

/// Whether an account of a ListAccounts answer is one to act in. AWS (Organizations API,
/// `Account`): "The `Status` parameter in the `Account` object will be retired on September 9,
/// 2026. Although both the account `State` and account `Status` parameters are currently
/// available in the Organizations APIs (`DescribeAccount`, `ListAccounts`,
/// `ListAccountsForParent`), we recommend that you update your scripts or other code to use the
/// `State` parameter instead of `Status`"; and (User Guide, account states) "ACTIVE: This state
/// indicates that the account is fully operational and available." So `State` decides when it
/// is present, `Status` only when it is not, and only ACTIVE is kept (a suspended, closing or
/// not yet activated account has no role to assume and nothing to guard).
pub fn is_active(state: Option<&str>, status: Option<&str>) -> bool {
    state.or(status) == Some("ACTIVE")
}

/// The organization's accounts as last listed (`allowed = "organization"`), and when to list
/// them again: every `refresh_ms` after a success; after a failure, with the per-account
/// circuit's backoff (so a refused listing is not retried in a hot loop, nor left for a whole
/// refresh period). A failed listing keeps the last good list: an account listed once stays
/// guarded while Organizations is briefly unreachable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    accounts: BTreeSet<String>,
    listed_at_ms: Option<i64>,
    circuit: Circuit,
}

impl Roster {
    /// Whether a listing has ever succeeded.
    pub fn listed(&self) -> bool {
        self.listed_at_ms.is_some()
    }

    pub fn contains(&self, account: &str) -> bool {
        self.accounts.contains(account)
    }

    /// Accounts in the last good listing.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Consecutive failed listings (0: the last one worked, or none was tried).
    pub fn failures(&self) -> u32 {
        self.circuit.failures()
    }

    /// Whether a listing is due at `now_ms`.
    pub fn due(&self, now_ms: i64, refresh_ms: i64) -> bool {
        if self.circuit.is_failing() {
            return self.circuit.check(now_ms).is_ok();
        }
        self.listed_at_ms
            .is_none_or(|at| now_ms.saturating_sub(at) >= refresh_ms)
    }

    /// A successful listing at `now_ms` replaces the list (an account that left the organization
    /// leaves it); anything that is not an account id is dropped, never a role ARN.
    pub fn accept(&mut self, listed: impl IntoIterator<Item = String>, now_ms: i64) {
        self.accounts = listed.into_iter().filter(|a| is_account_id(a)).collect();
        self.listed_at_ms = Some(now_ms);
        self.circuit.record_success();
    }

    /// A failed listing at `now_ms`: the list is kept as it was; the next try waits
    /// `base_ms · 2^(failures-1)`, at most `max_ms`.
    pub fn reject(&mut self, now_ms: i64, base_ms: u64, max_ms: u64) {
        self.circuit.record_failure(now_ms, base_ms, max_ms);
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

    fn listed(accounts: &[&str]) -> Roster {
        let mut r = Roster::default();
        r.accept(accounts.iter().map(|a| a.to_string()), 0);
        r
    }

    #[test]
    fn only_configured_accounts_are_admitted() {
        let none = Roster::default();
        let list = Allowed::List(vec!["111111111111".into()]);
        assert_eq!(admit(&list, &none, OWN, OWN), Admit::Own);
        assert_eq!(admit(&list, &none, OWN, "111111111111"), Admit::Member);
        assert_eq!(admit(&list, &none, OWN, "222222222222"), Admit::Refused);
        // Omitted: only the fleet's own.
        assert_eq!(admit(&Allowed::Own, &none, OWN, OWN), Admit::Own);
        assert_eq!(
            admit(&Allowed::Own, &none, OWN, "111111111111"),
            Admit::Refused
        );
        // A roster never widens a list.
        let org = listed(&["222222222222"]);
        assert_eq!(admit(&list, &org, OWN, "222222222222"), Admit::Refused);
    }

    #[test]
    fn under_organization_only_listed_accounts_are_admitted_and_none_before_the_first_listing() {
        let org = Allowed::Organization;
        let none = Roster::default();
        // Before any listing: the own account only (the safe choice: a forged record cannot
        // make the fleet knock on an account it has not seen listed).
        assert_eq!(admit(&org, &none, OWN, OWN), Admit::Own);
        assert_eq!(admit(&org, &none, OWN, "222222222222"), Admit::Refused);
        assert!(members(&org, &none, OWN).is_empty());
        let r = listed(&["222222222222", OWN, "111111111111"]);
        assert_eq!(admit(&org, &r, OWN, "222222222222"), Admit::Member);
        assert_eq!(admit(&org, &r, OWN, "111111111111"), Admit::Member);
        assert_eq!(admit(&org, &r, OWN, "333333333333"), Admit::Refused);
        // A forged record's junk never becomes a role ARN.
        for junk in ["", "1111", "11111111111x", "111111111111:role/x", "*"] {
            assert_eq!(admit(&org, &r, OWN, junk), Admit::Refused);
        }
        assert_eq!(
            members(&org, &r, OWN),
            vec!["111111111111".to_string(), "222222222222".to_string()]
        );
    }

    #[test]
    fn members_are_the_allowed_list_without_the_own_account_or_repeats() {
        let none = Roster::default();
        assert!(members(&Allowed::Own, &none, OWN).is_empty());
        let list = Allowed::List(vec![
            "111111111111".into(),
            OWN.into(),
            "222222222222".into(),
            "111111111111".into(),
        ]);
        assert_eq!(
            members(&list, &none, OWN),
            vec!["111111111111".to_string(), "222222222222".to_string()]
        );
    }

    #[test]
    fn only_active_accounts_are_kept_and_state_outranks_the_retiring_status() {
        // AWS: "The `Status` parameter in the `Account` object will be retired on September 9,
        // 2026. [...] we recommend that you update your scripts or other code to use the `State`
        // parameter instead of `Status`"; "ACTIVE: This state indicates that the account is fully
        // operational and available."
        assert!(is_active(Some("ACTIVE"), Some("ACTIVE")));
        assert!(is_active(None, Some("ACTIVE")));
        assert!(is_active(Some("ACTIVE"), None));
        for other in [
            "SUSPENDED",
            "PENDING_CLOSURE",
            "PENDING_ACTIVATION",
            "CLOSED",
            "",
        ] {
            assert!(!is_active(Some(other), Some("ACTIVE")), "{other}");
            assert!(!is_active(None, Some(other)), "{other}");
        }
        assert!(!is_active(None, None));
    }

    #[test]
    fn the_listing_is_due_every_refresh_and_after_a_failure_with_backoff() {
        let refresh = 3_600_000;
        let mut r = Roster::default();
        assert!(r.due(0, refresh), "never listed: due at once");
        r.accept(["111111111111".to_string()], 1_000);
        assert!(!r.due(1_000, refresh));
        assert!(!r.due(1_000 + refresh - 1, refresh));
        assert!(r.due(1_000 + refresh, refresh));
        // A failed refresh keeps the last good list and backs off, well short of a refresh.
        let t = 1_000 + refresh;
        r.reject(t, 5_000, 60_000);
        assert!(r.contains("111111111111") && r.listed());
        assert_eq!(r.failures(), 1);
        assert!(!r.due(t + 4_999, refresh));
        assert!(r.due(t + 5_000, refresh));
        r.reject(t + 5_000, 5_000, 60_000);
        assert!(!r.due(t + 14_999, refresh));
        assert!(r.due(t + 15_000, refresh));
        // The next success replaces the list: an account that left is no longer admitted.
        r.accept(
            ["222222222222".to_string(), "not-an-id".to_string()],
            t + 15_000,
        );
        assert_eq!(r.failures(), 0);
        assert!(!r.contains("111111111111") && r.contains("222222222222"));
        assert_eq!(r.len(), 1);
        assert!(!r.due(t + 15_000, refresh));
        // A first listing that fails leaves nothing admitted, and is retried with backoff.
        let mut first = Roster::default();
        first.reject(0, 5_000, 60_000);
        assert!(!first.listed() && first.is_empty());
        assert!(!first.due(1, refresh) && first.due(5_000, refresh));
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
