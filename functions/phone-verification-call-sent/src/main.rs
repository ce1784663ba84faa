//! Lambda for the "Phone Verification Call Sent" card. All card logic lives in the shared crate.

use lambda_http::{run, service_fn, Error};
use okta_event_cards::{card::PHONE_VERIFICATION_CALL_SENT, lambda};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Configuration and the EventBridge client are built once, not per request.
    let handler = lambda::init(&PHONE_VERIFICATION_CALL_SENT).await?;
    run(service_fn(|request| handler.serve(request))).await
}
