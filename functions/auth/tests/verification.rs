//! Email verification: the link mailed at registration and after an email change, the pending
//! address, the first admin only with proof, REQUIRE_VERIFIED_EMAIL, and resends.

use crate::common;

use common::{capture_log, last_mailed_token, Captured, TestApp, PASSWORD};
use http::{Method, StatusCode};
use serde_json::json;

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    capture_log(tracing::Level::INFO)
}

fn last_link(captured: &Captured) -> String {
    last_mailed_token(captured).expect("a link in the log")
}

async fn verify(app: &TestApp, token: &str) -> common::Answer {
    app.post("/auth/verify-email", json!({"token": token}))
        .await
}

#[tokio::test(flavor = "current_thread")]
async fn the_registration_link_verifies_the_address_once() {
    let (captured, _guard) = capture();
    let app = TestApp::new().await;
    let (access, _, _) = app.signed_up("ada@example.com").await;
    assert_eq!(
        app.get("/users/me", &access).await.body["email_verified"],
        false
    );
    let token = last_link(&captured);
    assert!(captured.text().contains("email verification link"));
    let stored: i64 = app
        .sql()
        .await
        .query_one(
            "select count(*) from email_verification_tokens where token_hash = sha256(convert_to($1, 'UTF8'))",
            &[&token],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1, "only the SHA-256 of the token is stored");

    assert_eq!(verify(&app, &token).await.status, StatusCode::OK);
    let me = app.get("/users/me", &access).await.body;
    assert_eq!(me["email_verified"], true);
    assert!(me["email_verified_at"].is_string());
    let again = verify(&app, &token).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "single use");
    assert_eq!(again.body["errors"][0]["loc"], json!(["body", "token"]));
}

