//! The wall clock, read at the edge: the one place the crate asks what time it is for records and
//! metrics. `core` must never use it (time is passed into the pure pipeline); this module owns
//! reading the clock and its formats only.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now as RFC 3339 UTC with milliseconds (`2026-01-01T00:00:00.000Z`), as incidents record it.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Now in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Now in whole seconds since the Unix epoch (0 if the clock is before it).
pub fn epoch_secs_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formats_agree_on_the_same_moment() {
        let secs = epoch_secs_now() as i64;
        let ms = now_ms();
        let text = now_rfc3339();
        let parsed: jiff::Timestamp = text.parse().expect("RFC 3339");
        assert!(text.ends_with('Z') && text.len() == "2026-01-01T00:00:00.000Z".len());
        // Read one after another: within a few seconds of each other, never before.
        assert!(ms / 1000 >= secs && ms / 1000 - secs < 5, "{ms} vs {secs}");
        assert!(parsed.as_millisecond() >= ms && parsed.as_millisecond() - ms < 5_000);
    }
}
