//! The quick skip: one pass over a record's bytes, without serde, that recognises the common
//! record the classifier skips (another service, an unwatched S3 call, another detail-type) and
//! says so. Must never decide anything else: whenever it is not sure, it answers `None` and the
//! record goes through `record`'s full parse, which stays the only reader of what a record says.
//!
//! Invariant (held by `fuzz_entry::check_quick_skip` on every fuzz input and by the proptests in
//! `skim_tests`): `skip(b) == Some(s)` implies that the full classification of `b` is
//! `Skipped(s)`, and that `b` is one record (splitting it gives exactly one part). To keep that
//! true without re-implementing everything serde_json checks, it accepts less than serde_json:
//! only ASCII strings without escapes or control characters, numbers without an exponent and of
//! at most 15 characters (no float can overflow), nesting at most 32 deep, JSON whitespace, and
//! each of the keys that decide the skip at most once. Everything else (non-ASCII text, `\u`
//! escapes, a repeated `eventSource`, …) is valid input it simply leaves to the full parse. Every
//! value is still checked for JSON syntax, so broken JSON is never skipped: it is reported.

use crate::core::event_name::EventName;
use crate::core::record::{Skip, API_CALL_DETAIL_TYPE};

/// Deepest nesting looked at (serde_json's own limit is 128; anything deeper is left to it).
const MAX_DEPTH: u32 = 32;
/// Longest number accepted: 15 characters cannot hold a value out of `f64` or `u64` range.
const MAX_NUMBER: usize = 15;

/// The skip the full classification would give, when this pass can tell for certain.
pub fn skip(bytes: &[u8]) -> Option<Skip> {
    let mut c = Cursor { b: bytes, i: 0 };
    c.ws();
    let top = c.record(true, 1)?;
    c.ws();
    if c.i != bytes.len() || top.records {
        // Trailing bytes, or a CloudTrail log file (`{"Records":[…]}`): not one record.
        return None;
    }
    match top.detail_type {
        Some(dt) if dt != API_CALL_DETAIL_TYPE.as_bytes() => Some(Skip::OtherDetailType),
        Some(_) => top.detail?.skip_of(),
        None => top.fields.skip_of(),
    }
}

/// The keys that decide a skip, each seen at most once.
#[derive(Default)]
struct Fields<'a> {
    event_source: Option<&'a [u8]>,
    event_name: Option<&'a [u8]>,
}

impl Fields<'_> {
    fn skip_of(&self) -> Option<Skip> {
        let source = self.event_source?;
        if source != b"s3.amazonaws.com" && source != b"s3-control.amazonaws.com" {
            return Some(Skip::NotS3);
        }
        // ASCII without escapes (checked by `string`), so the text is the bytes.
        let name = std::str::from_utf8(self.event_name?).ok()?;
        match EventName::parse(name) {
            None => Some(Skip::Unwatched),
            // A watched call: only the full parse may say what it is.
            Some(_) => None,
        }
    }
}

