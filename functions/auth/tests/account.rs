//! GET/PATCH/DELETE /users/me and GET /welcome.

use crate::common;

use common::{TestApp, PASSWORD};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn me_and_welcome() {
    let app = TestApp::new().await;
    let (access, _, id) = app.signed_up("ada@example.com").await;
    let me = app.get("/users/me", &access).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], id);
    assert_eq!(me.body["email"], "ada@example.com");
    for key in ["created_at", "updated_at", "last_login_at"] {
        assert!(me.body[key].is_string(), "{key}: {}", me.body);
    }
    let welcome = app.get("/welcome", &access).await;
    assert_eq!(welcome.body["message"], "Welcome, ada@example.com!");
    assert_eq!(welcome.body["last_login_at"], me.body["last_login_at"]);

    app.call(
        Method::PATCH,
        "/users/me",
        Some(&access),
        Some(json!({"name": "Ada Lovelace"})),
    )
    .await;
    assert_eq!(
        app.get("/welcome", &access).await.body["message"],
        "Welcome, Ada Lovelace!"
    );
}

#[tokio::test]
async fn patch_name_and_clear_it() {
    let app = TestApp::new().await;
    let (access, _, _) = app.signed_up("ada@example.com").await;
    let named = app
        .call(
            Method::PATCH,
            "/users/me",
            Some(&access),
            Some(json!({"name": "  Ada "})),
        )
        .await;
    assert_eq!(named.status, StatusCode::OK, "{}", named.body);
    assert_eq!(named.body["name"], "Ada");
    let cleared = app
        .call(
            Method::PATCH,
            "/users/me",
            Some(&access),
            Some(json!({"name": null})),
        )
        .await;
    assert!(cleared.body["name"].is_null());
    let unchanged = app
        .call(Method::PATCH, "/users/me", Some(&access), Some(json!({})))
        .await;
    assert_eq!(unchanged.status, StatusCode::OK);
}

#[tokio::test]
async fn changing_email_or_password_needs_the_current_password() {
    let app = TestApp::new().await;
    let (access, _, _) = app.signed_up("ada@example.com").await;
    for body in [
        json!({"email": "new@example.com"}),
        json!({"password": "another long pass"}),
        json!({"email": "new@example.com", "current_password": "wrong password"}),
    ] {
        let answer = app
            .call(
                Method::PATCH,
                "/users/me",
                Some(&access),
                Some(body.clone()),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            answer.body["errors"][0]["loc"],
            json!(["body", "current_password"])
        );
    }
    let changed = app
        .call(
            Method::PATCH,
            "/users/me",
            Some(&access),
            Some(json!({"email": "New@example.com", "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    // The new address waits for its link (tests/verification.rs); the old one signs in meanwhile.
    assert_eq!(changed.body["email"], "ada@example.com");
    assert_eq!(changed.body["pending_email"], "New@example.com");
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn password_change_ends_the_other_sessions_but_not_this_one() {
    let app = TestApp::new().await;
    let (access, _, _) = app.signed_up("ada@example.com").await;
    let other = app.login("ada@example.com", PASSWORD).await;
    let other_access = other.body["access_token"].as_str().unwrap();
    let other_refresh = other.body["refresh_token"].as_str().unwrap();
    let answer = app
        .call(
            Method::PATCH,
            "/users/me",
            Some(&access),
            Some(json!({"password": "a brand new passphrase", "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(app.get("/users/me", &access).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/users/me", other_access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post("/auth/refresh", json!({"refresh_token": other_refresh}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("ada@example.com", "a brand new passphrase")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn email_change_to_a_taken_address_is_409() {
    let app = TestApp::new().await;
    app.register("taken@example.com").await;
    let (access, _, _) = app.signed_up("ada@example.com").await;
    let answer = app
        .call(
            Method::PATCH,
            "/users/me",
            Some(&access),
            Some(json!({"email": "TAKEN@example.com", "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn patch_cannot_set_role_or_id() {
    let app = TestApp::new().await;
    let (access, _, _) = app.signed_up("ada@example.com").await;
    for body in [
        json!({"role": "admin"}),
        json!({"id": "x"}),
        json!({"disabled": false}),
        json!({"password_hash": "x"}),
    ] {
        let answer = app
            .call(
                Method::PATCH,
                "/users/me",
                Some(&access),
                Some(body.clone()),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    assert_eq!(app.get("/users/me", &access).await.body["role"], "user");
}

#[tokio::test]
async fn delete_me_needs_the_password_then_removes_user_sessions_and_tasks() {
    let app = TestApp::new().await;
    let (access, refresh, id) = app.signed_up("ada@example.com").await;
    let sql = app.sql().await;
    sql.execute(
        "insert into tasks (issuer, user_id, owner_id, title) values ('', $1, $1::text::uuid, 'mine')",
        &[&id],
    )
    .await
    .unwrap();
    sql.execute(
        "insert into tasks (issuer, user_id, title) values ('better-auth-secret', 'someone-else', 'theirs')",
        &[],
    )
    .await
    .unwrap();

    let wrong = app
        .call(
            Method::DELETE,
            "/users/me",
            Some(&access),
            Some(json!({"current_password": "nope nope"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.call(Method::DELETE, "/users/me", Some(&access), None)
            .await
            .status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let deleted = app
        .call(
            Method::DELETE,
            "/users/me",
            Some(&access),
            Some(json!({"current_password": PASSWORD})),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/users/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post("/auth/refresh", json!({"refresh_token": refresh}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let tasks: Vec<String> = sql
        .query("select title from tasks", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tasks, vec!["theirs".to_owned()]);
    let sessions: i64 = sql
        .query_one("select count(*) from sessions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sessions, 0);
}
