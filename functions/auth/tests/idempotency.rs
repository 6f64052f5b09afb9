//! `Idempotency-Key` on `POST /auth/register`: a retried registration gets its first answer
//! instead of a 409 for an account it in fact made; only with the same password; keys are scoped to
//! the address; twenty concurrent twins make one account and no 429.

use crate::common;

use axum::body::Body;
use common::{capture_log, from_ip, TestApp, PASSWORD};
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use test_support::{send_raw, RawAnswer};

fn registration(keys: &[&str], body: &Value) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/auth/register")
        .header("content-type", "application/json");
    for key in keys {
        request = request.header("idempotency-key", *key);
    }
    from_ip(
        request.body(Body::from(body.to_string())).unwrap(),
        "203.0.113.7",
    )
}

async fn register(app: &TestApp, key: &str, body: &Value) -> RawAnswer {
    send_raw(app.router.clone(), registration(&[key], body)).await
}

async fn users(app: &TestApp) -> i64 {
    app.sql()
        .await
        .query_one("select count(*) from users", &[])
        .await
        .unwrap()
        .get(0)
}

fn ada() -> Value {
    json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"})
}

#[tokio::test]
async fn a_retried_registration_gets_its_first_answer_not_a_409() {
    let app = TestApp::new().await;
    let (captured, _guard) = capture_log(tracing::Level::INFO);
    let first = register(&app, "reg-1", &ada()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.json());
    let again = register(&app, "reg-1", &ada()).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.json());
    assert_eq!(again.bytes, first.bytes);
    assert_eq!(again.headers["location"], "/users/me");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(users(&app).await, 1);
    // One account, one verification mail: the replay mails nothing.
    assert_eq!(captured.text().matches("token=").count(), 1);

    // Without the key, the retry is what it always was.
    let plain = send_raw(app.router.clone(), registration(&[], &ada())).await;
    assert_eq!(plain.status, StatusCode::CONFLICT);
    // Another spelling of the address is the same address, and the same key's scope.
    let spelled = json!({"email": "ADA@example.com", "password": PASSWORD, "name": "Ada"});
    let answer = register(&app, "reg-1", &spelled).await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.json()
    );
}

#[tokio::test]
async fn another_password_or_name_under_the_key_is_422_and_changes_nothing() {
    let app = TestApp::new().await;
    assert_eq!(
        register(&app, "k", &ada()).await.status,
        StatusCode::CREATED
    );
    for other in [
        json!({"email": "ada@example.com", "password": "another password!", "name": "Ada"}),
        json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada L."}),
        json!({"email": "ada@example.com", "password": PASSWORD}),
    ] {
        let answer = register(&app, "k", &other).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{other}");
        assert_eq!(
            answer.json()["errors"][0]["loc"],
            json!(["header", "Idempotency-Key"])
        );
        // Nothing about the account leaks to a wrong password.
        assert!(!String::from_utf8_lossy(&answer.bytes).contains("\"id\""));
    }
    assert_eq!(users(&app).await, 1);
    // The password never reaches the stored record; its argon2 hash does.
    let row = app
        .sql()
        .await
        .query_one(
            "select k.secret_hash = u.password_hash, position($1 in convert_from(k.body, 'UTF8'))
               from idempotency_keys k join users u on u.id = k.user_id",
            &[&PASSWORD],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, i32>(1), 0);
}

#[tokio::test]
async fn keys_are_scoped_to_the_address() {
    let app = TestApp::new().await;
    let bob = json!({"email": "bob@example.com", "password": PASSWORD});
    let of_ada = register(&app, "same-key", &ada()).await;
    let of_bob = register(&app, "same-key", &bob).await;
    assert_eq!(of_ada.status, StatusCode::CREATED);
    assert_eq!(of_bob.status, StatusCode::CREATED, "{}", of_bob.json());
    assert_eq!(of_bob.json()["email"], "bob@example.com");
    assert_eq!(users(&app).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_twins_make_one_account_and_no_429() {
    let app = TestApp::new().await;
    let racers: Vec<_> = (0..20)
        .map(|_| {
            tokio::spawn(send_raw(
                app.router.clone(),
                registration(&["race"], &ada()),
            ))
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
    assert!(!created.is_empty());
    for answer in &answers {
        match answer.status {
            StatusCode::CREATED => assert_eq!(answer.bytes, created[0].bytes),
            StatusCode::CONFLICT => assert_eq!(answer.headers["retry-after"], "1"),
            other => panic!("unexpected {other}: {}", answer.json()),
        }
    }
    assert_eq!(users(&app).await, 1);
}

#[tokio::test]
async fn the_stored_answer_dies_with_the_password_and_with_the_account() {
    let app = TestApp::new().await;
    let first = register(&app, "k", &ada()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let login = app.login("ada@example.com", PASSWORD).await;
    let token = login.body["access_token"].as_str().unwrap().to_owned();
    let changed = app
        .call(
            Method::PATCH,
            "/users/me",
            Some(&token),
            Some(json!({"password": "a brand new passphrase", "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    // The old password no longer replays the registration: it is a new request, and the
    // address is taken.
    let replay = register(&app, "k", &ada()).await;
    assert_eq!(replay.status, StatusCode::CONFLICT, "{}", replay.json());
    assert!(replay.headers.get("idempotent-replayed").is_none());

    // A second account's stored answer goes with the account.
    let bob = json!({"email": "bob@example.com", "password": PASSWORD});
    assert_eq!(register(&app, "b", &bob).await.status, StatusCode::CREATED);
    let sql = app.sql().await;
    sql.execute("delete from users where email = 'bob@example.com'", &[])
        .await
        .unwrap();
    let count: i64 = sql
        .query_one("select count(*) from idempotency_keys", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn malformed_keys_are_422_and_register_nothing() {
    let app = TestApp::new().await;
    let long = "k".repeat(300);
    for keys in [vec![""], vec![long.as_str()], vec!["a b"], vec!["a", "b"]] {
        let answer = send_raw(app.router.clone(), registration(&keys, &ada())).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{keys:?}");
    }
    assert_eq!(users(&app).await, 0);
    // A failed registration (invalid field) stores nothing; the key stays free.
    let invalid = register(
        &app,
        "k",
        &json!({"email": "not an address", "password": PASSWORD}),
    )
    .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        register(&app, "k", &ada()).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn wrong_passwords_against_a_stored_answer_are_throttled() {
    let app = TestApp::new().await;
    assert_eq!(
        register(&app, "k", &ada()).await.status,
        StatusCode::CREATED
    );
    let guess = |n: usize| json!({"email": "ada@example.com", "password": format!("guess number {n}"), "name": "Ada"});
    let mut statuses = Vec::new();
    for n in 0..12 {
        statuses.push(register(&app, "k", &guess(n)).await.status);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}
