//! The tasks function: per-user CRUD under `/api/{user_id}/tasks`, with strict isolation (every
//! statement carries `user_id = $1`), filtering, search and keyset pagination. Each operation is one
//! round trip: the caller's session check is folded into the task statement.

use std::collections::HashMap;

use axum::Router;
use better_auth::config::BetterAuthJwksConfig;
use shared::config::{DatabaseConfig, JwtConfig, Source};

pub mod better_auth;
pub mod caller;
pub mod domain;
mod errors;
pub mod openapi;
pub mod render;
pub mod routes;
mod sql;
pub mod state;

pub use state::TasksState;

/// Builds the function from its configuration; refuses to start without a usable JWT secret or
/// with an unusable Better Auth setting.
pub async fn build(vars: HashMap<String, String>) -> anyhow::Result<Router> {
    let source = Source::new(&vars);
    let jwt = JwtConfig::from_source(&source)?;
    jwt.require_public_keys()?;
    let jwks = BetterAuthJwksConfig::from_source(&source)?;
    let database = DatabaseConfig::from_source(&source)?;
    let db = shared::lambda::database(&database, &vars).await?;
    Ok(app(TasksState::new(db, &jwt, jwks.as_ref())?))
}

pub fn app(state: TasksState) -> Router {
    shared::lambda::finish(routes::router().with_state(state))
}
