//! `GET /api/{user_id}/tasks/{id}`: one of the caller's tasks, read with the session check in the
//! same statement.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use shared::error::Result;
use tokio_postgres::types::Type;

use super::path::{task_path, NotTheCaller, TaskPath};
use crate::caller::Caller;
use crate::errors::TaskNotFound;
use crate::render::{found, Task};
use crate::sql::{one_task, owned_by_caller, task_columns, with_caller};
use crate::state::TasksState;

/// One of the caller's tasks.
#[utoipa::path(
    get, path = "/api/{user_id}/tasks/{id}", operation_id = "getTask",
    tag = "tasks", security(("bearer" = []), ("oauth2_password" = [])),
    params(TaskPath),
    responses(
        (status = 200, description = "The task", body = Task),
        NotTheCaller,
        TaskNotFound,
    )
)]
pub async fn get_task(
    State(state): State<TasksState>,
    caller: Caller,
    path: Result<Path<TaskPath>, PathRejection>,
) -> Result<Response> {
    let id = task_path(&caller, path)?;
    let row = one_task(
        &state,
        with_caller!(
            "select caller.live, ",
            task_columns!(),
            // A left join, so a dead session or a missing task still gives the row of `live`.
            "
               from caller left join tasks t
                 on caller.live and ",
            owned_by_caller!(),
            " and t.id = $5"
        ),
        &caller,
        &[(&id, Type::INT8)],
    )
    .await?;
    found(StatusCode::OK, &row)
}
