//! Tokens from a Better Auth frontend, in every shape Better Auth issues: its JWT plugin's
//! asymmetric tokens (EdDSA by default, ES256, RS256, PS256) verified against its JWKS
//! ([`jwks`]), and the HS256 shapes signed with `BETTER_AUTH_SECRET` ([`hs256`]). Each issuer's
//! subjects form their own namespace: a verified token names its issuer as well as its subject.

pub mod config;
pub mod fetch;
pub mod hs256;
pub mod jwks;
pub mod verdict;

pub use hs256::BetterAuthKey;
pub use jwks::JwksVerifier;
pub use verdict::{Rejection, Verified};

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
