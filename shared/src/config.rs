//! Typed configuration, read once per execution environment and failing fast.
//! Secrets are `SecretString`s so they never reach a log line or a `Debug` print.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// Shortest JWT secret we accept: 256 bits, as RFC 7518 asks for HS256 keys.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Why the configuration cannot be used; the message names the variable to fix and never repeats
/// its value (a misconfigured function's answer carries the message, see `misconfig`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is required but not set (put it in the environment or in .env)")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl ConfigError {
    /// The variable to fix.
    pub fn setting(&self) -> &'static str {
        match self {
            Self::Missing(name) | Self::Invalid { name, .. } => name,
        }
    }
}

/// Where the database lives and how long we wait for it.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: SecretString,
    /// Connections per execution environment; Lambda serves one request at a time, so 2 is plenty.
    pub pool_max_size: usize,
    pub connect_timeout: Duration,
    pub pool_wait_timeout: Duration,
    pub query_timeout: Duration,
    /// Named prepared statements kept per connection (`DATABASE_STATEMENT_CACHE=true`): no parsing
    /// and planning per call. Off by default: PgBouncer before 1.21 in transaction mode cannot
    /// carry them. For a direct connection, or a pooler with `max_prepared_statements` set.
    pub statement_cache: bool,
}

/// How our access tokens are signed: `JWT_ALGORITHM` (or the seeds' `ALGORITHM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAlgorithm {
    /// A shared secret (`JWT_SECRET`): whoever verifies can also sign. The seeds' default.
    HS256,
    /// Ed25519: the auth function signs with `JWT_SIGNING_KEY`, verifiers hold only the public
    /// keys (`JWT_PUBLIC_KEYS`, or the JWKS the auth function publishes).
    EdDSA,
}

/// How access tokens are signed and checked.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub algorithm: TokenAlgorithm,
    /// The HS256 signing secret (required with HS256, ignored with EdDSA).
    pub secret: Option<SecretString>,
    /// A previous HS256 secret whose tokens still verify (a rotation's grace period, or the move
    /// from HS256 to EdDSA); it never signs.
    pub previous_secret: Option<SecretString>,
    /// The Ed25519 private key the auth function signs with (EdDSA; no verifier needs it).
    pub signing_key: Option<crate::token::jwks::Ed25519Key>,
    /// The public keys that verify (EdDSA): a JWKS document with the signing key's public key,
    /// the next one and the previous one (see the README's rotation).
    pub public_keys: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
    /// Tokens minted by a Better Auth frontend (seeds 001/003); accepted by the tasks function only.
    pub better_auth_secret: Option<SecretString>,
}

/// Reads variables from a map so tests never mutate the process environment.
pub struct Source<'a> {
    vars: &'a HashMap<String, String>,
}

impl<'a> Source<'a> {
    pub fn new(vars: &'a HashMap<String, String>) -> Self {
        Self { vars }
    }

    /// The first non-empty value among `names` (the canonical name first, then the seeds' aliases).
    pub fn first(&self, names: &[&'static str]) -> Option<&'a str> {
        names
            .iter()
            .filter_map(|name| self.vars.get(*name))
            .map(|value| value.trim())
            .find(|value| !value.is_empty())
    }

    fn required(&self, names: &[&'static str]) -> Result<&'a str, ConfigError> {
        self.first(names).ok_or(ConfigError::Missing(names[0]))
    }

    /// `true`/`false` (also 1/0, yes/no, on/off); anything else is refused.
    fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        let Some(raw) = self.first(&[name]) else {
            return Ok(default);
        };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::Invalid {
                name,
                reason: "expected true or false".to_owned(),
            }),
        }
    }

    pub fn number<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: T,
        valid: impl Fn(&T) -> bool,
    ) -> Result<T, ConfigError> {
        let Some(raw) = self.first(&[name]) else {
            return Ok(default);
        };
        match raw.parse::<T>() {
            Ok(value) if valid(&value) => Ok(value),
            _ => Err(ConfigError::Invalid {
                name,
                reason: "expected a positive whole number within range".to_owned(),
            }),
        }
    }
}

