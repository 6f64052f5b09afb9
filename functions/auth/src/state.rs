//! What every request of the auth function shares, built once per execution environment: its
//! settings (read and checked at start-up), the pool, the token keys, the hasher and the mailer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use shared::config::{ConfigError, JwtConfig};
use shared::db::Db;
use shared::token::TokenKeys;

use crate::domain::{Email, PasswordPolicy};
use crate::mailer::Mailer;
use crate::password::PasswordHasher;
use crate::second_factor::sealing::{SealingKey, MIN_KEY_CHARS};
use crate::throttle;
use crate::users::AuthContext;

/// Settings of the auth function beyond the shared database and JWT ones.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub password_policy: PasswordPolicy,
    /// Absolute lifetime of a session (and so of its refresh tokens).
    pub refresh_token_ttl: Duration,
    /// Where the reset link points (the frontend's page); the token is appended as `?token=`.
    pub password_reset_url: String,
    /// The first user to register with this email (its canonical key: any spelling of the
    /// address) becomes admin, if there is no admin yet: the first admin without touching SQL.
    pub admin_email_key: Option<String>,
    /// Failed sign-ins one source address may make before it is slowed down.
    pub source_ip_policy: throttle::Policy,
    /// Registrations (and reset requests) one source address may make an hour.
    pub registration_policy: throttle::Policy,
    /// A reset request is answered no sooner than this after it arrived, whether or not the
    /// address has an account: the mail is sent (SES: tens of milliseconds) only for a known
    /// address, and the time of the answer must not tell which.
    pub password_reset_answer_time: Duration,
    /// Where the verification link points (the frontend's page); the token is appended as `?token=`.
    pub email_verification_url: String,
    /// Refuse sign-in (403) until the address is verified.
    pub require_verified_email: bool,
    /// Days a security event is kept (`SECURITY_LOG_RETENTION_DAYS`, default 90).
    pub security_log_retention_days: i32,
    /// The key that seals TOTP secrets (`SECOND_FACTOR_KEY`); without it no factor can be enrolled
    /// or checked, and those routes say so (500, misconfigured, naming the setting).
    pub second_factor_key: Option<SealingKey>,
    /// The issuer authenticator apps show beside the account (`SECOND_FACTOR_ISSUER`).
    pub second_factor_issuer: String,
    /// How recently a session must have proven its second factor for a sensitive change
    /// (`SECOND_FACTOR_MAX_AGE_SECONDS`, default 300).
    pub step_up_max_age: Duration,
    /// The relying party for passkeys (`WEBAUTHN_RP_ID`, `WEBAUTHN_RP_ORIGINS`,
    /// `WEBAUTHN_RP_NAME`); without it the passkey routes say so (500, misconfigured).
    pub webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// The OpenID Providers users may sign in with (`OIDC_PROVIDERS`, ...; see `crate::oidc`).
    pub oidc: crate::oidc::OidcSettings,
}

