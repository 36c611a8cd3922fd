//! Event-time arithmetic for the pure core: RFC 3339 text to epoch milliseconds and back.
//! Never reads a clock; callers pass time in.

/// Parses an RFC 3339 timestamp (CloudTrail's `eventTime`, e.g. `2024-05-01T12:00:00Z`) into
/// milliseconds since the Unix epoch.
pub fn parse_millis(s: &str) -> Option<i64> {
    let ts: jiff::Timestamp = s.trim().parse().ok()?;
    Some(ts.as_millisecond())
}

/// Formats epoch milliseconds as RFC 3339 UTC with second precision, as CloudTrail writes it.
pub fn format_millis(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => String::from("invalid-time"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cloudtrail_times() {
        assert_eq!(parse_millis("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(
            parse_millis("2024-05-01T12:00:00Z"),
            Some(1_714_564_800_000)
        );
        assert_eq!(
            parse_millis("2024-05-01T12:00:00.250Z"),
            Some(1_714_564_800_250)
        );
        assert_eq!(
            parse_millis("2024-05-01T14:00:00+02:00"),
            Some(1_714_564_800_000)
        );
        assert_eq!(parse_millis("yesterday"), None);
        assert_eq!(parse_millis(""), None);
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_millis(1_714_564_800_000), "2024-05-01T12:00:00Z");
    }
}
