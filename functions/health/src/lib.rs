//! The health function: `GET /health` (`check`) reports whether this function can reach the
//! database, how long one round trip takes, and whether the database has the migrations the code
//! needs. It answers 503 within a few seconds when the database is unreachable, and 200 again as
//! soon as it is back, with no restart (the pool replaces dead connections). It also serves the
//! whole API's documentation (`docs`, on the embedded UI files of `assets`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use shared::config::{DatabaseConfig, Source};

pub mod assets;
pub mod check;
pub mod docs;
pub mod settings;
pub mod state;

pub use check::{health, DATABASE_CHECK_TIMEOUT};
pub use state::HealthState;

/// Builds the function from its configuration: it needs only the database, and in AWS gets only
/// that. The token settings it finds (locally, where every function reads the same `.env`) are
/// checked too, so `/health` does not say healthy while auth and tasks refuse every request.
pub async fn build(vars: HashMap<String, String>) -> anyhow::Result<Router> {
    let database = DatabaseConfig::from_source(&Source::new(&vars))?;
    let misconfigured = settings::invalid_shared_setting(&vars).map(Arc::new);
    let db = shared::lambda::database(&database, &vars).await?;
    Ok(app(HealthState { db, misconfigured }))
}

pub fn app(state: HealthState) -> Router {
    shared::lambda::finish(
        Router::new()
            .route("/health", get(health))
            .route("/openapi.json", get(docs::openapi_json))
            .route("/docs", get(docs::docs_page))
            .route("/redoc", get(docs::redoc_page))
            .route("/docs/assets/{file}", get(assets::serve))
            .with_state(state),
    )
}
