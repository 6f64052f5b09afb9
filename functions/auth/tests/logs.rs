//! A whole auth flow logged at the most verbose level never writes a password, a password hash,
//! an access token or a refresh token.

use crate::common;

use common::{Captured, TestApp, PASSWORD};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "current_thread")]
async fn no_secret_reaches_the_logs() {
    let captured = Captured::default();
    // The functions' own JSON lines (what CloudWatch receives), at the most verbose level.
    let subscriber = shared::telemetry::json_subscriber(
        captured.clone(),
        tracing_subscriber::filter::Targets::new().with_default(tracing::Level::TRACE),
        shared::telemetry::PowertoolsJson::from_env(),
    );
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = TestApp::new().await;
    let new_password = "second secret passphrase";
    let (access, refresh, _) = app.signed_up("ada@example.com").await;
    let rotated = app
        .post("/auth/refresh", json!({"refresh_token": refresh}))
        .await;
    let access2 = rotated.body["access_token"].as_str().unwrap().to_owned();
    let refresh2 = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    app.post("/auth/refresh", json!({"refresh_token": refresh}))
        .await; // reuse: logged as a warning
    let (access3, _, _) = app.signed_up("bob@example.com").await;
    app.call(
        Method::PATCH,
        "/users/me",
        Some(&access3),
        Some(json!({"password": new_password, "current_password": PASSWORD})),
    )
    .await;
    app.login("bob@example.com", "wrong guess here").await;
    app.get("/users/me", "not.a.token").await;
    app.post("/auth/password-reset", json!({"email": "bob@example.com"}))
        .await;
    assert_eq!(
        app.login("bob@example.com", new_password).await.status,
        StatusCode::OK
    );
    // A second factor: its secret, URI, codes and challenge never reach the logs either.
    let (carol, _, _) = app.signed_up("carol@example.com").await;
    let enrolled = app
        .call(
            Method::POST,
            "/users/me/second-factor/totp",
            Some(&carol),
            Some(json!({"current_password": PASSWORD})),
        )
        .await;
    let totp_secret = enrolled.body["secret"].as_str().unwrap().to_owned();
    let secret_bytes = common::base32_decode(&totp_secret);
    let step = auth::second_factor::totp::step_at(shared::token::unix_now());
    let first_code = auth::second_factor::totp::code_at_step(&secret_bytes, step);
    let activated = app
        .call(
            Method::POST,
            "/users/me/second-factor/totp/activate",
            Some(&carol),
            Some(json!({ "code": first_code })),
        )
        .await;
    let recovery: Vec<String> = activated.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    let challenged = app.login("carol@example.com", PASSWORD).await;
    let challenge = challenged.body["challenge"].as_str().unwrap().to_owned();
    let second = app
        .post(
            "/auth/login/second-factor",
            json!({"challenge": challenge, "code": recovery[0]}),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);

    let hashes: Vec<String> = app
        .sql()
        .await
        .query("select password_hash from users", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let logs = captured.text();
    assert!(logs.contains("signed in"), "the flow was logged");
    assert!(logs.contains("\"latency_ms\":"), "in the JSON lines' shape");
    // The local mailer's line carries the reset link by design (local development only).
    let logs: String = logs
        .lines()
        .filter(|line| !line.contains("password reset link"))
        .collect();
    let mut secrets = vec![
        PASSWORD.to_owned(),
        new_password.to_owned(),
        "wrong guess here".to_owned(),
    ];
    secrets.extend([access, refresh, access2, refresh2, access3]);
    secrets.extend(hashes);
    secrets.extend([totp_secret, challenge, first_code]);
    secrets.extend(
        recovery
            .iter()
            .flat_map(|code| [code.clone(), code.replace('-', "")]),
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the logs: {}…",
            &secret[..8]
        );
    }
    assert!(
        !logs.contains(common::SECRET),
        "the JWT secret reached the logs"
    );
}
