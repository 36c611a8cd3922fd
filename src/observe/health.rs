//! Whether a worker is ready, as `/readyz` reports it: it holds a lease or is idle by design, and
//! its lease bookkeeping is fresh. Owns that judgement from facts the worker reports; it does no
//! I/O and reads no clock (callers pass `Instant`s).

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone)]
struct Facts {
    last_lease_round: Option<Instant>,
    held: usize,
    /// Oldest last-renewal among the leases held.
    oldest_renewal: Option<Instant>,
    /// Open shards whose parents are finished and that no live worker holds.
    available_unleased: usize,
    stopping: bool,
}

/// Shared between the worker (writer) and the HTTP endpoint (reader).
#[derive(Debug)]
pub struct Health {
    failover: Duration,
    facts: Mutex<Facts>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub reason: String,
}

impl Health {
    pub fn new(failover: Duration) -> Health {
        Health {
            failover,
            facts: Mutex::new(Facts::default()),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Facts) -> R) -> R {
        f(&mut self.facts.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A lease round (scan, take) completed.
    pub fn lease_round(&self, now: Instant, available_unleased: usize) {
        self.with(|f| {
            f.last_lease_round = Some(now);
            f.available_unleased = available_unleased;
        });
    }

    /// The leases held now and the oldest of their last renewals.
    pub fn leases(&self, held: usize, oldest_renewal: Option<Instant>) {
        self.with(|f| {
            f.held = held;
            f.oldest_renewal = oldest_renewal;
        });
    }

    pub fn stopping(&self) {
        self.with(|f| f.stopping = true);
    }

    pub fn readiness(&self, now: Instant) -> Readiness {
        let f = self.with(|f| f.clone());
        let not = |reason: String| Readiness {
            ready: false,
            reason,
        };
        if f.stopping {
            return not("stopping: finishing batches and releasing leases".into());
        }
        let age = |t: Option<Instant>| t.map(|t| now.saturating_duration_since(t));
        match age(f.last_lease_round) {
            None => return not("starting: no lease round completed yet".into()),
            Some(a) if a > self.failover => {
                return not(format!(
                    "lease table not read for {:.1}s (failover {:.1}s)",
                    a.as_secs_f64(),
                    self.failover.as_secs_f64()
                ))
            }
            Some(_) => {}
        }
        if f.held > 0 {
            if let Some(a) = age(f.oldest_renewal).filter(|a| *a > self.failover) {
                return not(format!(
                    "a lease was last renewed {:.1}s ago (failover {:.1}s): self-fenced",
                    a.as_secs_f64(),
                    self.failover.as_secs_f64()
                ));
            }
            return Readiness {
                ready: true,
                reason: format!("ready: {} leases held and renewed", f.held),
            };
        }
        if f.available_unleased > 0 {
            return not(format!(
                "holds no lease while {} shards are unleased",
                f.available_unleased
            ));
        }
        Readiness {
            ready: true,
            reason: "ready: idle by design (every open shard is leased by a live worker)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILOVER: Duration = Duration::from_secs(10);

    fn at(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn not_ready_until_the_first_lease_round() {
        let t0 = Instant::now();
        let h = Health::new(FAILOVER);
        let r = h.readiness(at(t0, 1));
        assert!(!r.ready);
        assert!(r.reason.starts_with("starting"), "{}", r.reason);
    }

    #[test]
    fn ready_while_holding_freshly_renewed_leases() {
        let t0 = Instant::now();
        let h = Health::new(FAILOVER);
        h.lease_round(at(t0, 1), 0);
        h.leases(2, Some(at(t0, 1)));
        assert!(h.readiness(at(t0, 5)).ready);
        // Renewal lapsed past the failover time: the worker has fenced itself.
        let r = h.readiness(at(t0, 12));
        assert!(!r.ready);
        h.lease_round(at(t0, 12), 0);
        let r2 = h.readiness(at(t0, 12));
        assert!(
            !r2.ready && r2.reason.contains("self-fenced"),
            "{r2:?} {r:?}"
        );
    }

    #[test]
    fn idle_by_design_is_ready_but_idle_with_unleased_shards_is_not() {
        let t0 = Instant::now();
        let h = Health::new(FAILOVER);
        h.lease_round(at(t0, 1), 0);
        h.leases(0, None);
        let r = h.readiness(at(t0, 2));
        assert!(r.ready && r.reason.contains("idle by design"), "{r:?}");
        h.lease_round(at(t0, 3), 2);
        let r = h.readiness(at(t0, 3));
        assert!(
            !r.ready && r.reason.contains("2 shards are unleased"),
            "{r:?}"
        );
    }

    #[test]
    fn a_stale_lease_table_or_shutdown_is_not_ready() {
        let t0 = Instant::now();
        let h = Health::new(FAILOVER);
        h.lease_round(at(t0, 1), 0);
        h.leases(1, Some(at(t0, 20)));
        let r = h.readiness(at(t0, 20));
        assert!(
            !r.ready && r.reason.contains("lease table not read"),
            "{r:?}"
        );
        h.lease_round(at(t0, 20), 0);
        assert!(h.readiness(at(t0, 20)).ready);
        h.stopping();
        assert!(!h.readiness(at(t0, 20)).ready);
    }
}
