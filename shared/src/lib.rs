//! Okta Event Hook deliveries in, Okta Workflows-style MFA event cards out, on Amazon EventBridge.
//!
//! - [`okta`]: the delivery and System Log models Okta sends.
//! - [`card`]: the five cards as data and the one mapping to a card's `detail` (pure).
//! - [`delivery`]: a delivery's body to the card's entries (pure).
//! - [`handler`]: the HTTP handler shared by Lambda and the local gateway.
//! - [`publish`], [`eventbridge`]: where entries go, one call at a time.
//! - [`outbox`]: batching, retries within Okta's time, parking in the [`failure_queue`] ([`sqs`]).
//! - [`config`], [`auth`], [`error`]: configuration, the hook secret, the one error type.
//! - [`secrets`]: the hook secret from AWS Secrets Manager (`OKTA_HOOK_SECRET_ARN`).
//! - [`telemetry`], [`metrics`], [`emf`]: Powertools-style JSON logs and per-card EMF metrics.

pub mod apigw;
pub mod auth;
pub mod card;
mod checked;
pub mod config;
pub mod delivery;
pub mod emf;
pub mod error;
pub mod eventbridge;
pub mod failure_queue;
pub mod handler;
mod json;
pub mod lambda;
pub mod metrics;
pub mod okta;
pub mod outbox;
#[cfg(test)]
mod properties;
pub mod publish;
#[cfg(test)]
mod rejections;
#[cfg(test)]
mod schema;
pub mod secrets;
pub mod sqs;
pub mod telemetry;
#[cfg(test)]
pub(crate) mod testing;

pub use card::{Card, CARDS};
pub use config::Config;
pub use error::Error;
pub use handler::Handler;
