//! The `bucketwarden` command: argument parsing and wiring only; every capability lives in the
//! library.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use bucketwarden::commands::replay;
use bucketwarden::config::Config;

#[derive(Parser)]
#[command(
    name = "bucketwarden",
    version,
    about = "Always-on S3 public-access guardrail",
    long_about = "bucketwarden watches CloudTrail S3 events, keeps per-bucket state and decides when a \
bucket or object becomes public, following AWS's own rules. `replay` runs the same pipeline over \
captured CloudTrail logs so rule changes can be tested on recorded history."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay captured CloudTrail logs (local files or an S3 archive) and write the decision transcript.
    #[command(
        long_about = "Replay captured CloudTrail logs through the same fold and decisions the live \
consumer uses, and write the decision transcript: one JSON object per line, one line per applied \
watched S3 event and affected bucket or object (schemas/transcript-line.schema.json).\n\n\
Accepted input, detected per file: CloudTrail log files {\"Records\":[...]} (plain or gzip, as S3 \
delivers them), EventBridge events, bare CloudTrail records, JSON Lines or JSON arrays of either. \
A directory is read recursively in file-name order. Malformed records are reported with file and \
position and counted; the rest is processed.\n\n\
A CloudTrail log file is known by its name, ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_ID.json.gz, \
wherever it lies: in CloudTrail's layout AWSLogs/[o-org/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/, in \
one flat directory or spread over any, in S3 (s3://BUCKET/PREFIX/, streamed object by object with \
the standard AWS credentials; AWS_ENDPOINT_URL for an emulator) or locally. Log files are \
replayed in event-time order across accounts and regions: files by the delivery time in their \
names, events by eventTime within --reorder-minutes (ties by file name, then position), so the \
transcript does not depend on how the files are spread over prefixes or directories, nor on \
--jobs. Files whose names are not CloudTrail's are read first, in path order, as given. --since, \
--until, --accounts, --regions and --account-shard select log files by their names, and inside \
the layout prune the listing (only the selected accounts, regions and days are listed); with any \
of them, files whose names are not CloudTrail's are left out.\n\n\
Exit status: 0 when every path was read (malformed records included), 1 when a path or object \
cannot be read or listed (reported with its key; the rest is replayed), 2 on a usage error.",
        after_help = "Examples:\n  \
bucketwarden replay replay-fixtures/\n  \
bucketwarden replay --config bucketwarden.toml --out decisions.jsonl s3-logs/AWSLogs/\n  \
bucketwarden replay --dry-run 2024-05-01.json.gz | jq 'select(.transition==\"became_public\")'\n  \
bucketwarden replay --metrics-out replay.prom --out /dev/null s3-logs/\n  \
bucketwarden replay s3://org-trail/AWSLogs/o-abc123/ --since 2024-05-01 --until 2024-05-07 --regions us-east-1,eu-west-1\n  \
bucketwarden replay s3://org-trail/ --accounts 111122223333 --since 2024-05-01T13:00:00Z --jobs 8\n  \
bucketwarden replay s3://org-trail/ --account-shard 0/4 --out shard-0.jsonl   # one of 4 machines"
    )]
    Replay(ReplayArgs),
    /// Run one live worker: consume the Kinesis stream and lock down what becomes public.
    #[command(
        long_about = "Run one worker of the fleet until SIGTERM or SIGINT. Workers share the stream's shards \
through leases in DynamoDB (KCL semantics): start as many as you like, anywhere, with the same config. \
Each event is claimed in the dedup table, folded into per-bucket state, and when a bucket or object \
becomes public the worker reads the live S3 settings, remediates (PublicAccessBlock fully on and a \
bucketwarden:remediated tag; object ACL reset to private), records an incident and publishes an SNS \
alert. On SIGTERM it finishes the batch, checkpoints and releases its leases.\n\n\
AWS credentials and region come from the standard chain; AWS_ENDPOINT_URL points every client at a \
local emulator.",
        after_help = "Examples:\n  \
bucketwarden run --config bucketwarden.toml\n  \
AWS_ENDPOINT_URL=http://127.0.0.1:5000 bucketwarden run --worker-id laptop-1 --metrics-addr 127.0.0.1:9464"
    )]
    Run(RunArgs),
    /// Create the stream, tables and topic a fleet needs (idempotent; for local development).
    #[command(
        after_help = "Example:\n  AWS_ENDPOINT_URL=http://127.0.0.1:5000 bucketwarden init --shards 4"
    )]
    Init(InitArgs),
    /// Local CloudTrail for development: proxy S3 calls to an emulator and put their events on the stream.
    #[command(
        name = "dev-trail",
        long_about = "A CloudTrail stand-in for a laptop. Listens on 127.0.0.1, forwards every S3 REST \
request unchanged to the emulator (--upstream, default AWS_ENDPOINT_URL), returns its response \
unchanged, and for each watched call (bucket ACL, policy, block, ownership, tags, website, \
create/delete bucket, object ACL and uploads with an ACL, S3 Control account block and access \
points) puts the EventBridge \"AWS API Call via CloudTrail\" event on the Kinesis stream with \
the bucket name as partition key, shaped as AWS shapes it: userIdentity from the request's access \
key, requestParameters with the canned ACL, grant headers and XML bodies converted as CloudTrail \
converts them, and errorCode/errorMessage when the call failed.\n\n\
Point the AWS CLI or an SDK at it instead of at the emulator. Path-style and virtual-host-style \
(<bucket>.localhost:PORT) requests both work; uploads stream through without being buffered. \
Events are put one at a time in completion order; if Kinesis is unavailable they wait and are \
retried, never dropped while the proxy runs. Not for production: on AWS, CloudTrail and an \
EventBridge rule (deploy/) do this.",
        after_help = "Examples:\n  \
AWS_ENDPOINT_URL=http://127.0.0.1:5000 bucketwarden dev-trail\n  \
aws --endpoint-url http://127.0.0.1:4567 s3api put-bucket-acl --bucket demo --acl public-read\n  \
bucketwarden dev-trail --listen 127.0.0.1:0 --upstream http://127.0.0.1:5000 --config bucketwarden.toml"
    )]
    DevTrail(DevTrailArgs),
    /// Inventory every bucket's exposure from live S3; optionally seed the fleet's state and remediate.
    #[command(
        long_about = "Read every bucket of the account from live S3 — PublicAccessBlock, ACL, policy, \
ownership controls, tags, and the account's block — with a bounded number of buckets in flight, \
judge each with the same exposure rules as the stream (AWS's meaning of \"public\"), and report \
exposed or not, the reasons, and whether the bucket is exempt. Event-driven detection starts \
blind: this finds what was public before the fleet started, or what an undelivered event hid.\n\n\
--seed-state writes what was read into the fleet's state table (newer components win, so a \
running fleet is not rolled back). --remediate applies the configured remediation to exposed, \
non-exempt buckets through the same remediator as the fleet, with incidents (event name \"Scan\") \
and alerts; exempt buckets and dry-run mode get an alert only.\n\n\
Exit status: 0 when no exposed, non-exempt bucket is left open; 4 when some are (so a pipeline can \
fail on it); 1 when the scan cannot run. Unreadable buckets are reported and counted, not fatal.\n\n\
--all-accounts scans the caller's account and every account of [accounts] allowed (with allowed = \
\"organization\", the organization's ACTIVE accounts from AWS Organizations' ListAccounts, which \
only the management account or a delegated administrator may call), assuming [accounts] \
role_name in each; an account that cannot be reached is reported and the others go on \
(exit status 1 when one could not be scanned and nothing exposed was left open elsewhere).",
        after_help = "Examples:\n  \
bucketwarden scan\n  \
bucketwarden scan --format jsonl | jq -c 'select(.exposed)'\n  \
bucketwarden scan --config bucketwarden.toml --seed-state --remediate --concurrency 32"
    )]
    Scan(ScanArgs),
    /// Check a deployment, read-only: trail, rule, stream, tables, topic, roles; a checklist with fixes.
    #[command(
        long_about = "Check a deployment, read-only, account by account, and print a checklist with \
what to fix for each failure. In the fleet's own account (the caller's): a trail is logging \
(cloudtrail:GetTrailStatus) and its selectors (GetEventSelectors, basic and advanced) record the \
S3 management events and the S3 data events object ACLs need; the forwarding rule (--rule, else \
every rule of the default bus targeting the stream) is enabled, its pattern matches every watched \
call of this version, and it targets the stream; the stream, the five tables and the topic exist \
with the keys the code uses, TTL on the dedup table, and encryption as deploy/bucketwarden.yaml \
sets it; the worker role (--worker-role) allows every IAM action the code calls. In a member \
account ([accounts] allowed, with --account-id or --all-accounts): the remediator role can be \
assumed and allows the S3 actions the code calls there, a trail, and the forwarding rule \
targeting the fleet account's event bus. The last canary's age is reported as not available: \
this version has no canary.\n\n\
Nothing is written. A read that is denied or fails is an UNKNOWN item with the AWS error; the \
other checks go on.\n\n\
Exit status: 0 when nothing failed (warnings and skipped checks included); 3 when a check \
failed (the deployment is broken: blind or unable to act somewhere); 4 when nothing failed but \
some check could not be read; 1 when doctor could not run (no credentials, an account outside \
[accounts] allowed); 2 on a usage error.",
        after_help = "Examples:\n  \
bucketwarden doctor --config bucketwarden.toml --worker-role bucketwarden-WorkerRole-ABC\n  \
bucketwarden doctor --all-accounts --format json | jq '.items[] | select(.status==\"fail\")'\n  \
bucketwarden doctor --account-id 111122223333 --rule my-stack-s3-exposure-calls"
    )]
    Doctor(DoctorArgs),
    /// Judge Terraform plans, CloudFormation templates and policy files before deploy, with the same rules.
    #[command(
        long_about = "Judge what a deploy would do to S3 before it runs, with the same fold, exposure \
rules and decider as the stream: every S3 resource is turned into the calls the deploy would make, \
folded, judged by AWS's meaning of \"public\" and decided with the config's exemptions (per-account \
ones with --account-id).\n\n\
Inputs, detected by content (a directory is read recursively, *.json, *.yaml, *.yml, *.template): \
Terraform plans as `terraform show -json plan.out` writes them (aws_s3_bucket with its older inline \
acl/policy, aws_s3_bucket_policy, _acl, _public_access_block, _ownership_controls, \
aws_s3_account_public_access_block, aws_s3_access_point, aws_s3control_access_point_policy, \
aws_s3_object with acl); CloudFormation templates in JSON or YAML, so CDK's cdk.out too \
(AWS::S3::Bucket, AWS::S3::BucketPolicy, AWS::S3::AccessPoint; Ref to a parameter default, \
Fn::Sub and Fn::Join resolved, other intrinsics unknown); a bare bucket policy, ACL or \
PublicAccessBlock document. New buckets get S3's defaults: BucketOwnerEnforced and every block \
flag on.\n\n\
Verdicts: public; unknown (a value the input cannot know yet — e.g. a policy built from another \
resource's output — could make it public: never assumed safe, the reason names the value); \
deploy-fails (S3 would refuse a call: a public policy under BlockPublicPolicy, a public ACL under \
BlockPublicAcls or with ACLs disabled); not-public. The account's block is unknown (assumed off, \
and said so) unless --account-block or --assume-account-block gives it.\n\n\
Exit status: 4 when something non-exempt would be public or unknown; 1 when an input could not be \
read (reported with its file and position; the rest is checked) and nothing failed; 2 on a usage \
error; 0 otherwise.",
        after_help = "Examples:\n  \
terraform plan -out plan.out && terraform show -json plan.out > plan.json\n  \
bucketwarden check plan.json\n  \
bucketwarden check --format sarif --assume-account-block on plan.json > check.sarif\n  \
bucketwarden check --config bucketwarden.toml --account-id 111122223333 cdk.out/\n  \
aws s3control get-public-access-block --account-id 111122223333 > account-block.json\n  \
bucketwarden check --account-block account-block.json template.yaml policies/*.json"
    )]
    Check(CheckArgs),
}

