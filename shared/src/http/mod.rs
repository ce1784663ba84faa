//! The transport: the request handler that the Lambda entry and `serve` both run, the hook secret
//! and the card's headers, and the one place an error becomes an HTTP status.

mod auth;
mod error;
mod handler;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod rejections;

pub use auth::{Auth, REDACTED};
pub use error::{json_response, Error};
pub use handler::{Arrival, Handler, SourceAddress, MAX_BODY_BYTES, MAX_CHALLENGE_BYTES};
