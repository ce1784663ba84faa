//! Lambda for the "User MFA Factor Reset All" card. All card logic lives in the shared crate.

use lambda_http::{run, service_fn, Error};
use okta_event_cards::{card::USER_MFA_FACTOR_RESET_ALL, lambda};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Configuration and the EventBridge client are built once, not per request.
    let handler = lambda::init(&USER_MFA_FACTOR_RESET_ALL).await?;
    run(service_fn(|request| handler.serve(request))).await
}
