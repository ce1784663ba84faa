//! The one error type, and the one place it becomes an HTTP answer.
//!
//! Okta never retries a 4xx and retries a 5xx once, so a 4xx means "this request will never
//! succeed" and a 5xx means "try again".

use http::{header, Method, Response, StatusCode};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Raised at start only: the function refuses to run rather than run misconfigured.
    #[error("configuration: {0}")]
    Config(String),
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
    /// Never echoes body content: the text is ours or serde_json's position-only syntax message.
    #[error("{0}")]
    BadRequest(String),
    #[error("method {0} is not allowed: use GET to verify and POST to deliver")]
    MethodNotAllowed(Method),
    /// The detail stays in the logs; Okta only needs to know that a retry may help.
    #[error("publishing failed: {0}")]
    Publish(String),
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::MissingChallenge | Error::InvalidChallenge(_) | Error::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::MissingSecret(_) | Error::WrongSecret(_) => StatusCode::UNAUTHORIZED,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Publish(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// `{"error": "..."}` with the status above.
    pub fn into_response(self) -> Response<String> {
        let status = self.status();
        let message = match &self {
            Error::Config(_) => "the function is misconfigured".to_owned(),
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

pub(crate) fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<String> {
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

/// Describes a JSON error without echoing the input: serde_json's "invalid type" messages quote
/// the offending value, which could be personal data.
pub(crate) fn describe_json_error(err: &serde_json::Error, what: &str) -> String {
    use serde_json::error::Category;
    let position = format!("line {} column {}", err.line(), err.column());
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            format!("{what} is not valid JSON: {err}")
        }
        Category::Data => {
            let text = err.to_string();
            if text.starts_with("missing field") || text.starts_with("duplicate field") {
                format!("{what} is not an Okta event hook delivery: {text}")
            } else {
                format!("{what} is not an Okta event hook delivery (expected an object with data.events[] at {position})")
            }
        }
    }
}