#[tokio::test]
async fn bad_tokens_and_bodies_are_422_and_verify_nothing() {
    let app = TestApp::new().await;
    let (access, _, _) = app.signed_up("ada@example.com").await;
    for body in [
        json!({"token": ""}),
        json!({"token": "x".repeat(300)}),
        json!({"token": "not-a-token"}),
        json!({"token": 42}),
        json!({}),
        json!({"token": "abc", "extra": 1}),
    ] {
        let answer = app.post("/auth/verify-email", body.clone()).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    for body in [
        json!({"email": "x".repeat(300)}),
        json!({"email": "no-at"}),
        json!({}),
    ] {
        let answer = app.post("/auth/verify-email/resend", body.clone()).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    assert_eq!(
        app.get("/users/me", &access).await.body["email_verified"],
        false
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_new_address_is_pending_until_its_link_is_followed() {
    let (captured, _guard) = capture();
    let app = TestApp::new().await;
    let (access, _, _) = app.signed_up_verified("ada@example.com").await;
    let changed = app
        .call(
            Method::PATCH,
            "/users/me",
            Some(&access),
            Some(json!({"email": "Ada@Elsewhere.example", "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["email"], "ada@example.com");
    assert_eq!(changed.body["pending_email"], "Ada@Elsewhere.example");
    let log = captured.text();
    let line = log
        .lines()
        .rfind(|l| l.contains("email verification link"))
        .unwrap();
    assert!(
        line.contains("Ada@Elsewhere.example"),
        "mailed to the new address: {line}"
    );
    let token = last_link(&captured);
    // Until then, the old address signs in and the new one does not.
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.login("ada@elsewhere.example", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(verify(&app, &token).await.status, StatusCode::OK);
    let me = app.get("/users/me", &access).await.body;
    assert_eq!(me["email"], "Ada@Elsewhere.example");
    assert!(me["pending_email"].is_null());
    assert_eq!(me["email_verified"], true);
    assert_eq!(
        app.login("ada@elsewhere.example", PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_pending_address_taken_meanwhile_is_409_and_a_superseded_link_is_dead() {
    let (captured, _guard) = capture();
    let app = TestApp::new().await;
    let (access, _, _) = app.signed_up("ada@example.com").await;
    let change = |to: &'static str| {
        app.call(
            Method::PATCH,
            "/users/me",
            Some(&access),
            Some(json!({"email": to, "current_password": PASSWORD})),
        )
    };
    assert_eq!(change("first@example.com").await.status, StatusCode::OK);
    let first = last_link(&captured);
    assert_eq!(change("second@example.com").await.status, StatusCode::OK);
    let second = last_link(&captured);
    // The credential rule spent the first link when the second change was asked for.
    assert_eq!(
        verify(&app, &first).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Someone registers the pending address before Ada follows her link.
    app.register("SECOND@example.com").await;
    assert_eq!(verify(&app, &second).await.status, StatusCode::CONFLICT);
    assert_eq!(
        app.get("/users/me", &access).await.body["email"],
        "ada@example.com"
    );
    // And a taken address is refused when it is asked for.
    assert_eq!(
        change("second@example.com").await.status,
        StatusCode::CONFLICT
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_admin_email_squatter_never_becomes_admin_and_the_owner_takes_it_back_by_reset() {
    let (captured, _guard) = capture();
    let app = TestApp::with_vars(&[("ADMIN_EMAIL", "boss@example.com")]).await;
    // The squatter registers the address without reading its mailbox.
    let (squatter, _, _) = app.signed_up("boss@example.com").await;
    let squatter_link = last_link(&captured);
    let me = app.get("/users/me", &squatter).await.body;
    assert_eq!(me["role"], "user");
    let users = app.get("/users", &squatter).await;
    assert_eq!(users.status, StatusCode::FORBIDDEN);

    // The owner of the mailbox resets the password: the link proves the address.
    app.post("/auth/password-reset", json!({"email": "boss@example.com"}))
        .await;
    let reset = last_link(&captured);
    let answer = app
        .post(
            "/auth/password-reset/confirm",
            json!({"token": reset, "new_password": "the real owner's password"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        app.get("/users/me", &squatter).await.status,
        StatusCode::UNAUTHORIZED,
        "the squatter's session ended"
    );
    assert_eq!(
        verify(&app, &squatter_link).await.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the squatter's link died with the reset"
    );
    let login = app
        .login("boss@example.com", "the real owner's password")
        .await;
    let owner = login.body["access_token"].as_str().unwrap();
    let me = app.get("/users/me", owner).await.body;
    assert_eq!(me["role"], "admin");
    assert_eq!(me["email_verified"], true);
}

#[tokio::test(flavor = "current_thread")]
async fn require_verified_email_refuses_sign_in_with_403_until_the_link_is_followed() {
    let (captured, _guard) = capture();
    let app = TestApp::with_vars(&[("REQUIRE_VERIFIED_EMAIL", "true")]).await;
    app.register("ada@example.com").await;
    let token = last_link(&captured);
    let refused = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("not verified"));
    // Only the right password learns that: a wrong one is the usual 401.
    assert_eq!(
        app.login("ada@example.com", "wrong password").await.status,
        StatusCode::UNAUTHORIZED
    );
    let form = app
        .send(
            http::Request::builder()
                .method(Method::POST)
                .uri("/auth/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(format!(
                    "username=ada%40example.com&password={}",
                    PASSWORD.replace(' ', "+")
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(form.status, StatusCode::FORBIDDEN);
    assert_eq!(verify(&app, &token).await.status, StatusCode::OK);
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "current_thread")]
async fn resend_answers_202_for_any_address_and_mails_only_an_unverified_one() {
    let (captured, _guard) = capture();
    let app = TestApp::with_vars(&[("PASSWORD_RESET_ANSWER_MS", "20")]).await;
    app.signed_up_verified("done@example.com").await;
    let (waiting, _, _) = app.signed_up("waiting@example.com").await;
    let mails = || captured.text().matches("email verification link").count();
    let before = mails();
    for email in ["nobody@example.com", "DONE@example.com"] {
        let answer = app
            .post("/auth/verify-email/resend", json!({"email": email}))
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED);
        assert_eq!(mails(), before, "{email}: nothing to verify, nothing sent");
    }
    let answer = app
        .post(
            "/auth/verify-email/resend",
            json!({"email": "Waiting@Example.com"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(mails(), before + 1);
    assert_eq!(
        verify(&app, &last_link(&captured)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/users/me", &waiting).await.body["email_verified"],
        true
    );
}

#[tokio::test]
async fn resends_from_one_address_are_throttled() {
    let app = TestApp::with_vars(&[("PASSWORD_RESET_ANSWER_MS", "1")]).await;
    let mut last = StatusCode::OK;
    for _ in 0..11 {
        last = app
            .send(common::from_ip(
                common::json_request(
                    Method::POST,
                    "/auth/verify-email/resend",
                    json!({"email": "someone@example.com"}),
                ),
                "203.0.113.7",
            ))
            .await
            .status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}
