//! The pure core: parse → fold → exposure → decision → transcript. Owns every judgement the
//! product makes; must not touch tokio, the AWS SDK, the network or a clock (callers pass time in).

pub mod acl;
pub mod change;
pub mod decision;
pub mod exposure;
pub mod fold;
pub mod input;
pub mod lanes;
pub mod pipeline;
pub mod policy;
pub mod record;
pub mod time;
pub mod trail_event;
pub mod transcript;
