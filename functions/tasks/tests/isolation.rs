//! Isolation in every method: another user's path is 403, another user's task id is 404 and the
//! row never changes; revoked sessions and disabled users are refused here too.

use crate::common;

use common::TestApp;
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn other_users_path_is_403_and_their_task_404_in_every_method() {
    let app = TestApp::new().await;
    let alice = app.user("alice@example.com").await;
    let mallory = app.user("mallory@example.com").await;
    let created = app
        .create(
            &alice,
            json!({"title": "alice's", "description": "private"}),
        )
        .await;
    let id = created.body["id"].as_i64().unwrap();
    let before = app
        .sql()
        .await
        .query_one(
            "select title, description, completed::text, updated_at::text from tasks where id = $1",
            &[&id],
        )
        .await
        .unwrap();

    let on_alice = |suffix: &str| format!("/api/{}/tasks{suffix}", alice.id);
    let on_mallory = |suffix: &str| format!("/api/{}/tasks{suffix}", mallory.id);
    let id_path = format!("/{id}");
    let complete = format!("/{id}/complete");
    let body = Some(json!({"title": "pwned", "completed": true}));
    let attempts = [
        (Method::GET, on_alice(""), None, StatusCode::FORBIDDEN),
        (
            Method::POST,
            on_alice(""),
            body.clone(),
            StatusCode::FORBIDDEN,
        ),
        (Method::GET, on_alice(&id_path), None, StatusCode::FORBIDDEN),
        (
            Method::PUT,
            on_alice(&id_path),
            body.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::PATCH,
            on_alice(&id_path),
            body.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::DELETE,
            on_alice(&id_path),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Method::PATCH,
            on_alice(&complete),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Method::GET,
            on_mallory(&id_path),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PUT,
            on_mallory(&id_path),
            body.clone(),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PATCH,
            on_mallory(&id_path),
            body.clone(),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            on_mallory(&id_path),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PATCH,
            on_mallory(&complete),
            None,
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, path, body, status) in attempts {
        let answer = app.call(method.clone(), &path, &mallory.token, body).await;
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.body);
    }
    let listed = app
        .call(Method::GET, &on_mallory(""), &mallory.token, None)
        .await;
    assert_eq!(listed.body, json!([]));
    let after = app
        .sql()
        .await
        .query_one(
            "select title, description, completed::text, updated_at::text from tasks where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    for column in 0..4 {
        assert_eq!(
            before.get::<_, Option<String>>(column),
            after.get::<_, Option<String>>(column),
            "alice's task never changes (column {column})"
        );
    }
    assert_eq!(after.get::<_, String>(0), "alice's");
}