#[derive(Args)]
struct DoctorArgs {
    /// Config file: [names] (stream, tables, topic) and [accounts] (member role, allowed)
    #[arg(long, short = 'c', env = "BUCKETWARDEN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Report format: "table" (for people) or "json" (one document, for pipelines)
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
    /// Check only this account: the caller's, or a member of [accounts] allowed
    #[arg(long, conflicts_with = "all_accounts")]
    account_id: Option<String>,
    /// Check the caller's account and every account of [accounts] allowed
    #[arg(long)]
    all_accounts: bool,
    /// The forwarding rule in the fleet's account [default: every default-bus rule targeting the stream]
    #[arg(long, value_name = "NAME")]
    rule: Option<String>,
    /// The forwarding rule in a member account
    #[arg(long, value_name = "NAME", default_value = bucketwarden::commands::doctor::MEMBER_RULE)]
    member_rule: String,
    /// The worker role's name, to check its policies allow every action the code calls [default: not checked]
    #[arg(long, value_name = "NAME")]
    worker_role: Option<String>,
    /// The deployment logs no S3 data events on purpose (S3DataEvents=none): missing ones warn instead of failing
    #[arg(long)]
    no_data_events: bool,
}

#[derive(Args)]
struct CheckArgs {
    /// Config file: [exemptions] (buckets, tags, per-account)
    #[arg(long, short = 'c', env = "BUCKETWARDEN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Report format: "table" (for people), "json" (one document), "sarif" (SARIF 2.1.0, for code scanning)
    #[arg(long, default_value = "table", value_parser = ["table", "json", "sarif"])]
    format: String,
    /// The account's PublicAccessBlock, as `aws s3control get-public-access-block` prints it
    #[arg(long, value_name = "FILE", conflicts_with = "assume_account_block")]
    account_block: Option<PathBuf>,
    /// Assume the account's block all off or all on [default: unknown, judged as off and said so]
    #[arg(long, value_parser = ["off", "on"])]
    assume_account_block: Option<String>,
    /// The account deployed to, for [exemptions.accounts."ID"]
    #[arg(long, value_name = "ID")]
    account_id: Option<String>,
    /// Terraform plan JSON, CloudFormation templates, policy/ACL/block documents, or directories of them
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

#[derive(Args)]
struct ScanArgs {
    /// Config file: [exemptions], [remediation], [names] (state table, incidents, topic)
    #[arg(long, short = 'c', env = "BUCKETWARDEN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Report format: "table" (for people), "json" (one document), "jsonl" (a line per bucket, as it completes)
    #[arg(long, default_value = "table", value_parser = ["table", "json", "jsonl"])]
    format: String,
    /// Remediate exposed, non-exempt buckets (incidents and alerts included)
    #[arg(long)]
    remediate: bool,
    /// Write what was read into the state table, so the fleet starts from known state
    #[arg(long)]
    seed_state: bool,
    /// Buckets read at once (each issues 7 requests together)
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Only buckets in this region
    #[arg(long = "bucket-region", value_name = "REGION")]
    bucket_region: Option<String>,
    /// The account [default: the caller's, from STS GetCallerIdentity]
    #[arg(long, conflicts_with = "all_accounts")]
    account_id: Option<String>,
    /// Scan the caller's account and every account of [accounts] allowed (through the member role)
    #[arg(long)]
    all_accounts: bool,
    /// Also write the scan's counters in Prometheus text format
    #[arg(long, value_name = "FILE")]
    metrics_out: Option<PathBuf>,
    /// Do not draw progress on stderr (it is drawn only when stderr is a terminal anyway)
    #[arg(long)]
    no_progress: bool,
}

#[derive(Args)]
struct DevTrailArgs {
    /// Config file; [names] stream is where events go
    #[arg(long, short = 'c', env = "BUCKETWARDEN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the chosen address is printed)
    #[arg(
        long,
        env = "BUCKETWARDEN_DEV_TRAIL_LISTEN",
        default_value = "127.0.0.1:4567"
    )]
    listen: std::net::SocketAddr,
    /// The emulator's S3 endpoint [default: AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL]
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Stream to put events on [default: the config's [names] stream]
    #[arg(long)]
    stream: Option<String>,
    /// Account recorded when the access key does not name one (moto treats a 12-digit key as the account)
    #[arg(long, default_value = "123456789012")]
    account_id: String,
    /// Region recorded when the request is not signed [default: AWS_REGION, else us-east-1]
    #[arg(long)]
    region: Option<String>,
    /// Host suffix for virtual-host-style requests, <bucket>.<suffix>; repeatable
    #[arg(long = "vhost-suffix", default_value = "localhost")]
    vhost_suffixes: Vec<String>,
    /// Log format: "text" for people, "json" for log pipelines
    #[arg(long, env = "BUCKETWARDEN_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

#[derive(Args)]
struct RunArgs {
    /// Config file (TOML): [names], [fleet], [remediation], [exemptions], [dedup]; or the text in BUCKETWARDEN_CONFIG_TOML
    #[arg(long, short = 'c', env = "BUCKETWARDEN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// This worker's id in the lease table [default: <hostname>:<pid>]
    #[arg(long, env = "BUCKETWARDEN_WORKER_ID")]
    worker_id: Option<String>,
    /// Serve http://ADDR/metrics (Prometheus), /healthz (alive) and /readyz (holds a lease or is idle by design, renewals fresh); "none" to disable
    #[arg(
        long,
        env = "BUCKETWARDEN_METRICS_ADDR",
        default_value = "127.0.0.1:9464"
    )]
    metrics_addr: String,
    /// Only alert, never write to S3 (overrides [remediation] mode)
    #[arg(long)]
    dry_run: bool,
    /// Log format: "text" for people, "json" for log pipelines
    #[arg(long, env = "BUCKETWARDEN_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

