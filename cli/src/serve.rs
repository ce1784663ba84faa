//! `serve`: all five card routes on one machine, through the handler the Lambdas run. Publishes
//! JSON lines to stdout (and `--out FILE`), or to EventBridge when EVENT_BUS_NAME is set.

use std::fs::OpenOptions;
use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use okta_event_cards::aws::{clients, load_config, EventBridgePublisher, SqsFailureQueue};
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
pub struct Args {
    /// Address to listen on: HOST:PORT, localhost:PORT, or a PORT on 127.0.0.1.
    #[arg(long, default_value = "127.0.0.1:3000", value_parser = parse_addr)]
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
    // OKTA_HOOK_SECRET, or the Secrets Manager secret OKTA_HOOK_SECRET_ARN names (as deployed).
    let config = load_config().await?;
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
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|err| format!("cannot listen on {} (--addr): {err}", args.addr))?;
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

/// `--addr`: HOST:PORT (an address or a name), `localhost:PORT`, or a bare PORT on 127.0.0.1.
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let loopback = |port: &str| {
        port.parse::<u16>()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
    };
    if let Ok(addr) = loopback(text) {
        return Ok(addr);
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        return loopback(port).map_err(|_| format!("{port:?} is not a port number"));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let resolved: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|_| {
            format!("{text:?} is not HOST:PORT, localhost:PORT or PORT (e.g. 127.0.0.1:3000)")
        })?
        .collect();
    resolved
        .iter()
        .find(|a| a.is_ipv4())
        .or(resolved.first())
        .copied()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

/// `serve --help`'s closing text: the environment it reads, the routes, an example.
pub fn help() -> String {
    let mut text = String::from(
        "Environment (read at start; the secret first):
  OKTA_HOOK_SECRET            the exact header value Okta sends (e.g. 'Basic ...' or 'Bearer ...')
  OKTA_HOOK_SECRET_ARN        or: the Secrets Manager secret holding it (read with the AWS configuration)
  OKTA_HOOK_ALLOW_UNAUTHENTICATED=true   or: accept any POST (local use only)
  OKTA_HOOK_SECRET_PREVIOUS   also accepted while a rotation is under way
  OKTA_HOOK_AUTH_HEADER       the header the secret comes in (default Authorization)
  EVENT_BUS_NAME              publish to this EventBridge bus instead of printing JSON lines
  EVENT_SOURCE                the entries' source (default okta.event-cards)
  FAILED_EVENTS_QUEUE_URL     park what cannot be published in this SQS queue
  PUBLISH_BUDGET_MS, MAX_BATCH_BYTES   publishing's time budget and request size
  AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL, ...   the AWS configuration (with a bus or a secret ARN)
  RUST_LOG                    the log filter (default info); logs go to stderr, entries to stdout

Routes (GET: Okta's verification; POST: deliveries):
",
    );
    for card in CARDS {
        text.push_str(&format!(
            "  /okta/{:<30} {} ({})\n",
            card.slug, card.name, card.event_type
        ));
    }
    text.push_str(
        "
Example:
  export OKTA_HOOK_SECRET='Basic b2t0YTpsb2NhbC1vbmx5'
  okta-event-cards serve --addr 3000 --out published.jsonl",
    );
    text
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
    let (auth, from) = if config.secrets.is_empty() {
        (String::new(), "From another terminal:")
    } else {
        // The variable's name, never its value.
        (
            format!(" -H \"{}: $OKTA_HOOK_SECRET\"", config.auth_header),
            "From another terminal, with OKTA_HOOK_SECRET exported there too (the header value):",
        )
    };
    text.push_str(&format!(
        "{from}\n  curl -i http://{addr}/okta/user-mfa-factor-activated -H 'X-Okta-Verification-Challenge: hello'\n  \
         curl -i http://{addr}/okta/user-mfa-factor-activated{auth} -H 'Content-Type: application/json' \\\n    \
         -d '{{\"eventId\":\"demo-delivery\",\"data\":{{\"events\":[{{\"uuid\":\"demo-event\",\
         \"eventType\":\"user.mfa.factor.activate\",\"published\":\"2026-11-22T10:00:00.000Z\",\
         \"outcome\":{{\"result\":\"SUCCESS\",\"reason\":\"User set up OKTA_VERIFY_PUSH factor\"}},\
         \"target\":[{{\"id\":\"00u1\",\"type\":\"User\",\"alternateId\":\"ada@example.com\",\"displayName\":\"Ada\"}}]}}]}}}}'\n"
    ));
    eprint!("{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_takes_host_port_localhost_port_and_a_bare_port() {
        let v4 = |a: [u8; 4], p: u16| SocketAddr::from((a, p));
        assert_eq!(parse_addr("3001"), Ok(v4([127, 0, 0, 1], 3001)));
        assert_eq!(parse_addr("localhost:3002"), Ok(v4([127, 0, 0, 1], 3002)));
        assert_eq!(parse_addr("0.0.0.0:3003"), Ok(v4([0, 0, 0, 0], 3003)));
        assert_eq!(
            parse_addr("[::1]:3004"),
            Ok("[::1]:3004".parse().expect("v6"))
        );
        for bad in ["localhost:http", "127.0.0.1", "3000x", "99999"] {
            let err = parse_addr(bad).expect_err(bad);
            assert!(
                err.contains(bad.trim_start_matches("localhost:")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn help_lists_the_secret_first_and_the_five_routes() {
        let help = help();
        let secret = help.find("OKTA_HOOK_SECRET").expect("the secret");
        let bus = help.find("EVENT_BUS_NAME").expect("the bus");
        assert!(secret < bus);
        for card in CARDS {
            assert!(
                help.contains(&format!("/okta/{}", card.slug)),
                "{}",
                card.slug
            );
        }
    }
}
