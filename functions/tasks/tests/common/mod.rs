//! Test harness of the tasks function: the app on its own database, users with live sessions made
//! directly in the database, and tokens minted with the shared signing code.
#![allow(dead_code)]

pub mod keys;
pub mod real_better_auth;

use std::collections::HashMap;

use axum::body::{to_bytes, Body};
use axum::Router;
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::Value;
use shared::config::{JwtConfig, Source};
use shared::token::TokenKeys;
use tasks::better_auth::config::BetterAuthJwksConfig;
use tasks::{app, TasksState};
use test_support::TestDb;
use tower::ServiceExt;

pub const SECRET: &str = "tasks-tests-secret-tasks-tests-secret-01";
pub const BETTER_AUTH_SECRET: &str = "better-auth-secret-better-auth-secret-99";

pub struct TestApp {
    pub database: TestDb,
    pub router: Router,
    pub keys: TokenKeys,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// A user of ours with a live session: the path segment and a token.
pub struct User {
    pub id: String,
    pub session: uuid::Uuid,
    pub token: String,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_better_auth(false).await
    }

    pub async fn with_better_auth(enabled: bool) -> Self {
        let secret = [("BETTER_AUTH_SECRET", BETTER_AUTH_SECRET)];
        Self::configured(if enabled { &secret } else { &[] }).await
    }

    /// The app configured with `JWT_SECRET` and `vars` (Better Auth settings, say).
    pub async fn configured(vars: &[(&str, &str)]) -> Self {
        let database = TestDb::new().await;
        let extra = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        // The function holds what it holds when deployed (public keys only with EdDSA); the
        // tests mint tokens as the auth function does.
        let all: HashMap<String, String> = test_support::jwt_verifier_vars(SECRET)
            .into_iter()
            .chain(extra.clone())
            .collect();
        let signer: HashMap<String, String> = test_support::jwt_signer_vars(SECRET)
            .into_iter()
            .chain(extra)
            .collect();
        let source = Source::new(&all);
        let jwt = JwtConfig::from_source(&source).unwrap();
        let jwks = BetterAuthJwksConfig::from_source(&source).unwrap();
        let state = TasksState::new(database.pool(), &jwt, jwks.as_ref()).unwrap();
        Self {
            router: app(state),
            keys: TokenKeys::new(&JwtConfig::from_source(&Source::new(&signer)).unwrap()),
            database,
        }
    }

    /// Inserts a user and a live session, and mints their access token.
    pub async fn user(&self, email: &str) -> User {
        let sql = self.database.client().await;
        let row = sql
            .query_one(
                "with u as (insert into users (email, email_key, password_hash) values ($1, lower($1), 'unused') returning id)
                 insert into sessions (user_id, expires_at) select id, now() + interval '1 day' from u
                 returning user_id, id",
                &[&email],
            )
            .await
            .unwrap();
        let (user_id, session): (uuid::Uuid, uuid::Uuid) = (row.get(0), row.get(1));
        let token = self
            .keys
            .issue(&user_id.to_string(), session, "user")
            .unwrap();
        User {
            id: user_id.to_string(),
            session,
            token,
        }
    }

    /// A new live session (and token) for an existing user, as a new sign-in makes.
    pub async fn user_session(&self, user_id: &str) -> User {
        let sql = self.database.client().await;
        let session: uuid::Uuid = sql
            .query_one(
                "insert into sessions (user_id, expires_at) values ($1::text::uuid, now() + interval '1 day') returning id",
                &[&user_id],
            )
            .await
            .unwrap()
            .get(0);
        let token = self.keys.issue(user_id, session, "user").unwrap();
        User {
            id: user_id.to_owned(),
            session,
            token,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"));
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }

    pub async fn create(&self, user: &User, body: Value) -> Answer {
        self.call(
            Method::POST,
            &format!("/api/{}/tasks", user.id),
            &user.token,
            Some(body),
        )
        .await
    }

    pub async fn sql(&self) -> std::sync::Arc<tokio_postgres::Client> {
        self.database.client().await
    }
}
