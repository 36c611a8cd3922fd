//! Input: turns files and buffers into individual JSON record slices with their positions,
//! streaming (memory bounded by the largest record, never by the file). Detects gzip by magic
//! bytes and the form per file: a CloudTrail log `{"Records":[...]}`, a JSON array, or a stream of
//! top-level objects (one object, JSON Lines, concatenated). It must not interpret CloudTrail
//! semantics: that is `record`'s job.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

mod scan;
#[cfg(test)]
mod tests;

use scan::Scanner;

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
