//! A database outage: every auth route that needs the database answers 503 with Retry-After
//! within 5 s, and service resumes as soon as the database is back, without a restart.

use crate::common;

use std::time::{Duration, Instant};

use auth::{AuthSettings, AuthState};
use axum::body::Body;
use common::{TestApp, PASSWORD, SECRET};
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use shared::config::{JwtConfig, Source};
use shared::secrecy::ExposeSecret;
use test_support::TcpProxy;

#[tokio::test]
async fn outage_is_503_on_every_auth_route_and_service_resumes() {
    let harness = TestApp::new().await;
    let (admin, _, _) = harness.signed_up_verified("admin@example.com").await;
    let (access, refresh, user_id) = harness.signed_up("ada@example.com").await;

    // The same function, its pool behind a proxy that can take the database away.
    let proxy = TcpProxy::start(test_support::server_address()).await;
    let mut config = harness.database.config();
    config.url = proxy.url_for(config.url.expose_secret()).into();
    let vars: std::collections::HashMap<String, String> = test_support::jwt_signer_vars(SECRET)
        .into_iter()
        .chain([("ADMIN_EMAIL".to_owned(), "admin@example.com".to_owned())])
        .collect();
    let app = auth::app(AuthState::new(
        shared::db::Db::connect_lazy(&config).unwrap(),
        &JwtConfig::from_source(&Source::new(&vars)).unwrap(),
        AuthSettings::from_source(&vars).unwrap(),
    ));
    let call = |method: Method, path: &str, token: Option<&str>, body: Option<Value>| {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(Value::String(form)) => {
                request = request.header("content-type", "application/x-www-form-urlencoded");
                form
            }
            Some(json) => {
                request = request.header("content-type", "application/json");
                json.to_string()
            }
            None => String::new(),
        };
        let request = request.body(Body::from(body)).unwrap();
        let app = app.clone();
        async move {
            let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
            (
                response.status(),
                response.headers().get("retry-after").is_some(),
            )
        }
    };
    let (status, _) = call(Method::GET, "/users/me", Some(&access), None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "through the proxy before the outage"
    );

    proxy.take_down();
    let password_form =
        format!("grant_type=password&username=ada%40example.com&password={PASSWORD}");
    let requests: Vec<(Method, String, Option<&str>, Option<Value>)> = vec![
        (
            Method::POST,
            "/auth/register".into(),
            None,
            Some(json!({"email": "new@example.com", "password": PASSWORD})),
        ),
        (
            Method::POST,
            "/auth/login".into(),
            None,
            Some(json!({"email": "ada@example.com", "password": PASSWORD})),
        ),
        (
            Method::POST,
            "/auth/token".into(),
            None,
            Some(Value::String(password_form)),
        ),
        (
            Method::POST,
            "/auth/refresh".into(),
            None,
            Some(json!({"refresh_token": refresh})),
        ),
        (Method::POST, "/auth/logout".into(), Some(&access), None),
        (Method::POST, "/auth/logout-all".into(), Some(&access), None),
        (
            Method::POST,
            "/auth/password-reset".into(),
            None,
            Some(json!({"email": "ada@example.com"})),
        ),
        (
            Method::POST,
            "/auth/password-reset/confirm".into(),
            None,
            Some(json!({"token": "a-well-formed-token", "new_password": "another long secret"})),
        ),
        (Method::GET, "/users/me".into(), Some(&access), None),
        (
            Method::PATCH,
            "/users/me".into(),
            Some(&access),
            Some(json!({"name": "Ada"})),
        ),
        (
            Method::DELETE,
            "/users/me".into(),
            Some(&access),
            Some(json!({"current_password": PASSWORD})),
        ),
        (Method::GET, "/welcome".into(), Some(&access), None),
        (Method::GET, "/users".into(), Some(&admin), None),
        (
            Method::PATCH,
            format!("/users/{user_id}"),
            Some(&admin),
            Some(json!({"disabled": true})),
        ),
    ];
    let mut slowest = Duration::ZERO;
    for (method, path, token, body) in requests {
        let started = Instant::now();
        let (status, retry_after) = call(method.clone(), &path, token, body).await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{method} {path}");
        assert!(retry_after, "{method} {path}: Retry-After");
        assert!(took < Duration::from_secs(5), "{method} {path}: {took:?}");
        println!("{method} {path}: {took:?}");
        slowest = slowest.max(took);
    }
    println!("slowest 503 during the outage: {slowest:?}");

    proxy.bring_back();
    let started = Instant::now();
    let (status, _) = call(Method::GET, "/users/me", Some(&access), None).await;
    assert_eq!(status, StatusCode::OK, "service resumes without a restart");
    println!("recovered in {:?}", started.elapsed());
    let (users, sessions_ended): (i64, i64) = {
        let row = harness
            .sql()
            .await
            .query_one(
                "select (select count(*) from users),
                        (select count(*) from sessions where revoked_at is not null)",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(users, 2, "nothing registered or deleted during the outage");
    assert_eq!(sessions_ended, 0, "no session ended during the outage");
}
