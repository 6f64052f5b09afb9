//! The shared crate's integration tests, one binary: the pool and its faults, TLS, Secrets
//! Manager and the Lambda envelope.

mod envelope;
mod faults;
mod pool;
mod secrets;
mod tls;
