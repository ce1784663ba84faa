//! Lambda for the "User MFA Factor Deactivated" card. All card logic lives in the shared crate.

use lambda_http::Error;
use okta_event_cards::{apigw, card::USER_MFA_FACTOR_DEACTIVATED, lambda};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Configuration and the EventBridge client are built once, not per request.
    let handler = lambda::init(&USER_MFA_FACTOR_DEACTIVATED).await?;
    apigw::run(&handler).await
}
