//! The seed 003 task flow, every row of the SPEC's tasks table, and validation at the edges.

use crate::common;

use axum::body::Body;
use common::TestApp;
use http::{Method, Request, StatusCode};
use serde_json::json;

#[tokio::test]
async fn seed_003_flow_create_list_get_update_complete_delete() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    let base = format!("/api/{}/tasks", user.id);

    let created = app
        .create(
            &user,
            json!({"title": "Buy groceries", "description": "Milk, eggs, bread"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let task = created.body.clone();
    let id = task["id"].as_i64().unwrap();
    assert_eq!(created.headers["location"], format!("{base}/{id}"));
    assert_eq!(task["user_id"], user.id);
    assert_eq!(task["title"], "Buy groceries");
    assert_eq!(task["description"], "Milk, eggs, bread");
    assert_eq!(task["completed"], false);
    assert_eq!(task.as_object().unwrap().len(), 7);

    let listed = app.call(Method::GET, &base, &user.token, None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body, json!([task]));
    assert_eq!(listed.headers["x-total-count"], "1");

    let fetched = app
        .call(Method::GET, &format!("{base}/{id}"), &user.token, None)
        .await;
    assert_eq!(fetched.body, task);

    let replaced = app
        .call(
            Method::PUT,
            &format!("{base}/{id}"),
            &user.token,
            Some(json!({"title": "  Buy food  "})),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(replaced.body["title"], "Buy food");
    assert!(
        replaced.body["description"].is_null(),
        "PUT replaces the description"
    );
    assert_ne!(replaced.body["updated_at"], task["updated_at"]);

    let patched = app
        .call(
            Method::PATCH,
            &format!("{base}/{id}"),
            &user.token,
            Some(json!({"description": "from the market"})),
        )
        .await;
    assert_eq!(patched.body["title"], "Buy food");
    assert_eq!(patched.body["description"], "from the market");
    assert_ne!(patched.body["updated_at"], replaced.body["updated_at"]);

    let toggled = app
        .call(
            Method::PATCH,
            &format!("{base}/{id}/complete"),
            &user.token,
            None,
        )
        .await;
    assert_eq!(toggled.status, StatusCode::OK, "{}", toggled.body);
    assert_eq!(toggled.body["completed"], true);
    let toggled = app
        .call(
            Method::PATCH,
            &format!("{base}/{id}/complete"),
            &user.token,
            None,
        )
        .await;
    assert_eq!(toggled.body["completed"], false);
    let set = app
        .call(
            Method::PATCH,
            &format!("{base}/{id}/complete"),
            &user.token,
            Some(json!({"completed": true})),
        )
        .await;
    assert_eq!(set.body["completed"], true);
    let set = app
        .call(
            Method::PATCH,
            &format!("{base}/{id}/complete"),
            &user.token,
            Some(json!({"completed": true})),
        )
        .await;
    assert_eq!(set.body["completed"], true, "setting is idempotent");
    let toggled = app
        .call(
            Method::PATCH,
            &format!("{base}/{id}/complete"),
            &user.token,
            Some(serde_json::Value::Null),
        )
        .await;
    assert_eq!(toggled.status, StatusCode::OK);
    assert_eq!(toggled.body["completed"], false, "a null body toggles");

    let deleted = app
        .call(Method::DELETE, &format!("{base}/{id}"), &user.token, None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = app
        .call(Method::GET, &format!("{base}/{id}"), &user.token, None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.headers["content-type"], "application/problem+json");
    assert_eq!(
        app.call(Method::DELETE, &format!("{base}/{id}"), &user.token, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn create_with_completed_and_patch_each_field() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    let created = app
        .create(&user, json!({"title": "t", "completed": true}))
        .await;
    assert_eq!(created.body["completed"], true);
    let id = created.body["id"].as_i64().unwrap();
    let path = format!("/api/{}/tasks/{id}", user.id);
    let patched = app
        .call(
            Method::PATCH,
            &path,
            &user.token,
            Some(json!({"completed": false})),
        )
        .await;
    assert_eq!(patched.body["completed"], false);
    assert_eq!(patched.body["title"], "t");
    let cleared = app
        .call(
            Method::PATCH,
            &path,
            &user.token,
            Some(json!({"description": null})),
        )
        .await;
    assert!(cleared.body["description"].is_null());
    let nothing = app
        .call(Method::PATCH, &path, &user.token, Some(json!({})))
        .await;
    assert_eq!(nothing.status, StatusCode::OK);
}

#[tokio::test]
async fn validation_boundaries() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    let ok = [
        json!({"title": "t".repeat(200)}),
        json!({"title": "t", "description": "d".repeat(1000)}),
        json!({"title": "é".repeat(200)}),
    ];
    for body in ok {
        assert_eq!(
            app.create(&user, body.clone()).await.status,
            StatusCode::CREATED,
            "{body}"
        );
    }
    let bad = [
        (json!({"title": "t".repeat(201)}), "title"),
        (
            json!({"title": "t", "description": "d".repeat(1001)}),
            "description",
        ),
        (json!({"title": "   "}), "title"),
        (json!({"title": ""}), "title"),
        (json!({"title": 5}), "title"),
        (json!({"title": null}), "title"),
        (json!({"title": "t", "completed": "yes"}), "completed"),
        (json!({"title": "t", "description": 3}), "description"),
        (json!({}), "title"),
        (json!({"title": "t", "user_id": "someone-else"}), "user_id"),
        (json!({"title": "t", "id": 99}), "id"),
        (
            json!({"title": "t", "created_at": "2020-01-01T00:00:00Z"}),
            "created_at",
        ),
    ];
    for (body, field) in bad {
        let answer = app.create(&user, body.clone()).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            answer.body["errors"][0]["loc"],
            json!(["body", field]),
            "{body}: {}",
            answer.body
        );
    }
    let count: i64 = app
        .sql()
        .await
        .query_one("select count(*) from tasks", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 3, "bad input changes nothing");
}

#[tokio::test]
async fn malformed_oversized_and_wrongly_typed_bodies() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    let path = format!("/api/{}/tasks", user.id);
    let raw = |body: Vec<u8>, content_type: &str| {
        Request::post(&path)
            .header("authorization", format!("Bearer {}", user.token))
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap()
    };
    let answer = app
        .send(raw(b"{\"title\": ".to_vec(), "application/json"))
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["errors"][0]["type"], "json_invalid");
    let answer = app
        .send(raw(b"[\"title\"]".to_vec(), "application/json"))
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let answer = app
        .send(raw(b"{\"title\":\"t\"}".to_vec(), "text/plain"))
        .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut huge = b"{\"title\":\"t\",\"description\":\"".to_vec();
    huge.resize(64 * 1024 + 1 - 2, b'd');
    huge.extend_from_slice(b"\"}");
    assert_eq!(huge.len(), 64 * 1024 + 1);
    let answer = app.send(raw(huge, "application/json")).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    let answer = app
        .send(raw(vec![0xff, 0xfe, 0x00], "application/json"))
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let count: i64 = app
        .sql()
        .await
        .query_one("select count(*) from tasks", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn odd_task_ids() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    for (id, status) in [
        ("abc", StatusCode::UNPROCESSABLE_ENTITY),
        ("1.5", StatusCode::UNPROCESSABLE_ENTITY),
        ("1180591620717411303424", StatusCode::UNPROCESSABLE_ENTITY), // 2^70
        ("-1", StatusCode::NOT_FOUND),
        ("0", StatusCode::NOT_FOUND),
        ("9223372036854775807", StatusCode::NOT_FOUND),
        (
            "%27%3B%20drop%20table%20tasks",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
            let body =
                (method == Method::PUT || method == Method::PATCH).then(|| json!({"title": "t"}));
            let answer = app
                .call(
                    method.clone(),
                    &format!("/api/{}/tasks/{id}", user.id),
                    &user.token,
                    body,
                )
                .await;
            assert_eq!(answer.status, status, "{method} {id}: {}", answer.body);
        }
        let answer = app
            .call(
                Method::PATCH,
                &format!("/api/{}/tasks/{id}/complete", user.id),
                &user.token,
                None,
            )
            .await;
        assert_eq!(answer.status, status, "complete {id}");
    }
}

#[tokio::test]
async fn sql_meta_characters_are_stored_literally() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    let title = "'; drop table tasks; -- %_\\ \u{0}?".replace('\u{0}', "");
    let description = "$1 $$ \" ' ` \\x00 <script>alert(1)</script>";
    let created = app
        .create(&user, json!({"title": title, "description": description}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_i64().unwrap();
    let fetched = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks/{id}", user.id),
            &user.token,
            None,
        )
        .await;
    assert_eq!(fetched.body["title"], title.trim());
    assert_eq!(fetched.body["description"], description);
}

#[tokio::test]
async fn nul_character_is_refused_not_a_500() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    let answer = app.create(&user, json!({"title": "a\u{0}b"})).await;
    assert!(answer.status.is_client_error(), "{}", answer.status);
}

#[tokio::test]
async fn missing_or_bad_token_is_401() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    let path = format!("/api/{}/tasks", user.id);
    let none = app
        .send(Request::get(&path).body(Body::empty()).unwrap())
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers["www-authenticate"], "Bearer");
    assert_eq!(
        app.call(Method::GET, &path, "not-a-token", None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_broken_schema_gives_an_opaque_500() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    // A rule the code does not know of: the statement fails in a way no client can act on.
    app.sql()
        .await
        .batch_execute("alter table tasks add constraint heading check (length(title) > 100)")
        .await
        .unwrap();
    let answer = app.create(&user, json!({"title": "t"})).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.headers["content-type"], "application/problem+json");
    assert_eq!(answer.body["detail"], "internal server error");
    let text = answer.body.to_string();
    for leak in [
        "heading",
        "constraint",
        "column",
        "insert",
        "does not exist",
        "sqlstate",
        "postgres",
    ] {
        assert!(
            !text.to_lowercase().contains(&leak.to_lowercase()),
            "{leak} leaked: {text}"
        );
    }
    assert!(
        answer.body["request_id"].is_string(),
        "the id to quote when reporting it"
    );
}

/// A database without a column the code reads is behind the code's migrations: the answer says
/// so (503 of its own type, no `Retry-After`) instead of an opaque 500, and still names no SQL.
#[tokio::test]
async fn a_missing_column_says_the_database_is_not_migrated() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    app.sql()
        .await
        .batch_execute("alter table tasks rename column title to heading")
        .await
        .unwrap();
    let answer = app.create(&user, json!({"title": "t"})).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.body
    );
    assert!(!answer.headers.contains_key("retry-after"));
    assert_eq!(answer.body["type"], shared::error::PROBLEM_NOT_MIGRATED);
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(detail.contains("not migrated"), "{detail}");
    assert!(detail.contains("migrate -- up"), "{detail}");
    for leak in ["heading", "title", "column", "does not exist"] {
        assert!(!detail.contains(leak), "{leak} leaked: {detail}");
    }
}

