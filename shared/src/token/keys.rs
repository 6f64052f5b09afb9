//! Access tokens: JWTs with every claim required and checked, signed with HS256 (a shared secret)
//! or EdDSA (Ed25519: only the auth function holds the private key, verifiers hold public keys).
//! Every token names its key in `kid`; the key decides the algorithm, never the token's header
//! (RFC 8725 §3.1), so an HS256 header cannot verify against a public key or the reverse. Keys
//! and validation rules are built once per execution environment; verifying a token allocates
//! only its claims.
//!
//! Rotation keeps tokens alive: a verifier holds the signing key's public key, the next one (so a
//! token of the next key verifies everywhere before any function signs with it) and the previous
//! one (until its last token has expired); with HS256, `JWT_PREVIOUS_SECRET` verifies for the same
//! grace period. A token without `kid` (minted before kids) is tried against the HS256 secrets only.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::config::{JwtConfig, TokenAlgorithm};
use crate::error::ApiError;
use crate::token::jwks::{KeySet, VerifyingKey};
use crate::token::verified_cache::{token_digest, Hit, KeyIdentity, TokenDigest, VerifiedCache};

/// The `typ` claim of our access tokens; a token of another type (a future ID or reset token signed
/// with the same key) is never accepted where an access token is expected.
pub const ACCESS_TOKEN_TYPE: &str = "access";

pub use crate::token::precheck::LEEWAY;

/// The claims of an access token, all of them required but `amr` and `aal` (tokens minted before
/// them mean a password sign-in: `["pwd"]`, `aal1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user's id.
    pub sub: String,
    /// The session this token belongs to; revoking the session revokes the token.
    pub sid: Uuid,
    pub role: String,
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
    pub typ: String,
    /// How the session was authenticated (RFC 8176): `pwd`, plus `otp` and `mfa` after a second
    /// factor. Copied from the session, so a refreshed token says the same.
    #[serde(default = "password_only")]
    pub amr: Vec<String>,
    /// Authenticator assurance level, as Supabase names it: `aal2` when `amr` holds `mfa`, else
    /// `aal1`. A resource server that needs a second factor requires `aal2`.
    #[serde(default = "aal1")]
    pub aal: String,
}

fn password_only() -> Vec<String> {
    vec!["pwd".to_owned()]
}

fn aal1() -> String {
    "aal1".to_owned()
}

/// The assurance level of a session authenticated by `amr`.
pub fn assurance_level(amr: &[String]) -> &'static str {
    if amr.iter().any(|method| method == "mfa") {
        "aal2"
    } else {
        "aal1"
    }
}

impl AccessClaims {
    /// The subject as our user id; a token whose `sub` is not one is invalid.
    pub fn user_id(&self) -> Result<Uuid, ApiError> {
        self.sub
            .parse()
            .map_err(|_| ApiError::unauthorized("Invalid token"))
    }
}

/// The key new tokens are signed with, and the header naming it.
#[derive(Clone)]
struct Signer {
    header: Header,
    key: EncodingKey,
}

/// Signs (when it holds a signing key) and verifies access tokens.
#[derive(Clone)]
pub struct TokenKeys {
    signer: Option<Signer>,
    /// Every key that verifies, by `kid`: public keys and, for HS256, secrets.
    keys: KeySet,
    /// The HS256 secrets, tried in turn for a token without `kid`.
    unnamed: Vec<VerifyingKey>,
    /// The JWKS document we publish: the public keys only (empty with HS256).
    published: String,
    issuer: String,
    audience: String,
    ttl: Duration,
    /// Tokens these keys verified, shared by clones (one per execution environment).
    cache: Arc<VerifiedCache<AccessClaims>>,
}

/// The `kid` of an HS256 secret: a truncated SHA-256, so rotation can tell secrets apart without
/// a name to configure (the secret is 256 random bits or more; 96 bits of its hash reveal nothing).
pub fn secret_kid(secret: &[u8]) -> String {
    use base64::Engine as _;
    let digest = Sha256::digest([b"tasks-api hs256 kid:".as_slice(), secret].concat());
    format!(
        "hs-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..12])
    )
}

impl TokenKeys {
    /// Keys for the function that signs (auth): the signing key, and every key that verifies.
    pub fn new(config: &JwtConfig) -> Self {
        Self::build(config, true)
    }

