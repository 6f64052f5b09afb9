//! Sign-in with an OpenID Provider: `/auth/oidc/{provider}/authorize` (to the provider) and
//! `/auth/oidc/{provider}/callback` (back from it, ending in a one-time code for the frontend,
//! exchanged at `/auth/token` with `grant_type=authorization_code`), and the caller's linked
//! identities (`/users/me/identities`). The flow itself is in `crate::oidc`.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::error::{ApiError, FieldError, Result};
use shared::http::{Query, SourceIp};
use tokio_postgres::types::Type;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::oidc::link::{self, How};
use crate::oidc::{Provider, Refused};
use crate::secrets::{new_token, token_hash};
use crate::security_log::{Event, Origin};
use crate::state::AuthState;
use crate::users::Principal;

/// The cookie that binds a sign-in to the browser that started it (login CSRF): HttpOnly,
/// SameSite=Lax (sent on the provider's top-level redirect back), ten minutes, only to our
/// `/auth/oidc/` routes.
const BINDING_COOKIE: &str = "oidc_login";
/// Seconds a started sign-in waits for its callback.
const LOGIN_TTL_SECS: i32 = 600;
/// Seconds the one-time code waits for its exchange at `/auth/token`.
pub const CODE_TTL_SECS: i32 = 60;
/// The RFC 8176 `amr` of a provider sign-in.
pub const AMR_FEDERATED: &str = "fed";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeQuery {
    /// The frontend URL the sign-in ends at, `?code=` (or `?error=`) appended; must start with one
    /// of `OIDC_RETURN_URLS`.
    return_to: String,
    /// Optional PKCE for the one-time code (RFC 7636, S256): the frontend sends its
    /// `code_verifier` to `/auth/token` with the code.
    code_challenge: Option<String>,
    /// `S256`, the only method, when `code_challenge` is given.
    code_challenge_method: Option<String>,
}

fn provider_of<'a>(state: &'a AuthState, name: &str) -> Result<&'a Provider> {
    state
        .settings
        .oidc
        .provider(name)
        .ok_or_else(|| ApiError::not_found("No identity provider of this name is configured"))
}

fn hash_b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()))
}

/// Starts a sign-in at `provider`: a 302 to its authorization endpoint (scope `openid email
/// profile`, `state`, `nonce`, PKCE S256) and the cookie that binds the sign-in to this browser.
#[utoipa::path(get, path = "/auth/oidc/{provider}/authorize", operation_id = "oidcAuthorize", tag = "auth",
    params(("provider" = String, Path, description = "A name of `OIDC_PROVIDERS`"), AuthorizeQuery),
    responses(
        (status = 302, description = "To the provider's sign-in page; sets the `oidc_login` cookie",
         headers(("Location" = String, description = "The provider's authorization URL"))),
        (status = 404, description = "No provider of this name"),
        (status = 422, description = "`return_to` not allowed, or a bad `code_challenge`"),
        (status = 503, description = "The provider is not reachable; retry after `Retry-After` seconds"),
    ))]
