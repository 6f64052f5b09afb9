//! Passkeys (WebAuthn Level 3) through kanidm's `webauthn-rs`: the relying party read from the
//! settings, and the ceremonies kept in PostgreSQL (Lambda environments share no memory) —
//! single-use, five minutes, bound to their kind and (for registration and an email sign-in) to
//! their account. The routes are in [`crate::handlers::passkeys`].
//!
//! What webauthn-rs checks for us, strictly: the challenge, the origin (one of
//! `WEBAUTHN_RP_ORIGINS`, exactly: no subdomain, no other port), the RP id hash, the signature,
//! user verification (required for registration and sign-in), and a signature counter that does
//! not move forward (`CredentialPossibleCompromise`).

use std::sync::Arc;

use shared::config::ConfigError;
use shared::error::{ApiError, FieldError};
use shared::misconfig::Misconfiguration;
use tokio_postgres::types::Type;
use uuid::Uuid;
use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

use crate::secrets::{new_token, token_hash};
use crate::state::AuthState;

/// How long a ceremony may take, from options to answer.
pub const CEREMONY_TTL_SECS: i64 = 300;
/// The longest passkey name.
pub const MAX_NAME_CHARS: usize = 64;

/// Builds the relying party from `WEBAUTHN_RP_ID` and `WEBAUTHN_RP_ORIGINS` (both or neither),
/// `WEBAUTHN_RP_NAME` optional. Every origin must be exact (`scheme://host[:port]`, nothing
/// after), `https` or `http://localhost`, and its host the RP id or under it.
pub fn relying_party<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<Option<Webauthn>, ConfigError> {
    let invalid = |name: &'static str, reason: String| ConfigError::Invalid { name, reason };
    let (rp_id, origins) = match (get("WEBAUTHN_RP_ID"), get("WEBAUTHN_RP_ORIGINS")) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(invalid(
                "WEBAUTHN_RP_ORIGINS",
                "required with WEBAUTHN_RP_ID: the exact origins of the pages that use passkeys, comma-separated".to_owned(),
            ))
        }
        (None, Some(_)) => {
            return Err(invalid(
                "WEBAUTHN_RP_ID",
                "required with WEBAUTHN_RP_ORIGINS: the domain passkeys are bound to (e.g. example.com)".to_owned(),
            ))
        }
        (Some(id), Some(origins)) => (id, origins),
    };
    let valid_id = !rp_id.is_empty()
        && rp_id.len() <= 253
        && rp_id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !rp_id.starts_with('.')
        && !rp_id.ends_with('.');
    if !valid_id {
        return Err(invalid(
            "WEBAUTHN_RP_ID",
            format!("expected a lowercase domain name such as example.com, got {rp_id:?}"),
        ));
    }
    let mut parsed = Vec::new();
    for raw in origins.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let url = Url::parse(raw).map_err(|error| {
            invalid(
                "WEBAUTHN_RP_ORIGINS",
                format!("{raw:?} is not a URL: {error}"),
            )
        })?;
        // An origin, nothing more: `Url` adds a `/` path to `https://a.example`, so compare its
        // serialised origin with what was written.
        let exact = url.origin().ascii_serialization() == raw;
        let host = url.host_str().unwrap_or("");
        // Browsers treat http://localhost and http://*.localhost as secure contexts (loopback).
        let loopback = host == "localhost" || host.ends_with(".localhost");
        let secure = url.scheme() == "https" || (url.scheme() == "http" && loopback);
        let under_id = host == rp_id || host.ends_with(&format!(".{rp_id}"));
        if !exact || !secure || !under_id {
            return Err(invalid(
                "WEBAUTHN_RP_ORIGINS",
                format!(
                    "{raw:?} must be an exact origin (https://host[:port], or http://localhost[:port] and its subdomains) whose host is {rp_id} or under it"
                ),
            ));
        }
        parsed.push(url);
    }
    let Some((first, rest)) = parsed.split_first() else {
        return Err(invalid(
            "WEBAUTHN_RP_ORIGINS",
            "expected at least one origin".to_owned(),
        ));
    };
    let name = get("WEBAUTHN_RP_NAME").unwrap_or("Tasks API");
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(invalid(
            "WEBAUTHN_RP_NAME",
            "expected a name of at most 64 characters".to_owned(),
        ));
    }
    let builder = WebauthnBuilder::new(rp_id, first)
        .map_err(|error| invalid("WEBAUTHN_RP_ID", error.to_string()))?;
    let builder = rest
        .iter()
        .fold(builder, |builder, origin| {
            builder.append_allowed_origin(origin)
        })
        .rp_name(name)
        .allow_subdomains(false)
        .allow_any_port(false)
        .timeout(std::time::Duration::from_secs(CEREMONY_TTL_SECS as u64));
    builder
        .build()
        .map(Some)
        .map_err(|error| invalid("WEBAUTHN_RP_ID", error.to_string()))
}

