//! Replay's progress line on stderr: files and bytes done of the planned total, records per
//! second, S3 events and an ETA from the bytes still to read. Must not draw when switched off
//! (`--no-progress`, or stderr not a terminal); owns drawing only.

use std::io::Write;
use std::time::{Duration, Instant};

use super::group;

pub struct Progress {
    on: bool,
    start: Instant,
    last: Option<Instant>,
    total_files: usize,
    total_bytes: u64,
}

/// What has been done so far.
pub struct Done {
    pub files: usize,
    pub bytes: u64,
    /// Records split out by the jobs (ahead of the fold).
    pub records: u64,
    pub events: u64,
}

fn mb(b: u64) -> String {
    format!("{:.1} MB", b as f64 / 1e6)
}

fn eta(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s / 60) % 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

impl Progress {
    pub fn new(on: bool, total_files: usize, total_bytes: u64) -> Progress {
        Progress {
            on,
            start: Instant::now(),
            last: None,
            total_files,
            total_bytes,
        }
    }

    /// The line for `done`; pure so it can be tested.
    pub fn line(&self, done: &Done, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let rate = done.records as f64 / secs;
        let eta = if done.bytes > 0 && done.bytes < self.total_bytes {
            let left = (self.total_bytes - done.bytes) as f64 * secs / done.bytes as f64;
            format!("  ETA {}", eta(left))
        } else {
            String::new()
        };
        format!(
            "  files {}/{}  {} / {}  {} records  {} S3 events  {} records/s{eta}   ",
            group(done.files as u64),
            group(self.total_files as u64),
            mb(done.bytes),
            mb(self.total_bytes),
            group(done.records),
            group(done.events),
            group(rate as u64),
        )
    }

    /// Redraws at most once a second.
    pub fn draw(&mut self, report: &mut dyn Write, done: &Done) {
        if !self.on
            || self
                .last
                .is_some_and(|l| l.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.last = Some(Instant::now());
        let _ = write!(report, "\r{}", self.line(done, self.start.elapsed()));
        let _ = report.flush();
    }

    /// Ends the line, if one was drawn.
    pub fn finish(&mut self, report: &mut dyn Write) {
        if self.on && self.last.is_some() {
            let _ = writeln!(report);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_files_bytes_rate_and_eta() {
        let p = Progress::new(true, 2000, 200_000_000);
        let line = p.line(
            &Done {
                files: 500,
                bytes: 50_000_000,
                records: 250_000,
                events: 25_000,
            },
            Duration::from_secs(10),
        );
        assert!(line.contains("files 500/2,000"), "{line}");
        assert!(line.contains("50.0 MB / 200.0 MB"), "{line}");
        assert!(line.contains("25,000 records/s"), "{line}");
        assert!(line.contains("ETA 0m30s"), "{line}");
    }
}
