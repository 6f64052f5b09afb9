//! The tokens a real Better Auth 1.7 server issues (`better-auth` from npm, pinned in
//! scripts/better-auth, with the jwt() plugin, on its own database), obtained as a browser
//! obtains them, on every tasks route through the real `cargo lambda watch`: EdDSA (Better Auth's
//! default), ES256 and RS256 keys. These tests fail, never skip, when node or the package is
//! missing: scripts/test.sh installs them.

use crate::common;

use std::time::Instant;

use common::real_better_auth::{send, BetterAuthServer, BetterAuthUser, SECRET};
use serde_json::{json, Value};
use test_support::{Emulator, TestDb};

/// `METHOD base+path` with the token: (status, JSON body).
async fn call(
    base: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{base}{path}");
    let method = method.to_owned();
    let bearer = format!("Bearer {token}");
    tokio::task::spawn_blocking(move || {
        let body = body.map(|b| b.to_string());
        let (status, _, text) = send(
            &method,
            &url,
            &[("authorization", &bearer)],
            body.as_deref(),
        );
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    })
    .await
    .unwrap()
}

/// Every tasks route answers as it does for our own users: 201, 200 (list, get, put, patch,
/// complete), 204, then 404 for the deleted task.
async fn every_route_works(base: &str, user: &BetterAuthUser) {
    let tasks = format!("/api/{}/tasks", user.id);
    let (status, created) = call(
        base,
        "POST",
        &tasks,
        &user.token,
        Some(json!({"title": "Buy milk"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["user_id"], user.id.as_str());
    let task = format!("{tasks}/{}", created["id"]);
    let complete = format!("{task}/complete");
    // (method, path, body, status, a field of the answer and its value)
    let steps = [
        ("GET", &tasks, None, 200, None),
        ("GET", &task, None, 200, Some(("title", json!("Buy milk")))),
        (
            "PUT",
            &task,
            Some(json!({"title": "Buy oat milk"})),
            200,
            Some(("title", json!("Buy oat milk"))),
        ),
        (
            "PATCH",
            &task,
            Some(json!({"description": "2 litres"})),
            200,
            Some(("description", json!("2 litres"))),
        ),
        (
            "PATCH",
            &complete,
            None,
            200,
            Some(("completed", json!(true))),
        ),
        ("DELETE", &task, None, 204, None),
        ("GET", &task, None, 404, None),
    ];
    for (method, path, body, status, field) in steps {
        let (got, answer) = call(base, method, path, &user.token, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        if let Some((name, value)) = field {
            assert_eq!(answer[name], value, "{method} {path}: {answer}");
        }
    }
}

/// One payload character changed: the signature no longer matches.
fn tampered(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = &mut parts[1];
    let last = payload.pop().unwrap();
    payload.push(if last == 'A' { 'B' } else { 'A' });
    parts.join(".")
}

async fn a_real_better_auth_works_through_cargo_lambda_watch(alg: &str) {
    let better_auth = BetterAuthServer::start(alg, &[("COOKIE_CACHE", "jwt")]).await;
    // Another Better Auth deployment: its own keys, its own issuer.
    let stranger = BetterAuthServer::start(alg, &[]).await;
    let database = TestDb::new().await;
    let emulator = Emulator::start(&[
        ("DATABASE_URL", &database.url),
        ("JWT_SECRET", "real-better-auth-tests-jwt-secret-0123456789"),
        ("BETTER_AUTH_URL", &better_auth.url),
        ("BETTER_AUTH_SECRET", SECRET),
    ])
    .await;
    let base = emulator.base_url();
    let ada = better_auth.user("ada@example.com").await;
    let bob = better_auth.user("bob@example.com").await;
    let header: Value =
        serde_json::from_slice(&base64_url(ada.token.split('.').next().unwrap())).unwrap();
    assert_eq!(header["alg"], alg, "{header}");

    // The emulator has started the tasks function already (Emulator::start); the first request
    // that needs the JWKS fetches it, the next ones use the cached keys.
    let started = Instant::now();
    let (status, body) = call(
        &base,
        "GET",
        &format!("/api/{}/tasks", ada.id),
        &ada.token,
        None,
    )
    .await;
    let first = started.elapsed();
    assert_eq!(status, 200, "{body}");
    let started = Instant::now();
    let (status, _) = call(
        &base,
        "GET",
        &format!("/api/{}/tasks", ada.id),
        &ada.token,
        None,
    )
    .await;
    let cached = started.elapsed();
    assert_eq!(status, 200);
    eprintln!(
        "{alg} through cargo lambda watch (debug build): first request with the JWKS fetch {:.1} ms, next {:.1} ms",
        first.as_secs_f64() * 1e3,
        cached.as_secs_f64() * 1e3
    );

    every_route_works(&base, &ada).await;

    let on_ada = format!("/api/{}/tasks", ada.id);
    let (status, _) = call(&base, "GET", &on_ada, &bob.token, None).await;
    assert_eq!(status, 403, "another user's path");
    let (status, _) = call(
        &base,
        "POST",
        &on_ada,
        &bob.token,
        Some(json!({"title": "x"})),
    )
    .await;
    assert_eq!(status, 403, "another user's path");
    let (status, _) = call(&base, "GET", &on_ada, &tampered(&ada.token), None).await;
    assert_eq!(status, 401, "tampered token");
    let foreign = stranger.user("ada@example.com").await;
    let (status, _) = call(
        &base,
        "GET",
        &format!("/api/{}/tasks", foreign.id),
        &foreign.token,
        None,
    )
    .await;
    assert_eq!(
        status, 401,
        "a token of another Better Auth (its keys, its issuer)"
    );

    // Better Auth's session cookie cache (HS256 with its secret) works beside the JWT plugin.
    let session_data = ada
        .session_data
        .as_deref()
        .expect("the session_data cookie");
    let (status, body) = call(&base, "GET", &on_ada, session_data, None).await;
    assert_eq!(status, 200, "session cookie cache token: {body}");
}

fn base64_url(part: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn eddsa_tokens_of_a_real_better_auth_work_on_every_route_through_cargo_lambda_watch() {
    a_real_better_auth_works_through_cargo_lambda_watch("EdDSA").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn es256_tokens_of_a_real_better_auth_work_on_every_route_through_cargo_lambda_watch() {
    a_real_better_auth_works_through_cargo_lambda_watch("ES256").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rs256_tokens_of_a_real_better_auth_work_on_every_route_through_cargo_lambda_watch() {
    a_real_better_auth_works_through_cargo_lambda_watch("RS256").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_better_auth_key_rotation_is_fetched_and_accepted() {
    // Better Auth makes a new key once the latest is 2 s old, and keeps listing the old one.
    let better_auth = BetterAuthServer::start("EdDSA", &[("ROTATION_INTERVAL", "2")]).await;
    let app = common::TestApp::configured(&[
        ("BETTER_AUTH_URL", &better_auth.url),
        ("BETTER_AUTH_JWKS_REFETCH_SECONDS", "1"),
    ])
    .await;
    let ada = better_auth.user("ada@example.com").await;
    let path = format!("/api/{}/tasks", ada.id);
    let first = app.call(http::Method::GET, &path, &ada.token, None).await;
    assert_eq!(first.status, http::StatusCode::OK, "{}", first.body);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let rotated = better_auth.token_for("ada@example.com").await;
    let kid = |token: &str| -> Value {
        serde_json::from_slice::<Value>(&base64_url(token.split('.').next().unwrap())).unwrap()
            ["kid"]
            .clone()
    };
    assert_ne!(
        kid(&rotated),
        kid(&ada.token),
        "Better Auth rotated its key"
    );
    let jwks: Value = serde_json::from_str(&better_auth.jwks().await).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "{jwks}");
    let answer = app.call(http::Method::GET, &path, &rotated, None).await;
    assert_eq!(
        answer.status,
        http::StatusCode::OK,
        "the rotated key: {}",
        answer.body
    );
    let answer = app.call(http::Method::GET, &path, &ada.token, None).await;
    assert_eq!(
        answer.status,
        http::StatusCode::OK,
        "the previous key, still listed"
    );
}