impl DatabaseConfig {
    pub fn from_source(source: &Source<'_>) -> Result<Self, ConfigError> {
        // NEON_DATABASE_URL is what seed 001 calls it.
        let raw = source.required(&["DATABASE_URL", "NEON_DATABASE_URL"])?;
        let url = normalise_database_url(raw)?;
        Ok(Self {
            url: SecretString::from(url),
            pool_max_size: source.number("DB_POOL_MAX_SIZE", 2usize, |n| (1..=100).contains(n))?,
            connect_timeout: Duration::from_millis(source.number(
                "DB_CONNECT_TIMEOUT_MS",
                2000u64,
                |n| (1..=60_000).contains(n),
            )?),
            pool_wait_timeout: Duration::from_millis(source.number(
                "DB_POOL_WAIT_TIMEOUT_MS",
                1500u64,
                |n| (1..=60_000).contains(n),
            )?),
            query_timeout: Duration::from_millis(source.number(
                "DB_QUERY_TIMEOUT_MS",
                4000u64,
                |n| (1..=300_000).contains(n),
            )?),
            statement_cache: source.flag("DATABASE_STATEMENT_CACHE", false)?,
        })
    }
}

/// Accepts the URL shapes the seeds used: `postgresql+asyncpg://` (SQLAlchemy driver suffix) is plain
/// `postgresql://` to us. Anything that is not a Postgres URL is refused here, before the pool exists.
fn normalise_database_url(raw: &str) -> Result<String, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        name: "DATABASE_URL",
        reason: reason.to_owned(),
    };
    let (scheme, rest) = raw
        .split_once("://")
        .ok_or_else(|| invalid("expected postgres://user:password@host:port/database"))?;
    let scheme = scheme.split('+').next().unwrap_or(scheme);
    if scheme != "postgres" && scheme != "postgresql" {
        return Err(invalid("the scheme must be postgres:// or postgresql://"));
    }
    Ok(format!("postgres://{rest}"))
}

