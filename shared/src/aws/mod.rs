//! The AWS side: the EventBridge publisher, the SQS failure queue, the hook secret from Secrets
//! Manager, the functions' init, and the Lambda entry (API Gateway events to the handler and
//! back). Thin adapters: what to publish and when to give up is decided above, in `publish`.

mod eventbridge;
mod init;
pub mod lambda;
pub mod secrets;
mod sqs;

use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::publish::Failure;

pub use eventbridge::EventBridgePublisher;
pub use init::{clients, clients_from, init, load_config, require_region, LambdaHandler};
pub use sqs::{SqsFailureQueue, MAX_MESSAGE_BYTES};

/// A failed call: throttling, server errors, timeouts and connection failures may pass on a
/// resend; any other answer (access denied, a missing bus, a validation error) will not. The same
/// for every AWS SDK (the failure queue's SQS client too).
pub(crate) fn call_failure<E>(err: SdkError<E>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, retryable) = match &err {
        SdkError::TimeoutError(_) => ("Timeout".to_owned(), true),
        SdkError::DispatchFailure(_) => ("ConnectionFailed".to_owned(), true),
        SdkError::ResponseError(_) => ("InvalidResponse".to_owned(), true),
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service
                .err()
                .code()
                .map_or_else(|| format!("HTTP{status}"), str::to_owned);
            let throttled = code.contains("Throttl") || status == 429;
            (code, throttled || status >= 500)
        }
        _ => ("RequestNotSent".to_owned(), false),
    };
    tracing::warn!(
        code,
        retryable,
        error = %DisplayErrorContext(&err),
        "AWS call failed"
    );
    Failure { code, retryable }
}
