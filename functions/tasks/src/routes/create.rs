//! `POST /api/{user_id}/tasks`: creates one of the caller's tasks, once per `Idempotency-Key`;
//! its body, [`NewTask`], is also the whole new content of a task for `PUT`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shared::db::Queries;
use shared::error::{ApiError, Result};
use shared::http::Json;
use shared::idempotency::{self, Answer, Begun, IdempotencyKey, IdempotencyKeyParam, Operation};
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use super::path::{encode_segment, owner_path, NotTheCaller, OwnerPath};
use crate::caller::Caller;
use crate::domain::{TaskDescription, TaskTitle};
use crate::errors::task_not_found;
use crate::render::{task_json, Task, TaskRow};
use crate::sql::{one_task_on, require_live_session, with_caller};
use crate::state::TasksState;

/// A task to create, or (PUT) the whole new content of one: an absent description is cleared,
/// an absent `completed` is kept.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// 1 to 200 characters once trimmed.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$",
        example = "Buy milk"
    )]
    title: String,
    #[serde(default)]
    #[schema(max_length = 1000, pattern = r"^[^\x00]*$", example = "2 litres")]
    description: Option<String>,
    #[serde(default)]
    completed: Option<bool>,
}

impl NewTask {
    /// The title and description, or a 422 that lists every field refused.
    pub(crate) fn parse(&self) -> Result<(TaskTitle, Option<TaskDescription>)> {
        let mut errors = Vec::new();
        let title = TaskTitle::parse(&self.title)
            .map_err(|e| errors.push(e))
            .ok();
        let description = match &self.description {
            Some(raw) => TaskDescription::parse(raw).map_err(|e| errors.push(e)).ok(),
            None => None,
        };
        match (title, errors.is_empty()) {
            (Some(title), true) => Ok((title, description)),
            _ => Err(ApiError::Validation {
                detail: errors[0].msg.clone(),
                errors,
            }),
        }
    }

    /// `completed` when given (PUT keeps the task's own when not).
    pub(crate) fn completed(&self) -> Option<bool> {
        self.completed
    }
}

/// Creates a task for the caller. With an `Idempotency-Key`, a retry gets the first answer.
#[utoipa::path(
    post, path = "/api/{user_id}/tasks", operation_id = "createTask",
    tag = "tasks", security(("bearer" = []), ("oauth2_password" = [])),
    params(OwnerPath, IdempotencyKeyParam), request_body = NewTask,
    responses(
        (status = 201, description = "The new task (or, for a retried `Idempotency-Key`, the first answer again)", body = Task,
         headers(("Location" = String, description = "The task's URL"),
                 ("Idempotent-Replayed" = String, description = "`true` on a replayed answer"))),
        NotTheCaller,
        (status = 409, description = "A request with this `Idempotency-Key` is still being processed",
         headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 422, description = "Invalid task, or an `Idempotency-Key` that is malformed or was used with a different request"),
    )
)]
pub async fn create_task(
    State(state): State<TasksState>,
    caller: Caller,
    path: Result<Path<OwnerPath>, PathRejection>,
    key: Result<IdempotencyKey, ApiError>,
    body: Result<Json<NewTask>, ApiError>,
) -> Result<Response> {
    let user_id = owner_path(&caller, path)?;
    let IdempotencyKey(key) = key?;
    let Json(body) = body?;
    let (title, description) = body.parse()?;
    let completed = body.completed.unwrap_or(false);
    let new = (&title, description.as_ref(), completed);
    let Some(key) = key else {
        return insert_task(&state.db, &caller, &user_id, new)
            .await
            .map(IntoResponse::into_response);
    };

    let fingerprint = idempotency::fingerprint(&[
        title.as_str().as_bytes(),
        &[u8::from(description.is_some()), u8::from(completed)],
        description.as_ref().map_or(b"", |d| d.as_str().as_bytes()),
    ]);
    let owner = format!("{}\n{}", caller.issuer, caller.subject);
    // The claim, the insert and the stored answer commit together (see shared::idempotency).
    let transaction = state.db.begin().await?;
    match idempotency::begin(
        &transaction,
        Operation::CreateTask,
        &owner,
        &key,
        fingerprint,
    )
    .await?
    {
        Begun::Replay(replay) => {
            transaction.rollback().await;
            // A stored answer is no credential: the session must still be live to hear it.
            require_live_session(&state, &caller).await?;
            Ok(replay.into_response())
        }
        Begun::Claimed(claim) => {
            let answer = insert_task(&transaction, &caller, &user_id, new).await?;
            let owner_id = caller.session.map(|(_, user)| user);
            claim.store(&transaction, &answer, owner_id, None).await?;
            transaction.commit().await?;
            Ok(answer.into_response())
        }
    }
}

/// Inserts the task (when the caller's session is live) and gives the 201 with its `Location`.
async fn insert_task(
    db: &impl Queries,
    caller: &Caller,
    user_id: &str,
    (title, description, completed): (&TaskTitle, Option<&TaskDescription>, bool),
) -> Result<Answer> {
    let row = one_task_on(
        db,
        with_caller!(
            // Owned by the caller's key ($4, $1); `owner_id` ($3, null for Better Auth users)
            // ties the task to our user, whose deletion deletes it.
            ", created as (
                insert into tasks (issuer, user_id, owner_id, title, description, completed)
                select $4, $1, $3, $5, $6, $7 from caller where live
                returning id, user_id, title, description, completed, created_at, updated_at
             )
             select caller.live, created.* from caller left join created on true"
        ),
        caller,
        &[
            (&title.as_str(), Type::TEXT),
            (&description.map(TaskDescription::as_str), Type::TEXT),
            (&completed, Type::BOOL),
        ],
    )
    .await?;
    let task = TaskRow::read(&row).ok_or_else(task_not_found)?;
    let location = format!("/api/{}/tasks/{}", encode_segment(user_id), task.id);
    Ok(Answer {
        status: StatusCode::CREATED,
        location: Some(location),
        body: task_json(&task)?,
    })
}
