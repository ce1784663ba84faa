//! The transport's error type, and the one place a refusal becomes an HTTP answer.
//!
//! Okta never retries a 4xx and retries a 5xx once, so a 4xx means "this request will never
//! succeed" and a 5xx means "try again".

use http::{header, Method, Response, StatusCode};
use serde::Serialize;

use crate::cards::BodyError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Never names the address: the logs keep no caller's IP (API Gateway's access log has it).
    #[error("the request's source address is not in ALLOWED_SOURCE_CIDRS")]
    SourceNotAllowed,
    /// The transport gave no source address to check (never for API Gateway or `serve`).
    #[error("the request's source address is unknown, and ALLOWED_SOURCE_CIDRS is set")]
    SourceUnknown,
    #[error("missing x-okta-verification-challenge header")]
    MissingChallenge,
    #[error("invalid x-okta-verification-challenge header: {0}")]
    InvalidChallenge(&'static str),
    #[error("missing {0} header")]
    MissingSecret(String),
    #[error("{0} header does not match the hook secret")]
    WrongSecret(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The body is not a delivery; never echoes body content.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The transport could not hand the body over (e.g. a base64 body that does not decode).
    #[error("the request body could not be read: {0}")]
    Unreadable(String),
    #[error("method {0} is not allowed: use GET to verify and POST to deliver")]
    MethodNotAllowed(Method),
    /// The detail stays in the logs; Okta only needs to know that a retry may help.
    #[error("publishing failed: {0}")]
    Publish(String),
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::MissingChallenge
            | Error::InvalidChallenge(_)
            | Error::Body(_)
            | Error::Unreadable(_) => StatusCode::BAD_REQUEST,
            Error::MissingSecret(_) | Error::WrongSecret(_) => StatusCode::UNAUTHORIZED,
            Error::SourceNotAllowed | Error::SourceUnknown => StatusCode::FORBIDDEN,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Publish(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// `{"error": "..."}` with the status above.
    pub fn into_response(self) -> Response<String> {
        let status = self.status();
        let message = match &self {
            Error::Publish(_) => "publishing to EventBridge failed; retry the delivery".to_owned(),
            other => other.to_string(),
        };
        let mut response = json_response(status, &ErrorBody { error: &message });
        if let Error::MethodNotAllowed(_) = self {
            response
                .headers_mut()
                .insert(header::ALLOW, http::HeaderValue::from_static("GET, POST"));
        }
        response
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<String> {
    // Serializing a struct of strings cannot fail; an empty object is the harmless fallback.
    let body = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
