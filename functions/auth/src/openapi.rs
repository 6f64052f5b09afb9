//! The auth function's part of the OpenAPI document, generated from the handlers' annotations and
//! the types they read and write. The health function merges it into the whole API's document.

use utoipa::OpenApi;

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
