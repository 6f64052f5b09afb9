//! Administration: `GET /users` (paginated) and `PATCH /users/{id}` (role, disabled). Admins only.

use crate::users::{Principal, User};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use shared::error::{ApiError, FieldError, Result};
use shared::http::{Json, Query, SourceIp};
use time::OffsetDateTime;
use tokio_postgres::types::Type;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::Role;
use crate::security_log::{Event, Origin};
use crate::state::AuthState;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

/// The caller of an admin route: an authenticated administrator. As an extractor it runs before
/// the path and the body are read, so a non-admin gets 403 whatever they send, never a 422 that
/// describes the admin schema.
pub struct Admin(pub Principal);

impl axum::extract::FromRequestParts<AuthState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AuthState,
    ) -> Result<Self> {
        let principal = Principal::from_request_parts(parts, state).await?;
        if principal.user.is_admin() {
            Ok(Self(principal))
        } else {
            Err(ApiError::Forbidden(
                "Administrator role required".to_owned(),
            ))
        }
    }
}

/// A user as administrators see it.
#[derive(Serialize, ToSchema)]
pub struct AdminUser {
    #[serde(flatten)]
    user: User,
    /// A disabled user cannot sign in, and their tokens stop working.
    disabled: bool,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 200 (default 50).
    #[serde(default)]
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// From the previous page's `Link: rel="next"`.
    #[serde(default)]
    cursor: Option<String>,
}

/// Opaque page cursor: the (created_at, id) of the last user of the previous page.
fn encode_cursor(created_at: OffsetDateTime, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", created_at.unix_timestamp_nanos()))
}

#[doc(hidden)] // public for the fuzz targets
pub fn decode_cursor(raw: &str) -> Option<(OffsetDateTime, Uuid)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    let (nanos, id) = text.split_once(':')?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
    // Rows are stamped by now(); PostgreSQL refuses years before 4713 BC (a 500).
    if at.year() < 1 {
        return None;
    }
    Some((at, id.parse().ok()?))
}

/// Every user, oldest first, a page at a time. Administrators only.
#[utoipa::path(get, path = "/users", operation_id = "listUsers", tag = "admin", security(("bearer" = []), ("oauth2_password" = [])), params(ListQuery),
    responses(
        (status = 200, description = "One page of users", body = Vec<AdminUser>,
         headers(("X-Total-Count" = i64, description = "Number of users"),
                 ("Link" = String, description = "`rel=\"next\"` URL of the next page, when there is one"))),
        (status = 403, description = "Administrator role required"),
    ))]
pub async fn list_users(
    State(state): State<AuthState>,
    _admin: Admin,
    Query(query): Query<ListQuery>,
) -> Result<Response> {
    let limit = super::page_limit(query.limit.as_deref(), DEFAULT_PAGE, MAX_PAGE)?;
    let after = match query.cursor.as_deref() {
        None => None,
        Some(raw) => Some(decode_cursor(raw).ok_or_else(|| {
            ApiError::invalid_field(FieldError::new(
                &["query", "cursor"],
                "cursor is not valid",
                "value_error",
            ))
        })?),
    };
    let (after_at, after_id) = after.unzip();
    let rows = state
        .db
        .query(
            "select id, email, name, role, created_at, updated_at, last_login_at,
                    email_verified_at, pending_email, disabled,
                    (select count(*) from users) as total
               from users
              where $1::timestamptz is null or (created_at, id) > ($1, $2)
              order by created_at, id
              limit $3",
            &[
                (&after_at, Type::TIMESTAMPTZ),
                (&after_id, Type::UUID),
                (&(limit + 1), Type::INT8),
            ],
        )
        .await?;
    let total: i64 = rows.first().map(|row| row.get(10)).unwrap_or(0);
    let has_more = rows.len() as i64 > limit;
    let page: Vec<AdminUser> = rows
        .iter()
        .take(limit as usize)
        .map(|row| AdminUser {
            user: User::from_row(row),
            disabled: row.get(9),
        })
        .collect();
    let mut response = axum::Json(&page).into_response();
    let headers = response.headers_mut();
    headers.insert("x-total-count", HeaderValue::from(total));
    if let (true, Some(last)) = (has_more, page.last()) {
        let link = format!(
            "</users?limit={limit}&cursor={}>; rel=\"next\"",
            encode_cursor(last.user.created_at, last.user.id)
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, value);
        }
    }
    Ok(response)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserBody {
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    disabled: Option<bool>,
}