/// The relying party, or the answer that says it is not configured.
pub fn relying_party_of(state: &AuthState) -> Result<&Webauthn, ApiError> {
    state.settings.webauthn.as_deref().ok_or_else(|| {
        ApiError::Misconfigured(Arc::new(Misconfiguration {
            setting: Some("WEBAUTHN_RP_ID"),
            detail: "WEBAUTHN_RP_ID and WEBAUTHN_RP_ORIGINS are not set, so passkeys are off: set \
                     them to the site's domain and the exact origins of its pages (scripts/dev.sh \
                     sets localhost ones; the template has parameters), then restart the function"
                .to_owned(),
            cause: "WEBAUTHN_RP_ID is not set".to_owned(),
        }))
    })
}

/// The kind of a ceremony, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Registration,
    Authentication,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Authentication => "authentication",
        }
    }
}

/// Stores a ceremony's server state; answers the handle the client sends back (32 random bytes,
/// base64url). Sweeps a few expired ones on the way.
pub async fn open(
    state: &AuthState,
    kind: Kind,
    user_id: Option<Uuid>,
    server_state: &serde_json::Value,
) -> Result<String, ApiError> {
    let (handle, handle_hash) = new_token();
    state
        .db
        .execute(
            "with swept as (
                delete from webauthn_ceremonies
                 where handle_hash in (select handle_hash from webauthn_ceremonies
                                        where expires_at < now() limit 20 for update skip locked)
             )
             insert into webauthn_ceremonies (handle_hash, user_id, kind, state, expires_at)
             values ($1, $2, $3, $4, now() + make_interval(secs => $5))",
            &[
                (&handle_hash, Type::BYTEA),
                (&user_id, Type::UUID),
                (&kind.as_str(), Type::TEXT),
                (server_state, Type::JSONB),
                (&(CEREMONY_TTL_SECS as f64), Type::FLOAT8),
            ],
        )
        .await?;
    Ok(handle)
}

/// Spends the ceremony `handle` of `kind` (and, when `user_id` is given, of that user): deleted
/// whatever follows, so an answer is checked at most once. Answers its account and state; a
/// handle unknown, spent, expired, of another kind or another user is a 422 on `ceremony`.
pub async fn spend(
    state: &AuthState,
    handle: &str,
    kind: Kind,
    user_id: Option<Uuid>,
) -> Result<(Option<Uuid>, serde_json::Value), ApiError> {
    let refused = || {
        ApiError::invalid_field(FieldError::body(
            "ceremony",
            "Unknown, used or expired ceremony: ask for new options",
            "value_error",
        ))
    };
    if handle.is_empty() || handle.len() > 64 {
        return Err(refused());
    }
    let row = state
        .db
        .query_opt(
            "delete from webauthn_ceremonies
              where handle_hash = $1
             returning user_id, state,
                       coalesce(kind = $2 and expires_at > now()
                                and ($3::uuid is null or user_id = $3), false)",
            &[
                (&token_hash(handle), Type::BYTEA),
                (&kind.as_str(), Type::TEXT),
                (&user_id, Type::UUID),
            ],
        )
        .await?
        .ok_or_else(refused)?;
    if !row.get::<_, bool>(2) {
        return Err(refused());
    }
    Ok((row.get(0), row.get(1)))
}
