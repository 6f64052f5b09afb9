//! HTTP handlers of the auth function, one module per concern.

pub mod account;
pub mod admin;
pub mod reset;
pub mod session;

use shared::error::{ApiError, FieldError};

/// Turns the collected field errors into one 422, or lets the request through.
pub(crate) fn reject_invalid(errors: Vec<FieldError>) -> Result<(), ApiError> {
    match errors.first() {
        None => Ok(()),
        Some(first) => Err(ApiError::Validation {
            detail: first.msg.clone(),
            errors,
        }),
    }
}

/// Keeps the value of a parser, or records its error and gives `None`.
pub(crate) fn collect<T>(result: Result<T, FieldError>, errors: &mut Vec<FieldError>) -> Option<T> {
    result.map_err(|error| errors.push(error)).ok()
}
