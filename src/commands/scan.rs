//! `bucketwarden scan`: every bucket of the account read live (block, ACL, policy, ownership,
//! tags and the account block) with a bounded number of buckets in flight, judged by the same
//! exposure code as the stream, reported, and optionally written to the state table and
//! remediated. Owns the inventory loop; it must not judge exposure itself (`verify`, `fold`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::aws::error::{AwsError, Kind};
use crate::aws::incident::{Alerter, IncidentTable};
use crate::aws::s3_fix::S3Remediator;
use crate::aws::s3_read;
use crate::aws::state_store::StateStore;
use crate::aws::Clients;
use crate::commands::found;
use crate::config::{Config, Mode};
use crate::core::decision::Decider;
use crate::core::fold::Stamped;

/// Reads per bucket issued together by `s3_read::read_bucket`, plus the tag read.
pub const REQUESTS_PER_BUCKET: usize = 7;

#[derive(Debug, Clone)]
pub struct Options {
    /// Buckets read at once (each issues `REQUESTS_PER_BUCKET` requests together).
    pub concurrency: usize,
    /// Only buckets in this region (GetBucketLocation per bucket).
    pub region: Option<String>,
    /// The account; `None` asks STS who the caller is.
    pub account: Option<String>,
    pub remediate: bool,
    pub seed_state: bool,
    /// Who is running the scan, for incidents.
    pub operator: String,
}

/// One bucket's line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketReport {
    pub bucket: String,
    pub region: Option<String>,
    pub exposed: bool,
    pub reasons: Vec<String>,
    pub exempt: bool,
    /// remediated | failed | alerted | dry-run, with `--remediate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Why the bucket could not be read (it is reported, not skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub account: String,
    pub buckets: usize,
    pub exposed: usize,
    pub exposed_exempt: usize,
    pub errors: usize,
    pub remediated: usize,
    pub remediation_failed: usize,
    pub seeded: usize,
    pub seconds: f64,
    pub buckets_per_second: f64,
    pub max_requests_in_flight: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Pattern(#[from] crate::core::decision::PatternError),
}

impl ScanError {
    pub fn retryable(&self) -> bool {
        match self {
            ScanError::Aws(e) => e.retryable(),
            ScanError::Pattern(_) => false,
        }
    }
}

struct Shared {
    clients: Clients,
    opts: Options,
    account: String,
    decider: Decider,
    store: StateStore,
    incidents: IncidentTable,
    alerter: Option<Alerter>,
    remediator: S3Remediator,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Scans every bucket; `progress(done, total)` is called as buckets finish, `report` with each
/// bucket's line in completion order.
pub async fn scan(
    clients: Clients,
    config: Config,
    opts: Options,
    mut progress: impl FnMut(usize, usize),
    mut report: impl FnMut(&BucketReport),
) -> Result<Summary, ScanError> {
    let start = Instant::now();
    let account = match &opts.account {
        Some(a) => a.clone(),
        None => clients.caller_account().await?,
    };
    let alerter = if opts.remediate {
        let arn = Alerter::ensure_topic(&clients, &config.names.alert_topic).await?;
        Some(Alerter::new(clients.clone(), arn))
    } else {
        None
    };
    let shared = Arc::new(Shared {
        decider: Decider::new(&config.exemptions, config.remediation.mode == Mode::DryRun)?,
        store: StateStore::new(clients.dynamodb.clone(), &config.names.state_table),
        incidents: IncidentTable::new(clients.clone(), &config.names.incident_table),
        remediator: S3Remediator::new(clients.clone(), config.remediation.attempts),
        alerter,
        account: account.clone(),
        clients: clients.clone(),
        opts: opts.clone(),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
    });
    let buckets = s3_read::list_buckets(&clients).await?;
    let total = buckets.len();
    progress(0, total);
    let permits = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for bucket in buckets {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore open");
        let shared = shared.clone();
        tasks.spawn(async move {
            let r = scan_one(&shared, bucket).await;
            drop(permit);
            r
        });
    }
    let mut summary = Summary {
        account,
        ..Summary::default()
    };
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        let (line, seeded) = joined.expect("scan task panicked");
        done += 1;
        progress(done, total);
        if line.region.is_none() && opts.region.is_some() && line.error.is_none() {
            // Filtered out by region: not part of the report.
            continue;
        }
        summary.buckets += 1;
        summary.seeded += usize::from(seeded);
        if line.error.is_some() {
            summary.errors += 1;
        }
        if line.exposed {
            summary.exposed += 1;
            summary.exposed_exempt += usize::from(line.exempt);
        }
        match line.action.as_deref() {
            Some("remediated") => summary.remediated += 1,
            Some("failed") => summary.remediation_failed += 1,
            _ => {}
        }
        report(&line);
    }
    summary.seconds = start.elapsed().as_secs_f64();
    summary.buckets_per_second = summary.buckets as f64 / summary.seconds.max(1e-9);
    summary.max_requests_in_flight = shared.max_in_flight.load(Ordering::Relaxed);
    Ok(summary)
}

