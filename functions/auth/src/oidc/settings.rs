//! The providers a deployment trusts, read once at start-up: `OIDC_PROVIDERS=corp,google` and, per
//! name, `OIDC_<NAME>_ISSUER`, `OIDC_<NAME>_CLIENT_ID` and `OIDC_<NAME>_CLIENT_SECRET` (in AWS
//! from Secrets Manager through `OIDC_<NAME>_CLIENT_SECRET_ARN`, shared/src/aws.rs), the frontend
//! URLs a sign-in may return to (`OIDC_RETURN_URLS`), and our own public URL for the
//! `redirect_uri` (`JWT_ISSUER`, as for the authorization server metadata). A bad value stops the
//! function at start, naming the variable.

use std::collections::HashMap;

use shared::config::ConfigError;

use super::http::is_loopback;

/// One trusted OpenID Provider.
#[derive(Clone)]
pub struct Provider {
    /// `[a-z0-9-]{1,32}`: the path segment of its routes and the `provider` of its identities.
    pub name: String,
    /// Its issuer URL: discovery at `{issuer}/.well-known/openid-configuration`, and the `iss`
    /// every ID token must carry.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, Default)]
pub struct OidcSettings {
    pub providers: Vec<Provider>,
    /// Where a sign-in may return to: each an origin (`https://app.example.com`: any path on it)
    /// or a URL prefix (`https://app.example.com/auth/`). Anything else is refused: an open
    /// redirect would hand the one-time code to whoever wrote the link.
    pub return_urls: Vec<String>,
    /// Our public base URL (`JWT_ISSUER`), for `{base}/auth/oidc/{name}/callback`.
    pub redirect_base: String,
}

/// The environment variable of `name`'s `field` (`corp`, `ISSUER` → `OIDC_CORP_ISSUER`).
pub fn variable(name: &str, field: &str) -> String {
    format!(
        "OIDC_{}_{field}",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

fn invalid(name: &str, reason: impl Into<String>) -> ConfigError {
    // ConfigError names a &'static str: the few names of a start-up error are leaked once.
    ConfigError::Invalid {
        name: Box::leak(name.to_owned().into_boxed_str()),
        reason: reason.into(),
    }
}

fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `url` if it is an absolute `https` URL (or `http` to a loopback host) without query, fragment
/// or credentials; without a trailing slash.
fn base_url(url: &str) -> Option<String> {
    let parsed = openidconnect::url::Url::parse(url).ok()?;
    let secure = match parsed.scheme() {
        "https" => true,
        "http" => parsed.host_str().is_some_and(is_loopback),
        _ => false,
    };
    let plain = parsed.query().is_none()
        && parsed.fragment().is_none()
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.host_str().is_some();
    (secure && plain).then(|| url.trim_end_matches('/').to_owned())
}

impl OidcSettings {
    pub fn from_source(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let Some(list) = get("OIDC_PROVIDERS") else {
            return Ok(Self::default());
        };
        let mut providers: Vec<Provider> = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !valid_name(name) {
                return Err(invalid(
                    "OIDC_PROVIDERS",
                    format!("`{name}` is not a provider name: expected 1 to 32 of a-z, 0-9 and -"),
                ));
            }
            if providers.iter().any(|p| p.name == name) {
                return Err(invalid(
                    "OIDC_PROVIDERS",
                    format!("`{name}` is listed twice"),
                ));
            }
            let required = |field: &str, hint: &str| {
                let variable = variable(name, field);
                get(&variable).map(str::to_owned).ok_or_else(|| {
                    invalid(&variable, format!("required for provider `{name}`{hint}"))
                })
            };
            let issuer_var = variable(name, "ISSUER");
            let issuer = required("ISSUER", "")?;
            // Kept exactly as given: `iss` is compared as a string, and some providers' issuer
            // ends with a slash (Auth0's does).
            if base_url(&issuer).is_none() {
                return Err(invalid(
                    &issuer_var,
                    "expected the provider's issuer URL: https (http only for a loopback host), no query",
                ));
            }
            let client_id = required("CLIENT_ID", "")?;
            let client_secret = required(
                "CLIENT_SECRET",
                " (in AWS: OIDC_<NAME>_CLIENT_SECRET_ARN, a Secrets Manager secret)",
            )?;
            providers.push(Provider {
                name: name.to_owned(),
                issuer,
                client_id,
                client_secret,
            });
        }
        if providers.is_empty() {
            return Ok(Self::default());
        }
        let return_urls = get("OIDC_RETURN_URLS")
            .ok_or_else(|| {
                invalid(
                    "OIDC_RETURN_URLS",
                    "required with OIDC_PROVIDERS: the frontend URLs a sign-in may return to",
                )
            })?
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|url| {
                let base = base_url(url).ok_or_else(|| {
                    invalid(
                        "OIDC_RETURN_URLS",
                        format!("`{url}` is not an https URL (http only for a loopback host)"),
                    )
                })?;
                // An origin allows any path on it; a prefix allows what starts with it. Either
                // way the prefix ends with the host's `/`, so `https://app.example.com.evil` or
                // `https://app.example.com@evil` never match.
                let path_start = base.find("://").map_or(0, |i| i + 3);
                Ok(if base[path_start..].contains('/') {
                    url.to_owned()
                } else {
                    format!("{base}/")
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let redirect_base = get("JWT_ISSUER").and_then(base_url).ok_or_else(|| {
            invalid(
                "JWT_ISSUER",
                "with OIDC_PROVIDERS it must be this API's public URL (the providers redirect to {JWT_ISSUER}/auth/oidc/<name>/callback)",
            )
        })?;
        Ok(Self {
            providers,
            return_urls,
            redirect_base,
        })
    }

    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Our `redirect_uri` at `provider`, registered with it.
    pub fn redirect_uri(&self, provider: &str) -> String {
        format!("{}/auth/oidc/{provider}/callback", self.redirect_base)
    }

    /// Whether a sign-in may return to `url`: it starts with an allowed prefix, is at most 2,048
    /// characters, and has no fragment, backslash, whitespace or control character.
    pub fn return_allowed(&self, url: &str) -> bool {
        url.len() <= 2048
            && !url
                .chars()
                .any(|c| c == '#' || c == '\\' || c.is_whitespace() || c.is_control())
            && openidconnect::url::Url::parse(url).is_ok()
            && self
                .return_urls
                .iter()
                .any(|prefix| url.starts_with(prefix.as_str()) || format!("{url}/") == *prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<OidcSettings, ConfigError> {
        let vars = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OidcSettings::from_source(&vars)
    }

    const GOOD: &[(&str, &str)] = &[
        ("OIDC_PROVIDERS", "corp"),
        ("OIDC_CORP_ISSUER", "https://id.example.com"),
        ("OIDC_CORP_CLIENT_ID", "api"),
        ("OIDC_CORP_CLIENT_SECRET", "s3cret"),
        (
            "OIDC_RETURN_URLS",
            "https://app.example.com,http://127.0.0.1:3000/auth/",
        ),
        ("JWT_ISSUER", "https://api.example.com"),
    ];

    #[test]
    fn return_urls_are_prefixes_that_end_at_the_host() {
        let s = settings(GOOD).unwrap();
        assert!(s.return_allowed("https://app.example.com/"));
        assert!(s.return_allowed("https://app.example.com"));
        assert!(s.return_allowed("https://app.example.com/signed-in?x=1"));
        assert!(s.return_allowed("http://127.0.0.1:3000/auth/done"));
        assert!(!s.return_allowed("http://127.0.0.1:3000/other"));
        assert!(!s.return_allowed("https://app.example.com.evil.com/"));
        assert!(!s.return_allowed("https://app.example.com@evil.com/"));
        assert!(!s.return_allowed("https://evil.com/https://app.example.com/"));
        assert!(!s.return_allowed("https://app.example.com/#frag"));
        assert!(!s.return_allowed("https://app.example.com/\\evil"));
        assert!(!s.return_allowed("http://app.example.com/"));
        assert_eq!(
            s.redirect_uri("corp"),
            "https://api.example.com/auth/oidc/corp/callback"
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let with = |name: &str, value: &str| {
            let mut pairs: Vec<(&str, &str)> =
                GOOD.iter().filter(|(k, _)| *k != name).copied().collect();
            pairs.push((name, value));
            match settings(&pairs) {
                Err(ConfigError::Invalid { name, .. }) => name.to_owned(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            with("OIDC_CORP_ISSUER", "http://id.example.com"),
            "OIDC_CORP_ISSUER"
        );
        assert_eq!(with("OIDC_PROVIDERS", "Corp"), "OIDC_PROVIDERS");
        assert_eq!(with("OIDC_PROVIDERS", "corp,corp"), "OIDC_PROVIDERS");
        assert_eq!(
            with("OIDC_CORP_CLIENT_SECRET", " "),
            "OIDC_CORP_CLIENT_SECRET"
        );
        assert_eq!(with("OIDC_RETURN_URLS", "ftp://x"), "OIDC_RETURN_URLS");
        assert_eq!(with("JWT_ISSUER", "tasks-api"), "JWT_ISSUER");
        assert!(settings(&[]).unwrap().providers.is_empty());
    }

    #[test]
    fn an_issuer_is_kept_exactly_as_given() {
        let mut pairs: Vec<(&str, &str)> = GOOD
            .iter()
            .filter(|(k, _)| *k != "OIDC_CORP_ISSUER")
            .copied()
            .collect();
        pairs.push(("OIDC_CORP_ISSUER", "https://tenant.auth0.com/"));
        let s = settings(&pairs).unwrap();
        assert_eq!(s.providers[0].issuer, "https://tenant.auth0.com/");
    }
}
