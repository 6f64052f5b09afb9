//! Whole-workspace end-to-end tests, one binary: `cargo lambda watch` and Chromium against every
//! function, the route list, CORS, and what crosses functions (key rotation, a delete racing writers).

mod emulator;
// The auth suite's own harness (register, sign in, send), shared rather than copied.
#[path = "../../functions/auth/tests/common/mod.rs"]
mod common;

mod cors;
mod delete_race;
mod frontend;
mod hostile;
mod hs256;
mod key_rotation;
mod misconfigured;
mod oidc;
mod passkeys;
mod routes;
mod watch;
