//! The routes' path parameters: `{user_id}` must be the caller's own subject and `{id}` a task id,
//! their OpenAPI parameters and refusals, and a subject written back into a URL.

use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use serde::Deserialize;
use shared::error::{ApiError, FieldError, Result};
use utoipa::{IntoParams, IntoResponses};

use crate::caller::Caller;
use crate::domain::parse_task_id;

/// `/api/{user_id}/tasks`, extracted as axum's `Path<String>` would be.
#[derive(Deserialize, IntoParams)]
#[into_params(names("user_id"), parameter_in = Path)]
pub struct OwnerPath(
    /// The caller's subject: their user id
    String,
);

/// `/api/{user_id}/tasks/{id}[/complete]`, extracted as `Path<(String, String)>` would be: the id
/// is parsed by [`parse_task_id`], for its own 422s.
#[derive(Deserialize, IntoParams)]
#[into_params(names("user_id", "id"), parameter_in = Path)]
pub struct TaskPath(
    /// The caller's subject: their user id
    String,
    /// The task's id
    #[param(value_type = i64)]
    String,
);

/// The 403 of [`own_subject`] in a route's `responses(...)`.
#[derive(IntoResponses)]
#[response(status = 403, description = "`user_id` is not the caller's subject")]
pub struct NotTheCaller;

/// The path's `{user_id}`, once it is the caller's own subject.
pub fn owner_path(caller: &Caller, path: Result<Path<OwnerPath>, PathRejection>) -> Result<String> {
    let Path(OwnerPath(user_id)) = path.map_err(path_error)?;
    own_subject(caller, &user_id)?;
    Ok(user_id)
}

/// The path's task id, once `{user_id}` is the caller's own subject.
pub fn task_path(caller: &Caller, path: Result<Path<TaskPath>, PathRejection>) -> Result<i64> {
    let Path(TaskPath(user_id, id)) = path.map_err(path_error)?;
    own_subject(caller, &user_id)?;
    parse_task_id(&id)
}

/// The path's `{user_id}` must be the caller's own subject.
fn own_subject(caller: &Caller, user_id: &str) -> Result<()> {
    if caller.subject == user_id {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Access forbidden: user_id mismatch".to_owned(),
        ))
    }
}

fn path_error(_: PathRejection) -> ApiError {
    ApiError::invalid_field(FieldError::new(
        &["path"],
        "Invalid path parameter",
        "value_error",
    ))
}

/// Percent-encodes one path segment (subjects from Better Auth may hold any character).
pub fn encode_segment(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
