//! Signing in and out: `/auth/login`, `/auth/token` (OAuth2 form), `/auth/refresh`, `/auth/logout`,
//! `/auth/logout-all`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::error::{ApiError, FieldError, Result, PROBLEM_JSON};
use shared::http::{bearer_token, parse_form, require_content_type, Json, LimitedBody, SourceIp};
use shared::token::AccessClaims;
use tokio_postgres::types::Type;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::Email;
use crate::password::Verified;
use crate::password_gate::PasswordGate;
use crate::second_factor::{self, Stage};
use crate::secrets::{new_token, token_hash};
use crate::security_log::{user_agent, Event, Origin};
use crate::state::AuthState;
use crate::throttle;

/// One message for unknown email and wrong password, so neither reveals which accounts exist.
const BAD_CREDENTIALS: &str = "Incorrect email or password";
/// Longest password we even try to verify; longer ones cannot exist under the policy.
const MAX_PASSWORD_BYTES: usize = 1024;

/// A new access token and the refresh token that replaces it when it expires.
#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    /// A JWT (HS256) for `Authorization: Bearer`.
    access_token: String,
    #[schema(value_type = String, example = "bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 1800)]
    expires_in: u64,
    /// Opaque; spent by its first use at `/auth/refresh`.
    refresh_token: String,
}

/// An answer that carries tokens is never stored by a browser, proxy or CDN (RFC 6749 §5.1:
/// `Cache-Control: no-store` and `Pragma: no-cache`), whichever handler gives it: the rule is on
/// the type, so no path that hands out a pair can forget it.
impl IntoResponse for TokenPair {
    fn into_response(self) -> Response {
        super::NoStore(self).into_response()
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    #[schema(format = "email", max_length = 254, example = "ada@example.com")]
    email: String,
    #[schema(max_length = 1024, example = "correct horse battery staple")]
    password: String,
}

/// Signs in. Unknown email and wrong password get the same 401; repeated failures are throttled
/// per account and per source address. An account with an active second factor answers 403
/// `second-factor-required` with a `challenge` for `/auth/login/second-factor` instead of tokens.
#[utoipa::path(post, path = "/auth/login", operation_id = "login", tag = "auth", request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = TokenPair,
         headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`"))),
        (status = 401, description = "Incorrect email or password"),
        (status = 403, description = "Right password; the account's second factor is required: send `challenge` and a code to `/auth/login/second-factor`", body = SecondFactorRequired, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; wait `Retry-After` seconds"),
    ))]

pub async fn login(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    Json(body): Json<LoginBody>,
) -> Result<SignIn> {
    let email = Email::parse(&body.email, "email").map_err(ApiError::invalid_field)?;
    sign_in(
        &state,
        &email,
        &body.password,
        ip.as_deref(),
        user_agent(&headers),
    )
    .await
}

/// The OAuth2 token endpoint (form-encoded), as FastAPI's `OAuth2PasswordRequestForm` clients and
/// Swagger's "Authorize" send it. `scope`, `client_id` and `client_secret` are accepted and ignored.
/// (Documented per grant as `super::token_grants::TokenRequest`.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenForm {
    /// `password` (the default) or `refresh_token`.
    #[serde(default)]
    grant_type: Option<String>,
    /// The account's email (grant `password`).
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    /// The one-time code of a provider sign-in (grant `authorization_code`).
    #[serde(default)]
    code: Option<String>,
    /// The frontend's PKCE verifier, when its sign-in was started with a `code_challenge`.
    #[serde(default)]
    code_verifier: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    redirect_uri: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    scope: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    client_id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    client_secret: Option<String>,
}

/// The OAuth2 token endpoint: `grant_type=password` with `username` (the email) and `password`,
/// `grant_type=refresh_token` with `refresh_token`, or `grant_type=authorization_code` with the
/// one-time `code` of a provider sign-in (and its `code_verifier` when started with a challenge).
#[utoipa::path(post, path = "/auth/token", operation_id = "issueToken", tag = "auth",
    request_body(content = super::token_grants::TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Signed in, or tokens rotated", body = TokenPair,
         headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`"))),
        (status = 401, description = "Incorrect email or password, invalid refresh token, or a one-time code that is unknown, spent, expired or whose `code_verifier` does not match"),
        (status = 403, description = "Right password (or provider sign-in); the account's second factor is required (as for `/auth/login`)", body = SecondFactorRequired, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; wait `Retry-After` seconds"),
    ))]
