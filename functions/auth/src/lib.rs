//! The auth function: accounts, sessions with access and refresh tokens, throttling, roles and
//! password reset. Handlers live in `handlers/`, their shared state in `state`, parsing of user
//! input in `domain`; this file builds the function and its router.

use std::collections::HashMap;

use axum::routing::{delete, get, patch, post};
use axum::Router;
use shared::config::{DatabaseConfig, JwtConfig, Source};

pub mod domain;
// Public so the fuzz targets (fuzz/) can parse the real request bodies.
pub mod handlers;
pub mod mailer;
pub mod oidc;
pub mod openapi;
pub mod passkeys;
pub mod password;
pub mod password_gate;
pub mod second_factor;
pub mod secrets;
pub mod security_log;
pub mod sign_in_methods;
pub mod state;
pub mod throttle;
pub mod users;

use mailer::Mailer;
pub use state::{AuthSettings, AuthState};

/// Builds the function from its configuration; refuses to start without a usable JWT secret.
pub async fn build(vars: HashMap<String, String>) -> anyhow::Result<Router> {
    let source = Source::new(&vars);
    let jwt = JwtConfig::from_source(&source)?;
    jwt.require_signing()?;
    let settings = AuthSettings::from_source(&vars)?;
    let database = DatabaseConfig::from_source(&source)?;
    let db = shared::lambda::database(&database, &vars).await?;
    let mut state = AuthState::new(db, &jwt, settings);
    state.mailer = Mailer::from_vars(&vars).await;
    Ok(app(state))
}

pub fn app(state: AuthState) -> Router {
    use handlers::{
        account, account_activity, admin, keys, oidc, passkeys, reset, second_factor, seed_aliases,
        session, verify,
    };
    shared::lambda::finish(
        Router::new()
            .route("/auth/register", post(account::register))
            .route("/auth/login", post(session::login))
            .route("/auth/token", post(session::token))
            .route("/auth/login/second-factor", post(session::second_step))
            .route("/auth/refresh", post(session::refresh))
            .route("/auth/logout", post(session::logout))
            .route("/auth/logout-all", post(session::logout_all))
            .route("/auth/logout-others", post(account_activity::logout_others))
            .route("/auth/oidc/{provider}/authorize", get(oidc::authorize))
            .route("/auth/oidc/{provider}/callback", get(oidc::callback))
            .route("/auth/password-reset", post(reset::request))
            .route("/auth/password-reset/confirm", post(reset::confirm))
            .route("/auth/verify-email", post(verify::verify_email))
            .route("/auth/verify-email/resend", post(verify::resend))
            .route(
                "/users/me",
                get(account::me)
                    .patch(account::update_me)
                    .delete(account::delete_me),
            )
            .route(
                "/users/me/second-factor",
                get(second_factor::status).delete(second_factor::remove),
            )
            .route("/users/me/second-factor/totp", post(second_factor::enrol))
            .route(
                "/users/me/second-factor/totp/activate",
                post(second_factor::activate),
            )
            .route(
                "/users/me/second-factor/verify",
                post(second_factor::verify),
            )
            .route(
                "/users/me/second-factor/recovery-codes",
                post(second_factor::regenerate_codes),
            )
            .route(
                "/users/me/passkeys/registration",
                post(passkeys::registration_options),
            )
            .route(
                "/users/me/passkeys",
                get(passkeys::list).post(passkeys::add),
            )
            .route("/users/me/passkeys/{id}", delete(passkeys::remove))
            .route("/auth/passkey/options", post(passkeys::sign_in_options))
            .route("/auth/passkey", post(passkeys::sign_in))
            .route("/users/me/sessions", get(account_activity::list_mine))
            .route("/users/me/identities", get(oidc::list_mine))
            .route(
                "/users/me/identities/{identity_id}",
                delete(oidc::unlink_mine),
            )
            .route(
                "/users/me/sessions/{session_id}",
                delete(account_activity::end_mine),
            )
            .route(
                "/users/me/security-log",
                get(account_activity::security_log_mine),
            )
            .route(
                "/users/{id}/sessions",
                get(account_activity::list_for_admin),
            )
            .route(
                "/users/{id}/sessions/{session_id}",
                delete(account_activity::end_for_admin),
            )
            .route(
                "/users/{id}/second-factor",
                delete(second_factor::remove_for_admin),
            )
            .route(
                "/users/{id}/security-log",
                get(account_activity::security_log_for_admin),
            )
            .route("/welcome", get(account::welcome))
            .route("/.well-known/jwks.json", get(keys::jwks))
            .route(
                "/.well-known/oauth-authorization-server",
                get(keys::authorization_server_metadata),
            )
            .route("/users", get(admin::list_users))
            // The seeds' own URLs (handlers/seed_aliases.rs).
            .route("/me", get(seed_aliases::me))
            .route("/user/update", patch(seed_aliases::update))
            .route("/register", post(seed_aliases::register))
            .route("/token", post(seed_aliases::token))
            .route("/users/{id}", patch(admin::update_user))
            .with_state(state),
    )
}
