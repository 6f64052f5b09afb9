//! The auth function's part of the OpenAPI document, generated from the handlers' annotations and
//! the types they read and write. The health function merges it into the whole API's document.

use utoipa::OpenApi;

use crate::handlers::{
    account, account_activity, admin, keys, oidc, passkeys, reset, second_factor, seed_aliases,
    session, verify,
};

#[derive(OpenApi)]
#[openapi(
    paths(
        account::register,
        session::login,
        session::token,
        session::second_step,
        session::refresh,
        session::logout,
        session::logout_all,
        account_activity::logout_others,
        oidc::authorize,
        oidc::callback,
        oidc::list_mine,
        oidc::unlink_mine,
        second_factor::status,
        second_factor::enrol,
        second_factor::activate,
        second_factor::verify,
        second_factor::remove,
        second_factor::regenerate_codes,
        second_factor::remove_for_admin,
        passkeys::registration_options,
        passkeys::add,
        passkeys::list,
        passkeys::remove,
        passkeys::sign_in_options,
        passkeys::sign_in,
        account_activity::list_mine,
        account_activity::end_mine,
        account_activity::security_log_mine,
        account_activity::list_for_admin,
        account_activity::end_for_admin,
        account_activity::security_log_for_admin,
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
        keys::authorization_server_metadata,
        seed_aliases::me,
        seed_aliases::update,
        seed_aliases::register,
        seed_aliases::token,
    ),
    tags(
        (name = "auth", description = "Accounts, sign-in, tokens and password reset"),
        (name = "users", description = "The caller's own account"),
        (name = "second factor", description = "A TOTP authenticator with recovery codes: enrol, activate, step up, remove"),
        (name = "passkeys", description = "Passkeys (WebAuthn): add, list, remove; signing in with one is under auth"),
        (name = "admin", description = "User administration (administrators only)"),
        (name = "seed aliases", description = "The URLs of the FastAPI backends this API replaces, where they differ from ours: deprecated names of the routes they point to"),
    )
)]
struct AuthApi;

/// The auth routes, their bodies and their answers; the seeds' aliases marked deprecated (utoipa
/// takes that only from `#[deprecated]`, which would make every use of them a warning).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = AuthApi::openapi();
    for item in api.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.post, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            let alias = operation
                .tags
                .as_ref()
                .is_some_and(|tags| tags.iter().any(|tag| tag == SEED_ALIASES));
            if alias {
                operation.deprecated = Some(utoipa::openapi::Deprecated::True);
            }
        }
    }
    api
}

const SEED_ALIASES: &str = "seed aliases";
