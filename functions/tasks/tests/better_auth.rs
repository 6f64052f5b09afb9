//! Tokens from a Better Auth frontend (seeds 001/003): HS256 with `BETTER_AUTH_SECRET`, subject in
//! `sub` or `userId`, `exp` required, no `iss`/`aud`. Tasks live under the subject's string id.

mod common;

use common::{TestApp, BETTER_AUTH_SECRET};
use http::{Method, StatusCode};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

fn better_auth_token(claims: Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn exp() -> u64 {
    shared::auth::unix_now() + 600
}

#[tokio::test]
async fn subject_in_sub_or_user_id_gets_its_own_tasks() {
    let app = TestApp::with_better_auth(true).await;
    for claims in [
        json!({"sub": "user-123", "email": "a@b.co", "exp": exp()}),
        json!({"userId": "user-456", "exp": exp()}),
    ] {
        let subject = claims
            .get("sub")
            .or(claims.get("userId"))
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        let token = better_auth_token(claims, BETTER_AUTH_SECRET);
        let path = format!("/api/{subject}/tasks");
        let created = app
            .call(
                Method::POST,
                &path,
                &token,
                Some(json!({"title": "Buy groceries", "description": "Milk, eggs, bread"})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["user_id"], subject);
        let listed = app.call(Method::GET, &path, &token, None).await;
        assert_eq!(listed.body.as_array().unwrap().len(), 1);
        let other = app
            .call(Method::GET, "/api/someone-else/tasks", &token, None)
            .await;
        assert_eq!(other.status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn bad_better_auth_tokens_are_401() {
    let app = TestApp::with_better_auth(true).await;
    let now = shared::auth::unix_now();
    for token in [
        better_auth_token(json!({"sub": "user-123"}), BETTER_AUTH_SECRET),
        better_auth_token(
            json!({"sub": "user-123", "exp": now - 60}),
            BETTER_AUTH_SECRET,
        ),
        better_auth_token(
            json!({"sub": "user-123", "exp": exp()}),
            "another-secret-another-secret-another-1",
        ),
        better_auth_token(json!({"exp": exp()}), BETTER_AUTH_SECRET),
        better_auth_token(json!({"sub": "", "exp": exp()}), BETTER_AUTH_SECRET),
        better_auth_token(
            json!({"sub": "user-123", "exp": exp().to_string()}),
            BETTER_AUTH_SECRET,
        ),
    ] {
        let answer = app
            .call(Method::GET, "/api/user-123/tasks", &token, None)
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{token}");
    }
}

#[tokio::test]
async fn better_auth_tokens_are_refused_when_not_configured() {
    let app = TestApp::new().await;
    let token = better_auth_token(json!({"sub": "user-123", "exp": exp()}), BETTER_AUTH_SECRET);
    let answer = app
        .call(Method::GET, "/api/user-123/tasks", &token, None)
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn our_tokens_keep_their_strict_checks_when_better_auth_is_on() {
    let app = TestApp::with_better_auth(true).await;
    let user = app.user("ada@example.com").await;
    // Signed with our secret but without iss/aud/sid: neither ours nor Better Auth's.
    let token = better_auth_token(json!({"sub": user.id, "exp": exp()}), common::SECRET);
    let answer = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks", user.id),
            &token,
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let answer = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks", user.id),
            &user.token,
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}
