//! `PUT`, `PATCH /api/{user_id}/tasks/{id}` and `PATCH .../complete`: change a task of the caller's
//! (all of it, some fields, or `completed` alone), with the session check in the same statement.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use shared::error::{ApiError, Result};
use shared::http::{
    is_json_media_type, parse_json, present_or_null, require_content_type, Json, LimitedBody,
};
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use super::create::NewTask;
use super::path::{task_path, NotTheCaller, TaskPath};
use crate::caller::Caller;
use crate::domain::{TaskDescription, TaskTitle};
use crate::errors::TaskNotFound;
use crate::render::{found, Task};
use crate::sql::{one_task, update_task};
use crate::state::TasksState;

/// Replaces a task's title and description (and `completed`, when given).
#[utoipa::path(
    put, path = "/api/{user_id}/tasks/{id}", operation_id = "replaceTask",
    tag = "tasks", security(("bearer" = []), ("oauth2_password" = [])),
    params(TaskPath), request_body = NewTask,
    responses(
        (status = 200, description = "The updated task", body = Task),
        NotTheCaller,
        TaskNotFound,
    )
)]
pub async fn replace_task(
    State(state): State<TasksState>,
    caller: Caller,
    path: Result<Path<TaskPath>, PathRejection>,
    body: Result<Json<NewTask>, ApiError>,
) -> Result<Response> {
    let id = task_path(&caller, path)?;
    let Json(body) = body?;
    let (title, description) = body.parse()?;
    let row = one_task(
        &state,
        update_task!("title = $6, description = $7, completed = coalesce($8, t.completed)"),
        &caller,
        &[
            (&id, Type::INT8),
            (&title.as_str(), Type::TEXT),
            (
                &description.as_ref().map(TaskDescription::as_str),
                Type::TEXT,
            ),
            (&body.completed(), Type::BOOL),
        ],
    )
    .await?;
    found(StatusCode::OK, &row)
}

/// Only the fields present change; `description: null` clears it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskChanges {
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    title: Option<String>,
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>, max_length = 1000, pattern = r"^[^\x00]*$")]
    description: Option<Option<String>>,
    #[serde(default)]
    completed: Option<bool>,
}

/// Changes some fields of a task.
#[utoipa::path(
    patch, path = "/api/{user_id}/tasks/{id}", operation_id = "updateTask",
    tag = "tasks", security(("bearer" = []), ("oauth2_password" = [])),
    params(TaskPath), request_body = TaskChanges,
    responses(
        (status = 200, description = "The updated task", body = Task),
        NotTheCaller,
        TaskNotFound,
    )
)]
pub async fn update_task(
    State(state): State<TasksState>,
    caller: Caller,
    path: Result<Path<TaskPath>, PathRejection>,
    body: Result<Json<TaskChanges>, ApiError>,
) -> Result<Response> {
    let id = task_path(&caller, path)?;
    let Json(body) = body?;
    let mut errors = Vec::new();
    let title = match &body.title {
        Some(raw) => TaskTitle::parse(raw).map_err(|e| errors.push(e)).ok(),
        None => None,
    };
    let description = match &body.description {
        Some(Some(raw)) => TaskDescription::parse(raw)
            .map_err(|e| errors.push(e))
            .ok()
            .map(Some),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(first) = errors.first() {
        return Err(ApiError::Validation {
            detail: first.msg.clone(),
            errors,
        });
    }
    let set_description = description.is_some();
    let description = description.flatten();
    let row = one_task(
        &state,
        // `$7` says whether the description changes: `$8` null may mean "clear it".
        update_task!("title = coalesce($6, t.title), description = case when $7 then $8 else t.description end, completed = coalesce($9, t.completed)"),
        &caller,
        &[
            (&id, Type::INT8),
            (&title.as_ref().map(TaskTitle::as_str), Type::TEXT),
            (&set_description, Type::BOOL),
            (&description.as_ref().map(TaskDescription::as_str), Type::TEXT),
            (&body.completed, Type::BOOL),
        ],
    )
    .await?;
    found(StatusCode::OK, &row)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    #[serde(default)]
    completed: Option<bool>,
}

/// No body (or `null`) toggles; `{"completed": true|false}` sets.
/// Toggles `completed` (no body), or sets it (`{"completed": true}`).
#[utoipa::path(
    patch, path = "/api/{user_id}/tasks/{id}/complete", operation_id = "toggleTaskCompleted",
    tag = "tasks", security(("bearer" = []), ("oauth2_password" = [])),
    params(TaskPath),
    request_body(content = Option<CompleteBody>, description = "Optional; without it the task toggles"),
    responses(
        (status = 200, description = "The updated task", body = Task),
        NotTheCaller,
        TaskNotFound,
    )
)]
pub async fn complete_task(
    State(state): State<TasksState>,
    caller: Caller,
    path: Result<Path<TaskPath>, PathRejection>,
    headers: HeaderMap,
    body: Result<LimitedBody, ApiError>,
) -> Result<Response> {
    let id = task_path(&caller, path)?;
    let LimitedBody(bytes) = body?;
    let body = bytes.trim_ascii();
    let completed = if body.is_empty() {
        None
    } else {
        require_content_type(&headers, is_json_media_type, "application/json")?;
        if body == b"null" {
            None
        } else {
            parse_json::<CompleteBody>(&bytes)?.completed
        }
    };
    let row = one_task(
        &state,
        update_task!("completed = coalesce($6, not t.completed)"),
        &caller,
        &[(&id, Type::INT8), (&completed, Type::BOOL)],
    )
    .await?;
    found(StatusCode::OK, &row)
}
