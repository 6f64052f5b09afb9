//! Registration and the caller's own account: `/auth/register`, `/users/me`, `/welcome`.

use crate::users::{Principal, User, USER_COLUMNS};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::db::Queries;
use shared::error::{ApiError, FieldError, Result};
use shared::http::{present_or_null, Json, SourceIp};
use shared::idempotency::{self, Answer, Begun, IdempotencyKey, IdempotencyKeyParam, Operation};
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use super::{collect, email_taken_is_conflict, reject_invalid, verify};
use crate::domain::{DisplayName, Email, Password};
use crate::password::Verified;
use crate::password_gate::PasswordGate;
use crate::second_factor;
use crate::secrets::new_token;
use crate::security_log::{Event, Origin};
use crate::state::AuthState;
use crate::throttle;

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
    /// Seed 002's second name field (its README: `name` holds the first name, `username` the
    /// last): joined to `name` with a space, or the name itself when `name` is absent.
    #[serde(default)]
    #[schema(max_length = 100, example = "Lovelace")]
    username: Option<String>,
}

/// Creates an account. The source address may register 10 accounts an hour. With an
/// `Idempotency-Key`, a retry (same address, name and password) gets the first answer.
#[utoipa::path(post, path = "/auth/register", operation_id = "registerUser", tag = "auth", params(IdempotencyKeyParam), request_body = RegisterBody,
    responses(
        (status = 201, description = "The new user (or, for a retried `Idempotency-Key`, the first answer again)", body = User,
         headers(("Location" = String, description = "`/users/me`"),
                 ("Idempotent-Replayed" = String, description = "`true` on a replayed answer"))),
        (status = 409, description = "Email already registered, or a request with this `Idempotency-Key` is still being processed (then with `Retry-After`)"),
        (status = 422, description = "Invalid field, or an `Idempotency-Key` that is malformed or was used with a different request"),
        (status = 429, description = "Too many registrations from this address; or, for a replay, the account or the address is locked after failed password checks"),
    ))]
pub async fn register(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    IdempotencyKey(key): IdempotencyKey,
    Json(body): Json<RegisterBody>,
) -> Result<Response> {
    let origin = Origin::new(ip.as_deref(), &headers);
    let mut errors = Vec::new();
    let email = collect(Email::parse(&body.email, "email"), &mut errors);
    let password = collect(
        Password::parse(&body.password, state.settings.password_policy, "password"),
        &mut errors,
    );
    let name = match seed_002_name(body.name.as_deref(), body.username.as_deref()).as_deref() {
        Some(raw) => collect(DisplayName::parse(raw), &mut errors),
        None => None,
    };
    reject_invalid(errors)?;
    let (Some(email), Some(password)) = (email, password) else {
        unreachable!("no errors means both parsed");
    };
    let account = NewAccount {
        email: &email,
        name: name.as_ref(),
        password: &password,
    };
    let Some(key) = key else {
        let created = insert_account(&state, &state.db, &origin, &account).await?;
        return Ok(announce(&state, &origin, created).await.into_response());
    };

    // Keys are scoped to the address: two clients registering different addresses never share
    // one. The password is not in the fingerprint (see migrations/0011); a replay checks it
    // against the argon2 hash kept with the answer instead.
    let fingerprint = idempotency::fingerprint(&[
        email.as_str().as_bytes(),
        &[u8::from(name.is_some())],
        name.as_ref().map_or("", DisplayName::as_str).as_bytes(),
    ]);
    let transaction = state.db.begin().await?;
    match idempotency::begin(
        &transaction,
        Operation::RegisterUser,
        email.key(),
        &key,
        fingerprint,
    )
    .await?
    {
        Begun::Replay(replay) => {
            transaction.rollback().await;
            // A replay checks the password against the one registered: it is a sign-in in all
            // but name, and passes the same gate (locks first, a wrong password counted). A
            // source out of registrations is refused too, as a new registration would be.
            let gate = PasswordGate::new(&state, email.key(), &origin, "registration_replay");
            let registrations: Vec<String> =
                ip.iter().map(|ip| throttle::registration_key(ip)).collect();
            gate.refuse_if_locked(&registrations).await?;
            match gate
                .check(
                    password.expose(),
                    replay.secret_hash.clone(),
                    replay.user_id,
                )
                .await?
            {
                Verified::Match { .. } => Ok(replay.into_response()),
                Verified::Mismatch => Err(idempotency::used_for_another_request()),
            }
        }
        Begun::Claimed(claim) => {
            // The claim, the account and the stored answer commit together (see
            // shared::idempotency); the link is mailed once they have.
            let created = match insert_account(&state, &transaction, &origin, &account).await {
                Ok(created) => created,
                Err(error) => {
                    transaction.rollback().await;
                    // The attempt's count went with the rollback: count it on its own.
                    if let Some(ip) = &origin.ip {
                        let key = throttle::registration_key(ip);
                        let policy = state.settings.registration_policy;
                        // Its own 429 changes nothing here: the answer is `error` already.
                        let _ = throttle::count_attempt(&state.db, key, policy).await;
                    }
                    return Err(error);
                }
            };
            claim
                .store(
                    &transaction,
                    &created.answer,
                    Some(created.user_id),
                    Some(&created.password_hash),
                )
                .await?;
            transaction.commit().await?;
            Ok(announce(&state, &origin, created).await.into_response())
        }
    }
}

