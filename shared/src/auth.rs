//! Access tokens: HS256 JWTs with every claim required and checked. The keys and the validation
//! rules are built once per execution environment; verifying a token allocates only its claims.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::JwtConfig;
use crate::error::ApiError;

/// The `typ` claim of our access tokens; a token of another type (a future ID or reset token signed
/// with the same key) is never accepted where an access token is expected.
pub const ACCESS_TOKEN_TYPE: &str = "access";

pub use crate::jwt::LEEWAY;

/// The claims of an access token, all of them required.
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
}

impl AccessClaims {
    /// The subject as our user id; a token whose `sub` is not one is invalid.
    pub fn user_id(&self) -> Result<Uuid, ApiError> {
        self.sub
            .parse()
            .map_err(|_| ApiError::unauthorized("Invalid token"))
    }
}

/// Signs and verifies access tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenKeys {
    pub fn new(config: &JwtConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        Self {
            encoding: EncodingKey::from_secret(config.secret_bytes()),
            decoding: DecodingKey::from_secret(config.secret_bytes()),
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: config.access_token_ttl,
        }
    }

    /// Lifetime of the tokens this key issues.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Mints an access token for `user_id` in session `session_id`.
    pub fn issue(&self, user_id: &str, session_id: Uuid, role: &str) -> anyhow::Result<String> {
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
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Checks the shared JOSE rules ([`crate::jwt::precheck`]), then signature, algorithm, issuer,
    /// audience, expiry and type. Every failure is a 401 to the client ("Token has expired" when
    /// that is all that is wrong); the reason is logged at debug level only.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, ApiError> {
        crate::jwt::precheck(token, unix_now()).map_err(|refused| {
            tracing::debug!(reason = %refused, "access token rejected");
            match refused {
                crate::jwt::Refused::Expired => ApiError::unauthorized("Token has expired"),
                _ => ApiError::unauthorized("Invalid token"),
            }
        })?;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|error| {
                tracing::debug!(reason = %error, "access token rejected");
                match error.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                        ApiError::unauthorized("Token has expired")
                    }
                    _ => ApiError::unauthorized("Invalid token"),
                }
            })?
            .claims;
        if claims.typ != ACCESS_TOKEN_TYPE {
            return Err(ApiError::unauthorized("Invalid token"));
        }
        Ok(claims)
    }
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
            secret: SecretString::from(SECRET),
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

    #[test]
    fn garbage_is_rejected() {
        for token in ["", "a.b.c", "not-a-jwt", "....", "eyJhbGciOiJIUzI1NiJ9..."] {
            assert!(keys().verify(token).is_err(), "{token:?} accepted");
        }
    }
}

/// A user as the API shows it (never with the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "Ada Lovelace")]
    pub name: Option<String>,
    /// `user` or `admin`.
    #[schema(example = "user")]
    pub role: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<time::OffsetDateTime>,
    /// Whether the owner of `email` has followed a link mailed to it (or completed a reset).
    pub email_verified: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub email_verified_at: Option<time::OffsetDateTime>,
    /// A new address asked for and not yet verified; `email` signs in until it is.
    pub pending_email: Option<String>,
}

/// The columns of `users` that [`User::from_row`] reads, in order; prefix with a table alias as needed.
pub const USER_COLUMNS: &str =
    "id, email, name, role, created_at, updated_at, last_login_at, email_verified_at, pending_email";

impl User {
    /// Reads a row that starts with [`USER_COLUMNS`].
    pub fn from_row(row: &tokio_postgres::Row) -> Self {
        Self {
            id: row.get(0),
            email: row.get(1),
            name: row.get(2),
            role: row.get(3),
            created_at: row.get(4),
            updated_at: row.get(5),
            last_login_at: row.get(6),
            email_verified: row.get::<_, Option<time::OffsetDateTime>>(7).is_some(),
            email_verified_at: row.get(7),
            pending_email: row.get(8),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

/// The caller of a request: a valid access token whose session is live and whose user is enabled.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub session_id: Uuid,
}

/// Verifies the bearer token, then checks in one indexed lookup (the session's primary key) that
/// the session is neither revoked nor expired and the user is neither disabled nor deleted; this is
/// what makes logout, password change, disable and delete effective on the very next request.
/// The user's role is read here, so a role change applies at once too.
pub async fn authenticate(
    db: &crate::db::Db,
    keys: &TokenKeys,
    headers: &http::HeaderMap,
) -> Result<Principal, ApiError> {
    use tokio_postgres::types::Type;
    let claims = keys.verify(crate::http::bearer_token(headers)?)?;
    let user_id = claims.user_id()?;
    let row = db
        .query_opt(
            "select u.id, u.email, u.name, u.role, u.created_at, u.updated_at, u.last_login_at,
                    u.email_verified_at, u.pending_email
               from sessions s
               join users u on u.id = s.user_id
              where s.id = $1 and s.user_id = $2
                and s.revoked_at is null and s.expires_at > now()
                and not u.disabled",
            &[(&claims.sid, Type::UUID), (&user_id, Type::UUID)],
        )
        .await?
        .ok_or_else(|| ApiError::unauthorized("Session has ended; please log in again"))?;
    Ok(Principal {
        user: User::from_row(&row),
        session_id: claims.sid,
    })
}

/// State that can authenticate a caller: handlers take a [`Principal`] argument and axum runs
/// [`authenticate`] before the handler.
pub trait AuthContext {
    fn db(&self) -> &crate::db::Db;
    fn token_keys(&self) -> &TokenKeys;
}

impl<S: AuthContext + Send + Sync> axum::extract::FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        authenticate(state.db(), state.token_keys(), &parts.headers).await
    }
}
