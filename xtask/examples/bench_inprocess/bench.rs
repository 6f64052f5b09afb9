//! The bench's state (routers, accounts, the tasks they work on) and one call of an operation:
//! the next request of each operation, sent to its function's router as lambda_http would.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use axum::body::to_bytes;
use axum::Router;
use http::{Method, StatusCode};
use serde_json::json;
use tower::ServiceExt;

use crate::ops::{request, Call, Function, Op};

/// The password of the accounts register makes (login signs in with it; argon2 hashes it).
pub const PASSWORD: &str = "bench-password-7c1e9a";

/// An account made for the bench, and a live session's access token for it.
pub struct Account {
    /// The path's `{user_id}`: our user's id, or the Better Auth subject.
    pub id: String,
    pub token: String,
    /// Tokens never sent yet (each of its own live session), for `--fresh-tokens`.
    pub fresh: Mutex<Vec<String>>,
}

impl Account {
    pub fn new(id: String, token: String) -> Self {
        Self {
            id,
            token,
            fresh: Mutex::new(Vec::new()),
        }
    }

    /// The token the next request carries: a fresh one when there are, else the usual one.
    fn next_token(&self) -> String {
        self.fresh
            .lock()
            .expect("lock")
            .pop()
            .unwrap_or_else(|| self.token.clone())
    }
}

/// The router of each function, as its `main` builds it.
pub struct Routers {
    pub health: Router,
    pub auth: Router,
    pub tasks: Router,
}

/// Everything the operations need: the routers and the accounts and tasks they work on.
pub struct Bench {
    pub routers: Routers,
    /// Owns exactly 100 tasks: me, list, get and update.
    pub reader: Account,
    pub reader_tasks: Vec<i64>,
    /// Creates tasks, and deletes its own.
    pub writer: Account,
    pub deletable: Mutex<Vec<i64>>,
    /// Registered during the hashing phases; login signs in as it.
    pub login_email: Mutex<Option<String>>,
    pub sequence: AtomicU64,
    pub tag: String,
    /// The issuer the accounts' tasks belong to: empty for ours, Better Auth's for its tokens.
    pub issuer: String,
}

impl Bench {
    /// The next request of `op`.
    pub fn next_call(&self, op: Op) -> Result<Call, String> {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let reader_task = self.reader_tasks[(n % self.reader_tasks.len() as u64) as usize];
        // Only the account the operation acts as gives up a token (fresh ones are counted out).
        let reader = || Some(self.reader.next_token());
        let writer = || Some(self.writer.next_token());
        let ip = "10.0.0.1".to_owned();
        let call = |function, method, path: String, token, body, ip, expected| Call {
            function,
            method,
            path,
            token,
            body,
            ip,
            expected,
            n,
        };
        Ok(match op {
            Op::Health => call(
                Function::Health,
                Method::GET,
                "/health".to_owned(),
                None,
                None,
                ip,
                StatusCode::OK,
            ),
            Op::Register => {
                // A distinct source address per registration: 10 an hour per address is the rule.
                let ip = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
                let email = format!("r{n}-{}@bench.example", self.tag);
                self.login_email
                    .lock()
                    .expect("lock")
                    .get_or_insert(email.clone());
                call(
                    Function::Auth,
                    Method::POST,
                    "/auth/register".to_owned(),
                    None,
                    Some(json!({"email": email, "password": PASSWORD})),
                    ip,
                    StatusCode::CREATED,
                )
            }
            Op::Login => {
                let email = self
                    .login_email
                    .lock()
                    .expect("lock")
                    .clone()
                    .ok_or("no account registered to sign in with")?;
                call(
                    Function::Auth,
                    Method::POST,
                    "/auth/login".to_owned(),
                    None,
                    Some(json!({"email": email, "password": PASSWORD})),
                    "10.255.0.1".to_owned(),
                    StatusCode::OK,
                )
            }
            Op::Me => call(
                Function::Auth,
                Method::GET,
                "/users/me".to_owned(),
                reader(),
                None,
                ip,
                StatusCode::OK,
            ),
            Op::Create => call(
                Function::Tasks,
                Method::POST,
                format!("/api/{}/tasks", self.writer.id),
                writer(),
                Some(
                    json!({"title": format!("Bench task {n}"), "description": "Created by the benchmark"}),
                ),
                ip,
                StatusCode::CREATED,
            ),
            Op::List => call(
                Function::Tasks,
                Method::GET,
                format!("/api/{}/tasks", self.reader.id),
                reader(),
                None,
                ip,
                StatusCode::OK,
            ),
            Op::Get => call(
                Function::Tasks,
                Method::GET,
                format!("/api/{}/tasks/{reader_task}", self.reader.id),
                reader(),
                None,
                ip,
                StatusCode::OK,
            ),
            Op::Update => call(
                Function::Tasks,
                Method::PUT,
                format!("/api/{}/tasks/{reader_task}", self.reader.id),
                reader(),
                Some(json!({"title": format!("Task {reader_task} (updated)"),
                            "description": "Updated by the benchmark", "completed": n % 2 == 0})),
                ip,
                StatusCode::OK,
            ),
            Op::Delete => {
                let id = self
                    .deletable
                    .lock()
                    .expect("lock")
                    .pop()
                    .ok_or("ran out of tasks to delete")?;
                call(
                    Function::Tasks,
                    Method::DELETE,
                    format!("/api/{}/tasks/{id}", self.writer.id),
                    writer(),
                    None,
                    ip,
                    StatusCode::NO_CONTENT,
                )
            }
        })
    }

    pub fn router(&self, function: Function) -> &Router {
        match function {
            Function::Health => &self.routers.health,
            Function::Auth => &self.routers.auth,
            Function::Tasks => &self.routers.tasks,
        }
    }

    /// One call of `op`; an unexpected status is an error with the answer.
    pub async fn call(&self, op: Op) -> Result<(), String> {
        let call = self.next_call(op)?;
        let req = request(
            call.method,
            &call.path,
            call.token.as_deref(),
            call.body,
            &call.ip,
        );
        let response = self
            .router(call.function)
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| e.to_string())?;
        if status != call.expected {
            return Err(format!(
                "{}: expected {}, got {status}: {}",
                op.name(),
                call.expected,
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(())
    }
}
