//! HTTP handlers of the auth function, one module per concern.

pub mod account;
pub mod account_activity;
pub mod admin;
pub mod keys;
pub mod oidc;
pub mod passkeys;
pub mod reset;
pub mod second_factor;
pub mod seed_aliases;
pub mod session;
pub mod token_grants;
pub mod verify;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shared::error::{ApiError, FieldError};

/// A JSON answer that carries a secret (tokens, a TOTP secret, recovery codes): never stored by a
/// browser, proxy or CDN (RFC 6749 §5.1: `Cache-Control: no-store` and `Pragma: no-cache`).
pub struct NoStore<T>(pub T);

impl<T: Serialize> IntoResponse for NoStore<T> {
    fn into_response(self) -> Response {
        (
            [
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (header::PRAGMA, HeaderValue::from_static("no-cache")),
            ],
            axum::Json(self.0),
        )
            .into_response()
    }
}

/// Turns the collected field errors into one 422, or lets the request through.
pub(crate) fn reject_invalid(errors: Vec<FieldError>) -> Result<(), ApiError> {
    match errors.first() {
        None => Ok(()),
        Some(first) => Err(ApiError::Validation {
            detail: first.msg.clone(),
            errors,
        }),
    }
}

/// Waits until `started` + the configured answer time. Requests that mail a link only when an
/// account exists (reset, verification resend) answer at this fixed moment, so their time does
/// not tell a known address from an unknown one.
pub(crate) async fn answer_at_fixed_time(
    started: tokio::time::Instant,
    state: &crate::state::AuthState,
) {
    let answer_at = started + state.settings.password_reset_answer_time;
    if tokio::time::Instant::now() > answer_at {
        tracing::warn!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "a mailing request took longer than PASSWORD_RESET_ANSWER_MS; raise it so its time cannot tell known addresses from unknown ones"
        );
    }
    tokio::time::sleep_until(answer_at).await;
}

/// `base?token=...` (or `&token=` when `base` has a query already).
pub(crate) fn link_with_token(base: &str, token: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}token={token}")
}

/// The `limit` of a paged list (users, a security log): 1 to `max`, `default` when absent; anything
/// else is a 422 on `query.limit`.
pub(crate) fn page_limit(raw: Option<&str>, default: i64, max: i64) -> Result<i64, ApiError> {
    match raw {
        None => Ok(default),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_field(FieldError::new(
                    &["query", "limit"],
                    format!("limit must be a whole number from 1 to {max}"),
                    "value_error",
                ))
            }),
    }
}

/// Keeps the value of a parser, or records its error and gives `None`.
pub(crate) fn collect<T>(result: Result<T, FieldError>, errors: &mut Vec<FieldError>) -> Option<T> {
    result.map_err(|error| errors.push(error)).ok()
}

/// SQLSTATE 23505 on the case-insensitive email index is a 409, decided by the database at insert
/// or update time (no check-then-write race): registration, an address change, its verification.
pub(crate) fn email_taken_is_conflict(error: shared::db::DbError) -> ApiError {
    if error.is_unique_violation("users_email_key") {
        ApiError::Conflict("Email already registered".to_owned())
    } else {
        error.into()
    }
}
