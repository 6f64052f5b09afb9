//! The tasks function: per-user CRUD under `/api/{user_id}/tasks`, with strict isolation (every
//! statement carries `user_id = $1`), filtering, search and keyset pagination. Each operation is one
//! round trip: the caller's session check is folded into the task statement.

use std::collections::HashMap;
use std::sync::Arc;

use axum::routing::{get, patch};
use axum::Router;
use better_auth::config::BetterAuthJwksConfig;
use shared::config::{DatabaseConfig, JwtConfig, Source};
use shared::db::Db;
use shared::secrecy::ExposeSecret;
use shared::token::TokenKeys;

pub mod better_auth;
pub mod caller;
pub mod domain;
// Public only so the fuzz targets (fuzz/) can parse the real request bodies.
#[doc(hidden)]
pub mod handlers;
pub mod listing;
pub mod openapi;

use better_auth::{BetterAuth, BetterAuthKey, JwksVerifier};

#[derive(Clone)]
pub struct TasksState {
    pub db: Db,
    pub keys: Arc<TokenKeys>,
    pub better_auth: Arc<BetterAuth>,
}

impl TasksState {
    /// The state for our own tokens and, when configured, Better Auth's. Fails on a configured
    /// JWKS document that is not one; fetches nothing (the JWKS is fetched on first need).
    pub fn new(
        db: Db,
        jwt: &JwtConfig,
        jwks: Option<&BetterAuthJwksConfig>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            // Public keys only (with EdDSA): this function can check our tokens, never mint one.
            keys: Arc::new(TokenKeys::verifier(jwt)),
            better_auth: Arc::new(BetterAuth {
                secret: jwt
                    .better_auth_secret
                    .as_ref()
                    .map(|secret| BetterAuthKey::new(secret.expose_secret().as_bytes())),
                jwks: jwks.map(JwksVerifier::new).transpose()?,
            }),
        })
    }
}

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