pub async fn authorize(
    State(state): State<AuthState>,
    Path(name): Path<String>,
    Query(query): Query<AuthorizeQuery>,
) -> Result<Response> {
    let provider = provider_of(&state, &name)?;
    let settings = &state.settings.oidc;
    if !settings.return_allowed(&query.return_to) {
        return Err(ApiError::invalid_field(FieldError::new(
            &["query", "return_to"],
            "return_to is not an allowed frontend URL (OIDC_RETURN_URLS)",
            "value_error",
        )));
    }
    let challenge = match (query.code_challenge, query.code_challenge_method.as_deref()) {
        (None, None) => None,
        (Some(challenge), Some("S256"))
            if (43..=128).contains(&challenge.len())
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) =>
        {
            Some(challenge)
        }
        _ => {
            return Err(ApiError::invalid_field(FieldError::new(
                &["query", "code_challenge"],
                "code_challenge must be 43 to 128 characters of base64url with code_challenge_method=S256",
                "value_error",
            )))
        }
    };
    let (state_token, state_hash) = new_token();
    let (binding, binding_hash) = new_token();
    let redirect_uri = settings.redirect_uri(&provider.name);
    let (location, nonce, verifier) = state
        .oidc
        .authorization_url(provider, &redirect_uri, &state_token)
        .await
        .map_err(|_| {
            ApiError::DependencyUnavailable(
                "The identity provider is not reachable; try again shortly",
            )
        })?;
    state
        .db
        .execute(
            "with swept as (
                delete from oidc_logins where state_hash in
                    (select state_hash from oidc_logins where expires_at < now() limit 20)
             )
             insert into oidc_logins
                (state_hash, provider, nonce, pkce_verifier, return_to, browser_hash, code_challenge, expires_at)
             values ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))",
            &[
                (&state_hash, Type::BYTEA),
                (&provider.name, Type::TEXT),
                (&nonce, Type::TEXT),
                (&verifier, Type::TEXT),
                (&query.return_to, Type::TEXT),
                (&binding_hash, Type::BYTEA),
                (&challenge, Type::TEXT),
                (&f64::from(LOGIN_TTL_SECS), Type::FLOAT8),
            ],
        )
        .await?;
    let secure = if settings.redirect_base.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{BINDING_COOKIE}={binding}; Path=/auth/oidc/; Max-Age={LOGIN_TTL_SECS}; HttpOnly; SameSite=Lax{secure}"
    );
    Ok(redirect(&location, Some(cookie)))
}

/// A 302 that no cache keeps.
fn redirect(location: &str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `return_to` with `pairs` appended to its query.
fn with_query(return_to: &str, pairs: &[(&str, &str)]) -> String {
    let mut encoded = openidconnect::url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        encoded.append_pair(name, value);
    }
    let separator = if return_to.contains('?') { '&' } else { '?' };
    format!("{return_to}{separator}{}", encoded.finish())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The provider's authorization code.
    code: Option<String>,
    /// The `state` of the authorization request.
    state: Option<String>,
    /// The provider's error, instead of a code (`access_denied`, ...).
    error: Option<String>,
    /// The issuer of the answer (RFC 9207), when the provider sends it: must be this provider's.
    iss: Option<String>,
    #[allow(dead_code)]
    error_description: Option<String>,
}

/// The `oidc_login` cookie of the request.
fn binding_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(BINDING_COOKIE)?.strip_prefix('='))
}

/// Where the provider sends the browser back. Spends the sign-in `state` (unknown, spent, expired,
/// or started in another browser: 422, no redirect), exchanges the code, verifies the ID token,
/// applies the linking rule, and redirects to `return_to` with a one-time `code` (never tokens),
/// or with `error` and `error_description`; a refused sign-in creates nothing.
#[utoipa::path(get, path = "/auth/oidc/{provider}/callback", operation_id = "oidcCallback", tag = "auth",
    params(("provider" = String, Path, description = "A name of `OIDC_PROVIDERS`"), CallbackQuery),
    responses(
        (status = 302, description = "To `return_to` with `?code=` (exchange it at `/auth/token`, `grant_type=authorization_code`, within 60 seconds) or `?error=` and `error_description` (`access_denied`, `invalid_grant`, `invalid_token`, `temporarily_unavailable`, `email_not_verified`, `account_exists_unverified`, `account_disabled`, ...)",
         headers(("Location" = String, description = "`return_to` with the code or the error"))),
        (status = 404, description = "No provider of this name"),
        (status = 422, description = "No sign-in of this browser has this `state` (unknown, already used, expired, or started elsewhere)"),
    ))]