pub async fn token(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    LimitedBody(bytes): LimitedBody,
) -> Result<SignIn> {
    require_content_type(
        &headers,
        |media| media == "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded",
    )?;
    let agent = user_agent(&headers);
    let form: TokenForm = parse_form(&bytes)?;
    let missing =
        |field: &str| ApiError::invalid_field(FieldError::body(field, "Field required", "missing"));
    match form.grant_type.as_deref().unwrap_or("password") {
        "password" => {
            let username = form.username.ok_or_else(|| missing("username"))?;
            let password = form.password.ok_or_else(|| missing("password"))?;
            let email = Email::parse(&username, "username").map_err(ApiError::invalid_field)?;
            sign_in(&state, &email, &password, ip.as_deref(), agent).await
        }
        "refresh_token" => {
            let token = form.refresh_token.ok_or_else(|| missing("refresh_token"))?;
            rotate(&state, &token).await.map(SignIn::Tokens)
        }
        "authorization_code" => {
            let code = form.code.ok_or_else(|| missing("code"))?;
            let origin = Origin {
                ip,
                user_agent: agent.map(str::to_owned),
            };
            exchange_code(&state, &code, form.code_verifier.as_deref(), &origin).await
        }
        _ => Err(ApiError::invalid_field(FieldError::body(
            "grant_type",
            "Unsupported grant_type; use password, refresh_token or authorization_code",
            "value_error",
        ))),
    }
}

/// The answer of a password step: tokens, or the challenge of the account's second factor.
pub enum SignIn {
    Tokens(TokenPair),
    SecondFactorRequired { challenge: String },
}

/// The answer of a right password for an account with an active second factor: a problem (so a
/// client written for tokens fails clearly instead of reading a token that is not there) that
/// carries the challenge of the second step.
#[derive(Serialize, ToSchema)]
pub struct SecondFactorRequired {
    #[serde(rename = "type")]
    #[schema(example = "tag:tasks-api,2026:problems/second-factor-required")]
    kind: &'static str,
    #[schema(example = "Forbidden")]
    title: &'static str,
    #[schema(example = 403)]
    status: u16,
    detail: &'static str,
    /// `mfa_required`, as Auth0 names this answer.
    #[schema(example = "mfa_required")]
    error: &'static str,
    /// Single-use; send it with a code to `/auth/login/second-factor`.
    challenge: String,
    /// Seconds the challenge stays valid.
    #[schema(example = 300)]
    expires_in: u64,
    /// What the second step accepts: `totp` (the app's 6-digit code) and `recovery_code`.
    methods: [&'static str; 2],
}

pub const PROBLEM_SECOND_FACTOR_REQUIRED: &str =
    "tag:tasks-api,2026:problems/second-factor-required";

impl IntoResponse for SignIn {
    fn into_response(self) -> Response {
        match self {
            Self::Tokens(pair) => pair.into_response(),
            Self::SecondFactorRequired { challenge } => {
                let problem = SecondFactorRequired {
                    kind: PROBLEM_SECOND_FACTOR_REQUIRED,
                    title: "Forbidden",
                    status: 403,
                    detail: "Password accepted; this account also needs its second factor: send \
                             the challenge and a code to /auth/login/second-factor",
                    error: "mfa_required",
                    challenge,
                    expires_in: second_factor::CHALLENGE_TTL_SECS,
                    methods: ["totp", "recovery_code"],
                };
                let body = serde_json::to_vec(&problem).unwrap_or_default();
                (
                    StatusCode::FORBIDDEN,
                    [
                        (header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)),
                        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                        (header::PRAGMA, HeaderValue::from_static("no-cache")),
                    ],
                    body,
                )
                    .into_response()
            }
        }
    }
}

