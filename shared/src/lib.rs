//! Everything the functions share: configuration, the Postgres pool, access-token checks, the error
//! type and its HTTP mapping, request helpers, telemetry, the migration runner and the route list.

pub mod auth;
pub mod aws;
pub mod config;
pub mod cors;
pub mod db;
pub mod email;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod json;
pub mod jwks;
pub mod jwt;
pub mod keyring;
pub mod lambda;
pub mod migrate;
pub mod openapi;
pub mod routes;
pub mod telemetry;

#[cfg(feature = "test-util")]
pub mod testing;

pub use error::{ApiError, Result};
pub use secrecy;