pub async fn callback(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<CallbackQuery>,
) -> Result<Response> {
    let bad_state = || {
        ApiError::invalid_field(FieldError::new(
            &["query", "state"],
            "No sign-in of this browser has this state: it is unknown, already used, expired, or was started in another browser; start again",
            "value_error",
        ))
    };
    let (Some(state_token), Some(binding)) = (query.state.as_deref(), binding_cookie(&headers))
    else {
        return Err(bad_state());
    };
    if state_token.len() > 256 || binding.len() > 256 {
        return Err(bad_state());
    }
    let provider = provider_of(&state, &name)?;
    // Single use: the row is deleted as it is read.
    let login = state
        .db
        .query_opt(
            "delete from oidc_logins
              where state_hash = $1 and provider = $2 and browser_hash = $3
             returning nonce, pkce_verifier, return_to, code_challenge, expires_at > now()",
            &[
                (&token_hash(state_token), Type::BYTEA),
                (&provider.name, Type::TEXT),
                (&token_hash(binding), Type::BYTEA),
            ],
        )
        .await?;
    let Some(login) = login.filter(|row| row.get::<_, bool>(4)) else {
        return Err(bad_state());
    };
    let (nonce, verifier, return_to, challenge): (String, String, String, Option<String>) =
        (login.get(0), login.get(1), login.get(2), login.get(3));
    let origin = Origin::new(ip.as_deref(), &headers);
    let clear = format!("{BINDING_COOKIE}=; Path=/auth/oidc/; Max-Age=0; HttpOnly; SameSite=Lax");
    let refused = |refused: Refused| {
        let location = with_query(
            &return_to,
            &[
                ("error", refused.error),
                ("error_description", &refused.description),
            ],
        );
        Ok(redirect(&location, Some(clear.clone())))
    };
    // RFC 9207: an answer that names another issuer is a mix-up (another provider's code sent to
    // this provider's callback).
    if query
        .iss
        .as_deref()
        .is_some_and(|iss| iss != provider.issuer)
    {
        tracing::warn!(provider = %provider.name, "callback names another issuer");
        return refused(Refused::new(
            "invalid_request",
            "The answer names another issuer than this provider",
        ));
    }
    if let Some(error) = query.error.as_deref() {
        tracing::info!(provider = %provider.name, error, "the provider answered an error");
        let known = [
            "access_denied",
            "login_required",
            "consent_required",
            "interaction_required",
            "temporarily_unavailable",
        ];
        let error = known
            .into_iter()
            .find(|k| *k == error)
            .unwrap_or("access_denied");
        return refused(Refused::new(error, "The provider did not sign you in"));
    }
    let Some(code) = query
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 2048)
    else {
        return refused(Refused::new("invalid_request", "The provider sent no code"));
    };
    let redirect_uri = state.settings.oidc.redirect_uri(&provider.name);
    let asserted = match state
        .oidc
        .redeem(provider, &redirect_uri, code, &verifier, &nonce)
        .await
    {
        Ok(asserted) => asserted,
        Err(error) => return refused(error),
    };
    let account = match link::resolve(&state, &provider.name, &asserted, &origin).await? {
        Ok(account) => account,
        Err(error) => return refused(error),
    };
    let (code, code_hash) = new_token();
    let amr = vec![AMR_FEDERATED.to_owned()];
    state
        .db
        .execute(
            "with swept as (
                delete from sign_in_codes where code_hash in
                    (select code_hash from sign_in_codes where expires_at < now() limit 20)
             )
             insert into sign_in_codes (code_hash, user_id, amr, code_challenge, expires_at)
             values ($1, $2, $3, $4, now() + make_interval(secs => $5))",
            &[
                (&code_hash, Type::BYTEA),
                (&account.user_id, Type::UUID),
                (&amr, Type::TEXT_ARRAY),
                (&challenge, Type::TEXT),
                (&f64::from(CODE_TTL_SECS), Type::FLOAT8),
            ],
        )
        .await?;
    tracing::info!(user_id = %account.user_id, provider = %provider.name, new_account = account.how == How::Created, "provider sign-in; one-time code issued");
    Ok(redirect(
        &with_query(&return_to, &[("code", &code)]),
        Some(clear),
    ))
}

/// What the one-time code of a provider sign-in stands for, once spent.
pub(crate) struct SpentCode {
    pub user_id: Uuid,
    pub amr: Vec<String>,
}

