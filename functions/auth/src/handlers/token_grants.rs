//! The OAuth2 grants of `/auth/token` as OpenAPI schemas, for generated clients and Swagger.

use serde::Deserialize;
use utoipa::ToSchema;

/// The `/auth/token` form, one schema per OAuth2 grant, so generated clients and Swagger show which
/// fields go together. Documentation only: the handler reads `session::TokenForm`, which takes
/// the union of these fields and answers 422 when a grant's field is missing.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum TokenRequest {
    Password(PasswordGrant),
    RefreshToken(RefreshTokenGrant),
    AuthorizationCode(AuthorizationCodeGrant),
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

/// Exchange the one-time `code` a provider sign-in appended to `return_to` (valid 60 seconds, once)
/// for the token pair; `code_verifier` when the sign-in was started with a `code_challenge`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct AuthorizationCodeGrant {
    grant_type: AuthorizationCodeGrantType,
    code: String,
    code_verifier: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum AuthorizationCodeGrantType {
    AuthorizationCode,
}
