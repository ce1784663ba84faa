//! template.yaml grants each function every AWS action the shared crate calls: moto enforces no
//! IAM, so a call the template forgot would first fail in AWS (AccessDenied on every cold start).

use integration_tests::workspace_root;

/// Each AWS action: the SDK call in `shared/src/aws/` that needs it, and how the template may grant
/// it (an action in a statement, or the SAM policy template that includes it).
const ACTIONS: &[(&str, &str, &[&str])] = &[
    (
        "events:PutEvents",
        ".put_events()",
        &["EventBridgePutEventsPolicy"],
    ),
    (
        "events:DescribeEventBus",
        ".describe_event_bus()",
        &["events:DescribeEventBus"],
    ),
    (
        "sqs:SendMessage",
        ".send_message_batch()",
        &["sqs:SendMessage"],
    ),
    (
        "secretsmanager:GetSecretValue",
        ".get_secret_value()",
        &[
            "AWSSecretsManagerGetSecretValuePolicy",
            "secretsmanager:GetSecretValue",
        ],
    ),
];

/// The source of the crate's AWS adapters, as one text.
fn aws_source() -> String {
    let dir = workspace_root().join("shared/src/aws");
    let mut text = String::new();
    for entry in std::fs::read_dir(&dir).expect("shared/src/aws") {
        text.push_str(&std::fs::read_to_string(entry.expect("entry").path()).expect("source"));
    }
    text
}

/// Each `AWS::Serverless::Function` resource of the template: its name and its block of lines.
fn functions(template: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let lines: Vec<&str> = template.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let is_resource = line.starts_with("  ") && !line.starts_with("   ") && line.ends_with(':');
        if !is_resource
            || lines.get(i + 1).map(|l| l.trim()) != Some("Type: AWS::Serverless::Function")
        {
            continue;
        }
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.is_empty() || l.starts_with("   "))
            .copied()
            .collect();
        found.push((
            line.trim().trim_end_matches(':').to_owned(),
            block.join("\n"),
        ));
    }
    found
}

#[test]
fn every_function_is_granted_every_aws_action_the_code_calls() {
    let template =
        std::fs::read_to_string(workspace_root().join("template.yaml")).expect("template");
    let source = aws_source();
    let functions = functions(&template);
    assert_eq!(
        functions.len(),
        5,
        "{:?}",
        functions.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    let mut missing = Vec::new();
    for (action, call, grants) in ACTIONS {
        if !source.contains(call) {
            continue;
        }
        for (name, block) in &functions {
            if !grants.iter().any(|g| block.contains(g)) {
                missing.push(format!("{name} calls {call} but is not granted {action}"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// The operations the code calls on an SDK client: `client.<operation>()`, across line breaks.
fn operations(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in source.match_indices("client") {
        let rest = source[at + "client".len()..].trim_start();
        let Some(rest) = rest.strip_prefix('.') else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if !name.is_empty() && rest[name.len()..].starts_with("()") {
            found.push(format!(".{name}()"));
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn every_sdk_operation_the_crate_calls_is_in_the_table() {
    // An operation added to shared/src/aws without a row above would escape the check.
    let known: Vec<&str> = ACTIONS.iter().map(|(_, call, _)| *call).collect();
    let called = operations(&aws_source());
    assert!(called.contains(&".put_events()".to_owned()), "{called:?}");
    for call in &called {
        assert!(
            known.contains(&call.as_str()),
            "{call} has no row in ACTIONS"
        );
    }
}
