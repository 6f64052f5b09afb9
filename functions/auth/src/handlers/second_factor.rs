//! The caller's second factor: `/users/me/second-factor` (status, removal), enrolment and
//! activation of a TOTP authenticator, step-up (`verify`) and new recovery codes. The rules are in
//! [`crate::second_factor`]; these handlers only join them to HTTP.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use shared::error::{ApiError, FieldError, Result};
use shared::http::{Json, SourceIp};
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use super::account::require_current_password;
use super::account_activity::user_id;
use super::admin::Admin;
use super::NoStore;
use crate::password_gate::PasswordGate;
use crate::second_factor::{self, recovery, totp, Proof, Stage};
use crate::security_log::{Event, Origin};
use crate::state::AuthState;
use crate::users::Principal;

/// The caller's second factor.
#[derive(Serialize, ToSchema)]
pub struct SecondFactorStatus {
    /// A TOTP authenticator is active: sign-in takes two steps.
    totp_active: bool,
    /// One was enrolled and awaits its first code.
    totp_pending: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    activated_at: Option<time::OffsetDateTime>,
    /// Unused recovery codes.
    recovery_codes_left: i64,
    /// Whether this session proved the factor recently enough for a sensitive change.
    step_up_fresh: bool,
}

/// Whether the caller has a second factor, and how many recovery codes are left.
#[utoipa::path(get, path = "/users/me/second-factor", operation_id = "getSecondFactor", tag = "second factor", security(("bearer" = []), ("oauth2_password" = [])),
    responses((status = 200, description = "The caller's second factor", body = SecondFactorStatus)))]
pub async fn status(
    State(state): State<AuthState>,
    principal: Principal,
) -> Result<axum::Json<SecondFactorStatus>> {
    let max_age = state.settings.step_up_max_age.as_secs_f64();
    let row = state
        .db
        .query_one(
            "select f.activated_at is not null, f.user_id is not null and f.activated_at is null,
                    f.activated_at,
                    (select count(*) from recovery_codes r where r.user_id = $1 and r.used_at is null),
                    coalesce((select s.second_factor_at > now() - make_interval(secs => $3)
                                from sessions s where s.id = $2), false)
               from (select 1) as one
               left join second_factors f on f.user_id = $1",
            &[
                (&principal.user.id, Type::UUID),
                (&principal.session_id, Type::UUID),
                (&max_age, Type::FLOAT8),
            ],
        )
        .await?;
    Ok(axum::Json(SecondFactorStatus {
        totp_active: row.get::<_, Option<bool>>(0).unwrap_or(false),
        totp_pending: row.get::<_, Option<bool>>(1).unwrap_or(false),
        activated_at: row.get(2),
        recovery_codes_left: row.get(3),
        step_up_fresh: row.get(4),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CurrentPasswordBody {
    current_password: String,
}

/// A TOTP authenticator to add: shown once, never returned again.
#[derive(Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// The secret in base32, for typing into an app by hand.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    secret: String,
    /// The Key Uri Format URI an app reads from a QR code (render it on the client).
    #[schema(
        example = "otpauth://totp/Tasks%20API:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Tasks%20API&algorithm=SHA1&digits=6&period=30"
    )]
    otpauth_uri: String,
    #[schema(example = "SHA1")]
    algorithm: &'static str,
    #[schema(example = 6)]
    digits: usize,
    #[schema(example = 30)]
    period: u64,
}

/// Starts adding a TOTP authenticator (with the current password): answers its secret and
/// `otpauth://` URI. It guards nothing until one of its codes is sent to `.../totp/activate`.
/// Starting again replaces a pending one; an active one must be removed first (409).
#[utoipa::path(post, path = "/users/me/second-factor/totp", operation_id = "enrolTotp", tag = "second factor", security(("bearer" = []), ("oauth2_password" = [])), request_body = CurrentPasswordBody,
    responses(
        (status = 201, description = "Enrolled, pending activation", body = TotpEnrolment,
         headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 409, description = "A second factor is already active"),
        (status = 422, description = "Current password missing or incorrect"),
        (status = 429, description = "Too many failed password checks; wait `Retry-After` seconds"),
    ))]
