//! The auth function's part of the OpenAPI document, generated from the handlers' annotations and
//! the types they read and write. The health function merges it into the whole API's document.

use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use crate::handlers::{account, admin, keys, reset, session, verify};

#[derive(OpenApi)]
#[openapi(
    paths(
        account::register,
        session::login,
        session::token,
        session::refresh,
        session::logout,
        session::logout_all,
        reset::request,
        reset::confirm,
        verify::verify_email,
        verify::resend,
        account::me,
        account::update_me,
        account::delete_me,
        account::welcome,
        admin::list_users,
        admin::update_user,
        keys::jwks,
        keys::openid_configuration,
    ),
    tags(
        (name = "auth", description = "Accounts, sign-in, tokens and password reset"),
        (name = "users", description = "The caller's own account"),
        (name = "admin", description = "User administration (administrators only)"),
    )
)]
struct AuthApi;

/// The auth routes, their bodies and their answers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    AuthApi::openapi()
}

/// The `/auth/token` form, one schema per OAuth2 grant, so generated clients and Swagger show which
/// fields go together. Documentation only: the handler reads `session::TokenForm`, which takes
/// the union of these fields and answers 422 when a grant's field is missing.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum TokenRequest {
    Password(PasswordGrant),
    RefreshToken(RefreshTokenGrant),
}

/// Sign in with the account's email and password (what Swagger's "Authorize" and FastAPI's
/// `OAuth2PasswordRequestForm` clients send). `scope`, `client_id` and `client_secret` are ignored.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PasswordGrant {
    /// `password`, the default when absent.
    grant_type: Option<PasswordGrantType>,
    /// The account's email.
    username: String,
    password: String,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum PasswordGrantType {
    Password,
}

/// Rotate a refresh token: the same answer as `POST /auth/refresh`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RefreshTokenGrant {
    grant_type: RefreshTokenGrantType,
    refresh_token: String,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum RefreshTokenGrantType {
    RefreshToken,
}
