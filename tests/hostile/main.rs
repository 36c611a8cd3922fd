//! The hostile suite (issue #26, "never stall, never silent"): on moto with a one-shard stream, so
//! every case shares the shard, each hostile input goes first and an ordinary bucket made public
//! with an ACL follows it. In every case the ordinary bucket must be locked down within 60 s and the
//! hostile one must get an incident: nothing stalls, nothing is silent. One room per concern; each
//! room owns its cases and set-up.

#[path = "../support/mod.rs"]
mod support;

/// SNS answering 500 for minutes: remediation goes on, each alert delivered once afterwards.
mod alerts;
/// Poison records (large malformed, large refused values) and empty pages before data on a
/// closed parent shard.
mod poison;
/// Verification reads refused (403) or slow for one bucket; DynamoDB throttling every call.
mod reads;
/// One bucket with thousands of object writes carrying ACL headers (bounded state).
mod state;
