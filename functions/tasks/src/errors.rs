//! The refusals several routes share: a session that has ended (401) and a task that does not
//! exist or is not the caller's (404), with the 404's line in the OpenAPI document.

use shared::error::ApiError;
use utoipa::IntoResponses;

/// The 401 of a `caller` whose session is no longer live (`live` is false).
pub fn session_ended() -> ApiError {
    ApiError::unauthorized("Session has ended; please log in again")
}

/// The 404 of a statement that matched no task of the caller's.
pub fn task_not_found() -> ApiError {
    ApiError::not_found("Task not found")
}

/// [`task_not_found`] in a route's `responses(...)`.
#[derive(IntoResponses)]
#[response(status = 404, description = "Task not found")]
pub struct TaskNotFound;
