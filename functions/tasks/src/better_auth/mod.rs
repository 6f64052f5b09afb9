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

use shared::token::verified_cache::{token_digest, Hit, KeyIdentity, TokenDigest, VerifiedCache};

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
        self.verify_digested(token, &token_digest(token)).await
    }

    /// [`Self::verify`] of a token whose [`token_digest`] the caller has already computed.
    pub async fn verify_digested(
        &self,
        token: &str,
        digest: &TokenDigest,
    ) -> Result<Verified, Rejection> {
        if let Some(verified) = self.cached(digest).await {
            return Ok(verified);
        }
        let now = shared::token::unix_now();
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
            .insert(*digest, token.len(), hit.clone(), header.validity);
        Ok(hit.value)
    }

    /// The caller of a token verified before, if it is cached, still valid now, and its key still
    /// held; `None` says nothing about the token (verify it).
    pub async fn cached(&self, digest: &TokenDigest) -> Option<Verified> {
        let hit = self.cache.get(digest, shared::token::unix_now())?;
        if self.holds(hit.kid.as_deref(), &hit.key).await {
            return Some(hit.value);
        }
        // The key that verified it is gone (rotated out of the JWKS): verified afresh.
        self.cache.forget(digest);
        None
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

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "better-auth-secret-better-auth-secret";

    fn better_auth() -> BetterAuth {
        BetterAuth {
            secret: Some(BetterAuthKey::new(SECRET.as_bytes())),
            ..Default::default()
        }
    }

    fn token(secret: &str, exp_in: i64) -> String {
        let now = shared::token::unix_now() as i64;
        jsonwebtoken::encode(
            &Header::default(),
            &json!({"sub": "ba-user", "iat": now - 10, "exp": now + exp_in}),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_verified_token_is_cached_with_its_key_and_a_failing_one_never() {
        let verifier = better_auth();
        let good = token(SECRET, 600);
        for _ in 0..2 {
            assert_eq!(verifier.verify(&good).await.unwrap().subject, "ba-user");
        }
        assert!(verifier.cache.contains(&good));
        let wrong_secret = token("another-secret-another-secret-another", 600);
        let expired = token(SECRET, -60);
        for bad in [&wrong_secret, &expired] {
            for _ in 0..2 {
                assert!(verifier.verify(bad).await.is_err());
            }
            assert!(!verifier.cache.contains(bad));
        }
        assert_eq!(verifier.cache.usage().0, 1);
    }

    #[tokio::test]
    async fn a_cached_token_of_a_secret_no_longer_configured_is_refused() {
        let before = better_auth();
        let good = token(SECRET, 600);
        before.verify(&good).await.unwrap();
        // Same cache, another secret (as a reloaded configuration would have).
        let after = BetterAuth {
            secret: Some(BetterAuthKey::new(b"the-new-better-auth-secret-0123456789")),
            jwks: None,
            cache: before.cache,
        };
        assert!(after.cache.contains(&good));
        assert_eq!(
            after.verify(&good).await.unwrap_err(),
            Rejection::Invalid("signature or claims")
        );
        assert!(!after.cache.contains(&good));
    }
}
