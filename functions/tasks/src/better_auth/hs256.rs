//! Better Auth tokens signed with `BETTER_AUTH_SECRET` (HS256): the seeds' form, subject in `sub`
//! or `userId`; and Better Auth's session cookie cache (`session.cookieCache.strategy: "jwt"`),
//! `{session: {userId, ..}, user: {id, ..}}`, whose subject is `session.userId` and must be
//! `user.id`. `exp` required; no `iss`/`aud` (neither shape has them).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use shared::token::verified_cache::KeyIdentity;

use super::verdict::{usable_subject, Rejection};

/// The issuer name of this shared-secret mode's subjects: its tokens carry no `iss`, and its
/// subjects must never meet those of another issuer (or our own users).
pub const SECRET_ISSUER: &str = "better-auth-secret";

/// Verifies HS256 Better Auth tokens with the shared secret.
#[derive(Clone)]
pub struct BetterAuthKey {
    decoding: DecodingKey,
    validation: Validation,
    /// Which secret this is, for the cache of verified tokens.
    pub identity: KeyIdentity,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default, rename = "userId")]
    user_id: Option<String>,
    #[serde(default)]
    session: Option<SessionPart>,
    #[serde(default)]
    user: Option<UserPart>,
}

#[derive(Deserialize)]
struct SessionPart {
    #[serde(rename = "userId")]
    user_id: String,
}

#[derive(Deserialize)]
struct UserPart {
    id: String,
}

impl Claims {
    /// `sub`, else `userId`, else the session cache's `session.userId` when `user.id` agrees.
    fn subject(self) -> Option<String> {
        if let Some(subject) = self.sub.or(self.user_id) {
            return Some(subject);
        }
        match (self.session, self.user) {
            (Some(session), Some(user)) if session.user_id == user.id => Some(session.user_id),
            _ => None,
        }
    }
}

impl BetterAuthKey {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = shared::token::precheck::LEEWAY.as_secs();
        validation.validate_aud = false;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        Self {
            decoding: DecodingKey::from_secret(secret),
            validation,
            identity: KeyIdentity::new(Algorithm::HS256, secret),
        }
    }

    /// The subject of a valid token.
    pub fn verify(&self, token: &str) -> Result<String, Rejection> {
        shared::token::precheck::precheck(token, shared::token::unix_now())
            .map_err(Rejection::from)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|error| {
                tracing::debug!(reason = %error, "Better Auth HS256 token rejected");
                Rejection::Invalid("signature or claims")
            })?
            .claims;
        claims
            .subject()
            .and_then(usable_subject)
            .ok_or(Rejection::Invalid("no usable subject"))
    }

    /// The subject of a valid token, or `None` (kept for the fuzz target).
    pub fn subject(&self, token: &str) -> Option<String> {
        self.verify(token).ok()
    }
}
