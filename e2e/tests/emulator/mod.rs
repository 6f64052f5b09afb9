// Each test binary that includes this module uses a part of it.
#![allow(dead_code, unused_imports)]

//! The real local emulator for the end-to-end tests of this crate: [`test_support::Emulator`]
//! (`cargo lambda watch` on a free port, every function at its API Gateway path) on a test
//! database, with the `base` URL and a small HTTP client the tests use.

use std::path::PathBuf;
use std::time::Duration;

pub use test_support::free_port;

pub const JWT_SECRET: &str = "e2e-secret-e2e-secret-e2e-secret-e2e";

pub struct Emulator {
    _running: test_support::Emulator,
    pub base: String,
    pub log: PathBuf,
}

impl Emulator {
    /// Starts the emulator on `database_url` with the extra environment `env`; returns once every
    /// function answers.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::start_at(free_port(), database_url, env).await
    }

    /// [`Self::start`] on `port`: for a configuration that names the emulator's own URL.
    pub async fn start_at(port: u16, database_url: &str, env: &[(&str, &str)]) -> Self {
        let mut envs = vec![("DATABASE_URL", database_url), ("JWT_SECRET", JWT_SECRET)];
        envs.extend_from_slice(env);
        let running = test_support::Emulator::start_at(port, &envs).await;
        Self {
            base: running.base_url(),
            log: running.log.clone(),
            _running: running,
        }
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// (status, body) of a GET, or None when nothing answers.
pub fn get(url: &str) -> Option<(u16, String)> {
    let mut response = agent().get(url).call().ok()?;
    let status = response.status().as_u16();
    Some((status, response.body_mut().read_to_string().ok()?))
}
