//! Task handlers. Every statement starts with the `caller` CTE, which checks our own tokens'
//! session (revoked, expired, disabled user) in the same round trip as the task work, and every
//! statement restricts rows to the caller's owner key, `issuer = $4 and user_id = $1`, so no
//! statement can touch another user's tasks, nor another issuer's subject of the same name.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::error::{ApiError, FieldError, Result};
use shared::http::{
    is_json_media_type, parse_json, present_or_null, require_content_type, Json, LimitedBody, Query,
};
use shared::idempotency::{self, Answer, Begun, IdempotencyKey, IdempotencyKeyParam, Operation};
use shared::json;
use time::OffsetDateTime;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::domain::{parse_task_id, TaskDescription, TaskTitle};
use crate::listing::{After, ListParams, RawListQuery, SortKey};
use crate::TasksState;

/// `$1` subject, `$2` session id and `$3` user id (both null for Better Auth tokens), `$4` the
/// subject's issuer (empty for our own users). `live` is false when the session is revoked or
/// expired, or the user disabled or deleted.
macro_rules! with_caller {
    ($($statement:expr),+ $(,)?) => {
        concat!(
            "with caller as (
                select $2::uuid is null or exists (
                    select 1 from sessions s join users u on u.id = s.user_id
                     where s.id = $2 and s.user_id = $3 and s.revoked_at is null
                       and s.expires_at > now() and not u.disabled) as live
             ) ",
            $($statement),+
        )
    };
}