/// The display name from seed 002's two fields (see [`RegisterBody::username`]).
fn seed_002_name(name: Option<&str>, username: Option<&str>) -> Option<String> {
    match (name, username) {
        (Some(name), Some(username)) => Some(format!("{} {}", name.trim(), username.trim())),
        (name, username) => name.or(username).map(str::to_owned),
    }
}

/// The `name` change of an update, with seed 002's `username` folded in: `null` stays a clearing
/// unless a `username` is given.
fn seed_002_update(
    name: &Option<Option<String>>,
    username: Option<&str>,
) -> Option<Option<String>> {
    match (name, username) {
        (name, None) => name.clone(),
        (Some(Some(name)), Some(username)) => Some(seed_002_name(Some(name), Some(username))),
        (_, Some(username)) => Some(Some(username.to_owned())),
    }
}

/// A valid registration request.
struct NewAccount<'a> {
    email: &'a Email,
    name: Option<&'a DisplayName>,
    password: &'a Password,
}

/// A registered account: the 201 to give, what an idempotent retry needs, and the link to mail.
struct Created {
    answer: Answer,
    user_id: uuid::Uuid,
    password_hash: String,
    /// The address and the token of the verification link, mailed once committed.
    email: String,
    token: String,
}

/// Counts the registration against the source address, then inserts the user and its first
/// verification link on `db` (the pool, or the transaction of an idempotent registration).
async fn insert_account(
    state: &AuthState,
    db: &impl Queries,
    origin: &Origin,
    account: &NewAccount<'_>,
) -> Result<Created> {
    if let Some(ip) = &origin.ip {
        let key = throttle::registration_key(ip);
        throttle::count_attempt(db, key, state.settings.registration_policy).await?;
    }

    let email = account.email;
    let hash = state.hasher.hash(account.password.expose()).await?;
    // One statement: the account and its first verification link. Nobody is admin at
    // registration, not even with ADMIN_EMAIL: that waits for the link (migrations/0010).
    let (token, token_hash) = new_token();
    let row = db
        .query_one(
            &format!(
                "with inserted as (
                    insert into users (email, email_key, name, password_hash)
                    values ($1, $4, $2, $3)
                    returning {USER_COLUMNS}
                 ), link as (
                    insert into email_verification_tokens (token_hash, user_id, email_key, expires_at)
                    select $5, id, $4, now() + make_interval(hours => $6) from inserted
                 )
                 select * from inserted"
            ),
            &[
                (&email.as_str(), Type::TEXT),
                (&account.name.map(DisplayName::as_str), Type::TEXT),
                (&hash, Type::TEXT),
                (&email.key(), Type::TEXT),
                (&token_hash, Type::BYTEA),
                (&verify::VERIFICATION_TOKEN_HOURS, Type::INT4),
            ],
        )
        .await
        .map_err(email_taken_is_conflict)?;
    let user = User::from_row(&row);
    Ok(Created {
        user_id: user.id,
        answer: Answer::json(StatusCode::CREATED, Some("/users/me".to_owned()), &user),
        password_hash: hash,
        email: email.as_str().to_owned(),
        token,
    })
}

