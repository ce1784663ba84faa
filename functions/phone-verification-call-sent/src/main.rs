//! Lambda for the "Phone Verification Call Sent" card. All card logic lives in the shared crate.

use lambda_http::Error;
use okta_event_cards::{aws, cards::PHONE_VERIFICATION_CALL_SENT};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Configuration and the EventBridge client are built once, not per request.
    let handler = aws::init(&PHONE_VERIFICATION_CALL_SENT).await?;
    aws::lambda::run(&handler).await
}
