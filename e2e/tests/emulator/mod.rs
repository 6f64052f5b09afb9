// Each test binary that includes this module uses a part of it.
#![allow(dead_code, unused_imports)]

//! The real local emulator for the end-to-end tests of this crate: [`test_support::Emulator`]
//! (`cargo lambda watch` on a free port, every function at its API Gateway path) on a test
//! database, with the `base` URL and a small HTTP client the tests use.

use std::path::PathBuf;
use std::time::Duration;

pub use test_support::free_port;

pub const JWT_SECRET: &str = "e2e-secret-e2e-secret-e2e-secret-e2e";
pub const SECOND_FACTOR_KEY: &str = "e2e-second-factor-key-e2e-second-factor-key";

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
        let mut envs = vec![
            ("DATABASE_URL", database_url),
            ("JWT_SECRET", JWT_SECRET),
            ("SECOND_FACTOR_KEY", SECOND_FACTOR_KEY),
            ("WEBAUTHN_RP_ID", "localhost"),
            ("WEBAUTHN_RP_ORIGINS", "http://localhost:3000"),
        ];
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

/// One answer through the emulator: status, headers, and the JSON body (`Null` when not JSON).
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: serde_json::Value,
}

pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Answer {
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = match body {
        Some(body) => agent().run(request.body(body.to_owned()).unwrap()),
        None => agent().run(request.body(()).unwrap()),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    }
}
