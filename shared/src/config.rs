//! Configuration, read once at start from environment variables. Above the publish layer (it
//! holds the outbox's limits), below the handler and the AWS wiring that read it.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use http::HeaderName;
use ipnet::IpNet;

use crate::publish::{Limits, MAX_REQUEST_BYTES};

/// Why the process refuses to start: names what is wrong, never a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

pub const DEFAULT_AUTH_HEADER: &str = "authorization";
pub const DEFAULT_EVENT_SOURCE: &str = "okta.event-cards";
/// The fewest characters a hook secret's credential may have in a Lambda function: see
/// [`secret_weakness`].
pub const MIN_SECRET_CHARS: usize = 32;

#[derive(Debug, Clone)]
pub struct Config {
    /// `OKTA_HOOK_AUTH_HEADER`: the header Okta puts the secret in.
    pub auth_header: HeaderName,
    /// `OKTA_HOOK_SECRET`, then `OKTA_HOOK_SECRET_PREVIOUS` while a rotation is under way.
    pub secrets: Vec<Secret>,
    /// `OKTA_HOOK_ALLOW_UNAUTHENTICATED=true` with no secret: accept any POST (local use only).
    pub allow_unauthenticated: bool,
    /// `EVENT_SOURCE`: the EventBridge `Source` of every entry.
    pub event_source: String,
    /// `EVENT_BUS_NAME`: required in Lambda; optional for `serve`.
    pub event_bus_name: Option<String>,
    /// `FAILED_EVENTS_QUEUE_URL`: the SQS queue where unpublished entries are parked.
    pub failed_events_queue_url: Option<String>,
    /// `PUBLISH_BUDGET_MS` and `MAX_BATCH_BYTES`.
    pub limits: Limits,
    /// `ALLOWED_SOURCE_CIDRS`: when set, only requests from these networks are answered.
    pub allowed_sources: Option<SourceAllowlist>,
}

/// The networks requests may come from (`ALLOWED_SOURCE_CIDRS`), e.g. Okta's published ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceAllowlist(Vec<IpNet>);

impl SourceAllowlist {
    /// Comma-separated IPv4 and IPv6 CIDRs (`203.0.113.0/24`, `2001:db8::/32`); a bare address is
    /// one host. Whitespace and empty items (a trailing comma) are ignored. A CIDR with bits set
    /// past its prefix (`10.1.2.3/8`) is refused: it is most likely a typo, and it would allow a
    /// whole network the writer may not have meant.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let network = match (item.parse::<IpNet>(), item.parse::<IpAddr>()) {
                (Ok(network), _) => network,
                (_, Ok(address)) => IpNet::from(address),
                _ => {
                    return Err(format!(
                        "{item:?} is not an IPv4 or IPv6 CIDR (e.g. 203.0.113.0/24, 2001:db8::/32)"
                    ))
                }
            };
            if network.trunc() != network {
                return Err(format!(
                    "{item:?} has bits set past its prefix length: did you mean {}?",
                    network.trunc()
                ));
            }
            networks.push(network);
        }
        if networks.is_empty() {
            return Err("names no network".into());
        }
        Ok(Self(networks))
    }

    /// Whether `address` is in one of the networks. An IPv4 address in IPv6 form
    /// (`::ffff:203.0.113.9`, from a dual-stack socket) counts as the IPv4 address.
    pub fn allows(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }
}

/// A hook secret. Its `Debug` never shows the value, so it cannot leak through a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// What messages call the current and the previous secret: the variables, or the Secrets Manager
/// secret they were read from. Never a value.
#[derive(Debug, Clone, Copy)]
pub struct SecretNames {
    pub current: &'static str,
    pub previous: &'static str,
}

pub const SECRET_VARIABLES: SecretNames = SecretNames {
    current: "OKTA_HOOK_SECRET",
    previous: "OKTA_HOOK_SECRET_PREVIOUS",
};

/// Why a hook secret is too easy to guess to guard a public URL: see [`secret_weakness`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    Short,
    OneCharacter,
}

impl fmt::Display for Weakness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Weakness::Short => write!(
                f,
                "shorter than {MIN_SECRET_CHARS} characters, not counting a leading scheme word such as `Basic `"
            ),
            Weakness::OneCharacter => f.write_str("one character repeated"),
        }
    }
}

