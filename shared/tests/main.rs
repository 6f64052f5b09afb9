//! The shared crate's integration tests, one binary: the pool and its faults, TLS, Secrets
//! Manager, the Lambda envelope and the JSON log lines.

mod envelope;
mod faults;
mod logs;
mod pool;
mod secrets;
mod tls;
