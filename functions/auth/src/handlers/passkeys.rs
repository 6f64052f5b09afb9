//! Passkeys: add one while signed in (`/users/me/passkeys/registration`, then `/users/me/passkeys`),
//! list and remove them, and sign in with one (`/auth/passkey/options`, then `/auth/passkey`),
//! with or without an email. The ceremonies and the relying party are in [`crate::passkeys`].

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shared::error::{ApiError, FieldError, Result};
use shared::http::{Json, SourceIp};
use tokio_postgres::types::Type;
use utoipa::ToSchema;
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, WebauthnError,
};

use super::account::require_current_password;
use super::session::{finish_sign_in, require_verified, NewSession, TokenPair};
use super::NoStore;
use crate::domain::Email;
use crate::passkeys::{self, relying_party_of, Kind, MAX_NAME_CHARS};
use crate::password_gate::PasswordGate;
use crate::second_factor;
use crate::security_log::{Event, Origin};
use crate::sign_in_methods::remove_unless_last;
use crate::state::AuthState;
use crate::throttle;
use crate::users::Principal;

/// Passkeys one account may hold.
const MAX_PASSKEYS: i64 = 20;
/// RFC 8176 methods of a passkey sign-in: proof of possession of a (hardware-held) key, unlocked
/// by the user (user verification is required), so multi-factor (`mfa`, so `aal2`).
const PASSKEY_AMR: [&str; 4] = ["pop", "hwk", "user", "mfa"];
/// The one answer to every refused passkey sign-in: it does not tell which check failed.
const REFUSED: &str = "Passkey not accepted";

/// Options for `navigator.credentials.create()` or `.get()`, and the ceremony to send back.
#[derive(Serialize, ToSchema)]
pub struct PasskeyOptions {
    /// Send it back with the authenticator's answer; single use, valid five minutes.
    ceremony: String,
    /// `{"publicKey": ...}` as WebAuthn's JSON: binary members (`challenge`, `user.id`,
    /// `excludeCredentials[].id`) are base64url; decode them to `ArrayBuffer`s before calling the
    /// browser (`PublicKeyCredential.parseCreationOptionsFromJSON` does it).
    #[schema(value_type = Object)]
    options: Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationOptionsBody {
    /// Required when the account has a password (like enrolling TOTP); an account without one
    /// must have signed in within `SECOND_FACTOR_MAX_AGE_SECONDS` instead.
    #[serde(default)]
    #[schema(max_length = 1024)]
    current_password: Option<String>,
}

/// A passkey as its owner sees it (never its key).
#[derive(Serialize, ToSchema)]
pub struct PasskeyInfo {
    id: Uuid,
    #[schema(example = "MacBook Touch ID")]
    name: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<time::OffsetDateTime>,
    /// The authenticator says it is synced (backed up) to other devices.
    backed_up: bool,
}

/// Starts adding a passkey: answers the options for `navigator.credentials.create()` and the
/// ceremony to send back with its answer. Needs the current password (when the account has one)
/// and, while a TOTP factor is active, a recent step-up — like enrolling TOTP.
#[utoipa::path(post, path = "/users/me/passkeys/registration", operation_id = "startPasskeyRegistration", tag = "passkeys", security(("bearer" = []), ("oauth2_password" = [])), request_body = RegistrationOptionsBody,
    responses(
        (status = 200, description = "Options for navigator.credentials.create()", body = PasskeyOptions,
         headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, description = "Step-up required, or not signed in"),
        (status = 409, description = "The account already has the most passkeys allowed (20)"),
        (status = 422, description = "Current password missing or incorrect"),
        (status = 429, description = "Too many failed password checks; wait `Retry-After` seconds"),
        (status = 500, description = "Passkeys are not configured (`WEBAUTHN_RP_ID`)"),
    ))]
