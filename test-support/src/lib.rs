//! Test harness: every test gets its own database, copied from a migrated template and dropped
//! when the test ends; plus the proxies, launchers and token fixtures the suites share. A
//! dev-dependency only: no release binary links it.

mod answer;
mod db;
mod emulator;
mod logs;
mod moto;
mod proxy;
pub mod routes;
mod tokens;

pub use answer::{send_raw, RawAnswer};
pub use db::{server_url, TestDb};
pub use emulator::{free_port, Emulator};
pub use logs::CapturedLog;
pub use moto::{secret_string, Moto};
pub use proxy::{server_address, Fault, TcpProxy};
pub use tokens::{
    jwt_signer_vars, jwt_verifier_vars, sign_as_ours, test_algorithm, test_public_keys,
    test_signing_key_pem,
};
