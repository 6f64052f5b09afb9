//! `DELETE /api/{user_id}/tasks/{id}`: deletes one of the caller's tasks, with the session check
//! in the same statement.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use shared::error::Result;
use tokio_postgres::types::Type;

use super::path::{task_path, NotTheCaller, TaskPath};
use crate::caller::Caller;
use crate::errors::{session_ended, task_not_found, TaskNotFound};
use crate::sql::{caller_params, owned_by_caller, with_caller};
use crate::state::TasksState;

/// Deletes a task.
#[utoipa::path(
    delete, path = "/api/{user_id}/tasks/{id}", operation_id = "deleteTask",
    tag = "tasks", security(("bearer" = []), ("oauth2_password" = [])),
    params(TaskPath),
    responses(
        (status = 204, description = "Deleted"),
        NotTheCaller,
        TaskNotFound,
    )
)]
pub async fn delete_task(
    State(state): State<TasksState>,
    caller: Caller,
    path: Result<Path<TaskPath>, PathRejection>,
) -> Result<StatusCode> {
    let id = task_path(&caller, path)?;
    let ids = caller.session.unzip();
    let [subject, session, user, issuer] = caller_params(&caller, &ids);
    let row = state
        .db
        .query_one(
            with_caller!(
                ", deleted as (
                    delete from tasks t using caller
                     where caller.live and ",
                owned_by_caller!(),
                " and t.id = $5
                    returning t.id
                 )
                 select caller.live, deleted.id from caller left join deleted on true"
            ),
            &[subject, session, user, issuer, (&id, Type::INT8)],
        )
        .await?;
    if !row.get::<_, bool>(0) {
        return Err(session_ended());
    }
    match row.get::<_, Option<i64>>(1) {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(task_not_found()),
    }
}
