//! The second factor (issue 24): enrolment and activation of a TOTP authenticator, sign-in in two
//! steps, recovery codes, step-up, and the hostile cases — a code used twice, a code of the wrong
//! step, a challenge replayed or outliving a password change, another user's challenge, brute
//! force, and codes in other scripts. Codes come from `auth::second_factor::totp` (checked against
//! RFC 6238's vectors); e2e/tests/second_factor.rs does the same through `cargo lambda watch` with
//! pyotp, an independent implementation.

use crate::common;

use auth::second_factor::totp::{code_at_step, step_at};
use base64::Engine as _;
use common::{base32_decode, TestApp, PASSWORD};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::token::unix_now;

const EMAIL: &str = "ada@example.com";

fn code(secret: &[u8], steps_from_now: i64) -> String {
    code_at_step(secret, (step_at(unix_now()) as i64 + steps_from_now) as u64)
}

fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Signs up, enrols and activates a factor: (access token, secret, recovery codes, user id).
async fn with_factor(app: &TestApp, email: &str) -> (String, Vec<u8>, Vec<String>, String) {
    let (token, _, user_id) = app.signed_up(email).await;
    let enrolled = app
        .call(
            Method::POST,
            "/users/me/second-factor/totp",
            Some(&token),
            Some(json!({"current_password": PASSWORD})),
        )
        .await;
    assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
    assert_eq!(enrolled.headers["cache-control"], "no-store");
    let secret = base32_decode(enrolled.body["secret"].as_str().unwrap());
    assert_eq!(secret.len(), 20);
    let activated = app
        .call(
            Method::POST,
            "/users/me/second-factor/totp/activate",
            Some(&token),
            Some(json!({"code": code(&secret, 0)})),
        )
        .await;
    assert_eq!(activated.status, StatusCode::OK, "{}", activated.body);
    let codes: Vec<String> = activated.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (token, secret, codes, user_id)
}

