//! Observability: metric names and emitters, health and readiness. Must not decide anything.

pub mod health;
pub mod metrics;
