//! POST /auth/register: accounts, validation, duplicates (in any letter case, and under a race).

use crate::common;

use common::{json_request, TestApp, PASSWORD};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn register_returns_201_with_the_user_and_no_hash() {
    let app = TestApp::new().await;
    let answer = app
        .post(
            "/auth/register",
            json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_eq!(answer.headers["location"], "/users/me");
    let user = &answer.body;
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["name"], "Ada");
    assert_eq!(user["role"], "user");
    assert!(user["last_login_at"].is_null());
    assert!(user["id"].as_str().unwrap().len() == 36);
    let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 11, "{keys:?}");
    assert!(
        user["last_login_time"].is_null(),
        "seed 004's name of last_login_at"
    );
    assert_eq!(user["email_verified"], false);
    assert!(user["pending_email"].is_null());
    assert!(!answer.body.to_string().contains("argon2"));
}

#[tokio::test]
async fn password_is_stored_as_argon2id() {
    let app = TestApp::new().await;
    app.register("ada@example.com").await;
    let hash: String = app
        .sql()
        .await
        .query_one("select password_hash from users", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
}

#[tokio::test]
async fn duplicate_email_in_any_letter_case_is_409() {
    let app = TestApp::new().await;
    assert_eq!(
        app.register("Ada@Example.com").await.status,
        StatusCode::CREATED
    );
    for email in ["ada@example.com", "ADA@EXAMPLE.COM", " ada@example.COM "] {
        let answer = app.register(email).await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{email}");
        assert_eq!(answer.body["detail"], "Email already registered");
    }
}

#[tokio::test]
async fn twenty_concurrent_registrations_of_one_email_give_one_201_and_nineteen_409() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let attempts = (0..20).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            let email = if i % 2 == 0 {
                "race@example.com"
            } else {
                "RACE@example.com"
            };
            app.register(email).await.status
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        19,
        "{statuses:?}"
    );
    let users: i64 = app
        .sql()
        .await
        .query_one("select count(*) from users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 1);
}

#[tokio::test]
async fn invalid_input_is_422_with_field_errors_and_creates_nothing() {
    let app = TestApp::new().await;
    let cases = [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "email",
            "value_error",
        ),
        (
            json!({"email": "a@example.com", "password": "short"}),
            "password",
            "string_too_short",
        ),
        (
            json!({"email": "a@example.com", "password": "x".repeat(129)}),
            "password",
            "string_too_long",
        ),
        (
            json!({"email": "a@example.com", "password": "password123"}),
            "password",
            "password_too_common",
        ),
        (json!({"email": "a@example.com"}), "password", "missing"),
        (json!({"password": PASSWORD}), "email", "missing"),
        (
            json!({"email": 42, "password": PASSWORD}),
            "email",
            "type_error",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "role": "admin"}),
            "role",
            "extra_forbidden",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "id": 1}),
            "id",
            "extra_forbidden",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "password_hash": "x"}),
            "password_hash",
            "extra_forbidden",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "name": "   "}),
            "name",
            "value_error",
        ),
        (
            json!({"email": "'; drop table users; --@x.com", "password": PASSWORD}),
            "email",
            "value_error",
        ),
    ];
    for (body, field, kind) in cases {
        let answer = app.post("/auth/register", body.clone()).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(answer.headers["content-type"], "application/problem+json");
        let error = &answer.body["errors"][0];
        assert_eq!(
            error["loc"],
            json!(["body", field]),
            "{body}: {}",
            answer.body
        );
        assert_eq!(error["type"], kind, "{body}: {}", answer.body);
    }
    let users: i64 = app
        .sql()
        .await
        .query_one("select count(*) from users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 0);
}