/// Checks the credentials under the account and source-IP throttles, then opens a session, or
/// the challenge of the second step when the account has an active second factor.
async fn sign_in(
    state: &AuthState,
    email: &Email,
    password: &str,
    ip: Option<&str>,
    agent: Option<&str>,
) -> Result<SignIn> {
    if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::unauthorized(BAD_CREDENTIALS));
    }
    let origin = Origin {
        ip: ip.map(str::to_owned),
        user_agent: agent.map(str::to_owned),
    };
    let gate = PasswordGate::new(state, email.key(), &origin, "sign_in");

    // One round trip: the user (if any) and any lock on the account or the address.
    let row = state
        .db
        .query_one(
            "select u.id, u.password_hash, u.role, u.disabled,
                    (select ceil(extract(epoch from max(locked_until) - now()))::int8
                       from login_throttle where key = any($2) and locked_until > now()),
                    u.email_verified_at is not null,
                    exists (select 1 from second_factors f
                             where f.user_id = u.id and f.activated_at is not null)
               from (select 1) as one
               left join users u on u.email_key = $1",
            &[
                (&email.key(), Type::TEXT),
                (&gate.lock_keys(), Type::TEXT_ARRAY),
            ],
        )
        .await?;
    if let Some(seconds) = row.get::<_, Option<i64>>(4) {
        // Even the right password is refused while locked.
        return Err(throttle::too_many(seconds));
    }
    let user_id: Option<Uuid> = row.get(0);
    // A disabled account is checked like an unknown one: the same work, the same failure.
    let disabled = row.get::<_, Option<bool>>(3).unwrap_or(false);
    let stored: Option<String> = if disabled { None } else { row.get(1) };
    let (Verified::Match { rehash }, Some(user_id)) =
        (gate.check(password, stored, user_id).await?, user_id)
    else {
        return Err(ApiError::unauthorized(BAD_CREDENTIALS));
    };
    let role: String = row.get(2);
    // Only after the right password: the answer tells nothing about an address to a guesser.
    require_verified(state, row.get(5))?;
    if row.get::<_, Option<bool>>(6).unwrap_or(false) {
        if let Some(rehash) = &rehash {
            state
                .db
                .execute(
                    "update users set password_hash = $2 where id = $1",
                    &[(&user_id, Type::UUID), (rehash, Type::TEXT)],
                )
                .await?;
        }
        let challenge = second_factor::open_challenge(state, user_id, "pwd").await?;
        tracing::info!(%user_id, "password accepted; second factor required");
        return Ok(SignIn::SecondFactorRequired { challenge });
    }
    let amr = vec!["pwd".to_owned()];
    let session = NewSession {
        user_id,
        amr: &amr,
        second_factor: false,
        rehash,
        account_key: gate.account_key(),
    };
    let (_, pair) = finish_sign_in(state, &session, &role, &origin).await?;
    Ok(SignIn::Tokens(pair))
}

/// With `REQUIRE_VERIFIED_EMAIL`, a sign-in (any way) to an unverified address is refused (403).
/// Checked only after the credential is proven: the answer tells a guesser nothing.
pub(crate) fn require_verified(state: &AuthState, email_verified: bool) -> Result<()> {
    if state.settings.require_verified_email && !email_verified {
        return Err(ApiError::Forbidden(
            "Email address not verified: follow the link we mailed you, or ask for a new one at /auth/verify-email/resend".to_owned(),
        ));
    }
    Ok(())
}

