//! Lambda for the "User MFA Factor Deactivated" card. All card logic lives in the shared crate.

use lambda_http::Error;
use okta_event_cards::{aws, cards::USER_MFA_FACTOR_DEACTIVATED};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Configuration and the EventBridge client are built once, not per request.
    let handler = aws::init(&USER_MFA_FACTOR_DEACTIVATED).await?;
    aws::lambda::run(&handler).await
}
