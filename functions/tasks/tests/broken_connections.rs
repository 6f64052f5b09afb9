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

/// Every connection cut every 50 ms while 8 clients create for 3 s, as the reset runs did
/// (there: every function↔PgBouncer connection reset three times in 20 s at c=16, 15 tasks stored
/// twice). Prints the figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeated_resets_during_creates_never_store_a_task_twice() {
    let harness = TestApp::new().await;
    let user = harness.user("ada@example.com").await;
    let proxy = std::sync::Arc::new(TcpProxy::start(test_support::server_address()).await);
    let app = app_through(&harness, &proxy);
    let path = format!("/api/{}/tasks", user.id);
    let run_for = Duration::from_secs(3);
    let resets = {
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let mut count = 0;
            while started.elapsed() < run_for {
                tokio::time::sleep(Duration::from_millis(50)).await;
                proxy.take_down();
                proxy.bring_back();
                count += 1;
            }
            count
        })
    };
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let (app, path, token) = (app.clone(), path.clone(), user.token.clone());
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let (mut sent, mut keyed_created, mut plain) = (0, Vec::new(), Vec::new());
                while started.elapsed() < run_for {
                    sent += 1;
                    // Odd requests carry a key and are retried until answered; even ones not.
                    let title = format!("c{client}-r{sent}");
                    if sent % 2 == 1 {
                        loop {
                            let answer = create(&app, &path, &token, Some(&title), &title).await;
                            if answer.status == StatusCode::CREATED {
                                keyed_created.push(title.clone());
                                break;
                            }
                            assert_eq!(
                                answer.status,
                                StatusCode::SERVICE_UNAVAILABLE,
                                "{}",
                                answer.body
                            );
                        }
                    } else {
                        let answer = create(&app, &path, &token, None, &title).await;
                        plain.push((title, answer.status));
                    }
                }
                (keyed_created, plain)
            })
        })
        .collect();
    let (mut keyed, mut plain) = (Vec::new(), Vec::new());
    for client in clients {
        let (k, p) = client.await.unwrap();
        keyed.extend(k);
        plain.extend(p);
    }
    let resets = resets.await.unwrap();
    let rows: std::collections::HashMap<String, i64> = harness
        .sql()
        .await
        .query("select title, count(*) from tasks group by title", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let twice = rows.values().filter(|n| **n > 1).count();
    let acknowledged = plain
        .iter()
        .filter(|(_, s)| *s == StatusCode::CREATED)
        .count();
    let unavailable = plain.len() - acknowledged;
    let plain_rows: i64 = plain
        .iter()
        .map(|(t, _)| rows.get(t).copied().unwrap_or(0))
        .sum();
    println!(
        "{resets} resets; with a key: {} creates, {} rows; without: {} requests, {acknowledged} \
         201, {unavailable} 503, {plain_rows} rows; tasks stored twice: {twice}",
        keyed.len(),
        keyed
            .iter()
            .map(|t| rows.get(t).copied().unwrap_or(0))
            .sum::<i64>(),
        plain.len(),
    );
    assert_eq!(twice, 0, "tasks stored twice");
    for title in &keyed {
        assert_eq!(rows.get(title), Some(&1), "key {title}: one row");
    }
    for (title, status) in &plain {
        if *status == StatusCode::CREATED {
            assert_eq!(rows.get(title), Some(&1), "{title}: a 201 is a row");
        }
    }
    assert!(resets > 10 && !keyed.is_empty() && acknowledged > 0);
}
