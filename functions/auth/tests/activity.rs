//! Sessions a user can see and end one by one, and the security log (issue 24): listing, ending
//! one (its tokens stop at once), ending the others, what an administrator may do, and what the
//! log records — never a secret.

use crate::common;

use axum::body::Body;
use common::{TestApp, PASSWORD};
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// Signs in with `agent` as the `User-Agent`: (access token, refresh token).
async fn sign_in_as(app: &TestApp, email: &str, agent: &str) -> (String, String) {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/auth/login")
        .header("content-type", "application/json")
        .header("user-agent", agent)
        .body(Body::from(
            json!({"email": email, "password": PASSWORD}).to_string(),
        ))
        .unwrap();
    let answer = app.send(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    (
        answer.body["access_token"].as_str().unwrap().to_owned(),
        answer.body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn delete(app: &TestApp, path: &str, token: &str) -> StatusCode {
    app.call(Method::DELETE, path, Some(token), None)
        .await
        .status
}

#[tokio::test]
async fn a_user_sees_their_sessions_and_ends_one_whose_tokens_stop_at_once() {
    let app = TestApp::new().await;
    let (laptop, _, _) = app.signed_up("ada@example.com").await;
    let (phone, phone_refresh) = sign_in_as(&app, "ada@example.com", FIREFOX).await;

    let listed = app.get("/users/me/sessions", &laptop).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let sessions = listed.body.as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{}", listed.body);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let other = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(other["device"], "Firefox on Linux");
    assert_eq!(other["user_agent"], FIREFOX);
    for field in ["id", "created_at", "last_used_at", "expires_at"] {
        assert!(other[field].is_string(), "{field}: {other}");
    }

    // Ending the phone's session: its access and refresh tokens fail on their next use.
    let other_id = other["id"].as_str().unwrap();
    let path = format!("/users/me/sessions/{other_id}");
    assert_eq!(delete(&app, &path, &laptop).await, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/users/me", &phone).await.status,
        StatusCode::UNAUTHORIZED
    );
    let refreshed = app
        .post("/auth/refresh", json!({"refresh_token": phone_refresh}))
        .await;
    assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED);
    // Ended is ended: a second time, or a made-up or malformed id, is 404.
    assert_eq!(delete(&app, &path, &laptop).await, StatusCode::NOT_FOUND);
    let made_up = format!("/users/me/sessions/{}", uuid::Uuid::new_v4());
    assert_eq!(delete(&app, &made_up, &laptop).await, StatusCode::NOT_FOUND);
    for bad in ["not-a-uuid", "%00", "..%2F..%2Fusers"] {
        let path = format!("/users/me/sessions/{bad}");
        assert_eq!(
            delete(&app, &path, &laptop).await,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
    assert_eq!(app.get("/users/me", &laptop).await.status, StatusCode::OK);
    let listed = app.get("/users/me/sessions", &laptop).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn nobody_ends_or_sees_another_users_session() {
    let app = TestApp::new().await;
    let (ada, _, _) = app.signed_up("ada@example.com").await;
    let (bob, _, _) = app.signed_up("bob@example.com").await;
    let bobs = app.get("/users/me/sessions", &bob).await;
    let bob_session = bobs.body[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/users/me/sessions/{bob_session}");
    assert_eq!(delete(&app, &path, &ada).await, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/users/me", &bob).await.status, StatusCode::OK);
    let adas = app.get("/users/me/sessions", &ada).await;
    assert!(!adas.body.to_string().contains(&bob_session));
    // The admin routes are for administrators only.
    let bob_id = app.get("/users/me", &bob).await.body["id"].clone();
    let bob_id = bob_id.as_str().unwrap();
    for path in [
        format!("/users/{bob_id}/sessions"),
        format!("/users/{bob_id}/security-log"),
    ] {
        assert_eq!(app.get(&path, &ada).await.status, StatusCode::FORBIDDEN);
    }
    let admin_end = format!("/users/{bob_id}/sessions/{bob_session}");
    assert_eq!(delete(&app, &admin_end, &ada).await, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/users/me", &bob).await.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_others_keeps_only_this_session() {
    let app = TestApp::new().await;
    let (first, _, _) = app.signed_up("ada@example.com").await;
    let (second, _) = sign_in_as(&app, "ada@example.com", FIREFOX).await;
    let (third, _) = sign_in_as(&app, "ada@example.com", "curl/8.5.0").await;
    let answer = app
        .call(Method::POST, "/auth/logout-others", Some(&second), None)
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    assert_eq!(app.get("/users/me", &second).await.status, StatusCode::OK);
    for ended in [&first, &third] {
        assert_eq!(
            app.get("/users/me", ended).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let answer = app
        .call(Method::POST, "/auth/logout-others", None, None)
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_administrator_lists_and_ends_a_users_sessions_and_reads_their_log() {
    let app = TestApp::new().await;
    let (admin, _, _) = app.signed_up_verified("admin@example.com").await;
    let (bob, _, bob_id) = app.signed_up("bob@example.com").await;
    let listed = app.get(&format!("/users/{bob_id}/sessions"), &admin).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let sessions = listed.body.as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["current"], false);
    let session = sessions[0]["id"].as_str().unwrap();
    let path = format!("/users/{bob_id}/sessions/{session}");
    assert_eq!(delete(&app, &path, &admin).await, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/users/me", &bob).await.status,
        StatusCode::UNAUTHORIZED
    );
    let log = app
        .get(&format!("/users/{bob_id}/security-log"), &admin)
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let newest = &log.body[0];
    assert_eq!(newest["kind"], "session_ended");
    assert_eq!(newest["detail"]["by_admin"], true);
    assert_eq!(newest["detail"]["session_id"], session);
    let unknown = format!("/users/{}/sessions", uuid::Uuid::new_v4());
    let answer = app.get(&unknown, &admin).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, json!([]));
}

fn kinds(log: &Value) -> Vec<&str> {
    log.as_array()
        .unwrap()
        .iter()
        .map(|event| event["kind"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_security_log_records_what_happened_and_never_a_secret() {
    let app = TestApp::new().await;
    let (token, refresh, _) = app.signed_up("ada@example.com").await;
    for _ in 0..5 {
        let failed = app.login("ada@example.com", "a wrong guess").await;
        assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    }
    // Unlocked by hand, then a password change.
    let sql = app.sql().await;
    sql.execute("delete from login_throttle", &[])
        .await
        .unwrap();
    let new_password = "an entirely new password";
    let changed = app
        .call(
            Method::PATCH,
            "/users/me",
            Some(&token),
            Some(json!({"password": new_password, "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);

    let log = app.get("/users/me/security-log", &token).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    assert_eq!(
        kinds(&log.body),
        [
            "password_changed",
            "account_locked",
            "password_failed",
            "password_failed",
            "password_failed",
            "password_failed",
            "password_failed",
            "signed_in",
            "registered",
        ]
    );
    assert_eq!(log.headers["x-total-count"], "9");
    assert_eq!(log.body[1]["detail"]["seconds"], 30);
    assert_eq!(log.body[2]["detail"]["via"], "sign_in");
    assert!(log.body[7]["session_id"].is_string());
    let text = log.body.to_string();
    for secret in [PASSWORD, new_password, "a wrong guess", &token, &refresh] {
        assert!(!text.contains(secret), "the log holds a secret: {secret}");
    }
    let stored: String = sql
        .query_one(
            "select string_agg(detail::text, ' ') from security_events",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!stored.contains(PASSWORD) && !stored.contains("wrong guess"));

    // Pages of 4, newest first, following `Link`.
    let mut seen = Vec::new();
    let mut next = Some("/users/me/security-log?limit=4".to_owned());
    while let Some(path) = next.take() {
        let page = app.get(&path, &token).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        seen.extend(kinds(&page.body).into_iter().map(str::to_owned));
        next = page.headers.get("link").map(|link| {
            let link = link.to_str().unwrap();
            link[1..link.find('>').unwrap()].to_owned()
        });
    }
    assert_eq!(seen, kinds(&log.body));
    for bad in [
        "limit=0",
        "limit=201",
        "limit=x",
        "cursor=abc",
        "cursor=-1",
        "cursor=0",
    ] {
        let answer = app
            .get(&format!("/users/me/security-log?{bad}"), &token)
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(
        app.call(Method::GET, "/users/me/security-log", None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn events_older_than_the_retention_are_swept_by_new_ones() {
    let app = TestApp::with_vars(&[("SECURITY_LOG_RETENTION_DAYS", "30")]).await;
    let (token, _, _) = app.signed_up("ada@example.com").await;
    let sql = app.sql().await;
    sql.execute(
        "update security_events set at = now() - interval '31 days'",
        &[],
    )
    .await
    .unwrap();
    let (_, _) = sign_in_as(&app, "ada@example.com", FIREFOX).await;
    let log = app.get("/users/me/security-log", &token).await;
    assert_eq!(kinds(&log.body), ["signed_in"], "{}", log.body);
}

#[tokio::test]
async fn a_bad_retention_setting_is_refused_at_start() {
    for bad in ["0", "3651", "ninety", "-5"] {
        let vars = [("SECURITY_LOG_RETENTION_DAYS".to_owned(), bad.to_owned())]
            .into_iter()
            .collect();
        let error = auth::AuthSettings::from_source(&vars).unwrap_err();
        assert!(
            error.to_string().contains("SECURITY_LOG_RETENTION_DAYS"),
            "{bad}: {error}"
        );
    }
}
