//! POST /auth/login and /auth/token: tokens, same answer for unknown email and wrong password,
//! throttling per account and per source address.

use crate::common;

use axum::body::Body;
use common::{from_ip, json_request, TestApp, PASSWORD};
use http::{Method, Request, StatusCode};
use serde_json::json;

#[tokio::test]
async fn login_returns_a_bearer_token_pair_and_records_last_login() {
    let app = TestApp::new().await;
    app.register("ada@example.com").await;
    let answer = app.login("ADA@example.com", PASSWORD).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["token_type"], "bearer");
    assert_eq!(answer.body["expires_in"], 1800);
    assert!(answer.body["refresh_token"].as_str().unwrap().len() >= 43);
    let token = answer.body["access_token"].as_str().unwrap();
    let claims = app.state.keys.verify(token).unwrap();
    assert_eq!(claims.role, "user");
    let me = app.get("/users/me", token).await;
    assert!(me.body["last_login_at"].is_string(), "{}", me.body);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = TestApp::new().await;
    app.register("ada@example.com").await;
    let wrong = app.login("ada@example.com", "not the password").await;
    let unknown = app.login("nobody@example.com", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.headers["www-authenticate"], "Bearer");
    let strip = |mut body: serde_json::Value| {
        body.as_object_mut().unwrap().remove("request_id");
        body
    };
    assert_eq!(strip(wrong.body), strip(unknown.body));
}