/// Whether a hook secret is too easy to guess to guard a public URL.
///
/// What counts is the credential: the value after a leading scheme word and its space (`Basic `,
/// `Bearer `, any `<letters> `, as in HTTP's `<scheme> <credentials>`), since everyone knows the
/// scheme. It must have at least [`MIN_SECRET_CHARS`] characters, not all the same. A `Basic`
/// credential is counted as configured (its base64 text), not decoded, so the rule is one plain
/// check of what the operator typed (32 base64 characters still hold 24 bytes). A floor, not a
/// proof of randomness: the README's Deploy section generates a random one.
pub fn secret_weakness(value: &str) -> Option<Weakness> {
    let credential = match value.split_once(' ') {
        Some((scheme, rest))
            if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphabetic()) =>
        {
            rest.trim_start_matches(' ')
        }
        _ => value,
    };
    let mut chars = credential.chars();
    let first = chars.next();
    if credential.chars().count() < MIN_SECRET_CHARS {
        Some(Weakness::Short)
    } else if chars.all(|c| Some(c) == first) {
        Some(Weakness::OneCharacter)
    } else {
        None
    }
}

impl Config {
    /// The defaults with these secrets (none: unauthenticated); for tests and embedding.
    pub fn with_secrets(secrets: &[&str]) -> Self {
        Self {
            auth_header: HeaderName::from_static(DEFAULT_AUTH_HEADER),
            secrets: secrets.iter().map(|s| Secret::new(*s)).collect(),
            allow_unauthenticated: secrets.is_empty(),
            event_source: DEFAULT_EVENT_SOURCE.to_owned(),
            event_bus_name: None,
            failed_events_queue_url: None,
            limits: Limits::default(),
            allowed_sources: None,
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same rules over any lookup, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_lookup_naming(get, SECRET_VARIABLES)
    }

    /// [`Config::from_lookup`], with the secrets' weakness named as `names` says (the Secrets
    /// Manager secret, when the secrets came from there).
    pub fn from_lookup_naming(
        get: impl Fn(&str) -> Option<String>,
        names: SecretNames,
    ) -> Result<Self, ConfigError> {
        // Surrounding whitespace is never part of a value (a header value has none: HTTP strips
        // it), and an empty variable is an unset one: an empty secret would match an empty header.
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let auth_header = match get("OKTA_HOOK_AUTH_HEADER") {
            Some(name) => HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ConfigError(format!(
                    "OKTA_HOOK_AUTH_HEADER is not a valid header name: {name:?}"
                ))
            })?,
            None => HeaderName::from_static(DEFAULT_AUTH_HEADER),
        };
        let allow_unauthenticated = match get("OKTA_HOOK_ALLOW_UNAUTHENTICATED").as_deref() {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(ConfigError(format!(
                    "OKTA_HOOK_ALLOW_UNAUTHENTICATED must be true or false, not {v:?}"
                )))
            }
        };
        let secret = get("OKTA_HOOK_SECRET").map(Secret);
        let previous = get("OKTA_HOOK_SECRET_PREVIOUS").map(Secret);
        if secret.is_none() && previous.is_some() {
            return Err(ConfigError(
                "OKTA_HOOK_SECRET_PREVIOUS is set but OKTA_HOOK_SECRET is not: set the new secret first".into(),
            ));
        }
        if secret.is_none() && !allow_unauthenticated {
            return Err(ConfigError(
                "OKTA_HOOK_SECRET is not set: set it to the Authorization header value configured on the Okta \
                 event hook (or OKTA_HOOK_ALLOW_UNAUTHENTICATED=true for local use only)"
                    .into(),
            ));
        }
        if secret.is_none() && get("AWS_LAMBDA_FUNCTION_NAME").is_some() {
            return Err(ConfigError(
                "OKTA_HOOK_ALLOW_UNAUTHENTICATED is for local use only: a Lambda function needs OKTA_HOOK_SECRET".into(),
            ));
        }
        let in_lambda = get("AWS_LAMBDA_FUNCTION_NAME").is_some();
        for (name, secret) in [(names.current, &secret), (names.previous, &previous)] {
            let Some(why) = secret.as_ref().and_then(|s| secret_weakness(s.expose())) else {
                continue;
            };
            // A guessable secret makes the public URL an open door; locally it only guards a
            // loopback port, and the README's example secret must keep working there.
            if in_lambda {
                return Err(ConfigError(format!(
                    "{name} is too easy to guess: {why}. Use a long random value, e.g. \
                     \"Bearer $(openssl rand -hex 32)\" (README, Deploy)"
                )));
            }
            tracing::warn!(
                "{name} is too easy to guess ({why}): accepted here, but a Lambda function refuses it"
            );
        }
        let allow_unauthenticated = allow_unauthenticated && secret.is_none();
        Ok(Self {
            auth_header,
            secrets: secret.into_iter().chain(previous).collect(),
            allow_unauthenticated,
            event_source: get("EVENT_SOURCE").unwrap_or_else(|| DEFAULT_EVENT_SOURCE.to_owned()),
            event_bus_name: get("EVENT_BUS_NAME"),
            failed_events_queue_url: get("FAILED_EVENTS_QUEUE_URL"),
            limits: Limits {
                max_request_bytes: number(&get, "MAX_BATCH_BYTES", 1024, MAX_REQUEST_BYTES as u64)?
                    .map_or(MAX_REQUEST_BYTES, |n| n as usize),
                budget: number(&get, "PUBLISH_BUDGET_MS", 100, 60_000)?
                    .map_or(Limits::default().budget, Duration::from_millis),
                ..Limits::default()
            },
            allowed_sources: get("ALLOWED_SOURCE_CIDRS")
                .map(|text| SourceAllowlist::parse(&text))
                .transpose()
                .map_err(|why| ConfigError(format!("ALLOWED_SOURCE_CIDRS: {why}")))?,
        })
    }

    /// The bus, or the error a Lambda function stops on.
    pub fn require_event_bus(&self) -> Result<&str, ConfigError> {
        self.event_bus_name.as_deref().ok_or_else(|| {
            ConfigError("EVENT_BUS_NAME is not set: name the EventBridge bus to publish to".into())
        })
    }
}