/// An update of one task (`$5` is its id) that sets `$set`, bumps `updated_at` (strictly, even
/// within one microsecond) and returns `live` plus the task, or `live` and nulls when none matched.
macro_rules! update_task {
    ($set:literal) => {
        with_caller!(
            ", changed as (
                update tasks t
                   set ",
            $set,
            ",
                       updated_at = greatest(now(), t.updated_at + interval '1 microsecond')
                  from caller
                 where caller.live and t.issuer = $4 and t.user_id = $1 and t.id = $5
                returning t.id, t.user_id, t.title, t.description, t.completed, t.created_at, t.updated_at
             )
             select caller.live, changed.* from caller left join changed on true"
        )
    };
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Task {
    id: i64,
    /// The owner's subject.
    user_id: String,
    #[schema(example = "Buy milk")]
    title: String,
    description: Option<String>,
    completed: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

/// A task in the columns that follow `live` (column 0), its text borrowed from the row: reading
/// a 100-task page allocates nothing per task (callgrind: `String::from_sql` and malloc/free were
/// a sixth of the list before).
struct TaskRow<'a> {
    id: i64,
    user_id: &'a str,
    title: &'a str,
    description: Option<&'a str>,
    completed: bool,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl<'a> TaskRow<'a> {
    /// `None` when the task is absent (the columns are nulls).
    fn read(row: &'a Row) -> Option<Self> {
        Some(Self {
            id: row.get::<_, Option<i64>>(1)?,
            user_id: row.get(2),
            title: row.get(3),
            description: row.get(4),
            completed: row.get(5),
            created_at: row.get(6),
            updated_at: row.get(7),
        })
    }

    /// Appends the task as [`Task`] in JSON: the bytes serde_json wrote for it, field by field
    /// (`tests/response_bytes.rs` holds them), without serde's per-field machinery and one
    /// `String` per timestamp.
    /// `owner` is the page's owner and its JSON string, written as is for the tasks that are
    /// theirs (all of them: every statement filters on `user_id = $1`) instead of escaped again.
    fn write_json(&self, out: &mut Vec<u8>, owner: Option<(&str, &[u8])>) -> Result<()> {
        out.extend_from_slice(b"{\"id\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.id).as_bytes());
        out.extend_from_slice(b",\"user_id\":");
        match owner {
            Some((subject, written)) if subject == self.user_id => out.extend_from_slice(written),
            _ => json::write_str(out, self.user_id),
        }
        out.extend_from_slice(b",\"title\":");
        json::write_str(out, self.title);
        out.extend_from_slice(b",\"description\":");
        match self.description {
            Some(description) => json::write_str(out, description),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(if self.completed {
            b",\"completed\":true,\"created_at\":"
        } else {
            b",\"completed\":false,\"created_at\":"
        });
        let unformattable = |e: time::error::Format| ApiError::Internal(anyhow::anyhow!(e));
        json::write_rfc3339(out, self.created_at).map_err(unformattable)?;
        out.extend_from_slice(b",\"updated_at\":");
        json::write_rfc3339(out, self.updated_at).map_err(unformattable)?;
        out.push(b'}');
        Ok(())
    }
}

/// A JSON answer, with the headers `axum::Json` gives one.
fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// One task's answer.
fn task_response(status: StatusCode, task: &TaskRow<'_>) -> Result<Response> {
    // A task with short text is about 250 bytes; a longer one grows the buffer once.
    let mut body = Vec::with_capacity(256);
    task.write_json(&mut body, None)?;
    Ok(json_response(status, body))
}

fn session_ended() -> ApiError {
    ApiError::unauthorized("Session has ended; please log in again")
}

/// A task insert that lost the race against the deletion of its owner (`DELETE /users/me`
/// committed after our session check, before our row): the foreign key refuses the row, and the
/// caller hears what a dead session says.
fn deleted_meanwhile(error: shared::db::DbError) -> ApiError {
    if error.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) {
        session_ended()
    } else {
        error.into()
    }
}

fn task_not_found() -> ApiError {
    ApiError::not_found("Task not found")
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

/// Runs a statement whose first column is `live` and whose other columns are a task (or nulls);
/// the row holds a task ([`TaskRow::read`] is `Some`).
async fn one_task(
    state: &TasksState,
    sql: &str,
    caller: &Caller,
    extra: &[(&(dyn ToSql + Sync), Type)],
) -> Result<Row> {
    let (session, user) = caller.session.unzip();
    let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
        (&caller.subject, Type::TEXT),
        (&session, Type::UUID),
        (&user, Type::UUID),
        (&caller.issuer, Type::TEXT),
    ];
    params.extend(extra.iter().map(|(value, kind)| (*value, kind.clone())));
    let row = state
        .db
        .query_one(sql, &params)
        .await
        .map_err(deleted_meanwhile)?;
    if !row.get::<_, bool>(0) {
        return Err(session_ended());
    }
    if row.get::<_, Option<i64>>(1).is_none() {
        return Err(task_not_found());
    }
    Ok(row)
}

/// The answer for a row [`one_task`] returned.
fn found(status: StatusCode, row: &Row) -> Result<Response> {
    let task = TaskRow::read(row).ok_or_else(task_not_found)?;
    task_response(status, &task)
}

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

fn parse_new(body: &NewTask) -> Result<(TaskTitle, Option<TaskDescription>)> {
    let mut errors = Vec::new();
    let title = TaskTitle::parse(&body.title)
        .map_err(|e| errors.push(e))
        .ok();
    let description = match &body.description {
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

/// Creates a task for the caller. With an `Idempotency-Key`, a retry gets the first answer.
#[utoipa::path(post, path = "/api/{user_id}/tasks", operation_id = "createTask", tag = "tasks", security(("bearer" = []), ("oauth2_password" = [])), params(("user_id" = String, Path, description = "The caller's subject: their user id"), IdempotencyKeyParam), request_body = NewTask,
    responses(
        (status = 201, description = "The new task (or, for a retried `Idempotency-Key`, the first answer again)", body = Task,
         headers(("Location" = String, description = "The task's URL"),
                 ("Idempotent-Replayed" = String, description = "`true` on a replayed answer"))),
        (status = 403, description = "`user_id` is not the caller's subject"),
        (status = 409, description = "A request with this `Idempotency-Key` is still being processed",
         headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 422, description = "Invalid task, or an `Idempotency-Key` that is malformed or was used with a different request"),
    ))]
pub async fn create_task(
    State(state): State<TasksState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    key: Result<IdempotencyKey, ApiError>,
    body: Result<Json<NewTask>, ApiError>,
) -> Result<Response> {
    let Path(user_id) = path.map_err(path_error)?;
    own_subject(&caller, &user_id)?;
    let IdempotencyKey(key) = key?;
    let Json(body) = body?;
    let (title, description) = parse_new(&body)?;
    let completed = body.completed.unwrap_or(false);
    let new = (&title, description.as_ref(), completed);
    let Some(key) = key else {
        return insert_task(&state, &caller, &user_id, new)
            .await
            .map(IntoResponse::into_response);
    };

    let fingerprint = idempotency::fingerprint(&[
        title.as_str().as_bytes(),
        &[u8::from(description.is_some()), u8::from(completed)],
        description.as_ref().map_or(b"", |d| d.as_str().as_bytes()),
    ]);
    let owner = format!("{}\n{}", caller.issuer, caller.subject);
    match idempotency::begin(&state.db, Operation::CreateTask, &owner, &key, fingerprint).await? {
        Begun::Replay(replay) => {
            // A stored answer is no credential: the session must still be live to hear it.
            require_live_session(&state, &caller).await?;
            Ok(replay.into_response())
        }
        Begun::Claimed(claim) => {
            let work = insert_task(&state, &caller, &user_id, new).await;
            let owner_id = caller.session.map(|(_, user)| user);
            claim
                .settle(&state.db, work.map(|answer| (answer, owner_id)))
                .await
        }
    }
}

/// Inserts the task (when the caller's session is live) and gives the 201 with its `Location`.
async fn insert_task(
    state: &TasksState,
    caller: &Caller,
    user_id: &str,
    (title, description, completed): (&TaskTitle, Option<&TaskDescription>, bool),
) -> Result<Answer> {
    let row = one_task(
        state,
        with_caller!(
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
    let mut body = Vec::with_capacity(256);
    task.write_json(&mut body, None)?;
    Ok(Answer {
        status: StatusCode::CREATED,
        location: Some(location),
        body,
    })
}

/// 401 unless the caller's session is live (always live for stateless Better Auth callers).
async fn require_live_session(state: &TasksState, caller: &Caller) -> Result<()> {
    let (session, user) = caller.session.unzip();
    let row = state
        .db
        .query_one(
            with_caller!("select live from caller"),
            &[
                (&caller.subject, Type::TEXT),
                (&session, Type::UUID),
                (&user, Type::UUID),
                (&caller.issuer, Type::TEXT),
            ],
        )
        .await?;
    if row.get::<_, bool>(0) {
        Ok(())
    } else {
        Err(session_ended())
    }
}

/// Percent-encodes one path segment (subjects from Better Auth may hold any character).
fn encode_segment(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

type TaskPath = Result<Path<(String, String)>, PathRejection>;

fn task_path(caller: &Caller, path: TaskPath) -> Result<i64> {
    let Path((user_id, id)) = path.map_err(path_error)?;
    own_subject(caller, &user_id)?;
    parse_task_id(&id)
}

/// One of the caller's tasks.
#[utoipa::path(get, path = "/api/{user_id}/tasks/{id}", operation_id = "getTask", tag = "tasks", security(("bearer" = []), ("oauth2_password" = [])), params(("user_id" = String, Path, description = "The caller's subject: their user id"),
           ("id" = i64, Path, description = "The task's id")),
    responses(
        (status = 200, description = "The task", body = Task),
        (status = 403, description = "`user_id` is not the caller's subject"),
        (status = 404, description = "Task not found"),
    ))]
pub async fn get_task(
    State(state): State<TasksState>,
    caller: Caller,
    path: TaskPath,
) -> Result<Response> {
    let id = task_path(&caller, path)?;
    let row = one_task(
        &state,
        with_caller!(
            "select caller.live, t.id, t.user_id, t.title, t.description, t.completed, t.created_at, t.updated_at
               from caller left join tasks t
                 on caller.live and t.issuer = $4 and t.user_id = $1 and t.id = $5"
        ),
        &caller,
        &[(&id, Type::INT8)],
    )
    .await?;
    found(StatusCode::OK, &row)
}

/// Replaces a task's title and description (and `completed`, when given).
#[utoipa::path(put, path = "/api/{user_id}/tasks/{id}", operation_id = "replaceTask", tag = "tasks", security(("bearer" = []), ("oauth2_password" = [])), params(("user_id" = String, Path, description = "The caller's subject: their user id"),
           ("id" = i64, Path, description = "The task's id")), request_body = NewTask,
    responses(
        (status = 200, description = "The updated task", body = Task),
        (status = 403, description = "`user_id` is not the caller's subject"),
        (status = 404, description = "Task not found"),
    ))]
