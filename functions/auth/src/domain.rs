//! Parse, don't validate: raw request strings become these types once, at the edge, and handlers
//! never re-check them. Each parser's error is the 422 field error the client sees.

use std::collections::HashSet;
use std::sync::LazyLock;

use shared::error::FieldError;

pub use shared::email::Email;

/// Most common passwords of 8+ characters, lower-cased (see the file's header for its source).
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .collect()
});

/// A new password that meets the policy: length in characters within bounds (never trimmed or
/// truncated), not one of the most common passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Bounds of the password policy; the minimum is configurable (`PASSWORD_MIN_LENGTH`, 8 or more).
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    pub min_chars: usize,
}

impl PasswordPolicy {
    pub const ABSOLUTE_MIN: usize = 8;
    pub const MAX_CHARS: usize = 128;
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: Self::ABSOLUTE_MIN,
        }
    }
}

impl Password {
    /// The policy applies to the normalized form, the one that is hashed
    /// ([`crate::password::normalize`]).
    pub fn parse(raw: &str, policy: PasswordPolicy, field: &str) -> Result<Self, FieldError> {
        let normalized = crate::password::normalize(raw);
        let chars = normalized.chars().count();
        if chars < policy.min_chars {
            return Err(FieldError::body(
                field,
                format!("Password must be at least {} characters", policy.min_chars),
                "string_too_short",
            ));
        }
        if chars > PasswordPolicy::MAX_CHARS {
            return Err(FieldError::body(
                field,
                format!(
                    "Password must be at most {} characters",
                    PasswordPolicy::MAX_CHARS
                ),
                "string_too_long",
            ));
        }
        if COMMON_PASSWORDS.contains(normalized.to_lowercase().as_str()) {
            return Err(FieldError::body(
                field,
                "This password is one of the most commonly used passwords and is easy to guess; choose another",
                "password_too_common",
            ));
        }
        Ok(Self(normalized.into_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A display name: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(FieldError::body(
                "name",
                "Name must not be blank",
                "value_error",
            ));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::body(
                "name",
                "Name must be at most 100 characters",
                "string_too_long",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldError::body(
                "name",
                "Name must not contain control characters",
                "value_error",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A role a user can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn password_length_is_counted_in_characters_and_never_trimmed() {
        let policy = PasswordPolicy::default();
        assert!(Password::parse("short12", policy, "password").is_err());
        assert!(
            Password::parse("ééééééé1", policy, "password").is_ok(),
            "8 characters, 15 bytes"
        );
        let padded = Password::parse("  spaced out  ", policy, "password").unwrap();
        assert_eq!(padded.expose(), "  spaced out  ");
        assert!(Password::parse(&"x7".repeat(64), policy, "password").is_ok());
        let error = Password::parse(
            &"x7".repeat(64).replace("x7x7", "x7x7y"),
            policy,
            "password",
        )
        .unwrap_err();
        assert_eq!(error.kind, "string_too_long");
    }

    #[test]
    fn common_passwords_are_refused_whatever_the_case() {
        let policy = PasswordPolicy::default();
        for password in [
            "password",
            "12345678",
            "Password",
            "QWERTYUIOP",
            "trustno1",
            "iloveyou",
        ] {
            let error = Password::parse(password, policy, "password").unwrap_err();
            assert_eq!(error.kind, "password_too_common", "{password}");
            assert!(error.msg.contains("most commonly used"));
        }
        assert!(COMMON_PASSWORDS.len() >= 10_000);
    }

    #[test]
    fn seed_passwords_are_accepted() {
        for password in ["securepassword", "strongpassword"] {
            assert!(Password::parse(password, PasswordPolicy::default(), "password").is_ok());
        }
    }

    #[test]
    fn configured_minimum_applies() {
        let policy = PasswordPolicy { min_chars: 12 };
        assert!(Password::parse("elevenchars", policy, "password").is_err());
        assert!(Password::parse("twelve chars", policy, "password").is_ok());
    }

    #[test]
    fn password_debug_hides_the_value() {
        let password =
            Password::parse("hunter2-hunter2", PasswordPolicy::default(), "password").unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[test]
    fn display_names() {
        assert_eq!(DisplayName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"n".repeat(101)).is_err());
        assert!(DisplayName::parse("bad\u{7}name").is_err());
    }

    proptest! {
        #[test]
        fn password_accepts_exactly_the_length_window(raw in "\\PC{0,200}") {
            let normalized = crate::password::normalize(&raw).into_owned();
            let chars = normalized.chars().count();
            let result = Password::parse(&raw, PasswordPolicy::default(), "password");
            if !(8..=128).contains(&chars) {
                prop_assert!(result.is_err());
            } else if let Ok(password) = result {
                prop_assert_eq!(password.expose(), normalized.as_str());
            }
        }

        #[test]
        fn display_name_is_trimmed_and_bounded(raw in "\\PC{0,150}") {
            if let Ok(name) = DisplayName::parse(&raw) {
                prop_assert_eq!(name.as_str(), raw.trim());
                prop_assert!(!name.as_str().is_empty());
                prop_assert!(name.as_str().chars().count() <= 100);
            }
        }
    }
}
