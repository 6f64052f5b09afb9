//! Parse, don't validate: raw request strings become these types once, at the edge, and handlers
//! never re-check them. Each parser's error is the 422 field error the client sees.

use std::collections::HashSet;
use std::sync::LazyLock;

use shared::error::FieldError;

/// A plausible email address, trimmed, as typed (uniqueness ignores case: see the users index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        let invalid = |msg: &str| FieldError::body(field, msg, "value_error");
        let email = raw.trim();
        if email.is_empty() {
            return Err(invalid("Email must not be empty"));
        }
        if email.chars().count() > Self::MAX_LEN {
            return Err(invalid("Email must be at most 254 characters"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                "Email must not contain spaces or control characters",
            ));
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(invalid("Email must contain an @"));
        };
        let valid_local = !local.is_empty() && local.len() <= 64 && !local.contains('@');
        let valid_domain = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !valid_local
            || !valid_domain
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return Err(invalid("Email is not a valid address"));
        }
        Ok(Self(email.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for uniqueness and throttling keys.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

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
    pub fn parse(raw: &str, policy: PasswordPolicy, field: &str) -> Result<Self, FieldError> {
        let chars = raw.chars().count();
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
        if COMMON_PASSWORDS.contains(raw.to_lowercase().as_str()) {
            return Err(FieldError::body(
                field,
                "This password is one of the most commonly used passwords and is easy to guess; choose another",
                "password_too_common",
            ));
        }
        Ok(Self(raw.to_owned()))
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
    fn valid_emails() {
        for email in [
            "user@example.com",
            " User.Name+tag@sub.example.co.uk ",
            "a@b.io",
        ] {
            assert!(Email::parse(email, "email").is_ok(), "{email}");
        }
        assert_eq!(
            Email::parse(" A@B.io ", "email").unwrap().as_str(),
            "A@B.io"
        );
        assert_eq!(
            Email::parse("A@B.io", "email").unwrap().normalized(),
            "a@b.io"
        );
    }

    #[test]
    fn invalid_emails() {
        for email in [
            "",
            "   ",
            "plain",
            "@example.com",
            "user@",
            "user@localhost",
            "us er@example.com",
            "user@exa mple.com",
            "user@@example.com",
            "user@-example.com",
            "user@example..com",
            ".user@example.com",
            "user.@example.com",
            "us..er@example.com",
            "user@exam\nple.com",
            "user\u{0}@example.com",
        ] {
            assert!(Email::parse(email, "email").is_err(), "{email:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long, "email").is_err());
    }

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
        fn email_parse_never_panics_and_accepts_only_one_at(raw in "\\PC{0,300}") {
            if let Ok(email) = Email::parse(&raw, "email") {
                prop_assert!(email.as_str().contains('@'));
                prop_assert!(email.as_str().chars().count() <= Email::MAX_LEN);
                prop_assert!(!email.as_str().chars().any(char::is_whitespace));
            }
        }

        #[test]
        fn generated_addresses_parse(local in "[a-z0-9]{1,20}", domain in "[a-z]{1,20}", tld in "[a-z]{2,6}") {
            let email = format!("{local}@{domain}.{tld}");
            let parsed = Email::parse(&email, "email").unwrap();
            prop_assert_eq!(parsed.as_str(), email.as_str());
        }

        #[test]
        fn password_accepts_exactly_the_length_window(raw in "\\PC{0,200}") {
            let chars = raw.chars().count();
            let result = Password::parse(&raw, PasswordPolicy::default(), "password");
            if !(8..=128).contains(&chars) {
                prop_assert!(result.is_err());
            } else if let Ok(password) = result {
                prop_assert_eq!(password.expose(), raw.as_str());
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
