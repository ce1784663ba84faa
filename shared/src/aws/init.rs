//! Lambda wiring shared by the five functions: everything built once per cold start.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use super::{secrets, EventBridgePublisher, SqsFailureQueue};
use crate::cards::Card;
use crate::config::{Config, ConfigError};
use crate::http::Handler;
use crate::ops::emf::Sink;
use crate::ops::metrics::Metrics;
use crate::ops::telemetry;

/// The handler a function runs: EventBridge, and the failure queue when one is configured.
pub type LambdaHandler = Handler<EventBridgePublisher, Option<SqsFailureQueue>>;

/// Logging, configuration and the AWS clients, once. A missing variable stops the function here
/// with a message naming it, before any request is taken.
pub async fn init(card: &'static Card) -> Result<LambdaHandler, ConfigError> {
    // Powertools-style JSON lines on stdout, whatever AWS_LAMBDA_LOG_FORMAT says; the level from
    // RUST_LOG, else AWS_LAMBDA_LOG_LEVEL.
    let settings = telemetry::Settings::from_env();
    telemetry::init(&settings);
    build(card, &settings)
        .await
        .inspect_err(|err| tracing::error!(card = card.slug, error = %err, "cannot start"))
}

async fn build(
    card: &'static Card,
    settings: &telemetry::Settings,
) -> Result<LambdaHandler, ConfigError> {
    // The SDK's defaults for the one-time secret read at init; publishing gets the settings below.
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    require_region(&aws)?;
    // The hook secret from Secrets Manager when OKTA_HOOK_SECRET_ARN is set.
    let config = secrets::config_from_env(&aws).await?;
    let (publisher, queue) = clients_from(&aws, &config)?;
    publisher.warm_up().await;
    tracing::info!(
        card = card.slug,
        bus = publisher.bus(),
        failure_queue = queue.is_some(),
        "ready"
    );
    // Metrics on stdout too: Lambda sends it to CloudWatch Logs, which extracts them.
    Ok(Handler::with_failure_queue(card, &config, publisher, queue)
        .with_metrics(Metrics::new(settings, Sink::stdout())))
}

/// The configuration from the environment, with the hook secret read from Secrets Manager when
/// `OKTA_HOOK_SECRET_ARN` is set (then through the standard AWS configuration, which is loaded
/// only then: a local run without AWS never touches it).
pub async fn load_config() -> Result<Config, ConfigError> {
    if std::env::var(secrets::SECRET_ARN_VAR).is_ok_and(|v| !v.trim().is_empty()) {
        let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
        require_region(&aws)?;
        return secrets::config_from_env(&aws).await;
    }
    Config::from_env()
}

/// The EventBridge publisher and the failure queue from the standard AWS configuration (so
/// `AWS_ENDPOINT_URL` can point them at a local EventBridge and SQS).
pub async fn clients(
    config: &Config,
) -> Result<(EventBridgePublisher, Option<SqsFailureQueue>), ConfigError> {
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    clients_from(&aws, config)
}

/// Timeouts that sit inside Okta's budget. The SDK's own retries are off: the outbox resends
/// only the entries that failed, within the budget, which the SDK's whole-call retries would not
/// respect.
fn publishing_timeouts(budget: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(budget / 3)
        .operation_timeout(budget)
        .build()
}

/// [`clients`] over a given AWS configuration, with the publishing settings every function uses:
/// no SDK retries, timeouts inside the budget; parking gets its own, shorter timeouts. Tests build
/// their clients here too, so that the production wiring is what meets the faults.
pub fn clients_from(
    aws: &SdkConfig,
    config: &Config,
) -> Result<(EventBridgePublisher, Option<SqsFailureQueue>), ConfigError> {
    let bus = config.require_event_bus()?;
    require_region(aws)?;
    let aws = aws
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .timeout_config(publishing_timeouts(config.limits.budget))
        .build();
    let aws = &aws;
    let publisher = EventBridgePublisher::new(
        aws_sdk_eventbridge::Client::new(aws),
        bus,
        &config.event_source,
    );
    let queue = config.failed_events_queue_url.as_ref().map(|url| {
        // Parking happens after the budget, in what is left of Okta's time.
        let sqs = aws_sdk_sqs::config::Builder::from(aws)
            .timeout_config(publishing_timeouts(
                config
                    .limits
                    .okta_timeout
                    .saturating_sub(config.limits.budget)
                    .max(Duration::from_millis(200)),
            ))
            .build();
        SqsFailureQueue::new(
            aws_sdk_sqs::Client::from_conf(sqs),
            url,
            bus,
            &config.event_source,
        )
    });
    Ok((publisher, queue))
}

/// Without a region every call fails to connect (and would be retried until the budget ends):
/// say so at start instead. Lambda always sets `AWS_REGION`.
pub fn require_region(aws: &SdkConfig) -> Result<(), ConfigError> {
    match aws.region() {
        Some(_) => Ok(()),
        None => Err(ConfigError(
            "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the AWS profile)"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_region_is_refused_at_start_naming_the_variables() {
        let config = Config {
            event_bus_name: Some("okta-cards".into()),
            ..Config::with_secrets(&["s"])
        };
        let aws = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        let err = clients_from(&aws, &config)
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains("AWS_REGION") && err.contains("AWS_DEFAULT_REGION"),
            "{err}"
        );
        let aws = aws
            .into_builder()
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        assert!(clients_from(&aws, &config).is_ok());
    }
}
