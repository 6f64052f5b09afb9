//! A database outage: every tasks route answers 503 with Retry-After within 5 s, and service
//! resumes as soon as the database is back, without a restart.

use crate::common;

use std::time::{Duration, Instant};

use common::TestApp;
use http::{Method, StatusCode};
use serde_json::json;
use shared::secrecy::ExposeSecret;
use test_support::TcpProxy;

#[tokio::test]
async fn outage_is_503_on_every_route_and_service_resumes() {
    let harness = TestApp::new().await;
    let user = harness.user("ada@example.com").await;
    // The same app, its pool behind a proxy that can take the database away.
    let proxy = TcpProxy::start(test_support::server_address()).await;
    let mut config = harness.database.config();
    config.url = proxy.url_for(config.url.expose_secret()).into();
    let jwt = shared::config::JwtConfig::from_source(&shared::config::Source::new(
        &test_support::jwt_verifier_vars(common::SECRET)
            .into_iter()
            .collect(),
    ))
    .unwrap();
    let app = tasks::app(
        tasks::TasksState::new(shared::db::Db::connect_lazy(&config).unwrap(), &jwt, None).unwrap(),
    );
    let call = |method: Method, path: String, body: Option<serde_json::Value>| {
        let app = app.clone();
        let token = user.token.clone();
        async move {
            let mut request = http::Request::builder()
                .method(method)
                .uri(path)
                .header("authorization", format!("Bearer {token}"));
            if body.is_some() {
                request = request.header("content-type", "application/json");
            }
            let body = body.map(|b| b.to_string()).unwrap_or_default();
            let response = tower::ServiceExt::oneshot(
                app,
                request.body(axum::body::Body::from(body)).unwrap(),
            )
            .await
            .unwrap();
            (
                response.status(),
                response.headers().get("retry-after").is_some(),
            )
        }
    };
    let base = format!("/api/{}/tasks", user.id);
    let (status, _) = call(Method::POST, base.clone(), Some(json!({"title": "before"}))).await;
    assert_eq!(status, StatusCode::CREATED);

    proxy.take_down();
    let mut slowest = Duration::ZERO;
    for (method, path, body) in [
        (Method::GET, base.clone(), None),
        (Method::POST, base.clone(), Some(json!({"title": "during"}))),
        (Method::GET, format!("{base}/1"), None),
        (
            Method::PUT,
            format!("{base}/1"),
            Some(json!({"title": "during"})),
        ),
        (
            Method::PATCH,
            format!("{base}/1"),
            Some(json!({"title": "during"})),
        ),
        (Method::PATCH, format!("{base}/1/complete"), None),
        (Method::DELETE, format!("{base}/1"), None),
    ] {
        let started = Instant::now();
        let (status, retry_after) = call(method.clone(), path.clone(), body).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{method} {path}");
        assert!(retry_after, "{method} {path}: Retry-After");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{method} {path}: {:?}",
            started.elapsed()
        );
        slowest = slowest.max(started.elapsed());
    }
    println!("slowest 503 during the outage: {slowest:?}");

    proxy.bring_back();
    let started = Instant::now();
    let (status, _) = call(Method::GET, base.clone(), None).await;
    assert_eq!(status, StatusCode::OK, "service resumes without a restart");
    println!("recovered in {:?}", started.elapsed());
    let count: i64 = harness
        .sql()
        .await
        .query_one("select count(*) from tasks", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1, "nothing written during the outage");
}