pub async fn registration_options(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    principal: Principal,
    Json(body): Json<RegistrationOptionsBody>,
) -> Result<NoStore<PasskeyOptions>> {
    let rp = relying_party_of(&state)?;
    let origin = Origin::new(ip.as_deref(), &headers);
    require_current_password(
        &state,
        &principal,
        &origin,
        body.current_password.as_deref(),
    )
    .await?;
    let user = &principal.user;
    let existing = state
        .db
        .query(
            "select passkey from passkeys where user_id = $1",
            &[(&user.id, Type::UUID)],
        )
        .await?;
    if existing.len() as i64 >= MAX_PASSKEYS {
        return Err(ApiError::Conflict(format!(
            "An account holds at most {MAX_PASSKEYS} passkeys; remove one first"
        )));
    }
    let exclude = existing
        .iter()
        .filter_map(|row| serde_json::from_value::<Passkey>(row.get(0)).ok())
        .map(|passkey| passkey.cred_id().clone())
        .collect();
    let display = user.name.as_deref().unwrap_or(&user.email);
    let (options, registration) = rp
        .start_passkey_registration(user.id, &user.email, display, Some(exclude))
        .map_err(internal)?;
    let mut options = serde_json::to_value(options).map_err(internal)?;
    // A passkey is a discoverable credential: it signs in without an email.
    if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
        selection["residentKey"] = json!("required");
        selection["requireResidentKey"] = json!(true);
    }
    let saved = serde_json::to_value(&registration).map_err(internal)?;
    let ceremony = passkeys::open(&state, Kind::Registration, Some(user.id), &saved).await?;
    Ok(NoStore(PasskeyOptions { ceremony, options }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPasskeyBody {
    /// The `ceremony` of the registration options.
    #[schema(max_length = 64)]
    ceremony: String,
    /// `navigator.credentials.create()`'s answer as WebAuthn JSON (`credential.toJSON()`):
    /// `{id, rawId, type, response: {clientDataJSON, attestationObject}}`, binary members
    /// base64url.
    #[schema(value_type = Object)]
    credential: Value,
    /// What to call it (1–64 characters); default `Passkey`.
    #[schema(max_length = 64, example = "MacBook Touch ID")]
    #[serde(default)]
    name: Option<String>,
}

/// Finishes adding a passkey: checks the authenticator's answer against the ceremony (origin,
/// RP id, challenge, user verification) and stores the credential.
#[utoipa::path(post, path = "/users/me/passkeys", operation_id = "addPasskey", tag = "passkeys", security(("bearer" = []), ("oauth2_password" = [])), request_body = AddPasskeyBody,
    responses(
        (status = 201, description = "Added", body = PasskeyInfo),
        (status = 409, description = "This credential is already registered"),
        (status = 422, description = "Bad name, a malformed or refused credential, or an unknown, spent or expired ceremony"),
        (status = 500, description = "Passkeys are not configured (`WEBAUTHN_RP_ID`)"),
    ))]
pub async fn add(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    principal: Principal,
    Json(body): Json<AddPasskeyBody>,
) -> Result<(StatusCode, axum::Json<PasskeyInfo>)> {
    let rp = relying_party_of(&state)?;
    let name = parse_name(body.name.as_deref())?;
    let credential: RegisterPublicKeyCredential = parse_credential(body.credential)?;
    let user_id = principal.user.id;
    let (_, saved) =
        passkeys::spend(&state, &body.ceremony, Kind::Registration, Some(user_id)).await?;
    let registration: PasskeyRegistration = serde_json::from_value(saved).map_err(internal)?;
    let origin = Origin::new(ip.as_deref(), &headers);
    let passkey = match rp.finish_passkey_registration(&credential, &registration) {
        Ok(passkey) => passkey,
        Err(error) => {
            let via = why(&error);
            tracing::info!(%user_id, ?error, "passkey registration refused");
            let event = Event::PasskeyFailed { via };
            state
                .log_event(user_id, &origin, Some(principal.session_id), event)
                .await;
            return Err(ApiError::invalid_field(FieldError::body(
                "credential",
                format!("Passkey not accepted ({via}): try again from this site's page"),
                "value_error",
            )));
        }
    };
    let stored = serde_json::to_value(&passkey).map_err(internal)?;
    let credential_id: &[u8] = passkey.cred_id().as_ref();
    let id = Uuid::new_v4();
    let row = state
        .db
        .query_opt(
            "insert into passkeys (id, user_id, credential_id, passkey, name, sign_count, backed_up)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (credential_id) do nothing
             returning created_at",
            &[
                (&id, Type::UUID),
                (&user_id, Type::UUID),
                (&credential_id, Type::BYTEA),
                (&stored, Type::JSONB),
                (&name, Type::TEXT),
                (&counter_of(&stored), Type::INT8),
                (&backed_up_of(&stored), Type::BOOL),
            ],
        )
        .await?;
    let Some(row) = row else {
        return Err(ApiError::Conflict(
            "This passkey is already registered".to_owned(),
        ));
    };
    let session = Some(principal.session_id);
    state
        .log_event(
            user_id,
            &origin,
            session,
            Event::PasskeyAdded { passkey: id },
        )
        .await;
    let email = &principal.user.email;
    if let Err(error) = state.mailer.send_passkey_added(email, &name).await {
        tracing::warn!(%user_id, error = %error, "passkey notice not sent");
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(PasskeyInfo {
            id,
            name,
            created_at: row.get(0),
            last_used_at: None,
            backed_up: backed_up_of(&stored),
        }),
    ))
}