    /// Keys for a function that only verifies (tasks): never a private key, whatever the
    /// configuration holds (with EdDSA, only `JWT_PUBLIC_KEYS` is read; with HS256 the secret is
    /// needed to verify, which is why EdDSA exists).
    pub fn verifier(config: &JwtConfig) -> Self {
        Self::build(config, false)
    }

    fn build(config: &JwtConfig, signs: bool) -> Self {
        use crate::secrecy::ExposeSecret as _;
        let mut base = Validation::new(Algorithm::HS256);
        base.leeway = LEEWAY.as_secs();
        base.validate_exp = true;
        base.validate_nbf = true;
        base.set_issuer(&[&config.issuer]);
        base.set_audience(&[&config.audience]);
        base.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);

        let mut keys = KeySet::default();
        let mut unnamed = Vec::new();
        let mut published = Vec::new();
        let mut signer = None;
        let secrets = config.secret.iter().chain(config.previous_secret.iter());
        for (index, secret) in secrets.enumerate() {
            let secret = secret.expose_secret().as_bytes();
            let kid = secret_kid(secret);
            let key = VerifyingKey::new(
                DecodingKey::from_secret(secret),
                Algorithm::HS256,
                &base,
                secret,
            );
            keys.insert(kid.clone(), key.clone());
            unnamed.push(key);
            if index == 0 && config.secret.is_some() && signs {
                signer = Some(Signer {
                    header: header(Algorithm::HS256, kid),
                    key: EncodingKey::from_secret(secret),
                });
            }
        }
        if config.algorithm == TokenAlgorithm::EdDSA {
            if let (true, Some(own)) = (signs, &config.signing_key) {
                keys.insert(own.kid().to_owned(), own.verifying_key(&base));
                published.push(own.public.clone());
                signer = Some(Signer {
                    header: header(Algorithm::EdDSA, own.kid().to_owned()),
                    key: own.encoding.clone(),
                });
            }
            if let Some(document) = &config.public_keys {
                // Validated when the configuration was read.
                if let Err(error) = keys.extend_from(document.as_bytes(), &base) {
                    tracing::error!(%error, "JWT_PUBLIC_KEYS");
                }
                for jwk in crate::token::jwks::public_jwks(document).unwrap_or_default() {
                    if !published
                        .iter()
                        .any(|p| p.common.key_id == jwk.common.key_id)
                    {
                        published.push(jwk);
                    }
                }
            }
        }
        Self {
            signer,
            keys,
            unnamed,
            published: crate::token::jwks::document(&published),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: config.access_token_ttl,
            cache: Arc::default(),
        }
    }

    /// Lifetime of the tokens this key issues.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The issuer our tokens carry (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The JWKS document of every public key that verifies our tokens (`{"keys":[]}` with HS256).
    pub fn jwks_document(&self) -> &str {
        &self.published
    }

    /// The JOSE name of the algorithm new tokens are signed with, if these keys sign.
    pub fn signing_algorithm(&self) -> Option<&'static str> {
        self.signer.as_ref().map(|s| match s.header.alg {
            Algorithm::EdDSA => "EdDSA",
            _ => "HS256",
        })
    }

    /// The `kid` new tokens carry, if these keys sign.
    pub fn signing_kid(&self) -> Option<&str> {
        self.signer.as_ref().and_then(|s| s.header.kid.as_deref())
    }

    /// Mints an access token for `user_id` in session `session_id`, signed in by password alone.
    pub fn issue(&self, user_id: &str, session_id: Uuid, role: &str) -> anyhow::Result<String> {
        self.issue_for(user_id, session_id, role, &password_only())
    }

    /// Mints an access token for a session authenticated by `amr` (RFC 8176 method names).
    pub fn issue_for(
        &self,
        user_id: &str,
        session_id: Uuid,
        role: &str,
        amr: &[String],
    ) -> anyhow::Result<String> {
        let signer = self
            .signer
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("this function holds no signing key"))?;
        let now = unix_now();
        let claims = AccessClaims {
            sub: user_id.to_owned(),
            sid: session_id,
            role: role.to_owned(),
            iat: now,
            exp: now + self.ttl.as_secs(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            typ: ACCESS_TOKEN_TYPE.to_owned(),
            amr: amr.to_vec(),
            aal: assurance_level(amr).to_owned(),
        };
        Ok(jsonwebtoken::encode(&signer.header, &claims, &signer.key)?)
    }

    /// Checks the shared JOSE rules ([`crate::token::precheck::precheck`]), then signature (with the key its
    /// `kid` names, whose algorithm must be the header's), issuer, audience, expiry and type.
    /// Every failure is a 401 to the client ("Token has expired" when that is all that is wrong);
    /// the reason is logged at debug level only. A token that passed is remembered
    /// ([`crate::token::verified_cache`]): the same bytes again skip all this while the key that
    /// verified them is still held and `exp`/`nbf` still hold.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, ApiError> {
        self.verify_digested(token, &token_digest(token))
    }

    /// [`Self::verify`] of a token whose [`token_digest`] the caller has already computed (the
    /// tasks function looks one token up in two caches).
    pub fn verify_digested(
        &self,
        token: &str,
        digest: &TokenDigest,
    ) -> Result<AccessClaims, ApiError> {
        self.verify_at(token, digest, unix_now())
    }

    /// The claims of a token these keys verified before, if it is cached, still valid now, and
    /// its key still held; `None` says nothing about the token (verify it).
    pub fn cached(&self, digest: &TokenDigest) -> Option<AccessClaims> {
        self.cached_at(digest, unix_now())
    }

    fn cached_at(&self, digest: &TokenDigest, now: u64) -> Option<AccessClaims> {
        let hit = self.cache.get(digest, now)?;
        if self.holds(hit.kid.as_deref(), &hit.key) {
            return Some(hit.value);
        }
        // The key that verified it is gone (rotated out): verified afresh, it fails.
        self.cache.forget(digest);
        None
    }

    /// [`Self::verify`] with the clock at `now` for the cache and the pre-check (tests move it).
    fn verify_at(
        &self,
        token: &str,
        digest: &TokenDigest,
        now: u64,
    ) -> Result<AccessClaims, ApiError> {
        if let Some(claims) = self.cached_at(digest, now) {
            return Ok(claims);
        }
        let header = crate::token::precheck::precheck(token, now).map_err(|refused| {
            tracing::debug!(reason = %refused, "access token rejected");
            match refused {
                crate::token::precheck::Refused::Expired => {
                    ApiError::unauthorized("Token has expired")
                }
                _ => ApiError::unauthorized("Invalid token"),
            }
        })?;
        let (claims, key) = match header.kid.as_deref() {
            Some(kid) => {
                let key = self.keys.get(kid).ok_or_else(|| {
                    tracing::debug!("access token rejected: unknown kid");
                    ApiError::unauthorized("Invalid token")
                })?;
                (decode(token, key)?, key)
            }
            None => {
                let mut verdict = Err(ApiError::unauthorized("Invalid token"));
                for key in &self.unnamed {
                    verdict = decode(token, key).map(|claims| (claims, key));
                    if verdict.is_ok() {
                        break;
                    }
                }
                verdict?
            }
        };
        if claims.typ != ACCESS_TOKEN_TYPE {
            return Err(ApiError::unauthorized("Invalid token"));
        }
        let hit = Hit {
            value: claims,
            kid: header.kid.map(Arc::from),
            key: key.identity,
        };
        self.cache
            .insert(*digest, token.len(), hit.clone(), header.validity);
        Ok(hit.value)
    }

    /// Whether these keys still hold the key `identity` (under `kid`, or among the secrets tried
    /// for tokens without one).
    fn holds(&self, kid: Option<&str>, identity: &KeyIdentity) -> bool {
        match kid {
            Some(kid) => self.keys.holds(kid, identity),
            None => self.unnamed.iter().any(|key| key.identity == *identity),
        }
    }

    /// The cache of tokens these keys verified.
    pub fn verified_cache(&self) -> &VerifiedCache<AccessClaims> {
        &self.cache
    }
}