#[derive(Args)]
struct InitArgs {
    /// Config file naming the stream, tables and topic (defaults otherwise)
    #[arg(long, short = 'c', env = "BUCKETWARDEN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Shards of a newly created stream
    #[arg(long, default_value_t = 4)]
    shards: i32,
}

#[derive(Args)]
struct ReplayArgs {
    /// Config file (TOML) with [exemptions], [remediation] and [dedup]; e.g. --config bucketwarden.toml
    #[arg(long, short = 'c', env = "BUCKETWARDEN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Write the transcript here instead of stdout; e.g. --out decisions.jsonl
    #[arg(long, short = 'o', value_name = "FILE")]
    out: Option<PathBuf>,
    /// Decide as in dry-run mode: a `became_public` gives action "alert", never "remediate"
    #[arg(long)]
    dry_run: bool,
    /// Do not draw progress on stderr (it is drawn only when stderr is a terminal anyway)
    #[arg(long)]
    no_progress: bool,
    /// Also write the run's counters in Prometheus text format, under the live metric names
    #[arg(long, value_name = "FILE")]
    metrics_out: Option<PathBuf>,
    /// Download/parse jobs [default: the number of available cores]; the transcript is the same for any value
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: Option<u16>,
    /// Only log files delivered at or after this UTC date or date-time; e.g. --since 2024-05-01 or 2024-05-01T13:00:00Z
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Only log files delivered at or before this UTC date (the whole day) or date-time; e.g. --until 2024-05-07
    #[arg(long, value_name = "WHEN")]
    until: Option<String>,
    /// Only these accounts (12-digit ids, comma-separated); e.g. --accounts 111122223333,444455556666
    #[arg(long, value_name = "IDS")]
    accounts: Option<String>,
    /// Only these regions (comma-separated); e.g. --regions us-east-1,eu-west-1
    #[arg(long, value_name = "REGIONS")]
    regions: Option<String>,
    /// Only accounts in shard I of N (FNV-1a 64 of the account id, mod N); run 0/N … N-1/N on N machines and concatenate
    #[arg(long, value_name = "I/N")]
    account_shard: Option<String>,
    /// Events delivered up to this many minutes after their eventTime are put in order
    #[arg(long, value_name = "MINUTES", default_value_t = 60)]
    reorder_minutes: u32,
    /// CloudTrail log files, directories (read recursively in file-name order) or s3://BUCKET/PREFIX/ archives
    #[arg(required = true, value_name = "PATH|S3URL")]
    paths: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay(args) => run_replay(args),
        Command::Run(args) => {
            // Only the live worker reads 10 MB GetRecords bodies; before any thread starts.
            bucketwarden::heap::keep_large_buffers();
            run_worker(args)
        }
        Command::Init(args) => run_init(args),
        Command::DevTrail(args) => run_dev_trail(args),
        Command::Scan(args) => run_scan(args),
        Command::Doctor(args) => run_doctor(args),
        Command::Check(args) => run_check(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `--config FILE` (or `BUCKETWARDEN_CONFIG`), else the text of `BUCKETWARDEN_CONFIG_TOML`,
/// else the defaults.
fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => match Config::from_env() {
            Some(c) => c?,
            None => Config::default(),
        },
    })
}

