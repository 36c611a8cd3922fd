//! One module per command other than `run` (the worker): each is a thin shape around `core` and
//! `aws`. Must not judge exposure or decide actions itself — that is `core`'s.

pub mod check;
pub mod doctor;
pub mod found;
pub mod init;
pub mod reconcile;
pub mod replay;
pub mod scan;
