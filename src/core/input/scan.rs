//! The splitter: a byte state machine that finds where each JSON record starts and ends in a
//! decompressed stream fed in chunks, with positions, carrying a record across chunks up to the
//! size limit. Pure; it must not read files, decompress, or parse what a record says.

use super::{FileStats, Item, Position};

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
pub(super) struct Scanner {
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
    pub(super) offset: u64,
    line: u64,
    line_start: u64,
    index: u64,
    max_record: usize,
    started: bool,
    head: Vec<u8>,
    pub(super) stats: FileStats,
}

impl Scanner {
    pub(super) fn new(max_record: usize) -> Scanner {
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

    pub(super) fn malformed(&mut self, abs: u64, reason: String, f: &mut impl FnMut(Item<'_>)) {
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

    pub(super) fn abandon_record(&mut self, reason: &str, f: &mut impl FnMut(Item<'_>)) {
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

    pub(super) fn feed(&mut self, buf: &[u8], f: &mut impl FnMut(Item<'_>)) {
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

    pub(super) fn finish(&mut self, f: &mut impl FnMut(Item<'_>)) {
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
