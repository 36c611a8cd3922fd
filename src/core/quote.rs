//! Quoting a value from a record inside a message (an error, a dead letter's reason, a log line):
//! at most `MAX_QUOTED_CHARS` characters of it, with its length when cut. Owns that bound only.
//!
//! Why: a record may be up to `max_record_bytes` (256 KB) and one value may fill it. A reason
//! quoting it whole doubled a 240 KB record into a ~480 KB dead-letter item, past DynamoDB's
//! 400 KB item limit, and the shard stalled on the write (issue #26).

use std::fmt;

/// The most characters of a value a message quotes.
pub const MAX_QUOTED_CHARS: usize = 200;

/// `Display`s as `"value"` (Rust debug quoting) when the value is short, else as
/// `"first 200 characters…" (N bytes)`.
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        match s.char_indices().nth(MAX_QUOTED_CHARS) {
            None => write!(f, "{s:?}"),
            Some((cut, _)) => write!(f, "{:?}… ({} bytes)", &s[..cut], s.len()),
        }
    }
}

impl fmt::Debug for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `value` quoted under the bound, as a `String`.
pub fn quoted(value: &str) -> String {
    Quoted(value).to_string()
}

/// A whole message cut to at most `max_bytes` bytes on a character boundary, saying so. A
/// backstop for messages built from parts that are each bounded but may be many, or from an
/// error type this crate does not own.
pub fn bounded(message: &str, max_bytes: usize) -> std::borrow::Cow<'_, str> {
    if message.len() <= max_bytes {
        return message.into();
    }
    let note = format!("… (cut; {} bytes in all)", message.len());
    let mut cut = max_bytes.saturating_sub(note.len());
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{note}", &message[..cut]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_value_is_quoted_whole() {
        assert_eq!(quoted("public-read"), "\"public-read\"");
        assert_eq!(quoted(""), "\"\"");
    }

    #[test]
    fn a_long_value_is_cut_with_its_length() {
        let v = "x".repeat(240_000);
        let q = quoted(&v);
        assert!(q.len() < MAX_QUOTED_CHARS + 40, "{}", q.len());
        assert!(q.ends_with("… (240000 bytes)"), "{q}");
        assert!(q.starts_with(&format!("\"{}\"", "x".repeat(MAX_QUOTED_CHARS))));
    }

    #[test]
    fn cutting_never_splits_a_character() {
        // 201 four-byte characters: the cut falls after 200 of them, on a boundary.
        let v = "😀".repeat(MAX_QUOTED_CHARS + 1);
        let q = quoted(&v);
        assert!(q.contains(&"😀".repeat(MAX_QUOTED_CHARS)));
        assert!(q.ends_with(&format!("({} bytes)", 4 * (MAX_QUOTED_CHARS + 1))));
        let m = "é".repeat(1000);
        let b = bounded(&m, 101);
        assert!(b.len() <= 101, "{}", b.len());
        assert!(b.ends_with("(cut; 2000 bytes in all)"));
        assert_eq!(bounded("short", 10), "short");
    }
}
