//! Outside a Lambda runtime (no `AWS_LAMBDA_RUNTIME_API`), where it could serve nothing, the
//! release-shaped binary refuses to start with one clear log line when its configuration is wrong.
//! Under one it serves the `misconfigured` problem instead (e2e: `watch.rs`).

use std::process::Command;

/// Everything the process wrote, and the one log line that names `needle` (there must be one).
fn the_line(output: &std::process::Output, needle: &str) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|line| line.contains(needle)).collect();
    assert_eq!(lines.len(), 1, "one line names {needle:?}, no twin: {text}");
    lines[0].to_owned()
}

fn run_health(vars: &[(&str, &str)]) -> std::process::Output {
    let dir = std::env::temp_dir(); // no .env there
    Command::new(env!("CARGO_BIN_EXE_health"))
        .env_clear()
        .envs(vars.iter().copied())
        .current_dir(dir)
        .output()
        .expect("the health binary runs")
}

#[test]
fn missing_database_url_stops_the_process_with_a_clear_message() {
    let output = run_health(&[]);
    assert!(!output.status.success());
    the_line(&output, "DATABASE_URL is required");
}

#[test]
fn malformed_database_url_is_reported_without_echoing_it() {
    let output = run_health(&[("DATABASE_URL", "mysql://root:hunter2@db/app")]);
    assert!(!output.status.success());
    let line = the_line(&output, "DATABASE_URL is invalid");
    assert!(!line.contains("hunter2"), "{line}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("hunter2"));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("hunter2"));
}

#[tokio::test]
async fn a_missing_secrets_manager_secret_stops_the_process_with_the_reason() {
    // A local AWS API (moto): the configuration is read from Secrets Manager for real.
    let moto = test_support::Moto::start().await;
    let output = Command::new(env!("CARGO_BIN_EXE_health"))
        .env_clear()
        .envs(moto.env())
        .env(
            "DATABASE_URL_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf",
        )
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the health binary runs");
    assert!(!output.status.success());
    let line = the_line(
        &output,
        "reading DATABASE_URL from the secret in DATABASE_URL_SECRET_ARN",
    );
    assert!(line.contains("ResourceNotFoundException"), "{line}");
}
