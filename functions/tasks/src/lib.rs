//! The tasks function: per-user CRUD under `/api/{user_id}/tasks`, with strict isolation (every
//! statement carries `user_id = $1`), filtering, search and keyset pagination. Each operation is one
//! round trip: the caller's session check is folded into the task statement.

use std::collections::HashMap;
use std::sync::Arc;

use axum::routing::{get, patch};
use axum::Router;
use shared::auth::TokenKeys;
use shared::config::{DatabaseConfig, JwtConfig, Source};
use shared::db::Db;
use shared::secrecy::ExposeSecret;

pub mod caller;
pub mod domain;
// Public only so the fuzz targets (shared/fuzz) can parse the real request bodies.
#[doc(hidden)]
pub mod handlers;
pub mod listing;
pub mod openapi;

use caller::BetterAuthKey;

#[derive(Clone)]
pub struct TasksState {
    pub db: Db,
    pub keys: Arc<TokenKeys>,
    pub better_auth: Option<Arc<BetterAuthKey>>,
}

impl TasksState {
    pub fn new(db: Db, jwt: &JwtConfig) -> Self {
        Self {
            db,
            keys: Arc::new(TokenKeys::new(jwt)),
            better_auth: jwt
                .better_auth_secret
                .as_ref()
                .map(|secret| Arc::new(BetterAuthKey::new(secret.expose_secret().as_bytes()))),
        }
    }
}

/// Builds the function from its configuration; refuses to start without a usable JWT secret.
pub async fn build(vars: HashMap<String, String>) -> anyhow::Result<Router> {
    let source = Source::new(&vars);
    let jwt = JwtConfig::from_source(&source)?;
    let database = DatabaseConfig::from_source(&source)?;
    let db = shared::lambda::database(&database, &vars).await?;
    Ok(app(TasksState::new(db, &jwt)))
}

pub fn app(state: TasksState) -> Router {
    use handlers::*;
    shared::lambda::finish(
        Router::new()
            .route("/api/{user_id}/tasks", get(list_tasks).post(create_task))
            .route(
                "/api/{user_id}/tasks/{id}",
                get(get_task)
                    .put(replace_task)
                    .patch(update_task)
                    .delete(delete_task),
            )
            .route("/api/{user_id}/tasks/{id}/complete", patch(complete_task))
            .with_state(state),
    )
}