pub async fn replace_task(
    State(state): State<TasksState>,
    caller: Caller,
    path: TaskPath,
    body: Result<Json<NewTask>, ApiError>,
) -> Result<Response> {
    let id = task_path(&caller, path)?;
    let Json(body) = body?;
    let (title, description) = parse_new(&body)?;
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
            (&body.completed, Type::BOOL),
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
#[utoipa::path(patch, path = "/api/{user_id}/tasks/{id}", operation_id = "updateTask", tag = "tasks", security(("bearer" = []), ("oauth2_password" = [])), params(("user_id" = String, Path, description = "The caller's subject: their user id"),
           ("id" = i64, Path, description = "The task's id")), request_body = TaskChanges,
    responses(
        (status = 200, description = "The updated task", body = Task),
        (status = 403, description = "`user_id` is not the caller's subject"),
        (status = 404, description = "Task not found"),
    ))]
pub async fn update_task(
    State(state): State<TasksState>,
    caller: Caller,
    path: TaskPath,
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
#[utoipa::path(patch, path = "/api/{user_id}/tasks/{id}/complete", operation_id = "toggleTaskCompleted", tag = "tasks", security(("bearer" = []), ("oauth2_password" = [])), params(("user_id" = String, Path, description = "The caller's subject: their user id"),
           ("id" = i64, Path, description = "The task's id")),
    request_body(content = Option<CompleteBody>, description = "Optional; without it the task toggles"),
    responses(
        (status = 200, description = "The updated task", body = Task),
        (status = 403, description = "`user_id` is not the caller's subject"),
        (status = 404, description = "Task not found"),
    ))]