/// Changes a user's role or disables them. The last administrator cannot be demoted or disabled.
#[utoipa::path(patch, path = "/users/{id}", operation_id = "updateUser", tag = "admin", security(("bearer" = []), ("oauth2_password" = [])), request_body = UpdateUserBody,
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    responses(
        (status = 200, description = "The updated user", body = AdminUser),
        (status = 403, description = "Administrator role required"),
        (status = 404, description = "User not found"),
        (status = 409, description = "That would leave no administrator"),
    ))]
pub async fn update_user(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    Admin(principal): Admin,
    Path(id): Path<String>,
    Json(body): Json<UpdateUserBody>,
) -> Result<axum::Json<AdminUser>> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::not_found("User not found"))?;
    let role = body.role.map(Role::as_str);
    // A transaction under an advisory lock, so two admins demoting each other at once cannot leave
    // the service with no admin; each statement sees the other's committed change.
    let mut client = state.db.client().await?;
    let transaction = client
        .transaction()
        .await
        .map_err(shared::db::DbError::Query)?;
    transaction
        .execute_typed("select pg_advisory_xact_lock(7461737)", &[])
        .await
        .map_err(shared::db::DbError::Query)?;
    let row = transaction
        .query_typed(
            "with target as (select id, role, disabled from users where id = $1),
                  others as (select count(*) as n from users where id <> $1 and role = 'admin' and not disabled)
             update users u
                set role = coalesce($2, u.role),
                    disabled = coalesce($3, u.disabled),
                    updated_at = now()
               from target, others
              where u.id = target.id
                and (coalesce($2, target.role) = 'admin' and not coalesce($3, target.disabled)
                     or not (target.role = 'admin' and not target.disabled)
                     or others.n > 0)
             returning u.id, u.email, u.name, u.role, u.created_at, u.updated_at, u.last_login_at,
                       u.email_verified_at, u.pending_email, u.disabled",
            &[(&id, Type::UUID), (&role, Type::TEXT), (&body.disabled, Type::BOOL)],
        )
        .await
        .map_err(shared::db::DbError::Query)?;
    let Some(row) = row.first() else {
        let exists = !transaction
            .query_typed("select 1 from users where id = $1", &[(&id, Type::UUID)])
            .await
            .map_err(shared::db::DbError::Query)?
            .is_empty();
        return Err(if exists {
            ApiError::Conflict(
                "The last active administrator cannot be demoted or disabled".to_owned(),
            )
        } else {
            ApiError::not_found("User not found")
        });
    };
    if body.disabled == Some(true) {
        // The credential rule (migrations/0009): sessions end now (tokens already fail the
        // per-request check) and outstanding reset links die with them.
        transaction
            .execute_typed("select end_user_credentials($1)", &[(&id, Type::UUID)])
            .await
            .map_err(shared::db::DbError::Query)?;
    }
    let user = AdminUser {
        user: User::from_row(row),
        disabled: row.get(9),
    };
    transaction
        .commit()
        .await
        .map_err(shared::db::DbError::Query)?;
    tracing::info!(admin = %principal.user.id, user = %id, role = ?role, disabled = ?body.disabled, "user updated by admin");
    let origin = Origin::new(ip.as_deref(), &headers);
    let by = principal.user.id;
    if let Some(role) = role {
        let event = Event::RoleChanged { role, by };
        state.log_event(id, &origin, None, event).await;
    }
    if let Some(disabled) = body.disabled {
        let event = Event::DisabledChanged { disabled, by };
        state.log_event(id, &origin, None, event).await;
    }
    Ok(axum::Json(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap();
        let id = Uuid::new_v4();
        assert_eq!(decode_cursor(&encode_cursor(at, id)), Some((at, id)));
        assert_eq!(decode_cursor("garbage"), None);
    }

    #[test]
    fn cursor_time_before_year_one_is_refused() {
        // Found by fuzzing (path_query): -9999-01-01 went to PostgreSQL: "timestamp out of range".
        let forged = URL_SAFE_NO_PAD.encode(format!("-377705116800000000000:{}", Uuid::nil()));
        assert_eq!(decode_cursor(&forged), None);
    }
}
