//! bucketwarden: an S3 public-access guardrail. The pure core (input scanning, record parsing, typed
//! changes, exposure, fold, decision) lives here with no tokio, AWS SDK or clock; effects live in
//! the binary's edge modules.

pub mod acl;
pub mod change;
pub mod config;
pub mod decision;
pub mod exposure;
pub mod fold;
pub mod input;
pub mod pipeline;
pub mod policy;
pub mod record;
pub mod replay;
pub mod time;
pub mod transcript;
