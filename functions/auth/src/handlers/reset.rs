//! Password reset: `/auth/password-reset` always answers 202 (no account enumeration) and mails a
//! single-use link valid 15 minutes; `/auth/password-reset/confirm` sets the new password and ends
//! every session.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use shared::error::{ApiError, ErrorChain, FieldError, Result};
use shared::http::{Json, SourceIp};
use tokio_postgres::types::Type;

use super::{answer_at_fixed_time, link_with_token};
use crate::domain::{Email, Password};
use crate::secrets::{new_token, token_hash};
use crate::security_log::{Event, Origin};
use crate::state::AuthState;
use crate::throttle;

pub const RESET_TOKEN_MINUTES: f64 = 15.0;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    #[schema(value_type = String)]
    pub(crate) detail: &'static str,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    #[schema(format = "email", max_length = 254, example = "ada@example.com")]
    email: String,
}

/// Mails a single-use reset link (valid 15 minutes) if the account exists. The answer is the same
/// either way, so it does not reveal which accounts exist.
#[utoipa::path(post, path = "/auth/password-reset", operation_id = "requestPasswordReset", tag = "auth", request_body = RequestBody,
    responses(
        (status = 202, description = "Accepted; a link is mailed if the account exists", body = Accepted),
        (status = 429, description = "Too many reset requests from this address"),
    ))]

pub async fn request(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    Json(body): Json<RequestBody>,
) -> Result<(StatusCode, axum::Json<Accepted>)> {
    let started = tokio::time::Instant::now();
    let email = Email::parse(&body.email, "email").map_err(ApiError::invalid_field)?;
    if let Some(ip) = &ip {
        // Reset mails are throttled per address like registrations, so the endpoint cannot be used
        // to flood someone's inbox.
        let key = format!("reset:{ip}");
        throttle::count_attempt(&state.db, key, state.settings.registration_policy).await?;
    }
    let (token, hash) = new_token();
    let recipient = state
        .db
        .query_opt(
            "insert into password_reset_tokens (token_hash, user_id, expires_at)
             select $1, id, now() + make_interval(mins => $3)
               from users where email_key = $2 and not disabled
             returning (select email from users where id = user_id), user_id",
            &[
                (&hash, Type::BYTEA),
                (&email.key(), Type::TEXT),
                (&(RESET_TOKEN_MINUTES as i32), Type::INT4),
            ],
        )
        .await?;
    if let Some(row) = recipient {
        let to: String = row.get(0);
        let origin = Origin::new(ip.as_deref(), &headers);
        state
            .log_event(row.get(1), &origin, None, Event::ResetRequested)
            .await;
        let link = link_with_token(&state.settings.password_reset_url, &token);
        if let Err(error) = state.mailer.send_password_reset(&to, &link).await {
            // Still 202: the answer must not depend on whether the account exists.
            tracing::error!(error = %ErrorChain(&error), "password reset mail could not be sent");
        }
    }
    // Known and unknown addresses answer at the same moment: the statement above is the same
    // either way, and the mail, sent only for a known one, is hidden under the answer time.
    answer_at_fixed_time(started, &state).await;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Accepted {
            detail: "If that address is registered, a password reset link has been sent",
        }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// The token from the mailed link.
    token: String,
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

/// Sets a new password with a reset token; the token is spent and every session ends.
#[utoipa::path(post, path = "/auth/password-reset/confirm", operation_id = "confirmPasswordReset", tag = "auth", request_body = ConfirmBody,
    responses((status = 200, description = "Password changed", body = Accepted)))]

pub async fn confirm(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    Json(body): Json<ConfirmBody>,
) -> Result<axum::Json<Accepted>> {
    let password = Password::parse(
        &body.new_password,
        state.settings.password_policy,
        "new_password",
    )
    .map_err(ApiError::invalid_field)?;
    let invalid = || {
        ApiError::invalid_field(FieldError::body(
            "token",
            "Invalid or expired reset token",
            "value_error",
        ))
    };
    if body.token.is_empty() || body.token.len() > 256 {
        return Err(invalid());
    }
    let hashed_token = token_hash(&body.token);
    // Hashing costs tens of milliseconds of CPU and 19 MiB: only for a token that can be spent,
    // so guessed tokens cannot make the function hash on demand. The statement below checks again,
    // so a token spent in between still fails cleanly.
    let live = state
        .db
        .query_opt(
            "select 1 from password_reset_tokens
              where token_hash = $1 and used_at is null and expires_at > now()",
            &[(&hashed_token, Type::BYTEA)],
        )
        .await?;
    if live.is_none() {
        return Err(invalid());
    }
    let hash = state.hasher.hash(password.expose()).await?;
    // One statement: spend the token, set the password, clear the account lock, and (the
    // credential rule, migrations/0009) end every session and spend every other link. The link
    // was mailed to the address, so following it proves the mailbox: the address is verified
    // (migrations/0010).
    let reset = state
        .db
        .query_opt(
            "with spent as (
                update password_reset_tokens set used_at = now()
                 where token_hash = $1 and used_at is null and expires_at > now()
                returning user_id
             ), changed as (
                update users set password_hash = $2, updated_at = now()
                 where id = (select user_id from spent) and not disabled
                returning id, email_key
             ), unlocked as (
                delete from login_throttle
                 where key = 'account:' || (select email_key from changed)
             )
             select id, end_user_credentials(id), record_email_verified(id, email_key, $3)
               from changed",
            &[
                (&hashed_token, Type::BYTEA),
                (&hash, Type::TEXT),
                (&state.settings.admin_email_key, Type::TEXT),
            ],
        )
        .await?;
    let Some(row) = reset else {
        return Err(invalid());
    };
    let user_id: uuid::Uuid = row.get(0);
    tracing::info!(%user_id, "password reset; every session ended");
    let origin = Origin::new(ip.as_deref(), &headers);
    state
        .log_event(user_id, &origin, None, Event::ResetCompleted)
        .await;
    Ok(axum::Json(Accepted {
        detail: "Password has been reset; sign in with the new password",
    }))
}
