//! The hook secret from AWS Secrets Manager (`OKTA_HOOK_SECRET_ARN`), read once at init.
//!
//! The secret's `SecretString` is either the exact header value Okta sends (`Basic b2t0...`), or, while
//! a rotation is under way, a JSON object `{"current": "<new value>", "previous": "<old value>"}`.
//! The two values become `OKTA_HOOK_SECRET` and `OKTA_HOOK_SECRET_PREVIOUS`, so every rule of
//! [`Config`] (surrounding whitespace trimmed, empty means unset, previous needs current, ...)
//! applies to them unchanged.
//!
//! Why not Secrets Manager's own `AWSPREVIOUS` stage: it keeps the old value until the next
//! rotation, so a leaked secret would stay valid; an explicit `previous` ends the overlap the
//! moment it is removed.

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use serde::Deserialize;

use crate::config::{Config, ConfigError, Secret, SecretNames};

pub const SECRET_ARN_VAR: &str = "OKTA_HOOK_SECRET_ARN";

/// How messages name the values read from the secret (a weak one, say).
const NAMES: SecretNames = SecretNames {
    current: "the hook secret named by OKTA_HOOK_SECRET_ARN",
    previous: "the \"previous\" value of the hook secret named by OKTA_HOOK_SECRET_ARN",
};

/// The values read from the secret. `Debug` goes through [`Secret`], which redacts.
#[derive(Debug, PartialEq, Eq)]
pub struct HookSecrets {
    pub current: Secret,
    pub previous: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotation {
    current: String,
    #[serde(default)]
    previous: Option<String>,
}

/// Reads a `SecretString`. Never quotes it in an error: it is the secret.
pub fn parse(secret_string: &str) -> Result<HookSecrets, ConfigError> {
    let value = secret_string.trim();
    // A header value never starts with `{` (Okta's are `Basic ...`, `Bearer ...` or a token), so
    // a leading brace means the rotation object, and a malformed one is an error, not a secret.
    if !value.starts_with('{') {
        return Ok(HookSecrets {
            current: Secret::new(value),
            previous: None,
        });
    }
    let rotation: Rotation = serde_json::from_str(value).map_err(|err| {
        ConfigError(format!(
            "the secret named by {SECRET_ARN_VAR} starts with '{{' but is not \
             {{\"current\": \"...\", \"previous\": \"...\"}} (line {}, column {})",
            err.line(),
            err.column()
        ))
    })?;
    Ok(HookSecrets {
        current: Secret::new(rotation.current),
        previous: rotation.previous.map(Secret::new),
    })
}

/// [`Config`] from the environment, with the hook secret taken from Secrets Manager when
/// `OKTA_HOOK_SECRET_ARN` is set. Without it, the plain variables work as before.
pub async fn config_from_env(aws: &aws_config::SdkConfig) -> Result<Config, ConfigError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let Some(arn) = env(SECRET_ARN_VAR) else {
        return Config::from_env();
    };
    let secrets = fetch(&aws_sdk_secretsmanager::Client::new(aws), &arn).await?;
    config_with(&secrets, env)
}

/// The secret's values in place of the plain variables; setting both is refused, since which one
/// wins would be a guess.
pub fn config_with(
    secrets: &HookSecrets,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    for plain in ["OKTA_HOOK_SECRET", "OKTA_HOOK_SECRET_PREVIOUS"] {
        if env(plain).is_some_and(|v| !v.trim().is_empty()) {
            return Err(ConfigError(format!(
                "both {SECRET_ARN_VAR} and {plain} are set: keep only one source of the hook secret"
            )));
        }
    }
    Config::from_lookup_naming(
        |name| match name {
            "OKTA_HOOK_SECRET" => Some(secrets.current.expose().to_owned()),
            "OKTA_HOOK_SECRET_PREVIOUS" => secrets.previous.as_ref().map(|s| s.expose().to_owned()),
            other => env(other),
        },
        NAMES,
    )
}

