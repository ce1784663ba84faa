//! The request handler, on `http` types: Lambda (through `lambda_http`) and the local gateway run
//! this same code.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;

use crate::auth::Auth;
use crate::card::Card;
use crate::config::Config;
use crate::delivery::map_delivery;
use crate::error::json_response;
use crate::publish::Publisher;
use crate::Error;

/// Lambda's synchronous payload limit; the local gateway holds to the same.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;
/// Okta's challenges are about 40 characters; echo nothing absurdly long.
pub const MAX_CHALLENGE_BYTES: usize = 1024;
const CHALLENGE_HEADER: &str = "x-okta-verification-challenge";

pub struct Handler<P> {
    card: &'static Card,
    auth: Auth,
    publisher: P,
}

#[derive(Serialize)]
struct Verification<'a> {
    verification: &'a str,
}

impl<P: Publisher> Handler<P> {
    pub fn new(card: &'static Card, config: &Config, publisher: P) -> Self {
        Self {
            card,
            auth: Auth::new(config),
            publisher,
        }
    }

    pub fn card(&self) -> &'static Card {
        self.card
    }

    /// Answers one request. Every error becomes its status here, and is logged without the body
    /// or the secret.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<String>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match self.respond(request).await {
            Ok(response) => response,
            Err(err) => {
                let status = err.status();
                if status.is_server_error() {
                    tracing::error!(card = self.card.slug, status = status.as_u16(), error = %err, "request failed");
                } else {
                    tracing::warn!(card = self.card.slug, status = status.as_u16(), error = %err, "request rejected");
                }
                err.into_response()
            }
        }
    }

    /// [`Self::handle`] in the shape `lambda_http::service_fn` wants.
    pub async fn serve<B>(&self, request: Request<B>) -> Result<Response<String>, Infallible>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        Ok(self.handle(request).await)
    }

    async fn respond<B>(&self, request: Request<B>) -> Result<Response<String>, Error>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        match parts.method {
            Method::GET => verify(&parts.headers),
            Method::POST => {
                // The secret first: an unauthenticated body is neither read nor parsed.
                self.auth.check(&parts.headers)?;
                let body = read_body(&parts.headers, body).await?;
                self.deliver(&parts.headers, &body).await?;
                Ok(Response::new(String::new()))
            }
            other => Err(Error::MethodNotAllowed(other)),
        }
    }

    async fn deliver(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Error> {
        let redacted = self.auth.redacted_headers(headers);
        let mapped = map_delivery(self.card, body, &redacted)?;
        let delivery = mapped.delivery_id.as_deref().unwrap_or("-");
        if !mapped.entries.is_empty() {
            self.publisher.publish(&mapped.entries).await?;
        }
        tracing::info!(
            card = self.card.slug,
            delivery,
            received = mapped.received,
            published = mapped.entries.len(),
            ignored = mapped.ignored,
            "delivery published"
        );
        Ok(())
    }
}

/// The one-time verification: echo the challenge. No secret is required (Okta sends none).
fn verify(headers: &HeaderMap) -> Result<Response<String>, Error> {
    let challenge = headers
        .get(CHALLENGE_HEADER)
        .ok_or(Error::MissingChallenge)?;
    if challenge.is_empty() {
        return Err(Error::InvalidChallenge("empty"));
    }
    if challenge.len() > MAX_CHALLENGE_BYTES {
        return Err(Error::InvalidChallenge("longer than 1024 bytes"));
    }
    let challenge = challenge
        .to_str()
        .map_err(|_| Error::InvalidChallenge("not visible ASCII"))?;
    Ok(json_response(
        StatusCode::OK,
        &Verification {
            verification: challenge,
        },
    ))
}

/// Reads at most [`MAX_BODY_BYTES`]; a declared or actual larger body is refused without reading on.
async fn read_body<B>(headers: &HeaderMap, body: B) -> Result<Bytes, Error>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(Error::PayloadTooLarge(MAX_BODY_BYTES));
    }
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(Error::PayloadTooLarge(MAX_BODY_BYTES)),
        Err(_) => Err(Error::BadRequest(
            "the request body could not be read".into(),
        )),
    }
}