fn init_tracing(format: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("BUCKETWARDEN_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn")
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // The per-record future (claim, load, verify, remediate, record, alert) is deep; an
        // unoptimised build overflowed the default 2 MiB. The big steps are boxed too.
        .thread_stack_size(8 * 1024 * 1024)
        .build()?)
}

/// Cancels `token` on SIGTERM or SIGINT: the long-running commands then stop gracefully.
fn cancel_on_signal(token: tokio_util::sync::CancellationToken) {
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("signal received: stopping gracefully");
        token.cancel();
    });
}

fn run_worker(args: RunArgs) -> anyhow::Result<u8> {
    init_tracing(&args.log_format);
    let mut config = load_config(args.config.as_ref())?;
    if args.dry_run {
        config.remediation.mode = bucketwarden::config::Mode::DryRun;
    }
    let worker_id = args
        .worker_id
        .unwrap_or_else(bucketwarden::worker::default_worker_id);
    let settings = bucketwarden::worker::Settings::from_config(&config, worker_id);
    runtime()?.block_on(async move {
        // Bind first: a taken port is a start-up error, not a silent absence of metrics.
        let metrics = if args.metrics_addr == "none" {
            None
        } else {
            let addr: std::net::SocketAddr = args.metrics_addr.parse().with_context(|| {
                format!("--metrics-addr {:?} is not HOST:PORT", args.metrics_addr)
            })?;
            let listener = bucketwarden::observe::metrics::bind(addr)
                .await
                .with_context(|| format!("cannot serve metrics on {addr}"))?;
            let handle = bucketwarden::observe::metrics::install_recorder()
                .context("cannot install the metrics recorder")?;
            Some((addr, listener, handle))
        };
        let clients = bucketwarden::aws::Clients::from_env().await?;
        let worker = bucketwarden::worker::Worker::new(config, settings, clients).await?;
        if let Some((addr, listener, handle)) = metrics {
            tokio::spawn(bucketwarden::observe::metrics::serve(listener, handle, worker.health()));
            tracing::info!(%addr, "metrics at http://{addr}/metrics, health at /healthz and /readyz");
        }
        cancel_on_signal(worker.shutdown_token());
        worker.run().await?;
        Ok(0)
    })
}

