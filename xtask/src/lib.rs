//! Dev-only tooling that needs every function at once, in the manner of rust-analyzer's `xtask`: it
//! may depend on every crate, and no crate depends on it (so no Lambda binary links it).

pub mod codegen;
pub mod jwt_keys;
pub mod openapi;
pub mod schema;
