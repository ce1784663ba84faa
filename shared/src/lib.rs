//! Okta Event Hook deliveries in, Okta Workflows-style MFA event cards out, on Amazon EventBridge.
//!
//! # Layers
//!
//! One folder per layer; a layer imports only the layers listed before it (a test,
//! `tests/layers.rs`, holds the crate to this, and keeps the domain free of AWS, Lambda, tokio
//! and HTTP crates):
//!
//! 1. [`okta`]: what Okta sends, as lenient models. Domain.
//! 2. [`cards`]: the five cards as data, and a delivery's body to card events. Domain.
//! 3. [`publish`]: the entry, the `Publisher` trait, the outbox (batching, retries within Okta's
//!    time, parking), the failure queue trait, the JSON-lines sink.
//! 3. [`ops`]: logs and metrics (Powertools-style JSON lines, CloudWatch EMF).
//! 4. [`config`]: the settings read at start.
//! 5. [`http`]: the request handler, the hook secret, the one place an error becomes a status.
//! 6. [`aws`]: EventBridge, SQS, Secrets Manager, the functions' init, the Lambda entry.
//!
//! Wiring lives outside the crate: each `functions/<card>/src/main.rs` (init, then the Lambda
//! entry's run loop) and the `okta-event-cards` command (`cli/`).
//!
//! # One delivery's path
//!
//! API Gateway -> [`aws::lambda`] (the event to an `http::Request`, the arrival time) ->
//! [`http::Handler`] (secret, body, [`cards::map_delivery`], outbox) -> [`publish::Outbox`] ->
//! [`aws::EventBridgePublisher`], parking in [`aws::SqsFailureQueue`] what it cannot publish in
//! time. `serve` calls the same handler from an axum route.
//!
//! # Where a new thing goes
//!
//! - A card: a `Card` constant in `cards/card.rs` (and in `CARDS`), a function crate, its block in
//!   `template.yaml`, its `events/` folder and schema.
//! - A publisher or a store: the trait in `publish/`, the AWS implementation in `aws/`.
//! - A command: a subcommand of `cli/`, on top of the layers above.

pub mod aws;
pub mod cards;
pub mod config;
pub mod http;
pub mod okta;
pub mod ops;
pub mod publish;
#[cfg(any(test, feature = "test-util"))]
pub mod test_support;

pub use cards::{Card, CARDS};
pub use config::Config;
pub use http::Handler;
