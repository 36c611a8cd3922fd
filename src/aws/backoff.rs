//! Jittered exponential backoff for throttling and transient errors ("full jitter", as AWS's
//! architecture guidance recommends). Owns the delay arithmetic only; sleeping is the caller's.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    /// xorshift state: jitter needs no cryptographic randomness, and a seed keeps tests exact.
    state: u64,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Backoff {
        Backoff {
            base,
            cap,
            attempt: 0,
            state: seed | 1,
        }
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    /// The next delay: uniform in [0, min(cap, base * 2^attempt)].
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(20));
        let ceiling = exp.min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let nanos = ceiling.as_nanos().min(u128::from(u64::MAX)) as u64;
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.next_random() % (nanos + 1))
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_but_stay_under_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2), 7);
        let mut max_seen = Duration::ZERO;
        for i in 0..50 {
            let d = b.next_delay();
            let ceiling = Duration::from_millis(100)
                .saturating_mul(1 << i.min(20))
                .min(Duration::from_secs(2));
            assert!(d <= ceiling, "attempt {i}: {d:?} > {ceiling:?}");
            max_seen = max_seen.max(d);
        }
        assert!(
            max_seen > Duration::from_millis(200),
            "jitter never grew: {max_seen:?}"
        );
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_differs_between_seeds() {
        let a: Vec<_> = {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1), 1);
            (0..8).map(|_| b.next_delay()).collect()
        };
        let c: Vec<_> = {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1), 2);
            (0..8).map(|_| b.next_delay()).collect()
        };
        assert_ne!(a, c);
    }
}