/// Ends a provider sign-in: spends its one-time code (`handlers::oidc`) and opens the session, or
/// the challenge of the second step when the account has an active second factor (a provider
/// sign-in is one factor, like a password).
async fn exchange_code(
    state: &AuthState,
    code: &str,
    verifier: Option<&str>,
    origin: &Origin,
) -> Result<SignIn> {
    let invalid = || ApiError::unauthorized("Invalid or expired sign-in code; sign in again");
    let Some(spent) = super::oidc::spend_code(state, code, verifier).await? else {
        return Err(invalid());
    };
    let user_id = spent.user_id;
    let row = state
        .db
        .query_opt(
            "select u.role, u.email_key,
                    exists (select 1 from second_factors f
                             where f.user_id = u.id and f.activated_at is not null)
               from users u where u.id = $1 and not u.disabled",
            &[(&user_id, Type::UUID)],
        )
        .await?
        .ok_or_else(invalid)?;
    let (role, email_key, second_factor): (String, String, bool) =
        (row.get(0), row.get(1), row.get(2));
    if second_factor {
        let challenge =
            second_factor::open_challenge(state, user_id, super::oidc::AMR_FEDERATED).await?;
        tracing::info!(%user_id, "provider sign-in accepted; second factor required");
        return Ok(SignIn::SecondFactorRequired { challenge });
    }
    let account_key = throttle::account_key(&email_key);
    let session = NewSession {
        user_id,
        amr: &spent.amr,
        second_factor: false,
        rehash: None,
        account_key: &account_key,
    };
    let (_, pair) = finish_sign_in(state, &session, &role, origin).await?;
    Ok(SignIn::Tokens(pair))
}

/// A session about to be opened.
pub(crate) struct NewSession<'a> {
    pub user_id: Uuid,
    /// RFC 8176 methods of its sign-in.
    pub amr: &'a [String],
    /// Whether its sign-in proved a second factor (the start of its step-up window).
    pub second_factor: bool,
    /// A transparent re-hash of the password, if its parameters were outdated.
    pub rehash: Option<String>,
    /// The account's throttle key, cleared by a successful sign-in.
    pub account_key: &'a str,
}

/// Ends every successful sign-in (password, second step, passkey, identity provider): opens the
/// session, logs `signed_in` and mints the pair. Returns the session's id with the pair.
pub(crate) async fn finish_sign_in(
    state: &AuthState,
    new: &NewSession<'_>,
    role: &str,
    origin: &Origin,
) -> Result<(Uuid, TokenPair)> {
    let (session_id, refresh_token) = open_session(state, new, origin).await?;
    state
        .log_event(
            new.user_id,
            origin,
            Some(session_id),
            Event::SignedIn {
                amr: new.amr.to_vec(),
            },
        )
        .await;
    let pair = token_pair(
        state,
        &new.user_id,
        session_id,
        role,
        new.amr,
        refresh_token,
    )?;
    Ok((session_id, pair))
}

/// Opens a session and its first refresh token; returns the session id and the refresh token.
async fn open_session(
    state: &AuthState,
    new: &NewSession<'_>,
    origin: &Origin,
) -> Result<(Uuid, String)> {
    let user_id = new.user_id;
    let (refresh_token, refresh_hash) = new_token();
    let ttl_secs = state.settings.refresh_token_ttl.as_secs_f64();
    // One statement: the session, its first refresh token, last_login_at, a transparent re-hash,
    // and the account's failure count cleared.
    let session_id: Uuid = state
        .db
        .query_one(
            "with session as (
                insert into sessions (user_id, expires_at, user_agent, source_ip, amr, second_factor_at)
                values ($1, now() + make_interval(secs => $2), $3, $4, $8,
                        case when $9 then now() end)
                returning id, expires_at
             ), refresh as (
                insert into refresh_tokens (token_hash, session_id, expires_at)
                select $5, id, expires_at from session
             ), login as (
                update users set last_login_at = now(), password_hash = coalesce($6, password_hash)
                 where id = $1
             ), cleared as (
                delete from login_throttle where key = $7
             )
             select id from session",
            &[
                (&user_id, Type::UUID),
                (&ttl_secs, Type::FLOAT8),
                (&origin.user_agent, Type::TEXT),
                (&origin.ip, Type::TEXT),
                (&refresh_hash, Type::BYTEA),
                (&new.rehash, Type::TEXT),
                (&new.account_key, Type::TEXT),
                (&new.amr, Type::TEXT_ARRAY),
                (&new.second_factor, Type::BOOL),
            ],
        )
        .await?
        .get(0);
    tracing::info!(%user_id, %session_id, rehashed = new.rehash.is_some(), "signed in");
    Ok((session_id, refresh_token))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondStepBody {
    /// The `challenge` of the 403 `second-factor-required` answer.
    #[schema(max_length = 256)]
    challenge: String,
    /// The authenticator app's current 6-digit code (spaces allowed), or an unused recovery code.
    #[schema(max_length = 64, example = "123456")]
    code: String,
}