/// The caller's passkeys, newest first.
#[utoipa::path(get, path = "/users/me/passkeys", operation_id = "listPasskeys", tag = "passkeys", security(("bearer" = []), ("oauth2_password" = [])),
    responses((status = 200, description = "The caller's passkeys", body = Vec<PasskeyInfo>)))]
pub async fn list(
    State(state): State<AuthState>,
    principal: Principal,
) -> Result<axum::Json<Vec<PasskeyInfo>>> {
    let rows = state
        .db
        .query(
            "select id, name, created_at, last_used_at, backed_up from passkeys
              where user_id = $1 order by created_at desc, id",
            &[(&principal.user.id, Type::UUID)],
        )
        .await?;
    Ok(axum::Json(
        rows.iter()
            .map(|row| PasskeyInfo {
                id: row.get(0),
                name: row.get(1),
                created_at: row.get(2),
                last_used_at: row.get(3),
                backed_up: row.get(4),
            })
            .collect(),
    ))
}

/// Removes one of the caller's passkeys; refused (409) when it is the account's last way to sign
/// in. While a TOTP factor is active, needs a recent step-up.
#[utoipa::path(delete, path = "/users/me/passkeys/{id}", operation_id = "removePasskey", tag = "passkeys", security(("bearer" = []), ("oauth2_password" = [])),
    params(("id" = String, Path, description = "The passkey's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Step-up required, or not signed in"),
        (status = 404, description = "No such passkey of the caller"),
        (status = 409, description = "The account's last way to sign in"),
    ))]
