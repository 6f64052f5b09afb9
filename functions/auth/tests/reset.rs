//! Password reset: 202 whatever the email, a single-use 15-minute token stored hashed, every
//! session ended by the reset.

use crate::common;

use common::{capture_log, last_mailed_token, Captured, TestApp, PASSWORD};
use http::StatusCode;
use serde_json::json;

/// Captures the log, where the local mailer writes the link.
fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    capture_log(tracing::Level::INFO)
}

fn capture_at(level: tracing::Level) -> (Captured, tracing::subscriber::DefaultGuard) {
    capture_log(level)
}

fn token_from(captured: &Captured) -> Option<String> {
    last_mailed_token(captured)
}

#[tokio::test(flavor = "current_thread")]
async fn reset_flow_sets_the_password_and_ends_every_session() {
    let (captured, _guard) = capture();
    let app = TestApp::new().await;
    let (access, refresh, _) = app.signed_up("ada@example.com").await;

    let answer = app
        .post("/auth/password-reset", json!({"email": "ADA@example.com"}))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let token = token_from(&captured).expect("the local mailer logs the link");
    let stored: Vec<u8> = app
        .sql()
        .await
        .query_one("select token_hash from password_reset_tokens", &[])
        .await
        .unwrap()
        .get(0);
    assert_ne!(stored, token.as_bytes(), "only the hash is stored");

    let weak = app
        .post(
            "/auth/password-reset/confirm",
            json!({"token": token, "new_password": "password"}),
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        weak.body["errors"][0]["loc"],
        json!(["body", "new_password"])
    );

    let done = app
        .post(
            "/auth/password-reset/confirm",
            json!({"token": token, "new_password": "fresh start please"}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(
        app.get("/users/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post("/auth/refresh", json!({"refresh_token": refresh}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("ada@example.com", "fresh start please")
            .await
            .status,
        StatusCode::OK
    );

    let again = app
        .post(
            "/auth/password-reset/confirm",
            json!({"token": token, "new_password": "another one please"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "single use");
}

#[tokio::test(flavor = "current_thread")]
async fn unknown_email_gets_the_same_202_and_no_mail() {
    let (captured, _guard) = capture();
    let app = TestApp::new().await;
    app.register("ada@example.com").await;
    let known = app
        .post("/auth/password-reset", json!({"email": "ada@example.com"}))
        .await;
    captured.0.lock().unwrap().clear();
    let unknown = app
        .post(
            "/auth/password-reset",
            json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!(known.status, StatusCode::ACCEPTED);
    assert_eq!(unknown.status, StatusCode::ACCEPTED);
    assert_eq!(known.body, unknown.body);
    assert!(token_from(&captured).is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn expired_token_is_refused() {
    let (captured, _guard) = capture();
    let app = TestApp::new().await;
    app.register("ada@example.com").await;
    app.post("/auth/password-reset", json!({"email": "ada@example.com"}))
        .await;
    let token = token_from(&captured).unwrap();
    app.sql()
        .await
        .execute(
            "update password_reset_tokens set expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let answer = app
        .post(
            "/auth/password-reset/confirm",
            json!({"token": token, "new_password": "fresh start please"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn reset_input_validation() {
    let app = TestApp::new().await;
    for (path, body) in [
        ("/auth/password-reset", json!({})),
        ("/auth/password-reset", json!({"email": "not an email"})),
        (
            "/auth/password-reset",
            json!({"email": "a@b.co", "extra": 1}),
        ),
        ("/auth/password-reset/confirm", json!({"token": "x"})),
        (
            "/auth/password-reset/confirm",
            json!({"token": "bogus", "new_password": "fresh start please"}),
        ),
        (
            "/auth/password-reset/confirm",
            json!({"token": "x".repeat(1000), "new_password": "fresh start please"}),
        ),
    ] {
        let answer = app.post(path, body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_reset_lifts_an_account_lock() {
    let (captured, _guard) = capture();
    let app = TestApp::new().await;
    app.register("ada@example.com").await;
    for _ in 0..5 {
        app.login("ada@example.com", "wrong password").await;
    }
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.post("/auth/password-reset", json!({"email": "ada@example.com"}))
        .await;
    let token = token_from(&captured).unwrap();
    app.post(
        "/auth/password-reset/confirm",
        json!({"token": token, "new_password": "fresh start please"}),
    )
    .await;
    assert_eq!(
        app.login("ada@example.com", "fresh start please")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_token_that_cannot_be_spent_is_refused_before_any_password_hash() {
    let (captured, _guard) = capture_at(tracing::Level::DEBUG);
    let app = TestApp::new().await;

    let guessed = app
        .post(
            "/auth/password-reset/confirm",
            json!({"token": "guessed-token-0123456789", "new_password": "another long secret"}),
        )
        .await;
    assert_eq!(guessed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !captured.text().contains("password hashed"),
        "a guessed token made the function hash a password"
    );
    // The same capture does see a hash when one happens.
    assert_eq!(
        app.register("ada@example.com").await.status,
        StatusCode::CREATED
    );
    assert!(captured.text().contains("password hashed"));
}
