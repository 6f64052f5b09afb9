//! How a task is answered: the [`Task`] schema of the OpenAPI document, and its JSON written by
//! hand from the row, byte for byte what serde_json wrote for a `Task`, into a JSON response.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shared::error::{ApiError, Result};
use shared::json;
use time::OffsetDateTime;
use tokio_postgres::Row;
use utoipa::ToSchema;

use crate::errors::task_not_found;

// A task as the routes answer it, for the OpenAPI document; `TaskRow::write_json` writes it. No doc
// comment here: it would become the schema's description, a change to the document.
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
pub(crate) struct TaskRow<'a> {
    pub id: i64,
    pub user_id: &'a str,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub completed: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl<'a> TaskRow<'a> {
    /// `None` when the task is absent (the columns are nulls).
    pub fn read(row: &'a Row) -> Option<Self> {
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
    pub fn write_json(&self, out: &mut Vec<u8>, owner: Option<(&str, &[u8])>) -> Result<()> {
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
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
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

/// One task's JSON: about 250 bytes with short text; a longer one grows the buffer once.
pub(crate) fn task_json(task: &TaskRow<'_>) -> Result<Vec<u8>> {
    let mut body = Vec::with_capacity(256);
    task.write_json(&mut body, None)?;
    Ok(body)
}

/// The answer for a row `sql::one_task` returned.
pub(crate) fn found(status: StatusCode, row: &Row) -> Result<Response> {
    let task = TaskRow::read(row).ok_or_else(task_not_found)?;
    Ok(json_response(status, task_json(&task)?))
}