fn run_init(args: InitArgs) -> anyhow::Result<u8> {
    let config = load_config(args.config.as_ref())?;
    runtime()?.block_on(async move {
        let clients = bucketwarden::aws::Clients::from_env().await?;
        let ttl = std::time::Duration::from_millis(config.dedup.window_ms() as u64);
        let report =
            bucketwarden::commands::init::init(&clients, &config.names, args.shards, ttl).await?;
        for line in report {
            println!("{line}");
        }
        Ok(0)
    })
}

fn run_dev_trail(args: DevTrailArgs) -> anyhow::Result<u8> {
    init_tracing(&args.log_format);
    let config = load_config(args.config.as_ref())?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let upstream = args
        .upstream
        .or_else(|| env("AWS_ENDPOINT_URL_S3"))
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .context(
            "dev-trail forwards to an emulator: pass --upstream URL or set AWS_ENDPOINT_URL",
        )?;
    let opts = bucketwarden::dev_trail::Options {
        listen: args.listen,
        upstream,
        stream: args.stream.unwrap_or(config.names.stream.clone()),
        vhost_suffixes: args.vhost_suffixes,
        account_id: args.account_id,
        region: args
            .region
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into()),
    };
    runtime()?.block_on(async move {
        let clients = bucketwarden::aws::Clients::from_env().await?;
        let stream = opts.stream.clone();
        let upstream = opts.upstream.clone();
        let default_account = opts.account_id.clone();
        let sdk = bucketwarden::aws::clients::load_config().await;
        let identities = std::sync::Arc::new(bucketwarden::dev_trail::identity::Identities::new(
            &sdk,
            &default_account,
        ));
        let proxy = bucketwarden::dev_trail::DevTrail::bind(opts)
            .await?
            .with_identities(identities);
        let addr = proxy.local_addr();
        println!("dev-trail listening on http://{addr} (S3 calls forwarded to {upstream}, events to stream {stream})");
        std::io::stdout().flush().ok();
        let token = tokio_util::sync::CancellationToken::new();
        cancel_on_signal(token.clone());
        let summary = proxy.run(clients.kinesis, token).await;
        eprintln!("{summary}");
        Ok(if summary.events_undelivered == 0 { 0 } else { 1 })
    })
}

