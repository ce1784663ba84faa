//! What operators see: Powertools-style JSON logs, and per-card metrics as CloudWatch EMF lines.

pub mod emf;
pub mod metrics;
pub mod telemetry;
