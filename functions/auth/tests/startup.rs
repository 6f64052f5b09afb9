//! The auth binary refuses to start, with one clear line, when the JWT secret is missing or weak.

use std::process::Command;

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
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("JWT_SECRET is invalid: must be at least 32 bytes"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("short-secret"),
        "the secret must not be printed: {stderr}"
    );
}

#[test]
fn missing_jwt_secret_stops_the_process() {
    let output = run_auth(&[("DATABASE_URL", "postgres://127.0.0.1/x")]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("JWT_SECRET is required"));
}
