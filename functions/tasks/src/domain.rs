//! Parse, don't validate: task fields and path parameters become these types once, at the edge.

use shared::error::{ApiError, FieldError};

/// A task title: trimmed, 1 to 200 characters, not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTitle(String);

impl TaskTitle {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let title = raw.trim();
        if title.is_empty() {
            return Err(FieldError::body(
                "title",
                "Title cannot be empty or whitespace only",
                "value_error",
            ));
        }
        if title.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::body(
                "title",
                "Title must be at most 200 characters",
                "string_too_long",
            ));
        }
        if title.contains('\0') {
            return Err(FieldError::body(
                "title",
                "Title must not contain NUL characters",
                "value_error",
            ));
        }
        Ok(Self(title.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A task description: at most 1000 characters, kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDescription(String);

impl TaskDescription {
    pub const MAX_CHARS: usize = 1000;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::body(
                "description",
                "Description must be at most 1000 characters",
                "string_too_long",
            ));
        }
        if raw.contains('\0') {
            return Err(FieldError::body(
                "description",
                "Description must not contain NUL characters",
                "value_error",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The `{id}` of a task path: a positive 64-bit integer. Anything that is not a whole number is a
/// 422; a number that cannot be a task id (0, negative) simply matches no task.
pub fn parse_task_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().map_err(|_| {
        ApiError::invalid_field(FieldError::new(
            &["path", "id"],
            "Task id must be a whole number",
            "int_parsing",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn title_bounds() {
        assert_eq!(
            TaskTitle::parse("  Buy milk ").unwrap().as_str(),
            "Buy milk"
        );
        assert!(TaskTitle::parse(&"t".repeat(200)).is_ok());
        assert!(TaskTitle::parse(&"t".repeat(201)).is_err());
        assert!(
            TaskTitle::parse(&format!("  {}  ", "t".repeat(200))).is_ok(),
            "trimmed before counting"
        );
        assert!(TaskTitle::parse("").is_err());
        assert!(TaskTitle::parse(" \t\n ").is_err());
        assert!(
            TaskTitle::parse(&"é".repeat(200)).is_ok(),
            "characters, not bytes"
        );
    }

    #[test]
    fn description_bounds() {
        assert!(TaskDescription::parse(&"d".repeat(1000)).is_ok());
        assert!(TaskDescription::parse(&"d".repeat(1001)).is_err());
        assert_eq!(TaskDescription::parse("").unwrap().as_str(), "");
        assert!(
            TaskDescription::parse("a\0b").is_err(),
            "PostgreSQL text cannot hold NUL"
        );
        assert!(TaskTitle::parse("a\0b").is_err());
    }

    #[test]
    fn task_ids() {
        assert_eq!(parse_task_id("42").unwrap(), 42);
        assert_eq!(parse_task_id("-1").unwrap(), -1);
        for raw in ["abc", "1.5", "1180591620717411303424", "", " 1", "0x10"] {
            assert!(parse_task_id(raw).is_err(), "{raw}");
        }
    }

    proptest! {
        #[test]
        fn parsed_titles_are_trimmed_and_bounded(raw in "\\PC{0,250}") {
            if let Ok(title) = TaskTitle::parse(&raw) {
                prop_assert_eq!(title.as_str(), raw.trim());
                prop_assert!(!title.as_str().is_empty());
                prop_assert!(title.as_str().chars().count() <= 200);
            } else {
                let trimmed = raw.trim();
                prop_assert!(trimmed.is_empty() || trimmed.chars().count() > 200 || trimmed.contains('\0'));
            }
        }

        #[test]
        fn description_accepts_exactly_up_to_1000(raw in "\\PC{0,1100}") {
            prop_assert_eq!(
                TaskDescription::parse(&raw).is_ok(),
                raw.chars().count() <= 1000 && !raw.contains('\0')
            );
        }

        #[test]
        fn any_i64_round_trips(id in any::<i64>()) {
            prop_assert_eq!(parse_task_id(&id.to_string()).unwrap(), id);
        }
    }
}
