//! The ways an account can sign in — its password, its passkeys, its linked identity providers —
//! and the one rule they share: the last of them cannot be removed, or the account would be
//! locked out for good. Every route that removes a way to sign in goes through
//! [`remove_unless_last`]; none counts on its own.

use shared::db::{Param, Queries};
use shared::error::{ApiError, Result};
use uuid::Uuid;

use crate::state::AuthState;

/// How many ways `users.id = $1` has to sign in. One home for the count: a new kind of credential
/// adds its term here.
const COUNT_SQL: &str = "select (u.password_hash is not null)::int4
          + (select count(*) from passkeys p where p.user_id = u.id)::int4
          + (select count(*) from user_identities i where i.user_id = u.id)::int4
     from users u where u.id = $1";

/// The answer when a removal would leave the account without any way to sign in.
pub fn last_way_refused() -> ApiError {
    ApiError::Conflict(
        "This is the account's last way to sign in; add a password, a passkey or another provider before removing it"
            .to_owned(),
    )
}

/// Runs `delete` (a statement that removes one way to sign in of `user_id` and reports the rows
/// it removed) unless it would remove the account's last one. In one transaction that first locks
/// the account's row: of two removals racing for the last two ways, the second counts after the
/// first committed and is refused. Returns whether `delete` removed anything.
pub async fn remove_unless_last(
    state: &AuthState,
    user_id: Uuid,
    delete: &str,
    params: &[Param<'_>],
) -> Result<bool> {
    let transaction = state.db.begin().await?;
    let user = || -> Param<'_> { (&user_id, tokio_postgres::types::Type::UUID) };
    // Read committed: the count below runs after the lock is held, so it sees every removal that
    // committed before it.
    let Some(_) = transaction
        .query_opt("select 1 from users where id = $1 for update", &[user()])
        .await?
    else {
        transaction.rollback().await;
        return Ok(false);
    };
    let before: i32 = transaction.query_one(COUNT_SQL, &[user()]).await?.get(0);
    let removed = transaction.execute(delete, params).await?;
    if removed == 0 {
        transaction.rollback().await;
        return Ok(false);
    }
    if i64::from(before) - i64::try_from(removed).unwrap_or(i64::MAX) < 1 {
        transaction.rollback().await;
        return Err(last_way_refused());
    }
    transaction.commit().await?;
    Ok(true)
}