/// What the top level holds.
#[derive(Default)]
struct Top<'a> {
    detail_type: Option<&'a [u8]>,
    /// The detail's own fields, when `detail` is an object.
    detail: Option<Fields<'a>>,
    fields: Fields<'a>,
    records: bool,
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// JSON whitespace only (not form feed: serde_json rejects it).
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.i += 1)
    }

    /// A string's bytes (the cursor on its opening quote); `None` at an escape, a control
    /// character, a non-ASCII byte or the end of input.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        let b = self.b;
        let mut i = start;
        // Eight bytes at a time: the first byte that is a quote, a backslash, below 0x20 or
        // above 0x7f. The lowest flagged byte of each test is exact (a borrow only flags bytes
        // above a true hit), so the lowest of their union is a true hit.
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        while i + 8 <= b.len() {
            let x = u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes"));
            let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
            let hit = zero(x ^ (ONES * u64::from(b'"')))
                | zero(x ^ (ONES * u64::from(b'\\')))
                | (x.wrapping_sub(ONES * 0x20) & !x & HIGH)
                | (x & HIGH);
            if hit != 0 {
                i += (hit.trailing_zeros() / 8) as usize;
                return self.close_string(start, i);
            }
            i += 8;
        }
        while i < b.len() && !is_special(b[i]) {
            i += 1;
        }
        self.close_string(start, i)
    }

    fn close_string(&mut self, start: usize, at: usize) -> Option<&'a [u8]> {
        if self.b.get(at) != Some(&b'"') {
            return None;
        }
        self.i = at + 1;
        Some(&self.b[start..at])
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, at most `MAX_NUMBER` characters.
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        // An exponent is not read: the caller finds `e` where it expects a delimiter and leaves
        // the record to serde_json, which rejects an exponent out of range.
        (self.i - start <= MAX_NUMBER).then_some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// Any value, checked and passed over.
    fn value(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(depth + 1, |c, _key, depth| c.value(depth)),
            b'[' => self.array(depth + 1),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    fn array(&mut self, depth: u32) -> Option<()> {
        self.list(depth, b'[', b']', |c| c.value(depth))
    }

    /// An object whose values are read by `member(cursor, key, depth)`, which leaves the
    /// cursor after the value.
    fn object(
        &mut self,
        depth: u32,
        mut member: impl FnMut(&mut Self, &'a [u8], u32) -> Option<()>,
    ) -> Option<()> {
        self.list(depth, b'{', b'}', |c| {
            let key = c.string()?;
            c.ws();
            c.eat(b':')?;
            c.ws();
            member(c, key, depth)
        })
    }

    /// The comma-separated items between `open` and `close` (an array's elements, an object's
    /// members), each read by `item`, which leaves the cursor after it.
    fn list(
        &mut self,
        depth: u32,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(open)?;
        self.ws();
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            self.ws();
            item(self)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b if b == close => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string value for a deciding key seen for the first time; anything else (another type,
    /// `null`, a second occurrence) is left to the full parse.
    fn deciding(&mut self, slot: &mut Option<&'a [u8]>) -> Option<()> {
        if slot.is_some() || self.peek()? != b'"' {
            return None;
        }
        *slot = Some(self.string()?);
        Some(())
    }

    /// A record's object: an EventBridge event's (`top`) or its detail's.
    fn record(&mut self, top: bool, depth: u32) -> Option<Top<'a>> {
        let mut t = Top::default();
        let mut seen_detail = false;
        self.object(depth, |c, key, depth| match key {
            b"eventSource" => c.deciding(&mut t.fields.event_source),
            b"eventName" => c.deciding(&mut t.fields.event_name),
            b"detail-type" if top => c.deciding(&mut t.detail_type),
            b"detail" if top => {
                if std::mem::replace(&mut seen_detail, true) {
                    return None;
                }
                // Not an object: the skip does not need it (another detail-type, or a bare
                // record), and an API call without one is left to the full parse.
                if c.peek()? != b'{' {
                    return c.value(depth);
                }
                t.detail = Some(c.record(false, depth + 1)?.fields);
                Some(())
            }
            b"Records" if top => {
                t.records = true;
                c.value(depth)
            }
            _ => c.value(depth),
        })?;
        Some(t)
    }
}

/// A byte that ends the plain run of a string: a quote, a backslash, a control or non-ASCII byte.
fn is_special(b: u8) -> bool {
    b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b)
}

#[cfg(test)]
#[path = "skim_tests.rs"]
mod agreement;

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(detail: &str) -> String {
        format!(
            r#"{{"version":"0","id":"1f2e","detail-type":"AWS API Call via CloudTrail","source":"aws.s3","account":"111122223333","time":"2026-11-30T08:00:00Z","region":"us-east-1","resources":[],"detail":{detail}}}"#
        )
    }

    const EC2: &str = r#"{"eventVersion":"1.08","eventTime":"2026-11-30T08:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","requestParameters":{"instancesSet":{},"n":[1,-2.5,0,true,false,null]},"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/app/s1"}}"#;

    #[test]
    fn the_common_skips_are_recognised() {
        assert_eq!(skip(envelope(EC2).as_bytes()), Some(Skip::NotS3));
        assert_eq!(skip(EC2.as_bytes()), Some(Skip::NotS3));
        let get = r#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject","requestParameters":{"bucketName":"b","key":"k"},"additionalEventData":{"bytesTransferredIn":0.0}}"#;
        assert_eq!(skip(envelope(get).as_bytes()), Some(Skip::Unwatched));
        let other = r#"{"detail-type":"AWS Service Event via CloudTrail","detail":"anything"}"#;
        assert_eq!(skip(other.as_bytes()), Some(Skip::OtherDetailType));
        assert_eq!(
            skip(format!(" \n{}\r\n", EC2).as_bytes()),
            Some(Skip::NotS3)
        );
    }

    #[test]
    fn anything_it_cannot_be_sure_of_is_left_to_the_full_parse() {
        let watched = r#"{"eventSource":"s3.amazonaws.com","eventName":"PutBucketAcl"}"#;
        let cases = [
            watched.to_owned(),
            // Broken JSON of every kind: reported by the full parse, never skipped here.
            EC2[..EC2.len() - 1].to_owned(),
            format!("{EC2}}}"),
            format!("{EC2},"),
            EC2.replace("[1,", "[01,"),
            EC2.replace("[1,", "[1.,"),
            EC2.replace("[1,", "[1e999,"),
            EC2.replace("[1,", "[1234567890123456,"),
            EC2.replace("true", "tru"),
            EC2.replace(r#""n":"#, r#""n" "#),
            EC2.replace("},\"userIdentity\"", "}\"userIdentity\""),
            // Valid, but not for this pass.
            EC2.replace("s1", "s\\u0031"),
            EC2.replace("s1", "s\u{e9}"),
            EC2.replace("s1", "s\t1"),
            format!("\u{c}{EC2}"),
            EC2.replace(
                r#""eventVersion""#,
                r#""eventSource":"s3.amazonaws.com","x""#,
            ),
            EC2.replace(r#""ec2.amazonaws.com""#, "null"),
            EC2.replace(r#""ec2.amazonaws.com""#, "7"),
            EC2.replace(r#""eventSource":"ec2.amazonaws.com","#, ""),
            format!(r#"{{"Records":[{EC2}]}}"#),
            format!("[{EC2}]"),
            format!("{EC2}\n{EC2}"),
            envelope(EC2).replace(r#""resources""#, r#""detail":{},"r""#),
            envelope(r#""a string""#),
            envelope("null"),
            format!("{}{}", "[".repeat(40), "]".repeat(40)),
        ];
        for case in &cases {
            assert_eq!(skip(case.as_bytes()), None, "{case}");
        }
        let deep = format!(
            r#"{{"eventSource":"ec2.amazonaws.com","x":{}1{}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        );
        assert_eq!(skip(deep.as_bytes()), None);
        assert_eq!(skip(b""), None);
        assert_eq!(skip(b"{"), None);
    }

    #[test]
    fn the_eight_byte_string_scan_finds_the_first_special_byte_at_every_offset() {
        for len in 0..40 {
            for special in [b'"', b'\\', 0x1f, 0x80, 0xff] {
                for at in 0..len {
                    let mut s = vec![b'a'; len];
                    s[at] = special;
                    let mut bytes = vec![b'"'];
                    bytes.extend_from_slice(&s);
                    bytes.push(b'"');
                    let mut c = Cursor { b: &bytes, i: 0 };
                    let got = c.string();
                    if special == b'"' {
                        assert_eq!(got, Some(&s[..at]), "len {len} at {at}");
                        assert_eq!(c.i, at + 2);
                    } else {
                        assert_eq!(got, None, "len {len} at {at} byte {special:#x}");
                    }
                }
                let mut bytes = vec![b'"'];
                bytes.extend(std::iter::repeat_n(b'a', len));
                bytes.push(b'"');
                let mut c = Cursor { b: &bytes, i: 0 };
                assert_eq!(c.string().map(<[u8]>::len), Some(len));
            }
        }
    }
}