#[tokio::test]
async fn login_validation() {
    let app = TestApp::new().await;
    for (body, status) in [
        (
            json!({"email": "ada@example.com"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"email": "ada", "password": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"email": "a@b.co", "password": "x", "remember": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"email": "a@b.co", "password": ""}),
            StatusCode::UNAUTHORIZED,
        ),
        (
            json!({"email": "a@b.co", "password": "x".repeat(5000)}),
            StatusCode::UNAUTHORIZED,
        ),
        (json!(["a@b.co", "x"]), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        assert_eq!(
            app.post("/auth/login", body.clone()).await.status,
            status,
            "{body}"
        );
    }
}

#[tokio::test]
async fn five_failures_lock_the_account_even_for_the_right_password_until_the_lock_expires() {
    let app = TestApp::new().await;
    app.register("ada@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            app.login("ada@example.com", "wrong password").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let locked = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.body
    );
    let retry_after: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");

    // Time passes: the lock ends (no attacker can make it permanent).
    app.sql()
        .await
        .execute(
            "update login_throttle set locked_until = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let answer = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let rows: i64 = app
        .sql()
        .await
        .query_one(
            "select count(*) from login_throttle where key like 'account:%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0, "a successful login clears the account's failures");
}

/// Every path that checks a password meets the same gate (functions/auth/src/password_gate.rs): a
/// wrong `current_password` on a change or a deletion counts against the account like a failed
/// sign-in, and once locked neither the change nor sign-in takes even the right password.
#[tokio::test]
async fn wrong_current_passwords_count_against_the_account_like_failed_sign_ins() {
    let app = TestApp::new().await;
    let (token, _, _) = app.signed_up("ada@example.com").await;
    for attempt in 0..3 {
        let answer = app
            .call(
                Method::PATCH,
                "/users/me",
                Some(&token),
                Some(json!({"password": "a brand new password", "current_password": format!("guess {attempt}")})),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            answer.body
        );
    }
    for attempt in 0..2 {
        let answer = app
            .call(
                Method::DELETE,
                "/users/me",
                Some(&token),
                Some(json!({"current_password": format!("guess {attempt}")})),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            answer.body
        );
    }
    let right_but_locked = app
        .call(
            Method::DELETE,
            "/users/me",
            Some(&token),
            Some(json!({"current_password": PASSWORD})),
        )
        .await;
    assert_eq!(
        right_but_locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        right_but_locked.body
    );
    let login = app.login("ADA@example.com", PASSWORD).await;
    assert_eq!(
        login.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        login.body
    );
    let me = app.get("/users/me", &token).await;
    assert_eq!(me.status, StatusCode::OK, "the account is still there");
}

#[tokio::test]
async fn lock_doubles_with_each_further_failure_and_is_capped() {
    let app = TestApp::new().await;
    let sql = app.sql().await;
    let mut locks = Vec::new();
    for _ in 0..12 {
        app.login("victim@example.com", "wrong password").await;
        let lock: Option<f64> = sql
            .query_one(
                // The lock's length as set (both times come from the same statement's now()), not
                // what is left of it, which a slow test run would see shrink.
                "select extract(epoch from locked_until - updated_at)::float8 from login_throttle where key = 'account:victim@example.com'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        locks.push(lock.map(|s| s.round() as i64));
        // Let the lock lapse so the next attempt is counted.
        sql.execute("update login_throttle set locked_until = now() - interval '1 second' where locked_until is not null", &[])
            .await
            .unwrap();
    }
    let seconds: Vec<i64> = locks.iter().flatten().copied().collect();
    assert_eq!(&seconds[..6], &[30, 60, 120, 240, 480, 900], "{locks:?}");
    assert!(seconds.iter().all(|s| *s <= 900));
}

#[tokio::test]
async fn failures_from_one_address_are_capped_across_accounts_and_successes_never_count() {
    let app = TestApp::new().await;
    app.register("ada@example.com").await;
    let attempt = |email: &str, password: &str| {
        from_ip(
            json_request(
                Method::POST,
                "/auth/login",
                json!({"email": email, "password": password}),
            ),
            "203.0.113.5",
        )
    };
    for _ in 0..30 {
        assert_eq!(
            app.send(attempt("ada@example.com", PASSWORD)).await.status,
            StatusCode::OK
        );
    }
    for i in 0..20 {
        let answer = app
            .send(attempt(&format!("user{i}@example.com"), "wrong password"))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{i}");
    }
    let answer = app.send(attempt("ada@example.com", PASSWORD)).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    // The client cannot dodge the limit with a forwarded-for header.
    let mut spoofed = attempt("ada@example.com", PASSWORD);
    spoofed
        .headers_mut()
        .insert("x-forwarded-for", "1.2.3.4".parse().unwrap());
    assert_eq!(
        app.send(spoofed).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another address signs in normally.
    let other = from_ip(
        json_request(
            Method::POST,
            "/auth/login",
            json!({"email": "ada@example.com", "password": PASSWORD}),
        ),
        "198.51.100.1",
    );
    assert_eq!(app.send(other).await.status, StatusCode::OK);
}

fn form(body: &str) -> Request<Body> {
    Request::post("/auth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn oauth2_password_form_at_the_token_endpoint() {
    let app = TestApp::new().await;
    app.register("user@example.com").await;
    let answer = app
        .send(form(
            "grant_type=password&username=user%40example.com&password=correct+horse+battery&scope=",
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["token_type"], "bearer");
    // Without grant_type, as seed 004's form sends it.
    let answer = app
        .send(form(
            "username=user@example.com&password=correct%20horse%20battery",
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let refresh = answer.body["refresh_token"].as_str().unwrap();
    let answer = app
        .send(form(&format!(
            "grant_type=refresh_token&refresh_token={refresh}"
        )))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn token_endpoint_rejects_bad_forms() {
    let app = TestApp::new().await;
    app.register("user@example.com").await;
    assert_eq!(
        app.send(form("username=user@example.com&password=wrong"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.send(form("username=user@example.com")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.send(form("grant_type=client_credentials")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.send(form("username=a@b.co&password=x&evil=1"))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert!(app.send(form("%%%")).await.status.is_client_error());
    let json = json_request(
        Method::POST,
        "/auth/token",
        json!({"username": "user@example.com", "password": PASSWORD}),
    );
    assert_eq!(
        app.send(json).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let huge = form(&format!("username=a@b.co&password={}", "x".repeat(70_000)));
    assert_eq!(app.send(huge).await.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn an_old_hash_is_upgraded_on_login() {
    let app = TestApp::new().await;
    app.register("ada@example.com").await;
    // A hash made with weaker, older parameters (as a previous version might have stored).
    let old = {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let weak = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(4096, 1, 1, None).unwrap(),
        );
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        weak.hash_password(PASSWORD.as_bytes(), &salt)
            .unwrap()
            .to_string()
    };
    let sql = app.sql().await;
    sql.execute("update users set password_hash = $1", &[&old])
        .await
        .unwrap();
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let now: String = sql
        .query_one("select password_hash from users", &[])
        .await
        .unwrap()
        .get(0);
    assert!(now.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{now}");
}
