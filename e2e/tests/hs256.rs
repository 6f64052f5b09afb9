//! The seeds' configuration, focused: HS256 access tokens from one shared `JWT_SECRET` (what seeds
//! 001 and 003 share with their frontends) and the functions connected to PostgreSQL directly,
//! without a pooler. The rest of the suite runs as the template deploys (EdDSA through PgBouncer);
//! this test keeps the other path honest from sign-up to sign-out across auth and tasks.

use std::collections::HashMap;

use axum::body::{to_bytes, Body};
use axum::Router;
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use shared::config::{JwtConfig, Source};
use shared::db::Db;
use test_support::TestDb;
use tower::ServiceExt;

const SECRET: &str = "seed-style-hs256-secret-of-32-bytes-or-more";

async fn call(
    router: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    };
    let response = router.clone().oneshot(request.unwrap()).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn hs256_tokens_over_a_direct_connection_work_from_sign_up_to_sign_out() {
    let database = TestDb::new().await;
    let vars: HashMap<String, String> = [("JWT_SECRET", SECRET), ("JWT_ALGORITHM", "HS256")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let jwt = JwtConfig::from_source(&Source::new(&vars)).unwrap();
    let direct = || Db::connect_lazy(&database.direct_config()).unwrap();
    let auth = auth::app(auth::AuthState::new(
        direct(),
        &jwt,
        auth::AuthSettings::from_source(&vars).unwrap(),
    ));
    let tasks = tasks::app(tasks::TasksState::new(direct(), &jwt, None).unwrap());

    let credentials = json!({"email": "seed@example.com", "password": "correct horse battery"});
    let (status, user) = call(
        &auth,
        Method::POST,
        "/auth/register",
        None,
        Some(credentials.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let (status, pair) = call(&auth, Method::POST, "/auth/login", None, Some(credentials)).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let token = pair["access_token"].as_str().unwrap();
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS256", "{header}");

    let id = user["id"].as_str().unwrap();
    let tasks_path = format!("/api/{id}/tasks");
    let (status, task) = call(
        &tasks,
        Method::POST,
        &tasks_path,
        Some(token),
        Some(json!({"title": "Buy milk"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let (status, list) = call(&tasks, Method::GET, &tasks_path, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list.to_string().matches("Buy milk").count(), 1, "{list}");

    let (status, _) = call(&auth, Method::POST, "/auth/logout", Some(token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&auth, Method::GET, "/users/me", Some(token), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a signed-out HS256 token still reads the account"
    );
    let (status, _) = call(&tasks, Method::GET, &tasks_path, Some(token), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a signed-out HS256 token still reads tasks"
    );
}
