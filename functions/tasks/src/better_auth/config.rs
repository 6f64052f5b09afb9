//! How the tasks function finds and checks Better Auth's JWT plugin keys: `BETTER_AUTH_URL`,
//! `BETTER_AUTH_JWKS_URL` or `BETTER_AUTH_JWKS`, the issuer and audience its tokens must carry, and
//! the cache and fetch limits. Only the tasks function reads these settings.

use std::time::Duration;

use shared::config::{ConfigError, Source};

/// Where Better Auth's JWT plugin publishes its public keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// Fetched when first needed (`BETTER_AUTH_JWKS_URL`, else `{BETTER_AUTH_URL}/api/auth/jwks`).
    Url(String),
    /// Given as configuration (`BETTER_AUTH_JWKS` or its secret), for functions without egress.
    Document(String),
}

/// How the tasks function verifies Better Auth's JWT plugin tokens (EdDSA, ES256, RS256, PS256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BetterAuthJwksConfig {
    pub source: JwksSource,
    /// The `iss` the tokens must carry: `BETTER_AUTH_ISSUER`, else `BETTER_AUTH_URL`.
    pub issuer: String,
    /// The `aud` the tokens must carry: `BETTER_AUTH_AUDIENCE`, else `BETTER_AUTH_URL`, else the
    /// issuer.
    pub audience: String,
    /// How long fetched keys are used before they are fetched again.
    pub cache_max_age: Duration,
    /// The least time between two fetches caused by unknown `kid`s (a flood of made-up kids
    /// costs at most one fetch per this interval).
    pub refetch_interval: Duration,
    /// The whole fetch (connect, TLS, answer) must fit in this, so a request stays within 5 s.
    pub fetch_timeout: Duration,
}

impl BetterAuthJwksConfig {
    /// `None` when none of `BETTER_AUTH_URL`, `BETTER_AUTH_JWKS_URL`, `BETTER_AUTH_JWKS` is set.
    pub fn from_source(source: &Source<'_>) -> Result<Option<Self>, ConfigError> {
        let base = source
            .first(&["BETTER_AUTH_URL"])
            .map(|url| http_url("BETTER_AUTH_URL", url))
            .transpose()?;
        let document = source.first(&["BETTER_AUTH_JWKS"]);
        let jwks_url = source
            .first(&["BETTER_AUTH_JWKS_URL"])
            .map(|url| http_url("BETTER_AUTH_JWKS_URL", url))
            .transpose()?;
        let source_of_keys = match (document, jwks_url, &base) {
            (Some(document), _, _) => JwksSource::Document(document.to_owned()),
            (None, Some(url), _) => JwksSource::Url(url),
            (None, None, Some(base)) => JwksSource::Url(format!("{base}/api/auth/jwks")),
            (None, None, None) => return Ok(None),
        };
        let claim = |name: &'static str| -> Result<String, ConfigError> {
            source
                .first(&[name])
                .map(str::to_owned)
                .or_else(|| base.clone())
                .ok_or(ConfigError::Missing(name))
        };
        let issuer = claim("BETTER_AUTH_ISSUER")?;
        // Better Auth's default audience is its base URL, as its default issuer.
        let audience = claim("BETTER_AUTH_AUDIENCE").unwrap_or_else(|_| issuer.clone());
        Ok(Some(Self {
            source: source_of_keys,
            issuer,
            audience,
            cache_max_age: Duration::from_secs(source.number(
                "BETTER_AUTH_JWKS_CACHE_SECONDS",
                300u64,
                |n| (1..=86_400).contains(n),
            )?),
            refetch_interval: Duration::from_secs(source.number(
                "BETTER_AUTH_JWKS_REFETCH_SECONDS",
                5u64,
                |n| (1..=3_600).contains(n),
            )?),
            fetch_timeout: Duration::from_millis(source.number(
                "BETTER_AUTH_JWKS_TIMEOUT_MS",
                2_000u64,
                |n| (1..=4_000).contains(n),
            )?),
        }))
    }
}

/// An http(s) URL without trailing slashes (Better Auth's `iss` is its base URL as configured).
fn http_url(name: &'static str, raw: &str) -> Result<String, ConfigError> {
    let url = raw.trim_end_matches('/');
    let valid = (url.starts_with("https://") || url.starts_with("http://"))
        && url
            .parse::<http::Uri>()
            .is_ok_and(|uri| uri.host().is_some());
    if valid {
        Ok(url.to_owned())
    } else {
        Err(ConfigError::Invalid {
            name,
            // Never the value: a URL can carry credentials (`https://user:pass@host`).
            reason: "expected an http:// or https:// URL with a host".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn better_auth_jwks_follows_the_base_url_unless_told_otherwise() {
        let read =
            |pairs: &[(&str, &str)]| BetterAuthJwksConfig::from_source(&Source::new(&vars(pairs)));
        assert_eq!(read(&[]), Ok(None));
        let config = read(&[("BETTER_AUTH_URL", "http://localhost:3000/")])
            .unwrap()
            .unwrap();
        assert_eq!(
            config.source,
            JwksSource::Url("http://localhost:3000/api/auth/jwks".into())
        );
        assert_eq!(config.issuer, "http://localhost:3000");
        assert_eq!(config.audience, "http://localhost:3000");
        assert_eq!(config.refetch_interval, Duration::from_secs(5));
        let config = read(&[
            ("BETTER_AUTH_URL", "https://app.example.com"),
            ("BETTER_AUTH_JWKS_URL", "https://cdn.example.com/jwks.json"),
            ("BETTER_AUTH_AUDIENCE", "tasks-api"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            config.source,
            JwksSource::Url("https://cdn.example.com/jwks.json".into())
        );
        assert_eq!(config.issuer, "https://app.example.com");
        assert_eq!(config.audience, "tasks-api");
        let config = read(&[
            ("BETTER_AUTH_JWKS", r#"{"keys":[]}"#),
            ("BETTER_AUTH_ISSUER", "https://app.example.com"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(config.source, JwksSource::Document(r#"{"keys":[]}"#.into()));
        assert_eq!(config.audience, "https://app.example.com");
    }

    #[test]
    fn better_auth_jwks_without_an_issuer_or_with_a_bad_url_is_refused() {
        let read =
            |pairs: &[(&str, &str)]| BetterAuthJwksConfig::from_source(&Source::new(&vars(pairs)));
        assert_eq!(
            read(&[("BETTER_AUTH_JWKS", r#"{"keys":[]}"#)]),
            Err(ConfigError::Missing("BETTER_AUTH_ISSUER"))
        );
        for url in ["localhost:3000", "ftp://x", "http://"] {
            assert!(
                matches!(
                    read(&[("BETTER_AUTH_URL", url)]),
                    Err(ConfigError::Invalid {
                        name: "BETTER_AUTH_URL",
                        ..
                    })
                ),
                "{url}"
            );
        }
        assert!(read(&[
            ("BETTER_AUTH_URL", "http://localhost:3000"),
            ("BETTER_AUTH_JWKS_TIMEOUT_MS", "60000"),
        ])
        .is_err());
    }
}
