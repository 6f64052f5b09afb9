//! Who is calling the tasks function: one of our own users (an access token whose session is
//! checked inside each task statement, so revocation costs no extra round trip) or, when
//! configured, a Better Auth user ([`crate::better_auth`]). Each issuer has its own namespace of
//! subjects: tasks are owned by (issuer, subject), and our own users' issuer is the empty string.

use axum::extract::FromRequestParts;
use http::request::Parts;
use shared::error::ApiError;
use shared::http::bearer_token;
use shared::token::verified_cache::token_digest;
use shared::token::AccessClaims;
use uuid::Uuid;

use crate::better_auth::Rejection;
use crate::state::TasksState;

/// The issuer of our own users' tasks (in `tasks.issuer`); no Better Auth issuer is empty.
pub const OWN_ISSUER: &str = "";

/// The owner whose tasks this request may touch, and the session to check with the statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The namespace of `subject`: [`OWN_ISSUER`], or the Better Auth issuer that vouched for it.
    pub issuer: String,
    /// The path's `{user_id}`: our user's id, or the Better Auth user id.
    pub subject: String,
    /// `(session id, user id)` for our own tokens; `None` for Better Auth tokens (stateless).
    pub session: Option<(Uuid, Uuid)>,
}

impl FromRequestParts<TasksState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &TasksState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers)?;
        // A token seen before is answered by the cache of whoever verified it, before either
        // verifier parses it (a Better Auth token would otherwise be pre-checked as ours first).
        let digest = token_digest(token);
        if let Some(claims) = state.keys.cached(&digest) {
            return own(claims);
        }
        if state.better_auth.is_configured() {
            if let Some(verified) = state.better_auth.cached(&digest).await {
                return Ok(Caller {
                    issuer: verified.issuer,
                    subject: verified.subject,
                    session: None,
                });
            }
        }
        let ours = match state.keys.verify_digested(token, &digest) {
            Ok(claims) => return own(claims),
            Err(ours) => ours,
        };
        if !state.better_auth.is_configured() {
            return Err(ours);
        }
        match state.better_auth.verify_digested(token, &digest).await {
            Ok(verified) => Ok(Caller {
                issuer: verified.issuer,
                subject: verified.subject,
                session: None,
            }),
            // Neither ours nor Better Auth's: our verdict ("Token has expired" for one of ours).
            Err(Rejection::Invalid(_)) => Err(ours),
            Err(rejection) => Err(rejection.into()),
        }
    }
}

/// One of our users, from the claims of their access token.
fn own(claims: AccessClaims) -> Result<Caller, ApiError> {
    let user_id: Uuid = claims.user_id()?;
    Ok(Caller {
        issuer: OWN_ISSUER.to_owned(),
        subject: claims.sub,
        session: Some((claims.sid, user_id)),
    })
}