fn header(alg: Algorithm, kid: String) -> Header {
    let mut header = Header::new(alg);
    header.kid = Some(kid);
    header
}

fn decode(token: &str, key: &VerifyingKey) -> Result<AccessClaims, ApiError> {
    Ok(
        jsonwebtoken::decode::<AccessClaims>(token, &key.key, &key.validation)
            .map_err(|error| {
                tracing::debug!(reason = %error, "access token rejected");
                match error.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                        ApiError::unauthorized("Token has expired")
                    }
                    _ => ApiError::unauthorized("Invalid token"),
                }
            })?
            .claims,
    )
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use serde_json::json;

    const SECRET: &str = "test-secret-test-secret-test-secret-!";

    fn keys() -> TokenKeys {
        TokenKeys::new(&JwtConfig {
            algorithm: TokenAlgorithm::HS256,
            secret: Some(SecretString::from(SECRET)),
            previous_secret: None,
            signing_key: None,
            public_keys: None,
            issuer: "tasks-api".into(),
            audience: "tasks-api".into(),
            access_token_ttl: Duration::from_secs(1800),
            better_auth_secret: None,
        })
    }

    fn sign(claims: serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn valid_claims() -> serde_json::Value {
        let now = unix_now();
        json!({
            "sub": "user-1", "sid": Uuid::new_v4(), "role": "user", "iat": now, "exp": now + 600,
            "iss": "tasks-api", "aud": "tasks-api", "typ": "access"
        })
    }

    fn b64(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn issued_token_verifies() {
        let keys = keys();
        let sid = Uuid::new_v4();
        let token = keys.issue("user-1", sid, "admin").unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!(claims.sub, "user-1");
        assert_eq!(claims.sid, sid);
        assert_eq!(claims.role, "admin");
        assert_eq!(claims.exp - claims.iat, 1800);
    }

    #[test]
    fn valid_hand_signed_claims_verify() {
        assert!(keys().verify(&sign(valid_claims(), SECRET)).is_ok());
    }

    #[test]
    fn wrong_secret_is_rejected() {
        assert!(keys()
            .verify(&sign(valid_claims(), "another-secret-another-secret-123"))
            .is_err());
    }

    #[test]
    fn tampered_payload_is_rejected() {
        let token = sign(valid_claims(), SECRET);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims = valid_claims();
        claims["role"] = json!("admin");
        parts[1] = b64(claims.to_string().as_bytes());
        assert!(keys().verify(&parts.join(".")).is_err());
    }

    #[test]
    fn alg_none_is_rejected() {
        let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = b64(valid_claims().to_string().as_bytes());
        assert!(keys().verify(&format!("{header}.{payload}.")).is_err());
    }

    #[test]
    fn other_algorithm_is_rejected() {
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &valid_claims(),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert!(keys().verify(&token).is_err());
    }

    #[test]
    fn expired_token_is_rejected() {
        let mut claims = valid_claims();
        claims["exp"] = json!(unix_now() - 60);
        claims["iat"] = json!(unix_now() - 120);
        let error = keys().verify(&sign(claims, SECRET)).unwrap_err();
        assert_eq!(error.to_string(), "Token has expired");
    }

    #[test]
    fn every_claim_is_required() {
        for claim in ["sub", "sid", "role", "iat", "exp", "iss", "aud", "typ"] {
            let mut claims = valid_claims();
            claims.as_object_mut().unwrap().remove(claim);
            assert!(
                keys().verify(&sign(claims, SECRET)).is_err(),
                "missing {claim} accepted"
            );
        }
    }

    #[test]
    fn string_exp_is_rejected() {
        let mut claims = valid_claims();
        claims["exp"] = json!((unix_now() + 600).to_string());
        assert!(keys().verify(&sign(claims, SECRET)).is_err());
    }

    #[test]
    fn wrong_issuer_audience_or_type_is_rejected() {
        for (claim, value) in [("iss", "evil"), ("aud", "other-api"), ("typ", "refresh")] {
            let mut claims = valid_claims();
            claims[claim] = json!(value);
            assert!(
                keys().verify(&sign(claims, SECRET)).is_err(),
                "{claim}={value} accepted"
            );
        }
    }

    #[test]
    fn token_from_the_future_is_rejected() {
        let mut claims = valid_claims();
        claims["iat"] = json!(unix_now() + 3600);
        claims["exp"] = json!(unix_now() + 7200);
        assert!(keys().verify(&sign(claims, SECRET)).is_err());
    }

    /// Signed with the right secret under a header of our choosing.
    fn sign_with_header(header: serde_json::Value, claims: serde_json::Value) -> String {
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let key = EncodingKey::from_secret(SECRET.as_bytes());
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
        format!("{message}.{signature}")
    }

    #[test]
    fn crit_header_is_rejected_even_when_correctly_signed() {
        let plain = sign_with_header(json!({"alg": "HS256", "typ": "JWT"}), valid_claims());
        assert!(keys().verify(&plain).is_ok(), "the control must verify");
        let critical = sign_with_header(
            json!({"alg": "HS256", "typ": "JWT", "crit": ["exp"]}),
            valid_claims(),
        );
        assert!(keys().verify(&critical).is_err());
    }

    #[test]
    fn embedded_key_headers_are_rejected_even_when_correctly_signed() {
        for (member, value) in [
            ("jwk", json!({"kty": "oct", "k": b64(SECRET.as_bytes())})),
            ("jku", json!("https://evil.example/jwks")),
        ] {
            let token = sign_with_header(json!({"alg": "HS256", member: value}), valid_claims());
            assert!(keys().verify(&token).is_err(), "{member} accepted");
        }
    }

    #[test]
    fn future_nbf_is_rejected() {
        let mut claims = valid_claims();
        claims["nbf"] = json!(unix_now() + 3600);
        assert!(keys().verify(&sign(claims, SECRET)).is_err());
    }

    fn eddsa(vars: &[(String, String)]) -> JwtConfig {
        let vars: std::collections::HashMap<String, String> = vars.iter().cloned().collect();
        JwtConfig::from_source(&crate::config::Source::new(&vars)).unwrap()
    }

    #[test]
    fn eddsa_tokens_carry_the_kid_and_verify_with_the_public_keys_only() {
        let ring = crate::token::ring::KeyRing::generate();
        let signer = TokenKeys::new(&eddsa(&ring.signer_vars()));
        let verifier = TokenKeys::verifier(&eddsa(&ring.verifier_vars()));
        let token = signer.issue("user-1", Uuid::new_v4(), "user").unwrap();
        let header = crate::token::precheck::precheck(&token, unix_now()).unwrap();
        assert_eq!(header.alg, "EdDSA");
        assert_eq!(
            header.kid.as_deref(),
            Some(ring.signing_kid().unwrap().as_str())
        );
        assert_eq!(verifier.verify(&token).unwrap().sub, "user-1");
        assert!(
            verifier.issue("user-1", Uuid::new_v4(), "user").is_err(),
            "a verifier cannot sign"
        );
        // Even handed the private key, the verifier's constructor does not take it.
        let verifier = TokenKeys::verifier(&eddsa(&ring.signer_vars()));
        assert!(verifier.issue("user-1", Uuid::new_v4(), "user").is_err());
    }

    #[test]
    fn the_key_decides_the_algorithm_never_the_header() {
        let ring = crate::token::ring::KeyRing::generate();
        let kid = ring.signing_kid().unwrap();
        let mut vars = ring.verifier_vars();
        vars.push(("JWT_PREVIOUS_SECRET".into(), SECRET.into()));
        let verifier = TokenKeys::verifier(&eddsa(&vars));
        let public = crate::token::jwks::Ed25519Key::from_pem(&ring.private.signing)
            .unwrap()
            .public;
        let jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(okp) = &public.algorithm else {
            unreachable!()
        };
        let hmac = |header: serde_json::Value, secret: &[u8]| {
            let message = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(valid_claims().to_string().as_bytes())
            );
            let key = EncodingKey::from_secret(secret);
            let signature =
                jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
            format!("{message}.{signature}")
        };
        // The classic confusion: HS256 keyed with the public key, under the public key's kid.
        for secret in [okp.x.as_bytes().to_vec(), public_x_bytes(&okp.x)] {
            let forged = hmac(json!({"alg": "HS256", "kid": kid}), &secret);
            assert!(
                verifier.verify(&forged).is_err(),
                "HS256 under an Ed25519 kid verified"
            );
        }
        // An EdDSA token under the HS256 secret's kid.
        let other = crate::token::ring::KeyRing::generate();
        let other_key = crate::token::jwks::Ed25519Key::from_pem(&other.private.signing).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(secret_kid(SECRET.as_bytes()));
        let forged = jsonwebtoken::encode(&header, &valid_claims(), &other_key.encoding).unwrap();
        assert!(
            verifier.verify(&forged).is_err(),
            "EdDSA under an HS256 kid verified"
        );
        // Another Ed25519 key under our kid; and an unknown kid.
        header.kid = Some(kid.clone());
        let forged = jsonwebtoken::encode(&header, &valid_claims(), &other_key.encoding).unwrap();
        assert!(
            verifier.verify(&forged).is_err(),
            "a stranger's key under our kid verified"
        );
        header.kid = Some(other_key.kid().to_owned());
        let unknown = jsonwebtoken::encode(&header, &valid_claims(), &other_key.encoding).unwrap();
        assert_eq!(
            verifier.verify(&unknown).unwrap_err().to_string(),
            "Invalid token"
        );
        // The previous HS256 secret still verifies its own tokens (with and without kid).
        assert!(verifier.verify(&sign(valid_claims(), SECRET)).is_ok());
        let named = hmac(
            json!({"alg": "HS256", "kid": secret_kid(SECRET.as_bytes())}),
            SECRET.as_bytes(),
        );
        assert!(verifier.verify(&named).is_ok());
    }

    fn public_x_bytes(x: &str) -> Vec<u8> {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(x)
            .unwrap()
    }

    #[test]
    fn hs256_rotation_keeps_the_previous_secret_for_its_grace_period() {
        const NEW: &str = "the-new-secret-the-new-secret-the-new-secret";
        let old = keys();
        let old_token = old.issue("user-1", Uuid::new_v4(), "user").unwrap();
        let kid_of = |token: &str| {
            crate::token::precheck::precheck(token, unix_now())
                .unwrap()
                .kid
        };
        assert_eq!(kid_of(&old_token), Some(secret_kid(SECRET.as_bytes())));
        let config = |previous: Option<&str>| JwtConfig {
            algorithm: TokenAlgorithm::HS256,
            secret: Some(SecretString::from(NEW)),
            previous_secret: previous.map(SecretString::from),
            signing_key: None,
            public_keys: None,
            issuer: "tasks-api".into(),
            audience: "tasks-api".into(),
            access_token_ttl: Duration::from_secs(1800),
            better_auth_secret: None,
        };
        let rotated = TokenKeys::new(&config(Some(SECRET)));
        assert!(
            rotated.verify(&old_token).is_ok(),
            "a token of the previous secret"
        );
        let new_token = rotated.issue("user-1", Uuid::new_v4(), "user").unwrap();
        assert_eq!(kid_of(&new_token), Some(secret_kid(NEW.as_bytes())));
        assert!(rotated.verify(&new_token).is_ok());
        let grace_over = TokenKeys::new(&config(None));
        assert!(
            grace_over.verify(&old_token).is_err(),
            "the removed secret still verifies"
        );
        assert!(grace_over.verify(&new_token).is_ok());
        assert_eq!(
            rotated.jwks_document(),
            r#"{"keys":[]}"#,
            "no secret is published"
        );
    }

    #[test]
    fn garbage_is_rejected() {
        for token in ["", "a.b.c", "not-a-jwt", "....", "eyJhbGciOiJIUzI1NiJ9..."] {
            assert!(keys().verify(token).is_err(), "{token:?} accepted");
        }
    }

    #[test]
    fn a_verified_token_is_cached_and_the_same_bytes_skip_the_check() {
        let keys = keys();
        let token = keys.issue("user-1", Uuid::new_v4(), "user").unwrap();
        assert!(!keys.verified_cache().contains(&token));
        let first = keys.verify(&token).unwrap();
        assert!(keys.verified_cache().contains(&token));
        assert_eq!(keys.verify(&token).unwrap(), first);
        // Clones (the state handed to every request) share the one cache.
        assert!(keys.clone().verified_cache().contains(&token));
    }

    #[test]
    fn a_token_that_fails_is_never_cached() {
        let keys = keys();
        let mut expired = valid_claims();
        expired["exp"] = json!(unix_now() - 60);
        expired["iat"] = json!(unix_now() - 120);
        let mut wrong_type = valid_claims();
        wrong_type["typ"] = json!("refresh");
        for token in [
            sign(valid_claims(), "another-secret-another-secret-123"),
            sign(expired, SECRET),
            sign(wrong_type, SECRET),
            "a.b.c".to_owned(),
        ] {
            for _ in 0..2 {
                assert!(keys.verify(&token).is_err());
            }
        }
        assert_eq!(keys.verified_cache().usage().0, 0);
    }

    #[test]
    fn a_tampered_token_with_a_cached_twins_signature_is_rejected() {
        let keys = keys();
        let token = sign(valid_claims(), SECRET);
        keys.verify(&token).unwrap();
        assert!(keys.verified_cache().contains(&token));
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: serde_json::Value = {
            use base64::Engine as _;
            let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[1])
                .unwrap();
            serde_json::from_slice(&payload).unwrap()
        };
        claims["role"] = json!("admin");
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(claims.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(
            keys.verify(&forged).unwrap_err().to_string(),
            "Invalid token"
        );
        assert!(!keys.verified_cache().contains(&forged));
        assert_eq!(keys.verify(&token).unwrap().role, "user");
    }

    #[test]
    fn a_token_expiring_while_cached_is_refused_as_expired() {
        let keys = keys();
        let token = keys.issue("user-1", Uuid::new_v4(), "user").unwrap();
        let claims = keys.verify(&token).unwrap();
        let now = unix_now();
        assert!(
            keys.verify_at(&token, &token_digest(&token), now + 60)
                .is_ok(),
            "still valid"
        );
        // Within the leeway after exp, still accepted; beyond it, refused (and dropped).
        assert!(keys
            .verify_at(&token, &token_digest(&token), claims.exp + LEEWAY.as_secs())
            .is_ok());
        let error = keys
            .verify_at(
                &token,
                &token_digest(&token),
                claims.exp + LEEWAY.as_secs() + 1,
            )
            .unwrap_err();
        assert_eq!(error.to_string(), "Token has expired");
        assert!(!keys.verified_cache().contains(&token));
    }

    #[test]
    fn a_cached_token_of_a_retired_key_is_rejected_at_once() {
        // One cache across the rotations, as if the keys were reloaded in a warm environment:
        // what stops the cached token is the check that its key is still held.
        let ring = crate::token::ring::KeyRing::generate();
        let signer = TokenKeys::new(&eddsa(&ring.signer_vars()));
        let before = TokenKeys::verifier(&eddsa(&ring.verifier_vars()));
        let token = signer.issue("user-1", Uuid::new_v4(), "user").unwrap();
        before.verify(&token).unwrap();
        assert!(before.verified_cache().contains(&token));

        let once = ring.rotate().unwrap();
        let mut rotated = TokenKeys::verifier(&eddsa(&once.verifier_vars()));
        rotated.cache = before.cache.clone();
        assert!(
            rotated.verify(&token).is_ok(),
            "the previous key still verifies"
        );
        let twice = once.rotate().unwrap();
        let mut retired = TokenKeys::verifier(&eddsa(&twice.verifier_vars()));
        retired.cache = before.cache.clone();
        assert!(retired.verified_cache().contains(&token));
        assert_eq!(
            retired.verify(&token).unwrap_err().to_string(),
            "Invalid token"
        );
        assert!(!retired.verified_cache().contains(&token));

        // HS256: a cached token of a secret that is no longer configured, with or without kid.
        let old = keys();
        let named = old.issue("user-1", Uuid::new_v4(), "user").unwrap();
        let unnamed = sign(valid_claims(), SECRET);
        old.verify(&named).unwrap();
        old.verify(&unnamed).unwrap();
        let mut grace_over = TokenKeys::new(&JwtConfig {
            secret: Some(SecretString::from(
                "the-new-secret-the-new-secret-the-new-secret",
            )),
            ..old_config()
        });
        grace_over.cache = old.cache.clone();
        assert!(grace_over.verify(&named).is_err());
        assert!(grace_over.verify(&unnamed).is_err());
    }

    #[test]
    fn a_key_replaced_under_the_same_kid_does_not_keep_its_tokens() {
        let ring = crate::token::ring::KeyRing::generate();
        let signer = TokenKeys::new(&eddsa(&ring.signer_vars()));
        let token = signer.issue("user-1", Uuid::new_v4(), "user").unwrap();
        let verifier = TokenKeys::verifier(&eddsa(&ring.verifier_vars()));
        verifier.verify(&token).unwrap();
        let hit = verifier
            .verified_cache()
            .get(&token_digest(&token), unix_now())
            .unwrap();
        let kid = hit.kid.as_deref().unwrap();
        assert!(verifier.holds(Some(kid), &hit.key));
        let other = KeyIdentity::new(Algorithm::EdDSA, b"another key under the same kid");
        assert!(!verifier.holds(Some(kid), &other));
        assert!(
            !verifier.holds(None, &hit.key),
            "an Ed25519 key is no secret"
        );
    }

    fn old_config() -> JwtConfig {
        JwtConfig {
            algorithm: TokenAlgorithm::HS256,
            secret: Some(SecretString::from(SECRET)),
            previous_secret: None,
            signing_key: None,
            public_keys: None,
            issuer: "tasks-api".into(),
            audience: "tasks-api".into(),
            access_token_ttl: Duration::from_secs(1800),
            better_auth_secret: None,
        }
    }
}
