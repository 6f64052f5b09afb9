//! Refresh rotation and reuse detection, logout, logout-all, and access tokens that stop working
//! at once.

use crate::common;

use common::{TestApp, PASSWORD};
use http::{Method, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

#[tokio::test]
async fn refresh_rotates_and_the_spent_token_revokes_the_session_when_reused() {
    let app = TestApp::new().await;
    let (access, refresh, _) = app.signed_up("ada@example.com").await;

    let first = app
        .post("/auth/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let next_refresh = first.body["refresh_token"].as_str().unwrap().to_owned();
    let next_access = first.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(next_refresh, refresh);
    assert_eq!(
        app.get("/users/me", &next_access).await.status,
        StatusCode::OK
    );

    // The spent token comes back: someone copied it. The whole session ends.
    let reuse = app
        .post("/auth/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/users/me", &next_access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/users/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    let after = app
        .post("/auth/refresh", json!({"refresh_token": next_refresh}))
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_have_exactly_one_winner() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let (_, refresh, _) = app.signed_up("ada@example.com").await;
    let racers = (0..8).map(|_| {
        let app = app.clone();
        let refresh = refresh.clone();
        tokio::spawn(async move {
            app.post("/auth/refresh", json!({"refresh_token": refresh}))
                .await
                .status
        })
    });
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn unknown_or_malformed_refresh_tokens_are_401() {
    let app = TestApp::new().await;
    for token in ["", "nope", &"x".repeat(300), "'; drop table sessions; --"] {
        let answer = app
            .post("/auth/refresh", json!({"refresh_token": token}))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{token:?}");
    }
    assert_eq!(
        app.post("/auth/refresh", json!({})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.post("/auth/refresh", json!({"refresh_token": 1}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn logout_revokes_this_session_at_once_and_only_it() {
    let app = TestApp::new().await;
    let (access, refresh, _) = app.signed_up("ada@example.com").await;
    let other = app.login("ada@example.com", PASSWORD).await;
    let other_access = other.body["access_token"].as_str().unwrap();

    let answer = app
        .call(Method::POST, "/auth/logout", Some(&access), None)
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
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
        app.call(Method::POST, "/auth/logout", Some(&access), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/users/me", other_access).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_all_ends_every_session() {
    let app = TestApp::new().await;
    let (access, _, _) = app.signed_up("ada@example.com").await;
    let other = app.login("ada@example.com", PASSWORD).await;
    let other_access = other.body["access_token"].as_str().unwrap();
    let answer = app
        .call(Method::POST, "/auth/logout-all", Some(&access), None)
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/users/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/users/me", other_access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(Method::POST, "/auth/logout-all", Some(&access), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

fn sign(claims: serde_json::Value, secret: &str, algorithm: Algorithm) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn forged_and_broken_tokens_are_401_on_every_protected_route() {
    let app = TestApp::new().await;
    let (access, _, user_id) = app.signed_up("ada@example.com").await;
    let claims = app.state.keys.verify(&access).unwrap();
    let base = serde_json::to_value(&claims).unwrap();
    let with = |key: &str, value: serde_json::Value| {
        let mut c = base.clone();
        c[key] = value;
        c
    };
    let without = |key: &str| {
        let mut c = base.clone();
        c.as_object_mut().unwrap().remove(key);
        c
    };
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    parts[1] = b64(&with("role", json!("admin")).to_string());
    let tampered = parts.join(".");
    let alg_none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&base.to_string())
    );
    let now = shared::token::unix_now();
    let tokens = [
        tampered,
        alg_none,
        sign(base.clone(), common::SECRET, Algorithm::HS384),
        sign(
            base.clone(),
            "some-other-secret-some-other-secret-123",
            Algorithm::HS256,
        ),
        test_support::sign_as_ours(&with("exp", json!(now - 60)), common::SECRET),
        test_support::sign_as_ours(&with("exp", json!((now + 600).to_string())), common::SECRET),
        test_support::sign_as_ours(&without("sid"), common::SECRET),
        test_support::sign_as_ours(&without("exp"), common::SECRET),
        test_support::sign_as_ours(&with("sub", json!("not-a-uuid")), common::SECRET),
        test_support::sign_as_ours(&with("sid", json!(uuid::Uuid::new_v4())), common::SECRET),
        test_support::sign_as_ours(&with("typ", json!("refresh")), common::SECRET),
        "garbage".to_owned(),
    ];
    for token in &tokens {
        for (method, path) in [
            (Method::GET, "/users/me"),
            (Method::GET, "/welcome"),
            (Method::POST, "/auth/logout"),
            (Method::POST, "/auth/logout-all"),
            (Method::GET, "/users"),
        ] {
            let answer = app.call(method.clone(), path, Some(token), None).await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {token}"
            );
            assert_eq!(answer.headers["www-authenticate"], "Bearer");
        }
    }
    let missing = app.call(Method::GET, "/users/me", None, None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.body["detail"], "Not authenticated");
    // The genuine token still works, and its user was never changed.
    let me = app.get("/users/me", &access).await;
    assert_eq!(me.body["id"], user_id);
    assert_eq!(me.body["role"], "user");
}

#[tokio::test]
async fn a_cached_token_is_refused_on_the_request_after_logout() {
    // The token's signature is checked once per environment; its session is checked by every
    // statement, so the cache must not make sign-out any less immediate.
    let app = TestApp::new().await;
    let (access, _, _) = app.signed_up("ada@example.com").await;
    for _ in 0..2 {
        assert_eq!(app.get("/users/me", &access).await.status, StatusCode::OK);
    }
    assert!(
        app.state.keys.verified_cache().contains(&access),
        "the token is served from the cache"
    );
    let answer = app
        .call(Method::POST, "/auth/logout", Some(&access), None)
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(app.state.keys.verified_cache().contains(&access));
    assert_eq!(
        app.get("/users/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
}
