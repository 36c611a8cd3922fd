//! `bucketwarden replay`: drives the shared pipeline over captured CloudTrail files — local paths
//! or `s3://` archives — and writes the decision transcript plus a human summary. Owns planning,
//! ordering the stream, reporting and progress; all judgement stays in the pipeline, and the one
//! fold consumes one ordered stream, so the transcript does not depend on `--jobs`.

mod cpu;
mod jobs;
pub mod progress;
pub mod source;
mod writer;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::aws::s3_archive::S3Archive;
use crate::config::Config;
use crate::core::archive::{Filter, FilterError};
use crate::core::decision::{Action, PatternError};
use crate::core::fold::{Note, Transition};
use crate::core::input::InputError;
use crate::core::merge::{self, Reorder};
use crate::core::pipeline::{Pipeline, Stats};
use crate::core::record::{S3Event, Skip};
use crate::observe::metrics as m;

use jobs::{Flow, Msg};
use source::{Location, Opener};

/// How many malformed records are reported one by one before only counting them.
pub const MAX_REPORTED: usize = 50;

pub struct Options {
    /// Local paths and `s3://BUCKET/PREFIX/` locations, in argument order.
    pub paths: Vec<PathBuf>,
    pub config: Config,
    pub dry_run: bool,
    /// Progress lines on stderr while running (only sensible on a terminal).
    pub progress: bool,
    /// Download/parse jobs (at least 1).
    pub jobs: usize,
    pub filter: Filter,
    /// How long after its `eventTime` an event may be delivered and still be put in order.
    pub reorder_ms: i64,
}

