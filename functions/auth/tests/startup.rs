//! Outside a Lambda runtime the auth binary refuses to start, with one clear line (no plain-text
//! twin), when the JWT secret is missing or weak; under one it serves the `misconfigured` problem
//! instead (e2e: `watch.rs`).

use std::process::Command;

/// Everything the process wrote (its log goes to stdout).
fn written(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run_auth(vars: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_auth"))
        .env_clear()
        .envs(vars.iter().copied())
        .current_dir(std::env::temp_dir()) // no .env there
        .output()
        .expect("the auth binary runs")
}

#[test]
fn short_jwt_secret_stops_the_process() {
    let output = run_auth(&[
        ("DATABASE_URL", "postgres://127.0.0.1/x"),
        ("JWT_SECRET", "short-secret"),
    ]);
    assert!(!output.status.success());
    let text = written(&output);
    let lines = text
        .lines()
        .filter(|line| line.contains("JWT_SECRET is invalid: must be at least 32 bytes"))
        .count();
    assert_eq!(lines, 1, "one line, no twin: {text}");
    assert!(
        !text.contains("short-secret"),
        "the secret must not be printed: {text}"
    );
}

#[test]
fn missing_jwt_secret_stops_the_process() {
    let output = run_auth(&[("DATABASE_URL", "postgres://127.0.0.1/x")]);
    assert!(!output.status.success());
    assert!(written(&output).contains("JWT_SECRET is required"));
}