/// Requests that could be read two ways are refused and create nothing: two Authorization
/// headers, JSON with data after the value, a Content-Encoding we do not apply.
#[tokio::test]
async fn ambiguous_requests_are_refused_and_create_nothing() {
    let app = TestApp::new().await;
    let ada = app.user("ada@example.com").await;
    let eve = app.user("eve@example.com").await;
    let path = format!("/api/{}/tasks", ada.id);
    let request = |body: &str| {
        http::Request::builder()
            .method(Method::POST)
            .uri(path.as_str())
            .header("authorization", format!("Bearer {}", ada.token))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_owned()))
    };
    let two = http::Request::builder()
        .method(Method::GET)
        .uri(path.as_str())
        .header("authorization", format!("Bearer {}", ada.token))
        .header("authorization", format!("Bearer {}", eve.token))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(app.send(two).await.status, StatusCode::UNAUTHORIZED);
    let trailing = request(r#"{"title":"x"} {"title":"y"}"#).unwrap();
    assert_eq!(
        app.send(trailing).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let mut gzip = request(r#"{"title":"x"}"#).unwrap();
    gzip.headers_mut()
        .insert("content-encoding", http::HeaderValue::from_static("gzip"));
    assert_eq!(
        app.send(gzip).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let tasks: i64 = app
        .sql()
        .await
        .query_one("select count(*) from tasks", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(tasks, 0);
}
