//! Lambda wiring shared by the five functions: everything built once per cold start.

use aws_config::BehaviorVersion;

use crate::card::Card;
use crate::eventbridge::EventBridgePublisher;
use crate::handler::Handler;
use crate::secrets;
use crate::Error;

/// Logging, configuration and the EventBridge client, once. A missing variable stops the function
/// here with a message naming it, before any request is taken.
pub async fn init(card: &'static Card) -> Result<Handler<EventBridgePublisher>, Error> {
    // Honors AWS_LAMBDA_LOG_FORMAT / AWS_LAMBDA_LOG_LEVEL (and RUST_LOG).
    lambda_http::tracing::init_default_subscriber();
    build(card)
        .await
        .inspect_err(|err| tracing::error!(card = card.slug, error = %err, "cannot start"))
}

async fn build(card: &'static Card) -> Result<Handler<EventBridgePublisher>, Error> {
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    // issue 4: the hook secret from Secrets Manager when OKTA_HOOK_SECRET_ARN is set.
    let config = secrets::config_from_env(&aws).await?;
    let bus = config.require_event_bus()?;
    let publisher = EventBridgePublisher::new(
        aws_sdk_eventbridge::Client::new(&aws),
        bus,
        &config.event_source,
    );
    tracing::info!(card = card.slug, bus, "ready");
    Ok(Handler::new(card, &config, publisher))
}
