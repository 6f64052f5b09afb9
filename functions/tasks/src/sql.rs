//! The SQL every task statement shares: the `caller` CTE that checks the session in the same
//! round trip as the task work, the owner predicate and task columns, and how `$1`..`$4` are bound.

use shared::db::{DbError, Param, Queries};
use shared::error::{ApiError, Result};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::caller::Caller;
use crate::errors::{session_ended, task_not_found};
use crate::state::TasksState;

/// Starts a statement with the `caller` CTE, one row whose `live` says whether the caller may act:
/// `$1` subject, `$2` session id and `$3` user id (both null for Better Auth tokens), `$4` the
/// subject's issuer (empty for our own users). `live` is false unless the session is in
/// `live_sessions`, the one home of the rule (schema/migrations/0012: not revoked, not expired, the
/// user neither disabled nor deleted). This is the only place the tasks function checks a session.
macro_rules! with_caller {
    ($($statement:expr),+ $(,)?) => {
        concat!(
            "with caller as (
                select $2::uuid is null or exists (
                    select 1 from live_sessions where id = $2 and user_id = $3) as live
             ) ",
            $($statement),+
        )
    };
}

/// The caller's own tasks (as `t`). Every statement that reads or changes tasks restricts them with
/// this, so none can touch another user's tasks, nor another issuer's subject of the same name.
macro_rules! owned_by_caller {
    () => {
        "t.issuer = $4 and t.user_id = $1"
    };
}

/// A task's columns (of `t`), in the order `render::TaskRow::read` reads them after `live`.
macro_rules! task_columns {
    () => {
        "t.id, t.user_id, t.title, t.description, t.completed, t.created_at, t.updated_at"
    };
}

/// An update of one task (`$5` is its id) that sets `$set`, bumps `updated_at` and returns `live`
/// plus the task, or `live` and nulls when none matched (or the session is not live).
macro_rules! update_task {
    ($set:literal) => {
        $crate::sql::with_caller!(
            ", changed as (
                update tasks t
                   set ",
            $set,
            // Strictly later, even within one microsecond: clients compare `updated_at`.
            ",
                       updated_at = greatest(now(), t.updated_at + interval '1 microsecond')
                  from caller
                 where caller.live and ",
            $crate::sql::owned_by_caller!(),
            " and t.id = $5
                returning ",
            $crate::sql::task_columns!(),
            "
             )
             select caller.live, changed.* from caller left join changed on true"
        )
    };
}

pub(crate) use {owned_by_caller, task_columns, update_task, with_caller};

/// `$1`..`$4` of [`with_caller!`] for this caller; `ids` is `caller.session.unzip()`, held by the
/// statement's caller for the parameters to borrow.
pub fn caller_params<'a>(
    caller: &'a Caller,
    (session, user): &'a (Option<Uuid>, Option<Uuid>),
) -> [Param<'a>; 4] {
    [
        (&caller.subject, Type::TEXT),
        (session, Type::UUID),
        (user, Type::UUID),
        (&caller.issuer, Type::TEXT),
    ]
}

/// Runs a statement whose first column is `live` and whose other columns are a task (or nulls),
/// with `extra` as `$5` on; the row holds a task (`TaskRow::read` is `Some`).
pub async fn one_task(
    state: &TasksState,
    sql: &str,
    caller: &Caller,
    extra: &[Param<'_>],
) -> Result<Row> {
    one_task_on(&state.db, sql, caller, extra).await
}

/// [`one_task`] on `db`: the pool, or the transaction of an idempotent create.
pub async fn one_task_on(
    db: &impl Queries,
    sql: &str,
    caller: &Caller,
    extra: &[Param<'_>],
) -> Result<Row> {
    let ids = caller.session.unzip();
    let mut params = Vec::from(caller_params(caller, &ids));
    params.extend(extra.iter().map(|(value, kind)| (*value, kind.clone())));
    let row = db
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

/// 401 unless the caller's session is live (always live for stateless Better Auth callers).
pub async fn require_live_session(state: &TasksState, caller: &Caller) -> Result<()> {
    let ids = caller.session.unzip();
    let row = state
        .db
        .read_one(
            with_caller!("select live from caller"),
            &caller_params(caller, &ids),
        )
        .await?;
    if row.get::<_, bool>(0) {
        Ok(())
    } else {
        Err(session_ended())
    }
}

/// A task insert that lost the race against the deletion of its owner (`DELETE /users/me`
/// committed after our session check, before our row): the foreign key refuses the row, and the
/// caller hears what a dead session says.
fn deleted_meanwhile(error: DbError) -> ApiError {
    if error.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
        session_ended()
    } else {
        error.into()
    }
}
