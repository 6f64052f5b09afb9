//! Passkeys (WebAuthn Level 3) through kanidm's `webauthn-rs`: the relying party read from the
//! settings, and the ceremonies kept in PostgreSQL (Lambda environments share no memory) —
//! single-use, five minutes, bound to their kind and (for registration and an email sign-in) to
//! their account. The routes are in `handlers/passkeys.rs`.
//!
//! What webauthn-rs checks for us, strictly: the challenge, the origin (one of
//! `WEBAUTHN_RP_ORIGINS`, exactly: no subdomain, no other port), the RP id hash, the signature,
//! user verification (required for registration and sign-in), and a signature counter that does
//! not move forward (`CredentialPossibleCompromise`).

use std::sync::Arc;

use shared::error::{ApiError, FieldError};
use shared::misconfig::Misconfiguration;
use tokio_postgres::types::Type;
use uuid::Uuid;
use webauthn_rs::prelude::Webauthn;

use crate::secrets::{new_token, token_hash};
use crate::state::AuthState;

pub mod relying_party;

pub use relying_party::CEREMONY_TTL_SECS;

/// The longest passkey name.
pub const MAX_NAME_CHARS: usize = 64;

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