impl JwtConfig {
    pub fn from_source(source: &Source<'_>) -> Result<Self, ConfigError> {
        let algorithm = match source.first(&["JWT_ALGORITHM", "ALGORITHM"]) {
            None | Some("HS256") => TokenAlgorithm::HS256,
            Some("EdDSA") => TokenAlgorithm::EdDSA,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "JWT_ALGORITHM",
                    reason: "expected HS256 or EdDSA".to_owned(),
                })
            }
        };
        // SECRET_KEY is the name seeds 000, 002 and 004 use.
        let secret = match algorithm {
            TokenAlgorithm::HS256 => Some(hs256_secret(
                "JWT_SECRET",
                source.required(&["JWT_SECRET", "SECRET_KEY"])?,
            )?),
            TokenAlgorithm::EdDSA => None,
        };
        let previous_secret = source
            .first(&["JWT_PREVIOUS_SECRET"])
            .map(|s| hs256_secret("JWT_PREVIOUS_SECRET", s))
            .transpose()?;
        let (signing_key, public_keys) = match algorithm {
            TokenAlgorithm::HS256 => (None, None),
            TokenAlgorithm::EdDSA => {
                let signing_key = source
                    .first(&["JWT_SIGNING_KEY"])
                    .map(|pem| {
                        crate::token::jwks::Ed25519Key::from_pem(pem).map_err(|error| {
                            ConfigError::Invalid {
                                name: "JWT_SIGNING_KEY",
                                reason: format!("{error}; {NEW_KEY_PAIR}"),
                            }
                        })
                    })
                    .transpose()?;
                let public_keys = source
                    .first(&["JWT_PUBLIC_KEYS"])
                    .map(|document| {
                        let keys = crate::token::jwks::public_jwks(document).map_err(|error| {
                            ConfigError::Invalid {
                                name: "JWT_PUBLIC_KEYS",
                                reason: format!("{error}; {NEW_KEY_PAIR}"),
                            }
                        })?;
                        if keys.is_empty() {
                            return Err(ConfigError::Invalid {
                                name: "JWT_PUBLIC_KEYS",
                                reason: format!("the JWKS holds no public key; {NEW_KEY_PAIR}"),
                            });
                        }
                        Ok(document.to_owned())
                    })
                    .transpose()?;
                if signing_key.is_none() && public_keys.is_none() {
                    return Err(ConfigError::Missing("JWT_PUBLIC_KEYS"));
                }
                (signing_key, public_keys)
            }
        };
        let better_auth_secret = match source.first(&["BETTER_AUTH_SECRET"]) {
            Some(s) if s.len() < MIN_JWT_SECRET_BYTES => {
                return Err(ConfigError::Invalid {
                    name: "BETTER_AUTH_SECRET",
                    reason: format!(
                        "must be at least {MIN_JWT_SECRET_BYTES} bytes (it has {}); give the Better Auth frontend and this API one new secret, e.g. from `openssl rand -base64 32`",
                        s.len()
                    ),
                })
            }
            Some(s) => Some(SecretString::from(s.to_owned())),
            None => None,
        };
        let minutes = source.number("ACCESS_TOKEN_EXPIRE_MINUTES", 30u64, |m| {
            (1..=24 * 60).contains(m)
        })?;
        Ok(Self {
            algorithm,
            secret,
            previous_secret,
            signing_key,
            public_keys,
            issuer: source
                .first(&["JWT_ISSUER"])
                .unwrap_or("tasks-api")
                .to_owned(),
            audience: source
                .first(&["JWT_AUDIENCE"])
                .unwrap_or("tasks-api")
                .to_owned(),
            access_token_ttl: Duration::from_secs(minutes * 60),
            better_auth_secret,
        })
    }

    /// The HS256 signing secret, when there is one.
    pub fn secret_bytes(&self) -> Option<&[u8]> {
        self.secret.as_ref().map(|s| s.expose_secret().as_bytes())
    }

    /// For the function that signs: fails when it has nothing to sign with.
    pub fn require_signing(&self) -> Result<(), ConfigError> {
        match self.algorithm {
            TokenAlgorithm::EdDSA if self.signing_key.is_none() => {
                Err(ConfigError::Missing("JWT_SIGNING_KEY"))
            }
            _ => Ok(()),
        }
    }

    /// For a function that only verifies: fails when it has no public key to verify with.
    pub fn require_public_keys(&self) -> Result<(), ConfigError> {
        match self.algorithm {
            TokenAlgorithm::EdDSA if self.public_keys.is_none() => {
                Err(ConfigError::Missing("JWT_PUBLIC_KEYS"))
            }
            _ => Ok(()),
        }
    }
}

/// The fix for a bad Ed25519 key or key set.
const NEW_KEY_PAIR: &str =
    "`cargo xtask jwt-keys env` prints a new key pair (JWT_SIGNING_KEY and JWT_PUBLIC_KEYS) for .env";

fn hs256_secret(name: &'static str, secret: &str) -> Result<SecretString, ConfigError> {
    if secret.len() < MIN_JWT_SECRET_BYTES {
        return Err(ConfigError::Invalid {
            name,
            reason: format!(
                "must be at least {MIN_JWT_SECRET_BYTES} bytes (it has {}); generate one with `openssl rand -base64 48`",
                secret.len()
            ),
        });
    }
    Ok(SecretString::from(secret.to_owned()))
}

/// The variables configuration is read from: the process environment, with a `.env` file in the
/// working directory (or above) filling the gaps; variables already set win over `.env`, as with
/// `dotenv` in the seeds. Async because a Secrets Manager source (`*_SECRET_ARN`) resolves here,
/// once per cold start, without the functions knowing.
pub async fn load_environment() -> anyhow::Result<HashMap<String, String>> {
    // A missing .env is normal in AWS; a malformed one is reported, not ignored.
    match dotenvy::dotenv() {
        Ok(_) | Err(dotenvy::Error::Io(_)) => {}
        Err(dotenvy::Error::LineParse(line, _)) => {
            anyhow::bail!(".env could not be read: {}", unparsable_line(&line))
        }
        Err(err) => anyhow::bail!(".env could not be read: {err}"),
    }
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    if crate::aws::wants_secrets(&vars) {
        let sdk = crate::aws::sdk_config().await;
        let client = aws_sdk_secretsmanager::Client::new(&sdk);
        crate::aws::resolve_secrets(&mut vars, &client).await?;
    }
    Ok(vars)
}

