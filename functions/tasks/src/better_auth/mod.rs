//! Tokens from a Better Auth frontend, in every shape Better Auth issues: its JWT plugin's
//! asymmetric tokens (EdDSA by default, ES256, RS256, PS256) verified against its JWKS
//! ([`jwks`]), and the HS256 shapes signed with `BETTER_AUTH_SECRET` ([`hs256`]). Each issuer's
//! subjects form their own namespace: a verified token names its issuer as well as its subject.

pub mod config;
pub mod fetch;
pub mod hs256;
pub mod jwks;

use shared::error::ApiError;

pub use hs256::BetterAuthKey;
pub use jwks::JwksVerifier;

/// A verified Better Auth caller: whose namespace, and who in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub issuer: String,
    pub subject: String,
}

/// Why a Better Auth token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Invalid for the reason given (logged at debug level; the client sees one message).
    Invalid(&'static str),
    Expired,
    /// The JWKS cannot be reached and no cached key fits the token.
    Unavailable,
}

impl From<shared::token::precheck::Refused> for Rejection {
    fn from(refused: shared::token::precheck::Refused) -> Self {
        tracing::debug!(reason = %refused, "Better Auth token rejected");
        match refused {
            shared::token::precheck::Refused::Expired => Self::Expired,
            _ => Self::Invalid("refused by the JOSE pre-check"),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Invalid(_) => ApiError::unauthorized("Invalid token"),
            Rejection::Expired => ApiError::unauthorized("Token has expired"),
            Rejection::Unavailable => ApiError::DependencyUnavailable(
                "The sign-in service's keys cannot be reached; try again shortly",
            ),
        }
    }
}

/// Subjects become path segments and database keys: 1-255 characters, no NUL.
pub(crate) fn usable_subject(subject: String) -> Option<String> {
    (!subject.is_empty() && subject.chars().count() <= 255 && !subject.contains('\0'))
        .then_some(subject)
}

/// Every Better Auth mode that is configured, side by side.
#[derive(Default)]
pub struct BetterAuth {
    pub secret: Option<BetterAuthKey>,
    pub jwks: Option<JwksVerifier>,
}

impl BetterAuth {
    pub fn is_configured(&self) -> bool {
        self.secret.is_some() || self.jwks.is_some()
    }

    /// Routes by the header: HS256 goes to the shared secret, a token with a `kid` and any other
    /// algorithm to the JWKS (where the key, not this header, decides the algorithm).
    pub async fn verify(&self, token: &str) -> Result<Verified, Rejection> {
        let header = shared::token::precheck::precheck(token, shared::token::unix_now())?;
        match (header.alg.as_str(), &header.kid, &self.secret, &self.jwks) {
            ("HS256", _, Some(secret), _) => Ok(Verified {
                issuer: hs256::SECRET_ISSUER.to_owned(),
                subject: secret.verify(token)?,
            }),
            (alg, Some(_), _, Some(jwks)) if alg != "HS256" => jwks.verify(token).await,
            _ => Err(Rejection::Invalid("no verifier for this header")),
        }
    }
}
