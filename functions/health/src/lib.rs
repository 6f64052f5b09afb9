//! The health function: `GET /health` reports whether this function can reach the database and how
//! long one round trip takes. It answers 503 within a few seconds when the database is unreachable,
//! and 200 again as soon as it is back, with no restart (the pool replaces dead connections).
//! It also serves the whole API's documentation (`docs`, on the embedded UI files of `assets`).

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use shared::config::{DatabaseConfig, Source};
use shared::db::Db;
use shared::error::ErrorChain;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;

pub mod assets;
pub mod docs;

/// The database check gives up after this long, so `/health` answers well within API Gateway's
/// and the SPEC's 5 s even when the database host does not answer at all.
pub const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Seconds a monitor should wait before asking again after a 503.
const RETRY_AFTER_SECS: u64 = 5;

#[derive(Clone)]
pub struct HealthState {
    pub db: Db,
}

/// Builds the function from its configuration: only the database is needed here, so the health
/// function never reads the JWT secret.
pub async fn build(vars: HashMap<String, String>) -> anyhow::Result<Router> {
    let database = DatabaseConfig::from_source(&Source::new(&vars))?;
    let db = shared::lambda::database(&database, &vars).await?;
    Ok(app(HealthState { db }))
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

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    /// `healthy` or `unhealthy`.
    #[schema(value_type = String, example = "healthy")]
    status: &'static str,
    #[schema(format = DateTime)]
    timestamp: String,
    #[schema(value_type = String, example = "0.1.0")]
    version: &'static str,
    database: DatabaseStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseStatus {
    /// `ok` or `unavailable`.
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
    /// One round trip to the database, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
}

/// Whether this function reaches the database, and how fast. Never cached.
#[utoipa::path(get, path = "/health", operation_id = "getHealth", tag = "health",
    responses(
        (status = 200, description = "Healthy", body = HealthBody),
        (status = 503, description = "The database is unreachable", body = HealthBody,
         headers(("Retry-After" = u64, description = "Seconds to wait before asking again"))),
    ))]
pub async fn health(State(state): State<HealthState>) -> Response {
    let check = tokio::time::timeout(DATABASE_CHECK_TIMEOUT, state.db.ping()).await;
    let latency = match check {
        Ok(Ok(latency)) => Some(latency),
        Ok(Err(error)) => {
            tracing::warn!(error = %ErrorChain(&anyhow::Error::new(error)), "health check: database unreachable");
            None
        }
        Err(_) => {
            tracing::warn!("health check: database did not answer in time");
            None
        }
    };
    let body = HealthBody {
        status: if latency.is_some() {
            "healthy"
        } else {
            "unhealthy"
        },
        timestamp: OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default(),
        version: env!("CARGO_PKG_VERSION"),
        database: DatabaseStatus {
            status: if latency.is_some() {
                "ok"
            } else {
                "unavailable"
            },
            latency_ms: latency.map(|d| (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0),
        },
    };
    let mut response = Json(body).into_response();
    // Monitors must never see a cached answer.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store".parse().expect("static header"),
    );
    if latency.is_none() {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, RETRY_AFTER_SECS.into());
    }
    response
}
