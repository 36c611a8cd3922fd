//! Effects at the edge: every AWS call the product makes goes through a small type in this room.
//! Owns clients, error classification and retries, and the tables, stream, topic and S3 reads and
//! writes; must not decide anything — judgements come from `core`.

pub mod accounts;
pub mod alerter;
pub mod backoff;
pub mod clients;
pub mod dead_letters;
pub mod dedup_table;
pub mod error;
pub mod faults;
pub mod fleet_read;
pub mod iam_read;
pub mod incident;
pub mod kinesis;
pub mod kinesis_json;
pub mod lease_table;
pub mod organization;
pub mod permissions;
pub mod rule_read;
pub mod s3_archive;
pub mod s3_fix;
pub mod s3_read;
pub mod state_store;
pub mod table;
pub mod trail_read;
pub mod transact;

pub use clients::{load_config, Clients};
