//! `bucketwarden replay`: drives the shared pipeline over captured CloudTrail files and writes
//! the decision transcript plus a human summary. Owns file iteration, reporting and progress;
//! all judgement stays in the pipeline.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::core::decision::{Action, PatternError};
use crate::core::fold::{Note, Transition};
use crate::core::input::{self, InputError, Item};
use crate::core::pipeline::{Pipeline, Processed, Stats};
use crate::core::record::Skip;
use crate::observe::metrics as m;

/// How many malformed records are reported one by one before only counting them.
pub const MAX_REPORTED: usize = 50;

pub struct Options {
    pub paths: Vec<PathBuf>,
    pub config: Config,
    pub dry_run: bool,
    /// Progress lines on stderr while running (only sensible on a terminal).
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Config(#[from] PatternError),
    #[error("cannot write the transcript: {0}")]
    Output(#[source] std::io::Error),
}

impl ReplayError {
    pub fn retryable(&self) -> bool {
        match self {
            ReplayError::Input(e) => e.retryable(),
            ReplayError::Config(_) => false,
            ReplayError::Output(e) => matches!(e.kind(), std::io::ErrorKind::Interrupted),
        }
    }
}

/// A malformed record and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub position: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub files: u64,
    pub unreadable: Vec<String>,
    pub bytes_in: u64,
    pub bytes_decoded: u64,
    pub stats: Stats,
    pub problems: Vec<Problem>,
    /// Decided records with fields of the wrong type (or taken from a second source), the
    /// first `MAX_REPORTED`; `reason` lists them as `field:problem`.
    pub warnings: Vec<Problem>,
    pub buckets: usize,
    pub elapsed: Duration,
}

impl Summary {
    /// Exit status: 0 when every path was read (malformed records included), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        i32::from(!self.unreadable.is_empty())
    }
}

/// Replays `opts.paths` into `transcript`, reporting problems and progress on `report`.
pub fn run(
    opts: &Options,
    transcript: &mut dyn Write,
    report: &mut dyn Write,
) -> Result<Summary, ReplayError> {
    let start = Instant::now();
    let files = input::expand_paths(&opts.paths)?;
    let mut pipeline = Pipeline::new(&opts.config, opts.dry_run)?;
    let mut summary = Summary::default();
    let mut out_err: Option<std::io::Error> = None;
    let mut last_progress = Instant::now();
    let total_files = files.len();
    for (i, file) in files.iter().enumerate() {
        let mut sink = |item: Item<'_>| {
            let problem = match item {
                Item::Record { pos, bytes } => match pipeline.process(bytes) {
                    Processed::Applied { event, lines } => {
                        if !event.oddities.is_empty() && summary.warnings.len() < MAX_REPORTED {
                            let odd: Vec<String> =
                                event.oddities.iter().map(|o| o.label()).collect();
                            let reason = format!("decided anyway; odd fields {}", odd.join(", "));
                            let _ =
                                writeln!(report, "warning: {}: {pos}: {reason}", file.display());
                            summary.warnings.push(Problem {
                                file: file.clone(),
                                position: pos.to_string(),
                                reason,
                            });
                        }
                        if out_err.is_none() {
                            for line in &lines {
                                let mut text = line.to_json();
                                text.push('\n');
                                if let Err(e) = transcript.write_all(text.as_bytes()) {
                                    out_err = Some(e);
                                    break;
                                }
                            }
                        }
                        None
                    }
                    Processed::Malformed(reason) => Some((pos, reason)),
                    Processed::Skipped(_) => None,
                },
                Item::Malformed { pos, reason } => {
                    pipeline.count_malformed();
                    Some((pos, reason))
                }
            };
            if let Some((pos, reason)) = problem {
                if summary.problems.len() < MAX_REPORTED {
                    let _ = writeln!(report, "malformed: {}: {pos}: {reason}", file.display());
                    summary.problems.push(Problem {
                        file: file.clone(),
                        position: pos.to_string(),
                        reason,
                    });
                }
            }
            if opts.progress
                && pipeline.stats().records % 4096 == 0
                && last_progress.elapsed() >= Duration::from_secs(1)
            {
                last_progress = Instant::now();
                let s = pipeline.stats();
                let rate = s.records as f64 / start.elapsed().as_secs_f64().max(1e-9);
                let _ = write!(
                    report,
                    "\r  file {}/{total_files}  {} records  {} S3 events  {}/s   ",
                    i + 1,
                    group(s.records),
                    group(s.events_total()),
                    group(rate as u64)
                );
                let _ = report.flush();
            }
        };
        match input::read_file(file, &mut sink) {
            Ok(stats) => {
                summary.files += 1;
                summary.bytes_in += stats.bytes_in;
                summary.bytes_decoded += stats.bytes_decoded;
            }
            Err(e) => {
                let _ = writeln!(report, "error: {e}");
                summary.unreadable.push(e.to_string());
            }
        }
        if let Some(e) = out_err.take() {
            return Err(ReplayError::Output(e));
        }
    }
    transcript.flush().map_err(ReplayError::Output)?;
    if opts.progress && summary.stats.records == 0 {
        let _ = write!(report, "\r");
    }
    if opts.progress {
        let _ = writeln!(report);
    }
    summary.stats = pipeline.stats().clone();
    summary.buckets = pipeline.fold().bucket_count();
    summary.elapsed = start.elapsed();
    Ok(summary)
}

/// Whether progress should be drawn: only for a person watching a terminal.
pub fn progress_wanted() -> bool {
    std::io::stderr().is_terminal()
}

/// 1234567 → "1,234,567".
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn count<K: Ord>(m: &std::collections::BTreeMap<K, u64>, k: &K) -> u64 {
    m.get(k).copied().unwrap_or(0)
}

