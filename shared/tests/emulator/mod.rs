//! The real local emulator for end-to-end tests: `cargo lambda watch` (from .venv, as
//! scripts/test.sh installs it) on a free port of 127.0.0.1, serving every function at its API
//! Gateway path, stopped with its function processes when dropped.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub const JWT_SECRET: &str = "e2e-secret-e2e-secret-e2e-secret-e2e";

pub struct Emulator {
    child: Child,
    pub base: String,
    pub log: PathBuf,
}

impl Emulator {
    /// Starts the emulator on `database_url` with the extra environment `env`, and waits until
    /// `/health` answers 200 (the first run compiles the functions: up to 300 s).
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        // The emulator's own output, for when a test fails.
        let log = std::env::temp_dir().join(format!("cargo-lambda-watch-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new("cargo")
                .args(["lambda", "watch", "--ignore-changes"])
                // The functions apply CORS themselves (CORS_ORIGINS), as the HTTP API does in AWS;
                // the emulator's own policy would allow every origin.
                .arg("--disable-cors")
                .args(["--invoke-address", "127.0.0.1"])
                .args(["--invoke-port", &port.to_string()])
                .current_dir(workspace)
                .env("DATABASE_URL", database_url)
                .env("JWT_SECRET", JWT_SECRET)
                .envs(env.iter().copied())
                .stdout(file.try_clone().unwrap())
                .stderr(file)
                .process_group(0)
                .spawn()
                .expect(
                    "`cargo lambda watch` must be installed: run the tests with scripts/test.sh",
                )
        };
        let emulator = Emulator {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        emulator.wait_until_healthy().await;
        emulator
    }

    async fn wait_until_healthy(&self) {
        let url = format!("{}/health", self.base);
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let answer = tokio::task::spawn_blocking({
                let url = url.clone();
                move || get(&url)
            })
            .await
            .unwrap();
            match answer {
                Some((200, _)) => return,
                Some((status, body)) if status != 502 && status != 503 => {
                    panic!("/health answered {status}: {body}")
                }
                _ if Instant::now() > deadline => panic!(
                    "cargo lambda watch did not answer within 300 s; see {}",
                    self.log.display()
                ),
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // cargo lambda watch shuts down on Ctrl-C (SIGINT); SIGKILL the group if it lingers.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-s", "INT", "--", &group])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &group])
            .status();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