/// Spends a one-time code (the first presentation, within [`CODE_TTL_SECS`], wins; any other is
/// refused), checking the frontend's PKCE verifier when the sign-in was started with a challenge.
/// A wrong verifier spends the code too: it cannot be guessed at.
pub(crate) async fn spend_code(
    state: &AuthState,
    code: &str,
    verifier: Option<&str>,
) -> Result<Option<SpentCode>> {
    if code.is_empty() || code.len() > 256 {
        return Ok(None);
    }
    let row = state
        .db
        .query_opt(
            "delete from sign_in_codes where code_hash = $1
             returning user_id, amr, code_challenge, expires_at > now()",
            &[(&token_hash(code), Type::BYTEA)],
        )
        .await?;
    let Some(row) = row.filter(|row| row.get::<_, bool>(3)) else {
        return Ok(None);
    };
    let challenge: Option<String> = row.get(2);
    if let Some(challenge) = challenge {
        let Some(verifier) = verifier.filter(|v| (43..=128).contains(&v.len())) else {
            return Ok(None);
        };
        use subtle::ConstantTimeEq as _;
        if !bool::from(hash_b64(verifier).as_bytes().ct_eq(challenge.as_bytes())) {
            return Ok(None);
        }
    }
    Ok(Some(SpentCode {
        user_id: row.get(0),
        amr: row.get(1),
    }))
}

/// A provider identity linked to the caller's account.
#[derive(Serialize, ToSchema)]
pub struct Identity {
    /// Pass it to `DELETE /users/me/identities/{id}`.
    id: Uuid,
    /// The provider's name (`OIDC_PROVIDERS`).
    #[schema(example = "google")]
    provider: String,
    /// The address the provider asserted when the identity was linked.
    email: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<time::OffsetDateTime>,
}

/// The caller's linked provider identities, oldest first.
#[utoipa::path(get, path = "/users/me/identities", operation_id = "listMyIdentities", tag = "users", security(("bearer" = []), ("oauth2_password" = [])),
    responses((status = 200, description = "The caller's linked identities", body = Vec<Identity>)))]
pub async fn list_mine(
    State(state): State<AuthState>,
    principal: Principal,
) -> Result<axum::Json<Vec<Identity>>> {
    let rows = state
        .db
        .query(
            "select id, provider, email, created_at, last_used_at from user_identities
              where user_id = $1 order by created_at, id",
            &[(&principal.user.id, Type::UUID)],
        )
        .await?;
    Ok(axum::Json(
        rows.iter()
            .map(|row| Identity {
                id: row.get(0),
                provider: row.get(1),
                email: row.get(2),
                created_at: row.get(3),
                last_used_at: row.get(4),
            })
            .collect(),
    ))
}

/// Unlinks one of the caller's provider identities; refused while it is the account's last way to
/// sign in (set a password through a reset, or link another provider, first).
#[utoipa::path(delete, path = "/users/me/identities/{identity_id}", operation_id = "unlinkMyIdentity", tag = "users", security(("bearer" = []), ("oauth2_password" = [])),
    params(("identity_id" = String, Path, description = "The identity's id (from the list)")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 404, description = "The caller has no identity with this id"),
        (status = 409, description = "The account's last way to sign in"),
    ))]
pub async fn unlink_mine(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<StatusCode> {
    let not_found = || ApiError::not_found("Identity not found");
    let id: Uuid = raw.parse().map_err(|_| not_found())?;
    let user_id = principal.user.id;
    let provider: Option<String> = state
        .db
        .query_opt(
            "select provider from user_identities where id = $1 and user_id = $2",
            &[(&id, Type::UUID), (&user_id, Type::UUID)],
        )
        .await?
        .map(|row| row.get(0));
    let Some(provider) = provider else {
        return Err(not_found());
    };
    let removed = crate::sign_in_methods::remove_unless_last(
        &state,
        user_id,
        "delete from user_identities where id = $1 and user_id = $2",
        &[(&id, Type::UUID), (&user_id, Type::UUID)],
    )
    .await?;
    if !removed {
        return Err(not_found());
    }
    let origin = Origin::new(ip.as_deref(), &headers);
    let event = Event::IdentityUnlinked { provider };
    state
        .log_event(user_id, &origin, Some(principal.session_id), event)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
