//! Creates whose database connection breaks at the worst moment (a proxy between the function and
//! PostgreSQL cuts it before the commit, while the insert runs, after the commit with its answer
//! lost, or hangs): with an `Idempotency-Key` the client's retry ends with exactly one row and
//! the answer that names it; without one, no request ever makes two rows and every 201 is a row.

use crate::common;

use std::time::Duration;

use common::TestApp;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::secrecy::ExposeSecret;
use test_support::{Fault, TcpProxy};

struct Answer {
    status: StatusCode,
    retry_after: bool,
    replayed: bool,
    body: Value,
}

/// The app with its pool behind `proxy`, and a 1 s query limit so a hang ends quickly.
fn app_through(harness: &TestApp, proxy: &TcpProxy) -> axum::Router {
    let mut config = harness.database.config();
    config.url = proxy.url_for(config.url.expose_secret()).into();
    config.query_timeout = Duration::from_secs(1);
    let jwt = shared::config::JwtConfig::from_source(&shared::config::Source::new(
        &test_support::jwt_verifier_vars(common::SECRET)
            .into_iter()
            .collect(),
    ))
    .unwrap();
    tasks::app(
        tasks::TasksState::new(shared::db::Db::connect_lazy(&config).unwrap(), &jwt, None).unwrap(),
    )
}

async fn create(
    app: &axum::Router,
    path: &str,
    token: &str,
    key: Option<&str>,
    title: &str,
) -> Answer {
    let mut request = http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = tower::ServiceExt::oneshot(
        app.clone(),
        request
            .body(axum::body::Body::from(
                json!({ "title": title }).to_string(),
            ))
            .unwrap(),
    )
    .await
    .unwrap();
    let status = response.status();
    let retry_after = response.headers().contains_key("retry-after");
    let replayed = response.headers().contains_key("idempotent-replayed");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Answer {
        status,
        retry_after,
        replayed,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn ids_titled(harness: &TestApp, title: &str) -> Vec<i64> {
    harness
        .sql()
        .await
        .query(
            "select id from tasks where title = $1 order by id",
            &[&title],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn with_a_key_a_retry_after_any_broken_connection_ends_with_exactly_one_row() {
    let harness = TestApp::new().await;
    let user = harness.user("ada@example.com").await;
    let proxy = TcpProxy::start(test_support::server_address()).await;
    let app = app_through(&harness, &proxy);
    let path = format!("/api/{}/tasks", user.id);
    for (index, fault) in [
        Fault::BeforeSending("commit"),
        Fault::WhileRunning("insert into tasks"),
        Fault::Blackhole("insert into tasks"),
        Fault::AnswerLost("insert into tasks"),
        // Committed, the client never hears: the retry must replay, not create again.
        Fault::AnswerLost("commit"),
        Fault::Blackhole("commit"),
    ]
    .into_iter()
    .enumerate()
    {
        let key = format!("key-{index}");
        let title = format!("with a key {index}");
        proxy.arm(fault);
        let first = create(&app, &path, &user.token, Some(&key), &title).await;
        assert_eq!(proxy.fired(), index + 1, "{fault:?} fired");
        assert_eq!(
            first.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{fault:?}: {}",
            first.body
        );
        assert!(first.retry_after, "{fault:?}: Retry-After");

        // The client retries with the same key until it hears an answer (a retry may wait
        // for the server to notice the broken connection and roll it back).
        let mut retry = create(&app, &path, &user.token, Some(&key), &title).await;
        for _ in 0..10 {
            if retry.status != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            retry = create(&app, &path, &user.token, Some(&key), &title).await;
        }
        assert_eq!(
            retry.status,
            StatusCode::CREATED,
            "{fault:?}: {}",
            retry.body
        );
        let ids = ids_titled(&harness, &title).await;
        assert_eq!(ids.len(), 1, "{fault:?}: one row per key, found {ids:?}");
        assert_eq!(
            retry.body["id"], ids[0],
            "{fault:?}: the answer names the row"
        );
        let committed_first = matches!(
            fault,
            Fault::AnswerLost("commit") | Fault::Blackhole("commit")
        );
        assert_eq!(retry.replayed, committed_first, "{fault:?}: replayed");
    }
}

#[tokio::test]
async fn without_a_key_a_broken_connection_is_503_and_never_two_rows() {
    let harness = TestApp::new().await;
    let user = harness.user("ada@example.com").await;
    let proxy = TcpProxy::start(test_support::server_address()).await;
    let app = app_through(&harness, &proxy);
    let path = format!("/api/{}/tasks", user.id);
    for (index, fault) in [
        Fault::BeforeSending("insert into tasks"),
        Fault::WhileRunning("insert into tasks"),
        // Committed with its answer lost: the pool used to send it again (two rows, one 201).
        Fault::AnswerLost("insert into tasks"),
        Fault::Blackhole("insert into tasks"),
    ]
    .into_iter()
    .enumerate()
    {
        let title = format!("without a key {index}");
        proxy.arm(fault);
        let answer = create(&app, &path, &user.token, None, &title).await;
        assert_eq!(proxy.fired(), index + 1, "{fault:?} fired");
        // The insert may have run: only the client can decide to try again.
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{fault:?}: {}",
            answer.body
        );
        assert!(answer.retry_after, "{fault:?}: Retry-After");
        let ids = ids_titled(&harness, &title).await;
        assert!(ids.len() <= 1, "{fault:?}: one request, {ids:?}");
        if let Fault::AnswerLost(_) = fault {
            assert_eq!(
                ids.len(),
                1,
                "the insert committed; only its answer was lost"
            );
        }
    }
    // The service goes on: the next create is one row, acknowledged.
    let after = create(&app, &path, &user.token, None, "after").await;
    assert_eq!(after.status, StatusCode::CREATED);
    assert_eq!(
        ids_titled(&harness, "after").await,
        vec![after.body["id"].as_i64().unwrap()]
    );
}