fn run_doctor(args: DoctorArgs) -> anyhow::Result<u8> {
    use bucketwarden::commands::doctor;
    init_tracing("text");
    let config = load_config(args.config.as_ref())?;
    let opts = doctor::Options {
        account: args.account_id,
        all_accounts: args.all_accounts,
        rule: args.rule,
        member_rule: Some(args.member_rule),
        worker_role: args.worker_role,
        no_data_events: args.no_data_events,
    };
    runtime()?.block_on(async move {
        let sdk = bucketwarden::aws::load_config().await;
        let list = doctor::doctor(&sdk, &config, &opts).await?;
        let mut out = std::io::stdout().lock();
        match args.format.as_str() {
            "json" => writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doctor::report::json(&list.items))?
            )?,
            _ => write!(
                out,
                "{}",
                doctor::report::table(&list.items, Some(&list.own))
            )?,
        }
        out.flush()?;
        Ok(doctor::exit_code(&list.items))
    })
}

fn run_check(args: CheckArgs) -> anyhow::Result<u8> {
    use bucketwarden::commands::check;
    use bucketwarden::core::exposure::BlockConfig;
    let config = load_config(args.config.as_ref())?;
    let decider = bucketwarden::core::decision::Decider::from_config(&config, false)?;
    let block = match (&args.account_block, args.assume_account_block.as_deref()) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let doc: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", path.display()))?;
            Some(
                BlockConfig::from_request(&doc)
                    .with_context(|| format!("{}: not a PublicAccessBlock", path.display()))?,
            )
        }
        (None, Some("on")) => Some(BlockConfig::ALL_ON),
        (None, Some(_)) => Some(BlockConfig::ALL_OFF),
        (None, None) => None,
    };
    let account = bucketwarden::core::iac::Account {
        id: args.account_id.unwrap_or_default(),
        block,
    };
    let report = check::check(&args.paths, &account, &decider);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.format.as_str() {
        "json" => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        "sarif" => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&check::sarif(&report))?
        )?,
        _ => write!(out, "{}", check::table(&report))?,
    }
    out.flush()?;
    Ok(report.summary.exit_code())
}