/// An optional whole number within bounds; anything else stops the function at start.
fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ConfigError> {
    let Some(text) = get(name) else {
        return Ok(None);
    };
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(ConfigError(format!(
            "{name} must be a whole number from {min} to {max}, not {text:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| vars.get(k).cloned())
    }

    fn config_error(vars: &[(&str, &str)]) -> String {
        config(vars)
            .expect_err("config must be refused")
            .to_string()
    }

    #[test]
    fn defaults() {
        let c = config(&[("OKTA_HOOK_SECRET", "s3cret")]).expect("config");
        assert_eq!(c.auth_header, "authorization");
        assert_eq!(c.event_source, "okta.event-cards");
        assert_eq!(c.event_bus_name, None);
        assert_eq!(c.failed_events_queue_url, None);
        assert_eq!(c.limits.budget, Duration::from_millis(2500));
        assert_eq!(c.limits.max_request_bytes, 262_144);
        assert_eq!(c.secrets, [Secret::new("s3cret")]);
        assert!(!c.allow_unauthenticated);
    }

    #[test]
    fn no_secret_refuses_to_start_and_names_the_variable() {
        assert!(config_error(&[]).contains("OKTA_HOOK_SECRET"));
        assert!(config_error(&[("OKTA_HOOK_SECRET", "  ")]).contains("OKTA_HOOK_SECRET"));
    }

    #[test]
    fn unauthenticated_only_when_asked_explicitly_and_never_in_lambda() {
        let c = config(&[("OKTA_HOOK_ALLOW_UNAUTHENTICATED", "true")]).expect("config");
        assert!(c.allow_unauthenticated);
        assert!(c.secrets.is_empty());
        assert!(
            config_error(&[("OKTA_HOOK_ALLOW_UNAUTHENTICATED", "yes")]).contains("true or false")
        );
        let in_lambda = [
            ("OKTA_HOOK_ALLOW_UNAUTHENTICATED", "true"),
            ("AWS_LAMBDA_FUNCTION_NAME", "f"),
        ];
        assert!(config_error(&in_lambda).contains("local use only"));
        // A configured secret always wins over the switch.
        let c = config(&[
            ("OKTA_HOOK_ALLOW_UNAUTHENTICATED", "true"),
            ("OKTA_HOOK_SECRET", "s"),
        ])
        .expect("config");
        assert!(!c.allow_unauthenticated);
    }

    #[test]
    fn surrounding_whitespace_is_no_part_of_a_secret() {
        let c = config(&[
            ("OKTA_HOOK_SECRET", "Basic abc\n"),
            ("OKTA_HOOK_SECRET_PREVIOUS", " \tBasic old "),
        ])
        .expect("config");
        assert_eq!(
            c.secrets,
            [Secret::new("Basic abc"), Secret::new("Basic old")]
        );
    }

    #[test]
    fn rotation_keeps_both_secrets_in_order() {
        let c = config(&[
            ("OKTA_HOOK_SECRET", "new"),
            ("OKTA_HOOK_SECRET_PREVIOUS", "old"),
        ])
        .expect("config");
        assert_eq!(c.secrets, [Secret::new("new"), Secret::new("old")]);
        assert!(config_error(&[("OKTA_HOOK_SECRET_PREVIOUS", "old")]).contains("OKTA_HOOK_SECRET"));
    }

    #[test]
    fn header_name_and_bus() {
        let c = config(&[
            ("OKTA_HOOK_SECRET", "s"),
            ("OKTA_HOOK_AUTH_HEADER", "X-Okta-Secret"),
            ("EVENT_BUS_NAME", "b"),
        ])
        .expect("config");
        assert_eq!(c.auth_header, "x-okta-secret");
        assert_eq!(c.require_event_bus().expect("bus"), "b");
        assert!(config_error(&[
            ("OKTA_HOOK_SECRET", "s"),
            ("OKTA_HOOK_AUTH_HEADER", "bad header")
        ])
        .contains("OKTA_HOOK_AUTH_HEADER"));
        let no_bus = config(&[("OKTA_HOOK_SECRET", "s")]).expect("config");
        assert!(no_bus
            .require_event_bus()
            .expect_err("no bus")
            .to_string()
            .contains("EVENT_BUS_NAME"));
    }

    #[test]
    fn publishing_limits_and_the_failure_queue() {
        let c = config(&[
            ("OKTA_HOOK_SECRET", "s"),
            ("PUBLISH_BUDGET_MS", "1800"),
            ("MAX_BATCH_BYTES", "65536"),
            (
                "FAILED_EVENTS_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/1/q",
            ),
        ])
        .expect("config");
        assert_eq!(c.limits.budget, Duration::from_millis(1800));
        assert_eq!(c.limits.max_request_bytes, 65_536);
        assert_eq!(
            c.failed_events_queue_url.as_deref(),
            Some("https://sqs.us-east-1.amazonaws.com/1/q")
        );
        for (name, value) in [
            ("PUBLISH_BUDGET_MS", "fast"),
            ("PUBLISH_BUDGET_MS", "0"),
            ("MAX_BATCH_BYTES", "300000"),
            ("MAX_BATCH_BYTES", "-1"),
        ] {
            let err = config_error(&[("OKTA_HOOK_SECRET", "s"), (name, value)]);
            assert!(err.contains(name), "{err}");
        }
    }

    /// 32 characters after the scheme: the shortest credential a Lambda function accepts.
    const STRONG: &str = "Bearer 3f9c0d6a1b2e4f5a6b7c8d9e0f1a2b3c";

    #[test]
    fn a_secret_is_weak_when_its_credential_is_short_or_one_character_repeated() {
        use Weakness::{OneCharacter, Short};
        let a = |n: usize| "a".repeat(n);
        let cases: [(String, Option<Weakness>); 16] = [
            // The README's local example: 20 characters after `Basic `.
            ("Basic b2t0YTpsb2NhbC1vbmx5".into(), Some(Short)),
            // The events/ files' secret: 40 after `Basic `.
            (
                "Basic b2t0YTpsb2NhbC1ldmVudHMtdGVzdC1zZWNyZXQ=".into(),
                None,
            ),
            (STRONG.into(), None),
            (STRONG[..STRONG.len() - 1].into(), Some(Short)),
            // The scheme is not counted, whatever its case or name; extra spaces neither.
            (format!("basic {}", &STRONG[7..]), None),
            (format!("SSWS {}", &STRONG[8..]), Some(Short)),
            (format!("Bearer    {}", &STRONG[8..]), Some(Short)),
            // No scheme word: the whole value counts.
            (STRONG[7..].into(), None),
            (STRONG[8..].into(), Some(Short)),
            (format!("x-1 {}", &STRONG[11..]), None),
            // A scheme alone, or nothing after it.
            ("Bearer".into(), Some(Short)),
            ("Basic ".into(), Some(Short)),
            // One character repeated, with or without a scheme; two alternating pass.
            (format!("Basic {}", a(64)), Some(OneCharacter)),
            (a(32), Some(OneCharacter)),
            (format!("Bearer {}", "0".repeat(40)), Some(OneCharacter)),
            ("ab".repeat(16), None),
        ];
        for (value, weakness) in cases {
            assert_eq!(secret_weakness(&value), weakness, "{value:?}");
        }
    }

    #[test]
    fn outside_lambda_a_weak_secret_is_a_warning_without_the_value() {
        crate::test_support::every_callsite_asked();
        let logs = crate::test_support::Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .finish();
        let c = tracing::subscriber::with_default(subscriber, || {
            config(&[
                ("OKTA_HOOK_SECRET", "Basic b2t0YTpsb2NhbC1vbmx5"),
                ("OKTA_HOOK_SECRET_PREVIOUS", STRONG),
            ])
        })
        .expect("serve starts with the README's example");
        assert_eq!(c.secrets.len(), 2);
        let logs = logs.text();
        assert_eq!(logs.lines().count(), 1, "{logs}");
        assert!(
            logs.contains("WARN")
                && logs.contains("OKTA_HOOK_SECRET is too easy to guess (shorter than 32")
                && logs.contains("a Lambda function refuses it"),
            "{logs}"
        );
        assert!(
            !logs.contains("b2t0YTpsb2NhbC1vbmx5") && !logs.contains("3f9c0d6a"),
            "{logs}"
        );
    }

    #[test]
    fn allowed_sources_are_cidrs_of_either_family_and_unset_allows_all() {
        assert_eq!(
            config(&[("OKTA_HOOK_SECRET", "s")])
                .expect("config")
                .allowed_sources,
            None
        );
        let c = config(&[
            ("OKTA_HOOK_SECRET", "s"),
            (
                "ALLOWED_SOURCE_CIDRS",
                " 52.14.0.0/16, 3.33.128.0/17 ,2001:db8::/32,198.51.100.7,, ",
            ),
        ])
        .expect("config");
        let allowed = c.allowed_sources.expect("a list");
        assert_eq!(allowed.networks().len(), 4);
        for (address, inside) in [
            ("52.14.0.0", true),
            ("52.14.255.255", true),
            ("52.15.0.0", false),
            ("3.33.200.1", true),
            ("3.33.127.255", false),
            ("198.51.100.7", true),
            ("198.51.100.8", false),
            ("2001:db8:ffff::1", true),
            ("2001:db9::1", false),
            // IPv4 in IPv6 form, as a dual-stack socket reports it.
            ("::ffff:52.14.3.4", true),
            ("::ffff:52.15.3.4", false),
            ("127.0.0.1", false),
            ("::1", false),
        ] {
            let ip: IpAddr = address.parse().expect("an address");
            assert_eq!(allowed.allows(ip), inside, "{address}");
        }
    }

    #[test]
    fn an_allowlist_that_is_not_cidrs_stops_the_start_naming_the_item() {
        for (value, says) in [
            (
                "52.14.0.0/33",
                "\"52.14.0.0/33\" is not an IPv4 or IPv6 CIDR",
            ),
            ("52.14.0.0/16;3.33.128.0/17", "is not an IPv4 or IPv6 CIDR"),
            ("okta.com", "\"okta.com\" is not an IPv4 or IPv6 CIDR"),
            ("52.14.0.0/16, 2001:db8::/129", "\"2001:db8::/129\" is not"),
            ("52.14.3.4/16", "did you mean 52.14.0.0/16?"),
            (",", "names no network"),
        ] {
            let err = config_error(&[("OKTA_HOOK_SECRET", "s"), ("ALLOWED_SOURCE_CIDRS", value)]);
            assert!(
                err.contains("ALLOWED_SOURCE_CIDRS: ") && err.contains(says),
                "{value}: {err}"
            );
        }
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let c = config(&[("OKTA_HOOK_SECRET", "hunter2-secret")]).expect("config");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