impl AuthSettings {
    pub fn from_source(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let min_chars = match get("PASSWORD_MIN_LENGTH") {
            None => PasswordPolicy::ABSOLUTE_MIN,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (PasswordPolicy::ABSOLUTE_MIN..=64).contains(n))
                .ok_or(ConfigError::Invalid {
                    name: "PASSWORD_MIN_LENGTH",
                    reason: "expected a number from 8 to 64".to_owned(),
                })?,
        };
        let days = match get("REFRESH_TOKEN_EXPIRE_DAYS") {
            None => 30,
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|d| (1..=365).contains(d))
                .ok_or(ConfigError::Invalid {
                    name: "REFRESH_TOKEN_EXPIRE_DAYS",
                    reason: "expected a number from 1 to 365".to_owned(),
                })?,
        };
        // Per-address limits are settings because many users can share one address (a NAT, an
        // office, or 127.0.0.1 under `cargo lambda watch`); the per-account limit is fixed.
        let per_address = |name: &'static str, default: i32| match get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse::<i32>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or(ConfigError::Invalid {
                    name,
                    reason: "expected a number from 1 to 1000000".to_owned(),
                }),
        };
        let source_ip_policy = throttle::Policy {
            threshold: per_address(
                "THROTTLE_FAILED_LOGINS_PER_IP",
                throttle::SOURCE_IP.threshold,
            )?,
            ..throttle::SOURCE_IP
        };
        let registration_policy = throttle::Policy {
            threshold: per_address(
                "THROTTLE_REGISTRATIONS_PER_IP_HOUR",
                throttle::REGISTRATION.threshold,
            )?,
            ..throttle::REGISTRATION
        };
        let security_log_retention_days = match get("SECURITY_LOG_RETENTION_DAYS") {
            None => 90,
            Some(raw) => raw
                .parse::<i32>()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or(ConfigError::Invalid {
                    name: "SECURITY_LOG_RETENTION_DAYS",
                    reason: "expected a number of days from 1 to 3650".to_owned(),
                })?,
        };
        let second_factor_key = match get("SECOND_FACTOR_KEY") {
            None => None,
            Some(raw) => Some(SealingKey::from_setting(raw).ok_or(ConfigError::Invalid {
                name: "SECOND_FACTOR_KEY",
                reason: format!(
                    "expected a random string of at least {MIN_KEY_CHARS} characters (the template generates one)"
                ),
            })?),
        };
        let second_factor_issuer = match get("SECOND_FACTOR_ISSUER") {
            None => "Tasks API".to_owned(),
            Some(raw) if raw.chars().count() <= 64 && !raw.chars().any(char::is_control) => {
                raw.to_owned()
            }
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "SECOND_FACTOR_ISSUER",
                    reason: "expected a name of at most 64 characters".to_owned(),
                })
            }
        };
        let step_up_max_age = match get("SECOND_FACTOR_MAX_AGE_SECONDS") {
            None => Duration::from_secs(300),
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|s| (30..=86_400).contains(s))
                .map(Duration::from_secs)
                .ok_or(ConfigError::Invalid {
                    name: "SECOND_FACTOR_MAX_AGE_SECONDS",
                    reason: "expected a number of seconds from 30 to 86400".to_owned(),
                })?,
        };
        let webauthn = crate::passkeys::relying_party::from_settings(&get)?.map(Arc::new);
        Ok(Self {
            webauthn,
            oidc: crate::oidc::OidcSettings::from_source(vars)?,
            second_factor_key,
            second_factor_issuer,
            step_up_max_age,
            security_log_retention_days,
            source_ip_policy,
            registration_policy,
            password_policy: PasswordPolicy { min_chars },
            refresh_token_ttl: Duration::from_secs(days * 24 * 3600),
            password_reset_url: get("PASSWORD_RESET_URL")
                .unwrap_or("http://localhost:3000/reset-password")
                .to_owned(),
            email_verification_url: get("EMAIL_VERIFICATION_URL")
                .unwrap_or("http://localhost:3000/verify-email")
                .to_owned(),
            require_verified_email: match get("REQUIRE_VERIFIED_EMAIL").map(str::to_ascii_lowercase)
            {
                None => false,
                Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => true,
                Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => false,
                Some(_) => {
                    return Err(ConfigError::Invalid {
                        name: "REQUIRE_VERIFIED_EMAIL",
                        reason: "expected true or false".to_owned(),
                    })
                }
            },
            password_reset_answer_time: match get("PASSWORD_RESET_ANSWER_MS") {
                None => Duration::from_millis(250),
                Some(raw) => raw
                    .parse::<u64>()
                    .ok()
                    .filter(|ms| (1..=5_000).contains(ms))
                    .map(Duration::from_millis)
                    .ok_or(ConfigError::Invalid {
                        name: "PASSWORD_RESET_ANSWER_MS",
                        reason: "expected a number of milliseconds from 1 to 5000".to_owned(),
                    })?,
            },
            admin_email_key: get("ADMIN_EMAIL")
                .map(|raw| {
                    Email::parse(raw, "ADMIN_EMAIL")
                        .map(|email| email.key().to_owned())
                        .map_err(|error| ConfigError::Invalid {
                            name: "ADMIN_EMAIL",
                            reason: error.msg,
                        })
                })
                .transpose()?,
        })
    }
}

/// Everything a handler needs, built once per execution environment.
#[derive(Clone)]
pub struct AuthState {
    pub db: Db,
    pub keys: Arc<TokenKeys>,
    pub hasher: PasswordHasher,
    pub settings: Arc<AuthSettings>,
    pub mailer: Mailer,
    /// What was learnt of the OpenID Providers (discovery, keys), and the client that asks them.
    pub oidc: Arc<crate::oidc::Registry>,
}

impl AuthContext for AuthState {
    fn db(&self) -> &Db {
        &self.db
    }

    fn token_keys(&self) -> &TokenKeys {
        &self.keys
    }
}

impl AuthState {
    /// Records `event` in `user_id`'s security log (see [`crate::security_log`]).
    pub async fn log_event(
        &self,
        user_id: uuid::Uuid,
        origin: &crate::security_log::Origin,
        session: Option<uuid::Uuid>,
        event: crate::security_log::Event,
    ) {
        crate::security_log::record(
            &self.db,
            self.settings.security_log_retention_days,
            user_id,
            origin,
            session,
            event,
        )
        .await;
    }

    pub fn new(db: Db, jwt: &JwtConfig, settings: AuthSettings) -> Self {
        Self {
            db,
            keys: Arc::new(TokenKeys::new(jwt)),
            hasher: PasswordHasher::default(),
            settings: Arc::new(settings),
            mailer: Mailer::Log,
            oidc: Arc::default(),
        }
    }
}
