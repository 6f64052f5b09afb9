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
