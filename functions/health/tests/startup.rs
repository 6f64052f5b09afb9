//! The release-shaped binary refuses to start, with one clear line, when its configuration is wrong.

use std::process::Command;

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
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL is required"), "{stderr}");
}

#[test]
fn malformed_database_url_is_reported_without_echoing_it() {
    let output = run_health(&[("DATABASE_URL", "mysql://root:hunter2@db/app")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL is invalid"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
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
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("reading DATABASE_URL from the secret in DATABASE_URL_SECRET_ARN"),
        "{stderr}"
    );
    assert!(stderr.contains("ResourceNotFoundException"), "{stderr}");
}
