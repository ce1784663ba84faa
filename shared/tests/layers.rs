//! The layers of `shared/src`, held: each folder imports only the layers before it (so no import
//! circle can form), and the domain (`okta/`, `cards/`) imports nothing of AWS, Lambda, tokio or
//! HTTP. Read from the source, so a violation fails `cargo test` with the file and line.

use std::path::{Path, PathBuf};

/// Each layer, and the layers it may import. `test_support` (test builds only) may be used by
/// any layer's tests; `lib.rs` declares them all.
const LAYERS: &[(&str, &[&str])] = &[
    ("okta", &[]),
    ("cards", &["okta"]),
    ("publish", &["okta", "cards"]),
    ("ops", &["okta", "cards"]),
    ("config", &["okta", "cards", "publish"]),
    ("http", &["okta", "cards", "publish", "ops", "config"]),
    (
        "aws",
        &["okta", "cards", "publish", "ops", "config", "http"],
    ),
];

/// The domain layers: pure, whatever runs them.
const DOMAIN: &[&str] = &["okta", "cards"];

/// Crates the domain must not name: the adapters' and the runtime's.
fn adapter_crate(name: &str) -> bool {
    name.starts_with("aws_")
        || name.starts_with("lambda_")
        || name.starts_with("hyper")
        || matches!(
            name,
            "tokio" | "http" | "http_body" | "http_body_util" | "axum" | "reqwest" | "bytes"
        )
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The `.rs` files of a layer: `src/<layer>.rs`, or everything under `src/<layer>/`.
fn files(layer: &str) -> Vec<PathBuf> {
    let file = src().join(format!("{layer}.rs"));
    if file.is_file() {
        return vec![file];
    }
    let mut found = Vec::new();
    let mut dirs = vec![src().join(layer)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found
}

/// Every path this code names, as (line, first segment, second segment): `crate::cards::x` gives
/// ("crate", "cards"); `tokio::time` gives ("tokio", "time"). Comments are left out; grouped
/// imports (`crate::{a, b}`) give one path per member.
fn paths(code: &str) -> Vec<(usize, String, String)> {
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let line = line.split("//").next().unwrap_or_default();
        let bytes = line.as_bytes();
        let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let mut i = 0;
        while i < bytes.len() {
            if !ident(bytes[i]) || (i > 0 && (ident(bytes[i - 1]) || bytes[i - 1] == b':')) {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && ident(bytes[i]) {
                i += 1;
            }
            if !line[i..].starts_with("::") {
                continue;
            }
            let first = &line[start..i];
            let rest = &line[i + 2..];
            let seconds: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(|s| s.trim().split("::").next().unwrap_or_default())
                    .collect(),
                None => vec![rest
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next()
                    .unwrap_or_default()],
            };
            for second in seconds {
                found.push((n + 1, first.to_owned(), second.to_owned()));
            }
        }
    }
    found
}

/// What in this layer's files breaks the rules, as "file:line: reason".
fn violations(layer: &str, allowed: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files(layer) {
        let code = std::fs::read_to_string(&file).expect("source");
        let shown = file
            .strip_prefix(src())
            .unwrap_or(&file)
            .display()
            .to_string();
        for (line, first, second) in paths(&code) {
            let reason = match first.as_str() {
                "crate" if second == layer || second == "test_support" => None,
                "crate" if !allowed.contains(&second.as_str()) => Some(format!(
                    "imports crate::{second}, a layer `{layer}` may not use"
                )),
                "super" if second == "super" => {
                    Some("reaches out of its folder with super::super".to_owned())
                }
                name if DOMAIN.contains(&layer) && adapter_crate(name) => Some(format!(
                    "the domain names `{name}`: AWS, Lambda, tokio and HTTP stay in the adapters"
                )),
                _ => None,
            };
            if let Some(reason) = reason {
                found.push(format!("src/{shown}:{line}: {reason}"));
            }
        }
    }
    found
}

#[test]
fn each_layer_imports_only_the_layers_before_it() {
    let mut found = Vec::new();
    for (layer, allowed) in LAYERS {
        assert!(!files(layer).is_empty(), "no source for layer {layer}");
        found.extend(violations(layer, allowed));
    }
    assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
}

#[test]
fn every_module_of_the_crate_is_a_known_layer() {
    let known: Vec<&str> = LAYERS.iter().map(|(l, _)| *l).collect();
    for entry in std::fs::read_dir(src()).expect("src") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .expect("a name")
            .to_owned();
        if name == "lib" || name == "test_support" {
            continue;
        }
        assert!(
            known.contains(&name.as_str()),
            "src/{name} is in no layer: add it to LAYERS in tests/layers.rs"
        );
    }
}

/// The check itself finds what it is for: a domain file naming an adapter, a layer reaching up.
#[test]
fn the_check_sees_an_adapter_in_the_domain_and_an_upward_import() {
    let code =
        "use tokio::time::Instant;\nuse crate::{okta, http::Handler}; // crate::aws in a comment\n";
    let found: Vec<(usize, String, String)> = paths(code);
    assert!(found.contains(&(1, "tokio".into(), "time".into())));
    assert!(found.contains(&(2, "crate".into(), "okta".into())));
    assert!(found.contains(&(2, "crate".into(), "http".into())));
    assert!(!found.iter().any(|(_, _, s)| s == "aws"), "{found:?}");
}
