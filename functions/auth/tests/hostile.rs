//! What an adversarial client tried against the auth function, each case once a defect: Unicode
//! twins of an address, a lock bypassed through another spelling, credentials that outlived the
//! event that should have ended them, ambiguous headers and bodies, and admin schemas shown to
//! non-admins.

use crate::common;

use axum::body::Body;
use common::{capture_log, last_mailed_token, Captured, TestApp, PASSWORD};
use http::{Method, Request, StatusCode};
use serde_json::json;

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    capture_log(tracing::Level::INFO)
}

/// The reset token of the last link the local mailer logged.
fn last_reset_token(captured: &Captured) -> String {
    last_mailed_token(captured).expect("a reset link in the log")
}

async fn users(app: &TestApp) -> i64 {
    app.sql()
        .await
        .query_one("select count(*) from users", &[])
        .await
        .unwrap()
        .get(0)
}

fn raw(method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

// 1. Account lock bypass through another spelling of the address.
#[tokio::test]
async fn a_locked_account_stays_locked_under_every_spelling_of_its_address() {
    let app = TestApp::new().await;
    app.register("info@example.com").await;
    for _ in 0..5 {
        app.login("info@example.com", "wrong password").await;
    }
    assert_eq!(
        app.login("info@example.com", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Spellings of the same address share its lock, even with the right password.
    for spelling in [
        "INFO@EXAMPLE.COM",
        "\u{ff49}\u{ff4e}\u{ff46}\u{ff4f}@example.com",
        "info@\u{ff45}xample.com",
    ] {
        let answer = app.login(spelling, PASSWORD).await;
        assert_eq!(
            answer.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{spelling}: {}",
            answer.body
        );
    }
    // `İ` folds to `i̇`, another address: never this account, so never a way past its lock.
    for password in [PASSWORD, "wrong password"] {
        let answer = app.login("\u{130}nfo@example.com", password).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    }
}

// 4. Twin accounts.
#[tokio::test]
async fn spellings_of_a_registered_address_cannot_register_a_twin() {
    let app = TestApp::new().await;
    for (first, twin) in [
        ("οδος@example.gr", "ΟΔΟΣ@example.gr"),
        ("ren\u{e9}e@example.fr", "rene\u{301}e@example.fr"),
        (
            "user@example.com",
            "\u{ff55}\u{ff53}\u{ff45}\u{ff52}@example.com",
        ),
        (
            "user@example.com",
            "user@\u{ff45}\u{ff58}\u{ff41}\u{ff4d}\u{ff50}\u{ff4c}\u{ff45}.com",
        ),
        ("strasse@example.de", "straße@example.de"),
        ("user@xn--bcher-kva.example", "user@bücher.example"),
    ] {
        app.register(first).await;
        let answer = app.register(twin).await;
        assert_eq!(
            answer.status,
            StatusCode::CONFLICT,
            "{twin}: {}",
            answer.body
        );
    }
    assert_eq!(users(&app).await, 5);
}

#[tokio::test]
async fn invisible_characters_in_an_address_are_422_and_register_nothing() {
    let app = TestApp::new().await;
    app.register("user@example.com").await;
    for c in [
        '\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{feff}', '\u{ad}', '\u{180e}',
    ] {
        let answer = app.register(&format!("us{c}er@example.com")).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "U+{:04X}: {}",
            c as u32,
            answer.body
        );
        assert_eq!(answer.body["errors"][0]["loc"], json!(["body", "email"]));
    }
    assert_eq!(users(&app).await, 1);
}

#[tokio::test]
async fn the_address_is_kept_as_typed_and_signs_in_under_any_spelling() {
    let app = TestApp::new().await;
    let registered = app.register("Ren\u{e9}e@Example.fr").await;
    assert_eq!(registered.body["email"], "Ren\u{e9}e@Example.fr");
    for spelling in ["rene\u{301}e@example.fr", "REN\u{c9}E@EXAMPLE.FR"] {
        let answer = app.login(spelling, PASSWORD).await;
        assert_eq!(answer.status, StatusCode::OK, "{spelling}: {}", answer.body);
    }
}

// 5. Passwords are normalized.
#[tokio::test]
async fn a_password_registered_in_nfc_signs_in_in_nfd() {
    let app = TestApp::new().await;
    let nfc = "cr\u{e8}me br\u{fb}l\u{e9}e";
    let nfd = "cre\u{300}me bru\u{302}le\u{301}e";
    let registered = app
        .post(
            "/auth/register",
            json!({"email": "chef@example.com", "password": nfc}),
        )
        .await;
    assert_eq!(registered.status, StatusCode::CREATED);
    assert_eq!(
        app.login("chef@example.com", nfd).await.status,
        StatusCode::OK
    );
}

// 2. Credentials that outlive the event that should end them.
#[tokio::test(flavor = "current_thread")]
async fn a_reset_link_dies_when_the_password_changes() {
    let (captured, _guard) = capture();
    let app = TestApp::new().await;
    let (access, _, _) = app.signed_up("ada@example.com").await;
    app.post("/auth/password-reset", json!({"email": "ada@example.com"}))
        .await;
    let token = last_reset_token(&captured);
    let changed = app
        .call(
            Method::PATCH,
            "/users/me",
            Some(&access),
            Some(json!({"password": "a brand new password", "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let answer = app
        .post(
            "/auth/password-reset/confirm",
            json!({"token": token, "new_password": "the attacker's choice"}),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    assert_eq!(
        app.login("ada@example.com", "a brand new password")
            .await
            .status,
        StatusCode::OK
    );
}

/// The events after which a user's outstanding credentials must die.
#[derive(Debug, Clone, Copy)]
enum Event {
    PasswordChange,
    EmailChange,
    CompletedReset,
    LogoutAll,
    Disable,
    Delete,
}

/// Every event against every credential: the other session's access and refresh tokens, an
/// outstanding reset link, and the acting session (which survives only the changes it made
/// itself: a new password or address).
#[tokio::test(flavor = "current_thread")]
async fn every_credential_dies_with_every_event_that_should_end_it() {
    let (captured, _guard) = capture();
    for event in [
        Event::PasswordChange,
        Event::EmailChange,
        Event::CompletedReset,
        Event::LogoutAll,
        Event::Disable,
        Event::Delete,
    ] {
        let app = TestApp::new().await;
        let (admin, _, _) = app.signed_up_verified("admin@example.com").await;
        let (acting, _, user_id) = app.signed_up("ada@example.com").await;
        let other = app.login("ada@example.com", PASSWORD).await;
        let other_access = other.body["access_token"].as_str().unwrap().to_owned();
        let other_refresh = other.body["refresh_token"].as_str().unwrap().to_owned();
        app.post("/auth/password-reset", json!({"email": "ada@example.com"}))
            .await;
        let outstanding = last_reset_token(&captured);

        let answer = match event {
            Event::PasswordChange => {
                app.call(
                    Method::PATCH,
                    "/users/me",
                    Some(&acting),
                    Some(json!({"password": "a brand new password", "current_password": PASSWORD})),
                )
                .await
            }
            Event::EmailChange => {
                app.call(
                    Method::PATCH,
                    "/users/me",
                    Some(&acting),
                    Some(json!({"email": "ada@elsewhere.example", "current_password": PASSWORD})),
                )
                .await
            }
            Event::CompletedReset => {
                app.post("/auth/password-reset", json!({"email": "ada@example.com"}))
                    .await;
                let fresh = last_reset_token(&captured);
                app.post(
                    "/auth/password-reset/confirm",
                    json!({"token": fresh, "new_password": "a brand new password"}),
                )
                .await
            }
            Event::LogoutAll => {
                app.call(Method::POST, "/auth/logout-all", Some(&acting), None)
                    .await
            }
            Event::Disable => {
                app.call(
                    Method::PATCH,
                    &format!("/users/{user_id}"),
                    Some(&admin),
                    Some(json!({"disabled": true})),
                )
                .await
            }
            Event::Delete => {
                app.call(
                    Method::DELETE,
                    "/users/me",
                    Some(&acting),
                    Some(json!({"current_password": PASSWORD})),
                )
                .await
            }
        };
        assert!(answer.status.is_success(), "{event:?}: {}", answer.body);
        if matches!(event, Event::Disable) {
            // Re-enabled, the account must not find its old credentials alive again.
            let enabled = app
                .call(
                    Method::PATCH,
                    &format!("/users/{user_id}"),
                    Some(&admin),
                    Some(json!({"disabled": false})),
                )
                .await;
            assert_eq!(enabled.status, StatusCode::OK);
        }

        assert_eq!(
            app.get("/users/me", &other_access).await.status,
            StatusCode::UNAUTHORIZED,
            "{event:?}: the other session's access token"
        );
        assert_eq!(
            app.post("/auth/refresh", json!({"refresh_token": other_refresh}))
                .await
                .status,
            StatusCode::UNAUTHORIZED,
            "{event:?}: the other session's refresh token"
        );
        let reset = app
            .post(
                "/auth/password-reset/confirm",
                json!({"token": outstanding, "new_password": "the attacker's choice"}),
            )
            .await;
        assert_eq!(
            reset.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{event:?}: the outstanding reset link: {}",
            reset.body
        );
        let acting_survives = matches!(event, Event::PasswordChange | Event::EmailChange);
        let acting_status = app.get("/users/me", &acting).await.status;
        assert_eq!(
            acting_status == StatusCode::OK,
            acting_survives,
            "{event:?}: the acting session answered {acting_status}"
        );
    }
}

// 8. Trailing data after the JSON value.
#[tokio::test]
async fn trailing_data_after_the_body_is_422_and_changes_nothing() {
    let app = TestApp::new().await;
    let register = format!(
        r#"{{"email":"ada@example.com","password":"{PASSWORD}"}} {{"email":"eve@example.com","password":"{PASSWORD}"}}"#
    );
    let answer = app
        .send(raw(
            Method::POST,
            "/auth/register",
            &[("content-type", "application/json")],
            &register,
        ))
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    assert_eq!(users(&app).await, 0);

    app.register("ada@example.com").await;
    let login = format!(r#"{{"email":"ada@example.com","password":"{PASSWORD}"}}garbage"#);
    let answer = app
        .send(raw(
            Method::POST,
            "/auth/login",
            &[("content-type", "application/json")],
            &login,
        ))
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
}

// 9. A Content-Encoding we do not apply.
#[tokio::test]
async fn a_content_encoding_is_415_and_changes_nothing() {
    let app = TestApp::new().await;
    let body = json!({"email": "ada@example.com", "password": PASSWORD}).to_string();
    for coding in ["gzip", "deflate", "br", "x-unknown"] {
        let answer = app
            .send(raw(
                Method::POST,
                "/auth/register",
                &[
                    ("content-type", "application/json"),
                    ("content-encoding", coding),
                ],
                &body,
            ))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{coding}: {}",
            answer.body
        );
    }
    let form = "username=ada%40example.com&password=x";
    let answer = app
        .send(raw(
            Method::POST,
            "/auth/token",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("content-encoding", "gzip"),
            ],
            form,
        ))
        .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(users(&app).await, 0);
}

// 10. Two Authorization headers.
#[tokio::test]
async fn two_authorization_headers_are_401_even_when_the_first_is_valid() {
    let app = TestApp::new().await;
    let (ada, _, _) = app.signed_up("ada@example.com").await;
    let (eve, _, _) = app.signed_up("eve@example.com").await;
    for second in [
        format!("Bearer {eve}"),
        format!("Bearer {ada}"),
        "Bearer x".into(),
    ] {
        let first = format!("Bearer {ada}");
        let answer = app
            .send(raw(
                Method::GET,
                "/users/me",
                &[("authorization", &first), ("authorization", &second)],
                "",
            ))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
        assert_eq!(answer.headers["www-authenticate"], "Bearer");
    }
    // As API Gateway joins repeated headers: one value with a comma.
    let joined = format!("Bearer {ada},Bearer {eve}");
    let answer = app
        .send(raw(
            Method::GET,
            "/users/me",
            &[("authorization", &joined)],
            "",
        ))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

// 11. Authorization before validation on the admin routes.
#[tokio::test]
async fn a_non_admin_gets_403_on_every_admin_route_whatever_the_body() {
    let app = TestApp::new().await;
    app.signed_up_verified("admin@example.com").await;
    let (user, _, user_id) = app.signed_up("ada@example.com").await;
    let garbage: &[&str] = &[
        "",
        "{",
        "[1,2]",
        r#"{"role":"emperor"}"#,
        r#"{"disabled":"yes"}"#,
        r#"{"unknown":1}"#,
        r#"{"role":"admin"} trailing"#,
    ];
    let bearer = format!("Bearer {user}");
    let mut routes: Vec<(Method, String)> = vec![
        (Method::GET, "/users".into()),
        (Method::GET, "/users?limit=abc&cursor=%00".into()),
    ];
    for id in [
        user_id.as_str(),
        "not-a-uuid",
        "%00",
        "00000000-0000-0000-0000-000000000000",
    ] {
        routes.push((Method::PATCH, format!("/users/{id}")));
    }
    for (method, path) in &routes {
        for body in garbage {
            for content_type in ["application/json", "text/plain"] {
                let answer = app
                    .send(raw(
                        method.clone(),
                        path,
                        &[("authorization", &bearer), ("content-type", content_type)],
                        body,
                    ))
                    .await;
                assert_eq!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} {content_type} {body:?}: {}",
                    answer.body
                );
                assert!(
                    answer.body.get("errors").is_none(),
                    "the admin schema leaked: {}",
                    answer.body
                );
            }
        }
    }
    let role: String = app
        .sql()
        .await
        .query_one(
            "select role from users where email = 'ada@example.com'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(role, "user");
}

#[tokio::test]
async fn routes_that_need_a_caller_answer_401_before_reading_a_bad_body() {
    let app = TestApp::new().await;
    for (method, path) in [
        (Method::PATCH, "/users/me"),
        (Method::DELETE, "/users/me"),
        (Method::PATCH, "/users/00000000-0000-0000-0000-000000000000"),
    ] {
        let answer = app
            .send(raw(
                method.clone(),
                path,
                &[("content-type", "application/json")],
                "{not json",
            ))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}
