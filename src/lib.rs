//! bucketwarden: an S3 public-access guardrail. CloudTrail events about S3 are folded into
//! per-bucket state, judged by AWS's own rules for "public", and — live — verified against S3,
//! remediated, recorded and alerted; `replay` runs the same pipeline over captured logs.
//!
//! # Layout
//!
//! The crate is a house of rooms; each room owns one concept and says in its `//!` line what it
//! must not do. Dependencies point inwards only: `commands` and `worker` use `aws` and `core`,
//! `aws` uses `core`, and `core` uses nothing with I/O.
//!
//! - [`core`] — the pure pipeline: input forms → typed records → changes → exposure → fold →
//!   decision → transcript. No tokio, no AWS SDK, no clock: time is passed in. Replay, the live
//!   worker, reconciliation and scan all decide through [`core::decision`]. The fleet's lease
//!   plan (which shards to take or steal) is here too, pure, with time passed in.
//! - [`aws`] — effects at the edge, one small type per table, stream or service: clients and
//!   retry hints, lease/dedup/state/incident tables, the alerter, Kinesis reads, S3 reads
//!   (verification) and S3 writes (remediation), the accounts the fleet acts in (assumed roles),
//!   the IAM permissions the code needs.
//! - [`worker`] — the live fleet member (`bucketwarden run`): leases, shard consumers, batches,
//!   state load/persist, acting on decisions, alerts. Orchestration only; judgement is `core`'s.
//! - [`commands`] — one module per other command: `replay`, `scan`, `check`, `doctor`, `init`,
//!   and the reconciler's pass, each a thin shape around `core` and `aws`.
//! - [`dev_trail`] — a loopback S3 proxy that turns a laptop's S3 calls into CloudTrail events.
//! - [`observe`] — metric names and emitters, health and readiness.
//! - [`config`] — the configuration file (serde, unknown keys rejected).
//! - [`clock`] — the wall clock, read at the edge only (never by `core`).
//! - [`heap`] — the process's malloc settings, set once by `main` (large buffers kept for reuse).
//!
//! The contracts these rooms implement (input forms, watched events, the meaning of public,
//! ordering, live mode, the fleet) are written down in `docs/DESIGN.md`.

pub mod aws;
pub mod clock;
pub mod commands;
pub mod config;
pub mod core;
pub mod dev_trail;
pub mod fuzz_entry;
pub mod heap;
pub mod observe;
pub mod worker;
