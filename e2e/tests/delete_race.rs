//! `DELETE /users/me` while the user's other sessions keep creating tasks (through the real tasks
//! function on the same database): once the delete has answered 204, no task of that user exists
//! or can appear. The database enforces it (tasks reference the user, on delete cascade); a
//! writer that loses the race is told its session has ended (401), never a 500.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use common::{TestApp, PASSWORD, SECRET};
use http::{Method, Request, StatusCode};
use serde_json::json;
use shared::config::{JwtConfig, Source};
use shared::token::TokenKeys;
use tower::ServiceExt;

const WRITERS: usize = 6;
const ROUNDS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_me_racing_six_writers_leaves_no_task() {
    let app = TestApp::new().await;
    let jwt = JwtConfig::from_source(&Source::new(
        &test_support::jwt_signer_vars(SECRET).into_iter().collect(),
    ))
    .unwrap();
    let keys = TokenKeys::new(&jwt);
    let tasks = tasks::app(tasks::TasksState::new(app.database.pool(), &jwt, None).unwrap());
    let sql = app.sql().await;
    let mut created_total = 0;

    for round in 0..ROUNDS {
        let email = format!("racer{round}@example.com");
        let registered = app.register(&email).await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{}",
            registered.body
        );
        let id = registered.body["id"].as_str().unwrap().to_owned();
        let user_id: uuid::Uuid = id.parse().unwrap();
        // One session to delete with, one per writer: as many devices signed in.
        let mut tokens = Vec::new();
        for _ in 0..=WRITERS {
            let session: uuid::Uuid = sql
                .query_one(
                    "insert into sessions (user_id, expires_at) values ($1, now() + interval '1 day') returning id",
                    &[&user_id],
                )
                .await
                .unwrap()
                .get(0);
            tokens.push(keys.issue(&id, session, "user").unwrap());
        }
        let deleter = tokens.pop().unwrap();

        let created = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = tokens
            .into_iter()
            .map(|token| {
                let (tasks, id, created) = (tasks.clone(), id.clone(), created.clone());
                tokio::spawn(async move {
                    loop {
                        let request = Request::builder()
                            .method(Method::POST)
                            .uri(format!("/api/{id}/tasks"))
                            .header("authorization", format!("Bearer {token}"))
                            .header("content-type", "application/json")
                            .body(Body::from(json!({"title": "racing"}).to_string()))
                            .unwrap();
                        let status = tasks.clone().oneshot(request).await.unwrap().status();
                        match status {
                            StatusCode::CREATED => created.fetch_add(1, Ordering::SeqCst),
                            StatusCode::UNAUTHORIZED => return,
                            other => panic!("a writer got {other}"),
                        };
                    }
                })
            })
            .collect();
        while created.load(Ordering::SeqCst) < WRITERS {
            tokio::task::yield_now().await;
        }
        let deleted = app
            .call(
                Method::DELETE,
                "/users/me",
                Some(&deleter),
                Some(json!({"current_password": PASSWORD})),
            )
            .await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
        for writer in writers {
            writer.await.unwrap();
        }
        let left: i64 = sql
            .query_one("select count(*) from tasks where user_id = $1", &[&id])
            .await
            .unwrap()
            .get(0);
        assert_eq!(left, 0, "round {round}: tasks outlived their deleted user");
        created_total += created.load(Ordering::SeqCst);
    }
    eprintln!("{ROUNDS} rounds: {created_total} tasks created by the writers, none left");
}
