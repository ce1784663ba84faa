//! The hook secret: checked in constant time, and never let out in a published header.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde_json::value::RawValue;
use subtle::ConstantTimeEq;

use super::Error;
use crate::config::{Config, Secret};

/// What replaces the secret header's value in a card's `headers`.
pub const REDACTED: &str = "[REDACTED]";

#[derive(Debug)]
pub struct Auth {
    header: HeaderName,
    /// Each accepted secret (the current one, and the previous one during a rotation). `Secret`'s
    /// `Debug` never shows a value.
    secrets: Vec<Secret>,
    /// Only ever true with no secret: see [`Config::allow_unauthenticated`].
    allow_unauthenticated: bool,
}

impl Auth {
    pub fn new(config: &Config) -> Self {
        Self {
            header: config.auth_header.clone(),
            secrets: config.secrets.clone(),
            allow_unauthenticated: config.allow_unauthenticated && config.secrets.is_empty(),
        }
    }

    /// Ok when the secret header matches the current or the previous secret (or when running
    /// unauthenticated, which `Config` allows only locally and only with no secret set).
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Error> {
        if self.allow_unauthenticated {
            return Ok(());
        }
        // No secret and no explicit switch accepts nothing (Config refuses this at start anyway).
        let Some(presented) = headers
            .get(&self.header)
            .filter(|_| !self.secrets.is_empty())
        else {
            return Err(Error::MissingSecret(self.header.to_string()));
        };
        // Compared with every secret, in constant time and without stopping early, so timing
        // says nothing of a secret's bytes or of which one matched.
        let matched = self.secrets.iter().fold(subtle::Choice::from(0), |acc, s| {
            acc | s.expose().as_bytes().ct_eq(presented.as_bytes())
        });
        if bool::from(matched) {
            Ok(())
        } else {
            Err(Error::WrongSecret(self.header.to_string()))
        }
    }

    /// The delivery's headers as one JSON object for the card's `headers`: names lowercased,
    /// repeated headers joined with ", ", the secret header's value (and any value containing a
    /// secret) replaced by [`REDACTED`]. Written once per delivery.
    pub fn redacted_headers(&self, headers: &HeaderMap) -> Box<RawValue> {
        // Sorted by name as a JSON object map sorts them; the sort is stable, so a repeated
        // header's values stay in the order they came. (A Vec: a dozen headers need no tree.)
        let mut pairs: Vec<(&str, Cow<str>)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), text(value)))
            .collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        pairs.dedup_by(|next, kept| {
            let same = next.0 == kept.0;
            if same {
                let joined = kept.1.to_mut();
                joined.push_str(", ");
                joined.push_str(&next.1);
            }
            same
        });
        for (name, value) in &mut pairs {
            if *name == self.header.as_str() || self.holds_secret(value) {
                *value = Cow::Borrowed(REDACTED);
            }
        }
        // A map of strings always serializes.
        serde_json::value::to_raw_value(&Object(&pairs)).unwrap_or_default()
    }

    /// Whether a header value holds an accepted secret anywhere in it.
    fn holds_secret(&self, value: &str) -> bool {
        self.secrets
            .iter()
            .any(|s| value.len() >= s.expose().len() && value.contains(s.expose()))
    }
}

/// A header value as text: the usual visible ASCII as it is; other bytes as UTF-8, U+FFFD where
/// they are not.
fn text(value: &HeaderValue) -> Cow<'_, str> {
    match value.to_str() {
        Ok(ascii) => Cow::Borrowed(ascii),
        Err(_) => String::from_utf8_lossy(value.as_bytes()),
    }
}

/// Name-value pairs written as one JSON object.
struct Object<'a>(&'a [(&'a str, Cow<'a, str>)]);

