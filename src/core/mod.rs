//! The pure core: parse → fold → exposure → decision → transcript, and the fleet's lease plan.
//! Owns every judgement the product makes; must not touch tokio, the AWS SDK, the network or a
//! clock (callers pass time in).

pub mod accounts;
pub mod acl;
pub mod archive;
pub mod change;
pub mod decision;
pub mod event_name;
pub mod exemption;
pub mod exposure;
pub mod fold;
pub mod iac;
pub mod input;
pub mod lanes;
pub mod lease;
pub mod loose;
pub mod merge;
pub mod pipeline;
pub mod plan;
pub mod policy;
pub mod quote;
pub mod record;
pub mod skim;
pub mod time;
pub mod trail_event;
pub mod transcript;

#[cfg(test)]
mod exposure_aws_tests;