#[tokio::test]
async fn several_bad_fields_are_reported_together() {
    let app = TestApp::new().await;
    let answer = app
        .post(
            "/auth/register",
            json!({"email": "nope", "password": "short"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["errors"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn malformed_json_wrong_content_type_and_oversized_bodies() {
    let app = TestApp::new().await;
    let malformed = http::Request::post("/auth/register")
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{\"email\": \"a@b.co\", "))
        .unwrap();
    let answer = app.send(malformed).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["errors"][0]["type"], "json_invalid");

    let text = http::Request::post("/auth/register")
        .header("content-type", "text/plain")
        .body(axum::body::Body::from(
            json!({"email": "a@b.co", "password": PASSWORD}).to_string(),
        ))
        .unwrap();
    assert_eq!(
        app.send(text).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let huge = json!({"email": "a@b.co", "password": PASSWORD, "name": "n".repeat(64 * 1024)});
    let answer = app
        .send(json_request(Method::POST, "/auth/register", huge))
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    let users: i64 = app
        .sql()
        .await
        .query_one("select count(*) from users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 0);
}

#[tokio::test]
async fn the_configured_admin_email_becomes_the_first_admin_only_once_verified() {
    let app = TestApp::with_vars(&[("ADMIN_EMAIL", "Boss@Example.com")]).await;
    assert_eq!(
        app.register("someone@example.com").await.body["role"],
        "user"
    );
    let (boss, _, _) = app.signed_up_verified("boss@example.com").await;
    assert_eq!(app.get("/users/me", &boss).await.body["role"], "admin");
}

#[tokio::test]
async fn registrations_from_one_address_are_throttled() {
    let app = TestApp::new().await;
    for i in 0..10 {
        let body = json!({"email": format!("u{i}@example.com"), "password": PASSWORD});
        let answer = app
            .send(common::from_ip(
                json_request(Method::POST, "/auth/register", body),
                "203.0.113.9",
            ))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{i}");
    }
    let body = json!({"email": "u10@example.com", "password": PASSWORD});
    let answer = app
        .send(common::from_ip(
            json_request(Method::POST, "/auth/register", body.clone()),
            "203.0.113.9",
        ))
        .await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(answer.headers.contains_key("retry-after"));
    // Another address is not affected.
    let answer = app
        .send(common::from_ip(
            json_request(Method::POST, "/auth/register", body),
            "198.51.100.7",
        ))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_per_address_registration_limit_is_a_setting() {
    let app = TestApp::with_vars(&[("THROTTLE_REGISTRATIONS_PER_IP_HOUR", "2")]).await;
    let register = |i: usize| {
        let body = json!({"email": format!("n{i}@example.com"), "password": PASSWORD});
        common::from_ip(
            json_request(Method::POST, "/auth/register", body),
            "203.0.113.10",
        )
    };
    assert_eq!(app.send(register(0)).await.status, StatusCode::CREATED);
    assert_eq!(app.send(register(1)).await.status, StatusCode::CREATED);
    assert_eq!(
        app.send(register(2)).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[test]
fn per_address_limits_refuse_nonsense() {
    for (name, value) in [
        ("THROTTLE_REGISTRATIONS_PER_IP_HOUR", "0"),
        ("THROTTLE_REGISTRATIONS_PER_IP_HOUR", "many"),
        ("THROTTLE_FAILED_LOGINS_PER_IP", "-1"),
        ("THROTTLE_FAILED_LOGINS_PER_IP", "99999999999"),
    ] {
        let vars = std::collections::HashMap::from([(name.to_owned(), value.to_owned())]);
        let error = auth::AuthSettings::from_source(&vars).unwrap_err();
        assert!(error.to_string().contains(name), "{error}");
    }
    let vars = std::collections::HashMap::from([(
        "THROTTLE_FAILED_LOGINS_PER_IP".to_owned(),
        "500".to_owned(),
    )]);
    let settings = auth::AuthSettings::from_source(&vars).unwrap();
    assert_eq!(settings.source_ip_policy.threshold, 500);
    assert_eq!(settings.registration_policy.threshold, 10);
}
