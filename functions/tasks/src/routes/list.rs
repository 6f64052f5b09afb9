//! `GET /api/{user_id}/tasks`: the caller's tasks a page at a time, in one statement per sort
//! order, written once into the body, with the total and the next page's link in headers.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use shared::error::{ApiError, Result};
use shared::http::Query;
use shared::json;
use tokio_postgres::types::Type;

use super::path::{encode_segment, owner_path, NotTheCaller, OwnerPath};
use crate::caller::Caller;
use crate::errors::session_ended;
use crate::render::{json_response, Task, TaskRow};
use crate::sql::{caller_params, owned_by_caller, with_caller};
use crate::state::TasksState;

pub mod params;

use params::{After, ListParams, RawListQuery, Sort, SortKey};

/// The listing statement for one sort order (the column and direction cannot be parameters):
/// `$5` completed, `$6` the search's LIKE body, `$7` the cursor's id with `$8` its time or `$9` its
/// title, `$10` the page size plus one. Column 8 is the total, on every row.
fn list_statement(sort: Sort) -> &'static str {
    // The filters, shared by the page and its total (`t`, the caller's own tasks).
    macro_rules! matching {
        () => {
            concat!(
                owned_by_caller!(),
                "
                           and ($5::bool is null or t.completed = $5)
                           and ($6::text is null
                                or lower(t.title || ' ' || coalesce(t.description, '')) like '%' || lower($6) || '%')"
            )
        };
    }
    macro_rules! listing {
        ($column:literal, $cmp:literal, $dir:literal, $after:literal) => {
            with_caller!(concat!(
                "select caller.live, page.id, page.user_id, page.title, page.description, page.completed,
                        page.created_at, page.updated_at,
                        case when caller.live then (
                            select count(*) from tasks t
                             where ", matching!(), "
                        ) end
                   from caller
                   left join lateral (
                        select * from tasks t
                         where caller.live and ", matching!(),
                // Keyset: strictly after the previous page's last (sort value, id); ids break ties.
                "
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
#[utoipa::path(
    get, path = "/api/{user_id}/tasks", operation_id = "listTasks",
    tag = "tasks", security(("bearer" = []), ("oauth2_password" = [])),
    params(OwnerPath, RawListQuery),
    responses(
        (status = 200, description = "One page of tasks", body = Vec<Task>,
         headers(("X-Total-Count" = i64, description = "Number of tasks matching the filters"),
                 ("Link" = String, description = "`rel=\"next\"` URL of the next page, when there is one"))),
        NotTheCaller,
    )
)]
pub async fn list_tasks(
    State(state): State<TasksState>,
    caller: Caller,
    path: Result<Path<OwnerPath>, PathRejection>,
    Query(raw): Query<RawListQuery>,
) -> Result<Response> {
    let user_id = owner_path(&caller, path)?;
    let params = ListParams::parse(raw)?;
    let ids = caller.session.unzip();
    let [subject, session, user, issuer] = caller_params(&caller, &ids);
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
                subject,
                session,
                user,
                issuer,
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