/// The second step of a sign-in: the challenge of the password step and a TOTP or recovery code
/// for the token pair. A code is accepted once; wrong codes count against the account's limits
/// like wrong passwords (and against a stricter second-factor limit).
#[utoipa::path(post, path = "/auth/login/second-factor", operation_id = "signInSecondFactor", tag = "auth", request_body = SecondStepBody,
    responses(
        (status = 200, description = "Signed in, with `amr` and `aal2` in the access token", body = TokenPair,
         headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`"))),
        (status = 401, description = "Wrong code, or a challenge that is unknown, spent or expired"),
        (status = 422, description = "Not a code"),
        (status = 429, description = "Too many failed attempts; wait `Retry-After` seconds"),
    ))]
pub async fn second_step(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    Json(body): Json<SecondStepBody>,
) -> Result<TokenPair> {
    let expired = || ApiError::unauthorized("Invalid or expired sign-in challenge; sign in again");
    let Some(account) = second_factor::find_challenge(&state, &body.challenge).await? else {
        return Err(expired());
    };
    let origin = Origin::new(ip.as_deref(), &headers);
    let gate = PasswordGate::new(&state, &account.email_key, &origin, "second_factor");
    let user_id = account.user_id;
    let proof = second_factor::prove(
        &state,
        &gate,
        user_id,
        &body.code,
        "code",
        "sign_in",
        Stage::Active,
    )
    .await?
    .ok_or_else(|| ApiError::unauthorized("Invalid code"))?;
    if !second_factor::spend_challenge(&state, &body.challenge).await? {
        return Err(expired());
    }
    let amr = proof.amr_after(&account.first_factor);
    let session = NewSession {
        user_id,
        amr: &amr,
        second_factor: true,
        rehash: None,
        account_key: gate.account_key(),
    };
    let (session_id, pair) = finish_sign_in(&state, &session, &account.role, &origin).await?;
    second_factor::record_proof(
        &state,
        user_id,
        &account.email,
        &origin,
        Some(session_id),
        proof,
        "sign_in",
    )
    .await;
    Ok(pair)
}

fn token_pair(
    state: &AuthState,
    user_id: &Uuid,
    session_id: Uuid,
    role: &str,
    amr: &[String],
    refresh_token: String,
) -> Result<TokenPair> {
    let access_token = state
        .keys
        .issue_for(&user_id.to_string(), session_id, role, amr)?;
    Ok(TokenPair {
        access_token,
        token_type: "bearer",
        expires_in: state.keys.ttl().as_secs(),
        refresh_token,
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

/// Spends a refresh token for a new pair. Presenting a spent one again revokes its whole session.
#[utoipa::path(post, path = "/auth/refresh", operation_id = "refreshTokens", tag = "auth", request_body = RefreshBody,
    responses(
        (status = 200, description = "New tokens", body = TokenPair,
         headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`"))),
        (status = 401, description = "Invalid, expired or spent refresh token"),
    ))]
pub async fn refresh(
    State(state): State<AuthState>,
    Json(body): Json<RefreshBody>,
) -> Result<TokenPair> {
    rotate(&state, &body.refresh_token).await
}

