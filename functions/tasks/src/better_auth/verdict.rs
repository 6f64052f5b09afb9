//! What verifying a Better Auth token yields: the caller ([`Verified`]: issuer and subject) or why
//! it was refused ([`Rejection`]), and the one rule for a usable subject. Both verifiers use it.

use shared::error::ApiError;

/// A verified Better Auth caller: whose namespace, and who in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub issuer: String,
    pub subject: String,
}

/// Why a Better Auth token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Invalid for the reason given (logged at debug level; the client sees one message).
    Invalid(&'static str),
    Expired,
    /// The JWKS cannot be reached and no cached key fits the token.
    Unavailable,
}

impl From<shared::token::precheck::Refused> for Rejection {
    fn from(refused: shared::token::precheck::Refused) -> Self {
        tracing::debug!(reason = %refused, "Better Auth token rejected");
        match refused {
            shared::token::precheck::Refused::Expired => Self::Expired,
            _ => Self::Invalid("refused by the JOSE pre-check"),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Invalid(_) => ApiError::unauthorized("Invalid token"),
            Rejection::Expired => ApiError::unauthorized("Token has expired"),
            Rejection::Unavailable => ApiError::DependencyUnavailable(
                "The sign-in service's keys cannot be reached; try again shortly",
            ),
        }
    }
}

/// Subjects become path segments and database keys: 1-255 characters, no NUL.
pub(crate) fn usable_subject(subject: String) -> Option<String> {
    (!subject.is_empty() && subject.chars().count() <= 255 && !subject.contains('\0'))
        .then_some(subject)
}