/// Once the account is committed: the security log's entry and the verification link's mail.
async fn announce(state: &AuthState, origin: &Origin, created: Created) -> Answer {
    tracing::info!(user_id = %created.user_id, "user registered");
    state
        .log_event(
            created.user_id,
            origin,
            None,
            Event::Registered { provider: None },
        )
        .await;
    verify::mail_link(state, &created.email, &created.token).await;
    created.answer
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
    /// Seed 002's second name field (its README: `name` holds the first name, `username` the
    /// last): joined to `name` with a space, or the name itself when `name` is absent.
    #[serde(default)]
    #[schema(max_length = 100, example = "Lovelace")]
    username: Option<String>,
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

/// What a sensitive change (email or password, deleting the account, a second factor or a passkey
/// added or removed) asks of its caller — the one home of "prove it is you again":
/// - while a second factor is active, that this session proved it recently (step-up,
///   [`second_factor::require_recent`]: a 401 that says how, checked first so it burns no
///   password attempt);
/// - then the current password, through the [`PasswordGate`] (a stolen access token is no
///   unthrottled way to guess it); a wrong one is a 422 on `current_password`;
/// - an account without a password (made through an identity provider) has nothing to type: its
///   session must have signed in within `STEP_UP_MAX_AGE_SECONDS` instead (else the 401
///   step-up answer: sign in again), and `current_password` is ignored.
pub(crate) async fn require_current_password(
    state: &AuthState,
    principal: &Principal,
    origin: &Origin,
    given: Option<&str>,
) -> Result<()> {
    second_factor::require_recent(state, principal.user.id, principal.session_id).await?;
    let row = state
        .db
        .query_one(
            "select u.password_hash, u.email_key,
                    coalesce((select s.created_at > now() - make_interval(secs => $3)
                                from sessions s where s.id = $2), false)
               from users u where u.id = $1",
            &[
                (&principal.user.id, Type::UUID),
                (&principal.session_id, Type::UUID),
                (&state.settings.step_up_max_age.as_secs_f64(), Type::FLOAT8),
            ],
        )
        .await?;
    let email_key: String = row.get(1);
    let Some(stored) = row.get::<_, Option<String>>(0) else {
        return if row.get::<_, bool>(2) {
            Ok(())
        } else {
            Err(ApiError::StepUpRequired {
                max_age_secs: state.settings.step_up_max_age.as_secs(),
            })
        };
    };
    let Some(given) = given else {
        return Err(ApiError::invalid_field(FieldError::body(
            "current_password",
            "Current password is required to change email or password, or to delete the account",
            "missing",
        )));
    };
    let gate = PasswordGate::new(state, &email_key, origin, "current_password");
    gate.refuse_if_locked(&[]).await?;
    match gate
        .check(given, Some(stored), Some(principal.user.id))
        .await?
    {
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
        (status = 429, description = "Too many failed password checks for this account or address; wait `Retry-After` seconds"),
    ))]