pub async fn enrol(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    principal: Principal,
    Json(body): Json<CurrentPasswordBody>,
) -> Result<(StatusCode, NoStore<TotpEnrolment>)> {
    let key = second_factor::sealing_key(&state)?;
    let origin = Origin::new(ip.as_deref(), &headers);
    require_current_password(&state, &principal, &origin, Some(&body.current_password)).await?;
    let user_id = principal.user.id;
    let mut secret = [0u8; totp::SECRET_BYTES];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
    let sealed = key.seal(user_id, &secret)?;
    let stored = state
        .db
        .execute(
            "insert into second_factors (user_id, sealed_secret) values ($1, $2)
             on conflict (user_id) do update
                set sealed_secret = excluded.sealed_secret, last_used_step = null, created_at = now()
              where second_factors.activated_at is null",
            &[(&user_id, Type::UUID), (&sealed, Type::BYTEA)],
        )
        .await?;
    if stored == 0 {
        return Err(ApiError::Conflict(
            "A second factor is already active; remove it first".to_owned(),
        ));
    }
    let issuer = &state.settings.second_factor_issuer;
    Ok((
        StatusCode::CREATED,
        NoStore(TotpEnrolment {
            secret: totp::base32(&secret),
            otpauth_uri: totp::otpauth_uri(issuer, &principal.user.email, &secret),
            algorithm: "SHA1",
            digits: totp::DIGITS,
            period: totp::STEP_SECONDS,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// The authenticator app's current 6-digit code (spaces allowed); for step-up, an unused
    /// recovery code also works.
    #[schema(max_length = 64, example = "123456")]
    code: String,
}

/// Recovery codes: shown once. Each signs in (or steps up) once in place of a TOTP code.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    #[schema(example = json!(["k7d2q-xm4pa", "..."]))]
    recovery_codes: Vec<String>,
}

/// Activates the pending authenticator with one of its codes. Answers the ten recovery codes
/// (shown once); this session counts as having just proven the factor.
#[utoipa::path(post, path = "/users/me/second-factor/totp/activate", operation_id = "activateTotp", tag = "second factor", security(("bearer" = []), ("oauth2_password" = [])), request_body = CodeBody,
    responses(
        (status = 200, description = "Active; the recovery codes", body = RecoveryCodes,
         headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 404, description = "No authenticator awaits activation"),
        (status = 422, description = "Not a code, or a wrong one"),
        (status = 429, description = "Too many wrong codes; wait `Retry-After` seconds"),
    ))]
pub async fn activate(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    principal: Principal,
    Json(body): Json<CodeBody>,
) -> Result<NoStore<RecoveryCodes>> {
    let origin = Origin::new(ip.as_deref(), &headers);
    let user_id = principal.user.id;
    prove_code(
        &state,
        user_id,
        &origin,
        &body.code,
        "activation",
        Stage::Pending,
    )
    .await?;
    let (codes, hashes) = recovery::new_set();
    // One statement: active, its codes, and this session stepped up.
    state
        .db
        .execute(
            "with active as (
                update second_factors set activated_at = now()
                 where user_id = $1 and activated_at is null
             ), cleared as (
                delete from recovery_codes where user_id = $1
             ), codes as (
                insert into recovery_codes (user_id, code_hash) select $1, unnest($2::bytea[])
             )
             update sessions set second_factor_at = now(), amr = array[amr[1]] || $4
              where id = $3",
            &[
                (&user_id, Type::UUID),
                (&hashes, Type::BYTEA_ARRAY),
                (&principal.session_id, Type::UUID),
                (&Proof::Totp.added_methods(), Type::TEXT_ARRAY),
            ],
        )
        .await?;
    let session = Some(principal.session_id);
    state
        .log_event(user_id, &origin, session, Event::SecondFactorEnrolled)
        .await;
    Ok(NoStore(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// Checks the signed-in caller's `code` against their factor at `stage` (404 when there is none
/// at that stage), through the password gate; a wrong code is a 422 on `code`.
async fn prove_code(
    state: &AuthState,
    user_id: uuid::Uuid,
    origin: &Origin,
    code: &str,
    via: &'static str,
    stage: Stage,
) -> Result<Proof> {
    let factor = state
        .db
        .query_opt(
            "select u.email_key from second_factors f join users u on u.id = f.user_id
              where f.user_id = $1 and (f.activated_at is not null) = $2",
            &[
                (&user_id, Type::UUID),
                (&(stage == Stage::Active), Type::BOOL),
            ],
        )
        .await?
        .ok_or_else(|| {
            ApiError::not_found(match stage {
                Stage::Pending => "No authenticator awaits activation; enrol one first",
                Stage::Active => "No active second factor",
            })
        })?;
    let email_key: String = factor.get(0);
    let gate = PasswordGate::new(state, &email_key, origin, "second_factor");
    second_factor::prove(state, &gate, user_id, code, "code", via, stage)
        .await?
        .ok_or_else(|| {
            ApiError::invalid_field(FieldError::body("code", "Code is incorrect", "value_error"))
        })
}

/// Step-up: proves the second factor in this session (a TOTP code or a recovery code), so that
/// for `SECOND_FACTOR_MAX_AGE_SECONDS` it may change its email or password, delete the account,
/// remove the factor or get new recovery codes. The session's next tokens (at refresh) say `aal2`.
#[utoipa::path(post, path = "/users/me/second-factor/verify", operation_id = "stepUp", tag = "second factor", security(("bearer" = []), ("oauth2_password" = [])), request_body = CodeBody,
    responses(
        (status = 204, description = "Proven"),
        (status = 404, description = "No active second factor"),
        (status = 422, description = "Not a code, or a wrong one"),
        (status = 429, description = "Too many wrong codes; wait `Retry-After` seconds"),
    ))]
pub async fn verify(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    principal: Principal,
    Json(body): Json<CodeBody>,
) -> Result<StatusCode> {
    let origin = Origin::new(ip.as_deref(), &headers);
    let user_id = principal.user.id;
    let proof = prove_code(
        &state,
        user_id,
        &origin,
        &body.code,
        "step_up",
        Stage::Active,
    )
    .await?;
    second_factor::mark_session(&state, principal.session_id, proof).await?;
    let session = Some(principal.session_id);
    let email = &principal.user.email;
    second_factor::record_proof(&state, user_id, email, &origin, session, proof, "step_up").await;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the second factor and its recovery codes. Needs the current password and, while the
/// factor is active, a step-up within `SECOND_FACTOR_MAX_AGE_SECONDS` (401 `step-up-required`).
#[utoipa::path(delete, path = "/users/me/second-factor", operation_id = "removeSecondFactor", tag = "second factor", security(("bearer" = []), ("oauth2_password" = [])), request_body = CurrentPasswordBody,
    responses(
        (status = 204, description = "Removed: sign-in takes one step again"),
        (status = 401, description = "Step-up required (`WWW-Authenticate: Bearer error=\"insufficient_user_authentication\"`), or not signed in"),
        (status = 404, description = "No second factor"),
        (status = 422, description = "Current password missing or incorrect"),
        (status = 429, description = "Too many failed password checks for this account or address; wait `Retry-After` seconds"),
    ))]
