//! Input: turns files and buffers into individual JSON record slices with their positions,
//! streaming (memory bounded by the largest record, never by the file). Detects gzip by magic
//! bytes and the form per file: a CloudTrail log `{"Records":[...]}`, a JSON array, or a stream of
//! top-level objects (one object, JSON Lines, concatenated). It must not interpret CloudTrail
//! semantics: that is `record`'s job.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Records larger than this are reported as malformed without being buffered.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;
const CHUNK: usize = 256 * 1024;

/// Where a record (or a problem) sits in its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// 1-based line of the first byte, in the decompressed stream.
    pub line: u64,
    /// 1-based byte column.
    pub column: u64,
    /// 0-based byte offset in the decompressed stream.
    pub offset: u64,
    /// 1-based ordinal of the record (or malformed item) in this input.
    pub index: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {} (record {})",
            self.line, self.column, self.index
        )
    }
}

pub enum Item<'a> {
    Record { pos: Position, bytes: &'a [u8] },
    Malformed { pos: Position, reason: String },
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileStats {
    pub records: u64,
    pub malformed: u64,
    pub bytes_in: u64,
    pub bytes_decoded: u64,
    pub gzip: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no such file or directory: {0}")]
    NotFound(PathBuf),
}

impl InputError {
    /// Interrupted or timed-out reads may succeed when tried again; a missing file will not.
    pub fn retryable(&self) -> bool {
        match self {
            InputError::Io { source, .. } => {
                matches!(
                    source.kind(),
                    std::io::ErrorKind::Interrupted
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::WouldBlock
                )
            }
            InputError::NotFound(_) => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Top-level values are records (one object, JSON Lines, concatenated objects).
    Stream,
    /// Inside a top-level array: its elements are records.
    Array,
    /// Inside `{"Records":[`: its elements are records.
    Wrapper,
    /// After the Records array closed: the wrapper's remaining keys are ignored.
    WrapperTail,
}

/// The byte state machine. It tracks only what splitting needs: nesting depth, whether it is in a
/// string, and where the current record began.
struct Scanner {
    mode: Mode,
    record_depth: u32,
    depth: u32,
    in_string: bool,
    escape: bool,
    rec_active: bool,
    rec_pos: Position,
    rec_len: usize,
    oversize: bool,
    carry: Vec<u8>,
    garbage: bool,
    offset: u64,
    line: u64,
    line_start: u64,
    index: u64,
    max_record: usize,
    started: bool,
    head: Vec<u8>,
    stats: FileStats,
}

impl Scanner {
    fn new(max_record: usize) -> Scanner {
        Scanner {
            mode: Mode::Stream,
            record_depth: 0,
            depth: 0,
            in_string: false,
            escape: false,
            rec_active: false,
            rec_pos: Position {
                line: 1,
                column: 1,
                offset: 0,
                index: 0,
            },
            rec_len: 0,
            oversize: false,
            carry: Vec::new(),
            garbage: false,
            offset: 0,
            line: 1,
            line_start: 0,
            index: 0,
            max_record,
            started: false,
            head: Vec::new(),
            stats: FileStats::default(),
        }
    }

    fn pos_at(&mut self, abs: u64) -> Position {
        self.index += 1;
        Position {
            line: self.line,
            column: abs - self.line_start + 1,
            offset: abs,
            index: self.index,
        }
    }

    fn malformed(&mut self, abs: u64, reason: String, f: &mut impl FnMut(Item<'_>)) {
        let pos = self.pos_at(abs);
        self.stats.malformed += 1;
        f(Item::Malformed { pos, reason });
    }

    fn start_record(&mut self, abs: u64) {
        self.rec_active = true;
        self.rec_pos = self.pos_at(abs);
        self.rec_len = 0;
        self.oversize = false;
        self.carry.clear();
        self.garbage = false;
    }

    fn abandon_record(&mut self, reason: &str, f: &mut impl FnMut(Item<'_>)) {
        if self.rec_active {
            self.rec_active = false;
            self.carry.clear();
            self.stats.malformed += 1;
            let pos = self.rec_pos.clone();
            f(Item::Malformed {
                pos,
                reason: reason.to_owned(),
            });
        }
    }

    /// Recognises `{"Records":[` at the very start, so a multi-gigabyte log file streams record by
    /// record instead of being one giant value. Returns how many bytes the prefix used.
    fn detect_wrapper(&mut self, buf: &[u8]) -> usize {
        let mut i = 0;
        if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            i = 3;
        }
        let ws = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        let skip = |mut i: usize| {
            while i < buf.len() && ws(buf[i]) {
                i += 1;
            }
            i
        };
        let bom = i;
        i = skip(i);
        let prefix_ok = (|| {
            let mut j = i;
            if buf.get(j) != Some(&b'{') {
                return None;
            }
            j = skip(j + 1);
            if !buf[j..].starts_with(b"\"Records\"") {
                return None;
            }
            j = skip(j + 9);
            if buf.get(j) != Some(&b':') {
                return None;
            }
            j = skip(j + 1);
            if buf.get(j) != Some(&b'[') {
                return None;
            }
            Some(j + 1)
        })();
        match prefix_ok {
            Some(end) => {
                self.mode = Mode::Wrapper;
                self.record_depth = 2;
                self.depth = 2;
                self.count_lines(&buf[..end], 0);
                self.offset = end as u64;
                end
            }
            None => {
                self.offset = bom as u64;
                bom
            }
        }
    }

    fn count_lines(&mut self, bytes: &[u8], base: u64) {
        for nl in memchr::memchr_iter(b'\n', bytes) {
            self.line += 1;
            self.line_start = base + nl as u64 + 1;
        }
    }

    fn feed(&mut self, buf: &[u8], f: &mut impl FnMut(Item<'_>)) {
        self.stats.bytes_decoded += buf.len() as u64;
        if self.started {
            return self.scan(buf, 0, f);
        }
        // Gather enough bytes to recognise the `{"Records":[` prefix (a first read can be tiny).
        self.head.extend_from_slice(buf);
        if self.head.len() >= 64 {
            self.start(f);
        }
    }

    fn start(&mut self, f: &mut impl FnMut(Item<'_>)) {
        self.started = true;
        let head = std::mem::take(&mut self.head);
        let i = self.detect_wrapper(&head);
        self.scan(&head, i, f);
    }

    fn scan(&mut self, buf: &[u8], mut i: usize, f: &mut impl FnMut(Item<'_>)) {
        let base = self.offset - i as u64;
        // Start of the current record's bytes within this chunk.
        let mut seg: usize = if self.rec_active { i } else { usize::MAX };
        let len = buf.len();
        while i < len {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr3(b'"', b'\\', b'\n', &buf[i..]) {
                    None => {
                        i = len;
                    }
                    Some(k) => {
                        let j = i + k;
                        match buf[j] {
                            b'"' => {
                                self.in_string = false;
                                i = j + 1;
                            }
                            b'\\' => {
                                if j + 1 < len {
                                    i = j + 2;
                                } else {
                                    self.escape = true;
                                    i = len;
                                }
                            }
                            _ => {
                                // A raw newline never occurs inside a valid JSON string: the record
                                // is broken; resynchronise on the next line.
                                self.in_string = false;
                                self.line += 1;
                                self.line_start = base + j as u64 + 1;
                                self.abandon_record(
                                    "broken record: a string runs past the end of the line",
                                    f,
                                );
                                if !self.rec_active && seg != usize::MAX {
                                    seg = usize::MAX;
                                }
                                self.depth = self.record_depth;
                                if self.mode == Mode::Stream {
                                    self.garbage = false;
                                }
                                i = j + 1;
                            }
                        }
                    }
                }
                continue;
            }
            let b = buf[i];
            let abs = base + i as u64;
            match b {
                b'"' => {
                    if self.depth == self.record_depth
                        && !self.rec_active
                        && self.mode != Mode::WrapperTail
                    {
                        self.report_garbage(abs, f);
                    }
                    self.in_string = true;
                }
                b'{' | b'[' => {
                    if b == b'{'
                        && abs == self.line_start
                        && self.depth > self.record_depth
                        && self.mode != Mode::WrapperTail
                    {
                        // A `{` in column 1 while something is still open: the previous record
                        // was truncated (JSON Lines), or unbalanced garbage opened brackets that
                        // will never close. Resynchronise here instead of counting depth to the
                        // end of the file. Only column 1: pretty printers indent nested values,
                        // so `"resources": [` followed by an indented `{` is not a new record.
                        if self.rec_active {
                            self.abandon_record(
                                "truncated record: the next line starts a new one",
                                f,
                            );
                        }
                        self.depth = self.record_depth;
                        self.garbage = false;
                    }
                    if self.depth == self.record_depth
                        && !self.rec_active
                        && self.mode != Mode::WrapperTail
                    {
                        if b == b'{' {
                            self.start_record(abs);
                            seg = i;
                        } else if self.mode == Mode::Stream && self.depth == 0 {
                            self.mode = Mode::Array;
                            self.record_depth = 1;
                            self.garbage = false;
                        } else {
                            self.report_garbage(abs, f);
                        }
                    }
                    self.depth += 1;
                }
                b'}' | b']' => {
                    if self.depth == 0 {
                        self.report_garbage(abs, f);
                    } else {
                        self.depth -= 1;
                        if self.rec_active && self.depth == self.record_depth {
                            self.finish_record(buf, seg, i + 1, f);
                            seg = usize::MAX;
                        }
                        match self.mode {
                            Mode::Array if self.depth == 0 => {
                                self.mode = Mode::Stream;
                                self.record_depth = 0;
                            }
                            Mode::Wrapper if self.depth == 1 => self.mode = Mode::WrapperTail,
                            Mode::WrapperTail if self.depth == 0 => {
                                self.mode = Mode::Stream;
                                self.record_depth = 0;
                            }
                            _ => {}
                        }
                    }
                }
                b'\n' => {
                    self.line += 1;
                    self.line_start = abs + 1;
                    if self.mode == Mode::Stream && self.depth == 0 {
                        self.garbage = false;
                    }
                }
                b',' => {
                    if self.depth == self.record_depth && self.mode != Mode::Stream {
                        self.garbage = false;
                    }
                }
                b' ' | b'\t' | b'\r' | b':' => {}
                _ => {
                    if self.depth == self.record_depth
                        && !self.rec_active
                        && self.mode != Mode::WrapperTail
                    {
                        self.report_garbage(abs, f);
                    }
                }
            }
            i += 1;
        }
        if self.rec_active && seg != usize::MAX {
            self.keep(&buf[seg..len]);
        }
        self.offset = base + len as u64;
    }

    fn report_garbage(&mut self, abs: u64, f: &mut impl FnMut(Item<'_>)) {
        if !self.garbage {
            self.garbage = true;
            let reason = match self.mode {
                Mode::Stream => "not a JSON object".to_owned(),
                _ => "array element is not a JSON object".to_owned(),
            };
            self.malformed(abs, reason, f);
        }
    }

    /// Keeps a record's bytes that continue into the next chunk.
    fn keep(&mut self, part: &[u8]) {
        self.rec_len += part.len();
        if self.rec_len > self.max_record {
            self.oversize = true;
            self.carry = Vec::new();
        } else if !self.oversize {
            self.carry.extend_from_slice(part);
        }
    }

    fn finish_record(&mut self, buf: &[u8], seg: usize, end: usize, f: &mut impl FnMut(Item<'_>)) {
        self.rec_active = false;
        let pos = self.rec_pos.clone();
        if self.carry.is_empty() && !self.oversize && self.rec_len == 0 {
            let bytes = &buf[seg..end];
            if bytes.len() > self.max_record {
                self.stats.malformed += 1;
                f(Item::Malformed {
                    pos,
                    reason: format!(
                        "record too large ({} bytes, limit {})",
                        bytes.len(),
                        self.max_record
                    ),
                });
                return;
            }
            self.stats.records += 1;
            f(Item::Record { pos, bytes });
            return;
        }
        self.keep(&buf[seg..end]);
        if self.oversize {
            self.stats.malformed += 1;
            f(Item::Malformed {
                pos,
                reason: format!(
                    "record too large ({} bytes, limit {})",
                    self.rec_len, self.max_record
                ),
            });
        } else {
            self.stats.records += 1;
            let carry = std::mem::take(&mut self.carry);
            f(Item::Record { pos, bytes: &carry });
            self.carry = carry;
        }
        self.carry.clear();
        self.rec_len = 0;
        self.oversize = false;
    }

    fn finish(&mut self, f: &mut impl FnMut(Item<'_>)) {
        if !self.started {
            self.start(f);
        }
        if self.rec_active {
            self.abandon_record("truncated record at end of input", f);
        } else if self.in_string && !self.garbage && self.depth == self.record_depth {
            self.malformed(self.offset, "unterminated string at end of input".into(), f);
        }
    }
}

/// Splits an in-memory buffer (a Kinesis record may itself hold JSON Lines) into records.
pub fn split_records(bytes: &[u8], mut f: impl FnMut(Item<'_>)) -> FileStats {
    let mut s = Scanner::new(MAX_RECORD_BYTES);
    s.feed(bytes, &mut f);
    s.finish(&mut f);
    s.stats.bytes_in = bytes.len() as u64;
    s.stats
}

/// Streams every record of `reader` to `f`, in order; gzip is detected by its magic bytes.
pub fn read_stream<R: Read>(reader: R, mut f: impl FnMut(Item<'_>)) -> FileStats {
    read_stream_with(reader, MAX_RECORD_BYTES, &mut f)
}

fn read_stream_with<R: Read>(
    reader: R,
    max_record: usize,
    f: &mut impl FnMut(Item<'_>),
) -> FileStats {
    let mut reader = BufReader::with_capacity(CHUNK, reader);
    let gzip = matches!(reader.fill_buf(), Ok(b) if b.starts_with(&[0x1f, 0x8b]));
    let mut scanner = Scanner::new(max_record);
    scanner.stats.gzip = gzip;
    let mut source: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        // Fill most of the buffer so the wrapper prefix and most records arrive whole.
        let mut filled = 0;
        let mut failure = None;
        while filled < buf.len() / 2 {
            match source.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if filled > 0 {
            scanner.feed(&buf[..filled], f);
        }
        if let Some(e) = failure {
            let at = scanner.offset;
            scanner.abandon_record("record cut off by a read error", f);
            let what = if gzip {
                "corrupt or truncated gzip stream"
            } else {
                "read error"
            };
            scanner.malformed(
                at,
                format!("{what}: {e}; the rest of this file is skipped"),
                f,
            );
            return scanner.stats;
        }
        if filled == 0 {
            break;
        }
    }
    scanner.finish(f);
    scanner.stats
}

/// Streams every record of one file to `f`, in order. Err only when the file cannot be opened;
/// problems inside the content are `Item::Malformed`.
pub fn read_file(path: &Path, mut f: impl FnMut(Item<'_>)) -> Result<FileStats, InputError> {
    let file = File::open(path).map_err(|source| InputError::Io {
        path: path.to_owned(),
        source,
    })?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut stats = read_stream_with(file, MAX_RECORD_BYTES, &mut f);
    stats.bytes_in = size;
    Ok(stats)
}

/// File names a directory walk reads: what CloudTrail, EventBridge archives and people produce.
pub fn is_input_name(name: &str) -> bool {
    const EXT: [&str; 7] = [
        ".json",
        ".json.gz",
        ".jsonl",
        ".jsonl.gz",
        ".ndjson",
        ".ndjson.gz",
        ".gz",
    ];
    !name.starts_with('.') && EXT.iter().any(|e| name.ends_with(e))
}

/// Files as given (in the given order); directories recursively, sorted by path, keeping only
/// input files (`is_input_name`) and skipping hidden entries.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                InputError::NotFound(p.clone())
            } else {
                InputError::Io {
                    path: p.clone(),
                    source,
                }
            }
        })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found)?;
            found.sort_by(|a, b| {
                a.as_os_str()
                    .as_encoded_bytes()
                    .cmp(b.as_os_str().as_encoded_bytes())
            });
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let entries = std::fs::read_dir(dir).map_err(|source| InputError::Io {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| InputError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let ty = entry.file_type().map_err(|source| InputError::Io {
            path: path.clone(),
            source,
        })?;
        if ty.is_dir() || (ty.is_symlink() && path.is_dir()) {
            walk(&path, out)?;
        } else if is_input_name(&name) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(Debug, PartialEq)]
    enum Got {
        R(String, u64, u64),
        M(u64, String),
    }

    fn split(input: &[u8]) -> Vec<Got> {
        split_max(input, MAX_RECORD_BYTES, CHUNK)
    }

    /// Splits with a given chunk size, to exercise records spanning chunks.
    fn split_max(input: &[u8], max: usize, chunk: usize) -> Vec<Got> {
        let mut out = Vec::new();
        let mut s = Scanner::new(max);
        let mut f = |item: Item<'_>| match item {
            Item::Record { pos, bytes } => out.push(Got::R(
                String::from_utf8_lossy(bytes).into_owned(),
                pos.line,
                pos.index,
            )),
            Item::Malformed { pos, reason } => out.push(Got::M(pos.line, reason)),
        };
        for c in input.chunks(chunk.max(1)) {
            s.feed(c, &mut f);
        }
        s.finish(&mut f);
        out
    }

    fn records(got: &[Got]) -> Vec<&str> {
        got.iter()
            .filter_map(|g| {
                if let Got::R(s, _, _) = g {
                    Some(s.as_str())
                } else {
                    None
                }
            })
            .collect()
    }

    fn malformed(got: &[Got]) -> usize {
        got.iter().filter(|g| matches!(g, Got::M(..))).count()
    }

    #[test]
    fn cloudtrail_log_file() {
        let got = split(br#"{"Records":[{"a":1},{"b":"x}y{"},{"c":[1,{"d":2}]}]}"#);
        assert_eq!(
            records(&got),
            vec![r#"{"a":1}"#, r#"{"b":"x}y{"}"#, r#"{"c":[1,{"d":2}]}"#]
        );
        assert_eq!(malformed(&got), 0);
    }

    #[test]
    fn wrapper_with_whitespace_bom_and_trailing_keys() {
        let mut input = vec![0xEF, 0xBB, 0xBF];
        input.extend_from_slice(b"{\n  \"Records\" : [\n    {\"a\": 1},\n    {\"b\": 2}\n  ],\n  \"x\": {\"y\": 1}\n}\n");
        let got = split(&input);
        assert_eq!(records(&got), vec!["{\"a\": 1}", "{\"b\": 2}"]);
        assert_eq!(malformed(&got), 0);
        assert!(matches!(got[1], Got::R(_, 4, 2)), "{got:?}");
    }

    #[test]
    fn bom_before_json_lines() {
        let got = split(b"\xEF\xBB\xBF{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(records(&got), vec![r#"{"a":1}"#, r#"{"b":2}"#]);
    }

    #[test]
    fn single_object_pretty_printed() {
        let got = split(b"{\n  \"detail-type\": \"AWS API Call via CloudTrail\",\n  \"detail\": {\n    \"a\": 1\n  }\n}\n");
        assert_eq!(records(&got).len(), 1);
        assert_eq!(malformed(&got), 0);
    }

    #[test]
    fn json_lines_and_concatenated() {
        let got = split(b"{\"a\":1}\n{\"b\":2}\n\n{\"c\":3} {\"d\":4}\n");
        assert_eq!(
            records(&got),
            vec![r#"{"a":1}"#, r#"{"b":2}"#, r#"{"c":3}"#, r#"{"d":4}"#]
        );
        assert!(matches!(got[2], Got::R(_, 4, 3)));
    }

    #[test]
    fn top_level_array() {
        let got = split(b"[\n {\"a\":1},\n {\"b\":[{\"c\":1}]}\n]\n");
        assert_eq!(records(&got), vec![r#"{"a":1}"#, r#"{"b":[{"c":1}]}"#]);
    }

    #[test]
    fn escapes_inside_strings() {
        let got = split(br#"{"Records":[{"a":"q\"}{\\"},{"b":"\\"},{"c":"\u00e9 \n"}]}"#);
        assert_eq!(
            records(&got),
            vec![
                r#"{"a":"q\"}{\\"}"#,
                r#"{"b":"\\"}"#,
                r#"{"c":"\u00e9 \n"}"#
            ]
        );
    }

    #[test]
    fn truncated_line_in_jsonl_resynchronises() {
        let got = split(b"{\"a\":1}\n{\"b\":\"trunc\n{\"c\":3}\n{\"d\":{\"e\":1}\n{\"f\":6}\n");
        assert_eq!(
            records(&got),
            vec![r#"{"a":1}"#, r#"{"c":3}"#, r#"{"f":6}"#]
        );
        assert_eq!(malformed(&got), 2, "{got:?}");
        assert!(got.iter().any(|g| matches!(g, Got::M(2, _))), "{got:?}");
    }

    // Found by tests/adversarial.rs: a pretty-printed record (`jq .` of a CloudTrail record, whose
    // `resources` is an array of objects) was cut at the indented `{` and lost as 11 malformed
    // records, because any `{` first on its line counted as the start of a new JSON Lines record.
    #[test]
    fn pretty_printed_nested_array_of_objects_is_not_a_truncation() {
        let input = b"{\n  \"a\": 1,\n  \"resources\": [\n    {\n      \"ARN\": \"x\"\n    },\n    {\"b\": 2}\n  ]\n}\n{\"c\":3}\n";
        let got = split(input);
        assert_eq!(malformed(&got), 0, "{got:?}");
        assert_eq!(records(&got).len(), 2, "{got:?}");
        assert!(records(&got)[0].ends_with("]\n}"), "{got:?}");
    }

    // Found by tests/adversarial.rs: a garbage line of unbalanced `[` (or `[{`) made the scanner
    // count depth to the end of the file, silently swallowing every record after it.
    #[test]
    fn unbalanced_open_brackets_do_not_swallow_later_records() {
        for garbage in [&b"[[[[[[[["[..], b"[[{\"a\":[[[", b"{\"Records\":[[[[["] {
            let mut input = garbage.to_vec();
            input.extend_from_slice(b"\n{\"a\":1}\n{\"b\":2}\n");
            for chunk in [1, 3, CHUNK] {
                let got = split_max(&input, MAX_RECORD_BYTES, chunk);
                assert_eq!(
                    records(&got),
                    vec![r#"{"a":1}"#, r#"{"b":2}"#],
                    "{:?} chunk {chunk}: {got:?}",
                    String::from_utf8_lossy(garbage)
                );
                assert!(malformed(&got) >= 1, "{got:?}");
            }
        }
    }

    #[test]
    fn garbage_between_records_is_reported_once_per_line() {
        let got = split(b"{\"a\":1}\nthis is not json at all\n{\"b\":2}\n42 43\n");
        assert_eq!(records(&got), vec![r#"{"a":1}"#, r#"{"b":2}"#]);
        assert_eq!(malformed(&got), 2);
    }

    #[test]
    fn non_object_elements_in_arrays() {
        let got = split(br#"{"Records":[{"a":1},42,"str",{"b":2},null]}"#);
        assert_eq!(records(&got), vec![r#"{"a":1}"#, r#"{"b":2}"#]);
        assert_eq!(malformed(&got), 3);
    }

    #[test]
    fn truncated_file() {
        let got = split(br#"{"Records":[{"a":1},{"b":{"c":"#);
        assert_eq!(records(&got), vec![r#"{"a":1}"#]);
        assert_eq!(malformed(&got), 1);
    }

    #[test]
    fn empty_and_whitespace() {
        assert!(split(b"").is_empty());
        assert!(split(b"  \n\n ").is_empty());
        assert!(split(br#"{"Records":[]}"#).is_empty());
    }

    #[test]
    fn records_spanning_chunks_in_every_split() {
        let input = br#"{"Records":[{"a":"x\"y","b":[1,2,{"c":"}"}]},{"d":"\\"},{"e":1}]}"#;
        let want = split(input);
        for chunk in 1..input.len() {
            assert_eq!(
                split_max(input, MAX_RECORD_BYTES, chunk),
                want,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn oversized_records_are_malformed_not_buffered() {
        let mut input = br#"{"Records":[{"a":1},{"big":""#.to_vec();
        input.extend(std::iter::repeat_n(b'x', 5000));
        input.extend_from_slice(br#""},{"b":2}]}"#);
        for chunk in [64, 1000, 100_000] {
            let got = split_max(&input, 1024, chunk);
            assert_eq!(
                records(&got),
                vec![r#"{"a":1}"#, r#"{"b":2}"#],
                "chunk {chunk}"
            );
            assert_eq!(malformed(&got), 1);
        }
    }

    #[test]
    fn gzip_plain_and_corrupt() {
        let plain = br#"{"Records":[{"a":1},{"b":2}]}"#;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(plain).unwrap();
        let gz = enc.finish().unwrap();
        let mut n = 0;
        let stats = read_stream(&gz[..], |i| {
            if let Item::Record { .. } = i {
                n += 1
            }
        });
        assert!(stats.gzip);
        assert_eq!((n, stats.records, stats.malformed), (2, 2, 0));
        let cut = &gz[..gz.len() - 12];
        let mut bad = 0;
        let stats = read_stream(cut, |i| {
            if let Item::Malformed { .. } = i {
                bad += 1
            }
        });
        assert!(bad >= 1 && stats.malformed >= 1, "{stats:?}");
    }

    #[test]
    fn positions_count_lines_and_columns() {
        let mut got = Vec::new();
        split_records(b"\n\n  {\"a\":1}\n{\"b\":2}", |i| {
            if let Item::Record { pos, .. } = i {
                got.push(pos)
            }
        });
        assert_eq!(
            got[0],
            Position {
                line: 3,
                column: 3,
                offset: 4,
                index: 1
            }
        );
        assert_eq!(
            got[1],
            Position {
                line: 4,
                column: 1,
                offset: 12,
                index: 2
            }
        );
    }

    #[test]
    fn expands_directories_in_name_order() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("b/c")).unwrap();
        for f in [
            "b/c/2.json.gz",
            "a.json",
            "b/1.jsonl",
            ".hidden.json",
            "notes.md",
            "z.transcript",
        ] {
            std::fs::write(d.path().join(f), b"{}").unwrap();
        }
        let got = expand_paths(&[d.path().to_owned()]).unwrap();
        let rel: Vec<String> = got
            .iter()
            .map(|p| {
                p.strip_prefix(d.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(rel, vec!["a.json", "b/1.jsonl", "b/c/2.json.gz"]);
        assert!(matches!(
            expand_paths(&[d.path().join("missing")]),
            Err(InputError::NotFound(_))
        ));
    }
}