/// `GetSecretValue` on the current version.
pub async fn fetch(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<HookSecrets, ConfigError> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|err| {
            ConfigError(format!(
                "cannot read the hook secret {arn} ({SECRET_ARN_VAR}): {}",
                DisplayErrorContext(err)
            ))
        })?;
    let value = out.secret_string().ok_or_else(|| {
        ConfigError(format!(
            "the hook secret {arn} has no SecretString: store the header value as text"
        ))
    })?;
    parse(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn secrets(current: &str, previous: Option<&str>) -> HookSecrets {
        HookSecrets {
            current: Secret::new(current),
            previous: previous.map(Secret::new),
        }
    }

    fn parse_error(value: &str) -> String {
        parse(value).expect_err("must be refused").to_string()
    }

    #[test]
    fn a_plain_secret_string_is_the_header_value() {
        assert_eq!(
            parse("Basic b2t0YTpsb2NhbC1vbmx5").expect("parsed"),
            secrets("Basic b2t0YTpsb2NhbC1vbmx5", None)
        );
        // A trailing newline from `--secret-string file://...` is not part of the header.
        assert_eq!(
            parse("Basic b2t0YTpsb2NhbC1vbmx5\n").expect("parsed"),
            secrets("Basic b2t0YTpsb2NhbC1vbmx5", None)
        );
    }

    #[test]
    fn the_rotation_object_gives_both_values_in_order() {
        assert_eq!(
            parse(r#"{"current": "Basic bmV3", "previous": "Basic b2xk"}"#).expect("parsed"),
            secrets("Basic bmV3", Some("Basic b2xk"))
        );
        assert_eq!(
            parse(r#"{"current": "Basic bmV3"}"#).expect("parsed"),
            secrets("Basic bmV3", None)
        );
        assert_eq!(
            parse(r#"{"current": "Basic bmV3", "previous": null}"#).expect("parsed"),
            secrets("Basic bmV3", None)
        );
    }

    #[test]
    fn a_malformed_rotation_object_is_refused_without_quoting_it() {
        for bad in [
            r#"{"current": "Basic c2VjcmV0", "previuos": "Basic b2xk"}"#,
            r#"{"previous": "Basic c2VjcmV0"}"#,
            r#"{"current": "Basic c2VjcmV0""#,
            r#"{"current": 12345}"#,
        ] {
            let err = parse_error(bad);
            assert!(err.contains("\"current\""), "{err}");
            assert!(!err.contains("c2VjcmV0"), "the secret leaked: {err}");
        }
    }

    fn config(secrets: &HookSecrets, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        config_with(secrets, |k| vars.get(k).cloned())
    }

    #[test]
    fn the_secret_feeds_config_like_the_plain_variables() {
        let c = config(
            &secrets("Basic bmV3", Some("Basic b2xk")),
            &[
                ("EVENT_BUS_NAME", "okta-cards"),
                ("OKTA_HOOK_AUTH_HEADER", "X-Hook"),
            ],
        )
        .expect("config");
        assert_eq!(
            c.secrets,
            [Secret::new("Basic bmV3"), Secret::new("Basic b2xk")]
        );
        assert_eq!(c.event_bus_name.as_deref(), Some("okta-cards"));
        assert_eq!(c.auth_header, "x-hook");
        assert!(!c.allow_unauthenticated);
    }

    #[test]
    fn rotation_members_are_trimmed_like_the_variables() {
        let c = config(
            &parse("{\"current\": \" Basic bmV3\\n\", \"previous\": \"Basic b2xk \"}")
                .expect("parsed"),
            &[],
        )
        .expect("config");
        assert_eq!(
            c.secrets,
            [Secret::new("Basic bmV3"), Secret::new("Basic b2xk")]
        );
    }

    #[test]
    fn an_empty_secret_is_refused_like_an_empty_variable() {
        let err = config(&parse("  ").expect("parsed"), &[])
            .expect_err("refused")
            .to_string();
        assert!(err.contains("OKTA_HOOK_SECRET"), "{err}");
        let err = config(
            &parse(r#"{"current": "", "previous": "Basic b2xk"}"#).expect("parsed"),
            &[],
        )
        .expect_err("refused")
        .to_string();
        assert!(err.contains("OKTA_HOOK_SECRET_PREVIOUS"), "{err}");
    }

    #[test]
    fn in_lambda_a_weak_value_in_the_secret_is_refused_naming_the_secret_not_the_value() {
        let strong = "Bearer 3f9c0d6a1b2e4f5a6b7c8d9e0f1a2b3c";
        let lambda = [("AWS_LAMBDA_FUNCTION_NAME", "f")];
        for (value, named) in [
            (
                "Basic b2t0YTpsb2NhbC1vbmx5".to_owned(),
                "the hook secret named by OKTA_HOOK_SECRET_ARN is",
            ),
            (
                format!(r#"{{"current": "Basic b2t0YTpsb2NhbC1vbmx5", "previous": "{strong}"}}"#),
                "the hook secret named by OKTA_HOOK_SECRET_ARN is",
            ),
            (
                format!(
                    r#"{{"current": "{strong}", "previous": "Bearer {}"}}"#,
                    "7".repeat(64)
                ),
                "the \"previous\" value of the hook secret named by OKTA_HOOK_SECRET_ARN is",
            ),
        ] {
            let err = config(&parse(&value).expect("parsed"), &lambda)
                .expect_err("refused")
                .to_string();
            assert!(
                err.contains(named) && err.contains("too easy to guess"),
                "{err}"
            );
            assert!(
                !err.contains("b2t0YTpsb2NhbC1vbmx5") && !err.contains("7777"),
                "{err}"
            );
        }
        let c = config(&parse(strong).expect("parsed"), &lambda).expect("a strong secret");
        assert_eq!(c.secrets, [Secret::new(strong)]);
    }

    #[test]
    fn the_arn_and_a_plain_secret_together_are_refused() {
        for plain in ["OKTA_HOOK_SECRET", "OKTA_HOOK_SECRET_PREVIOUS"] {
            let err = config(&secrets("Basic bmV3", None), &[(plain, "Basic b3RoZXI=")])
                .expect_err("refused")
                .to_string();
            assert!(err.contains(SECRET_ARN_VAR) && err.contains(plain), "{err}");
        }
    }
}
