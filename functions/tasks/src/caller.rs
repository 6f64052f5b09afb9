//! Who is calling the tasks function: our own access tokens (whose session is checked inside each
//! task statement, so revocation costs no extra round trip) or, when `BETTER_AUTH_SECRET` is set,
//! a Better Auth frontend's HS256 token (subject in `sub` or `userId`, `exp` required).

use axum::extract::FromRequestParts;
use http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use shared::error::ApiError;
use shared::http::bearer_token;
use uuid::Uuid;

use crate::TasksState;

/// The subject whose tasks this request may touch, and the session to check with the statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    /// `(session id, user id)` for our own tokens; `None` for Better Auth tokens (stateless).
    pub session: Option<(Uuid, Uuid)>,
}

/// Verifies Better Auth tokens: HS256 with the shared secret, `exp` required, no `iss`/`aud`.
#[derive(Clone)]
pub struct BetterAuthKey {
    decoding: DecodingKey,
    validation: Validation,
}

#[derive(Deserialize)]
struct BetterAuthClaims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default, rename = "userId")]
    user_id: Option<String>,
}

impl BetterAuthKey {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = shared::auth::LEEWAY.as_secs();
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        Self {
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// The subject of a valid token, or `None` for an invalid token or an unusable subject.
    pub fn subject(&self, token: &str) -> Option<String> {
        let claims =
            jsonwebtoken::decode::<BetterAuthClaims>(token, &self.decoding, &self.validation)
                .ok()?
                .claims;
        claims.sub.or(claims.user_id).filter(|subject| {
            !subject.is_empty() && subject.chars().count() <= 255 && !subject.contains('\0')
        })
    }
}

impl FromRequestParts<TasksState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &TasksState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers)?;
        match state.keys.verify(token) {
            Ok(claims) => {
                let user_id: Uuid = claims.user_id()?;
                Ok(Caller {
                    subject: claims.sub,
                    session: Some((claims.sid, user_id)),
                })
            }
            Err(ours) => match state
                .better_auth
                .as_ref()
                .and_then(|key| key.subject(token))
            {
                Some(subject) => Ok(Caller {
                    subject,
                    session: None,
                }),
                None => Err(ours),
            },
        }
    }
}
