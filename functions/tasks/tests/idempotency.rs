//! `Idempotency-Key` on `POST /api/{user_id}/tasks`: a retry gets the first answer and makes no
//! second row; another body with the key is a 422; a twin still in flight is a 409; keys belong to
//! their caller; expired keys and dead claims free themselves.

use crate::common;

use axum::body::Body;
use common::{TestApp, User};
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use test_support::{send_raw, RawAnswer};

fn request_with_keys(user: &User, keys: &[&str], body: &str) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/{}/tasks", user.id))
        .header("authorization", format!("Bearer {}", user.token))
        .header("content-type", "application/json");
    for key in keys {
        request = request.header("idempotency-key", *key);
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

async fn post_with_keys(app: &TestApp, user: &User, keys: &[&str], body: &str) -> RawAnswer {
    send_raw(app.router.clone(), request_with_keys(user, keys, body)).await
}

async fn post(app: &TestApp, user: &User, key: &str, body: Value) -> RawAnswer {
    post_with_keys(app, user, &[key], &body.to_string()).await
}

async fn task_count(app: &TestApp) -> i64 {
    app.sql()
        .await
        .query_one("select count(*) from tasks", &[])
        .await
        .unwrap()
        .get(0)
}

async fn expired_count(app: &TestApp) -> i64 {
    app.sql()
        .await
        .query_one(
            "select count(*) from idempotency_keys where expires_at <= now()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

async fn key_count(app: &TestApp) -> i64 {
    app.sql()
        .await
        .query_one("select count(*) from idempotency_keys", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_retry_gets_the_first_answer_byte_for_byte_and_makes_no_second_row() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    let body = json!({"title": "Buy milk", "description": "2 litres"});

    let first = post(
        &app,
        &user,
        "8e03978e-40d5-43e8-bc93-6894a57f9324",
        body.clone(),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.json());
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = post(&app, &user, "8e03978e-40d5-43e8-bc93-6894a57f9324", body).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.bytes, first.bytes);
    assert_eq!(again.headers["location"], first.headers["location"]);
    assert_eq!(again.headers["content-type"], "application/json");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(task_count(&app).await, 1);

    // The answer is the first one even after the task changed: a replay, not a read.
    let id = first.json()["id"].as_i64().unwrap();
    let renamed = app
        .call(
            Method::PATCH,
            &format!("/api/{}/tasks/{id}", user.id),
            &user.token,
            Some(json!({"title": "Buy oat milk"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    let later = post(
        &app,
        &user,
        "8e03978e-40d5-43e8-bc93-6894a57f9324",
        json!({"title": "Buy milk", "description": "2 litres"}),
    )
    .await;
    assert_eq!(later.bytes, first.bytes);
    assert_eq!(task_count(&app).await, 1);
}

#[tokio::test]
async fn the_same_request_spelled_differently_is_the_same_request() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    let first = post_with_keys(
        &app,
        &user,
        &["k-1"],
        r#"{"title": "Buy milk", "completed": false}"#,
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    // Members reordered, whitespace, the default spelled out or left out, the key quoted as a
    // Structured Field string (the draft's form): one request.
    for (key, body) in [
        ("k-1", r#"{"completed":false,"title":"Buy milk"}"#),
        ("k-1", r#"{ "title" : "Buy milk" }"#),
        ("\"k-1\"", r#"{"title": "Buy milk"}"#),
    ] {
        let again = post_with_keys(&app, &user, &[key], body).await;
        assert_eq!(again.status, StatusCode::CREATED, "{key} {body}");
        assert_eq!(again.bytes, first.bytes, "{key} {body}");
    }
    assert_eq!(task_count(&app).await, 1);
}

#[tokio::test]
async fn the_key_with_another_body_is_422_and_changes_nothing() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    let first = post(&app, &user, "key", json!({"title": "Buy milk"})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    for other in [
        json!({"title": "Buy bread"}),
        json!({"title": "Buy milk", "completed": true}),
        json!({"title": "Buy milk", "description": "2 litres"}),
        json!({"title": "Buy milk", "description": ""}),
    ] {
        let answer = post(&app, &user, "key", other.clone()).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{other}");
        let problem = answer.json();
        assert_eq!(
            problem["errors"][0]["loc"],
            json!(["header", "Idempotency-Key"])
        );
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("different request"),
            "{problem}"
        );
    }
    assert_eq!(task_count(&app).await, 1);
}

#[tokio::test]
async fn keys_belong_to_their_caller() {
    let app = TestApp::new().await;
    let ada = app.user("ada@example.com").await;
    let bob = app.user("bob@example.com").await;
    let body = json!({"title": "Same title"});
    let of_ada = post(&app, &ada, "shared-key", body.clone()).await;
    let of_bob = post(&app, &bob, "shared-key", body).await;
    assert_eq!(of_ada.status, StatusCode::CREATED);
    assert_eq!(of_bob.status, StatusCode::CREATED);
    assert!(of_bob.headers.get("idempotent-replayed").is_none());
    assert_eq!(of_bob.json()["user_id"], bob.id.as_str());
    assert_ne!(of_bob.json()["id"], of_ada.json()["id"]);
    // Bob's other body under the same key is no conflict with Ada's use of it either.
    let other = post(&app, &bob, "another-key", json!({"title": "x"})).await;
    assert_eq!(other.status, StatusCode::CREATED);
    assert_eq!(task_count(&app).await, 3);

    // Another user's path is refused before the key is even looked at.
    let foreign = post_with_keys(
        &app,
        &User {
            id: ada.id.clone(),
            session: bob.session,
            token: bob.token.clone(),
        },
        &["shared-key"],
        r#"{"title": "Same title"}"#,
    )
    .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_twins_make_exactly_one_row() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    for round in 0..3 {
        let key = format!("race-{round}");
        let body = json!({"title": format!("Round {round}")}).to_string();
        let racers: Vec<_> = (0..20)
            .map(|_| {
                let request = request_with_keys(&user, &[&key], &body);
                tokio::spawn(send_raw(app.router.clone(), request))
            })
            .collect();
        let mut answers = Vec::new();
        for racer in racers {
            answers.push(racer.await.unwrap());
        }
        let created: Vec<&RawAnswer> = answers
            .iter()
            .filter(|a| a.status == StatusCode::CREATED)
            .collect();
        assert!(!created.is_empty(), "round {round}: somebody must win");
        eprintln!(
            "round {round}: {} answered 201 (1 first + replays), {} answered 409 in flight",
            created.len(),
            answers.len() - created.len()
        );
        for answer in &answers {
            match answer.status {
                StatusCode::CREATED => assert_eq!(answer.bytes, created[0].bytes),
                StatusCode::CONFLICT => {
                    assert_eq!(answer.headers["retry-after"], "1");
                    assert!(answer.json()["detail"]
                        .as_str()
                        .unwrap()
                        .contains("still being processed"));
                }
                other => panic!("round {round}: unexpected {other}: {}", answer.json()),
            }
        }
        assert_eq!(task_count(&app).await, round + 1, "round {round}");
    }
}

#[tokio::test]
async fn malformed_keys_are_422_and_create_nothing() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    let long = "k".repeat(300);
    let just_too_long = "k".repeat(256);
    for keys in [
        vec![""],
        vec!["\"\""],
        vec!["has space"],
        vec!["tab\there"],
        vec![long.as_str()],
        vec![just_too_long.as_str()],
        vec!["a", "a"],
        vec!["a", "b"],
        // What API Gateway makes of two headers.
        vec!["a,b"],
    ] {
        let answer = post_with_keys(&app, &user, &keys, r#"{"title": "x"}"#).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{keys:?}");
        assert_eq!(
            answer.json()["errors"][0]["loc"],
            json!(["header", "Idempotency-Key"]),
            "{keys:?}"
        );
    }
    // Not visible ASCII (a header value may carry Latin-1 bytes).
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/{}/tasks", user.id))
        .header("authorization", format!("Bearer {}", user.token))
        .header("content-type", "application/json")
        .header(
            "idempotency-key",
            http::HeaderValue::from_bytes(b"cl\xe9").unwrap(),
        )
        .body(Body::from(r#"{"title": "x"}"#))
        .unwrap();
    assert_eq!(
        app.send(request).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(task_count(&app).await, 0);
    assert_eq!(key_count(&app).await, 0);

    // The longest key is fine; an invalid body with a key stores nothing.
    let longest = "k".repeat(255);
    let ok = post(&app, &user, &longest, json!({"title": "x"})).await;
    assert_eq!(ok.status, StatusCode::CREATED);
    let invalid = post(&app, &user, "fresh", json!({"title": "   "})).await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(key_count(&app).await, 1);
}

#[tokio::test]
async fn a_failed_create_frees_its_key_and_a_stored_answer_is_no_credential() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    let sql = app.sql().await;

    // Revoked session: 401, nothing stored, the key stays free.
    sql.execute(
        "update sessions set revoked_at = now() where id = $1",
        &[&user.session],
    )
    .await
    .unwrap();
    let refused = post(&app, &user, "k", json!({"title": "x"})).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(key_count(&app).await, 0);

    // The same user signs in again and retries: the key creates, once.
    let again = app.user_session(&user.id).await;
    let created = post(&app, &again, "k", json!({"title": "x"})).await;
    assert_eq!(created.status, StatusCode::CREATED);

    // After sign-out the stored answer is not given to the old token.
    sql.execute(
        "update sessions set revoked_at = now() where id = $1",
        &[&again.session],
    )
    .await
    .unwrap();
    let replay = post(&app, &again, "k", json!({"title": "x"})).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    // A new session of the owner still gets it.
    let third = app.user_session(&user.id).await;
    let replay = post(&app, &third, "k", json!({"title": "x"})).await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.bytes, created.bytes);
    assert_eq!(task_count(&app).await, 1);

    // Deleting the account deletes its stored answers with its tasks.
    sql.execute("delete from users where id = $1::text::uuid", &[&user.id])
        .await
        .unwrap();
    assert_eq!(key_count(&app).await, 0);
}

#[tokio::test]
async fn a_claim_in_flight_is_409_until_its_lease_ends() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    let sql = app.sql().await;
    let first = post(&app, &user, "k", json!({"title": "x"})).await;
    assert_eq!(first.status, StatusCode::CREATED);

    // As if the first request were still running.
    sql.execute(
        "update idempotency_keys set status = null, body = null, location = null",
        &[],
    )
    .await
    .unwrap();
    let busy = post(&app, &user, "k", json!({"title": "x"})).await;
    assert_eq!(busy.status, StatusCode::CONFLICT);
    assert_eq!(busy.headers["retry-after"], "1");
    // Another body under a key in flight is still "a different request".
    let other = post(&app, &user, "k", json!({"title": "y"})).await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);

    // As if that request had died: its lease over, the same request takes the key over.
    sql.execute(
        "update idempotency_keys set lease_until = now() - interval '1 second'",
        &[],
    )
    .await
    .unwrap();
    let other = post(&app, &user, "k", json!({"title": "y"})).await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    let taken_over = post(&app, &user, "k", json!({"title": "x"})).await;
    assert_eq!(taken_over.status, StatusCode::CREATED);
    assert!(taken_over.headers.get("idempotent-replayed").is_none());
    let replayed = post(&app, &user, "k", json!({"title": "x"})).await;
    assert_eq!(replayed.bytes, taken_over.bytes);
}

#[tokio::test]
async fn keys_expire_after_24_hours_and_claims_sweep_expired_rows() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    let sql = app.sql().await;
    let first = post(&app, &user, "k", json!({"title": "x"})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let hours: f64 = sql
        .query_one(
            "select (extract(epoch from expires_at - created_at) / 3600)::float8 from idempotency_keys",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!((hours - 24.0).abs() < 0.01, "{hours}");

    // 20 stale rows of other callers, and this key expired too.
    sql.execute(
        "insert into idempotency_keys (operation, caller, key, fingerprint, claim_id, lease_until, created_at, expires_at, status, body)
         select 'createTask', sha256(i::text::bytea), 'old', sha256(''::bytea), gen_random_uuid(),
                now() - interval '2 days', now() - interval '2 days', now() - interval '1 day', 201, '{}'
           from generate_series(1, 20) i",
        &[],
    )
    .await
    .unwrap();
    sql.execute(
        "update idempotency_keys set expires_at = now() - interval '1 second' where key = 'k'",
        &[],
    )
    .await
    .unwrap();

    // An expired key is a new key: a second task, and a fresh record.
    let after = post(&app, &user, "k", json!({"title": "x"})).await;
    assert_eq!(after.status, StatusCode::CREATED);
    assert_ne!(after.json()["id"], first.json()["id"]);
    assert_eq!(task_count(&app).await, 2);
    let stale = expired_count(&app).await;
    assert_eq!(stale, 20 - 8, "each claim sweeps 8 expired rows");
    for n in 0..2 {
        let created = post(&app, &user, &format!("sweep-{n}"), json!({"title": "x"})).await;
        assert_eq!(created.status, StatusCode::CREATED);
    }
    assert_eq!(expired_count(&app).await, 0);
}

#[tokio::test]
async fn a_request_without_a_key_is_untouched() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    let one = app.create(&user, json!({"title": "x"})).await;
    let two = app.create(&user, json!({"title": "x"})).await;
    assert_eq!(one.status, StatusCode::CREATED);
    assert_eq!(two.status, StatusCode::CREATED);
    assert_ne!(one.body["id"], two.body["id"]);
    assert_eq!(key_count(&app).await, 0);
}