pub async fn remove(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    principal: Principal,
    Json(body): Json<CurrentPasswordBody>,
) -> Result<StatusCode> {
    let origin = Origin::new(ip.as_deref(), &headers);
    require_current_password(&state, &principal, &origin, Some(&body.current_password)).await?;
    let user_id = principal.user.id;
    remove_factor(&state, user_id).await?;
    let session = Some(principal.session_id);
    let event = Event::SecondFactorRemoved { by: None };
    state.log_event(user_id, &origin, session, event).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes `user_id`'s factor and recovery codes; 404 when there is none.
async fn remove_factor(state: &AuthState, user_id: uuid::Uuid) -> Result<()> {
    let removed = state
        .db
        .execute(
            "with codes as (delete from recovery_codes where user_id = $1)
             delete from second_factors where user_id = $1",
            &[(&user_id, Type::UUID)],
        )
        .await?;
    if removed == 0 {
        return Err(ApiError::not_found("No second factor"));
    }
    Ok(())
}

/// Removes a user's second factor, for a user who lost both the device and the recovery codes
/// (after checking who they are, outside this API). Their sessions end too: whoever signed in
/// as them meanwhile is out. Administrators only; logged in the user's security log with `by`.
#[utoipa::path(delete, path = "/users/{id}/second-factor", operation_id = "removeUserSecondFactor", tag = "admin", security(("bearer" = []), ("oauth2_password" = [])),
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    responses(
        (status = 204, description = "Removed; the user's sessions ended"),
        (status = 403, description = "Administrator role required"),
        (status = 404, description = "No such user, or no second factor"),
    ))]
pub async fn remove_for_admin(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    Admin(admin): Admin,
    Path(raw): Path<String>,
) -> Result<StatusCode> {
    let user_id = user_id(&raw)?;
    remove_factor(&state, user_id).await?;
    state
        .db
        .execute("select end_user_credentials($1)", &[(&user_id, Type::UUID)])
        .await?;
    tracing::info!(admin = %admin.user.id, %user_id, "second factor removed by admin");
    let origin = Origin::new(ip.as_deref(), &headers);
    let event = Event::SecondFactorRemoved {
        by: Some(admin.user.id),
    };
    state.log_event(user_id, &origin, None, event).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the recovery codes with ten new ones (the old ones stop working). Needs a step-up
/// within `SECOND_FACTOR_MAX_AGE_SECONDS`.
#[utoipa::path(post, path = "/users/me/second-factor/recovery-codes", operation_id = "regenerateRecoveryCodes", tag = "second factor", security(("bearer" = []), ("oauth2_password" = [])),
    responses(
        (status = 200, description = "The new codes, shown once", body = RecoveryCodes,
         headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, description = "Step-up required, or not signed in"),
        (status = 404, description = "No active second factor"),
    ))]
pub async fn regenerate_codes(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    principal: Principal,
) -> Result<NoStore<RecoveryCodes>> {
    let user_id = principal.user.id;
    second_factor::require_recent(&state, user_id, principal.session_id).await?;
    let (codes, hashes) = recovery::new_set();
    let replaced = state
        .db
        .execute(
            "with cleared as (
                delete from recovery_codes where user_id = $1
             )
             insert into recovery_codes (user_id, code_hash)
             select $1, unnest($2::bytea[])
              where exists (select 1 from second_factors
                             where user_id = $1 and activated_at is not null)",
            &[(&user_id, Type::UUID), (&hashes, Type::BYTEA_ARRAY)],
        )
        .await?;
    if replaced == 0 {
        return Err(ApiError::not_found("No active second factor"));
    }
    let origin = Origin::new(ip.as_deref(), &headers);
    let session = Some(principal.session_id);
    state
        .log_event(user_id, &origin, session, Event::RecoveryCodesRegenerated)
        .await;
    Ok(NoStore(RecoveryCodes {
        recovery_codes: codes,
    }))
}