/// The password step of a sign-in to an account with a factor: its challenge.
async fn challenge(app: &TestApp, email: &str) -> String {
    let answer = app.login(email, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert_eq!(
        answer.body["type"],
        "tag:tasks-api,2026:problems/second-factor-required"
    );
    assert_eq!(answer.body["error"], "mfa_required");
    assert!(answer.body.get("access_token").is_none());
    answer.body["challenge"].as_str().unwrap().to_owned()
}

async fn second_step(app: &TestApp, challenge: &str, code: &str) -> common::Answer {
    app.post(
        "/auth/login/second-factor",
        json!({"challenge": challenge, "code": code}),
    )
    .await
}

/// Lets the next TOTP code be used at once (a test cannot wait 30 s for the next step): forgets
/// the last used step, as if it were long ago.
async fn forget_last_step(app: &TestApp, user_id: &str) {
    let id: uuid::Uuid = user_id.parse().unwrap();
    app.sql()
        .await
        .execute(
            "update second_factors set last_used_step = null where user_id = $1",
            &[&id],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn enrolment_gives_an_otpauth_uri_and_activation_turns_sign_in_into_two_steps() {
    let app = TestApp::new().await;
    let (token, _, _) = app.signed_up(EMAIL).await;
    let enrol = |body: Value| {
        app.call(
            Method::POST,
            "/users/me/second-factor/totp",
            Some(&token),
            Some(body),
        )
    };
    assert_eq!(
        enrol(json!({})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let wrong = enrol(json!({"current_password": "not the password"})).await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );

    let enrolled = enrol(json!({"current_password": PASSWORD})).await;
    assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
    let secret = enrolled.body["secret"].as_str().unwrap();
    assert_eq!(
        enrolled.body["otpauth_uri"],
        format!("otpauth://totp/Tasks%20API:ada%40example.com?secret={secret}&issuer=Tasks%20API&algorithm=SHA1&digits=6&period=30")
    );
    let secret = base32_decode(secret);
    // The secret is stored sealed: not as itself, nor as its base32.
    let sealed: Vec<u8> = app
        .sql()
        .await
        .query_one("select sealed_secret from second_factors", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!sealed.windows(secret.len()).any(|w| w == secret));

    // Pending: sign-in is still one step, and the status says so.
    let status = app.get("/users/me/second-factor", &token).await;
    assert_eq!(status.body["totp_pending"], true, "{}", status.body);
    assert_eq!(status.body["totp_active"], false);
    assert_eq!(app.login(EMAIL, PASSWORD).await.status, StatusCode::OK);

    let activate = |code: String| {
        app.call(
            Method::POST,
            "/users/me/second-factor/totp/activate",
            Some(&token),
            Some(json!({ "code": code })),
        )
    };
    let wrong_code = activate(code(&secret, 5)).await;
    assert_eq!(wrong_code.status, StatusCode::UNPROCESSABLE_ENTITY);
    let activated = activate(code(&secret, 0)).await;
    assert_eq!(activated.status, StatusCode::OK, "{}", activated.body);
    assert_eq!(
        activated.body["recovery_codes"].as_array().unwrap().len(),
        10
    );
    // Enrolling again while active is a conflict; activating again finds nothing pending.
    assert_eq!(
        enrol(json!({"current_password": PASSWORD})).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        activate(code(&secret, 1)).await.status,
        StatusCode::NOT_FOUND
    );

    // Sign-in: the password step answers a challenge, the second step the tokens.
    let challenge = challenge(&app, EMAIL).await;
    // The code that activated the factor is spent: never accepted twice.
    let reused = second_step(&app, &challenge, &code(&secret, 0)).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED, "{}", reused.body);
    let signed_in = second_step(&app, &challenge, &code(&secret, 1)).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    assert_eq!(signed_in.headers["cache-control"], "no-store");
    let access = signed_in.body["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims(access)["aal"], "aal2");
    // A password-only session says so.
    assert_eq!(claims(&token)["aal"], "aal1");
    // The refreshed token keeps the session's assurance.
    let refresh = signed_in.body["refresh_token"].as_str().unwrap();
    let refreshed = app
        .post("/auth/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(refreshed.status, StatusCode::OK);
    assert_eq!(
        claims(refreshed.body["access_token"].as_str().unwrap())["aal"],
        "aal2"
    );

    // The challenge was spent by its success.
    let replayed = second_step(&app, &challenge, &code(&secret, 1)).await;
    assert_eq!(replayed.status, StatusCode::UNAUTHORIZED);

    // The /auth/token password grant (Swagger's Authorize, the seeds) answers the same challenge.
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
    assert_eq!(form.status, StatusCode::FORBIDDEN, "{}", form.body);
    assert!(form.body["challenge"].is_string());
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_is_logged() {
    let app = TestApp::new().await;
    let (token, _, codes, _) = with_factor(&app, EMAIL).await;
    let first = challenge(&app, EMAIL).await;
    // Typed in capitals with spaces for the hyphen: still the code.
    let typed = codes[3].to_uppercase().replace('-', " ");
    let signed_in = second_step(&app, &first, &typed).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    assert_eq!(
        claims(signed_in.body["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "mfa"])
    );
    let again = challenge(&app, EMAIL).await;
    let reused = second_step(&app, &again, &codes[3]).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED, "{}", reused.body);

    let status = app.get("/users/me/second-factor", &token).await;
    assert_eq!(status.body["recovery_codes_left"], 9);
    let log = app.get("/users/me/security-log", &token).await;
    let kinds: Vec<&str> = log
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "second_factor_enrolled",
        "recovery_code_used",
        "second_factor_failed",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let used = log
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "recovery_code_used")
        .unwrap();
    assert_eq!(used["detail"]["remaining"], 9);
    // Never a code or a secret in the log.
    let text = log.body.to_string();
    for code in &codes {
        assert!(!text.contains(code.as_str()) && !text.contains(&code.replace('-', "")));
    }
}

#[tokio::test]
async fn a_challenge_dies_with_a_password_change_and_belongs_to_its_user_only() {
    let app = TestApp::new().await;
    let (ada, ada_secret, _, ada_id) = with_factor(&app, EMAIL).await;
    let (_, bob_secret, _, _) = with_factor(&app, "bob@example.com").await;
    forget_last_step(&app, &ada_id).await;

    // Bob's code does not open Ada's challenge (nor the other way round).
    let adas = challenge(&app, EMAIL).await;
    let crossed = second_step(&app, &adas, &code(&bob_secret, 0)).await;
    assert_eq!(crossed.status, StatusCode::UNAUTHORIZED);

    // Ada changes her password (her session proved the factor at activation: fresh enough).
    let changed = app
        .call(
            Method::PATCH,
            "/users/me",
            Some(&ada),
            Some(json!({"password": "a brand new passphrase", "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let dead = second_step(&app, &adas, &code(&ada_secret, 0)).await;
    assert_eq!(dead.status, StatusCode::UNAUTHORIZED, "{}", dead.body);

    // Unknown, empty and oversized challenges: the same 401, nothing else.
    for bogus in ["", "nope", &"x".repeat(10_000)] {
        let answer = second_step(&app, bogus, "123456").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{bogus:.10}");
    }
}

#[tokio::test]
async fn wrong_codes_lock_the_second_step_and_malformed_ones_count_nothing() {
    let app = TestApp::new().await;
    let (_, secret, _, user_id) = with_factor(&app, EMAIL).await;
    forget_last_step(&app, &user_id).await;
    let challenge = challenge(&app, EMAIL).await;
    // Not codes: other scripts' digits, full-width digits, letters, wrong lengths, a huge string.
    let huge = "1".repeat(100_000);
    for bad in [
        "１２３４５６",
        "١٢٣٤٥٦",
        "12345",
        "1234567",
        "12a456",
        " ",
        &huge,
    ] {
        let answer = second_step(&app, &challenge, bad).await;
        assert!(
            answer.status == StatusCode::UNPROCESSABLE_ENTITY
                || answer.status == StatusCode::PAYLOAD_TOO_LARGE,
            "{bad:.12}: {} {}",
            answer.status,
            answer.body
        );
    }
    // Five wrong codes (never the current window's)...
    let now = step_at(unix_now());
    let wrong: Vec<String> = (0..1_000_000u32)
        .map(|n| format!("{n:06}"))
        .filter(|c| (0..=2).all(|d| *c != code_at_step(&secret, now - 1 + d)))
        .take(5)
        .collect();
    for code in &wrong {
        let answer = second_step(&app, &challenge, code).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    }
    // ...and even the right one is refused for a while.
    let locked = second_step(&app, &challenge, &code(&secret, 0)).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.body
    );
    assert!(locked.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn sensitive_changes_need_a_recent_second_factor() {
    let app = TestApp::new().await;
    let (token, secret, codes, user_id) = with_factor(&app, EMAIL).await;
    // The activation's proof grows stale.
    let id: uuid::Uuid = user_id.parse().unwrap();
    app.sql()
        .await
        .execute(
            "update sessions set second_factor_at = now() - interval '1 hour' where user_id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let attempts = [
        (
            Method::PATCH,
            "/users/me",
            json!({"password": "a brand new passphrase", "current_password": PASSWORD}),
        ),
        (
            Method::PATCH,
            "/users/me",
            json!({"email": "new@example.com", "current_password": PASSWORD}),
        ),
        (
            Method::DELETE,
            "/users/me",
            json!({"current_password": PASSWORD}),
        ),
        (
            Method::DELETE,
            "/users/me/second-factor",
            json!({"current_password": PASSWORD}),
        ),
        (
            Method::POST,
            "/users/me/second-factor/recovery-codes",
            json!({}),
        ),
    ];
    for (method, path, body) in &attempts {
        let answer = app
            .call(method.clone(), path, Some(&token), Some(body.clone()))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {}",
            answer.body
        );
        assert_eq!(
            answer.body["type"],
            "tag:tasks-api,2026:problems/step-up-required"
        );
        let challenge = answer.headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains("insufficient_user_authentication")
                && challenge.contains("max_age=300"),
            "{challenge}"
        );
    }
    // A step-up with a code of the wrong step, then with the right one.
    forget_last_step(&app, &user_id).await;
    let verify = |code: String| {
        app.call(
            Method::POST,
            "/users/me/second-factor/verify",
            Some(&token),
            Some(json!({ "code": code })),
        )
    };
    assert_eq!(
        verify(code(&secret, -3)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        verify(code(&secret, 0)).await.status,
        StatusCode::NO_CONTENT
    );
    // Fresh now: new recovery codes (the old ones stop working), then removal.
    let renewed = app
        .call(
            Method::POST,
            "/users/me/second-factor/recovery-codes",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    let challenge_now = challenge(&app, EMAIL).await;
    assert_eq!(
        second_step(&app, &challenge_now, &codes[0]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let removed = app
        .call(
            Method::DELETE,
            "/users/me/second-factor",
            Some(&token),
            Some(json!({"current_password": PASSWORD})),
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    // One step again.
    assert_eq!(app.login(EMAIL, PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn without_a_sealing_key_the_routes_name_the_setting() {
    let app = TestApp::with_vars(&[("SECOND_FACTOR_KEY", "")]).await;
    let (token, _, _) = app.signed_up(EMAIL).await;
    let answer = app
        .call(
            Method::POST,
            "/users/me/second-factor/totp",
            Some(&token),
            Some(json!({"current_password": PASSWORD})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        answer.body["type"],
        "tag:tasks-api,2026:problems/misconfigured"
    );
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("SECOND_FACTOR_KEY"));
    // A key too short to be one is refused at start, naming the setting.
    for (name, bad) in [
        ("SECOND_FACTOR_KEY", "short"),
        ("SECOND_FACTOR_MAX_AGE_SECONDS", "5"),
        ("SECOND_FACTOR_ISSUER", "a\u{7}bell"),
    ] {
        let vars = [(name.to_owned(), bad.to_owned())].into_iter().collect();
        let error = auth::AuthSettings::from_source(&vars).unwrap_err();
        assert!(error.to_string().contains(name), "{error}");
    }
}

#[tokio::test]
async fn one_code_sent_twice_at_once_signs_in_once() {
    let app = TestApp::new().await;
    let (_, secret, codes, user_id) = with_factor(&app, EMAIL).await;
    forget_last_step(&app, &user_id).await;
    let (first, second) = (challenge(&app, EMAIL).await, challenge(&app, EMAIL).await);
    let now = code(&secret, 0);
    let (a, b) = tokio::join!(
        second_step(&app, &first, &now),
        second_step(&app, &second, &now)
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::UNAUTHORIZED],
        "{} / {}",
        a.body,
        b.body
    );
    // The same for a recovery code: one session, not two.
    let (third, fourth) = (challenge(&app, EMAIL).await, challenge(&app, EMAIL).await);
    let (c, d) = tokio::join!(
        second_step(&app, &third, &codes[1]),
        second_step(&app, &fourth, &codes[1])
    );
    let mut statuses = [c.status, d.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::UNAUTHORIZED],
        "{} / {}",
        c.body,
        d.body
    );
}

#[tokio::test]
async fn an_administrator_removes_a_lost_factor_and_a_reset_never_does() {
    let app = TestApp::new().await;
    let (admin, _, _) = app.signed_up_verified("admin@example.com").await;
    let (ada, _, _, ada_id) = with_factor(&app, EMAIL).await;
    // A password reset by email leaves the factor in place.
    app.post("/auth/password-reset", json!({"email": EMAIL}))
        .await;
    let path = format!("/users/{ada_id}/second-factor");
    // Not for non-administrators (Ada on herself included), nor for ids that are not users.
    let refused = app.call(Method::DELETE, &path, Some(&ada), None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    for bogus in ["not-a-uuid", "00000000-0000-4000-8000-000000000000"] {
        let answer = app
            .call(
                Method::DELETE,
                &format!("/users/{bogus}/second-factor"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{bogus}");
    }
    let removed = app.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    // Her sessions ended; the password alone signs in again; the log says who.
    assert_eq!(
        app.get("/users/me", &ada).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = app.login(EMAIL, PASSWORD).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let token = again.body["access_token"].as_str().unwrap();
    let log = app.get("/users/me/security-log", token).await;
    let removal = log
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "second_factor_removed")
        .unwrap();
    assert!(removal["detail"]["by"].is_string(), "{removal}");
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&admin), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