pub async fn complete_task(
    State(state): State<TasksState>,
    caller: Caller,
    path: TaskPath,
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

/// Deletes a task.
#[utoipa::path(delete, path = "/api/{user_id}/tasks/{id}", operation_id = "deleteTask", tag = "tasks", security(("bearer" = []), ("oauth2_password" = [])), params(("user_id" = String, Path, description = "The caller's subject: their user id"),
           ("id" = i64, Path, description = "The task's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`user_id` is not the caller's subject"),
        (status = 404, description = "Task not found"),
    ))]
pub async fn delete_task(
    State(state): State<TasksState>,
    caller: Caller,
    path: TaskPath,
) -> Result<StatusCode> {
    let id = task_path(&caller, path)?;
    let (session, user) = caller.session.unzip();
    let row = state
        .db
        .query_one(
            with_caller!(
                ", deleted as (
                    delete from tasks t using caller
                     where caller.live and t.issuer = $4 and t.user_id = $1 and t.id = $5
                    returning t.id
                 )
                 select caller.live, deleted.id from caller left join deleted on true"
            ),
            &[
                (&caller.subject, Type::TEXT),
                (&session, Type::UUID),
                (&user, Type::UUID),
                (&caller.issuer, Type::TEXT),
                (&id, Type::INT8),
            ],
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

/// The listing statement for one sort order (the column and direction cannot be parameters).
fn list_statement(sort: crate::listing::Sort) -> &'static str {
    macro_rules! listing {
        ($column:literal, $cmp:literal, $dir:literal, $after:literal) => {
            with_caller!(concat!(
                "select caller.live, page.id, page.user_id, page.title, page.description, page.completed,
                        page.created_at, page.updated_at,
                        case when caller.live then (
                            select count(*) from tasks c
                             where c.issuer = $4 and c.user_id = $1
                               and ($5::bool is null or c.completed = $5)
                               and ($6::text is null
                                    or lower(c.title || ' ' || coalesce(c.description, '')) like '%' || lower($6) || '%')
                        ) end
                   from caller
                   left join lateral (
                        select * from tasks t
                         where caller.live and t.issuer = $4 and t.user_id = $1
                           and ($5::bool is null or t.completed = $5)
                           and ($6::text is null
                                or lower(t.title || ' ' || coalesce(t.description, '')) like '%' || lower($6) || '%')
                           and ($7::int8 is null or (t.", $column, ", t.id) ", $cmp, " (", $after, ", $7))
                         order by t.", $column, " ", $dir, ", t.id ", $dir, "
                         limit $10
                   ) page on true
                  order by page.", $column, " ", $dir, ", page.id ", $dir
            ))
        };
    }
    match (sort.key, sort.descending) {
        (SortKey::CreatedAt, false) => listing!("created_at", ">", "asc", "$8"),
        (SortKey::CreatedAt, true) => listing!("created_at", "<", "desc", "$8"),
        (SortKey::UpdatedAt, false) => listing!("updated_at", ">", "asc", "$8"),
        (SortKey::UpdatedAt, true) => listing!("updated_at", "<", "desc", "$8"),
        (SortKey::Title, false) => listing!("title", ">", "asc", "$9"),
        (SortKey::Title, true) => listing!("title", "<", "desc", "$9"),
    }
}

