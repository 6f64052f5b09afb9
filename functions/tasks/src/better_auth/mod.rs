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

use std::sync::Arc;

use shared::token::verified_cache::{token_digest, Hit, KeyIdentity, VerifiedCache};

/// Every Better Auth mode that is configured, side by side, and the tokens they verified in this
/// execution environment ([`shared::token::verified_cache`]).
#[derive(Default)]
pub struct BetterAuth {
    pub secret: Option<BetterAuthKey>,
    pub jwks: Option<JwksVerifier>,
    pub cache: VerifiedCache<Verified>,
}

impl BetterAuth {
    pub fn is_configured(&self) -> bool {
        self.secret.is_some() || self.jwks.is_some()
    }

    /// Routes by the header: HS256 goes to the shared secret, a token with a `kid` and any other
    /// algorithm to the JWKS (where the key, not this header, decides the algorithm). A token that
    /// verified is remembered with its key: the same bytes again skip the signature check while
    /// that key is still held and `exp`/`nbf` still hold.
    pub async fn verify(&self, token: &str) -> Result<Verified, Rejection> {
        let digest = token_digest(token);
        let now = shared::token::unix_now();
        if let Some(hit) = self.cache.get(&digest, now) {
            if self.holds(hit.kid.as_deref(), &hit.key).await {
                return Ok(hit.value);
            }
            // The key that verified it is gone (rotated out of the JWKS): verified afresh.
            self.cache.forget(&digest);
        }
        let header = shared::token::precheck::precheck(token, now)?;
        let (value, kid, key) = match (header.alg.as_str(), &header.kid, &self.secret, &self.jwks) {
            ("HS256", _, Some(secret), _) => {
                let verified = Verified {
                    issuer: hs256::SECRET_ISSUER.to_owned(),
                    subject: secret.verify(token)?,
                };
                (verified, None, secret.identity)
            }
            (alg, Some(kid), _, Some(jwks)) if alg != "HS256" => {
                let (verified, key) = jwks.verify_checked(token, &header).await?;
                (verified, Some(Arc::from(kid.as_str())), key)
            }
            _ => return Err(Rejection::Invalid("no verifier for this header")),
        };
        let hit = Hit { value, kid, key };
        self.cache
            .insert(digest, token.len(), hit.clone(), header.validity);
        Ok(hit.value)
    }

    /// Whether the key that verified a cached token is still held: the secret (no `kid`), or the
    /// JWKS key named `kid`.
    async fn holds(&self, kid: Option<&str>, key: &KeyIdentity) -> bool {
        match (kid, &self.secret, &self.jwks) {
            (None, Some(secret), _) => secret.identity == *key,
            (Some(kid), _, Some(jwks)) => jwks.holds(kid, key).await,
            _ => false,
        }
    }
}
