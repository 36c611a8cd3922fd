//! bucketwarden: an S3 public-access guardrail. The pure core (input scanning, record parsing, typed
//! changes, exposure, fold, decision) lives here with no tokio, AWS SDK or clock; effects live in
//! the binary's edge modules.

pub mod acl;
pub mod aws;
pub mod aws_error;
pub mod backoff;
pub mod change;
pub mod config;
pub mod decision;
pub mod dedup;
pub mod dev_trail;
pub mod exposure;
pub mod faults;
pub mod fold;
pub mod found;
pub mod fuzz_entry;
pub mod health;
pub mod incident;
pub mod init;
pub mod input;
pub mod kinesis_source;
pub mod lease;
pub mod lease_table;
pub mod metrics;
pub mod permissions;
pub mod pipeline;
pub mod policy;
pub mod reconcile;
pub mod record;
pub mod remediate;
pub mod replay;
pub mod scan;
pub mod store;
pub mod time;
pub mod trail_event;
pub mod transcript;
pub mod verify;
pub mod worker;
