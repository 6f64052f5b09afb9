//! What at least two functions use at run time: configuration, the Postgres pool, the token rule
//! ([`token`]), the error type and its HTTP mapping, request helpers, the Lambda adapter,
//! idempotency, email addresses, telemetry and what a misconfigured function answers. Nothing here knows any one function.

pub mod aws;
pub mod cancel;
pub mod config;
pub mod cors;
pub mod db;
pub mod email;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod json;
pub mod lambda;
pub mod misconfig;
pub mod telemetry;
pub mod token;

pub use error::{ApiError, Result};
pub use secrecy;