/// The caller's tasks, a page at a time.
#[utoipa::path(get, path = "/api/{user_id}/tasks", operation_id = "listTasks", tag = "tasks", security(("bearer" = []), ("oauth2_password" = [])), params(("user_id" = String, Path, description = "The caller's subject: their user id"), RawListQuery),
    responses(
        (status = 200, description = "One page of tasks", body = Vec<Task>,
         headers(("X-Total-Count" = i64, description = "Number of tasks matching the filters"),
                 ("Link" = String, description = "`rel=\"next\"` URL of the next page, when there is one"))),
        (status = 403, description = "`user_id` is not the caller's subject"),
    ))]
pub async fn list_tasks(
    State(state): State<TasksState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    Query(raw): Query<RawListQuery>,
) -> Result<Response> {
    let Path(user_id) = path.map_err(path_error)?;
    own_subject(&caller, &user_id)?;
    let params = ListParams::parse(raw)?;
    let (session, user) = caller.session.unzip();
    let pattern = params.like_pattern();
    let (after_id, after_time, after_title) = match &params.after {
        None => (None, None, None),
        Some(After::Time(at, id)) => (Some(*id), Some(*at), None),
        Some(After::Title(title, id)) => (Some(*id), None, Some(title.as_str())),
    };
    // One extra row tells whether there is a next page.
    let fetch = params.limit + 1;
    let rows = state
        .db
        .query(
            list_statement(params.sort),
            &[
                (&caller.subject, Type::TEXT),
                (&session, Type::UUID),
                (&user, Type::UUID),
                (&caller.issuer, Type::TEXT),
                (&params.completed, Type::BOOL),
                (&pattern, Type::TEXT),
                (&after_id, Type::INT8),
                (&after_time, Type::TIMESTAMPTZ),
                (&after_title, Type::TEXT),
                (&fetch, Type::INT8),
            ],
        )
        .await?;
    let Some(first) = rows.first() else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "listing returned no row"
        )));
    };
    if !first.get::<_, bool>(0) {
        return Err(session_ended());
    }
    let total: i64 = first.get::<_, Option<i64>>(8).unwrap_or(0);
    // The page, written once into a buffer sized for it (about 250 bytes a task with short text).
    let mut body = Vec::with_capacity(2 + rows.len() * 256);
    let mut owner = Vec::with_capacity(caller.subject.len() + 2);
    json::write_str(&mut owner, &caller.subject);
    body.push(b'[');
    let (mut shown, mut last, mut has_more) = (0i64, None, false);
    for task in rows.iter().filter_map(TaskRow::read) {
        if shown == params.limit {
            has_more = true;
            break;
        }
        if shown > 0 {
            body.push(b',');
        }
        task.write_json(&mut body, Some((&caller.subject, &owner)))?;
        shown += 1;
        last = Some(task);
    }
    body.push(b']');
    let next = match (has_more, last) {
        (true, Some(last)) => Some(match params.sort.key {
            SortKey::CreatedAt => After::Time(last.created_at, last.id),
            SortKey::UpdatedAt => After::Time(last.updated_at, last.id),
            SortKey::Title => After::Title(last.title.to_owned(), last.id),
        }),
        _ => None,
    };
    let mut response = json_response(StatusCode::OK, body);
    let headers = response.headers_mut();
    headers.insert("x-total-count", HeaderValue::from(total));
    if let Some(after) = next {
        let link = format!(
            "</api/{}/tasks?{}>; rel=\"next\"",
            encode_segment(&user_id),
            params.next_query(&after)
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, value);
        }
    }
    Ok(response)
}
