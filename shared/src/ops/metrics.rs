//! The per-card metrics: what one request counts for (pure), and the EMF line it becomes.

use http::StatusCode;

use super::emf::{self, Document, Member, Sink};
use super::telemetry::Settings;
use crate::cards::Card;

/// Per card and service, and per service (the alarms' view: one alarm for all five cards).
const DIMENSION_SETS: [&[&str]; 2] = [&["service", "card"], &["service"]];

/// What one request counts for. Every line carries every count (zeros included, so that sums and
/// alarms see quiet periods); `PublishLatencyMs` only when entries were sent.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    /// An authenticated POST that was a delivery: `DeliveriesReceived`.
    pub deliveries: usize,
    pub published: usize,
    pub ignored: usize,
    pub parked: usize,
    /// A `401`: `AuthFailures`.
    pub auth_failures: usize,
    /// A `403` (the source address is not allowed): `ForbiddenRequests`.
    pub forbidden: usize,
    /// A `400` or `413`: `BadRequests`.
    pub bad_requests: usize,
    /// Publishing's wall time, resends and parking included.
    pub publish_latency_ms: Option<f64>,
}

impl Counts {
    /// A refused request's counts, by its status; other statuses (`405`, `5xx`) count nothing here.
    pub fn refused(status: StatusCode) -> Self {
        match status {
            StatusCode::UNAUTHORIZED => Self {
                auth_failures: 1,
                ..Self::default()
            },
            StatusCode::FORBIDDEN => Self {
                forbidden: 1,
                ..Self::default()
            },
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => Self {
                bad_requests: 1,
                ..Self::default()
            },
            _ => Self::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Ids a metrics line carries as properties, to find the request's log lines and trace.
#[derive(Debug, Default, Clone, Copy)]
pub struct Ids<'a> {
    pub function_request_id: Option<&'a str>,
    pub xray_trace_id: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
}

/// The EMF document for one request of this card.
pub fn document(
    card: &Card,
    service: &str,
    namespace: &str,
    counts: &Counts,
    ids: Ids<'_>,
    timestamp_ms: u64,
) -> Document {
    let mut members = vec![
        ("service", Member::Dimension(service.to_owned())),
        ("card", Member::Dimension(card.slug.to_owned())),
        ("DeliveriesReceived", Member::count(counts.deliveries)),
        ("EventsPublished", Member::count(counts.published)),
        ("EventsIgnored", Member::count(counts.ignored)),
        ("EventsParked", Member::count(counts.parked)),
        ("AuthFailures", Member::count(counts.auth_failures)),
        ("BadRequests", Member::count(counts.bad_requests)),
        ("ForbiddenRequests", Member::count(counts.forbidden)),
    ];
    if let Some(ms) = counts.publish_latency_ms {
        members.push(("PublishLatencyMs", Member::milliseconds(ms)));
    }
    for (name, id) in [
        ("function_request_id", ids.function_request_id),
        ("xray_trace_id", ids.xray_trace_id),
        ("correlation_id", ids.correlation_id),
    ] {
        if let Some(id) = id {
            members.push((name, Member::Property(id.into())));
        }
    }
    Document {
        timestamp_ms,
        namespace: namespace.to_owned(),
        dimension_sets: DIMENSION_SETS.iter().map(|s| s.to_vec()).collect(),
        members,
    }
}

/// Where a handler's metrics go, under which service and namespace.
pub struct Metrics {
    service: String,
    namespace: String,
    sink: Sink,
}

impl Metrics {
    pub fn new(settings: &Settings, sink: Sink) -> Self {
        Self {
            service: settings.service.clone(),
            namespace: settings.namespace.clone(),
            sink,
        }
    }

    pub fn record(&self, card: &Card, counts: &Counts, ids: Ids<'_>) {
        self.sink.emit(&document(
            card,
            &self.service,
            &self.namespace,
            counts,
            ids,
            emf::now_ms(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cards::PHONE_VERIFICATION_CALL_SENT;
    use serde_json::{json, Value};

    #[test]
    fn a_delivery_line_declares_every_metric_it_carries() {
        let counts = Counts {
            deliveries: 1,
            published: 2,
            ignored: 1,
            parked: 0,
            publish_latency_ms: Some(12.5),
            ..Counts::default()
        };
        let ids = Ids {
            function_request_id: Some("req-1"),
            xray_trace_id: None,
            correlation_id: Some("delivery-1"),
        };
        let doc = document(
            &PHONE_VERIFICATION_CALL_SENT,
            "okta-event-cards",
            "OktaEventCards",
            &counts,
            ids,
            1_700_000_000_000,
        );
        let v: Value = serde_json::to_value(&doc).expect("JSON");
        assert_eq!(
            v,
            json!({
                "_aws": {"Timestamp": 1_700_000_000_000u64, "CloudWatchMetrics": [{
                    "Namespace": "OktaEventCards",
                    "Dimensions": [["service", "card"], ["service"]],
                    "Metrics": [
                        {"Name": "DeliveriesReceived", "Unit": "Count"},
                        {"Name": "EventsPublished", "Unit": "Count"},
                        {"Name": "EventsIgnored", "Unit": "Count"},
                        {"Name": "EventsParked", "Unit": "Count"},
                        {"Name": "AuthFailures", "Unit": "Count"},
                        {"Name": "BadRequests", "Unit": "Count"},
                        {"Name": "ForbiddenRequests", "Unit": "Count"},
                        {"Name": "PublishLatencyMs", "Unit": "Milliseconds"}
                    ]
                }]},
                "service": "okta-event-cards", "card": "phone-verification-call-sent",
                "DeliveriesReceived": 1, "EventsPublished": 2, "EventsIgnored": 1, "EventsParked": 0,
                "AuthFailures": 0, "BadRequests": 0, "ForbiddenRequests": 0, "PublishLatencyMs": 12.5,
                "function_request_id": "req-1", "correlation_id": "delivery-1"
            })
        );
    }

    #[test]
    fn refusals_count_by_status() {
        assert_eq!(Counts::refused(StatusCode::UNAUTHORIZED).auth_failures, 1);
        let forbidden = Counts::refused(StatusCode::FORBIDDEN);
        assert_eq!(
            (
                forbidden.forbidden,
                forbidden.auth_failures,
                forbidden.bad_requests
            ),
            (1, 0, 0)
        );
        for status in [StatusCode::BAD_REQUEST, StatusCode::PAYLOAD_TOO_LARGE] {
            let counts = Counts::refused(status);
            assert_eq!((counts.bad_requests, counts.auth_failures), (1, 0));
        }
        assert!(Counts::refused(StatusCode::METHOD_NOT_ALLOWED).is_empty());
        // Without a publish, no latency member and no declaration of one.
        let doc = document(
            &PHONE_VERIFICATION_CALL_SENT,
            "s",
            "n",
            &Counts::refused(StatusCode::UNAUTHORIZED),
            Ids::default(),
            0,
        );
        let v: Value = serde_json::to_value(&doc).expect("JSON");
        assert!(v.get("PublishLatencyMs").is_none());
        let declared = v["_aws"]["CloudWatchMetrics"][0]["Metrics"].to_string();
        assert!(!declared.contains("PublishLatencyMs"), "{declared}");
        assert_eq!(v["AuthFailures"], 1);
    }
}