/// Spends `presented` and issues the next token of its session. Presenting a spent token again
/// means it leaked: the whole session is revoked.
async fn rotate(state: &AuthState, presented: &str) -> Result<TokenPair> {
    let invalid = || ApiError::unauthorized("Invalid or expired refresh token");
    if presented.is_empty() || presented.len() > 256 {
        return Err(invalid());
    }
    let presented_hash = token_hash(presented);
    let (next_token, next_hash) = new_token();
    // Spending is one conditional update: of two concurrent refreshes with the same token, exactly
    // one finds it unspent.
    let rotated = state
        .db
        .query_opt(
            "with spent as (
                update refresh_tokens rt set spent_at = now()
                  from live_sessions s
                 where rt.token_hash = $1 and rt.spent_at is null and rt.expires_at > now()
                   and s.id = rt.session_id
                returning rt.session_id, s.user_id, s.role, s.expires_at,
                          (select amr from sessions where id = rt.session_id)
             ), issued as (
                insert into refresh_tokens (token_hash, session_id, expires_at)
                select $2, session_id, expires_at from spent
             ), touched as (
                update sessions set last_used_at = now() where id in (select session_id from spent)
             )
             select session_id, user_id, role, amr from spent",
            &[(&presented_hash, Type::BYTEA), (&next_hash, Type::BYTEA)],
        )
        .await?;
    if let Some(row) = rotated {
        let (session_id, user_id, role, amr): (Uuid, Uuid, String, Vec<String>) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        return token_pair(state, &user_id, session_id, &role, &amr, next_token);
    }
    let revoked = state
        .db
        .query_opt(
            "update sessions set revoked_at = now()
              where id = (select session_id from refresh_tokens where token_hash = $1 and spent_at is not null)
                and revoked_at is null
             returning id, user_id",
            &[(&presented_hash, Type::BYTEA)],
        )
        .await?;
    if let Some(row) = revoked {
        let (session_id, user_id): (Uuid, Uuid) = (row.get(0), row.get(1));
        tracing::warn!(%session_id, %user_id, "spent refresh token presented again; session revoked");
    }
    Err(invalid())
}

/// The caller's verified token claims and user id; the session itself is checked by the statement
/// that uses it, so logout costs one round trip.
fn claims_of(state: &AuthState, headers: &HeaderMap) -> Result<(AccessClaims, Uuid)> {
    let claims = state.keys.verify(bearer_token(headers)?)?;
    let user_id = claims.user_id()?;
    Ok((claims, user_id))
}

/// Ends this session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/auth/logout", operation_id = "logout", tag = "auth", security(("bearer" = []), ("oauth2_password" = [])),
    responses((status = 204, description = "Signed out")))]
pub async fn logout(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
) -> Result<StatusCode> {
    let (claims, user_id) = claims_of(&state, &headers)?;
    if !super::account_activity::end_session(&state, user_id, claims.sid).await? {
        return Err(ApiError::unauthorized(
            "Session has ended; please log in again",
        ));
    }
    let origin = Origin::new(ip.as_deref(), &headers);
    let event = Event::SessionEnded {
        session: claims.sid,
        by_admin: false,
    };
    state
        .log_event(user_id, &origin, Some(claims.sid), event)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller.
#[utoipa::path(post, path = "/auth/logout-all", operation_id = "logoutAll", tag = "auth", security(("bearer" = []), ("oauth2_password" = [])),
    responses((status = 204, description = "Signed out everywhere")))]
pub async fn logout_all(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
) -> Result<StatusCode> {
    let (claims, user_id) = claims_of(&state, &headers)?;
    // The caller's session must be live; then the credential rule ends every session and every
    // outstanding reset token (migrations/0009).
    let ended: i64 = state
        .db
        .query_opt(
            "select end_user_credentials(current.user_id)
               from live_sessions current
              where current.id = $1 and current.user_id = $2",
            &[(&claims.sid, Type::UUID), (&user_id, Type::UUID)],
        )
        .await?
        .ok_or_else(|| ApiError::unauthorized("Session has ended; please log in again"))?
        .get(0);
    tracing::info!(%user_id, sessions = ended, "signed out everywhere");
    let origin = Origin::new(ip.as_deref(), &headers);
    let event = Event::SessionsEnded {
        count: ended,
        scope: "all",
    };
    state
        .log_event(user_id, &origin, Some(claims.sid), event)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
