//! Every route of the API and the function that serves it: the one list that the functions' routers,
//! the `cargo lambda watch` router in Cargo.toml and the SAM template are checked against.

/// The Lambda function (binary) that serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Auth,
    Tasks,
    Health,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Tasks => "tasks",
            Self::Health => "health",
        }
    }
}

/// One route: method, path (with `{param}` segments, as axum, matchit and API Gateway write them)
/// and the function that answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub function: Function,
}

const fn route(method: &'static str, path: &'static str, function: Function) -> Route {
    Route {
        method,
        path,
        function,
    }
}

pub const ROUTES: &[Route] = &[
    route("GET", "/health", Function::Health),
    route("GET", "/docs", Function::Health),
    route("GET", "/redoc", Function::Health),
    route("GET", "/docs/assets/{file}", Function::Health),
    route("GET", "/openapi.json", Function::Health),
    route("POST", "/auth/register", Function::Auth),
    route("POST", "/auth/login", Function::Auth),
    route("POST", "/auth/token", Function::Auth),
    route("POST", "/auth/refresh", Function::Auth),
    route("POST", "/auth/logout", Function::Auth),
    route("POST", "/auth/logout-all", Function::Auth),
    route("POST", "/auth/password-reset", Function::Auth),
    route("POST", "/auth/password-reset/confirm", Function::Auth),
    route("POST", "/auth/verify-email", Function::Auth),
    route("POST", "/auth/verify-email/resend", Function::Auth),
    route("GET", "/users/me", Function::Auth),
    route("PATCH", "/users/me", Function::Auth),
    route("DELETE", "/users/me", Function::Auth),
    route("GET", "/users", Function::Auth),
    route("PATCH", "/users/{id}", Function::Auth),
    route("GET", "/welcome", Function::Auth),
    route("POST", "/auth/logout-others", Function::Auth),
    route("POST", "/auth/login/second-factor", Function::Auth),
    route("GET", "/users/me/second-factor", Function::Auth),
    route("DELETE", "/users/me/second-factor", Function::Auth),
    route("POST", "/users/me/second-factor/totp", Function::Auth),
    route(
        "POST",
        "/users/me/second-factor/totp/activate",
        Function::Auth,
    ),
    route("POST", "/users/me/second-factor/verify", Function::Auth),
    route(
        "POST",
        "/users/me/second-factor/recovery-codes",
        Function::Auth,
    ),
    route("POST", "/users/me/passkeys/registration", Function::Auth),
    route("POST", "/users/me/passkeys", Function::Auth),
    route("GET", "/users/me/passkeys", Function::Auth),
    route("DELETE", "/users/me/passkeys/{id}", Function::Auth),
    route("POST", "/auth/passkey/options", Function::Auth),
    route("POST", "/auth/passkey", Function::Auth),
    route("GET", "/users/me/sessions", Function::Auth),
    route("GET", "/users/me/identities", Function::Auth),
    route(
        "DELETE",
        "/users/me/identities/{identity_id}",
        Function::Auth,
    ),
    route("GET", "/auth/oidc/{provider}/authorize", Function::Auth),
    route("GET", "/auth/oidc/{provider}/callback", Function::Auth),
    route("DELETE", "/users/me/sessions/{session_id}", Function::Auth),
    route("GET", "/users/me/security-log", Function::Auth),
    route("GET", "/users/{id}/sessions", Function::Auth),
    route(
        "DELETE",
        "/users/{id}/sessions/{session_id}",
        Function::Auth,
    ),
    route("GET", "/users/{id}/security-log", Function::Auth),
    route("DELETE", "/users/{id}/second-factor", Function::Auth),
    route("GET", "/me", Function::Auth),
    route("PATCH", "/user/update", Function::Auth),
    route("POST", "/register", Function::Auth),
    route("POST", "/token", Function::Auth),
    route("GET", "/.well-known/jwks.json", Function::Auth),
    route(
        "GET",
        "/.well-known/oauth-authorization-server",
        Function::Auth,
    ),
    route("GET", "/api/{user_id}/tasks", Function::Tasks),
    route("POST", "/api/{user_id}/tasks", Function::Tasks),
    route("GET", "/api/{user_id}/tasks/{id}", Function::Tasks),
    route("PUT", "/api/{user_id}/tasks/{id}", Function::Tasks),
    route("PATCH", "/api/{user_id}/tasks/{id}", Function::Tasks),
    route("DELETE", "/api/{user_id}/tasks/{id}", Function::Tasks),
    route(
        "PATCH",
        "/api/{user_id}/tasks/{id}/complete",
        Function::Tasks,
    ),
];

/// The routes one function serves.
pub fn of(function: Function) -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().filter(move |r| r.function == function)
}
