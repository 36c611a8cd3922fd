//! `bucketwarden scan`: every bucket of the account read live (block, ACL, policy, ownership,
//! tags and the account block) with a bounded number of buckets in flight, judged by the same
//! exposure code as the stream, reported, and optionally written to the state table and
//! remediated; with `--all-accounts`, the same in every account of `[accounts] allowed` (or the
//! organization's, listed) through the member role. Owns the inventory loop; it must not judge
//! exposure itself (`verify`, `fold`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::aws::accounts::{AccountError, Accounts};
use crate::aws::alerter::Alerter;
use crate::aws::error::{AwsError, Kind};
use crate::aws::incident::IncidentTable;
use crate::aws::s3_fix::S3Remediator;
use crate::aws::s3_read;
use crate::aws::state_store::StateStore;
use crate::aws::Clients;
use crate::clock::now_rfc3339;
use crate::commands::found;
use crate::config::Config;
use crate::core::decision::{Decider, Exemption, Rule, Situation, Source, Trigger};
use crate::core::fold::TagState;
use crate::observe::metrics as m;

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
    pub account: String,
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
    #[error(transparent)]
    Account(Box<AccountError>),
    /// `allowed = "organization"` and the organization's accounts could not be listed.
    #[error(transparent)]
    Organization(#[from] crate::aws::organization::ListError),
}

impl From<AccountError> for ScanError {
    fn from(e: AccountError) -> ScanError {
        ScanError::Account(Box::new(e))
    }
}

impl ScanError {
    pub fn retryable(&self) -> bool {
        match self {
            ScanError::Aws(e) => e.retryable(),
            ScanError::Pattern(_) => false,
            ScanError::Organization(e) => e.retryable(),
            ScanError::Account(e) => e.retryable(),
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
        decider: Decider::from_config(&config, false)?,
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

/// Every account `scan --all-accounts` covers: the caller's own, then `[accounts] allowed` — under
/// `"organization"` the organization's ACTIVE accounts, listed now (a refused listing is the
/// scan's error: there is no last good list to fall back on in a one-off command).
pub async fn all_accounts(accounts: &Accounts) -> Result<Vec<String>, ScanError> {
    accounts.refresh_organization(true).await?;
    let own = accounts.own_account().to_owned();
    Ok(std::iter::once(own).chain(accounts.members()).collect())
}

/// [`scan`] in each of `accounts` in turn: the own account with `base`, a member with its
/// assumed role's S3 clients (tables, incidents and alerts stay the fleet's). An account that
/// cannot be reached is its own result, and the others go on.
pub async fn scan_accounts(
    base: Clients,
    registry: &Accounts,
    accounts: &[String],
    config: Config,
    opts: Options,
    mut progress: impl FnMut(&str, usize, usize),
    mut report: impl FnMut(&BucketReport),
) -> Vec<(String, Result<Summary, ScanError>)> {
    let region = base
        .s3
        .config()
        .region()
        .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
    let mut out = Vec::new();
    for account in accounts {
        let clients = match registry.s3_for(account, &region).await {
            Ok(c) => c.over(&base),
            Err(e) => {
                out.push((account.clone(), Err(e.into())));
                continue;
            }
        };
        let opts = Options {
            account: Some(account.clone()),
            ..opts.clone()
        };
        let r = scan(
            clients,
            config.clone(),
            opts,
            |done, total| progress(account, done, total),
            &mut report,
        )
        .await;
        out.push((account.clone(), r));
    }
    out
}

/// The sum of several accounts' summaries (for `--metrics-out` over accounts): counts add up,
/// the rate is recomputed, the peak in flight is the largest.
pub fn total(summaries: &[&Summary]) -> Summary {
    let mut t = Summary {
        account: "all".into(),
        ..Summary::default()
    };
    for s in summaries {
        t.buckets += s.buckets;
        t.exposed += s.exposed;
        t.exposed_exempt += s.exposed_exempt;
        t.errors += s.errors;
        t.remediated += s.remediated;
        t.remediation_failed += s.remediation_failed;
        t.seeded += s.seeded;
        t.seconds += s.seconds;
        t.max_requests_in_flight = t.max_requests_in_flight.max(s.max_requests_in_flight);
    }
    t.buckets_per_second = t.buckets as f64 / t.seconds.max(1e-9);
    t
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
        account: s.account.clone(),
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
    let at = crate::clock::now_ms();
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
    let mut setter: Option<String> = None;
    let mut exemption = s
        .decider
        .exemption(Some(&s.account), Some(&bucket), &tags, None);
    if exemption == (Exemption::UnauthorisedTag { setter: None }) {
        // A live read does not say who set the tags; the fleet's state may know.
        if let Ok(Some(known)) = s.store.load_bucket(&bucket).await {
            setter = known.value.setter_of(&tags).map(str::to_owned);
            exemption =
                s.decider
                    .exemption(Some(&s.account), Some(&bucket), &tags, setter.as_deref());
        }
    }
    line.exempt = exemption.exempt();
    if line.exposed {
        line.reasons.extend(exemption.reasons());
    }
    let mut seeded = false;
    if s.opts.seed_state {
        live.state.tags = Some(TagState::new(tags.clone(), at, None));
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
        line.action = Some(act(s, &bucket, &tags, setter.as_deref(), &line).await);
    }
    (line, seeded)
}

/// Acts on an exposed bucket as the decider says; the report's action label.
async fn act(
    s: &Shared,
    bucket: &str,
    tags: &[(String, String)],
    tags_set_by: Option<&str>,
    line: &BucketReport,
) -> String {
    // An operator's one-off scan knows nothing of what the stream alerted on: every exposure it
    // finds is new to it.
    let decision = s.decider.decide(&Situation {
        trigger: Trigger::FoundExposed {
            known_public: false,
        },
        account: Some(&s.account),
        bucket: Some(bucket),
        tags,
        tags_set_by,
        actor: None,
        source: Source::Scan,
    });
    let now = now_rfc3339();
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
        decision,
        source: Source::Scan,
        worker: &s.opts.operator,
        now: &now,
    };
    match found::act(&fx, &f).await {
        found::Outcome::Alerted if decision.rule == Rule::DryRun => "dry-run".to_owned(),
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

/// A scan's counters in Prometheus text format (`scan --metrics-out`).
pub fn render_metrics(s: &Summary) -> String {
    format!(
        "# HELP {b} Buckets read by the scan\n# TYPE {b} counter\n{b} {}\n\
# HELP {e} Exposed buckets found, by exemption\n# TYPE {e} counter\n{e}{{exempt=\"false\"}} {}\n{e}{{exempt=\"true\"}} {}\n\
# HELP {r} Buckets that could not be read\n# TYPE {r} counter\n{r} {}\n\
# HELP {d} How long the scan took\n# TYPE {d} gauge\n{d} {}\n",
        s.buckets,
        s.exposed - s.exposed_exempt,
        s.exposed_exempt,
        s.errors,
        s.seconds,
        b = m::SCAN_BUCKETS,
        e = m::SCAN_EXPOSED,
        r = m::SCAN_ERRORS,
        d = m::SCAN_DURATION,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(bucket: &str, exposed: bool) -> BucketReport {
        BucketReport {
            account: "111122223333".into(),
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
