//! Registration and the caller's own account: `/auth/register`, `/users/me`, `/welcome`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::auth::{Principal, User, USER_COLUMNS};
use shared::error::{ApiError, FieldError, Result};
use shared::http::{present_or_null, Json, SourceIp};
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use super::{collect, reject_invalid};
use crate::domain::{DisplayName, Email, Password};
use crate::password::Verified;
use crate::throttle;
use crate::AuthState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// Unique, ignoring case.
    #[schema(format = "email", max_length = 254, example = "ada@example.com")]
    email: String,
    /// 8 to 128 characters (the minimum is `PASSWORD_MIN_LENGTH`), not one of the most common passwords.
    #[schema(
        min_length = 8,
        max_length = 128,
        example = "correct horse battery staple"
    )]
    password: String,
    /// 1 to 100 characters once trimmed, no control characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "Ada Lovelace"
    )]
    name: Option<String>,
}

/// Creates an account. The source address may register 10 accounts an hour.
#[utoipa::path(post, path = "/auth/register", operation_id = "registerUser", tag = "auth", request_body = RegisterBody,
    responses(
        (status = 201, description = "The new user", body = User,
         headers(("Location" = String, description = "`/users/me`"))),
        (status = 409, description = "Email already registered"),
        (status = 429, description = "Too many registrations from this address"),
    ))]
pub async fn register(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    Json(body): Json<RegisterBody>,
) -> Result<Response> {
    let mut errors = Vec::new();
    let email = collect(Email::parse(&body.email, "email"), &mut errors);
    let password = collect(
        Password::parse(&body.password, state.settings.password_policy, "password"),
        &mut errors,
    );
    let name = match body.name.as_deref() {
        Some(raw) => collect(DisplayName::parse(raw), &mut errors),
        None => None,
    };
    reject_invalid(errors)?;
    let (Some(email), Some(password)) = (email, password) else {
        unreachable!("no errors means both parsed");
    };

    if let Some(ip) = &ip {
        let key = throttle::registration_key(ip);
        throttle::count_attempt(&state.db, key, state.settings.registration_policy).await?;
    }

    let hash = state.hasher.hash(password.expose()).await?;
    let make_admin = state.settings.admin_email_key.as_deref() == Some(email.key());
    let row = state
        .db
        .query_one(
            &format!(
                "insert into users (email, email_key, name, password_hash, role)
                 values ($1, $5, $2, $3,
                         case when $4 and not exists (select 1 from users where role = 'admin')
                              then 'admin' else 'user' end)
                 returning {USER_COLUMNS}"
            ),
            &[
                (&email.as_str(), Type::TEXT),
                (&name.as_ref().map(DisplayName::as_str), Type::TEXT),
                (&hash, Type::TEXT),
                (&make_admin, Type::BOOL),
                (&email.key(), Type::TEXT),
            ],
        )
        .await
        .map_err(email_taken_is_conflict)?;
    let user = User::from_row(&row);
    tracing::info!(user_id = %user.id, role = %user.role, "user registered");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, "/users/me")],
        axum::Json(user),
    )
        .into_response())
}

/// SQLSTATE 23505 on the case-insensitive email index is a 409, decided by the database at insert
/// or update time (no check-then-write race).
fn email_taken_is_conflict(error: shared::db::DbError) -> ApiError {
    if error.is_unique_violation("users_email_key") {
        ApiError::Conflict("Email already registered".to_owned())
    } else {
        error.into()
    }
}

/// The caller's account.
#[utoipa::path(get, path = "/users/me", operation_id = "getCurrentUser", tag = "users", security(("bearer" = []), ("oauth2_password" = [])),
    responses((status = 200, description = "The caller", body = User)))]
pub async fn me(principal: Principal) -> axum::Json<User> {
    axum::Json(principal.user)
}

#[derive(Serialize, ToSchema)]
pub struct Welcome {
    #[schema(example = "Welcome, Ada Lovelace!")]
    message: String,
    #[serde(with = "time::serde::rfc3339::option")]
    last_login_at: Option<time::OffsetDateTime>,
}

/// A greeting for the caller (the seed backends' protected example route).
#[utoipa::path(get, path = "/welcome", operation_id = "getWelcome", tag = "users", security(("bearer" = []), ("oauth2_password" = [])),
    responses((status = 200, description = "Greeting", body = Welcome)))]
pub async fn welcome(principal: Principal) -> axum::Json<Welcome> {
    let user = principal.user;
    let who = user.name.clone().unwrap_or_else(|| user.email.clone());
    axum::Json(Welcome {
        message: format!("Welcome, {who}!"),
        last_login_at: user.last_login_at,
    })
}

