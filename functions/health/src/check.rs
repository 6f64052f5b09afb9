//! `GET /health`: whether this function reaches the database, how fast, and whether the database
//! has every migration the code needs, in one query of the migration history (whose round trip is
//! the latency reported). A database that does not answer is a 503 with `Retry-After`; one behind
//! the code a 503 that names the missing migration and the fix, without `Retry-After` (waiting
//! migrates nothing); a database refusing `DATABASE_URL`, or an invalid shared setting (see
//! `settings`), the `misconfigured` problem every other function answers with (500).

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use shared::db::DbError;
use shared::error::{ApiError, ErrorChain};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::state::HealthState;

/// The database check gives up after this long, so `/health` answers well within API Gateway's
/// and the SPEC's 5 s even when the database host does not answer at all.
pub const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Seconds a monitor should wait before asking again after the database did not answer.
const RETRY_AFTER_SECS: u64 = 5;

/// SQLSTATE undefined_table: the migration history itself is missing, so nothing was ever applied.
const UNDEFINED_TABLE: &str = "42P01";

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
    /// Why it is unhealthy, when the fix is known: the missing migration and how to apply it.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseStatus {
    /// `ok`, `unavailable` (no answer in time) or `not_migrated` (behind this version's migrations).
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
    /// One round trip to the database, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
}

/// What the database check found.
enum Finding {
    Current,
    /// The migrations the database lacks, oldest first, and the newest it has.
    Behind(&'static [(i64, &'static str)], Option<i64>),
    Unavailable,
}

/// Whether this function reaches the database, how fast, and whether the database is migrated.
/// Never cached.
#[utoipa::path(get, path = "/health", operation_id = "getHealth", tag = "health",
    responses(
        (status = 200, description = "Healthy", body = HealthBody),
        (status = 500, description = "Misconfigured: a setting is invalid or the database refuses \
         DATABASE_URL (the `misconfigured` problem; outside AWS the detail names the setting)"),
        (status = 503, description = "The database is unreachable (`Retry-After`), or not \
         migrated to this version (`database.status` is `not_migrated`, `detail` names the \
         missing migration and how to apply it; no `Retry-After`)", body = HealthBody,
         headers(("Retry-After" = u64, description = "Seconds to wait before asking again"))),
    ))]
pub async fn health(State(state): State<HealthState>) -> Response {
    if let Some(misconfigured) = &state.misconfigured {
        return ApiError::Misconfigured(misconfigured.clone()).into_response();
    }
    let started = Instant::now();
    let check = tokio::time::timeout(
        DATABASE_CHECK_TIMEOUT,
        state.db.query_opt(schema::NEWEST_APPLIED_SQL, &[]),
    )
    .await;
    let latency = started.elapsed();
    let finding = match check {
        Ok(Ok(row)) => {
            let applied: Option<i64> = row.and_then(|row| row.get(0));
            match schema::pending_after(applied) {
                [] => Finding::Current,
                pending => Finding::Behind(pending, applied),
            }
        }
        Ok(Err(error)) if error.code().map(|code| code.code()) == Some(UNDEFINED_TABLE) => {
            Finding::Behind(schema::pending_after(None), None)
        }
        Ok(Err(error @ DbError::Refused { .. })) => return ApiError::from(error).into_response(),
        Ok(Err(error)) => {
            tracing::warn!(error = %ErrorChain(&anyhow::Error::new(error)), "health check: database unreachable");
            Finding::Unavailable
        }
        Err(_) => {
            tracing::warn!("health check: database did not answer in time");
            Finding::Unavailable
        }
    };
    answer(finding, latency)
}

fn answer(finding: Finding, latency: Duration) -> Response {
    let latency_ms = Some((latency.as_secs_f64() * 1000.0 * 100.0).round() / 100.0);
    let (status, database, detail) = match finding {
        Finding::Current => (
            StatusCode::OK,
            DatabaseStatus {
                status: "ok",
                latency_ms,
            },
            None,
        ),
        Finding::Behind(pending, applied) => {
            let detail = behind_detail(pending, applied);
            tracing::error!(%detail, "health check: the database is not migrated");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                DatabaseStatus {
                    status: "not_migrated",
                    latency_ms,
                },
                Some(detail),
            )
        }
        Finding::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            DatabaseStatus {
                status: "unavailable",
                latency_ms: None,
            },
            None,
        ),
    };
    let unavailable = database.status == "unavailable";
    let body = HealthBody {
        status: if status.is_success() {
            "healthy"
        } else {
            "unhealthy"
        },
        timestamp: OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default(),
        version: env!("CARGO_PKG_VERSION"),
        database,
        detail,
    };
    let mut response = (status, Json(body)).into_response();
    // Monitors must never see a cached answer.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store".parse().expect("static header"),
    );
    if unavailable {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, RETRY_AFTER_SECS.into());
    }
    response
}

/// "…lacks migration 0012_live_sessions (newest applied: 0011); apply the migrations with …"
fn behind_detail(pending: &[(i64, &str)], applied: Option<i64>) -> String {
    let (version, name) = pending[0];
    let more = match pending.len() - 1 {
        0 => String::new(),
        1 => " and 1 after it".to_owned(),
        n => format!(" and {n} after it"),
    };
    let applied = applied.map_or_else(|| "none".to_owned(), |v| format!("{v:04}"));
    format!(
        "The database is not migrated to this version of the service: it lacks migration \
         {version:04}_{name}{more} (newest applied: {applied}); {}",
        shared::misconfig::how_to_migrate(shared::aws::running_in_aws())
    )
}
