//! The one error type of every handler and its one mapping to an RFC 9457 problem+json response.
//! Internal causes are logged once here, with their chain, and never sent to the client.

use std::fmt;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

use crate::misconfig::{self, Misconfiguration};
use crate::telemetry;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Seconds a client should wait before retrying after a 503.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;
/// A create holding an `Idempotency-Key` is done within a second (its statement and its answer).
const IN_FLIGHT_RETRY_AFTER_SECS: u64 = 1;

/// The problem type of every error a client can act on by itself (RFC 9457: the status says it all).
pub const PROBLEM_GENERIC: &str = "about:blank";
/// The problem types of the errors only the operator can fix, so a client, a monitor or a log
/// query can tell them from a passing fault. Tag URIs (RFC 4151): RFC 9457 allows a type that
/// names without promising a page to fetch, and we own no domain to point at.
pub const PROBLEM_MISCONFIGURED: &str = "tag:tasks-api,2026:problems/misconfigured";
pub const PROBLEM_NOT_MIGRATED: &str = "tag:tasks-api,2026:problems/not-migrated";
/// An action that needs a second factor proven recently (RFC 9470's `insufficient_user_authentication`).
pub const PROBLEM_STEP_UP: &str = "tag:tasks-api,2026:problems/step-up-required";

/// One field-level validation problem, shaped like FastAPI's 422 items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Where: `["body", field]`, `["query", name]` or `["path"]`.
    #[schema(example = json!(["body", "email"]))]
    pub loc: Vec<String>,
    pub msg: String,
    /// Kind of problem: `missing`, `value_error`, `string_too_long`, `json_invalid`...
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    pub fn new(loc: &[&str], msg: impl Into<String>, kind: &str) -> Self {
        Self {
            loc: loc.iter().map(|s| (*s).to_owned()).collect(),
            msg: msg.into(),
            kind: kind.to_owned(),
        }
    }

    /// An error on one field of the JSON body.
    pub fn body(field: &str, msg: impl Into<String>, kind: &str) -> Self {
        Self::new(&["body", field], msg, kind)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A request with the same `Idempotency-Key` is still running: 409 + `Retry-After`.
    #[error("{0}")]
    InFlight(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    NotImplemented(String),
    /// The database could not be reached in time; the cause is logged, the client is told to retry.
    #[error("service temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Another dependency (Better Auth's JWKS) cannot be reached: 503 + `Retry-After`, like the
    /// database. Not logged here: the outage is logged once where it is detected, not per request.
    #[error("{0}")]
    DependencyUnavailable(&'static str),
    /// A setting this function cannot work with (see `misconfig`): 500 of its own type, at once
    /// and on every request, never `Retry-After`.
    #[error("{}", .0.detail)]
    Misconfigured(Arc<Misconfiguration>),
    /// The database lacks a table, column or function this code uses: 503 of its own type,
    /// without `Retry-After` (waiting does not migrate it). The cause is logged.
    #[error("the database is not migrated")]
    NotMigrated(#[source] anyhow::Error),
    /// The caller's session has not proven its second factor within `max_age_secs`: 401 with
    /// RFC 9470's `WWW-Authenticate: Bearer error="insufficient_user_authentication"` and its own
    /// problem type, so a client tells it from an expired token and steps up instead of signing in.
    #[error("This needs a second factor proven in the last {max_age_secs} seconds: POST a code to /users/me/second-factor/verify, then retry")]
    StepUpRequired { max_age_secs: u64 },
    /// Anything else; the cause is logged, the client sees an opaque 500.
    #[error("internal server error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::Unauthorized(detail.into())
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound(detail.into())
    }

    /// A 422 with one field error.
    pub fn invalid_field(error: FieldError) -> Self {
        Self::Validation {
            detail: error.msg.clone(),
            errors: vec![error],
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) | Self::StepUpRequired { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::InFlight(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Unavailable(_) | Self::DependencyUnavailable(_) | Self::NotMigrated(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Misconfigured(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem type: `about:blank` but for what only the operator can fix.
    pub fn problem_type(&self) -> &'static str {
        match self {
            Self::Misconfigured(_) => PROBLEM_MISCONFIGURED,
            Self::NotMigrated(_) => PROBLEM_NOT_MIGRATED,
            Self::StepUpRequired { .. } => PROBLEM_STEP_UP,
            _ => PROBLEM_GENERIC,
        }
    }

    /// What the client reads: the message, but for a misconfiguration or a database behind the
    /// code, what may be said where the function runs.
    fn detail(&self, in_aws: bool) -> String {
        match self {
            Self::Misconfigured(misconfiguration) => {
                misconfiguration.public_detail(in_aws).to_owned()
            }
            Self::NotMigrated(_) => misconfig::not_migrated_detail(in_aws),
            other => other.to_string(),
        }
    }
}

/// Every error answer: an RFC 9457 problem. `detail` keeps FastAPI's field, so the seed clients
/// still read the message.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem<'a> {
    /// `about:blank`, or for what only the operator can fix `…/misconfigured` (a setting, or the
    /// database refusing the credentials: 500) and `…/not-migrated` (503, no `Retry-After`).
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "about:blank")]
    kind: &'static str,
    #[schema(value_type = String, example = "Unprocessable Entity")]
    title: &'a str,
    #[schema(example = 422)]
    status: u16,
    detail: String,
    /// API Gateway's id of the request, also in its log line: quote it when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    /// Only on 422: each invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<FieldError>>)]
    errors: Option<&'a [FieldError]>,
}

pub const PROBLEM_JSON: &str = "application/problem+json";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Unavailable(cause) => {
                tracing::warn!(error = %ErrorChain(cause), "database unavailable")
            }
            Self::Internal(cause) => tracing::error!(error = %ErrorChain(cause), "internal error"),
            Self::Misconfigured(misconfiguration) => tracing::error!(
                setting = misconfiguration.setting.unwrap_or("unknown"),
                error = %misconfiguration.cause,
                "misconfigured: answered 500"
            ),
            Self::NotMigrated(cause) => tracing::error!(
                error = %ErrorChain(cause),
                "the database is not migrated to this version: answered 503"
            ),
            _ => {}
        }
        let errors = match &self {
            Self::Validation { errors, .. } => Some(errors.as_slice()),
            _ => None,
        };
        let problem = Problem {
            kind: self.problem_type(),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.detail(crate::aws::running_in_aws()),
            request_id: telemetry::current_request_id(),
            errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match &self {
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::StepUpRequired { max_age_secs } => {
                let challenge = format!(
                    "Bearer error=\"insufficient_user_authentication\", error_description=\"A second factor is required\", max_age={max_age_secs}"
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            Self::TooManyRequests {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::InFlight(_) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(IN_FLIGHT_RETRY_AFTER_SECS),
                );
            }
            Self::Unavailable(_) | Self::DependencyUnavailable(_) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
                );
            }
            _ => {}
        }
        response
    }
}