/// Only the fields present change; `name: null` clears the name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeBody {
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    name: Option<Option<String>>,
    #[serde(default)]
    #[schema(format = "email", max_length = 254)]
    email: Option<String>,
    /// A new password; ends every other session.
    #[serde(default)]
    #[schema(min_length = 8, max_length = 128)]
    password: Option<String>,
    /// Required to change `email` or `password`.
    #[serde(default)]
    current_password: Option<String>,
}

/// Checks the caller's current password; a wrong one is a 422 on `current_password`.
async fn require_current_password(
    state: &AuthState,
    principal: &Principal,
    given: Option<&str>,
) -> Result<()> {
    let Some(given) = given else {
        return Err(ApiError::invalid_field(FieldError::body(
            "current_password",
            "Current password is required to change email or password, or to delete the account",
            "missing",
        )));
    };
    let stored: String = state
        .db
        .query_one(
            "select password_hash from users where id = $1",
            &[(&principal.user.id, Type::UUID)],
        )
        .await?
        .get(0);
    match state.hasher.verify(given, Some(stored)).await? {
        Verified::Match { .. } => Ok(()),
        Verified::Mismatch => Err(ApiError::invalid_field(FieldError::body(
            "current_password",
            "Current password is incorrect",
            "value_error",
        ))),
    }
}

/// Changes the caller's name, email or password.
#[utoipa::path(patch, path = "/users/me", operation_id = "updateCurrentUser", tag = "users", security(("bearer" = []), ("oauth2_password" = [])), request_body = UpdateMeBody,
    responses(
        (status = 200, description = "The updated user", body = User),
        (status = 409, description = "Email already registered"),
    ))]
pub async fn update_me(
    State(state): State<AuthState>,
    principal: Principal,
    Json(body): Json<UpdateMeBody>,
) -> Result<axum::Json<User>> {
    let mut errors = Vec::new();
    let name = match &body.name {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => collect(DisplayName::parse(raw), &mut errors).map(Some),
    };
    let email = match &body.email {
        Some(raw) => collect(Email::parse(raw, "email"), &mut errors),
        None => None,
    };
    let password = match &body.password {
        Some(raw) => collect(
            Password::parse(raw, state.settings.password_policy, "password"),
            &mut errors,
        ),
        None => None,
    };
    reject_invalid(errors)?;
    if email.is_some() || password.is_some() {
        require_current_password(&state, &principal, body.current_password.as_deref()).await?;
    }
    let hash = match &password {
        Some(password) => Some(state.hasher.hash(password.expose()).await?),
        None => None,
    };
    let (set_name, new_name) = match &name {
        Some(name) => (true, name.as_ref().map(|n| n.as_str().to_owned())),
        None => (false, None),
    };
    let credentials_changed = hash.is_some() || email.is_some();
    // One statement: the update, and after a password or email change the credential rule
    // (migrations/0009): every other session ends and every outstanding reset link dies.
    let row = state
        .db
        .query_one(
            &format!(
                "with updated as (
                    update users
                       set name = case when $2 then $3 else name end,
                           email = coalesce($4, email),
                           email_key = coalesce($8, email_key),
                           password_hash = coalesce($5, password_hash),
                           updated_at = now()
                     where id = $1
                    returning {USER_COLUMNS}
                 )
                 select updated.*, case when $6 then end_user_credentials($1, $7) end
                   from updated"
            ),
            &[
                (&principal.user.id, Type::UUID),
                (&set_name, Type::BOOL),
                (&new_name, Type::TEXT),
                (&email.as_ref().map(Email::as_str), Type::TEXT),
                (&hash, Type::TEXT),
                (&credentials_changed, Type::BOOL),
                (&principal.session_id, Type::UUID),
                (&email.as_ref().map(Email::key), Type::TEXT),
            ],
        )
        .await
        .map_err(email_taken_is_conflict)?;
    if credentials_changed {
        tracing::info!(user_id = %principal.user.id, "email or password changed; other sessions and reset links ended");
    }
    Ok(axum::Json(User::from_row(&row)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMeBody {
    current_password: String,
}

/// Deletes the caller's account, its sessions and its tasks.
#[utoipa::path(delete, path = "/users/me", operation_id = "deleteCurrentUser", tag = "users", security(("bearer" = []), ("oauth2_password" = [])), request_body = DeleteMeBody,
    responses((status = 204, description = "Deleted")))]
pub async fn delete_me(
    State(state): State<AuthState>,
    principal: Principal,
    Json(body): Json<DeleteMeBody>,
) -> Result<StatusCode> {
    require_current_password(&state, &principal, Some(&body.current_password)).await?;
    // Tasks are keyed by the subject string, not a foreign key; sessions, refresh and reset tokens
    // cascade from the user row.
    state
        .db
        .execute(
            "with tasks_gone as (delete from tasks where user_id = $1::uuid::text)
             delete from users where id = $1",
            &[(&principal.user.id, Type::UUID)],
        )
        .await?;
    tracing::info!(user_id = %principal.user.id, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}
