//! Email verification: a single-use link (24 hours) is mailed at registration, after an email
//! change (to the new address) and on request; `/auth/verify-email` follows it. Verification is
//! what makes `ADMIN_EMAIL` an admin and, with `REQUIRE_VERIFIED_EMAIL`, what sign-in waits for.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use shared::error::{ApiError, ErrorChain, FieldError, Result};
use shared::http::{Json, SourceIp};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::reset::Accepted;
use super::{answer_at_fixed_time, email_taken_is_conflict, link_with_token};
use crate::domain::Email;
use crate::secrets::{new_token, token_hash};
use crate::security_log::{Event, Origin};
use crate::state::AuthState;
use crate::throttle;

pub const VERIFICATION_TOKEN_HOURS: i32 = 24;

/// Stores a new verification token for `email_key` and mails its link to `to`. A failed send is
/// logged, never the caller's error: the user can ask for another link.
pub(crate) async fn send_link(
    state: &AuthState,
    user_id: Uuid,
    to: &str,
    email_key: &str,
) -> Result<()> {
    let (token, hash) = new_token();
    state
        .db
        .execute(
            "insert into email_verification_tokens (token_hash, user_id, email_key, expires_at)
             values ($1, $2, $3, now() + make_interval(hours => $4))",
            &[
                (&hash, Type::BYTEA),
                (&user_id, Type::UUID),
                (&email_key, Type::TEXT),
                (&VERIFICATION_TOKEN_HOURS, Type::INT4),
            ],
        )
        .await?;
    mail_link(state, to, &token).await;
    Ok(())
}

/// Mails the verification link for `token` to `to`.
pub(crate) async fn mail_link(state: &AuthState, to: &str, token: &str) {
    let link = link_with_token(&state.settings.email_verification_url, token);
    if let Err(error) = state.mailer.send_email_verification(to, &link).await {
        tracing::error!(error = %ErrorChain(&error), "verification mail could not be sent");
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The token from the mailed link.
    token: String,
}

/// Marks the address the link was mailed to as verified; for a pending email change, that
/// address becomes the account's address. The token is spent.
#[utoipa::path(post, path = "/auth/verify-email", tag = "auth", operation_id = "verifyEmail",
    request_body = VerifyBody,
    responses(
        (status = 200, description = "Address verified", body = Accepted),
        (status = 409, description = "The new address was registered by another account meanwhile"),
    ))]
pub async fn verify_email(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    Json(body): Json<VerifyBody>,
) -> Result<axum::Json<Accepted>> {
    let invalid = || {
        ApiError::invalid_field(FieldError::body(
            "token",
            "Invalid or expired verification token",
            "value_error",
        ))
    };
    if body.token.is_empty() || body.token.len() > 256 {
        return Err(invalid());
    }
    // One statement: spend the token and record the proof (migrations/0010), which also makes a
    // pending address the account's and grants the first admin to ADMIN_EMAIL's owner.
    let verified = state
        .db
        .query_opt(
            "with spent as (
                update email_verification_tokens t set used_at = now()
                  from users u
                 where t.token_hash = $1 and t.used_at is null and t.expires_at > now()
                   and u.id = t.user_id and not u.disabled
                returning t.user_id, t.email_key
             )
             select user_id, record_email_verified(user_id, email_key, $2) from spent",
            &[
                (&token_hash(&body.token), Type::BYTEA),
                (&state.settings.admin_email_key, Type::TEXT),
            ],
        )
        .await
        .map_err(email_taken_is_conflict)?;
    let Some(row) = verified else {
        return Err(invalid());
    };
    let (user_id, role): (Uuid, Option<String>) = (row.get(0), row.get(1));
    // No role: the address the link proves is no longer the account's (nor pending).
    let Some(role) = role else {
        return Err(invalid());
    };
    tracing::info!(%user_id, %role, "email address verified");
    let origin = Origin::new(ip.as_deref(), &headers);
    state
        .log_event(user_id, &origin, None, Event::EmailVerified)
        .await;
    Ok(axum::Json(Accepted {
        detail: "Email address verified",
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendBody {
    #[schema(format = "email", max_length = 254, example = "ada@example.com")]
    email: String,
}

/// Mails a new verification link if the address belongs to an account and is not verified yet
/// (or is an account's pending new address). The answer is the same, at the same time, either way.
#[utoipa::path(post, path = "/auth/verify-email/resend", tag = "auth",
    operation_id = "resendEmailVerification", request_body = ResendBody,
    responses(
        (status = 202, description = "Accepted; a link is mailed if the address awaits verification", body = Accepted),
        (status = 429, description = "Too many requests from this address"),
    ))]
pub async fn resend(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    Json(body): Json<ResendBody>,
) -> Result<(StatusCode, axum::Json<Accepted>)> {
    let started = tokio::time::Instant::now();
    let email = Email::parse(&body.email, "email").map_err(ApiError::invalid_field)?;
    if let Some(ip) = &ip {
        let key = format!("verify:{ip}");
        throttle::count_attempt(&state.db, key, state.settings.registration_policy).await?;
    }
    let (token, hash) = new_token();
    let recipients = state
        .db
        .query(
            "insert into email_verification_tokens (token_hash, user_id, email_key, expires_at)
             select $1, id, $2, now() + make_interval(hours => $3)
               from users
              where not disabled
                and ((email_key = $2 and email_verified_at is null) or pending_email_key = $2)
              limit 1
             returning (select case when u.email_key = $2 then u.email else u.pending_email end
                          from users u where u.id = user_id)",
            &[
                (&hash, Type::BYTEA),
                (&email.key(), Type::TEXT),
                (&VERIFICATION_TOKEN_HOURS, Type::INT4),
            ],
        )
        .await?;
    for row in &recipients {
        let to: String = row.get(0);
        mail_link(&state, &to, &token).await;
    }
    answer_at_fixed_time(started, &state).await;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Accepted {
            detail: "If that address awaits verification, a new link has been sent",
        }),
    ))
}
