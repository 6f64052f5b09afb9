//! A misconfigured deployment under the real `cargo lambda watch`: a function whose settings are
//! invalid still starts and answers every request at once with the `misconfigured` problem
//! (before, it refused to start and the request hung until the client gave up), and a database
//! without the migrations makes `/health` and the data routes say so.

use std::time::{Duration, Instant};

use crate::emulator::{agent, Emulator};
use shared::error::{PROBLEM_MISCONFIGURED, PROBLEM_NOT_MIGRATED};
use test_support::TestDb;

/// (status, JSON body, how long the answer took) of one request.
fn timed(method: &str, url: &str, body: Option<&str>) -> (u16, serde_json::Value, Duration) {
    let request = http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json");
    let started = Instant::now();
    let mut response = match body {
        Some(body) => agent().run(request.body(body.to_owned()).unwrap()),
        None => agent().run(request.body(()).unwrap()),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let elapsed = started.elapsed();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        response.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        elapsed,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_jwt_secret_is_answered_at_once_with_the_setting_and_the_fix() {
    let database = TestDb::new().await;
    // Returns once every function answers: a function that refused to start never did.
    let emulator = Emulator::start(
        &database.url,
        &[("JWT_SECRET", "12345"), ("JWT_ALGORITHM", "HS256")],
    )
    .await;
    let base = emulator.base.clone();
    let answers = tokio::task::spawn_blocking(move || {
        [
            (
                "POST",
                "/auth/register",
                Some(r#"{"email":"a@example.com","password":"long enough pass"}"#),
            ),
            ("GET", "/users/me", None),
            ("GET", "/api/someone/tasks", None),
            ("GET", "/health", None),
        ]
        .map(|(method, path, body)| (path, timed(method, &format!("{base}{path}"), body)))
    })
    .await
    .unwrap();
    for (path, (status, body, elapsed)) in &answers {
        eprintln!("{path}: {status} in {elapsed:?}");
        assert_eq!(*status, 500, "{path}: {body}");
        assert!(*elapsed < Duration::from_secs(2), "{path} took {elapsed:?}");
        assert_eq!(body["type"], PROBLEM_MISCONFIGURED, "{path}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("JWT_SECRET"), "{path}: {detail}");
        assert!(detail.contains("openssl rand"), "the fix: {detail}");
        assert!(!detail.contains("12345"), "never the value: {detail}");
        assert!(body["request_id"].is_string(), "{path}");
    }
    let log = std::fs::read_to_string(&emulator.log).unwrap();
    assert_eq!(
        log.matches("configuration is invalid").count(),
        2,
        "one line from auth, one from tasks, no plain-text twin: {log}"
    );
    assert!(!log.contains("12345"), "the secret reached the log: {log}");
    assert!(
        !log.contains("concurrency-tokio feature is not enabled"),
        "the runtime's AWS_LAMBDA_MAX_CONCURRENCY warning: {log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unmigrated_database_is_named_by_health_and_the_data_routes() {
    let database = TestDb::empty().await;
    let emulator = Emulator::start(&database.url, &[("JWT_ALGORITHM", "HS256")]).await;
    let base = emulator.base.clone();
    let (health, register) = tokio::task::spawn_blocking(move || {
        (
            timed("GET", &format!("{base}/health"), None),
            timed(
                "POST",
                &format!("{base}/auth/register"),
                Some(r#"{"email":"a@example.com","password":"long enough pass"}"#),
            ),
        )
    })
    .await
    .unwrap();
    let (status, body, _) = health;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["database"]["status"], "not_migrated");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("0001_create_users"),
        "{body}"
    );
    let (status, body, _) = register;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], PROBLEM_NOT_MIGRATED);
    assert!(
        body["detail"].as_str().unwrap().contains("migrate -- up"),
        "{body}"
    );
}
