//! Signing in and out: `/auth/login`, `/auth/token` (OAuth2 form), `/auth/refresh`, `/auth/logout`,
//! `/auth/logout-all`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::error::{ApiError, FieldError, Result};
use shared::http::{bearer_token, parse_form, require_content_type, Json, LimitedBody, SourceIp};
use shared::token::AccessClaims;
use tokio_postgres::types::Type;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::Email;
use crate::password::Verified;
use crate::password_gate::PasswordGate;
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
        (
            [
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (header::PRAGMA, HeaderValue::from_static("no-cache")),
            ],
            axum::Json(self),
        )
            .into_response()
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
/// per account and per source address.
#[utoipa::path(post, path = "/auth/login", operation_id = "login", tag = "auth", request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = TokenPair,
         headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`"))),
        (status = 401, description = "Incorrect email or password"),
        (status = 429, description = "Too many failed attempts; wait `Retry-After` seconds"),
    ))]

pub async fn login(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    Json(body): Json<LoginBody>,
) -> Result<TokenPair> {
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

/// The OAuth2 token endpoint: `grant_type=password` with `username` (the email) and `password`, or
/// `grant_type=refresh_token` with `refresh_token`.
#[utoipa::path(post, path = "/auth/token", operation_id = "issueToken", tag = "auth",
    request_body(content = super::token_grants::TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Signed in, or tokens rotated", body = TokenPair,
         headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`"))),
        (status = 401, description = "Incorrect email or password, or invalid refresh token"),
        (status = 429, description = "Too many failed attempts; wait `Retry-After` seconds"),
    ))]
pub async fn token(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    LimitedBody(bytes): LimitedBody,
) -> Result<TokenPair> {
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
            rotate(&state, &token).await
        }
        _ => Err(ApiError::invalid_field(FieldError::body(
            "grant_type",
            "Unsupported grant_type; use password or refresh_token",
            "value_error",
        ))),
    }
}

/// Checks the credentials under the account and source-IP throttles, then opens a session.
async fn sign_in(
    state: &AuthState,
    email: &Email,
    password: &str,
    ip: Option<&str>,
    agent: Option<&str>,
) -> Result<TokenPair> {
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
                    u.email_verified_at is not null
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
    if state.settings.require_verified_email && !row.get::<_, bool>(5) {
        return Err(ApiError::Forbidden(
            "Email address not verified: follow the link we mailed you, or ask for a new one at /auth/verify-email/resend".to_owned(),
        ));
    }

    let (refresh_token, refresh_hash) = new_token();
    let ttl_secs = state.settings.refresh_token_ttl.as_secs_f64();
    // One statement: the session, its first refresh token, last_login_at, a transparent re-hash,
    // and the account's failure count cleared.
    let session_id: Uuid = state
        .db
        .query_one(
            "with session as (
                insert into sessions (user_id, expires_at, user_agent, source_ip)
                values ($1, now() + make_interval(secs => $2), $3, $4)
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
                (&agent, Type::TEXT),
                (&ip, Type::TEXT),
                (&refresh_hash, Type::BYTEA),
                (&rehash, Type::TEXT),
                (&gate.account_key(), Type::TEXT),
            ],
        )
        .await?
        .get(0);
    tracing::info!(%user_id, %session_id, rehashed = rehash.is_some(), "signed in");
    state
        .log_event(user_id, &origin, Some(session_id), Event::SignedIn)
        .await;
    token_pair(state, &user_id, session_id, &role, refresh_token)
}

fn token_pair(
    state: &AuthState,
    user_id: &Uuid,
    session_id: Uuid,
    role: &str,
    refresh_token: String,
) -> Result<TokenPair> {
    let access_token = state.keys.issue(&user_id.to_string(), session_id, role)?;
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
                returning rt.session_id, s.user_id, s.role, s.expires_at
             ), issued as (
                insert into refresh_tokens (token_hash, session_id, expires_at)
                select $2, session_id, expires_at from spent
             ), touched as (
                update sessions set last_used_at = now() where id in (select session_id from spent)
             )
             select session_id, user_id, role from spent",
            &[(&presented_hash, Type::BYTEA), (&next_hash, Type::BYTEA)],
        )
        .await?;
    if let Some(row) = rotated {
        let (session_id, user_id, role): (Uuid, Uuid, String) =
            (row.get(0), row.get(1), row.get(2));
        return token_pair(state, &user_id, session_id, &role, next_token);
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