impl Serialize for Object<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, value)| (name, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(secrets: &[&str], allow_unauthenticated: bool) -> Config {
        Config {
            allow_unauthenticated,
            ..Config::with_secrets(secrets)
        }
    }

    fn auth(secrets: &[&str]) -> Auth {
        Auth::new(&config(secrets, secrets.is_empty()))
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("header value"));
        }
        h
    }

    #[test]
    fn current_and_previous_secret_pass() {
        let a = auth(&["Basic new", "Basic old"]);
        assert!(a.check(&headers(&[("authorization", "Basic new")])).is_ok());
        assert!(a.check(&headers(&[("authorization", "Basic old")])).is_ok());
    }

    #[test]
    fn missing_secret_is_refused() {
        let err = auth(&["s3cret"]).check(&headers(&[])).expect_err("refused");
        assert!(matches!(err, Error::MissingSecret(_)));
    }

    #[test]
    fn wrong_prefix_longer_and_other_case_secrets_are_refused() {
        let a = auth(&["Basic s3cret"]);
        for wrong in [
            "Basic s3cre",
            "Basic s3cret ",
            "basic s3cret",
            "Basic s3cretX",
            "",
        ] {
            let err = a
                .check(&headers(&[("authorization", wrong)]))
                .expect_err(wrong);
            assert!(matches!(err, Error::WrongSecret(_)), "{wrong:?}");
        }
    }

    #[test]
    fn secret_in_another_header_is_refused() {
        let err = auth(&["s3cret"])
            .check(&headers(&[("x-api-key", "s3cret")]))
            .expect_err("refused");
        assert!(matches!(err, Error::MissingSecret(_)));
    }

    #[test]
    fn unauthenticated_mode_accepts_anything() {
        assert!(auth(&[]).check(&headers(&[])).is_ok());
    }

    #[test]
    fn no_secret_without_the_switch_accepts_nothing() {
        let a = Auth::new(&config(&[], false));
        assert!(matches!(
            a.check(&headers(&[("authorization", "")])),
            Err(Error::MissingSecret(_))
        ));
        assert!(a.check(&headers(&[])).is_err());
    }

    #[test]
    fn headers_are_lowercased_joined_and_redacted() {
        let a = auth(&["Basic s3cret"]);
        let mut h = headers(&[
            ("authorization", "Basic s3cret"),
            ("x-copy", "token=Basic s3cret"),
            ("accept", "application/json"),
            ("x-multi", "a"),
        ]);
        h.append("X-Multi", HeaderValue::from_static("b"));
        let json: serde_json::Value =
            serde_json::from_str(a.redacted_headers(&h).get()).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "authorization": REDACTED, "x-copy": REDACTED,
                "accept": "application/json", "x-multi": "a, b"
            })
        );
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let shown = format!("{:?}", auth(&["Basic s3cret", "Basic 0ld"]));
        // As text, or as the list of bytes a derived Debug of a byte buffer prints.
        let as_bytes = format!("{:?}", "s3cret".as_bytes());
        let as_bytes = as_bytes.trim_matches(|c| c == '[' || c == ']');
        for secret in ["s3cret", "0ld", as_bytes] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    /// Values JSON must escape, and bytes that are not UTF-8, come out as readable JSON text.
    #[test]
    fn odd_header_values_are_written_as_json_text() {
        let a = auth(&["Basic s3cret"]);
        let mut h = headers(&[
            ("authorization", "Basic s3cret"),
            ("x-quote", r#"say "hi" \ bye"#),
            ("x-tab", "a\tb"),
            ("x-empty", ""),
        ]);
        h.insert(
            "x-bytes",
            HeaderValue::from_bytes(b"caf\xe9 \xff").expect("value"),
        );
        let json: serde_json::Value =
            serde_json::from_str(a.redacted_headers(&h).get()).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "authorization": REDACTED, "x-quote": "say \"hi\" \\ bye", "x-tab": "a\tb",
                "x-empty": "", "x-bytes": "caf\u{fffd} \u{fffd}"
            })
        );
        assert_eq!(a.redacted_headers(&HeaderMap::new()).get(), "{}");
    }
}