/// What to say of a `.env` line that does not parse: dotenvy's message quotes the whole line,
/// value and all (a secret, likely), so only the name before `=` is repeated.
fn unparsable_line(line: &str) -> String {
    let name = line
        .split_once('=')
        .map(|(name, _)| name.trim())
        .filter(|name| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
    match name {
        Some(name) => format!(
            "the line of {name} is not NAME=value (quote a value with spaces or #: {name}=\"...\")"
        ),
        None => "a line is not NAME=value (the line is not shown: it may hold a secret)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unparsable_env_line_is_named_by_its_variable_never_its_value() {
        let said = unparsable_line("JWT_SECRET=abc def' ghi");
        assert!(said.contains("JWT_SECRET"), "{said}");
        assert!(!said.contains("abc"), "{said}");
        assert!(!unparsable_line("just garbage hunter2").contains("hunter2"));
    }

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const GOOD_SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn missing_database_url_names_the_variable() {
        let env = vars(&[]);
        let err = DatabaseConfig::from_source(&Source::new(&env)).unwrap_err();
        assert_eq!(err, ConfigError::Missing("DATABASE_URL"));
        assert!(err.to_string().contains("DATABASE_URL is required"));
    }

    #[test]
    fn seed_style_database_urls_are_accepted() {
        let env = vars(&[(
            "NEON_DATABASE_URL",
            "postgresql+asyncpg://u:p@h.neon.tech/db",
        )]);
        let config = DatabaseConfig::from_source(&Source::new(&env)).unwrap();
        assert_eq!(config.url.expose_secret(), "postgres://u:p@h.neon.tech/db");
        assert_eq!(config.pool_max_size, 2);
    }

    #[test]
    fn statement_cache_is_off_unless_asked_for_and_nonsense_is_refused() {
        let url = ("DATABASE_URL", "postgres://u@h/db");
        let read = |value: Option<&str>| {
            let mut pairs = vec![url];
            pairs.extend(value.map(|v| ("DATABASE_STATEMENT_CACHE", v)));
            DatabaseConfig::from_source(&Source::new(&vars(&pairs))).map(|c| c.statement_cache)
        };
        assert_eq!(read(None), Ok(false));
        assert_eq!(read(Some("")), Ok(false));
        assert_eq!(read(Some("true")), Ok(true));
        assert_eq!(read(Some("ON")), Ok(true));
        assert_eq!(read(Some("0")), Ok(false));
        let err = read(Some("sometimes")).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "DATABASE_STATEMENT_CACHE",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn non_postgres_url_is_refused() {
        let env = vars(&[("DATABASE_URL", "mysql://u:p@h/db")]);
        let err = DatabaseConfig::from_source(&Source::new(&env)).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "DATABASE_URL",
                ..
            }
        ));
    }

    #[test]
    fn pool_size_out_of_range_is_refused() {
        let env = vars(&[
            ("DATABASE_URL", "postgres://h/db"),
            ("DB_POOL_MAX_SIZE", "0"),
        ]);
        let err = DatabaseConfig::from_source(&Source::new(&env)).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "DB_POOL_MAX_SIZE",
                ..
            }
        ));
    }

    #[test]
    fn short_jwt_secret_is_refused() {
        let env = vars(&[("JWT_SECRET", "too-short")]);
        let err = JwtConfig::from_source(&Source::new(&env)).unwrap_err();
        assert!(err.to_string().contains("at least 32 bytes"), "{err}");
        assert!(
            !err.to_string().contains("too-short"),
            "the secret must not be echoed"
        );
    }

    #[test]
    fn missing_jwt_secret_is_refused() {
        let env = vars(&[("JWT_SECRET", "   ")]);
        let err = JwtConfig::from_source(&Source::new(&env)).unwrap_err();
        assert_eq!(err, ConfigError::Missing("JWT_SECRET"));
    }

    #[test]
    fn seed_secret_key_alias_and_defaults() {
        let env = vars(&[("SECRET_KEY", GOOD_SECRET), ("ALGORITHM", "HS256")]);
        let config = JwtConfig::from_source(&Source::new(&env)).unwrap();
        assert_eq!(config.access_token_ttl, Duration::from_secs(30 * 60));
        assert_eq!(config.secret_bytes(), Some(GOOD_SECRET.as_bytes()));
        assert_eq!(config.algorithm, TokenAlgorithm::HS256);
        assert!(config.better_auth_secret.is_none());
    }

    #[test]
    fn other_algorithms_are_refused() {
        let env = vars(&[("JWT_SECRET", GOOD_SECRET), ("ALGORITHM", "none")]);
        let err = JwtConfig::from_source(&Source::new(&env)).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "JWT_ALGORITHM",
                ..
            }
        ));
    }

    #[test]
    fn eddsa_needs_a_key_and_refuses_a_bad_one() {
        let read = |pairs: &[(&str, &str)]| JwtConfig::from_source(&Source::new(&vars(pairs)));
        assert_eq!(
            read(&[("ALGORITHM", "EdDSA")]).unwrap_err(),
            ConfigError::Missing("JWT_PUBLIC_KEYS")
        );
        let pem = crate::token::jwks::Ed25519Key::generate_pem();
        let signer = read(&[("JWT_ALGORITHM", "EdDSA"), ("JWT_SIGNING_KEY", &pem)]).unwrap();
        assert_eq!(signer.algorithm, TokenAlgorithm::EdDSA);
        assert!(signer.secret.is_none() && signer.require_signing().is_ok());
        assert_eq!(
            signer.require_public_keys(),
            Err(ConfigError::Missing("JWT_PUBLIC_KEYS"))
        );
        let jwks = crate::token::jwks::document([&signer.signing_key.as_ref().unwrap().public]);
        let verifier = read(&[("JWT_ALGORITHM", "EdDSA"), ("JWT_PUBLIC_KEYS", &jwks)]).unwrap();
        assert_eq!(
            verifier.require_signing(),
            Err(ConfigError::Missing("JWT_SIGNING_KEY"))
        );
        for (name, value) in [
            (
                "JWT_SIGNING_KEY",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            ),
            ("JWT_PUBLIC_KEYS", r#"{"keys":[]}"#),
            (
                "JWT_PUBLIC_KEYS",
                r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#,
            ),
            ("JWT_PUBLIC_KEYS", "[]"),
        ] {
            let err = read(&[("JWT_ALGORITHM", "EdDSA"), (name, value)]).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid { name: n, .. } if *n == name),
                "{name}={value}: {err}"
            );
        }
        let err = read(&[("JWT_ALGORITHM", "EdDSA"), ("JWT_SIGNING_KEY", &pem)]);
        assert!(
            !format!("{err:?}").contains(pem.lines().nth(1).unwrap()),
            "the key must not be printed"
        );
        assert!(read(&[("JWT_ALGORITHM", "RS256"), ("JWT_SECRET", GOOD_SECRET)]).is_err());
    }

    #[test]
    fn token_lifetime_must_be_a_number() {
        let env = vars(&[
            ("JWT_SECRET", GOOD_SECRET),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "soon"),
        ]);
        let err = JwtConfig::from_source(&Source::new(&env)).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "ACCESS_TOKEN_EXPIRE_MINUTES",
                ..
            }
        ));
    }

    #[test]
    fn debug_output_never_contains_secrets() {
        let env = vars(&[
            ("JWT_SECRET", GOOD_SECRET),
            ("DATABASE_URL", "postgres://app:hunter2-password@h/db"),
        ]);
        let jwt = JwtConfig::from_source(&Source::new(&env)).unwrap();
        let db = DatabaseConfig::from_source(&Source::new(&env)).unwrap();
        let printed = format!("{jwt:?} {db:?}");
        assert!(!printed.contains(GOOD_SECRET));
        assert!(!printed.contains("hunter2"));
    }
}