fn run_scan(args: ScanArgs) -> anyhow::Result<u8> {
    init_tracing("text");
    let config = load_config(args.config.as_ref())?;
    let opts = bucketwarden::commands::scan::Options {
        concurrency: args.concurrency as usize,
        region: args.bucket_region.clone(),
        account: args.account_id.clone(),
        remediate: args.remediate,
        seed_state: args.seed_state,
        operator: format!("scan:{}", bucketwarden::worker::default_worker_id()),
    };
    if args.all_accounts {
        return run_scan_accounts(args, config, opts);
    }
    let progress = !args.no_progress && replay::progress_wanted();
    let format = args.format.clone();
    runtime()?.block_on(async move {
        let sdk = bucketwarden::aws::load_config().await;
        let clients = bucketwarden::aws::Clients::new(&sdk);
        let mut bar = ScanProgress::new(progress);
        let mut sink = ScanLines::new(&format);
        let summary = bucketwarden::commands::scan::scan(
            clients,
            config,
            opts,
            |done, total| bar.draw("buckets", done, total),
            |line| sink.take(line),
        )
        .await?;
        let ScanLines {
            mut out, mut lines, ..
        } = sink;
        match format.as_str() {
            "table" => write!(
                out,
                "{}",
                bucketwarden::commands::scan::render_table(&lines)
            )?,
            "json" => {
                lines.sort_by(|a, b| a.bucket.cmp(&b.bucket));
                let doc = serde_json::json!({"summary": summary, "buckets": lines});
                writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
            }
            _ => {}
        }
        out.flush()?;
        eprint!("{}", bucketwarden::commands::scan::render_summary(&summary));
        if let Some(path) = &args.metrics_out {
            std::fs::write(path, bucketwarden::commands::scan::render_metrics(&summary))
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        let open = summary.exposed - summary.exposed_exempt - summary.remediated;
        Ok(if open > 0 { 4 } else { 0 })
    })
}

/// The `scan` progress line on stderr: redrawn in place at most every `PROGRESS_EVERY`, and always
/// when `done` reaches `total` (then ended with a newline), so a fast scan does not flood stderr.
struct ScanProgress {
    on: bool,
    last_draw: std::time::Instant,
}

impl ScanProgress {
    fn new(on: bool) -> ScanProgress {
        ScanProgress {
            on,
            last_draw: std::time::Instant::now(),
        }
    }

    fn draw(&mut self, what: impl std::fmt::Display, done: usize, total: usize) {
        let due = done == total
            || self.last_draw.elapsed() >= bucketwarden::commands::scan::PROGRESS_EVERY;
        if self.on && due {
            self.last_draw = std::time::Instant::now();
            eprint!("\rscanning {what}: {done}/{total}");
            if done == total {
                eprintln!();
            }
        }
    }
}

/// Where `scan` puts each bucket's line: written to stdout at once as JSON Lines (`jsonl`), else
/// kept for the table or json report written after the scan.
struct ScanLines {
    jsonl: bool,
    out: std::io::StdoutLock<'static>,
    lines: Vec<bucketwarden::commands::scan::BucketReport>,
}

impl ScanLines {
    fn new(format: &str) -> ScanLines {
        ScanLines {
            jsonl: format == "jsonl",
            out: std::io::stdout().lock(),
            lines: Vec::new(),
        }
    }

    fn take(&mut self, line: &bucketwarden::commands::scan::BucketReport) {
        if self.jsonl {
            let _ = writeln!(
                self.out,
                "{}",
                serde_json::to_string(line).unwrap_or_default()
            );
        } else {
            self.lines.push(line.clone());
        }
    }
}

/// `scan --all-accounts`: the same report, account by account.
fn run_scan_accounts(
    args: ScanArgs,
    config: bucketwarden::config::Config,
    opts: bucketwarden::commands::scan::Options,
) -> anyhow::Result<u8> {
    use bucketwarden::commands::scan as sc;
    let progress = !args.no_progress && replay::progress_wanted();
    let format = args.format.clone();
    runtime()?.block_on(async move {
        let sdk = bucketwarden::aws::load_config().await;
        let clients = bucketwarden::aws::Clients::new(&sdk);
        let registry = bucketwarden::aws::accounts::Accounts::new(&sdk, &config.accounts).await?;
        let accounts = sc::all_accounts(&registry).await?;
        let mut bar = ScanProgress::new(progress);
        let mut sink = ScanLines::new(&format);
        let results = sc::scan_accounts(
            clients,
            &registry,
            &accounts,
            config,
            opts,
            |account, done, total| bar.draw(format_args!("account {account}"), done, total),
            |line| sink.take(line),
        )
        .await;
        let ScanLines {
            mut out, mut lines, ..
        } = sink;
        match format.as_str() {
            "table" => {
                for (account, _) in &results {
                    let mine: Vec<_> = lines
                        .iter()
                        .filter(|l| &l.account == account)
                        .cloned()
                        .collect();
                    if !mine.is_empty() {
                        write!(out, "account {account}\n{}\n", sc::render_table(&mine))?;
                    }
                }
            }
            "json" => {
                lines.sort_by(|a, b| (&a.account, &a.bucket).cmp(&(&b.account, &b.bucket)));
                let per_account: Vec<_> = results
                    .iter()
                    .map(|(account, r)| match r {
                        Ok(s) => serde_json::json!({"account": account, "summary": s}),
                        Err(e) => serde_json::json!({"account": account, "error": e.to_string()}),
                    })
                    .collect();
                let doc = serde_json::json!({"accounts": per_account, "buckets": lines});
                writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
            }
            _ => {}
        }
        out.flush()?;
        let mut summaries = Vec::new();
        let mut unreachable = 0;
        for (account, r) in &results {
            match r {
                Ok(s) => {
                    eprint!("{}", sc::render_summary(s));
                    summaries.push(s);
                }
                Err(e) => {
                    unreachable += 1;
                    eprintln!("account {account}: not scanned: {e}");
                }
            }
        }
        let total = sc::total(&summaries);
        if let Some(path) = &args.metrics_out {
            std::fs::write(path, sc::render_metrics(&total))
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        let open = total.exposed - total.exposed_exempt - total.remediated;
        Ok(if open > 0 {
            4
        } else if unreachable > 0 {
            1
        } else {
            0
        })
    })
}

fn run_replay(args: ReplayArgs) -> anyhow::Result<u8> {
    let config = load_config(args.config.as_ref())?;
    let filter = match bucketwarden::core::archive::Filter::parse(
        args.since.as_deref(),
        args.until.as_deref(),
        args.accounts.as_deref(),
        args.regions.as_deref(),
        args.account_shard.as_deref(),
    ) {
        Ok(f) => f,
        Err(e) => {
            // A usage error, like clap's own.
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let jobs = args.jobs.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let opts = replay::Options {
        dry_run: args.dry_run,
        progress: !args.no_progress && replay::progress_wanted(),
        jobs,
        filter,
        reorder_ms: i64::from(args.reorder_minutes) * 60_000,
        ..replay::Options::new(args.paths, config)
    };
    // Send: replay writes the transcript on a thread of its own.
    let mut out: Box<dyn Write + Send> = match &args.out {
        Some(path) => Box::new(BufWriter::with_capacity(
            1 << 16,
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout())),
    };
    let mut err = std::io::stderr().lock();
    let summary = replay::run(&opts, &mut out, &mut err)?;
    drop(out);
    eprint!("{}", replay::render_summary(&summary));
    if let Some(path) = &args.metrics_out {
        std::fs::write(path, replay::render_metrics(&summary.stats))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(summary.exit_code() as u8)
}
