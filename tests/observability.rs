//! Observability (issue: metrics, health endpoints, dashboard, alert rules): a real worker's
//! `/metrics` linted by `promtool`, the rules checked by `promtool`, and every dashboard and rule
//! expression evaluated by a real Prometheus (Debian's package, installed by scripts/test.sh)
//! scraping that worker on 127.0.0.1.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bucketwarden::observe::metrics::{ALL, UNPANELLED};
use serde_json::{json, Value};
use support::*;

const LONG: Duration = Duration::from_secs(60);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{name} not found: scripts/test.sh installs Debian's prometheus package")
    })
}

fn dashboard() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(root().join("grafana/bucketwarden-dashboard.json")).unwrap(),
    )
    .unwrap()
}

/// Every PromQL expression of the dashboard, with the panel title.
fn dashboard_exprs(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            out.push((
                p["title"].as_str().unwrap().to_owned(),
                t["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

/// Alert name and expression of every rule in grafana/alerts.yml (a flat two-level YAML that
/// this reads line by line rather than pull in a YAML parser for tests).
fn rule_exprs() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("grafana/alerts.yml")).unwrap();
    let mut out = Vec::new();
    let mut alert = None;
    for line in text.lines() {
        let l = line.trim();
        if let Some(a) = l.strip_prefix("- alert: ") {
            alert = Some(a.to_owned());
        } else if let Some(e) = l.strip_prefix("expr: ") {
            out.push((alert.clone().expect("expr before alert"), e.to_owned()));
        }
    }
    out
}

fn metric_tokens(expr: &str) -> BTreeSet<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| t.starts_with("bucketwarden_"))
        .map(|t| {
            // Histogram series name their family.
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| t.strip_suffix(s).filter(|base| ALL.contains(base)))
                .unwrap_or(t)
                .to_owned()
        })
        .collect()
}

#[test]
fn alert_rules_and_the_example_prometheus_config_pass_promtool() {
    for args in [
        vec!["check", "rules", "grafana/alerts.yml"],
        vec!["check", "config", "grafana/prometheus.yml"],
    ] {
        let out = Command::new(tool("promtool"))
            .args(&args)
            .current_dir(root())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(rule_exprs().len() >= 6);
}

#[test]
fn every_metric_is_defined_once_and_shown_somewhere() {
    let d = dashboard();
    let mut used = BTreeSet::new();
    for (_, e) in dashboard_exprs(&d).iter().chain(rule_exprs().iter()) {
        used.extend(metric_tokens(e));
    }
    for v in d["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["definition"].as_str() {
            used.extend(metric_tokens(q));
        }
    }
    let unpanelled: Vec<&str> = UNPANELLED.iter().map(|(n, _)| *n).collect();
    let defined: BTreeSet<&str> = ALL
        .iter()
        .copied()
        .chain([bucketwarden::observe::metrics::BUILD_INFO])
        .collect();
    for name in &used {
        assert!(
            defined.contains(name.as_str()),
            "the dashboard or a rule uses {name}, which src/observe/metrics.rs does not define (a dead panel)"
        );
    }
    for name in &defined {
        assert!(
            used.contains(*name) || unpanelled.contains(name),
            "{name} is on no panel and no rule, and not listed in metrics::UNPANELLED"
        );
    }
}

/// The dashboard's Grafana variables, as Prometheus would see them for "All".
fn concrete(expr: &str) -> String {
    expr.replace("$instance", ".*")
        .replace("$__rate_interval", "30s")
}

struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(target_port: u16) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        let rules = root().join("grafana/alerts.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: bucketwarden\n    static_configs:\n      - targets: [\"127.0.0.1:{target_port}\"]\n",
                rules.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

fn get(url: &str) -> Option<(u16, String)> {
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", url])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.trim().parse().ok()?, body.to_owned()))
}

/// `/api/v1/query`: the parsed response, whatever its status.
fn query(prom: &Prometheus, expr: &str) -> Value {
    let out = Command::new("curl")
        .args(["-sS", "-G", &format!("{}/api/v1/query", prom.url)])
        .arg("--data-urlencode")
        .arg(format!("query={expr}"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(
        |_| json!({"status": "unparseable", "raw": String::from_utf8_lossy(&out.stdout)}),
    )
}

fn max_value(result: &Value) -> f64 {
    result["data"]["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|s| s["value"][1].as_str()?.parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max)
        })
        .unwrap_or(0.0)
}

fn promtool_check_metrics(text: &str) -> (bool, String) {
    let mut child = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn wait_query(prom: &Prometheus, what: &str, expr: &str, at_least: f64) {
    let mut last = Value::Null;
    let ok = tokio::time::timeout(LONG, async {
        loop {
            last = query(prom, expr);
            if last["status"] == "success" && max_value(&last) >= at_least {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await;
    assert!(
        ok.is_ok(),
        "timed out waiting for {what} ({expr} >= {at_least}): {last}\n{}",
        prom.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_evaluates_every_dashboard_and_rule_expression() {
    let f = Fleet::new("obs", 1, "").await;
    let port = free_port();
    let w = f.spawn_worker_with_metrics("w1", &[], Some(port));
    let base = format!("http://127.0.0.1:{port}");

    // Liveness at once; readiness once the worker holds the stream's one lease.
    wait_for("/healthz", LONG, || async {
        get(&format!("{base}/healthz")).is_some_and(|(c, _)| c == 200)
    })
    .await;
    wait_for("/readyz", LONG, || async {
        get(&format!("{base}/readyz")).is_some_and(|(c, b)| c == 200 && b.contains("1 leases"))
    })
    .await;
    assert_eq!(get(&format!("{base}/nope")).map(|(c, _)| c), Some(404));

    let prom = Prometheus::start(port);
    // Counters are exported at zero before anything happens, so the first remediation is an
    // increase Prometheus can see.
    wait_query(
        &prom,
        "the first scrape",
        r#"count(bucketwarden_remediations_total{outcome="remediated"} == 0)"#,
        1.0,
    )
    .await;

    let t = jiff::Timestamp::now().as_millisecond() - 30_000;
    let ts = |s: i64| bucketwarden::core::time::format_millis(t + s * 1000);
    let b = f.bucket("observed");
    f.make_public_bucket(&b).await;
    f.put_event(&b, &put_bucket_acl_public(&b, "ev-observed", &ts(0)))
        .await;
    f.put_raw(&b, b"{ not json".to_vec()).await;
    let mut other = eventbridge(
        "DescribeInstances",
        None,
        json!({"instancesSet": {}}),
        &ts(1),
        "ev-ec2",
    );
    other["detail"]["eventSource"] = json!("ec2.amazonaws.com");
    f.put_event(&b, &other).await;
    wait_for("the remediation", LONG, || async {
        f.block_of(&b).await == Some((true, true, true, true))
    })
    .await;

    let (_, metrics_text) = get(&format!("{base}/metrics")).unwrap();
    let (ok, lint) = promtool_check_metrics(&metrics_text);
    assert!(ok, "promtool check metrics:\n{lint}\n{metrics_text}");
    assert!(
        !metrics_text.contains(&b),
        "a bucket name leaked into a label"
    );

    wait_query(
        &prom,
        "the remediation in Prometheus",
        r#"sum(increase(bucketwarden_remediations_total{outcome="remediated"}[5m]))"#,
        0.5,
    )
    .await;

    // Every dashboard expression evaluates without error.
    let d = dashboard();
    for (title, expr) in dashboard_exprs(&d) {
        let r = query(&prom, &concrete(&expr));
        assert_eq!(r["status"], "success", "panel {title:?}: {expr}\n{r}");
    }
    // The panels that count remediations and events show data.
    let exprs = dashboard_exprs(&d);
    let panel = |title: &str| -> Vec<String> {
        exprs
            .iter()
            .filter(|(t, _)| t == title)
            .map(|(_, e)| concrete(e))
            .collect()
    };
    for (title, first_only) in [
        ("Remediated (24 h)", true),
        ("Became public (24 h)", true),
        ("Records received and events by outcome", true),
        ("Remediations and alerts by outcome", true),
        ("Watched events by name", true),
        ("Poison records (24 h)", true),
        ("Workers up", true),
    ] {
        let exprs = panel(title);
        assert!(!exprs.is_empty(), "no panel {title:?}");
        let targets = if first_only { &exprs[..1] } else { &exprs[..] };
        for e in targets {
            let r = query(&prom, e);
            assert!(
                max_value(&r) > 0.0,
                "panel {title:?} shows no data: {e}\n{r}"
            );
        }
    }
    // The instance variable lists this worker.
    let (_, labels) = get(&format!(
        "{}/api/v1/label/instance/values?match[]=bucketwarden_build_info",
        prom.url
    ))
    .unwrap();
    assert!(labels.contains(&format!("127.0.0.1:{port}")), "{labels}");

    // Every alert rule evaluates without error, through the query API and as a loaded rule.
    for (alert, expr) in rule_exprs() {
        let r = query(&prom, &expr);
        assert_eq!(r["status"], "success", "rule {alert}: {expr}\n{r}");
    }
    let mut rules_seen = 0;
    for _ in 0..50 {
        let (_, body) = get(&format!("{}/api/v1/rules", prom.url)).unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        let rules: Vec<&Value> = v["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap())
            .collect();
        rules_seen = rules.len();
        let evaluated = rules.iter().all(|r| {
            r["lastEvaluation"]
                .as_str()
                .is_some_and(|t| !t.starts_with("0001"))
        });
        if evaluated {
            for r in &rules {
                assert_eq!(
                    r["health"], "ok",
                    "rule {} failed: {}",
                    r["name"], r["lastError"]
                );
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(rules_seen, rule_exprs().len());

    // The poison-record alert fires on what just happened; the others stay quiet.
    wait_query(
        &prom,
        "the poison-record alert",
        r#"count(ALERTS{alertname="BucketwardenPoisonRecords"})"#,
        1.0,
    )
    .await;
    let firing = query(&prom, "ALERTS");
    let names: BTreeSet<String> = firing["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["metric"]["alertname"].as_str().unwrap().to_owned())
        .collect();
    for quiet in [
        "BucketwardenRemediationFailed",
        "BucketwardenUnleasedShards",
        "BucketwardenWorkerDown",
        "BucketwardenNoWorkers",
    ] {
        assert!(!names.contains(quiet), "{quiet} fired: {firing}");
    }
    drop(w);
}

#[test]
fn replay_metrics_out_writes_the_live_counter_names_in_prometheus_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("replay.prom");
    let status = Command::new(env!("CARGO_BIN_EXE_bucketwarden"))
        .args(["replay", "--no-progress", "--out"])
        .arg(dir.path().join("t.jsonl"))
        .arg("--metrics-out")
        .arg(&out)
        .arg(root().join("replay-fixtures"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    let (ok, lint) = promtool_check_metrics(&text);
    assert!(ok, "promtool check metrics:\n{lint}\n{text}");
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert!(value("bucketwarden_records_received_total ") > 0.0);
    assert!(value("bucketwarden_transitions_total{transition=\"became_public\"} ") > 0.0);
    assert!(value("bucketwarden_decisions_total{action=\"remediate\"} ") > 0.0);
    // Transcript and counters agree.
    let transcript = std::fs::read_to_string(dir.path().join("t.jsonl")).unwrap();
    let became = transcript
        .lines()
        .filter(|l| l.contains("\"transition\":\"became_public\""))
        .count();
    assert_eq!(
        value("bucketwarden_transitions_total{transition=\"became_public\"} "),
        became as f64
    );
    let names = metric_tokens(&text);
    for n in &names {
        assert!(ALL.contains(&n.as_str()), "{n} is not a live metric name");
    }
}

/// docs/DESIGN.md §8: every series a panel or a rule reads exists from the first scrape of a
/// fresh worker, before any event, so no panel says "No data" and `increase()`/`rate()` see the
/// first occurrence. (Prometheus's instrumentation guidance: "export 0 for known label values".)
/// Only `metrics::ABSENT_UNTIL_FIRST` is exempt, each with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_and_rule_series_exists_before_any_event() {
    use bucketwarden::observe::metrics::ABSENT_UNTIL_FIRST;
    let f = Fleet::new("fresh", 1, "").await;
    let port = free_port();
    let w = f.spawn_worker_with_metrics("w1", &[], Some(port));
    let base = format!("http://127.0.0.1:{port}");
    wait_for("/readyz", LONG, || async {
        get(&format!("{base}/readyz")).is_some_and(|(c, b)| c == 200 && b.contains("1 leases"))
    })
    .await;
    let prom = Prometheus::start(port);

    let mut used = BTreeSet::new();
    for (_, e) in dashboard_exprs(&dashboard())
        .iter()
        .chain(rule_exprs().iter())
    {
        used.extend(metric_tokens(e));
    }
    let exempt: Vec<&str> = ABSENT_UNTIL_FIRST.iter().map(|(n, _)| *n).collect();
    let wanted: Vec<String> = used
        .into_iter()
        .filter(|n| !exempt.contains(&n.as_str()))
        .collect();
    assert!(wanted.len() >= 30, "{wanted:?}");

    // What Prometheus has scraped, by metric name (a histogram as its family).
    let scraped = || -> BTreeSet<String> {
        let Some((_, body)) = get(&format!("{}/api/v1/label/__name__/values", prom.url)) else {
            return BTreeSet::new();
        };
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        v["data"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n.as_str()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .flat_map(metric_tokens)
            .collect()
    };
    let mut missing = wanted.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !missing.is_empty() && std::time::Instant::now() < deadline {
        let have = scraped();
        missing.retain(|n| !have.contains(n));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (_, metrics_text) = get(&format!("{base}/metrics")).unwrap();
    assert!(
        missing.is_empty(),
        "before any event, Prometheus has no series of {missing:?}\n{metrics_text}"
    );
    // Nothing has happened: the zeros are zeros, and no histogram holds an observation.
    let r = query(&prom, "sum(bucketwarden_records_received_total)");
    assert_eq!(max_value(&r), 0.0, "{r}");
    let r = query(&prom, "sum(bucketwarden_decision_latency_seconds_count)");
    assert_eq!(r["status"], "success", "{r}");
    assert_eq!(max_value(&r), 0.0, "{r}");
    assert_eq!(
        r["data"]["result"].as_array().map(Vec::len),
        Some(1),
        "the empty histogram is a series: {r}"
    );
    drop(w);
}