pub async fn update_me(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    principal: Principal,
    Json(body): Json<UpdateMeBody>,
) -> Result<axum::Json<User>> {
    let origin = Origin::new(ip.as_deref(), &headers);
    let mut errors = Vec::new();
    let name = match &seed_002_update(&body.name, body.username.as_deref()) {
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
        require_current_password(
            &state,
            &principal,
            &origin,
            body.current_password.as_deref(),
        )
        .await?;
    }
    let hash = match &password {
        Some(password) => Some(state.hasher.hash(password.expose()).await?),
        None => None,
    };
    let (set_name, new_name) = match &name {
        Some(name) => (true, name.as_ref().map(|n| n.as_str().to_owned())),
        None => (false, None),
    };
    // One statement: the update, and after a password or email change the credential rule
    // (migrations/0009): every other session ends and every outstanding link dies. A new
    // address (another canonical key) is only pending until its link is followed; the old one
    // signs in meanwhile. Another spelling of the same address just replaces the typed form.
    let row = state
        .db
        .query_opt(
            &format!(
                "with updated as (
                    update users
                       set name = case when $2 then $3 else name end,
                           email = case when $6 = email_key then $4 else email end,
                           pending_email = case when $6 is null then pending_email
                                                when $6 = email_key then null else $4 end,
                           pending_email_key = case when $6 is null then pending_email_key
                                                    when $6 = email_key then null else $6 end,
                           password_hash = coalesce($5, password_hash),
                           updated_at = now()
                     where id = $1
                       and not exists (select 1 from users o where o.email_key = $6 and o.id <> $1)
                    returning {USER_COLUMNS}, pending_email_key
                 )
                 select updated.*,
                        case when $5 is not null or ($6 is not null and pending_email_key = $6)
                             then end_user_credentials($1, $7) end
                   from updated"
            ),
            &[
                (&principal.user.id, Type::UUID),
                (&set_name, Type::BOOL),
                (&new_name, Type::TEXT),
                (&email.as_ref().map(Email::as_str), Type::TEXT),
                (&hash, Type::TEXT),
                (&email.as_ref().map(Email::key), Type::TEXT),
                (&principal.session_id, Type::UUID),
            ],
        )
        .await
        .map_err(email_taken_is_conflict)?
        .ok_or_else(|| ApiError::Conflict("Email already registered".to_owned()))?;
    let user = User::from_row(&row);
    let pending_key: Option<String> = row.get(9);
    let address_pending = email
        .as_ref()
        .is_some_and(|e| pending_key.as_deref() == Some(e.key()));
    if hash.is_some() || address_pending {
        tracing::info!(user_id = %user.id, "email or password changed; other sessions and links ended");
    }
    let session = Some(principal.session_id);
    if hash.is_some() {
        state
            .log_event(user.id, &origin, session, Event::PasswordChanged)
            .await;
    }
    if address_pending {
        state
            .log_event(user.id, &origin, session, Event::EmailChangeRequested)
            .await;
    }
    if let (true, Some(email)) = (address_pending, &email) {
        verify::send_link(&state, user.id, email.as_str(), email.key()).await?;
    }
    Ok(axum::Json(user))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMeBody {
    current_password: String,
}

/// Deletes the caller's account, its sessions and its tasks.
#[utoipa::path(delete, path = "/users/me", operation_id = "deleteCurrentUser", tag = "users", security(("bearer" = []), ("oauth2_password" = [])), request_body = DeleteMeBody,
    responses(
        (status = 204, description = "Deleted"),
        (status = 429, description = "Too many failed password checks for this account or address; wait `Retry-After` seconds"),
    ))]
pub async fn delete_me(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    principal: Principal,
    Json(body): Json<DeleteMeBody>,
) -> Result<StatusCode> {
    let origin = Origin::new(ip.as_deref(), &headers);
    require_current_password(&state, &principal, &origin, Some(&body.current_password)).await?;
    // Sessions, refresh and reset tokens and tasks cascade from the user row; a task insert that
    // races this delete fails its foreign key instead of leaving an orphan (migration 0008).
    state
        .db
        .execute(
            "delete from users where id = $1",
            &[(&principal.user.id, Type::UUID)],
        )
        .await?;
    tracing::info!(user_id = %principal.user.id, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}