impl Options {
    pub fn new(paths: Vec<PathBuf>, config: Config) -> Options {
        Options {
            paths,
            config,
            dry_run: false,
            progress: false,
            jobs: 1,
            filter: Filter::default(),
            reorder_ms: merge::DEFAULT_REORDER_MS,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Config(#[from] PatternError),
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error("{0}")]
    Location(String),
    #[error("cannot start the AWS client runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot write the transcript: {0}")]
    Output(#[source] std::io::Error),
}

impl ReplayError {
    pub fn retryable(&self) -> bool {
        match self {
            ReplayError::Input(e) => e.retryable(),
            ReplayError::Config(_) | ReplayError::Filter(_) | ReplayError::Location(_) => false,
            ReplayError::Runtime(_) => true,
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

/// Per account and region of a CloudTrail archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub files: u64,
    pub bytes: u64,
    pub records: u64,
    pub events: u64,
    pub malformed: u64,
    pub unreadable: u64,
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
    pub jobs: usize,
    /// (account, region) → tally, for CloudTrail log files.
    pub by_account: BTreeMap<(String, String), Tally>,
    /// Log files left out by the filters, judged by name alone.
    pub filtered_out: u64,
    /// Objects under `AWSLogs/` that are not log files (digests, Insights, …), not read.
    pub not_logs: u64,
    /// Events delivered later than the reorder bound (applied when their file came).
    pub late_events: u64,
    /// Most events held for reordering at once.
    pub reorder_peak: usize,
    /// S3 requests (ListObjectsV2, GetObject), when reading from S3.
    pub s3_requests: Option<(u64, u64)>,
    /// CPU time of the consumer thread (the serial part: reorder, fold, decide) and of the whole
    /// process, where the platform tells (Linux).
    pub consumer_cpu: Option<Duration>,
    /// CPU time of the transcript writer thread (JSON encoding and writing).
    pub writer_cpu: Option<Duration>,
    pub process_cpu: Option<Duration>,
}

impl Summary {
    /// Exit status: 0 when every path was read (malformed records included), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        i32::from(!self.unreadable.is_empty())
    }
}

fn opener_for(locations: &[Location]) -> Result<Opener, ReplayError> {
    let buckets: Vec<&String> = locations
        .iter()
        .filter_map(|l| match l {
            Location::S3 { bucket, .. } => Some(bucket),
            Location::Local(_) => None,
        })
        .collect();
    if buckets.is_empty() {
        return Ok(Opener {
            archives: Vec::new(),
            rt: None,
        });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ReplayError::Runtime)?;
    let archives = rt.block_on(async {
        let sdk = crate::aws::load_config().await;
        let clients = crate::aws::Clients::new(&sdk);
        buckets
            .iter()
            .map(|b| S3Archive::new(clients.s3.clone(), b.as_str()))
            .collect()
    });
    Ok(Opener {
        archives,
        rt: Some(rt),
    })
}

/// Replays `opts.paths` into `transcript` (written on a thread of its own), reporting problems
/// and progress on `report`.
pub fn run(
    opts: &Options,
    transcript: &mut (dyn Write + Send),
    report: &mut dyn Write,
) -> Result<Summary, ReplayError> {
    let start = Instant::now();
    let (thread_cpu0, process_cpu0) = (cpu::this_thread(), cpu::process());
    let locations = opts
        .paths
        .iter()
        .map(|p| source::parse_location(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ReplayError::Location)?;
    let mut pipeline = Pipeline::new(&opts.config, opts.dry_run)?;
    let opener = opener_for(&locations)?;
    let plan = opener.plan(&locations, &opts.filter)?;
    let mut summary = Summary {
        jobs: opts.jobs.max(1),
        filtered_out: plan.filtered_out,
        not_logs: plan.not_logs,
        ..Summary::default()
    };
    for u in plan.unreadable {
        let _ = writeln!(report, "error: {u}");
        summary.unreadable.push(u);
    }
    let pairs: Vec<(&str, Option<&crate::core::archive::TrailKey>)> = plan
        .files
        .iter()
        .map(|f| (f.id.as_str(), f.trail.as_ref()))
        .collect();
    let order = merge::file_order(&pairs);
    let ranks = merge::tie_ranks(&pairs);
    let files: Vec<&source::FileRef> = order.iter().map(|&i| &plan.files[i]).collect();
    let file_ranks: Vec<u32> = order.iter().map(|&i| ranks[i]).collect();
    let total_bytes = files.iter().map(|f| f.size).sum();
    let mut progress = progress::Progress::new(opts.progress, files.len(), total_bytes);
    let seen = AtomicU64::new(0);

    let work = |i: usize, send: &mut dyn FnMut(Msg) -> bool| {
        let file = files[i];
        match opener.open(file) {
            Ok(reader) => {
                if let Some(stats) = jobs::parse(reader, &seen, send) {
                    send(Msg::Done(Ok(stats)));
                }
            }
            Err(e) => {
                send(Msg::Done(Err(e)));
            }
        }
    };

    let mut reorder: Reorder<Box<S3Event>> = Reorder::new(opts.reorder_ms);
    let mut out_err: Option<std::io::Error> = None;
    let mut done_files = 0usize;
    let mut done_bytes = 0u64;
    let mut current: Option<usize> = None;
    // The consumer folds and decides; the writer thread serialises and writes the lines.
    let (mut sink, lines_rx) = writer::channel();
    let mut writer_gone = false;
    let mut writer_cpu = None;
    // Folds one event and hands its lines to the writer; sets `gone` once the writer stopped.
    let apply =
        |pipeline: &mut Pipeline, sink: &mut writer::Sink, gone: &mut bool, ev: &S3Event| {
            let lines = pipeline.apply(ev);
            if !*gone && !sink.push(lines) {
                *gone = true;
            }
        };
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            let written = writer::write_all(lines_rx, transcript);
            (written, cpu::this_thread())
        });
        let mut consume = |i: usize, msg: Msg| -> Flow {
            let file = files[i];
            let tally_key = file
                .trail
                .as_ref()
                .map(|k| (k.account.clone(), k.region.clone()));
            if current != Some(i) {
                current = Some(i);
                if let Some(k) = &file.trail {
                    reorder.release(k.window_ms, |ev| {
                        apply(&mut pipeline, &mut sink, &mut writer_gone, &ev)
                    });
                }
            }
            match msg {
                Msg::Batch(b) => {
                    let bad = b.bad.len() as u64;
                    let events = b.events.len() as u64;
                    pipeline.count_classified(b.records - bad, &b.skipped);
                    for _ in 0..bad {
                        pipeline.count_malformed();
                    }
                    for p in b.bad {
                        if summary.problems.len() < MAX_REPORTED {
                            let _ =
                                writeln!(report, "malformed: {}: {}: {}", file.id, p.pos, p.reason);
                            summary.problems.push(Problem {
                                file: PathBuf::from(&file.id),
                                position: p.pos.to_string(),
                                reason: p.reason,
                            });
                        }
                    }
                    if let Some(key) = &tally_key {
                        let t = summary.by_account.entry(key.clone()).or_default();
                        t.records += b.records;
                        t.events += events;
                        t.malformed += bad;
                    }
                    // Events are counted by name when applied; their records were counted above.
                    for (pos, ev) in b.events {
                        if !ev.oddities.is_empty() && summary.warnings.len() < MAX_REPORTED {
                            let odd: Vec<String> = ev.oddities.iter().map(|o| o.label()).collect();
                            let reason = format!("decided anyway; odd fields {}", odd.join(", "));
                            let at = b
                                .odd
                                .iter()
                                .find(|(i, _)| *i == pos)
                                .map_or_else(|| format!("record {pos}"), |(_, p)| p.to_string());
                            let _ = writeln!(report, "warning: {}: {at}: {reason}", file.id);
                            summary.warnings.push(Problem {
                                file: PathBuf::from(&file.id),
                                position: at,
                                reason,
                            });
                        }
                        if file.trail.is_some() {
                            reorder.push(ev.time_ms, file_ranks[i], pos, ev);
                        } else {
                            // Files outside the layout keep their order: path order, then position.
                            apply(&mut pipeline, &mut sink, &mut writer_gone, &ev);
                        }
                    }
                }
                Msg::Done(result) => {
                    done_files += 1;
                    done_bytes += file.size;
                    let tally = tally_key.map(|k| summary.by_account.entry(k).or_default());
                    match result {
                        Ok(stats) => {
                            summary.files += 1;
                            summary.bytes_in += if file.size > 0 {
                                file.size
                            } else {
                                stats.bytes_in
                            };
                            summary.bytes_decoded += stats.bytes_decoded;
                            if let Some(t) = tally {
                                t.files += 1;
                                t.bytes += file.size;
                            }
                        }
                        Err(e) => {
                            let _ = writeln!(report, "error: {e}");
                            summary.unreadable.push(e);
                            if let Some(t) = tally {
                                t.unreadable += 1;
                            }
                        }
                    }
                }
            }
            progress.draw(
                report,
                &progress::Done {
                    files: done_files,
                    bytes: done_bytes,
                    records: seen.load(Ordering::Relaxed),
                    events: pipeline.stats().events_total(),
                },
            );
            if writer_gone {
                Flow::Stop
            } else {
                Flow::Go
            }
        };
        let mut tick = || {};
        jobs::run_ordered(files.len(), summary.jobs, &work, &mut consume, &mut tick);
        reorder.finish(|ev| apply(&mut pipeline, &mut sink, &mut writer_gone, &ev));
        sink.close();
        let (written, cpu) = writer.join().unwrap_or_else(|_| {
            (
                Err(std::io::Error::other("the transcript writer panicked")),
                None,
            )
        });
        writer_cpu = cpu;
        if let Err(e) = written {
            out_err = Some(e);
        }
    });
    if let Some(e) = out_err.take() {
        return Err(ReplayError::Output(e));
    }
    progress.finish(report);
    summary.late_events = reorder.late();
    summary.reorder_peak = reorder.peak();
    summary.s3_requests = opener.rt.as_ref().map(|_| opener.requests());
    summary.stats = pipeline.stats().clone();
    summary.buckets = pipeline.fold().bucket_count();
    summary.elapsed = start.elapsed();
    summary.consumer_cpu = cpu::this_thread()
        .zip(thread_cpu0)
        .map(|(b, a)| b.saturating_sub(a));
    summary.writer_cpu = writer_cpu;
    summary.process_cpu = cpu::process()
        .zip(process_cpu0)
        .map(|(b, a)| b.saturating_sub(a));
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
    if !s.by_account.is_empty() {
        out.push_str(&format!(
            "  archive       {} job(s); filters left out {} log file(s); {} non-log object(s) under AWSLogs/ not read; {} event(s) delivered past the reorder bound; at most {} held for ordering\n",
            s.jobs,
            group(s.filtered_out),
            group(s.not_logs),
            group(s.late_events),
            group(s.reorder_peak as u64)
        ));
        out.push_str(&format!(
            "  {:<14} {:<16} {:>8} {:>10} {:>12} {:>10} {:>9} {:>10}\n",
            "account", "region", "files", "MB", "records", "S3 events", "malformed", "unreadable"
        ));
        for ((account, region), t) in &s.by_account {
            out.push_str(&format!(
                "  {:<14} {:<16} {:>8} {:>10.1} {:>12} {:>10} {:>9} {:>10}\n",
                account,
                region,
                group(t.files),
                t.bytes as f64 / 1e6,
                group(t.records),
                group(t.events),
                group(t.malformed),
                group(t.unreadable)
            ));
        }
    } else if s.filtered_out > 0 {
        out.push_str(&format!(
            "  filters left out {} file(s)\n",
            group(s.filtered_out)
        ));
    }
    if let Some((list, get)) = s.s3_requests {
        out.push_str(&format!(
            "  S3 requests   ListObjectsV2 {}, GetObject {} ({:.2} per file)\n",
            group(list),
            group(get),
            (list + get) as f64 / (s.files.max(1)) as f64
        ));
    }
    if let (Some(c), Some(p)) = (s.consumer_cpu, s.process_cpu) {
        let (c, p) = (c.as_secs_f64(), p.as_secs_f64());
        let w = s.writer_cpu.map_or(0.0, |w| w.as_secs_f64());
        out.push_str(&format!(
            "  cpu           {:.2} s in {:.2} s wall ({:.2} cores busy); consumer thread {:.2} s ({:.0}%), writer thread {:.2} s ({:.0}%)\n",
            p,
            secs,
            p / secs,
            c,
            100.0 * c / p.max(1e-9),
            w,
            100.0 * w / p.max(1e-9)
        ));
    }
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
