//! What every request of the tasks function shares, built once per execution environment: the
//! database pool, our token keys (public only) and the Better Auth verifiers.

use std::sync::Arc;

use shared::config::JwtConfig;
use shared::token::TokenKeys;

use crate::better_auth::config::BetterAuthJwksConfig;
use shared::db::Db;
use shared::secrecy::ExposeSecret;

use crate::better_auth::{BetterAuth, BetterAuthKey, JwksVerifier};

#[derive(Clone)]
pub struct TasksState {
    pub db: Db,
    pub keys: Arc<TokenKeys>,
    pub better_auth: Arc<BetterAuth>,
}

impl TasksState {
    /// The state for our own tokens and, when configured, Better Auth's. Fails on a configured
    /// JWKS document that is not one; fetches nothing (the JWKS is fetched on first need).
    pub fn new(
        db: Db,
        jwt: &JwtConfig,
        jwks: Option<&BetterAuthJwksConfig>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            // Public keys only (with EdDSA): this function can check our tokens, never mint one.
            keys: Arc::new(TokenKeys::verifier(jwt)),
            better_auth: Arc::new(BetterAuth {
                secret: jwt
                    .better_auth_secret
                    .as_ref()
                    .map(|secret| BetterAuthKey::new(secret.expose_secret().as_bytes())),
                jwks: jwks.map(JwksVerifier::new).transpose()?,
                cache: Default::default(),
            }),
        })
    }
}
