//! Users as the API shows them, and the caller of a request: [`Principal`], extracted by checking
//! the bearer token (the token rule, `shared::token`) and then its session (`live_sessions`).

use serde::Serialize;
use shared::error::ApiError;
use shared::token::TokenKeys;
use uuid::Uuid;

/// A user as the API shows it (never with the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "Ada Lovelace")]
    pub name: Option<String>,
    /// `user` or `admin`.
    #[schema(example = "user")]
    pub role: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<time::OffsetDateTime>,
    /// `last_login_at` under the name seed 004's clients read.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(deprecated)]
    pub last_login_time: Option<time::OffsetDateTime>,
    /// Whether the owner of `email` has followed a link mailed to it (or completed a reset).
    pub email_verified: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub email_verified_at: Option<time::OffsetDateTime>,
    /// A new address asked for and not yet verified; `email` signs in until it is.
    pub pending_email: Option<String>,
}

/// The columns of `users` that [`User::from_row`] reads, in order; prefix with a table alias as needed.
pub const USER_COLUMNS: &str =
    "id, email, name, role, created_at, updated_at, last_login_at, email_verified_at, pending_email";

impl User {
    /// Reads a row that starts with [`USER_COLUMNS`].
    pub fn from_row(row: &tokio_postgres::Row) -> Self {
        Self {
            id: row.get(0),
            email: row.get(1),
            name: row.get(2),
            role: row.get(3),
            created_at: row.get(4),
            updated_at: row.get(5),
            last_login_at: row.get(6),
            last_login_time: row.get(6),
            email_verified: row.get::<_, Option<time::OffsetDateTime>>(7).is_some(),
            email_verified_at: row.get(7),
            pending_email: row.get(8),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

/// The caller of a request: a valid access token whose session is live and whose user is enabled.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub session_id: Uuid,
}

/// Verifies the bearer token (`shared::token`), then reads the caller through `live_sessions` in
/// one indexed lookup (the session's primary key); this is what makes logout, password change,
/// disable and delete effective on the very next request.
/// The user's role is read here, so a role change applies at once too.
pub async fn authenticate(
    db: &shared::db::Db,
    keys: &TokenKeys,
    headers: &http::HeaderMap,
) -> Result<Principal, ApiError> {
    use tokio_postgres::types::Type;
    let claims = keys.verify(shared::http::bearer_token(headers)?)?;
    let user_id = claims.user_id()?;
    let row = db
        .query_opt(
            "select u.id, u.email, u.name, u.role, u.created_at, u.updated_at, u.last_login_at,
                    u.email_verified_at, u.pending_email
               from live_sessions s
               join users u on u.id = s.user_id
              where s.id = $1 and s.user_id = $2",
            &[(&claims.sid, Type::UUID), (&user_id, Type::UUID)],
        )
        .await?
        .ok_or_else(|| ApiError::unauthorized("Session has ended; please log in again"))?;
    Ok(Principal {
        user: User::from_row(&row),
        session_id: claims.sid,
    })
}

/// State that can authenticate a caller: handlers take a [`Principal`] argument and axum runs
/// [`authenticate`] before the handler.
pub trait AuthContext {
    fn db(&self) -> &shared::db::Db;
    fn token_keys(&self) -> &TokenKeys;
}

impl<S: AuthContext + Send + Sync> axum::extract::FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        authenticate(state.db(), state.token_keys(), &parts.headers).await
    }
}