pub async fn remove(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<StatusCode> {
    let not_found = || ApiError::not_found("No such passkey");
    let id: Uuid = raw.parse().map_err(|_| not_found())?;
    let user_id = principal.user.id;
    second_factor::require_recent(&state, user_id, principal.session_id).await?;
    let removed = remove_unless_last(
        &state,
        user_id,
        "delete from passkeys where id = $1 and user_id = $2",
        &[(&id, Type::UUID), (&user_id, Type::UUID)],
    )
    .await?;
    if !removed {
        return Err(not_found());
    }
    let origin = Origin::new(ip.as_deref(), &headers);
    let session = Some(principal.session_id);
    state
        .log_event(
            user_id,
            &origin,
            session,
            Event::PasskeyRemoved { passkey: id },
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInOptionsBody {
    /// Optional: the account to sign in to. The answer looks the same whether or not it has an
    /// account or passkeys; the ceremony then only accepts a passkey of that account.
    #[serde(default)]
    #[schema(format = "email", max_length = 254, example = "ada@example.com")]
    email: Option<String>,
}

/// Starts a passkey sign-in: answers the options for `navigator.credentials.get()` (no
/// `allowCredentials`: the browser offers the passkeys it holds for this site) and the ceremony.
#[utoipa::path(post, path = "/auth/passkey/options", operation_id = "passkeySignInOptions", tag = "auth", request_body = SignInOptionsBody,
    responses(
        (status = 200, description = "Options for navigator.credentials.get()", body = PasskeyOptions,
         headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 422, description = "Not an email address"),
        (status = 500, description = "Passkeys are not configured (`WEBAUTHN_RP_ID`)"),
    ))]
pub async fn sign_in_options(
    State(state): State<AuthState>,
    Json(body): Json<SignInOptionsBody>,
) -> Result<NoStore<PasskeyOptions>> {
    let rp = relying_party_of(&state)?;
    let email = match body.email.as_deref() {
        None => None,
        Some(raw) => Some(Email::parse(raw, "email").map_err(ApiError::invalid_field)?),
    };
    let account: Option<Uuid> = match &email {
        None => None,
        Some(email) => state
            .db
            .query_opt(
                "select id from users where email_key = $1",
                &[(&email.key(), Type::TEXT)],
            )
            .await?
            .map(|row| row.get(0)),
    };
    let (mut options, authentication) = rp.start_discoverable_authentication().map_err(internal)?;
    // A modal sign-in (the page asks), not the autofill one webauthn-rs sets up by default; the
    // page may still pass `mediation: "conditional"` itself.
    options.mediation = None;
    let saved = json!({
        "authentication": authentication,
        "email_key": email.as_ref().map(Email::key),
    });
    let ceremony = passkeys::open(&state, Kind::Authentication, account, &saved).await?;
    let options = serde_json::to_value(options).map_err(internal)?;
    Ok(NoStore(PasskeyOptions { ceremony, options }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignInBody {
    /// The `ceremony` of the sign-in options.
    #[schema(max_length = 64)]
    ceremony: String,
    /// `navigator.credentials.get()`'s answer as WebAuthn JSON (`credential.toJSON()`):
    /// `{id, rawId, type, response: {clientDataJSON, authenticatorData, signature, userHandle}}`.
    #[schema(value_type = Object)]
    credential: Value,
}

/// Signs in with a passkey: the ceremony and the authenticator's answer for the token pair. The
/// tokens say `amr: ["pop","hwk","user","mfa"]` and `aal2`, and the session may make sensitive
/// changes for `SECOND_FACTOR_MAX_AGE_SECONDS` without a step-up. Refused alike (401) for any
/// failed check; a signature counter that did not move forward is logged as
/// `passkey_clone_suspected`.
#[utoipa::path(post, path = "/auth/passkey", operation_id = "signInWithPasskey", tag = "auth", request_body = PasskeySignInBody,
    responses(
        (status = 200, description = "Signed in", body = TokenPair,
         headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`"))),
        (status = 401, description = "Passkey not accepted"),
        (status = 403, description = "Email address not verified (with `REQUIRE_VERIFIED_EMAIL`)"),
        (status = 422, description = "A malformed credential, or an unknown, spent or expired ceremony"),
        (status = 429, description = "Too many failed attempts; wait `Retry-After` seconds"),
        (status = 500, description = "Passkeys are not configured (`WEBAUTHN_RP_ID`)"),
    ))]
pub async fn sign_in(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    Json(body): Json<PasskeySignInBody>,
) -> Result<TokenPair> {
    let rp = relying_party_of(&state)?;
    let credential: PublicKeyCredential = parse_credential(body.credential)?;
    let origin = Origin::new(ip.as_deref(), &headers);
    if let Some(ip) = origin.ip.as_deref() {
        if let Some(seconds) = throttle::locked_for(&state.db, &[throttle::ip_key(ip)]).await? {
            return Err(throttle::too_many(seconds));
        }
    }
    let (_, saved) = passkeys::spend(&state, &body.ceremony, Kind::Authentication, None).await?;
    let bound_email: Option<String> = saved
        .get("email_key")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let authentication: DiscoverableAuthentication =
        serde_json::from_value(saved["authentication"].clone()).map_err(internal)?;
    let found = match rp.identify_discoverable_authentication(&credential) {
        Ok((user_handle, credential_id)) => state
            .db
            .query_opt(
                "select p.id, p.passkey, u.email_key, u.role, u.disabled,
                        u.email_verified_at is not null, u.id
                   from passkeys p join users u on u.id = p.user_id
                  where p.credential_id = $1 and p.user_id = $2",
                &[(&credential_id, Type::BYTEA), (&user_handle, Type::UUID)],
            )
            .await?
            .filter(|row| {
                bound_email
                    .as_deref()
                    .is_none_or(|bound| bound == row.get::<_, &str>(2))
            }),
        Err(_) => None,
    };
    let Some(row) = found else {
        // No account to count against (or the wrong one): the source address only.
        if let Some(ip) = origin.ip.as_deref() {
            let policy = state.settings.source_ip_policy;
            throttle::record_failure(&state.db, &[(throttle::ip_key(ip), policy)]).await?;
        }
        return Err(ApiError::unauthorized(REFUSED));
    };
    let passkey_id: Uuid = row.get(0);
    let email_key: String = row.get(2);
    let user_id: Uuid = row.get(6);
    let gate = PasswordGate::new(&state, &email_key, &origin, "passkey");
    gate.refuse_if_locked(&[]).await?;
    let refuse = |via: &'static str| refuse(&gate, user_id, via);
    if row.get::<_, bool>(4) {
        return refuse("disabled").await;
    }
    let mut passkey: Passkey = serde_json::from_value(row.get(1)).map_err(internal)?;
    let result =
        match rp.finish_discoverable_authentication_v2(&credential, authentication, &passkey) {
            Ok(result) if result.user_verified() => result,
            Ok(_) => return refuse("user_verification").await,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                return clone_suspected(&state, user_id, passkey_id, &origin, &gate).await;
            }
            Err(error) => {
                tracing::info!(%user_id, ?error, "passkey sign-in refused");
                return refuse(why(&error)).await;
            }
        };
    passkey.update_credential(&result);
    let stored = serde_json::to_value(&passkey).map_err(internal)?;
    let counter = i64::from(result.counter());
    // The counter moves forward in the same statement that checks it: of two answers racing with
    // the same counter, one wins (0 stays 0 for an authenticator that keeps no counter).
    let updated = state
        .db
        .execute(
            "update passkeys set passkey = $2, sign_count = $3, backed_up = $4, last_used_at = now()
              where id = $1 and (sign_count < $3 or (sign_count = 0 and $3 = 0))",
            &[
                (&passkey_id, Type::UUID),
                (&stored, Type::JSONB),
                (&counter, Type::INT8),
                (&result.backup_state(), Type::BOOL),
            ],
        )
        .await?;
    if updated == 0 {
        return clone_suspected(&state, user_id, passkey_id, &origin, &gate).await;
    }
    require_verified(&state, row.get(5))?;
    let amr: Vec<String> = PASSKEY_AMR.iter().map(|m| (*m).to_owned()).collect();
    let session = NewSession {
        user_id,
        amr: &amr,
        second_factor: true,
        rehash: None,
        account_key: gate.account_key(),
    };
    let role: String = row.get(3);
    let (_, pair) = finish_sign_in(&state, &session, &role, &origin).await?;
    Ok(pair)
}

/// Counts a refused passkey against its account (and the source), logs why, and refuses.
async fn refuse(gate: &PasswordGate<'_>, user_id: Uuid, via: &'static str) -> Result<TokenPair> {
    let event = Event::PasskeyFailed { via };
    gate.count_failure(Some(user_id), None, event).await?;
    Err(ApiError::unauthorized(REFUSED))
}

/// A signature counter that did not move forward: a cloned authenticator (or a replayed answer).
/// Refused, counted and logged; the passkey is kept (its owner's authenticator may be the one
/// with the higher counter) and its owner sees the event in the security log.
async fn clone_suspected(
    state: &AuthState,
    user_id: Uuid,
    passkey: Uuid,
    origin: &Origin,
    gate: &PasswordGate<'_>,
) -> Result<TokenPair> {
    tracing::warn!(%user_id, %passkey, "passkey signature counter went backwards: clone suspected");
    let event = Event::PasskeyCloneSuspected { passkey };
    state.log_event(user_id, origin, None, event).await;
    refuse(gate, user_id, "counter").await
}

/// Which check refused an answer, for the log (never shown to a signing-in client).
fn why(error: &WebauthnError) -> &'static str {
    match error {
        WebauthnError::InvalidRPOrigin | WebauthnError::CredentialCrossOrigin => "origin",
        WebauthnError::InvalidRPIDHash => "rp_id",
        WebauthnError::UserNotVerified | WebauthnError::UserNotPresent => "user_verification",
        WebauthnError::MismatchedChallenge | WebauthnError::ChallengeNotFound => "challenge",
        WebauthnError::AuthenticationFailure => "signature",
        WebauthnError::CredentialNotFound => "credential",
        WebauthnError::CredentialPossibleCompromise => "counter",
        WebauthnError::CredentialExcludedFromRequest | WebauthnError::CredentialAlreadyExists => {
            "already_registered"
        }
        _ => "invalid",
    }
}

/// A passkey's name: trimmed, 1–64 characters, no control characters; `Passkey` when absent.
fn parse_name(raw: Option<&str>) -> Result<String> {
    let Some(raw) = raw else {
        return Ok("Passkey".to_owned());
    };
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::invalid_field(FieldError::body(
            "name",
            format!("Name must be 1 to {MAX_NAME_CHARS} characters, without control characters"),
            "value_error",
        )));
    }
    Ok(name.to_owned())
}

/// The browser's answer, read as WebAuthn JSON; anything else is a 422 on `credential`.
fn parse_credential<T: serde::de::DeserializeOwned>(raw: Value) -> Result<T> {
    serde_json::from_value(raw).map_err(|_| {
        ApiError::invalid_field(FieldError::body(
            "credential",
            "Not a WebAuthn credential: send credential.toJSON() (binary members base64url)",
            "value_error",
        ))
    })
}

/// The stored passkey's signature counter (webauthn-rs keeps it inside; no accessor).
fn counter_of(stored: &Value) -> i64 {
    stored
        .pointer("/cred/counter")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn backed_up_of(stored: &Value) -> bool {
    stored
        .pointer("/cred/backup_state")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("passkeys: {error}"))
}
