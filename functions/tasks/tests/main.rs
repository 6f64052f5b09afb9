//! The tasks function's tests, one binary (linking once, not once per file): each module below is
//! one concern, driven in-process through `tasks::app` on its own database.

mod common;

mod better_auth;
mod broken_connections;
mod crud;
mod idempotency;
mod isolation;
mod jwks;
mod listing;
mod outage;
mod real_better_auth;
mod response_bytes;
mod routes;
