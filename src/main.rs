//! The `bucketwarden` command: argument parsing and wiring only; every capability lives in the
//! library.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use bucketwarden::config::Config;
use bucketwarden::replay;

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
    /// Replay captured CloudTrail logs and write the decision transcript.
    #[command(
        long_about = "Replay captured CloudTrail logs through the same fold and decisions the live \
consumer uses, and write the decision transcript: one JSON object per line, one line per applied \
watched S3 event and affected bucket or object (schemas/transcript-line.schema.json).\n\n\
Accepted input, detected per file: CloudTrail log files {\"Records\":[...]} (plain or gzip, as S3 \
delivers them), EventBridge events, bare CloudTrail records, JSON Lines or JSON arrays of either. \
A directory is read recursively in file-name order. Malformed records are reported with file and \
position and counted; the rest is processed.\n\n\
Exit status: 0 when every path was read (malformed records included), 1 when a path cannot be \
read, 2 on a usage error.",
        after_help = "Examples:\n  \
bucketwarden replay replay-fixtures/\n  \
bucketwarden replay --config bucketwarden.toml --out decisions.jsonl s3-logs/AWSLogs/\n  \
bucketwarden replay --dry-run 2024-05-01.json.gz | jq 'select(.transition==\"became_public\")'"
    )]
    Replay(ReplayArgs),
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
    /// CloudTrail log files or directories (read recursively in file-name order)
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay(args) => run_replay(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run_replay(args: ReplayArgs) -> anyhow::Result<u8> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let opts = replay::Options {
        paths: args.paths,
        config,
        dry_run: args.dry_run,
        progress: !args.no_progress && replay::progress_wanted(),
    };
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::with_capacity(
            1 << 16,
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout().lock())),
    };
    let mut err = std::io::stderr().lock();
    let summary = replay::run(&opts, &mut out, &mut err)?;
    drop(out);
    eprint!("{}", replay::render_summary(&summary));
    Ok(summary.exit_code() as u8)
}