#[tokio::test]
async fn revoked_session_and_disabled_user_are_refused() {
    let app = TestApp::new().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let created = app.create(&alice, json!({"title": "t"})).await;
    let id = created.body["id"].as_i64().unwrap();
    let sql = app.sql().await;
    sql.execute(
        "update sessions set revoked_at = now() where id = $1",
        &[&alice.session],
    )
    .await
    .unwrap();
    for (method, path, body) in [
        (Method::GET, format!("/api/{}/tasks", alice.id), None),
        (
            Method::POST,
            format!("/api/{}/tasks", alice.id),
            Some(json!({"title": "new"})),
        ),
        (Method::GET, format!("/api/{}/tasks/{id}", alice.id), None),
        (
            Method::PUT,
            format!("/api/{}/tasks/{id}", alice.id),
            Some(json!({"title": "new"})),
        ),
        (
            Method::PATCH,
            format!("/api/{}/tasks/{id}", alice.id),
            Some(json!({"title": "new"})),
        ),
        (
            Method::PATCH,
            format!("/api/{}/tasks/{id}/complete", alice.id),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/{}/tasks/{id}", alice.id),
            None,
        ),
    ] {
        let answer = app.call(method.clone(), &path, &alice.token, body).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    let tasks: i64 = sql
        .query_one("select count(*) from tasks where title = 't'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(tasks, 1, "nothing changed for the revoked session");

    let bob_id: uuid::Uuid = bob.id.parse().unwrap();
    sql.execute("update users set disabled = true where id = $1", &[&bob_id])
        .await
        .unwrap();
    let answer = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks", bob.id),
            &bob.token,
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn concurrent_toggles_and_deletes_of_one_task_never_fail_with_500() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let user = std::sync::Arc::new(app.user("ada@example.com").await);
    let created = app.create(&user, json!({"title": "contested"})).await;
    let id = created.body["id"].as_i64().unwrap();
    let toggles = (0..20).map(|i| {
        let (app, user) = (app.clone(), user.clone());
        tokio::spawn(async move {
            let path = format!("/api/{}/tasks/{id}", user.id);
            if i == 10 {
                app.call(Method::DELETE, &path, &user.token, None)
                    .await
                    .status
            } else {
                app.call(
                    Method::PATCH,
                    &format!("{path}/complete"),
                    &user.token,
                    None,
                )
                .await
                .status
            }
        })
    });
    let mut statuses = Vec::new();
    for toggle in toggles {
        statuses.push(toggle.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| [
            StatusCode::OK,
            StatusCode::NO_CONTENT,
            StatusCode::NOT_FOUND
        ]
        .contains(s)),
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::NO_CONTENT)
            .count(),
        1
    );
    let left: i64 = app
        .sql()
        .await
        .query_one("select count(*) from tasks", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[tokio::test]
async fn concurrent_toggles_are_all_applied() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let user = std::sync::Arc::new(app.user("ada@example.com").await);
    let created = app.create(&user, json!({"title": "flip"})).await;
    let id = created.body["id"].as_i64().unwrap();
    let flips = (0..10).map(|_| {
        let (app, user) = (app.clone(), user.clone());
        tokio::spawn(async move {
            app.call(
                Method::PATCH,
                &format!("/api/{}/tasks/{id}/complete", user.id),
                &user.token,
                None,
            )
            .await
            .status
        })
    });
    for flip in flips {
        assert_eq!(flip.await.unwrap(), StatusCode::OK);
    }
    let completed: bool = app
        .sql()
        .await
        .query_one("select completed from tasks", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!completed, "ten toggles, none lost");
}

/// Authorization before validation: another user's path is 403 whatever the body, its encoding or
/// its size — never a 422, 413 or 415 that would describe what that route accepts.
#[tokio::test]
async fn another_users_path_is_403_before_the_body_is_read() {
    let app = TestApp::new().await;
    let alice = app.user("alice@example.com").await;
    let mallory = app.user("mallory@example.com").await;
    let created = app.create(&alice, json!({"title": "alice's"})).await;
    let id = created.body["id"].as_i64().unwrap();
    let base = format!("/api/{}/tasks", alice.id);
    let routes = [
        (Method::POST, base.clone()),
        (Method::PUT, format!("{base}/{id}")),
        (Method::PATCH, format!("{base}/{id}")),
        (Method::PATCH, format!("{base}/{id}/complete")),
    ];
    let huge = "x".repeat(70 * 1024);
    let bodies: &[(&str, &str, Option<&str>)] = &[
        ("application/json", "{", None),
        ("application/json", "[]", None),
        ("application/json", r#"{"title": 42}"#, None),
        (
            "application/json",
            r#"{"title": "x", "user_id": "mallory"}"#,
            None,
        ),
        ("application/json", r#"{"title": "x"} trailing"#, None),
        ("text/plain", r#"{"title": "x"}"#, None),
        ("application/json", r#"{"title": "x"}"#, Some("gzip")),
        ("application/json", huge.as_str(), None),
    ];
    for (method, path) in &routes {
        for (content_type, body, encoding) in bodies {
            let mut request = http::Request::builder()
                .method(method.clone())
                .uri(path.as_str())
                .header("authorization", format!("Bearer {}", mallory.token))
                .header("content-type", *content_type);
            if let Some(encoding) = encoding {
                request = request.header("content-encoding", *encoding);
            }
            let answer = app
                .send(
                    request
                        .body(axum::body::Body::from(body.to_string()))
                        .unwrap(),
                )
                .await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{method} {path} {content_type} {encoding:?} {}",
                &body[..body.len().min(40)]
            );
        }
    }
    let tasks: i64 = app
        .sql()
        .await
        .query_one("select count(*) from tasks", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(tasks, 1);
}