/// Counts requests in flight for the summary (`REQUESTS_PER_BUCKET` per bucket being read).
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(s: &'a Shared) -> InFlight<'a> {
        let now = s
            .in_flight
            .fetch_add(REQUESTS_PER_BUCKET, Ordering::Relaxed)
            + REQUESTS_PER_BUCKET;
        s.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(s)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(REQUESTS_PER_BUCKET, Ordering::Relaxed);
    }
}

/// One bucket: read, judge, optionally seed and remediate. Never fails the scan: a bucket that
/// cannot be read is a line with `error`.
async fn scan_one(s: &Shared, bucket: String) -> (BucketReport, bool) {
    let mut line = BucketReport {
        bucket: bucket.clone(),
        region: None,
        exposed: false,
        reasons: Vec::new(),
        exempt: false,
        action: None,
        error: None,
    };
    if let Some(want) = &s.opts.region {
        match s3_read::bucket_region(&s.clients, &bucket).await {
            Ok(r) if &r == want => line.region = Some(r),
            Ok(_) => return (line, false),
            Err(e) => {
                line.error = Some(e.to_string());
                return (line, false);
            }
        }
    }
    let at = jiff::Timestamp::now().as_millisecond();
    let (live, tags) = {
        let _counted = InFlight::enter(s);
        tokio::join!(
            s3_read::read_bucket(&s.clients, &bucket, &s.account, at, Default::default()),
            s3_read::bucket_tags(&s.clients, &bucket)
        )
    };
    let (mut live, tags) = match (live, tags) {
        (Ok(l), Ok(t)) => (l, t),
        (Err(e), _) | (_, Err(e)) => {
            line.error = Some(if e.is(Kind::NotFound) {
                "deleted while scanning".to_owned()
            } else {
                e.to_string()
            });
            return (line, false);
        }
    };
    line.exposed = live.exposure.public;
    line.reasons = live.exposure.reasons.clone();
    line.exempt = s.decider.is_exempt(Some(&bucket), &tags);
    let mut seeded = false;
    if s.opts.seed_state {
        live.state.tags = Some(Stamped {
            value: tags.clone(),
            at,
        });
        live.state.region = line.region.clone().unwrap_or_default();
        seeded = match s.store.load_bucket(&bucket).await {
            Ok(current) => {
                let mut state = live.state.clone();
                let expected = current.as_ref().map_or(0, |c| c.version);
                if let Some(c) = current {
                    // Newer components win either way: the stream may have moved on meanwhile.
                    state.merge_from(&c.value);
                }
                s.store.save_bucket(&bucket, &state, expected).await.is_ok()
            }
            Err(_) => false,
        };
    }
    if s.opts.remediate && line.exposed {
        line.action = Some(remediate(s, &bucket, &line).await);
    }
    (line, seeded)
}

