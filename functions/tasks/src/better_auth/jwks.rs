//! Better Auth's JWT plugin tokens, verified against its JWKS: the key is chosen by `kid`, the
//! algorithm comes from the key (never from the token's header alone), `iss`/`aud`/`exp` are
//! required and checked, and the shared JOSE rules ([`shared::token::precheck::precheck`]) apply first.
//!
//! The keys live per execution environment: fetched on the first token that needs them, used for
//! `cache_max_age`, fetched again for an unknown `kid` at most once per `refetch_interval` (a flood
//! of made-up kids costs one fetch per interval, not one per token). When the JWKS cannot be
//! reached and no cached key fits, the answer is 503 (a dependency is down, the caller is not
//! wrong), logged once per outage; cached keys keep verifying meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::{BetterAuthJwksConfig, JwksSource};
use anyhow::Context as _;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use shared::token::jwks::{KeySet, VerifyingKey};
use shared::token::precheck::CheckedHeader;
use shared::token::verified_cache::KeyIdentity;
use tokio::sync::{Mutex, OnceCell};

use super::fetch::Fetcher;
use super::verdict::{usable_subject, Rejection, Verified};

/// A JWKS larger than this is no Better Auth JWKS (a key is 100-800 bytes; rotation keeps a few).
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Where the keys come from, and what is remembered between requests.
enum Keys {
    Fixed(KeySet),
    Remote(Box<Remote>),
}

struct Remote {
    url: String,
    /// The rules each fetched key's validation starts from (issuer, audience, leeway).
    base: Validation,
    cache_max_age: Duration,
    refetch_interval: Duration,
    fetch_timeout: Duration,
    fetcher: OnceCell<Fetcher>,
    /// Held across a fetch: concurrent requests wait for that fetch instead of starting their own.
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    keys: Arc<KeySet>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
    /// The last fetch failed: an unknown kid is then a 503, and the outage is logged only once.
    failing: bool,
}

/// Verifies Better Auth's JWT plugin tokens.
pub struct JwksVerifier {
    issuer: String,
    keys: Keys,
}

impl JwksVerifier {
    /// Fails on a configured JWKS document that is not one; fetches nothing.
    pub fn new(config: &BetterAuthJwksConfig) -> anyhow::Result<Self> {
        let mut base = Validation::new(Algorithm::EdDSA);
        base.leeway = shared::token::precheck::LEEWAY.as_secs();
        base.validate_nbf = true;
        base.set_issuer(&[&config.issuer]);
        base.set_audience(&[&config.audience]);
        base.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        let keys = match &config.source {
            JwksSource::Document(document) => {
                let set = KeySet::parse(document.as_bytes(), &base)
                    .context("BETTER_AUTH_JWKS is invalid")?;
                if set.is_empty() {
                    anyhow::bail!("BETTER_AUTH_JWKS is invalid: it holds no usable key");
                }
                Keys::Fixed(set)
            }
            JwksSource::Url(url) => Keys::Remote(Box::new(Remote {
                url: url.clone(),
                base,
                cache_max_age: config.cache_max_age,
                refetch_interval: config.refetch_interval,
                fetch_timeout: config.fetch_timeout,
                fetcher: OnceCell::new(),
                cache: Mutex::new(Cache::default()),
            })),
        };
        Ok(Self {
            issuer: config.issuer.clone(),
            keys,
        })
    }

    /// The issuer every token must carry; the namespace its subjects live in.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Verifies a token of the JWT plugin: the shared pre-check, then the key its `kid` names.
    pub async fn verify(&self, token: &str) -> Result<Verified, Rejection> {
        let header = shared::token::precheck::precheck(token, shared::token::unix_now())?;
        Ok(self.verify_checked(token, &header).await?.0)
    }

    /// [`Self::verify`] after the pre-check, with the identity of the key that verified.
    pub(crate) async fn verify_checked(
        &self,
        token: &str,
        header: &CheckedHeader,
    ) -> Result<(Verified, KeyIdentity), Rejection> {
        let kid = header.kid.as_deref().ok_or(Rejection::Invalid("no kid"))?;
        let (subject, key) = match &self.keys {
            Keys::Fixed(set) => decode(set.get(kid), token),
            Keys::Remote(remote) => {
                let set = remote.keys_for(kid).await?;
                decode(set.get(kid), token)
            }
        }?;
        let verified = Verified {
            issuer: self.issuer.clone(),
            subject,
        };
        Ok((verified, key))
    }

    /// Whether the key named `kid` is still the key `identity` (for a cached token): with a
    /// fetched JWKS, after the same refresh as a token needing that key would get, so a refresh
    /// that dropped the key ends its cached tokens.
    pub(crate) async fn holds(&self, kid: &str, identity: &KeyIdentity) -> bool {
        match &self.keys {
            Keys::Fixed(set) => set.holds(kid, identity),
            Keys::Remote(remote) => remote
                .keys_for(kid)
                .await
                .is_ok_and(|set| set.holds(kid, identity)),
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

fn decode(key: Option<&VerifyingKey>, token: &str) -> Result<(String, KeyIdentity), Rejection> {
    let key = key.ok_or(Rejection::Invalid("unknown kid"))?;
    let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation)
        .map_err(|error| {
            tracing::debug!(reason = %error, "Better Auth token rejected");
            match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => Rejection::Expired,
                _ => Rejection::Invalid("signature or claims"),
            }
        })?
        .claims;
    let subject = usable_subject(claims.sub).ok_or(Rejection::Invalid("unusable sub"))?;
    Ok((subject, key.identity))
}

impl Remote {
    /// The key set to look `kid` up in, fetched when the cache is empty, old, or lacks `kid` (at
    /// most once per `refetch_interval`). `Unavailable` when the JWKS cannot be reached and the
    /// cache does not hold `kid`.
    async fn keys_for(&self, kid: &str) -> Result<Arc<KeySet>, Rejection> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        let fresh = cache
            .fetched_at
            .is_some_and(|at| now.duration_since(at) < self.cache_max_age);
        if fresh && cache.keys.contains(kid) {
            return Ok(cache.keys.clone());
        }
        let may_fetch = cache
            .attempted_at
            .is_none_or(|at| now.duration_since(at) >= self.refetch_interval);
        if may_fetch {
            cache.attempted_at = Some(now);
            match self.fetch().await {
                Ok(keys) => {
                    if cache.failing {
                        tracing::info!(url = %self.url, "Better Auth JWKS reachable again");
                    }
                    cache.keys = Arc::new(keys);
                    cache.fetched_at = Some(now);
                    cache.failing = false;
                }
                Err(error) => {
                    if !cache.failing {
                        tracing::warn!(url = %self.url, error = %shared::error::ErrorChain(&error), "Better Auth JWKS unreachable; tokens of keys not cached get 503");
                    }
                    cache.failing = true;
                }
            }
        }
        if cache.failing && !cache.keys.contains(kid) {
            return Err(Rejection::Unavailable);
        }
        Ok(cache.keys.clone())
    }

    async fn fetch(&self) -> anyhow::Result<KeySet> {
        let fetcher = self
            .fetcher
            .get_or_try_init(|| async { Fetcher::new() })
            .await?;
        let started = Instant::now();
        let body = fetcher
            .get(&self.url, self.fetch_timeout, MAX_JWKS_BYTES)
            .await?;
        let set = KeySet::parse(&body, &self.base)?;
        tracing::info!(url = %self.url, keys = set.len(), ms = started.elapsed().as_millis() as u64, "fetched the Better Auth JWKS");
        Ok(set)
    }
}
