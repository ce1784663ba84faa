//! Lambda for the "User MFA Factor Activated" card. All card logic lives in the shared crate.

use lambda_http::Error;
use okta_event_cards::{aws, cards::USER_MFA_FACTOR_ACTIVATED};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Configuration and the EventBridge client are built once, not per request.
    let handler = aws::init(&USER_MFA_FACTOR_ACTIVATED).await?;
    aws::lambda::run(&handler).await
}
