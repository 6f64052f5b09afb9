//! Database faults: an exhausted pool answers Unavailable (503) after the wait timeout instead of
//! hanging; building a function while the database is down still succeeds; a database refusing
//! the URL is a misconfiguration (500) and one without the code's tables is not migrated (503),
//! neither with `Retry-After`.

use std::time::{Duration, Instant};

use axum::body::to_bytes;
use axum::response::IntoResponse;
use http::StatusCode;
use shared::db::{Db, DbError};
use shared::error::{ApiError, PROBLEM_MISCONFIGURED, PROBLEM_NOT_MIGRATED};
use shared::secrecy::ExposeSecret;
use test_support::{CapturedLog, TestDb};
use tokio_postgres::config::Host;
use tracing_subscriber::filter::Targets;

#[tokio::test]
async fn exhausted_pool_is_unavailable_after_the_wait_timeout_never_a_hang() {
    let database = TestDb::new().await;
    let mut config = database.config();
    config.pool_max_size = 1;
    config.pool_wait_timeout = Duration::from_millis(300);
    let db = Db::connect_lazy(&config).unwrap();
    let held = db.client().await.unwrap();
    let started = Instant::now();
    let error = db.ping().await.unwrap_err();
    assert!(matches!(error, DbError::Unavailable(_)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(held);
    db.ping()
        .await
        .expect("the pool serves again once the connection is back");
}

#[tokio::test]
async fn init_with_the_database_down_still_succeeds() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let database = TestDb::new().await;
    let mut config = database.config();
    config.url = format!("postgres://postgres@127.0.0.1:{closed}/db?sslmode=disable").into();
    let vars = std::collections::HashMap::new();
    let started = Instant::now();
    let db = shared::lambda::database(&config, &vars)
        .await
        .expect("init never fails on the database");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(db.ping().await, Err(DbError::Unavailable(_))));
}

/// A database that refuses `DATABASE_URL` itself is a misconfiguration: answered at once with a
/// 500 of its own type, never a 503 with `Retry-After`, and logged with the host and the setting.
/// The test server trusts every connection (any password is accepted), so the refusals tested
/// are the ones trust authentication still gives: an unknown database (3D000) and an unknown
/// role (28000).
#[tokio::test]
async fn a_refused_database_url_is_a_misconfiguration_not_an_outage() {
    let database = TestDb::new().await;
    let direct = database.direct_config();
    let server: tokio_postgres::Config = direct.url.expose_secret().parse().unwrap();
    let Host::Tcp(host) = &server.get_hosts()[0] else {
        panic!("a TCP test server")
    };
    let port = server.get_ports()[0];
    let user = server.get_user().unwrap();
    let unknown_database =
        format!("postgres://{user}@{host}:{port}/no_such_database_here?sslmode=disable");
    let unknown_role = format!(
        "postgres://no_such_role_here@{host}:{port}/{}?sslmode=disable",
        database.name
    );
    for (url, code) in [(unknown_database, "3D000"), (unknown_role, "28000")] {
        let log = CapturedLog::default();
        let subscriber = shared::telemetry::json_subscriber(
            log.clone(),
            Targets::new().with_default(tracing::Level::INFO),
            shared::telemetry::PowertoolsJson::from_vars(&Default::default()),
        );
        let _guard = tracing::subscriber::set_default(subscriber);
        let mut config = database.direct_config();
        config.url = url.into();
        let db = Db::connect_lazy(&config).unwrap();
        let started = Instant::now();
        let error = db.ping().await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2), "{code}");
        assert!(
            matches!(error, DbError::Refused { .. }),
            "{code}: {error:?}"
        );

        let response = ApiError::from(error).into_response();
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{code}"
        );
        assert!(!response.headers().contains_key("retry-after"), "{code}");
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap())
                .unwrap();
        assert_eq!(body["type"], PROBLEM_MISCONFIGURED, "{code}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("DATABASE_URL") && detail.contains(code),
            "{detail}"
        );
        assert!(
            !detail.contains("no_such"),
            "names no part of the URL: {detail}"
        );

        let line = log.text();
        assert!(line.contains("\"setting\":\"DATABASE_URL\""), "{line}");
        assert!(line.contains(&format!("{host}:{port}")), "the host: {line}");
    }
}

/// A database without the tables the code reads: a 503 of its own type that says to migrate,
/// without `Retry-After` (waiting migrates nothing), not an opaque 500.
#[tokio::test]
async fn a_database_without_the_tables_is_not_migrated() {
    let database = TestDb::empty().await;
    let db = Db::connect_lazy(&database.config()).unwrap();
    let error = db
        .query("select id from users limit 1", &[])
        .await
        .unwrap_err();
    let response = ApiError::from(error).into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(!response.headers().contains_key("retry-after"));
    let body: serde_json::Value =
        serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap();
    assert_eq!(body["type"], PROBLEM_NOT_MIGRATED);
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("cargo run -p schema --bin migrate -- up"),
        "{detail}"
    );
    assert!(!detail.contains("users"), "no SQL: {detail}");
}