async fn remediate(s: &Shared, bucket: &str, line: &BucketReport) -> String {
    let now = now_rfc3339();
    let dry_run = s.decider.dry_run();
    let fx = found::Effects {
        incidents: &s.incidents,
        alerter: s.alerter.as_ref(),
        remediator: &s.remediator,
    };
    let f = found::Found {
        bucket,
        account: &s.account,
        region: line.region.as_deref().unwrap_or_default(),
        reasons: &line.reasons,
        alert_only: line.exempt || dry_run,
        source: "scan",
        worker: &s.opts.operator,
        now: &now,
    };
    match found::act(&fx, &f).await {
        found::Outcome::Alerted if dry_run && !line.exempt => "dry-run".to_owned(),
        o => o.as_str().to_owned(),
    }
}

/// The human table: exposed buckets first, then the rest, by name.
pub fn render_table(lines: &[BucketReport]) -> String {
    let mut sorted: Vec<&BucketReport> = lines.iter().collect();
    sorted.sort_by(|a, b| b.exposed.cmp(&a.exposed).then(a.bucket.cmp(&b.bucket)));
    let width = sorted
        .iter()
        .map(|l| l.bucket.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = format!(
        "{:<width$}  {:<7}  {:<6}  {:<10}  REASONS\n",
        "BUCKET", "EXPOSED", "EXEMPT", "ACTION"
    );
    for l in sorted {
        let reasons = match &l.error {
            Some(e) => format!("error: {e}"),
            None => l.reasons.join(", "),
        };
        out.push_str(&format!(
            "{:<width$}  {:<7}  {:<6}  {:<10}  {}\n",
            l.bucket,
            if l.error.is_some() {
                "?"
            } else if l.exposed {
                "yes"
            } else {
                "no"
            },
            if l.exempt { "yes" } else { "no" },
            l.action.as_deref().unwrap_or("-"),
            reasons
        ));
    }
    out
}

pub fn render_summary(s: &Summary) -> String {
    format!(
        "scanned {} buckets of account {} in {:.1} s ({:.0} buckets/s, up to {} requests in flight)\n  exposed {} ({} exempt), unreadable {}, remediated {}, remediation failed {}, seeded {}\n",
        s.buckets,
        s.account,
        s.seconds,
        s.buckets_per_second,
        s.max_requests_in_flight,
        s.exposed,
        s.exposed_exempt,
        s.errors,
        s.remediated,
        s.remediation_failed,
        s.seeded
    )
}

/// How long to wait between progress redraws.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::*;

    fn line(bucket: &str, exposed: bool) -> BucketReport {
        BucketReport {
            bucket: bucket.into(),
            region: None,
            exposed,
            reasons: if exposed {
                vec!["acl:AllUsers:READ".into()]
            } else {
                vec![]
            },
            exempt: false,
            action: None,
            error: None,
        }
    }

    #[test]
    fn the_table_lists_exposed_buckets_first_with_their_reasons() {
        let mut err = line("c-broken", false);
        err.error = Some("AccessDenied".into());
        let t = render_table(&[line("a-private", false), line("b-public", true), err]);
        let rows: Vec<&str> = t.lines().collect();
        assert!(rows[0].starts_with("BUCKET"));
        assert!(rows[1].starts_with("b-public") && rows[1].contains("acl:AllUsers:READ"));
        assert!(rows[2].starts_with("a-private"));
        assert!(rows[3].contains("error: AccessDenied") && rows[3].contains(" ? "));
    }

    #[test]
    fn json_lines_omit_absent_action_and_error() {
        let v = serde_json::to_value(line("b", true)).unwrap();
        assert!(v.get("action").is_none() && v.get("error").is_none());
        assert_eq!(v["reasons"][0], "acl:AllUsers:READ");
    }
}
