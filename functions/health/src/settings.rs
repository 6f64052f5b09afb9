//! The shared settings the health function can judge beyond its own: the token settings
//! (`JWT_*`, `BETTER_AUTH_SECRET`), read by the auth and tasks functions through the same
//! `shared::config`. A value that is present and invalid is wrong for every function that reads
//! it; one that is missing may be meant for another function only (in AWS the health function
//! is given none of them), so a missing one is not reported. Settings only auth or tasks read
//! (password policy, Better Auth's JWKS) cannot be judged here without their crates.

use std::collections::HashMap;

use shared::config::{ConfigError, JwtConfig, Source};
use shared::misconfig::Misconfiguration;

/// The first token setting in `vars` that is present and invalid, as the misconfiguration the
/// functions reading it answer with.
pub fn invalid_shared_setting(vars: &HashMap<String, String>) -> Option<Misconfiguration> {
    match JwtConfig::from_source(&Source::new(vars)) {
        Err(error @ ConfigError::Invalid { .. }) => Some(Misconfiguration {
            setting: Some(error.setting()),
            detail: format!(
                "{error}; the auth and tasks functions read it: fix it, then restart them"
            ),
            cause: error.to_string(),
        }),
        Ok(_) | Err(ConfigError::Missing(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn a_present_invalid_token_setting_is_reported_by_name_without_its_value() {
        for (name, value) in [
            ("JWT_SECRET", "12345"),
            ("BETTER_AUTH_SECRET", "your_jwt_secret_from_frontend"),
        ] {
            let mut pairs = vec![("JWT_SECRET", "0123456789abcdef0123456789abcdef")];
            pairs.retain(|(n, _)| *n != name);
            pairs.push((name, value));
            let seen = invalid_shared_setting(&vars(&pairs)).expect("reported");
            assert_eq!(seen.setting, Some(name));
            assert!(seen.detail.contains(name), "{}", seen.detail);
            assert!(!seen.detail.contains(value), "{}", seen.detail);
        }
        let garbage_key = vars(&[("JWT_ALGORITHM", "EdDSA"), ("JWT_SIGNING_KEY", "not a key")]);
        let seen = invalid_shared_setting(&garbage_key).expect("reported");
        assert_eq!(seen.setting, Some("JWT_SIGNING_KEY"));
    }

    #[test]
    fn missing_token_settings_are_another_functions_business() {
        assert!(invalid_shared_setting(&vars(&[])).is_none());
        assert!(invalid_shared_setting(&vars(&[("JWT_ALGORITHM", "EdDSA")])).is_none());
        assert!(invalid_shared_setting(&vars(&[(
            "JWT_SECRET",
            "0123456789abcdef0123456789abcdef"
        )]))
        .is_none());
    }
}