/// The human summary printed on stderr at the end of a replay.
pub fn render_summary(s: &Summary) -> String {
    let st = &s.stats;
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    let mut out = String::new();
    out.push_str(&format!(
        "replayed {} file(s): {} records, {} S3 events in {:.2} s ({} records/s, {:.0} MB/s decoded)\n",
        s.files,
        group(st.records),
        group(st.events_total()),
        secs,
        group((st.records as f64 / secs) as u64),
        s.bytes_decoded as f64 / 1e6 / secs
    ));
    let by_name: Vec<String> = st
        .events
        .iter()
        .map(|(k, v)| format!("{} {}", k.as_str(), group(*v)))
        .collect();
    out.push_str(&format!(
        "  S3 events     {:>12}  {}\n",
        group(st.events_total()),
        if by_name.is_empty() {
            String::new()
        } else {
            format!("({})", by_name.join(", "))
        }
    ));
    out.push_str(&format!(
        "  skipped       {:>12}  (not S3 {}, unwatched S3 calls {}, other detail-types {})\n",
        group(st.skipped_total()),
        group(count(&st.skipped, &Skip::NotS3)),
        group(count(&st.skipped, &Skip::Unwatched)),
        group(count(&st.skipped, &Skip::OtherDetailType))
    ));
    out.push_str(&format!("  malformed     {:>12}\n", group(st.malformed)));
    for p in s.problems.iter().take(5) {
        out.push_str(&format!(
            "      {}: {}: {}\n",
            p.file.display(),
            p.position,
            p.reason
        ));
    }
    if st.malformed > 5 {
        out.push_str(&format!(
            "      … {} more (see the malformed: lines above)\n",
            group(st.malformed - 5)
        ));
    }
    let odd_records = s.warnings.len() as u64;
    out.push_str(&format!(
        "  warnings      {:>12}  (odd fields in decided records{})\n",
        group(st.oddities_total()),
        if st.oddities.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                st.oddities
                    .iter()
                    .map(|(f, n)| format!("{f} {}", group(*n)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    ));
    for w in s.warnings.iter().take(5) {
        out.push_str(&format!(
            "      {}: {}: {}\n",
            w.file.display(),
            w.position,
            w.reason
        ));
    }
    if odd_records > 5 {
        out.push_str(&format!(
            "      … {} more records (see the warning: lines above)\n",
            group(odd_records - 5)
        ));
    }
    out.push_str(&format!(
        "  notes         failed calls {}, duplicates {}, stale {}, assumed {}, masked {}\n",
        group(count(&st.notes, &Note::FailedCall)),
        group(count(&st.notes, &Note::Duplicate)),
        group(count(&st.notes, &Note::Stale)),
        group(count(&st.notes, &Note::Assumed)),
        group(count(&st.notes, &Note::Masked))
    ));
    out.push_str(&format!(
        "  transitions   became_public {}, became_not_public {}, unchanged {}\n",
        group(count(&st.transitions, &Transition::BecamePublic)),
        group(count(&st.transitions, &Transition::BecameNotPublic)),
        group(count(&st.transitions, &Transition::Unchanged))
    ));
    out.push_str(&format!(
        "  actions       remediate {}, alert {}, none {}\n",
        group(count(&st.actions, &Action::Remediate)),
        group(count(&st.actions, &Action::Alert)),
        group(count(&st.actions, &Action::None))
    ));
    out.push_str(&format!(
        "  buckets known {:>12}\n",
        group(s.buckets as u64)
    ));
    for u in &s.unreadable {
        out.push_str(&format!("  UNREADABLE    {u}\n"));
    }
    out
}

/// The replay's counters in Prometheus text format, under the live metric names, so a replay
/// can be compared with a live run (`replay --metrics-out`).
pub fn render_metrics(stats: &Stats) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: Vec<(String, u64)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let label = |k: &str, v: &str| format!("{{{k}=\"{v}\"}}");
    family(
        m::RECORDS_RECEIVED,
        "Records read (replay: records in the input)",
        vec![(String::new(), stats.records)],
    );
    family(
        m::EVENTS_APPLIED,
        "Watched S3 events applied to the fold, by event name",
        stats
            .events
            .iter()
            .map(|(e, n)| (label("event_name", e.as_str()), *n))
            .collect(),
    );
    family(
        m::EVENTS_SKIPPED,
        "Records skipped, by reason",
        stats
            .skipped
            .iter()
            .map(|(s, n)| (label("reason", s.as_str()), *n))
            .collect(),
    );
    family(
        m::EVENTS_MALFORMED,
        "Records that could not be parsed",
        vec![(String::new(), stats.malformed)],
    );
    family(
        m::EVENTS_ODDITIES,
        "Fields of decided events of the wrong type or taken from a second source, by field",
        stats
            .oddities
            .iter()
            .map(|(f, n)| (label("field", f), *n))
            .collect(),
    );
    let duplicates = stats
        .notes
        .iter()
        .filter(|(n, _)| n.as_str() == "duplicate")
        .map(|(_, v)| *v)
        .sum();
    family(
        m::EVENTS_DUPLICATE,
        "Events seen before (same event id)",
        vec![(String::new(), duplicates)],
    );
    family(
        m::TRANSITIONS,
        "Exposure transitions, by kind",
        stats
            .transitions
            .iter()
            .map(|(t, n)| (label("transition", t.as_str()), *n))
            .collect(),
    );
    family(
        m::DECISIONS,
        "Decisions, by action",
        stats
            .actions
            .iter()
            .map(|(a, n)| (label("action", a.as_str()), *n))
            .collect(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::group;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }
}
