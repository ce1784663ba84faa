//! `serve`: all five card routes on one machine, through the handler the Lambdas run. Publishes
//! JSON lines to stdout (and `--out FILE`), or to EventBridge when EVENT_BUS_NAME is set.

use std::fs::OpenOptions;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use okta_event_cards::aws::{clients, EventBridgePublisher, SqsFailureQueue};
use okta_event_cards::config::ConfigError;
use okta_event_cards::http::SourceAddress;
use okta_event_cards::publish::{BatchResult, Entry, JsonLinesPublisher, Publisher, Tee};
use okta_event_cards::{Config, Handler, CARDS};

use crate::linger::{LingeringListener, Peer};

/// Serve the five card routes on this machine: GET (Okta's verification) and POST (deliveries)
/// on /okta/<card-slug>, through the handler the Lambda functions run. What would be published
/// is printed as JSON lines on stdout (PutEvents entries); with EVENT_BUS_NAME set, it goes to
/// EventBridge instead, through the standard AWS configuration.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  OKTA_HOOK_SECRET='Basic b2t0YTpsb2NhbC1vbmx5' okta-event-cards serve --out published.jsonl"
)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// Also append each published entry, one JSON line each, to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Where the gateway publishes: the JSON-lines sink by default, EventBridge when a bus is named.
enum LocalPublisher {
    Lines(JsonLinesPublisher),
    EventBridge(EventBridgePublisher),
}

impl Publisher for LocalPublisher {
    fn source(&self) -> &str {
        match self {
            LocalPublisher::Lines(p) => p.source(),
            LocalPublisher::EventBridge(p) => p.source(),
        }
    }

    async fn put(&self, batch: &[&Entry]) -> BatchResult {
        match self {
            LocalPublisher::Lines(p) => p.put(batch).await,
            LocalPublisher::EventBridge(p) => p.put(batch).await,
        }
    }
}

type Handlers = Arc<Vec<Handler<Arc<LocalPublisher>, Arc<Option<SqsFailureQueue>>>>>;

pub async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    // Logs go to stderr, so stdout carries only the published JSON lines.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::from_env()?;
    if config.allow_unauthenticated {
        tracing::warn!(
            "OKTA_HOOK_ALLOW_UNAUTHENTICATED=true and no secret: accepting deliveries from anyone"
        );
    }
    if let Some(allowed) = &config.allowed_sources {
        tracing::info!(
            networks = allowed.networks().len(),
            "ALLOWED_SOURCE_CIDRS is set: other client addresses get 403"
        );
    }
    let (publisher, queue, target) = publisher(&config, args.out.as_ref()).await?;
    let (publisher, queue) = (Arc::new(publisher), Arc::new(queue));
    let handlers: Handlers = Arc::new(
        CARDS
            .iter()
            .map(|card| {
                Handler::with_failure_queue(card, &config, publisher.clone(), queue.clone())
            })
            .collect(),
    );

    let app = Router::new()
        .route("/okta/{slug}", any(route))
        .fallback(|| async { not_found() })
        .with_state(handlers);
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    banner(listener.local_addr()?, &target, &config);
    // Lingering: a client still writing a refused body reads the refusal (see `linger`).
    let service = app.into_make_service_with_connect_info::<Peer>();
    axum::serve(LingeringListener::new(listener), service)
        .with_graceful_shutdown(async {
            // Ctrl-C ends the gateway; an error installing the handler only means no graceful stop.
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// The JSON-lines sink by default; EventBridge (and the failure queue, when
/// `FAILED_EVENTS_QUEUE_URL` is set) when a bus is named, as in Lambda.
async fn publisher(
    config: &Config,
    out: Option<&PathBuf>,
) -> Result<(LocalPublisher, Option<SqsFailureQueue>, String), ConfigError> {
    if config.event_bus_name.is_some() {
        let (publisher, queue) = clients(config).await?;
        publisher.warm_up().await;
        let mut target = format!("EventBridge bus {}", publisher.bus());
        if let Some(url) = &config.failed_events_queue_url {
            target.push_str(&format!(", failure queue {url}"));
        }
        return Ok((LocalPublisher::EventBridge(publisher), queue, target));
    }
    let mut sinks: Vec<Box<dyn Write + Send>> = vec![Box::new(std::io::stdout())];
    let mut target = "stdout".to_owned();
    if let Some(path) = out {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|err| ConfigError(format!("cannot open {}: {err}", path.display())))?;
        sinks.push(Box::new(file));
        target.push_str(&format!(" and {}", path.display()));
    }
    // PutEvents sends an entry that names no bus to the account's "default" bus.
    let sink = JsonLinesPublisher::new(&config.event_source, "default", Box::new(Tee(sinks)));
    Ok((LocalPublisher::Lines(sink), None, target))
}

async fn route(
    State(handlers): State<Handlers>,
    Path(slug): Path<String>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    mut request: Request,
) -> Response {
    // The TCP peer, for ALLOWED_SOURCE_CIDRS: what API Gateway's sourceIp is in AWS.
    request.extensions_mut().insert(SourceAddress(peer.ip()));
    match handlers.iter().find(|h| h.card().slug == slug) {
        Some(handler) => handler.handle(request).await.into_response(),
        None => not_found(),
    }
}

fn not_found() -> Response {
    let slugs: Vec<&str> = CARDS.iter().map(|c| c.slug).collect();
    let error = format!(
        "no such card route; use /okta/<slug> with one of: {}",
        slugs.join(", ")
    );
    let body = serde_json::json!({ "error": error }).to_string();
    (
        StatusCode::NOT_FOUND,
        [(CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn banner(addr: SocketAddr, target: &str, config: &Config) {
    let mut text =
        format!("okta-event-cards serve: listening on http://{addr}, publishing to {target}\n");
    for card in CARDS {
        text.push_str(&format!(
            "  GET|POST http://{addr}/okta/{:<30} {}\n",
            card.slug, card.name
        ));
    }
    let auth = if config.secrets.is_empty() {
        String::new()
    } else {
        // The variable's name, never its value.
        format!(" -H \"{}: $OKTA_HOOK_SECRET\"", config.auth_header)
    };
    text.push_str(&format!(
        "Try:\n  curl -i http://{addr}/okta/user-mfa-factor-activated -H 'X-Okta-Verification-Challenge: hello'\n  \
         curl -i http://{addr}/okta/user-mfa-factor-activated{auth} -H 'Content-Type: application/json' \\\n    \
         -d '{{\"eventId\":\"demo-delivery\",\"data\":{{\"events\":[{{\"uuid\":\"demo-event\",\
         \"eventType\":\"user.mfa.factor.activate\",\"published\":\"2026-11-22T10:00:00.000Z\",\
         \"outcome\":{{\"result\":\"SUCCESS\",\"reason\":\"User set up OKTA_VERIFY_PUSH factor\"}},\
         \"target\":[{{\"id\":\"00u1\",\"type\":\"User\",\"alternateId\":\"ada@example.com\",\"displayName\":\"Ada\"}}]}}]}}}}'\n"
    ));
    eprint!("{text}");
}
