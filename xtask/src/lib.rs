//! Dev-only tooling that needs every function at once, in the manner of rust-analyzer's `xtask`: it
//! may depend on every function, and no function depends on it (so no Lambda binary links another
//! function's code for it).

pub mod openapi;
