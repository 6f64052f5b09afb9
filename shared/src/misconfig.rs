//! What a function says when it cannot work as deployed: a setting it cannot use, a database that
//! refuses its credentials, or a database without the migrations its code needs. Each is a
//! permanent mistake, so it is answered at once and never as "retry later": locally the answer
//! names the setting and the fix (never the value), in AWS it is generic and the log names it.

use crate::config::ConfigError;

/// A setting this function cannot work with.
#[derive(Debug, Clone)]
pub struct Misconfiguration {
    /// The variable to fix, when one is known.
    pub setting: Option<&'static str>,
    /// What is wrong and how to fix it; names the setting, never its value. The problem's detail
    /// outside AWS.
    pub detail: String,
    /// For the log line: may also name the database host, user or database, never a secret.
    pub cause: String,
}

/// The detail in AWS, where anyone may read the answer; the log line names the setting.
const GENERIC: &str = "This function is misconfigured; its log names the setting to fix.";

impl Misconfiguration {
    /// From the error that stopped the function's start: a [`ConfigError`] in its chain names the
    /// setting; its message already says what is wrong and, where there is one, the fix.
    pub fn from_start_error(error: &anyhow::Error) -> Self {
        let setting = error
            .chain()
            .find_map(|cause| cause.downcast_ref::<ConfigError>())
            .map(ConfigError::setting);
        // anyhow's alternate form is the whole chain on one line: "outer: middle: root".
        let text = format!("{error:#}");
        Self {
            setting,
            detail: format!("{text}; then restart the function"),
            cause: text,
        }
    }

    /// The database server refused `DATABASE_URL` (a wrong password, an unknown role or
    /// database: SQLSTATE class 28, 3D000, 42501) when connecting to `server` (host, port,
    /// database and user, never the password). `message` is the server's own sentence, which
    /// names the user or database and so goes to the log only.
    pub fn database_refused(code: &str, server: &str, message: &str) -> Self {
        let what = match code {
            "28P01" => "the password is wrong",
            "3D000" => "the database does not exist",
            "28000" => "the role does not exist or may not connect from here",
            "42501" => "the role may not connect to this database",
            _ => "the server refused the credentials",
        };
        Self {
            setting: Some("DATABASE_URL"),
            detail: format!(
                "DATABASE_URL is refused by the database server: {what} (SQLSTATE {code}); \
                 correct the user, password or database name in it, then restart the function"
            ),
            cause: format!(
                "the database server at {server} refused DATABASE_URL: {message} (SQLSTATE {code})"
            ),
        }
    }

    /// The problem's detail: the setting and the fix, or in AWS a generic sentence.
    pub fn public_detail(&self, in_aws: bool) -> &str {
        if in_aws {
            GENERIC
        } else {
            &self.detail
        }
    }
}

/// The problem's detail when the database lacks a table, column or function the code uses. It
/// names no table and no SQL (the log has the server's message), so it may be said in AWS too.
pub fn not_migrated_detail(in_aws: bool) -> String {
    format!(
        "The database is not migrated to this version of the service: {}",
        how_to_migrate(in_aws)
    )
}

/// How to bring the database up to the code's migrations, where the function runs.
pub fn how_to_migrate(in_aws: bool) -> &'static str {
    if in_aws {
        "deploy again (the stack applies its migrations before the new code serves), or run \
         `migrate up` against the database"
    } else {
        "apply the migrations with `cargo run -p schema --bin migrate -- up` (it migrates \
         DATABASE_URL, or DATABASE_DIRECT_URL when set)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_error_names_its_setting_and_asks_for_a_restart() {
        let error = anyhow::Error::new(ConfigError::Missing("JWT_SECRET")).context("reading");
        let misconfiguration = Misconfiguration::from_start_error(&error);
        assert_eq!(misconfiguration.setting, Some("JWT_SECRET"));
        assert!(misconfiguration.detail.contains("JWT_SECRET is required"));
        assert!(misconfiguration
            .detail
            .ends_with("then restart the function"));
        assert_eq!(misconfiguration.public_detail(true), GENERIC);
        assert_eq!(
            misconfiguration.public_detail(false),
            misconfiguration.detail
        );
    }

    #[test]
    fn a_refused_database_names_the_host_in_the_log_only() {
        let refused = Misconfiguration::database_refused(
            "3D000",
            "db.example.com:5432 (database \"nope\", user \"app\")",
            "database \"nope\" does not exist",
        );
        assert_eq!(refused.setting, Some("DATABASE_URL"));
        assert!(refused.detail.contains("the database does not exist"));
        assert!(
            !refused.detail.contains("db.example.com"),
            "{}",
            refused.detail
        );
        assert!(!refused.detail.contains("nope"), "{}", refused.detail);
        assert!(refused.cause.contains("db.example.com:5432"));
        assert!(refused.cause.contains("DATABASE_URL"));
    }

    #[test]
    fn the_migration_hint_depends_on_where_the_function_runs() {
        assert!(not_migrated_detail(false).contains("cargo run -p schema --bin migrate -- up"));
        assert!(not_migrated_detail(true).contains("deploy again"));
    }
}