/// Formats an error with every cause in its chain on one line: "outer: middle: root".
pub struct ErrorChain<'a>(pub &'a anyhow::Error);

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for cause in self.0.chain() {
            if !first {
                f.write_str(": ")?;
            }
            first = false;
            write!(f, "{cause}")?;
        }
        Ok(())
    }
}

/// Fallback for paths no route matches: a problem+json 404 instead of an empty body.
pub async fn route_not_found() -> ApiError {
    ApiError::not_found("Not Found")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn render(error: ApiError) -> (StatusCode, http::HeaderMap, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, headers, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn unauthorized_is_problem_json_with_bearer_challenge() {
        let (status, headers, body) = render(ApiError::unauthorized("Invalid token")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(body["detail"], "Invalid token");
        assert_eq!(body["status"], 401);
        assert_eq!(body["title"], "Unauthorized");
    }

    #[tokio::test]
    async fn internal_errors_are_opaque() {
        let cause = anyhow::anyhow!("relation \"users\" does not exist; password=hunter2");
        let (status, _, body) = render(ApiError::Internal(cause)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let text = body.to_string();
        assert!(!text.contains("relation"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(body["detail"], "internal server error");
    }

    #[tokio::test]
    async fn unavailable_is_503_with_retry_after_and_opaque() {
        let cause = anyhow::anyhow!("connection refused to 10.0.0.1");
        let (status, headers, body) = render(ApiError::Unavailable(cause)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[header::RETRY_AFTER], "5");
        assert!(!body.to_string().contains("10.0.0.1"));
    }

    #[tokio::test]
    async fn validation_lists_field_errors() {
        let error = ApiError::invalid_field(FieldError::body(
            "title",
            "must not be blank",
            "value_error",
        ));
        let (status, _, body) = render(error).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body["errors"][0]["loc"],
            serde_json::json!(["body", "title"])
        );
        assert_eq!(body["errors"][0]["type"], "value_error");
        assert_eq!(body["detail"], "must not be blank");
    }

    #[tokio::test]
    async fn throttled_carries_retry_after() {
        let error = ApiError::TooManyRequests {
            detail: "Too many attempts".into(),
            retry_after_secs: 42,
        };
        let (status, headers, _) = render(error).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::RETRY_AFTER], "42");
    }

    #[tokio::test]
    async fn a_misconfiguration_is_a_500_of_its_own_type_without_retry_after() {
        let error = anyhow::Error::new(crate::config::ConfigError::Invalid {
            name: "JWT_SECRET",
            reason: "must be at least 32 bytes (it has 5)".into(),
        });
        let misconfigured =
            ApiError::Misconfigured(Arc::new(Misconfiguration::from_start_error(&error)));
        assert_eq!(misconfigured.problem_type(), PROBLEM_MISCONFIGURED);
        assert!(misconfigured.problem_type().ends_with("/misconfigured"));
        assert!(misconfigured
            .detail(false)
            .starts_with("JWT_SECRET is invalid"));
        assert!(!misconfigured.detail(true).contains("JWT_SECRET"));
        let (status, headers, body) = render(misconfigured).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!headers.contains_key(header::RETRY_AFTER));
        assert_eq!(body["type"], PROBLEM_MISCONFIGURED);
        // The tests run outside AWS: the detail names the setting.
        assert!(body["detail"].as_str().unwrap().contains("JWT_SECRET"));
    }

    #[tokio::test]
    async fn not_migrated_is_a_503_of_its_own_type_that_names_no_sql() {
        let cause = anyhow::anyhow!("relation \"users\" does not exist");
        let (status, headers, body) = render(ApiError::NotMigrated(cause)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!headers.contains_key(header::RETRY_AFTER));
        assert_eq!(body["type"], PROBLEM_NOT_MIGRATED);
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("not migrated"), "{detail}");
        assert!(!detail.contains("users"), "{detail}");
    }

    #[test]
    fn error_chain_prints_every_cause() {
        let error = anyhow::anyhow!("root").context("middle").context("outer");
        assert_eq!(ErrorChain(&error).to_string(), "outer: middle: root");
    }
}
