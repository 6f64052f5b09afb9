//! The health function in-process (router driven with `oneshot`) against a real PostgreSQL, fed
//! with real API Gateway / ALB events made by `sam local generate-event`.

use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::Router;
use health::{app, HealthState};
use http::{Request, StatusCode};
use serde_json::Value;
use shared::db::Db;
use shared::secrecy::ExposeSecret;
use test_support::{TcpProxy, TestDb};
use tower::ServiceExt;

async fn call(app: Router, request: Request<Body>) -> (StatusCode, http::HeaderMap, Value) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, headers, json)
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn app_on(db: Db) -> Router {
    app(HealthState::new(db))
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn healthy_database_answers_200_with_latency() {
    let database = TestDb::new().await;
    let (status, headers, body) = call(app_on(database.pool()), get("/health")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"]["status"], "ok");
    assert!(body["database"]["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let timestamp = body["timestamp"].as_str().unwrap();
    time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 timestamp");
    assert_eq!(headers["cache-control"], "no-store");
}

#[tokio::test]
async fn closed_port_answers_503_within_5_seconds() {
    let database = TestDb::new().await;
    let mut config = database.config();
    config.url = format!(
        "postgres://postgres@127.0.0.1:{}/db?sslmode=disable",
        closed_port()
    )
    .into();
    let started = Instant::now();
    let (status, headers, body) =
        call(app_on(Db::connect_lazy(&config).unwrap()), get("/health")).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["database"]["status"], "unavailable");
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn unresponsive_database_answers_503_within_5_seconds() {
    // A listener that accepts but never speaks: the worst case, a host that hangs.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let database = TestDb::new().await;
    let mut config = database.config();
    config.url = format!("postgres://postgres@127.0.0.1:{port}/db?sslmode=disable").into();
    let started = Instant::now();
    let (status, _, body) = call(app_on(Db::connect_lazy(&config).unwrap()), get("/health")).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unhealthy");
}

#[tokio::test]
async fn outage_gives_503_and_recovery_gives_200_without_restart() {
    let database = TestDb::new().await;
    let proxy = TcpProxy::start(test_support::server_address()).await;
    let mut config = database.config();
    config.url = proxy.url_for(config.url.expose_secret()).into();
    let app = app_on(Db::connect_lazy(&config).unwrap());

    assert_eq!(call(app.clone(), get("/health")).await.0, StatusCode::OK);
    proxy.take_down();
    assert_eq!(
        call(app.clone(), get("/health")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        call(app.clone(), get("/health")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    proxy.bring_back();
    let (status, _, body) = call(app, get("/health")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn unknown_path_is_problem_json_404() {
    let database = TestDb::new().await;
    let (status, headers, body) = call(app_on(database.pool()), get("/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(body["status"], 404);
    assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn wrong_method_is_problem_json_405() {
    let database = TestDb::new().await;
    let request = Request::post("/health").body(Body::from("{}")).unwrap();
    let (status, headers, body) = call(app_on(database.pool()), request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(body["status"], 405);
}

/// Events as `sam local generate-event` writes them, decoded by lambda_http exactly as in AWS.
fn event(file: &str) -> Request<lambda_http::Body> {
    let path = format!(
        "{}/tests/fixtures/events/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let json = std::fs::read_to_string(&path).unwrap();
    lambda_http::request::from_str(&json).unwrap_or_else(|e| panic!("{file}: {e}"))
}

async fn call_with_event(app: Router, request: Request<lambda_http::Body>) -> (StatusCode, Value) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn api_gateway_and_alb_events_reach_the_handler() {
    // As template.yaml's Globals set it: a REST API stage name (`/prod`) is not part of our paths.
    // nextest runs each test in its own process, so this touches no other test.
    std::env::set_var("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true");
    let database = TestDb::new().await;
    for file in [
        "http-api-v2-get-health.json",
        "rest-api-v1-get-health.json",
        "alb-get-health.json",
    ] {
        let (status, body) = call_with_event(app_on(database.pool()), event(file)).await;
        assert_eq!(status, StatusCode::OK, "{file}: {body}");
        assert_eq!(body["status"], "healthy", "{file}");
    }
}

#[tokio::test]
async fn error_bodies_carry_the_api_gateway_request_id() {
    let database = TestDb::new().await;
    let mut request = event("rest-api-v1-get-health.json");
    *request.uri_mut() = "/missing".parse().unwrap();
    let (status, body) = call_with_event(app_on(database.pool()), request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["request_id"], "c6af9ac6-7b61-11e6-9a41-93e8deadbeef");
}

/// The newest migration the code embeds, as `/health` names it.
fn newest_migration() -> String {
    let newest = schema::MIGRATIONS.last().unwrap();
    format!("{:04}_{}", newest.version, newest.name)
}

#[tokio::test]
async fn a_database_behind_the_code_answers_503_naming_the_missing_migration() {
    let database = TestDb::new().await;
    database
        .client()
        .await
        .batch_execute("delete from schema_migrations where version = (select max(version) from schema_migrations)")
        .await
        .unwrap();
    let (status, headers, body) = call(app_on(database.pool()), get("/health")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["database"]["status"], "not_migrated");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(&newest_migration()), "{detail}");
    assert!(
        detail.contains("cargo run -p schema --bin migrate -- up"),
        "{detail}"
    );
    assert!(
        !headers.contains_key("retry-after"),
        "waiting migrates nothing"
    );
}

#[tokio::test]
async fn a_database_never_migrated_answers_503_naming_the_first_migration() {
    let database = TestDb::empty().await;
    let (status, _, body) = call(app_on(database.pool()), get("/health")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["database"]["status"], "not_migrated");
    let detail = body["detail"].as_str().unwrap();
    let first = &schema::MIGRATIONS[0];
    assert!(
        detail.contains(&format!("{:04}_{}", first.version, first.name)),
        "{detail}"
    );
    assert!(detail.contains("(newest applied: none)"), "{detail}");
}

#[tokio::test]
async fn a_database_refusing_the_url_answers_500_misconfigured() {
    let database = TestDb::new().await;
    let mut config = database.direct_config();
    config.url = format!(
        "{}/no_such_database_here?sslmode=disable",
        database.url.rsplit_once('/').unwrap().0
    )
    .into();
    let started = Instant::now();
    let (status, headers, body) =
        call(app_on(Db::connect_lazy(&config).unwrap()), get("/health")).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["type"], shared::error::PROBLEM_MISCONFIGURED);
    assert!(body["detail"].as_str().unwrap().contains("DATABASE_URL"));
    assert!(!headers.contains_key("retry-after"));
}

/// Locally every function reads the same `.env`: a token setting the health function finds
/// invalid makes `/health` say so rather than "healthy" while auth and tasks refuse.
#[tokio::test]
async fn an_invalid_shared_setting_answers_500_misconfigured_naming_it() {
    let database = TestDb::new().await;
    let vars: std::collections::HashMap<String, String> = [
        ("DATABASE_URL", database.url.as_str()),
        ("DB_WARMUP", "false"),
        ("BETTER_AUTH_SECRET", "your_jwt_secret_from_frontend"),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let app = health::build(vars).await.unwrap();
    let (status, _, body) = call(app.clone(), get("/health")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["type"], shared::error::PROBLEM_MISCONFIGURED);
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("BETTER_AUTH_SECRET"), "{detail}");
    assert!(!detail.contains("your_jwt_secret"), "{detail}");
    // The docs are still served.
    assert_eq!(call(app, get("/openapi.json")).await.0, StatusCode::OK);
}
