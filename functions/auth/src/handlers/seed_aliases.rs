//! The URLs of the FastAPI backends we replace that differ from ours, served by our own handlers so
//! each seed's clients work unchanged: seed 002's `GET /me` and `PATCH /user/update`, seed 004's
//! `POST /register` and `POST /token`. The router maps them to the same handlers as their
//! canonical routes; these functions exist only so the OpenAPI document lists them, marked
//! deprecated and naming the route to use (docs/api.md has the whole seed-to-route table).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use shared::error::Result;
use shared::http::{Json, LimitedBody, SourceIp};
use shared::idempotency::{IdempotencyKey, IdempotencyKeyParam};

use super::account::{self, RegisterBody, UpdateMeBody};
use super::session::{self, TokenPair};
use crate::state::AuthState;
use crate::users::{Principal, User};

/// Seed 002's name for `GET /users/me`.
#[utoipa::path(get, path = "/me", operation_id = "getCurrentUserSeed002", tag = "seed aliases",
    security(("bearer" = []), ("oauth2_password" = [])),
    responses((status = 200, description = "As `GET /users/me`", body = User)))]
pub async fn me(principal: Principal) -> axum::Json<User> {
    account::me(principal).await
}

/// Seed 002's name for `PATCH /users/me` (its `username` is accepted too).
#[utoipa::path(patch, path = "/user/update", operation_id = "updateCurrentUserSeed002", tag = "seed aliases",
    security(("bearer" = []), ("oauth2_password" = [])), request_body = UpdateMeBody,
    responses(
        (status = 200, description = "As `PATCH /users/me`", body = User),
        (status = 409, description = "Email already registered"),
        (status = 429, description = "Too many failed password checks; wait `Retry-After` seconds"),
    ))]
pub async fn update(
    state: State<AuthState>,
    ip: SourceIp,
    headers: HeaderMap,
    principal: Principal,
    body: Json<UpdateMeBody>,
) -> Result<axum::Json<User>> {
    account::update_me(state, ip, headers, principal, body).await
}

/// Seed 004's name for `POST /auth/register`.
#[utoipa::path(post, path = "/register", operation_id = "registerUserSeed004", tag = "seed aliases",
    params(IdempotencyKeyParam), request_body = RegisterBody,
    responses(
        (status = 201, description = "As `POST /auth/register`", body = User),
        (status = 409, description = "Email already registered"),
        (status = 429, description = "Too many registrations from this address"),
    ))]
pub async fn register(
    state: State<AuthState>,
    ip: SourceIp,
    headers: HeaderMap,
    key: IdempotencyKey,
    body: Json<RegisterBody>,
) -> Result<Response> {
    account::register(state, ip, headers, key, body).await
}

/// Seed 004's name for `POST /auth/token` (its form login).
#[utoipa::path(post, path = "/token", operation_id = "issueTokenSeed004", tag = "seed aliases",
    request_body(content = super::token_grants::TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "As `POST /auth/token`", body = TokenPair),
        (status = 401, description = "Incorrect email or password, or invalid refresh token"),
        (status = 403, description = "Right password; the account's second factor is required (as for `/auth/login`)", body = session::SecondFactorRequired, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; wait `Retry-After` seconds"),
    ))]
pub async fn token(
    state: State<AuthState>,
    ip: SourceIp,
    headers: HeaderMap,
    body: LimitedBody,
) -> Result<session::SignIn> {
    session::token(state, ip, headers, body).await
}
