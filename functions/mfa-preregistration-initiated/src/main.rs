//! Lambda for the "MFA Preregistration Initiated" card. All card logic lives in the shared crate.

use lambda_http::Error;
use okta_event_cards::{aws, cards::MFA_PREREGISTRATION_INITIATED};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Configuration and the EventBridge client are built once, not per request.
    let handler = aws::init(&MFA_PREREGISTRATION_INITIATED).await?;
    aws::lambda::run(&handler).await
}
